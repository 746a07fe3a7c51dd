package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/lambdatest"
	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/internal/member/membertable"
	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/internal/secretstest"
	"github.com/wxcard/wxcard/internal/statetable"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

// brandAPIKey is the sandbox brand's 品牌API密钥: its card notifications
// are encrypted with it.
var brandAPIKey = []byte("brandApiKey0123456789abcdefABCDE")

// brandNotifySecret stores the brand secret with key as its brand API key
// as "wxcard/brand-notify".
func brandNotifySecret(t testing.TB, s *Stack, key []byte) {
	t.Helper()
	id := secretstest.IdentityOf(s.WxPay.Server, s.WxPay.AddBrand(brandID))
	id.BrandAPIKey = key
	v, err := secret.Encode(id)
	require.NoError(t, err)
	s.Secrets.Set("wxcard/brand-notify", string(v))
}

// memberStack is the member flow of a deployment: WeChat Pay, the two
// card-events functions, the member queue (with its dead-letter queue,
// redrive 5) fed by the template's rule, and the members function.
type memberStack struct {
	s              *Stack
	aws            *awstest.Stack
	queueURL, dlq  string
	partnerEvents  *Function
	brandEvents    *Function
	members        *Function
	source         *awstest.EventSource
	table          membertable.Table
	decider        *Function // nil without a decision function
	memberSequence atomic.Int64
}

var memberQueues atomic.Int64

// newMemberStack starts it all; decide, when set, is the DECIDE of a
// decision function (e2e/testdata/decider) the members function invokes.
func newMemberStack(t *testing.T, opts wxpaytest.Options, decide string) *memberStack {
	t.Helper()
	st := awstest.Stacks(t)[0]
	s := NewStack(t, opts)
	notifySecret(t, s)
	brandNotifySecret(t, s, brandAPIKey)
	m := &memberStack{s: s, aws: st}
	m.queueURL, m.dlq = memberQueue(t, st)
	awsEnv := append(stateEnv(st), "AWS_ENDPOINT_URL_SQS="+st.Endpoint)
	m.partnerEvents = StartFunction(t, "cardevents", s.Env("wxcard/notify", awsEnv...))
	m.brandEvents = StartFunction(t, "cardevents", s.Env("wxcard/brand-notify", awsEnv...))
	// The identities the card-events functions hold (stored again with their
	// notification keys, so the first two secrets are stale).
	env := append(s.Env("wxcard/notify", awsEnv...), "WXPAY_BRAND_SECRET_ID=wxcard/brand-notify", "MEMBER_DEAD_LETTER_QUEUE_URL="+m.dlq)
	if decide != "" {
		m.decider = startDecider(t, decide)
		env = append(env, "MEMBER_CONFIRM_FUNCTION=arn:aws:lambda:us-east-1:123456789012:function:brand-decides",
			"AWS_ENDPOINT_URL_LAMBDA=http://"+m.decider.Runtime.Addr)
	}
	m.members = StartFunction(t, "members", env)
	m.source = &awstest.EventSource{Stack: st, QueueURL: m.queueURL}
	tbl, err := statetable.FromEnv(awstest.Getenv(st.Env(nil)))
	require.NoError(t, err)
	m.table = membertable.Table{Table: tbl}
	return m
}

var deciderBinary = sync.OnceValues(func() (string, error) {
	return lambdatest.BuildPackage(filepath.Dir(binaries["members"]), "decider", "./e2e/testdata/decider")
})

// startDecider runs the test decision function under its own Runtime API,
// which serves Lambda's Invoke API as the Runtime Interface Emulator does.
func startDecider(t *testing.T, decide string) *Function {
	t.Helper()
	bin, err := deciderBinary()
	require.NoError(t, err)
	rt, err := lambdatest.NewRuntime()
	require.NoError(t, err)
	t.Cleanup(rt.Close)
	p, err := lambdatest.Start(bin, rt, "DECIDE="+decide)
	require.NoError(t, err)
	t.Cleanup(p.Stop)
	select {
	case <-rt.FirstPoll():
	case <-time.After(20 * time.Second):
		t.Fatalf("the decision function did not start\n%s", p.Output())
	}
	return &Function{Runtime: rt, Proc: p}
}

// memberQueue creates the member queue, its dead-letter queue (redrive
// 5, as the template) and the template's rule on st's bus.
func memberQueue(t testing.TB, st *awstest.Stack) (queueURL, dlqURL string) {
	t.Helper()
	ctx := context.Background()
	q, eb := awstest.SQS(st.Endpoint), awstest.EventBridge(st.Endpoint)
	n := memberQueues.Add(1)
	arnOf := func(url string) string {
		out, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		require.NoError(t, err)
		return out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	}
	dlqURL = st.NewQueue(t, fmt.Sprintf("wxcard-members-dlq-%d", n))
	redrive, _ := json.Marshal(map[string]string{"deadLetterTargetArn": arnOf(dlqURL), "maxReceiveCount": "5"})
	created, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("%s-members-%d", st.Bus, n)),
		Attributes: map[string]string{"RedrivePolicy": string(redrive)}})
	require.NoError(t, err)
	queueURL = aws.ToString(created.QueueUrl)
	pattern, _ := json.Marshal(map[string]any{"source": []string{"wxcard"}, "detail-type": member.EventTypes()})
	rule := fmt.Sprintf("%s-members-%d", st.Bus, n)
	_, err = eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), EventBusName: aws.String(st.Bus), EventPattern: aws.String(string(pattern))})
	require.NoError(t, err)
	_, err = eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(rule), EventBusName: aws.String(st.Bus), Targets: []ebtypes.Target{{
		Id: aws.String("members"), Arn: aws.String(arnOf(queueURL)),
		// The whole event, said the way moto renders cheaply (see awstest.CreateBusWithQueue).
		InputTransformer: &ebtypes.InputTransformer{InputTemplate: aws.String("<aws.events.event.json>"), InputPathsMap: map[string]string{"id": "$.id"}},
	}}})
	require.NoError(t, err)
	return queueURL, dlqURL
}

// opening is a user opening the sandbox card, of flavour f.
func (m *memberStack) opening(f membercardtest.Flavour) membercardtest.Opening {
	o := membercardtest.Opening{Flavour: f, BrandID: brandID, CardID: cardID, OpenID: fmt.Sprintf("%s-%d", openid, m.memberSequence.Add(1)), Key: notifyAPIv3Key}
	if f == membercardtest.FlavourBrand {
		o.Key = brandAPIKey
	}
	return o
}

// notify posts a notification to the card-events function of route.
func notify(t testing.TB, f *Function, route string, h http.Header, body []byte) int {
	t.Helper()
	ev := httpEvent("POST", route, route, string(body), nil)
	for k, v := range h {
		ev.Headers[strings.ToLower(k)] = v[0]
	}
	return f.HTTP(t, ev).StatusCode
}

// open has the sandbox user open a card and WeChat Pay notify it, times
// times (WeChat Pay's retries of one notification); it returns the code.
func (m *memberStack) open(t *testing.T, o membercardtest.Opening, times int) string {
	t.Helper()
	code, h, body, err := m.s.WxPay.OpenCard(o)
	require.NoError(t, err)
	fn, route := m.partnerEvents, "/notify/card-events"
	if o.Flavour == membercardtest.FlavourBrand {
		fn, route = m.brandEvents, "/notify/brand-card-events"
	}
	for range times {
		require.Equal(t, http.StatusOK, notify(t, fn, route, h, body))
	}
	return code
}

// notifyAgain posts a second notification of the same opening under a new
// id, as WeChat Pay might: the member queue gets a second message.
func (m *memberStack) notifyAgain(t *testing.T, o membercardtest.Opening, code string) {
	t.Helper()
	card, ok := m.s.WxPay.UserCard(code)
	require.True(t, ok)
	eventType, fn, route := membercard.PartnerUserCardCreateEvent, m.partnerEvents, "/notify/card-events"
	if o.Flavour == membercardtest.FlavourBrand {
		eventType, fn, route = membercard.BrandUserCardCreateEvent, m.brandEvents, "/notify/brand-card-events"
	}
	h, body, err := m.s.WxPay.Notifier(o.Key).Build(wxpaytest.Notification{EventType: eventType, Summary: "用户开通会员卡通知", Resource: card}, wxpaytest.Genuine)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, notify(t, fn, route, h, body))
}

// drain hands the member queue to the members function until it is empty.
func (m *memberStack) drain(t *testing.T) []awstest.Delivery {
	t.Helper()
	return m.source.Drain(t, 20, consume(t, m.members))
}

// memberEvents are the events published about one member, by type.
func (m *memberStack) memberEvents(t *testing.T, code string) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for _, ev := range m.aws.DrainEvents(t) {
		var d map[string]any
		require.NoError(t, json.Unmarshal(ev.Detail, &d))
		if d["user_card_code"] == code {
			out[ev.DetailType] = append(out[ev.DetailType], d)
		}
	}
	return out
}

// confirmRequests counts the confirmations of a card WeChat Pay received,
// taken or not.
func (m *memberStack) confirmRequests(code string) int {
	n := 0
	for _, r := range m.s.WxPay.Requests() {
		if strings.Contains(r.URI, "/user-cards/"+code+"/confirm") {
			n++
		}
	}
	return n
}

func (m *memberStack) item(t *testing.T, code string) member.Item {
	t.Helper()
	it, err := m.table.Get(context.Background(), cardID, code)
	require.NoError(t, err)
	return it
}

// A sandbox user opens a card, brand and service-provider flavours, under
// every way a delivery repeats or fails: the card is EFFECTIVE at WeChat
// Pay after one confirmation, the member EFFECTIVE in the table, and one
// Member joined is on the bus.
func TestMembersJoinThroughTheBinaries(t *testing.T) {
	t.Parallel()
	m := newMemberStack(t, wxpaytest.Options{RateLimits: true}, "")
	for _, f := range []membercardtest.Flavour{membercardtest.FlavourBrand, membercardtest.FlavourPartner} {
		for name, tc := range map[string]struct {
			notifications int                             // deliveries of the notification
			before        func(o *membercardtest.Opening) // changes the opening
			faults        []wxpaytest.Fault               // WeChat Pay's answers to the confirmation
			redeliver     bool                            // the member message delivered again after it was handled
			second        bool                            // a second notification (another id) of the same opening
			requests      int                             // confirmations WeChat Pay receives, at most
		}{
			"once":                             {notifications: 1, requests: 1},
			"notification delivered twice":     {notifications: 2, requests: 1},
			"two notifications of one opening": {notifications: 1, second: true, requests: 1},
			"member message twice":             {notifications: 1, redeliver: true, requests: 1},
			"confirmation's answer lost":       {notifications: 1, faults: []wxpaytest.Fault{{Kind: wxpaytest.DropAnswer}}, requests: 2},
			"429 then 200":                     {notifications: 1, faults: []wxpaytest.Fault{{Kind: wxpaytest.Status, Status: http.StatusTooManyRequests}}, requests: 2},
			"429 past the client's retries": {notifications: 1, requests: 4, faults: []wxpaytest.Fault{
				{Kind: wxpaytest.Status, Status: http.StatusTooManyRequests}, {Kind: wxpaytest.Status, Status: http.StatusTooManyRequests},
				{Kind: wxpaytest.Status, Status: http.StatusTooManyRequests}}},
			"older event type": {notifications: 1, requests: 1, before: func(o *membercardtest.Opening) {
				if o.Flavour == membercardtest.FlavourPartner {
					o.LegacyEventType = true
				}
			}},
		} {
			t.Run(f.String()+"/"+name, func(t *testing.T) {
				o := m.opening(f)
				if tc.before != nil {
					tc.before(&o)
				}
				code := m.open(t, o, tc.notifications)
				if tc.second {
					m.notifyAgain(t, o, code)
				}
				m.s.WxPay.Inject(tc.faults...)
				ds := m.drain(t)
				require.NotEmpty(t, ds)
				if tc.redeliver {
					_, err := awstest.SQS(m.aws.Endpoint).SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(m.queueURL), MessageBody: aws.String(ds[0].Body)})
					require.NoError(t, err)
					require.Len(t, m.drain(t), 1)
				}
				card, ok := m.s.WxPay.UserCard(code)
				require.True(t, ok)
				assert.Equal(t, membercard.UserCardEffective, card.UserCardState)
				assert.Equal(t, 1, m.s.WxPay.Confirmations(code), "one confirmation as WeChat Pay sees it")
				assert.LessOrEqual(t, m.confirmRequests(code), tc.requests, "confirmations sent")
				it := m.item(t, code)
				assert.Equal(t, member.Effective, it.State)
				assert.Equal(t, o.OpenID, it.OpenID)
				evs := m.memberEvents(t, code)
				require.Len(t, evs[member.JoinedEvent], 1, "one Member joined: %v", evs)
				assert.Equal(t, o.OpenID, evs[member.JoinedEvent][0]["openid"])
				assert.Equal(t, brandID, evs[member.JoinedEvent][0]["brand_id"])
			})
		}
	}
	// Deleting a card: Member left, once.
	o := m.opening(membercardtest.FlavourBrand)
	code := m.open(t, o, 1)
	m.drain(t)
	h, body, err := m.s.WxPay.DeleteCard(code)
	require.NoError(t, err)
	for range 2 {
		require.Equal(t, http.StatusOK, notify(t, m.brandEvents, "/notify/brand-card-events", h, body))
	}
	m.drain(t)
	evs := m.memberEvents(t, code)
	require.Len(t, evs[member.LeftEvent], 1)
	assert.Equal(t, member.Deleted, m.item(t, code).State)

	out := m.members.Proc.Output()
	assert.NotContains(t, out, code, "no card code in the members function's output")
	assert.NotContains(t, out, o.OpenID)
	assert.Contains(t, out, `"MembersJoined"`)
}

// The brand's decision function: a refusal is confirmed as
// CREATE_CARD_FAIL and published with its reason; one that fails confirms
// nothing, and its message ends in the dead-letter queue after the
// redrive count.
func TestMembersDecisionFunction(t *testing.T) {
	t.Parallel()
	t.Run("refuses", func(t *testing.T) {
		t.Parallel()
		m := newMemberStack(t, wxpaytest.Options{}, "refuse")
		code := m.open(t, m.opening(membercardtest.FlavourPartner), 1)
		m.drain(t)
		card, _ := m.s.WxPay.UserCard(code)
		assert.Equal(t, membercard.UserCardInvalid, card.UserCardState)
		assert.Equal(t, 1, m.s.WxPay.Confirmations(code))
		assert.Equal(t, member.Refused, m.item(t, code).State)
		evs := m.memberEvents(t, code)
		require.Len(t, evs[member.RefusedEvent], 1)
		assert.Equal(t, "不在会员名单", evs[member.RefusedEvent][0]["fail_reason"])
		assert.Empty(t, evs[member.JoinedEvent])
	})
	t.Run("confirms with its level", func(t *testing.T) {
		t.Parallel()
		m := newMemberStack(t, wxpaytest.Options{}, "confirm")
		code := m.open(t, m.opening(membercardtest.FlavourBrand), 1)
		m.drain(t)
		card, _ := m.s.WxPay.UserCard(code)
		assert.Equal(t, membercard.UserCardEffective, card.UserCardState)
		assert.Equal(t, "金卡", card.Level)
		evs := m.memberEvents(t, code)
		require.Len(t, evs[member.JoinedEvent], 1)
		assert.Equal(t, "金卡", evs[member.JoinedEvent][0]["level"])
	})
	for _, decide := range []string{"crash", "invalid"} {
		t.Run(decide, func(t *testing.T) {
			t.Parallel()
			m := newMemberStack(t, wxpaytest.Options{}, decide)
			code := m.open(t, m.opening(membercardtest.FlavourPartner), 1)
			ds := m.drain(t)
			require.Len(t, ds, 5, "delivered the queue's redrive count of times")
			for _, d := range ds {
				assert.True(t, d.Failed)
			}
			assert.Equal(t, 1, m.aws.QueueDepth(t, m.dlq), "dead-lettered")
			assert.Zero(t, m.s.WxPay.Confirmations(code), "nothing confirmed")
			card, _ := m.s.WxPay.UserCard(code)
			assert.Equal(t, membercard.UserCardUnactivated, card.UserCardState)
			assert.Empty(t, m.memberEvents(t, code))
			assert.Equal(t, member.Pending, m.item(t, code).State)
			if decide == "invalid" {
				assert.Contains(t, m.members.Proc.Output(), `points`, "the answer's invalid field is named in the log")
			}
		})
	}
}

// A brand's notification, encrypted with its brand API key, is accepted on
// the brand route and refused on the service provider's; and the other
// way round.
func TestBrandNotificationsOnTheirOwnRoute(t *testing.T) {
	t.Parallel()
	m := newMemberStack(t, wxpaytest.Options{}, "")
	for _, f := range []membercardtest.Flavour{membercardtest.FlavourBrand, membercardtest.FlavourPartner} {
		_, h, body, err := m.s.WxPay.OpenCard(m.opening(f))
		require.NoError(t, err)
		own, other := m.brandEvents, m.partnerEvents
		ownRoute, otherRoute := "/notify/brand-card-events", "/notify/card-events"
		if f == membercardtest.FlavourPartner {
			own, other, ownRoute, otherRoute = other, own, otherRoute, ownRoute
		}
		assert.Equal(t, http.StatusBadRequest, notify(t, other, otherRoute, h, body), "%s on %s", f, otherRoute)
		assert.Equal(t, http.StatusOK, notify(t, own, ownRoute, h, body), "%s on %s", f, ownRoute)
	}
	assert.Contains(t, m.brandEvents.Proc.Output(), `"route":"/notify/brand-card-events"`)
}

// The members function refuses to start without a secret, with a pace
// above WeChat Pay's limit, or with a decision function it cannot name;
// the brand card-events function refuses a brand secret without its
// brand API key, naming the field.
func TestMembersRefuseToStartWithoutTheirParts(t *testing.T) {
	t.Parallel()
	s := NewStack(t, wxpaytest.Options{})
	base := []string{"STATE_TABLE_NAME=t", "EVENT_BUS_NAME=b"}
	for _, tc := range []struct {
		name, fn, secretID, want string
		env                      []string
	}{
		{"members without a secret", "members", "", "WXPAY_BRAND_SECRET_ID", base},
		{"members too fast", "members", "wxcard/partner", "MEMBER_CALLS_PER_SECOND", append([]string{"MEMBER_CALLS_PER_SECOND=6"}, base...)},
		{"members with a bad decision function", "members", "wxcard/partner", "MEMBER_CONFIRM_FUNCTION", append([]string{"MEMBER_CONFIRM_FUNCTION=not a function"}, base...)},
		{"brand events without the brand API key", "cardevents", "wxcard/brand", `field \"brand_api_key\" is missing`, base},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := lambdatest.NewRuntime()
			require.NoError(t, err)
			defer rt.Close()
			p, err := lambdatest.Start(binaries[tc.fn], rt, s.Env(tc.secretID, tc.env...)...)
			require.NoError(t, err)
			defer p.Stop()
			select {
			case <-rt.InitError():
			case <-time.After(20 * time.Second):
				t.Fatalf("no init error\n%s", p.Output())
			}
			<-p.Exited()
			assert.Contains(t, p.Output(), tc.want)
		})
	}
}

// WeChat Pay refusing a confirmation for good: the member is FAILED, one
// Member join failed, and its opening waits in the dead-letter queue;
// redriven once the cause is gone, the member joins.
func TestMembersFailedAreParkedAndRedriven(t *testing.T) {
	t.Parallel()
	m := newMemberStack(t, wxpaytest.Options{}, "")
	code := m.open(t, m.opening(membercardtest.FlavourPartner), 1)
	m.s.WxPay.Inject(wxpaytest.Fault{Kind: wxpaytest.Status, Status: http.StatusBadRequest})
	ds := m.drain(t)
	require.Len(t, ds, 1)
	assert.False(t, ds[0].Failed, "done: parked, not retried")
	assert.Equal(t, member.Failed, m.item(t, code).State)
	require.Len(t, m.memberEvents(t, code)[member.FailedEvent], 1)
	require.Equal(t, 1, m.aws.QueueDepth(t, m.dlq), "parked in the dead-letter queue")

	// The redrive: the dead-letter queue's message back to the member queue.
	q := awstest.SQS(m.aws.Endpoint)
	ctx := context.Background()
	got, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(m.dlq), MaxNumberOfMessages: 1})
	require.NoError(t, err)
	require.Len(t, got.Messages, 1)
	_, err = q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(m.queueURL), MessageBody: got.Messages[0].Body})
	require.NoError(t, err)
	_, err = q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(m.dlq), ReceiptHandle: got.Messages[0].ReceiptHandle})
	require.NoError(t, err)
	m.drain(t)
	assert.Equal(t, member.Effective, m.item(t, code).State)
	card, _ := m.s.WxPay.UserCard(code)
	assert.Equal(t, membercard.UserCardEffective, card.UserCardState)
	evs := m.memberEvents(t, code)
	require.Len(t, evs[member.JoinedEvent], 1)
	assert.Empty(t, evs[member.FailedEvent], "no second failure event")
}
