package membercardtest_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/validators"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"

	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

const (
	mchid   = "1900000001"
	brandID = "1004"
	cardID  = "pbLatjvWOibDc5-TBnbUk1pD12o0"
	openid  = "obLatjnx9gnqzS4myYGmLZ7LgLBA"
)

func newServer(t *testing.T, opts wxpaytest.Options) (*membercardtest.Server, *wxsign.Identity, *wxsign.Identity) {
	t.Helper()
	s := membercardtest.NewServer(opts)
	t.Cleanup(s.Close)
	s.AddCard(cardID)
	s.SetAuthorities(membercard.ProductAuthorities{BrandID: brandID, AuthorizationType: "AUTHORIZATION_TYPE_PARTLY", UpdateTime: "2025-05-20T13:29:35+08:00"})
	return s, s.AddMerchant(mchid), s.AddBrand(brandID)
}

func sdkClient(t *testing.T, s *membercardtest.Server, mch *wxsign.Identity) *core.Client {
	t.Helper()
	c, err := core.NewClient(context.Background(),
		option.WithWechatPayPublicKeyAuthCipher(mch.ID, mch.SerialNo, mch.Key.(*rsa.PrivateKey), s.PublicKeyID, &s.Key.PublicKey),
		option.WithHTTPClient(s.Client()),
	)
	require.NoError(t, err)
	return c
}

// A request made by the official Go SDK is accepted, and the SDK's own
// validator (inside its client, and called again here) accepts the answer.
func TestOfficialSDKClientIsAcceptedAndAcceptsAnswers(t *testing.T) {
	s, mch, _ := newServer(t, wxpaytest.Options{})
	c := sdkClient(t, s, mch)
	ctx := context.Background()

	res, err := c.Post(ctx, s.URL+membercard.PartnerPreAuthTokensPath, membercard.PartnerPreAuthTokenRequest{BrandID: brandID, CardID: cardID, OpenID: openid})
	require.NoError(t, err)
	assert.Equal(t, 200, res.Response.StatusCode)

	res, err = c.Get(ctx, s.URL+membercard.ProductAuthoritiesPath(brandID))
	require.NoError(t, err)
	body, err := io.ReadAll(res.Response.Body)
	require.NoError(t, err)
	assert.Contains(t, string(body), `"AUTHORIZATION_TYPE_PARTLY"`)

	v := validators.NewWechatPayResponseValidator(verifiers.NewSHA256WithRSAPubkeyVerifier(s.PublicKeyID, s.Key.PublicKey))
	res.Response.Body = io.NopCloser(bytes.NewReader(body))
	require.NoError(t, v.Validate(ctx, res.Response))

	res, err = c.Post(ctx, s.URL+membercard.PermissionTokensPath(cardID), membercard.PermissionTokenRequest{ActivateType: membercard.AutoActivate})
	require.NoError(t, err)
	assert.Equal(t, 200, res.Response.StatusCode)
}

// The SDK's validator refuses the answers the stand-in spoils on purpose.
func TestOfficialSDKRejectsFaultyAnswers(t *testing.T) {
	for _, kind := range []wxpaytest.FaultKind{wxpaytest.ProbeSignature, wxpaytest.BadSignature, wxpaytest.UnknownKeyID, wxpaytest.StaleTimestamp, wxpaytest.MissingHeaders, wxpaytest.TamperedBody} {
		t.Run(fmt.Sprint(kind), func(t *testing.T) {
			s, mch, _ := newServer(t, wxpaytest.Options{})
			s.Inject(wxpaytest.Fault{Kind: kind})
			_, err := sdkClient(t, s, mch).Get(context.Background(), s.URL+membercard.ProductAuthoritiesPath(brandID))
			require.Error(t, err)
		})
	}
}

// raw sends a request the way a client would, letting a test spoil one part.
type raw struct {
	method, path, body string
	mutate             func(r *http.Request, s *membercardtest.Server)
	sign               func(sg *wxsign.Signer)
}

func send(t *testing.T, s *membercardtest.Server, who *wxsign.Identity, r raw) (int, string) {
	t.Helper()
	sg := who.Signer()
	if r.sign != nil {
		r.sign(sg)
	}
	var body io.Reader
	if r.body != "" {
		body = bytes.NewReader([]byte(r.body))
	}
	req, err := http.NewRequest(r.method, s.URL+r.path, body)
	require.NoError(t, err)
	auth, err := sg.Authorization(r.method, r.path, []byte(r.body))
	require.NoError(t, err)
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "wxpaytest-test")
	req.Header.Set("Wechatpay-Serial", s.PublicKeyID)
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.mutate != nil {
		r.mutate(req, s)
	}
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var e struct{ Code string }
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.Code
}

func TestRequestChecks(t *testing.T) {
	partnerBody := `{"brand_id":"1004","card_id":"` + cardID + `","openid":"` + openid + `"}`
	brandBody := `{"card_id":"` + cardID + `","openid":"` + openid + `"}`
	partner := func(mutate func(*http.Request, *membercardtest.Server)) raw {
		return raw{method: http.MethodPost, path: membercard.PartnerPreAuthTokensPath, body: partnerBody, mutate: mutate}
	}
	tests := []struct {
		name   string
		brand  bool
		r      raw
		status int
		code   string
	}{
		{"partner ok", false, partner(nil), 200, ""},
		{"brand ok", true, raw{method: http.MethodPost, path: membercard.BrandPreAuthTokensPath, body: brandBody}, 200, ""},
		{"brand without Wechatpay-Serial", true, raw{method: http.MethodPost, path: membercard.BrandPreAuthTokensPath, body: brandBody, mutate: func(r *http.Request, _ *membercardtest.Server) { r.Header.Del("Wechatpay-Serial") }}, 400, "INVALID_REQUEST"},
		{"merchant scheme on brand route", false, raw{method: http.MethodPost, path: membercard.BrandPreAuthTokensPath, body: brandBody}, 401, "SIGN_ERROR"},
		{"brand scheme on partner route", true, partner(nil), 401, "SIGN_ERROR"},
		{"old partner path is gone", false, raw{method: http.MethodPost, path: membercard.PartnerOpenUserCardTokensPath, body: partnerBody}, 404, "NOT_FOUND"},
		{"no Authorization", false, partner(func(r *http.Request, _ *membercardtest.Server) { r.Header.Del("Authorization") }), 401, "SIGN_ERROR"},
		{"unknown mchid", false, raw{method: http.MethodPost, path: membercard.PartnerPreAuthTokensPath, body: partnerBody, sign: func(sg *wxsign.Signer) { sg.Identity.ID = "1999999999" }}, 401, "SIGN_ERROR"},
		{"wrong serial", false, raw{method: http.MethodPost, path: membercard.PartnerPreAuthTokensPath, body: partnerBody, sign: func(sg *wxsign.Signer) { sg.Identity.SerialNo = "00" }}, 401, "SIGN_ERROR"},
		{"stale timestamp", false, raw{method: http.MethodPost, path: membercard.PartnerPreAuthTokensPath, body: partnerBody, sign: func(sg *wxsign.Signer) { sg.Now = func() time.Time { return time.Now().Add(-6 * time.Minute) } }}, 401, "SIGN_ERROR"},
		{"wrong key", false, raw{method: http.MethodPost, path: membercard.PartnerPreAuthTokensPath, body: partnerBody, sign: func(sg *wxsign.Signer) { sg.Identity.Key = wxpaytest.PooledKey(0) }}, 401, "SIGN_ERROR"},
		{"body changed after signing", false, partner(func(r *http.Request, _ *membercardtest.Server) {
			b := []byte(partnerBody + " ")
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		}), 401, "SIGN_ERROR"},
		{"no Accept", false, partner(func(r *http.Request, _ *membercardtest.Server) { r.Header.Del("Accept") }), 400, "INVALID_REQUEST"},
		{"no User-Agent", false, partner(func(r *http.Request, _ *membercardtest.Server) { r.Header.Set("User-Agent", "") }), 400, "INVALID_REQUEST"},
		{"text Content-Type", false, partner(func(r *http.Request, _ *membercardtest.Server) { r.Header.Set("Content-Type", "text/plain") }), 400, "INVALID_REQUEST"},
		{"unknown Wechatpay-Serial", false, partner(func(r *http.Request, _ *membercardtest.Server) { r.Header.Set("Wechatpay-Serial", "PUB_KEY_ID_X") }), 400, "INVALID_REQUEST"},
		{"field rule", false, raw{method: http.MethodPost, path: membercard.PartnerPreAuthTokensPath, body: `{"brand_id":"1004","card_id":"","openid":"o"}`}, 400, "PARAM_ERROR"},
		{"null", false, raw{method: http.MethodPost, path: membercard.PartnerPreAuthTokensPath, body: `{"brand_id":"1004","card_id":"c","openid":"o","user_card_code":null}`}, 400, "PARAM_ERROR"},
		{"unknown card", false, raw{method: http.MethodPost, path: membercard.PartnerPreAuthTokensPath, body: `{"brand_id":"1004","card_id":"nope","openid":"o"}`}, 400, "PARAM_ERROR"},
		{"unknown brand", false, raw{method: http.MethodGet, path: membercard.ProductAuthoritiesPath("4001")}, 400, "PARAM_ERROR"},
		{"jump without target", false, raw{method: http.MethodPost, path: membercard.PermissionTokensPath(cardID), body: `{"activate_type":"JUMP_ACTIVATE"}`}, 400, "PARAM_ERROR"},
		{"permission for unknown card", false, raw{method: http.MethodPost, path: membercard.PermissionTokensPath("nope"), body: `{"activate_type":"AUTO_ACTIVATE"}`}, 400, "INVALID_REQUEST"},
		{"GET with wrong method", false, raw{method: http.MethodPost, path: membercard.ProductAuthoritiesPath(brandID), body: `{}`}, 405, "METHOD_NOT_ALLOWED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, mch, brand := newServer(t, wxpaytest.Options{})
			who := mch
			if tc.brand {
				who = brand
			}
			status, code := send(t, s, who, tc.r)
			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.code, code)
		})
	}
}

func TestNonceNeverReused(t *testing.T) {
	s, mch, _ := newServer(t, wxpaytest.Options{})
	fixed := func(sg *wxsign.Signer) { sg.Nonce = func() (string, error) { return "SAMENONCE", nil } }
	r := raw{method: http.MethodGet, path: membercard.ProductAuthoritiesPath(brandID), sign: fixed}
	status, _ := send(t, s, mch, r)
	require.Equal(t, 200, status)
	status, code := send(t, s, mch, r)
	assert.Equal(t, 401, status)
	assert.Equal(t, "SIGN_ERROR", code)
}

func TestRateLimits(t *testing.T) {
	now := time.Unix(1700000000, 0)
	s, mch, brand := newServer(t, wxpaytest.Options{RateLimits: true, Now: func() time.Time { return now }})
	clock := func(sg *wxsign.Signer) { sg.Now = func() time.Time { return now } }
	get := raw{method: http.MethodGet, path: membercard.ProductAuthoritiesPath(brandID), sign: clock}
	for i := 0; i < 10; i++ {
		status, _ := send(t, s, mch, get)
		require.Equal(t, 200, status, "request %d", i)
	}
	status, code := send(t, s, mch, get)
	assert.Equal(t, 429, status)
	assert.Equal(t, "FREQUENCY_LIMITED", code)

	post := raw{method: http.MethodPost, path: membercard.BrandPreAuthTokensPath, body: `{"card_id":"` + cardID + `","openid":"` + openid + `"}`, sign: clock}
	for i := 0; i < 5; i++ {
		status, _ := send(t, s, brand, post)
		require.Equal(t, 200, status, "request %d", i)
	}
	status, _ = send(t, s, brand, post)
	assert.Equal(t, 429, status)

	now = now.Add(time.Second)
	status, _ = send(t, s, brand, post)
	assert.Equal(t, 200, status, "a new second, a new window")
}

func TestRecordsAndConnections(t *testing.T) {
	s, mch, _ := newServer(t, wxpaytest.Options{})
	_, err := s.LastRequest()
	require.ErrorIs(t, err, wxpaytest.ErrNoRequest)
	send(t, s, mch, raw{method: http.MethodGet, path: membercard.ProductAuthoritiesPath(brandID)})
	rec, err := s.LastRequest()
	require.NoError(t, err)
	assert.Equal(t, membercard.ProductAuthoritiesPath(brandID), rec.URI)
	assert.Equal(t, 200, rec.Status)
	assert.GreaterOrEqual(t, s.Connections(), 1)
	s.ResetRequests()
	assert.Empty(t, s.Requests())
}
