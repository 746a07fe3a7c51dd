package cardapi_test

// Tests at the edges mutation testing showed unguarded: how much of a
// token a log line shows, and the level of a refused request's line.

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
)

// A token of four characters or fewer shows none of them: its prefix
// would be the whole token.
func TestTokenPrefix(t *testing.T) {
	t.Parallel()
	for tok, want := range map[string]string{"": "…", "abc": "…", "abcd": "…", "abcde": "abcd…"} {
		assert.Equal(t, want, cardapi.TokenPrefix(tok), "%q", tok)
	}
}

// A refusal of ours (4xx) is logged at INFO, WeChat Pay failing (5xx) at
// ERROR: alarms follow errors, not callers' mistakes.
func TestRefusalLogLevel(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		err    error
		status int
		level  string
	}{
		{"caller's mistake", &wxpay.CallError{Err: &wxpay.APIError{Status: 400, Code: "PARAM_ERROR"}}, 400, "INFO"},
		{"WeChat Pay failing", &wxpay.CallError{Err: &wxpay.APIError{Status: 500, Code: "SYSTEM_ERROR"}}, 502, "ERROR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			h := &cardapi.PreToken{Upstream: upstreamStub{err: tc.err}, Policy: e.policy, Logger: e.logger}
			resp, err := h.Handle(ctx(t), event("POST", membercard.BrandPreAuthTokensPath, preBody, nil))
			require.NoError(t, err)
			require.Equal(t, tc.status, resp.StatusCode, resp.Body)
			var line struct{ Level, Msg string }
			require.NoError(t, json.Unmarshal(e.logs.Bytes(), &line), e.logs.String())
			assert.Equal(t, "request refused", line.Msg)
			assert.Equal(t, tc.level, line.Level)
		})
	}
}
