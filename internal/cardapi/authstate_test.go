package cardapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/authority"
	"github.com/wxcard/wxcard/internal/authority/authtable"
	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/eventbus/bridge"
	"github.com/wxcard/wxcard/internal/statetable"
	"github.com/wxcard/wxcard/pkg/membercard"
)

func tracker(t *testing.T, s *awstest.Stack) *authority.Tracker {
	t.Helper()
	env := awstest.Getenv(s.Env(nil))
	table, err := statetable.FromEnv(env)
	require.NoError(t, err)
	bus, err := bridge.FromEnv(env)
	require.NoError(t, err)
	return &authority.Tracker{Store: authtable.Table{Table: table}, Bus: bus}
}

func authoritiesEvent(brand string) (ev events.APIGatewayV2HTTPRequest) {
	ev = event("GET", membercard.ProductAuthoritiesRoute, "", map[string]string{})
	ev.PathParameters = map[string]string{"brand_id": brand}
	return ev
}

// The GET route records what WeChat Pay said: the first answer is a first
// sight, a refusal for an unauthorised brand is answered as WeChat Pay
// gave it and recorded as a revocation; with the table unavailable the
// caller still gets the answer, and the failure is logged and counted.
func TestAuthoritiesGETRecords(t *testing.T) {
	for _, s := range awstest.Stacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			e := newEnv(t)
			h := &cardapi.Authorities{Upstream: e.partner, Policy: e.policy, Logger: e.logger, State: tracker(t, s)}

			resp, err := h.Handle(ctx(t), authoritiesEvent(brandID))
			require.NoError(t, err)
			require.Equal(t, 200, resp.StatusCode, resp.Body)
			assert.Contains(t, e.logs.String(), `"outcome":"first_seen"`)

			resp, err = h.Handle(ctx(t), authoritiesEvent("4001"))
			require.NoError(t, err)
			assert.Equal(t, 400, resp.StatusCode)
			assert.Equal(t, "PARAM_ERROR", decode(t, resp).Code)
			assert.Contains(t, e.logs.String(), `"outcome":"revoked"`)

			got := s.Events(t, 2, 10*time.Second)
			require.Len(t, got, 2)
			assert.Equal(t, authority.ChangedEvent, got[0].DetailType)
			assert.Equal(t, authority.RevokedEvent, got[1].DetailType)
			var d map[string]any
			require.NoError(t, json.Unmarshal(got[1].Detail, &d))
			assert.Equal(t, "4001", d["brand_id"])

			// The table unavailable: four faults outlast the SDK's retries.
			e.logs.Reset()
			fault := awstest.Fault{Status: 500, Type: "InternalServerError"}
			s.Inject("DynamoDB_20120810.GetItem", fault, fault, fault, fault)
			resp, err = h.Handle(ctx(t), authoritiesEvent(brandID))
			require.NoError(t, err)
			assert.Equal(t, 200, resp.StatusCode, resp.Body)
			assert.Contains(t, resp.Body, "AUTHORIZATION_TYPE_HOSTING")
			logs := e.logs.String()
			assert.Contains(t, logs, `"msg":"authority not recorded"`)
			assert.Contains(t, logs, `"AuthorityStateFailures":1`)
			assert.Contains(t, logs, `"Name":"AuthorityStateFailures"`)
			assert.Contains(t, logs, `"msg":"request served"`)
		})
	}
}

// The bus failing during a check: the brand fails, so SQS delivers it
// again, and the next check delivers the event the failed one kept.
func TestBrandCheckBusFailure(t *testing.T) {
	t.Parallel()
	for _, s := range awstest.Stacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			e := newEnv(t)
			h := &cardapi.BrandChecker{Upstream: e.partner, Logger: e.logger, State: tracker(t, s)}
			for _, b := range []string{"1004", "1005"} {
				require.True(t, h.Check(ctx(t), b).OK)
			}
			require.Len(t, s.Events(t, 2, 10*time.Second), 2)

			e.srv.SetAuthorities(membercard.ProductAuthorities{BrandID: "1005", AuthorizationType: "AUTHORIZATION_TYPE_PARTLY", AuthorizationProduct: []string{"BRAND_PRODUCT_AUTHORITY_MERCHANT_CARD"}, UpdateTime: "2025-06-01T10:00:00+08:00"})
			s.Inject("AWSEvents.PutEvents", awstest.Fault{Status: 400, Type: "AccessDeniedException"})
			r := h.Check(ctx(t), "1005")
			assert.False(t, r.OK)
			assert.Equal(t, "failed", r.Outcome)
			assert.Equal(t, "STATE_UNAVAILABLE", r.Code)

			r = h.Check(ctx(t), "1005")
			assert.True(t, r.OK)
			assert.Equal(t, "unchanged", r.Outcome)
			got := s.Events(t, 1, 10*time.Second)
			require.Len(t, got, 1)
			assert.Equal(t, authority.ChangedEvent, got[0].DetailType)
			assert.True(t, strings.Contains(string(got[0].Detail), "AUTHORIZATION_TYPE_PARTLY"))
		})
	}
}
