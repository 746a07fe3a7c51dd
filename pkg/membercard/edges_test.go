package membercard_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/membercard"
)

// The ID alphabet at its edges: every boundary character is allowed, and
// each neighbour outside it is refused.
func TestIDAlphabetEdges(t *testing.T) {
	require.NoError(t, membercard.CheckID("card_id", "azAZ09_-", 32))
	for _, c := range []string{"`", "{", "@", "[", "/", ":", ".", " "} {
		assert.Error(t, membercard.CheckID("card_id", "a"+c+"b", 32), "%q", c)
	}
	for _, c := range []string{"a", "z", "A", "Z", "0", "9", "_", "-"} {
		assert.NoError(t, membercard.CheckID("card_id", c, 32), "%q", c)
	}
}

// outer_str at its edges: digits, letters and ASCII punctuation and
// symbols in; their full-width forms out.
func TestOuterStrEdges(t *testing.T) {
	for _, ok := range []string{"0", "9", "a", "z", "A", "Z", "!", "~", "$", "+", "店"} {
		r := membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", OuterStr: ok}
		assert.NoError(t, r.Validate(), "%q", ok)
	}
	for _, bad := range []string{"＄", "＋", "！", "ａ", "０"} {
		r := membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", OuterStr: bad}
		assert.Error(t, r.Validate(), "%q", bad)
	}
}

// Both http and https URLs are accepted as activate_url.
func TestActivateURLSchemes(t *testing.T) {
	for _, u := range []string{"http://e.com/a", "https://e.com/a"} {
		r := membercard.PermissionTokenRequest{ActivateType: "JUMP_ACTIVATE", ActivateURL: u}
		assert.NoError(t, r.Validate(), u)
	}
}

// The body limit and the character rule at their edges: exactly
// MaxBodyBytes is read; U+FFFF, the last 3-byte character, is allowed.
func TestDecodeEdges(t *testing.T) {
	pad := membercard.MaxBodyBytes - len(`{"card_id":"c","openid":""}`)
	body := `{"card_id":"c","openid":"` + strings.Repeat("o", pad) + `"}`
	require.Len(t, body, membercard.MaxBodyBytes)
	var r membercard.BrandPreAuthTokenRequest
	require.NoError(t, membercard.Decode([]byte(body), &r), "exactly the limit")

	require.NoError(t, membercard.Decode([]byte("{\"card_id\":\"c\uffff\",\"openid\":\"o\"}"), &r))
	p := membercard.PermissionTokenRequest{ActivateType: "AUTO_ACTIVATE", ActivatePath: "a\uffff"}
	assert.NoError(t, p.Validate(), "U+FFFF is a 3-byte character")
}

// Keys inside arrays of objects are held to the element type's names too,
// and arrays nest.
func TestDecodeArrays(t *testing.T) {
	var v struct {
		L []struct {
			A int `json:"a"`
		} `json:"l"`
	}
	require.NoError(t, membercard.Decode([]byte(`{"l":[{"a":1},{"a":2}]}`), &v))
	assert.Len(t, v.L, 2)
	err := membercard.Decode([]byte(`{"l":[{"a":1},{"A":2}]}`), &v)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `spelled exactly "a"`)

	var m map[string]any
	require.NoError(t, membercard.Decode([]byte(`{"a":[[1],[2,[3]]],"b":1}`), &m))
	assert.Equal(t, "a", fieldOf(t, membercard.Decode([]byte(`{"a":[1,}`), &m)))
}

// A key of exactly 8 characters is named whole; 9 are cut.
func TestShortKeyEdge(t *testing.T) {
	assert.Equal(t, `"abcdefgh"`, membercard.ShortKey("abcdefgh"))
	assert.Equal(t, `"abcdefgh"…`, membercard.ShortKey("abcdefghi"))
}

// A body cut short is reported as the body's fault, whichever field it was
// cut in; a value that breaks the syntax still names its field.
func TestDecodeTruncatedBody(t *testing.T) {
	t.Parallel()
	full := `{"card_id":"pbLatjvWOibDc5-TBnbUk1pD12o0","openid":"obLatjnx9gnqzS4myYGmLZ7LgLBA"}`
	for n := 1; n < len(full); n++ {
		var r membercard.BrandPreAuthTokenRequest
		err := membercard.Decode([]byte(full[:n]), &r)
		require.Error(t, err, "%d bytes", n)
		if n == 1 {
			continue // "{" alone: the body ends at once
		}
		assert.Equal(t, "body", fieldOf(t, err), "%q", full[:n])
		assert.Contains(t, err.Error(), "body is not valid JSON", "%q", full[:n])
	}
	for _, tc := range []struct{ body, field string }{
		{`{"card_id":x}`, "card_id"},
		{`{"card_id":"c","openid":tru}`, "openid"},
		{`{"l":[1,}`, "l"},
	} {
		var m map[string]any
		assert.Equal(t, tc.field, fieldOf(t, membercard.Decode([]byte(tc.body), &m)), tc.body)
	}
}
