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
// right after WeChat Pay says the keys are wrong (SIGN_ERROR, an answer
// signed by a key ID the secret does not hold, a signed notification the
// API v3 key cannot decrypt), at most once per RetryAfterFailure, so a
// wrong key cannot hammer Secrets Manager. A notification naming a key ID
// the secret does not hold proves nothing (anyone can send one): its
// rereads (MarkStaleUnverified) have a window of their own, so that
// unauthenticated traffic cannot spend the window a genuine key change
// needs.
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
	// The same for unverified reasons, with a window of their own.
	staleUnverified       string
	lastUnverifiedAttempt time.Time
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
// "SIGN_ERROR" or "API v3 key cannot decrypt"): what WeChat Pay itself
// said, over TLS or under its signature.
func (c *Credentials) MarkStale(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stale = reason
}

// MarkStaleUnverified is MarkStale for a reason anyone could cause (a
// notification naming a key ID the secret does not hold, before its
// signature can be checked): its rereads spend only their own window of
// RetryAfterFailure, never the one MarkStale's use.
func (c *Credentials) MarkStaleUnverified(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.staleUnverified = reason
}

// Current returns the identity, refreshing it first when due.
func (c *Credentials) Current(ctx context.Context) *secret.Identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	var reason string
	switch {
	case (c.stale != "" || now.Sub(c.loadedAt) >= MaxAge) && now.Sub(c.lastAttempt) >= RetryAfterFailure:
		c.lastAttempt, reason = now, c.stale
		if reason == "" {
			reason = "age"
		}
	case c.staleUnverified != "" && now.Sub(c.lastUnverifiedAttempt) >= RetryAfterFailure:
		c.lastUnverifiedAttempt, reason = now, c.staleUnverified
	default:
		return c.identity
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
	c.identity, c.loadedAt, c.stale, c.staleUnverified = id, now, "", ""
	c.logger.InfoContext(ctx, "credentials refreshed", "reason", reason, "public_key_id", id.PublicKeyID)
	return c.identity
}
