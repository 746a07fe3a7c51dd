package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

// careStack is the member flow with the member API: the compiled
// memberapi under JWT, writing to the same table and member queue that
// the compiled members function consumes.
type careStack struct {
	*memberStack
	api *Function
}

func newCareStack(t *testing.T, opts wxpaytest.Options) *careStack {
	t.Helper()
	m := newMemberStack(t, opts, "")
	// Sync messages are held back member.WakeDelay: the event source
	// long-polls for them, as Lambda's poller does.
	m.source.WaitTimeSeconds = 3
	env := append(m.s.Env("wxcard/notify", stateEnv(m.aws)...), "AWS_ENDPOINT_URL_SQS="+m.aws.Endpoint, "MEMBER_QUEUE_URL="+m.queueURL,
		"TOKEN_ROUTES_AUTHORIZATION=JWT", "OPENID_CLAIM=openid")
	return &careStack{memberStack: m, api: StartFunction(t, "memberapi", env)}
}

// call invokes the member API as API Gateway would, with the caller's JWT
// claims when openid is set.
func (c *careStack) call(t *testing.T, method, routeKey, path, body, openid string, params map[string]string) (int, map[string]any) {
	t.Helper()
	ev := httpEvent(method, routeKey, path, body, params)
	if openid != "" {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"openid": openid, "sub": openid}}}
	}
	resp := c.api.HTTP(t, ev)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &got), resp.Body)
	return resp.StatusCode, got
}

func (c *careStack) activate(t *testing.T, body map[string]string, openid string) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	return c.call(t, http.MethodPost, "/members/activate", "/members/activate", string(b), openid, nil)
}

func (c *careStack) patch(t *testing.T, code, body string) (int, map[string]any) {
	t.Helper()
	return c.call(t, http.MethodPatch, "/members/{card_id}/{code}", "/members/"+cardID+"/"+code, body, "", map[string]string{"card_id": cardID, "code": code})
}

// careEvents are the member-care events of one card code, by type.
func (c *careStack) careEvents(t *testing.T, code string) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for _, ev := range c.aws.DrainEvents(t) {
		var d map[string]any
		require.NoError(t, json.Unmarshal(ev.Detail, &d))
		if d["code"] == code || d["user_card_code"] == code {
			out[ev.DetailType] = append(out[ev.DetailType], d)
		}
	}
	return out
}

// H5 and mini-program activations end with the card activated at WeChat
// Pay, one member EFFECTIVE and one Member activated; another user's token
// is 403 and changes nothing.
func TestMemberActivationThroughTheBinaries(t *testing.T) {
	t.Parallel()
	// No rate limits: activations are answered at once, not paced, and
	// this test makes them back to back.
	c := newCareStack(t, wxpaytest.Options{})
	form := json.RawMessage(`{"common_field_list":[{"name":"USER_FORM_FLAG_NAME","value":"张三"}]}`)
	for _, h5 := range []bool{true, false} {
		t.Run(map[bool]string{true: "h5", false: "mini-program"}[h5], func(t *testing.T) {
			user := fmt.Sprintf("%s-care-%d", openid, c.memberSequence.Add(1))
			card, err := c.s.WxPay.IssueOpenCard(membercardtest.OpenCardIssue{CardID: cardID, OpenID: user, UserInformation: form, Bonus: 10})
			require.NoError(t, err)
			body := map[string]string{"card_id": cardID, "code": card.Code}
			if h5 {
				body = map[string]string{"card_id": cardID, "encrypt_code": card.EncryptCode, "activate_ticket": card.ActivateTicket, "membership_number": "M-42"}
			}

			// Another user's token: refused, nothing activated or recorded.
			status, got := c.activate(t, body, openid+"-intruder")
			require.Equal(t, http.StatusForbidden, status, got)
			assert.Equal(t, "FORBIDDEN", got["code"])
			wx, _ := c.s.WxPay.OpenUserCard(card.Code)
			assert.Equal(t, membercard.OpenCardNotActivated, wx.UserCardStatus)
			assert.Zero(t, c.item(t, card.Code).Version)

			status, got = c.activate(t, body, user)
			require.Equal(t, http.StatusOK, status, got)
			assert.Equal(t, "EFFECTIVE", got["state"])
			assert.Equal(t, card.Code, got["code"])
			wx, _ = c.s.WxPay.OpenUserCard(card.Code)
			assert.Equal(t, membercard.OpenCardEffective, wx.UserCardStatus)
			it := c.item(t, card.Code)
			assert.Equal(t, member.Effective, it.State)
			assert.Equal(t, member.SourceOpen, it.Source)
			assert.Equal(t, int64(10), it.Points)
			evs := c.careEvents(t, card.Code)
			require.Len(t, evs[member.ActivatedEvent], 1, "%v", evs)
			if h5 {
				assert.Equal(t, "M-42", evs[member.ActivatedEvent][0]["membership_number"])
				assert.NotNil(t, evs[member.ActivatedEvent][0]["user_information"], "the form, as WeChat Pay gave it")
			}

			// A retry (the answer lost on the way to the page): the same
			// answer, no second event.
			status, _ = c.activate(t, body, user)
			require.Equal(t, http.StatusOK, status)
			assert.Empty(t, c.careEvents(t, card.Code)[member.ActivatedEvent])
		})
	}
	out := c.api.Proc.Output()
	assert.NotContains(t, out, `"encrypt_code"`)
	assert.NotContains(t, out, openid+"-care")
}

// A points change of +100 then -30 reaches WeChat Pay once per version,
// in order, for a brand card and a membercard-open card: the stand-in ends
// at the stored points with two Member updated, also when each sync
// message is delivered twice and when WeChat Pay's answer is lost.
func TestMemberPointsThroughTheBinaries(t *testing.T) {
	t.Parallel()
	c := newCareStack(t, wxpaytest.Options{RateLimits: true})
	q := awstest.SQS(c.aws.Endpoint)
	for _, kind := range []string{"brand", "partner", "membercard-open"} {
		for name, tc := range map[string]struct {
			twice bool
			lost  bool
		}{"once": {}, "each message twice": {twice: true}, "answer lost": {lost: true}} {
			t.Run(kind+"/"+name, func(t *testing.T) {
				var code, user string
				switch kind {
				case "membercard-open":
					user = fmt.Sprintf("%s-care-%d", openid, c.memberSequence.Add(1))
					card, err := c.s.WxPay.IssueOpenCard(membercardtest.OpenCardIssue{CardID: cardID, OpenID: user})
					require.NoError(t, err)
					status, got := c.activate(t, map[string]string{"card_id": cardID, "code": card.Code}, user)
					require.Equal(t, http.StatusOK, status, got)
					code = card.Code
				default:
					f := membercardtest.FlavourBrand
					if kind == "partner" {
						f = membercardtest.FlavourPartner
					}
					o := c.opening(f)
					user, code = o.OpenID, c.open(t, o, 1)
					c.drain(t)
				}
				c.careEvents(t, code) // the joining's

				points := func() int64 {
					if kind == "membercard-open" {
						wx, _ := c.s.WxPay.OpenUserCard(code)
						return wx.BonusValue
					}
					p, _ := c.s.WxPay.Points(code)
					return p
				}
				var versions []float64
				for _, p := range []int64{100, 70} {
					status, got := c.patch(t, code, fmt.Sprintf(`{"points":%d}`, p))
					require.Equal(t, http.StatusAccepted, status, got)
					versions = append(versions, got["version"].(float64))
					if tc.lost {
						c.s.WxPay.Inject(wxpaytest.Fault{Kind: wxpaytest.DropAnswer})
					}
					ds := c.drain(t)
					require.NotEmpty(t, ds)
					if tc.twice {
						for _, d := range ds {
							_, err := q.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(c.queueURL), MessageBody: aws.String(d.Body)})
							require.NoError(t, err)
						}
						c.drain(t)
					}
					assert.Equal(t, p, points(), "the stand-in's points")
				}
				it := c.item(t, code)
				assert.Equal(t, int64(70), it.Points)
				assert.Empty(t, it.Changes)
				if kind == "membercard-open" {
					assert.Equal(t, 2, c.s.WxPay.Updates(code), "each change applied once")
				} else {
					assert.Equal(t, 2, c.s.WxPay.PointSyncs(code), "each change applied once")
				}
				evs := c.careEvents(t, code)
				require.Len(t, evs[member.UpdatedEvent], 2, "%v", evs)
				assert.Equal(t, []any{float64(100), versions[0]}, []any{evs[member.UpdatedEvent][0]["points"], evs[member.UpdatedEvent][0]["version"]})
				assert.Equal(t, []any{float64(70), versions[1]}, []any{evs[member.UpdatedEvent][1]["points"], evs[member.UpdatedEvent][1]["version"]})
				assert.Equal(t, user, evs[member.UpdatedEvent][1]["openid"])
			})
		}
	}
}

// GET /members/me answers exactly the caller's members; PATCH of a member
// wxcard does not hold is 404 and queues nothing; a refused change keeps
// the member's values, publishes Member update failed; WeChat Pay asking
// for a brand member's points is answered from the store.
func TestMemberCareEdgesThroughTheBinaries(t *testing.T) {
	t.Parallel()
	c := newCareStack(t, wxpaytest.Options{RateLimits: true})
	o := c.opening(membercardtest.FlavourBrand)
	code := c.open(t, o, 1)
	other := c.open(t, c.opening(membercardtest.FlavourPartner), 1)
	c.drain(t)

	status, got := c.call(t, http.MethodGet, "/members/me", "/members/me", "", o.OpenID, nil)
	require.Equal(t, http.StatusOK, status, got)
	assert.Equal(t, []any{map[string]any{"card_id": cardID, "code": code, "state": "EFFECTIVE", "level": "", "points": float64(0), "balance": float64(0)}}, got["members"])
	assert.NotContains(t, fmt.Sprint(got), other)

	depth := c.aws.QueueDepth(t, c.queueURL)
	status, got = c.patch(t, "999999", `{"points":1}`)
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, "MEMBER_NOT_FOUND", got["code"])
	status, got = c.patch(t, code, `{"points":-1}`)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "PARAM_ERROR", got["code"])
	assert.Contains(t, got["message"], "points")
	assert.Equal(t, depth, c.aws.QueueDepth(t, c.queueURL), "nothing queued")

	// WeChat Pay refuses the change for good.
	status, _ = c.patch(t, code, `{"points":100,"level":"金卡"}`)
	require.Equal(t, http.StatusAccepted, status)
	c.s.WxPay.Inject(wxpaytest.Fault{Kind: wxpaytest.Status, Status: http.StatusBadRequest})
	c.drain(t)
	it := c.item(t, code)
	assert.Zero(t, it.Points, "the member keeps its last synced values")
	assert.Empty(t, it.Changes)
	evs := c.careEvents(t, code)
	require.Len(t, evs[member.UpdateFailedEvent], 1, "%v", evs)
	assert.NotEmpty(t, evs[member.UpdateFailedEvent][0]["error_code"])
	assert.Contains(t, c.members.Proc.Output(), `"MemberUpdatesFailed"`)

	// SYNC_USER_POINT, delivered twice: answered with the stored points.
	status, _ = c.patch(t, code, `{"points":42}`)
	require.Equal(t, http.StatusAccepted, status)
	c.drain(t)
	syncs := c.s.WxPay.PointSyncs(code)
	h, body, err := c.s.WxPay.SyncUserPoint(code)
	require.NoError(t, err)
	for range 2 {
		require.Equal(t, http.StatusOK, notify(t, c.brandEvents, "/notify/brand-card-events", h, body))
	}
	c.drain(t)
	p, _ := c.s.WxPay.Points(code)
	assert.Equal(t, int64(42), p)
	assert.Equal(t, syncs+1, c.s.WxPay.PointSyncs(code), "one answer, applied once")
	assert.Contains(t, c.members.Proc.Output(), `"MemberPointsSynced"`)
}

// A stack without the service provider's secret (a brand's alone): the
// member API starts without one, lists members and accepts changes, and
// activation answers 500 CONFIGURATION_ERROR without calling anyone.
func TestMemberAPIWithoutASecret(t *testing.T) {
	t.Parallel()
	m := newMemberStack(t, wxpaytest.Options{}, "")
	env := append(m.s.Env("", stateEnv(m.aws)...), "AWS_ENDPOINT_URL_SQS="+m.aws.Endpoint, "MEMBER_QUEUE_URL="+m.queueURL,
		"TOKEN_ROUTES_AUTHORIZATION=JWT")
	c := &careStack{memberStack: m, api: StartFunction(t, "memberapi", env)}
	status, got := c.call(t, http.MethodGet, "/members/me", "/members/me", "", openid, nil)
	require.Equal(t, http.StatusOK, status, got)
	before := len(c.s.WxPay.Requests())
	status, got = c.activate(t, map[string]string{"card_id": cardID, "code": "1001"}, openid)
	assert.Equal(t, http.StatusInternalServerError, status)
	assert.Equal(t, "CONFIGURATION_ERROR", got["code"])
	assert.Len(t, c.s.WxPay.Requests(), before, "nothing reached WeChat Pay")
}
