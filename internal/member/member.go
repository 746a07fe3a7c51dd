// Package member keeps the members of the cards opened through wxcard's
// tokens: it owns the member#<card_id>#<user_card_code> items of the state
// table (docs/card-events-and-members.md, "Members") and moves each through a small state
// machine,
//
//	PENDING → EFFECTIVE | REFUSED | FAILED → DELETED
//
// confirming each opening with WeChat Pay once, as a Decider says.
//
// Every transition is a conditional write on the item's version, and the
// event it publishes is written into the item, as pending, in that same
// write; then it is published, then cleared (the shape of package
// authority). A crash at any point loses nothing: the member queue
// delivers the message again, and the next delivery finds the pending
// event and publishes it. A delivery that finds the member already past
// the transition does nothing, so a redelivered message or a second
// notification of the same opening publishes no second event.
//
// Before confirming, the keeper writes the decision and a lease into the
// item: a second delivery in flight at the same time waits for the lease,
// and a delivery after a confirmation whose answer was lost confirms the
// stored decision, not a new one, after asking WeChat Pay whether the
// first reached it.
package member

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/wxcard/wxcard/internal/eventbus"
)

// State is a member's state.
type State string

// The states of a member.
const (
	Pending   State = "PENDING"   // opened; not yet confirmed
	Effective State = "EFFECTIVE" // confirmed with CREATE_CARD_SUCCESS
	Refused   State = "REFUSED"   // confirmed with CREATE_CARD_FAIL: the decision said no
	Failed    State = "FAILED"    // WeChat Pay refused the confirmation for good
	Deleted   State = "DELETED"   // the user deleted the card
)

// Source is which family of notification opened the card, and so which
// identity confirms it: a brand's own card, or a service provider's.
type Source string

// The sources of a member.
const (
	SourceBrand   Source = "brand"
	SourcePartner Source = "partner"
	// SourceOpen is a card of WeChat Pay's membercard-open (商家会员卡):
	// activated by the merchant (POST /members/activate) or by WeChat Pay
	// (AUTO_ACTIVATE), read and changed through the membercard-open APIs,
	// signed as the merchant of WXPAY_SECRET_ID.
	SourceOpen Source = "membercard-open"
)

// The events' DetailType.
const (
	JoinedEvent  = "Member joined"
	RefusedEvent = "Member join refused"
	FailedEvent  = "Member join failed"
	LeftEvent    = "Member left"

	ActivatedEvent    = "Member activated"     // a membercard-open card activated
	UpdatedEvent      = "Member updated"       // a change WeChat Pay took
	UpdateFailedEvent = "Member update failed" // a change WeChat Pay refused for good
)

// Opening is what a card-opened notification says of the member: what the
// decision function receives, as the notification carried it
// (phone_number and the values of user_information encrypted with the
// merchant's public key unless cardevents decrypts them).
type Opening struct {
	BrandID         string          `json:"brand_id"`
	CardID          string          `json:"card_id"`
	UserCardCode    string          `json:"user_card_code"`
	OpenID          string          `json:"openid"`
	Level           string          `json:"level,omitempty"`
	PhoneNumber     string          `json:"phone_number,omitempty"`
	UserInformation json.RawMessage `json:"user_information,omitempty"`
}

// Item is a member as stored: no phone number, no user information.
type Item struct {
	CardID       string
	UserCardCode string
	BrandID      string
	OpenID       string
	Source       Source
	State        State
	Level        string
	CreatedAt    time.Time
	ConfirmedAt  time.Time // when WeChat Pay took the confirmation (EFFECTIVE, REFUSED)
	DeletedAt    time.Time
	// Version counts the item's writes; 0 means no item.
	Version int64

	// Decision is what the decider said, stored before the first
	// confirmation so that every later attempt confirms the same.
	Decision *Decision
	// Confirmations counts the confirmations sent (answered or not): above
	// 0, one may have reached WeChat Pay.
	Confirmations int
	// LeaseID and LeaseUntil keep other deliveries off a member while one
	// decides and confirms it.
	LeaseID    string
	LeaseUntil time.Time

	// Points and Balance (fen; membercard-open cards only) are the values
	// WeChat Pay has: the last change it took, or what it said at the
	// activation. Level is too, once a change of it was synced.
	Points           int64
	Balance          int64
	MembershipNumber string
	// Changes are the changes accepted (PATCH /members/…) and not yet
	// synced, in version order: functions/members sends each once.
	Changes []Change

	FailReason   string // REFUSED: the decision's reason
	ErrorCode    string // FAILED: WeChat Pay's code
	ErrorMessage string // FAILED: WeChat Pay's message

	// Pending are the events written with the last transition and not yet
	// known to be published.
	Pending []eventbus.Event
}

// Key is the item's partition key, member#<card_id>#<code> (docs/card-events-and-members.md).
func Key(cardID, userCardCode string) string { return "member#" + cardID + "#" + userCardCode }

// Store reads and writes member items.
type Store interface {
	// Get reads the member, strongly consistent; an absent member is an
	// Item with Version 0.
	Get(ctx context.Context, cardID, userCardCode string) (Item, error)
	// Put writes it if the stored version is still expect (0: absent), or
	// answers ErrConflict.
	Put(ctx context.Context, it Item, expect int64) error
	// ByOpenID lists the user's members but the deleted ones, at most
	// MaxMembersPerUser, in key order (through the table's openid-pk
	// index: eventually consistent).
	ByOpenID(ctx context.Context, openid string) ([]Item, error)
}

// MaxMembersPerUser bounds GET /members/me: a user holds a card of each of
// a few brands, not hundreds.
const MaxMembersPerUser = 100

// ErrConflict is a Put whose expected version was no longer stored.
var ErrConflict = errors.New("member: the item changed since it was read")

// DeletedFor is how long a deleted member is remembered (the state
// table's TTL): longer than a late notification of its opening can wait
// in the member queue and its dead-letter queue (14 days), so that one
// never confirms a card the user deleted.
const DeletedFor = 30 * 24 * time.Hour
