package session_test

import (
	"context"
	"crypto"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/session"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

// The derived issuer takes a host name and port only: the characters
// either side of each range are refused.
func TestDerivedIssuerHostEdges(t *testing.T) {
	t.Parallel()
	keys, err := session.NewKeys("", []crypto.PublicKey{&wxpaytest.PooledKey(0).PublicKey}, nil, nil)
	require.NoError(t, err)
	status := func(host string) int {
		resp, err := keys.Handle(context.Background(), get(session.DiscoveryPath, "GET", host))
		require.NoError(t, err)
		return resp.StatusCode
	}
	for _, ok := range []string{"a", "z", "A", "Z", "0", "9", "a.b-c:443", strings.Repeat("h", 253)} {
		assert.Equal(t, 200, status(ok), ok)
	}
	for _, bad := range []string{"`", "{", "@", "[", "/", ";", "_", strings.Repeat("h", 254)} {
		assert.Equal(t, 500, status("h"+bad), bad)
	}
}

func TestOpenIDClaimEdges(t *testing.T) {
	t.Parallel()
	s := keySigner{wxpaytest.PooledKey(0)}
	cfg := session.TokenConfig{Issuer: issuer, Audience: audience, TTL: time.Hour}
	for claim, ok := range map[string]bool{"!": true, "~": true, strings.Repeat("c", 64): true, "a\x7f": false, "a ": false, "a\x1f": false} {
		cfg.OpenIDClaim = claim
		_, err := session.NewTokens(s, cfg)
		assert.Equal(t, ok, err == nil, "%q", claim)
	}
}

func TestAudienceEdges(t *testing.T) {
	t.Parallel()
	for aud, ok := range map[string]bool{"a b": true, "a~": true, "a\x1fb": false, "a\x7fb": false} {
		_, err := session.SignInConfigFromEnv(env(signInEnv(map[string]string{"SESSION_AUDIENCE": aud})))
		assert.Equal(t, ok, err == nil, "%q", aud)
	}
}
