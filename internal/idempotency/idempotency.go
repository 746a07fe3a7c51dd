// Package idempotency makes a handler's effect happen once per key, as AWS
// Lambda Powertools' idempotency utility does: a record in the state table
// claims the key as in progress (with a short expiry), the work is done,
// then the record is marked completed and kept for a while. A repeat of a
// completed key is recognised; a claim left in progress by a crash is
// taken over once it expires, so nothing is lost; a failed attempt
// releases its claim, so a retry starts afresh.
//
// The guarantee is at least once, not exactly once: a process that dies
// after the work but before Complete leaves a claim that a retry takes
// over after it expires, and the work is then done twice.
package idempotency

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"
)

// Claim's answers other than success.
var (
	// ErrDone: the key was completed before; do not do the work again.
	ErrDone = errors.New("idempotency: already completed")
	// ErrBusy: another invocation holds a live claim on the key.
	ErrBusy = errors.New("idempotency: in progress elsewhere")
	// ErrLost: the claim expired and was taken over before Complete.
	ErrLost = errors.New("idempotency: claim lost to another invocation")
)

// Store keeps the records.
type Store interface {
	// Claim claims key until now+ttl, returning the claim's token; or
	// ErrDone, or ErrBusy.
	Claim(ctx context.Context, key string, now time.Time, ttl time.Duration) (token string, err error)
	// Complete marks the claim completed, kept until now+keep; ErrLost
	// when the claim is no longer this token's.
	Complete(ctx context.Context, key, token string, now time.Time, keep time.Duration) error
	// Release drops the claim if it is still this token's and in progress.
	Release(ctx context.Context, key, token string) error
}

// Status of a record.
const (
	InProgress = "INPROGRESS"
	Completed  = "COMPLETED"
)

// newToken is a claim's random token, so that only its holder completes
// or releases it.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
