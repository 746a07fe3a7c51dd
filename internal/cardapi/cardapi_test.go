package cardapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/metrics"
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

type env struct {
	srv     *membercardtest.Server
	partner *wxpay.Client
	brand   *wxpay.Client
	logs    *bytes.Buffer
	logger  *slog.Logger
	policy  cardapi.Policy
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := membercardtest.NewServer(wxpaytest.Options{})
	t.Cleanup(srv.Close)
	srv.AddCard(cardID)
	for _, b := range []string{brandID, "1005", "1006"} {
		srv.SetAuthorities(membercard.ProductAuthorities{BrandID: b, AuthorizationType: "AUTHORIZATION_TYPE_HOSTING", AuthorizationProduct: []string{"BRAND_PRODUCT_AUTHORITY_MERCHANT_CARD"}, UpdateTime: "2025-05-20T13:29:35+08:00"})
	}
	logs := &bytes.Buffer{}
	e := &env{srv: srv, logs: logs, logger: slog.New(slog.NewJSONHandler(logs, nil)), policy: cardapi.Policy{OpenIDClaim: "openid"}}
	mch, br := srv.AddMerchant(mchid), srv.AddBrand(brandID)
	hc := srv.Client()
	mk := func(id *wxsign.Identity) *wxpay.Client {
		cfg := srv.Config(id)
		cfg.HTTPClient, cfg.Logger, cfg.BaseBackoff, cfg.MaxBackoff = hc, e.logger, time.Millisecond, 5*time.Millisecond
		c, err := wxpay.New(cfg)
		require.NoError(t, err)
		return c
	}
	e.partner, e.brand = mk(mch), mk(br)
	return e
}

func event(method, routeKey, body string, headers map[string]string) events.APIGatewayV2HTTPRequest {
	if headers == nil {
		headers = map[string]string{"content-type": "application/json"}
	}
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: method + " " + routeKey, Headers: headers, Body: body}
	ev.RequestContext.HTTP.Method = method
	return ev
}

func withJWT(ev events.APIGatewayV2HTTPRequest, claims map[string]string) events.APIGatewayV2HTTPRequest {
	ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
	}
	return ev
}

type answer struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
	Token     string `json:"token"`
}

func decode(t *testing.T, resp events.APIGatewayV2HTTPResponse) answer {
	t.Helper()
	assert.Equal(t, "application/json", resp.Headers["Content-Type"])
	assert.Equal(t, "no-store", resp.Headers["Cache-Control"])
	var a answer
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &a), resp.Body)
	return a
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-1"}), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

const preBody = `{"card_id":"` + cardID + `","openid":"` + openid + `"}`
const partnerBody = `{"brand_id":"1004","card_id":"` + cardID + `","openid":"` + openid + `"}`

// Every documented field rule, and the input hardening, through the brand
// and partner handlers: a clear 4xx naming the field, and no upstream call.
func TestTokenHandlersRefuseBadInput(t *testing.T) {
	t.Parallel()
	huge := `{"card_id":"` + strings.Repeat("a", 17<<10) + `"}`
	tests := []struct {
		name, body string
		headers    map[string]string
		b64        bool
		method     string
		status     int
		code, msg  string
	}{
		{"card_id missing", `{"openid":"o"}`, nil, false, "", 400, "PARAM_ERROR", "card_id"},
		{"card_id empty", `{"card_id":"","openid":"o"}`, nil, false, "", 400, "PARAM_ERROR", "card_id"},
		{"card_id 33", `{"card_id":"` + strings.Repeat("c", 33) + `","openid":"o"}`, nil, false, "", 400, "PARAM_ERROR", "card_id"},
		{"card_id number", `{"card_id":12,"openid":"o"}`, nil, false, "", 400, "PARAM_ERROR", "card_id"},
		{"openid missing", `{"card_id":"c"}`, nil, false, "", 400, "PARAM_ERROR", "openid"},
		{"openid 129", `{"card_id":"c","openid":"` + strings.Repeat("o", 129) + `"}`, nil, false, "", 400, "PARAM_ERROR", "openid"},
		{"openid charset", `{"card_id":"c","openid":"o\u00e9"}`, nil, false, "", 400, "PARAM_ERROR", "openid"},
		{"null", `{"card_id":null,"openid":"o"}`, nil, false, "", 400, "PARAM_ERROR", "card_id"},
		{"duplicate key", `{"card_id":"c","card_id":"d","openid":"o"}`, nil, false, "", 400, "PARAM_ERROR", "card_id"},
		{"unknown field", `{"card_id":"c","openid":"o","admin":true}`, nil, false, "", 400, "PARAM_ERROR", "admin"},
		{"emoji", `{"card_id":"c","openid":"o😀"}`, nil, false, "", 400, "PARAM_ERROR", "body"},
		{"not JSON", `card_id=c`, nil, false, "", 400, "PARAM_ERROR", "body"},
		{"empty body", ``, nil, false, "", 400, "PARAM_ERROR", "body"},
		{"array", `[]`, nil, false, "", 400, "PARAM_ERROR", "body"},
		{"form content type", preBody, map[string]string{"content-type": "application/x-www-form-urlencoded"}, false, "", 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type"},
		{"no content type", preBody, map[string]string{}, false, "", 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type"},
		{"latin1 charset", preBody, map[string]string{"content-type": "application/json; charset=iso-8859-1"}, false, "", 415, "UNSUPPORTED_MEDIA_TYPE", "charset"},
		{"over 16 KiB", huge, nil, false, "", 413, "REQUEST_TOO_LARGE", "body"},
		{"over 16 KiB base64", base64.StdEncoding.EncodeToString([]byte(huge)), nil, true, "", 413, "REQUEST_TOO_LARGE", "body"},
		{"bad base64", "%%%", nil, true, "", 400, "PARAM_ERROR", "base64"},
		{"GET", preBody, nil, false, "GET", 405, "METHOD_NOT_ALLOWED", "POST"},
	}
	for _, tc := range tests {
		for _, which := range []string{"pretoken", "partnertoken"} {
			t.Run(which+" "+tc.name, func(t *testing.T) {
				e := newEnv(t)
				body := tc.body
				if which == "partnertoken" && !tc.b64 && strings.HasPrefix(body, `{"`) {
					body = `{"brand_id":"1004",` + body[1:]
				}
				method := tc.method
				if method == "" {
					method = "POST"
				}
				ev := event(method, "/x", body, tc.headers)
				ev.IsBase64Encoded = tc.b64
				var resp events.APIGatewayV2HTTPResponse
				var err error
				if which == "pretoken" {
					resp, err = (&cardapi.PreToken{Upstream: e.brand, Policy: e.policy, Logger: e.logger}).Handle(ctx(t), ev)
				} else {
					resp, err = (&cardapi.PartnerToken{Upstream: e.partner, Policy: e.policy, Logger: e.logger}).Handle(ctx(t), ev)
				}
				require.NoError(t, err)
				assert.Equal(t, tc.status, resp.StatusCode, resp.Body)
				a := decode(t, resp)
				assert.Equal(t, tc.code, a.Code)
				assert.Contains(t, a.Message, tc.msg)
				assert.Empty(t, e.srv.Requests(), "bad input never reaches WeChat Pay")
			})
		}
	}
}

func TestPreTokenServesAndForwardsExactlyTheDocumentedFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := &cardapi.PreToken{Upstream: e.brand, Policy: e.policy, Logger: e.logger}
	// Key order and spacing of the caller's body do not matter: the upstream body is canonical.
	resp, err := h.Handle(ctx(t), event("POST", membercard.BrandPreAuthTokensPath, ` { "openid" : "`+openid+`", "card_id":"`+cardID+`" }`, nil))
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	a := decode(t, resp)
	assert.Len(t, a.Token, 32)
	rec, err := e.srv.LastRequest()
	require.NoError(t, err)
	assert.Equal(t, membercard.BrandPreAuthTokensPath, rec.URI)
	assert.JSONEq(t, preBody, string(rec.Body))
	assert.Equal(t, `{"card_id":"`+cardID+`","openid":"`+openid+`"}`, string(rec.Body))

	logs := e.logs.String()
	assert.NotContains(t, logs, openid)
	assert.NotContains(t, logs, a.Token)
	assert.Contains(t, logs, cardapi.HashOpenID(openid))
	assert.Contains(t, logs, `"token_prefix":"`+a.Token[:4]+`…"`)
}

func TestBase64BodyIsAccepted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ev := event("POST", membercard.BrandPreAuthTokensPath, base64.StdEncoding.EncodeToString([]byte(preBody)), nil)
	ev.IsBase64Encoded = true
	resp, err := (&cardapi.PreToken{Upstream: e.brand, Policy: e.policy, Logger: e.logger}).Handle(ctx(t), ev)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode, resp.Body)
}

func TestPartnerTokenBothRouteNamesCallTheCurrentPath(t *testing.T) {
	t.Parallel()
	for _, route := range []string{membercard.PartnerPreAuthTokensPath, membercard.PartnerOpenUserCardTokensPath} {
		t.Run(route, func(t *testing.T) {
			e := newEnv(t)
			h := &cardapi.PartnerToken{Upstream: e.partner, Policy: e.policy, Logger: e.logger}
			resp, err := h.Handle(ctx(t), event("POST", route, partnerBody, nil))
			require.NoError(t, err)
			require.Equal(t, 200, resp.StatusCode, resp.Body)
			rec, _ := e.srv.LastRequest()
			assert.Equal(t, membercard.PartnerPreAuthTokensPath, rec.URI)
			assert.Equal(t, partnerBody, string(rec.Body), "user_card_code is not sent when the caller did not give it")
		})
	}
	e := newEnv(t)
	h := &cardapi.PartnerToken{Upstream: e.partner, Policy: e.policy, Logger: e.logger}
	withCode := `{"brand_id":"1004","card_id":"` + cardID + `","openid":"` + openid + `","user_card_code":"478515832665"}`
	resp, err := h.Handle(ctx(t), event("POST", membercard.PartnerOpenUserCardTokensPath, withCode, nil))
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	rec, _ := e.srv.LastRequest()
	assert.Equal(t, withCode, string(rec.Body))
}

// Each row of the design's answer table.
func TestAnswerTable(t *testing.T) {
	t.Parallel()
	closed := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		return "https://" + l.Addr().String()
	}
	tests := []struct {
		name    string
		faults  []wxpaytest.Fault
		body    string
		timeout time.Duration
		host    bool // point at a closed port
		status  int
		code    string
		reqID   bool
	}{
		{"WeChat Pay refused (4xx)", nil, `{"brand_id":"1004","card_id":"unknowncard","openid":"o"}`, 0, false, 400, "PARAM_ERROR", true},
		{"rate limited after retries", []wxpaytest.Fault{{Kind: wxpaytest.Status, Status: 429}, {Kind: wxpaytest.Status, Status: 429}, {Kind: wxpaytest.Status, Status: 429}}, "", 0, false, 429, "FREQUENCY_LIMITED", true},
		{"rate limited once", []wxpaytest.Fault{{Kind: wxpaytest.Status, Status: 429}}, "", 0, false, 200, "", false},
		{"bad signature", []wxpaytest.Fault{{Kind: wxpaytest.BadSignature}}, "", 0, false, 502, "UPSTREAM_SIGNATURE_INVALID", true},
		{"probe signature", []wxpaytest.Fault{{Kind: wxpaytest.ProbeSignature}}, "", 0, false, 502, "UPSTREAM_SIGNATURE_INVALID", true},
		{"unknown key ID", []wxpaytest.Fault{{Kind: wxpaytest.UnknownKeyID}}, "", 0, false, 502, "UPSTREAM_SIGNATURE_INVALID", true},
		{"stale timestamp", []wxpaytest.Fault{{Kind: wxpaytest.StaleTimestamp}}, "", 0, false, 502, "UPSTREAM_SIGNATURE_INVALID", true},
		{"missing headers", []wxpaytest.Fault{{Kind: wxpaytest.MissingHeaders}}, "", 0, false, 502, "UPSTREAM_SIGNATURE_INVALID", true},
		{"tampered body", []wxpaytest.Fault{{Kind: wxpaytest.TamperedBody}}, "", 0, false, 502, "UPSTREAM_SIGNATURE_INVALID", true},
		{"5xx after retries", []wxpaytest.Fault{{Kind: wxpaytest.Status, Status: 500}, {Kind: wxpaytest.Status, Status: 503}, {Kind: wxpaytest.Status, Status: 500}}, "", 0, false, 502, "UPSTREAM_UNAVAILABLE", true},
		{"unreachable on both hosts", nil, "", 0, true, 502, "UPSTREAM_UNAVAILABLE", false},
		{"no answer before the deadline", []wxpaytest.Fault{{Kind: wxpaytest.Slow, Delay: 3 * time.Second}}, "", 200 * time.Millisecond, false, 504, "UPSTREAM_TIMEOUT", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.srv.Inject(tc.faults...)
			up := e.partner
			if tc.host {
				c, err := wxpay.New(wxpay.Config{BaseURL: closed(t), BackupURL: closed(t), Signer: e.srv.AddMerchant("1900000009").Signer(), Verifier: e.srv.Verifier(), HTTPClient: e.srv.Client(), Logger: e.logger})
				require.NoError(t, err)
				up = c
			}
			body := tc.body
			if body == "" {
				body = partnerBody
			}
			c := ctx(t)
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				c, cancel = context.WithTimeout(c, tc.timeout)
				defer cancel()
			}
			resp, err := (&cardapi.PartnerToken{Upstream: up, Policy: e.policy, Logger: e.logger}).Handle(c, event("POST", membercard.PartnerPreAuthTokensPath, body, nil))
			require.NoError(t, err)
			assert.Equal(t, tc.status, resp.StatusCode, resp.Body)
			a := decode(t, resp)
			assert.Equal(t, tc.code, a.Code)
			if tc.reqID {
				assert.NotEmpty(t, a.RequestID, "WeChat Pay's Request-ID is returned when it answered")
				assert.Contains(t, e.logs.String(), a.RequestID)
			}
			if resp.StatusCode != 200 {
				assert.NotContains(t, resp.Body, "token\"", "a refused answer's body never reaches the caller")
			}
		})
	}
}

// The JWT binding of openid, for both token functions and both route names
// of partnertoken. Under JWT it fails closed: no claims, or a claim that
// names no openid, is 403 with no call; under NONE the body stands.
func TestOpenIDBinding(t *testing.T) {
	t.Parallel()
	noClaims := map[string]string{}
	tests := []struct {
		name   string
		jwt    bool
		openid string            // the body's openid; "" = absent
		claims map[string]string // nil = no authorizer in the event
		status int
		sent   string // openid sent upstream; "" = no call
	}{
		{"JWT: claim equals body", true, openid, map[string]string{"openid": openid}, 200, openid},
		{"JWT: claim differs", true, openid, map[string]string{"openid": "someone-else"}, 403, ""},
		{"JWT: body without openid takes the claim", true, "", map[string]string{"openid": openid}, 200, openid},
		{"JWT: no claims at all (route without the authorizer)", true, openid, nil, 403, ""},
		{"JWT: empty claims", true, openid, noClaims, 403, ""},
		{"JWT: token without the claim", true, openid, map[string]string{"sub": "u1"}, 403, ""},
		{"JWT: token without the claim, body without openid", true, "", map[string]string{"sub": "u1"}, 403, ""},
		{"JWT: empty claim", true, openid, map[string]string{"openid": ""}, 403, ""},
		{"JWT: array claim", true, openid, map[string]string{"openid": "[" + openid + " x]"}, 403, ""},
		{"JWT: object claim", true, "", map[string]string{"openid": "map[id:" + openid + "]"}, 403, ""},
		{"NONE: body stands", false, openid, nil, 200, openid},
		{"NONE: claims are not consulted", false, openid, map[string]string{"openid": "someone-else"}, 200, openid},
	}
	routes := []struct {
		name, route string
		partner     bool
	}{
		{"pretoken", membercard.BrandPreAuthTokensPath, false},
		{"partnertoken", membercard.PartnerPreAuthTokensPath, true},
		{"partnertoken, older route", membercard.PartnerOpenUserCardTokensPath, true},
	}
	for _, rt := range routes {
		for _, tc := range tests {
			t.Run(rt.name+"/"+tc.name, func(t *testing.T) {
				e := newEnv(t)
				policy := cardapi.Policy{RequireJWT: tc.jwt, OpenIDClaim: "openid"}
				body := `{"card_id":"` + cardID + `"`
				if rt.partner {
					body += `,"brand_id":"1004"`
				}
				if tc.openid != "" {
					body += `,"openid":"` + tc.openid + `"`
				}
				ev := event("POST", rt.route, body+"}", nil)
				if tc.claims != nil {
					ev = withJWT(ev, tc.claims)
				}
				var resp events.APIGatewayV2HTTPResponse
				var err error
				if rt.partner {
					resp, err = (&cardapi.PartnerToken{Upstream: e.partner, Policy: policy, Logger: e.logger}).Handle(ctx(t), ev)
				} else {
					resp, err = (&cardapi.PreToken{Upstream: e.brand, Policy: policy, Logger: e.logger}).Handle(ctx(t), ev)
				}
				require.NoError(t, err)
				assert.Equal(t, tc.status, resp.StatusCode, resp.Body)
				if tc.sent == "" {
					assert.Equal(t, "FORBIDDEN", decode(t, resp).Code)
					assert.Empty(t, e.srv.Requests(), "no call to WeChat Pay")
					return
				}
				rec, err := e.srv.LastRequest()
				require.NoError(t, err)
				assert.Contains(t, string(rec.Body), `"openid":"`+tc.sent+`"`)
			})
		}
	}
	// A configurable claim name.
	e := newEnv(t)
	p := cardapi.Policy{RequireJWT: true, OpenIDClaim: "wx_openid"}
	ev := withJWT(event("POST", membercard.PartnerPreAuthTokensPath, partnerBody, nil), map[string]string{"wx_openid": "other", "openid": openid})
	resp, _ := (&cardapi.PartnerToken{Upstream: e.partner, Policy: p, Logger: e.logger}).Handle(ctx(t), ev)
	assert.Equal(t, 403, resp.StatusCode)
	assert.Empty(t, e.srv.Requests())
}

func TestAllowLists(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := cardapi.Policy{AllowedCardIDs: []string{"othercard"}, AllowedBrandIDs: []string{"1005"}}
	resp, _ := (&cardapi.PreToken{Upstream: e.brand, Policy: p, Logger: e.logger}).Handle(ctx(t), event("POST", "/", preBody, nil))
	assert.Equal(t, 403, resp.StatusCode)
	assert.Contains(t, decode(t, resp).Message, "card_id")
	resp, _ = (&cardapi.PartnerToken{Upstream: e.partner, Policy: p, Logger: e.logger}).Handle(ctx(t), event("POST", "/", partnerBody, nil))
	assert.Equal(t, 403, resp.StatusCode)
	assert.Contains(t, decode(t, resp).Message, "brand_id")
	ev := event("POST", membercard.PermissionTokensRoute, `{"activate_type":"AUTO_ACTIVATE"}`, nil)
	ev.PathParameters = map[string]string{"card_id": cardID}
	resp, _ = (&cardapi.PermissionTokenHandler{Upstream: e.partner, Policy: p, Logger: e.logger}).Handle(ctx(t), ev)
	assert.Equal(t, 403, resp.StatusCode)
	ev = event("GET", membercard.ProductAuthoritiesRoute, "", map[string]string{})
	ev.PathParameters = map[string]string{"brand_id": brandID}
	resp, _ = (&cardapi.Authorities{Upstream: e.partner, Policy: p, Logger: e.logger}).Handle(ctx(t), ev)
	assert.Equal(t, 403, resp.StatusCode)
	assert.Empty(t, e.srv.Requests())

	ev.PathParameters = map[string]string{"brand_id": "1005"}
	resp, _ = (&cardapi.Authorities{Upstream: e.partner, Policy: p, Logger: e.logger}).Handle(ctx(t), ev)
	assert.Equal(t, 200, resp.StatusCode, "an allowed brand is served")

	// The partner route's card allow-list, on its own: the brand is allowed.
	e.srv.ResetRequests()
	p = cardapi.Policy{AllowedCardIDs: []string{"othercard"}, AllowedBrandIDs: []string{brandID}}
	resp, _ = (&cardapi.PartnerToken{Upstream: e.partner, Policy: p, Logger: e.logger}).Handle(ctx(t), event("POST", "/", partnerBody, nil))
	assert.Equal(t, 403, resp.StatusCode)
	assert.Contains(t, decode(t, resp).Message, "card_id")
	assert.Empty(t, e.srv.Requests())
}

func TestPermissionToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cardID, body string
		status             int
		field, sent        string
	}{
		{"auto", cardID, `{"activate_type":"AUTO_ACTIVATE"}`, 200, "", `{"activate_type":"AUTO_ACTIVATE"}`},
		{"seed example", cardID, `{"activate_type":"AUTO_ACTIVATE","navigate_back_previous_page":true,"activate_url":"https://w.url.cn/s/Ahz3p2C","activate_appid":"wxea9c30a90fs8d3fe","activate_path":"pages/activate/activate","outer_str":"szwxtd"}`, 200, "",
			`{"activate_type":"AUTO_ACTIVATE","navigate_back_previous_page":true,"activate_url":"https://w.url.cn/s/Ahz3p2C","activate_appid":"wxea9c30a90fs8d3fe","activate_path":"pages/activate/activate","outer_str":"szwxtd"}`},
		{"false is kept", cardID, `{"activate_type":"JUMP_ACTIVATE","activate_appid":"wxea9c30a90fs8d3fe","navigate_back_previous_page":false}`, 200, "", `{"activate_type":"JUMP_ACTIVATE","navigate_back_previous_page":false,"activate_appid":"wxea9c30a90fs8d3fe"}`},
		{"jump without target", cardID, `{"activate_type":"JUMP_ACTIVATE"}`, 400, "activate_url", ""},
		{"activate_type missing", cardID, `{}`, 400, "activate_type", ""},
		{"activate_type unknown", cardID, `{"activate_type":"NOW"}`, 400, "activate_type", ""},
		{"activate_url 129", cardID, `{"activate_type":"AUTO_ACTIVATE","activate_url":"https://e.com/` + strings.Repeat("a", 115) + `"}`, 400, "activate_url", ""},
		{"activate_appid 33", cardID, `{"activate_type":"AUTO_ACTIVATE","activate_appid":"` + strings.Repeat("a", 33) + `"}`, 400, "activate_appid", ""},
		{"activate_path 129", cardID, `{"activate_type":"AUTO_ACTIVATE","activate_path":"` + strings.Repeat("a", 129) + `"}`, 400, "activate_path", ""},
		{"outer_str 33", cardID, `{"activate_type":"AUTO_ACTIVATE","outer_str":"` + strings.Repeat("a", 33) + `"}`, 400, "outer_str", ""},
		{"outer_str full-width", cardID, `{"activate_type":"AUTO_ACTIVATE","outer_str":"门店，"}`, 400, "outer_str", ""},
		{"navigate not boolean", cardID, `{"activate_type":"AUTO_ACTIVATE","navigate_back_previous_page":"true"}`, 400, "navigate_back_previous_page", ""},
		{"card_id with slash", "a/../b", `{"activate_type":"AUTO_ACTIVATE"}`, 400, "card_id", ""},
		{"card_id escaped slash", "a%2Fb", `{"activate_type":"AUTO_ACTIVATE"}`, 400, "card_id", ""},
		{"card_id with query", "a?b=1", `{"activate_type":"AUTO_ACTIVATE"}`, 400, "card_id", ""},
		{"card_id 33", strings.Repeat("c", 33), `{"activate_type":"AUTO_ACTIVATE"}`, 400, "card_id", ""},
		{"card_id missing", "", `{"activate_type":"AUTO_ACTIVATE"}`, 400, "card_id", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ev := event("POST", membercard.PermissionTokensRoute, tc.body, nil)
			ev.PathParameters = map[string]string{"card_id": tc.cardID}
			resp, err := (&cardapi.PermissionTokenHandler{Upstream: e.partner, Policy: e.policy, Logger: e.logger}).Handle(ctx(t), ev)
			require.NoError(t, err)
			assert.Equal(t, tc.status, resp.StatusCode, resp.Body)
			if tc.status != 200 {
				a := decode(t, resp)
				assert.Equal(t, "PARAM_ERROR", a.Code)
				assert.True(t, strings.HasPrefix(a.Message, tc.field), a.Message)
				assert.Empty(t, e.srv.Requests())
				return
			}
			rec, _ := e.srv.LastRequest()
			assert.Equal(t, membercard.PermissionTokensPath(cardID), rec.URI)
			assert.Equal(t, tc.sent, string(rec.Body))
			var pt membercard.PermissionToken
			require.NoError(t, json.Unmarshal([]byte(resp.Body), &pt))
			assert.NotEmpty(t, pt.PermissionToken)
			assert.NotContains(t, e.logs.String(), pt.PermissionToken)
		})
	}
}

func TestAuthoritiesHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := &cardapi.Authorities{Upstream: e.partner, Policy: e.policy, Logger: e.logger}
	ev := event("GET", membercard.ProductAuthoritiesRoute, "", map[string]string{})
	ev.PathParameters = map[string]string{"brand_id": brandID}
	resp, err := h.Handle(ctx(t), ev)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	assert.Contains(t, resp.Body, "AUTHORIZATION_TYPE_HOSTING")

	for _, bad := range []string{"", "10/04", strings.Repeat("1", 33), "1004?x"} {
		ev.PathParameters = map[string]string{"brand_id": bad}
		resp, _ = h.Handle(ctx(t), ev)
		assert.Equal(t, 400, resp.StatusCode, bad)
	}
	ev.PathParameters = map[string]string{"brand_id": "4001"}
	resp, _ = h.Handle(ctx(t), ev)
	assert.Equal(t, 400, resp.StatusCode)
	assert.NotEmpty(t, decode(t, resp).RequestID)
	assert.Len(t, e.srv.Requests(), 2)
}

// A brand check: an authorised brand, a revoked one (an outcome, not a
// failure), and a malformed ID that never reaches WeChat Pay; one
// structured log line each.
func TestBrandChecker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		brandID, outcome, code string
		ok, called             bool
	}{
		{"1004", "unchanged", "", true, true},
		{"4001", "revoked", "PARAM_ERROR", true, true},
		{"bad/id", "failed", "PARAM_ERROR", false, false},
		{strings.Repeat("1", 33), "failed", "PARAM_ERROR", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.brandID, func(t *testing.T) {
			e := newEnv(t)
			h := &cardapi.BrandChecker{Upstream: e.partner, Logger: e.logger}
			r := h.Check(ctx(t), tc.brandID)
			assert.Equal(t, tc.ok, r.OK)
			assert.Equal(t, tc.outcome, r.Outcome)
			assert.Equal(t, tc.code, r.Code)
			assert.Equal(t, tc.brandID, r.BrandID)
			if tc.called {
				require.Len(t, e.srv.Requests(), 1)
				assert.Equal(t, membercard.ProductAuthoritiesPath(tc.brandID), e.srv.Requests()[0].URI)
				assert.NotEmpty(t, r.WechatpayRequestID)
			} else {
				assert.Empty(t, e.srv.Requests())
			}
			if tc.brandID == "1004" {
				assert.Equal(t, "AUTHORIZATION_TYPE_HOSTING", r.AuthorizationType)
			}
			var lines []map[string]any
			for _, l := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
				if strings.Contains(l, `"msg":"brand refreshed"`) || strings.Contains(l, `"msg":"brand refresh failed"`) {
					var m map[string]any
					require.NoError(t, json.Unmarshal([]byte(l), &m))
					lines = append(lines, m)
				}
			}
			require.Len(t, lines, 1)
			assert.Equal(t, tc.outcome, lines[0]["outcome"])
		})
	}
}

// A check out of time calls nobody and fails, so SQS delivers it again.
func TestBrandCheckerOutOfTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, cancel := context.WithCancel(ctx(t))
	cancel()
	r := (&cardapi.BrandChecker{Upstream: e.partner, Logger: e.logger}).Check(c, "1004")
	assert.False(t, r.OK)
	assert.Equal(t, "UPSTREAM_TIMEOUT", r.Code)
	assert.Empty(t, e.srv.Requests())
}

// The HTTP function, given {} (what the schedule sends), answers as to any
// malformed HTTP event and calls nobody: it never runs a refresh.
func TestAuthoritiesHTTPNeverRefreshes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := &cardapi.Authorities{Upstream: e.partner, Policy: e.policy, Logger: e.logger}
	resp, err := h.Handle(ctx(t), events.APIGatewayV2HTTPRequest{})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, resp.StatusCode, 400)
	assert.Empty(t, e.srv.Requests())
}

func TestLogLinesCarryTheLambdaRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var buf bytes.Buffer
	logger := slog.New(lambdaHandler{slog.NewJSONHandler(&buf, nil)})
	_, _ = (&cardapi.PreToken{Upstream: e.brand, Policy: e.policy, Logger: logger}).Handle(ctx(t), event("POST", "/", preBody, nil))
	assert.Contains(t, buf.String(), `"lambda_request_id":"lambda-req-1"`)
}

// lambdaHandler stands for lambdaapp's logger here, to keep this package's
// tests free of the cold-start plumbing.
type lambdaHandler struct{ slog.Handler }

func (h lambdaHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.AddAttrs(slog.String("lambda_request_id", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

// A slow WeChat Pay still leaves the handler time to answer 504 before the
// invocation's own deadline: the upstream call ends DeadlineMargin early.
func TestTimeoutAnswersBeforeTheInvocationDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.srv.Inject(wxpaytest.Fault{Kind: wxpaytest.Slow, Delay: 5 * time.Second})
	c, cancel := context.WithTimeout(context.Background(), cardapi.DeadlineMargin+400*time.Millisecond)
	defer cancel()
	resp, err := (&cardapi.PartnerToken{Upstream: e.partner, Policy: e.policy, Logger: e.logger}).Handle(c, event("POST", membercard.PartnerPreAuthTokensPath, partnerBody, nil))
	require.NoError(t, err)
	assert.Equal(t, 504, resp.StatusCode, "%s\n%s", resp.Body, e.logs.String())
	assert.NoError(t, c.Err(), "answered before the invocation's deadline")
}

// upstreamStub answers every call with resp and err: for the metrics of
// calls that took several attempts or failed over.
type upstreamStub struct {
	resp *wxpay.Response
	err  error
}

func (u upstreamStub) Do(context.Context, wxpay.Request) (*wxpay.Response, error) {
	return u.resp, u.err
}

// One EMF line per invocation, valid by the format's rules: Requests, and
// Outcome by our code (OK, or the error's), with the upstream's latency,
// attempts and fail-over when WeChat Pay was called.
func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var buf bytes.Buffer
	em := &metrics.Emitter{Out: &buf, Function: "pretoken"}
	h := &cardapi.PreToken{Upstream: e.brand, Policy: e.policy, Logger: e.logger, Metrics: em}
	_, err := h.Handle(ctx(t), event("POST", membercard.BrandPreAuthTokensPath, preBody, nil))
	require.NoError(t, err)
	_, err = h.Handle(ctx(t), event("POST", membercard.BrandPreAuthTokensPath, `{"card_id":"x y"}`, nil))
	require.NoError(t, err)
	h.Upstream = upstreamStub{err: &wxpay.CallError{Attempts: 3, FailedOver: true, Err: &wxpay.APIError{Status: 429, Code: "FREQUENCY_LIMITED"}}}
	_, err = h.Handle(ctx(t), event("POST", membercard.BrandPreAuthTokensPath, preBody, nil))
	require.NoError(t, err)

	recs, err := metrics.ParseLog(buf.Bytes())
	require.NoError(t, err)
	require.Len(t, recs, 3)
	want := []struct {
		outcome  string
		attempts float64
		failover float64
		called   bool
	}{{"OK", 1, 0, true}, {"PARAM_ERROR", 0, 0, false}, {"FREQUENCY_LIMITED", 3, 1, true}}
	for i, r := range recs {
		assert.Equal(t, "wxcard", r.Namespace)
		assert.Equal(t, map[string]string{"function": "pretoken", "route": membercard.BrandPreAuthTokensPath, "outcome": want[i].outcome}, r.Dimensions)
		assert.Equal(t, [][]string{{"function", "route"}, {"function", "route", "outcome"}}, r.Sets, "no ID in any dimension")
		assert.Equal(t, 1.0, r.Sum("Requests"))
		assert.Equal(t, 1.0, r.Sum("Outcome"))
		assert.Equal(t, want[i].attempts, r.Sum("UpstreamAttempts"), want[i].outcome)
		assert.Equal(t, want[i].failover, r.Sum("Failover"), want[i].outcome)
		_, latency := r.Values["UpstreamLatency"]
		assert.Equal(t, want[i].called, latency, want[i].outcome)
		if latency {
			assert.Equal(t, metrics.Milliseconds, r.Units["UpstreamLatency"])
		}
	}
	assert.NotContains(t, buf.String(), openid)
}
