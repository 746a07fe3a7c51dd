package cardapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

func TestFromUpstream(t *testing.T) {
	t.Parallel()
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
		{"redirect", wrap(fmt.Errorf("%w: 307 (request ID %q)", wxpay.ErrInvalidAnswer, "R5")), 502, "UPSTREAM_INVALID_ANSWER", ""},
		{"an APIError of another status", wrap(&wxpay.APIError{Status: 307, Code: "Temporary Redirect", RequestID: "R6"}), 502, "UPSTREAM_INVALID_ANSWER", "R6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := cardapi.FromUpstream(tc.err)
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
	t.Parallel()
	e := cardapi.FromFieldError(&membercard.FieldError{Field: "card_id", Reason: "is required"})
	assert.Equal(t, 400, e.Status)
	assert.Equal(t, "PARAM_ERROR", e.Code)
	assert.Equal(t, "card_id is required", e.Message)
	assert.JSONEq(t, `{"code":"PARAM_ERROR","message":"card_id is required"}`, e.Respond().Body)
}

// The API Gateway limit and the field rules' limit are one number.
func TestBodyLimitsAgree(t *testing.T) {
	t.Parallel()
	assert.Equal(t, membercard.MaxBodyBytes, apigw.MaxBodyBytes)
}

// A 429 still limited after retries carries Retry-After: WeChat Pay's,
// rounded up and bounded, or 1 s; no other answer has one.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	limited := func(d time.Duration) error {
		return &wxpay.CallError{Attempts: 3, Err: &wxpay.APIError{Status: 429, Code: "FREQUENCY_LIMITED", RetryAfter: d}}
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"none sent", limited(0), "1"},
		{"seconds", limited(7 * time.Second), "7"},
		{"rounded up", limited(1500 * time.Millisecond), "2"},
		{"bounded", limited(24 * time.Hour), "60"},
		{"not a 429", &wxpay.APIError{Status: 503, RetryAfter: 7 * time.Second}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := cardapi.FromUpstream(tc.err).Respond()
			assert.Equal(t, tc.want, resp.Headers["Retry-After"])
		})
	}
}

// A refusal's one line: the caller's (4xx) at INFO, a 5xx, from 500 on,
// at ERROR; the answer is the refusal.
func TestRefuse(t *testing.T) {
	for _, tc := range []struct {
		status int
		level  string
	}{{499, "INFO"}, {500, "ERROR"}, {502, "ERROR"}} {
		var logs bytes.Buffer
		aerr := &apigw.Error{Status: tc.status, Code: "X", Message: "m", RequestID: "r"}
		resp := cardapi.Refuse(context.Background(), slog.New(slog.NewJSONHandler(&logs, nil)), aerr, slog.String("route", "/x"))
		assert.Equal(t, tc.status, resp.StatusCode)
		var line map[string]any
		require.NoError(t, json.Unmarshal(logs.Bytes(), &line))
		assert.Equal(t, map[string]any{"level": tc.level, "msg": "request refused", "route": "/x", "code": "X", "message": "m",
			"wechatpay_request_id": "r", "time": line["time"]}, line)
	}
}
