package refresh

import (
	"context"
	"errors"
	"log/slog"
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
type Consumer struct {
	// Checker checks one brand. It must wait for Pacer before every call
	// to WeChat Pay (the deployed one's client does, before every attempt).
	Checker Checker
	// Pacer is the process's pace; the consumer settles it after each
	// batch. nil: no pacing.
	Pacer   *Pacer
	Logger  *slog.Logger
	Metrics *metrics.Emitter // nil: no metrics
}

// Handle checks one batch. Its answer lists the messages to deliver
// again: brands that failed, malformed messages (which can only end in
// the dead-letter queue), and brands left for lack of time.
func (c *Consumer) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	if len(ev.Records) == 0 {
		// SQS never invokes with none: this is some other event.
		return resp, errors.New("not an SQS event: no Records")
	}
	retry := func(rec events.SQSMessage) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
	}
	var refreshed, failed, left, changes, revocations int
	for i, rec := range ev.Records {
		msg, err := ParseMessage(rec.Body)
		if err != nil {
			failed++
			retry(rec)
			c.Logger.ErrorContext(ctx, "malformed refresh message", "message_id", rec.MessageId, "error", err.Error())
			continue
		}
		if ctx.Err() != nil || timeLeft(ctx) < MinTimeLeft {
			for _, r := range ev.Records[i:] {
				retry(r)
			}
			left = len(ev.Records) - i
			c.Logger.WarnContext(ctx, "refresh batch cut short: the rest are delivered again", "left", left)
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
	c.Pacer.Settle(ctx)

	c.Logger.InfoContext(ctx, "refresh batch done", "brands", len(ev.Records), "refreshed", refreshed, "failed", failed, "left", left)
	m := c.Metrics.New("queue")
	m.Count("BrandsRefreshed", refreshed)
	m.Count("BrandsFailed", failed)
	m.Count("BrandsLeft", left)
	m.Count("AuthorityChanges", changes)
	m.Count("AuthorityRevocations", revocations)
	c.Metrics.Flush(m)
	return resp, nil
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
