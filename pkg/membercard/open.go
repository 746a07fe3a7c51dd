package membercard

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
)

// Paths of the membercard-open (商家会员卡) APIs a merchant or service
// provider calls, signed WECHATPAY2 (merchant doc 4012550742, 4012547768,
// 4012550779, 4012550809, 4012549292, 4012551213; the partner pages show
// the same paths and no sub_mchid). GET and PATCH of OpenUserCardRoute are
// two APIs: the query and the update of a user's card.
const (
	DecryptCodeRoute         = "/v3/marketing/membercard-open/cards/{card_id}/decrypt-code"
	OpenUserCardRoute        = "/v3/marketing/membercard-open/cards/{card_id}/codes/{code}"
	ActivateInformationRoute = "/v3/marketing/membercard-open/activate-informations/{activate_ticket}"
	ActivateRoute            = "/v3/marketing/membercard-open/cards/{card_id}/codes/{code}/activate"
	RightsRoute              = "/v3/marketing/membercard-open/cards/{card_id}/codes/{code}/rights"
)

// DecryptCodePath is the path and query of the decryption of the
// encrypt_code WeChat Pay hands a JUMP_ACTIVATE page: GET
// …/cards/{card_id}/decrypt-code?encrypt_code=…. Pass the encrypt_code
// exactly as received: it is percent-encoded here once (its + / = become
// %2B %2F %3D), and that path is the one to sign and send.
func DecryptCodePath(cardID, encryptCode string) string {
	q := url.Values{"encrypt_code": {encryptCode}}
	return "/v3/marketing/membercard-open/cards/" + pathSegment(cardID) + "/decrypt-code?" + q.Encode()
}

// OpenUserCardPath is the path of a user's membercard-open card: GET reads
// it (answered with an OpenUserCard), PATCH updates it (an
// OpenUserCardUpdateRequest, answered 204).
func OpenUserCardPath(cardID, code string) string {
	return "/v3/marketing/membercard-open/cards/" + pathSegment(cardID) + "/codes/" + pathSegment(code)
}

// ActivateInformationPath is the path of the form a user filled in to
// activate a JUMP_ACTIVATE card, read with the activate_ticket WeChat Pay
// hands the activation page (answered with an ActivateInformation).
func ActivateInformationPath(ticket string) string {
	return "/v3/marketing/membercard-open/activate-informations/" + pathSegment(ticket)
}

// ActivatePath is the path of the activation of a JUMP_ACTIVATE card, POST
// with an ActivateRequest, answered 204.
func ActivatePath(cardID, code string) string {
	return OpenUserCardPath(cardID, code) + "/activate"
}

// RightsPath is the path of the update of a user's points (and other
// rights), PATCH with a RightsRequest, answered 204.
func RightsPath(cardID, code string) string {
	return OpenUserCardPath(cardID, code) + "/rights"
}

// Bounds of the values of the card APIs.
const (
	// MaxPoints bounds points and balances, which must be 0 to MaxPoints:
	// WeChat Pay documents them as integers, and SKIT, the C# SDK, types
	// them int32.
	MaxPoints = math.MaxInt32
	// OpenLevelMax is the length of a membercard-open level, string(5).
	OpenLevelMax = 5
	// BrandLevelMax is the length of a brand card's level in its update,
	// string(10).
	BrandLevelMax = 10
	// MaxAttach is the length of a brand card's attach, the merchant's
	// data packet, string(256).
	MaxAttach = 256
)

// maxBalanceRemark: WeChat Pay's length of balance_remark was not found;
// 64 characters is ours.
const maxBalanceRemark = 64

// The states of a membercard-open user card (user_card_status). There is
// no ACTIVATED: an activated card is EFFECTIVE.
const (
	OpenCardNotActivated = "NOT_ACTIVATE" // taken, waiting for its JUMP_ACTIVATE activation
	OpenCardEffective    = "EFFECTIVE"
	OpenCardExpired      = "EXPIRE"
	OpenCardUnavailable  = "UNAVAILABLE"
	OpenCardDeleted      = "DELETE"
)

// DecryptedCode is the answer of the decrypt-code API.
type DecryptedCode struct {
	Code string `json:"code"`
}

// OpenUserCard is a user's membercard-open card as the query answers it
// (GET OpenUserCardPath). WeChat Pay marks every field optional: openid is
// missing for a member synced by phone number who never claimed the card.
// UserInformation is the form the user filled in
// ({"common_field_list":[{"name","value"}],"custom_field_list":[…]}), kept
// as received. Decode answers with encoding/json, not Decode.
type OpenUserCard struct {
	CardID               string          `json:"card_id"`
	Code                 string          `json:"code"`
	OpenID               string          `json:"openid"`
	MembershipNumber     string          `json:"membership_number"`
	Level                string          `json:"level"`
	UserCardStatus       string          `json:"user_card_status"` // OpenCardNotActivated…
	BonusValue           int64           `json:"bonus_value"`      // the points
	Balance              int64           `json:"balance"`          // the stored value; fen (unit not documented)
	UserInformation      json.RawMessage `json:"user_information,omitempty"`
	Nickname             string          `json:"nickname,omitempty"`
	HeadImageURL         string          `json:"head_image_url,omitempty"`
	BackgroundPictureURL string          `json:"background_picture_url,omitempty"`
}

// ActivateInformation is the answer of the activate-informations API: what
// the user filled in on WeChat's activation form. It carries no openid,
// code or points.
type ActivateInformation struct {
	Nickname        string          `json:"nickname,omitempty"`
	HeadImageURL    string          `json:"head_image_url,omitempty"`
	UserInformation json.RawMessage `json:"user_information,omitempty"`
}

// ActivateRequest is the body of the activation, POST ActivatePath: only
// the membership number, which defaults to the code. Level, points and
// balance are set afterwards, with OpenUserCardUpdateRequest and
// RightsRequest.
type ActivateRequest struct {
	MembershipNumber string `json:"membership_number,omitempty"`
}

// Validate checks the documented rules.
func (r *ActivateRequest) Validate() error {
	if r.MembershipNumber == "" {
		return nil
	}
	return CheckMembershipNumber("membership_number", r.MembershipNumber)
}

// OpenUserCardUpdateRequest is the body of the update of a user's card,
// PATCH OpenUserCardPath, answered 204: its level and its balance. WeChat
// Pay's API also takes membership_number, background_picture_url,
// need_inform_balance and need_inform_level, which this type does not
// hold; Decode refuses them.
type OpenUserCardUpdateRequest struct {
	// Level is 1 to OpenLevelMax characters of text.
	Level string `json:"level,omitempty"`
	// OutRequestNo makes the update idempotent: 1 to 32 characters of
	// [0-9A-Za-z|_*-], unique per update.
	OutRequestNo       string              `json:"out_request_no"`
	BalanceInformation *BalanceInformation `json:"balance_information,omitempty"`
}

// Validate checks the documented rules; the error names the first field
// that breaks one.
func (r *OpenUserCardUpdateRequest) Validate() error {
	var errs []error
	if r.Level != "" {
		errs = append(errs, CheckLevel("level", r.Level, OpenLevelMax))
	}
	errs = append(errs, checkOpenOutRequestNo("out_request_no", r.OutRequestNo, 32))
	if r.BalanceInformation != nil {
		errs = append(errs, r.BalanceInformation.Validate())
	}
	return firstError(errs...)
}

// BalanceInformation is a change of a card's stored value: from
// BeforeBalance (which must be the card's balance now) to Balance, by
// AddBalance, all three required.
type BalanceInformation struct {
	BeforeBalance int64  `json:"before_balance"`
	Balance       int64  `json:"balance"`
	AddBalance    int64  `json:"add_balance"`
	BalanceRemark string `json:"balance_remark,omitempty"`
}

// requiredKeys are the keys a body must hold: 0 is a balance, so a missing
// key cannot be told from the value.
func (*BalanceInformation) requiredKeys() []string {
	return []string{"before_balance", "balance", "add_balance"}
}

// Validate checks that both balances are 0 to MaxPoints and that
// add_balance is balance − before_balance. Errors name the field under
// balance_information.
func (b *BalanceInformation) Validate() error {
	const p = "balance_information."
	err := firstError(
		checkPoints(p+"before_balance", b.BeforeBalance),
		checkPoints(p+"balance", b.Balance),
	)
	if err != nil {
		return err
	}
	if b.AddBalance != b.Balance-b.BeforeBalance {
		return &FieldError{Field: p + "add_balance", Reason: "must be balance - before_balance"}
	}
	if b.BalanceRemark != "" {
		return checkText(p+"balance_remark", b.BalanceRemark, maxBalanceRemark)
	}
	return nil
}

// RightsRequest is the body of the update of a user's points, PATCH
// RightsPath, answered 204. BonusValue is the new value shown on the card;
// AddBonusValue the change (negative takes points away); BeforeBonusValue
// the value it changes from. All three are optional; when all are given,
// add_bonus_value must be bonus_value − before_bonus_value. WeChat Pay's
// API also takes need_inform_bonus, member_price_word, fapiao_jump_word and
// guide, which this type does not hold; Decode refuses them.
type RightsRequest struct {
	// OutRequestNo makes the update idempotent: 1 to 128 characters of
	// [0-9A-Za-z|_*-], unique per update.
	OutRequestNo     string `json:"out_request_no"`
	BeforeBonusValue *int64 `json:"before_bonus_value,omitempty"`
	BonusValue       *int64 `json:"bonus_value,omitempty"`
	AddBonusValue    *int64 `json:"add_bonus_value,omitempty"`
}

// Validate checks the documented rules; the error names the first field
// that breaks one.
func (r *RightsRequest) Validate() error {
	if err := checkOpenOutRequestNo("out_request_no", r.OutRequestNo, 128); err != nil {
		return err
	}
	if r.BeforeBonusValue != nil {
		if err := checkPoints("before_bonus_value", *r.BeforeBonusValue); err != nil {
			return err
		}
	}
	if r.BonusValue != nil {
		if err := checkPoints("bonus_value", *r.BonusValue); err != nil {
			return err
		}
	}
	if r.AddBonusValue == nil {
		return nil
	}
	add := *r.AddBonusValue
	if add < -MaxPoints || add > MaxPoints {
		return &FieldError{Field: "add_bonus_value", Reason: fmt.Sprintf("must be between %d and %d", -MaxPoints, MaxPoints)}
	}
	switch {
	case r.BeforeBonusValue != nil && r.BonusValue != nil:
		if add != *r.BonusValue-*r.BeforeBonusValue {
			return &FieldError{Field: "add_bonus_value", Reason: "must be bonus_value - before_bonus_value"}
		}
	case r.BeforeBonusValue != nil:
		if after := *r.BeforeBonusValue + add; after < 0 || after > MaxPoints {
			return &FieldError{Field: "add_bonus_value", Reason: fmt.Sprintf("must keep before_bonus_value + add_bonus_value between 0 and %d", MaxPoints)}
		}
	}
	return nil
}

// OpenCardActivateEvent is the event_type of the notification that a
// membercard-open card was activated: at once for an AUTO_ACTIVATE card,
// after the activation API for a JUMP_ACTIVATE one.
const OpenCardActivateEvent = "MEMBERCARD.ACTIVATE_CARD"

// OpenCardResourceType is the original_type of a membercard-open
// notification's resource, and the associated data it is decrypted with.
const OpenCardResourceType = "membercard"

// The values of an activation's resource: its event_type, and the
// activate_scene of a new member or of one who takes a deleted card back.
const (
	OpenCardActivateResourceEvent = "MEMBER_CARD_ACTIVATE"
	ActivateSceneNew              = "NEW_ACTIVATE"
	ActivateSceneRecover          = "RECOVER"
)

// OpenCardActivation is the decrypted resource of an OpenCardActivateEvent
// notification. It names the card and user only: a receiver reads the
// member's information with the query (GET OpenUserCardPath).
type OpenCardActivation struct {
	EventType     string `json:"event_type"` // OpenCardActivateResourceEvent
	CardID        string `json:"card_id"`
	Code          string `json:"code"`
	EventTime     string `json:"event_time"`
	ActivateScene string `json:"activate_scene"` // ActivateSceneNew or ActivateSceneRecover
	OpenID        string `json:"openid"`
	UnionID       string `json:"unionid,omitempty"`
	OuterStr      string `json:"outer_str,omitempty"`
}

// CheckOutRequestNo checks a required out_request_no of the brand
// user-points sync: 1 to max characters of [0-9A-Za-z_-] ("英文半角的数字、
// 字母、连接线-和下划线_"). The membercard-open updates also accept | and
// *; their request types check that themselves.
func CheckOutRequestNo(field, v string, max int) error {
	return checkOutRequestNo(field, v, max, false)
}

// checkOpenOutRequestNo is the membercard-open out_request_no:
// [0-9A-Za-z|_*-].
func checkOpenOutRequestNo(field, v string, max int) error {
	return checkOutRequestNo(field, v, max, true)
}

func checkOutRequestNo(field, v string, max int, pipeStar bool) error {
	if v == "" {
		return &FieldError{Field: field, Reason: "is required"}
	}
	if len(v) > max {
		return &FieldError{Field: field, Reason: fmt.Sprintf("must be at most %d characters", max)}
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if isIDByte(c) || pipeStar && (c == '|' || c == '*') {
			continue
		}
		if pipeStar {
			return &FieldError{Field: field, Reason: "may contain only letters, digits, '|', '_', '*' and '-'"}
		}
		return &FieldError{Field: field, Reason: "may contain only letters, digits, '_' and '-'"}
	}
	return nil
}

// checkPrintable checks 1 to max bytes of printable ASCII without space,
// 0x21 to 0x7E.
func checkPrintable(field, v string, max int, what string) error {
	if v == "" {
		return &FieldError{Field: field, Reason: "is required"}
	}
	if len(v) > max {
		return &FieldError{Field: field, Reason: fmt.Sprintf("must be at most %d characters", max)}
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return &FieldError{Field: field, Reason: "may contain only " + what}
		}
	}
	return nil
}

// CheckEncryptCode checks an encrypt_code as WeChat Pay hands it: 1 to
// 128 characters of printable ASCII without space (it is Base64, with + /
// and =).
func CheckEncryptCode(field, v string) error {
	return checkPrintable(field, v, 128, "printable ASCII without space")
}

// CheckActivateTicket checks an activate_ticket: 1 to 256 characters of
// printable ASCII without space. "." and ".." are refused: the ticket is a
// path segment, and a proxy may resolve them into another API's path.
func CheckActivateTicket(field, v string) error {
	if err := checkPrintable(field, v, 256, "printable ASCII without space"); err != nil {
		return err
	}
	if v == "." || v == ".." {
		return &FieldError{Field: field, Reason: "must not be . or .."}
	}
	return nil
}

// CheckMembershipNumber checks a membership number: 1 to 32 digits,
// English letters and half-width punctuation ("只能录入数字/英文/半角标点"),
// that is printable ASCII without space. The field is optional where it
// appears: check it when it is given.
func CheckMembershipNumber(field, v string) error {
	return checkPrintable(field, v, 32, "digits, English letters and half-width punctuation")
}

// CheckLevel checks a member's level, a display text: 1 to max characters
// (not bytes) of text, without control or invisible characters.
// OpenLevelMax is a membercard-open card's; BrandLevelMax a brand card's.
func CheckLevel(field, v string, max int) error {
	if v == "" {
		return &FieldError{Field: field, Reason: "is required"}
	}
	return checkText(field, v, max)
}

// checkPoints checks a number of points or a balance: 0 to MaxPoints.
func checkPoints(field string, v int64) error {
	if v < 0 || v > MaxPoints {
		return &FieldError{Field: field, Reason: fmt.Sprintf("must be between 0 and %d", MaxPoints)}
	}
	return nil
}
