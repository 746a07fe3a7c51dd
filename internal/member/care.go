package member

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
)

// Patch is a change of a member as PATCH /members/{card_id}/{code} asks
// it: nil fields stay as they are. Points and Balance are the new values,
// not amounts to add.
type Patch struct {
	Level   *string
	Points  *int64
	Balance *int64 // fen; membercard-open cards only
	Attach  *string
}

// Change is a Patch accepted as the member's version Version: synced to
// WeChat Pay once, after the changes before it.
type Change struct {
	Version int64   `json:"version"`
	Level   *string `json:"level,omitempty"`
	Points  *int64  `json:"points,omitempty"`
	Balance *int64  `json:"balance,omitempty"`
	Attach  *string `json:"attach,omitempty"`
	// Sends counts the attempts sent (answered or not): above 1, one
	// before may have reached WeChat Pay, and the same request, with the
	// same out_request_no, is sent again.
	Sends      int       `json:"sends,omitempty"`
	AcceptedAt time.Time `json:"accepted_at"`
}

// MaxChanges bounds the changes of one member waiting for WeChat Pay: more
// means the sync is stuck (a secret, WeChat Pay), and a caller should wait,
// not pile up.
const MaxChanges = 20

// The refusals of Update.
var (
	ErrNotMember         = errors.New("member: wxcard holds no such member")
	ErrNotEffective      = errors.New("member: not EFFECTIVE (not confirmed or activated yet, refused or failed)")
	ErrBalanceNotAllowed = errors.New("member: balance is for membercard-open cards only")
	ErrTooManyChanges    = fmt.Errorf("member: %d changes already wait for WeChat Pay", MaxChanges)
	// ErrWakeFailed is a change not accepted because its sync could not
	// be queued: nothing was written.
	ErrWakeFailed = errors.New("member: the member queue did not take the sync message")
)

// Waker asks functions/members to sync a member up to version (through
// the member queue). Update wakes before it writes, so that no accepted
// change is ever without a message: a message for a version that was never
// written finds nothing to do.
type Waker interface {
	Wake(ctx context.Context, cardID, code string, version int64) error
}

// Updater sends a member's changes to WeChat Pay (*WeChatPay).
type Updater interface {
	// Update sends c, which follows the values of it (as WeChat Pay has
	// them). nil means WeChat Pay took it; a *wxpay.APIError is its
	// refusal.
	Update(ctx context.Context, it Item, c Change) error
	// SyncPoints tells WeChat Pay the member's points, as
	// *.SYNC_USER_POINT asks; outRequestNo keeps a redelivery from
	// counting twice.
	SyncPoints(ctx context.Context, it Item, points int64, outRequestNo string) error
	// OpenCard reads a membercard-open card as WeChat Pay holds it.
	OpenCard(ctx context.Context, cardID, code string) (membercard.OpenUserCard, error)
}

// Update accepts p as the member's next version and wakes the sync: it
// answers that version. It refuses a member it does not hold or that is
// not EFFECTIVE, and a balance on a card without one.
func (k *Keeper) Update(ctx context.Context, cardID, code string, p Patch) (int64, error) {
	var version int64
	_, err := untilNoConflict(func() (Outcome, error) {
		it, err := k.Store.Get(ctx, cardID, code)
		if err != nil {
			return "", fmt.Errorf("reading the member: %w", err)
		}
		switch {
		case it.Version == 0 || it.State == Deleted:
			return "", ErrNotMember
		case it.State != Effective:
			return "", fmt.Errorf("%w: %s", ErrNotEffective, it.State)
		case p.Balance != nil && it.Source != SourceOpen:
			return "", ErrBalanceNotAllowed
		case p.Attach != nil && it.Source == SourceOpen:
			return "", &membercard.FieldError{Field: "attach", Reason: "is for brand cards only: membercard-open cards have none"}
		case p.Level != nil && it.Source == SourceOpen && membercard.CheckLevel("level", *p.Level, membercard.OpenLevelMax) != nil:
			return "", membercard.CheckLevel("level", *p.Level, membercard.OpenLevelMax)
		case len(it.Changes) >= MaxChanges:
			return "", ErrTooManyChanges
		}
		next := it.Version + 1
		if err := k.Waker.Wake(ctx, cardID, code, next); err != nil {
			return "", fmt.Errorf("%w: %w", ErrWakeFailed, err)
		}
		it.Changes = append(it.Changes, Change{Version: next, Level: p.Level, Points: p.Points, Balance: p.Balance, Attach: p.Attach, AcceptedAt: k.now()})
		if _, err := k.put(ctx, it); err != nil {
			return "", err
		}
		version = next
		return "", nil
	})
	return version, err
}

// ErrNotWritten is a sync message for a version not stored (yet): its
// Update may still be writing, or failed after it woke the sync.
var ErrNotWritten = errors.New("member: the version to sync is not stored")

// The outcomes of a sync.
const (
	Updated       Outcome = "updated"        // changes synced; Member updated published for each
	UpdateFailed  Outcome = "update_failed"  // WeChat Pay refused a change for good; Member update failed published
	PointsSynced  Outcome = "points_synced"  // SYNC_USER_POINT answered
	PointsPending Outcome = "points_pending" // SYNC_USER_POINT left to a waiting change, which sends newer points
	NotHeld       Outcome = "not_held"       // a member wxcard does not hold: nothing to do
	Activated     Outcome = "activated"      // Member activated published
)

// SyncResult counts what one sync did.
type SyncResult struct {
	Updated, Failed int
}

// Sync sends the member's waiting changes to WeChat Pay, in version order,
// each once, publishing Member updated (or Member update failed) for each.
// version is the one the message was sent for: ErrNotWritten while the
// member is older.
func (k *Keeper) Sync(ctx context.Context, cardID, code string, version int64) (SyncResult, error) {
	var res SyncResult
	_, err := untilNoConflict(func() (Outcome, error) {
		it, err := k.Store.Get(ctx, cardID, code)
		if err != nil {
			return "", fmt.Errorf("reading the member: %w", err)
		}
		now := k.now()
		switch {
		case it.Version < version:
			return "", ErrNotWritten
		case it.leased(now):
			return "", ErrInFlight
		case it.State == Deleted && len(it.Changes) > 0 && len(it.Pending) == 0:
			// The user deleted the card: its waiting changes go nowhere,
			// each answered Member update failed (MEMBER_DELETED).
			for _, c := range it.Changes {
				it.Pending = append(it.Pending, k.event(UpdateFailedEvent, failedDetail(&it, c.Version, "MEMBER_DELETED", "the user deleted the card")))
			}
			dropped := len(it.Changes)
			it.Changes = nil
			it.LeaseID, it.LeaseUntil = newID(), now.Add(k.lease(ctx))
			if it, err = k.put(ctx, it); err != nil {
				return "", err
			}
			res.Failed += dropped
			_, err := k.flush(ctx, it)
			return "", err
		case it.State == Deleted && len(it.Pending) == 0:
			return Duplicate, nil
		case len(it.Pending) > 0:
			if _, err := k.flush(ctx, it); err != nil {
				return "", err
			}
			return "", ErrConflict // read again
		case len(it.Changes) == 0:
			return Duplicate, nil
		}
		lease := newID()
		it.LeaseID, it.LeaseUntil = lease, now.Add(k.lease(ctx))
		if _, err := k.put(ctx, it); err != nil {
			return "", err
		}
		err = k.syncChanges(ctx, cardID, code, lease, &res)
		if errors.Is(err, errLeaseLost) {
			// A deletion (or a delivery after this one's lease) took the
			// member: read it again.
			return "", ErrConflict
		}
		if err != nil {
			k.release(ctx, Opening{CardID: cardID, UserCardCode: code}, lease)
		}
		return "", err
	})
	return res, err
}

// errLeaseLost is a lease another delivery took over (this one outlived it).
var errLeaseLost = errors.New("member: the lease was taken over by another delivery")

// modify applies f to the member as stored now, as long as this delivery
// holds its lease: Update appends changes while a sync holds it, and a
// sync's writes must not undo them.
func (k *Keeper) modify(ctx context.Context, cardID, code, lease string, f func(*Item)) (Item, error) {
	for range maxConflicts {
		it, err := k.Store.Get(ctx, cardID, code)
		if err != nil {
			return Item{}, fmt.Errorf("reading the member: %w", err)
		}
		if it.LeaseID != lease {
			return Item{}, errLeaseLost
		}
		f(&it)
		it, err = k.put(ctx, it)
		if errors.Is(err, ErrConflict) {
			continue
		}
		return it, err
	}
	return Item{}, fmt.Errorf("member: %d conflicting writes in a row: %w", maxConflicts, ErrConflict)
}

// syncChanges sends the changes one by one, holding the lease, and gives it
// back when none is left.
func (k *Keeper) syncChanges(ctx context.Context, cardID, code, lease string, res *SyncResult) error {
	for {
		it, err := k.modify(ctx, cardID, code, lease, func(it *Item) {
			if len(it.Changes) > 0 {
				it.Changes[0].Sends++
			} else {
				it.LeaseID, it.LeaseUntil = "", time.Time{}
			}
		})
		if err != nil || it.LeaseID == "" {
			return err
		}
		c := it.Changes[0]
		err = k.Updater.Update(ctx, it, c)
		var ae *wxpay.APIError
		switch {
		case err == nil:
			it, err = k.modify(ctx, cardID, code, lease, func(it *Item) {
				it.Changes = it.Changes[1:]
				apply(it, c)
				it.Pending = []eventbus.Event{k.event(UpdatedEvent, updatedDetail(it, c.Version))}
			})
			if err == nil {
				res.Updated++
			}
		case errors.As(err, &ae) && ae.Status != http.StatusUnauthorized && !ae.Retryable():
			var part *PartlyApplied
			errors.As(err, &part)
			// Sent before, its answer lost: WeChat Pay may hold the change
			// and refuse it now for what it holds (a membercard-open
			// change carries the values it expects before): read the card.
			var card *membercard.OpenUserCard
			if it.Source == SourceOpen && c.Sends > 1 {
				if read, rerr := k.Updater.OpenCard(ctx, cardID, code); rerr == nil {
					card = &read
				}
			}
			it, err = k.modify(ctx, cardID, code, lease, func(it *Item) {
				it.Changes = it.Changes[1:]
				if part != nil {
					// What WeChat Pay took before it refused the rest: the
					// member's values are what WeChat Pay has.
					apply(it, part.Applied)
				}
				if card != nil {
					it.Level, it.Points, it.Balance = card.Level, card.BonusValue, card.Balance
				}
				it.Pending = []eventbus.Event{k.event(UpdateFailedEvent, failedDetail(it, c.Version, ae.Code, ae.Message))}
			})
			if err == nil {
				res.Failed++
			}
		default:
			return fmt.Errorf("syncing version %d: %w", c.Version, err)
		}
		if err != nil {
			return err
		}
		if err := k.Bus.Publish(ctx, it.Pending...); err != nil {
			return fmt.Errorf("publishing %q: %w", it.Pending[0].DetailType, err)
		}
		if _, err := k.modify(ctx, cardID, code, lease, func(it *Item) { it.Pending = nil }); err != nil {
			return err
		}
	}
}

// apply sets the member's values to those c carries.
func apply(it *Item, c Change) {
	if c.Level != nil {
		it.Level = *c.Level
	}
	if c.Points != nil {
		it.Points = *c.Points
	}
	if c.Balance != nil {
		it.Balance = *c.Balance
	}
}

// PartlyApplied is a change WeChat Pay took in part: a membercard-open
// change of level or balance and of points is two calls, and the second
// can be refused for good after the first was taken. Applied holds the
// fields WeChat Pay took; Err is the refusal.
type PartlyApplied struct {
	Applied Change
	Err     error
}

func (e *PartlyApplied) Error() string {
	return "the change was taken in part, then refused: " + e.Err.Error()
}

func (e *PartlyApplied) Unwrap() error { return e.Err }

// failedDetail is Member update failed of version: the refusal, and the
// values the member keeps (those WeChat Pay has).
func failedDetail(it *Item, version int64, code, message string) map[string]any {
	d := updatedDetail(it, version)
	d["error_code"], d["error_message"] = code, message
	return d
}

func updatedDetail(it *Item, version int64) map[string]any {
	d := map[string]any{"card_id": it.CardID, "code": it.UserCardCode, "openid": it.OpenID,
		"level": it.Level, "points": it.Points, "version": version}
	if it.BrandID != "" {
		d["brand_id"] = it.BrandID
	}
	if it.Source == SourceOpen {
		d["balance"] = it.Balance
	}
	return d
}

// event is an event of now with detail; detail always marshals.
func (k *Keeper) event(detailType string, detail map[string]any) eventbus.Event {
	b, err := json.Marshal(detail)
	if err != nil {
		panic(err) // strings and numbers only
	}
	return eventbus.Event{DetailType: detailType, Time: k.now(), Detail: b}
}

// OutRequestNo is the out_request_no of a member's change: the same for
// every attempt of that version, different for every other, at most 32
// characters of [0-9A-Za-z_-] (WeChat Pay's rule for it).
func OutRequestNo(cardID, code string, version int64) string {
	return "wxc" + memberHash(cardID, code) + "-" + strconv.FormatInt(version, 36)
}

// RightsRequestNo is the out_request_no of a membercard-open change's
// points (PATCH …/rights), which WeChat Pay takes apart from its level and
// balance (PATCH …/codes/{code}): each call has its own.
func RightsRequestNo(cardID, code string, version int64) string {
	return "wxr" + memberHash(cardID, code) + "-" + strconv.FormatInt(version, 36)
}

// PointsRequestNo is the out_request_no that answers one SYNC_USER_POINT
// notification with points: a redelivered notification sends the same
// (WeChat Pay counts it once); one answered after the points changed
// sends another (the same number with another body is refused).
func PointsRequestNo(cardID, code, notificationID string, points int64) string {
	sum := sha256.Sum256([]byte(notificationID + "#" + strconv.FormatInt(points, 10)))
	return "wxp" + memberHash(cardID, code) + "-" + hex.EncodeToString(sum[:6])
}

// memberHash is 14 hex digits of the member's key: with a prefix of 3 and
// a version in base 36 (at most 13 digits) it stays within 32 characters.
func memberHash(cardID, code string) string {
	sum := sha256.Sum256([]byte(Key(cardID, code)))
	return hex.EncodeToString(sum[:7])
}

// AnswerPoints answers a *.SYNC_USER_POINT notification with the member's
// stored points: a member wxcard does not hold is NotHeld (some other
// system keeps it).
func (k *Keeper) AnswerPoints(ctx context.Context, o Opening, notificationID string) (Outcome, error) {
	return untilNoConflict(func() (Outcome, error) { return k.answerPoints(ctx, o, notificationID) })
}

func (k *Keeper) answerPoints(ctx context.Context, o Opening, notificationID string) (Outcome, error) {
	it, err := k.Store.Get(ctx, o.CardID, o.UserCardCode)
	if err != nil {
		return "", fmt.Errorf("reading the member: %w", err)
	}
	if it.Version == 0 || it.State != Effective {
		return NotHeld, nil
	}
	if it.leased(k.now()) {
		// A sync in flight: answering beside it could land after it with
		// the older value. Delivered again.
		return "", ErrInFlight
	}
	for _, c := range it.Changes {
		if c.Points != nil {
			// A waiting change sends newer points (its sync is queued).
			return PointsPending, nil
		}
	}
	// The lease keeps a sync off the member while the answer is in flight.
	lease := newID()
	it.LeaseID, it.LeaseUntil = lease, k.now().Add(k.lease(ctx))
	if it, err = k.put(ctx, it); err != nil {
		return "", err
	}
	err = k.Updater.SyncPoints(ctx, it, it.Points, PointsRequestNo(it.CardID, it.UserCardCode, notificationID, it.Points))
	k.release(ctx, Opening{CardID: it.CardID, UserCardCode: it.UserCardCode}, lease)
	if err != nil {
		return "", fmt.Errorf("syncing the points: %w", err)
	}
	return PointsSynced, nil
}

// Activation is a membercard-open card WeChat Pay activated: by the
// merchant's call (POST /members/activate) or by itself (AUTO_ACTIVATE,
// MEMBERCARD.ACTIVATE_CARD).
type Activation struct {
	CardID           string
	Code             string
	OpenID           string
	MembershipNumber string
	Level            string
	Points, Balance  int64
	// UserInformation is the form the user filled in, as WeChat Pay gave
	// it: published in Member activated, never stored.
	UserInformation json.RawMessage
}

// Activated records an activated card as an EFFECTIVE member (source
// membercard-open) and publishes Member activated, once: a member already
// EFFECTIVE is Duplicate.
func (k *Keeper) Activated(ctx context.Context, a Activation) (Outcome, error) {
	return untilNoConflict(func() (Outcome, error) {
		it, err := k.Store.Get(ctx, a.CardID, a.Code)
		if err != nil {
			return "", fmt.Errorf("reading the member: %w", err)
		}
		now := k.now()
		switch {
		case it.State == Effective && len(it.Pending) == 0:
			return Duplicate, nil
		case it.leased(now):
			return "", ErrInFlight
		case len(it.Pending) > 0:
			if _, err := k.flush(ctx, it); err != nil {
				return "", err
			}
			return "", ErrConflict // read again
		}
		created := it.CreatedAt
		if created.IsZero() {
			created = now
		}
		it = Item{CardID: a.CardID, UserCardCode: a.Code, OpenID: a.OpenID, Source: SourceOpen, State: Effective,
			Level: a.Level, Points: a.Points, Balance: a.Balance, MembershipNumber: a.MembershipNumber,
			CreatedAt: created, ConfirmedAt: now, Version: it.Version}
		detail := map[string]any{"card_id": a.CardID, "code": a.Code, "openid": a.OpenID, "membership_number": a.MembershipNumber,
			"level": a.Level, "activated_at": stamp(now), "user_information": a.UserInformation}
		if a.UserInformation == nil {
			detail["user_information"] = nil
		}
		lease := newID()
		it.LeaseID, it.LeaseUntil = lease, now.Add(k.lease(ctx))
		out, err := k.transition(ctx, it, ActivatedEvent, detail, now)
		if err != nil && !errors.Is(err, ErrConflict) {
			// The event waits in the item: a retry (of the page, or any
			// delivery for the member) publishes it, without waiting for
			// this lease.
			k.release(ctx, Opening{CardID: a.CardID, UserCardCode: a.Code}, lease)
		}
		return out, err
	})
}

// AutoActivated handles MEMBERCARD.ACTIVATE_CARD, a membercard-open card
// WeChat Pay activated itself (AUTO_ACTIVATE): it reads the card for its
// membership number, level, points and balance, and records it as
// Activated does. The notification carries no form: Member activated has
// user_information null.
func (k *Keeper) AutoActivated(ctx context.Context, o Opening) (Outcome, error) {
	it, err := k.Store.Get(ctx, o.CardID, o.UserCardCode)
	if err != nil {
		return "", fmt.Errorf("reading the member: %w", err)
	}
	if it.State == Effective && len(it.Pending) == 0 {
		return Duplicate, nil
	}
	card, err := k.Updater.OpenCard(ctx, o.CardID, o.UserCardCode)
	if err != nil {
		return "", fmt.Errorf("reading the card: %w", err)
	}
	if (card.OpenID != "" && card.OpenID != o.OpenID) || card.UserCardStatus != membercard.OpenCardEffective {
		// Not the notification's user, or no longer active (deleted,
		// expired since): nothing to record, and no retry changes that.
		return NotHeld, nil
	}
	return k.Activated(ctx, Activation{CardID: o.CardID, Code: o.UserCardCode, OpenID: o.OpenID, MembershipNumber: card.MembershipNumber,
		Level: card.Level, Points: card.BonusValue, Balance: card.Balance})
}
