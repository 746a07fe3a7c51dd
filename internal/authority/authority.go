// Package authority remembers each brand's product authorities and tells
// the bus when they change: it owns the authority#<brand_id> items of the
// state table (design.md, "State and events").
//
// A check compares WeChat Pay's answer with the brand's snapshot and
// writes the outcome with optimistic concurrency: the write expects the
// version it read, and on a conflict the check reads again and recomputes.
// Only the writer whose write created an event publishes it, so two
// concurrent refreshes that see one change publish one event.
//
// The event is written into the snapshot, as pending, in the same
// conditional write as the new state, then published, then cleared. A
// crash between the write and the publication loses nothing: a later check
// finds the pending event, once it is older than StaleAfter (no publisher
// can still be working on it), and publishes it. Consumers therefore see
// each event at least once; a repeat is byte-identical, so brand_id and
// checked_at identify it.
package authority

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/wxcard/wxcard/internal/eventbus"
)

// The two events' DetailType.
const (
	ChangedEvent = "Brand authority changed"
	RevokedEvent = "Brand authority revoked"
)

// State is a snapshot's state.
type State string

// The states of a snapshot.
const (
	Authorised State = "AUTHORISED"
	Revoked    State = "REVOKED"
	// Removed is an operator's remove: a mark, not a deletion, so that a
	// check in flight or a message still queued cannot write the brand
	// back (and publish it as first seen). Checks leave a removed brand
	// alone until Restore; the mark expires after RemovedFor.
	Removed State = "REMOVED"
)

// RemovedFor is how long a removal is remembered: longer than any
// message for the brand can wait in the refresh queue or its dead-letter
// queue (14 days).
const RemovedFor = 15 * 24 * time.Hour

// RevokedFor is how long a revoked brand's snapshot is kept after its
// revocation (DynamoDB's TTL, expires_at; checks that find it still
// revoked do not extend it): the schedule covers the brand that long, so
// that it notices the brand authorised again, and then forgets it. A
// refusal never creates a snapshot, so only a brand once seen authorised
// leaves a revoked one, and the revoked snapshots are bounded by the
// revocations of the last RevokedFor.
const RevokedFor = 30 * 24 * time.Hour

// Outcome is what a check found.
type Outcome string

// The outcomes of a check.
const (
	FirstSeen    Outcome = "first_seen"    // no snapshot yet; the brand is authorised
	Unchanged    Outcome = "unchanged"     // same type and products as the snapshot
	Changed      Outcome = "changed"       // type or products differ, or a revoked brand is authorised again
	RevokedNow   Outcome = "revoked"       // the brand is not (or no longer) authorised
	StillRevoked Outcome = "still_revoked" // revoked before, and still
	NotTracked   Outcome = "not_tracked"   // an operator removed the brand: nothing recorded
	// NotAuthorised: WeChat Pay refused a brand that has no snapshot (one
	// never seen authorised, or a made-up ID). Nothing is recorded or
	// published: a refusal never creates state.
	NotAuthorised Outcome = "not_authorised"
)

// Authority is what WeChat Pay said a brand has authorised: the before and
// after of a changed event.
type Authority struct {
	AuthorizationType    string   `json:"authorization_type"`
	AuthorizationProduct []string `json:"authorization_product"` // sorted, no repeats
	UpdateTime           string   `json:"update_time"`
}

// Normalise sorts the products and drops repeats, so that two answers
// listing the same products in another order are the same.
func (a Authority) Normalise() Authority {
	p := slices.Clone(a.AuthorizationProduct)
	slices.Sort(p)
	a.AuthorizationProduct = slices.Compact(p)
	if a.AuthorizationProduct == nil {
		a.AuthorizationProduct = []string{}
	}
	return a
}

// same reports whether type and products are the same; update_time alone
// is not a change.
func same(a, b Authority) bool {
	return a.AuthorizationType == b.AuthorizationType && slices.Equal(a.AuthorizationProduct, b.AuthorizationProduct)
}

// Item is a brand's stored snapshot.
type Item struct {
	BrandID   string
	State     State
	Authority *Authority // the authority in effect; nil when revoked
	CheckedAt time.Time
	// Version counts the writes that changed the state or the pending
	// events; 0 means no item.
	Version int64
	// Pending are events written but not yet known to be published,
	// owned by the check that wrote PendingID at PendingSince.
	Pending      []eventbus.Event
	PendingID    string
	PendingSince time.Time
	// ExpiresAt is when DynamoDB may delete the item: a removal's mark
	// (RemovedFor) or a revoked snapshot (RevokedFor); zero for an
	// authorised snapshot, which is kept.
	ExpiresAt time.Time
}

// ErrConflict is what a Store answers when the item's version is not the
// one the write expected.
var ErrConflict = errors.New("authority: the snapshot changed since it was read")

// The reasons Remove refuses (ErrNoSnapshot also for a brand already removed).
var (
	ErrNoSnapshot = errors.New("authority: the brand has no snapshot")
	ErrPending    = errors.New("authority: the snapshot holds events not yet published")
)

// Store keeps the snapshots. Writes are conditional on the version read.
type Store interface {
	// Get returns the brand's item, or an Item with Version 0 when none.
	Get(ctx context.Context, brandID string) (Item, error)
	// Put replaces the item if its version is still expect (0: no item).
	// A write that meets itself (its answer lost, the retry refused by
	// its own version check) succeeds: it.PendingID, set before every
	// Put, identifies it.
	Put(ctx context.Context, it Item, expect int64) error
	// Touch records a check that changed nothing: checked_at and, when
	// not empty, update_time, and, when not zero, expiresAt, if the
	// version is still expect.
	Touch(ctx context.Context, brandID string, checkedAt time.Time, updateTime string, expiresAt time.Time, expect int64) error
	// ClearPending removes the pending events, and counts a version, if
	// pendingID still owns them; otherwise it does nothing.
	ClearPending(ctx context.Context, brandID, pendingID string) error
	// Release gives up the pending events if pendingID still owns them,
	// so that the next check publishes them at once.
	Release(ctx context.Context, brandID, pendingID string) error
}

// DefaultStaleAfter is longer than any Lambda invocation (15 minutes): a
// pending event older than that has no publisher left.
const DefaultStaleAfter = 15 * time.Minute

// MaxAttempts bounds the read-compute-write loops (a Store's Remove
// too). Only a write that makes an event, or clears one, moves the
// version, so each conflict means another check made progress.
const MaxAttempts = 10

// Tracker checks answers against the snapshots and publishes the events.
type Tracker struct {
	Store Store
	Bus   eventbus.Publisher
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// StaleAfter: see DefaultStaleAfter; 0 means it.
	StaleAfter time.Duration
}

// Result is a check's outcome.
type Result struct {
	Outcome Outcome
	// Published is how many events this check published (pending ones of
	// an earlier check included).
	Published int
}

// Observe records WeChat Pay's answer for brandID: a, or nil when WeChat
// Pay said the brand is not authorised. An answer with no products is a
// refusal too. A refusal of a brand with a snapshot is a revocation; of a
// brand without one it records nothing (NotAuthorised), so that no caller
// can create state with made-up brand IDs. The result's outcome is set even with an error, which
// says what failed: reading or writing the snapshot, or publishing.
func (t *Tracker) Observe(ctx context.Context, brandID string, a *Authority) (Result, error) {
	var obs *Authority
	if a != nil {
		n := a.Normalise()
		if len(n.AuthorizationProduct) > 0 {
			obs = &n
		}
	}
	for range MaxAttempts {
		res, err := t.attempt(ctx, brandID, obs)
		if !errors.Is(err, ErrConflict) {
			return res, err
		}
	}
	return Result{}, fmt.Errorf("authority: brand %s: snapshot kept changing during %d attempts", brandID, MaxAttempts)
}

// Removed reports whether an operator removed the brand (State Removed).
func (t *Tracker) Removed(ctx context.Context, brandID string) (bool, error) {
	it, err := t.Store.Get(ctx, brandID)
	if err != nil {
		return false, fmt.Errorf("authority: reading brand %s's snapshot: %w", brandID, err)
	}
	return it.State == Removed, nil
}

func (t *Tracker) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Tracker) attempt(ctx context.Context, brandID string, obs *Authority) (Result, error) {
	it, err := t.Store.Get(ctx, brandID)
	if err != nil {
		return Result{}, fmt.Errorf("authority: reading brand %s's snapshot: %w", brandID, err)
	}
	if it.State == Removed {
		return Result{Outcome: NotTracked}, nil
	}
	now := t.now().UTC()
	outcome, ev := compare(brandID, it, obs, now)
	res := Result{Outcome: outcome}
	if outcome == NotAuthorised {
		return res, nil // no snapshot, and none created by a refusal
	}

	staleAfter := t.StaleAfter
	if staleAfter <= 0 {
		staleAfter = DefaultStaleAfter
	}
	takeOver := len(it.Pending) > 0 && now.Sub(it.PendingSince) >= staleAfter
	if ev == nil && !takeOver {
		updateTime := ""
		if obs != nil {
			updateTime = obs.UpdateTime
		}
		var expires time.Time
		if it.State == Revoked && it.ExpiresAt.IsZero() {
			// A revoked snapshot written before revocations expired (or by
			// a refusal of a brand never seen, before those stopped being
			// recorded): it expires RevokedFor from this check.
			expires = now.Add(RevokedFor)
		}
		if err := t.Store.Touch(ctx, brandID, now, updateTime, expires, it.Version); err != nil {
			return res, wrapWrite(brandID, err)
		}
		return res, nil
	}

	// This check owns the pending events from here: an earlier check's
	// (taken over: fresh ones too, since a new event must follow them) and
	// its own.
	next := Item{BrandID: brandID, State: it.State, Authority: it.Authority, CheckedAt: now, Version: it.Version + 1,
		Pending: slices.Clone(it.Pending), PendingID: newPendingID(), PendingSince: now, ExpiresAt: it.ExpiresAt}
	if ev != nil {
		next.Pending = append(next.Pending, *ev)
		if obs == nil {
			next.State, next.Authority, next.ExpiresAt = Revoked, nil, now.Add(RevokedFor)
		} else {
			next.State, next.Authority, next.ExpiresAt = Authorised, obs, time.Time{}
		}
	} else if obs != nil && next.Authority != nil {
		a := *next.Authority
		a.UpdateTime = obs.UpdateTime
		next.Authority = &a
	}
	if err := t.Store.Put(ctx, next, it.Version); err != nil {
		return res, wrapWrite(brandID, err)
	}
	if err := t.Bus.Publish(ctx, next.Pending...); err != nil {
		// Best effort: if this fails too, the events wait StaleAfter.
		_ = t.Store.Release(ctx, brandID, next.PendingID)
		return res, fmt.Errorf("authority: brand %s: publishing %d event(s): %w (kept as pending)", brandID, len(next.Pending), err)
	}
	res.Published = len(next.Pending)
	if err := t.Store.ClearPending(ctx, brandID, next.PendingID); err != nil {
		return res, fmt.Errorf("authority: brand %s: events published, clearing them from the snapshot: %w (they will be published again)", brandID, err)
	}
	return res, nil
}

func wrapWrite(brandID string, err error) error {
	if errors.Is(err, ErrConflict) {
		return err
	}
	return fmt.Errorf("authority: writing brand %s's snapshot: %w", brandID, err)
}

// compare decides the outcome and the event, if any.
func compare(brandID string, it Item, obs *Authority, now time.Time) (Outcome, *eventbus.Event) {
	known := it.Version > 0
	switch {
	case obs == nil && known && it.State == Revoked:
		return StillRevoked, nil
	case obs == nil && !known:
		return NotAuthorised, nil
	case obs == nil:
		return RevokedNow, revokedEvent(brandID, it.Authority, now)
	case !known:
		return FirstSeen, changedEvent(brandID, nil, obs, now)
	case it.State == Revoked || it.Authority == nil:
		return Changed, changedEvent(brandID, nil, obs, now)
	case same(*it.Authority, *obs):
		return Unchanged, nil
	}
	return Changed, changedEvent(brandID, it.Authority, obs, now)
}

// CheckedAt is how an event spells a time.
func CheckedAt(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func changedEvent(brandID string, before, after *Authority, now time.Time) *eventbus.Event {
	return event(ChangedEvent, now, struct {
		BrandID   string     `json:"brand_id"`
		Before    *Authority `json:"before"`
		After     *Authority `json:"after"`
		CheckedAt string     `json:"checked_at"`
	}{brandID, before, after, CheckedAt(now)})
}

func revokedEvent(brandID string, before *Authority, now time.Time) *eventbus.Event {
	return event(RevokedEvent, now, struct {
		BrandID   string     `json:"brand_id"`
		Before    *Authority `json:"before"`
		CheckedAt string     `json:"checked_at"`
	}{brandID, before, CheckedAt(now)})
}

func event(detailType string, now time.Time, detail any) *eventbus.Event {
	b, err := json.Marshal(detail)
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return &eventbus.Event{DetailType: detailType, Time: now.Truncate(time.Second), Detail: b}
}

func newPendingID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
