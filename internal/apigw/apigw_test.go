package apigw_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/apigw"
)

func TestBody(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name, ct, body string
		base64         bool
		status         int
		want           string
	}{
		{"json", "application/json", `{"a":"b"}`, false, 0, `{"a":"b"}`},
		{"json utf-8, any case", "Application/JSON; charset=UTF-8", `{}`, false, 0, `{}`},
		{"json utf8, the alias", "application/json; charset=utf8", `{}`, false, 0, `{}`},
		{"latin1", "application/json; charset=latin1", `{}`, false, 415, ""},
		{"base64", "application/json", b64(`{"a":"b"}`), true, 0, `{"a":"b"}`},
		{"no content type", "", `{}`, false, 415, ""},
		{"text", "text/plain", `{}`, false, 415, ""},
		{"json-ish", "application/jsonp", `{}`, false, 415, ""},
		{"other charset", "application/json; charset=gbk", `{}`, false, 415, ""},
		{"bad base64", "application/json", "***", true, 400, ""},
		{"exactly 16 KiB", "application/json", strings.Repeat("a", apigw.MaxBodyBytes), false, 0, strings.Repeat("a", apigw.MaxBodyBytes)},
		{"16 KiB + 1", "application/json", strings.Repeat("a", apigw.MaxBodyBytes+1), false, 413, ""},
		{"16 KiB + 1 in base64", "application/json", b64(strings.Repeat("a", apigw.MaxBodyBytes+1)), true, 413, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := &events.APIGatewayV2HTTPRequest{Headers: map[string]string{"Content-Type": tc.ct}, Body: tc.body, IsBase64Encoded: tc.base64}
			body, aerr := apigw.Body(ev)
			if tc.status != 0 {
				require.NotNil(t, aerr)
				assert.Equal(t, tc.status, aerr.Status)
				return
			}
			require.Nil(t, aerr)
			assert.Equal(t, tc.want, string(body))
		})
	}
}

func TestHeaderIsCaseInsensitive(t *testing.T) {
	ev := &events.APIGatewayV2HTTPRequest{Headers: map[string]string{"X-Thing": "1", "content-type": "application/json"}}
	assert.Equal(t, "1", apigw.Header(ev, "x-thing"))
	assert.Equal(t, "application/json", apigw.Header(ev, "Content-Type"))
	assert.Empty(t, apigw.Header(ev, "missing"))
}
