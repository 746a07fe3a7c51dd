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
