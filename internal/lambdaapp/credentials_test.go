package lambdaapp

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/secret"
)

// The two refresh windows: a reread for an unverified reason (anyone can
// name an unknown key ID) never spends the window of a verified one (WeChat
// Pay's word that the keys changed), and each is one read a minute.
func TestCredentialsRefreshWindows(t *testing.T) {
	t.Parallel()
	type step struct {
		after      time.Duration // since the previous step
		unverified bool          // MarkStaleUnverified, else MarkStale
		wantReads  int           // secret reads so far, the cold start's included
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"a probe, then a genuine key change at once", []step{{0, true, 2}, {time.Second, false, 3}}},
		{"a key change, then a probe at once", []step{{0, false, 2}, {time.Second, true, 3}}},
		{"probes: one read a minute", []step{{0, true, 2}, {time.Second, true, 2}, {RetryAfterFailure - 2*time.Second, true, 2}, {time.Second, true, 3}}},
		{"key changes: one read a minute", []step{{0, false, 2}, {time.Second, false, 2}, {RetryAfterFailure, false, 3}}},
		{"probes never spend a key change's minute", []step{{0, false, 2}, {RetryAfterFailure, true, 3}, {time.Second, true, 3}, {time.Second, false, 4}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var reads atomic.Int64
			load := func(context.Context) (*secret.Identity, error) { reads.Add(1); return &secret.Identity{}, nil }
			c, err := NewCredentials(context.Background(), load, slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			now := time.Now()
			c.now = func() time.Time { return now }
			for i, s := range tc.steps {
				now = now.Add(s.after)
				if s.unverified {
					c.MarkStaleUnverified("unknown key ID")
				} else {
					c.MarkStale("notification does not decrypt")
				}
				c.Current(context.Background())
				assert.EqualValues(t, s.wantReads, reads.Load(), "step %d", i)
			}
		})
	}
}

// A reread that fails keeps the identity and the reason: the next Current
// after the window tries again, in either window, and a success clears
// both reasons.
func TestCredentialsFailedRefreshIsRetried(t *testing.T) {
	t.Parallel()
	for _, unverified := range []bool{false, true} {
		var reads atomic.Int64
		fail := atomic.Bool{}
		first := &secret.Identity{PublicKeyID: "first"}
		load := func(context.Context) (*secret.Identity, error) {
			reads.Add(1)
			if fail.Load() {
				return nil, errors.New("unreachable")
			}
			return &secret.Identity{PublicKeyID: "second"}, nil
		}
		c, err := NewCredentials(context.Background(), func(context.Context) (*secret.Identity, error) { return first, nil }, slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		c.load = load
		now := time.Now()
		c.now = func() time.Time { return now }
		fail.Store(true)
		if unverified {
			c.MarkStaleUnverified("unknown key ID")
		} else {
			c.MarkStale("SIGN_ERROR")
		}
		assert.Same(t, first, c.Current(context.Background()), "kept on failure")
		fail.Store(false)
		now = now.Add(RetryAfterFailure - time.Second)
		assert.Same(t, first, c.Current(context.Background()), "not within the window")
		now = now.Add(time.Second)
		assert.Equal(t, "second", c.Current(context.Background()).PublicKeyID)
		reads.Store(0)
		now = now.Add(RetryAfterFailure)
		c.Current(context.Background())
		assert.Zero(t, reads.Load(), "nothing left stale (unverified: %v)", unverified)
	}
}
