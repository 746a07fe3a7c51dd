package pacedqueue

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Interval is the pace of one invocation when concurrency invocations
// together may make callsPerSecond calls: each makes at most
// callsPerSecond/concurrency (rounded down) calls a second, starting a
// call (every attempt of it, retries included) at most once an Interval
// and waiting an Interval after its last, so that neither it nor the next
// invocation in its place goes faster. Any second then sees at most
// callsPerSecond calls, however the invocations overlap. It is 0 when
// callsPerSecond < concurrency, which PacerFromEnv refuses.
//
// The Interval is Slack longer than 1/perInvocation of a second: a call
// arrives at WeChat Pay a few milliseconds after its start (signing, the
// network), and not always as many, so starts exactly 1/rate apart can
// arrive closer together, and a one-second window count one call too
// many, answered 429 (measured: 3 in 40 confirmations at 2 × 2/s against
// a 5/s limit, none with the slack).
func Interval(callsPerSecond, concurrency int) time.Duration {
	perInvocation := callsPerSecond / max(concurrency, 1)
	if perInvocation < 1 {
		return 0
	}
	return (time.Second + Slack) / time.Duration(perInvocation)
}

// Slack is what Interval adds to each second's share: 2 % of the pace,
// room for 20 ms of jitter between a call's start and its arrival.
const Slack = 20 * time.Millisecond

// A Pacer spaces the starts of calls at least Interval apart, across the
// goroutines of one process. Its zero Interval does not pace, nor does a
// nil Pacer.
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

// PacerFromEnv is a consumer's pace from the variables rateVar (calls a
// second for all invocations together: default defRate, 1 to maxRate, the
// API's limit) and concurrencyVar (the event source mapping's maximum
// concurrency: default defConcurrency, at most the rate, so that each
// invocation may make at least one call a second): a Pacer of
// Interval(rate, concurrency). Each consumer names its own variables, as
// the template sets them beside its mapping's.
func PacerFromEnv(getenv func(string) string, rateVar, concurrencyVar string, defRate, defConcurrency, maxRate int) (*Pacer, error) {
	rate, err := intFromEnv(getenv, rateVar, defRate, maxRate, "WeChat Pay's limit")
	if err != nil {
		return nil, err
	}
	concurrency, err := intFromEnv(getenv, concurrencyVar, defConcurrency, maxRate, "the most invocations at once")
	if err != nil {
		return nil, err
	}
	// Checked after the defaults: a rate of 1 with a default concurrency
	// of 2 would otherwise pace nothing.
	if concurrency > rate {
		return nil, fmt.Errorf("%s is %d, more than %s (%d): each invocation must make at least one call a second", concurrencyVar, concurrency, rateVar, rate)
	}
	return &Pacer{Interval: Interval(rate, concurrency)}, nil
}

func intFromEnv(getenv func(string) string, name string, def, most int, why string) (int, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > most {
		return 0, fmt.Errorf("%s is %.20q: want a whole number from 1 to %d (%s)", name, v, most, why)
	}
	return n, nil
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
