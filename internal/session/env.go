package session

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxcard/wxcard/internal/kmssign"
	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/pkg/wxlogin"
)

// Token lifetime bounds and default (SESSION_TOKEN_TTL, seconds).
const (
	MinTokenTTL     = 300 * time.Second
	MaxTokenTTL     = 86400 * time.Second
	DefaultTokenTTL = 3600 * time.Second
)

// Config is the sign-in's environment (design.md, "Sign-in").
type Config struct {
	SecretID     string        // MINIPROGRAM_SECRET_ID (sign-in: required)
	LoginBaseURL string        // WXLOGIN_BASE_URL, default wxlogin.DefaultBaseURL
	KeyID        string        // SESSION_KMS_KEY_ID (required)
	PreviousKeys []string      // SESSION_PREVIOUS_KMS_KEY_IDS, comma-separated
	Audience     string        // SESSION_AUDIENCE (sign-in: required)
	Issuer       string        // SESSION_ISSUER (sign-in: required; keys: "" derives it)
	TokenTTL     time.Duration // SESSION_TOKEN_TTL, 300–86400 s, default 3600
	OpenIDClaim  string        // OPENID_CLAIM, default "openid"; no registered claim
}

// SignInConfigFromEnv reads the sign-in function's environment through
// getenv (os.Getenv in production), refusing anything missing or malformed.
func SignInConfigFromEnv(getenv func(string) string) (Config, error) {
	c, err := configFromEnv(getenv)
	if err != nil {
		return c, err
	}
	switch {
	case c.SecretID == "":
		return c, errors.New("MINIPROGRAM_SECRET_ID is not set: name the Secrets Manager secret {\"appid\",\"app_secret\"} of the mini-program")
	case c.Audience == "":
		return c, errors.New("SESSION_AUDIENCE is not set: the aud of the tokens, which the token routes' authorizer requires")
	case c.Issuer == "":
		return c, errors.New("SESSION_ISSUER is not set: the iss of the tokens, the URL that serves the discovery document")
	}
	for _, r := range c.Audience {
		if r < 0x20 || r == 0x7f {
			return c, errors.New("SESSION_AUDIENCE must not contain control characters")
		}
	}
	return c, nil
}

// KeysConfigFromEnv reads the keys function's environment: the signing
// key, the previous ones and, optionally, the issuer.
func KeysConfigFromEnv(getenv func(string) string) (Config, error) { return configFromEnv(getenv) }

func configFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		SecretID:     strings.TrimSpace(getenv("MINIPROGRAM_SECRET_ID")),
		LoginBaseURL: strings.TrimSpace(getenv("WXLOGIN_BASE_URL")),
		KeyID:        strings.TrimSpace(getenv("SESSION_KMS_KEY_ID")),
		Audience:     strings.TrimSpace(getenv("SESSION_AUDIENCE")),
		Issuer:       strings.TrimSpace(getenv("SESSION_ISSUER")),
		OpenIDClaim:  strings.TrimSpace(getenv("OPENID_CLAIM")),
		TokenTTL:     DefaultTokenTTL,
	}
	if c.LoginBaseURL == "" {
		c.LoginBaseURL = wxlogin.DefaultBaseURL
	}
	if c.OpenIDClaim == "" {
		c.OpenIDClaim = "openid"
	}
	if err := checkOpenIDClaim(c.OpenIDClaim); err != nil {
		return c, err
	}
	if c.KeyID == "" {
		return c, errors.New("SESSION_KMS_KEY_ID is not set: the KMS key (RSA_2048, SIGN_VERIFY) that signs the tokens")
	}
	seen := map[string]bool{c.KeyID: true}
	for _, id := range strings.Split(getenv("SESSION_PREVIOUS_KMS_KEY_IDS"), ",") {
		if id = strings.TrimSpace(id); id != "" && !seen[id] {
			seen[id] = true
			c.PreviousKeys = append(c.PreviousKeys, id)
		}
	}
	if v := strings.TrimSpace(getenv("SESSION_TOKEN_TTL")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || time.Duration(n)*time.Second < MinTokenTTL || time.Duration(n)*time.Second > MaxTokenTTL {
			return c, fmt.Errorf("SESSION_TOKEN_TTL is %.20q: want whole seconds from %d to %d", v, int(MinTokenTTL/time.Second), int(MaxTokenTTL/time.Second))
		}
		c.TokenTTL = time.Duration(n) * time.Second
	}
	if c.Issuer != "" {
		if err := CheckIssuer(c.Issuer); err != nil {
			return c, fmt.Errorf("SESSION_ISSUER %.80q: %w", c.Issuer, err)
		}
	}
	return c, nil
}

// BootTimeout bounds the sign-in's cold start reads of the secret and the
// public key (the keys function's are KeysReadBudget).
const BootTimeout = 5 * time.Second

// Deps are what a cold start is given besides the environment: how to read
// the mini-program secret, the KMS client (nil: built from the
// environment, AWS_ENDPOINT_URL_KMS applying) and where to log and count.
type Deps struct {
	// ReadMiniProgram reads the secret MINIPROGRAM_SECRET_ID names
	// (internal/secret.MiniProgramReader over Secrets Manager); the sign-in
	// needs it, the keys function holds no secret. It is a function, not a
	// client, so that the keys function links no Secrets Manager client.
	ReadMiniProgram func(ctx context.Context, secretID string) (appID, appSecret string, err error)
	KMS             kmssign.API
	// LoginHTTPClient calls WeChat; nil is wxlogin.NewHTTPClient(nil).
	LoginHTTPClient *http.Client
	Logger          *slog.Logger
	Metrics         *metrics.Emitter
	Now             func() time.Time
	// Sleep waits d or until ctx ends (its error); nil is a timer. The
	// keys function waits with it between reads of a key; tests pass one
	// that moves their Now instead.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (d *Deps) kms(getenv func(string) string) (kmssign.API, error) {
	if d.KMS != nil {
		return d.KMS, nil
	}
	c, err := kmssign.ClientFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("AWS environment: %w", err)
	}
	return c, nil
}

// SignInFromEnv is the sign-in function's cold start: the environment,
// the mini-program secret (refused naming the field, never the value), the
// signing key's public half from KMS, and the code2Session client.
func SignInFromEnv(ctx context.Context, getenv func(string) string, deps Deps) (*SignIn, error) {
	cfg, err := SignInConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, BootTimeout)
	defer cancel()
	if deps.ReadMiniProgram == nil {
		return nil, errors.New("the sign-in has no reader of MINIPROGRAM_SECRET_ID")
	}
	api, err := deps.kms(getenv)
	if err != nil {
		return nil, err
	}
	// The secret and the public key are read at the same time: a cold
	// start waits for the slower, not for both.
	type keyResult struct {
		s   *kmssign.Signer
		err error
	}
	kc := make(chan keyResult, 1)
	go func() {
		s, err := kmssign.New(ctx, api, cfg.KeyID)
		kc <- keyResult{s, err}
	}()
	appID, appSecret, err := deps.ReadMiniProgram(ctx, cfg.SecretID)
	kr := <-kc
	if err != nil {
		return nil, err
	}
	if kr.err != nil {
		return nil, fmt.Errorf("SESSION_KMS_KEY_ID: %w", kr.err)
	}
	tokens, err := NewTokens(kr.s, TokenConfig{Issuer: cfg.Issuer, Audience: cfg.Audience, TTL: cfg.TokenTTL, OpenIDClaim: cfg.OpenIDClaim, Now: deps.Now})
	if err != nil {
		return nil, err
	}
	hc := deps.LoginHTTPClient
	if hc == nil {
		hc = wxlogin.NewHTTPClient(nil)
	}
	login, err := wxlogin.New(wxlogin.Config{BaseURL: cfg.LoginBaseURL, AppID: appID, AppSecret: appSecret, HTTPClient: hc})
	if err != nil {
		return nil, fmt.Errorf("WXLOGIN_BASE_URL: %w", err)
	}
	return NewSignIn(login, tokens, deps.Logger, deps.Metrics, deps.Now), nil
}

// KeysFromEnv is the keys function's cold start: the public keys of
// SESSION_KMS_KEY_ID and SESSION_PREVIOUS_KMS_KEY_IDS, read once from KMS
// (GetPublicKey only; no secret).
//
// API Gateway reads the issuer's keys when it creates the JWT authorizer,
// seconds after the stack made this function's role and, often, its key:
// a read that may heal (AccessDenied while IAM propagates, throttling,
// KMS's internal errors, no answer) is retried for up to KeysReadBudget.
// The current key is required: unread, the function refuses to start. A
// previous key that cannot be read is left out of the JWKS, logged (the
// variable, the key and the error's code) and counted as
// PreviousKeyUnreadable: only its tokens fail, not every token.
func KeysFromEnv(ctx context.Context, getenv func(string) string, deps Deps) (*Keys, error) {
	cfg, err := KeysConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	api, err := deps.kms(getenv)
	if err != nil {
		return nil, err
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &keyReader{api: api, now: deps.Now, sleep: deps.Sleep}
	if r.now == nil {
		r.now = time.Now
	}
	if r.sleep == nil {
		r.sleep = sleepCtx
	}
	r.deadline = r.now().Add(KeysReadBudget)
	ctx, cancel := context.WithTimeout(ctx, KeysReadBudget)
	defer cancel()
	ids := append([]string{cfg.KeyID}, cfg.PreviousKeys...)
	pubs := make([]crypto.PublicKey, len(ids))
	errs := make([]*readError, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			pub, attempts, err := r.read(ctx, id, i > 0)
			if err != nil {
				env := "SESSION_KMS_KEY_ID"
				if i > 0 {
					env = "SESSION_PREVIOUS_KMS_KEY_IDS"
				}
				errs[i] = &readError{env: env, keyID: id, attempts: attempts, err: err}
				return
			}
			if attempts > 1 {
				logger.WarnContext(ctx, "session key read after retries", "key_id", id, "attempts", attempts)
			}
			pubs[i] = pub
		})
	}
	wg.Wait()
	unreadable := 0
	for _, e := range errs[1:] {
		if e == nil {
			continue
		}
		unreadable++
		// Key ARNs are not secrets; the error names the key, the operation
		// and KMS's answer, never a token.
		logger.ErrorContext(ctx, "previous session key unreadable: left out of the JWKS, its tokens fail",
			"env", e.env, "key_id", e.keyID, "code", errorCode(e.err), "attempts", e.attempts, "error", e.err.Error())
	}
	if unreadable > 0 {
		m := deps.Metrics.NewColdStart()
		m.Count("PreviousKeyUnreadable", unreadable)
		deps.Metrics.Flush(m)
	}
	if errs[0] != nil {
		return nil, errs[0]
	}
	published := pubs[:0:0]
	for _, p := range pubs {
		if p != nil {
			published = append(published, p)
		}
	}
	return NewKeys(cfg.Issuer, published, deps.Logger, deps.Metrics)
}
