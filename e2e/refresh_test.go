package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/authority"
	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/refresh"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

var refreshQueues atomic.Int64

// refreshEnv is the environment of the refresh's two functions on st,
// with a new refresh queue.
func refreshEnv(t testing.TB, st *awstest.Stack) (env []string, queueURL string) {
	queueURL = st.NewQueue(t, fmt.Sprintf("wxcard-refresh-%d", refreshQueues.Add(1)))
	return append(stateEnv(st), "REFRESH_QUEUE_URL="+queueURL, "AWS_ENDPOINT_URL_SQS="+st.Endpoint), queueURL
}

// consume hands an SQS event to the compiled consumer as Lambda's event
// source mapping would, with its 120 s deadline (template.yaml).
func consume(t testing.TB, f *Function) func(events.SQSEvent) events.SQSEventResponse {
	return func(ev events.SQSEvent) events.SQSEventResponse {
		b, err := json.Marshal(ev)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		res, err := f.Runtime.Invoke(ctx, b, 120*time.Second)
		require.NoError(t, err)
		require.False(t, res.IsError, string(res.Payload))
		var resp events.SQSEventResponse
		require.NoError(t, json.Unmarshal(res.Payload, &resp))
		return resp
	}
}

// brandsOf are the brands of deliveries, and of those failed.
func brandsOf(t testing.TB, ds []awstest.Delivery) (all, failed []string) {
	for _, d := range ds {
		m, err := refresh.ParseMessage(d.Body)
		require.NoError(t, err)
		all = append(all, m.BrandID)
		if d.Failed {
			failed = append(failed, m.BrandID)
		}
	}
	slices.Sort(all)
	return all, failed
}

// The refresh, through both compiled functions: the schedule's envelope
// makes the scheduler enqueue every listed brand; the consumer, given the
// queue's messages as SQS events under the local Runtime API, publishes
// one event per change, read back from the queue subscribed to the bus.
// A brand whose event cannot be published is reported alone, delivered
// again alone, and its event published once; a period that changed
// nothing is silent.
func TestRefreshThroughTheQueue(t *testing.T) {
	t.Parallel()
	for _, st := range awstest.Stacks(t) {
		t.Run(st.Name, func(t *testing.T) {
			s := NewStack(t, wxpaytest.Options{RateLimits: true})
			env, url := refreshEnv(t, st)
			sched := StartFunction(t, "authoritiesschedule", s.Env("", env...))
			consumer := StartFunction(t, "authoritiesrefresh", s.Env("wxcard/partner", env...))
			source := &awstest.EventSource{Stack: st, QueueURL: url}
			enqueue := func(payload any) refresh.Summary {
				res := sched.Invoke(t, payload)
				require.False(t, res.IsError, string(res.Payload))
				var sum refresh.Summary
				require.NoError(t, json.Unmarshal(res.Payload, &sum))
				return sum
			}
			envelope := map[string]any{
				"version": "0", "id": "89d1a02d-5ec7-412e-82f5-13505f849b41", "detail-type": "Scheduled Event", "source": "aws.scheduler",
				"account": "123456789012", "time": "2026-11-22T06:00:00Z", "region": "us-east-1", "resources": []string{}, "detail": map[string]any{},
			}

			assert.Equal(t, refresh.Summary{Listed: 3, Enqueued: 3}, enqueue(envelope))
			all, failed := brandsOf(t, source.Drain(t, 10, consume(t, consumer)))
			assert.Equal(t, []string{"1004", "1005", "1006"}, all)
			assert.Empty(t, failed)
			got := st.Events(t, 3, 15*time.Second)
			require.Len(t, got, 3)
			for _, ev := range got {
				assert.Equal(t, "wxcard", ev.Source)
				assert.Equal(t, authority.ChangedEvent, ev.DetailType)
			}
			assert.Len(t, consumer.Proc.WaitLines(`"BrandsRefreshed":3`, 1, 5*time.Second), 1, "the metric of brands refreshed")

			// The next period: the three have snapshots now and are listed,
			// once each. 1005 is revoked and its event cannot be published
			// at first: it alone is delivered again.
			s.WxPay.SetAuthorities(membercard.ProductAuthorities{BrandID: "1005", AuthorizationType: "AUTHORIZATION_TYPE_HOSTING", UpdateTime: "2026-11-22T14:00:00+08:00"})
			st.Inject("AWSEvents.PutEvents", awstest.Fault{Status: 400, Type: "AccessDeniedException"}) // not retried by the SDK
			assert.Equal(t, refresh.Summary{Listed: 3, Snapshots: 3, Enqueued: 3}, enqueue(map[string]any{}))
			ds := source.Drain(t, 10, consume(t, consumer))
			all, failed = brandsOf(t, ds)
			assert.Equal(t, []string{"1004", "1005", "1005", "1006"}, all, "1005 twice, the others once")
			assert.Equal(t, []string{"1005"}, failed)
			assert.Equal(t, 2, ds[len(ds)-1].ReceiveCount)
			got = st.Events(t, 1, 15*time.Second)
			require.Len(t, got, 1, "one revocation, published once")
			assert.Equal(t, authority.RevokedEvent, got[0].DetailType)

			// Nothing changed: a silent period, the same brand twice included.
			puts := st.Calls("AWSEvents.PutEvents")
			enqueue(map[string]any{})
			enqueue(map[string]any{"brand_ids": []string{"1004"}})
			all, failed = brandsOf(t, source.Drain(t, 10, consume(t, consumer)))
			assert.Equal(t, []string{"1004", "1004", "1005", "1006"}, all)
			assert.Empty(t, failed)
			assert.Equal(t, puts, st.Calls("AWSEvents.PutEvents"), "no event when nothing changed")
			assert.Equal(t, 0, st.QueueDepth(t, url))
		})
	}
}

// The compiled consumer paces its WeChat Pay client: at 2 calls a second
// over 2 invocations, one invocation's three calls start a second apart,
// so WeChat Pay sees them spread over about two seconds (the first one's
// new connection may arrive a little late). Unpaced they would arrive
// within a fraction of that.
func TestConsumerPacesWeChatPay(t *testing.T) {
	t.Parallel()
	stacks := awstest.Stacks(t)
	st := stacks[len(stacks)-1] // the pace is the consumer's, whatever the backend
	s := NewStack(t, wxpaytest.Options{})
	env, url := refreshEnv(t, st)
	sched := StartFunction(t, "authoritiesschedule", s.Env("", env...))
	consumer := StartFunction(t, "authoritiesrefresh", s.Env("wxcard/partner", append(env, "REFRESH_CALLS_PER_SECOND=2", "REFRESH_CONCURRENCY=2")...))
	res := sched.Invoke(t, map[string]any{})
	require.False(t, res.IsError, string(res.Payload))
	all, failed := brandsOf(t, (&awstest.EventSource{Stack: st, QueueURL: url}).Drain(t, 10, consume(t, consumer)))
	require.Len(t, all, 3)
	require.Empty(t, failed)
	reqs := s.WxPay.Requests()
	require.Len(t, reqs, 3)
	assert.GreaterOrEqual(t, reqs[2].Time.Sub(reqs[0].Time), 1600*time.Millisecond, "three calls one second apart")
}

// Each function takes only its own events: the HTTP function given what
// the schedule sends answers an error; the scheduler given an HTTP event
// or an SQS event, and the consumer given an HTTP event, fail; none calls
// anybody.
func TestEachAuthoritiesFunctionTakesOnlyItsEvents(t *testing.T) {
	t.Parallel()
	s := NewStack(t, wxpaytest.Options{})
	st := awstest.Stacks(t)[0]
	env, url := refreshEnv(t, st)
	httpFn := StartFunction(t, "authorities", s.Env("wxcard/partner", stateEnv(st)...))
	for _, payload := range []any{map[string]any{}, map[string]any{"source": "aws.events", "detail-type": "Scheduled Event", "detail": map[string]any{}}} {
		res := httpFn.Invoke(t, payload)
		require.False(t, res.IsError, string(res.Payload))
		var resp events.APIGatewayV2HTTPResponse
		require.NoError(t, json.Unmarshal(res.Payload, &resp))
		assert.GreaterOrEqual(t, resp.StatusCode, 400, resp.Body)
	}
	get := httpEvent("GET", membercard.ProductAuthoritiesRoute, membercard.ProductAuthoritiesPath(brandID), "", map[string]string{"brand_id": brandID})
	sqsEvent := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m-1", Body: `{"brand_id":"1004"}`, EventSource: "aws:sqs"}}}

	sched := StartFunction(t, "authoritiesschedule", s.Env("", env...))
	for _, payload := range []any{get, sqsEvent} {
		res := sched.Invoke(t, payload)
		require.True(t, res.IsError, string(res.Payload))
		assert.Contains(t, string(res.Payload), "unrecognised refresh command")
	}
	assert.Equal(t, 0, st.QueueDepth(t, url))

	consumer := StartFunction(t, "authoritiesrefresh", s.Env("wxcard/partner", env...))
	res := consumer.Invoke(t, get)
	require.True(t, res.IsError, string(res.Payload))
	assert.Contains(t, string(res.Payload), "not an SQS event")
	assert.Empty(t, s.WxPay.Requests())
}

// The refresh's functions refuse to start on settings that would break
// WeChat Pay's limit or send nowhere, naming the setting.
func TestRefreshFunctionsRefuseBadSettings(t *testing.T) {
	t.Parallel()
	st := awstest.Stacks(t)[0]
	cases := []struct {
		name, fn, secretID, want string
		extra                    []string
	}{
		{"scheduler without a queue", "authoritiesschedule", "", "REFRESH_QUEUE_URL is not set", stateEnv(st)},
		{"scheduler without a table", "authoritiesschedule", "", "STATE_TABLE_NAME", []string{"REFRESH_QUEUE_URL=http://127.0.0.1:1/q"}},
		{"consumer faster than WeChat Pay allows", "authoritiesrefresh", "wxcard/partner", "REFRESH_CALLS_PER_SECOND", append(stateEnv(st), "REFRESH_CALLS_PER_SECOND=11")},
		{"consumer with more invocations than calls", "authoritiesrefresh", "wxcard/partner", "REFRESH_CONCURRENCY", append(stateEnv(st), "REFRESH_CALLS_PER_SECOND=2", "REFRESH_CONCURRENCY=3")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStack(t, wxpaytest.Options{})
			out := requireInitError(t, tc.fn, s.Env(tc.secretID, tc.extra...))
			assert.Contains(t, out, tc.want)
		})
	}
}
