package lambdaapp

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/internal/secret"
)

// Credentials refresh policy: a key rotation is picked up within MaxAge, or
// right after WeChat Pay says the keys are wrong (SIGN_ERROR, or an answer
// or notification signed by a key ID the secret does not hold), at most
// once per RetryAfterFailure, so a wrong key cannot hammer Secrets Manager.
const (
	MaxAge            = time.Hour
	RetryAfterFailure = time.Minute
	refreshTimeout    = 3 * time.Second
)

// LoadFunc fetches the current identity.
type LoadFunc func(ctx context.Context) (*secret.Identity, error)

// Credentials is a function's identity from its secret, read at cold start
// and refreshed by the policy above; warm invocations read no secret
// unless a refresh is due. A failed refresh keeps the identity in use. It
// is safe for concurrent use.
type Credentials struct {
	load   LoadFunc
	logger *slog.Logger
	now    func() time.Time
	// Metrics counts refreshes (SecretRefresh, by outcome); nil counts none.
	Metrics *metrics.Emitter

	mu          sync.Mutex
	identity    *secret.Identity
	loadedAt    time.Time
	stale       string // why a refresh is due before MaxAge, or ""
	lastAttempt time.Time
}

// NewCredentials loads the identity once, failing if it cannot.
func NewCredentials(ctx context.Context, load LoadFunc, logger *slog.Logger) (*Credentials, error) {
	c := &Credentials{load: load, logger: logger, now: time.Now}
	id, err := load(ctx)
	if err != nil {
		return nil, err
	}
	c.identity, c.loadedAt = id, c.now()
	return c, nil
}

// MarkStale asks for a refresh at the next Current, for reason (e.g.
// "SIGN_ERROR" or "unknown key ID").
func (c *Credentials) MarkStale(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stale = reason
}

// Current returns the identity, refreshing it first when due.
func (c *Credentials) Current(ctx context.Context) *secret.Identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.stale == "" && now.Sub(c.loadedAt) < MaxAge {
		return c.identity
	}
	if now.Sub(c.lastAttempt) < RetryAfterFailure {
		return c.identity
	}
	c.lastAttempt = now
	reason := c.stale
	if reason == "" {
		reason = "age"
	}
	rctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	id, err := c.load(rctx)
	m := c.Metrics.New("secret")
	m.Count("SecretRefresh", 1)
	m.SetDimension("outcome", map[bool]string{true: "failed", false: "ok"}[err != nil])
	c.Metrics.Flush(m)
	if err != nil {
		c.logger.WarnContext(ctx, "credentials refresh failed; keeping the ones in use", "reason", reason, "error", err.Error())
		return c.identity
	}
	c.identity, c.loadedAt, c.stale = id, now, ""
	c.logger.InfoContext(ctx, "credentials refreshed", "reason", reason, "public_key_id", id.PublicKeyID)
	return c.identity
}
