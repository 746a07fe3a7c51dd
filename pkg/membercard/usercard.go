package membercard

import (
	"net/url"
	"time"
)

// Paths of the user-card APIs (brand doc 4015582750 and 4015582716,
// partner doc 4015336979 and 4015336980). A card opened in the membership
// component counts only once the merchant confirms it; the query is how a
// caller learns what WeChat Pay holds after an answer it lost.
const (
	UserCardConfirmRoute        = "/brand/card-member/user-cards/{user_card_code}/confirm"
	PartnerUserCardConfirmRoute = "/v3/brand/partner/card-member/user-cards/{user_card_code}/confirm"
	UserCardRoute               = "/brand/card-member/user-cards/{user_card_code}"
	PartnerUserCardRoute        = "/v3/brand/partner/card-member/user-cards/{user_card_code}"
)

// UserCardConfirmPath is the path of the brand confirm API for a user card.
func UserCardConfirmPath(code string) string {
	return "/brand/card-member/user-cards/" + pathSegment(code) + "/confirm"
}

// PartnerUserCardConfirmPath is the path of the service provider's confirm
// API for a user card.
func PartnerUserCardConfirmPath(code string) string {
	return "/v3/brand/partner/card-member/user-cards/" + pathSegment(code) + "/confirm"
}

// UserCardPath is the path and query of the brand user-card query: GET
// /brand/card-member/user-cards/{code}?card_id=…&openid=…. The query is
// encoded by url.Values, in its fixed (sorted) order, so the path a caller
// signs is the path it sends.
func UserCardPath(code, cardID, openID string) string {
	q := url.Values{"card_id": {cardID}, "openid": {openID}}
	return "/brand/card-member/user-cards/" + pathSegment(code) + "?" + q.Encode()
}

// PartnerUserCardPath is the path and query of the service provider's
// user-card query, which names the brand too:
// ?brand_id=…&card_id=…&openid=….
func PartnerUserCardPath(code, brandID, cardID, openID string) string {
	q := url.Values{"brand_id": {brandID}, "card_id": {cardID}, "openid": {openID}}
	return "/v3/brand/partner/card-member/user-cards/" + pathSegment(code) + "?" + q.Encode()
}

// The states a confirmation gives a user card (user_card_confirm_state).
const (
	ConfirmSuccess = "CREATE_CARD_SUCCESS" // the user becomes a member: the card turns EFFECTIVE
	ConfirmFail    = "CREATE_CARD_FAIL"    // the opening is refused: the card turns INVALID
)

// The states of a user card (user_card_state), as the user-card list API
// documents them (partner doc 4015336984, brand doc 4015582718).
const (
	UserCardUnactivated = "UNACTIVATED" // opened, not yet confirmed (用户已领卡,但还未激活)
	UserCardEffective   = "EFFECTIVE"   // usable (可正常使用)
	UserCardExpired     = "EXPIRED"     // past its validity (已过期)
	UserCardInvalid     = "INVALID"     // refused or deleted (已失效)
)

// The kinds of card (card_type).
const (
	CardTypeNormal   = "NORMAL"
	CardTypePurchase = "PURCHASE"
	CardTypeBalance  = "BALANCE"
)

// The kinds of validity period (valid_date_information.type).
const (
	ValidDateFixTimeRange = "FIX_TIME_RANGE" // from available_begin_time to available_end_time
	ValidDateFixTerm      = "FIX_TERM"       // available_day_after_receive days from the opening
	ValidDatePermanent    = "PERMANENT"      // no end
)

// Event types of the notifications that a user opened (CREATE) or deleted
// (DELETE) a card. A brand's own cards notify under BRAND_MEMBER_CARD; a
// service provider's under BRAND_MEMBER_CARD_SP since August 2025, and
// under MEMBERCARDSP before: a receiver accepts both, as notifications
// signed before the rename may still be retried after it.
const (
	BrandUserCardCreateEvent         = "BRAND_MEMBER_CARD.USER_CARD.CREATE"
	BrandUserCardDeleteEvent         = "BRAND_MEMBER_CARD.USER_CARD.DELETE"
	PartnerUserCardCreateEvent       = "BRAND_MEMBER_CARD_SP.USER_CARD.CREATE"
	PartnerUserCardDeleteEvent       = "BRAND_MEMBER_CARD_SP.USER_CARD.DELETE"
	LegacyPartnerUserCardCreateEvent = "MEMBERCARDSP.USER_CARD.CREATE"
	LegacyPartnerUserCardDeleteEvent = "MEMBERCARDSP.USER_CARD.DELETE"
)

// UserCardResourceType is the original_type and associated_data of a
// user-card notification's resource: the AEAD associated data a receiver
// decrypts it with.
const UserCardResourceType = "user_card"

// IsUserCardCreateEvent reports whether an event type is a user opening a
// card, under any of its names.
func IsUserCardCreateEvent(eventType string) bool {
	switch eventType {
	case BrandUserCardCreateEvent, PartnerUserCardCreateEvent, LegacyPartnerUserCardCreateEvent:
		return true
	}
	return false
}

// IsUserCardDeleteEvent reports whether an event type is a user deleting a
// card, under any of its names.
func IsUserCardDeleteEvent(eventType string) bool {
	switch eventType {
	case BrandUserCardDeleteEvent, PartnerUserCardDeleteEvent, LegacyPartnerUserCardDeleteEvent:
		return true
	}
	return false
}

// Lengths of the confirm API's free-text fields, in characters.
const (
	// maxLevel: WeChat Pay documents no length for level; 32 is ours, the
	// length of its other short names, so that a decision cannot send
	// WeChat Pay a paragraph.
	maxLevel = 32
	// maxCardPictureURL is WeChat Pay's string(256).
	maxCardPictureURL = 256
	// maxUserCardCode is WeChat Pay's string(32) of the path parameter.
	maxUserCardCode = 32
)

// ValidDateInformation is a card's validity period.
type ValidDateInformation struct {
	Type                     string `json:"type"`
	AvailableBeginTime       string `json:"available_begin_time,omitempty"` // RFC 3339, FIX_TIME_RANGE only
	AvailableEndTime         string `json:"available_end_time,omitempty"`   // RFC 3339, FIX_TIME_RANGE only
	AvailableDayAfterReceive int    `json:"available_day_after_receive,omitempty"`
}

// Validate checks that the period carries exactly what its type needs:
// FIX_TIME_RANGE both times, in RFC 3339, the beginning before the end;
// FIX_TERM available_day_after_receive, at least 1; PERMANENT none of them.
// A field of another type is refused rather than sent: WeChat Pay would
// either refuse it or ignore it, and either way the period would not be
// the one the caller meant. Errors name the field under
// valid_date_information, the only key the object appears under.
func (v *ValidDateInformation) Validate() error {
	const p = "valid_date_information."
	hasTimes := v.AvailableBeginTime != "" || v.AvailableEndTime != ""
	hasDays := v.AvailableDayAfterReceive != 0
	switch v.Type {
	case ValidDateFixTimeRange:
		if hasDays {
			return &FieldError{Field: p + "available_day_after_receive", Reason: "is only for FIX_TERM"}
		}
		begin, err := parseTime(p+"available_begin_time", v.AvailableBeginTime)
		if err != nil {
			return err
		}
		end, err := parseTime(p+"available_end_time", v.AvailableEndTime)
		if err != nil {
			return err
		}
		if !begin.Before(end) {
			return &FieldError{Field: p + "available_end_time", Reason: "must be after available_begin_time"}
		}
	case ValidDateFixTerm:
		if hasTimes {
			return &FieldError{Field: p + "available_begin_time", Reason: "and available_end_time are only for FIX_TIME_RANGE"}
		}
		if v.AvailableDayAfterReceive < 1 {
			return &FieldError{Field: p + "available_day_after_receive", Reason: "must be at least 1 when type is FIX_TERM"}
		}
	case ValidDatePermanent:
		if hasTimes || hasDays {
			return &FieldError{Field: p + "type", Reason: "PERMANENT takes no available_begin_time, available_end_time or available_day_after_receive"}
		}
	case "":
		return &FieldError{Field: p + "type", Reason: "is required"}
	default:
		return &FieldError{Field: p + "type", Reason: "must be FIX_TIME_RANGE, FIX_TERM or PERMANENT"}
	}
	return nil
}

// parseTime reads a required RFC 3339 time, as WeChat Pay refuses any
// other form (268576040, 传入时间不符合RFC3339标准格式).
func parseTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, &FieldError{Field: field, Reason: "is required when type is FIX_TIME_RANGE"}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, &FieldError{Field: field, Reason: "must be an RFC 3339 time such as 2025-06-22T00:00:00+08:00"}
	}
	return t, nil
}

// UserCardConfirmRequest is the body of the brand confirm API, POST
// /brand/card-member/user-cards/{user_card_code}/confirm; the brand is the
// one that signs it. The optional fields change the card as it is
// confirmed; empty ones are omitted, as WeChat Pay takes no null.
//
// There is no fail_reason: neither confirm API defines one (it belongs to
// the membercard-open confirm, partner doc 4024293896), and WeChat Pay
// refuses a parameter its API does not define (PARAM_ERROR 270924358).
type UserCardConfirmRequest struct {
	CardID               string `json:"card_id"`
	OpenID               string `json:"openid"`
	UserCardConfirmState string `json:"user_card_confirm_state"` // ConfirmSuccess or ConfirmFail
	// Level is the member's level, such as 钻石会员: 1 to 32 characters of
	// text (WeChat Pay documents no length; 32 is ours).
	Level string `json:"level,omitempty"`
	// Attach is the merchant's data packet: at most 256 characters of text.
	Attach string `json:"attach,omitempty"`
	// CardColor is #RRGGBB.
	CardColor string `json:"card_color,omitempty"`
	// CardPictureURL is an https URL of at most 256 characters, from
	// WeChat Pay's image-upload API.
	CardPictureURL       string                `json:"card_picture_url,omitempty"`
	ValidDateInformation *ValidDateInformation `json:"valid_date_information,omitempty"`
}

// Validate checks the documented rules; the error names the first field
// that breaks one.
func (r *UserCardConfirmRequest) Validate() error {
	return firstError(
		CheckID("card_id", r.CardID, 32),
		CheckID("openid", r.OpenID, 128),
		checkConfirmState(r.UserCardConfirmState),
		r.checkOptional(),
	)
}

func checkConfirmState(v string) error {
	switch v {
	case ConfirmSuccess, ConfirmFail:
		return nil
	case "":
		return &FieldError{Field: "user_card_confirm_state", Reason: "is required"}
	}
	return &FieldError{Field: "user_card_confirm_state", Reason: "must be CREATE_CARD_SUCCESS or CREATE_CARD_FAIL"}
}

func (r *UserCardConfirmRequest) checkOptional() error {
	var errs []error
	if r.Level != "" {
		errs = append(errs, checkText("level", r.Level, maxLevel))
	}
	if r.Attach != "" {
		errs = append(errs, checkText("attach", r.Attach, MaxAttach))
	}
	if r.CardColor != "" {
		errs = append(errs, checkColor("card_color", r.CardColor))
	}
	if r.CardPictureURL != "" {
		errs = append(errs, checkHTTPSURL("card_picture_url", r.CardPictureURL, maxCardPictureURL))
	}
	if r.ValidDateInformation != nil {
		errs = append(errs, r.ValidDateInformation.Validate())
	}
	return firstError(errs...)
}

// PartnerUserCardConfirmRequest is the body of the service provider's
// confirm API, POST
// /v3/brand/partner/card-member/user-cards/{user_card_code}/confirm: the
// brand's body and the brand it is for. card_id is in the body, as the
// newest version of WeChat Pay's page has it (older versions had it in
// the query).
type PartnerUserCardConfirmRequest struct {
	BrandID string `json:"brand_id"`
	UserCardConfirmRequest
}

// Validate checks the documented rules; the error names the first field
// that breaks one.
func (r *PartnerUserCardConfirmRequest) Validate() error {
	return firstError(
		CheckID("brand_id", r.BrandID, 32),
		r.UserCardConfirmRequest.Validate(),
	)
}

// UserCard is a user's card as WeChat Pay answers it: the answer of the
// user-card query and of a confirmation, and the resource of a user-card
// notification. Decode answers with encoding/json, not Decode: WeChat Pay
// may add fields to what it answers (phone_number, user_information…),
// which a caller has no reason to refuse.
type UserCard struct {
	UserCardCode         string                `json:"user_card_code"`
	CardID               string                `json:"card_id"`
	OpenID               string                `json:"openid"`
	BrandID              string                `json:"brand_id"`
	CardType             string                `json:"card_type"` // CardTypeNormal…
	CardColor            string                `json:"card_color,omitempty"`
	CardPictureURL       string                `json:"card_picture_url,omitempty"`
	Level                string                `json:"level,omitempty"`
	Attach               string                `json:"attach,omitempty"`
	ValidDateInformation *ValidDateInformation `json:"valid_date_information,omitempty"`
	PickupTime           string                `json:"pickup_time"`     // RFC 3339: when the user opened it
	UserCardState        string                `json:"user_card_state"` // UserCardUnactivated…
	CreateTime           string                `json:"create_time,omitempty"`
	ModifyTime           string                `json:"modify_time,omitempty"`
}

// CheckUserCardCode checks a user card code, the path parameter of the
// user-card APIs: 1 to 32 ASCII letters, digits and half-width punctuation
// (no space, no control character), as WeChat Pay documents it. A code is
// WeChat Pay's 24 digits, or the merchant's own in MERCHANT_ALLOCATE mode.
// "." and ".." are refused: they are path segments that a proxy may
// resolve into another API's path.
func CheckUserCardCode(field, v string) error {
	if v == "" {
		return &FieldError{Field: field, Reason: "is required"}
	}
	if len(v) > maxUserCardCode {
		return &FieldError{Field: field, Reason: "must be at most 32 characters"}
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return &FieldError{Field: field, Reason: "may contain only letters, digits and half-width punctuation"}
		}
	}
	if v == "." || v == ".." {
		return &FieldError{Field: field, Reason: "must not be . or .."}
	}
	return nil
}

// UserCardUpdatePath is the path and query of the brand's update of a user
// card: PATCH /brand/card-member/user-cards/{code}?card_id=… (the route is
// UserCardRoute), with a UserCardUpdateRequest, answered 200 with the
// UserCard. card_id is in the query, as pay.weixin.qq.com has it.
func UserCardUpdatePath(code, cardID string) string {
	q := url.Values{"card_id": {cardID}}
	return "/brand/card-member/user-cards/" + pathSegment(code) + "?" + q.Encode()
}

// PartnerUserCardUpdatePath is the path and query of the service
// provider's update of a user card: PATCH
// /v3/brand/partner/card-member/user-cards/{code}?card_id=… (the route is
// PartnerUserCardRoute), with a PartnerUserCardUpdateRequest, answered
// 200 with the UserCard.
func PartnerUserCardUpdatePath(code, cardID string) string {
	q := url.Values{"card_id": {cardID}}
	return "/v3/brand/partner/card-member/user-cards/" + pathSegment(code) + "?" + q.Encode()
}

// UserCardUpdateRequest is the body of the brand's update of a user card
// (brand doc 4015582719): the user, and the fields it changes; empty ones
// are omitted and keep their value. It has no out_request_no: the update
// sets values, so sending it again changes nothing more. WeChat Pay's API
// also takes card_color, card_picture_url, phone_number,
// valid_date_information and user_information, which this type does not
// hold; Decode refuses them.
type UserCardUpdateRequest struct {
	OpenID string `json:"openid"`
	// Level is the member's level shown on the card: 1 to BrandLevelMax
	// characters of text.
	Level string `json:"level,omitempty"`
	// Attach is the merchant's data packet: 1 to MaxAttach characters of
	// text.
	Attach string `json:"attach,omitempty"`
}

// Validate checks the documented rules; the error names the first field
// that breaks one.
func (r *UserCardUpdateRequest) Validate() error {
	errs := []error{CheckID("openid", r.OpenID, 128)}
	if r.Level != "" {
		errs = append(errs, CheckLevel("level", r.Level, BrandLevelMax))
	}
	if r.Attach != "" {
		errs = append(errs, checkText("attach", r.Attach, MaxAttach))
	}
	return firstError(errs...)
}

// PartnerUserCardUpdateRequest is the body of the service provider's
// update of a user card (partner doc 4015336985): the brand's body with
// brand_id in front, flat.
type PartnerUserCardUpdateRequest struct {
	BrandID string `json:"brand_id"`
	UserCardUpdateRequest
}

// Validate checks the documented rules; the error names the first field
// that breaks one.
func (r *PartnerUserCardUpdateRequest) Validate() error {
	return firstError(
		CheckID("brand_id", r.BrandID, 32),
		r.UserCardUpdateRequest.Validate(),
	)
}

// Paths of the user-points sync (同步积分余额; brand doc 4015897319,
// partner doc 4015897280): the merchant tells WeChat Pay a member's point
// balance, on its own or when a SYNC_USER_POINT notification asks for it.
// WeChat Pay limits the brand's to 10/s per brand, the partner's to 5/s
// per service provider.
const (
	UserPointsSyncPath        = "/brand/card-member/user-points/sync"
	PartnerUserPointsSyncPath = "/v3/brand/partner/card-member/user-points/sync"
)

// UserPointsSyncRequest is the body of the brand's user-points sync, POST
// UserPointsSyncPath. Every key is required, point_balance too: 0 is a
// balance, so Decode refuses a body without the key.
type UserPointsSyncRequest struct {
	// OutRequestNo makes the sync idempotent: 1 to 128 characters of
	// [0-9A-Za-z_-] (no | or *, unlike membercard-open), unique per sync.
	OutRequestNo string `json:"out_request_no"`
	CardID       string `json:"card_id"`
	OpenID       string `json:"openid"`
	UserCardCode string `json:"user_card_code"`
	// PointBalance is the member's balance, not a change: 0 to MaxPoints.
	PointBalance int64 `json:"point_balance"`
}

func (*UserPointsSyncRequest) requiredKeys() []string {
	return []string{"out_request_no", "card_id", "openid", "user_card_code", "point_balance"}
}

// Validate checks the documented rules; the error names the first field
// that breaks one.
func (r *UserPointsSyncRequest) Validate() error {
	return firstError(
		CheckOutRequestNo("out_request_no", r.OutRequestNo, 128),
		CheckID("card_id", r.CardID, 32),
		CheckID("openid", r.OpenID, 128),
		CheckUserCardCode("user_card_code", r.UserCardCode),
		checkPoints("point_balance", r.PointBalance),
	)
}

// PartnerUserPointsSyncRequest is the body of the service provider's
// user-points sync, POST PartnerUserPointsSyncPath: the brand's body with
// brand_id (string(16)) in front, flat. The brand's body must not carry
// brand_id: WeChat Pay refuses a parameter its API does not define.
type PartnerUserPointsSyncRequest struct {
	BrandID string `json:"brand_id"`
	UserPointsSyncRequest
}

// Validate checks the documented rules; the error names the first field
// that breaks one.
func (r *PartnerUserPointsSyncRequest) Validate() error {
	return firstError(
		CheckID("brand_id", r.BrandID, 16),
		r.UserPointsSyncRequest.Validate(),
	)
}

// UserPointsSync is the answer of both user-points syncs: the request
// echoed, brand_id only in the service provider's (the brand's answer is
// not documented; the stand-in answers it without).
type UserPointsSync struct {
	OutRequestNo string `json:"out_request_no"`
	BrandID      string `json:"brand_id,omitempty"`
	CardID       string `json:"card_id"`
	OpenID       string `json:"openid"`
	UserCardCode string `json:"user_card_code"`
	PointBalance int64  `json:"point_balance"`
}

// Event types of the notification by which WeChat Pay asks for a member's
// point balance, to be answered with the user-points sync. The service
// provider's is documented (partner doc 4016096820), with its older name;
// the brand's follows the brand pattern (brand doc 4016096803).
const (
	BrandSyncUserPointEvent         = "BRAND_MEMBER_CARD.SYNC_USER_POINT"
	PartnerSyncUserPointEvent       = "BRAND_MEMBER_CARD_SP.SYNC_USER_POINT"
	LegacyPartnerSyncUserPointEvent = "MEMBERCARDSP.SYNC_USER_POINT"
)

// SyncUserPointResourceType is the original_type and associated_data of a
// SYNC_USER_POINT notification's resource.
const SyncUserPointResourceType = "sync_user_point"

// IsSyncUserPointEvent reports whether an event type is WeChat Pay asking
// for a member's point balance, under any of its names.
func IsSyncUserPointEvent(eventType string) bool {
	switch eventType {
	case BrandSyncUserPointEvent, PartnerSyncUserPointEvent, LegacyPartnerSyncUserPointEvent:
		return true
	}
	return false
}

// SyncUserPoint is the decrypted resource of a SYNC_USER_POINT
// notification: which member's card. It carries no points: the receiver
// looks up its own and syncs them.
type SyncUserPoint struct {
	BrandID      string `json:"brand_id"`
	CardID       string `json:"card_id"`
	OpenID       string `json:"openid"`
	UserCardCode string `json:"user_card_code"`
}
