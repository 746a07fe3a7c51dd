package membercard_test

import (
	"encoding/json"
	"fmt"

	"github.com/wxcard/wxcard/pkg/membercard"
)

// The encrypt_code goes into the query exactly as WeChat Pay handed it,
// percent-encoded once: its + / and = are not lost on the way.
func ExampleDecryptCodePath() {
	fmt.Println(membercard.DecryptCodePath("pbLatjvWOibDc5-TBnbUk1pD12o0", "XXIzTtMqCxwOaawoE91+VJdsFmv7b8g0VZIZkqf4GWA=/5ZZ0DVkXdE"))
	// Output:
	// /v3/marketing/membercard-open/cards/pbLatjvWOibDc5-TBnbUk1pD12o0/decrypt-code?encrypt_code=XXIzTtMqCxwOaawoE91%2BVJdsFmv7b8g0VZIZkqf4GWA%3D%2F5ZZ0DVkXdE
}

// GET reads a user's card and PATCH updates it, at one path; the code is
// escaped, so it can never change which API is called.
func ExampleOpenUserCardPath() {
	fmt.Println(membercard.OpenUserCardPath("pbLatjvWOibDc5-TBnbUk1pD12o0", "751234212312"))
	fmt.Println(membercard.OpenUserCardPath("pbLatjvWOibDc5-TBnbUk1pD12o0", "../rights"))
	// Output:
	// /v3/marketing/membercard-open/cards/pbLatjvWOibDc5-TBnbUk1pD12o0/codes/751234212312
	// /v3/marketing/membercard-open/cards/pbLatjvWOibDc5-TBnbUk1pD12o0/codes/..%2Frights
}

// The activation page reads the user's form with its activate_ticket.
func ExampleActivateInformationPath() {
	fmt.Println(membercard.ActivateInformationPath("pDF3iY9tv9zCGCj4jTXFOo1DxHdo"))
	// Output:
	// /v3/marketing/membercard-open/activate-informations/pDF3iY9tv9zCGCj4jTXFOo1DxHdo
}

// The activation takes only a membership number; without one, the code
// is the member's number.
func ExampleActivatePath() {
	body, _ := json.Marshal(membercard.ActivateRequest{})
	fmt.Println("POST", membercard.ActivatePath("pbLatjvWOibDc5-TBnbUk1pD12o0", "751234212312"), string(body))
	// Output:
	// POST /v3/marketing/membercard-open/cards/pbLatjvWOibDc5-TBnbUk1pD12o0/codes/751234212312/activate {}
}

// Points are set through the rights API, apart from the level and
// balance.
func ExampleRightsPath() {
	fmt.Println(membercard.RightsPath("pbLatjvWOibDc5-TBnbUk1pD12o0", "751234212312"))
	// Output:
	// /v3/marketing/membercard-open/cards/pbLatjvWOibDc5-TBnbUk1pD12o0/codes/751234212312/rights
}

// The membership number is digits, English letters and half-width
// punctuation.
func ExampleActivateRequest_Validate() {
	for _, n := range []string{"", "VIP-0001", "会员0001"} {
		req := membercard.ActivateRequest{MembershipNumber: n}
		fmt.Println(req.Validate())
	}
	// Output:
	// <nil>
	// <nil>
	// membership_number may contain only digits, English letters and half-width punctuation
}

// A change of balance names the balance it changes from and the change,
// which must add up; out_request_no makes it idempotent.
func ExampleOpenUserCardUpdateRequest_Validate() {
	req := membercard.OpenUserCardUpdateRequest{Level: "金卡", OutRequestNo: "1900000001|20250901*0001",
		BalanceInformation: &membercard.BalanceInformation{BeforeBalance: 1000, Balance: 1500, AddBalance: 500}}
	fmt.Println(req.Validate())
	req.BalanceInformation.AddBalance = 1500
	fmt.Println(req.Validate())
	req.Level = "至尊钻石会员"
	fmt.Println(req.Validate())
	// Output:
	// <nil>
	// balance_information.add_balance must be balance - before_balance
	// level must be at most 5 characters
}

// A balance is 0 to MaxPoints.
func ExampleBalanceInformation_Validate() {
	b := membercard.BalanceInformation{BeforeBalance: 100, Balance: -50, AddBalance: -150}
	fmt.Println(b.Validate())
	// Output:
	// balance_information.balance must be between 0 and 2147483647
}

// New points, the points they change from and the change: all optional,
// and they must add up when all are given.
func ExampleRightsRequest_Validate() {
	before, after, add := int64(100), int64(40), int64(-60)
	req := membercard.RightsRequest{OutRequestNo: "1900000001|20250901*0002", BeforeBonusValue: &before, BonusValue: &after, AddBonusValue: &add}
	fmt.Println(req.Validate())
	add = 60
	fmt.Println(req.Validate())
	// Output:
	// <nil>
	// add_bonus_value must be bonus_value - before_bonus_value
}

// The user-points sync takes the stricter out_request_no, without | or *.
func ExampleCheckOutRequestNo() {
	fmt.Println(membercard.CheckOutRequestNo("out_request_no", "1004_1750000000_0001", 128))
	fmt.Println(membercard.CheckOutRequestNo("out_request_no", "1004|1750000000", 128))
	// Output:
	// <nil>
	// out_request_no may contain only letters, digits, '_' and '-'
}

// An encrypt_code is Base64: printable ASCII, + / and = included.
func ExampleCheckEncryptCode() {
	fmt.Println(membercard.CheckEncryptCode("encrypt_code", "XXIzTtMqCxwOaawoE91+VJdsFmv7b8g0VZIZkqf4GWA="))
	fmt.Println(membercard.CheckEncryptCode("encrypt_code", "XXIzTtMq CxwOaawo"))
	// Output:
	// <nil>
	// encrypt_code may contain only printable ASCII without space
}

// An activate_ticket is a path segment: "." and ".." are refused.
func ExampleCheckActivateTicket() {
	fmt.Println(membercard.CheckActivateTicket("activate_ticket", "pDF3iY9tv9zCGCj4jTXFOo1DxHdo"))
	fmt.Println(membercard.CheckActivateTicket("activate_ticket", ".."))
	// Output:
	// <nil>
	// activate_ticket must not be . or ..
}

// A membership number is at most 32 characters of ASCII.
func ExampleCheckMembershipNumber() {
	fmt.Println(membercard.CheckMembershipNumber("membership_number", "VIP-0001"))
	fmt.Println(membercard.CheckMembershipNumber("membership_number", "VIP 0001"))
	// Output:
	// <nil>
	// membership_number may contain only digits, English letters and half-width punctuation
}

// A level is counted in characters: five for a membercard-open card, ten
// for a brand card.
func ExampleCheckLevel() {
	fmt.Println(membercard.CheckLevel("level", "钻石会员", membercard.OpenLevelMax))
	fmt.Println(membercard.CheckLevel("level", "至尊钻石会员", membercard.OpenLevelMax))
	fmt.Println(membercard.CheckLevel("level", "至尊钻石会员", membercard.BrandLevelMax))
	// Output:
	// <nil>
	// level must be at most 5 characters
	// <nil>
}

// The brand's update names the card in the query and the user in the body.
func ExampleUserCardUpdatePath() {
	body, _ := json.Marshal(membercard.UserCardUpdateRequest{OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA", Level: "金卡"})
	fmt.Println("PATCH", membercard.UserCardUpdatePath("478515832665123456789012", "pbLatjvWOibDc5-TBnbUk1pD12o0"))
	fmt.Println(string(body))
	// Output:
	// PATCH /brand/card-member/user-cards/478515832665123456789012?card_id=pbLatjvWOibDc5-TBnbUk1pD12o0
	// {"openid":"obLatjnx9gnqzS4myYGmLZ7LgLBA","level":"金卡"}
}

// The service provider's update adds brand_id to the body.
func ExamplePartnerUserCardUpdatePath() {
	body, _ := json.Marshal(membercard.PartnerUserCardUpdateRequest{BrandID: "1004",
		UserCardUpdateRequest: membercard.UserCardUpdateRequest{OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA", Attach: "store=A-01"}})
	fmt.Println("PATCH", membercard.PartnerUserCardUpdatePath("478515832665123456789012", "pbLatjvWOibDc5-TBnbUk1pD12o0"))
	fmt.Println(string(body))
	// Output:
	// PATCH /v3/brand/partner/card-member/user-cards/478515832665123456789012?card_id=pbLatjvWOibDc5-TBnbUk1pD12o0
	// {"brand_id":"1004","openid":"obLatjnx9gnqzS4myYGmLZ7LgLBA","attach":"store=A-01"}
}

// A brand card's level is at most ten characters.
func ExampleUserCardUpdateRequest_Validate() {
	req := membercard.UserCardUpdateRequest{OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA", Level: "至尊钻石会员"}
	fmt.Println(req.Validate())
	req.OpenID = ""
	fmt.Println(req.Validate())
	// Output:
	// <nil>
	// openid is required
}

// The service provider's update is the brand's with brand_id.
func ExamplePartnerUserCardUpdateRequest_Validate() {
	req := membercard.PartnerUserCardUpdateRequest{UserCardUpdateRequest: membercard.UserCardUpdateRequest{OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA"}}
	fmt.Println(req.Validate())
	// Output:
	// brand_id is required
}

// A point balance of 0 is a balance: the key must be there, whatever its
// value.
func ExampleUserPointsSyncRequest_Validate() {
	var req membercard.UserPointsSyncRequest
	body := `{"out_request_no":"1004_1750000000_0001","card_id":"pbLatjvWOibDc5-TBnbUk1pD12o0","openid":"obLatjnx9gnqzS4myYGmLZ7LgLBA","user_card_code":"478515832665123456789012"`
	fmt.Println(membercard.Decode([]byte(body+`,"point_balance":0}`), &req), req.Validate())
	fmt.Println(membercard.Decode([]byte(body+`}`), &req))
	req.PointBalance = -1
	fmt.Println(req.Validate())
	// Output:
	// <nil> <nil>
	// point_balance is required
	// point_balance must be between 0 and 2147483647
}

// The service provider's sync names the brand; the brand's must not.
func ExamplePartnerUserPointsSyncRequest_Validate() {
	req := membercard.PartnerUserPointsSyncRequest{BrandID: "1004", UserPointsSyncRequest: membercard.UserPointsSyncRequest{
		OutRequestNo: "1004_1750000000_0001", CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0", OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA",
		UserCardCode: "478515832665123456789012", PointBalance: 120}}
	fmt.Println(req.Validate())
	body, _ := json.Marshal(req)
	var brand membercard.UserPointsSyncRequest
	fmt.Println(membercard.Decode(body, &brand))
	// Output:
	// <nil>
	// "brand_id" is not a known field
}

// WeChat Pay asks for a member's points under three names.
func ExampleIsSyncUserPointEvent() {
	for _, ev := range []string{membercard.BrandSyncUserPointEvent, membercard.PartnerSyncUserPointEvent, membercard.LegacyPartnerSyncUserPointEvent, membercard.OpenCardActivateEvent} {
		fmt.Println(ev, membercard.IsSyncUserPointEvent(ev))
	}
	// Output:
	// BRAND_MEMBER_CARD.SYNC_USER_POINT true
	// BRAND_MEMBER_CARD_SP.SYNC_USER_POINT true
	// MEMBERCARDSP.SYNC_USER_POINT true
	// MEMBERCARD.ACTIVATE_CARD false
}
