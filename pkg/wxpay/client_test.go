package wxpay_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

const (
	mchid   = "1900000001"
	brandID = "1004"
	cardID  = "pbLatjvWOibDc5-TBnbUk1pD12o0"
	openid  = "obLatjnx9gnqzS4myYGmLZ7LgLBA"
)

type fixture struct {
	srv    *membercardtest.Server
	mch    *wxsign.Identity
	brand  *wxsign.Identity
	logs   *bytes.Buffer
	logger *slog.Logger
}

func newFixture(t *testing.T, opts wxpaytest.Options) *fixture {
	t.Helper()
	srv := membercardtest.NewServer(opts)
	t.Cleanup(srv.Close)
	srv.AddCard(cardID)
	srv.SetAuthorities(membercard.ProductAuthorities{BrandID: brandID, AuthorizationType: "AUTHORIZATION_TYPE_HOSTING", AuthorizationProduct: []string{"BRAND_PRODUCT_AUTHORITY_MERCHANT_CARD"}, UpdateTime: "2025-05-20T13:29:35+08:00"})
	logs := &bytes.Buffer{}
	return &fixture{
		srv: srv, mch: srv.AddMerchant(mchid), brand: srv.AddBrand(brandID),
		logs: logs, logger: slog.New(slog.NewJSONHandler(logs, nil)),
	}
}

// client builds a partner client; edit tweaks the config.
func (f *fixture) client(t *testing.T, edit func(*wxpay.Config)) *wxpay.Client {
	t.Helper()
	cfg := f.srv.Config(f.mch)
	cfg.Logger, cfg.BaseBackoff, cfg.MaxBackoff = f.logger, 5*time.Millisecond, 20*time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	c, err := wxpay.New(cfg)
	require.NoError(t, err)
	return c
}

func partnerRequest() wxpay.Request {
	body, _ := json.Marshal(membercard.PartnerPreAuthTokenRequest{BrandID: brandID, CardID: cardID, OpenID: openid})
	return wxpay.Request{Method: http.MethodPost, Path: membercard.PartnerPreAuthTokensPath, Route: membercard.PartnerPreAuthTokensPath, Body: body}
}

func ctxWithin(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestPartnerCallIsSignedSentAndVerified(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	c := f.client(t, nil)
	req := partnerRequest()
	resp, err := c.Do(ctxWithin(t, 5*time.Second), req)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.Status)
	assert.Equal(t, 1, resp.Attempts)
	assert.False(t, resp.FailedOver)
	assert.Positive(t, resp.Latency)
	assert.NotEmpty(t, resp.RequestID)
	var tok membercard.PreAuthToken
	require.NoError(t, json.Unmarshal(resp.Body, &tok))
	assert.Len(t, tok.Token, 32)

	got, err := f.srv.LastRequest()
	require.NoError(t, err)
	assert.Equal(t, req.Body, got.Body, "the exact signed bytes are sent")
	assert.Equal(t, "application/json", got.Header.Get("Accept"))
	assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
	assert.Equal(t, f.srv.PublicKeyID, got.Header.Get("Wechatpay-Serial"))
	assert.Regexp(t, `^wxcard-wxpay/\S+ \(\w+/\w+\) Go/go\S+$`, got.Header.Get("User-Agent"), "the library names itself, no deployment")
	assert.True(t, strings.HasPrefix(got.Header.Get("Authorization"), `WECHATPAY2-SHA256-RSA2048 mchid="1900000001",`))
}

func TestBrandCallAndGet(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	brand := f.client(t, func(c *wxpay.Config) { c.Signer = f.brand.Signer() })
	body, _ := json.Marshal(membercard.BrandPreAuthTokenRequest{CardID: cardID, OpenID: openid})
	_, err := brand.Do(ctxWithin(t, 5*time.Second), wxpay.Request{Method: http.MethodPost, Path: membercard.BrandPreAuthTokensPath, Route: membercard.BrandPreAuthTokensPath, Body: body})
	require.NoError(t, err)

	partner := f.client(t, nil)
	resp, err := partner.Do(ctxWithin(t, 5*time.Second), wxpay.Request{Method: http.MethodGet, Path: membercard.ProductAuthoritiesPath(brandID), Route: membercard.ProductAuthoritiesRoute})
	require.NoError(t, err)
	assert.JSONEq(t, `{"brand_id":"1004","authorization_type":"AUTHORIZATION_TYPE_HOSTING","authorization_product":["BRAND_PRODUCT_AUTHORITY_MERCHANT_CARD"],"update_time":"2025-05-20T13:29:35+08:00"}`, string(resp.Body))
	got, _ := f.srv.LastRequest()
	assert.Empty(t, got.Header.Get("Content-Type"), "GET carries no body and no Content-Type")
}

func TestAnswerThatFailsVerificationIsNeverReturned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault  wxpaytest.FaultKind
		reason error
		probe  bool
	}{
		{wxpaytest.ProbeSignature, wxsign.ErrBadSignature, true},
		{wxpaytest.BadSignature, wxsign.ErrBadSignature, false},
		{wxpaytest.UnknownKeyID, wxsign.ErrUnknownKey, false},
		{wxpaytest.StaleTimestamp, wxsign.ErrStaleTimestamp, false},
		{wxpaytest.MissingHeaders, wxsign.ErrMissingHeader, false},
		{wxpaytest.TamperedBody, wxsign.ErrBadSignature, false},
	}
	for _, tc := range tests {
		t.Run(tc.reason.Error(), func(t *testing.T) {
			f := newFixture(t, wxpaytest.Options{})
			f.srv.Inject(wxpaytest.Fault{Kind: tc.fault})
			resp, err := f.client(t, nil).Do(ctxWithin(t, 5*time.Second), partnerRequest())
			require.Nil(t, resp)
			require.ErrorIs(t, err, tc.reason)
			var ve *wxsign.VerifyError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.probe, wxsign.IsProbe(err))
			assert.NotEmpty(t, wxpay.RequestID(err), "the Request-ID travels with the failure")
			assert.Len(t, f.srv.Requests(), 1, "a failed verification is not retried")
		})
	}
}

func TestRateLimitedOnceThenSuccess(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	f.srv.Inject(wxpaytest.Fault{Kind: wxpaytest.Status, Status: 429})
	resp, err := f.client(t, nil).Do(ctxWithin(t, 5*time.Second), partnerRequest())
	require.NoError(t, err)
	assert.Equal(t, 2, resp.Attempts)
	reqs := f.srv.Requests()
	require.Len(t, reqs, 2)
	assert.NotEqual(t, reqs[0].Header.Get("Authorization"), reqs[1].Header.Get("Authorization"), "each attempt is signed anew")
}

func TestPersistent5xxEndsAfterThreeAttemptsWithinDeadline(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	for range 5 {
		f.srv.Inject(wxpaytest.Fault{Kind: wxpaytest.Status, Status: 500})
	}
	start := time.Now()
	_, err := f.client(t, nil).Do(ctxWithin(t, 2*time.Second), partnerRequest())
	var apiErr *wxpay.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 500, apiErr.Status)
	assert.Equal(t, "SYSTEM_ERROR", apiErr.Code)
	assert.Len(t, f.srv.Requests(), 3)
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestBackoffNeverWaitsPastTheDeadline(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	for range 3 {
		f.srv.Inject(wxpaytest.Fault{Kind: wxpaytest.Status, Status: 503})
	}
	c := f.client(t, func(c *wxpay.Config) { c.BaseBackoff, c.MaxBackoff = 10*time.Second, 10*time.Second })
	ctx := ctxWithin(t, 300*time.Millisecond)
	_, err := c.Do(ctx, partnerRequest())
	var apiErr *wxpay.APIError
	require.ErrorAs(t, err, &apiErr, "the last answer is returned rather than waiting past the deadline")
	assert.NoError(t, ctx.Err(), "returned before the deadline")
}

func TestSlowAnswerEndsInTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	f.srv.Inject(wxpaytest.Fault{Kind: wxpaytest.Slow, Delay: 5 * time.Second})
	_, err := f.client(t, nil).Do(ctxWithin(t, 200*time.Millisecond), partnerRequest())
	require.ErrorIs(t, err, wxpay.ErrTimeout)
	var ce *wxpay.CallError
	require.ErrorAs(t, err, &ce)
	assert.GreaterOrEqual(t, ce.Latency, 150*time.Millisecond, "the wait for the answer that never came")
}

// closedPort returns an https URL on which nothing listens.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "https://" + addr
}

func TestFailsOverWhenPrimaryRefusesConnections(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	c := f.client(t, func(c *wxpay.Config) { c.BaseURL, c.BackupURL = closedPort(t), f.srv.URL })
	resp, err := c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	require.NoError(t, err)
	assert.Equal(t, 2, resp.Attempts)
	assert.True(t, resp.FailedOver)
	assert.Len(t, f.srv.Requests(), 1)
}

func TestUnreachableOnBothHosts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	c := f.client(t, func(c *wxpay.Config) { c.BaseURL, c.BackupURL = closedPort(t), closedPort(t) })
	_, err := c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	require.ErrorIs(t, err, wxpay.ErrUnreachable)
	var ce *wxpay.CallError
	require.ErrorAs(t, err, &ce)
	assert.True(t, ce.FailedOver)
	assert.Equal(t, 2, ce.Attempts)

	// The error names the API's route, never the URL: a path or query can
	// carry a user's card code.
	req := partnerRequest()
	req.Path, req.Route = "/v3/marketing/membercard-open/cards/c/codes/SECRET-CODE-42/rights", "/v3/marketing/membercard-open/cards/{card_id}/codes/{code}/rights"
	_, err = c.Do(ctxWithin(t, 5*time.Second), req)
	require.ErrorIs(t, err, wxpay.ErrUnreachable)
	assert.NotContains(t, err.Error(), "SECRET-CODE-42")
	assert.Contains(t, err.Error(), req.Route)
}

// After an HTTP answer (here 502, three times) the call never moves to the
// backup host. The client trusts the backup and the backup knows the
// merchant and its key, so a fail-over would succeed: the test can fail.
func TestNoFailOverAfterAnHTTPAnswer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	backup := newFixture(t, wxpaytest.Options{})
	for range 3 {
		f.srv.Inject(wxpaytest.Fault{Kind: wxpaytest.Status, Status: 502})
	}
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(f.srv.CACertPEM()))
	require.True(t, pool.AppendCertsFromPEM(backup.srv.CACertPEM()))
	// The caller is the backup's merchant: the primary answers its faults
	// before any check, and the backup would accept the call.
	use := func(base, backupURL string) func(c *wxpay.Config) {
		return func(c *wxpay.Config) {
			c.HTTPClient = wxpay.NewHTTPClient(pool)
			c.BaseURL, c.BackupURL = base, backupURL
			c.Signer, c.Verifier = backup.mch.Signer(), backup.srv.Verifier()
		}
	}
	_, err := f.client(t, use(backup.srv.URL, "-")).Do(ctxWithin(t, 5*time.Second), partnerRequest())
	require.NoError(t, err, "the backup serves this caller")
	backup.srv.ResetRequests()
	c := f.client(t, use(f.srv.URL, backup.srv.URL))

	_, err = c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	var apiErr *wxpay.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 502, apiErr.Status)
	var ce *wxpay.CallError
	require.ErrorAs(t, err, &ce)
	assert.False(t, ce.FailedOver)
	assert.Empty(t, backup.srv.Requests(), "no fail-over after an HTTP answer")
}

func TestDroppedConnectionFailsOver(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	backup := newFixture(t, wxpaytest.Options{})
	f.srv.Inject(wxpaytest.Fault{Kind: wxpaytest.Drop})
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(f.srv.CACertPEM()))
	require.True(t, pool.AppendCertsFromPEM(backup.srv.CACertPEM()))
	c := f.client(t, func(c *wxpay.Config) {
		c.HTTPClient = wxpay.NewHTTPClient(pool)
		c.BackupURL = backup.srv.URL
		c.Signer = backup.mch.Signer()
		c.Verifier = backup.srv.Verifier()
	})
	resp, err := c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	// The primary does not know this merchant, but it dropped the
	// connection before answering, so the backup answered.
	require.NoError(t, err)
	assert.Len(t, backup.srv.Requests(), 1)
	assert.True(t, resp.FailedOver, "the answer says it came from the backup host")
}

func TestAPIErrorIsTypedAndNotRetried(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	req := partnerRequest()
	req.Body = []byte(`{"brand_id":"9999","card_id":"` + cardID + `","openid":"` + openid + `"}`)
	_, err := f.client(t, nil).Do(ctxWithin(t, 5*time.Second), req)
	var apiErr *wxpay.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 400, apiErr.Status)
	assert.Equal(t, "PARAM_ERROR", apiErr.Code)
	assert.NotEmpty(t, apiErr.Message)
	assert.NotEmpty(t, apiErr.RequestID)
	assert.Len(t, f.srv.Requests(), 1)
}

// After WeChat Pay has closed an idle connection (here: all of them, at
// once), the next call does not fail on the dead pooled connection.
func TestCallAfterServerClosedPooledConnection(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	c := f.client(t, nil)
	for i := 0; i < 5; i++ {
		_, err := c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
		require.NoError(t, err, "call %d", i)
		f.srv.CloseClientConnections()
	}
}

// A thaw: the process slept past WeChat Pay's idle timeout, so the pooled
// connection is dead on the server side; the call still succeeds.
func TestThawAfterIdleTimeout(t *testing.T) {
	f := newFixture(t, wxpaytest.Options{IdleTimeout: 100 * time.Millisecond})
	c := f.client(t, nil)
	_, err := c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	require.NoError(t, err)
	time.Sleep(300 * time.Millisecond) // the frozen time; this is the scenario, not synchronisation
	_, err = c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	require.NoError(t, err)
}

// Warm calls reuse one connection; the pool drops a connection idle past
// IdleConnTimeout before the server would.
func TestConnectionReuseAndIdleDrop(t *testing.T) {
	f := newFixture(t, wxpaytest.Options{})
	hc := f.srv.Client()
	c := f.client(t, func(c *wxpay.Config) { c.HTTPClient = hc })
	for i := 0; i < 5; i++ {
		_, err := c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
		require.NoError(t, err)
	}
	assert.Equal(t, 1, f.srv.Connections())
	assert.Equal(t, wxpay.IdleConnTimeout, hc.Transport.(*http.Transport).IdleConnTimeout)
	assert.Less(t, wxpay.IdleConnTimeout, 8*time.Second)
}

func TestLogLineHasNoSecrets(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	resp, err := f.client(t, nil).Do(ctxWithin(t, 5*time.Second), partnerRequest())
	require.NoError(t, err)
	var tok membercard.PreAuthToken
	require.NoError(t, json.Unmarshal(resp.Body, &tok))
	line := f.logs.String()
	var entry map[string]any
	require.NoError(t, json.Unmarshal([]byte(line), &entry), line)
	assert.Equal(t, "POST", entry["method"])
	assert.Equal(t, membercard.PartnerPreAuthTokensPath, entry["route"])
	assert.EqualValues(t, 200, entry["status"])
	assert.EqualValues(t, 1, entry["attempts"])
	assert.Equal(t, resp.RequestID, entry["wechatpay_request_id"])
	assert.Contains(t, entry, "duration_ms")
	for _, secret := range []string{tok.Token, openid, "WECHATPAY2", "signature", cardID} {
		assert.NotContains(t, line, secret)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	_, err := wxpay.New(wxpay.Config{})
	require.Error(t, err)
	_, err = wxpay.New(wxpay.Config{Signer: f.mch.Signer(), Verifier: f.srv.Verifier(), BaseURL: "http://plain.example"})
	require.ErrorContains(t, err, "https")
}

func TestErrorsMatch(t *testing.T) {
	t.Parallel()
	err := &wxpay.CallError{Route: "/r", Attempts: 3, Err: errors.Join(wxpay.ErrUnreachable)}
	assert.ErrorIs(t, err, wxpay.ErrUnreachable)
	assert.Contains(t, err.Error(), "after 3 attempt(s)")
}

// net/http re-escapes a path that was not escaped (a space, a non-ASCII
// letter); the signature must cover what goes on the wire, which the
// stand-in checks against the request target it received.
func TestSignsThePathAsSentNotAsGiven(t *testing.T) {
	t.Parallel()
	for _, brand := range []string{"10 04", "品牌"} {
		t.Run(brand, func(t *testing.T) {
			f := newFixture(t, wxpaytest.Options{})
			_, err := f.client(t, nil).Do(ctxWithin(t, 5*time.Second), wxpay.Request{Method: http.MethodGet, Path: "/v3/brand-basic/partner/brands/" + brand + "/product-authorities", Route: membercard.ProductAuthoritiesRoute})
			var apiErr *wxpay.APIError
			require.ErrorAs(t, err, &apiErr)
			// Past the signature check: the brand ID itself is refused.
			assert.Equal(t, "PARAM_ERROR", apiErr.Code, apiErr.Message)
			rec, err := f.srv.LastRequest()
			require.NoError(t, err)
			assert.NotContains(t, rec.URI, brand, "net/http escaped the path")
		})
	}
}

// WeChat Pay's error body is unverified: fields in it named like the
// status or the request ID must not override what the HTTP answer says.
func TestErrorBodyCannotForgeStatusOrRequestID(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Request-ID", "08REAL")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"code":"SYSTEM_ERROR","message":"busy","status":200,"Status":200,"requestid":"forged","RequestID":"forged","request_id":"forged"}`))
	}))
	t.Cleanup(srv.Close)
	c := f.client(t, func(c *wxpay.Config) { c.BaseURL, c.HTTPClient, c.MaxAttempts = srv.URL, srv.Client(), 2 })
	_, err := c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	var apiErr *wxpay.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusServiceUnavailable, apiErr.Status)
	assert.True(t, apiErr.Retryable())
	assert.Equal(t, "08REAL", apiErr.RequestID)
	assert.Equal(t, "08REAL", wxpay.RequestID(err))
	assert.Equal(t, "SYSTEM_ERROR", apiErr.Code)
	assert.Equal(t, "busy", apiErr.Message)
	var ce *wxpay.CallError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 2, ce.Attempts, "a 503 is retried")
}

// Latency sums the waits for WeChat Pay over the attempts, backoff aside.
// In a synctest bubble WeChat Pay's 40 ms and the backoff pass on the
// bubble's clock: the sums are exact and the test takes no real time.
func TestLatencySumsTheWaitsOfEveryAttempt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	synctest.Test(t, func(t *testing.T) {
		slow := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			time.Sleep(40 * time.Millisecond) // a slow WeChat Pay
			return &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
		})
		c := f.client(t, func(c *wxpay.Config) { c.HTTPClient = &http.Client{Transport: slow} })
		start := time.Now()
		_, err := c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
		var ce *wxpay.CallError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, 3, ce.Attempts)
		assert.Equal(t, 120*time.Millisecond, ce.Latency, "every slow attempt counts, the backoff does not")
		assert.Greater(t, time.Since(start), ce.Latency, "the backoff took time too")
	})
}

// roundTripFunc is an http.RoundTripper in a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestProductLeadsTheUserAgent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	c := f.client(t, func(c *wxpay.Config) { c.Product = "shop/1.4.2 edge" })
	assert.Regexp(t, `^shop/1\.4\.2 edge wxcard-wxpay/\S+ \(\w+/\w+\) Go/go\S+$`, c.UserAgent())
	_, err := c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	require.NoError(t, err)
	got, err := f.srv.LastRequest()
	require.NoError(t, err)
	assert.Equal(t, c.UserAgent(), got.Header.Get("User-Agent"))

	for _, bad := range []string{" ", "shop/", "/1.0", "shop/1.0 ", "shop 1.0 (linux)", "shop/1.0\r\nX-Evil: 1", "shop/1.0\tx", "商店/1.0", "a/b/c"} {
		cfg := wxpay.Config{Signer: f.mch.Signer(), Verifier: f.srv.Verifier(), Product: bad}
		_, err := wxpay.New(cfg)
		assert.ErrorContains(t, err, "Config.Product", "%q", bad)
	}
}

// Without a Logger the client writes nothing, not even to slog's default.
func TestSilentWithoutALogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	f := newFixture(t, wxpaytest.Options{})
	f.srv.Inject(wxpaytest.Fault{Kind: wxpaytest.BadSignature})
	c := f.client(t, func(c *wxpay.Config) { c.Logger = nil })
	_, err := c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	require.Error(t, err)
	_, err = c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	require.NoError(t, err)
	assert.Empty(t, buf.String())
}

// A primary host that takes the connection but never completes the TLS
// handshake (a black hole behind a load balancer) is unreachable, not
// slow: nothing was sent, so the call fails over to the backup.
func TestFailsOverWhenTheHandshakeTimesOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	hole, err := net.Listen("tcp", "127.0.0.1:0") // never accepted: the kernel completes the connect
	require.NoError(t, err)
	t.Cleanup(func() { _ = hole.Close() })
	hc := f.srv.Client()
	tr := hc.Transport.(*http.Transport).Clone()
	tr.TLSHandshakeTimeout = 200 * time.Millisecond
	hc = &http.Client{Transport: tr}
	c := f.client(t, func(c *wxpay.Config) {
		c.BaseURL, c.BackupURL, c.HTTPClient = "https://"+hole.Addr().String(), f.srv.URL, hc
	})
	resp, err := c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	require.NoError(t, err)
	assert.True(t, resp.FailedOver)
	assert.Len(t, f.srv.Requests(), 1)

	// Without a backup it is unreachable, not a timeout of WeChat Pay's.
	// (The same timeout once connected is final: see
	// TestNoFailOverAfterTheRequestTimedOut.)
	c = f.client(t, func(c *wxpay.Config) { c.BaseURL, c.HTTPClient = "https://"+hole.Addr().String(), hc })
	_, err = c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	require.ErrorIs(t, err, wxpay.ErrUnreachable)
}

// A primary that took the request and is slow to answer may act on it:
// the timeout is final, and the backup never sees the request.
func TestNoFailOverAfterTheRequestTimedOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	backup := newFixture(t, wxpaytest.Options{})
	f.srv.Inject(wxpaytest.Fault{Kind: wxpaytest.Slow, Delay: 2 * time.Second})
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(f.srv.CACertPEM()))
	require.True(t, pool.AppendCertsFromPEM(backup.srv.CACertPEM()))
	hc := wxpay.NewHTTPClient(pool)
	hc.Transport.(*http.Transport).ResponseHeaderTimeout = 200 * time.Millisecond
	c := f.client(t, func(c *wxpay.Config) {
		c.HTTPClient, c.BackupURL = hc, backup.srv.URL
		c.Signer, c.Verifier = backup.mch.Signer(), backup.srv.Verifier()
	})
	_, err := c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	// (A response-header timeout starts once the request is written.)
	require.ErrorIs(t, err, wxpay.ErrTimeout)
	assert.Empty(t, backup.srv.Requests(), "no fail-over once the request may have been sent")
}

// A transport that reports nothing of its connections (a caller's own)
// gives no proof that nothing was sent: its timeouts are final.
func TestTimeoutOfAnOpaqueTransportIsFinal(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	var calls atomic.Int64
	opaque := roundTripFunc(func(*http.Request) (*http.Response, error) {
		calls.Add(1)
		return nil, fmt.Errorf("opaque transport: %w", context.DeadlineExceeded)
	})
	c := f.client(t, func(c *wxpay.Config) { c.HTTPClient, c.BackupURL = &http.Client{Transport: opaque}, f.srv.URL })
	_, err := c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	require.ErrorIs(t, err, wxpay.ErrTimeout)
	assert.Equal(t, int64(1), calls.Load())
}
