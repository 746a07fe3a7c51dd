package refresh_test

import (
	"bytes"
	"context"
	"errors"
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
	"github.com/wxcard/wxcard/internal/refresh"
	"github.com/wxcard/wxcard/internal/refresh/queue"
)

var discard = slog.New(slog.DiscardHandler)

// clockChecker stands in for WeChat Pay behind cardapi.BrandChecker: it
// notes when each call starts, takes latency to answer, and fails the
// brands in fail (each failure once, when once is set). Each check makes
// attempts calls (at least one), as the client does when WeChat Pay
// answers 429 or 5xx, each waiting for pacer first as the client does.
type clockChecker struct {
	latency  time.Duration
	attempts int
	pacer    *refresh.Pacer
	mu       sync.Mutex
	calls    []time.Time
	brands   []string
	fail     map[string]bool
	once     bool
	shared   *clockChecker // where an instance records
}

// instance is the checker of one Lambda instance: the shared record,
// with the instance's own pacer.
func (c *clockChecker) instance(p *refresh.Pacer) *clockChecker {
	return &clockChecker{latency: c.latency, attempts: c.attempts, pacer: p, fail: c.fail, once: c.once, shared: c}
}

func (c *clockChecker) Check(ctx context.Context, brandID string) cardapi.BrandResult {
	rec := c
	if c.shared != nil {
		rec = c.shared
	}
	for range max(c.attempts, 1) {
		if err := c.pacer.Wait(ctx); err != nil {
			return cardapi.BrandResult{BrandID: brandID, Outcome: cardapi.OutcomeFailed, Code: "TIMEOUT"}
		}
		rec.mu.Lock()
		rec.calls = append(rec.calls, time.Now())
		rec.mu.Unlock()
		time.Sleep(c.latency)
	}
	rec.mu.Lock()
	rec.brands = append(rec.brands, brandID)
	failing := rec.fail[brandID]
	if failing && rec.once {
		delete(rec.fail, brandID)
	}
	rec.mu.Unlock()
	if failing {
		return cardapi.BrandResult{BrandID: brandID, Outcome: cardapi.OutcomeFailed, Code: "SYSTEM_ERROR"}
	}
	return cardapi.BrandResult{BrandID: brandID, OK: true, Outcome: "unchanged"}
}

// busiestSecond is the most calls that started within one second.
func (c *clockChecker) busiestSecond() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls := slices.Clone(c.calls)
	slices.SortFunc(calls, func(a, b time.Time) int { return a.Compare(b) })
	most := 0
	for i, start := range calls {
		n := 0
		for _, t := range calls[i:] {
			if t.Sub(start) < time.Second {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

// batchesOf splits brands into SQS events of size messages, each
// message's ID its brand's.
func batchesOf(brands []string, size int) []events.SQSEvent {
	var out []events.SQSEvent
	for b := range slices.Chunk(brands, size) {
		var ev events.SQSEvent
		for _, id := range b {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: "m-" + id, Body: refresh.Message{BrandID: id}.Body()})
		}
		out = append(out, ev)
	}
	return out
}

func brandIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%d", 100000+i)
	}
	return out
}

// The event source mapping runs up to its maximum concurrency of
// invocations at once, each with a batch, one after the other in each
// place, each perhaps in a new Lambda instance with a pace of its own. However they
// overlap, and however many attempts each check takes (WeChat Pay
// answering 429 or 5xx), the calls to WeChat Pay of any one second stay
// within the rate, and the refresh still goes at about that rate. (In
// synctest's bubble the clock is fake: the minutes pass at once.)
func TestConsumerPacingAcrossConcurrentBatches(t *testing.T) {
	tests := []struct {
		rate, concurrency, batch int
		latency                  time.Duration
		attempts                 int
	}{
		{8, 2, 10, 0, 1},
		{8, 2, 10, 180 * time.Millisecond, 1},
		{8, 2, 10, 100 * time.Millisecond, 3}, // every check retried twice
		{8, 2, 1, 40 * time.Millisecond, 1},
		{8, 3, 10, 0, 2}, // 8/3 rounds down to 2 a second each: 6 in all
		{10, 10, 10, 700 * time.Millisecond, 1},
		{9, 4, 7, 300 * time.Millisecond, 2},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d/s over %d batch %d latency %v attempts %d", tc.rate, tc.concurrency, tc.batch, tc.latency, tc.attempts), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				check := &clockChecker{latency: tc.latency, attempts: tc.attempts}
				brands := brandIDs(200)
				queue := make(chan events.SQSEvent)
				go func() {
					for _, ev := range batchesOf(brands, tc.batch) {
						queue <- ev
					}
					close(queue)
				}()
				start := time.Now()
				var wg sync.WaitGroup
				for range tc.concurrency {
					wg.Go(func() {
						for ev := range queue {
							// The worst case: each invocation in a new
							// instance, whose pace knows nothing of the last.
							pacer := &refresh.Pacer{Interval: refresh.Interval(tc.rate, tc.concurrency)}
							h := &refresh.Consumer{Checker: check.instance(pacer), Pacer: pacer, Logger: discard}
							resp, err := h.Handle(context.Background(), ev)
							assert.NoError(t, err)
							assert.Empty(t, resp.BatchItemFailures)
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(start)

				assert.ElementsMatch(t, brands, check.brands)
				assert.Len(t, check.calls, len(brands)*tc.attempts)
				assert.LessOrEqual(t, check.busiestSecond(), tc.rate, "calls in one second")
				// The busiest instance takes its share of the batches at
				// its own pace, one Interval per call.
				batches := (len(brands) + tc.batch - 1) / tc.batch
				mostCalls := (batches + tc.concurrency - 1) / tc.concurrency * tc.batch * tc.attempts
				assert.LessOrEqual(t, elapsed, time.Duration(mostCalls)*refresh.Interval(tc.rate, tc.concurrency)+tc.latency+2*time.Second,
					"the refresh goes at about %d/s", tc.concurrency*(tc.rate/tc.concurrency))
			})
		})
	}
}

// A batch with failures: only the failed brands and the malformed
// messages are reported, so SQS delivers those again, alone; the metrics
// count each.
func TestConsumerReportsFailuresAlone(t *testing.T) {
	check := &clockChecker{fail: map[string]bool{"1002": true, "1005": true}}
	var out bytes.Buffer
	h := &refresh.Consumer{Checker: check, Logger: discard, Metrics: &metrics.Emitter{Out: &out, Function: "authoritiesrefresh"}}
	ev := batchesOf([]string{"1001", "1002", "1003", "1004", "1005"}, 10)[0]
	ev.Records = slices.Insert(ev.Records, 2,
		events.SQSMessage{MessageId: "m-bad", Body: `{"brand_id":"10/04"}`},
		events.SQSMessage{MessageId: "m-case", Body: `{"BRAND_ID":"1004"}`})
	resp, err := h.Handle(context.Background(), ev)
	require.NoError(t, err)
	assert.Equal(t, []events.SQSBatchItemFailure{{ItemIdentifier: "m-1002"}, {ItemIdentifier: "m-1005"}}, resp.BatchItemFailures,
		"malformed messages are reported done: delivered again, they could only fail again")
	assert.Equal(t, []string{"1001", "1002", "1003", "1004", "1005"}, check.brands, "malformed messages call nobody")

	recs, err := metrics.ParseLog(out.Bytes())
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "queue", recs[0].Dimensions["route"])
	assert.Equal(t, 3.0, recs[0].Sum("BrandsRefreshed"))
	assert.Equal(t, 2.0, recs[0].Sum("BrandsFailed"))
	assert.Equal(t, 2.0, recs[0].Sum(refresh.MalformedMetric))
	assert.Equal(t, 0.0, recs[0].Sum("BrandsLeft"))

	// An event with no records is not SQS's: refused, nobody called.
	check.brands = nil
	_, err = h.Handle(context.Background(), events.SQSEvent{})
	require.ErrorContains(t, err, "not an SQS event")
	assert.Empty(t, check.brands)
}

// Near the invocation's deadline no brand is started: the rest are sent
// to their queue again as new messages and counted as left; those that
// could not be sent are reported, to be delivered again; without a
// Requeue, all are.
func TestConsumerLeavesWhatItHasNoTimeFor(t *testing.T) {
	const arn = "arn:aws:sqs:us-east-1:123456789012:wxcard-RefreshQueue-X"
	for _, tc := range []struct {
		name     string
		requeue  bool
		unsent   int
		failures int
	}{{"requeued", true, 0, 0}, {"two not requeued", true, 2, 2}, {"no Requeue", false, 0, 7}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				check := &clockChecker{latency: 4 * time.Second}
				var out bytes.Buffer
				var sentTo string
				var sent []string
				h := &refresh.Consumer{Checker: check, Pacer: &refresh.Pacer{Interval: time.Second}, Logger: discard, Metrics: &metrics.Emitter{Out: &out, Function: "authoritiesrefresh"}}
				if tc.requeue {
					h.Requeue = func(_ context.Context, url string, brands []string) ([]string, error) {
						sentTo, sent = url, brands
						if tc.unsent > 0 {
							return brands[:tc.unsent], errors.New("throttled")
						}
						return nil, nil
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), refresh.MinTimeLeft+9*time.Second)
				defer cancel()
				ev := batchesOf(brandIDs(10), 10)[0]
				for i := range ev.Records {
					ev.Records[i].EventSourceARN = arn
				}
				resp, err := h.Handle(ctx, ev)
				require.NoError(t, err)
				// Brands start at 0, 4 and 8 s; at 12 s less than MinTimeLeft is left.
				assert.Len(t, check.brands, 3)
				assert.Len(t, resp.BatchItemFailures, tc.failures)
				if tc.failures > 0 {
					assert.Equal(t, "m-100003", resp.BatchItemFailures[0].ItemIdentifier)
				}
				if tc.requeue {
					assert.Equal(t, "https://sqs.us-east-1.amazonaws.com/123456789012/wxcard-RefreshQueue-X", sentTo)
					assert.Equal(t, brandIDs(10)[3:], sent)
				}
				// (The bubble's clock starts in 2000, before metrics.Parse's idea
				// of a timestamp: the line is checked as text.)
				assert.Contains(t, out.String(), `"BrandsLeft":7`)
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
			check := &clockChecker{}
			var out bytes.Buffer
			h := &refresh.Consumer{Checker: check, Logger: discard, Requeue: queue.SQSRequeue(awstest.SQS(s.Endpoint)),
				Metrics: &metrics.Emitter{Out: &out, Function: "authoritiesrefresh"}}
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

func TestInterval(t *testing.T) {
	for _, tc := range []struct {
		rate, concurrency int
		want              time.Duration
	}{
		{8, 2, 250 * time.Millisecond}, {8, 3, 500 * time.Millisecond}, {10, 10, time.Second}, {8, 1, 125 * time.Millisecond}, {1, 2, 0},
	} {
		assert.Equal(t, tc.want, refresh.Interval(tc.rate, tc.concurrency), "%d/s over %d", tc.rate, tc.concurrency)
	}
}

func TestPacerFromEnv(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want time.Duration
		err  string
	}{
		{nil, 250 * time.Millisecond, ""},
		{map[string]string{"REFRESH_CALLS_PER_SECOND": "10", "REFRESH_CONCURRENCY": "5"}, 500 * time.Millisecond, ""},
		{map[string]string{"REFRESH_CALLS_PER_SECOND": "11"}, 0, "REFRESH_CALLS_PER_SECOND"},
		{map[string]string{"REFRESH_CALLS_PER_SECOND": "0"}, 0, "REFRESH_CALLS_PER_SECOND"},
		{map[string]string{"REFRESH_CALLS_PER_SECOND": "7.5"}, 0, "REFRESH_CALLS_PER_SECOND"},
		{map[string]string{"REFRESH_CONCURRENCY": "9"}, 0, "REFRESH_CONCURRENCY"},
		{map[string]string{"REFRESH_CONCURRENCY": "x"}, 0, "REFRESH_CONCURRENCY"},
		// The default concurrency (2) is checked against the rate too.
		{map[string]string{"REFRESH_CALLS_PER_SECOND": "1"}, 0, "REFRESH_CONCURRENCY is 2"},
	}
	for _, tc := range tests {
		got, err := refresh.PacerFromEnv(func(k string) string { return tc.env[k] })
		if tc.err != "" {
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got.Interval)
	}
}

// Concurrent waiters each take their own start, Interval apart.
func TestPacerSpacesConcurrentCallers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &refresh.Pacer{Interval: 100 * time.Millisecond}
		start := time.Now()
		var mu sync.Mutex
		var got []time.Duration
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				require.NoError(t, p.Wait(context.Background()))
				mu.Lock()
				got = append(got, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
		slices.Sort(got)
		assert.Equal(t, []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond}, got)
		p.Settle(context.Background())
		assert.Equal(t, 500*time.Millisecond, time.Since(start), "settled: the next call may start")

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		p.Wait(context.Background()) //nolint:errcheck // takes the start at 500 ms
		assert.ErrorIs(t, p.Wait(ctx), context.Canceled)
		var none *refresh.Pacer
		assert.NoError(t, none.Wait(ctx), "a nil pacer does not pace")
	})
}
