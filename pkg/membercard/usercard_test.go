package membercard_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/membercard"
)

const (
	testCardID = "pbLatjvWOibDc5-TBnbUk1pD12o0"
	testOpenID = "obLatjnx9gnqzS4myYGmLZ7LgLBA"
)

func TestUserCardPaths(t *testing.T) {
	tests := []struct{ name, got, want string }{
		{"brand confirm", membercard.UserCardConfirmPath("478515832665123456789012"), "/brand/card-member/user-cards/478515832665123456789012/confirm"},
		{"partner confirm", membercard.PartnerUserCardConfirmPath("478515832665"), "/v3/brand/partner/card-member/user-cards/478515832665/confirm"},
		{"brand query", membercard.UserCardPath("478515832665", testCardID, testOpenID), "/brand/card-member/user-cards/478515832665?card_id=" + testCardID + "&openid=" + testOpenID},
		{"partner query", membercard.PartnerUserCardPath("478515832665", "1004", testCardID, testOpenID), "/v3/brand/partner/card-member/user-cards/478515832665?brand_id=1004&card_id=" + testCardID + "&openid=" + testOpenID},
		{"slash escaped", membercard.UserCardConfirmPath("a/../b"), "/brand/card-member/user-cards/a%2F..%2Fb/confirm"},
		{"query marks escaped", membercard.PartnerUserCardConfirmPath("a?b#c%"), "/v3/brand/partner/card-member/user-cards/a%3Fb%23c%25/confirm"},
		{"dot escaped", membercard.UserCardConfirmPath("."), "/brand/card-member/user-cards/%2E/confirm"},
		{"dot-dot escaped", membercard.PartnerUserCardConfirmPath(".."), "/v3/brand/partner/card-member/user-cards/%2E%2E/confirm"},
		{"three dots are a name", membercard.UserCardConfirmPath("..."), "/brand/card-member/user-cards/.../confirm"},
		{"dot-dot in the query path", membercard.UserCardPath("..", "c", "o"), "/brand/card-member/user-cards/%2E%2E?card_id=c&openid=o"},
		{"query values escaped", membercard.UserCardPath("1", "c&openid=x", "o o"), "/brand/card-member/user-cards/1?card_id=c%26openid%3Dx&openid=o+o"},
		{"partner query values escaped", membercard.PartnerUserCardPath("/", "1004&x", "c", "o"), "/v3/brand/partner/card-member/user-cards/%2F?brand_id=1004%26x&card_id=c&openid=o"},
		{"older paths escape dots too", membercard.PermissionTokensPath(".."), "/v3/marketing/membercard-open/cards/%2E%2E/permission-tokens"},
		{"product authorities dot", membercard.ProductAuthoritiesPath("."), "/v3/brand-basic/partner/brands/%2E/product-authorities"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.got)
		})
	}
}

// The route templates are the paths with their parameter named.
func TestUserCardRoutesMatchPaths(t *testing.T) {
	const code = "{user_card_code}"
	assert.Equal(t, membercard.UserCardConfirmRoute, strings.ReplaceAll(membercard.UserCardConfirmPath("X"), "X", code))
	assert.Equal(t, membercard.PartnerUserCardConfirmRoute, strings.ReplaceAll(membercard.PartnerUserCardConfirmPath("X"), "X", code))
	assert.Equal(t, membercard.UserCardRoute+"?card_id=c&openid=o", strings.ReplaceAll(membercard.UserCardPath("X", "c", "o"), "X", code))
	assert.Equal(t, membercard.PartnerUserCardRoute+"?brand_id=b&card_id=c&openid=o", strings.ReplaceAll(membercard.PartnerUserCardPath("X", "b", "c", "o"), "X", code))
}

func TestCheckUserCardCode(t *testing.T) {
	tests := []struct {
		name, code string
		ok         bool
	}{
		{"system allocated", "478515832665123456789012", true},
		{"32", strings.Repeat("9", 32), true},
		{"33", strings.Repeat("9", 33), false},
		{"empty", "", false},
		{"letters and punctuation", "Ab-09_!~/?#%.", true},
		{"first printable", "!", true},
		{"last printable", "~", true},
		{"space", "12 34", false},
		{"tab", "12\t34", false},
		{"control", "12\x0134", false},
		{"DEL", "12\x7f", false},
		{"full-width digit", "１２", false},
		{"chinese", "卡", false},
		{"dot", ".", false},
		{"dot-dot", "..", false},
		{"three dots", "...", true},
		{"dot in a code", "a.b", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := membercard.CheckUserCardCode("user_card_code", tc.code)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			assert.Equal(t, "user_card_code", fieldOf(t, err), "%v", err)
		})
	}
	assert.Equal(t, "code", fieldOf(t, membercard.CheckUserCardCode("code", "")), "the field is the caller's name for it")
}

func TestValidDateInformation(t *testing.T) {
	const p = "valid_date_information."
	tests := []struct {
		name  string
		v     membercard.ValidDateInformation
		field string
	}{
		{"permanent", membercard.ValidDateInformation{Type: "PERMANENT"}, ""},
		{"fixed term", membercard.ValidDateInformation{Type: "FIX_TERM", AvailableDayAfterReceive: 1}, ""},
		{"fixed term 0 days", membercard.ValidDateInformation{Type: "FIX_TERM"}, p + "available_day_after_receive"},
		{"fixed term negative", membercard.ValidDateInformation{Type: "FIX_TERM", AvailableDayAfterReceive: -1}, p + "available_day_after_receive"},
		{"fixed term with a beginning", membercard.ValidDateInformation{Type: "FIX_TERM", AvailableDayAfterReceive: 30, AvailableBeginTime: "2025-06-22T00:00:00+08:00"}, p + "available_begin_time"},
		{"fixed term with an end", membercard.ValidDateInformation{Type: "FIX_TERM", AvailableDayAfterReceive: 30, AvailableEndTime: "2025-06-22T00:00:00+08:00"}, p + "available_begin_time"},
		{"range", membercard.ValidDateInformation{Type: "FIX_TIME_RANGE", AvailableBeginTime: "2025-06-22T00:00:00+08:00", AvailableEndTime: "2026-06-22T00:00:00+08:00"}, ""},
		{"range one second", membercard.ValidDateInformation{Type: "FIX_TIME_RANGE", AvailableBeginTime: "2025-06-22T00:00:00+08:00", AvailableEndTime: "2025-06-21T16:00:01Z"}, ""},
		{"range empty", membercard.ValidDateInformation{Type: "FIX_TIME_RANGE", AvailableBeginTime: "2025-06-22T00:00:00+08:00", AvailableEndTime: "2025-06-21T16:00:00Z"}, p + "available_end_time"},
		{"range reversed", membercard.ValidDateInformation{Type: "FIX_TIME_RANGE", AvailableBeginTime: "2026-06-22T00:00:00+08:00", AvailableEndTime: "2025-06-22T00:00:00+08:00"}, p + "available_end_time"},
		{"range without a beginning", membercard.ValidDateInformation{Type: "FIX_TIME_RANGE", AvailableEndTime: "2026-06-22T00:00:00+08:00"}, p + "available_begin_time"},
		{"range without an end", membercard.ValidDateInformation{Type: "FIX_TIME_RANGE", AvailableBeginTime: "2026-06-22T00:00:00+08:00"}, p + "available_end_time"},
		{"range not RFC 3339", membercard.ValidDateInformation{Type: "FIX_TIME_RANGE", AvailableBeginTime: "2025-06-22 00:00:00", AvailableEndTime: "2026-06-22T00:00:00+08:00"}, p + "available_begin_time"},
		{"range end not RFC 3339", membercard.ValidDateInformation{Type: "FIX_TIME_RANGE", AvailableBeginTime: "2025-06-22T00:00:00+08:00", AvailableEndTime: "1750000000"}, p + "available_end_time"},
		{"range with days", membercard.ValidDateInformation{Type: "FIX_TIME_RANGE", AvailableBeginTime: "2025-06-22T00:00:00+08:00", AvailableEndTime: "2026-06-22T00:00:00+08:00", AvailableDayAfterReceive: 1}, p + "available_day_after_receive"},
		{"permanent with days", membercard.ValidDateInformation{Type: "PERMANENT", AvailableDayAfterReceive: 1}, p + "type"},
		{"permanent with a beginning", membercard.ValidDateInformation{Type: "PERMANENT", AvailableBeginTime: "2025-06-22T00:00:00+08:00"}, p + "type"},
		{"permanent with an end", membercard.ValidDateInformation{Type: "PERMANENT", AvailableEndTime: "2025-06-22T00:00:00+08:00"}, p + "type"},
		{"no type", membercard.ValidDateInformation{AvailableDayAfterReceive: 1}, p + "type"},
		{"unknown type", membercard.ValidDateInformation{Type: "permanent"}, p + "type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.v.Validate()
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			assert.Equal(t, tc.field, fieldOf(t, err), "%v", err)
		})
	}
}

func validConfirm() membercard.UserCardConfirmRequest {
	return membercard.UserCardConfirmRequest{CardID: testCardID, OpenID: testOpenID, UserCardConfirmState: membercard.ConfirmSuccess}
}

func TestUserCardConfirmRules(t *testing.T) {
	with := func(f func(r *membercard.UserCardConfirmRequest)) membercard.UserCardConfirmRequest {
		r := validConfirm()
		f(&r)
		return r
	}
	tests := []struct {
		name  string
		req   membercard.UserCardConfirmRequest
		field string
	}{
		{"success", validConfirm(), ""},
		{"fail", with(func(r *membercard.UserCardConfirmRequest) { r.UserCardConfirmState = membercard.ConfirmFail }), ""},
		{"every optional", with(func(r *membercard.UserCardConfirmRequest) {
			r.Level, r.Attach, r.CardColor, r.CardPictureURL = "钻石会员", `{"store":"A-01"}`, "#63B359", "https://wxpaylogo.qpic.cn/wxpaylogo/PiajxSqBRaEIPAeia7Imvtsc/0"
			r.ValidDateInformation = &membercard.ValidDateInformation{Type: membercard.ValidDateFixTerm, AvailableDayAfterReceive: 365}
		}), ""},
		{"card_id missing", with(func(r *membercard.UserCardConfirmRequest) { r.CardID = "" }), "card_id"},
		{"card_id 33", with(func(r *membercard.UserCardConfirmRequest) { r.CardID = strings.Repeat("c", 33) }), "card_id"},
		{"openid missing", with(func(r *membercard.UserCardConfirmRequest) { r.OpenID = "" }), "openid"},
		{"openid 129", with(func(r *membercard.UserCardConfirmRequest) { r.OpenID = strings.Repeat("o", 129) }), "openid"},
		{"openid 128", with(func(r *membercard.UserCardConfirmRequest) { r.OpenID = strings.Repeat("o", 128) }), ""},
		{"state missing", with(func(r *membercard.UserCardConfirmRequest) { r.UserCardConfirmState = "" }), "user_card_confirm_state"},
		{"state unknown", with(func(r *membercard.UserCardConfirmRequest) { r.UserCardConfirmState = "CREATE_CARD_ALREADY_EXISTS" }), "user_card_confirm_state"},
		{"state lower case", with(func(r *membercard.UserCardConfirmRequest) { r.UserCardConfirmState = "create_card_success" }), "user_card_confirm_state"},
		{"level 32", with(func(r *membercard.UserCardConfirmRequest) { r.Level = strings.Repeat("金", 32) }), ""},
		{"level 33", with(func(r *membercard.UserCardConfirmRequest) { r.Level = strings.Repeat("金", 33) }), "level"},
		{"level control", with(func(r *membercard.UserCardConfirmRequest) { r.Level = "a\nb" }), "level"},
		{"level emoji", with(func(r *membercard.UserCardConfirmRequest) { r.Level = "💎" }), "level"},
		{"attach 256", with(func(r *membercard.UserCardConfirmRequest) { r.Attach = strings.Repeat("a", 256) }), ""},
		{"attach 257", with(func(r *membercard.UserCardConfirmRequest) { r.Attach = strings.Repeat("a", 257) }), "attach"},
		{"attach bidi", with(func(r *membercard.UserCardConfirmRequest) { r.Attach = "a\u202eb" }), "attach"},
		{"colour lower case", with(func(r *membercard.UserCardConfirmRequest) { r.CardColor = "#a0f9e1" }), ""},
		{"colour edges", with(func(r *membercard.UserCardConfirmRequest) { r.CardColor = "#09afAF" }), ""},
		{"colour without #", with(func(r *membercard.UserCardConfirmRequest) { r.CardColor = "63B3590" }), "card_color"},
		{"colour short", with(func(r *membercard.UserCardConfirmRequest) { r.CardColor = "#63B35" }), "card_color"},
		{"colour long", with(func(r *membercard.UserCardConfirmRequest) { r.CardColor = "#63B3590" }), "card_color"},
		{"colour not hex", with(func(r *membercard.UserCardConfirmRequest) { r.CardColor = "#63B35G" }), "card_color"},
		{"colour named", with(func(r *membercard.UserCardConfirmRequest) { r.CardColor = "Color010" }), "card_color"},
		{"picture http", with(func(r *membercard.UserCardConfirmRequest) { r.CardPictureURL = "http://e.com/a.png" }), "card_picture_url"},
		{"picture not a URL", with(func(r *membercard.UserCardConfirmRequest) { r.CardPictureURL = "e.com/a.png" }), "card_picture_url"},
		{"picture 256", with(func(r *membercard.UserCardConfirmRequest) {
			r.CardPictureURL = "https://e.com/" + strings.Repeat("a", 242)
		}), ""},
		{"picture 257", with(func(r *membercard.UserCardConfirmRequest) {
			r.CardPictureURL = "https://e.com/" + strings.Repeat("a", 243)
		}), "card_picture_url"},
		{"validity broken", with(func(r *membercard.UserCardConfirmRequest) {
			r.ValidDateInformation = &membercard.ValidDateInformation{Type: membercard.ValidDateFixTerm}
		}), "valid_date_information.available_day_after_receive"},
		{"first rule broken is named", with(func(r *membercard.UserCardConfirmRequest) { r.OpenID, r.Level = "", strings.Repeat("a", 33) }), "openid"},
		{"first optional broken is named", with(func(r *membercard.UserCardConfirmRequest) { r.Attach, r.CardColor = strings.Repeat("a", 257), "red" }), "attach"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.req.Validate()
			if tc.field == "" {
				require.NoError(t, err)
			} else {
				assert.Equal(t, tc.field, fieldOf(t, err), "%v", err)
			}
			// The partner body keeps the same rules, and its own brand_id.
			p := membercard.PartnerUserCardConfirmRequest{BrandID: "1004", UserCardConfirmRequest: tc.req}
			assert.Equal(t, err, p.Validate())
		})
	}
}

func TestPartnerUserCardConfirmRules(t *testing.T) {
	for _, tc := range []struct{ brandID, field string }{
		{"1004", ""},
		{strings.Repeat("b", 32), ""},
		{"", "brand_id"},
		{strings.Repeat("b", 33), "brand_id"},
		{"10 04", "brand_id"},
	} {
		p := membercard.PartnerUserCardConfirmRequest{BrandID: tc.brandID, UserCardConfirmRequest: validConfirm()}
		err := p.Validate()
		if tc.field == "" {
			assert.NoError(t, err, tc.brandID)
			continue
		}
		assert.Equal(t, tc.field, fieldOf(t, err))
	}
	// brand_id is checked first, as it comes first in the body.
	p := membercard.PartnerUserCardConfirmRequest{}
	assert.Equal(t, "brand_id", fieldOf(t, p.Validate()))
}

// The partner body is the brand's with brand_id in front, flat: the
// embedded request's keys are the body's own.
func TestPartnerUserCardConfirmJSON(t *testing.T) {
	p := membercard.PartnerUserCardConfirmRequest{BrandID: "1004", UserCardConfirmRequest: validConfirm()}
	p.Level = "金卡"
	b, err := json.Marshal(p)
	require.NoError(t, err)
	assert.Equal(t, `{"brand_id":"1004","card_id":"`+testCardID+`","openid":"`+testOpenID+`","user_card_confirm_state":"CREATE_CARD_SUCCESS","level":"金卡"}`, string(b))

	var back membercard.PartnerUserCardConfirmRequest
	require.NoError(t, membercard.Decode(b, &back))
	assert.Equal(t, p, back)
}

func TestDecodeConfirmRequests(t *testing.T) {
	const partner = `{"brand_id":"1004","card_id":"c","openid":"o","user_card_confirm_state":"CREATE_CARD_SUCCESS"`
	tests := []struct {
		name, body, field string
		unknown           bool
	}{
		{"partner ok", partner + `}`, "", false},
		{"partner with validity", partner + `,"valid_date_information":{"type":"FIX_TERM","available_day_after_receive":30}}`, "", false},
		{"fail_reason is not defined", partner + `,"fail_reason":"x"}`, `"fail_rea"…`, true},
		{"phone_number is not ours to send", partner + `,"phone_number":"x"}`, `"phone_nu"…`, true},
		{"embedded key in capitals", partner + `,"Card_ID":"x"}`, "card_id", true},
		{"embedded Go name is not a key", partner + `,"UserCardConfirmRequest":{}}`, `"UserCard"…`, true},
		{"unknown key in the validity", partner + `,"valid_date_information":{"type":"PERMANENT","days":1}}`, `valid_date_information."days"`, true},
		{"duplicate embedded key", partner + `,"openid":"p"}`, "openid", false},
		{"null embedded key", `{"brand_id":"1004","card_id":null}`, "card_id", false},
		{"embedded key of the wrong type", `{"brand_id":"1004","card_id":5}`, "card_id", false},
		{"nested key of the wrong type", partner + `,"valid_date_information":{"type":"FIX_TERM","available_day_after_receive":"30"}}`, "valid_date_information.available_day_after_receive", false},
		{"days not an integer", partner + `,"valid_date_information":{"type":"FIX_TERM","available_day_after_receive":1.5}}`, "valid_date_information.available_day_after_receive", false},
		{"validity not an object", partner + `,"valid_date_information":"PERMANENT"}`, "valid_date_information", false},
		{"own key of the wrong type", `{"brand_id":1004}`, "brand_id", false},
		{"an array for a string", `{"brand_id":["1004"]}`, "brand_id", false},
		{"an array for an object", partner + `,"valid_date_information":[{"type":"PERMANENT"}]}`, "valid_date_information", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r membercard.PartnerUserCardConfirmRequest
			err := membercard.Decode([]byte(tc.body), &r)
			if tc.field == "" {
				require.NoError(t, err)
				require.NoError(t, r.Validate())
				return
			}
			assert.Equal(t, tc.field, fieldOf(t, err), "%v", err)
			assert.Equal(t, tc.unknown, errors.Is(err, membercard.ErrUnknownField), "%v", err)
		})
	}

	var r membercard.UserCardConfirmRequest
	err := membercard.Decode([]byte(partner+`}`), &r)
	assert.Equal(t, `"brand_id"`, fieldOf(t, err), "the brand body has no brand_id")
	assert.ErrorIs(t, err, membercard.ErrUnknownField)
	assert.False(t, errors.Is(membercard.CheckID("card_id", "", 32), membercard.ErrUnknownField), "a broken rule is not an unknown field")
}

// Fields promoted from an embedded struct yield to the outer struct's own
// of the same name, and an embedded struct with a name of its own is a key.
func TestDecodeEmbedding(t *testing.T) {
	type inner struct {
		A string `json:"a"`
		B string `json:"b"`
	}
	type named struct {
		C string `json:"c"`
	}
	type outer struct {
		A struct {
			X int `json:"x"`
		} `json:"a"`
		inner
		named `json:"n"`
		*membercard.ValidDateInformation
		Skip string `json:"-"`
		Bare string
	}
	var o outer
	require.NoError(t, membercard.Decode([]byte(`{"a":{"x":1},"b":"y","n":{"c":"z"},"type":"PERMANENT","Bare":"q"}`), &o))
	assert.Equal(t, 1, o.A.X)
	assert.Equal(t, "y", o.B)
	assert.Equal(t, "z", o.C)
	assert.Equal(t, "PERMANENT", o.Type)
	assert.Equal(t, "q", o.Bare)
	assert.Equal(t, "a.x", fieldOf(t, membercard.Decode([]byte(`{"a":{"x":"1"}}`), &o)), "the outer a, an object")
	assert.Equal(t, `a."y"`, fieldOf(t, membercard.Decode([]byte(`{"a":{"y":1}}`), &o)), "the outer a's keys")
	assert.Equal(t, `"c"`, fieldOf(t, membercard.Decode([]byte(`{"c":"z"}`), &o)), "a named embedded struct is not promoted")
	assert.Equal(t, `"Skip"`, fieldOf(t, membercard.Decode([]byte(`{"Skip":"z"}`), &o)))
	assert.Equal(t, "available_day_after_receive", fieldOf(t, membercard.Decode([]byte(`{"available_day_after_receive":"1"}`), &o)), "through an embedded pointer")
	assert.Equal(t, "b", fieldOf(t, membercard.Decode([]byte(`{"b":2}`), &o)))
	assert.Equal(t, "n.c", fieldOf(t, membercard.Decode([]byte(`{"n":{"c":3}}`), &o)))

	var l struct {
		L []outer `json:"l"`
	}
	assert.Equal(t, "l.b", fieldOf(t, membercard.Decode([]byte(`{"l":[{"b":2}]}`), &l)), "inside an array")
	var m struct {
		M map[string]outer `json:"m"`
	}
	assert.Equal(t, "m.b", fieldOf(t, membercard.Decode([]byte(`{"m":{"k":{"b":1}}}`), &m)), "under a map's key, which encoding/json does not name")
}

func TestUserCardEventTypes(t *testing.T) {
	for _, tc := range []struct {
		eventType      string
		create, delete bool
	}{
		{membercard.BrandUserCardCreateEvent, true, false},
		{membercard.PartnerUserCardCreateEvent, true, false},
		{membercard.LegacyPartnerUserCardCreateEvent, true, false},
		{membercard.BrandUserCardDeleteEvent, false, true},
		{membercard.PartnerUserCardDeleteEvent, false, true},
		{membercard.LegacyPartnerUserCardDeleteEvent, false, true},
		{"BRAND_MEMBER_CARD.SYNC_USER_POINT", false, false},
		{"MEMBERCARD.ACCEPT_CARD", false, false},
		{"", false, false},
	} {
		assert.Equal(t, tc.create, membercard.IsUserCardCreateEvent(tc.eventType), tc.eventType)
		assert.Equal(t, tc.delete, membercard.IsUserCardDeleteEvent(tc.eventType), tc.eventType)
	}
	assert.Equal(t, "BRAND_MEMBER_CARD_SP.USER_CARD.CREATE", membercard.PartnerUserCardCreateEvent)
	assert.Equal(t, "MEMBERCARDSP.USER_CARD.DELETE", membercard.LegacyPartnerUserCardDeleteEvent)
}

// The answer's optional fields are omitted when empty; the required ones
// are always there.
func TestUserCardJSON(t *testing.T) {
	b, err := json.Marshal(membercard.UserCard{UserCardCode: "1", CardID: "c", OpenID: "o", BrandID: "b", CardType: membercard.CardTypeNormal,
		PickupTime: "2025-06-22T10:00:00+08:00", UserCardState: membercard.UserCardUnactivated})
	require.NoError(t, err)
	assert.JSONEq(t, `{"user_card_code":"1","card_id":"c","openid":"o","brand_id":"b","card_type":"NORMAL","pickup_time":"2025-06-22T10:00:00+08:00","user_card_state":"UNACTIVATED"}`, string(b))
}

// FuzzDecodeUserCardConfirm: decoding either confirm body and validating it
// never panics; what decodes is read the same by plain encoding/json (no
// key read two ways); and a valid request survives encoding and decoding
// unchanged, still valid.
func FuzzDecodeUserCardConfirm(f *testing.F) {
	f.Add([]byte(`{"brand_id":"1004","card_id":"c","openid":"o","user_card_confirm_state":"CREATE_CARD_SUCCESS","level":"金卡"}`))
	f.Add([]byte(`{"card_id":"c","openid":"o","user_card_confirm_state":"CREATE_CARD_FAIL","card_color":"#63B359","card_picture_url":"https://e.com/a.png"}`))
	f.Add([]byte(`{"card_id":"c","openid":"o","user_card_confirm_state":"CREATE_CARD_SUCCESS","valid_date_information":{"type":"FIX_TIME_RANGE","available_begin_time":"2025-06-22T00:00:00+08:00","available_end_time":"2026-06-22T00:00:00+08:00"}}`))
	f.Add([]byte(`{"card_id":"c","openid":"o","user_card_confirm_state":"CREATE_CARD_SUCCESS","valid_date_information":{"type":"FIX_TERM","available_day_after_receive":30}}`))
	f.Add([]byte(`{"card_id":"c","Card_id":"d"}`))
	f.Add([]byte(`{"valid_date_information":{"type":null}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzConfirm(t, body, &membercard.UserCardConfirmRequest{}, func() any { return &membercard.UserCardConfirmRequest{} })
		fuzzConfirm(t, body, &membercard.PartnerUserCardConfirmRequest{}, func() any { return &membercard.PartnerUserCardConfirmRequest{} })
	})
}

func fuzzConfirm(t *testing.T, body []byte, r interface{ Validate() error }, fresh func() any) {
	t.Helper()
	if err := membercard.Decode(body, r); err != nil {
		var fe *membercard.FieldError
		if !assert.ErrorAs(t, err, &fe) || fe.Field == "" {
			t.Fatalf("error without a field: %v", err)
		}
		return
	}
	plain := fresh()
	require.NoError(t, json.Unmarshal(body, plain))
	assert.Equal(t, plain, r, "%s", body)
	if r.Validate() != nil {
		return
	}
	again, err := json.Marshal(r)
	require.NoError(t, err)
	back := fresh()
	require.NoError(t, membercard.Decode(again, back), "%s", again)
	assert.Equal(t, r, back)
	require.NoError(t, back.(interface{ Validate() error }).Validate())
}
