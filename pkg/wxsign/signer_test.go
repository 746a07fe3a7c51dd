package wxsign_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/wxsign"
)

// remoteKey stands for a key in a hardware module or a cloud KMS: only
// Public and Sign, and it signs only what WeChat Pay takes.
type remoteKey struct {
	key   *rsa.PrivateKey
	calls int
}

func (r *remoteKey) Public() crypto.PublicKey { return &r.key.PublicKey }

func (r *remoteKey) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	r.calls++
	if opts.HashFunc() != crypto.SHA256 || len(digest) != 32 {
		return nil, errors.New("remoteKey: only PKCS #1 v1.5 over SHA-256")
	}
	if _, ok := opts.(*rsa.PSSOptions); ok {
		return nil, errors.New("remoteKey: no PSS")
	}
	return rsa.SignPKCS1v15(nil, r.key, crypto.SHA256, digest)
}

// A crypto.Signer signs exactly as the *rsa.PrivateKey fast path does
// (PKCS #1 v1.5 is deterministic), and the signature verifies.
func TestSignWithCryptoSigner(t *testing.T) {
	mk, _ := testKeys(t)
	remote := &remoteKey{key: mk}
	msg := wxsign.Message(http.MethodGet, "/v3/x", 1554208460, "N", nil)
	fast, err := wxsign.Sign(mk, msg)
	require.NoError(t, err)
	viaSigner, err := wxsign.Sign(remote, msg)
	require.NoError(t, err)
	assert.Equal(t, fast, viaSigner)
	assert.Equal(t, 1, remote.calls)

	s := &wxsign.Signer{Identity: wxsign.Identity{Scheme: wxsign.Merchant, ID: "1900000001", SerialNo: "1DDE", Key: remote}}
	h, err := s.Authorization(http.MethodPost, "/v3/y", []byte(`{}`))
	require.NoError(t, err)
	c, err := wxsign.ParseAuthorization(h)
	require.NoError(t, err)
	require.NoError(t, wxsign.VerifyRequest(&mk.PublicKey, c, http.MethodPost, "/v3/y", []byte(`{}`)))
}

type brokenSigner struct{ remoteKey }

func (b *brokenSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return []byte("short"), nil
}

func TestSignRefusesKeysWeChatPayDoesNotTake(t *testing.T) {
	mk, _ := testKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tests := []struct {
		name string
		key  crypto.Signer
		want string
	}{
		{"nil", nil, "no private key"},
		{"typed nil", (*rsa.PrivateKey)(nil), "no private key"},
		{"RSA-1024", small, "1024 bits, want 2048"},
		{"RSA-1024 signer", &remoteKey{key: small}, "1024 bits, want 2048"},
		{"ECDSA", ec, "does not hold an RSA key"},
		{"signature of the wrong size", &brokenSigner{remoteKey{key: mk}}, "returned 5 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wxsign.Sign(tc.key, []byte("m"))
			require.ErrorContains(t, err, tc.want)
		})
	}
}
