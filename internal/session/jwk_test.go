package session_test

import (
	"crypto/rsa"
	"encoding/base64"
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"
)

// jwkToRSA reads an RSA JWK by RFC 7518 §6.3.1, apart from go-jose.
func jwkToRSA(t *testing.T, k map[string]string) *rsa.PublicKey {
	t.Helper()
	require.Equal(t, "RSA", k["kty"])
	n, err := base64.RawURLEncoding.DecodeString(k["n"])
	require.NoError(t, err)
	e, err := base64.RawURLEncoding.DecodeString(k["e"])
	require.NoError(t, err)
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
}
