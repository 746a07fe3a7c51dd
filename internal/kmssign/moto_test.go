package kmssign_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/kmssign"
)

// motoKMS is a real KMS client for moto_server, built the way a function
// builds it: ClientFromEnv, with AWS_ENDPOINT_URL_KMS winning over an
// AWS_ENDPOINT_URL that leads nowhere.
func motoKMS(t testing.TB, endpoint string) *kms.Client {
	t.Helper()
	env := awstest.Env("http://127.0.0.1:1", map[string]string{"AWS_ENDPOINT_URL_KMS": endpoint})
	c, err := kmssign.ClientFromEnv(awstest.Getenv(env))
	require.NoError(t, err)
	return c
}

// createKey creates a key in moto and gives its ID.
func createKey(t testing.TB, c *kms.Client, spec types.KeySpec, usage types.KeyUsageType) string {
	t.Helper()
	out, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage})
	require.NoError(t, err)
	return aws.ToString(out.KeyMetadata.KeyId)
}

// TestMoto runs the real SDK client against moto_server's KMS: one
// moto_server for every subtest.
func TestMoto(t *testing.T) {
	ctx := context.Background()
	c := motoKMS(t, awstest.StartMoto(t))
	keyID := createKey(t, c, types.KeySpecRsa2048, types.KeyUsageTypeSignVerify)

	t.Run("RAW signs RS256 that crypto/rsa verifies", func(t *testing.T) {
		t.Parallel()
		s, err := kmssign.New(ctx, c, keyID)
		require.NoError(t, err)
		msg := []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvcGVuaWQifQ")
		sig, err := s.SignMessage(ctx, msg)
		require.NoError(t, err)
		d := sha256.Sum256(msg)
		require.NoError(t, rsa.VerifyPKCS1v15(s.Public().(*rsa.PublicKey), crypto.SHA256, d[:], sig))
	})

	t.Run("an alias signs with the key it named at New", func(t *testing.T) {
		t.Parallel()
		alias := "alias/wxcard-session"
		_, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: &alias, TargetKeyId: &keyID})
		require.NoError(t, err)
		s, err := kmssign.New(ctx, c, alias)
		require.NoError(t, err)
		assert.Equal(t, alias, s.KeyID())
		sig, err := s.SignMessage(ctx, []byte("m"))
		require.NoError(t, err)
		d := sha256.Sum256([]byte("m"))
		require.NoError(t, rsa.VerifyPKCS1v15(s.Public().(*rsa.PublicKey), crypto.SHA256, d[:], sig))
	})

	// moto_server 5.2.1 signs SHA-256 of a DIGEST message (design.md): the
	// signer must then refuse, never hand out a signature that does not
	// verify. A moto that signs DIGEST right passes too.
	t.Run("DIGEST never returns a signature that does not verify", func(t *testing.T) {
		t.Parallel()
		s, err := kmssign.New(ctx, c, keyID)
		require.NoError(t, err)
		d := sha256.Sum256([]byte("m"))
		sig, err := s.Sign(nil, d[:], crypto.SHA256)
		if err != nil {
			require.ErrorIs(t, err, kmssign.ErrBadSignature)
			require.ErrorIs(t, err, kmssign.ErrUnavailable)
			t.Logf("moto signs DIGEST wrongly, refused: %v", err)
			return
		}
		require.NoError(t, rsa.VerifyPKCS1v15(s.Public().(*rsa.PublicKey), crypto.SHA256, d[:], sig))
	})

	refusals := []struct {
		name  string
		spec  types.KeySpec
		usage types.KeyUsageType
		want  string
	}{
		{"encryption key", types.KeySpecRsa2048, types.KeyUsageTypeEncryptDecrypt, `key usage "ENCRYPT_DECRYPT", want "SIGN_VERIFY"`},
		{"RSA 4096", types.KeySpecRsa4096, types.KeyUsageTypeSignVerify, `key spec "RSA_4096", want "RSA_2048"`},
		{"ECC key", types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify, `key spec "ECC_NIST_P256", want "RSA_2048"`},
	}
	for _, tc := range refusals {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			t.Parallel()
			id := createKey(t, c, tc.spec, tc.usage)
			_, err := kmssign.New(ctx, c, id)
			require.ErrorIs(t, err, kmssign.ErrUnsuitableKey)
			assert.NotErrorIs(t, err, kmssign.ErrUnavailable)
			assert.ErrorContains(t, err, id)
			assert.ErrorContains(t, err, tc.want)
		})
	}

	t.Run("an unknown key is unavailable, naming key and operation", func(t *testing.T) {
		t.Parallel()
		_, err := kmssign.New(ctx, c, "alias/none")
		require.ErrorIs(t, err, kmssign.ErrUnavailable)
		var nf *types.NotFoundException
		require.True(t, errors.As(err, &nf), "%v", err)
		assert.ErrorContains(t, err, "KMS GetPublicKey with key alias/none: ")
	})
}
