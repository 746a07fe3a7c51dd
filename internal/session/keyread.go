package session

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"time"

	"github.com/wxcard/wxcard/internal/kmssign"
	"github.com/wxcard/wxcard/internal/lambdainit"
)

// KeysReadBudget bounds the keys function's reads of its public keys,
// retries included: Lambda's init phase less the time a refusal takes to
// report, and a second for the runtime's start and the rest of the cold
// start. It is 7 s.
const KeysReadBudget = lambdainit.InitPhase - lambdainit.ReportTimeout - time.Second

// The waits between reads of one key: doubling from keyRetryFirst, at most
// keyRetryMax, so that a key readable again (IAM propagated) is seen within
// a second of it.
const (
	keyRetryFirst = 200 * time.Millisecond
	keyRetryMax   = time.Second
)

// Codes of GetPublicKey's refusals that no wait heals.
var unhealable = map[string]bool{
	"InvalidArnException":           true,
	"InvalidKeyUsageException":      true,
	"UnsupportedOperationException": true,
	"ValidationException":           true,
}

// Codes that are settled for a previous key, but not for the current one:
// KMS is eventually consistent, and a key created seconds earlier (the
// stack's own, at its creation) can be answered NotFoundException or
// KMSInvalidStateException for a while (KMS developer guide, "AWS KMS
// eventual consistency"). A previous key is old: these mean deleted,
// pending deletion or disabled, and retrying would only delay every cold
// start.
var settledWhenOld = map[string]bool{
	"NotFoundException":        true,
	"KMSInvalidStateException": true,
	"DisabledException":        true,
}

// errorCode names why a read failed, for logs and metrics: KMS's error
// code, or what happened when there was none. Never a message.
func errorCode(err error) string {
	var coded interface{ ErrorCode() string }
	switch {
	case errors.Is(err, kmssign.ErrUnsuitableKey):
		return "UnsuitableKey"
	case errors.As(err, &coded):
		return coded.ErrorCode()
	case errors.Is(err, context.DeadlineExceeded):
		return "Timeout"
	case errors.Is(err, kmssign.ErrUnavailable):
		return "NoAnswer"
	}
	return "Invalid"
}

// mayHeal says whether waiting can make a failed read succeed: an answer
// from KMS that is not a refusal of the key itself, or no answer at all
// (AccessDenied while IAM propagates a new role, throttling, KMS's
// internal errors, the network). A key of the wrong spec never heals.
func mayHeal(err error, old bool) bool {
	var ke *kmssign.Error
	if !errors.As(err, &ke) || errors.Is(err, kmssign.ErrUnsuitableKey) {
		return false
	}
	code := errorCode(err)
	return !unhealable[code] && (!old || !settledWhenOld[code])
}

// keyReader reads public keys at cold start, retrying until its
// deadline.
type keyReader struct {
	api      kmssign.API
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	deadline time.Time
}

// read reads keyID's public key, retrying what may heal while the next
// attempt would start before the deadline. old is a previous key. It gives
// how many attempts it made.
func (r *keyReader) read(ctx context.Context, keyID string, old bool) (crypto.PublicKey, int, error) {
	wait := keyRetryFirst
	for attempt := 1; ; attempt++ {
		s, err := kmssign.New(ctx, r.api, keyID)
		if err == nil {
			return s.Public(), attempt, nil
		}
		if !mayHeal(err, old) || ctx.Err() != nil || r.now().Add(wait).After(r.deadline) {
			return nil, attempt, err
		}
		if r.sleep(ctx, wait) != nil {
			return nil, attempt, err
		}
		wait = min(2*wait, keyRetryMax)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readError is a key that could not be read, with how often it was tried.
type readError struct {
	env, keyID string
	attempts   int
	err        error
}

func (e *readError) Error() string {
	return fmt.Sprintf("%s: %v (%s after %d attempt(s))", e.env, e.err, errorCode(e.err), e.attempts)
}

func (e *readError) Unwrap() error { return e.err }
