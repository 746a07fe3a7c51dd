package wxlogin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/wxlogin"
	"github.com/wxcard/wxcard/pkg/wxlogin/wxlogintest"
)

// Every phase of an attempt has its own bound, under AttemptTimeout.
func TestHTTPClientBoundsEachPhase(t *testing.T) {
	t.Parallel()
	hc := wxlogin.NewHTTPClient(nil)
	tr, ok := hc.Transport.(*http.Transport)
	require.True(t, ok)
	assert.Equal(t, wxlogin.AttemptTimeout, hc.Timeout)
	assert.Equal(t, 3*time.Second, tr.TLSHandshakeTimeout)
	assert.Equal(t, 4*time.Second, tr.ResponseHeaderTimeout)
	assert.Equal(t, 5*time.Second, tr.IdleConnTimeout)
	assert.Less(t, tr.ResponseHeaderTimeout, wxlogin.AttemptTimeout)
	assert.Equal(t, uint16(0x0303), tr.TLSClientConfig.MinVersion)
	req, _ := http.NewRequest(http.MethodGet, "https://example.com", nil)
	assert.ErrorIs(t, hc.CheckRedirect(req, nil), http.ErrUseLastResponse)
}

// The first retry waits at most BaseBackoff (100 ms by default), however
// large MaxBackoff is: a wait drawn up to an hour would not fit in 2 s
// and the call would give up.
func TestFirstRetryWaitsAtMostBaseBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		base, max time.Duration
	}{
		{"default base, long max", 0, time.Hour},
		{"short base, long max", 10 * time.Millisecond, time.Hour},
		{"long base, short max", time.Hour, 10 * time.Millisecond},
		{"short base, default max", 10 * time.Millisecond, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newStandIn(t, wxlogintest.Options{})
			cfg := srv.Config(appID, secret)
			cfg.BaseBackoff, cfg.MaxBackoff = tc.base, tc.max
			c, err := wxlogin.New(cfg)
			require.NoError(t, err)
			for range 3 { // the wait is random: three draws
				srv.FailNext(-1, "busy")
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				s, err := c.Exchange(ctx, srv.IssueCode(appID, openID))
				cancel()
				require.NoError(t, err)
				assert.Equal(t, 2, s.Attempts)
			}
		})
	}
}

// BaseBackoff doubled past 63 bits wraps to zero or below; the wait is
// then MaxBackoff, never a zero-width draw (which would panic).
func TestBackoffSurvivesOverflow(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer ts.Close()
	c, err := wxlogin.New(wxlogin.Config{BaseURL: ts.URL, AppID: appID, AppSecret: secret, HTTPClient: ts.Client(),
		BaseBackoff: 1 << 62, MaxBackoff: time.Millisecond, MaxAttempts: 4})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.Exchange(ctx, "c")
	require.ErrorIs(t, err, wxlogin.ErrUnavailable)
	assert.Equal(t, int64(4), hits.Load())
}

// The ID alphabet's edges: the characters either side of each range.
func TestIDAlphabetEdges(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"a", "z", "A", "Z", "0", "9", "_", "-"} {
		_, err := wxlogin.ParseAnswer([]byte(`{"openid":"o` + ok + `","unionid":"u` + ok + `"}`))
		assert.NoError(t, err, ok)
	}
	for _, bad := range []string{"`", "{", "@", "[", "/", ":", ".", "^"} {
		_, err := wxlogin.ParseAnswer([]byte(`{"openid":"o` + bad + `"}`))
		assert.ErrorIs(t, err, wxlogin.ErrInvalidAnswer, bad)
	}
}

// errmsg keeps printable ASCII, space to tilde, and at most MaxErrMsg bytes.
func TestErrMsgEdges(t *testing.T) {
	t.Parallel()
	msg := func(s string) string {
		_, err := wxlogin.ParseAnswer([]byte(`{"errcode":1,"errmsg":"` + s + `"}`))
		var ae *wxlogin.APIError
		require.ErrorAs(t, err, &ae)
		return ae.Message
	}
	assert.Equal(t, " ~", msg(` ~`))
	assert.Equal(t, "??", msg(`\u001f\u007f`))
	exact := strings.Repeat("x", wxlogin.MaxErrMsg)
	assert.Equal(t, exact, msg(exact))
	assert.Equal(t, exact, msg(exact+"y"))
}
