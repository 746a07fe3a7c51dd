package cardapi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

// design.md's rows for a redirect and a 429, through a handler against
// the sandbox: a redirect is 502 UPSTREAM_INVALID_ANSWER, never followed;
// a 429 still limited after retries is 429 FREQUENCY_LIMITED with
// Retry-After.
func TestRedirectAndRateLimitAnswers(t *testing.T) {
	t.Parallel()
	limited := wxpaytest.Fault{Kind: wxpaytest.Status, Status: 429}
	for _, tc := range []struct {
		name       string
		faults     []wxpaytest.Fault
		status     int
		code       string
		retryAfter string
		requests   int
	}{
		{"redirect", []wxpaytest.Fault{{Kind: wxpaytest.Redirect}}, 502, "UPSTREAM_INVALID_ANSWER", "", 1},
		{"permanent redirect", []wxpaytest.Fault{{Kind: wxpaytest.Redirect, Status: 308}}, 502, "UPSTREAM_INVALID_ANSWER", "", 1},
		{"rate limited after retries", []wxpaytest.Fault{limited, limited, limited}, 429, "FREQUENCY_LIMITED", "1", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.srv.Inject(tc.faults...)
			h := &cardapi.Authorities{Upstream: e.partner, Policy: e.policy, Logger: e.logger}
			resp, err := h.Handle(ctx(t), authoritiesEvent(brandID))
			require.NoError(t, err)
			assert.Equal(t, tc.status, resp.StatusCode, resp.Body)
			a := decode(t, resp)
			assert.Equal(t, tc.code, a.Code)
			assert.NotEmpty(t, a.RequestID, "WeChat Pay's Request-ID is kept")
			assert.Equal(t, tc.retryAfter, resp.Headers["Retry-After"])
			assert.Len(t, e.srv.Requests(), tc.requests, "a redirect is neither followed nor retried")
		})
	}
}
