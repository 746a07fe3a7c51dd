package member

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/pkg/membercard"
)

// Kind is what a member message asks.
type Kind int

// The kinds of member message.
const (
	Opened        Kind = iota + 1 // a user opened a card: confirm it
	Removed                       // a user deleted a card
	PointsAsked                   // WeChat Pay asks for a member's points (*.SYNC_USER_POINT)
	OpenActivated                 // WeChat Pay activated a membercard-open card (AUTO_ACTIVATE)
	SyncAsked                     // the member API accepted a change: sync it (a Wake message)
)

// eventKinds are the card notifications the member queue's rule matches,
// by event_type: a brand's, a service provider's under their current name
// and under the name WeChat Pay used before August 2025.
var eventKinds = map[string]struct {
	kind Kind
	src  Source
}{
	membercard.BrandUserCardCreateEvent:         {Opened, SourceBrand},
	membercard.BrandUserCardDeleteEvent:         {Removed, SourceBrand},
	membercard.PartnerUserCardCreateEvent:       {Opened, SourcePartner},
	membercard.PartnerUserCardDeleteEvent:       {Removed, SourcePartner},
	membercard.LegacyPartnerUserCardCreateEvent: {Opened, SourcePartner},
	membercard.LegacyPartnerUserCardDeleteEvent: {Removed, SourcePartner},
	membercard.BrandSyncUserPointEvent:          {PointsAsked, SourceBrand},
	membercard.PartnerSyncUserPointEvent:        {PointsAsked, SourcePartner},
	membercard.LegacyPartnerSyncUserPointEvent:  {PointsAsked, SourcePartner},
	membercard.OpenCardActivateEvent:            {OpenActivated, SourceOpen},
}

// EventTypes are the card notifications' event types the member queue
// takes: the template's rule matches exactly these.
func EventTypes() []string {
	types := make([]string, 0, len(eventKinds))
	for t := range eventKinds {
		types = append(types, t)
	}
	return types
}

// Message is one member-queue message: a card event as the bus's rule
// delivered it.
type Message struct {
	Kind      Kind
	Source    Source
	EventType string
	// NotificationID is WeChat Pay's notification id, for the log.
	NotificationID string
	Opening        Opening
	// Version is the member version a SyncAsked message was sent for.
	Version int64
}

// WakeBody is the member-queue message that asks functions/members to sync
// a member's changes up to version (what a Waker sends).
func WakeBody(cardID, code string, version int64) string {
	b, err := json.Marshal(wake{Kind: wakeKind, CardID: cardID, Code: code, Version: version})
	if err != nil {
		panic(err) // strings and a number: cannot fail
	}
	return string(b)
}

const wakeKind = "member.sync"

// wake is a WakeBody: "wxcard" names its kind, which no EventBridge event
// carries.
type wake struct {
	Kind    string `json:"wxcard"`
	CardID  string `json:"card_id"`
	Code    string `json:"code"`
	Version int64  `json:"version"`
}

func parseWake(body string) (Message, error) {
	var w wake
	if err := json.Unmarshal([]byte(body), &w); err != nil {
		return Message{}, fmt.Errorf("sync message: %w", typeError(err))
	}
	if w.Kind != wakeKind {
		return Message{}, fmt.Errorf("wxcard is %.40q, not %q", w.Kind, wakeKind)
	}
	if err := firstError(membercard.CheckID("card_id", w.CardID, 32), membercard.CheckUserCardCode("code", w.Code)); err != nil {
		return Message{}, fmt.Errorf("sync message: %w", err)
	}
	if w.Version < 1 {
		return Message{}, errors.New("sync message: version is not a positive whole number")
	}
	return Message{Kind: SyncAsked, Source: "", EventType: wakeKind, Version: w.Version,
		Opening: Opening{CardID: w.CardID, UserCardCode: w.Code}}, nil
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// envelope is the part of an EventBridge event the member queue reads.
type envelope struct {
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Detail     json.RawMessage `json:"detail"`
	Wxcard     string          `json:"wxcard"` // a WakeBody's kind
}

// detail is a card event's Detail (cardevents.Event).
type detail struct {
	ID        string          `json:"id"`
	EventType string          `json:"event_type"`
	Resource  json.RawMessage `json:"resource"`
}

// resource is the part of the decrypted resource a member needs; WeChat
// Pay's other fields are not kept.
type resource struct {
	UserCardCode    string          `json:"user_card_code"`
	Code            string          `json:"code"` // membercard-open's name of the card code
	CardID          string          `json:"card_id"`
	OpenID          string          `json:"openid"`
	BrandID         string          `json:"brand_id"`
	Level           string          `json:"level"`
	PhoneNumber     string          `json:"phone_number"`
	UserInformation json.RawMessage `json:"user_information"`
}

// ParseMessage reads a member-queue message. An error means it can never
// be handled: it names what is wrong, never the member's data.
func ParseMessage(body string) (Message, error) {
	var env envelope
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		return Message{}, errors.New("not an EventBridge event (JSON object)")
	}
	if env.Wxcard != "" {
		return parseWake(body)
	}
	if env.Source != eventbus.Source {
		return Message{}, fmt.Errorf("source is %.40q, not %q", env.Source, eventbus.Source)
	}
	k, ok := eventKinds[env.DetailType]
	if !ok {
		return Message{}, fmt.Errorf("detail-type %.60q is not a card event the member queue takes", env.DetailType)
	}
	var d detail
	if err := json.Unmarshal(env.Detail, &d); err != nil || len(d.Resource) == 0 {
		return Message{}, errors.New("detail is not a card event with a resource")
	}
	var r resource
	if err := json.Unmarshal(d.Resource, &r); err != nil {
		return Message{}, fmt.Errorf("resource: %w", typeError(err))
	}
	if len(r.UserInformation) > 0 && (r.UserInformation[0] != '{' && string(r.UserInformation) != "null") {
		return Message{}, errors.New("resource: user_information is not an object")
	}
	if string(r.UserInformation) == "null" {
		r.UserInformation = nil
	}
	if k.kind == OpenActivated {
		// membercard-open names the code "code" and has no brand.
		r.UserCardCode, r.BrandID = r.Code, ""
	}
	o := Opening{BrandID: r.BrandID, CardID: r.CardID, UserCardCode: r.UserCardCode, OpenID: r.OpenID,
		Level: r.Level, PhoneNumber: r.PhoneNumber, UserInformation: r.UserInformation}
	if err := checkOpening(o, k.src); err != nil {
		return Message{}, fmt.Errorf("resource: %w", err)
	}
	return Message{Kind: k.kind, Source: k.src, EventType: env.DetailType, NotificationID: d.ID, Opening: o}, nil
}

// checkOpening applies WeChat Pay's rules to the identifiers a member is
// keyed and confirmed by.
func checkOpening(o Opening, src Source) error {
	if src == SourceOpen {
		return firstError(membercard.CheckUserCardCode("code", o.UserCardCode),
			membercard.CheckID("card_id", o.CardID, 32), membercard.CheckID("openid", o.OpenID, 128))
	}
	return firstError(membercard.CheckUserCardCode("user_card_code", o.UserCardCode),
		membercard.CheckID("card_id", o.CardID, 32), membercard.CheckID("openid", o.OpenID, 128),
		membercard.CheckID("brand_id", o.BrandID, 32))
}

// typeError keeps a JSON type error's field, never the value.
func typeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%s is not a %s", te.Field, te.Type)
	}
	return errors.New("not a JSON object")
}
