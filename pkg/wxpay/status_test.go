package wxpay_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// A redirect, or any status that is neither 2xx, 4xx nor 5xx, is
// ErrInvalidAnswer: not followed (even through an http.Client of the
// caller's that would follow), not retried, its Request-ID kept.
func TestStatusNeither2xx4xxNor5xxIsInvalid(t *testing.T) {
	t.Parallel()
	for _, status := range []int{300, 301, 302, 303, 304, 307, 308, 600, 999} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			srv, n := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/elsewhere" {
					signed(w, http.StatusOK, []byte(`{"token":"followed"}`))
					return
				}
				w.Header().Set("Location", "/elsewhere")
				w.Header().Set(wxsign.HeaderRequestID, "R-3XX")
				w.WriteHeader(status)
			})
			c, err := wxpay.New(wxpay.Config{
				BaseURL: srv.URL, BackupURL: "-", PublicKeyID: wxpaytest.DefaultPublicKeyID,
				Signer:     &wxsign.Signer{Identity: wxsign.Identity{Scheme: wxsign.Merchant, ID: mchid, SerialNo: "5E0B1F7A", Key: wxpaytest.PooledKey(1)}},
				Verifier:   &wxsign.Verifier{Keys: wxsign.KeySet{wxpaytest.DefaultPublicKeyID: &wxpaytest.PooledKey(0).PublicKey}},
				HTTPClient: srv.Client(), // follows redirects by itself
			})
			require.NoError(t, err)
			_, err = c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
			require.ErrorIs(t, err, wxpay.ErrInvalidAnswer)
			var ae *wxpay.APIError
			assert.NotErrorAs(t, err, &ae, "not a refusal to pass on")
			assert.Equal(t, "R-3XX", wxpay.RequestID(err))
			assert.Equal(t, int64(1), n.Load(), "not followed, not retried")
			assert.Nil(t, srv.Client().CheckRedirect, "the caller's client is left as it was")
		})
	}
}

// The sandbox's redirect fault, through the stand-in's own client.
func TestSandboxRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	srv := wxpaytest.NewServer(wxpaytest.Options{})
	t.Cleanup(srv.Close)
	id := srv.AddMerchant(mchid)
	c, err := wxpay.New(srv.Config(id))
	require.NoError(t, err)
	srv.Inject(wxpaytest.Fault{Kind: wxpaytest.Redirect})
	_, err = c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	require.ErrorIs(t, err, wxpay.ErrInvalidAnswer)
	require.Len(t, srv.Requests(), 1)
	assert.Equal(t, http.StatusTemporaryRedirect, srv.Requests()[0].Status)
}

// A 429's Retry-After is kept, in seconds or as a date; a malformed one
// is none.
func TestRetryAfterIsKept(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"7", 7 * time.Second}, {"1", time.Second}, {"0", 0}, {"86400", 24 * time.Hour}, {"86401", 0}, {"", 0}, {"soon", 0}, {"-3", 0},
		{time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), time.Hour}, {time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0},
	} {
		t.Run(tc.header, func(t *testing.T) {
			t.Parallel()
			srv, _ := rawServer(t, func(w http.ResponseWriter, _ *http.Request) {
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = w.Write([]byte(`{"code":"FREQUENCY_LIMITED","message":"slow down"}`))
			})
			_, err := rawClient(t, srv.URL, srv).Do(ctxWithin(t, 10*time.Second), partnerRequest())
			var ae *wxpay.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, http.StatusTooManyRequests, ae.Status)
			if _, err := strconv.Atoi(tc.header); err == nil || tc.want == 0 {
				assert.Equal(t, tc.want, ae.RetryAfter, "exact in seconds")
			} else {
				assert.InDelta(t, tc.want.Seconds(), ae.RetryAfter.Seconds(), 5, "a date: from now, to the second")
			}
		})
	}
}
