package member

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
)

// Confirmer is WeChat Pay's side of a member (*WeChatPay).
type Confirmer interface {
	Confirm(ctx context.Context, src Source, o Opening, d Decision) error
	CardState(ctx context.Context, src Source, o Opening) (string, error)
}

// Keeper moves members through their states. Its methods return an
// Outcome when the message is done, and an error when it must be
// delivered again (nothing lost: what was written stays, and the next
// delivery takes it from there).
type Keeper struct {
	Store     Store
	Bus       eventbus.Publisher
	Decider   Decider
	WeChatPay Confirmer
	// Updater sends accepted changes and answers SYNC_USER_POINT (nil in a
	// keeper that does neither); Waker wakes the sync of an accepted
	// change (nil in a keeper that accepts none).
	Updater Updater
	Waker   Waker
	Logger  *slog.Logger
	Now     func() time.Time // nil means time.Now
	// Lease is how long a delivery keeps others off a member while it
	// decides and confirms; 0 means DefaultLease.
	Lease time.Duration
}

// DefaultLease outlasts one delivery's work on a member: a decision
// function's invoke (at most its own timeout) and a confirmation's
// attempts, both well inside the members function's timeout.
const DefaultLease = 2 * time.Minute

// Outcome is what a delivery did.
type Outcome string

// The outcomes of a delivery.
const (
	Joined      Outcome = "joined"       // confirmed; Member joined published
	JoinRefused Outcome = "refused"      // CREATE_CARD_FAIL confirmed; Member join refused published
	JoinFailed  Outcome = "failed"       // WeChat Pay refused the confirmation; Member join failed published
	Left        Outcome = "left"         // deleted; Member left published (it was a member)
	Gone        Outcome = "deleted"      // deleted before it was a member: recorded, nothing published
	Duplicate   Outcome = "duplicate"    // the member was already past this: nothing to do
	Republished Outcome = "republished"  // a transition's event left pending by an earlier delivery, published now
	NotOpened   Outcome = "deleted_late" // the opening of a member deleted already: not confirmed
)

// ErrInFlight is a member another delivery holds the lease on.
var ErrInFlight = errors.New("member: another delivery is deciding or confirming this member")

// maxConflicts bounds the rereads after conflicting writes.
const maxConflicts = 5

func (k *Keeper) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// lease is how long this delivery keeps the member: Lease, or at least
// until the invocation's deadline and a margin, so that a function whose
// timeout is raised above DefaultLease cannot outlive its own lease.
func (k *Keeper) lease(ctx context.Context) time.Duration {
	d := DefaultLease
	if k.Lease > 0 {
		d = k.Lease
	}
	if dl, ok := ctx.Deadline(); ok {
		d = max(d, time.Until(dl)+leaseMargin)
	}
	return d
}

// leaseMargin outlasts the clock skew between invocations.
const leaseMargin = 30 * time.Second

// Open handles a card-opened notification: it records the member PENDING,
// decides, confirms with WeChat Pay, and records and publishes the
// outcome.
func (k *Keeper) Open(ctx context.Context, src Source, o Opening) (Outcome, error) {
	return untilNoConflict(func() (Outcome, error) { return k.open(ctx, src, o) })
}

// untilNoConflict runs step again, from a fresh read, after a write
// another delivery's write beat, at most maxConflicts times.
func untilNoConflict(step func() (Outcome, error)) (Outcome, error) {
	for range maxConflicts {
		out, err := step()
		if !errors.Is(err, ErrConflict) {
			return out, err
		}
	}
	return "", fmt.Errorf("member: %d conflicting writes in a row: %w", maxConflicts, ErrConflict)
}

func (k *Keeper) open(ctx context.Context, src Source, o Opening) (Outcome, error) {
	it, err := k.Store.Get(ctx, o.CardID, o.UserCardCode)
	if err != nil {
		return "", fmt.Errorf("reading the member: %w", err)
	}
	now := k.now()
	if it.leased(now) {
		// Another delivery decides, confirms or publishes: its transition's
		// event is its own to publish, once.
		return "", ErrInFlight
	}
	if len(it.Pending) > 0 {
		// Left by a delivery that died after its transition: published now.
		return k.flush(ctx, it)
	}
	switch it.State {
	case Effective, Refused:
		return Duplicate, nil
	case Deleted:
		return NotOpened, nil
	case Failed:
		// WeChat Pay refused the confirmation before (its cause perhaps
		// fixed since: a decision, a secret, the user's other pending
		// card): this delivery, a redrive from the dead-letter queue or a
		// new notification of the opening, tries again, deciding afresh.
		it.Decision = nil
	}
	if it.Version == 0 {
		it = Item{CardID: o.CardID, UserCardCode: o.UserCardCode, BrandID: o.BrandID, OpenID: o.OpenID, Source: src,
			State: Pending, Level: o.Level, CreatedAt: now}
	}
	// Take the lease, in the write that records the member.
	lease := newID()
	it.LeaseID, it.LeaseUntil = lease, now.Add(k.lease(ctx))
	if it, err = k.put(ctx, it); err != nil {
		return "", err
	}
	out, err := k.confirm(ctx, src, o, it)
	if err != nil && !errors.Is(err, ErrConflict) {
		k.release(ctx, o, lease)
	}
	return out, err
}

// leased reports whether a delivery holds the member's lease at now.
func (it *Item) leased(now time.Time) bool { return it.LeaseID != "" && it.LeaseUntil.After(now) }

// put writes it as the next version of what was read.
func (k *Keeper) put(ctx context.Context, it Item) (Item, error) {
	expect := it.Version
	it.Version++
	if err := k.Store.Put(ctx, it, expect); err != nil {
		if errors.Is(err, ErrConflict) {
			return it, err
		}
		return it, fmt.Errorf("writing the member: %w", err)
	}
	return it, nil
}

// release gives the lease back after a delivery that will be retried, so
// the retry need not wait for it to expire: it reads the member again (the
// delivery may have written it since it took the lease) and clears the
// lease if it is still this one's. A failure only delays the retry.
func (k *Keeper) release(ctx context.Context, o Opening, lease string) {
	ctx = context.WithoutCancel(ctx)
	it, err := k.Store.Get(ctx, o.CardID, o.UserCardCode)
	if err == nil && it.LeaseID != lease {
		return
	}
	if err == nil {
		it.LeaseID, it.LeaseUntil = "", time.Time{}
		_, err = k.put(ctx, it)
	}
	if err != nil {
		k.Logger.WarnContext(ctx, "member lease not released: the retry waits for it to expire", "card_id", o.CardID, "error", err.Error())
	}
}

// confirm decides (once), confirms, and records the outcome; it holds the
// lease of it.
func (k *Keeper) confirm(ctx context.Context, src Source, o Opening, it Item) (Outcome, error) {
	var err error
	if it.Confirmations > 0 && it.Decision != nil {
		// A confirmation was sent before and its outcome is unknown here:
		// ask WeChat Pay, so that a lost answer is not confirmed twice.
		done, out, err := k.alreadyConfirmed(ctx, src, o, it, true)
		if err != nil || done {
			return out, err
		}
	}
	if it.Decision == nil {
		d, err := k.Decider.Decide(ctx, o)
		if err != nil {
			return "", err
		}
		if err := d.Validate(o); err != nil {
			return "", &DecisionError{Function: fmt.Sprintf("%T", k.Decider), Reason: "answered an invalid decision", Err: err}
		}
		it.Decision = &d
	}
	// The decision and the attempt are written before the call: a retry
	// confirms the same, and knows to ask first.
	it.Confirmations++
	if it, err = k.put(ctx, it); err != nil {
		return "", err
	}
	err = k.WeChatPay.Confirm(ctx, src, o, *it.Decision)
	var ae *wxpay.APIError
	switch {
	case err == nil:
		return k.settle(ctx, it)
	case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
		// SIGN_ERROR: our credentials, not the member (a secret rotated
		// or misconfigured); the client rereads the secret. Delivered
		// again, and dead-lettered if it lasts, to be redriven.
		return "", fmt.Errorf("confirming: %w", err)
	case errors.As(err, &ae) && !ae.Retryable():
		// Refused for good, as far as this answer says. But a confirmation
		// of ours may have reached WeChat Pay before it (an answer lost, an
		// attempt on the backup host), and WeChat Pay documents only a 404
		// ("用户不存在未激活的会员卡") for a card no longer pending: ask.
		done, out, qerr := k.alreadyConfirmed(ctx, src, o, it, it.Confirmations > 1)
		if qerr != nil || done {
			return out, qerr
		}
		return k.fail(ctx, it, ae)
	default:
		return "", fmt.Errorf("confirming: %w", err)
	}
}

// alreadyConfirmed asks WeChat Pay for the user card: done when it is no
// longer waiting for a confirmation, and then settled as the stored
// decision said (EFFECTIVE for a success; a refusal leaves it INVALID).
// sentBefore says a confirmation before the last one may have reached
// WeChat Pay.
func (k *Keeper) alreadyConfirmed(ctx context.Context, src Source, o Opening, it Item, sentBefore bool) (bool, Outcome, error) {
	state, err := k.WeChatPay.CardState(ctx, src, o)
	success := it.Decision.State == membercard.ConfirmSuccess
	switch {
	case errors.Is(err, ErrCardNotFound) && !success && sentBefore:
		// A refusal sent before this one: WeChat Pay may no longer show a
		// card it was told to refuse (its docs do not say), so a refusal
		// that once reached it is done.
		out, err := k.settle(ctx, it)
		return true, out, err
	case errors.Is(err, ErrCardNotFound):
		return false, "", nil
	case err != nil:
		return false, "", fmt.Errorf("reading the user card: %w", err)
	}
	switch {
	case state == membercard.UserCardUnactivated:
		return false, "", nil
	case success && state == membercard.UserCardEffective, !success && state == membercard.UserCardInvalid:
		out, err := k.settle(ctx, it)
		return true, out, err
	}
	return false, "", nil
}

// settle records a confirmation WeChat Pay took.
func (k *Keeper) settle(ctx context.Context, it Item) (Outcome, error) {
	now := k.now()
	it.ConfirmedAt = now
	it.ErrorCode, it.ErrorMessage = "", ""
	detail := map[string]any{"brand_id": it.BrandID, "card_id": it.CardID, "user_card_code": it.UserCardCode, "openid": it.OpenID}
	var event string
	if it.Decision.State == membercard.ConfirmSuccess {
		it.State, event = Effective, JoinedEvent
		if it.Decision.Level != "" {
			it.Level = it.Decision.Level
		}
		detail["level"] = it.Level
		detail["confirmed_at"] = stamp(now)
	} else {
		it.State, event = Refused, RefusedEvent
		it.FailReason = it.Decision.FailReason
		detail["fail_reason"] = it.FailReason
		detail["confirmed_at"] = stamp(now)
	}
	return k.transition(ctx, it, event, detail, now)
}

// fail records WeChat Pay's refusal of the confirmation.
func (k *Keeper) fail(ctx context.Context, it Item, ae *wxpay.APIError) (Outcome, error) {
	now := k.now()
	wasFailed := it.State == Failed
	it.State, it.ErrorCode, it.ErrorMessage = Failed, ae.Code, ae.Message
	detail := map[string]any{"brand_id": it.BrandID, "card_id": it.CardID, "user_card_code": it.UserCardCode, "openid": it.OpenID,
		"error_code": ae.Code, "error_message": ae.Message, "failed_at": stamp(now)}
	if wasFailed {
		// Failed again on a retry: no new transition, no second event.
		it.LeaseID, it.LeaseUntil = "", time.Time{}
		if _, err := k.put(ctx, it); err != nil {
			return "", err
		}
		return JoinFailed, nil
	}
	return k.transition(ctx, it, FailedEvent, detail, now)
}

// transition writes the new state with its event pending, still holding
// the lease (so no other delivery publishes it too), then publishes.
func (k *Keeper) transition(ctx context.Context, it Item, event string, detail map[string]any, at time.Time) (Outcome, error) {
	b, err := json.Marshal(detail)
	if err != nil {
		return "", err
	}
	it.Pending = []eventbus.Event{{DetailType: event, Time: at, Detail: b}}
	if it, err = k.put(ctx, it); err != nil {
		return "", err
	}
	return k.flush(ctx, it)
}

// flush publishes the item's pending events and clears them with the
// lease. Published but not cleared (a crash), they are published again by
// the first delivery after the lease: consumers see each at least once,
// byte-identical.
func (k *Keeper) flush(ctx context.Context, it Item) (Outcome, error) {
	if err := k.Bus.Publish(ctx, it.Pending...); err != nil {
		return "", fmt.Errorf("publishing %q: %w", it.Pending[0].DetailType, err)
	}
	out := outcomeOf(it.Pending[0].DetailType)
	it.Pending = nil
	it.LeaseID, it.LeaseUntil = "", time.Time{}
	if _, err := k.put(ctx, it); err != nil {
		k.Logger.WarnContext(ctx, "member event published, not cleared: a later delivery may publish it again", "card_id", it.CardID, "error", err.Error())
	}
	return out, nil
}

func outcomeOf(event string) Outcome {
	switch event {
	case JoinedEvent:
		return Joined
	case RefusedEvent:
		return JoinRefused
	case FailedEvent:
		return JoinFailed
	case LeftEvent:
		return Left
	case ActivatedEvent:
		return Activated
	}
	return Republished
}

// Delete handles a card-deleted notification: the member becomes DELETED;
// Member left is published for a member that had joined (EFFECTIVE).
// A deletion of a member never seen leaves a DELETED item, so that a late
// notification of its opening confirms nothing.
func (k *Keeper) Delete(ctx context.Context, src Source, o Opening) (Outcome, error) {
	return untilNoConflict(func() (Outcome, error) { return k.delete(ctx, src, o) })
}

func (k *Keeper) delete(ctx context.Context, src Source, o Opening) (Outcome, error) {
	it, err := k.Store.Get(ctx, o.CardID, o.UserCardCode)
	if err != nil {
		return "", fmt.Errorf("reading the member: %w", err)
	}
	now := k.now()
	if len(it.Pending) > 0 {
		if it.leased(now) {
			return "", ErrInFlight // its delivery publishes it
		}
		// An earlier transition's event first; then read again.
		if _, err := k.flush(ctx, it); err != nil {
			return "", err
		}
		return "", ErrConflict
	}
	if it.State == Deleted {
		return Duplicate, nil
	}
	if it.Version == 0 {
		it = Item{CardID: o.CardID, UserCardCode: o.UserCardCode, BrandID: o.BrandID, OpenID: o.OpenID, Source: src, CreatedAt: now}
	}
	was := it.State
	it.State, it.DeletedAt = Deleted, now
	if was != Effective {
		// No event: the lease of an opening in flight goes, and its
		// delivery, finding the member deleted, confirms nothing more.
		it.LeaseID, it.LeaseUntil = "", time.Time{}
		if _, err := k.put(ctx, it); err != nil {
			return "", err
		}
		return Gone, nil
	}
	// This delivery's own lease, held until its event is published.
	it.LeaseID, it.LeaseUntil = newID(), now.Add(k.lease(ctx))
	return k.transition(ctx, it, LeftEvent, map[string]any{"brand_id": it.BrandID, "card_id": it.CardID,
		"user_card_code": it.UserCardCode, "openid": it.OpenID, "deleted_at": stamp(now)}, now)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
