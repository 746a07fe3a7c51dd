package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/internal/authority"
	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/pacedqueue"
	"github.com/wxcard/wxcard/internal/refresh"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
)

// SandboxRevocableBrand is a sandbox brand whose authorisation the local
// API revokes and restores on demand (RevokePath, RestorePath), so that a
// refresh shows a revocation event.
const SandboxRevocableBrand = "1007"

// The local runner's own routes: not API Gateway's.
const (
	RefreshPath = "/local/authorities-refresh"
	RevokePath  = "/local/brands/{brand_id}/revoke"
	RestorePath = "/local/brands/{brand_id}/restore"
)

// sandboxAuthority is what the sandbox answers for an authorised brand.
func sandboxAuthority(brandID string) membercard.ProductAuthorities {
	return membercard.ProductAuthorities{BrandID: brandID, AuthorizationType: "AUTHORIZATION_TYPE_HOSTING",
		AuthorizationProduct: []string{"BRAND_PRODUCT_AUTHORITY_MERCHANT_CARD", "BRAND_PRODUCT_AUTHORITY_BRAND_STORE"}, UpdateTime: "2025-05-20T13:29:35+08:00"}
}

// authorityState is the in-memory state table and bus of the local API:
// the events it would publish are kept in events (printed when its Out is
// set).
func authorityState(store *authority.Memory, events *eventbus.Memory) *authority.Tracker {
	return &authority.Tracker{Store: store, Bus: events}
}

// refreshRoute runs a scheduled refresh on demand, as the schedule and
// the queue would: the scheduler enqueues every brand covered into a queue
// in memory, which the consumer then drains in batches of
// refresh.BatchSize. POST RefreshPath answers how many brands were
// enqueued, refreshed and failed, and the outcomes (502 when a brand
// failed).
func refreshRoute(sched *refresh.Scheduler, consume *pacedqueue.Consumer, queue *memoryQueue, checks *countingChecker) Route {
	return Route{"POST " + RefreshPath, func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		sum, err := sched.Handle(ctx, refresh.Command{})
		if err != nil {
			return refreshFailed(err), nil
		}
		checks.reset()
		brands := queue.take()
		failed := 0
		for i := 0; i < len(brands); i += refresh.BatchSize {
			var ev events.SQSEvent
			for j, id := range brands[i:min(i+refresh.BatchSize, len(brands))] {
				ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprint(i + j), Body: refresh.Message{BrandID: id}.Body()})
			}
			// The local route's deadline is shorter than the consumer's
			// reserve (refresh.MinTimeLeft); the sandbox answers at once.
			resp, err := consume.Handle(context.WithoutCancel(ctx), ev)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			failed += len(resp.BatchItemFailures)
		}
		b, err := json.Marshal(map[string]any{"enqueued": sum.Enqueued, "refreshed": len(brands) - failed, "failed": failed, "outcomes": checks.outcomes()})
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		status := http.StatusOK
		if failed > 0 {
			status = http.StatusBadGateway
		}
		return apigw.JSON(status, b), nil
	}}
}

// refreshFailed is the answer to a refresh that could not enqueue.
func refreshFailed(err error) events.APIGatewayV2HTTPResponse {
	return (&apigw.Error{Status: http.StatusInternalServerError, Code: "REFRESH_FAILED", Message: err.Error()}).Respond()
}

// memoryQueue is the local API's refresh queue.
type memoryQueue struct {
	mu     sync.Mutex
	brands []string
}

func (q *memoryQueue) Send(_ context.Context, brandIDs []string) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.brands = append(q.brands, brandIDs...)
	return len(brandIDs), nil
}

// Depth is 0: the route drains the queue before it answers.
func (q *memoryQueue) Depth(context.Context) (int, error) { return 0, nil }

func (q *memoryQueue) take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	b := q.brands
	q.brands = nil
	return b
}

// countingChecker counts the outcomes of the checks it passes on.
type countingChecker struct {
	refresh.Checker
	mu     sync.Mutex
	counts map[string]int
}

func (c *countingChecker) Check(ctx context.Context, brandID string) cardapi.BrandResult {
	r := c.Checker.Check(ctx, brandID)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.counts[r.Outcome]++
	return r
}

func (c *countingChecker) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts = nil
}

func (c *countingChecker) outcomes() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// sandboxAuthorityRoutes revoke (the sandbox then answers an empty product
// list) and restore a sandbox brand's authorisation.
func sandboxAuthorityRoutes(srv *membercardtest.Server, brands []string) []Route {
	set := func(revoke bool) HandlerFunc {
		return func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			id := ev.PathParameters["brand_id"]
			if !slices.Contains(brands, id) {
				return apigw.Forbidden("brand_id", "is not a sandbox brand").Respond(), nil
			}
			a := sandboxAuthority(id)
			if revoke {
				a.AuthorizationProduct = nil
			}
			srv.SetAuthorities(a)
			return apigw.JSON(http.StatusOK, []byte(fmt.Sprintf(`{"brand_id":%q,"authorised":%t}`, id, !revoke))), nil
		}
	}
	return []Route{{"POST " + RevokePath, set(true)}, {"POST " + RestorePath, set(false)}}
}

// AuthorityCurlLines show a revocation: refresh, revoke
// SandboxRevocableBrand, refresh again (a Brand authority revoked event is
// printed), restore it.
func AuthorityCurlLines(base string) []string {
	post := func(path string) string { return fmt.Sprintf("curl -s -X POST %s%s", base, path) }
	return []string{
		post(RefreshPath),
		post("/local/brands/" + SandboxRevocableBrand + "/revoke"),
		post(RefreshPath),
		post("/local/brands/" + SandboxRevocableBrand + "/restore"),
	}
}
