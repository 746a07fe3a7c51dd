// Package localapi runs the functions' handlers behind a local HTTP
// server, turning each request into the API Gateway HTTP API (payload 2.0)
// event API Gateway would send, like `sam local start-api`. By default
// WeChat Pay is an embedded wxpaytest sandbox with generated keys and the
// secrets live in memory; with WXPAY_SECRET_ID set, the real secrets and
// the real WeChat Pay are used.
package localapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/internal/authority"
	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/lambdaapp"
	"github.com/wxcard/wxcard/internal/refresh"
	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
	"github.com/wxcard/wxcard/pkg/wxlogin/wxlogintest"
	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// HandlerFunc is a function's HTTP API handler.
type HandlerFunc func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Route is one API Gateway route: "METHOD /path/{param}".
type Route struct {
	Key     string
	Handler HandlerFunc
}

// maxLocalBody is what the local server reads of a body; the handler
// itself refuses anything over 16 KiB, as it does behind API Gateway.
const maxLocalBody = 1 << 20

// NewServer is the local API's HTTP server: a request must arrive whole
// within readTimeout, so a body shorter than its Content-Length, or a
// client that stops sending, never holds a connection for ever.
func NewServer(h http.Handler, readTimeout time.Duration) *http.Server {
	return &http.Server{
		Handler: h, ReadHeaderTimeout: readTimeout, ReadTimeout: readTimeout,
		WriteTimeout: 3 * readTimeout, IdleTimeout: 6 * readTimeout,
	}
}

// Handler serves routes as API Gateway would invoke the functions. It
// answers only requests whose Host is a loopback address or localhost: a
// web page whose name an attacker points at 127.0.0.1 (DNS rebinding)
// gets 403, not the local sign-in and the token routes.
func Handler(routes []Route) http.Handler {
	mux := http.NewServeMux()
	guarded := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			resp := apigw.Forbidden("Host", "is not a loopback address of this local API").Respond()
			for k, v := range resp.Headers {
				w.Header().Set(k, v)
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = io.WriteString(w, resp.Body)
			return
		}
		mux.ServeHTTP(w, r)
	})
	for _, rt := range routes {
		mux.HandleFunc(rt.Key, func(w http.ResponseWriter, r *http.Request) {
			serve(w, r, rt)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"message":"Not Found"}`)
	})
	return guarded
}

// loopbackHost: host, with or without a port, is localhost or a loopback IP.
func loopbackHost(host string) bool {
	if name, _, err := net.SplitHostPort(host); err == nil {
		host = name
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.EqualFold(host, "localhost") || net.ParseIP(host).IsLoopback()
}

func serve(w http.ResponseWriter, r *http.Request, rt Route) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxLocalBody))
	if err != nil {
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	requestID := hex.EncodeToString(idb[:])
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: rt.Key, RawPath: r.URL.Path, RawQueryString: r.URL.RawQuery,
		Headers: map[string]string{}, PathParameters: map[string]string{},
	}
	for k, v := range r.Header {
		ev.Headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	ev.Headers["host"] = r.Host // net/http keeps it apart; API Gateway passes it on
	if raw, ok := ev.Headers[ClaimsHeader]; ok {
		delete(ev.Headers, ClaimsHeader)
		claims, err := parseClaims(raw)
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"message":"Unauthorized"}`)
			return
		}
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	for _, name := range []string{"card_id", "brand_id", "user_card_code", "code"} {
		if v := r.PathValue(name); v != "" {
			ev.PathParameters[name] = v
		}
	}
	if len(ev.PathParameters) == 0 {
		ev.PathParameters = nil
	}
	// API Gateway joins a repeated query parameter's values with commas.
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = make(map[string]string, len(q))
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	// API Gateway base64-encodes bodies it considers binary; JSON is text.
	if ct := r.Header.Get("Content-Type"); len(body) > 0 && !strings.Contains(ct, "json") && !strings.HasPrefix(ct, "text/") {
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	} else {
		ev.Body = string(body)
	}
	ev.RequestContext.HTTP.Method = r.Method
	ev.RequestContext.HTTP.Path = r.URL.Path
	ev.RequestContext.HTTP.Protocol = r.Proto
	ev.RequestContext.HTTP.SourceIP, _, _ = net.SplitHostPort(r.RemoteAddr)
	ev.RequestContext.HTTP.UserAgent = r.UserAgent()
	ev.RequestContext.RequestID = requestID
	ev.RequestContext.RouteKey = rt.Key
	ev.RequestContext.Stage = "$default"
	ev.RequestContext.TimeEpoch = time.Now().UnixMilli()

	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: requestID})
	resp, err := rt.Handler(ctx, ev)
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"message":"Internal Server Error"}`)
		return
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	out := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if out, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			out = nil
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

// ClaimsHeader stands in for the caller's JWT in the local API: a JSON
// object of claims, handed to the functions as API Gateway's JWT
// authorizer would after validating a token. Only the local runner reads
// it, and only while EnableSignIn has not put the token routes behind
// bearer tokens (TOKEN_ROUTES_AUTHORIZATION=JWT); a deployed API has no
// such header.
const ClaimsHeader = "x-wxcard-jwt-claims"

// parseClaims reads ClaimsHeader's JSON object into claims the way API
// Gateway hands them to a function: strings as they are, anything else as
// its text (an array of a and b becomes "[a b]").
func parseClaims(raw string) (map[string]string, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, fmt.Errorf("%s is not a JSON object: %w", ClaimsHeader, err)
	}
	claims := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			claims[k] = s
		} else {
			claims[k] = fmt.Sprint(v)
		}
	}
	return claims, nil
}

// Sandbox IDs: what the embedded WeChat Pay knows.
const (
	SandboxBrandID = "1004"
	SandboxMchID   = "1900000001"
	SandboxCardID  = "pbLatjvWOibDc5-TBnbUk1pD12o0"
	SandboxOpenID  = "obLatjnx9gnqzS4myYGmLZ7LgLBA"
)

// SandboxBrands are the brands whose product authorities the sandbox knows.
var SandboxBrands = []string{"1004", "1005", "1006"}

// Stack is what the local API runs on.
type Stack struct {
	Routes  []Route
	Sandbox *membercardtest.Server // nil when the real WeChat Pay is used
	// Events are what the authorities functions would publish to the bus;
	// set its Out before serving to print them.
	Events *eventbus.Memory
	// Login is the embedded login stand-in once EnableSignIn ran.
	Login *wxlogintest.Server

	env    lambdaapp.Env
	logger *slog.Logger
	close  func()
}

// Close releases the stack.
func (s *Stack) Close() {
	if s.close != nil {
		s.close()
	}
}

// NewSandboxStack builds the handlers against an embedded WeChat Pay
// sandbox; the two secrets are generated and held in memory, and parsed by
// the same code as the ones from Secrets Manager.
func NewSandboxStack(ctx context.Context, env lambdaapp.Env, logger *slog.Logger) (*Stack, error) {
	srv := membercardtest.NewServer(wxpaytest.Options{RateLimits: true})
	srv.AddCard(SandboxCardID)
	brands := append(slices.Clone(SandboxBrands), SandboxRevocableBrand)
	for _, b := range brands {
		srv.SetAuthorities(sandboxAuthority(b))
	}
	if len(env.AuthorityBrandIDs) == 0 {
		env.AuthorityBrandIDs = brands
	}
	secrets := map[wxsign.Scheme][]byte{
		wxsign.Brand:    sandboxBrandSecret(srv.Server),
		wxsign.Merchant: sandboxPartnerSecret(srv.Server),
	}
	env.BaseURL, env.BackupURL = srv.URL, "-"
	hc := srv.Client()
	upstream := func(kind wxsign.Scheme) (cardapi.Caller, error) {
		name := "sandbox/" + kind.IDParam()
		return lambdaapp.NewUpstream(ctx, env, func(context.Context) (*secret.Identity, error) {
			return secret.Parse(name, secrets[kind], kind)
		}, hc, logger)
	}
	brand, err := upstream(wxsign.Brand)
	if err != nil {
		srv.Close()
		return nil, err
	}
	partner, err := upstream(wxsign.Merchant)
	if err != nil {
		srv.Close()
		return nil, err
	}
	bus := newMemberBus(logger, brand, partner)
	events := bus.Memory
	routes, err := routes(env, logger, func(kind wxsign.Scheme) (cardapi.Caller, error) {
		if kind == wxsign.Brand {
			return brand, nil
		}
		return partner, nil
	}, events)
	if err != nil {
		srv.Close()
		return nil, err
	}
	routes = append(routes, sandboxAuthorityRoutes(srv, brands)...)
	// Both card-events routes, each with its identity's notification key;
	// what they publish goes through the member queue's consumer.
	for _, kind := range []wxsign.Scheme{wxsign.Merchant, wxsign.Brand} {
		name := "sandbox/" + kind.IDParam()
		notify, err := cardEventsRoute(ctx, logger, bus, func(context.Context) (*secret.Identity, error) {
			return secret.Parse(name, secrets[kind], kind)
		}, name)
		if err != nil {
			srv.Close()
			return nil, err
		}
		routes = append(routes, notify)
	}
	// The member API (member care), sharing the members and the bus with
	// the member queue's consumer; membercard-open is called as the
	// merchant.
	tokenPolicy, err := env.TokenPolicy()
	if err != nil {
		srv.Close()
		return nil, err
	}
	routes = append(routes, bus.memberRoutes(partner, tokenPolicy, logger)...)
	routes = append(routes, sandboxCardRoutes(srv)...)
	return &Stack{Routes: routes, Sandbox: srv, Events: events, env: env, logger: logger, close: srv.Close}, nil
}

// NewRealStack builds the handlers against real WeChat Pay with the
// service-provider secret in env.SecretID and the brand secret in
// brandSecretID (either may be empty; its routes then answer 503).
func NewRealStack(ctx context.Context, env lambdaapp.Env, brandSecretID string, logger *slog.Logger) (*Stack, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	sm := secretsmanager.NewFromConfig(awsCfg)
	hc := wxpay.NewHTTPClient(nil)
	upstream := func(kind wxsign.Scheme) (cardapi.Caller, error) {
		id := env.SecretID
		if kind == wxsign.Brand {
			id = brandSecretID
		}
		if id == "" {
			return notConfigured{}, nil
		}
		return lambdaapp.NewUpstream(ctx, env, func(ctx context.Context) (*secret.Identity, error) {
			return secret.Load(ctx, sm, id, kind)
		}, hc, logger)
	}
	events := &eventbus.Memory{}
	routes, err := routes(env, logger, upstream, events)
	if err != nil {
		return nil, err
	}
	if env.SecretID != "" {
		// The card-events route, when the service-provider secret has the
		// API v3 key it needs; state and bus stay in memory.
		notify, err := cardEventsRoute(ctx, logger, events, func(ctx context.Context) (*secret.Identity, error) {
			return secret.Load(ctx, sm, env.SecretID, wxsign.Merchant)
		}, env.SecretID)
		if err != nil {
			logger.Warn("POST /notify/card-events is not served", "error", err.Error())
		} else {
			routes = append(routes, notify)
		}
	}
	return &Stack{Routes: routes, Events: events, env: env, logger: logger}, nil
}

// notConfigured answers for routes whose secret was not given.
type notConfigured struct{}

var errNotConfigured = errors.New("no secret configured for this route")

func (notConfigured) Do(context.Context, wxpay.Request) (*wxpay.Response, error) {
	return nil, &wxpay.APIError{Status: http.StatusServiceUnavailable, Code: "NOT_CONFIGURED", Message: errNotConfigured.Error()}
}

// routes wires the template's token and authorities routes to their handlers, and
// the local refresh route; the authorities handlers record in memory and
// publish to events.
func routes(env lambdaapp.Env, logger *slog.Logger, upstream func(wxsign.Scheme) (cardapi.Caller, error), events *eventbus.Memory) ([]Route, error) {
	brand, err := upstream(wxsign.Brand)
	if err != nil {
		return nil, err
	}
	partner, err := upstream(wxsign.Merchant)
	if err != nil {
		return nil, err
	}
	tokenPolicy, err := env.TokenPolicy()
	if err != nil {
		return nil, err
	}
	policy := env.Policy()
	pre := &cardapi.PreToken{Upstream: brand, Policy: tokenPolicy, Logger: logger}
	partnerTok := &cardapi.PartnerToken{Upstream: partner, Policy: tokenPolicy, Logger: logger}
	perm := &cardapi.PermissionTokenHandler{Upstream: partner, Policy: policy, Logger: logger}
	store := &authority.Memory{}
	state := authorityState(store, events)
	auth := &cardapi.Authorities{Upstream: partner, Policy: policy, Logger: logger, State: state}
	queue := &memoryQueue{}
	sched := &refresh.Scheduler{Queue: queue, Snapshots: store, Listed: env.AuthorityBrandIDs, Logger: logger}
	checks := &countingChecker{Checker: &cardapi.BrandChecker{Upstream: partner, Logger: logger, State: state}}
	// The sandbox has no rate limit to keep under: no pacing.
	consume := refresh.NewConsumer(checks)
	consume.Logger = logger
	return []Route{
		{"POST " + membercard.BrandPreAuthTokensPath, pre.Handle},
		{"POST " + membercard.PartnerPreAuthTokensPath, partnerTok.Handle},
		{"POST " + membercard.PartnerOpenUserCardTokensPath, partnerTok.Handle},
		{"POST " + membercard.PermissionTokensRoute, perm.Handle},
		{"GET " + membercard.ProductAuthoritiesRoute, auth.Handle},
		refreshRoute(sched, consume, queue, checks),
	}, nil
}

// CurlLines are ready-to-paste requests against base, one per route, that
// succeed under env: when the token routes require a JWT, their lines
// carry the bearer token that SignInLines leave in $TOKEN, since without
// it the answer is 401.
func CurlLines(base string, env lambdaapp.Env) []string {
	post := func(path, body string, headers ...string) string {
		h := ""
		for _, v := range headers {
			h += " -H " + v
		}
		return fmt.Sprintf("curl -s -X POST %s%s -H 'Content-Type: application/json'%s -d '%s'", base, path, h, body)
	}
	var bearer []string
	if env.TokenRoutesAuthorization == lambdaapp.TokenAuthJWT {
		bearer = append(bearer, `"Authorization: Bearer $TOKEN"`)
	}
	return []string{
		post(membercard.BrandPreAuthTokensPath, `{"card_id":"`+SandboxCardID+`","openid":"`+SandboxOpenID+`"}`, bearer...),
		post(membercard.PartnerPreAuthTokensPath, `{"brand_id":"`+SandboxBrandID+`","card_id":"`+SandboxCardID+`","openid":"`+SandboxOpenID+`"}`, bearer...),
		post(membercard.PermissionTokensPath(SandboxCardID), `{"activate_type":"JUMP_ACTIVATE","activate_url":"https://example.com/activate","outer_str":"门店A"}`),
		fmt.Sprintf("curl -s %s%s", base, membercard.ProductAuthoritiesPath(SandboxBrandID)),
	}
}

// SignInLines sign the sandbox user in as a mini-program does: a login
// code from LoginRoute (wx.login's part), exchanged at POST /session for a
// token, left in the shell variables CODE and TOKEN.
func SignInLines(base string) []string {
	return []string{
		fmt.Sprintf(`CODE=$(curl -s -X POST %s%s -d '{"openid":"%s"}' | sed -E 's/.*"code":"([^"]+)".*/\1/')`, base, LoginRoute, SandboxOpenID),
		fmt.Sprintf(`TOKEN=$(curl -s -X POST %s/session -H 'Content-Type: application/json' -d "{\"code\":\"$CODE\"}" | sed -E 's/.*"token":"([^"]+)".*/\1/')`, base),
	}
}

// Env reads the local runner's environment through getenv: the functions'
// own settings, with WXPAY_SECRET_ID (service provider) and
// WXPAY_BRAND_SECRET_ID (brand) both optional, since the sandbox needs
// neither. It returns the brand secret ID beside the Env.
func Env(getenv func(string) string) (lambdaapp.Env, string, error) {
	partnerSecret := getenv("WXPAY_SECRET_ID")
	// lambdaapp.EnvFrom insists on a secret, as a deployed function must;
	// the local runner decides for itself which secrets it needs.
	env, err := lambdaapp.EnvFrom(func(k string) string {
		if k == "WXPAY_SECRET_ID" {
			return "local"
		}
		return getenv(k)
	})
	if err != nil {
		return env, "", err
	}
	env.SecretID = partnerSecret
	// Locally the token routes are open unless asked otherwise
	// (TOKEN_ROUTES_AUTHORIZATION=JWT: a bearer token from the local
	// sign-in; ClaimsHeader counts only while sign-in is not enabled).
	if env.TokenRoutesAuthorization == "" {
		env.TokenRoutesAuthorization = lambdaapp.TokenAuthNone
	}
	return env, getenv("WXPAY_BRAND_SECRET_ID"), nil
}
