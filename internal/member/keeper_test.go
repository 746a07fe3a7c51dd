package member_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
)

// wechat is WeChat Pay's side in a test: the card's state, and what each
// confirmation answers; an answer can be lost after WeChat Pay took it.
type wechat struct {
	mu        sync.Mutex
	state     string  // the user card's user_card_state; "" is unknown (404)
	answers   []error // what the next confirmations answer; nil takes it
	lostAfter bool    // the next taken confirmation's answer is lost
	queryFail int     // the next queries fail
	confirms  int     // confirmations WeChat Pay took
	sent      int     // confirmations sent
	queries   int
	decisions []member.Decision
}

var errLost = errors.New("connection reset after the request was sent")

func (w *wechat) Confirm(_ context.Context, _ member.Source, _ member.Opening, d member.Decision) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent++
	w.decisions = append(w.decisions, d)
	if len(w.answers) > 0 {
		err := w.answers[0]
		w.answers = w.answers[1:]
		if err != nil {
			return err
		}
	}
	if w.state != membercard.UserCardUnactivated {
		return &wxpay.APIError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "用户不存在未激活的会员卡"}
	}
	w.confirms++
	w.state = membercard.UserCardEffective
	if d.State == membercard.ConfirmFail {
		w.state = membercard.UserCardInvalid
	}
	if w.lostAfter {
		w.lostAfter = false
		return errLost
	}
	return nil
}

func (w *wechat) CardState(context.Context, member.Source, member.Opening) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.queries++
	if w.queryFail > 0 {
		w.queryFail--
		return "", errors.New("query timed out")
	}
	if w.state == "" {
		return "", member.ErrCardNotFound
	}
	return w.state, nil
}

// decider answers its decision, or its error, and counts its calls.
type decider struct {
	mu    sync.Mutex
	d     member.Decision
	err   error
	calls int
	hook  func() // run once, during the next decision
}

func (d *decider) Decide(context.Context, member.Opening) (member.Decision, error) {
	d.mu.Lock()
	d.calls++
	h := d.hook
	d.hook = nil
	dec, err := d.d, d.err
	d.mu.Unlock()
	if h != nil {
		h()
	}
	return dec, err
}

// flakyBus fails its next publications.
type flakyBus struct {
	eventbus.Memory
	fail int
}

func (b *flakyBus) Publish(ctx context.Context, evs ...eventbus.Event) error {
	if b.fail > 0 {
		b.fail--
		return errors.New("PutEvents failed")
	}
	return b.Memory.Publish(ctx, evs...)
}

// faultyStore fails chosen writes: the n-th Put (1-based) answers err,
// after applying it when applied is set (a lost answer).
type faultyStore struct {
	member.Memory
	mu      sync.Mutex
	puts    int
	failAt  map[int]error
	applied bool
}

func (s *faultyStore) Put(ctx context.Context, it member.Item, expect int64) error {
	s.mu.Lock()
	s.puts++
	err := s.failAt[s.puts]
	s.mu.Unlock()
	if err != nil {
		if s.applied {
			_ = s.Memory.Put(ctx, it, expect)
		}
		return err
	}
	return s.Memory.Put(ctx, it, expect)
}

var opening = member.Opening{BrandID: "1004", CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0", UserCardCode: "751234212312345678901234",
	OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA", Level: "银卡", PhoneNumber: "encrypted-phone"}

type fixture struct {
	keeper *member.Keeper
	store  *faultyStore
	bus    *flakyBus
	wx     *wechat
	dec    *decider
	logs   *bytes.Buffer
	now    time.Time
}

func newFixture() *fixture {
	f := &fixture{store: &faultyStore{}, bus: &flakyBus{}, wx: &wechat{state: membercard.UserCardUnactivated},
		dec: &decider{d: member.Decision{State: membercard.ConfirmSuccess}}, logs: &bytes.Buffer{},
		now: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	f.keeper = &member.Keeper{Store: f.store, Bus: f.bus, Decider: f.dec, WeChatPay: f.wx,
		Logger: slog.New(slog.NewJSONHandler(f.logs, nil)), Now: func() time.Time { return f.now }}
	return f
}

func (f *fixture) item(t *testing.T) member.Item {
	t.Helper()
	it, err := f.store.Get(context.Background(), opening.CardID, opening.UserCardCode)
	require.NoError(t, err)
	return it
}

func (f *fixture) events(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ev := range f.bus.Events() {
		var d map[string]any
		require.NoError(t, json.Unmarshal(ev.Detail, &d))
		d["detail-type"] = ev.DetailType
		out = append(out, d)
	}
	return out
}

// An opening becomes a member: confirmed once with the decision, EFFECTIVE
// in the store, one Member joined with the design's fields.
func TestOpenJoins(t *testing.T) {
	f := newFixture()
	f.dec.d = member.Decision{State: membercard.ConfirmSuccess, Level: "金卡"}
	out, err := f.keeper.Open(context.Background(), member.SourceBrand, opening)
	require.NoError(t, err)
	assert.Equal(t, member.Joined, out)
	assert.Equal(t, 1, f.wx.confirms)
	assert.Equal(t, []member.Decision{{State: membercard.ConfirmSuccess, Level: "金卡"}}, f.wx.decisions)

	it := f.item(t)
	assert.Equal(t, member.Effective, it.State)
	assert.Equal(t, member.SourceBrand, it.Source)
	assert.Equal(t, "金卡", it.Level, "the decision's level")
	assert.Equal(t, f.now, it.ConfirmedAt)
	assert.Equal(t, f.now, it.CreatedAt)
	assert.Empty(t, it.Pending, "published and cleared")
	assert.Empty(t, it.LeaseID, "the lease is given back")

	evs := f.events(t)
	require.Len(t, evs, 1)
	assert.Equal(t, map[string]any{"detail-type": member.JoinedEvent, "brand_id": "1004", "card_id": opening.CardID,
		"user_card_code": opening.UserCardCode, "openid": opening.OpenID, "level": "金卡", "confirmed_at": "2026-12-07T10:00:00Z"}, evs[0])

	// The same opening again (a redelivery, or a second notification):
	// nothing sent, nothing published.
	out, err = f.keeper.Open(context.Background(), member.SourceBrand, opening)
	require.NoError(t, err)
	assert.Equal(t, member.Duplicate, out)
	assert.Equal(t, 1, f.wx.sent)
	assert.Len(t, f.bus.Events(), 1)
	assert.Equal(t, 1, f.dec.calls)
	assert.NotContains(t, f.logs.String(), "encrypted-phone")
}

// Every way a delivery can end short, and the retry that follows: one
// confirmation as WeChat Pay sees it, one event.
func TestOpenRetries(t *testing.T) {
	rateLimited := &wxpay.APIError{Status: http.StatusTooManyRequests, Code: "RATELIMIT_EXCEEDED", Message: "接口请求频率达到限制"}
	for name, tc := range map[string]struct {
		setup func(f *fixture)
		// retries are the deliveries that end in an error before the last.
		retries     int
		sent, calls int // confirmations sent, decisions asked
	}{
		"429, then taken": {setup: func(f *fixture) { f.wx.answers = []error{rateLimited} }, retries: 1, sent: 2, calls: 1},
		"5xx twice, then taken": {setup: func(f *fixture) {
			f.wx.answers = []error{&wxpay.APIError{Status: 500, Code: "SYSTEM_ERROR"}, &wxpay.APIError{Status: 502}}
		}, retries: 2, sent: 3, calls: 1},
		"answer lost after taking it": {setup: func(f *fixture) { f.wx.lostAfter = true }, retries: 1, sent: 1, calls: 1},
		"answer lost, query fails once": {setup: func(f *fixture) {
			f.wx.lostAfter, f.wx.queryFail = true, 1
		}, retries: 2, sent: 1, calls: 1},
		"decision stored, crash before sending": {setup: func(f *fixture) {
			f.wx.answers = []error{errors.New("no route to host")}
		}, retries: 1, sent: 2, calls: 1},
		"publication fails after the transition": {setup: func(f *fixture) { f.bus.fail = 1 }, retries: 1, sent: 1, calls: 1},
		"write of the outcome fails": {setup: func(f *fixture) {
			// puts: 1 record+lease, 2 decision, 3 outcome (fails), 4 release
			f.store.failAt = map[int]error{3: errors.New("ProvisionedThroughputExceeded")}
		}, retries: 1, sent: 1, calls: 1},
		"write of the outcome applied, answer lost": {setup: func(f *fixture) {
			f.store.failAt = map[int]error{3: errors.New("connection reset")}
			f.store.applied = true
		}, retries: 1, sent: 1, calls: 1},
		"decision write fails": {setup: func(f *fixture) {
			f.store.failAt = map[int]error{2: errors.New("InternalServerError")}
		}, retries: 1, sent: 1, calls: 2},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture()
			tc.setup(f)
			ctx := context.Background()
			for i := range tc.retries {
				_, err := f.keeper.Open(ctx, member.SourcePartner, opening)
				require.Error(t, err, "delivery %d", i+1)
				// The redelivery comes after the visibility timeout.
				f.now = f.now.Add(member.DefaultLease + time.Second)
			}
			out, err := f.keeper.Open(ctx, member.SourcePartner, opening)
			require.NoError(t, err)
			assert.Contains(t, []member.Outcome{member.Joined, member.Duplicate}, out)
			assert.Equal(t, 1, f.wx.confirms, "one confirmation as WeChat Pay sees it")
			assert.Equal(t, tc.sent, f.wx.sent, "confirmations sent")
			assert.Equal(t, tc.calls, f.dec.calls, "decisions asked")
			assert.Equal(t, member.Effective, f.item(t).State)
			evs := f.events(t)
			require.Len(t, evs, 1, "one Member joined")
			assert.Equal(t, member.JoinedEvent, evs[0]["detail-type"])
			// And a later delivery changes nothing.
			out, err = f.keeper.Open(ctx, member.SourcePartner, opening)
			require.NoError(t, err)
			assert.Equal(t, member.Duplicate, out)
			assert.Len(t, f.bus.Events(), 1)
		})
	}
}

// A delivery while another holds the lease waits (is delivered again); an
// expired lease is taken over.
func TestOpenLease(t *testing.T) {
	f := newFixture()
	f.wx.answers = []error{&wxpay.APIError{Status: 503}}
	// puts: 1 record and lease, 2 decision, 3 the release (lost: the lease stays)
	f.store.failAt = map[int]error{3: errors.New("release lost")}
	_, err := f.keeper.Open(context.Background(), member.SourceBrand, opening)
	require.Error(t, err)
	require.NotEmpty(t, f.item(t).LeaseID)

	_, err = f.keeper.Open(context.Background(), member.SourceBrand, opening)
	require.ErrorIs(t, err, member.ErrInFlight)
	assert.Equal(t, 1, f.wx.sent, "nothing sent while another holds the member")

	f.now = f.now.Add(member.DefaultLease - time.Second)
	_, err = f.keeper.Open(context.Background(), member.SourceBrand, opening)
	require.ErrorIs(t, err, member.ErrInFlight, "the lease runs to its end")
	f.now = f.now.Add(time.Second)
	out, err := f.keeper.Open(context.Background(), member.SourceBrand, opening)
	require.NoError(t, err)
	assert.Equal(t, member.Joined, out)
}

// The decision: a refusal is confirmed as CREATE_CARD_FAIL and published
// with its reason; a decider that fails or answers nonsense confirms
// nothing and gives the lease back.
func TestOpenDecision(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		f := newFixture()
		f.dec.d = member.Decision{State: membercard.ConfirmFail, FailReason: "不在会员名单"}
		out, err := f.keeper.Open(context.Background(), member.SourceBrand, opening)
		require.NoError(t, err)
		assert.Equal(t, member.JoinRefused, out)
		assert.Equal(t, membercard.UserCardInvalid, f.wx.state)
		it := f.item(t)
		assert.Equal(t, member.Refused, it.State)
		assert.Equal(t, "不在会员名单", it.FailReason)
		evs := f.events(t)
		require.Len(t, evs, 1)
		assert.Equal(t, member.RefusedEvent, evs[0]["detail-type"])
		assert.Equal(t, "不在会员名单", evs[0]["fail_reason"])
		assert.NotContains(t, evs[0], "level")
	})
	for name, tc := range map[string]struct {
		d     member.Decision
		err   error
		field string
	}{
		"decider error":          {err: errors.New("function timed out")},
		"no state":               {d: member.Decision{}, field: "state"},
		"unknown state":          {d: member.Decision{State: "MAYBE"}, field: "state"},
		"reason with a success":  {d: member.Decision{State: membercard.ConfirmSuccess, FailReason: "x"}, field: "fail_reason"},
		"reason too long":        {d: member.Decision{State: membercard.ConfirmFail, FailReason: string(bytes.Repeat([]byte("长"), 129))}, field: "fail_reason"},
		"reason with a newline":  {d: member.Decision{State: membercard.ConfirmFail, FailReason: "a\nb"}, field: "fail_reason"},
		"level too long":         {d: member.Decision{State: membercard.ConfirmSuccess, Level: string(bytes.Repeat([]byte("级"), 33))}, field: "level"},
		"colour not a colour":    {d: member.Decision{State: membercard.ConfirmSuccess, CardColor: "red"}, field: "card_color"},
		"picture not https":      {d: member.Decision{State: membercard.ConfirmSuccess, CardPictureURL: "http://x/y.png"}, field: "card_picture_url"},
		"validity without times": {d: member.Decision{State: membercard.ConfirmSuccess, ValidDateInformation: &membercard.ValidDateInformation{Type: "FIX_TIME_RANGE"}}, field: "valid_date_information"},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture()
			f.dec.d, f.dec.err = tc.d, tc.err
			_, err := f.keeper.Open(context.Background(), member.SourceBrand, opening)
			require.Error(t, err)
			if tc.field != "" {
				var de *member.DecisionError
				require.ErrorAs(t, err, &de)
				var fe *membercard.FieldError
				require.ErrorAs(t, err, &fe)
				assert.Contains(t, fe.Field, tc.field)
			}
			assert.Zero(t, f.wx.sent, "nothing confirmed")
			it := f.item(t)
			assert.Equal(t, member.Pending, it.State)
			assert.Nil(t, it.Decision)
			assert.Empty(t, it.LeaseID, "the lease is given back: the retry need not wait")
			assert.Empty(t, f.bus.Events())
		})
	}
}

// WeChat Pay refusing the confirmation for good: FAILED, Member join
// failed with its code; a 404 whose card turns out confirmed counts as
// done.
func TestOpenRefusedByWeChatPay(t *testing.T) {
	for name, tc := range map[string]struct {
		state  string // the card before the confirmation
		answer error
		want   member.State
		code   string
	}{
		"param error":                 {membercard.UserCardUnactivated, &wxpay.APIError{Status: 400, Code: "PARAM_ERROR", Message: "参数错误"}, member.Failed, "PARAM_ERROR"},
		"pending card of another":     {membercard.UserCardUnactivated, &wxpay.APIError{Status: 400, Code: "INVALID_REQUEST", Message: "用户已有待激活的会员卡"}, member.Failed, "INVALID_REQUEST"},
		"no pending card, none known": {"", nil, member.Failed, "NOT_FOUND"},
		"no pending card, expired":    {membercard.UserCardExpired, nil, member.Failed, "NOT_FOUND"},
		"confirmed already":           {membercard.UserCardEffective, nil, member.Effective, ""},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture()
			f.wx.state = tc.state
			if tc.answer != nil {
				f.wx.answers = []error{tc.answer}
			}
			out, err := f.keeper.Open(context.Background(), member.SourcePartner, opening)
			require.NoError(t, err)
			it := f.item(t)
			assert.Equal(t, tc.want, it.State)
			evs := f.events(t)
			require.Len(t, evs, 1)
			if tc.want == member.Failed {
				assert.Equal(t, member.JoinFailed, out)
				assert.Equal(t, tc.code, it.ErrorCode)
				assert.Equal(t, member.FailedEvent, evs[0]["detail-type"])
				assert.Equal(t, tc.code, evs[0]["error_code"])
				assert.NotEmpty(t, evs[0]["error_message"])
				return
			}
			assert.Equal(t, member.Joined, out)
			assert.Equal(t, member.JoinedEvent, evs[0]["detail-type"])
		})
	}
}

// A deletion: a member leaves (one Member left); a member never seen, or
// not yet joined, is recorded deleted without an event, and its opening
// arriving late confirms nothing.
func TestDelete(t *testing.T) {
	ctx := context.Background()
	t.Run("member leaves", func(t *testing.T) {
		f := newFixture()
		_, err := f.keeper.Open(ctx, member.SourceBrand, opening)
		require.NoError(t, err)
		f.now = f.now.Add(time.Hour)
		out, err := f.keeper.Delete(ctx, member.SourceBrand, opening)
		require.NoError(t, err)
		assert.Equal(t, member.Left, out)
		out, err = f.keeper.Delete(ctx, member.SourceBrand, opening)
		require.NoError(t, err)
		assert.Equal(t, member.Duplicate, out)
		evs := f.events(t)
		require.Len(t, evs, 2)
		assert.Equal(t, map[string]any{"detail-type": member.LeftEvent, "brand_id": "1004", "card_id": opening.CardID,
			"user_card_code": opening.UserCardCode, "openid": opening.OpenID, "deleted_at": "2026-12-07T11:00:00Z"}, evs[1])
		it := f.item(t)
		assert.Equal(t, member.Deleted, it.State)
		assert.Equal(t, f.now, it.DeletedAt)
		out, err = f.keeper.Open(ctx, member.SourceBrand, opening)
		require.NoError(t, err)
		assert.Equal(t, member.NotOpened, out)
	})
	t.Run("deleted before its opening arrives", func(t *testing.T) {
		f := newFixture()
		out, err := f.keeper.Delete(ctx, member.SourcePartner, opening)
		require.NoError(t, err)
		assert.Equal(t, member.Gone, out)
		out, err = f.keeper.Open(ctx, member.SourcePartner, opening)
		require.NoError(t, err)
		assert.Equal(t, member.NotOpened, out)
		assert.Zero(t, f.wx.sent)
		assert.Empty(t, f.bus.Events())
	})
	t.Run("refused, then deleted", func(t *testing.T) {
		f := newFixture()
		f.dec.d = member.Decision{State: membercard.ConfirmFail}
		_, err := f.keeper.Open(ctx, member.SourceBrand, opening)
		require.NoError(t, err)
		out, err := f.keeper.Delete(ctx, member.SourceBrand, opening)
		require.NoError(t, err)
		assert.Equal(t, member.Gone, out)
		assert.Len(t, f.bus.Events(), 1, "only the refusal")
	})
	t.Run("a pending event is published first", func(t *testing.T) {
		f := newFixture()
		f.bus.fail = 1
		_, err := f.keeper.Open(ctx, member.SourceBrand, opening)
		require.Error(t, err)
		out, err := f.keeper.Delete(ctx, member.SourceBrand, opening)
		require.NoError(t, err)
		assert.Equal(t, member.Left, out)
		evs := f.events(t)
		require.Len(t, evs, 2)
		assert.Equal(t, member.JoinedEvent, evs[0]["detail-type"])
		assert.Equal(t, member.LeftEvent, evs[1]["detail-type"])
	})
	t.Run("write fails", func(t *testing.T) {
		f := newFixture()
		f.store.failAt = map[int]error{1: errors.New("throttled")}
		_, err := f.keeper.Delete(ctx, member.SourceBrand, opening)
		require.Error(t, err)
		assert.Equal(t, int64(0), f.item(t).Version)
	})
}

// Conflicting writers: a store that always conflicts gives up, saying so.
func TestConflictsBounded(t *testing.T) {
	f := newFixture()
	f.store.failAt = map[int]error{}
	for i := 1; i <= 20; i++ {
		f.store.failAt[i] = member.ErrConflict
	}
	_, err := f.keeper.Open(context.Background(), member.SourceBrand, opening)
	require.ErrorIs(t, err, member.ErrConflict)
	_, err = f.keeper.Delete(context.Background(), member.SourceBrand, opening)
	require.ErrorIs(t, err, member.ErrConflict)
}

// A store error reading the member is a retry.
func TestStoreReadFails(t *testing.T) {
	f := newFixture()
	f.keeper.Store = &failingGet{}
	_, err := f.keeper.Open(context.Background(), member.SourceBrand, opening)
	require.ErrorContains(t, err, "reading the member")
	_, err = f.keeper.Delete(context.Background(), member.SourceBrand, opening)
	require.ErrorContains(t, err, "reading the member")
}

type failingGet struct{ member.Memory }

func (*failingGet) Get(context.Context, string, string) (member.Item, error) {
	return member.Item{}, errors.New("DynamoDB unreachable")
}

// hookBus runs hook before publishing: a second delivery arriving while
// the first publishes its transition's event.
type hookBus struct {
	eventbus.Memory
	hook func()
}

func (b *hookBus) Publish(ctx context.Context, evs ...eventbus.Event) error {
	if h := b.hook; h != nil {
		b.hook = nil
		h()
	}
	return b.Memory.Publish(ctx, evs...)
}

// Two deliveries of one opening at once: the second, arriving while the
// first decides, confirms or publishes, waits (is delivered again); the
// event is published once. The same for a deletion arriving then.
func TestConcurrentDeliveries(t *testing.T) {
	ctx := context.Background()
	for name, second := range map[string]func(f *fixture) (member.Outcome, error){
		"opening": func(f *fixture) (member.Outcome, error) { return f.keeper.Open(ctx, member.SourceBrand, opening) },
		"deletion": func(f *fixture) (member.Outcome, error) {
			return f.keeper.Delete(ctx, member.SourceBrand, opening)
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture()
			bus := &hookBus{}
			f.keeper.Bus = bus
			var secondErr error
			bus.hook = func() { _, secondErr = second(f) }
			out, err := f.keeper.Open(ctx, member.SourceBrand, opening)
			require.NoError(t, err)
			assert.Equal(t, member.Joined, out)
			require.ErrorIs(t, secondErr, member.ErrInFlight, "the event is the first delivery's to publish")
			assert.Len(t, bus.Events(), 1)
			// Retried after the first is done: nothing more to publish.
			out, err = f.keeper.Open(ctx, member.SourceBrand, opening)
			require.NoError(t, err)
			assert.Equal(t, member.Duplicate, out)
			assert.Len(t, bus.Events(), 1)
			assert.Equal(t, 1, f.wx.sent)
		})
	}
	t.Run("while confirming", func(t *testing.T) {
		f := newFixture()
		var secondErr error
		f.dec.hook = func() { _, secondErr = f.keeper.Open(ctx, member.SourceBrand, opening) }
		_, err := f.keeper.Open(ctx, member.SourceBrand, opening)
		require.NoError(t, err)
		require.ErrorIs(t, secondErr, member.ErrInFlight)
		assert.Equal(t, 1, f.dec.calls)
		assert.Equal(t, 1, f.wx.sent)
	})
}

// A delivery that will be retried gives its lease back, though it wrote
// the member since taking it: the retry goes ahead at once.
func TestLeaseReleasedAfterARetryableFailure(t *testing.T) {
	f := newFixture()
	f.wx.answers = []error{&wxpay.APIError{Status: http.StatusServiceUnavailable}}
	_, err := f.keeper.Open(context.Background(), member.SourcePartner, opening)
	require.Error(t, err)
	assert.Empty(t, f.item(t).LeaseID)
	out, err := f.keeper.Open(context.Background(), member.SourcePartner, opening) // no time passed
	require.NoError(t, err)
	assert.Equal(t, member.Joined, out)
}

// The lease lasts at least as long as the invocation: a function whose
// timeout outlasts DefaultLease keeps the member to its deadline.
func TestLeaseCoversTheInvocation(t *testing.T) {
	f := newFixture()
	f.wx.answers = []error{&wxpay.APIError{Status: http.StatusServiceUnavailable}}
	// puts: 1 record and lease, 2 decision, 3 the release (lost: the lease stays)
	f.store.failAt = map[int]error{3: errors.New("release lost")}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	_, err := f.keeper.Open(ctx, member.SourcePartner, opening)
	require.Error(t, err)
	it := f.item(t)
	require.NotEmpty(t, it.LeaseID)
	assert.GreaterOrEqual(t, it.LeaseUntil.Sub(f.now), 10*time.Minute, "to the deadline and beyond")
	f.now = f.now.Add(member.DefaultLease + time.Second)
	_, err = f.keeper.Open(context.Background(), member.SourcePartner, opening)
	require.ErrorIs(t, err, member.ErrInFlight, "DefaultLease is not enough for this invocation")
}

// A member WeChat Pay refused is tried again when its opening comes
// again (a redrive from the dead-letter queue, a new notification),
// deciding afresh; failing again publishes no second event.
func TestFailedIsTriedAgain(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	f.wx.answers = []error{&wxpay.APIError{Status: 400, Code: "INVALID_REQUEST", Message: "用户已有待激活的会员卡"}}
	out, err := f.keeper.Open(ctx, member.SourcePartner, opening)
	require.NoError(t, err)
	assert.Equal(t, member.JoinFailed, out)
	f.wx.answers = []error{&wxpay.APIError{Status: 400, Code: "INVALID_REQUEST", Message: "用户已有待激活的会员卡"}}
	out, err = f.keeper.Open(ctx, member.SourcePartner, opening)
	require.NoError(t, err)
	assert.Equal(t, member.JoinFailed, out)
	assert.Len(t, f.bus.Events(), 1, "failed once, one event")
	out, err = f.keeper.Open(ctx, member.SourcePartner, opening)
	require.NoError(t, err)
	assert.Equal(t, member.Joined, out)
	assert.Equal(t, 3, f.dec.calls, "decided afresh each time")
	it := f.item(t)
	assert.Equal(t, member.Effective, it.State)
	assert.Empty(t, it.ErrorCode)
	evs := f.events(t)
	require.Len(t, evs, 2)
	assert.Equal(t, member.FailedEvent, evs[0]["detail-type"])
	assert.Equal(t, member.JoinedEvent, evs[1]["detail-type"])
}

// A refusal other than 404 after a confirmation that may have reached
// WeChat Pay (the answer lost, retried on the backup host) reads the card
// before recording a failure.
func TestNon404AfterALostAnswer(t *testing.T) {
	f := newFixture()
	f.wx.lostAfter = true
	_, err := f.keeper.Open(context.Background(), member.SourcePartner, opening)
	require.Error(t, err)
	// The card reads EFFECTIVE, but say the retry's query fails and the
	// confirmation is answered 400: the card is read again first.
	f.wx.queryFail = 1
	_, err = f.keeper.Open(context.Background(), member.SourcePartner, opening)
	require.Error(t, err)
	f.wx.answers = []error{&wxpay.APIError{Status: 400, Code: "INVALID_REQUEST", Message: "用户已有已生效的会员卡"}}
	out, err := f.keeper.Open(context.Background(), member.SourcePartner, opening)
	require.NoError(t, err)
	assert.Equal(t, member.Joined, out)
	assert.Equal(t, 1, f.wx.confirms)
}

// A refusal whose answer was lost, and a card WeChat Pay then does not
// show: the refusal reached it, and the member is REFUSED, not FAILED.
func TestLostRefusalThenNoCard(t *testing.T) {
	f := newFixture()
	f.dec.d = member.Decision{State: membercard.ConfirmFail, FailReason: "no"}
	f.wx.lostAfter = true
	_, err := f.keeper.Open(context.Background(), member.SourcePartner, opening)
	require.Error(t, err)
	f.wx.state = "" // WeChat Pay no longer shows the refused card
	out, err := f.keeper.Open(context.Background(), member.SourcePartner, opening)
	require.NoError(t, err)
	assert.Equal(t, member.JoinRefused, out)
	assert.Equal(t, member.Refused, f.item(t).State)
}
