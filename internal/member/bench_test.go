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
	"github.com/wxcard/wxcard/pkg/wxsign"
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
	logger := slog.New(slog.DiscardHandler)

	before := cpuTime()
	b.ResetTimer()
	elapsed := drainPaced(b, srv, mch, queue, n, func(client *wxpay.Client) *member.Keeper {
		wechatpay := &member.WeChatPay{Partner: client}
		return &member.Keeper{Store: store, Bus: bus, Decider: member.AlwaysConfirm{}, WeChatPay: wechatpay, Updater: wechatpay, Logger: logger}
	})
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

// drainPaced drains queue (n messages) as the deployed members function
// does: DefaultConcurrency invocations at a time, each its own client and
// pace, batches of 10, the messages to deliver again sent back; keeper
// builds each invocation's Keeper around its client. It answers the time
// the drain took.
func drainPaced(b *testing.B, srv *membercardtest.Server, mch *wxsign.Identity, queue chan string, n int, keeper func(*wxpay.Client) *member.Keeper) time.Duration {
	const rate, concurrency = member.DefaultCallsPerSecond, member.DefaultConcurrency
	var done atomic.Int64
	logger := slog.New(slog.DiscardHandler)
	start := time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		pacer := &pacedqueue.Pacer{Interval: pacedqueue.Interval(rate, concurrency)}
		cfg := srv.Config(mch)
		cfg.Pace = pacer.Wait
		client, err := wxpay.New(cfg)
		require.NoError(b, err)
		c := &pacedqueue.Consumer{Name: "member", Handler: &member.Queue{Keeper: keeper(client), Logger: logger}, Valid: member.Valid,
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
	return time.Since(start)
}

// BenchmarkMemberUpdates: b.N members (make bench: 1,000), each with one
// points change accepted (PATCH /members/…: Keeper.Update, its sync
// message queued), drained by the deployed shape of the members function
// as BenchmarkMemberJoins is: two invocations, each its own client and
// pace (4 calls a second across both). WeChat Pay is the stand-in over TLS
// with its rate limit off ("unlimited") and at WeChat Pay's limits
// ("at-limit": user-points/sync 5/s per service provider). Reported:
// updates synced a second and the ratio to the pace (goal ≥ 0.95), the
// drain against 1.1 × N / pace (goal ≤ 1), CPU per update (getrusage: the
// stand-in's share included), and what must be 0: changes lost, changes
// applied twice, failures.
func BenchmarkMemberUpdates(b *testing.B) {
	for _, tc := range []struct {
		name   string
		limits bool
	}{{"unlimited", false}, {"at-limit", true}} {
		b.Run(tc.name, func(b *testing.B) { benchmarkUpdates(b, tc.limits) })
	}
}

func benchmarkUpdates(b *testing.B, limits bool) {
	const rate = member.DefaultCallsPerSecond
	// The members join before the timer, as fast as the stand-in lets
	// them: its clock moves a second ahead after every 5 confirmations, so
	// that its rate limit (5/s) counts the setup's calls in seconds of
	// their own (1,000 members: 200 s ahead, inside the 5 minutes it
	// allows a request's timestamp).
	var skew atomic.Int64
	srv := membercardtest.NewServer(wxpaytest.Options{RateLimits: limits, Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	defer srv.Close()
	srv.AddCard(opening.CardID)
	mch := srv.AddMerchant("1900000001")
	key := []byte("0123456789abcdef0123456789abcdef")
	client, err := wxpay.New(srv.Config(mch))
	require.NoError(b, err)
	store := &member.Memory{}
	bus := &countingBus{}
	logger := slog.New(slog.DiscardHandler)
	n := b.N
	queue := make(chan string, n)
	waker := wakeQueue(queue)
	setup := &member.Keeper{Store: store, Bus: bus, Decider: member.AlwaysConfirm{}, WeChatPay: &member.WeChatPay{Partner: client}, Waker: waker, Logger: logger}
	codes := make([]string, n)
	for i := range n {
		o := membercardtest.Opening{Flavour: membercardtest.FlavourPartner, BrandID: "1004", CardID: opening.CardID, OpenID: fmt.Sprintf("oBench%d", i), Key: key}
		code, _, _, err := srv.OpenCard(o)
		require.NoError(b, err)
		codes[i] = code
		_, err = setup.Open(context.Background(), member.SourcePartner, member.Opening{BrandID: o.BrandID, CardID: o.CardID, UserCardCode: code, OpenID: o.OpenID})
		require.NoError(b, err)
		if i%5 == 4 {
			skew.Add(int64(time.Second))
		}
		points := int64(100 + i)
		_, err = setup.Update(context.Background(), o.CardID, code, member.Patch{Points: &points})
		require.NoError(b, err)
	}
	srv.ResetRequests()

	before := cpuTime()
	b.ResetTimer()
	elapsed := drainPaced(b, srv, mch, queue, n, func(client *wxpay.Client) *member.Keeper {
		wechatpay := &member.WeChatPay{Partner: client}
		return &member.Keeper{Store: store, Bus: bus, WeChatPay: wechatpay, Updater: wechatpay, Logger: logger}
	})
	b.StopTimer()
	cpu := cpuTime() - before

	synced, twice, failed := 0, 0, 0
	for i, code := range codes {
		if p, _ := srv.Points(code); p == int64(100+i) {
			synced++
		}
		if c := srv.PointSyncs(code); c > 1 {
			twice += c - 1
		}
		it, err := store.Get(context.Background(), opening.CardID, code)
		require.NoError(b, err)
		if len(it.Changes) > 0 || it.Points != int64(100+i) {
			failed++
		}
	}
	limited := 0
	for _, r := range srv.Requests() {
		if r.Status == 429 {
			limited++
		}
	}
	perSecond := float64(synced) / elapsed.Seconds()
	b.ReportMetric(perSecond, "updates/s")
	b.ReportMetric(perSecond/rate, "pace-ratio")
	b.ReportMetric(elapsed.Seconds()/(1.1*float64(n)/rate), "drain/bound")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(max(synced, 1)), "cpu-ms/update")
	b.ReportMetric(float64(n-synced), "lost")
	b.ReportMetric(float64(twice), "dup-applies")
	b.ReportMetric(float64(limited), "429s")
	b.ReportMetric(float64(failed), "failed")
	b.ReportMetric(float64(bus.updated.Load()), "updated-events")
}

// wakeQueue is a Waker into a channel: the member queue of a benchmark.
type wakeQueue chan string

func (q wakeQueue) Wake(_ context.Context, cardID, code string, version int64) error {
	q <- member.WakeBody(cardID, code, version)
	return nil
}

// benchBody is the member message of an opening: the card event as the
// rule delivers it.
func benchBody(code, openID string) string {
	b, _ := json.Marshal(map[string]any{"source": "wxcard", "detail-type": membercard.PartnerUserCardCreateEvent,
		"detail": map[string]any{"id": "EV-" + code, "event_type": membercard.PartnerUserCardCreateEvent,
			"resource": map[string]any{"user_card_code": code, "card_id": opening.CardID, "openid": openID, "brand_id": "1004"}}})
	return string(b)
}

// countingBus counts the Member joined and Member updated events.
type countingBus struct{ joined, updated atomic.Int64 }

func (c *countingBus) Publish(_ context.Context, evs ...eventbus.Event) error {
	for _, ev := range evs {
		switch ev.DetailType {
		case member.JoinedEvent:
			c.joined.Add(1)
		case member.UpdatedEvent:
			c.updated.Add(1)
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
