package kmssign_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wxcard/wxcard/internal/kmssign"
	"github.com/wxcard/wxcard/internal/kmssign/kmssigntest"
)

const keyID = "key-1"

// Throwaway keys, generated once per test binary: RSA key generation is
// the slow part of these tests.
var (
	keysOnce          sync.Once
	keyA, keyB, key1k *rsa.PrivateKey
)

func keys(t testing.TB) (a, b, small *rsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		for _, k := range []struct {
			p    **rsa.PrivateKey
			bits int
		}{{&keyA, 2048}, {&keyB, 2048}, {&key1k, 1024}} {
			if *k.p, err = rsa.GenerateKey(rand.Reader, k.bits); err != nil {
				panic(err)
			}
		}
	})
	return keyA, keyB, key1k
}

// standIn is the stand-in with keyA under keyID, and a signer of it.
func standIn(t testing.TB, opts ...kmssign.Option) (*kmssigntest.KMS, *kmssign.Signer) {
	t.Helper()
	a, _, _ := keys(t)
	k := kmssigntest.New()
	k.AddKey(keyID, a)
	s, err := kmssign.New(context.Background(), k, keyID, opts...)
	require.NoError(t, err)
	return k, s
}

func verify(t testing.TB, s *kmssign.Signer, digest, sig []byte) {
	t.Helper()
	require.NoError(t, rsa.VerifyPKCS1v15(s.Public().(*rsa.PublicKey), crypto.SHA256, digest, sig))
}

func TestSignDigest(t *testing.T) {
	t.Parallel()
	k, s := standIn(t)
	a, _, _ := keys(t)
	assert.Equal(t, keyID, s.KeyID())
	assert.True(t, a.PublicKey.Equal(s.Public()))

	d := sha256.Sum256([]byte("message"))
	// Through the interface: what crypto/x509, go-jose or wxsign call.
	var signer crypto.Signer = s
	sig, err := signer.Sign(rand.Reader, d[:], crypto.SHA256)
	require.NoError(t, err)
	verify(t, s, d[:], sig)
	want, err := rsa.SignPKCS1v15(nil, a, crypto.SHA256, d[:])
	require.NoError(t, err)
	assert.Equal(t, want, sig, "PKCS #1 v1.5 is deterministic: the same bytes as the local key")

	// PSS-free SignerOpts naming SHA-256 (e.g. rsa.PKCS1v15DecryptOptions
	// is not one; crypto.Hash is) are accepted whatever their type.
	sig2, err := s.Sign(nil, d[:], hashOpts{crypto.SHA256})
	require.NoError(t, err)
	assert.Equal(t, sig, sig2)

	calls := k.Calls()
	require.Len(t, calls, 3)
	assert.Equal(t, kmssigntest.Call{Op: "GetPublicKey", KeyID: keyID}, withoutDeadline(calls[0]))
	assert.Equal(t, "Sign", calls[1].Op)
	assert.Equal(t, types.MessageTypeDigest, calls[1].MessageType)
	assert.Equal(t, d[:], calls[1].Message)
}

type hashOpts struct{ h crypto.Hash }

func (o hashOpts) HashFunc() crypto.Hash { return o.h }

func withoutDeadline(c kmssigntest.Call) kmssigntest.Call { c.Deadline = time.Time{}; return c }

func TestSignMessage(t *testing.T) {
	t.Parallel()
	k, s := standIn(t)
	for _, n := range []int{1, 43, kmssign.MaxRawMessage} {
		msg := []byte(strings.Repeat("m", n))
		sig, err := s.SignMessage(context.Background(), msg)
		require.NoError(t, err, "%d bytes", n)
		d := sha256.Sum256(msg)
		verify(t, s, d[:], sig)
		last := k.Calls()[len(k.Calls())-1]
		assert.Equal(t, types.MessageTypeRaw, last.MessageType)
		assert.Equal(t, msg, last.Message, "RAW sends the message itself, not its digest")
	}
}

func TestSignRefusesWhatIsNotSHA256PKCS1v15(t *testing.T) {
	t.Parallel()
	k, s := standIn(t)
	d := sha256.Sum256([]byte("m"))
	d512 := sha512.Sum512([]byte("m"))
	tests := []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
		want   string
	}{
		{"no opts", d[:], nil, "kmssign: Sign without SignerOpts: want crypto.SHA256"},
		{"PSS", d[:], &rsa.PSSOptions{Hash: crypto.SHA256}, "kmssign: key key-1 signs PKCS #1 v1.5 only, not PSS"},
		{"SHA-512", d512[:], crypto.SHA512, "kmssign: key key-1 signs SHA-256 digests only, not SHA-512"},
		{"SHA-1", d[:20], crypto.SHA1, "kmssign: key key-1 signs SHA-256 digests only, not SHA-1"},
		{"no hash", d[:], crypto.Hash(0), "kmssign: key key-1 signs SHA-256 digests only, not unknown hash value 0"},
		{"short digest", d[:31], crypto.SHA256, "kmssign: digest of 31 bytes, want 32 (SHA-256)"},
		{"long digest", append(d[:], 0), crypto.SHA256, "kmssign: digest of 33 bytes, want 32 (SHA-256)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := s.Sign(nil, tc.digest, tc.opts)
			require.EqualError(t, err, tc.want)
			assert.Nil(t, sig)
			assert.NotErrorIs(t, err, kmssign.ErrUnavailable, "the caller's mistake, not KMS's")
		})
	}
	assert.Len(t, k.Calls(), 1, "no refused digest reached KMS")
}

func TestSignMessageRefusesSizesKMSRefuses(t *testing.T) {
	t.Parallel()
	k, s := standIn(t)
	for _, n := range []int{0, kmssign.MaxRawMessage + 1} {
		_, err := s.SignMessage(context.Background(), make([]byte, n))
		require.ErrorContains(t, err, "want 1 to 4096")
		assert.NotErrorIs(t, err, kmssign.ErrUnavailable)
	}
	assert.Len(t, k.Calls(), 1, "no refused message reached KMS")
}

func TestKMSFailureIsUnavailable(t *testing.T) {
	t.Parallel()
	k, s := standIn(t)
	msg := []byte("header.payload")
	k.FailNext(&types.KMSInternalException{Message: aws.String("internal")})
	sig, err := s.SignMessage(context.Background(), msg)
	assert.Nil(t, sig)
	require.ErrorIs(t, err, kmssign.ErrUnavailable)
	assert.NotErrorIs(t, err, kmssign.ErrBadSignature)
	var internal *types.KMSInternalException
	require.ErrorAs(t, err, &internal)
	var kerr *kmssign.Error
	require.ErrorAs(t, err, &kerr)
	assert.Equal(t, kmssign.Error{KeyID: keyID, Op: "Sign", Err: internal}, *kerr)
	assert.Equal(t, "KMS Sign with key key-1: KMSInternalException: internal", err.Error())
	assert.NotContains(t, err.Error(), string(msg))

	d := sha256.Sum256(msg)
	k.FailNext(&types.DisabledException{Message: aws.String("disabled")})
	_, err = s.Sign(nil, d[:], crypto.SHA256)
	require.ErrorIs(t, err, kmssign.ErrUnavailable)
	assert.EqualError(t, err, "KMS Sign with key key-1: DisabledException: disabled")

	// The next call signs again: a failure is not remembered.
	_, err = s.SignMessage(context.Background(), msg)
	require.NoError(t, err)
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	const d = 50 * time.Millisecond
	k, s := standIn(t, kmssign.WithTimeout(d))
	k.Latency = time.Hour // KMS never answers: only the timeout ends the call

	digest := sha256.Sum256([]byte("m"))
	before := time.Now()
	_, err := s.Sign(nil, digest[:], crypto.SHA256)
	after := time.Now()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, kmssign.ErrUnavailable)
	assert.ErrorContains(t, err, "KMS Sign with key key-1: ")
	deadline := k.Calls()[1].Deadline
	assert.WithinRange(t, deadline, before.Add(d), after.Add(d), "Sign is bounded by WithTimeout")

	// SignMessage: the earlier of the caller's deadline and the timeout.
	before = time.Now()
	_, err = s.SignMessage(context.Background(), []byte("m"))
	after = time.Now()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.WithinRange(t, k.Calls()[2].Deadline, before.Add(d), after.Add(d))
	ctx, cancel := context.WithTimeout(context.Background(), d/5)
	defer cancel()
	want, _ := ctx.Deadline()
	_, err = s.SignMessage(ctx, []byte("m"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, want, k.Calls()[3].Deadline)
}

func TestDefaultTimeout(t *testing.T) {
	t.Parallel()
	before := time.Now()
	k, s := standIn(t)
	_, err := s.SignMessage(context.Background(), []byte("m"))
	after := time.Now()
	require.NoError(t, err)
	calls := k.Calls()
	require.Len(t, calls, 2)
	for _, c := range calls {
		assert.WithinRange(t, c.Deadline, before.Add(kmssign.DefaultTimeout), after.Add(kmssign.DefaultTimeout), c.Op)
	}
	assert.Equal(t, 2*time.Second, kmssign.DefaultTimeout)
}

func TestNewIsBoundedByTheTimeout(t *testing.T) {
	t.Parallel()
	a, _, _ := keys(t)
	k := kmssigntest.New()
	k.AddKey(keyID, a)
	k.Latency = time.Hour
	_, err := kmssign.New(context.Background(), k, keyID, kmssign.WithTimeout(time.Millisecond))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, kmssign.ErrUnavailable)
	assert.EqualError(t, err, "KMS GetPublicKey with key key-1: context deadline exceeded")
}

func TestNewRefusesOptions(t *testing.T) {
	t.Parallel()
	k := kmssigntest.New()
	for _, tc := range []struct {
		id   string
		opts []kmssign.Option
		want string
	}{
		{keyID, []kmssign.Option{kmssign.WithTimeout(0)}, "kmssign: timeout 0s for key key-1: must be positive"},
		{keyID, []kmssign.Option{kmssign.WithTimeout(-time.Second)}, "kmssign: timeout -1s for key key-1: must be positive"},
		{"", nil, "kmssign: empty KMS key ID"},
	} {
		_, err := kmssign.New(context.Background(), k, tc.id, tc.opts...)
		require.EqualError(t, err, tc.want)
	}
	assert.Empty(t, k.Calls())
}

func TestNewRefusesUnsuitableKeys(t *testing.T) {
	t.Parallel()
	a, _, small := keys(t)
	pkcs := []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecRsassaPkcs1V15Sha256}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecDER, err := x509.MarshalPKIXPublicKey(ecKey.Public())
	require.NoError(t, err)
	rsaDER, err := x509.MarshalPKIXPublicKey(a.Public())
	require.NoError(t, err)
	good := kms.GetPublicKeyOutput{
		KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeSignVerify, SigningAlgorithms: pkcs, PublicKey: rsaDER,
	}
	tests := []struct {
		name   string
		change func(*kms.GetPublicKeyOutput)
		want   string
	}{
		{"RSA 3072", func(o *kms.GetPublicKeyOutput) { o.KeySpec = types.KeySpecRsa3072 }, `key spec "RSA_3072", want "RSA_2048"`},
		{"old field only, wrong", func(o *kms.GetPublicKeyOutput) {
			o.KeySpec, o.CustomerMasterKeySpec = "", types.CustomerMasterKeySpecRsa4096 //nolint:staticcheck // moto's field
		}, `key spec "RSA_4096", want "RSA_2048"`},
		{"no spec at all", func(o *kms.GetPublicKeyOutput) { o.KeySpec = "" }, `key spec "", want "RSA_2048"`},
		{"encryption key", func(o *kms.GetPublicKeyOutput) { o.KeyUsage = types.KeyUsageTypeEncryptDecrypt }, `key usage "ENCRYPT_DECRYPT", want "SIGN_VERIFY"`},
		{"PSS only", func(o *kms.GetPublicKeyOutput) {
			o.SigningAlgorithms = []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecRsassaPssSha256}
		}, `signing algorithms ["RSASSA_PSS_SHA_256"] do not include "RSASSA_PKCS1_V1_5_SHA_256"`},
		{"garbage public key", func(o *kms.GetPublicKeyOutput) { o.PublicKey = []byte("not DER") }, "public key: asn1: "},
		{"ECC public key", func(o *kms.GetPublicKeyOutput) { o.PublicKey = ecDER }, "public key is *ecdsa.PublicKey, want *rsa.PublicKey"},
		{"1024-bit key", func(o *kms.GetPublicKeyOutput) {
			o.PublicKey, _ = x509.MarshalPKIXPublicKey(small.Public())
		}, "public key has 1024 bits, want 2048"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := good
			tc.change(&out)
			s, err := kmssign.New(context.Background(), fixedKey{&out}, keyID)
			assert.Nil(t, s)
			require.ErrorIs(t, err, kmssign.ErrUnsuitableKey)
			assert.NotErrorIs(t, err, kmssign.ErrUnavailable)
			assert.ErrorContains(t, err, "kmssign: key key-1: KMS key unsuitable for RS256: ")
			assert.ErrorContains(t, err, tc.want)
			assert.Equal(t, 1, strings.Count(err.Error(), "\n")+1, "one thing wrong, one line: %v", err)
		})
	}

	t.Run("everything wrong at once is named at once", func(t *testing.T) {
		t.Parallel()
		out := kms.GetPublicKeyOutput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeEncryptDecrypt, PublicKey: ecDER}
		_, err := kmssign.New(context.Background(), fixedKey{&out}, keyID)
		require.ErrorIs(t, err, kmssign.ErrUnsuitableKey)
		assert.Len(t, strings.Split(err.Error(), "\n"), 4, "%v", err)
	})

	t.Run("the old field is read where the new one is empty", func(t *testing.T) {
		t.Parallel()
		out := good
		out.KeySpec, out.CustomerMasterKeySpec = "", types.CustomerMasterKeySpecRsa2048 //nolint:staticcheck // moto's field
		_, err := kmssign.New(context.Background(), fixedKey{&out}, keyID)
		require.NoError(t, err)
	})

	t.Run("the new field wins over the old", func(t *testing.T) {
		t.Parallel()
		out := good
		out.CustomerMasterKeySpec = types.CustomerMasterKeySpecRsa4096 //nolint:staticcheck // moto's field
		_, err := kmssign.New(context.Background(), fixedKey{&out}, keyID)
		require.NoError(t, err)
	})
}

// fixedKey answers GetPublicKey with out; it cannot sign.
type fixedKey struct{ out *kms.GetPublicKeyOutput }

func (f fixedKey) GetPublicKey(context.Context, *kms.GetPublicKeyInput, ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error) {
	return f.out, nil
}

func (fixedKey) Sign(context.Context, *kms.SignInput, ...func(*kms.Options)) (*kms.SignOutput, error) {
	return nil, errors.New("fixedKey cannot sign")
}

// tampered is KMS answering a signature other than the key's.
type tampered struct {
	kmssign.API
	change func(*kms.SignOutput)
}

func (t tampered) Sign(ctx context.Context, in *kms.SignInput, o ...func(*kms.Options)) (*kms.SignOutput, error) {
	out, err := t.API.Sign(ctx, in, o...)
	if err == nil {
		t.change(out)
	}
	return out, err
}

func TestSignatureThatDoesNotVerifyIsRefused(t *testing.T) {
	t.Parallel()
	a, b, _ := keys(t)
	d := sha256.Sum256([]byte("m"))
	tests := []struct {
		name   string
		change func(*kms.SignOutput)
	}{
		{"one bit flipped", func(o *kms.SignOutput) { o.Signature[10] ^= 1 }},
		{"truncated", func(o *kms.SignOutput) { o.Signature = o.Signature[:255] }},
		{"empty", func(o *kms.SignOutput) { o.Signature = nil }},
		{"another key's", func(o *kms.SignOutput) { o.Signature, _ = rsa.SignPKCS1v15(nil, b, crypto.SHA256, d[:]) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := kmssigntest.New()
			k.AddKey(keyID, a)
			s, err := kmssign.New(context.Background(), tampered{k, tc.change}, keyID)
			require.NoError(t, err)
			sig, err := s.Sign(nil, d[:], crypto.SHA256)
			assert.Nil(t, sig)
			require.ErrorIs(t, err, kmssign.ErrBadSignature)
			require.ErrorIs(t, err, kmssign.ErrUnavailable)
			assert.EqualError(t, err, "KMS Sign with key key-1: signature does not verify against the key's public key (MessageType DIGEST)")
		})
	}

	t.Run("a key mapped wrongly between GetPublicKey and Sign", func(t *testing.T) {
		t.Parallel()
		k := kmssigntest.New()
		k.AddKey(keyID, a)
		s, err := kmssign.New(context.Background(), k, keyID)
		require.NoError(t, err)
		k.AddKey(keyID, b) // e.g. an alias moved after the cold start
		sig, err := s.SignMessage(context.Background(), []byte("m"))
		assert.Nil(t, sig)
		require.ErrorIs(t, err, kmssign.ErrBadSignature)
		assert.ErrorContains(t, err, "(MessageType RAW)")
	})
}

// resolving answers GetPublicKey with another key ID, as AWS answers an
// alias's or a bare ID's ARN.
type resolving struct {
	kmssign.API
	id *string
}

func (r resolving) GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, o ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error) {
	out, err := r.API.GetPublicKey(ctx, in, o...)
	if err == nil {
		out.KeyId = r.id
	}
	return out, err
}

func TestSignsWithTheKeyGetPublicKeyResolved(t *testing.T) {
	t.Parallel()
	a, _, _ := keys(t)
	const arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, tc := range []struct {
		name     string
		resolved *string
		want     string
	}{
		{"ARN", aws.String(arn), arn},
		{"none answered", nil, keyID},
		{"empty answered", aws.String(""), keyID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := kmssigntest.New()
			k.AddKey(keyID, a)
			k.AddKey(arn, a)
			s, err := kmssign.New(context.Background(), resolving{k, tc.resolved}, keyID)
			require.NoError(t, err)
			_, err = s.SignMessage(context.Background(), []byte("m"))
			require.NoError(t, err)
			assert.Equal(t, tc.want, k.Calls()[1].KeyID)
			assert.Equal(t, keyID, s.KeyID(), "errors and logs name the key as configured")
		})
	}
}

func TestUnknownKeyIsUnavailable(t *testing.T) {
	t.Parallel()
	_, err := kmssign.New(context.Background(), kmssigntest.New(), "alias/none")
	require.ErrorIs(t, err, kmssign.ErrUnavailable)
	var nf *types.NotFoundException
	require.ErrorAs(t, err, &nf)
	assert.EqualError(t, err, "KMS GetPublicKey with key alias/none: NotFoundException: Key 'alias/none' does not exist")
}

func TestConcurrentSigning(t *testing.T) {
	t.Parallel()
	_, s := standIn(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			msg := []byte{byte(i)}
			sig, err := s.SignMessage(context.Background(), msg)
			assert.NoError(t, err)
			d := sha256.Sum256(msg)
			assert.NoError(t, rsa.VerifyPKCS1v15(s.Public().(*rsa.PublicKey), crypto.SHA256, d[:], sig))
		})
	}
	wg.Wait()
}

func TestClientFromEnv(t *testing.T) {
	t.Parallel()
	_, err := kmssign.ClientFromEnv(func(string) string { return "" })
	require.EqualError(t, err, "AWS_REGION is not set")
	env := map[string]string{
		"AWS_REGION": "ap-east-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b",
		"AWS_ENDPOINT_URL": "http://elsewhere", "AWS_ENDPOINT_URL_KMS": "http://kms.local",
	}
	c, err := kmssign.ClientFromEnv(func(k string) string { return env[k] })
	require.NoError(t, err)
	o := c.Options()
	assert.Equal(t, "ap-east-1", o.Region)
	assert.Equal(t, "http://kms.local", aws.ToString(o.BaseEndpoint))
	creds, err := o.Credentials.Retrieve(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "a", creds.AccessKeyID)
}
