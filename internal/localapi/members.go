package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/lambdaapp"
	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/internal/memberapi"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
)

// The local runner's member-care routes: the sandbox user takes a
// membercard-open card (IssueCardPath), WeChat Pay asks for a brand or
// service-provider card's points (SyncPointsRoute), and the sandbox shows
// a card as WeChat Pay holds it (CardRoute).
const (
	IssueCardPath   = "/local/cards/issue"
	SyncPointsRoute = "/local/cards/{user_card_code}/sync-points"
	CardRoute       = "/local/cards/{user_card_code}"
	// SandboxActivateURL is the merchant's H5 activation page of the
	// sandbox card: WeChat opens it with card_id, encrypt_code, openid and
	// activate_ticket appended. Nothing serves it; its page would POST
	// /members/activate.
	SandboxActivateURL = "https://example.com/member/activate"
)

// sandboxForm is the form the sandbox user fills in when taking a
// JUMP_ACTIVATE card: WeChat Pay hands it to the activation
// (activate-informations), and Member activated carries it.
var sandboxForm = json.RawMessage(`{"common_field_list":[{"name":"USER_FORM_FLAG_NAME","value":"张三"}]}`)

// wakesKey carries a request's wakes in its context.
type wakesKey struct{}

// wakes are the sync messages one member-API request sent.
type wakes struct {
	mu     sync.Mutex
	bodies []string
}

// localWaker is the member API's Waker in the local API: it keeps the
// sync messages in the request's wakes, for memberBus.syncAfter to hand to
// the member queue's consumer once the handler returned. Keeper.Update
// wakes before it writes: a consumer run at once would find the version
// not written yet (deployed, SQS holds the message back member.WakeDelay).
type localWaker struct{}

var errNoRequest = errors.New("local member queue: no request holds the sync message")

func (localWaker) Wake(ctx context.Context, cardID, code string, version int64) error {
	w, ok := ctx.Value(wakesKey{}).(*wakes)
	if !ok {
		return errNoRequest
	}
	body := member.WakeBody(cardID, code, version)
	w.mu.Lock()
	defer w.mu.Unlock()
	// A write that conflicted wakes the same version again: one message.
	for _, b := range w.bodies {
		if b == body {
			return nil
		}
	}
	w.bodies = append(w.bodies, body)
	return nil
}

// syncAfter runs next with a wakes of its own, then hands what it sent to
// the member queue's consumer, before the answer goes out: the member's
// events print before curl returns.
func (b *memberBus) syncAfter(next HandlerFunc) HandlerFunc {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		w := &wakes{}
		resp, err := next(context.WithValue(ctx, wakesKey{}, w), ev)
		w.mu.Lock()
		bodies := w.bodies
		w.mu.Unlock()
		b.deliver(ctx, bodies)
		return resp, err
	}
}

// memberRoutes are the member API's three routes, served by one
// memberapi.Handler whose Keeper shares the member store and the printing
// bus with the member queue's consumer: merchant calls membercard-open,
// policy is the token routes' (POST /members/activate and GET /members/me
// are token routes; PATCH is an IAM route, which the local API serves
// without authorization, as the other IAM routes).
func (b *memberBus) memberRoutes(merchant cardapi.Caller, policy cardapi.Policy, logger *slog.Logger) []Route {
	h := &memberapi.Handler{Keeper: &member.Keeper{Store: b.store, Bus: b.Memory, Waker: localWaker{}, Logger: logger},
		WeChatPay: merchant, Policy: policy, Logger: logger}
	handle := b.syncAfter(h.Handle)
	return []Route{{memberapi.ActivateRoute, handle}, {memberapi.MeRoute, handle}, {memberapi.PatchRoute, handle}}
}

// issueRequest is the body of IssueCardPath.
type issueRequest struct {
	// Activation is "jump" (JUMP_ACTIVATE, the default: the user
	// activates it on the merchant's page) or "auto" (AUTO_ACTIVATE:
	// WeChat Pay activates it and notifies).
	Activation string `json:"activation"`
}

// IssuedCard is IssueCardPath's answer for a JUMP_ACTIVATE card: what
// WeChat hands the merchant's activation page, and the URL it opens.
type IssuedCard struct {
	CardID         string `json:"card_id"`
	Code           string `json:"code"`
	EncryptCode    string `json:"encrypt_code"`
	ActivateTicket string `json:"activate_ticket"`
	OpenID         string `json:"openid"`
	ActivateURL    string `json:"activate_url"`
}

// memberRoutes are the sandbox's member-care helpers.
func (u *sandboxUser) memberRoutes() []Route {
	return []Route{
		{"POST " + IssueCardPath, u.issue},
		{"POST " + SyncPointsRoute, u.syncPoints},
		{"GET " + CardRoute, u.card},
	}
}

// issue: the sandbox user takes a membercard-open card of the sandbox
// card. JUMP_ACTIVATE: the card waits for its activation, and the answer
// is what WeChat hands the merchant's page. AUTO_ACTIVATE: WeChat Pay
// activates it and posts MEMBERCARD.ACTIVATE_CARD to the service
// provider's card-events route.
func (u *sandboxUser) issue(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	var req issueRequest
	if ev.Body != "" {
		if err := membercard.Decode([]byte(ev.Body), &req); err != nil {
			return apigw.ParamError("body", err.Error()).Respond(), nil
		}
	}
	o := membercardtest.OpenCardIssue{CardID: SandboxCardID, OpenID: SandboxOpenID}
	switch req.Activation {
	case "", "jump":
		o.UserInformation = sandboxForm
		card, err := u.srv.IssueOpenCard(o)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		return jsonAnswer(IssuedCard{CardID: SandboxCardID, Code: card.Code, EncryptCode: card.EncryptCode, ActivateTicket: card.ActivateTicket,
			OpenID: card.OpenID, ActivateURL: activateURL(SandboxCardID, card)})
	case "auto":
	default:
		return apigw.ParamError("activation", "must be jump or auto").Respond(), nil
	}
	target, aerr := u.self(&ev, NotifyPath)
	if aerr != nil {
		return aerr.Respond(), nil
	}
	code, status, err := u.srv.PostAutoActivate(ctx, u.client, target, o, []byte(SandboxAPIv3Key))
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("posting the notification: %w", err)
	}
	if status != http.StatusOK {
		return notificationRefused(status), nil
	}
	return jsonAnswer(struct {
		CardID string `json:"card_id"`
		Code   string `json:"code"`
		Status int    `json:"status"`
	}{SandboxCardID, code, status})
}

// activateURL is the merchant's page as WeChat opens it for card: card_id,
// encrypt_code, openid and activate_ticket appended, each query-escaped.
func activateURL(cardID string, card membercardtest.OpenCardHandout) string {
	return SandboxActivateURL + "?card_id=" + url.QueryEscape(cardID) + "&encrypt_code=" + url.QueryEscape(card.EncryptCode) +
		"&openid=" + url.QueryEscape(card.OpenID) + "&activate_ticket=" + url.QueryEscape(card.ActivateTicket)
}

// syncPoints: WeChat Pay asks for the points of a brand or service-provider
// card opened here (*.SYNC_USER_POINT, posted to the card's card-events
// route); the answer is the route's status and the card's points at WeChat
// Pay afterwards.
func (u *sandboxUser) syncPoints(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	code := ev.PathParameters["user_card_code"]
	path, aerr := u.cardRoute(code)
	if aerr != nil {
		return aerr.Respond(), nil
	}
	if card, _ := u.srv.UserCard(code); card.UserCardState != membercard.UserCardEffective {
		return (&apigw.Error{Status: http.StatusConflict, Code: "CARD_NOT_EFFECTIVE",
			Message: "user_card_code is " + card.UserCardState + ": WeChat Pay asks only an EFFECTIVE card's points"}).Respond(), nil
	}
	target, aerr := u.self(&ev, path)
	if aerr != nil {
		return aerr.Respond(), nil
	}
	status, err := u.srv.PostSyncUserPoint(ctx, u.client, target, code)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("posting the notification: %w", err)
	}
	if status != http.StatusOK {
		return notificationRefused(status), nil
	}
	points, _ := u.srv.Points(code)
	return jsonAnswer(struct {
		UserCardCode string `json:"user_card_code"`
		Status       int    `json:"status"`
		Points       int64  `json:"points"`
	}{code, status, points})
}

// SandboxCard is CardRoute's answer: a card as the sandbox WeChat Pay
// holds it. Balance is a membercard-open card's only.
type SandboxCard struct {
	CardID  string `json:"card_id"`
	Code    string `json:"code"`
	State   string `json:"state"`
	Level   string `json:"level"`
	Points  int64  `json:"points"`
	Balance *int64 `json:"balance,omitempty"`
}

// card answers a card as WeChat Pay holds it: a membercard-open card the
// sandbox user took, or a brand or service-provider card.
func (u *sandboxUser) card(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	code := ev.PathParameters["user_card_code"]
	if oc, ok := u.srv.OpenUserCard(code); ok {
		return jsonAnswer(SandboxCard{CardID: oc.CardID, Code: oc.Code, State: oc.UserCardStatus, Level: oc.Level, Points: oc.BonusValue, Balance: &oc.Balance})
	}
	if uc, ok := u.srv.UserCard(code); ok {
		points, _ := u.srv.Points(code)
		return jsonAnswer(SandboxCard{CardID: uc.CardID, Code: uc.UserCardCode, State: uc.UserCardState, Level: uc.Level, Points: points})
	}
	e := apigw.ParamError("user_card_code", "is no card of the sandbox")
	e.Status, e.Code = http.StatusNotFound, "NOT_FOUND"
	return e.Respond(), nil
}

// jsonAnswer is a 200 of v, its URLs' & as they are.
func jsonAnswer(v any) (events.APIGatewayV2HTTPResponse, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return apigw.JSON(http.StatusOK, bytes.TrimRight(b.Bytes(), "\n")), nil
}

// MemberCurlLines have the sandbox user take a JUMP_ACTIVATE card and
// activate it as the merchant's H5 page would (card_id, encrypt_code and
// activate_ticket from its activate_url), list their members, change the
// card's points (synced to WeChat Pay through the member queue), take an
// AUTO_ACTIVATE card, and have WeChat Pay ask a brand card's points. Under
// TOKEN_ROUTES_AUTHORIZATION=JWT the token routes' lines carry $TOKEN, as
// CurlLines do.
func MemberCurlLines(base string, env lambdaapp.Env) []string {
	var bearer string
	if env.TokenRoutesAuthorization == lambdaapp.TokenAuthJWT {
		bearer = " -H " + `"Authorization: Bearer $TOKEN"`
	}
	return []string{
		fmt.Sprintf(`ISSUED=$(curl -s -X POST %s%s); echo "$ISSUED"`, base, IssueCardPath),
		fmt.Sprintf(`curl -s -X POST %s/members/activate -H 'Content-Type: application/json'%s -d "$(echo "$ISSUED" | sed -E 's/.*("card_id":"[^"]+").*("encrypt_code":"[^"]+").*("activate_ticket":"[^"]+").*/{\1,\2,\3}/')"`, base, bearer),
		fmt.Sprintf(`curl -s '%s/members/me?openid=%s'%s`, base, SandboxOpenID, bearer),
		fmt.Sprintf(`curl -s -X PATCH %s/members/%s/$(echo "$ISSUED" | sed -E 's/.*"code":"([^"]+)".*/\1/') -H 'Content-Type: application/json' -d '{"points":100}'`, base, SandboxCardID),
		fmt.Sprintf(`curl -s -X POST %s%s -H 'Content-Type: application/json' -d '{"activation":"auto"}'`, base, IssueCardPath),
		fmt.Sprintf(`MEMBER=$(curl -s -X POST %s%s | sed -E 's/.*"user_card_code":"([^"]+)".*/\1/')`, base, OpenCardPath),
		fmt.Sprintf(`curl -s -X POST %s/local/cards/$MEMBER/sync-points`, base),
	}
}
