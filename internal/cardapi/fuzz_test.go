package cardapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
)

// recorder is an Upstream that always succeeds and remembers what it was
// asked: the fuzz target needs to see every request that got through.
type recorder struct {
	mu   sync.Mutex
	reqs []wxpay.Request
}

func (r *recorder) Do(_ context.Context, req wxpay.Request) (*wxpay.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return &wxpay.Response{Status: 200, Body: []byte(`{"token":"abcdefgh","expire_time":"2026-11-22T15:16:01+08:00"}`), RequestID: "R"}, nil
}

// FuzzHandlers sends whole HTTP API events into each handler: never a
// panic, never a 5xx for bad input (the upstream always succeeds here), and
// never an upstream call for input the rules refuse.
func FuzzHandlers(f *testing.F) {
	f.Add(uint8(0), "POST", "application/json", []byte(`{"card_id":"c1","openid":"o1"}`), false, "", "", false)
	f.Add(uint8(1), "POST", "application/json", []byte(`{"brand_id":"1004","card_id":"c1","openid":"o1","user_card_code":"1"}`), false, "", "o1", true)
	f.Add(uint8(2), "POST", "application/json; charset=utf-8", []byte(`{"activate_type":"JUMP_ACTIVATE","activate_url":"https://e.com","outer_str":"店,A"}`), false, "c1", "", false)
	f.Add(uint8(3), "GET", "", []byte(nil), false, "1004", "", false)
	f.Add(uint8(0), "POST", "application/json", []byte(`eyJjYXJkX2lkIjoiYyIsIm9wZW5pZCI6Im8ifQ==`), true, "", "x", true)
	f.Add(uint8(1), "POST", "application/json", []byte(`{"brand_id":"1004","card_id":null,"openid":"o"}`), false, "", "", true)
	f.Add(uint8(2), "POST", "application/json", []byte(`{"activate_type":"AUTO_ACTIVATE"}`), false, "a/../b", "", false)
	f.Add(uint8(0), "POST", "application/json", []byte(`{"card_id":"c1","openid":"o1","OPENID":"x"}`), false, "", "o1", true)
	f.Add(uint8(0), "POST", "application/json", []byte(`{"card_id":"c1","openid":"o1"}`), false, "", "", true)
	logger := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, which uint8, method, contentType string, body []byte, b64 bool, param, claim string, jwt bool) {
		policy := cardapi.Policy{RequireJWT: jwt, OpenIDClaim: "openid", AllowedCardIDs: []string{"c1", "c2", "pbLatjvWOibDc5-TBnbUk1pD12o0"}, AllowedBrandIDs: []string{"1004"}}
		up := &recorder{}
		ev := events.APIGatewayV2HTTPRequest{Version: "2.0", Headers: map[string]string{"content-type": contentType}, Body: string(body), IsBase64Encoded: b64}
		ev.RequestContext.HTTP.Method = method
		if claim != "" {
			ev = withJWT(ev, map[string]string{"openid": claim})
		}
		var resp events.APIGatewayV2HTTPResponse
		var err error
		ctx := context.Background()
		switch which % 4 {
		case 0:
			resp, err = (&cardapi.PreToken{Upstream: up, Policy: policy, Logger: logger}).Handle(ctx, ev)
		case 1:
			resp, err = (&cardapi.PartnerToken{Upstream: up, Policy: policy, Logger: logger}).Handle(ctx, ev)
		case 2:
			ev.PathParameters = map[string]string{"card_id": param}
			resp, err = (&cardapi.PermissionTokenHandler{Upstream: up, Policy: policy, Logger: logger}).Handle(ctx, ev)
		case 3:
			ev.PathParameters = map[string]string{"brand_id": param}
			resp, err = (&cardapi.Authorities{Upstream: up, Policy: policy, Logger: logger}).Handle(ctx, ev)
		}
		if err != nil {
			t.Fatalf("handler error: %v", err)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("5xx for input: %d %s", resp.StatusCode, resp.Body)
		}
		if resp.Headers["Cache-Control"] != "no-store" {
			t.Fatal("answer without Cache-Control: no-store")
		}
		if resp.StatusCode != 200 {
			if len(up.reqs) != 0 {
				t.Fatalf("refused with %d but called WeChat Pay", resp.StatusCode)
			}
			var e struct{ Code, Message string }
			if json.Unmarshal([]byte(resp.Body), &e) != nil || e.Code == "" || e.Message == "" {
				t.Fatalf("error answer without code and message: %s", resp.Body)
			}
			return
		}
		if len(up.reqs) != 1 {
			t.Fatalf("served with %d upstream calls", len(up.reqs))
		}
		checkForwarded(t, which%4, up.reqs[0], claim, param, policy)
		if jwt && which%4 < 2 {
			checkBoundToClaim(t, ev, claim)
		}
	})
}

// checkBoundToClaim re-checks the JWT rule on a token request that was
// served: the claim names an openid, and the caller's body gave none or
// that same one. The body is read by exact keys, independently of Decode.
func checkBoundToClaim(t *testing.T, ev events.APIGatewayV2HTTPRequest, claim string) {
	if claim == "" {
		t.Fatal("served under JWT without an openid claim")
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			t.Fatal("served a body that is not base64")
		}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("served a body that is not a JSON object: %q", body)
	}
	var bodyOpenID string
	if raw, ok := m["openid"]; ok {
		if err := json.Unmarshal(raw, &bodyOpenID); err != nil {
			t.Fatalf("served a body whose openid is not a string: %q", body)
		}
	}
	if bodyOpenID != "" && bodyOpenID != claim {
		t.Fatalf("under JWT, served body openid %q although the claim is %q", bodyOpenID, claim)
	}
}

// checkForwarded re-checks, independently of the handler, that what reached
// WeChat Pay keeps every rule.
func checkForwarded(t *testing.T, which uint8, req wxpay.Request, claim, param string, p cardapi.Policy) {
	in := func(list []string, v string) bool {
		for _, x := range list {
			if x == v {
				return true
			}
		}
		return false
	}
	openidOK := func(openid string) {
		if p.RequireJWT && openid != claim {
			t.Fatalf("openid %q sent although the JWT says %q", openid, claim)
		}
	}
	switch which {
	case 0:
		var r membercard.BrandPreAuthTokenRequest
		if membercard.Decode(req.Body, &r) != nil || r.Validate() != nil || !in(p.AllowedCardIDs, r.CardID) || req.Path != membercard.BrandPreAuthTokensPath {
			t.Fatalf("forwarded a refused request: %s %s", req.Path, req.Body)
		}
		openidOK(r.OpenID)
	case 1:
		var r membercard.PartnerPreAuthTokenRequest
		if membercard.Decode(req.Body, &r) != nil || r.Validate() != nil || !in(p.AllowedCardIDs, r.CardID) || !in(p.AllowedBrandIDs, r.BrandID) || req.Path != membercard.PartnerPreAuthTokensPath {
			t.Fatalf("forwarded a refused request: %s %s", req.Path, req.Body)
		}
		openidOK(r.OpenID)
	case 2:
		var r membercard.PermissionTokenRequest
		if membercard.Decode(req.Body, &r) != nil || r.Validate() != nil || membercard.CheckID("card_id", param, 32) != nil || !in(p.AllowedCardIDs, param) ||
			req.Path != membercard.PermissionTokensPath(param) || strings.Count(req.Path, "/") != 6 {
			t.Fatalf("forwarded a refused request: %s %s", req.Path, req.Body)
		}
	case 3:
		if req.Method != http.MethodGet || req.Body != nil || !in(p.AllowedBrandIDs, param) || req.Path != membercard.ProductAuthoritiesPath(param) {
			t.Fatalf("forwarded a refused request: %s", req.Path)
		}
	}
}
