package authority_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/authority"
	"github.com/wxcard/wxcard/internal/authority/authtable"
	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/eventbus/bridge"
	"github.com/wxcard/wxcard/internal/statetable"
)

const (
	card  = "BRAND_PRODUCT_AUTHORITY_MERCHANT_CARD"
	store = "BRAND_PRODUCT_AUTHORITY_BRAND_STORE"
)

func auth(products ...string) *authority.Authority {
	return &authority.Authority{AuthorizationType: "AUTHORIZATION_TYPE_HOSTING", AuthorizationProduct: products, UpdateTime: "2025-05-20T13:29:35+08:00"}
}

// backend is a store and a bus to run the same tests against, and what
// was published on it.
type backend struct {
	name   string
	store  authority.Store
	bus    eventbus.Publisher
	events func(t *testing.T, want int) []eventbus.Event
	stack  *awstest.Stack // nil in memory
}

func backends(t *testing.T) []backend {
	mem := &eventbus.Memory{}
	out := []backend{{name: "memory", store: &authority.Memory{}, bus: mem, events: func(*testing.T, int) []eventbus.Event { return mem.Events() }}}
	for _, s := range awstest.Stacks(t) {
		env := awstest.Getenv(s.Env(nil))
		table, err := statetable.FromEnv(env)
		require.NoError(t, err)
		bus, err := bridge.FromEnv(env)
		require.NoError(t, err)
		var seen []eventbus.Event
		out = append(out, backend{name: s.Name, store: authtable.Table{Table: table}, bus: bus, stack: s, events: func(t *testing.T, want int) []eventbus.Event {
			for _, ev := range s.Events(t, want, 10*time.Second) {
				at, err := time.Parse(time.RFC3339, ev.Time)
				require.NoError(t, err)
				require.Equal(t, eventbus.Source, ev.Source)
				seen = append(seen, eventbus.Event{DetailType: ev.DetailType, Time: at, Detail: ev.Detail})
			}
			return seen
		}})
	}
	return out
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 29, 6, 0, 0, 0, time.UTC)} }

// The life of a brand: first sight, unchanged (another order, a new
// update_time), changed products, revoked by an empty list, still revoked,
// restored, revoked by WeChat Pay's refusal. One event per change, none
// otherwise, each with the documented shape.
func TestLifeOfABrand(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			clk := newClock()
			tr := &authority.Tracker{Store: b.store, Bus: b.bus, Now: clk.Now}
			later := auth(card)
			later.UpdateTime = "2025-06-01T10:00:00+08:00"
			steps := []struct {
				obs  *authority.Authority
				want authority.Outcome
			}{
				{auth(card, store), authority.FirstSeen},
				{auth(store, card, store), authority.Unchanged},
				{later, authority.Changed},
				{auth(), authority.RevokedNow},
				{nil, authority.StillRevoked},
				{auth(card), authority.Changed},
				{nil, authority.RevokedNow},
			}
			for i, st := range steps {
				clk.Add(time.Hour)
				res, err := tr.Observe(context.Background(), "1004", st.obs)
				require.NoError(t, err, "step %d", i)
				assert.Equal(t, st.want, res.Outcome, "step %d", i)
			}
			got := b.events(t, 5)
			require.Len(t, got, 5)
			hosting := `{"authorization_type":"AUTHORIZATION_TYPE_HOSTING","authorization_product":["BRAND_PRODUCT_AUTHORITY_BRAND_STORE","BRAND_PRODUCT_AUTHORITY_MERCHANT_CARD"],"update_time":"2025-05-20T13:29:35+08:00"}`
			cardOnly := `{"authorization_type":"AUTHORIZATION_TYPE_HOSTING","authorization_product":["BRAND_PRODUCT_AUTHORITY_MERCHANT_CARD"],"update_time":"2025-06-01T10:00:00+08:00"}`
			restored := `{"authorization_type":"AUTHORIZATION_TYPE_HOSTING","authorization_product":["BRAND_PRODUCT_AUTHORITY_MERCHANT_CARD"],"update_time":"2025-05-20T13:29:35+08:00"}`
			want := []struct{ typ, detail string }{
				{authority.ChangedEvent, `{"brand_id":"1004","before":null,"after":` + hosting + `,"checked_at":"2026-01-29T07:00:00Z"}`},
				{authority.ChangedEvent, `{"brand_id":"1004","before":` + hosting + `,"after":` + cardOnly + `,"checked_at":"2026-01-29T09:00:00Z"}`},
				{authority.RevokedEvent, `{"brand_id":"1004","before":` + cardOnly + `,"checked_at":"2026-01-29T10:00:00Z"}`},
				{authority.ChangedEvent, `{"brand_id":"1004","before":null,"after":` + restored + `,"checked_at":"2026-01-29T12:00:00Z"}`},
				{authority.RevokedEvent, `{"brand_id":"1004","before":` + restored + `,"checked_at":"2026-01-29T13:00:00Z"}`},
			}
			for i, w := range want {
				assert.Equal(t, w.typ, got[i].DetailType, "event %d", i)
				assert.JSONEq(t, w.detail, string(got[i].Detail), "event %d", i)
			}
			it, err := b.store.Get(context.Background(), "1004")
			require.NoError(t, err)
			assert.Equal(t, authority.Revoked, it.State)
			assert.Nil(t, it.Authority)
			assert.Empty(t, it.Pending, "published events are cleared")
		})
	}
}

// A brand WeChat Pay refuses while it has no snapshot (never seen
// authorised, or a made-up ID) leaves no row and no event, however often
// it is refused; a brand seen authorised and then refused is revoked, and
// its revoked snapshot expires RevokedFor after the revocation (checks
// finding it still revoked do not extend it); authorised again, it is
// kept with no expiry.
func TestRefusalNeverCreatesState(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			clk := newClock()
			tr := &authority.Tracker{Store: b.store, Bus: b.bus, Now: clk.Now}
			for _, obs := range []*authority.Authority{nil, auth(), nil} {
				res, err := tr.Observe(context.Background(), "4001", obs)
				require.NoError(t, err)
				assert.Equal(t, authority.NotAuthorised, res.Outcome)
				assert.Equal(t, 0, res.Published)
			}
			it, err := b.store.Get(context.Background(), "4001")
			require.NoError(t, err)
			assert.Equal(t, int64(0), it.Version, "no row")

			_, err = tr.Observe(context.Background(), "4002", auth(card))
			require.NoError(t, err)
			clk.Add(time.Hour)
			revokedAt := clk.Now()
			res, err := tr.Observe(context.Background(), "4002", nil)
			require.NoError(t, err)
			assert.Equal(t, authority.RevokedNow, res.Outcome)
			clk.Add(time.Hour)
			res, err = tr.Observe(context.Background(), "4002", nil)
			require.NoError(t, err)
			assert.Equal(t, authority.StillRevoked, res.Outcome)
			it, err = b.store.Get(context.Background(), "4002")
			require.NoError(t, err)
			assert.Equal(t, authority.Revoked, it.State)
			assert.Equal(t, revokedAt.Add(authority.RevokedFor).Unix(), it.ExpiresAt.Unix(), "expires from the revocation, not the last check")

			res, err = tr.Observe(context.Background(), "4002", auth(card))
			require.NoError(t, err)
			assert.Equal(t, authority.Changed, res.Outcome)
			it, err = b.store.Get(context.Background(), "4002")
			require.NoError(t, err)
			assert.True(t, it.ExpiresAt.IsZero(), "an authorised snapshot is kept")

			got := b.events(t, 3)
			require.Len(t, got, 3, "4002's first sight, revocation and return; nothing for 4001")
			for _, ev := range got {
				var d map[string]any
				require.NoError(t, json.Unmarshal(ev.Detail, &d))
				assert.Equal(t, "4002", d["brand_id"])
			}
			if b.stack != nil {
				assert.Empty(t, b.stack.DrainEvents(t))
			}
		})
	}
}

// A revoked snapshot written before revocations expired has no
// expires_at: the next check that finds it still revoked gives it one.
func TestOldRevokedSnapshotGetsAnExpiry(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			clk := newClock()
			require.NoError(t, b.store.Put(context.Background(), authority.Item{BrandID: "4003", State: authority.Revoked, CheckedAt: clk.Now(), Version: 1}, 0))
			tr := &authority.Tracker{Store: b.store, Bus: b.bus, Now: clk.Now}
			res, err := tr.Observe(context.Background(), "4003", nil)
			require.NoError(t, err)
			assert.Equal(t, authority.StillRevoked, res.Outcome)
			it, err := b.store.Get(context.Background(), "4003")
			require.NoError(t, err)
			assert.Equal(t, clk.Now().Add(authority.RevokedFor).Unix(), it.ExpiresAt.Unix())
		})
	}
}

// Many checks at once, one change: exactly one event, every check
// succeeds, and exactly one of them reports the change.
func TestConcurrentChecksPublishOnce(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			tr := &authority.Tracker{Store: b.store, Bus: b.bus}
			_, err := tr.Observe(context.Background(), "1004", auth(card))
			require.NoError(t, err)
			const n = 12
			outcomes := make([]authority.Outcome, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			// DynamoDB applies a conditional write atomically; moto_server
			// does not lock between the condition and the write, so there
			// the checks go one after another (still showing that the
			// version condition lets one write win); in memory they race.
			concurrent := b.name == "memory"
			for i := range n {
				wg.Add(1)
				check := func() {
					defer wg.Done()
					<-start
					var res authority.Result
					res, errs[i] = tr.Observe(context.Background(), "1004", auth(card, store))
					outcomes[i] = res.Outcome
				}
				if concurrent {
					go check()
				} else {
					close(start)
					check()
					start = make(chan struct{})
				}
			}
			close(start)
			wg.Wait()
			changed := 0
			for i := range n {
				require.NoError(t, errs[i])
				if outcomes[i] == authority.Changed {
					changed++
				} else {
					assert.Equal(t, authority.Unchanged, outcomes[i])
				}
			}
			assert.Equal(t, 1, changed)
			got := b.events(t, 2)
			require.Len(t, got, 2, "first sight and the one change")
			assert.Equal(t, authority.ChangedEvent, got[1].DetailType)
			if b.stack != nil {
				assert.Len(t, b.stack.DrainEvents(t), 0, "no repeat")
			}
		})
	}
}

// failingBus fails the next n publications.
type failingBus struct {
	eventbus.Publisher
	mu sync.Mutex
	n  int
}

func (f *failingBus) Publish(ctx context.Context, evs ...eventbus.Event) error {
	f.mu.Lock()
	fail := f.n > 0
	f.n--
	f.mu.Unlock()
	if fail {
		return errors.New("bus down")
	}
	return f.Publisher.Publish(ctx, evs...)
}

// The bus failing: the check fails, the event is kept and goes out with
// the next check, which then has nothing new to say.
func TestBusFailureKeepsTheEvent(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			bus := &failingBus{Publisher: b.bus, n: 1}
			tr := &authority.Tracker{Store: b.store, Bus: bus}
			res, err := tr.Observe(context.Background(), "1004", auth(card))
			require.ErrorContains(t, err, "bus down")
			assert.Equal(t, authority.FirstSeen, res.Outcome)
			it, err := b.store.Get(context.Background(), "1004")
			require.NoError(t, err)
			assert.Len(t, it.Pending, 1)

			res, err = tr.Observe(context.Background(), "1004", auth(card))
			require.NoError(t, err)
			assert.Equal(t, authority.Unchanged, res.Outcome)
			assert.Equal(t, 1, res.Published, "the kept event")
			got := b.events(t, 1)
			require.Len(t, got, 1)
			assert.Equal(t, authority.ChangedEvent, got[0].DetailType)
		})
	}
}

// stuckStore fails Release, as a crash between the write and the
// publication would leave things.
type stuckStore struct{ authority.Store }

func (stuckStore) Release(context.Context, string, string) error { return errors.New("crashed") }

// A crash after the write: the pending event belongs to a check that may
// still be publishing it, so others leave it alone until StaleAfter has
// passed; then the next check publishes it.
func TestCrashAfterWriteIsRecovered(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			clk := newClock()
			tr := &authority.Tracker{Store: stuckStore{b.store}, Bus: &failingBus{Publisher: b.bus, n: 1}, Now: clk.Now}
			_, err := tr.Observe(context.Background(), "1004", auth(card))
			require.Error(t, err)
			clk.Add(time.Minute)
			res, err := tr.Observe(context.Background(), "1004", auth(card))
			require.NoError(t, err)
			assert.Equal(t, 0, res.Published, "not stale yet")
			clk.Add(authority.DefaultStaleAfter)
			res, err = tr.Observe(context.Background(), "1004", auth(card))
			require.NoError(t, err)
			assert.Equal(t, 1, res.Published)
			got := b.events(t, 1)
			require.Len(t, got, 1)
			var d map[string]any
			require.NoError(t, json.Unmarshal(got[0].Detail, &d))
			assert.Equal(t, "2026-01-29T06:00:00Z", d["checked_at"], "the original event, unchanged")
		})
	}
}

// The table failing: the check says so and publishes nothing.
func TestTableFailure(t *testing.T) {
	t.Parallel()
	for _, s := range awstest.Stacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			env := awstest.Getenv(s.Env(nil))
			table, err := statetable.FromEnv(env)
			require.NoError(t, err)
			bus, err := bridge.FromEnv(env)
			require.NoError(t, err)
			tr := &authority.Tracker{Store: authtable.Table{Table: table}, Bus: bus}
			s.Inject("DynamoDB_20120810.GetItem", awstest.Fault{Status: 400, Type: "ResourceNotFoundException"})
			_, err = tr.Observe(context.Background(), "1004", auth(card))
			require.ErrorContains(t, err, "reading brand 1004's snapshot")
			s.Inject("DynamoDB_20120810.PutItem", awstest.Fault{Status: 400, Type: "AccessDeniedException"})
			_, err = tr.Observe(context.Background(), "1004", auth(card))
			require.ErrorContains(t, err, "writing brand 1004's snapshot")
			assert.Equal(t, 0, s.Calls("AWSEvents.PutEvents"))
		})
	}
}

// The snapshot write's answer lost: DynamoDB applied the PutItem, the
// answer never arrived, and the SDK's retry failed its own version check.
// The check recognises its own write (its pending ID) and publishes the
// change now, reporting it; it neither calls it unchanged nor leaves the
// event for a later period.
func TestSnapshotWriteWithLostAnswer(t *testing.T) {
	t.Parallel()
	for _, s := range awstest.Stacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			env := awstest.Getenv(s.Env(nil))
			table, err := statetable.FromEnv(env)
			require.NoError(t, err)
			bus, err := bridge.FromEnv(env)
			require.NoError(t, err)
			tr := &authority.Tracker{Store: authtable.Table{Table: table}, Bus: bus}
			lost := awstest.Fault{Status: 500, Type: "InternalServerError", After: true}
			for i, step := range []struct {
				obs  *authority.Authority
				want authority.Outcome
			}{
				{auth(card), authority.FirstSeen},      // the write creating the item
				{auth(card, store), authority.Changed}, // a write expecting a version
				{nil, authority.RevokedNow},            // and a revocation
			} {
				puts := s.Calls("DynamoDB_20120810.PutItem")
				s.Inject("DynamoDB_20120810.PutItem", lost)
				res, err := tr.Observe(context.Background(), "1004", step.obs)
				require.NoError(t, err, "step %d", i)
				require.Equal(t, puts+2, s.Calls("DynamoDB_20120810.PutItem"), "step %d: the SDK retried the write", i)
				assert.Equal(t, step.want, res.Outcome, "step %d", i)
				assert.Equal(t, 1, res.Published, "step %d: published now", i)
				it, err := tr.Store.Get(context.Background(), "1004")
				require.NoError(t, err)
				assert.Empty(t, it.Pending, "step %d: nothing left pending", i)
			}
			got := s.Events(t, 3, 10*time.Second)
			require.Len(t, got, 3)
			assert.Equal(t, []string{authority.ChangedEvent, authority.ChangedEvent, authority.RevokedEvent},
				[]string{got[0].DetailType, got[1].DetailType, got[2].DetailType})
		})
	}
}
