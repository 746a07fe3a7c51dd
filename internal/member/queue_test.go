package member_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/internal/pacedqueue"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
)

// body is a member-queue message: a card event as the bus's rule sends it.
func body(eventType string, resource map[string]any) string {
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": eventType, "source": "wxcard",
		"account": "123456789012", "time": "2026-12-07T02:00:00Z", "region": "ap-east-1", "resources": []string{},
		"detail": map[string]any{"id": "EV-2018022511223320873", "create_time": "2026-12-07T10:00:00+08:00", "event_type": eventType,
			"summary": "用户开通会员卡通知", "resource": resource},
	})
	return string(b)
}

func resource() map[string]any {
	return map[string]any{"user_card_code": opening.UserCardCode, "card_id": opening.CardID, "openid": opening.OpenID,
		"brand_id": opening.BrandID, "level": "银卡", "phone_number": "encrypted-phone", "card_type": "NORMAL",
		"user_information": map[string]any{"common_field_list": []any{map[string]any{"name": "USER_FORM_FLAG_NAME", "value": "enc"}}},
		"user_card_state":  "UNACTIVATED"}
}

func TestParseMessage(t *testing.T) {
	for _, tc := range []struct {
		eventType string
		kind      member.Kind
		src       member.Source
	}{
		{membercard.BrandUserCardCreateEvent, member.Opened, member.SourceBrand},
		{membercard.BrandUserCardDeleteEvent, member.Removed, member.SourceBrand},
		{membercard.PartnerUserCardCreateEvent, member.Opened, member.SourcePartner},
		{membercard.PartnerUserCardDeleteEvent, member.Removed, member.SourcePartner},
		{membercard.LegacyPartnerUserCardCreateEvent, member.Opened, member.SourcePartner},
		{membercard.LegacyPartnerUserCardDeleteEvent, member.Removed, member.SourcePartner},
	} {
		t.Run(tc.eventType, func(t *testing.T) {
			m, err := member.ParseMessage(body(tc.eventType, resource()))
			require.NoError(t, err)
			assert.Equal(t, tc.kind, m.Kind)
			assert.Equal(t, tc.src, m.Source)
			assert.Equal(t, tc.eventType, m.EventType)
			assert.Equal(t, "EV-2018022511223320873", m.NotificationID)
			want := opening
			want.UserInformation = json.RawMessage(`{"common_field_list":[{"name":"USER_FORM_FLAG_NAME","value":"enc"}]}`)
			assert.Equal(t, want, m.Opening)
		})
	}
	assert.ElementsMatch(t, []string{membercard.BrandUserCardCreateEvent, membercard.BrandUserCardDeleteEvent, membercard.PartnerUserCardCreateEvent,
		membercard.PartnerUserCardDeleteEvent, membercard.LegacyPartnerUserCardCreateEvent, membercard.LegacyPartnerUserCardDeleteEvent,
		membercard.BrandSyncUserPointEvent, membercard.PartnerSyncUserPointEvent, membercard.LegacyPartnerSyncUserPointEvent,
		membercard.OpenCardActivateEvent}, member.EventTypes())

	with := func(k string, v any) map[string]any {
		r := resource()
		if v == nil {
			delete(r, k)
		} else {
			r[k] = v
		}
		return r
	}
	for name, tc := range map[string]struct {
		body, want string
	}{
		"not JSON":            {`{`, "not an EventBridge event"},
		"another source":      {strings.Replace(body(membercard.BrandUserCardCreateEvent, resource()), `"source":"wxcard"`, `"source":"aws.events"`, 1), "source"},
		"another event":       {body("MEMBERCARD.ACCEPT_CARD", resource()), "detail-type"},
		"activation no code":  {body(membercard.OpenCardActivateEvent, resource()), "code"},
		"sync bad kind":       {`{"wxcard":"member.other","card_id":"c","code":"1","version":1}`, "wxcard"},
		"sync no version":     {`{"wxcard":"member.sync","card_id":"c","code":"1"}`, "version"},
		"sync bad code":       {`{"wxcard":"member.sync","card_id":"c","code":"a b","version":1}`, "code"},
		"sync bad card":       {`{"wxcard":"member.sync","card_id":"a/b","code":"1","version":1}`, "card_id"},
		"sync version text":   {`{"wxcard":"member.sync","card_id":"c","code":"1","version":"1"}`, "version"},
		"no resource":         {strings.Replace(body(membercard.BrandUserCardCreateEvent, resource()), `"resource"`, `"other"`, 1), "resource"},
		"no code":             {body(membercard.BrandUserCardCreateEvent, with("user_card_code", nil)), "user_card_code"},
		"code with a space":   {body(membercard.BrandUserCardCreateEvent, with("user_card_code", "7512 3421")), "user_card_code"},
		"code too long":       {body(membercard.BrandUserCardCreateEvent, with("user_card_code", strings.Repeat("7", 33))), "user_card_code"},
		"no card":             {body(membercard.BrandUserCardCreateEvent, with("card_id", nil)), "card_id"},
		"card with a slash":   {body(membercard.BrandUserCardCreateEvent, with("card_id", "a/b")), "card_id"},
		"no openid":           {body(membercard.BrandUserCardCreateEvent, with("openid", "")), "openid"},
		"no brand":            {body(membercard.PartnerUserCardCreateEvent, with("brand_id", nil)), "brand_id"},
		"code a number":       {body(membercard.BrandUserCardCreateEvent, with("user_card_code", 751234)), "user_card_code"},
		"information a list":  {body(membercard.BrandUserCardCreateEvent, with("user_information", []any{"x"})), "user_information"},
		"resource not object": {body(membercard.BrandUserCardCreateEvent, nil), "resource"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := member.ParseMessage(tc.body)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "encrypted-phone")
			assert.NotContains(t, err.Error(), opening.OpenID)
			require.Error(t, member.Valid(tc.body))
		})
	}
	// user_information null is no information.
	m, err := member.ParseMessage(body(membercard.BrandUserCardCreateEvent, with("user_information", json.RawMessage("null"))))
	require.NoError(t, err)
	assert.Nil(t, m.Opening.UserInformation)
}

// A sync message names the member and the version; version 1 is the
// least.
func TestParseWake(t *testing.T) {
	m, err := member.ParseMessage(member.WakeBody(opening.CardID, opening.UserCardCode, 1))
	require.NoError(t, err)
	assert.Equal(t, member.Message{Kind: member.SyncAsked, EventType: "member.sync", Version: 1,
		Opening: member.Opening{CardID: opening.CardID, UserCardCode: opening.UserCardCode}}, m)
	_, err = member.ParseMessage(member.WakeBody(opening.CardID, opening.UserCardCode, 0))
	require.ErrorContains(t, err, "version")
}

func FuzzParseMessage(f *testing.F) {
	f.Add(body(membercard.BrandUserCardCreateEvent, resource()))
	f.Add(body(membercard.PartnerUserCardDeleteEvent, map[string]any{"user_card_code": "1", "card_id": "c", "openid": "o", "brand_id": "b"}))
	f.Add(`{"source":"wxcard","detail-type":"BRAND_MEMBER_CARD.USER_CARD.CREATE","detail":{"resource":{"user_information":null}}}`)
	f.Add(member.WakeBody("pbLatjvWOibDc5-TBnbUk1pD12o0", "751234212312", 7))
	f.Add(body(membercard.OpenCardActivateEvent, map[string]any{"code": "1", "card_id": "c", "openid": "o", "activate_scene": "NEW_ACTIVATE"}))
	f.Fuzz(func(t *testing.T, b string) {
		m, err := member.ParseMessage(b)
		if err != nil {
			return
		}
		// What parses is keyed (and confirmed) by checked identifiers.
		require.NoError(t, membercard.CheckUserCardCode("user_card_code", m.Opening.UserCardCode))
		require.NoError(t, membercard.CheckID("card_id", m.Opening.CardID, 32))
		if m.Kind == member.SyncAsked {
			require.Positive(t, m.Version)
			return
		}
		require.NoError(t, membercard.CheckID("openid", m.Opening.OpenID, 128))
		if m.Kind != member.OpenActivated {
			require.NoError(t, membercard.CheckID("brand_id", m.Opening.BrandID, 32))
		}
		require.Contains(t, member.EventTypes(), m.EventType)
	})
}

// The queue's handler under the paced consumer: messages to deliver again
// reported, the batch's counts in its metric line, one line per message
// without the card code or personal data.
func TestQueueHandle(t *testing.T) {
	ctx := context.Background()
	open := body(membercard.BrandUserCardCreateEvent, resource())
	del := body(membercard.BrandUserCardDeleteEvent, resource())
	for name, tc := range map[string]struct {
		setup  func(f *fixture)
		bodies []string
		retry  []int // the messages reported failed, by index
		counts map[string]float64
		log    string
	}{
		"joined, again, left": {bodies: []string{open, open, del},
			counts: map[string]float64{member.JoinedMetric: 1, member.DuplicateMetric: 1, member.LeftMetric: 1, "MemberMessagesHandled": 3}, log: `"outcome":"left"`},
		"refused": {setup: func(f *fixture) { f.dec.d.State = membercard.ConfirmFail }, bodies: []string{open},
			counts: map[string]float64{member.RefusedMetric: 1, "MemberMessagesHandled": 1}},
		"failed": {setup: func(f *fixture) { f.wx.answers = []error{&wxpay.APIError{Status: 400, Code: "PARAM_ERROR"}} }, bodies: []string{open},
			counts: map[string]float64{member.FailedMetric: 1, "MemberMessagesHandled": 1}, log: `"level":"ERROR"`},
		"decision error": {setup: func(f *fixture) { f.dec.err = &member.DecisionError{Function: "f", Reason: "failed"} }, bodies: []string{open},
			retry: []int{0}, counts: map[string]float64{member.DecisionErrMetric: 1, "MemberRetries": 1}, log: `"outcome":"decision_error"`},
		"429": {setup: func(f *fixture) { f.wx.answers = []error{&wxpay.APIError{Status: http.StatusTooManyRequests}} }, bodies: []string{open, del},
			retry: []int{0}, counts: map[string]float64{"MemberRetries": 1, "MemberMessagesHandled": 1}, log: `"outcome":"retry"`},
		"no identity": {setup: func(f *fixture) { f.wx.answers = []error{member.ErrNoIdentity} }, bodies: []string{open},
			retry: []int{0}, counts: map[string]float64{"MemberRetries": 1}, log: `"level":"ERROR"`},
		"malformed": {bodies: []string{`{"source":"wxcard"}`, open}, counts: map[string]float64{"MemberMessagesMalformed": 1, member.JoinedMetric: 1},
			log: "malformed"},
		"deleted first": {bodies: []string{del, open},
			counts: map[string]float64{member.DuplicateMetric: 1}, log: `"outcome":"deleted_late"`},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture()
			if tc.setup != nil {
				tc.setup(f)
			}
			var out bytes.Buffer
			c := &pacedqueue.Consumer{Name: "member", Handler: &member.Queue{Keeper: f.keeper, Logger: f.keeper.Logger}, Valid: member.Valid,
				Logger: f.keeper.Logger, Metrics: &metrics.Emitter{Out: &out, Function: "members"}, Labels: member.Labels, Counts: member.Counts}
			var ev events.SQSEvent
			for i, b := range tc.bodies {
				ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprintf("m-%d", i), Body: b})
			}
			resp, err := c.Handle(ctx, ev)
			require.NoError(t, err)
			var retried []int
			for _, f := range resp.BatchItemFailures {
				var i int
				_, _ = fmt.Sscanf(f.ItemIdentifier, "m-%d", &i)
				retried = append(retried, i)
			}
			assert.Equal(t, tc.retry, retried)
			recs, err := metrics.ParseLog(out.Bytes())
			require.NoError(t, err)
			require.Len(t, recs, 1, "one metric line per batch")
			assert.Equal(t, "members", recs[0].Dimensions["route"])
			for _, name := range append(slices.Clone(member.Counts), "MemberRetries", "MemberMessagesMalformed") {
				assert.InDelta(t, tc.counts[name], recs[0].Sum(name), 0, name)
			}
			logs := f.logs.String()
			if tc.log != "" {
				assert.Contains(t, logs, tc.log)
			}
			for _, secret := range []string{opening.UserCardCode, "encrypted-phone", "enc\""} {
				assert.NotContains(t, logs, secret, "no card code, no personal data in the log")
			}
			assert.Contains(t, logs, member.Ref(opening.CardID, opening.UserCardCode))
		})
	}
}

func TestRef(t *testing.T) {
	a := member.Ref("card", "751234212312345678901234")
	assert.Len(t, a, 12)
	assert.NotEqual(t, a, member.Ref("card", "751234212312345678901235"))
	assert.Equal(t, a, member.Ref("card", "751234212312345678901234"))
	assert.Equal(t, "member#card#751234212312345678901234", member.Key("card", "751234212312345678901234"))
}
