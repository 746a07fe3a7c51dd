package wxsign_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/wxsign"
)

// A Signer left to its defaults puts a fresh random nonce in every
// Authorization header: WeChat Pay refuses a nonce it has seen, and a
// fixed one would make every request after the first a replay.
func TestSignerNoncesAreFresh(t *testing.T) {
	mk, _ := testKeys(t)
	s := &wxsign.Signer{Identity: wxsign.Identity{Scheme: wxsign.Merchant, ID: "1900000001", SerialNo: "5E0B1F7A", Key: mk}}
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		h, err := s.Authorization("POST", "/v3/x", []byte(`{}`))
		require.NoError(t, err)
		c, err := wxsign.ParseAuthorization(h)
		require.NoError(t, err)
		assert.Len(t, c.Nonce, wxsign.NonceLength)
		require.False(t, seen[c.Nonce], "nonce %q repeated", c.Nonce)
		seen[c.Nonce] = true
	}
}
