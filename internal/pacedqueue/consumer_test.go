package pacedqueue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/pacedqueue"
)

// A batch of each Action: those to retry are reported, in order, the
// others deleted; the malformed are logged at ERROR with the reason Valid
// gave, if it gave one, and never reach the handler; one log line and one
// metric line per batch, each count one value.
func TestConsumerAnswersEachMessage(t *testing.T) {
	var logs logged
	var out strings.Builder
	h := &scripted{}
	c := &pacedqueue.Consumer{Name: "q", Handler: h, Valid: validWords, Logger: logs.logger(), Metrics: emitter(&out)}
	resp, err := c.Handle(context.Background(), batch("done 1", "retry 2", "bad 3", "malformed 4", "done 5", "7 6", "retry 7", "bad 8"))
	require.NoError(t, err)
	assert.Equal(t, failures("retry 2", "7 6", "retry 7"), resp.BatchItemFailures, "an unknown Action is a retry")
	assert.Equal(t, []string{"done 1", "retry 2", "malformed 4", "done 5", "7 6", "retry 7"}, h.seen, "Valid's refusals reach no handler")

	assert.Equal(t, []map[string]string{
		{"level": "ERROR", "msg": "malformed q message deleted", "message_id": "m-bad 3", "error": "a bad body"},
		{"level": "ERROR", "msg": "malformed q message deleted", "message_id": "m-malformed 4"}, // the handler says why
		{"level": "ERROR", "msg": "malformed q message deleted", "message_id": "m-bad 8", "error": "a bad body"},
		{"level": "INFO", "msg": "q batch done", "messages": "8", "done": "2", "failed": "3", "left": "0", "requeued": "0", "malformed": "3"},
	}, logs.lines)

	rec := metricLine(t, &out)
	assert.Equal(t, map[string]string{"function": "f", "route": "q"}, rec.Dimensions)
	assert.Equal(t, map[string][]float64{"MessagesDone": {2}, "MessagesFailed": {3}, "MessagesLeft": {0}, "MessagesMalformed": {3}, "Seen": {6}}, rec.Values)

	// Without Valid every message reaches the handler.
	h.seen = nil
	resp, err = (&pacedqueue.Consumer{Name: "q", Handler: h, Logger: logs.logger()}).Handle(context.Background(), batch("bad 1", "done 2"))
	require.NoError(t, err)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Equal(t, []string{"bad 1", "done 2"}, h.seen)
}

// Labels name what the logs and metrics count; the handler's Counts are
// reported in their order, 0 when it counted none, after the consumer's
// own; other names it counts follow.
func TestConsumerLabelsAndCounts(t *testing.T) {
	var logs logged
	var out strings.Builder
	c := &pacedqueue.Consumer{Name: "members", Logger: logs.logger(), Metrics: emitter(&out), Valid: validWords,
		Handler: pacedqueue.HandlerFunc(func(_ context.Context, msg events.SQSMessage, t *pacedqueue.Tally) pacedqueue.Action {
			t.Count("Extra", 2)
			t.Count("Joined", 1)
			t.Count("Extra", 1)
			return pacedqueue.Done
		}),
		Labels: pacedqueue.Labels{Route: "member-queue", Items: "openings", Done: "confirmed",
			DoneMetric: "Confirmed", FailedMetric: "Failed", LeftMetric: "Left", MalformedMetric: "Bad"},
		Counts: []string{"Joined", "Refused"},
	}
	_, err := c.Handle(context.Background(), batch("a", "b", "bad"))
	require.NoError(t, err)
	require.Len(t, logs.lines, 2)
	assert.Equal(t, "malformed members message deleted", logs.lines[0]["msg"])
	assert.Equal(t, map[string]string{"level": "INFO", "msg": "members batch done", "openings": "3", "confirmed": "2", "failed": "0", "left": "0", "requeued": "0", "malformed": "1"},
		logs.lines[1])
	assert.Contains(t, out.String(), `"Metrics":[{"Name":"Confirmed","Unit":"Count"},{"Name":"Failed","Unit":"Count"},{"Name":"Left","Unit":"Count"},{"Name":"Bad","Unit":"Count"},`+
		`{"Name":"Joined","Unit":"Count"},{"Name":"Refused","Unit":"Count"},{"Name":"Extra","Unit":"Count"}]`, "in this order")
	rec := metricLine(t, &out)
	assert.Equal(t, "member-queue", rec.Dimensions["route"])
	assert.Equal(t, map[string][]float64{"Confirmed": {2}, "Failed": {0}, "Left": {0}, "Bad": {1}, "Joined": {2}, "Refused": {0}, "Extra": {6}}, rec.Values,
		"one value a count: the batch's sum")

	// A nil Tally counts nothing (a handler tested alone).
	var none *pacedqueue.Tally
	none.Count("Joined", 1)
}

// An event with no records is not SQS's: refused, nobody called, nothing
// logged or counted.
func TestConsumerRefusesAnEventWithoutRecords(t *testing.T) {
	var logs logged
	var out strings.Builder
	h := &scripted{}
	_, err := (&pacedqueue.Consumer{Name: "q", Handler: h, Logger: logs.logger(), Metrics: emitter(&out)}).Handle(context.Background(), events.SQSEvent{})
	require.ErrorContains(t, err, "not an SQS event")
	assert.Empty(t, h.seen)
	assert.Empty(t, logs.lines)
	assert.Empty(t, out.String())
}

// Near the invocation's deadline no message is started: the rest, but
// the malformed, are sent to their queue again as new messages and
// counted as left; those that could not be sent are reported, to be
// delivered again; without a Requeue, or from a source that is no SQS
// queue, all are. Every Pacer is settled after the batch.
func TestConsumerLeavesWhatItHasNoTimeFor(t *testing.T) {
	for _, tc := range []struct {
		name      string
		requeue   bool
		unsent    int
		source    string
		minLeft   time.Duration
		failures  []string
		level     string
		msg, err  string
		requeued  int
		attempted bool
	}{
		{name: "requeued", requeue: true, level: "INFO", msg: "q batch cut short: the messages left are sent to the queue again", requeued: 6, attempted: true},
		{name: "two not requeued", requeue: true, unsent: 2, failures: []string{"body 3", "body 4"}, level: "WARN",
			msg: "q batch cut short: messages not sent again are delivered again", err: "throttled", requeued: 4, attempted: true},
		{name: "no Requeue", failures: []string{"body 3", "body 4", "body 5", "body 7", "body 8", "body 9"}, level: "WARN",
			msg: "q batch cut short: messages not sent again are delivered again", err: "no Requeue"},
		{name: "not from SQS", requeue: true, source: "arn:aws:sns:us-east-1:123456789012:x", failures: []string{"body 3", "body 4", "body 5", "body 7", "body 8", "body 9"},
			level: "WARN", msg: "q batch cut short: messages not sent again are delivered again", err: `"arn:aws:sns:us-east-1:123456789012:x" is not an SQS queue ARN`},
		{name: "a MinTimeLeft of its own", requeue: true, minLeft: 8 * time.Second, level: "INFO", msg: "q batch cut short: the messages left are sent to the queue again", requeued: 5, attempted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var logs logged
				var out strings.Builder
				var sentTo string
				var sent []string
				first := &pacedqueue.Pacer{Interval: 3 * time.Second}
				second := &pacedqueue.Pacer{Interval: 5 * time.Second}
				var handled []string
				c := &pacedqueue.Consumer{Name: "q", Valid: validWords, Pacers: []*pacedqueue.Pacer{first, second}, MinTimeLeft: tc.minLeft,
					Logger: logs.logger(), Metrics: emitter(&out),
					Handler: pacedqueue.HandlerFunc(func(ctx context.Context, msg events.SQSMessage, _ *pacedqueue.Tally) pacedqueue.Action {
						require.NoError(t, first.Wait(ctx))
						require.NoError(t, second.Wait(ctx))
						handled = append(handled, msg.Body)
						time.Sleep(4 * time.Second)
						return pacedqueue.Done
					})}
				if tc.requeue {
					c.Requeue = func(_ context.Context, url string, bodies []string) ([]string, error) {
						sentTo, sent = url, bodies
						if tc.unsent > 0 {
							return bodies[:tc.unsent], errors.New("throttled")
						}
						return nil, nil
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), pacedqueue.DefaultMinTimeLeft+9*time.Second)
				defer cancel()
				ev := batch(numbered(10)...)
				ev.Records[6].Body = "bad"
				if tc.source != "" {
					for i := range ev.Records {
						ev.Records[i].EventSourceARN = tc.source
					}
				}
				start := time.Now()
				resp, err := c.Handle(ctx, ev)
				require.NoError(t, err)
				// Messages start at 0, 5 and 10 s (the slower pace's) and take
				// 4 s; at 14 s less than DefaultMinTimeLeft is left. With 8 s,
				// one more.
				want := numbered(3)
				if tc.minLeft > 0 {
					want = numbered(4)
				}
				assert.Equal(t, want, handled)
				assert.Equal(t, failures(tc.failures...), resp.BatchItemFailures)
				left := slices.Concat(numbered(10)[len(want):6], numbered(10)[7:])
				if tc.attempted {
					assert.Equal(t, "https://sqs.us-east-1.amazonaws.com/123456789012/wxcard-Queue-X", sentTo)
					assert.Equal(t, left, sent, "the malformed is not sent back")
				} else {
					assert.Nil(t, sent)
				}
				assert.Equal(t, time.Duration(len(want))*5*time.Second, time.Since(start), "both pacers settled: the slower's next start")

				require.Len(t, logs.lines, 3)
				assert.Equal(t, "m-body 6", logs.lines[0]["message_id"], "the malformed is logged")
				cut := map[string]string{"level": tc.level, "msg": tc.msg, "left": fmt.Sprint(len(left)), "requeued": fmt.Sprint(tc.requeued)}
				if tc.err != "" {
					cut["error"] = tc.err
				}
				assert.Equal(t, cut, logs.lines[1])
				assert.Equal(t, fmt.Sprint(tc.requeued), logs.lines[2]["requeued"])
				assert.Equal(t, map[string][]float64{"MessagesDone": {float64(len(want))}, "MessagesFailed": {0},
					"MessagesLeft": {float64(len(left))}, "MessagesMalformed": {1}}, metricLine(t, &out).Values)
			})
		})
	}
}

// A batch whose invocation has already ended starts nothing: all is left.
func TestConsumerStartsNothingOnceCancelled(t *testing.T) {
	h := &scripted{}
	var got []string
	c := &pacedqueue.Consumer{Name: "q", Handler: h, Logger: slog.New(slog.DiscardHandler), Requeue: func(_ context.Context, _ string, b []string) ([]string, error) {
		got = b
		return nil, nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	resp, err := c.Handle(ctx, batch("done 1", "done 2"))
	require.NoError(t, err)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Empty(t, h.seen)
	assert.Equal(t, []string{"done 1", "done 2"}, got)
}

// Without a Logger the consumer logs to slog's default.
func TestConsumerDefaultLogger(t *testing.T) {
	var logs logged
	prev := slog.Default()
	slog.SetDefault(logs.logger())
	t.Cleanup(func() { slog.SetDefault(prev) })
	_, err := (&pacedqueue.Consumer{Name: "q", Handler: &scripted{}}).Handle(context.Background(), batch("done"))
	require.NoError(t, err)
	require.Len(t, logs.lines, 1)
	assert.Equal(t, "q batch done", logs.lines[0]["msg"])
}

// The event source mapping runs up to its maximum concurrency of
// invocations at once, each with a batch, one after the other in each
// place, each perhaps in a new Lambda instance with a pace of its own.
// However they overlap, and however many attempts each message's call
// takes (the API answering 429 or 5xx), the calls of any one second stay
// within the rate, and the queue is still drained at about that rate. (In
// synctest's bubble the clock is fake: the minutes pass at once.)
func TestConsumerPacingAcrossConcurrentBatches(t *testing.T) {
	tests := []struct {
		rate, concurrency, batch int
		latency                  time.Duration
		attempts                 int
	}{
		{8, 2, 10, 0, 1},
		{8, 2, 10, 180 * time.Millisecond, 1},
		{8, 2, 10, 100 * time.Millisecond, 3}, // every call retried twice
		{8, 2, 1, 40 * time.Millisecond, 1},
		{8, 3, 10, 0, 2}, // 8/3 rounds down to 2 a second each: 6 in all
		{10, 10, 10, 700 * time.Millisecond, 1},
		{9, 4, 7, 300 * time.Millisecond, 2},
		{4, 2, 10, 0, 1}, // the member queue's default
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d/s over %d batch %d latency %v attempts %d", tc.rate, tc.concurrency, tc.batch, tc.latency, tc.attempts), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				var calls []time.Time
				var handled []string
				queue := make(chan events.SQSEvent)
				all := numbered(200)
				go func() {
					for b := range slices.Chunk(all, tc.batch) {
						queue <- batch(b...)
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
							pacer := &pacedqueue.Pacer{Interval: pacedqueue.Interval(tc.rate, tc.concurrency)}
							c := &pacedqueue.Consumer{Name: "q", Pacers: []*pacedqueue.Pacer{pacer}, Logger: slog.New(slog.DiscardHandler),
								Handler: pacedqueue.HandlerFunc(func(ctx context.Context, msg events.SQSMessage, _ *pacedqueue.Tally) pacedqueue.Action {
									for range tc.attempts {
										if pacer.Wait(ctx) != nil {
											return pacedqueue.Retry
										}
										mu.Lock()
										calls = append(calls, time.Now())
										mu.Unlock()
										time.Sleep(tc.latency)
									}
									mu.Lock()
									handled = append(handled, msg.Body)
									mu.Unlock()
									return pacedqueue.Done
								})}
							resp, err := c.Handle(context.Background(), ev)
							assert.NoError(t, err)
							assert.Empty(t, resp.BatchItemFailures)
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(start)

				assert.ElementsMatch(t, all, handled)
				assert.Len(t, calls, len(all)*tc.attempts)
				assert.LessOrEqual(t, busiestSecond(calls), tc.rate, "calls in one second")
				// The busiest instance takes its share of the batches at
				// its own pace, one Interval per call.
				batches := (len(all) + tc.batch - 1) / tc.batch
				mostCalls := (batches + tc.concurrency - 1) / tc.concurrency * tc.batch * tc.attempts
				assert.LessOrEqual(t, elapsed, time.Duration(mostCalls)*pacedqueue.Interval(tc.rate, tc.concurrency)+tc.latency+2*time.Second,
					"drained at about %d/s", tc.concurrency*(tc.rate/tc.concurrency))
			})
		})
	}
}

// busiestSecond is the most calls that started within one second.
func busiestSecond(calls []time.Time) int {
	calls = slices.Clone(calls)
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

func TestQueueURLFromARN(t *testing.T) {
	for _, tc := range []struct{ arn, want string }{
		{"arn:aws:sqs:us-east-1:123456789012:wxcard-RefreshQueue-X", "https://sqs.us-east-1.amazonaws.com/123456789012/wxcard-RefreshQueue-X"},
		{"arn:aws-cn:sqs:cn-north-1:123456789012:q", "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q"},
		{"arn:aws-us-gov:sqs:us-gov-west-1:123456789012:q.fifo", "https://sqs.us-gov-west-1.amazonaws.com/123456789012/q.fifo"},
		{"", ""},
		{"arn:aws:sqs:us-east-1:123456789012", ""},
		{"arn:aws:sqs:us-east-1:123456789012:q:extra", ""},
		{"urn:aws:sqs:us-east-1:123456789012:q", ""},
		{"arn:aws:sns:us-east-1:123456789012:q", ""},
		{"arn:aws:sqs::123456789012:q", ""},
		{"arn:aws:sqs:us-east-1::q", ""},
		{"arn:aws:sqs:us-east-1:123456789012:", ""},
	} {
		got, err := pacedqueue.QueueURLFromARN(tc.arn)
		if tc.want == "" {
			assert.ErrorContains(t, err, "is not an SQS queue ARN", "%q", tc.arn)
			assert.Empty(t, got)
			continue
		}
		require.NoError(t, err, tc.arn)
		assert.Equal(t, tc.want, got)
	}
	_, err := pacedqueue.QueueURLFromARN(strings.Repeat("x", 500))
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 150, "an untrusted ARN is cut short in the error")
}
