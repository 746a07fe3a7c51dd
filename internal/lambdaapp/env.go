// Package lambdaapp is the plumbing every wxcard function shares: its
// environment, its JSON logger, the cold start that reads the credentials
// from Secrets Manager, and the WeChat Pay client that follows them.
package lambdaapp

import (
	"fmt"
	"os"
	"strings"

	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
)

// Env is a function's configuration, from its environment.
type Env struct {
	SecretID          string   // WXPAY_SECRET_ID (required)
	BaseURL           string   // WXPAY_BASE_URL
	BackupURL         string   // WXPAY_BACKUP_BASE_URL
	AuthorityBrandIDs []string // AUTHORITY_BRAND_IDS
	AllowedCardIDs    []string // ALLOWED_CARD_IDS (empty: any)
	AllowedBrandIDs   []string // ALLOWED_BRAND_IDS (empty: any)
	OpenIDClaim       string   // OPENID_CLAIM, the JWT claim bound to openid (default "openid")
	// NoPreconnect is WXPAY_PRECONNECT=off: the cold start does not open
	// the connection to WeChat Pay while it reads the secret.
	NoPreconnect bool
}

// EnvFrom reads the environment through getenv (os.Getenv in production).
func EnvFrom(getenv func(string) string) (Env, error) {
	e := Env{
		SecretID:    strings.TrimSpace(getenv("WXPAY_SECRET_ID")),
		BaseURL:     orDefault(getenv("WXPAY_BASE_URL"), wxpay.DefaultBaseURL),
		BackupURL:   orDefault(getenv("WXPAY_BACKUP_BASE_URL"), wxpay.DefaultBackupURL),
		OpenIDClaim: orDefault(getenv("OPENID_CLAIM"), "openid"),
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv("WXPAY_PRECONNECT"))); v {
	case "", "on":
	case "off":
		e.NoPreconnect = true
	default:
		return e, fmt.Errorf("WXPAY_PRECONNECT is %.20q: want on or off", v)
	}
	if e.SecretID == "" {
		return e, fmt.Errorf("WXPAY_SECRET_ID is not set: name the Secrets Manager secret with the WeChat Pay credentials")
	}
	var err error
	if e.AuthorityBrandIDs, err = idList("AUTHORITY_BRAND_IDS", getenv("AUTHORITY_BRAND_IDS"), 32); err != nil {
		return e, err
	}
	if e.AllowedCardIDs, err = idList("ALLOWED_CARD_IDS", getenv("ALLOWED_CARD_IDS"), 32); err != nil {
		return e, err
	}
	if e.AllowedBrandIDs, err = idList("ALLOWED_BRAND_IDS", getenv("ALLOWED_BRAND_IDS"), 32); err != nil {
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

// idList parses a comma-separated list of IDs, refusing a malformed one at
// start rather than silently never matching it.
func idList(name, v string, max int) ([]string, error) {
	var out []string
	for _, id := range strings.Split(v, ",") {
		if id = strings.TrimSpace(id); id == "" {
			continue
		}
		if err := membercard.CheckID(name, id, max); err != nil {
			return nil, fmt.Errorf("%s: entry %q: %w", name, id, err)
		}
		out = append(out, id)
	}
	return out, nil
}
