package membercard_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/membercard"
)

func fieldOf(t *testing.T, err error) string {
	t.Helper()
	var fe *membercard.FieldError
	require.ErrorAs(t, err, &fe)
	return fe.Field
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, body, field string
	}{
		{"valid", `{"card_id":"pbLatjvWOibDc5-TBnbUk1pD12o0","openid":"obLatjnx9gnqzS4myYGmLZ7LgLBA"}`, ""},
		{"valid with spaces", " {\n \"card_id\" : \"c\", \"openid\":\"o\" }\n", ""},
		{"empty", ``, "body"},
		{"array", `[]`, "body"},
		{"string", `"x"`, "body"},
		{"two objects", `{"card_id":"c"}{"openid":"o"}`, "body"},
		{"trailing garbage", `{"card_id":"c"} x`, "body"},
		{"truncated", `{"card_id":"c"`, "body"},
		{"null value", `{"card_id":null,"openid":"o"}`, "card_id"},
		{"duplicate key", `{"card_id":"a","card_id":"b","openid":"o"}`, "card_id"},
		{"unknown field", `{"card_id":"c","openid":"o","extra":1}`, "extra"},
		{"wrong type", `{"card_id":5,"openid":"o"}`, "card_id"},
		{"emoji", `{"card_id":"c","openid":"o😀"}`, "body"},
		{"invalid utf-8", "{\"card_id\":\"\xff\",\"openid\":\"o\"}", "body"},
		{"too big", `{"card_id":"` + strings.Repeat("a", membercard.MaxBodyBytes) + `"}`, "body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r membercard.BrandPreAuthTokenRequest
			err := membercard.Decode([]byte(tc.body), &r)
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			assert.Equal(t, tc.field, fieldOf(t, err), "%v", err)
		})
	}
}

func TestDecodeNestedNullAndDuplicates(t *testing.T) {
	var v map[string]any
	assert.Equal(t, "a.b", fieldOf(t, membercard.Decode([]byte(`{"a":{"b":null}}`), &v)))
	assert.Equal(t, "a.b", fieldOf(t, membercard.Decode([]byte(`{"a":{"b":1,"b":2}}`), &v)))
	assert.Equal(t, "a", fieldOf(t, membercard.Decode([]byte(`{"a":[1,null]}`), &v)))
	var p membercard.PermissionTokenRequest
	assert.Equal(t, "navigate_back_previous_page", fieldOf(t, membercard.Decode([]byte(`{"activate_type":"AUTO_ACTIVATE","navigate_back_previous_page":"yes"}`), &p)))
}

func TestBrandAndPartnerRules(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name  string
		req   interface{ Validate() error }
		field string
	}{
		{"brand ok", &membercard.BrandPreAuthTokenRequest{CardID: long(32), OpenID: long(128)}, ""},
		{"brand card_id missing", &membercard.BrandPreAuthTokenRequest{OpenID: "o"}, "card_id"},
		{"brand card_id 33", &membercard.BrandPreAuthTokenRequest{CardID: long(33), OpenID: "o"}, "card_id"},
		{"brand openid 129", &membercard.BrandPreAuthTokenRequest{CardID: "c", OpenID: long(129)}, "openid"},
		{"brand openid missing", &membercard.BrandPreAuthTokenRequest{CardID: "c"}, "openid"},
		{"brand card_id slash", &membercard.BrandPreAuthTokenRequest{CardID: "../x", OpenID: "o"}, "card_id"},
		{"brand openid space", &membercard.BrandPreAuthTokenRequest{CardID: "c", OpenID: "o o"}, "openid"},
		{"partner ok", &membercard.PartnerPreAuthTokenRequest{BrandID: long(32), CardID: "c", OpenID: "o"}, ""},
		{"partner ok with code", &membercard.PartnerPreAuthTokenRequest{BrandID: "1004", CardID: "c", OpenID: "o", UserCardCode: "478515832665"}, ""},
		{"partner brand_id missing", &membercard.PartnerPreAuthTokenRequest{CardID: "c", OpenID: "o"}, "brand_id"},
		{"partner brand_id 33", &membercard.PartnerPreAuthTokenRequest{BrandID: long(33), CardID: "c", OpenID: "o"}, "brand_id"},
		{"partner code bad", &membercard.PartnerPreAuthTokenRequest{BrandID: "1", CardID: "c", OpenID: "o", UserCardCode: "1 2"}, "user_card_code"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.req.Validate()
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			assert.Equal(t, tc.field, fieldOf(t, err))
		})
	}
}

func TestPermissionTokenRules(t *testing.T) {
	yes := true
	tests := []struct {
		name  string
		req   membercard.PermissionTokenRequest
		field string
	}{
		{"auto", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE"}, ""},
		{"seed example", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", NavigateBackPreviousPage: &yes, ActivateURL: "https://w.url.cn/s/Ahz3p2C", ActivateAppID: "wxea9c30a90fs8d3fe", ActivatePath: "pages/activate/activate", OuterStr: "szwxtd"}, ""},
		{"jump with url", membercard.PermissionTokenRequest{ActivateType: "JUMP_ACTIVATE", ActivateURL: "https://example.com/a"}, ""},
		{"jump with appid", membercard.PermissionTokenRequest{ActivateType: "JUMP_ACTIVATE", ActivateAppID: "wxea9c30a90fs8d3fe"}, ""},
		{"jump without target", membercard.PermissionTokenRequest{ActivateType: "JUMP_ACTIVATE", ActivatePath: "pages/a"}, "activate_url"},
		{"type missing", membercard.PermissionTokenRequest{}, "activate_type"},
		{"type unknown", membercard.PermissionTokenRequest{ActivateType: "auto_activate"}, "activate_type"},
		{"url 129", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", ActivateURL: "https://e.com/" + strings.Repeat("a", 115)}, "activate_url"},
		{"url 128", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", ActivateURL: "https://e.com/" + strings.Repeat("a", 114)}, ""},
		{"url not url", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", ActivateURL: "javascript:alert(1)"}, "activate_url"},
		{"appid 33", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", ActivateAppID: strings.Repeat("a", 33)}, "activate_appid"},
		{"path 129", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", ActivatePath: strings.Repeat("p", 129)}, "activate_path"},
		{"path control char", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", ActivatePath: "a\nb"}, "activate_path"},
		{"outer_str chinese and punct", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", OuterStr: "门店A-01,北京!"}, ""},
		{"outer_str 32 chinese", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", OuterStr: strings.Repeat("店", 32)}, ""},
		{"outer_str 33", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", OuterStr: strings.Repeat("a", 33)}, "outer_str"},
		{"outer_str full-width punct", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", OuterStr: "门店，"}, "outer_str"},
		{"outer_str space", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", OuterStr: "a b"}, "outer_str"},
		{"outer_str emoji", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", OuterStr: "a😀"}, "outer_str"},
		{"outer_str kana", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", OuterStr: "カ"}, "outer_str"},
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

func TestPathsEscapeParameters(t *testing.T) {
	assert.Equal(t, "/v3/marketing/membercard-open/cards/a%2F..%2Fb/permission-tokens", membercard.PermissionTokensPath("a/../b"))
	assert.Equal(t, "/v3/brand-basic/partner/brands/1004%3Fx=1/product-authorities", membercard.ProductAuthoritiesPath("1004?x=1"))
}

// FuzzDecode: never panics; what decodes is valid UTF-8 without 4-byte
// characters, and re-encodes to a body that decodes to the same request.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"activate_type":"JUMP_ACTIVATE","activate_url":"https://e.com","outer_str":"店"}`))
	f.Add([]byte(`{"a":{"b":[1,null]}}`))
	f.Add([]byte(`{"activate_type":"AUTO_ACTIVATE","activate_type":"X"}`))
	f.Add([]byte(`{"navigate_back_previous_page":true}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r membercard.PermissionTokenRequest
		if err := membercard.Decode(body, &r); err != nil {
			var fe *membercard.FieldError
			if !assert.ErrorAs(t, err, &fe) || fe.Field == "" {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		_ = r.Validate()
	})
}

// An empty key still gives an error that names a field (found by FuzzDecode).
func TestDecodeEmptyKeyIsNamed(t *testing.T) {
	var r membercard.BrandPreAuthTokenRequest
	assert.Equal(t, `""`, fieldOf(t, membercard.Decode([]byte(`{"":1,"":2}`), &r)))
	assert.Equal(t, `""`, fieldOf(t, membercard.Decode([]byte(`{"":1}`), &r)))
}
