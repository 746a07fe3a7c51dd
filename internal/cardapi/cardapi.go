// Package cardapi holds the handlers of wxcard's four functions. Each is a
// plain struct built once at cold start; it validates an API Gateway
// HTTP API event by the documented field rules and the deployment's policy,
// calls WeChat Pay once through its Upstream, and answers with WeChat Pay's
// verified answer or an error from the design's table.
package cardapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
)

// Caller calls WeChat Pay; *lambdaapp.Upstream and *wxpay.Client are ones.
type Caller interface {
	Do(ctx context.Context, req wxpay.Request) (*wxpay.Response, error)
}

// Policy is what a deployment allows on top of the field rules.
type Policy struct {
	// RequireJWT says the token routes are behind the JWT authorizer
	// (TOKEN_ROUTES_AUTHORIZATION=JWT): every token request must carry the
	// caller's claims, and its openid is the one the claim names. It fails
	// closed: no claims, or no usable claim, is 403 and no call.
	RequireJWT bool
	// OpenIDClaim names the JWT claim the body's openid is bound to.
	OpenIDClaim string
	// AllowedCardIDs and AllowedBrandIDs, when not empty, are the only cards
	// and brands served.
	AllowedCardIDs  []string
	AllowedBrandIDs []string
}

func allowed(list []string, id string) bool {
	if len(list) == 0 {
		return true
	}
	for _, a := range list {
		if a == id {
			return true
		}
	}
	return false
}

// CheckCard refuses a card the deployment does not serve (403 FORBIDDEN).
func (p *Policy) CheckCard(cardID string) *apigw.Error {
	if !allowed(p.AllowedCardIDs, cardID) {
		return apigw.Forbidden("card_id", "is not served by this deployment")
	}
	return nil
}

func (p *Policy) checkBrand(brandID string) *apigw.Error {
	if !allowed(p.AllowedBrandIDs, brandID) {
		return apigw.Forbidden("brand_id", "is not served by this deployment")
	}
	return nil
}

// BindOpenID applies the JWT binding. With RequireJWT the event must carry
// the caller's claims and the configured claim must be a usable openid;
// the body's openid must then equal it, and an absent one is taken from
// it. Anything else is refused: a token that names no openid never mints a
// token for any openid (OWASP API1, broken object-level authorisation).
// Without RequireJWT the body's openid stands.
func (p *Policy) BindOpenID(ev *events.APIGatewayV2HTTPRequest, openid *string) *apigw.Error {
	if !p.RequireJWT {
		return nil
	}
	a := ev.RequestContext.Authorizer
	if a == nil || a.JWT == nil || len(a.JWT.Claims) == 0 {
		return apigw.Forbidden("authorization", "carries no JWT claims: the token routes need the caller's token")
	}
	claim, ok := a.JWT.Claims[p.OpenIDClaim]
	// API Gateway hands every claim over as a string; an array or object
	// claim arrives as its text ("[a b]", "map[…]"), which is no openid.
	if !ok || membercard.CheckID("openid", claim, 128) != nil {
		return apigw.Forbidden("openid", "is not named by the caller's token (claim "+strconv.Quote(p.OpenIDClaim)+" missing, empty or not an openid)")
	}
	switch {
	case *openid == "":
		*openid = claim
	case *openid != claim:
		return apigw.Forbidden("openid", "does not match the caller's token")
	}
	return nil
}

// readTokenRequest reads a pre-auth-token request into req: a POST, the
// body by WeChat Pay's rules, openid (which points into req) bound to the
// caller's JWT, then the field rules.
func (p *Policy) readTokenRequest(ev *events.APIGatewayV2HTTPRequest, out *outcome, req interface{ Validate() error }, openid *string) *apigw.Error {
	if aerr := apigw.Method(ev, http.MethodPost); aerr != nil {
		return aerr
	}
	if aerr := decodeBody(ev, req); aerr != nil {
		return aerr
	}
	if aerr := p.BindOpenID(ev, openid); aerr != nil {
		return aerr
	}
	out.openid = *openid
	if err := req.Validate(); err != nil {
		return FromFieldError(err)
	}
	return nil
}

// outcome is what one invocation logs.
type outcome struct {
	openid string
}

// DeadlineMargin is kept free before the invocation's deadline, so that
// after WeChat Pay ran out of time there is still time to answer 504.
const DeadlineMargin = 300 * time.Millisecond

// UpstreamContext is ctx with its deadline moved DeadlineMargin earlier.
func UpstreamContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, dl.Add(-DeadlineMargin))
	}
	return context.WithCancel(ctx)
}

// serve runs the common path: build the upstream request (validating
// everything first), call WeChat Pay, answer, and log one line.
func serve(ctx context.Context, logger *slog.Logger, em *metrics.Emitter, up Caller, route string, ev *events.APIGatewayV2HTTPRequest,
	build func(out *outcome) (wxpay.Request, *apigw.Error), tokenField string,
) events.APIGatewayV2HTTPResponse {
	start := time.Now()
	m := em.New(route)
	m.Count("Requests", 1)
	defer em.Flush(m)
	var out outcome
	req, aerr := build(&out)
	var resp *wxpay.Response
	if aerr == nil {
		uctx, cancel := UpstreamContext(ctx)
		var err error
		called := time.Now()
		resp, err = up.Do(uctx, req)
		cancel()
		countCall(m, resp, err, time.Since(called))
		if err != nil {
			aerr = FromUpstream(err)
		}
	}
	code := "OK"
	if aerr != nil {
		code = aerr.Code
	}
	m.Count("Outcome", 1)
	m.SetDimension("outcome", code)
	attrs := []slog.Attr{
		slog.String("route", route),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
	}
	if out.openid != "" {
		attrs = append(attrs, slog.String("openid_hash", HashOpenID(out.openid)))
	}
	if aerr != nil {
		return Refuse(ctx, logger, aerr, append(attrs, slog.Int("status", aerr.Status))...)
	}
	if tokenField != "" {
		var m map[string]any
		if json.Unmarshal(resp.Body, &m) == nil {
			if tok, ok := m[tokenField].(string); ok {
				attrs = append(attrs, slog.String("token_prefix", TokenPrefix(tok)))
			}
		}
	}
	attrs = append(attrs, slog.Int("status", resp.Status), slog.String("wechatpay_request_id", resp.RequestID), slog.Int("attempts", resp.Attempts))
	logger.LogAttrs(ctx, slog.LevelInfo, "request served", attrs...)
	return apigw.JSON(resp.Status, resp.Body)
}

// Refuse logs a refused request's one line, attrs with the refusal's code,
// message and WeChat Pay's request ID (INFO: the caller's; ERROR for a
// 5xx), and answers it.
func Refuse(ctx context.Context, logger *slog.Logger, aerr *apigw.Error, attrs ...slog.Attr) events.APIGatewayV2HTTPResponse {
	attrs = append(attrs, slog.String("code", aerr.Code), slog.String("message", aerr.Message), slog.String("wechatpay_request_id", aerr.RequestID))
	level := slog.LevelInfo
	if aerr.Status >= 500 {
		level = slog.LevelError
	}
	logger.LogAttrs(ctx, level, "request refused", attrs...)
	return aerr.Respond()
}

// countCall records a WeChat Pay call: the time spent waiting for WeChat
// Pay (wxpay's own measure, without signing and backoff; the whole call
// when the caller reports none), its attempts, and whether it failed over.
func countCall(m *metrics.Set, resp *wxpay.Response, err error, elapsed time.Duration) {
	attempts, failedOver, latency := 0, false, time.Duration(0)
	var ce *wxpay.CallError
	switch {
	case resp != nil:
		attempts, failedOver, latency = resp.Attempts, resp.FailedOver, resp.Latency
	case errors.As(err, &ce):
		attempts, failedOver, latency = ce.Attempts, ce.FailedOver, ce.Latency
	}
	if latency == 0 {
		latency = elapsed
	}
	m.Duration("UpstreamLatency", latency)
	if attempts > 0 {
		m.Count("UpstreamAttempts", attempts)
	}
	if failedOver {
		m.Count("Failover", 1)
	}
}

// HashOpenID is how an openid appears in logs: the first 16 hex digits of
// its SHA-256, enough to correlate lines, not to recover the openid.
func HashOpenID(openid string) string {
	sum := sha256.Sum256([]byte("wxcard-openid:" + openid))
	return hex.EncodeToString(sum[:8])
}

// TokenPrefix is how a token appears in logs: its first 4 characters.
func TokenPrefix(tok string) string {
	if len(tok) <= 4 {
		return "…"
	}
	return tok[:4] + "…"
}

// decodeBody reads and checks a JSON body into v.
func decodeBody(ev *events.APIGatewayV2HTTPRequest, v any) *apigw.Error {
	body, aerr := apigw.Body(ev)
	if aerr != nil {
		return aerr
	}
	if err := membercard.Decode(body, v); err != nil {
		return FromFieldError(err)
	}
	return nil
}

// pathParam returns a path parameter checked to the strict ID alphabet, so
// that, escaped, it can never change which API is called.
func pathParam(ev *events.APIGatewayV2HTTPRequest, name string, max int) (string, *apigw.Error) {
	v := ev.PathParameters[name]
	if err := membercard.CheckID(name, v, max); err != nil {
		return "", FromFieldError(err)
	}
	return v, nil
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only strings and bools: cannot fail
	}
	return b
}

// PreToken serves POST /brand/card-member/pre-auth-tokens, signing as a brand.
type PreToken struct {
	Upstream Caller
	Policy   Policy
	Logger   *slog.Logger
	Metrics  *metrics.Emitter // nil: no metrics
}

// Handle serves one event.
func (h *PreToken) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return serve(ctx, h.Logger, h.Metrics, h.Upstream, membercard.BrandPreAuthTokensPath, &ev, func(out *outcome) (wxpay.Request, *apigw.Error) {
		var req membercard.BrandPreAuthTokenRequest
		if aerr := h.Policy.readTokenRequest(&ev, out, &req, &req.OpenID); aerr != nil {
			return wxpay.Request{}, aerr
		}
		if aerr := h.Policy.CheckCard(req.CardID); aerr != nil {
			return wxpay.Request{}, aerr
		}
		return wxpay.Request{Method: http.MethodPost, Path: membercard.BrandPreAuthTokensPath, Route: membercard.BrandPreAuthTokensPath, Body: marshal(req)}, nil
	}, "token"), nil
}

// PartnerToken serves POST /v3/brand/partner/card-member/pre-auth-tokens
// and its older name …/open-user-card-tokens, always calling the current
// upstream path, signing as a service provider.
type PartnerToken struct {
	Upstream Caller
	Policy   Policy
	Logger   *slog.Logger
	Metrics  *metrics.Emitter // nil: no metrics
}

// Handle serves one event.
func (h *PartnerToken) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return serve(ctx, h.Logger, h.Metrics, h.Upstream, membercard.PartnerPreAuthTokensPath, &ev, func(out *outcome) (wxpay.Request, *apigw.Error) {
		var req membercard.PartnerPreAuthTokenRequest
		if aerr := h.Policy.readTokenRequest(&ev, out, &req, &req.OpenID); aerr != nil {
			return wxpay.Request{}, aerr
		}
		if aerr := h.Policy.checkBrand(req.BrandID); aerr != nil {
			return wxpay.Request{}, aerr
		}
		if aerr := h.Policy.CheckCard(req.CardID); aerr != nil {
			return wxpay.Request{}, aerr
		}
		return wxpay.Request{Method: http.MethodPost, Path: membercard.PartnerPreAuthTokensPath, Route: membercard.PartnerPreAuthTokensPath, Body: marshal(req)}, nil
	}, "token"), nil
}

// PermissionTokenHandler serves POST
// /v3/marketing/membercard-open/cards/{card_id}/permission-tokens.
type PermissionTokenHandler struct {
	Upstream Caller
	Policy   Policy
	Logger   *slog.Logger
	Metrics  *metrics.Emitter // nil: no metrics
}

// Handle serves one event.
func (h *PermissionTokenHandler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return serve(ctx, h.Logger, h.Metrics, h.Upstream, membercard.PermissionTokensRoute, &ev, func(*outcome) (wxpay.Request, *apigw.Error) {
		if aerr := apigw.Method(&ev, http.MethodPost); aerr != nil {
			return wxpay.Request{}, aerr
		}
		cardID, aerr := pathParam(&ev, "card_id", 32)
		if aerr != nil {
			return wxpay.Request{}, aerr
		}
		var req membercard.PermissionTokenRequest
		if aerr := decodeBody(&ev, &req); aerr != nil {
			return wxpay.Request{}, aerr
		}
		if err := req.Validate(); err != nil {
			return wxpay.Request{}, FromFieldError(err)
		}
		if aerr := h.Policy.CheckCard(cardID); aerr != nil {
			return wxpay.Request{}, aerr
		}
		return wxpay.Request{Method: http.MethodPost, Path: membercard.PermissionTokensPath(cardID), Route: membercard.PermissionTokensRoute, Body: marshal(req)}, nil
	}, "permission_token"), nil
}
