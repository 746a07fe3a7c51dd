package memberapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/internal/memberapi"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

const (
	mchid  = "1900000001"
	cardID = "pbLatjvWOibDc5-TBnbUk1pD12o0"
	openid = "obLatjnx9gnqzS4myYGmLZ7LgLBA"
)

// wakes records the sync messages.
type wakes struct {
	mu   sync.Mutex
	got  []int64
	fail bool
}

func (w *wakes) Wake(_ context.Context, _, _ string, v int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail {
		return errors.New("SendMessage: AccessDenied arn:aws:sqs:…")
	}
	w.got = append(w.got, v)
	return nil
}

type env struct {
	srv   *membercardtest.Server
	h     *memberapi.Handler
	store *member.Memory
	bus   *eventbus.Memory
	wakes *wakes
	logs  *bytes.Buffer
}

func newEnv(t *testing.T, requireJWT bool) *env {
	t.Helper()
	srv := membercardtest.NewServer(wxpaytest.Options{})
	t.Cleanup(srv.Close)
	srv.AddCard(cardID)
	cfg := srv.Config(srv.AddMerchant(mchid))
	cfg.HTTPClient, cfg.BaseBackoff, cfg.MaxBackoff = srv.Client(), time.Millisecond, 5*time.Millisecond
	c, err := wxpay.New(cfg)
	require.NoError(t, err)
	e := &env{srv: srv, store: &member.Memory{}, bus: &eventbus.Memory{}, wakes: &wakes{}, logs: &bytes.Buffer{}}
	logger := slog.New(slog.NewJSONHandler(e.logs, nil))
	e.h = &memberapi.Handler{Keeper: &member.Keeper{Store: e.store, Bus: e.bus, Waker: e.wakes, Logger: logger}, WeChatPay: c,
		Policy: cardapi.Policy{RequireJWT: requireJWT, OpenIDClaim: "openid"}, Logger: logger}
	return e
}

func request(method, route, body string, claims map[string]string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: route, Headers: map[string]string{"content-type": "application/json"}, Body: body}
	ev.RequestContext.HTTP.Method = method
	if claims != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims}}
	}
	return ev
}

func (e *env) serve(t *testing.T, ev events.APIGatewayV2HTTPRequest) (int, map[string]any) {
	t.Helper()
	resp, err := e.h.Handle(context.Background(), ev)
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &body), resp.Body)
	return resp.StatusCode, body
}

func (e *env) activate(t *testing.T, body string, claims map[string]string) (int, map[string]any) {
	t.Helper()
	return e.serve(t, request(http.MethodPost, memberapi.ActivateRoute, body, claims))
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

var form = json.RawMessage(`{"common_field_list":[{"name":"USER_FORM_FLAG_NAME","value":"张三"}]}`)

// H5 (encrypt_code and ticket) and mini-program (code) activations: the
// card EFFECTIVE at WeChat Pay, one member, one Member activated with the
// form; a retry answers the same and publishes nothing more.
func TestActivate(t *testing.T) {
	for _, h5 := range []bool{true, false} {
		e := newEnv(t, true)
		card, err := e.srv.IssueOpenCard(membercardtest.OpenCardIssue{CardID: cardID, OpenID: openid, UserInformation: form, Bonus: 5})
		require.NoError(t, err)
		body := map[string]string{"card_id": cardID, "code": card.Code, "membership_number": "M-0001"}
		if h5 {
			body = map[string]string{"card_id": cardID, "encrypt_code": card.EncryptCode, "activate_ticket": card.ActivateTicket, "membership_number": "M-0001"}
		}
		status, got := e.activate(t, mustJSON(body), map[string]string{"openid": openid})
		require.Equal(t, http.StatusOK, status, got)
		assert.Equal(t, map[string]any{"card_id": cardID, "code": card.Code, "state": "EFFECTIVE", "membership_number": "M-0001"}, got)

		wx, ok := e.srv.OpenUserCard(card.Code)
		require.True(t, ok)
		assert.Equal(t, membercard.OpenCardEffective, wx.UserCardStatus)
		it, err := e.store.Get(context.Background(), cardID, card.Code)
		require.NoError(t, err)
		assert.Equal(t, member.Effective, it.State)
		assert.Equal(t, member.SourceOpen, it.Source)
		assert.Equal(t, int64(5), it.Points)
		evs := e.bus.Events()
		require.Len(t, evs, 1)
		assert.Equal(t, member.ActivatedEvent, evs[0].DetailType)
		if h5 {
			assert.Contains(t, string(evs[0].Detail), "张三", "the form, as WeChat Pay gave it")
		}

		// The answer lost, the page retries: the card is EFFECTIVE already,
		// the member recorded: no form read again.
		forms := func() int {
			n := 0
			for _, r := range e.srv.Requests() {
				if strings.Contains(r.URI, "/activate-informations/") {
					n++
				}
			}
			return n
		}
		read := forms()
		status, got = e.activate(t, mustJSON(body), map[string]string{"openid": openid})
		assert.Equal(t, read, forms())
		require.Equal(t, http.StatusOK, status, got)
		assert.Equal(t, "M-0001", got["membership_number"])
		assert.Len(t, e.bus.Events(), 1)
		assert.NotContains(t, e.logs.String(), card.Code, "no card code in the log")
		assert.NotContains(t, e.logs.String(), card.EncryptCode)
	}
}

// Another user's card: 403, nothing activated, nothing recorded. A code
// that does not decrypt for this card, a spent ticket: WeChat Pay's 400.
func TestActivateRefused(t *testing.T) {
	e := newEnv(t, true)
	card, err := e.srv.IssueOpenCard(membercardtest.OpenCardIssue{CardID: cardID, OpenID: openid})
	require.NoError(t, err)
	e.srv.AddCard("pbLatjvWOibDc5-OtherCard000")

	status, got := e.activate(t, mustJSON(map[string]string{"card_id": cardID, "encrypt_code": card.EncryptCode, "activate_ticket": card.ActivateTicket}),
		map[string]string{"openid": "o-someone-else"})
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, "FORBIDDEN", got["code"])
	wx, _ := e.srv.OpenUserCard(card.Code)
	assert.Equal(t, membercard.OpenCardNotActivated, wx.UserCardStatus)
	assert.Empty(t, e.store.Items())
	assert.Empty(t, e.bus.Events())

	status, got = e.activate(t, mustJSON(map[string]string{"card_id": "pbLatjvWOibDc5-OtherCard000", "encrypt_code": card.EncryptCode}),
		map[string]string{"openid": openid})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "INVALID_REQUEST", got["code"])

	status, _ = e.activate(t, mustJSON(map[string]string{"card_id": cardID, "code": card.Code, "activate_ticket": card.ActivateTicket}), map[string]string{"openid": openid})
	require.Equal(t, http.StatusOK, status)
	other, err := e.srv.IssueOpenCard(membercardtest.OpenCardIssue{CardID: cardID, OpenID: openid})
	require.NoError(t, err)
	status, got = e.activate(t, mustJSON(map[string]string{"card_id": cardID, "code": other.Code, "activate_ticket": card.ActivateTicket}), map[string]string{"openid": openid})
	assert.Equal(t, http.StatusBadRequest, status, "a spent ticket")
	assert.Equal(t, "INVALID_REQUEST", got["code"])
	wx, _ = e.srv.OpenUserCard(other.Code)
	assert.Equal(t, membercard.OpenCardNotActivated, wx.UserCardStatus)
	assert.Len(t, e.bus.Events(), 1)
}

// Malformed input never reaches WeChat Pay: 400 PARAM_ERROR naming the
// field; no token under JWT is 403.
func TestActivateBadInput(t *testing.T) {
	e := newEnv(t, true)
	claims := map[string]string{"openid": openid}
	for _, tc := range []struct {
		body, field string
	}{
		{`{}`, "card_id"},
		{`{"card_id":"` + cardID + `"}`, "encrypt_code"},
		{`{"card_id":"` + cardID + `","code":"1","encrypt_code":"x"}`, "code"},
		{`{"card_id":"` + cardID + `","code":"a b"}`, "code"},
		{`{"card_id":"` + cardID + `","encrypt_code":"` + strings.Repeat("A", 129) + `"}`, "encrypt_code"},
		{`{"card_id":"` + cardID + `","code":"1","activate_ticket":"` + strings.Repeat("t", 257) + `"}`, "activate_ticket"},
		{`{"card_id":"` + cardID + `","code":"1","membership_number":"` + strings.Repeat("9", 33) + `"}`, "membership_number"},
		{`{"card_id":"` + cardID + `","code":"1","openid":"x"}`, "openid"},
		{`{"card_id":"bad card"}`, "card_id"},
	} {
		status, got := e.activate(t, tc.body, claims)
		assert.Equal(t, http.StatusBadRequest, status, tc.body)
		assert.Equal(t, "PARAM_ERROR", got["code"], tc.body)
		assert.Contains(t, got["message"], tc.field, tc.body)
	}
	status, got := e.activate(t, `{"card_id":"`+cardID+`","code":"1"}`, nil)
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, "FORBIDDEN", got["code"])
	assert.Empty(t, e.srv.Requests(), "nothing reached WeChat Pay")
}

// PATCH: 202 with the version, one sync message; the refusals.
func TestPatch(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	keeper := e.h.Keeper
	_, err := keeper.Activated(ctx, member.Activation{CardID: cardID, Code: "1001", OpenID: openid})
	require.NoError(t, err)
	patch := func(code, body string) (int, map[string]any) {
		ev := request(http.MethodPatch, memberapi.PatchRoute, body, nil)
		ev.PathParameters = map[string]string{"card_id": cardID, "code": code}
		return e.serve(t, ev)
	}
	status, got := patch("1001", `{"points":100,"balance":2500,"level":"金卡"}`)
	require.Equal(t, http.StatusAccepted, status, got)
	it, _ := e.store.Get(ctx, cardID, "1001")
	assert.Equal(t, map[string]any{"card_id": cardID, "code": "1001", "version": float64(it.Version)}, got)
	assert.Equal(t, []int64{it.Version}, e.wakes.got)

	for _, tc := range []struct {
		code, body string
		status     int
		errCode    string
		field      string
	}{
		{"1001", `{}`, 400, "PARAM_ERROR", "body"},
		{"1001", `{"points":-1}`, 400, "PARAM_ERROR", "points"},
		{"1001", `{"points":2147483648}`, 400, "PARAM_ERROR", "points"},
		{"1001", `{"points":1.5}`, 400, "PARAM_ERROR", "points"},
		{"1001", `{"points":"1"}`, 400, "PARAM_ERROR", "points"},
		{"1001", `{"balance":-5}`, 400, "PARAM_ERROR", "balance"},
		{"1001", `{"level":""}`, 400, "PARAM_ERROR", "level"},
		{"1001", `{"level":"至尊钻石黑金卡"}`, 400, "PARAM_ERROR", "level"},
		{"1001", `{"attach":"x"}`, 400, "PARAM_ERROR", "attach"},
		{"1001", `{"points":null}`, 400, "PARAM_ERROR", "points"},
		{"1001", `{"bonus":1}`, 400, "PARAM_ERROR", "bonus"},
		{"9999", `{"points":1}`, 404, "MEMBER_NOT_FOUND", ""},
		{"a b", `{"points":1}`, 400, "PARAM_ERROR", "code"},
	} {
		status, got := patch(tc.code, tc.body)
		assert.Equal(t, tc.status, status, tc.body)
		assert.Equal(t, tc.errCode, got["code"], tc.body)
		assert.Contains(t, got["message"], tc.field, tc.body)
	}
	assert.Len(t, e.wakes.got, 1, "no refused change was queued")

	e.wakes.fail = true
	status, got = patch("1001", `{"points":5}`)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "QUEUE_UNAVAILABLE", got["code"])
	assert.NotContains(t, got["message"], "arn:")
	it2, _ := e.store.Get(ctx, cardID, "1001")
	assert.Equal(t, it.Version, it2.Version, "nothing changed")
}

// GET /members/me: exactly the caller's members, deleted ones left out.
func TestMe(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	for _, a := range []member.Activation{
		{CardID: cardID, Code: "1001", OpenID: openid, Level: "银卡", Points: 7, Balance: 100},
		{CardID: cardID, Code: "1002", OpenID: "o-someone-else"},
	} {
		_, err := e.h.Keeper.Activated(ctx, a)
		require.NoError(t, err)
	}
	// A card the user deleted is no member of theirs any more.
	require.NoError(t, e.store.Put(ctx, member.Item{CardID: cardID, UserCardCode: "1003", OpenID: openid, State: member.Deleted, Version: 1}, 0))
	status, got := e.serve(t, request(http.MethodGet, memberapi.MeRoute, "", map[string]string{"openid": openid}))
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"members": []any{map[string]any{"card_id": cardID, "code": "1001", "state": "EFFECTIVE", "level": "银卡",
		"points": float64(7), "balance": float64(100)}}}, got)

	ev := request(http.MethodGet, memberapi.MeRoute, "", map[string]string{"openid": openid})
	ev.QueryStringParameters = map[string]string{"openid": "o-someone-else"}
	status, _ = e.serve(t, ev)
	assert.Equal(t, http.StatusForbidden, status, "not another user's, whatever the query says")

	status, got = e.serve(t, request(http.MethodGet, memberapi.MeRoute, "", map[string]string{"openid": "o-nobody"}))
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"members": []any{}}, got)

	// Without JWT (IAM or NONE deployments) the query names the user.
	f := newEnv(t, false)
	status, got = f.serve(t, request(http.MethodGet, memberapi.MeRoute, "", nil))
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, got["message"], "openid")
}

// FuzzHandle: whatever the body and path, the member API answers JSON,
// never panics, and refuses before WeChat Pay (absent here) or the store
// sees anything malformed.
func FuzzHandle(f *testing.F) {
	f.Add(uint8(0), `{"card_id":"`+cardID+`","code":"1001"}`, "1001")
	f.Add(uint8(0), `{"card_id":"`+cardID+`","encrypt_code":"a+b/c=","activate_ticket":"t"}`, "")
	f.Add(uint8(1), ``, "")
	f.Add(uint8(2), `{"points":100,"level":"金卡"}`, "1001")
	f.Add(uint8(2), `{"balance":1,"attach":"x","points":null}`, "a b")
	f.Fuzz(func(t *testing.T, route uint8, body, code string) {
		store := &member.Memory{}
		_, err := (&member.Keeper{Store: store, Bus: &eventbus.Memory{}}).Activated(context.Background(), member.Activation{CardID: cardID, Code: "1001", OpenID: openid})
		require.NoError(t, err)
		h := &memberapi.Handler{Keeper: &member.Keeper{Store: store, Bus: &eventbus.Memory{}, Waker: &wakes{}}, Policy: cardapi.Policy{RequireJWT: true, OpenIDClaim: "openid"},
			Logger: slog.New(slog.DiscardHandler)}
		keys := []string{memberapi.ActivateRoute, memberapi.MeRoute, memberapi.PatchRoute}
		key := keys[int(route)%len(keys)]
		method, _, _ := strings.Cut(key, " ")
		ev := request(method, key, body, map[string]string{"openid": openid})
		ev.PathParameters = map[string]string{"card_id": cardID, "code": code}
		resp, err := h.Handle(context.Background(), ev)
		require.NoError(t, err)
		var got map[string]any
		require.NoError(t, json.Unmarshal([]byte(resp.Body), &got), resp.Body)
		switch {
		case resp.StatusCode == http.StatusOK, resp.StatusCode == http.StatusAccepted:
			require.NotEqual(t, memberapi.ActivateRoute, key, "no activation without WeChat Pay")
		case resp.StatusCode >= 400:
			require.NotEmpty(t, got["code"])
			if resp.StatusCode >= 500 {
				require.Equal(t, "CONFIGURATION_ERROR", got["code"], "only activation without WeChat Pay is a 5xx here")
			}
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

// One log line per request: the route, status and what names the member
// without revealing it; refusals at WARN-free INFO, 5xx at ERROR.
func TestLogLines(t *testing.T) {
	e := newEnv(t, false)
	card, err := e.srv.IssueOpenCard(membercardtest.OpenCardIssue{CardID: cardID, OpenID: openid})
	require.NoError(t, err)
	// Without JWT the card's own openid is the member's.
	status, got := e.activate(t, mustJSON(map[string]string{"card_id": cardID, "code": card.Code}), nil)
	require.Equal(t, http.StatusOK, status, got)
	it, err := e.store.Get(context.Background(), cardID, card.Code)
	require.NoError(t, err)
	assert.Equal(t, openid, it.OpenID)

	patch := func(body string) (int, map[string]any) {
		ev := request(http.MethodPatch, memberapi.PatchRoute, body, nil)
		ev.PathParameters = map[string]string{"card_id": cardID, "code": card.Code}
		return e.serve(t, ev)
	}
	for _, body := range []string{`{"points":0}`, `{"points":2147483647}`, `{"balance":0}`, `{"balance":2147483647}`} {
		status, got := patch(body)
		assert.Equal(t, http.StatusAccepted, status, "%s: %v", body, got)
	}
	status, got = patch(`{"level":"金卡","points":-1}`)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, got["message"], "points")
	e.wakes.fail = true
	status, _ = patch(`{"points":1}`)
	require.Equal(t, http.StatusServiceUnavailable, status)

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		if m["route"] != nil {
			lines = append(lines, m)
		}
	}
	require.NotEmpty(t, lines)
	first := lines[0]
	assert.Equal(t, "request served", first["msg"])
	assert.Equal(t, cardapi.HashOpenID(openid), first["openid_hash"])
	assert.Equal(t, cardID, first["card_id"])
	assert.Equal(t, member.Ref(cardID, card.Code), first["member"])
	assert.Equal(t, "INFO", first["level"])
	assert.NotNil(t, lines[1]["version"], "a change's line names its version")
	assert.Nil(t, first["version"])
	last := lines[len(lines)-1]
	assert.Equal(t, "ERROR", last["level"], "a 5xx is an error")
	assert.Equal(t, "QUEUE_UNAVAILABLE", last["code"])
	refused := lines[len(lines)-2]
	assert.Equal(t, "INFO", refused["level"], "a 4xx is the caller's")
	assert.Equal(t, "PARAM_ERROR", refused["code"])
	assert.NotContains(t, e.logs.String(), card.Code)
	assert.NotContains(t, e.logs.String(), `"`+openid+`"`)
}

// failingBus fails its next publications.
type failingBus struct {
	eventbus.Memory
	fail int
}

func (b *failingBus) Publish(ctx context.Context, evs ...eventbus.Event) error {
	if b.fail > 0 {
		b.fail--
		return errors.New("PutEvents: ServiceUnavailable")
	}
	return b.Memory.Publish(ctx, evs...)
}

// The card activated at WeChat Pay, its event not published (the bus
// down): 503, and the page's retry publishes Member activated once, with
// the form, though the ticket is spent by then.
func TestActivateRetriedAfterTheBusFailed(t *testing.T) {
	e := newEnv(t, true)
	bus := &failingBus{fail: 1}
	e.h.Keeper.Bus = bus
	card, err := e.srv.IssueOpenCard(membercardtest.OpenCardIssue{CardID: cardID, OpenID: openid, UserInformation: form})
	require.NoError(t, err)
	body := mustJSON(map[string]string{"card_id": cardID, "encrypt_code": card.EncryptCode, "activate_ticket": card.ActivateTicket})
	status, got := e.activate(t, body, map[string]string{"openid": openid})
	require.Equal(t, http.StatusServiceUnavailable, status, got)
	assert.Equal(t, "STATE_UNAVAILABLE", got["code"])
	assert.NotContains(t, got["message"], "ServiceUnavailable", "the cause is logged, not answered")

	status, got = e.activate(t, body, map[string]string{"openid": openid})
	require.Equal(t, http.StatusOK, status, got)
	evs := bus.Events()
	require.Len(t, evs, 1)
	assert.Contains(t, string(evs[0].Detail), "张三")
	status, _ = e.activate(t, body, map[string]string{"openid": openid})
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, bus.Events(), 1)
	it, err := e.store.Get(context.Background(), cardID, card.Code)
	require.NoError(t, err)
	assert.Empty(t, it.Pending, "the form is not kept once published")
}

// A 500 is logged at ERROR: activation in a stack without the secret.
func TestConfigurationErrorLogged(t *testing.T) {
	e := newEnv(t, true)
	e.h.WeChatPay = nil
	status, got := e.activate(t, `{"card_id":"`+cardID+`","code":"1001"}`, map[string]string{"openid": openid})
	require.Equal(t, http.StatusInternalServerError, status)
	assert.Equal(t, "CONFIGURATION_ERROR", got["code"])
	assert.Contains(t, e.logs.String(), `"level":"ERROR"`)
}
