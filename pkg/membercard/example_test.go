package membercard_test

import (
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
