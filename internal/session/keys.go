package session

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/internal/metrics"
)

// The keys function's routes.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks.json"
)

// KeysCacheControl is both answers' caching: five minutes, the shortest
// token lifetime (SESSION_TOKEN_TTL ≥ 300 s). A key added by a rotation is
// seen by every caching verifier within that time, and a verifier that
// fetches per request (or a burst of unknown kids) costs at most one
// invocation per cache per five minutes; the rotation procedure keeps an
// old key published far longer than that (until its last token expired).
const KeysCacheControl = "public, max-age=300"

// Keys serves the issuer's discovery document and JWKS. Build it once at
// cold start with NewKeys (or KeysFromEnv); it is safe for concurrent use.
type Keys struct {
	issuer  string // "" derives it from each request's domain name
	jwks    []byte
	logger  *slog.Logger
	metrics *metrics.Emitter
}

// NewKeys returns the handler publishing pubs (the signing key first, then
// the previous ones; duplicates are published once). issuer "" derives
// the issuer from each request, "https://" + its domain name, which is
// right when the keys are served from the issuer's own host (a Lambda
// function URL).
func NewKeys(issuer string, pubs []crypto.PublicKey, logger *slog.Logger, em *metrics.Emitter) (*Keys, error) {
	if len(pubs) == 0 {
		return nil, errors.New("session: no key to publish")
	}
	if issuer != "" {
		if err := CheckIssuer(issuer); err != nil {
			return nil, err
		}
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	seen := map[string]bool{}
	for _, pub := range pubs {
		kid, err := KeyID(pub)
		if err != nil {
			return nil, err
		}
		if seen[kid] {
			continue
		}
		seen[kid] = true
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Keys{issuer: issuer, jwks: b, logger: logger, metrics: em}, nil
}

// CheckIssuer accepts an issuer as a JWT authorizer does: an https URL
// with a host and nothing after the path, no trailing slash. Plain http is
// accepted for loopback hosts only (the local sandbox).
func CheckIssuer(iss string) error {
	u, err := url.Parse(iss)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(iss, "/") {
		return errors.New("session: the issuer must be an https:// URL without a query, fragment or trailing slash")
	}
	loopback := u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1" || u.Hostname() == "::1"
	if u.Scheme != "https" && (u.Scheme != "http" || !loopback) {
		return errors.New("session: the issuer must be an https:// URL (http:// only for localhost)")
	}
	return nil
}

// Discovery is the OpenID discovery document the keys function serves.
type Discovery struct {
	Issuer        string   `json:"issuer"`
	JWKSURI       string   `json:"jwks_uri"`
	SigningAlgs   []string `json:"id_token_signing_alg_values_supported"`
	ResponseTypes []string `json:"response_types_supported"`
	SubjectTypes  []string `json:"subject_types_supported"`
}

// Handle serves one event: GET of either path; other paths 404, other
// methods 405.
func (k *Keys) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	start := time.Now()
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	route := path
	if path != DiscoveryPath && path != JWKSPath {
		route = "other"
	}
	m := k.metrics.New(route)
	m.Count("Requests", 1)
	defer k.metrics.Flush(m)
	resp, aerr := k.serve(&ev, path)
	status := resp.StatusCode
	outcome := "OK"
	if aerr != nil {
		aerr.RequestID = ev.RequestContext.RequestID
		resp = aerr.Respond()
		status, outcome = aerr.Status, aerr.Code
		if aerr.Status == http.StatusMethodNotAllowed {
			resp.Headers["Allow"] = http.MethodGet
		}
	}
	m.Count("Outcome", 1)
	m.SetDimension("outcome", outcome)
	k.logger.LogAttrs(ctx, slog.LevelInfo, "keys request", slog.String("route", route), slog.Int("status", status),
		slog.String("code", outcome), slog.String("api_request_id", ev.RequestContext.RequestID),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
	return resp, nil
}

func (k *Keys) serve(ev *events.APIGatewayV2HTTPRequest, path string) (events.APIGatewayV2HTTPResponse, *apigw.Error) {
	if path != DiscoveryPath && path != JWKSPath {
		return events.APIGatewayV2HTTPResponse{}, &apigw.Error{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "no such path: the issuer serves " + DiscoveryPath + " and " + JWKSPath}
	}
	if aerr := apigw.Method(ev, http.MethodGet); aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	body := k.jwks
	if path == DiscoveryPath {
		iss := k.issuer
		if iss == "" {
			iss = "https://" + ev.RequestContext.DomainName
			if !isHost(ev.RequestContext.DomainName) {
				return events.APIGatewayV2HTTPResponse{}, &apigw.Error{Status: http.StatusInternalServerError, Code: "CONFIGURATION_ERROR", Message: "the issuer cannot be derived from the request: set SESSION_ISSUER"}
			}
		}
		body, _ = json.Marshal(Discovery{ // strings only: cannot fail
			Issuer: iss, JWKSURI: iss + JWKSPath,
			SigningAlgs: []string{string(jose.RS256)}, ResponseTypes: []string{"id_token"}, SubjectTypes: []string{"public"},
		})
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"Content-Type": "application/json", "Cache-Control": KeysCacheControl},
		Body:       string(body),
	}, nil
}

// isHost: a domain name (with an optional port), nothing else, so that the
// derived issuer is exactly "https://" + the host the caller reached.
func isHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':'
		if !ok {
			return false
		}
	}
	return true
}
