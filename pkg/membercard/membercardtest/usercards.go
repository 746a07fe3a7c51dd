package membercardtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// Flavour is whose card a user opens. It decides the event type WeChat
// Pay notifies the opening under, the key it encrypts the notification
// with, and which confirm and query APIs know the card.
type Flavour int

// The flavours of card.
const (
	// FlavourBrand is a brand's own card: notified as
	// BRAND_MEMBER_CARD.USER_CARD.*, encrypted with the brand API key,
	// confirmed and read through the brand APIs, signed as the brand.
	FlavourBrand Flavour = iota + 1
	// FlavourPartner is a card of a service provider's template for a
	// brand: notified as BRAND_MEMBER_CARD_SP.USER_CARD.*, encrypted with
	// the service provider's API v3 key, confirmed and read through the
	// partner APIs, signed as the service provider.
	FlavourPartner
)

// String names the flavour in test output.
func (f Flavour) String() string {
	switch f {
	case FlavourBrand:
		return "brand"
	case FlavourPartner:
		return "partner"
	}
	return fmt.Sprintf("Flavour(%d)", int(f))
}

// Opening is a user opening a card in the membership component.
type Opening struct {
	Flavour Flavour
	BrandID string
	CardID  string // a template made with AddCard
	OpenID  string
	Level   string // optional: the level the card opens with
	// Key encrypts the notification's resource (AEAD_AES_256_GCM): a
	// brand's 品牌API密钥 for FlavourBrand, the service provider's API v3
	// key for FlavourPartner; 32 bytes. The deletion of the card is
	// encrypted with it too.
	Key []byte
	// LegacyEventType notifies a FlavourPartner card's opening and
	// deletion under the names WeChat Pay used before August 2025
	// (MEMBERCARDSP.USER_CARD.CREATE, .DELETE), which a receiver must
	// still accept.
	LegacyEventType bool
}

func (o *Opening) validate() error {
	if o.Flavour != FlavourBrand && o.Flavour != FlavourPartner {
		return fmt.Errorf("membercardtest: Opening.Flavour is %v: want FlavourBrand or FlavourPartner", o.Flavour)
	}
	if o.LegacyEventType && o.Flavour != FlavourPartner {
		return errors.New("membercardtest: Opening.LegacyEventType is for FlavourPartner: brand cards have no older event type")
	}
	if len(o.Key) != wxsign.APIv3KeyLength {
		return fmt.Errorf("membercardtest: Opening.Key is %d bytes, want %d", len(o.Key), wxsign.APIv3KeyLength)
	}
	// The confirm request's rules are the card's: a card a user can open
	// is one its merchant can confirm.
	req := membercard.PartnerUserCardConfirmRequest{BrandID: o.BrandID, UserCardConfirmRequest: membercard.UserCardConfirmRequest{
		CardID: o.CardID, OpenID: o.OpenID, UserCardConfirmState: membercard.ConfirmSuccess, Level: o.Level,
	}}
	if err := req.Validate(); err != nil {
		return fmt.Errorf("membercardtest: Opening: %w", err)
	}
	return nil
}

func (o *Opening) eventType(create bool) string {
	switch {
	case o.Flavour == FlavourBrand && create:
		return membercard.BrandUserCardCreateEvent
	case o.Flavour == FlavourBrand:
		return membercard.BrandUserCardDeleteEvent
	case o.LegacyEventType && create:
		return membercard.LegacyPartnerUserCardCreateEvent
	case o.LegacyEventType:
		return membercard.LegacyPartnerUserCardDeleteEvent
	case create:
		return membercard.PartnerUserCardCreateEvent
	}
	return membercard.PartnerUserCardDeleteEvent
}

// The notifications' summaries: the opening's is WeChat Pay's example;
// the deletion's follows its pattern (no page shows one).
const (
	createSummary = "用户开通会员卡通知"
	deleteSummary = "用户删除会员卡通知"
)

// userCard is a card a user opened, and how its notifications are sent.
type userCard struct {
	card          membercard.UserCard
	opening       Opening
	confirmations int
	points        int64 // as the user-points sync set it
	pointSyncs    int
}

// clone is a copy that shares nothing with the stored card.
func (u *userCard) clone() membercard.UserCard {
	c := u.card
	if c.ValidDateInformation != nil {
		v := *c.ValidDateInformation
		c.ValidDateInformation = &v
	}
	return c
}

var chinaTime = time.FixedZone("CST", 8*3600)

func (c *Cards) now() string { return c.srv.Now().In(chinaTime).Format(time.RFC3339) }

// newCode is a code in WeChat Pay's SYSTEM_ALLOCATE form, 24 digits, that
// no user card, brand or membercard-open, has yet. c.mu is held.
func (c *Cards) newCode() string {
	for {
		var b [24]byte
		_, _ = rand.Read(b[:])
		for i := range b {
			b[i] = '0' + b[i]%10
		}
		_, brand := c.userCards[string(b[:])]
		if _, open := c.openCards[string(b[:])]; !brand && !open {
			return string(b[:])
		}
	}
}

// OpenCard is a user opening a card: the user card is created UNACTIVATED
// under a fresh 24-digit code, and the notification WeChat Pay would post
// is returned, signed with the stand-in's WeChat Pay public key (its
// Wechatpay-Serial is the server's PublicKeyID) and encrypted with o.Key.
// Its resource is the user card as the user-card query answers it. The
// card counts once it is confirmed through the confirm API of its flavour.
func (c *Cards) OpenCard(o Opening) (code string, h http.Header, body []byte, err error) {
	if err := o.validate(); err != nil {
		return "", nil, nil, err
	}
	if !c.cardExists(o.CardID) {
		return "", nil, nil, fmt.Errorf("membercardtest: Opening.CardID %q is no card template: make it with AddCard", o.CardID)
	}
	o.Key = slices.Clone(o.Key)
	now := c.now()
	c.mu.Lock()
	code = c.newCode()
	uc := &userCard{opening: o, card: membercard.UserCard{
		UserCardCode: code, CardID: o.CardID, OpenID: o.OpenID, BrandID: o.BrandID, CardType: membercard.CardTypeNormal,
		Level: o.Level, ValidDateInformation: &membercard.ValidDateInformation{Type: membercard.ValidDatePermanent},
		PickupTime: now, UserCardState: membercard.UserCardUnactivated, CreateTime: now, ModifyTime: now,
	}}
	c.userCards[code] = uc
	card := uc.clone()
	c.mu.Unlock()
	h, body, err = c.notify(o, true, card)
	return code, h, body, err
}

// DeleteCard is the user deleting the card code from their wallet: the
// card turns INVALID, and the notification WeChat Pay would post is
// returned, under the flavour, event-type names and key of its opening.
// A card already INVALID (deleted, or its opening refused) is in no
// wallet to delete it from: that is an error.
func (c *Cards) DeleteCard(code string) (h http.Header, body []byte, err error) {
	c.mu.Lock()
	uc := c.userCards[code]
	if uc == nil {
		c.mu.Unlock()
		return nil, nil, fmt.Errorf("membercardtest: no user card %q", code)
	}
	if uc.card.UserCardState == membercard.UserCardInvalid {
		c.mu.Unlock()
		return nil, nil, fmt.Errorf("membercardtest: user card %q is already INVALID", code)
	}
	uc.card.UserCardState = membercard.UserCardInvalid
	uc.card.ModifyTime = c.now()
	card, o := uc.clone(), uc.opening
	c.mu.Unlock()
	return c.notify(o, false, card)
}

// notify builds the notification of an opening (create) or a deletion.
func (c *Cards) notify(o Opening, create bool, card membercard.UserCard) (http.Header, []byte, error) {
	summary := createSummary
	if !create {
		summary = deleteSummary
	}
	nt := c.srv.Notifier(o.Key)
	nt.Now = c.srv.Now
	return nt.Build(wxpaytest.Notification{
		EventType: o.eventType(create), Summary: summary, Resource: card,
		OriginalType: membercard.UserCardResourceType, AssociatedData: membercard.UserCardResourceType,
	}, wxpaytest.Genuine)
}

// PostOpenCard opens a card as OpenCard does and posts its notification
// to url with client (nil: http.DefaultClient), as WeChat Pay delivers it.
// status is the receiver's; err is only a failure to deliver, when code
// is still the card that was opened.
func (c *Cards) PostOpenCard(ctx context.Context, client *http.Client, url string, o Opening) (code string, status int, err error) {
	code, h, body, err := c.OpenCard(o)
	if err != nil {
		return "", 0, err
	}
	status, _, err = wxpaytest.PostNotification(ctx, client, url, h, body)
	return code, status, err
}

// PostDeleteCard deletes a card as DeleteCard does and posts its
// notification to url with client (nil: http.DefaultClient). status is
// the receiver's; err a failure to delete or to deliver.
func (c *Cards) PostDeleteCard(ctx context.Context, client *http.Client, url, code string) (status int, err error) {
	h, body, err := c.DeleteCard(code)
	if err != nil {
		return 0, err
	}
	status, _, err = wxpaytest.PostNotification(ctx, client, url, h, body)
	return status, err
}

// UserCard is the user card code as WeChat Pay holds it now.
func (c *Cards) UserCard(code string) (membercard.UserCard, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	uc := c.userCards[code]
	if uc == nil {
		return membercard.UserCard{}, false
	}
	return uc.clone(), true
}

// Confirmations is how many confirmations of the card code WeChat Pay
// accepted: at most one, as only an UNACTIVATED card can be confirmed; a
// test asserts it to show that a redelivered opening is confirmed once.
func (c *Cards) Confirmations(code string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if uc := c.userCards[code]; uc != nil {
		return uc.confirmations
	}
	return 0
}

// notPending is WeChat Pay's answer to a confirmation of a card that is
// not waiting for one (268575533): unknown, another user's or brand's,
// or already confirmed.
func notPending() wxpaytest.Reply {
	return wxpaytest.Error(http.StatusNotFound, "NOT_FOUND", "用户不存在未激活的会员卡")
}

func (c *Cards) brandConfirm(call *wxpaytest.Call) wxpaytest.Reply {
	code, reply, ok := confirmCall(call)
	if !ok {
		return reply
	}
	var req membercard.UserCardConfirmRequest
	if err := decode(call.Body, &req); err != nil {
		return paramError(err)
	}
	return c.confirm(code, FlavourBrand, call.Caller.ID, &req)
}

func (c *Cards) partnerConfirm(call *wxpaytest.Call) wxpaytest.Reply {
	code, reply, ok := confirmCall(call)
	if !ok {
		return reply
	}
	var req membercard.PartnerUserCardConfirmRequest
	if err := decode(call.Body, &req); err != nil {
		return paramError(err)
	}
	return c.confirm(code, FlavourPartner, req.BrandID, &req.UserCardConfirmRequest)
}

// confirmCall checks what a confirmation carries besides its body: the
// code, and no query (card_id was a query parameter in an older version
// of the partner page; the newest has it in the body, and WeChat Pay
// refuses a parameter its API does not define).
func confirmCall(call *wxpaytest.Call) (string, wxpaytest.Reply, bool) {
	code := call.PathValue("user_card_code")
	if err := membercard.CheckUserCardCode("user_card_code", code); err != nil {
		return "", paramError(err), false
	}
	if name, ok := undefinedKey(call.Query); ok {
		return "", undefinedParam(name), false
	}
	return code, wxpaytest.Reply{}, true
}

// confirm applies a valid confirmation to the card code of the flavour
// and brand, if that card is the user's and waiting for one.
func (c *Cards) confirm(code string, f Flavour, brandID string, req *membercard.UserCardConfirmRequest) wxpaytest.Reply {
	c.mu.Lock()
	defer c.mu.Unlock()
	uc := c.userCards[code]
	if uc == nil || uc.opening.Flavour != f || uc.card.BrandID != brandID || uc.card.CardID != req.CardID ||
		uc.card.OpenID != req.OpenID || uc.card.UserCardState != membercard.UserCardUnactivated {
		return notPending()
	}
	if req.UserCardConfirmState == membercard.ConfirmFail {
		uc.card.UserCardState = membercard.UserCardInvalid
	} else {
		uc.card.UserCardState = membercard.UserCardEffective
		// The fields a confirmation may change, where it gave them.
		keep := func(dst *string, v string) {
			if v != "" {
				*dst = v
			}
		}
		keep(&uc.card.Level, req.Level)
		keep(&uc.card.Attach, req.Attach)
		keep(&uc.card.CardColor, req.CardColor)
		keep(&uc.card.CardPictureURL, req.CardPictureURL)
		if v := req.ValidDateInformation; v != nil {
			cp := *v
			uc.card.ValidDateInformation = &cp
		}
	}
	uc.card.ModifyTime = c.now()
	uc.confirmations++
	return wxpaytest.OK(uc.card)
}

func (c *Cards) brandUserCard(call *wxpaytest.Call) wxpaytest.Reply {
	code, q, reply, ok := userCardCall(call, "card_id", "openid")
	if !ok {
		return reply
	}
	return c.lookup(code, FlavourBrand, call.Caller.ID, q["card_id"], q["openid"])
}

func (c *Cards) partnerUserCard(call *wxpaytest.Call) wxpaytest.Reply {
	code, q, reply, ok := userCardCall(call, "brand_id", "card_id", "openid")
	if !ok {
		return reply
	}
	return c.lookup(code, FlavourPartner, q["brand_id"], q["card_id"], q["openid"])
}

// idLengths are WeChat Pay's lengths of the query's identifiers.
var idLengths = map[string]int{"brand_id": 32, "card_id": 32, "openid": 128}

// userCardCall checks a user-card query: no body, a valid code, and
// exactly the named query parameters, once each, in the documented
// order of checks.
func userCardCall(call *wxpaytest.Call, names ...string) (string, map[string]string, wxpaytest.Reply, bool) {
	if reply, ok := noBody(call); !ok {
		return "", nil, reply, false
	}
	return pathAndQuery(call, names...)
}

// pathAndQuery checks a user-card path's code, and that the query holds
// exactly the named identifiers, once each.
func pathAndQuery(call *wxpaytest.Call, names ...string) (string, map[string]string, wxpaytest.Reply, bool) {
	code := call.PathValue("user_card_code")
	if err := membercard.CheckUserCardCode("user_card_code", code); err != nil {
		return "", nil, paramError(err), false
	}
	if name, ok := undefinedKey(call.Query, names...); ok {
		return "", nil, undefinedParam(name), false
	}
	q := map[string]string{}
	for _, name := range names {
		vs := call.Query[name]
		if len(vs) > 1 {
			return "", nil, paramError(&membercard.FieldError{Field: name, Reason: "appears more than once"}), false
		}
		v := ""
		if len(vs) == 1 {
			v = vs[0]
		}
		if err := membercard.CheckID(name, v, idLengths[name]); err != nil {
			return "", nil, paramError(err), false
		}
		q[name] = v
	}
	return code, q, wxpaytest.Reply{}, true
}

// lookup answers the card code if it is of the flavour, brand, card
// template and user asked about.
func (c *Cards) lookup(code string, f Flavour, brandID, cardID, openID string) wxpaytest.Reply {
	c.mu.Lock()
	defer c.mu.Unlock()
	uc := c.userCards[code]
	if uc == nil || uc.opening.Flavour != f || uc.card.BrandID != brandID || uc.card.CardID != cardID || uc.card.OpenID != openID {
		return wxpaytest.Error(http.StatusNotFound, "NOT_FOUND", "用户会员卡不存在")
	}
	return wxpaytest.OK(uc.card)
}

// undefinedKey is the first, in sorted order (so that an error names the
// same one every time), of q's keys that are not names.
func undefinedKey(q url.Values, names ...string) (string, bool) {
	var keys []string
	for k := range q {
		if !slices.Contains(names, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "", false
	}
	slices.Sort(keys)
	return keys[0], true
}

// undefinedParam is WeChat Pay's answer to a parameter its API does not
// define (270924358).
func undefinedParam(name string) wxpaytest.Reply {
	return wxpaytest.Error(http.StatusBadRequest, "PARAM_ERROR", "请求中含有未在API文档中定义的参数: "+membercard.ShortKey(name))
}
