package membercardtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// confirmed is a card of o, opened and confirmed through its flavour's API.
func confirmed(t *testing.T, s *membercardtest.Server, mch, brand *wxsign.Identity, o membercardtest.Opening) string {
	t.Helper()
	code, _, _, err := s.OpenCard(o)
	require.NoError(t, err)
	path, body, who := membercard.UserCardConfirmPath(code), `{"card_id":"`+o.CardID+`","openid":"`+o.OpenID+`","user_card_confirm_state":"CREATE_CARD_SUCCESS"}`, brand
	if o.Flavour == membercardtest.FlavourPartner {
		path, body, who = membercard.PartnerUserCardConfirmPath(code), `{"brand_id":"`+o.BrandID+`",`+body[1:], mch
	}
	status, errCode := send(t, s, who, raw{method: http.MethodPost, path: path, body: body})
	require.Equal(t, 200, status, errCode)
	return code
}

func TestUserCardUpdate(t *testing.T) {
	brandBody := func(extra string) string { return `{"openid":"` + openid + `"` + extra + `}` }
	partnerBody := func(brand, extra string) string {
		return `{"brand_id":"` + brand + `","openid":"` + openid + `"` + extra + `}`
	}
	tests := []struct {
		name          string
		partner       bool // signed as the service provider, to the partner API
		partnerCard   bool // the card is a partner card
		unconfirmed   bool
		path          func(code string) string
		body          string
		status        int
		code          string
		message       string
		level, attach string // after
	}{
		{name: "brand level and attach", body: brandBody(`,"level":"一二三四五六七八九十","attach":"store=A-01"`), status: 200, level: "一二三四五六七八九十", attach: "store=A-01"},
		{name: "brand nothing to change", body: brandBody(""), status: 200, level: "普通会员"},
		{name: "brand unconfirmed card", unconfirmed: true, body: brandBody(`,"level":"金卡"`), status: 200, level: "金卡"},
		{name: "partner level", partner: true, partnerCard: true, body: partnerBody(brandID, `,"level":"金卡"`), status: 200, level: "金卡"},
		{name: "another user", body: `{"openid":"obLatjnx9gnqzS4myYGmLZ7LgLBB","level":"金卡"}`, status: 404, code: "NOT_FOUND", message: "用户会员卡不存在", level: "普通会员"},
		{name: "another card template", path: func(code string) string { return membercard.UserCardUpdatePath(code, "pbLatjvWOibDc5-TBnbUk1pD12o1") }, body: brandBody(`,"level":"金卡"`),
			status: 404, code: "NOT_FOUND", message: "用户会员卡不存在", level: "普通会员"},
		{name: "another brand", partner: true, partnerCard: true, body: partnerBody("1005", `,"level":"金卡"`), status: 404, code: "NOT_FOUND", level: "普通会员"},
		{name: "a partner card through the brand API", partnerCard: true, body: brandBody(`,"level":"金卡"`), status: 404, code: "NOT_FOUND", level: "普通会员"},
		{name: "a brand card through the partner API", partner: true, body: partnerBody(brandID, `,"level":"金卡"`), status: 404, code: "NOT_FOUND", level: "普通会员"},
		{name: "unknown code", path: func(string) string { return membercard.UserCardUpdatePath("478515832665123456789012", cardID) }, body: brandBody(""), status: 404, code: "NOT_FOUND", level: "普通会员"},
		{name: "level of 11", body: brandBody(`,"level":"一二三四五六七八九十一"`), status: 400, code: "PARAM_ERROR", message: "level must be at most 10 characters", level: "普通会员"},
		{name: "attach of 257", body: brandBody(`,"attach":"` + strings.Repeat("a", 257) + `"`), status: 400, code: "PARAM_ERROR", message: "attach", level: "普通会员"},
		{name: "no openid", body: `{"level":"金卡"}`, status: 400, code: "PARAM_ERROR", message: "openid is required", level: "普通会员"},
		{name: "brand_id in the brand body", body: partnerBody(brandID, ""), status: 400, code: "PARAM_ERROR", message: `请求中含有未在API文档中定义的参数: "brand_id"`, level: "普通会员"},
		{name: "partner without brand_id", partner: true, partnerCard: true, body: brandBody(""), status: 400, code: "PARAM_ERROR", message: "brand_id is required", level: "普通会员"},
		{name: "out_request_no is not the update's", body: brandBody(`,"out_request_no":"r1"`), status: 400, code: "PARAM_ERROR", message: "请求中含有未在API文档中定义的参数", level: "普通会员"},
		{name: "no card_id", path: func(code string) string { return "/brand/card-member/user-cards/" + code }, body: brandBody(""), status: 400, code: "PARAM_ERROR", message: "card_id is required", level: "普通会员"},
		{name: "openid in the query", path: func(code string) string { return membercard.UserCardPath(code, cardID, openid) }, body: brandBody(""), status: 400, code: "PARAM_ERROR",
			message: `请求中含有未在API文档中定义的参数: "openid"`, level: "普通会员"},
		{name: "brand API signed as a merchant", partner: true, path: func(code string) string { return membercard.UserCardUpdatePath(code, cardID) }, body: brandBody(""), status: 401, code: "SIGN_ERROR", level: "普通会员"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, mch, brand := newServer(t, wxpaytest.Options{})
			o := brandOpening()
			if tc.partnerCard {
				o = partnerOpening()
			}
			o.Level = "普通会员"
			var code string
			if tc.unconfirmed {
				var err error
				code, _, _, err = s.OpenCard(o)
				require.NoError(t, err)
			} else {
				code = confirmed(t, s, mch, brand, o)
			}
			who, path := brand, membercard.UserCardUpdatePath(code, cardID)
			if tc.partner {
				who, path = mch, membercard.PartnerUserCardUpdatePath(code, cardID)
			}
			if tc.path != nil {
				path = tc.path(code)
			}
			before, _ := s.UserCard(code)
			status, errCode := send(t, s, who, raw{method: http.MethodPatch, path: path, body: tc.body})
			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.code, errCode)
			if tc.message != "" {
				assert.Contains(t, lastMessage(t, s), tc.message)
			}
			after, _ := s.UserCard(code)
			assert.Equal(t, tc.level, after.Level)
			assert.Equal(t, tc.attach, after.Attach)
			assert.Equal(t, before.UserCardState, after.UserCardState, "an update changes no state")
		})
	}
}

// The update answers the whole card, as the query does.
func TestUserCardUpdateAnswersTheCard(t *testing.T) {
	s, mch, brand := newServer(t, wxpaytest.Options{})
	code := confirmed(t, s, mch, brand, partnerOpening())
	c := upstream(t, s, mch, 1)
	status, answer := do(t, c, http.MethodPatch, membercard.PartnerUserCardUpdatePath(code, cardID), membercard.PartnerUserCardRoute,
		membercard.PartnerUserCardUpdateRequest{BrandID: brandID, UserCardUpdateRequest: membercard.UserCardUpdateRequest{OpenID: openid, Level: "金卡", Attach: "a"}})
	require.Equal(t, 200, status, "%s", answer)
	updated := cardOf(t, answer)
	stored, _ := s.UserCard(code)
	assert.Equal(t, stored, updated)
	assert.Equal(t, "金卡", updated.Level)
	status, answer = do(t, c, http.MethodGet, membercard.PartnerUserCardPath(code, brandID, cardID, openid), "", nil)
	require.Equal(t, 200, status)
	assert.Equal(t, updated, cardOf(t, answer))
}

func syncBody(code string, points int64, outNo string) membercard.UserPointsSyncRequest {
	return membercard.UserPointsSyncRequest{OutRequestNo: outNo, CardID: cardID, OpenID: openid, UserCardCode: code, PointBalance: points}
}

// The sync sets an EFFECTIVE card's points, once per out_request_no, and
// answers the request echoed.
func TestUserPointsSync(t *testing.T) {
	type syncStep struct {
		body    func(code string) any
		status  int
		message string
	}
	ok := func(points int64, outNo string) syncStep {
		return syncStep{body: func(code string) any { return syncBody(code, points, outNo) }, status: 200}
	}
	refused := func(status int, message string, body func(code string) any) syncStep {
		return syncStep{body: body, status: status, message: message}
	}
	tests := []struct {
		name        string
		partner     bool
		unconfirmed bool
		steps       []syncStep
		points      int64
		syncs       int
	}{
		{name: "brand", steps: []syncStep{ok(120, "1004_1_1")}, points: 120, syncs: 1},
		{name: "partner", partner: true, steps: []syncStep{ok(120, "1004_1_1")}, points: 120, syncs: 1},
		{name: "0 points", steps: []syncStep{ok(120, "a"), ok(0, "b")}, points: 0, syncs: 2},
		{name: "max points", steps: []syncStep{ok(membercard.MaxPoints, "a")}, points: membercard.MaxPoints, syncs: 1},
		{name: "the same sync again", steps: []syncStep{ok(120, "a"), ok(120, "a")}, points: 120, syncs: 1},
		{name: "an older sync again changes nothing", steps: []syncStep{ok(120, "a"), ok(80, "b"), ok(120, "a")}, points: 80, syncs: 2},
		{name: "another sync under the same out_request_no", steps: []syncStep{ok(120, "a"), refused(400, "out_request_no重复", func(code string) any { return syncBody(code, 121, "a") })}, points: 120, syncs: 1},
		{name: "partner the same sync again", partner: true, steps: []syncStep{ok(120, "a"), ok(120, "a")}, points: 120, syncs: 1},
		{name: "unconfirmed", unconfirmed: true, steps: []syncStep{refused(400, "用户会员卡状态异常", func(code string) any { return syncBody(code, 1, "a") })}},
		{name: "a refused sync spends no out_request_no", steps: []syncStep{refused(400, "point_balance", func(code string) any { return syncBody(code, -1, "a") }),
			refused(404, "用户会员卡不存在", func(string) any { return syncBody("478515832665123456789012", 1, "a") }), ok(7, "a")}, points: 7, syncs: 1},
		{name: "another user", steps: []syncStep{refused(404, "用户会员卡不存在", func(code string) any {
			b := syncBody(code, 1, "a")
			b.OpenID = "obLatjnx9gnqzS4myYGmLZ7LgLBB"
			return b
		})}},
		{name: "another card template", steps: []syncStep{refused(404, "用户会员卡不存在", func(code string) any {
			b := syncBody(code, 1, "a")
			b.CardID = "pbLatjvWOibDc5-TBnbUk1pD12o1"
			return b
		})}},
		{name: "unknown code", steps: []syncStep{refused(404, "用户会员卡不存在", func(string) any { return syncBody("478515832665123456789012", 1, "a") })}},
		{name: "negative points", steps: []syncStep{refused(400, "point_balance must be between 0 and 2147483647", func(code string) any { return syncBody(code, -1, "a") })}},
		{name: "points over int32", steps: []syncStep{refused(400, "point_balance", func(code string) any { return syncBody(code, membercard.MaxPoints+1, "a") })}},
		{name: "no point_balance", steps: []syncStep{refused(400, "point_balance is required", func(code string) any {
			return map[string]string{"out_request_no": "a", "card_id": cardID, "openid": openid, "user_card_code": code}
		})}},
		{name: "out_request_no with |", steps: []syncStep{refused(400, "out_request_no may contain only letters, digits, '_' and '-'", func(code string) any { return syncBody(code, 1, "a|b") })}},
		{name: "out_request_no of 129", steps: []syncStep{refused(400, "out_request_no", func(code string) any { return syncBody(code, 1, strings.Repeat("a", 129)) })}},
		{name: "brand_id in the brand body", steps: []syncStep{refused(400, `请求中含有未在API文档中定义的参数: "brand_id"`, func(code string) any {
			return membercard.PartnerUserPointsSyncRequest{BrandID: brandID, UserPointsSyncRequest: syncBody(code, 1, "a")}
		})}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, mch, brand := newServer(t, wxpaytest.Options{})
			o, who, path := brandOpening(), brand, membercard.UserPointsSyncPath
			if tc.partner {
				o, who, path = partnerOpening(), mch, membercard.PartnerUserPointsSyncPath
			}
			var code string
			if tc.unconfirmed {
				var err error
				code, _, _, err = s.OpenCard(o)
				require.NoError(t, err)
			} else {
				code = confirmed(t, s, mch, brand, o)
			}
			c := upstream(t, s, who, 1)
			for i, st := range tc.steps {
				body := st.body(code)
				if r, ok := body.(membercard.UserPointsSyncRequest); ok && tc.partner {
					body = membercard.PartnerUserPointsSyncRequest{BrandID: brandID, UserPointsSyncRequest: r}
				}
				status, answer := do(t, c, http.MethodPost, path, path, body)
				require.Equal(t, st.status, status, "step %d: %s", i, answer)
				if st.status != 200 {
					_, msg := errorOf(t, answer)
					assert.Contains(t, msg, st.message, "step %d", i)
					continue
				}
				want, err := json.Marshal(body)
				require.NoError(t, err)
				assert.JSONEq(t, string(want), string(answer), "step %d: the request echoed", i)
			}
			points, found := s.Points(code)
			assert.True(t, found)
			assert.Equal(t, tc.points, points)
			assert.Equal(t, tc.syncs, s.PointSyncs(code))
		})
	}
}

func TestUserPointsSyncRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		brand   bool
		path    string
		body    string
		status  int
		code    string
		message string
	}{
		{name: "a query", brand: true, path: membercard.UserPointsSyncPath + "?card_id=" + cardID, body: `{}`, status: 400, code: "PARAM_ERROR", message: `请求中含有未在API文档中定义的参数: "card_id"`},
		{name: "partner query", path: membercard.PartnerUserPointsSyncPath + "?brand_id=1004", body: `{}`, status: 400, code: "PARAM_ERROR", message: `"brand_id"`},
		{name: "partner without brand_id", path: membercard.PartnerUserPointsSyncPath,
			body: `{"out_request_no":"a","card_id":"` + cardID + `","openid":"` + openid + `","user_card_code":"1","point_balance":1}`, status: 400, code: "PARAM_ERROR", message: "brand_id is required"},
		{name: "partner brand_id of 17", path: membercard.PartnerUserPointsSyncPath,
			body: `{"brand_id":"12345678901234567","out_request_no":"a","card_id":"` + cardID + `","openid":"` + openid + `","user_card_code":"1","point_balance":1}`, status: 400, code: "PARAM_ERROR", message: "brand_id"},
		{name: "points a string", brand: true, path: membercard.UserPointsSyncPath,
			body: `{"out_request_no":"a","card_id":"` + cardID + `","openid":"` + openid + `","user_card_code":"1","point_balance":"1"}`, status: 400, code: "PARAM_ERROR", message: "point_balance must be a int64"},
		{name: "brand API signed as a merchant", path: membercard.UserPointsSyncPath, body: `{}`, status: 401, code: "SIGN_ERROR"},
		{name: "partner API signed as a brand", brand: true, path: membercard.PartnerUserPointsSyncPath, body: `{}`, status: 401, code: "SIGN_ERROR"},
		{name: "GET", brand: true, path: membercard.UserPointsSyncPath, status: 405, code: "METHOD_NOT_ALLOWED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, mch, brand := newServer(t, wxpaytest.Options{})
			who := mch
			if tc.brand {
				who = brand
			}
			method := http.MethodPost
			if tc.body == "" {
				method = http.MethodGet
			}
			status, code := send(t, s, who, raw{method: method, path: tc.path, body: tc.body})
			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.code, code)
			if tc.message != "" {
				assert.Contains(t, lastMessage(t, s), tc.message)
			}
		})
	}
}

// Syncs of one card in flight at once under one out_request_no: one is
// applied, every answer is the same 200.
func TestConcurrentSyncsApplyOnce(t *testing.T) {
	s, mch, brand := newServer(t, wxpaytest.Options{})
	code := confirmed(t, s, mch, brand, brandOpening())
	c := upstream(t, s, brand, 1)
	statuses := make(chan int, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			st, _ := do(t, c, http.MethodPost, membercard.UserPointsSyncPath, "", syncBody(code, 42, "same"))
			statuses <- st
		})
	}
	wg.Wait()
	close(statuses)
	for st := range statuses {
		assert.Equal(t, 200, st)
	}
	assert.Equal(t, 1, s.PointSyncs(code))
	points, _ := s.Points(code)
	assert.Equal(t, int64(42), points)
}

func TestPointsOfNoCard(t *testing.T) {
	s, _, _ := newServer(t, wxpaytest.Options{})
	_, found := s.Points("478515832665123456789012")
	assert.False(t, found)
	assert.Zero(t, s.PointSyncs("478515832665123456789012"))
	assert.Zero(t, s.Updates("478515832665123456789012"))
}

// The brand sync is 10/s per brand, the partner's 5/s per merchant.
func TestUserPointsSyncRateLimits(t *testing.T) {
	now := time.Unix(1700000000, 0)
	s, mch, brand := newServer(t, wxpaytest.Options{RateLimits: true, Now: func() time.Time { return now }})
	clock := func(sg *wxsign.Signer) { sg.Now = func() time.Time { return now } }
	for i := range 10 {
		status, _ := send(t, s, brand, raw{method: http.MethodPost, path: membercard.UserPointsSyncPath, body: `{}`, sign: clock})
		require.Equal(t, 400, status, "sync %d: refused, but not limited", i)
	}
	status, code := send(t, s, brand, raw{method: http.MethodPost, path: membercard.UserPointsSyncPath, body: `{}`, sign: clock})
	assert.Equal(t, 429, status)
	assert.Equal(t, "FREQUENCY_LIMITED", code)
	for i := range 5 {
		status, _ := send(t, s, mch, raw{method: http.MethodPost, path: membercard.PartnerUserPointsSyncPath, body: `{}`, sign: clock})
		require.Equal(t, 400, status, "partner sync %d", i)
	}
	status, _ = send(t, s, mch, raw{method: http.MethodPost, path: membercard.PartnerUserPointsSyncPath, body: `{}`, sign: clock})
	assert.Equal(t, 429, status)
	for i := range 5 {
		status, _ := send(t, s, mch, raw{method: http.MethodGet, path: membercard.OpenUserCardPath(cardID, "1"), sign: clock})
		require.Equal(t, 404, status, "membercard-open query %d", i)
	}
	status, _ = send(t, s, mch, raw{method: http.MethodGet, path: membercard.OpenUserCardPath(cardID, "1"), sign: clock})
	assert.Equal(t, 429, status)
}

// WeChat Pay asks for an EFFECTIVE card's points under its flavour's event
// type, encrypted with the opening's key; the resource names the card.
func TestSyncUserPoint(t *testing.T) {
	legacy := partnerOpening()
	legacy.LegacyEventType = true
	for _, tc := range []struct {
		name      string
		o         membercardtest.Opening
		eventType string
	}{
		{"brand", brandOpening(), "BRAND_MEMBER_CARD.SYNC_USER_POINT"},
		{"service provider", partnerOpening(), "BRAND_MEMBER_CARD_SP.SYNC_USER_POINT"},
		{"service provider, before August 2025", legacy, "MEMBERCARDSP.SYNC_USER_POINT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, mch, brand := newServer(t, wxpaytest.Options{})
			code := confirmed(t, s, mch, brand, tc.o)
			h, body, err := s.SyncUserPoint(code)
			require.NoError(t, err)
			env, err := s.Verifier().ParseNotification(h, body)
			require.NoError(t, err)
			assert.Equal(t, tc.eventType, env.EventType)
			assert.True(t, membercard.IsSyncUserPointEvent(env.EventType))
			assert.Equal(t, "用户积分同步事件通知", env.Summary)
			assert.Equal(t, "sync_user_point", env.Resource.OriginalType)
			assert.Equal(t, "sync_user_point", env.Resource.AssociatedData)
			plain, err := wxsign.DecryptResource(tc.o.Key, env.Resource)
			require.NoError(t, err)
			var got map[string]any
			require.NoError(t, json.Unmarshal(plain, &got))
			assert.Equal(t, map[string]any{"brand_id": brandID, "card_id": cardID, "openid": openid, "user_card_code": code}, got)
			assert.Zero(t, s.PointSyncs(code), "asking syncs nothing")
		})
	}
}

func TestSyncUserPointRefusals(t *testing.T) {
	s, _, _ := newServer(t, wxpaytest.Options{})
	_, _, err := s.SyncUserPoint("478515832665123456789012")
	assert.ErrorContains(t, err, "no user card")
	code, _, _, err := s.OpenCard(brandOpening())
	require.NoError(t, err)
	_, _, err = s.SyncUserPoint(code)
	assert.ErrorContains(t, err, "UNACTIVATED, not EFFECTIVE")
	h, err := s.IssueOpenCard(issue())
	require.NoError(t, err)
	_, _, err = s.SyncUserPoint(h.Code)
	assert.Error(t, err, "a membercard-open card has no user-points sync")
	_, err = s.PostSyncUserPoint(context.Background(), nil, "http://127.0.0.1:1", code)
	assert.Error(t, err)
}

// A receiver asked for points answers with the sync; the stand-in holds
// the points it synced.
func TestPostSyncUserPoint(t *testing.T) {
	s, mch, brand := newServer(t, wxpaytest.Options{})
	code := confirmed(t, s, mch, brand, partnerOpening())
	c := upstream(t, s, mch, 1)
	ledger := map[string]int64{code: 250}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		env, err := s.Verifier().ParseNotification(r.Header, body)
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		plain, _ := wxsign.DecryptResource(apiV3Key, env.Resource)
		var sp membercard.SyncUserPoint
		_ = json.Unmarshal(plain, &sp)
		req := membercard.PartnerUserPointsSyncRequest{BrandID: sp.BrandID, UserPointsSyncRequest: membercard.UserPointsSyncRequest{
			OutRequestNo: fmt.Sprintf("%s_%s", sp.UserCardCode, env.ID), CardID: sp.CardID, OpenID: sp.OpenID, UserCardCode: sp.UserCardCode, PointBalance: ledger[sp.UserCardCode]}}
		if st, _ := do(t, c, http.MethodPost, membercard.PartnerUserPointsSyncPath, "", req); st != 200 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	status, err := s.PostSyncUserPoint(context.Background(), receiver.Client(), receiver.URL, code)
	require.NoError(t, err)
	assert.Equal(t, 204, status)
	points, _ := s.Points(code)
	assert.Equal(t, int64(250), points)
	assert.Equal(t, 1, s.PointSyncs(code))
}
