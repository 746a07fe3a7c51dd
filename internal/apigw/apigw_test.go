package apigw_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxsign"
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

func TestFromUpstream(t *testing.T) {
	wrap := func(err error) error { return &wxpay.CallError{Route: "/r", Attempts: 3, Err: err} }
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		reqID  string
	}{
		{"4xx passes through", wrap(&wxpay.APIError{Status: 403, Code: "NO_AUTH", Message: "商户暂无权限", RequestID: "R1"}), 403, "NO_AUTH", "R1"},
		{"429", wrap(&wxpay.APIError{Status: 429, Code: "FREQUENCY_LIMITED", RequestID: "R2"}), 429, "FREQUENCY_LIMITED", "R2"},
		{"5xx", wrap(&wxpay.APIError{Status: 503, Code: "SYSTEM_ERROR", RequestID: "R3"}), 502, "UPSTREAM_UNAVAILABLE", "R3"},
		{"verification", wrap(&wxsign.VerifyError{Reason: wxsign.ErrBadSignature, RequestID: "R4"}), 502, "UPSTREAM_SIGNATURE_INVALID", "R4"},
		{"unreachable", wrap(fmt.Errorf("%w: dial tcp: refused", wxpay.ErrUnreachable)), 502, "UPSTREAM_UNAVAILABLE", ""},
		{"timeout", wrap(fmt.Errorf("%w: %w", wxpay.ErrTimeout, context.DeadlineExceeded)), 504, "UPSTREAM_TIMEOUT", ""},
		{"anything else", errors.New("boom"), 502, "UPSTREAM_UNAVAILABLE", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := apigw.FromUpstream(tc.err)
			assert.Equal(t, tc.status, e.Status)
			assert.Equal(t, tc.code, e.Code)
			assert.Equal(t, tc.reqID, e.RequestID)
			resp := e.Respond()
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, "no-store", resp.Headers["Cache-Control"])
			assert.Contains(t, resp.Body, `"code":"`+tc.code+`"`)
		})
	}
}

func TestFieldErrorsNameTheField(t *testing.T) {
	e := apigw.FromFieldError(&membercard.FieldError{Field: "card_id", Reason: "is required"})
	assert.Equal(t, 400, e.Status)
	assert.Equal(t, "PARAM_ERROR", e.Code)
	assert.Equal(t, "card_id is required", e.Message)
	assert.JSONEq(t, `{"code":"PARAM_ERROR","message":"card_id is required"}`, e.Respond().Body)
}

func TestHeaderIsCaseInsensitive(t *testing.T) {
	ev := &events.APIGatewayV2HTTPRequest{Headers: map[string]string{"X-Thing": "1", "content-type": "application/json"}}
	assert.Equal(t, "1", apigw.Header(ev, "x-thing"))
	assert.Equal(t, "application/json", apigw.Header(ev, "Content-Type"))
	assert.Empty(t, apigw.Header(ev, "missing"))
}
