package wxpaytest_test

import (
	"context"
	"encoding/json"
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

// refund stands for an API wxpaytest knows nothing about.
type refund struct {
	caller, id, query string
	body              []byte
}

func refundServer(t *testing.T, opts wxpaytest.Options) (*wxpaytest.Server, chan refund, *atomic.Int64) {
	t.Helper()
	s := wxpaytest.NewServer(opts)
	t.Cleanup(s.Close)
	got := make(chan refund, 16)
	var calls atomic.Int64
	s.Handle(wxpaytest.Route{
		Method: http.MethodPost, Pattern: "/v3/refund/domestic/refunds/{out_refund_no}/retry", Scheme: wxsign.Merchant, Limit: 2,
		Handler: func(c *wxpaytest.Call) wxpaytest.Reply {
			calls.Add(1)
			got <- refund{caller: c.Caller.ID, id: c.PathValue("out_refund_no"), query: c.Query.Get("sub_mchid"), body: c.Body}
			if c.PathValue("out_refund_no") == "gone" {
				return wxpaytest.Error(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "退款单不存在")
			}
			return wxpaytest.OK(map[string]string{"status": "PROCESSING"})
		},
	})
	return s, got, &calls
}

func client(t *testing.T, s *wxpaytest.Server, signer *wxsign.Signer) *wxpay.Client {
	t.Helper()
	cfg := s.Config(&signer.Identity)
	// The signer as given (a pinned clock, a wrong key), and no
	// Wechatpay-Serial: TestRequireSerial sends it on its own.
	cfg.Signer, cfg.PublicKeyID, cfg.MaxAttempts = signer, "", 1
	c, err := wxpay.New(cfg)
	require.NoError(t, err)
	return c
}

func call(t *testing.T, c *wxpay.Client, method, path, body string) (*wxpay.Response, *wxpay.APIError) {
	t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	resp, err := c.Do(context.Background(), wxpay.Request{Method: method, Path: path, Route: "test", Body: b})
	if err == nil {
		return resp, nil
	}
	var apiErr *wxpay.APIError
	require.ErrorAs(t, err, &apiErr)
	return nil, apiErr
}

// A route registered by the user gets the verified request and its reply
// is signed and sent; the stand-in's checks come first.
func TestHandleRoutesVerifiedRequests(t *testing.T) {
	s, got, calls := refundServer(t, wxpaytest.Options{})
	mch := s.AddMerchant("1900000001")
	c := client(t, s, mch.Signer())

	resp, apiErr := call(t, c, http.MethodPost, "/v3/refund/domestic/refunds/R%2042/retry?sub_mchid=1900000109", `{"reason":"x"}`)
	require.Nil(t, apiErr)
	assert.JSONEq(t, `{"status":"PROCESSING"}`, string(resp.Body))
	r := <-got
	assert.Equal(t, refund{caller: "1900000001", id: "R 42", query: "1900000109", body: []byte(`{"reason":"x"}`)}, r)

	_, apiErr = call(t, c, http.MethodPost, "/v3/refund/domestic/refunds/gone/retry", `{}`)
	require.NotNil(t, apiErr)
	assert.Equal(t, 404, apiErr.Status)
	assert.Equal(t, "RESOURCE_NOT_EXISTS", apiErr.Code)
	<-got
	rec, err := s.LastRequest()
	require.NoError(t, err)
	assert.Equal(t, "RESOURCE_NOT_EXISTS", rec.Code, "the record carries the handler's error code")
	assert.EqualValues(t, 2, calls.Load())

	tests := []struct {
		name, method, path string
		signer             *wxsign.Signer
		status             int
		code               string
	}{
		{"unknown path", http.MethodPost, "/v3/refund/domestic/refunds/R1", mch.Signer(), 404, "NOT_FOUND"},
		{"empty parameter", http.MethodPost, "/v3/refund/domestic/refunds//retry", mch.Signer(), 404, "NOT_FOUND"},
		{"other method", http.MethodPut, "/v3/refund/domestic/refunds/R1/retry", mch.Signer(), 405, "METHOD_NOT_ALLOWED"},
		{"brand scheme", http.MethodPost, "/v3/refund/domestic/refunds/R1/retry", s.AddBrand("1004").Signer(), 401, "SIGN_ERROR"},
		{"unknown merchant", http.MethodPost, "/v3/refund/domestic/refunds/R1/retry", &wxsign.Signer{Identity: wxsign.Identity{Scheme: wxsign.Merchant, ID: "1999", SerialNo: mch.SerialNo, Key: mch.Key}}, 401, "SIGN_ERROR"},
		{"wrong key", http.MethodPost, "/v3/refund/domestic/refunds/R1/retry", &wxsign.Signer{Identity: wxsign.Identity{Scheme: wxsign.Merchant, ID: mch.ID, SerialNo: mch.SerialNo, Key: wxpaytest.PooledKey(0)}}, 401, "SIGN_ERROR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, apiErr := call(t, client(t, s, tc.signer), tc.method, tc.path, `{}`)
			require.NotNil(t, apiErr)
			assert.Equal(t, tc.status, apiErr.Status)
			assert.Equal(t, tc.code, apiErr.Code)
		})
	}
	assert.EqualValues(t, 2, calls.Load(), "no refused request reaches the handler")
}

func TestRouteRateLimit(t *testing.T) {
	now := time.Unix(1700000000, 0)
	s, got, _ := refundServer(t, wxpaytest.Options{RateLimits: true, Now: func() time.Time { return now }})
	cfg := s.Config(s.AddMerchant("1900000001"))
	cfg.Signer.Now = func() time.Time { return now }
	cfg.Verifier.Now = cfg.Signer.Now
	cfg.MaxAttempts = 1
	c, err := wxpay.New(cfg)
	require.NoError(t, err)
	for i := range 2 {
		_, apiErr := call(t, c, http.MethodPost, "/v3/refund/domestic/refunds/R1/retry", `{}`)
		require.Nil(t, apiErr, "request %d", i)
		<-got
	}
	_, apiErr := call(t, c, http.MethodPost, "/v3/refund/domestic/refunds/R1/retry", `{}`)
	require.NotNil(t, apiErr)
	assert.Equal(t, "FREQUENCY_LIMITED", apiErr.Code)
}

func TestHandleRefusesIncompleteRoutes(t *testing.T) {
	s := wxpaytest.NewServer(wxpaytest.Options{})
	defer s.Close()
	h := func(*wxpaytest.Call) wxpaytest.Reply { return wxpaytest.OK(nil) }
	for name, rt := range map[string]wxpaytest.Route{
		"no method":    {Pattern: "/v3/x", Scheme: wxsign.Merchant, Handler: h},
		"no handler":   {Method: http.MethodGet, Pattern: "/v3/x", Scheme: wxsign.Merchant},
		"no scheme":    {Method: http.MethodGet, Pattern: "/v3/x", Handler: h},
		"no leading /": {Method: http.MethodGet, Pattern: "v3/x", Scheme: wxsign.Merchant, Handler: h},
	} {
		assert.Panics(t, func() { s.Handle(rt) }, name)
	}
}

func TestReplies(t *testing.T) {
	r := wxpaytest.Error(http.StatusBadRequest, "PARAM_ERROR", "bad")
	assert.Equal(t, 400, r.Status)
	var e map[string]string
	require.NoError(t, json.Unmarshal(r.Body, &e))
	assert.Equal(t, map[string]string{"code": "PARAM_ERROR", "message": "bad"}, e)
	assert.Panics(t, func() { wxpaytest.OK(make(chan int)) })
}

// Path parameters are matched as sent and then unescaped: an escaped
// slash stays inside its segment, and a segment that does not unescape
// matches nothing.
func TestEscapedPathParameters(t *testing.T) {
	s, got, _ := refundServer(t, wxpaytest.Options{})
	c := client(t, s, s.AddMerchant("1900000001").Signer())
	_, apiErr := call(t, c, http.MethodPost, "/v3/refund/domestic/refunds/a%2Fb%3Fc/retry", `{}`)
	require.Nil(t, apiErr)
	assert.Equal(t, "a/b?c", (<-got).id)

	_, apiErr = call(t, c, http.MethodPost, "/v3/refund/domestic/%72efunds/R1/retry", `{}`)
	require.Nil(t, apiErr, "a literal segment escaped needlessly still matches")
	assert.Equal(t, "R1", (<-got).id)

	_, apiErr = call(t, c, http.MethodPost, "/v3/refund/domestic/refunds/a/b/retry", `{}`)
	require.NotNil(t, apiErr)
	assert.Equal(t, 404, apiErr.Status, "an unescaped slash is two segments")
}

// The rate limit is per API and caller, over every path of the pattern:
// WeChat Pay limits a merchant's calls to an API, not to one resource.
func TestRateLimitCoversEveryPathOfARoute(t *testing.T) {
	now := time.Unix(1700000000, 0)
	s, got, _ := refundServer(t, wxpaytest.Options{RateLimits: true, Now: func() time.Time { return now }})
	newClient := func(mchid string) *wxpay.Client {
		cfg := s.Config(s.AddMerchant(mchid))
		cfg.Signer.Now = func() time.Time { return now }
		cfg.Verifier.Now = cfg.Signer.Now
		cfg.MaxAttempts = 1
		c, err := wxpay.New(cfg)
		require.NoError(t, err)
		return c
	}
	c := newClient("1900000001")
	for _, id := range []string{"R1", "R2"} {
		_, apiErr := call(t, c, http.MethodPost, "/v3/refund/domestic/refunds/"+id+"/retry", `{}`)
		require.Nil(t, apiErr)
		<-got
	}
	_, apiErr := call(t, c, http.MethodPost, "/v3/refund/domestic/refunds/R3/retry", `{}`)
	require.NotNil(t, apiErr)
	assert.Equal(t, "FREQUENCY_LIMITED", apiErr.Code, "a third refund in the second")

	_, apiErr = call(t, newClient("1900000002"), http.MethodPost, "/v3/refund/domestic/refunds/R3/retry", `{}`)
	assert.Nil(t, apiErr, "another merchant has its own window")
}

// A route that requires Wechatpay-Serial refuses a request without it.
func TestRequireSerial(t *testing.T) {
	s := wxpaytest.NewServer(wxpaytest.Options{})
	defer s.Close()
	s.Handle(wxpaytest.Route{Method: http.MethodGet, Pattern: "/v3/x", Scheme: wxsign.Merchant, RequireSerial: true,
		Handler: func(*wxpaytest.Call) wxpaytest.Reply { return wxpaytest.OK(map[string]string{}) }})
	mch := s.AddMerchant("1900000001")
	with, err := wxpay.New(s.Config(mch))
	require.NoError(t, err)
	_, apiErr := call(t, with, http.MethodGet, "/v3/x", "")
	assert.Nil(t, apiErr)

	_, apiErr = call(t, client(t, s, mch.Signer()), http.MethodGet, "/v3/x", "")
	require.NotNil(t, apiErr, "no PublicKeyID, no Wechatpay-Serial")
	assert.Equal(t, 400, apiErr.Status)
	assert.Equal(t, "INVALID_REQUEST", apiErr.Code)
}

// DropAnswer: the stand-in acts on the request, then hangs up, so the
// caller sees no answer for a call that took effect.
func TestDropAnswerActsThenHangsUp(t *testing.T) {
	t.Parallel()
	s, got, calls := refundServer(t, wxpaytest.Options{})
	c := client(t, s, s.AddMerchant("1900000001").Signer())
	s.Inject(wxpaytest.Fault{Kind: wxpaytest.DropAnswer})
	_, err := c.Do(context.Background(), wxpay.Request{Method: http.MethodPost, Path: "/v3/refund/domestic/refunds/R1/retry", Route: "test", Body: []byte(`{}`)})
	require.ErrorIs(t, err, wxpay.ErrUnreachable, "no answer")
	assert.Equal(t, int64(1), calls.Load(), "the call took effect")
	assert.Equal(t, "R1", (<-got).id)
	recs := s.Requests()
	require.Len(t, recs, 1)
	assert.Equal(t, http.StatusOK, recs[0].Status, "recorded as handled")
}
