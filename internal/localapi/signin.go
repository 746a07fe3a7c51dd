package localapi

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/internal/kmssign"
	"github.com/wxcard/wxcard/internal/kmssign/kmssigntest"
	"github.com/wxcard/wxcard/internal/lambdaapp"
	"github.com/wxcard/wxcard/internal/memberapi"
	"github.com/wxcard/wxcard/internal/session"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxlogin"
	"github.com/wxcard/wxcard/pkg/wxlogin/wxlogintest"
)

// The local sign-in's sandbox: the mini-program the embedded login
// stand-in knows, and the audience of the tokens it issues (the
// template's SessionAudience default).
const (
	SandboxAppID    = "wx0000000000sandbox"
	SandboxAudience = "wxcard"
	// LoginRoute hands out a login code for an openid, as wx.login gives
	// one to the mini-program: body {"openid":"…"} or none (the sandbox
	// user) → {"code":"…"}.
	LoginRoute = "/local/wx-login"
)

// tokenRouteKeys are the routes the template puts behind the JWT
// authorizer under TokenRoutesAuthorization=JWT: the pre-auth tokens and
// the member API's activation and listing (its PATCH is an IAM route).
var tokenRouteKeys = []string{
	"POST " + membercard.BrandPreAuthTokensPath,
	"POST " + membercard.PartnerPreAuthTokensPath,
	"POST " + membercard.PartnerOpenUserCardTokensPath,
	memberapi.ActivateRoute,
	memberapi.MeRoute,
}

// localSignIn is what EnableSignIn runs: the login stand-in, the issuer
// and its one key.
type localSignIn struct {
	login    *wxlogintest.Server
	issuer   string
	audience string
	kid      string
	pub      *rsa.PublicKey
}

// EnableSignIn adds the sign-in routes to the stack with issuer as the
// tokens' iss (the local API's own base URL, http://127.0.0.1:PORT): POST
// /session against an embedded login stand-in, the issuer's discovery
// document and JWKS, and LoginRoute. The signing key is generated and held
// in memory behind a KMS stand-in, so tokens are signed by the same code
// as deployed. Under TOKEN_ROUTES_AUTHORIZATION=JWT the token routes then
// require a bearer token of this issuer, verified as API Gateway's JWT
// authorizer does: without one, or with one that fails, they answer 401
// and their handler never runs.
func (s *Stack) EnableSignIn(ctx context.Context, issuer string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generating the local signing key: %w", err)
	}
	kms := kmssigntest.New()
	kms.AddKey("local-session-key", key)
	signer, err := kmssign.New(ctx, kms, "local-session-key")
	if err != nil {
		return fmt.Errorf("local signing key: %w", err)
	}
	logger := s.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tokens, err := session.NewTokens(signer, session.TokenConfig{Issuer: issuer, Audience: SandboxAudience, TTL: session.DefaultTokenTTL, OpenIDClaim: s.env.OpenIDClaim})
	if err != nil {
		return err
	}
	keys, err := session.NewKeys(issuer, []crypto.PublicKey{signer.Public()}, logger, nil)
	if err != nil {
		return err
	}
	var sb [16]byte
	_, _ = rand.Read(sb[:])
	appSecret := hex.EncodeToString(sb[:])
	login := wxlogintest.NewServer(wxlogintest.Options{})
	login.AddApp(SandboxAppID, appSecret)
	client, err := wxlogin.New(login.Config(SandboxAppID, appSecret))
	if err != nil {
		login.Close()
		return err
	}
	si := &localSignIn{login: login, issuer: issuer, audience: SandboxAudience, kid: tokens.KeyID(), pub: &key.PublicKey}
	signIn := session.NewSignIn(client, tokens, logger, nil, nil)
	if s.env.TokenRoutesAuthorization == lambdaapp.TokenAuthJWT {
		for i, rt := range s.Routes {
			for _, k := range tokenRouteKeys {
				if rt.Key == k {
					s.Routes[i].Handler = si.authorize(rt.Handler)
				}
			}
		}
	}
	s.Routes = append(s.Routes,
		Route{"POST " + session.Route, signIn.Handle},
		Route{"GET " + session.DiscoveryPath, keys.Handle},
		Route{"GET " + session.JWKSPath, keys.Handle},
		Route{"POST " + LoginRoute, si.issueCode},
	)
	s.Login = login
	prev := s.close
	s.close = func() {
		login.Close()
		if prev != nil {
			prev()
		}
	}
	return nil
}

// issueCode serves LoginRoute: a one-time code (5 minutes) for the openid
// of the body, or the sandbox user's without a body.
func (si *localSignIn) issueCode(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	openid, aerr := loginOpenID(ev)
	if aerr != nil {
		return aerr.Respond(), nil
	}
	out, err := json.Marshal(map[string]string{"code": si.login.IssueCode(SandboxAppID, openid)})
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Headers: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}, Body: string(out)}, nil
}

// loginOpenID reads LoginRoute's body: {"openid":"…"}, or nothing for the
// sandbox user.
func loginOpenID(ev events.APIGatewayV2HTTPRequest) (string, *apigw.Error) {
	notJSON := apigw.ParamError("openid", `the body is not {"openid":"…"}`)
	body := ev.Body
	if ev.IsBase64Encoded {
		// curl -d without a JSON Content-Type: taken as it is, a local convenience.
		b, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return "", notJSON
		}
		body = string(b)
	}
	if strings.TrimSpace(body) == "" {
		return SandboxOpenID, nil
	}
	var in struct {
		OpenID *string `json:"openid"`
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || dec.More() {
		return "", notJSON
	}
	if in.OpenID == nil || !printableASCII(*in.OpenID, 128) {
		return "", apigw.ParamError("openid", "must be 1–128 characters of printable ASCII")
	}
	return *in.OpenID, nil
}

func printableASCII(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := range len(s) {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// authorize puts next behind the bearer token check. Claims from
// ClaimsHeader, which serve put on the event, are dropped: under JWT
// with sign-in enabled only a token of this issuer opens the token routes,
// as behind API Gateway, where no header stands in for one.
func (si *localSignIn) authorize(next HandlerFunc) HandlerFunc {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		claims := si.claims(ev.Headers["authorization"])
		if claims == nil {
			return events.APIGatewayV2HTTPResponse{
				StatusCode: http.StatusUnauthorized,
				Headers:    map[string]string{"Content-Type": "application/json", "Www-Authenticate": "Bearer"},
				Body:       `{"message":"Unauthorized"}`,
			}, nil
		}
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
		return next(ctx, ev)
	}
}

// claims are the claims of a valid token in header, nil without one.
func (si *localSignIn) claims(header string) map[string]string {
	c, err := si.verify(header, time.Now())
	if err != nil {
		return nil
	}
	return c
}

// errNoToken: the Authorization header is missing or not a bearer token.
var errNoToken = errors.New("no bearer token")

// verify checks a token as an HTTP API JWT authorizer does: RS256 only,
// signed by the key the issuer publishes under the header's kid, iss and
// aud as configured, exp and nbf (no leeway). It returns the claims as API
// Gateway hands them to a function. Like API Gateway, it takes the token
// with or without the "Bearer " prefix.
func (si *localSignIn) verify(header string, now time.Time) (map[string]string, error) {
	raw := strings.TrimSpace(header)
	if scheme, rest, ok := strings.Cut(raw, " "); ok && strings.EqualFold(scheme, "Bearer") {
		raw = strings.TrimSpace(rest)
	}
	if raw == "" {
		return nil, errNoToken
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, err
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID != si.kid {
		return nil, errors.New("unknown kid")
	}
	var std jwt.Claims
	var all map[string]any
	if err := tok.Claims(si.pub, &std, &all); err != nil {
		return nil, err
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: si.issuer, AnyAudience: jwt.Audience{si.audience}, Time: now}, 0); err != nil {
		return nil, err
	}
	if std.Expiry == nil {
		return nil, errors.New("no exp")
	}
	return claimStrings(all), nil
}

// claimStrings renders claims the way API Gateway hands them to a
// function: strings as they are, anything else as its text (an array of a
// and b becomes "[a b]").
func claimStrings(m map[string]any) map[string]string {
	claims := make(map[string]string, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case string:
			claims[k] = x
		case float64:
			claims[k] = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			claims[k] = fmt.Sprint(v)
		}
	}
	return claims
}
