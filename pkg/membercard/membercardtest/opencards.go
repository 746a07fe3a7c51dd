package membercardtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// ActivateTicketLife is how long an activate_ticket reads the user's
// form, by the stand-in's clock (wxpaytest.Options.Now). WeChat Pay
// documents no lifetime, only that a ticket expires; five minutes makes a
// test's expiry short and certain.
const ActivateTicketLife = 5 * time.Minute

// OpenCardIssue is a user taking a membercard-open card of a template.
type OpenCardIssue struct {
	CardID string // a template made with AddCard
	OpenID string
	// UserInformation is the form the user filled in, a JSON object
	// ({"common_field_list":[{"name":"USER_FORM_FLAG_MOBILE","value":"…"}]});
	// optional.
	UserInformation json.RawMessage
	// Level is the level the card starts with: optional, 1 to
	// membercard.OpenLevelMax characters.
	Level string
	// Bonus and Balance are the points and stored value it starts with,
	// 0 to membercard.MaxPoints.
	Bonus, Balance int64
}

func (o *OpenCardIssue) validate() error {
	errs := []error{
		membercard.CheckID("card_id", o.CardID, 32),
		membercard.CheckID("openid", o.OpenID, 128),
	}
	if o.Level != "" {
		errs = append(errs, membercard.CheckLevel("level", o.Level, membercard.OpenLevelMax))
	}
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("membercardtest: OpenCardIssue: %w", err)
		}
	}
	if len(o.UserInformation) != 0 {
		var form map[string]json.RawMessage
		if err := json.Unmarshal(o.UserInformation, &form); err != nil {
			return fmt.Errorf("membercardtest: OpenCardIssue.UserInformation is not a JSON object: %w", err)
		}
	}
	if o.Bonus < 0 || o.Bonus > membercard.MaxPoints || o.Balance < 0 || o.Balance > membercard.MaxPoints {
		return fmt.Errorf("membercardtest: OpenCardIssue: Bonus and Balance must be 0 to %d", membercard.MaxPoints)
	}
	return nil
}

// OpenCardHandout is what WeChat Pay hands the activation page of a
// JUMP_ACTIVATE card a user took: the encrypt_code of the card's code and
// the activate_ticket of the user's form (in the page's query), and the
// user's openid. Code is the card's code in plain, for the test.
type OpenCardHandout struct {
	Code           string
	EncryptCode    string
	ActivateTicket string
	OpenID         string
}

// openCard is a membercard-open card a user took.
type openCard struct {
	card          membercard.OpenUserCard
	encryptCode   string
	ticket        string // "" once spent, or for an AUTO_ACTIVATE card
	ticketExpires time.Time
	updates       int
}

// clone is a copy that shares nothing with the stored card.
func (oc *openCard) clone() membercard.OpenUserCard {
	c := oc.card
	c.UserInformation = bytes.Clone(c.UserInformation)
	return c
}

// The answers of the membercard-open APIs a test meets.
const (
	decryptFailed  = "解密失败,请确认入参正确性,入参要求是从微信接收的原始格式"
	ticketInvalid  = "activate_ticket已失效"
	openCardAbsent = "用户会员卡不存在"
	alreadyActive  = "会员卡已激活"
	badCardState   = "用户会员卡状态异常"
	duplicateOutNo = "out_request_no重复"
	balanceChanged = "before_balance与当前余额不一致"
	bonusChanged   = "before_bonus_value与当前积分不一致"
	activateSum    = "用户激活会员卡通知"
	syncPointSum   = "用户积分同步事件通知"
)

// newEncryptCode is a fresh encrypt_code: standard Base64 holding + / and
// =, as WeChat Pay's do, so that a client that does not percent-encode it
// (or does twice) sends another code.
func newEncryptCode() string {
	for {
		var b [32]byte
		_, _ = rand.Read(b[:])
		s := base64.StdEncoding.EncodeToString(b[:])
		if strings.Contains(s, "+") && strings.Contains(s, "/") {
			return s
		}
	}
}

func newTicket() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return "pDF3iY" + hex.EncodeToString(b[:])
}

// IssueOpenCard is a user taking a JUMP_ACTIVATE card of template
// o.CardID: the card is NOT_ACTIVATE under a fresh 24-digit code until
// the activation API activates it. The handout's EncryptCode decrypts
// (decrypt-code) with this card's card_id only; its ActivateTicket reads
// the user's form (activate-informations) for ActivateTicketLife, until
// the card is activated.
func (c *Cards) IssueOpenCard(o OpenCardIssue) (OpenCardHandout, error) {
	if err := o.validate(); err != nil {
		return OpenCardHandout{}, err
	}
	if !c.cardExists(o.CardID) {
		return OpenCardHandout{}, fmt.Errorf("membercardtest: OpenCardIssue.CardID %q is no card template: make it with AddCard", o.CardID)
	}
	now := c.srv.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	oc := c.addOpenCard(o, membercard.OpenCardNotActivated)
	oc.encryptCode, oc.ticket, oc.ticketExpires = newEncryptCode(), newTicket(), now.Add(ActivateTicketLife)
	c.encryptCodes[oc.encryptCode] = oc.card.Code
	c.tickets[oc.ticket] = oc.card.Code
	return OpenCardHandout{Code: oc.card.Code, EncryptCode: oc.encryptCode, ActivateTicket: oc.ticket, OpenID: o.OpenID}, nil
}

// addOpenCard stores a card of o in state. c.mu is held.
func (c *Cards) addOpenCard(o OpenCardIssue, state string) *openCard {
	code := c.newCode()
	oc := &openCard{card: membercard.OpenUserCard{
		CardID: o.CardID, Code: code, OpenID: o.OpenID, Level: o.Level, UserCardStatus: state,
		BonusValue: o.Bonus, Balance: o.Balance, UserInformation: bytes.Clone(o.UserInformation),
	}}
	if state == membercard.OpenCardEffective {
		oc.card.MembershipNumber = code
	}
	c.openCards[code] = oc
	return oc
}

// AutoActivate is a user taking an AUTO_ACTIVATE card of template
// o.CardID: the card is EFFECTIVE at once under a fresh 24-digit code,
// its membership number the code, and the MEMBERCARD.ACTIVATE_CARD
// notification WeChat Pay would post is returned, signed with the
// stand-in's WeChat Pay public key and encrypted with key, the merchant's
// API v3 key. Its resource is a membercard.OpenCardActivation; the card
// itself is read with the query (GET membercard.OpenUserCardPath).
func (c *Cards) AutoActivate(o OpenCardIssue, key []byte) (code string, h http.Header, body []byte, err error) {
	if err := o.validate(); err != nil {
		return "", nil, nil, err
	}
	if len(key) != wxsign.APIv3KeyLength {
		return "", nil, nil, fmt.Errorf("membercardtest: AutoActivate: the key is %d bytes, want %d", len(key), wxsign.APIv3KeyLength)
	}
	if !c.cardExists(o.CardID) {
		return "", nil, nil, fmt.Errorf("membercardtest: OpenCardIssue.CardID %q is no card template: make it with AddCard", o.CardID)
	}
	now := c.now()
	c.mu.Lock()
	code = c.addOpenCard(o, membercard.OpenCardEffective).card.Code
	c.mu.Unlock()
	nt := c.srv.Notifier(bytes.Clone(key))
	nt.Now = c.srv.Now
	h, body, err = nt.Build(wxpaytest.Notification{
		EventType: membercard.OpenCardActivateEvent, Summary: activateSum,
		Resource: membercard.OpenCardActivation{
			EventType: membercard.OpenCardActivateResourceEvent, CardID: o.CardID, Code: code, EventTime: now,
			ActivateScene: membercard.ActivateSceneNew, OpenID: o.OpenID,
		},
		OriginalType: membercard.OpenCardResourceType, AssociatedData: membercard.OpenCardResourceType,
	}, wxpaytest.Genuine)
	return code, h, body, err
}

// PostAutoActivate activates a card as AutoActivate does and posts its
// notification to url with client (nil: http.DefaultClient). status is the
// receiver's; err is only a failure to deliver, when code is still the
// card that was activated.
func (c *Cards) PostAutoActivate(ctx context.Context, client *http.Client, url string, o OpenCardIssue, key []byte) (code string, status int, err error) {
	code, h, body, err := c.AutoActivate(o, key)
	if err != nil {
		return "", 0, err
	}
	status, _, err = wxpaytest.PostNotification(ctx, client, url, h, body)
	return code, status, err
}

// OpenUserCard is the membercard-open card code as WeChat Pay holds it
// now, as the query answers it.
func (c *Cards) OpenUserCard(code string) (membercard.OpenUserCard, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	oc := c.openCards[code]
	if oc == nil {
		return membercard.OpenUserCard{}, false
	}
	return oc.clone(), true
}

// Updates is how many distinct updates (PATCH of the card and of its
// rights) WeChat Pay applied to the membercard-open card code: a request
// sent again with its out_request_no is not counted again.
func (c *Cards) Updates(code string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if oc := c.openCards[code]; oc != nil {
		return oc.updates
	}
	return 0
}

// noBody refuses a GET with a body.
func noBody(call *wxpaytest.Call) (wxpaytest.Reply, bool) {
	if len(call.Body) != 0 {
		return wxpaytest.Error(http.StatusBadRequest, "INVALID_REQUEST", "GET 请求不应有包体"), false
	}
	return wxpaytest.Reply{}, true
}

// openCardCall checks the card_id and code of a membercard-open path, and
// that the query is empty.
func openCardCall(call *wxpaytest.Call) (cardID, code string, reply wxpaytest.Reply, ok bool) {
	cardID, code = call.PathValue("card_id"), call.PathValue("code")
	if err := firstError(membercard.CheckID("card_id", cardID, 32), membercard.CheckUserCardCode("code", code)); err != nil {
		return "", "", paramError(err), false
	}
	if name, found := undefinedKey(call.Query); found {
		return "", "", undefinedParam(name), false
	}
	return cardID, code, wxpaytest.Reply{}, true
}

// firstError is the first of errs that is not nil.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// openCardOf is the card code of card template cardID. c.mu is held.
func (c *Cards) openCardOf(cardID, code string) (*openCard, wxpaytest.Reply, bool) {
	oc := c.openCards[code]
	if oc == nil || oc.card.CardID != cardID {
		return nil, wxpaytest.Error(http.StatusNotFound, "NOT_FOUND", openCardAbsent), false
	}
	return oc, wxpaytest.Reply{}, true
}

func (c *Cards) decryptCode(call *wxpaytest.Call) wxpaytest.Reply {
	if reply, ok := noBody(call); !ok {
		return reply
	}
	cardID := call.PathValue("card_id")
	if err := membercard.CheckID("card_id", cardID, 32); err != nil {
		return paramError(err)
	}
	if name, found := undefinedKey(call.Query, "encrypt_code"); found {
		return undefinedParam(name)
	}
	vs := call.Query["encrypt_code"]
	if len(vs) > 1 {
		return paramError(&membercard.FieldError{Field: "encrypt_code", Reason: "appears more than once"})
	}
	v := ""
	if len(vs) == 1 {
		v = vs[0]
	}
	if err := membercard.CheckEncryptCode("encrypt_code", v); err != nil {
		return paramError(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	oc := c.openCards[c.encryptCodes[v]]
	if oc == nil || oc.card.CardID != cardID {
		return wxpaytest.Error(http.StatusBadRequest, "INVALID_REQUEST", decryptFailed)
	}
	return wxpaytest.OK(membercard.DecryptedCode{Code: oc.card.Code})
}

func (c *Cards) getOpenCard(call *wxpaytest.Call) wxpaytest.Reply {
	if reply, ok := noBody(call); !ok {
		return reply
	}
	cardID, code, reply, ok := openCardCall(call)
	if !ok {
		return reply
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	oc, reply, ok := c.openCardOf(cardID, code)
	if !ok {
		return reply
	}
	return wxpaytest.OK(oc.card)
}

func (c *Cards) activateInformation(call *wxpaytest.Call) wxpaytest.Reply {
	if reply, ok := noBody(call); !ok {
		return reply
	}
	ticket := call.PathValue("activate_ticket")
	if err := membercard.CheckActivateTicket("activate_ticket", ticket); err != nil {
		return paramError(err)
	}
	if name, found := undefinedKey(call.Query); found {
		return undefinedParam(name)
	}
	now := c.srv.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	oc := c.openCards[c.tickets[ticket]]
	if oc == nil || oc.ticket != ticket || !now.Before(oc.ticketExpires) {
		return wxpaytest.Error(http.StatusBadRequest, "INVALID_REQUEST", ticketInvalid)
	}
	return wxpaytest.OK(membercard.ActivateInformation{UserInformation: oc.card.UserInformation})
}

func (c *Cards) activate(call *wxpaytest.Call) wxpaytest.Reply {
	cardID, code, reply, ok := openCardCall(call)
	if !ok {
		return reply
	}
	var req membercard.ActivateRequest
	if err := decode(call.Body, &req); err != nil {
		return paramError(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	oc, reply, ok := c.openCardOf(cardID, code)
	if !ok {
		return reply
	}
	switch oc.card.UserCardStatus {
	case membercard.OpenCardNotActivated:
	case membercard.OpenCardEffective:
		return wxpaytest.Error(http.StatusBadRequest, "INVALID_REQUEST", alreadyActive)
	default:
		return wxpaytest.Error(http.StatusBadRequest, "INVALID_REQUEST", badCardState)
	}
	oc.card.UserCardStatus = membercard.OpenCardEffective
	oc.card.MembershipNumber = req.MembershipNumber
	if oc.card.MembershipNumber == "" {
		oc.card.MembershipNumber = code
	}
	// The activation spends the ticket: the form has been used.
	delete(c.tickets, oc.ticket)
	oc.ticket = ""
	return wxpaytest.Reply{Status: http.StatusNoContent}
}

// once applies an update under out_request_no once: a request sent again
// with the same out_request_no and the same meaning (api, path and
// decoded body) is answered as the first was, and changes nothing; one
// with another meaning is refused. The key is per caller, as an
// out_request_no is unique per merchant. c.mu is held.
func (c *Cards) once(caller, api, outRequestNo, path string, req any, apply func() wxpaytest.Reply) wxpaytest.Reply {
	canonical, err := json.Marshal(req)
	if err != nil {
		panic(err) // a type of package membercard: always encodes
	}
	key := caller + " " + api + " " + outRequestNo
	meaning := path + " " + string(canonical)
	if done, seen := c.applied[key]; seen {
		if done.meaning != meaning {
			return wxpaytest.Error(http.StatusBadRequest, "INVALID_REQUEST", duplicateOutNo)
		}
		return done.reply
	}
	reply := apply()
	if reply.Status >= 200 && reply.Status <= 299 {
		c.applied[key] = appliedRequest{meaning: meaning, reply: reply}
	}
	return reply
}

// appliedRequest is an update applied under an out_request_no, and its
// answer.
type appliedRequest struct {
	meaning string
	reply   wxpaytest.Reply
}

// changeCall reads a change of a membercard-open card: its path, its body
// into req, and the card, which it answers with c.mu held (ok only).
func (c *Cards) changeCall(call *wxpaytest.Call, req interface{ Validate() error }) (*openCard, wxpaytest.Reply, bool) {
	cardID, code, reply, ok := openCardCall(call)
	if !ok {
		return nil, reply, false
	}
	if err := decode(call.Body, req); err != nil {
		return nil, paramError(err), false
	}
	c.mu.Lock()
	oc, reply, ok := c.openCardOf(cardID, code)
	if !ok {
		c.mu.Unlock()
		return nil, reply, false
	}
	return oc, wxpaytest.Reply{}, true
}

func (c *Cards) updateOpenCard(call *wxpaytest.Call) wxpaytest.Reply {
	var req membercard.OpenUserCardUpdateRequest
	oc, reply, ok := c.changeCall(call, &req)
	if !ok {
		return reply
	}
	defer c.mu.Unlock()
	return c.once(call.Caller.ID, "update", req.OutRequestNo, call.Path, req, func() wxpaytest.Reply {
		if oc.card.UserCardStatus != membercard.OpenCardEffective {
			return wxpaytest.Error(http.StatusBadRequest, "INVALID_REQUEST", badCardState)
		}
		if b := req.BalanceInformation; b != nil && b.BeforeBalance != oc.card.Balance {
			return wxpaytest.Error(http.StatusBadRequest, "INVALID_REQUEST", balanceChanged)
		}
		if req.Level != "" {
			oc.card.Level = req.Level
		}
		if b := req.BalanceInformation; b != nil {
			oc.card.Balance = b.Balance
		}
		oc.updates++
		return wxpaytest.Reply{Status: http.StatusNoContent}
	})
}

func (c *Cards) updateRights(call *wxpaytest.Call) wxpaytest.Reply {
	var req membercard.RightsRequest
	oc, reply, ok := c.changeCall(call, &req)
	if !ok {
		return reply
	}
	defer c.mu.Unlock()
	return c.once(call.Caller.ID, "rights", req.OutRequestNo, call.Path, req, func() wxpaytest.Reply {
		if oc.card.UserCardStatus != membercard.OpenCardEffective {
			return wxpaytest.Error(http.StatusBadRequest, "INVALID_REQUEST", badCardState)
		}
		before := oc.card.BonusValue
		if req.BeforeBonusValue != nil {
			if *req.BeforeBonusValue != before {
				return wxpaytest.Error(http.StatusBadRequest, "INVALID_REQUEST", bonusChanged)
			}
		}
		bonus := before
		switch {
		case req.BonusValue != nil:
			bonus = *req.BonusValue
		case req.AddBonusValue != nil:
			bonus = before + *req.AddBonusValue
		}
		if bonus < 0 || bonus > membercard.MaxPoints {
			return wxpaytest.Error(http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf("积分须在0到%d之间", membercard.MaxPoints))
		}
		oc.card.BonusValue = bonus
		oc.updates++
		return wxpaytest.Reply{Status: http.StatusNoContent}
	})
}
