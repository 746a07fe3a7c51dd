// Package lambdaapp is the cold start of the wxcard functions that hold
// WeChat Pay credentials: their environment, the read of the credentials
// from Secrets Manager, and the WeChat Pay client that follows them. What
// every function shares, whatever it links, is internal/lambdainit.
package lambdaapp

import (
	"fmt"
	"os"
	"strings"

	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/lambdainit"
	"github.com/wxcard/wxcard/pkg/wxpay"
)

// Env is a function's configuration, from its environment.
type Env struct {
	SecretID string // WXPAY_SECRET_ID (required but by BootEither)
	// BrandSecretID is WXPAY_BRAND_SECRET_ID: the brand secret of a
	// function that calls WeChat Pay as either identity (BootEither).
	BrandSecretID string
	BaseURL       string // WXPAY_BASE_URL (default wxpay.DefaultBaseURL)
	// BackupURL is WXPAY_BACKUP_BASE_URL; empty leaves the choice to
	// wxpay.Config: WeChat Pay's backup host when BaseURL is WeChat Pay's
	// own, none otherwise, so a function pointed at a stand-in never
	// fails over to the real WeChat Pay. "-" means none.
	BackupURL         string
	AuthorityBrandIDs []string // AUTHORITY_BRAND_IDS
	AllowedCardIDs    []string // ALLOWED_CARD_IDS (empty: any)
	AllowedBrandIDs   []string // ALLOWED_BRAND_IDS (empty: any)
	OpenIDClaim       string   // OPENID_CLAIM, the JWT claim bound to openid (default "openid")
	// TokenRoutesAuthorization is TOKEN_ROUTES_AUTHORIZATION, JWT or NONE:
	// how callers of the token routes are authenticated. The template sets
	// it from TokenRoutesAuthorization; the token functions refuse to start
	// without it ("" here), so that a missing setting never serves openids
	// unbound.
	TokenRoutesAuthorization string
	// DecryptSensitiveFields is DECRYPT_SENSITIVE_FIELDS=true (cardevents):
	// publish the fields WeChat Pay encrypts with the merchant's public
	// key decrypted.
	DecryptSensitiveFields bool
	// NoPreconnect is WXPAY_PRECONNECT=off: the cold start does not open
	// the connection to WeChat Pay while it reads the secret.
	NoPreconnect bool
}

// The two values of TOKEN_ROUTES_AUTHORIZATION.
const (
	TokenAuthJWT  = "JWT"
	TokenAuthNone = "NONE"
)

// TokenPolicy is the policy of a function that serves token routes: it
// requires TOKEN_ROUTES_AUTHORIZATION.
func (e Env) TokenPolicy() (cardapi.Policy, error) {
	if e.TokenRoutesAuthorization == "" {
		return cardapi.Policy{}, fmt.Errorf("TOKEN_ROUTES_AUTHORIZATION is not set: JWT (callers carry a token whose %q claim is their openid) or NONE (the body's openid stands)", e.OpenIDClaim)
	}
	p := e.Policy()
	p.RequireJWT = e.TokenRoutesAuthorization == TokenAuthJWT
	return p, nil
}

// Policy is the deployment's caller policy from the environment, for the
// functions that serve no token route.
func (e Env) Policy() cardapi.Policy {
	return cardapi.Policy{OpenIDClaim: e.OpenIDClaim, AllowedCardIDs: e.AllowedCardIDs, AllowedBrandIDs: e.AllowedBrandIDs}
}

// EnvFrom reads the environment through getenv (os.Getenv in production).
func EnvFrom(getenv func(string) string) (Env, error) {
	e, err := envFrom(getenv)
	if err == nil && e.SecretID == "" {
		err = fmt.Errorf("WXPAY_SECRET_ID is not set: name the Secrets Manager secret with the WeChat Pay credentials")
	}
	return e, err
}

// EitherEnvFrom reads the environment of a function that calls WeChat Pay
// as a brand (WXPAY_BRAND_SECRET_ID), as a service provider
// (WXPAY_SECRET_ID), or as both: at least one secret is required.
func EitherEnvFrom(getenv func(string) string) (Env, error) {
	e, err := envFrom(getenv)
	if err == nil && e.SecretID == "" && e.BrandSecretID == "" {
		err = fmt.Errorf("neither WXPAY_BRAND_SECRET_ID nor WXPAY_SECRET_ID is set: name the brand's or the service provider's Secrets Manager secret (or both)")
	}
	return e, err
}

func envFrom(getenv func(string) string) (Env, error) {
	e := Env{
		SecretID:      strings.TrimSpace(getenv("WXPAY_SECRET_ID")),
		BrandSecretID: strings.TrimSpace(getenv("WXPAY_BRAND_SECRET_ID")),
		BaseURL:       orDefault(getenv("WXPAY_BASE_URL"), wxpay.DefaultBaseURL),
		BackupURL:     strings.TrimSpace(getenv("WXPAY_BACKUP_BASE_URL")),
		OpenIDClaim:   orDefault(getenv("OPENID_CLAIM"), "openid"),
	}
	switch v := strings.TrimSpace(getenv("TOKEN_ROUTES_AUTHORIZATION")); v {
	case "", TokenAuthJWT, TokenAuthNone:
		e.TokenRoutesAuthorization = v
	default:
		return e, fmt.Errorf("TOKEN_ROUTES_AUTHORIZATION is %.20q: want JWT or NONE", v)
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv("DECRYPT_SENSITIVE_FIELDS"))); v {
	case "", "false":
	case "true":
		e.DecryptSensitiveFields = true
	default:
		return e, fmt.Errorf("DECRYPT_SENSITIVE_FIELDS is %.20q: want true or false", v)
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv("WXPAY_PRECONNECT"))); v {
	case "", "on":
	case "off":
		e.NoPreconnect = true
	default:
		return e, fmt.Errorf("WXPAY_PRECONNECT is %.20q: want on or off", v)
	}
	var err error
	if e.AuthorityBrandIDs, err = lambdainit.IDList("AUTHORITY_BRAND_IDS", getenv("AUTHORITY_BRAND_IDS"), 32); err != nil {
		return e, err
	}
	if e.AllowedCardIDs, err = lambdainit.IDList("ALLOWED_CARD_IDS", getenv("ALLOWED_CARD_IDS"), 32); err != nil {
		return e, err
	}
	if e.AllowedBrandIDs, err = lambdainit.IDList("ALLOWED_BRAND_IDS", getenv("ALLOWED_BRAND_IDS"), 32); err != nil {
		return e, err
	}
	return e, nil
}

// OSEnv reads the process environment.
func OSEnv() (Env, error) { return EnvFrom(os.Getenv) }

func orDefault(v, def string) string {
	if v = strings.TrimSpace(v); v == "" {
		return def
	}
	return v
}
