package member_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/internal/pacedqueue"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

// BenchmarkMemberJoins: b.N openings (make bench: 1,000) waiting in the
// member queue, drained by the deployed shape of the members function:
// two invocations at a time (the event source mapping's maximum
// concurrency), each its own process with its own client and pace
// (MEMBER_CALLS_PER_SECOND 4 across 2: one call every 500 ms each),
// batches of 10, the messages to deliver again sent back to the queue.
// WeChat Pay is the stand-in over TLS, "unlimited" (its rate limit off)
// and "at-limit" (WeChat Pay's 5 a second per service provider).
// Reported: members confirmed a second and its ratio to the pace (goal
// ≥ 0.95), the drain's time against 1.1 × N / pace (goal ≤ 1), CPU per
// confirmation (getrusage: the stand-in's share included), and what must
// be 0: members lost, duplicate confirmations, and 429s that reached a
// member's outcome.
func BenchmarkMemberJoins(b *testing.B) {
	for _, tc := range []struct {
		name   string
		limits bool
	}{{"unlimited", false}, {"at-limit", true}} {
		b.Run(tc.name, func(b *testing.B) { benchmarkJoins(b, tc.limits) })
	}
}

func benchmarkJoins(b *testing.B, limits bool) {
	const rate, concurrency = member.DefaultCallsPerSecond, member.DefaultConcurrency
	srv := membercardtest.NewServer(wxpaytest.Options{RateLimits: limits})
	defer srv.Close()
	srv.AddCard(opening.CardID)
	mch := srv.AddMerchant("1900000001")
	key := []byte("0123456789abcdef0123456789abcdef")

	n := b.N
	queue := make(chan string, n)
	codes := make([]string, n)
	for i := range n {
		o := membercardtest.Opening{Flavour: membercardtest.FlavourPartner, BrandID: "1004", CardID: opening.CardID, OpenID: fmt.Sprintf("oBench%d", i), Key: key}
		code, _, _, err := srv.OpenCard(o)
		require.NoError(b, err)
		codes[i] = code
		queue <- benchBody(code, o.OpenID)
	}
	store := &member.Memory{}
	bus := &countingBus{}
	var failedAt429 atomic.Int64
	var done atomic.Int64
	logger := slog.New(slog.DiscardHandler)

	before := cpuTime()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		pacer := &pacedqueue.Pacer{Interval: pacedqueue.Interval(rate, concurrency)}
		cfg := srv.Config(mch)
		cfg.Pace = pacer.Wait
		client, err := wxpay.New(cfg)
		require.NoError(b, err)
		keeper := &member.Keeper{Store: store, Bus: bus, Decider: member.AlwaysConfirm{}, WeChatPay: &member.WeChatPay{Partner: client}, Logger: logger}
		c := &pacedqueue.Consumer{Name: "member", Handler: &member.Queue{Keeper: keeper, Logger: logger}, Valid: member.Valid,
			Pacers: []*pacedqueue.Pacer{pacer}, Logger: logger, Labels: member.Labels, Counts: member.Counts}
		wg.Go(func() {
			for done.Load() < int64(n) {
				var ev events.SQSEvent
			batch:
				for len(ev.Records) < 10 {
					select {
					case body := <-queue:
						ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprint(len(ev.Records)), Body: body})
					default:
						break batch
					}
				}
				if len(ev.Records) == 0 {
					time.Sleep(10 * time.Millisecond) // an empty queue: the mapping polls again
					continue
				}
				resp, err := c.Handle(context.Background(), ev)
				require.NoError(b, err)
				failed := map[string]bool{}
				for _, f := range resp.BatchItemFailures {
					failed[f.ItemIdentifier] = true
				}
				for _, r := range ev.Records {
					if failed[r.MessageId] {
						queue <- r.Body
					} else {
						done.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := cpuTime() - before

	joined, duplicates := 0, 0
	for _, code := range codes {
		card, _ := srv.UserCard(code)
		if card.UserCardState == membercard.UserCardEffective {
			joined++
		}
		if c := srv.Confirmations(code); c > 1 {
			duplicates += c - 1
		}
	}
	for _, it := range store.Items() {
		if it.State == member.Failed {
			failedAt429.Add(1)
		}
	}
	limited := 0
	for _, r := range srv.Requests() {
		if r.Status == 429 {
			limited++
		}
	}
	b.ReportMetric(float64(limited), "429s")
	perSecond := float64(joined) / elapsed.Seconds()
	b.ReportMetric(perSecond, "members/s")
	b.ReportMetric(perSecond/rate, "pace-ratio")
	b.ReportMetric(elapsed.Seconds()/(1.1*float64(n)/rate), "drain/bound")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(max(joined, 1)), "cpu-ms/confirm")
	b.ReportMetric(float64(n-joined), "lost")
	b.ReportMetric(float64(duplicates), "dup-confirms")
	b.ReportMetric(float64(failedAt429.Load()), "failed")
	b.ReportMetric(float64(bus.joined.Load()), "joined-events")
}

// benchBody is the member message of an opening: the card event as the
// rule delivers it.
func benchBody(code, openID string) string {
	b, _ := json.Marshal(map[string]any{"source": "wxcard", "detail-type": membercard.PartnerUserCardCreateEvent,
		"detail": map[string]any{"id": "EV-" + code, "event_type": membercard.PartnerUserCardCreateEvent,
			"resource": map[string]any{"user_card_code": code, "card_id": opening.CardID, "openid": openID, "brand_id": "1004"}}})
	return string(b)
}

// countingBus counts the Member joined events.
type countingBus struct{ joined atomic.Int64 }

func (c *countingBus) Publish(_ context.Context, evs ...eventbus.Event) error {
	for _, ev := range evs {
		if ev.DetailType == member.JoinedEvent {
			c.joined.Add(1)
		}
	}
	return nil
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
