package cardapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
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
	// The production client, retrying as in production but without the
	// waits, so that faults outlasting the retries cost no seconds.
	c, ok := table.Client.(*dynamodb.Client)
	require.True(t, ok, "statetable.FromEnv builds a *dynamodb.Client")
	table.Client = dynamodb.New(c.Options(), func(o *dynamodb.Options) { o.Retryer = awstest.ImmediateRetries() })
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
// sight; a refusal of a brand without a snapshot is answered as WeChat Pay
// gave it and records nothing; a known brand answered without products is
// revoked. With the table unavailable the caller still gets the answer,
// and the failure is logged and counted.
func TestAuthoritiesGETRecords(t *testing.T) {
	t.Parallel()
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
			assert.Contains(t, e.logs.String(), `"msg":"authority not recorded: WeChat Pay refused a brand without a snapshot","brand_id":"4001","outcome":"not_authorised"`)

			e.srv.SetAuthorities(membercard.ProductAuthorities{BrandID: brandID, AuthorizationType: "AUTHORIZATION_TYPE_HOSTING", UpdateTime: "2025-06-01T10:00:00+08:00"})
			resp, err = h.Handle(ctx(t), authoritiesEvent(brandID))
			require.NoError(t, err)
			require.Equal(t, 200, resp.StatusCode, resp.Body)
			assert.Contains(t, e.logs.String(), `"outcome":"revoked"`)

			got := s.Events(t, 2, 10*time.Second)
			require.Len(t, got, 2)
			assert.Equal(t, authority.ChangedEvent, got[0].DetailType)
			assert.Equal(t, authority.RevokedEvent, got[1].DetailType)
			for _, ev := range got {
				var d map[string]any
				require.NoError(t, json.Unmarshal(ev.Detail, &d))
				assert.Equal(t, brandID, d["brand_id"], "nothing about 4001")
			}
			e.srv.SetAuthorities(membercard.ProductAuthorities{BrandID: brandID, AuthorizationType: "AUTHORIZATION_TYPE_HOSTING", AuthorizationProduct: []string{"BRAND_PRODUCT_AUTHORITY_MERCHANT_CARD"}, UpdateTime: "2025-05-20T13:29:35+08:00"})

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

// The load test of issue 23: 1,000 GETs of made-up brand IDs, which WeChat
// Pay refuses, leave the state table and the bus as they were: no item
// written, no event published. Run 16 at a time, against each backend.
func TestAuthoritiesGETMadeUpBrandsLeaveNoState(t *testing.T) {
	t.Parallel()
	requests, workers := 1000, 16
	if testing.Short() {
		// Mutation testing (make mutate runs -short): every request takes
		// the same path, so 64 show what 1,000 do, in a fraction of the time.
		requests = 64
	}
	for _, s := range awstest.Stacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			e := newEnv(t)
			h := &cardapi.Authorities{Upstream: e.partner, Policy: e.policy, Logger: slog.New(slog.DiscardHandler), State: tracker(t, s)}
			statuses := make([]int, requests)
			ids := make(chan int)
			var wg sync.WaitGroup
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range ids {
						resp, err := h.Handle(ctx(t), authoritiesEvent(fmt.Sprintf("9%06d", i)))
						if err == nil {
							statuses[i] = resp.StatusCode
						}
					}
				}()
			}
			for i := range requests {
				ids <- i
			}
			close(ids)
			wg.Wait()
			for i, st := range statuses {
				require.Equal(t, 400, st, "request %d: WeChat Pay's refusal, answered as given", i)
			}
			assert.Equal(t, requests, s.Calls("DynamoDB_20120810.GetItem"), "each brand looked up once")
			for _, op := range []string{"DynamoDB_20120810.PutItem", "DynamoDB_20120810.UpdateItem", "DynamoDB_20120810.DeleteItem", "AWSEvents.PutEvents"} {
				assert.Zero(t, s.Calls(op), op)
			}
			out, err := awstest.DynamoDB(s.Endpoint).Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(s.Table), Select: dbtypes.SelectCount})
			require.NoError(t, err)
			assert.Zero(t, out.Count, "the table is still empty")
			assert.Empty(t, s.DrainEvents(t), "the bus carried nothing")
		})
	}
}
