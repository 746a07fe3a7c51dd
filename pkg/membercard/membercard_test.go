package membercard_test

import (
	"encoding/json"
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
		{"unknown field", `{"card_id":"c","openid":"o","extra":1}`, `"extra"`},
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
		{"path bidi override", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", ActivatePath: "pages/\u202egnp.exe"}, "activate_path"},
		{"path line separator", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", ActivatePath: "a\u2028b"}, "activate_path"},
		{"path paragraph separator", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", ActivatePath: "a\u2029b"}, "activate_path"},
		{"path zero-width joiner", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", ActivatePath: "a\u200db"}, "activate_path"},
		{"url bidi override", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", ActivateURL: "https://e.com/\u202eabc"}, "activate_url"},
		{"outer_str byte order mark", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", OuterStr: "\ufeffa"}, "outer_str"},
		{"outer_str left-to-right mark", membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", OuterStr: "a\u200e"}, "outer_str"},
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
		// The decoded request is what an exact-key reading of the same
		// body gives: no two parsers read two different values.
		assert.Equal(t, exactDecode(t, body), r, "%s", body)
	})
}

// exactDecode reads a permission-token body the naive way, matching keys
// exactly (the last of duplicates wins, as in most parsers).
func exactDecode(t *testing.T, body []byte) membercard.PermissionTokenRequest {
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &m))
	var r membercard.PermissionTokenRequest
	for key, raw := range m {
		var dst any
		switch key {
		case "activate_type":
			dst = &r.ActivateType
		case "navigate_back_previous_page":
			dst = &r.NavigateBackPreviousPage
		case "activate_url":
			dst = &r.ActivateURL
		case "activate_appid":
			dst = &r.ActivateAppID
		case "activate_path":
			dst = &r.ActivatePath
		case "outer_str":
			dst = &r.OuterStr
		default:
			t.Fatalf("accepted a body with the key %q", key)
		}
		require.NoError(t, json.Unmarshal(raw, dst))
	}
	return r
}

// Keys must be spelled exactly as documented: encoding/json would match
// them case-insensitively, with Unicode folding, and read one body two ways.
func TestDecodeKeysMatchExactly(t *testing.T) {
	tests := []struct {
		name, body, field string
		into              any
	}{
		{"a second openid in capitals", `{"card_id":"c","openid":"obLatjnx9gnqzS4myYGmLZ7LgLBA","OPENID":"x"}`, "openid", &membercard.BrandPreAuthTokenRequest{}},
		{"a second brand_id in mixed case", `{"brand_id":"1004","card_id":"c","openid":"o","Brand_Id":"9999"}`, "brand_id", &membercard.PartnerPreAuthTokenRequest{}},
		{"only capitals", `{"CARD_ID":"c","OpenID":"o"}`, "card_id", &membercard.BrandPreAuthTokenRequest{}},
		{"long s folded into s", `{"activate_type":"AUTO_ACTIVATE","outer_\u017ftr":"x"}`, "outer_str", &membercard.PermissionTokenRequest{}},
		{"long s raw", "{\"activate_type\":\"AUTO_ACTIVATE\",\"outer_\u017ftr\":\"x\"}", "outer_str", &membercard.PermissionTokenRequest{}},
		{"Kelvin sign folded into k", `{"activate_type":"AUTO_ACTIVATE","navigate_bac\u212a_previous_page":true}`, "navigate_back_previous_page", &membercard.PermissionTokenRequest{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := membercard.Decode([]byte(tc.body), tc.into)
			require.Error(t, err)
			assert.Equal(t, tc.field, fieldOf(t, err))
			assert.Contains(t, err.Error(), "spelled exactly")
		})
	}
}

// An unknown key may be anything, an openid or 16 KB of text: errors name
// at most a short, escaped prefix of it.
func TestUnknownKeysAreNamedShortAndEscaped(t *testing.T) {
	openid := "obLatjnx9gnqzS4myYGmLZ7LgLBA"
	long := strings.Repeat("k", 16000)
	for _, tc := range []struct{ key, field string }{
		{"extra", `"extra"`},
		{openid, `"obLatjnx"…`},
		{long, `"kkkkkkkk"…`},
		{"a\u202eb", `"a\u202eb"`},
		{"a\u2028\"b", `"a\u2028\"b"`},
	} {
		body, err := json.Marshal(map[string]any{"card_id": "c", "openid": "o", tc.key: 1})
		require.NoError(t, err)
		err = membercard.Decode(body, &membercard.BrandPreAuthTokenRequest{})
		require.Error(t, err)
		assert.Equal(t, tc.field, fieldOf(t, err))
		assert.NotContains(t, err.Error(), openid)
		assert.Less(t, len(err.Error()), 80)
	}
}

// An empty key still gives an error that names a field (found by FuzzDecode).
func TestDecodeEmptyKeyIsNamed(t *testing.T) {
	var r membercard.BrandPreAuthTokenRequest
	assert.Equal(t, `""`, fieldOf(t, membercard.Decode([]byte(`{"":1,"":2}`), &r)))
	assert.Equal(t, `""`, fieldOf(t, membercard.Decode([]byte(`{"":1}`), &r)))
}

// A 4-byte character escaped in JSON (\ud83d\ude00) is not in the raw bytes
// Decode checks first: the field rule must refuse it after decoding.
func TestEscapedEmojiIsRefusedByTheFieldRules(t *testing.T) {
	for _, field := range []string{"activate_path", "activate_url"} {
		value := `"pages/\ud83d\ude00"`
		if field == "activate_url" {
			value = `"https://e.com/\ud83d\ude00"`
		}
		var r membercard.PermissionTokenRequest
		require.NoError(t, membercard.Decode([]byte(`{"activate_type":"AUTO_ACTIVATE","`+field+`":`+value+`}`), &r), "the raw body is plain ASCII")
		err := r.Validate()
		assert.Equal(t, field, fieldOf(t, err), "%v", err)
		assert.Contains(t, err.Error(), "4-byte")
	}
}
