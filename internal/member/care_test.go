package member_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"regexp"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
)

// updater is WeChat Pay's side of member changes in a test: it applies
// each out_request_no once, as WeChat Pay does.
type updater struct {
	mu        sync.Mutex
	points    int64
	level     string
	applied   map[string]bool // out_request_no → applied
	sent      []member.Change
	answers   []error // what the next updates answer; nil takes it
	lostAfter bool    // the next taken update's answer is lost
	hook      func()  // run once, during the next update
	synced    []string
	card      membercard.OpenUserCard
	cardErr   error
	cardReads int
}

func (u *updater) Update(_ context.Context, it member.Item, c member.Change) error {
	u.mu.Lock()
	h := u.hook
	u.hook = nil
	u.mu.Unlock()
	if h != nil {
		h()
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.sent = append(u.sent, c)
	if len(u.answers) > 0 {
		err := u.answers[0]
		u.answers = u.answers[1:]
		if err != nil {
			return err
		}
	}
	no := member.OutRequestNo(it.CardID, it.UserCardCode, c.Version)
	if !u.applied[no] {
		if u.applied == nil {
			u.applied = map[string]bool{}
		}
		u.applied[no] = true
		if c.Points != nil {
			u.points = *c.Points
		}
		if c.Level != nil {
			u.level = *c.Level
		}
	}
	if u.lostAfter {
		u.lostAfter = false
		return errLost
	}
	return nil
}

func (u *updater) SyncPoints(_ context.Context, _ member.Item, points int64, no string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.synced = append(u.synced, no)
	u.points = points
	return nil
}

func (u *updater) OpenCard(context.Context, string, string) (membercard.OpenUserCard, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.cardReads++
	return u.card, u.cardErr
}

// waker records the sync messages; fail makes the next one fail.
type waker struct {
	mu       sync.Mutex
	versions []int64
	fail     bool
}

func (w *waker) Wake(_ context.Context, _, _ string, version int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail {
		w.fail = false
		return errors.New("SendMessage failed")
	}
	w.versions = append(w.versions, version)
	return nil
}

type careFixture struct {
	*fixture
	up *updater
	wk *waker
}

// newMember is a fixture with opening joined (EFFECTIVE, brand) and its
// Member joined event cleared.
func newMember(t *testing.T) *careFixture {
	t.Helper()
	f := &careFixture{fixture: newFixture(), up: &updater{}, wk: &waker{}}
	f.keeper.Updater, f.keeper.Waker = f.up, f.wk
	_, err := f.keeper.Open(context.Background(), member.SourceBrand, opening)
	require.NoError(t, err)
	f.bus = &flakyBus{} // the joining's event apart
	f.keeper.Bus = f.bus
	return f
}

func ptr[T any](v T) *T { return &v }

func (f *careFixture) patch(t *testing.T, p member.Patch) int64 {
	t.Helper()
	v, err := f.keeper.Update(context.Background(), opening.CardID, opening.UserCardCode, p)
	require.NoError(t, err)
	return v
}

func (f *careFixture) sync(t *testing.T, version int64) member.SyncResult {
	t.Helper()
	res, err := f.keeper.Sync(context.Background(), opening.CardID, opening.UserCardCode, version)
	require.NoError(t, err)
	return res
}

// +100 then -30: two versions, each synced once, in order, each with its
// Member updated; the stored points follow WeChat Pay's.
func TestUpdateThenSync(t *testing.T) {
	f := newMember(t)
	v1 := f.patch(t, member.Patch{Points: ptr[int64](100)})
	v2 := f.patch(t, member.Patch{Points: ptr[int64](70), Level: ptr("金卡")})
	assert.Equal(t, v1+1, v2)
	assert.Equal(t, f.item(t).Version, v2, "the version answered is the one written")
	assert.Equal(t, []int64{v1, v2}, f.wk.versions, "one sync message per change, sent for its version")
	assert.Len(t, f.item(t).Changes, 2)

	res := f.sync(t, v1)
	assert.Equal(t, member.SyncResult{Updated: 2}, res)
	assert.Equal(t, int64(70), f.up.points)
	assert.Equal(t, "金卡", f.up.level)
	require.Len(t, f.up.sent, 2)
	assert.Equal(t, v1, f.up.sent[0].Version, "in version order")
	assert.Equal(t, v2, f.up.sent[1].Version)

	it := f.item(t)
	assert.Equal(t, int64(70), it.Points)
	assert.Equal(t, "金卡", it.Level)
	assert.Empty(t, it.Changes)
	assert.Empty(t, it.Pending)
	assert.Empty(t, it.LeaseID)

	evs := f.events(t)
	require.Len(t, evs, 2)
	assert.Equal(t, map[string]any{"detail-type": member.UpdatedEvent, "brand_id": "1004", "card_id": opening.CardID, "code": opening.UserCardCode,
		"openid": opening.OpenID, "level": "银卡", "points": float64(100), "version": float64(v1)}, evs[0])
	assert.Equal(t, float64(70), evs[1]["points"])
	assert.Equal(t, "金卡", evs[1]["level"])

	// Each message delivered again: nothing sent, nothing published.
	for _, v := range []int64{v1, v2, v2} {
		assert.Equal(t, member.SyncResult{}, f.sync(t, v))
	}
	assert.Len(t, f.up.sent, 2)
	assert.Len(t, f.bus.Events(), 2)
}

// A sync whose answer was lost (WeChat Pay took it) is sent again with the
// same out_request_no: applied once, published once.
func TestSyncAnswerLost(t *testing.T) {
	f := newMember(t)
	v := f.patch(t, member.Patch{Points: ptr[int64](100)})
	f.up.lostAfter = true
	_, err := f.keeper.Sync(context.Background(), opening.CardID, opening.UserCardCode, v)
	require.ErrorIs(t, err, errLost)
	assert.Empty(t, f.bus.Events())
	assert.Empty(t, f.item(t).LeaseID, "the lease is given back for the retry")
	assert.Equal(t, 1, f.item(t).Changes[0].Sends)

	assert.Equal(t, member.SyncResult{Updated: 1}, f.sync(t, v))
	require.Len(t, f.up.sent, 2)
	assert.Equal(t, f.up.sent[0].Version, f.up.sent[1].Version, "the same change again")
	assert.Len(t, f.up.applied, 1, "one out_request_no, applied once")
	assert.Equal(t, int64(100), f.item(t).Points)
	assert.Len(t, f.bus.Events(), 1)
}

// A change WeChat Pay refuses for good: Member update failed with its code,
// the member keeps its synced values, and the next change goes on.
func TestSyncRefused(t *testing.T) {
	f := newMember(t)
	v1 := f.patch(t, member.Patch{Points: ptr[int64](100)})
	v2 := f.patch(t, member.Patch{Points: ptr[int64](50)})
	f.up.answers = []error{&wxpay.APIError{Status: http.StatusBadRequest, Code: "INVALID_REQUEST", Message: "用户会员卡状态异常"}}
	assert.Equal(t, member.SyncResult{Updated: 1, Failed: 1}, f.sync(t, v1))
	evs := f.events(t)
	require.Len(t, evs, 2)
	assert.Equal(t, map[string]any{"detail-type": member.UpdateFailedEvent, "brand_id": "1004", "card_id": opening.CardID, "code": opening.UserCardCode,
		"openid": opening.OpenID, "version": float64(v1), "error_code": "INVALID_REQUEST", "error_message": "用户会员卡状态异常",
		"level": "银卡", "points": float64(0)}, evs[0], "with the values the member keeps")
	assert.Equal(t, member.UpdatedEvent, evs[1]["detail-type"])
	assert.Equal(t, float64(v2), evs[1]["version"])
	assert.Equal(t, int64(50), f.item(t).Points)
}

// Transient refusals (rate limit, 5xx, a rejected signature) are retried,
// not failed.
func TestSyncTransient(t *testing.T) {
	for _, err := range []error{
		&wxpay.APIError{Status: http.StatusTooManyRequests, Code: "RATELIMIT_EXCEEDED"},
		&wxpay.APIError{Status: http.StatusInternalServerError, Code: "SYSTEM_ERROR"},
		&wxpay.APIError{Status: http.StatusUnauthorized, Code: "SIGN_ERROR"},
	} {
		f := newMember(t)
		v := f.patch(t, member.Patch{Level: ptr("金卡")})
		f.up.answers = []error{err}
		_, got := f.keeper.Sync(context.Background(), opening.CardID, opening.UserCardCode, v)
		require.ErrorIs(t, got, err)
		assert.Empty(t, f.bus.Events())
		assert.Len(t, f.item(t).Changes, 1)
		assert.Equal(t, member.SyncResult{Updated: 1}, f.sync(t, v))
	}
}

// A change accepted while a sync holds the member is kept and synced after
// the one in flight, in order: the last one wins on WeChat Pay too.
func TestUpdateDuringSync(t *testing.T) {
	f := newMember(t)
	v1 := f.patch(t, member.Patch{Points: ptr[int64](100)})
	var v2 int64
	f.up.hook = func() { v2 = f.patch(t, member.Patch{Points: ptr[int64](30)}) }
	assert.Equal(t, member.SyncResult{Updated: 2}, f.sync(t, v1))
	require.Len(t, f.up.sent, 2)
	assert.Equal(t, []int64{v1, v2}, []int64{f.up.sent[0].Version, f.up.sent[1].Version})
	assert.Equal(t, int64(30), f.up.points)
	assert.Equal(t, int64(30), f.item(t).Points)
}

// A message for a version not written yet is ErrNotWritten; a publication
// that failed is published by the next delivery, once.
func TestSyncNotWrittenAndRepublish(t *testing.T) {
	f := newMember(t)
	_, err := f.keeper.Sync(context.Background(), opening.CardID, opening.UserCardCode, f.item(t).Version+1)
	require.ErrorIs(t, err, member.ErrNotWritten)

	v := f.patch(t, member.Patch{Points: ptr[int64](100)})
	f.patch(t, member.Patch{Points: ptr[int64](50)})
	f.bus.fail = 1
	_, err = f.keeper.Sync(context.Background(), opening.CardID, opening.UserCardCode, v)
	require.Error(t, err)
	assert.Len(t, f.item(t).Pending, 1, "the event waits in the item")
	f.bus.fail = 1
	_, err = f.keeper.Sync(context.Background(), opening.CardID, opening.UserCardCode, v)
	require.Error(t, err, "the bus still failing")
	assert.Equal(t, member.SyncResult{Updated: 1}, f.sync(t, v), "the waiting event first, then the next change")
	assert.Len(t, f.bus.Events(), 2)
	assert.Len(t, f.up.sent, 2)
}

// What Update refuses, and that a refusal writes nothing.
func TestUpdateRefusals(t *testing.T) {
	ctx := context.Background()
	f := newMember(t)
	_, err := f.keeper.Update(ctx, opening.CardID, "999", member.Patch{Points: ptr[int64](1)})
	require.ErrorIs(t, err, member.ErrNotMember)
	_, err = f.keeper.Update(ctx, opening.CardID, opening.UserCardCode, member.Patch{Balance: ptr[int64](1)})
	require.ErrorIs(t, err, member.ErrBalanceNotAllowed)
	f.wk.fail = true
	before := f.item(t)
	_, err = f.keeper.Update(ctx, opening.CardID, opening.UserCardCode, member.Patch{Points: ptr[int64](1)})
	require.ErrorIs(t, err, member.ErrWakeFailed)
	assert.Equal(t, before, f.item(t), "no message, no change")
	for range member.MaxChanges {
		f.patch(t, member.Patch{Points: ptr[int64](1)})
	}
	_, err = f.keeper.Update(ctx, opening.CardID, opening.UserCardCode, member.Patch{Points: ptr[int64](1)})
	require.ErrorIs(t, err, member.ErrTooManyChanges)

	// Not EFFECTIVE: a pending opening.
	g := newFixture()
	g.keeper.Waker = &waker{}
	g.dec.err = errors.New("decider down")
	_, _ = g.keeper.Open(ctx, member.SourceBrand, opening)
	_, err = g.keeper.Update(ctx, opening.CardID, opening.UserCardCode, member.Patch{Points: ptr[int64](1)})
	require.ErrorIs(t, err, member.ErrNotEffective)

	// A membercard-open card: no attach, a level of at most 5 characters.
	h := newFixture()
	h.keeper.Waker, h.keeper.Updater = &waker{}, &updater{}
	_, err = h.keeper.Activated(ctx, member.Activation{CardID: opening.CardID, Code: opening.UserCardCode, OpenID: opening.OpenID})
	require.NoError(t, err)
	var fe *membercard.FieldError
	_, err = h.keeper.Update(ctx, opening.CardID, opening.UserCardCode, member.Patch{Attach: ptr("x")})
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "attach", fe.Field)
	_, err = h.keeper.Update(ctx, opening.CardID, opening.UserCardCode, member.Patch{Level: ptr("钻石黑金卡")})
	require.NoError(t, err, "5 characters")
	_, err = h.keeper.Update(ctx, opening.CardID, opening.UserCardCode, member.Patch{Level: ptr("至尊钻石黑金卡")})
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "level", fe.Field)
	_, err = h.keeper.Update(ctx, opening.CardID, opening.UserCardCode, member.Patch{Balance: ptr[int64](500)})
	require.NoError(t, err)
}

// Activation records one EFFECTIVE member and publishes Member activated
// once, with the form; AUTO_ACTIVATE reads the card first.
func TestActivated(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	up := &updater{card: membercard.OpenUserCard{CardID: opening.CardID, Code: opening.UserCardCode, OpenID: opening.OpenID,
		MembershipNumber: "M001", Level: "银卡", BonusValue: 12, Balance: 300, UserCardStatus: membercard.OpenCardEffective}}
	f.keeper.Updater = up
	a := member.Activation{CardID: opening.CardID, Code: opening.UserCardCode, OpenID: opening.OpenID, MembershipNumber: "M001",
		UserInformation: []byte(`{"common_field_list":[{"name":"USER_FORM_FLAG_NAME","value":"张三"}]}`)}
	out, err := f.keeper.Activated(ctx, a)
	require.NoError(t, err)
	assert.Equal(t, member.Activated, out)
	out, err = f.keeper.Activated(ctx, a)
	require.NoError(t, err)
	assert.Equal(t, member.Duplicate, out)
	out, err = f.keeper.AutoActivated(ctx, member.Opening{CardID: opening.CardID, UserCardCode: opening.UserCardCode, OpenID: opening.OpenID})
	require.NoError(t, err)
	assert.Equal(t, member.Duplicate, out)
	evs := f.events(t)
	require.Len(t, evs, 1)
	assert.Equal(t, member.ActivatedEvent, evs[0]["detail-type"])
	assert.Equal(t, "张三", evs[0]["user_information"].(map[string]any)["common_field_list"].([]any)[0].(map[string]any)["value"])
	it := f.item(t)
	assert.Equal(t, member.Effective, it.State)
	assert.Equal(t, member.SourceOpen, it.Source)
	assert.Empty(t, it.Pending, "the form is not kept")

	g := newFixture()
	g.keeper.Updater = up
	out, err = g.keeper.AutoActivated(ctx, member.Opening{CardID: opening.CardID, UserCardCode: opening.UserCardCode, OpenID: opening.OpenID})
	require.NoError(t, err)
	assert.Equal(t, member.Activated, out)
	it = g.item(t)
	assert.Equal(t, int64(12), it.Points)
	assert.Equal(t, int64(300), it.Balance)
	assert.Equal(t, "M001", it.MembershipNumber)
	assert.Nil(t, g.events(t)[0]["user_information"])
	reads := up.cardReads
	out, err = g.keeper.AutoActivated(ctx, member.Opening{CardID: opening.CardID, UserCardCode: opening.UserCardCode, OpenID: opening.OpenID})
	require.NoError(t, err)
	assert.Equal(t, member.Duplicate, out)
	assert.Equal(t, reads, up.cardReads, "a member already EFFECTIVE: the card is not read again")
	up.cardErr = errors.New("timeout")
	fresh := newFixture()
	fresh.keeper.Updater = up
	_, err = fresh.keeper.AutoActivated(ctx, member.Opening{CardID: opening.CardID, UserCardCode: opening.UserCardCode, OpenID: opening.OpenID})
	require.Error(t, err)
	up.cardErr = nil

	// A card whose openid is another's is not recorded.
	h := newFixture()
	h.keeper.Updater = up
	out, err = h.keeper.AutoActivated(ctx, member.Opening{CardID: opening.CardID, UserCardCode: opening.UserCardCode, OpenID: "someone-else"})
	require.NoError(t, err)
	assert.Equal(t, member.NotHeld, out)
	assert.Zero(t, h.item(t).Version)
	// A card no longer active (deleted since) is not recorded either.
	up.card.UserCardStatus = membercard.OpenCardDeleted
	out, err = h.keeper.AutoActivated(ctx, member.Opening{CardID: opening.CardID, UserCardCode: opening.UserCardCode, OpenID: opening.OpenID})
	require.NoError(t, err)
	assert.Equal(t, member.NotHeld, out)
	assert.Zero(t, h.item(t).Version)
}

// SYNC_USER_POINT is answered with the stored points, under the same
// out_request_no for the same notification; a member not held is left.
func TestAnswerPoints(t *testing.T) {
	ctx := context.Background()
	f := newMember(t)
	v := f.patch(t, member.Patch{Points: ptr[int64](42)})
	f.sync(t, v)
	var out member.Outcome
	for range 2 {
		var err error
		out, err = f.keeper.AnswerPoints(ctx, opening, "notification-1")
		require.NoError(t, err)
		assert.Equal(t, member.PointsSynced, out)
	}
	require.Len(t, f.up.synced, 2)
	assert.Equal(t, f.up.synced[0], f.up.synced[1], "the same notification, the same points: the same out_request_no")
	assert.Equal(t, int64(42), f.up.points)
	assert.Empty(t, f.item(t).LeaseID, "the lease given back")

	// Points changed since: another out_request_no (the same one with
	// another body would be refused).
	f.sync(t, f.patch(t, member.Patch{Points: ptr[int64](7)}))
	_, err := f.keeper.AnswerPoints(ctx, opening, "notification-1")
	require.NoError(t, err)
	assert.NotEqual(t, f.up.synced[0], f.up.synced[2])

	// A change of the points waiting: it sends newer points.
	f.patch(t, member.Patch{Points: ptr[int64](8)})
	out, err = f.keeper.AnswerPoints(ctx, opening, "notification-2")
	require.NoError(t, err)
	assert.Equal(t, member.PointsPending, out)
	assert.Len(t, f.up.synced, 3)
	// A sync in flight: answered after it.
	f.up.hook = func() {
		_, err := f.keeper.AnswerPoints(ctx, opening, "notification-3")
		require.ErrorIs(t, err, member.ErrInFlight)
	}
	f.sync(t, f.item(t).Version)
	assert.Len(t, f.up.synced, 3)
	// A change of the level alone waiting: answered now.
	f.patch(t, member.Patch{Level: ptr("金卡")})
	out, err = f.keeper.AnswerPoints(ctx, opening, "notification-4")
	require.NoError(t, err)
	assert.Equal(t, member.PointsSynced, out)
	assert.Len(t, f.up.synced, 4)
	out, err = f.keeper.AnswerPoints(ctx, member.Opening{CardID: opening.CardID, UserCardCode: "other"}, "n")
	require.NoError(t, err)
	assert.Equal(t, member.NotHeld, out)
}

// out_request_no: WeChat Pay's charset, at most 32 characters, one per
// member and version, and apart for points on membercard-open.
func TestOutRequestNo(t *testing.T) {
	re := regexp.MustCompile(`^[0-9A-Za-z_-]{1,32}$`)
	long := "12345678901234567890123456789012"
	a := member.OutRequestNo(opening.CardID, long, 1<<40)
	assert.Regexp(t, re, a)
	assert.Regexp(t, re, member.OutRequestNo(opening.CardID, long, math.MaxInt64))
	assert.Regexp(t, re, member.RightsRequestNo(opening.CardID, long, 1<<40))
	assert.Regexp(t, re, member.PointsRequestNo(opening.CardID, long, "5f4b0c4e-…", math.MaxInt32))
	assert.NotEqual(t, a, member.OutRequestNo(opening.CardID, long, 1<<40+1))
	assert.NotEqual(t, a, member.OutRequestNo(opening.CardID, long[1:], 1<<40))
	assert.NotEqual(t, a, member.RightsRequestNo(opening.CardID, long, 1<<40))
	assert.Equal(t, a, member.OutRequestNo(opening.CardID, long, 1<<40))
}

// A change WeChat Pay took in part (membercard-open: the level, then the
// points refused): the member keeps what WeChat Pay took, and Member
// update failed says why.
func TestSyncPartlyApplied(t *testing.T) {
	f := newMember(t)
	v := f.patch(t, member.Patch{Level: ptr("金卡"), Points: ptr[int64](100)})
	refused := &wxpay.APIError{Status: http.StatusBadRequest, Code: "PARAM_ERROR", Message: "参数错误"}
	f.up.answers = []error{&member.PartlyApplied{Applied: member.Change{Level: ptr("金卡")}, Err: refused}}
	assert.Equal(t, member.SyncResult{Failed: 1}, f.sync(t, v))
	it := f.item(t)
	assert.Equal(t, "金卡", it.Level)
	assert.Zero(t, it.Points)
	evs := f.events(t)
	require.Len(t, evs, 1)
	assert.Equal(t, "PARAM_ERROR", evs[0]["error_code"])
	assert.Contains(t, (&member.PartlyApplied{Err: refused}).Error(), "in part")
}

// A member deleted while its changes wait (or during their sync): nothing
// more is sent, nothing published.
func TestSyncDeleted(t *testing.T) {
	f := newMember(t)
	v := f.patch(t, member.Patch{Points: ptr[int64](100)})
	f.patch(t, member.Patch{Points: ptr[int64](50)})
	f.up.hook = func() {
		_, err := f.keeper.Delete(context.Background(), member.SourceBrand, opening)
		require.NoError(t, err)
	}
	res := f.sync(t, v)
	assert.Equal(t, member.SyncResult{Failed: 2}, res, "the deletion took the member: each change answered")
	assert.Len(t, f.up.sent, 1, "the second change is not sent")
	var failed []any
	for _, ev := range f.events(t) {
		if ev["detail-type"] == member.UpdateFailedEvent {
			assert.Equal(t, "MEMBER_DELETED", ev["error_code"])
			failed = append(failed, ev["version"])
		}
	}
	assert.Len(t, failed, 2, "one Member update failed per version")
	assert.Empty(t, f.item(t).Changes)
	assert.Equal(t, member.SyncResult{}, f.sync(t, v), "delivered again: nothing more")
}

// An activation whose event could not be published gives its lease back:
// the retry publishes it at once.
func TestActivatedPublishFails(t *testing.T) {
	f := newFixture()
	f.bus.fail = 1
	a := member.Activation{CardID: opening.CardID, Code: opening.UserCardCode, OpenID: opening.OpenID}
	_, err := f.keeper.Activated(context.Background(), a)
	require.Error(t, err)
	assert.Empty(t, f.item(t).LeaseID, "no lease left to wait for")
	_, err = f.keeper.Activated(context.Background(), a)
	require.NoError(t, err)
	assert.Len(t, f.bus.Events(), 1, "published by the retry, once")
	assert.Empty(t, f.item(t).Pending)
}

// A membercard-open change sent again after a lost answer and refused
// then (WeChat Pay took the first): the member takes WeChat Pay's values.
func TestSyncRefusedAfterALostAnswer(t *testing.T) {
	ctx := context.Background()
	f := &careFixture{fixture: newFixture(), up: &updater{}, wk: &waker{}}
	f.keeper.Updater, f.keeper.Waker = f.up, f.wk
	_, err := f.keeper.Activated(ctx, member.Activation{CardID: opening.CardID, Code: opening.UserCardCode, OpenID: opening.OpenID, Balance: 100})
	require.NoError(t, err)
	v := f.patch(t, member.Patch{Balance: ptr[int64](250)})
	f.up.lostAfter = true
	_, err = f.keeper.Sync(ctx, opening.CardID, opening.UserCardCode, v)
	require.Error(t, err)
	f.up.answers = []error{&wxpay.APIError{Status: http.StatusBadRequest, Code: "INVALID_REQUEST", Message: "before_balance与当前余额不一致"}}
	f.up.card = membercard.OpenUserCard{Level: "银", BonusValue: 3, Balance: 250, UserCardStatus: membercard.OpenCardEffective}
	assert.Equal(t, member.SyncResult{Failed: 1}, f.sync(t, v))
	it := f.item(t)
	assert.Equal(t, []any{"银", int64(3), int64(250)}, []any{it.Level, it.Points, it.Balance}, "what WeChat Pay holds")
}
