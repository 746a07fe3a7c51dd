package lambdaapp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/pkg/wxpay"
)

// Credentials refresh policy: a key rotation is picked up within MaxAge, or
// right after WeChat Pay answers SIGN_ERROR (at most once per
// RetryAfterFailure, so a wrong key cannot hammer Secrets Manager).
const (
	MaxAge            = time.Hour
	RetryAfterFailure = time.Minute
	refreshTimeout    = 3 * time.Second
)

// LoadFunc fetches the current identity.
type LoadFunc func(ctx context.Context) (*secret.Identity, error)

// Upstream is a WeChat Pay client that follows its secret. It is built once
// at cold start; warm invocations reuse its client and connection pool and
// call Secrets Manager only when a refresh is due.
type Upstream struct {
	load   LoadFunc
	env    Env
	http   *http.Client
	logger *slog.Logger
	now    func() time.Time

	mu          sync.Mutex
	client      *wxpay.Client
	identity    *secret.Identity
	loadedAt    time.Time
	stale       bool
	lastAttempt time.Time
}

// NewUpstream loads the identity once (failing if it cannot) and builds the client.
func NewUpstream(ctx context.Context, env Env, load LoadFunc, hc *http.Client, logger *slog.Logger) (*Upstream, error) {
	u := &Upstream{load: load, env: env, http: hc, logger: logger, now: time.Now}
	id, err := load(ctx)
	if err != nil {
		return nil, err
	}
	if err := u.install(id); err != nil {
		return nil, err
	}
	return u, nil
}

// Identity returns the identity in use.
func (u *Upstream) Identity() *secret.Identity {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.identity
}

// Version is wxcard's version, sent as the product "wxcard/Version" in
// front of the wxpay library's User-Agent.
const Version = "0.1.0"

func (u *Upstream) install(id *secret.Identity) error {
	c, err := wxpay.New(wxpay.Config{
		BaseURL: u.env.BaseURL, BackupURL: u.env.BackupURL,
		Signer: id.Signer(), Verifier: id.Verifier(), PublicKeyID: id.PublicKeyID,
		HTTPClient: u.http, Logger: u.logger, Product: "wxcard/" + Version,
	})
	if err != nil {
		return err
	}
	u.client, u.identity, u.loadedAt, u.stale = c, id, u.now(), false
	return nil
}

// Do calls WeChat Pay with the current credentials.
func (u *Upstream) Do(ctx context.Context, req wxpay.Request) (*wxpay.Response, error) {
	c := u.current(ctx)
	resp, err := c.Do(ctx, req)
	var apiErr *wxpay.APIError
	if errors.As(err, &apiErr) && apiErr.Code == "SIGN_ERROR" {
		u.mu.Lock()
		u.stale = true
		u.mu.Unlock()
	}
	return resp, err
}

// current returns the client, refreshing the credentials first when due.
// A failed refresh keeps the credentials in use.
func (u *Upstream) current(ctx context.Context) *wxpay.Client {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := u.now()
	if !u.stale && now.Sub(u.loadedAt) < MaxAge {
		return u.client
	}
	if now.Sub(u.lastAttempt) < RetryAfterFailure {
		return u.client
	}
	u.lastAttempt = now
	reason := "age"
	if u.stale {
		reason = "SIGN_ERROR"
	}
	rctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	id, err := u.load(rctx)
	if err == nil {
		err = u.install(id)
	}
	if err != nil {
		u.logger.WarnContext(ctx, "credentials refresh failed; keeping the ones in use", "reason", reason, "error", err.Error())
		return u.client
	}
	u.logger.InfoContext(ctx, "credentials refreshed", "reason", reason, "public_key_id", id.PublicKeyID)
	return u.client
}
