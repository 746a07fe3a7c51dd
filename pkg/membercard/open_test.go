package membercard_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/membercard"
)

func TestOpenPaths(t *testing.T) {
	const base = "/v3/marketing/membercard-open/"
	tests := []struct{ name, got, want string }{
		{"decrypt", membercard.DecryptCodePath(testCardID, "XXIzTtMqCxwOaawoE91+VJdsFmv7b8g0VZIZkqf4GWA60Fzpc8ksZ/5ZZ0DVkXdE"),
			base + "cards/" + testCardID + "/decrypt-code?encrypt_code=XXIzTtMqCxwOaawoE91%2BVJdsFmv7b8g0VZIZkqf4GWA60Fzpc8ksZ%2F5ZZ0DVkXdE"},
		{"decrypt encodes = once", membercard.DecryptCodePath("c", "a=="), base + "cards/c/decrypt-code?encrypt_code=a%3D%3D"},
		{"decrypt encodes % once", membercard.DecryptCodePath("c", "a%2B"), base + "cards/c/decrypt-code?encrypt_code=a%252B"},
		{"decrypt escapes the card", membercard.DecryptCodePath("..", "a"), base + "cards/%2E%2E/decrypt-code?encrypt_code=a"},
		{"user card", membercard.OpenUserCardPath(testCardID, "751234212312"), base + "cards/" + testCardID + "/codes/751234212312"},
		{"user card escaped", membercard.OpenUserCardPath("c/d", "a?b#"), base + "cards/c%2Fd/codes/a%3Fb%23"},
		{"user card dot", membercard.OpenUserCardPath(".", ".."), base + "cards/%2E/codes/%2E%2E"},
		{"activate information", membercard.ActivateInformationPath("pDF3iY9tv9zCGCj4jTXFOo1DxHdo"), base + "activate-informations/pDF3iY9tv9zCGCj4jTXFOo1DxHdo"},
		{"activate information escaped", membercard.ActivateInformationPath("a/b+c="), base + "activate-informations/a%2Fb+c="},
		{"activate information dot-dot", membercard.ActivateInformationPath(".."), base + "activate-informations/%2E%2E"},
		{"activate", membercard.ActivatePath(testCardID, "751234212312"), base + "cards/" + testCardID + "/codes/751234212312/activate"},
		{"activate escaped", membercard.ActivatePath("c", "1/activate"), base + "cards/c/codes/1%2Factivate/activate"},
		{"rights", membercard.RightsPath(testCardID, "751234212312"), base + "cards/" + testCardID + "/codes/751234212312/rights"},
		{"rights dot", membercard.RightsPath("c", "."), base + "cards/c/codes/%2E/rights"},
		{"brand update", membercard.UserCardUpdatePath("478515832665123456789012", testCardID), "/brand/card-member/user-cards/478515832665123456789012?card_id=" + testCardID},
		{"brand update escaped", membercard.UserCardUpdatePath("..", "c&openid=x"), "/brand/card-member/user-cards/%2E%2E?card_id=c%26openid%3Dx"},
		{"partner update", membercard.PartnerUserCardUpdatePath("478515832665", testCardID), "/v3/brand/partner/card-member/user-cards/478515832665?card_id=" + testCardID},
		{"partner update escaped", membercard.PartnerUserCardUpdatePath("a/b", "c d"), "/v3/brand/partner/card-member/user-cards/a%2Fb?card_id=c+d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.got)
		})
	}
}

// The route templates are the paths with their parameters named.
func TestOpenRoutesMatchPaths(t *testing.T) {
	named := func(p string) string {
		return strings.NewReplacer("CARD", "{card_id}", "CODE", "{code}", "TICKET", "{activate_ticket}").Replace(p)
	}
	assert.Equal(t, membercard.DecryptCodeRoute+"?encrypt_code=E", named(membercard.DecryptCodePath("CARD", "E")))
	assert.Equal(t, membercard.OpenUserCardRoute, named(membercard.OpenUserCardPath("CARD", "CODE")))
	assert.Equal(t, membercard.ActivateInformationRoute, named(membercard.ActivateInformationPath("TICKET")))
	assert.Equal(t, membercard.ActivateRoute, named(membercard.ActivatePath("CARD", "CODE")))
	assert.Equal(t, membercard.RightsRoute, named(membercard.RightsPath("CARD", "CODE")))
	code := func(p string) string { return strings.ReplaceAll(p, "X", "{user_card_code}") }
	assert.Equal(t, membercard.UserCardRoute+"?card_id=c", code(membercard.UserCardUpdatePath("X", "c")))
	assert.Equal(t, membercard.PartnerUserCardRoute+"?card_id=c", code(membercard.PartnerUserCardUpdatePath("X", "c")))
}

func TestCheckers(t *testing.T) {
	printable := func(check func(string, string) error) func(string) error {
		return func(v string) error { return check("f", v) }
	}
	outNo := func(v string) error { return membercard.CheckOutRequestNo("f", v, 128) }
	level := func(max int) func(string) error {
		return func(v string) error { return membercard.CheckLevel("f", v, max) }
	}
	tests := []struct {
		name  string
		check func(string) error
		v     string
		ok    bool
	}{
		{"out_request_no", outNo, "1004-20250901_000001", true},
		{"out_request_no 128", outNo, strings.Repeat("a", 128), true},
		{"out_request_no 129", outNo, strings.Repeat("a", 129), false},
		{"out_request_no empty", outNo, "", false},
		{"out_request_no max is the caller's", func(v string) error { return membercard.CheckOutRequestNo("f", v, 32) }, strings.Repeat("a", 33), false},
		{"out_request_no pipe", outNo, "a|b", false},
		{"out_request_no star", outNo, "a*b", false},
		{"out_request_no dot", outNo, "a.b", false},
		{"out_request_no space", outNo, "a b", false},
		{"out_request_no full-width", outNo, "ａ", false},
		{"encrypt_code base64", printable(membercard.CheckEncryptCode), "XXIzTtMqCxwOaawoE91+VJdsFmv7b8g0VZIZkqf4GWA60Fzpc8ksZ/5ZZ0DVkXdE", true},
		{"encrypt_code 128", printable(membercard.CheckEncryptCode), strings.Repeat("A", 128), true},
		{"encrypt_code 129", printable(membercard.CheckEncryptCode), strings.Repeat("A", 129), false},
		{"encrypt_code empty", printable(membercard.CheckEncryptCode), "", false},
		{"encrypt_code space", printable(membercard.CheckEncryptCode), "a b", false},
		{"encrypt_code punctuation edges", printable(membercard.CheckEncryptCode), "!~", true},
		{"encrypt_code DEL", printable(membercard.CheckEncryptCode), "a\x7f", false},
		{"encrypt_code newline", printable(membercard.CheckEncryptCode), "a\n", false},
		{"activate_ticket", printable(membercard.CheckActivateTicket), "pDF3iY9tv9zCGCj4jTXFOo1DxHdo", true},
		{"activate_ticket 256", printable(membercard.CheckActivateTicket), strings.Repeat("t", 256), true},
		{"activate_ticket 257", printable(membercard.CheckActivateTicket), strings.Repeat("t", 257), false},
		{"activate_ticket empty", printable(membercard.CheckActivateTicket), "", false},
		{"activate_ticket chinese", printable(membercard.CheckActivateTicket), "票", false},
		{"activate_ticket dot-dot", printable(membercard.CheckActivateTicket), "..", false},
		{"activate_ticket dot", printable(membercard.CheckActivateTicket), ".", false},
		{"activate_ticket three dots", printable(membercard.CheckActivateTicket), "...", true},
		{"membership_number", printable(membercard.CheckMembershipNumber), "VIP-0001/A", true},
		{"membership_number 32", printable(membercard.CheckMembershipNumber), strings.Repeat("9", 32), true},
		{"membership_number 33", printable(membercard.CheckMembershipNumber), strings.Repeat("9", 33), false},
		{"membership_number empty", printable(membercard.CheckMembershipNumber), "", false},
		{"membership_number space", printable(membercard.CheckMembershipNumber), "VIP 1", false},
		{"membership_number full-width", printable(membercard.CheckMembershipNumber), "ＶＩＰ", false},
		{"level", level(5), "钻石会员", true},
		{"level 5 characters, 15 bytes", level(5), "一二三四五", true},
		{"level 6 characters", level(5), "一二三四五六", false},
		{"level brand 10", level(10), "一二三四五六七八九十", true},
		{"level brand 11", level(10), "一二三四五六七八九十一", false},
		{"level empty", level(5), "", false},
		{"level control", level(5), "a\tb", false},
		{"level bidi", level(5), "a\u202eb", false},
		{"level emoji", level(5), "💎", false},
		{"level invalid UTF-8", level(5), "\xff", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check(tc.v)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			assert.Equal(t, "f", fieldOf(t, err), "%v", err)
		})
	}
}

func ptr(v int64) *int64 { return &v }

func TestOpenRequestRules(t *testing.T) {
	balance := func(before, after, add int64) *membercard.BalanceInformation {
		return &membercard.BalanceInformation{BeforeBalance: before, Balance: after, AddBalance: add}
	}
	const bi = "balance_information."
	tests := []struct {
		name  string
		req   interface{ Validate() error }
		field string
	}{
		{"activate empty", &membercard.ActivateRequest{}, ""},
		{"activate number", &membercard.ActivateRequest{MembershipNumber: "VIP-0001"}, ""},
		{"activate number 33", &membercard.ActivateRequest{MembershipNumber: strings.Repeat("1", 33)}, "membership_number"},
		{"activate number chinese", &membercard.ActivateRequest{MembershipNumber: "会员1"}, "membership_number"},

		{"update level", &membercard.OpenUserCardUpdateRequest{Level: "金卡", OutRequestNo: "1900000001|20250901*01"}, ""},
		{"update balance", &membercard.OpenUserCardUpdateRequest{OutRequestNo: "r-1", BalanceInformation: balance(100, 250, 150)}, ""},
		{"update balance down", &membercard.OpenUserCardUpdateRequest{OutRequestNo: "r-1", BalanceInformation: balance(250, 0, -250)}, ""},
		{"update balance max", &membercard.OpenUserCardUpdateRequest{OutRequestNo: "r-1", BalanceInformation: balance(0, math.MaxInt32, math.MaxInt32)}, ""},
		{"update balance with a remark", &membercard.OpenUserCardUpdateRequest{OutRequestNo: "r-1", BalanceInformation: &membercard.BalanceInformation{Balance: 1, AddBalance: 1, BalanceRemark: "充值"}}, ""},
		{"update out_request_no missing", &membercard.OpenUserCardUpdateRequest{Level: "金卡"}, "out_request_no"},
		{"update out_request_no 32", &membercard.OpenUserCardUpdateRequest{OutRequestNo: strings.Repeat("a", 32)}, ""},
		{"update out_request_no 33", &membercard.OpenUserCardUpdateRequest{OutRequestNo: strings.Repeat("a", 33)}, "out_request_no"},
		{"update out_request_no dot", &membercard.OpenUserCardUpdateRequest{OutRequestNo: "a.b"}, "out_request_no"},
		{"update level 6", &membercard.OpenUserCardUpdateRequest{Level: "一二三四五六", OutRequestNo: "r"}, "level"},
		{"update level first", &membercard.OpenUserCardUpdateRequest{Level: "一二三四五六"}, "level"},
		{"update balance wrong sum", &membercard.OpenUserCardUpdateRequest{OutRequestNo: "r", BalanceInformation: balance(100, 250, 100)}, bi + "add_balance"},
		{"update balance negative", &membercard.OpenUserCardUpdateRequest{OutRequestNo: "r", BalanceInformation: balance(100, -1, -101)}, bi + "balance"},
		{"update before negative", &membercard.OpenUserCardUpdateRequest{OutRequestNo: "r", BalanceInformation: balance(-1, 0, 1)}, bi + "before_balance"},
		{"update balance over int32", &membercard.OpenUserCardUpdateRequest{OutRequestNo: "r", BalanceInformation: balance(0, math.MaxInt32+1, math.MaxInt32+1)}, bi + "balance"},
		{"update remark control", &membercard.OpenUserCardUpdateRequest{OutRequestNo: "r", BalanceInformation: &membercard.BalanceInformation{BalanceRemark: "a\nb"}}, bi + "balance_remark"},
		{"update remark 65", &membercard.OpenUserCardUpdateRequest{OutRequestNo: "r", BalanceInformation: &membercard.BalanceInformation{BalanceRemark: strings.Repeat("元", 65)}}, bi + "balance_remark"},

		{"rights new value", &membercard.RightsRequest{OutRequestNo: "r", BonusValue: ptr(100)}, ""},
		{"rights all three", &membercard.RightsRequest{OutRequestNo: "r", BeforeBonusValue: ptr(100), BonusValue: ptr(40), AddBonusValue: ptr(-60)}, ""},
		{"rights change only", &membercard.RightsRequest{OutRequestNo: "r", AddBonusValue: ptr(-60)}, ""},
		{"rights before and change", &membercard.RightsRequest{OutRequestNo: "r", BeforeBonusValue: ptr(100), AddBonusValue: ptr(-100)}, ""},
		{"rights nothing", &membercard.RightsRequest{OutRequestNo: "r"}, ""},
		{"rights out_request_no 128 with | and *", &membercard.RightsRequest{OutRequestNo: "|*" + strings.Repeat("a", 126)}, ""},
		{"rights out_request_no 129", &membercard.RightsRequest{OutRequestNo: strings.Repeat("a", 129)}, "out_request_no"},
		{"rights out_request_no missing", &membercard.RightsRequest{BonusValue: ptr(1)}, "out_request_no"},
		{"rights wrong sum", &membercard.RightsRequest{OutRequestNo: "r", BeforeBonusValue: ptr(100), BonusValue: ptr(40), AddBonusValue: ptr(60)}, "add_bonus_value"},
		{"rights before and change below 0", &membercard.RightsRequest{OutRequestNo: "r", BeforeBonusValue: ptr(100), AddBonusValue: ptr(-101)}, "add_bonus_value"},
		{"rights negative value", &membercard.RightsRequest{OutRequestNo: "r", BonusValue: ptr(-1)}, "bonus_value"},
		{"rights negative before", &membercard.RightsRequest{OutRequestNo: "r", BeforeBonusValue: ptr(-1)}, "before_bonus_value"},
		{"rights value over int32", &membercard.RightsRequest{OutRequestNo: "r", BonusValue: ptr(math.MaxInt32 + 1)}, "bonus_value"},
		{"rights change over int32", &membercard.RightsRequest{OutRequestNo: "r", AddBonusValue: ptr(math.MaxInt32 + 1)}, "add_bonus_value"},
		{"rights change under -int32", &membercard.RightsRequest{OutRequestNo: "r", AddBonusValue: ptr(-math.MaxInt32 - 1)}, "add_bonus_value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.req.Validate()
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			assert.Equal(t, tc.field, fieldOf(t, err), "%v", err)
		})
	}
}

func TestBrandUpdateAndSyncRules(t *testing.T) {
	sync := func(f func(r *membercard.UserPointsSyncRequest)) membercard.UserPointsSyncRequest {
		r := membercard.UserPointsSyncRequest{OutRequestNo: "1004_1750000000_1", CardID: testCardID, OpenID: testOpenID, UserCardCode: "478515832665123456789012", PointBalance: 120}
		f(&r)
		return r
	}
	tests := []struct {
		name  string
		req   interface{ Validate() error }
		field string
	}{
		{"update openid only", &membercard.UserCardUpdateRequest{OpenID: testOpenID}, ""},
		{"update level and attach", &membercard.UserCardUpdateRequest{OpenID: testOpenID, Level: "一二三四五六七八九十", Attach: strings.Repeat("a", 256)}, ""},
		{"update openid missing", &membercard.UserCardUpdateRequest{Level: "金卡"}, "openid"},
		{"update openid 129", &membercard.UserCardUpdateRequest{OpenID: strings.Repeat("o", 129)}, "openid"},
		{"update level 11", &membercard.UserCardUpdateRequest{OpenID: testOpenID, Level: "一二三四五六七八九十一"}, "level"},
		{"update attach 257", &membercard.UserCardUpdateRequest{OpenID: testOpenID, Attach: strings.Repeat("a", 257)}, "attach"},
		{"update attach control", &membercard.UserCardUpdateRequest{OpenID: testOpenID, Attach: "a\x00"}, "attach"},
		{"partner update", &membercard.PartnerUserCardUpdateRequest{BrandID: "1004", UserCardUpdateRequest: membercard.UserCardUpdateRequest{OpenID: testOpenID}}, ""},
		{"partner update brand missing", &membercard.PartnerUserCardUpdateRequest{UserCardUpdateRequest: membercard.UserCardUpdateRequest{OpenID: testOpenID}}, "brand_id"},
		{"partner update openid missing", &membercard.PartnerUserCardUpdateRequest{BrandID: "1004"}, "openid"},

		{"sync", ptrTo(sync(func(*membercard.UserPointsSyncRequest) {})), ""},
		{"sync 0 points", ptrTo(sync(func(r *membercard.UserPointsSyncRequest) { r.PointBalance = 0 })), ""},
		{"sync max points", ptrTo(sync(func(r *membercard.UserPointsSyncRequest) { r.PointBalance = math.MaxInt32 })), ""},
		{"sync over int32", ptrTo(sync(func(r *membercard.UserPointsSyncRequest) { r.PointBalance = math.MaxInt32 + 1 })), "point_balance"},
		{"sync negative", ptrTo(sync(func(r *membercard.UserPointsSyncRequest) { r.PointBalance = -1 })), "point_balance"},
		{"sync out_request_no missing", ptrTo(sync(func(r *membercard.UserPointsSyncRequest) { r.OutRequestNo = "" })), "out_request_no"},
		{"sync out_request_no 128", ptrTo(sync(func(r *membercard.UserPointsSyncRequest) { r.OutRequestNo = strings.Repeat("a", 128) })), ""},
		{"sync out_request_no 129", ptrTo(sync(func(r *membercard.UserPointsSyncRequest) { r.OutRequestNo = strings.Repeat("a", 129) })), "out_request_no"},
		{"sync out_request_no pipe", ptrTo(sync(func(r *membercard.UserPointsSyncRequest) { r.OutRequestNo = "a|b" })), "out_request_no"},
		{"sync out_request_no star", ptrTo(sync(func(r *membercard.UserPointsSyncRequest) { r.OutRequestNo = "a*b" })), "out_request_no"},
		{"sync card_id missing", ptrTo(sync(func(r *membercard.UserPointsSyncRequest) { r.CardID = "" })), "card_id"},
		{"sync openid bad", ptrTo(sync(func(r *membercard.UserPointsSyncRequest) { r.OpenID = "o o" })), "openid"},
		{"sync code missing", ptrTo(sync(func(r *membercard.UserPointsSyncRequest) { r.UserCardCode = "" })), "user_card_code"},
		{"sync code 33", ptrTo(sync(func(r *membercard.UserPointsSyncRequest) { r.UserCardCode = strings.Repeat("1", 33) })), "user_card_code"},
		{"partner sync", &membercard.PartnerUserPointsSyncRequest{BrandID: "1004", UserPointsSyncRequest: sync(func(*membercard.UserPointsSyncRequest) {})}, ""},
		{"partner sync brand 16", &membercard.PartnerUserPointsSyncRequest{BrandID: strings.Repeat("1", 16), UserPointsSyncRequest: sync(func(*membercard.UserPointsSyncRequest) {})}, ""},
		{"partner sync brand 17", &membercard.PartnerUserPointsSyncRequest{BrandID: strings.Repeat("1", 17), UserPointsSyncRequest: sync(func(*membercard.UserPointsSyncRequest) {})}, "brand_id"},
		{"partner sync points", &membercard.PartnerUserPointsSyncRequest{BrandID: "1004", UserPointsSyncRequest: sync(func(r *membercard.UserPointsSyncRequest) { r.PointBalance = -5 })}, "point_balance"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.req.Validate()
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			assert.Equal(t, tc.field, fieldOf(t, err), "%v", err)
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

// A key whose zero value is valid must be present: Decode refuses a body
// without it, where the value could not tell.
func TestDecodeRequiredKeys(t *testing.T) {
	const sync = `"out_request_no":"r","card_id":"c","openid":"o","user_card_code":"1"`
	tests := []struct {
		name, body, field string
		v                 any
	}{
		{"sync ok", `{` + sync + `,"point_balance":0}`, "", &membercard.UserPointsSyncRequest{}},
		{"sync without point_balance", `{` + sync + `}`, "point_balance", &membercard.UserPointsSyncRequest{}},
		{"sync without openid", `{"out_request_no":"r","card_id":"c","user_card_code":"1","point_balance":1}`, "openid", &membercard.UserPointsSyncRequest{}},
		{"partner sync ok", `{"brand_id":"1004",` + sync + `,"point_balance":0}`, "", &membercard.PartnerUserPointsSyncRequest{}},
		{"partner sync without point_balance", `{"brand_id":"1004",` + sync + `}`, "point_balance", &membercard.PartnerUserPointsSyncRequest{}},
		{"brand sync with brand_id", `{"brand_id":"1004",` + sync + `,"point_balance":0}`, `"brand_id"`, &membercard.UserPointsSyncRequest{}},
		{"point_balance a string", `{` + sync + `,"point_balance":"1"}`, "point_balance", &membercard.UserPointsSyncRequest{}},
		{"point_balance a fraction", `{` + sync + `,"point_balance":1.5}`, "point_balance", &membercard.UserPointsSyncRequest{}},
		{"balance ok", `{"out_request_no":"r","balance_information":{"before_balance":0,"balance":0,"add_balance":0}}`, "", &membercard.OpenUserCardUpdateRequest{}},
		{"balance without add_balance", `{"out_request_no":"r","balance_information":{"before_balance":0,"balance":0}}`, "balance_information.add_balance", &membercard.OpenUserCardUpdateRequest{}},
		{"balance empty", `{"out_request_no":"r","balance_information":{}}`, "balance_information.before_balance", &membercard.OpenUserCardUpdateRequest{}},
		{"balance null", `{"out_request_no":"r","balance_information":null}`, "balance_information", &membercard.OpenUserCardUpdateRequest{}},
		{"need_inform_level not held", `{"out_request_no":"r","need_inform_level":false}`, `"need_inf"…`, &membercard.OpenUserCardUpdateRequest{}},
		{"rights without values", `{"out_request_no":"r"}`, "", &membercard.RightsRequest{}},
		{"rights bonus null", `{"out_request_no":"r","bonus_value":null}`, "bonus_value", &membercard.RightsRequest{}},
		{"activate empty", `{}`, "", &membercard.ActivateRequest{}},
		{"activate level not held", `{"level":"金卡"}`, `"level"`, &membercard.ActivateRequest{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := membercard.Decode([]byte(tc.body), tc.v)
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			assert.Equal(t, tc.field, fieldOf(t, err), "%v", err)
		})
	}
	err := membercard.Decode([]byte(`{`+sync+`}`), &membercard.UserPointsSyncRequest{})
	require.Error(t, err)
	assert.Equal(t, "point_balance is required", err.Error())
	assert.False(t, errors.Is(err, membercard.ErrUnknownField))
}

// The bodies are flat, and the optional keys are omitted when empty.
func TestOpenAndSyncJSON(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"partner sync", membercard.PartnerUserPointsSyncRequest{BrandID: "1004", UserPointsSyncRequest: membercard.UserPointsSyncRequest{OutRequestNo: "r", CardID: "c", OpenID: "o", UserCardCode: "1"}},
			`{"brand_id":"1004","out_request_no":"r","card_id":"c","openid":"o","user_card_code":"1","point_balance":0}`},
		{"partner update", membercard.PartnerUserCardUpdateRequest{BrandID: "1004", UserCardUpdateRequest: membercard.UserCardUpdateRequest{OpenID: "o", Level: "金卡"}},
			`{"brand_id":"1004","openid":"o","level":"金卡"}`},
		{"rights zero is sent", membercard.RightsRequest{OutRequestNo: "r", BonusValue: ptr(0)}, `{"out_request_no":"r","bonus_value":0}`},
		{"update", membercard.OpenUserCardUpdateRequest{OutRequestNo: "r", BalanceInformation: &membercard.BalanceInformation{}},
			`{"out_request_no":"r","balance_information":{"before_balance":0,"balance":0,"add_balance":0}}`},
		{"activate", membercard.ActivateRequest{}, `{}`},
		{"brand sync answer", membercard.UserPointsSync{OutRequestNo: "r", CardID: "c", OpenID: "o", UserCardCode: "1", PointBalance: 5},
			`{"out_request_no":"r","card_id":"c","openid":"o","user_card_code":"1","point_balance":5}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.v)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(b))
		})
	}
}

func TestSyncUserPointEvents(t *testing.T) {
	for _, tc := range []struct {
		eventType string
		sync      bool
	}{
		{"BRAND_MEMBER_CARD.SYNC_USER_POINT", true},
		{"BRAND_MEMBER_CARD_SP.SYNC_USER_POINT", true},
		{"MEMBERCARDSP.SYNC_USER_POINT", true},
		{membercard.BrandUserCardCreateEvent, false},
		{membercard.OpenCardActivateEvent, false},
		{"brand_member_card.sync_user_point", false},
		{"", false},
	} {
		assert.Equal(t, tc.sync, membercard.IsSyncUserPointEvent(tc.eventType), tc.eventType)
		assert.False(t, membercard.IsUserCardCreateEvent(tc.eventType) && tc.sync)
	}
	assert.Equal(t, "MEMBERCARD.ACTIVATE_CARD", membercard.OpenCardActivateEvent)
}

// FuzzDecodeCardUpdates: decoding any of the update and sync bodies and
// validating it never panics; what decodes is read the same by plain
// encoding/json; and a valid request survives encoding and decoding
// unchanged, still valid.
func FuzzDecodeCardUpdates(f *testing.F) {
	f.Add([]byte(`{"membership_number":"VIP-0001"}`))
	f.Add([]byte(`{"level":"金卡","out_request_no":"1900000001|2025*1","balance_information":{"before_balance":100,"balance":250,"add_balance":150,"balance_remark":"充值"}}`))
	f.Add([]byte(`{"out_request_no":"r","before_bonus_value":100,"bonus_value":40,"add_bonus_value":-60}`))
	f.Add([]byte(`{"brand_id":"1004","openid":"o","level":"金卡","attach":"{\"store\":\"A-01\"}"}`))
	f.Add([]byte(`{"brand_id":"1004","out_request_no":"r","card_id":"c","openid":"o","user_card_code":"1","point_balance":0}`))
	f.Add([]byte(`{"out_request_no":"r","card_id":"c","openid":"o","user_card_code":"1"}`))
	f.Add([]byte(`{"balance_information":{"balance":1,"BALANCE":2}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, fresh := range []func() any{
			func() any { return &membercard.ActivateRequest{} },
			func() any { return &membercard.OpenUserCardUpdateRequest{} },
			func() any { return &membercard.RightsRequest{} },
			func() any { return &membercard.UserCardUpdateRequest{} },
			func() any { return &membercard.PartnerUserCardUpdateRequest{} },
			func() any { return &membercard.UserPointsSyncRequest{} },
			func() any { return &membercard.PartnerUserPointsSyncRequest{} },
		} {
			fuzzConfirm(t, body, fresh().(interface{ Validate() error }), fresh)
		}
	})
}
