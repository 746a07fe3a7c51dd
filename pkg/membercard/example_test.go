package membercard_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wxcard/wxcard/pkg/membercard"
)

// Path parameters are escaped, so an ID can never change which API is called.
func ExampleProductAuthoritiesPath() {
	fmt.Println(membercard.ProductAuthoritiesPath("1004"))
	fmt.Println(membercard.PermissionTokensPath("../../v3/pay"))
	// Output:
	// /v3/brand-basic/partner/brands/1004/product-authorities
	// /v3/marketing/membercard-open/cards/..%2F..%2Fv3%2Fpay/permission-tokens
}

// A request body is decoded with WeChat Pay's rules (exact keys, no null),
// then checked with the API's field rules; the error names the field.
func ExampleDecode() {
	var req membercard.PartnerPreAuthTokenRequest
	err := membercard.Decode([]byte(`{"brand_id":"1004","card_id":"pbLatjvWOibDc5-TBnbUk1pD12o0","openid":"obLatjnx9gnqzS4myYGmLZ7LgLBA"}`), &req)
	fmt.Println(err, req.Validate())

	err = membercard.Decode([]byte(`{"brand_id":"1004","Card_ID":"x"}`), &req)
	fmt.Println(err)

	req = membercard.PartnerPreAuthTokenRequest{BrandID: "1004", CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0"}
	err = req.Validate()
	var fe *membercard.FieldError
	fmt.Println(errors.As(err, &fe), fe.Field)
	// Output:
	// <nil> <nil>
	// card_id must be spelled exactly "card_id"; a key differing in case is not accepted
	// true openid
}

// A confirmation is checked before it is sent: the service provider's body
// is the brand's with brand_id in front, and the code goes into the path
// escaped. An opening refused says so with CREATE_CARD_FAIL and nothing
// else: the confirm APIs define no fail_reason.
func ExamplePartnerUserCardConfirmRequest() {
	req := membercard.PartnerUserCardConfirmRequest{
		BrandID: "1004",
		UserCardConfirmRequest: membercard.UserCardConfirmRequest{
			CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0", OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA",
			UserCardConfirmState: membercard.ConfirmSuccess, Level: "金卡",
			ValidDateInformation: &membercard.ValidDateInformation{Type: membercard.ValidDateFixTerm, AvailableDayAfterReceive: 365},
		},
	}
	if err := req.Validate(); err != nil {
		panic(err)
	}
	body, _ := json.Marshal(req)
	fmt.Println("POST", membercard.PartnerUserCardConfirmPath("478515832665123456789012"))
	fmt.Println(string(body))

	req.CardColor = "red"
	fmt.Println(req.Validate())
	err := membercard.Decode([]byte(`{"brand_id":"1004","card_id":"c","openid":"o","user_card_confirm_state":"CREATE_CARD_FAIL","fail_reason":"x"}`), &req)
	fmt.Println(errors.Is(err, membercard.ErrUnknownField))
	// Output:
	// POST /v3/brand/partner/card-member/user-cards/478515832665123456789012/confirm
	// {"brand_id":"1004","card_id":"pbLatjvWOibDc5-TBnbUk1pD12o0","openid":"obLatjnx9gnqzS4myYGmLZ7LgLBA","user_card_confirm_state":"CREATE_CARD_SUCCESS","level":"金卡","valid_date_information":{"type":"FIX_TERM","available_day_after_receive":365}}
	// card_color must be a colour written #RRGGBB
	// true
}

// The brand's pre-auth token takes a card template and a user; the error
// names the field that breaks a rule.
func ExampleBrandPreAuthTokenRequest_Validate() {
	req := membercard.BrandPreAuthTokenRequest{CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0", OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA"}
	fmt.Println(req.Validate())
	req.OpenID = "obLatjnx9gnqzS4myYGmLZ7LgLBA\n"
	fmt.Println(req.Validate())
	// Output:
	// <nil>
	// openid may contain only letters, digits, '_' and '-'
}

// The service provider's pre-auth token names the brand too.
func ExamplePartnerPreAuthTokenRequest_Validate() {
	req := membercard.PartnerPreAuthTokenRequest{BrandID: "1004", CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0", OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA"}
	fmt.Println(req.Validate())
	req.BrandID = ""
	fmt.Println(req.Validate())
	// Output:
	// <nil>
	// brand_id is required
}

// A permission token activates the card at once, or sends the user
// somewhere to activate it, which must then be named.
func ExamplePermissionTokenRequest_Validate() {
	for _, req := range []membercard.PermissionTokenRequest{
		{ActivateType: membercard.AutoActivate},
		{ActivateType: membercard.JumpActivate, ActivateAppID: "wx0123456789abcdef", ActivatePath: "pages/activate/index"},
		{ActivateType: membercard.JumpActivate},
		{ActivateType: "ACTIVATE"},
	} {
		fmt.Println(req.Validate())
	}
	// Output:
	// <nil>
	// <nil>
	// activate_url or activate_appid is required when activate_type is JUMP_ACTIVATE
	// activate_type must be AUTO_ACTIVATE or JUMP_ACTIVATE
}

// A brand confirms a card a user opened, or refuses it; the optional
// fields change the card as it is confirmed.
func ExampleUserCardConfirmRequest_Validate() {
	req := membercard.UserCardConfirmRequest{
		CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0", OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA",
		UserCardConfirmState: membercard.ConfirmSuccess, Level: "钻石会员", CardColor: "#63B359",
	}
	fmt.Println(req.Validate())
	req.UserCardConfirmState = "CONFIRMED"
	fmt.Println(req.Validate())
	req.UserCardConfirmState, req.CardPictureURL = membercard.ConfirmFail, "http://example.com/card.png"
	fmt.Println(req.Validate())
	// Output:
	// <nil>
	// user_card_confirm_state must be CREATE_CARD_SUCCESS or CREATE_CARD_FAIL
	// card_picture_url must be an https URL
}

// The service provider's confirmation is the brand's with brand_id.
func ExamplePartnerUserCardConfirmRequest_Validate() {
	req := membercard.PartnerUserCardConfirmRequest{BrandID: "1004", UserCardConfirmRequest: membercard.UserCardConfirmRequest{
		CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0", OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA", UserCardConfirmState: membercard.ConfirmFail,
	}}
	fmt.Println(req.Validate())
	req.BrandID = "10/04"
	fmt.Println(req.Validate())
	// Output:
	// <nil>
	// brand_id may contain only letters, digits, '_' and '-'
}

// A validity period carries exactly what its type needs.
func ExampleValidDateInformation_Validate() {
	for _, v := range []membercard.ValidDateInformation{
		{Type: membercard.ValidDatePermanent},
		{Type: membercard.ValidDateFixTerm, AvailableDayAfterReceive: 365},
		{Type: membercard.ValidDateFixTimeRange, AvailableBeginTime: "2025-06-22T00:00:00+08:00", AvailableEndTime: "2026-06-22T00:00:00+08:00"},
		{Type: membercard.ValidDateFixTimeRange, AvailableBeginTime: "2025-06-22", AvailableEndTime: "2026-06-22"},
		{Type: membercard.ValidDatePermanent, AvailableDayAfterReceive: 30},
	} {
		fmt.Println(v.Validate())
	}
	// Output:
	// <nil>
	// <nil>
	// <nil>
	// valid_date_information.available_begin_time must be an RFC 3339 time such as 2025-06-22T00:00:00+08:00
	// valid_date_information.type PERMANENT takes no available_begin_time, available_end_time or available_day_after_receive
}

// The user-card queries take the code in the path and the card and user
// in the query, in a fixed order, so the path signed is the path sent.
func ExampleUserCardPath() {
	fmt.Println(membercard.UserCardPath("478515832665123456789012", "pbLatjvWOibDc5-TBnbUk1pD12o0", "obLatjnx9gnqzS4myYGmLZ7LgLBA"))
	fmt.Println(membercard.UserCardPath("VIP/0001", "pbLatjvWOibDc5-TBnbUk1pD12o0", "obLatjnx9gnqzS4myYGmLZ7LgLBA"))
	// Output:
	// /brand/card-member/user-cards/478515832665123456789012?card_id=pbLatjvWOibDc5-TBnbUk1pD12o0&openid=obLatjnx9gnqzS4myYGmLZ7LgLBA
	// /brand/card-member/user-cards/VIP%2F0001?card_id=pbLatjvWOibDc5-TBnbUk1pD12o0&openid=obLatjnx9gnqzS4myYGmLZ7LgLBA
}

// A receiver of card events accepts every name of an opening and of a
// deletion, the service provider's older ones included.
func ExampleIsUserCardCreateEvent() {
	for _, ev := range []string{membercard.BrandUserCardCreateEvent, membercard.PartnerUserCardCreateEvent, membercard.LegacyPartnerUserCardCreateEvent, membercard.PartnerUserCardDeleteEvent} {
		fmt.Println(ev, membercard.IsUserCardCreateEvent(ev), membercard.IsUserCardDeleteEvent(ev))
	}
	// Output:
	// BRAND_MEMBER_CARD.USER_CARD.CREATE true false
	// BRAND_MEMBER_CARD_SP.USER_CARD.CREATE true false
	// MEMBERCARDSP.USER_CARD.CREATE true false
	// BRAND_MEMBER_CARD_SP.USER_CARD.DELETE false true
}

// CheckID is the rule of every identifier: 1 to max characters of
// [A-Za-z0-9_-].
func ExampleCheckID() {
	fmt.Println(membercard.CheckID("card_id", "pbLatjvWOibDc5-TBnbUk1pD12o0", 32))
	fmt.Println(membercard.CheckID("brand_id", "10 04", 32))
	fmt.Println(membercard.CheckID("card_id", "pbLatjvWOibDc5-TBnbUk1pD12o0pbLatjvWOibDc5", 32))
	// Output:
	// <nil>
	// brand_id may contain only letters, digits, '_' and '-'
	// card_id must be at most 32 characters
}

// The service provider's confirm API takes the code in the path, escaped.
func ExamplePartnerUserCardConfirmPath() {
	fmt.Println(membercard.PartnerUserCardConfirmPath("478515832665123456789012"))
	// Output:
	// /v3/brand/partner/card-member/user-cards/478515832665123456789012/confirm
}

// The brand's confirm API takes the code in the path, escaped: a code
// can never change which API is called.
func ExampleUserCardConfirmPath() {
	fmt.Println(membercard.UserCardConfirmPath("478515832665123456789012"))
	fmt.Println(membercard.UserCardConfirmPath(".."))
	// Output:
	// /brand/card-member/user-cards/478515832665123456789012/confirm
	// /brand/card-member/user-cards/%2E%2E/confirm
}

// The service provider's user-card query names the brand in the query.
func ExamplePartnerUserCardPath() {
	fmt.Println(membercard.PartnerUserCardPath("478515832665123456789012", "1004", "pbLatjvWOibDc5-TBnbUk1pD12o0", "obLatjnx9gnqzS4myYGmLZ7LgLBA"))
	// Output:
	// /v3/brand/partner/card-member/user-cards/478515832665123456789012?brand_id=1004&card_id=pbLatjvWOibDc5-TBnbUk1pD12o0&openid=obLatjnx9gnqzS4myYGmLZ7LgLBA
}

// The permission-token API takes the card template in the path.
func ExamplePermissionTokensPath() {
	fmt.Println(membercard.PermissionTokensPath("pbLatjvWOibDc5-TBnbUk1pD12o0"))
	// Output:
	// /v3/marketing/membercard-open/cards/pbLatjvWOibDc5-TBnbUk1pD12o0/permission-tokens
}

// A deletion has three names too.
func ExampleIsUserCardDeleteEvent() {
	for _, ev := range []string{membercard.BrandUserCardDeleteEvent, membercard.LegacyPartnerUserCardDeleteEvent, membercard.BrandUserCardCreateEvent} {
		fmt.Println(ev, membercard.IsUserCardDeleteEvent(ev))
	}
	// Output:
	// BRAND_MEMBER_CARD.USER_CARD.DELETE true
	// MEMBERCARDSP.USER_CARD.DELETE true
	// BRAND_MEMBER_CARD.USER_CARD.CREATE false
}

// A user card code is WeChat Pay's 24 digits or a merchant's own code of
// printable ASCII; "." and ".." are refused.
func ExampleCheckUserCardCode() {
	for _, code := range []string{"478515832665123456789012", "VIP-0001/A", "..", "代码"} {
		fmt.Println(membercard.CheckUserCardCode("user_card_code", code))
	}
	// Output:
	// <nil>
	// <nil>
	// user_card_code must not be . or ..
	// user_card_code may contain only letters, digits and half-width punctuation
}

// An untrusted key appears in errors cut and escaped.
func ExampleShortKey() {
	fmt.Println(membercard.ShortKey("card_id"))
	fmt.Println(membercard.ShortKey("obLatjnx9gnqzS4myYGmLZ7LgLBA"))
	fmt.Println(membercard.ShortKey("card\u202eid"))
	// Output:
	// "card_id"
	// "obLatjnx"…
	// "card\u202eid"
}
