package wxpay_test

// Tests at the edges mutation testing showed unguarded: the size and status
// bounds of an answer, the defaults and the cap of the backoff, the request
// ID an error carries, the product token's characters, the per-phase
// bounds of the shared HTTP client and the duration a log line reports.

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// An answer of exactly MaxAnswerBytes is read whole and verified; one byte
// more is refused before verification.
func TestAnswerSizeBound(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		size int
		ok   bool
	}{
		{"at the bound", wxpay.MaxAnswerBytes, true},
		{"one byte over", wxpay.MaxAnswerBytes + 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := bytes.Repeat([]byte("a"), tc.size)
			srv, _ := rawServer(t, func(w http.ResponseWriter, _ *http.Request) { signed(w, http.StatusOK, body) })
			resp, err := rawClient(t, srv.URL, srv).Do(ctxWithin(t, 10*time.Second), partnerRequest())
			if !tc.ok {
				require.ErrorContains(t, err, "answer over")
				return
			}
			require.NoError(t, err)
			assert.Len(t, resp.Body, tc.size)
		})
	}
}

// 299 is a 2xx: verified and returned, not an API error.
func TestStatus299IsAnAnswer(t *testing.T) {
	t.Parallel()
	srv, _ := rawServer(t, func(w http.ResponseWriter, _ *http.Request) { signed(w, 299, []byte(`{}`)) })
	resp, err := rawClient(t, srv.URL, srv).Do(ctxWithin(t, 5*time.Second), partnerRequest())
	require.NoError(t, err)
	assert.Equal(t, 299, resp.Status)
}

// failOnce answers 503 to every odd request and a signed 200 to every even
// one, so each call retries exactly once.
func failOnce(t *testing.T) *wxpay.Config {
	t.Helper()
	var n atomic.Int64
	srv, _ := rawServer(t, func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%2 == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		signed(w, http.StatusOK, []byte(`{}`))
	})
	return &wxpay.Config{
		BaseURL: srv.URL, BackupURL: "-", PublicKeyID: wxpaytest.DefaultPublicKeyID,
		Signer:     &wxsign.Signer{Identity: wxsign.Identity{Scheme: wxsign.Merchant, ID: mchid, SerialNo: "5E0B1F7A", Key: wxpaytest.PooledKey(1)}},
		Verifier:   &wxsign.Verifier{Keys: wxsign.KeySet{wxpaytest.DefaultPublicKeyID: &wxpaytest.PooledKey(0).PublicKey}},
		HTTPClient: srv.Client(),
	}
}

// The first retry waits at most BaseBackoff (100 ms by default), however
// large MaxBackoff is: with an hour's MaxBackoff and 2 s left, a wait
// drawn up to MaxBackoff would not fit and the call would give up. A zero
// MaxBackoff means 1 s, not "no wait".
func TestFirstRetryWaitsAtMostBaseBackoff(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		base, max time.Duration
	}{
		{"default base, long max", 0, time.Hour},
		{"short base, long max", 10 * time.Millisecond, time.Hour},
		{"short base, default max", 10 * time.Millisecond, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := failOnce(t)
			cfg.BaseBackoff, cfg.MaxBackoff = tc.base, tc.max
			c, err := wxpay.New(*cfg)
			require.NoError(t, err)
			for range 3 { // the wait is random: three draws
				resp, err := c.Do(ctxWithin(t, 2*time.Second), partnerRequest())
				require.NoError(t, err)
				assert.Equal(t, 2, resp.Attempts)
			}
		})
	}
}

// BaseBackoff doubled past 63 bits wraps to zero or below; the wait is
// then MaxBackoff, never a zero-width draw (which would panic).
func TestBackoffSurvivesOverflow(t *testing.T) {
	t.Parallel()
	srv, hits := rawServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	c, err := wxpay.New(wxpay.Config{
		BaseURL: srv.URL, BackupURL: "-", PublicKeyID: wxpaytest.DefaultPublicKeyID,
		Signer:      &wxsign.Signer{Identity: wxsign.Identity{Scheme: wxsign.Merchant, ID: mchid, SerialNo: "5E0B1F7A", Key: wxpaytest.PooledKey(1)}},
		Verifier:    &wxsign.Verifier{Keys: wxsign.KeySet{wxpaytest.DefaultPublicKeyID: &wxpaytest.PooledKey(0).PublicKey}},
		HTTPClient:  srv.Client(),
		BaseBackoff: 1 << 62, MaxBackoff: time.Millisecond, MaxAttempts: 4,
	})
	require.NoError(t, err)
	_, err = c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	var apiErr *wxpay.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, int64(4), hits.Load(), "1<<62, then 1<<63 (negative), then 1<<64 (zero): each capped")
}

// RequestID finds the ID wherever the error carries it, the CallError's
// own first.
func TestRequestIDOfAnError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"call error's own", &wxpay.CallError{RequestID: "08CALL", Err: errors.New("reading answer")}, "08CALL"},
		{"call error without one, over an API error", &wxpay.CallError{Err: &wxpay.APIError{Status: 500, RequestID: "08API"}}, "08API"},
		{"verify error", &wxsign.VerifyError{RequestID: "08VERIFY"}, "08VERIFY"},
		{"none", errors.New("plain"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, wxpay.RequestID(tc.err))
		})
	}
}

// DEL (0x7f) is a control character, not a token character.
func TestProductRefusesDEL(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"shop\x7f/1.0", "shop/1.0\x7f"} {
		_, err := wxpay.New(wxpay.Config{Signer: &wxsign.Signer{}, Verifier: &wxsign.Verifier{}, Product: p})
		assert.ErrorContains(t, err, "Config.Product", "%q", p)
	}
	_, err := wxpay.New(wxpay.Config{Signer: &wxsign.Signer{}, Verifier: &wxsign.Verifier{}, Product: "shop~/1.0"})
	assert.NoError(t, err, "~ (0x7e) is a token character")
}

// Every phase of an attempt has its own bound, under AttemptTimeout, as
// NewHTTPClient documents.
func TestHTTPClientBoundsEachPhase(t *testing.T) {
	t.Parallel()
	hc := wxpay.NewHTTPClient(nil)
	tr, ok := hc.Transport.(*http.Transport)
	require.True(t, ok)
	assert.Equal(t, wxpay.AttemptTimeout, hc.Timeout)
	assert.Equal(t, 3*time.Second, tr.TLSHandshakeTimeout)
	assert.Equal(t, 6*time.Second, tr.ResponseHeaderTimeout)
	assert.Less(t, tr.ResponseHeaderTimeout, wxpay.AttemptTimeout)
}

// The log line's duration_ms is milliseconds: no more than the call took.
func TestLogDurationIsMilliseconds(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	var logs bytes.Buffer
	c := f.client(t, func(c *wxpay.Config) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	start := time.Now()
	_, err := c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	took := time.Since(start)
	require.NoError(t, err)
	var entry struct {
		DurationMS float64 `json:"duration_ms"`
	}
	require.NoError(t, json.Unmarshal(logs.Bytes(), &entry), logs.String())
	assert.Positive(t, entry.DurationMS)
	assert.LessOrEqual(t, entry.DurationMS, float64(took.Microseconds())/1000)
}
