package refresh_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/internal/pacedqueue"
	"github.com/wxcard/wxcard/internal/pacedqueue/sqsqueue"
	"github.com/wxcard/wxcard/internal/refresh"
)

var discard = slog.New(slog.DiscardHandler)

// stubChecker stands in for WeChat Pay behind cardapi.BrandChecker: each
// check waits for pacer, takes latency, and answers the brand's outcome
// in outcomes ("failed": not OK; default "unchanged").
type stubChecker struct {
	latency  time.Duration
	pacer    *pacedqueue.Pacer
	outcomes map[string]string
	mu       sync.Mutex
	brands   []string
}

func (c *stubChecker) Check(ctx context.Context, brandID string) cardapi.BrandResult {
	if err := c.pacer.Wait(ctx); err != nil {
		return cardapi.BrandResult{BrandID: brandID, Outcome: cardapi.OutcomeFailed, Code: "TIMEOUT"}
	}
	time.Sleep(c.latency)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.brands = append(c.brands, brandID)
	outcome := c.outcomes[brandID]
	if outcome == cardapi.OutcomeFailed {
		return cardapi.BrandResult{BrandID: brandID, Outcome: cardapi.OutcomeFailed, Code: "SYSTEM_ERROR"}
	}
	if outcome == "" {
		outcome = "unchanged"
	}
	return cardapi.BrandResult{BrandID: brandID, OK: true, Outcome: outcome}
}

// batchOf is an SQS event of one message per brand, each message's ID
// its brand's.
func batchOf(brands ...string) events.SQSEvent {
	var ev events.SQSEvent
	for _, id := range brands {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: "m-" + id, Body: refresh.Message{BrandID: id}.Body()})
	}
	return ev
}

func brandIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%d", 100000+i)
	}
	return out
}

// A batch with failures: only the failed brands are reported, so SQS
// delivers those again, alone; malformed messages are deleted, logged
// and call nobody. The log line and the metrics (route queue) keep the
// names the README and the dashboard use, each one value per batch.
func TestConsumerReportsFailuresAlone(t *testing.T) {
	check := &stubChecker{outcomes: map[string]string{"1002": "failed", "1005": "failed", "1003": "changed", "1004": "first_seen", "1006": "revoked", "1007": "still_revoked"}}
	var out, logs bytes.Buffer
	h := refresh.NewConsumer(check)
	h.Logger, h.Metrics = slog.New(slog.NewJSONHandler(&logs, nil)), &metrics.Emitter{Out: &out, Function: "authoritiesrefresh"}
	ev := batchOf("1001", "1002", "1003", "1004", "1005", "1006", "1007")
	ev.Records = slices.Insert(ev.Records, 2,
		events.SQSMessage{MessageId: "m-bad", Body: `{"brand_id":"10/04"}`},
		events.SQSMessage{MessageId: "m-case", Body: `{"BRAND_ID":"1004"}`})
	resp, err := h.Handle(context.Background(), ev)
	require.NoError(t, err)
	assert.Equal(t, []events.SQSBatchItemFailure{{ItemIdentifier: "m-1002"}, {ItemIdentifier: "m-1005"}}, resp.BatchItemFailures,
		"malformed messages are reported done: delivered again, they could only fail again")
	assert.Equal(t, []string{"1001", "1002", "1003", "1004", "1005", "1006", "1007"}, check.brands, "malformed messages call nobody")

	for _, line := range []string{
		`"level":"ERROR","msg":"malformed refresh message deleted","message_id":"m-bad","error":"message body: brand_id may contain only letters, digits, '_' and '-'"}`,
		`"level":"ERROR","msg":"malformed refresh message deleted","message_id":"m-case","error":"message body is not {\"brand_id\": \"...\"}"}`,
		`"level":"INFO","msg":"refresh batch done","brands":9,"refreshed":5,"failed":2,"left":0,"requeued":0,"malformed":2}`,
	} {
		assert.Contains(t, logs.String(), line)
	}
	assert.Equal(t, 3, bytes.Count(logs.Bytes(), []byte("\n")), "one line each")

	recs, err := metrics.ParseLog(out.Bytes())
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, map[string]string{"function": "authoritiesrefresh", "route": "queue"}, recs[0].Dimensions)
	assert.Equal(t, map[string][]float64{"BrandsRefreshed": {5}, "BrandsFailed": {2}, "BrandsLeft": {0}, refresh.MalformedMetric: {2},
		"AuthorityChanges": {2}, "AuthorityRevocations": {1}}, recs[0].Values)
	assert.Contains(t, out.String(), `"Metrics":[{"Name":"BrandsRefreshed","Unit":"Count"},{"Name":"BrandsFailed","Unit":"Count"},{"Name":"BrandsLeft","Unit":"Count"},`+
		`{"Name":"MessagesMalformed","Unit":"Count"},{"Name":"AuthorityChanges","Unit":"Count"},{"Name":"AuthorityRevocations","Unit":"Count"}]`)

	// An event with no records is not SQS's: refused, nobody called.
	check.brands = nil
	_, err = h.Handle(context.Background(), events.SQSEvent{})
	require.ErrorContains(t, err, "not an SQS event")
	assert.Empty(t, check.brands)
}

// Near the invocation's deadline no brand is started: the rest are sent
// to their queue again as new messages, the same brands, and counted as
// left; without a Requeue they are all reported, to be delivered again.
func TestConsumerLeavesWhatItHasNoTimeFor(t *testing.T) {
	const arn = "arn:aws:sqs:us-east-1:123456789012:wxcard-RefreshQueue-X"
	for _, tc := range []struct {
		name     string
		requeue  bool
		failures int
		log      string
	}{
		{"requeued", true, 0, `"level":"INFO","msg":"refresh batch cut short: the brands left are sent to the queue again","left":7,"requeued":7}`},
		{"no Requeue", false, 7, `"level":"WARN","msg":"refresh batch cut short: brands not sent again are delivered again","left":7,"requeued":0,"error":"no Requeue"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pacer := &pacedqueue.Pacer{Interval: time.Second}
				check := &stubChecker{latency: 4 * time.Second, pacer: pacer}
				var out, logs bytes.Buffer
				var sentTo string
				var sent []string
				h := refresh.NewConsumer(check)
				h.Pacers, h.Logger, h.Metrics = []*pacedqueue.Pacer{pacer}, slog.New(slog.NewJSONHandler(&logs, nil)), &metrics.Emitter{Out: &out, Function: "authoritiesrefresh"}
				if tc.requeue {
					h.Requeue = func(_ context.Context, url string, bodies []string) ([]string, error) {
						sentTo, sent = url, bodies
						return nil, nil
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), refresh.MinTimeLeft+9*time.Second)
				defer cancel()
				ev := batchOf(brandIDs(10)...)
				for i := range ev.Records {
					ev.Records[i].EventSourceARN = arn
				}
				resp, err := h.Handle(ctx, ev)
				require.NoError(t, err)
				// Brands start at 0, 4 and 8 s; at 12 s less than MinTimeLeft is left.
				assert.Len(t, check.brands, 3)
				assert.Len(t, resp.BatchItemFailures, tc.failures)
				if tc.requeue {
					assert.Equal(t, "https://sqs.us-east-1.amazonaws.com/123456789012/wxcard-RefreshQueue-X", sentTo)
					var brands []string
					for _, b := range sent {
						m, err := refresh.ParseMessage(b)
						require.NoError(t, err)
						brands = append(brands, m.BrandID)
					}
					assert.Equal(t, brandIDs(10)[3:], brands)
				}
				assert.Contains(t, logs.String(), tc.log)
				// (The bubble's clock starts in 2000, before metrics.Parse's idea
				// of a timestamp: the line is checked as text.)
				assert.Contains(t, out.String(), `"BrandsLeft":7`)
				assert.Contains(t, out.String(), `"AuthorityChanges":0`)
			})
		})
	}
}

// On SQS (moto_server), through the event source: a
// malformed message is delivered once and deleted; brands an invocation
// had no time for come back as new messages, their receive count afresh,
// so that only failures count toward the dead-letter limit.
func TestConsumerOnSQSDeletesMalformedAndRequeuesLeft(t *testing.T) {
	t.Parallel()
	for _, s := range awstest.Stacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			q, url := queueOf(t, s)
			_, err := q.Send(context.Background(), []string{"1001", "1002", "1003"})
			require.NoError(t, err)
			_, err = awstest.SQS(s.Endpoint).SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(`{"brand_id":"10/04"}`)})
			require.NoError(t, err)
			check := &stubChecker{}
			var out bytes.Buffer
			h := refresh.NewConsumer(check)
			h.Logger, h.Requeue, h.Metrics = discard, sqsqueue.Requeue(awstest.SQS(s.Endpoint)), &metrics.Emitter{Out: &out, Function: "authoritiesrefresh"}
			first := true
			source := &awstest.EventSource{Stack: s, QueueURL: url}
			ds := source.Drain(t, 10, func(ev events.SQSEvent) events.SQSEventResponse {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				if first {
					// The first invocation has no time for any brand.
					first = false
					cancel()
					ctx, cancel = context.WithTimeout(context.Background(), refresh.MinTimeLeft-time.Second)
				}
				defer cancel()
				resp, err := h.Handle(ctx, ev)
				require.NoError(t, err)
				return resp
			})
			malformed := 0
			for _, d := range ds {
				assert.False(t, d.Failed, "nothing reported failed: %s", d.Body)
				assert.Equal(t, 1, d.ReceiveCount, "every message received once: %s", d.Body)
				if d.Body == `{"brand_id":"10/04"}` {
					malformed++
				}
			}
			assert.Equal(t, 1, malformed, "the malformed message delivered once")
			slices.Sort(check.brands)
			assert.Equal(t, []string{"1001", "1002", "1003"}, check.brands, "each brand checked once, after its requeue")
			assert.Len(t, ds, 7, "4 messages, then the 3 brands' new ones")
			assert.Equal(t, 0, s.QueueDepth(t, url))
			assert.Contains(t, out.String(), `"`+refresh.MalformedMetric+`":1`)
		})
	}
}

// The refresh's pace comes from its own variables: 8 calls a second over 2
// invocations by default, at most WeChat Pay's 10.
func TestPacerFromEnv(t *testing.T) {
	for _, tc := range []struct{ rate, concurrency, want string }{
		{"", "", "255ms"},
		{"10", "10", "1.02s"},
		{"11", "", `REFRESH_CALLS_PER_SECOND is "11": want a whole number from 1 to 10 (WeChat Pay's limit)`},
		{"", "11", `REFRESH_CONCURRENCY is "11": want a whole number from 1 to 10 (the most invocations at once)`},
		{"1", "", "REFRESH_CONCURRENCY is 2, more than REFRESH_CALLS_PER_SECOND (1): each invocation must make at least one call a second"},
	} {
		env := map[string]string{"REFRESH_CALLS_PER_SECOND": tc.rate, "REFRESH_CONCURRENCY": tc.concurrency}
		p, err := refresh.PacerFromEnv(func(k string) string { return env[k] })
		got := fmt.Sprint(err)
		if err == nil {
			got = p.Interval.String()
		}
		assert.Equal(t, tc.want, got, "%v", env)
	}
}

// A Requeue that fails is said in the log, and its brands delivered again.
func TestConsumerRequeueFails(t *testing.T) {
	var logs bytes.Buffer
	h := refresh.NewConsumer(&stubChecker{})
	h.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	h.Requeue = func(_ context.Context, _ string, bodies []string) ([]string, error) {
		return bodies[1:], assert.AnError
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ev := batchOf("1001", "1002")
	for i := range ev.Records {
		ev.Records[i].EventSourceARN = "arn:aws:sqs:us-east-1:123456789012:q"
	}
	resp, err := h.Handle(ctx, ev)
	require.NoError(t, err)
	assert.Equal(t, []events.SQSBatchItemFailure{{ItemIdentifier: "m-1002"}}, resp.BatchItemFailures)
	assert.Contains(t, logs.String(), `"level":"WARN","msg":"refresh batch cut short: brands not sent again are delivered again","left":2,"requeued":1,"error":"`+assert.AnError.Error()+`"}`)
}
