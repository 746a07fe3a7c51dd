package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/authority"
	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/metrics"
)

// The refresh's pace, by default: WeChat Pay allows a merchant 10 calls a
// second to product authorities; the refresh takes 8, leaving 2 for the
// GET route, across the event source mapping's maximum concurrency of 2
// (the least SQS allows).
const (
	DefaultCallsPerSecond = 8
	DefaultConcurrency    = 2
)

// Interval is the pace of one invocation when concurrency invocations
// together may make callsPerSecond calls: each makes at most
// callsPerSecond/concurrency (rounded down) calls a second, starting a
// call (every attempt of it, retries included) at most once an Interval
// and waiting an Interval after its last, so that neither it nor the next
// invocation in its place goes faster. Any second then sees at most
// callsPerSecond calls, however the invocations overlap. It is 0 when
// callsPerSecond < concurrency, which PacerFromEnv refuses.
func Interval(callsPerSecond, concurrency int) time.Duration {
	perInvocation := callsPerSecond / max(concurrency, 1)
	if perInvocation < 1 {
		return 0
	}
	return time.Second / time.Duration(perInvocation)
}

// A Pacer spaces the starts of calls at least Interval apart, across the
// goroutines of one process. Its zero Interval does not pace.
type Pacer struct {
	Interval time.Duration

	mu   sync.Mutex
	next time.Time // the earliest start of the next call
}

// Wait takes the next start and waits for it (wxpay.Config.Pace). It
// returns ctx's error if ctx ends first; the start it took is then lost,
// which only slows the pace.
func (p *Pacer) Wait(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	start := time.Now()
	if p.next.After(start) {
		start = p.next
	}
	p.next = start.Add(p.Interval)
	p.mu.Unlock()
	if !sleepUntil(ctx, start) {
		return ctx.Err()
	}
	return nil
}

// Settle waits until a call could start again after the last one taken,
// so that the invocation that runs next in this one's place, perhaps in
// another process, does not start sooner.
func (p *Pacer) Settle(ctx context.Context) {
	if p == nil {
		return
	}
	p.mu.Lock()
	next := p.next
	p.mu.Unlock()
	sleepUntil(ctx, next)
}

// MinTimeLeft is the least time before the invocation's deadline in which
// a brand is started; the brands left are delivered again by SQS.
const MinTimeLeft = 15 * time.Second

// Checker checks one brand (cardapi.BrandChecker).
type Checker interface {
	Check(ctx context.Context, brandID string) cardapi.BrandResult
}

// Consumer is the refresh queue's function: it checks the brands of a
// batch of messages, paced, and reports those that failed so that SQS
// delivers them again, alone, and dead-letters them after the queue's
// maxReceiveCount.
//
// Only a brand that failed counts toward that limit. A malformed message
// can never succeed: it is logged, counted (MalformedMetric) and reported
// done, so the event source mapping deletes it rather than dead-lettering
// it after five useless deliveries. A brand left for lack of time is sent
// to the queue again as a new message (Requeue) and its own message
// reported done: SQS counts every receive toward maxReceiveCount, even of
// a message made visible again at once (ChangeMessageVisibility 0), so only
// a new message starts afresh.
type Consumer struct {
	// Checker checks one brand. It must wait for Pacer before every call
	// to WeChat Pay (the deployed one's client does, before every attempt).
	Checker Checker
	// Pacer is the process's pace; the consumer settles it after each
	// batch. nil: no pacing.
	Pacer   *Pacer
	Logger  *slog.Logger
	Metrics *metrics.Emitter // nil: no metrics
	// Requeue sends brands left for lack of time back to the queue their
	// messages came from (queueURL, from the records' EventSourceARN) and
	// returns those it could not send, which are then reported failed, to
	// be delivered again. nil reports them all failed.
	Requeue func(ctx context.Context, queueURL string, brandIDs []string) (unsent []string, err error)
}

// MalformedMetric counts refresh messages deleted because their body is
// not a brand (route queue).
const MalformedMetric = "MessagesMalformed"

// QueueURLFromARN is the URL of the SQS queue arn names
// (arn:aws:sqs:REGION:ACCOUNT:NAME), as an SQS event's records carry it.
func QueueURLFromARN(arn string) (string, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[3] == "" || parts[4] == "" || parts[5] == "" {
		return "", fmt.Errorf("%.100q is not an SQS queue ARN", arn)
	}
	host := "sqs." + parts[3] + ".amazonaws.com"
	if parts[1] == "aws-cn" {
		host += ".cn"
	}
	return "https://" + host + "/" + parts[4] + "/" + parts[5], nil
}

// Handle checks one batch. Its answer lists the messages to deliver
// again: brands that failed, and brands left for lack of time that could
// not be sent to the queue again.
func (c *Consumer) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	if len(ev.Records) == 0 {
		// SQS never invokes with none: this is some other event.
		return resp, errors.New("not an SQS event: no Records")
	}
	retry := func(rec events.SQSMessage) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
	}
	var refreshed, failed, malformed, changes, revocations int
	var left []events.SQSMessage
	for i, rec := range ev.Records {
		msg, err := ParseMessage(rec.Body)
		if err != nil {
			// Reported done: delivered again, it could only fail again.
			malformed++
			c.Logger.ErrorContext(ctx, "malformed refresh message deleted", "message_id", rec.MessageId, "error", err.Error())
			continue
		}
		if ctx.Err() != nil || timeLeft(ctx) < MinTimeLeft {
			for _, r := range ev.Records[i:] {
				if _, err := ParseMessage(r.Body); err != nil {
					malformed++
					c.Logger.ErrorContext(ctx, "malformed refresh message deleted", "message_id", r.MessageId, "error", err.Error())
					continue
				}
				left = append(left, r)
			}
			break
		}
		r := c.Checker.Check(ctx, msg.BrandID)
		if !r.OK {
			failed++
			retry(rec)
			continue
		}
		refreshed++
		switch authority.Outcome(r.Outcome) {
		case authority.Changed, authority.FirstSeen:
			changes++
		case authority.RevokedNow:
			revocations++
		}
	}
	requeued := c.sendBack(ctx, left, retry)
	c.Pacer.Settle(ctx)

	c.Logger.InfoContext(ctx, "refresh batch done", "brands", len(ev.Records), "refreshed", refreshed, "failed", failed,
		"left", len(left), "requeued", requeued, "malformed", malformed)
	m := c.Metrics.New("queue")
	m.Count("BrandsRefreshed", refreshed)
	m.Count("BrandsFailed", failed)
	m.Count("BrandsLeft", len(left))
	m.Count(MalformedMetric, malformed)
	m.Count("AuthorityChanges", changes)
	m.Count("AuthorityRevocations", revocations)
	c.Metrics.Flush(m)
	return resp, nil
}

// sendBack sends the brands left for lack of time to their queue again as
// new messages, and reports as failed (delivered again, counted) those it
// could not send; it returns how many it sent.
func (c *Consumer) sendBack(ctx context.Context, left []events.SQSMessage, retry func(events.SQSMessage)) int {
	if len(left) == 0 {
		return 0
	}
	requeued := 0
	var queueURL string
	var err error
	if c.Requeue == nil {
		err = errors.New("no Requeue")
	} else {
		queueURL, err = QueueURLFromARN(left[0].EventSourceARN)
	}
	if err == nil {
		brands := make([]string, len(left))
		for i, r := range left {
			m, _ := ParseMessage(r.Body) // parsed before: well formed
			brands[i] = m.BrandID
		}
		var unsent []string
		unsent, err = c.Requeue(ctx, queueURL, brands)
		requeued = len(brands) - len(unsent)
		for _, r := range left {
			m, _ := ParseMessage(r.Body)
			if slices.Contains(unsent, m.BrandID) {
				retry(r)
			}
		}
	} else {
		for _, r := range left {
			retry(r)
		}
	}
	level, msg := slog.LevelInfo, "refresh batch cut short: the brands left are sent to the queue again"
	attrs := []slog.Attr{slog.Int("left", len(left)), slog.Int("requeued", requeued)}
	if err != nil {
		level, msg = slog.LevelWarn, "refresh batch cut short: brands not sent again are delivered again"
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.Logger.LogAttrs(ctx, level, msg, attrs...)
	return requeued
}

// sleepUntil waits until t; it reports false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// timeLeft is the time to ctx's deadline; a very long time without one.
func timeLeft(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return time.Duration(1<<63 - 1)
}
