// Package memberapi serves the member routes of functions/memberapi
// (docs/card-events-and-members.md, "Member care"):
//
//	POST  /members/activate          activate a membercard-open card (JUMP_ACTIVATE)
//	GET   /members/me                the caller's members
//	PATCH /members/{card_id}/{code}  change a member's level, points, balance, attach
//
// Activation calls WeChat Pay at once; a change is accepted into the
// member item and reaches WeChat Pay through the member queue and
// functions/members, which syncs each version once, in order.
package memberapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
)

// The routes, as API Gateway names them (RouteKey).
const (
	ActivateRoute = "POST /members/activate"
	MeRoute       = "GET /members/me"
	PatchRoute    = "PATCH /members/{card_id}/{code}"
)

// Handler serves the three routes. It is built once at cold start.
type Handler struct {
	// Keeper records activations and accepts changes: its Store, Bus and
	// Waker are used, never its Decider.
	Keeper *member.Keeper
	// WeChatPay calls membercard-open as the merchant (WXPAY_SECRET_ID);
	// nil: activation answers 500 CONFIGURATION_ERROR.
	WeChatPay cardapi.Caller
	Policy    cardapi.Policy
	Logger    *slog.Logger
	Metrics   *metrics.Emitter // nil: no metrics
}

// result is what one request logs beside its route and status.
type result struct {
	openid, cardID, member string
	version                int64
}

// Handle serves one event, by its route key.
func (h *Handler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	start := time.Now()
	route := ev.RouteKey
	if route == "" {
		route = ev.RequestContext.RouteKey
	}
	m := h.Metrics.New(metricRoute(route))
	m.Count("Requests", 1)
	defer h.Metrics.Flush(m)
	var res result
	var status int
	var body []byte
	var aerr *apigw.Error
	switch route {
	case ActivateRoute:
		status, body, aerr = h.activate(ctx, &ev, &res)
	case MeRoute:
		status, body, aerr = h.me(ctx, &ev, &res)
	case PatchRoute:
		status, body, aerr = h.patch(ctx, &ev, &res)
	default:
		aerr = &apigw.Error{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "route is not a member route"}
	}
	code := "OK"
	if aerr != nil {
		code, status = aerr.Code, aerr.Status
	}
	m.Count("Outcome", 1)
	m.SetDimension("outcome", code)
	attrs := []slog.Attr{slog.String("route", route), slog.Int("status", status),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000)}
	if res.openid != "" {
		attrs = append(attrs, slog.String("openid_hash", cardapi.HashOpenID(res.openid)))
	}
	if res.cardID != "" {
		attrs = append(attrs, slog.String("card_id", res.cardID))
	}
	if res.member != "" {
		attrs = append(attrs, slog.String("member", res.member))
	}
	if res.version != 0 {
		attrs = append(attrs, slog.Int64("version", res.version))
	}
	if aerr != nil {
		return cardapi.Refuse(ctx, h.Logger, aerr, attrs...), nil
	}
	h.Logger.LogAttrs(ctx, slog.LevelInfo, "request served", attrs...)
	return apigw.JSON(status, body), nil
}

// metricRoute is the route's metric dimension: its path, as the other
// functions' (the token routes') are.
func metricRoute(routeKey string) string {
	switch routeKey {
	case ActivateRoute:
		return "/members/activate"
	case MeRoute:
		return "/members/me"
	case PatchRoute:
		return "/members/{card_id}/{code}"
	}
	return "unknown"
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // strings and numbers only
	}
	return b
}

// stateUnavailable is a store or bus that failed: nothing the caller did.
// The cause is logged, never answered (it may name AWS resources).
func stateUnavailable(what string) *apigw.Error {
	return &apigw.Error{Status: http.StatusServiceUnavailable, Code: "STATE_UNAVAILABLE", Message: what + " failed; retry later"}
}

// ActivateRequest is the body of POST /members/activate.
type ActivateRequest struct {
	CardID string `json:"card_id"`
	// EncryptCode (an H5 activate_url's query) or Code (a mini-program's
	// extraData): exactly one.
	EncryptCode      string `json:"encrypt_code,omitempty"`
	Code             string `json:"code,omitempty"`
	ActivateTicket   string `json:"activate_ticket,omitempty"`
	MembershipNumber string `json:"membership_number,omitempty"`
}

// Validate applies WeChat Pay's field rules.
func (r *ActivateRequest) Validate() error {
	if err := membercard.CheckID("card_id", r.CardID, 32); err != nil {
		return err
	}
	switch {
	case r.EncryptCode == "" && r.Code == "":
		return &membercard.FieldError{Field: "encrypt_code", Reason: "or code is required"}
	case r.EncryptCode != "" && r.Code != "":
		return &membercard.FieldError{Field: "code", Reason: "must not be given with encrypt_code: give one"}
	case r.EncryptCode != "":
		if err := membercard.CheckEncryptCode("encrypt_code", r.EncryptCode); err != nil {
			return err
		}
	default:
		if err := membercard.CheckUserCardCode("code", r.Code); err != nil {
			return err
		}
	}
	if r.ActivateTicket != "" {
		if err := membercard.CheckActivateTicket("activate_ticket", r.ActivateTicket); err != nil {
			return err
		}
	}
	if r.MembershipNumber != "" {
		return membercard.CheckMembershipNumber("membership_number", r.MembershipNumber)
	}
	return nil
}

// ActivateAnswer is the 200 of POST /members/activate.
type ActivateAnswer struct {
	CardID           string `json:"card_id"`
	Code             string `json:"code"`
	State            string `json:"state"`
	MembershipNumber string `json:"membership_number"`
}

// call calls WeChat Pay inside the invocation's deadline and decodes a
// 200's body into out (nil: no body expected).
func (h *Handler) call(ctx context.Context, req wxpay.Request, out any) *apigw.Error {
	uctx, cancel := cardapi.UpstreamContext(ctx)
	defer cancel()
	resp, err := h.WeChatPay.Do(uctx, req)
	if err != nil {
		return cardapi.FromUpstream(err)
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return &apigw.Error{Status: http.StatusBadGateway, Code: "UPSTREAM_INVALID_ANSWER", Message: "WeChat Pay's answer of " + req.Route + " is not what it documents", RequestID: resp.RequestID}
		}
	}
	return nil
}

// activate: decrypt the code, check the card is the caller's, read the
// form, activate, record the member and publish Member activated.
func (h *Handler) activate(ctx context.Context, ev *events.APIGatewayV2HTTPRequest, res *result) (int, []byte, *apigw.Error) {
	if aerr := apigw.Method(ev, http.MethodPost); aerr != nil {
		return 0, nil, aerr
	}
	body, aerr := apigw.Body(ev)
	if aerr != nil {
		return 0, nil, aerr
	}
	var req ActivateRequest
	if err := membercard.Decode(body, &req); err != nil {
		return 0, nil, cardapi.FromFieldError(err)
	}
	if err := req.Validate(); err != nil {
		return 0, nil, cardapi.FromFieldError(err)
	}
	res.cardID = req.CardID
	if aerr := h.Policy.CheckCard(req.CardID); aerr != nil {
		return 0, nil, aerr
	}
	var openid string
	if aerr := h.Policy.BindOpenID(ev, &openid); aerr != nil {
		return 0, nil, aerr
	}
	res.openid = openid
	if h.WeChatPay == nil {
		return 0, nil, &apigw.Error{Status: http.StatusInternalServerError, Code: "CONFIGURATION_ERROR",
			Message: "activation calls membercard-open as the merchant: the function has no WXPAY_SECRET_ID"}
	}
	code := req.Code
	if req.EncryptCode != "" {
		var dec membercard.DecryptedCode
		if aerr := h.call(ctx, wxpay.Request{Method: http.MethodGet, Path: membercard.DecryptCodePath(req.CardID, req.EncryptCode), Route: membercard.DecryptCodeRoute}, &dec); aerr != nil {
			return 0, nil, aerr
		}
		if membercard.CheckUserCardCode("code", dec.Code) != nil {
			return 0, nil, &apigw.Error{Status: http.StatusBadGateway, Code: "UPSTREAM_INVALID_ANSWER", Message: "WeChat Pay's decrypted code is not a card code"}
		}
		code = dec.Code
	}
	res.member = member.Ref(req.CardID, code)
	var card membercard.OpenUserCard
	if aerr := h.call(ctx, wxpay.Request{Method: http.MethodGet, Path: membercard.OpenUserCardPath(req.CardID, code), Route: membercard.OpenUserCardRoute}, &card); aerr != nil {
		return 0, nil, aerr
	}
	// Under JWT the card must be the caller's: another user's card is
	// never activated, whatever code or encrypt_code was sent.
	if h.Policy.RequireJWT && card.OpenID != openid {
		return 0, nil, apigw.Forbidden("card_id", "names a card that is not the caller's")
	}
	if openid == "" {
		openid = card.OpenID
	}
	if membercard.CheckID("openid", openid, 128) != nil {
		return 0, nil, &apigw.Error{Status: http.StatusBadGateway, Code: "UPSTREAM_INVALID_ANSWER", Message: "WeChat Pay's card names no openid"}
	}
	res.openid = openid
	number := req.MembershipNumber
	var form json.RawMessage
	switch card.UserCardStatus {
	case membercard.OpenCardEffective:
		// Activated already: a retry after an answer or a record that was
		// lost. The member is recorded (once), with the form if the ticket
		// still reads (WeChat Pay does not say how long it does).
		number = card.MembershipNumber
		it, err := h.Keeper.Store.Get(ctx, req.CardID, code)
		if err != nil {
			h.Logger.ErrorContext(ctx, "member not read", "card_id", req.CardID, "member", res.member, "error", err.Error())
			return 0, nil, stateUnavailable("reading the member")
		}
		if it.State == member.Effective && len(it.Pending) == 0 {
			break // recorded and published: the same answer
		}
		var aerr *apigw.Error
		form, aerr = h.form(ctx, req.ActivateTicket)
		if aerr != nil && (aerr.Status >= 500 || aerr.Status == http.StatusTooManyRequests) {
			return 0, nil, aerr // a retry may still read it
		}
		// A ticket WeChat Pay no longer reads (spent by the activation, or
		// expired): recorded without the form.
	case membercard.OpenCardNotActivated:
		var aerr *apigw.Error
		if form, aerr = h.form(ctx, req.ActivateTicket); aerr != nil {
			return 0, nil, aerr
		}
		if aerr := h.call(ctx, wxpay.Request{Method: http.MethodPost, Path: membercard.ActivatePath(req.CardID, code), Route: membercard.ActivateRoute,
			Body: marshal(membercard.ActivateRequest{MembershipNumber: req.MembershipNumber})}, nil); aerr != nil {
			return 0, nil, aerr
		}
		if number == "" {
			number = code // WeChat Pay's default
		}
	default:
		return 0, nil, &apigw.Error{Status: http.StatusConflict, Code: "CARD_NOT_ACTIVATABLE",
			Message: fmt.Sprintf("card_id the card is %.20s at WeChat Pay, not NOT_ACTIVATE", card.UserCardStatus)}
	}
	_, err := h.Keeper.Activated(ctx, member.Activation{CardID: req.CardID, Code: code, OpenID: openid, MembershipNumber: number,
		Level: card.Level, Points: card.BonusValue, Balance: card.Balance, UserInformation: form})
	if err != nil {
		h.Logger.ErrorContext(ctx, "activated card not recorded: a retry records it", "card_id", req.CardID, "member", res.member, "error", err.Error())
		return 0, nil, stateUnavailable("the card is activated at WeChat Pay; recording the member")
	}
	return http.StatusOK, marshal(ActivateAnswer{CardID: req.CardID, Code: code, State: string(member.Effective), MembershipNumber: number}), nil
}

// form reads the form the user filled in, with the activation's ticket
// (none without one).
func (h *Handler) form(ctx context.Context, ticket string) (json.RawMessage, *apigw.Error) {
	if ticket == "" {
		return nil, nil
	}
	var info membercard.ActivateInformation
	if aerr := h.call(ctx, wxpay.Request{Method: http.MethodGet, Path: membercard.ActivateInformationPath(ticket), Route: membercard.ActivateInformationRoute}, &info); aerr != nil {
		return nil, aerr
	}
	return info.UserInformation, nil
}

// Member is one of GET /members/me's members.
type Member struct {
	CardID  string `json:"card_id"`
	Code    string `json:"code"`
	State   string `json:"state"`
	Level   string `json:"level"`
	Points  int64  `json:"points"`
	Balance int64  `json:"balance"`
}

// me lists the caller's members: the token's openid under JWT, else the
// query's openid.
func (h *Handler) me(ctx context.Context, ev *events.APIGatewayV2HTTPRequest, res *result) (int, []byte, *apigw.Error) {
	if aerr := apigw.Method(ev, http.MethodGet); aerr != nil {
		return 0, nil, aerr
	}
	openid := ev.QueryStringParameters["openid"]
	if aerr := h.Policy.BindOpenID(ev, &openid); aerr != nil {
		return 0, nil, aerr
	}
	if err := membercard.CheckID("openid", openid, 128); err != nil {
		return 0, nil, cardapi.FromFieldError(err)
	}
	res.openid = openid
	items, err := h.Keeper.Store.ByOpenID(ctx, openid)
	if err != nil {
		h.Logger.ErrorContext(ctx, "members not read", "error", err.Error())
		return 0, nil, stateUnavailable("reading the members")
	}
	out := struct {
		Members []Member `json:"members"`
	}{Members: []Member{}}
	for _, it := range items {
		out.Members = append(out.Members, Member{CardID: it.CardID, Code: it.UserCardCode, State: string(it.State), Level: it.Level, Points: it.Points, Balance: it.Balance})
	}
	return http.StatusOK, marshal(out), nil
}

// PatchRequest is the body of PATCH /members/{card_id}/{code}: at least
// one field; points and balance are the new values.
type PatchRequest struct {
	Level   *string `json:"level,omitempty"`
	Points  *int64  `json:"points,omitempty"`
	Balance *int64  `json:"balance,omitempty"`
	Attach  *string `json:"attach,omitempty"`
}

// Validate applies WeChat Pay's field rules that do not depend on the card
// (the member's kind of card decides the rest: member.Keeper.Update).
func (r *PatchRequest) Validate() error {
	if r.Level == nil && r.Points == nil && r.Balance == nil && r.Attach == nil {
		return &membercard.FieldError{Field: "body", Reason: "must change at least one of level, points, balance, attach"}
	}
	if r.Level != nil {
		if err := membercard.CheckLevel("level", *r.Level, membercard.BrandLevelMax); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		v    *int64
	}{{"points", r.Points}, {"balance", r.Balance}} {
		if f.v != nil && (*f.v < 0 || *f.v > membercard.MaxPoints) {
			return &membercard.FieldError{Field: f.name, Reason: fmt.Sprintf("must be a whole number from 0 to %d", membercard.MaxPoints)}
		}
	}
	if r.Attach != nil {
		return membercard.CheckLevel("attach", *r.Attach, membercard.MaxAttach)
	}
	return nil
}

// PatchAnswer is the 202 of PATCH /members/{card_id}/{code}.
type PatchAnswer struct {
	CardID  string `json:"card_id"`
	Code    string `json:"code"`
	Version int64  `json:"version"`
}

// patch accepts a change; functions/members syncs it.
func (h *Handler) patch(ctx context.Context, ev *events.APIGatewayV2HTTPRequest, res *result) (int, []byte, *apigw.Error) {
	if aerr := apigw.Method(ev, http.MethodPatch); aerr != nil {
		return 0, nil, aerr
	}
	cardID := ev.PathParameters["card_id"]
	if err := membercard.CheckID("card_id", cardID, 32); err != nil {
		return 0, nil, cardapi.FromFieldError(err)
	}
	code := ev.PathParameters["code"]
	if err := membercard.CheckUserCardCode("code", code); err != nil {
		return 0, nil, cardapi.FromFieldError(err)
	}
	res.cardID, res.member = cardID, member.Ref(cardID, code)
	if aerr := h.Policy.CheckCard(cardID); aerr != nil {
		return 0, nil, aerr
	}
	body, aerr := apigw.Body(ev)
	if aerr != nil {
		return 0, nil, aerr
	}
	var req PatchRequest
	if err := membercard.Decode(body, &req); err != nil {
		return 0, nil, cardapi.FromFieldError(err)
	}
	if err := req.Validate(); err != nil {
		return 0, nil, cardapi.FromFieldError(err)
	}
	version, err := h.Keeper.Update(ctx, cardID, code, member.Patch{Level: req.Level, Points: req.Points, Balance: req.Balance, Attach: req.Attach})
	var fe *membercard.FieldError
	switch {
	case err == nil:
	case errors.As(err, &fe):
		return 0, nil, cardapi.FromFieldError(err)
	case errors.Is(err, member.ErrNotMember):
		return 0, nil, &apigw.Error{Status: http.StatusNotFound, Code: "MEMBER_NOT_FOUND", Message: "card_id and code name no member wxcard holds"}
	case errors.Is(err, member.ErrNotEffective):
		return 0, nil, &apigw.Error{Status: http.StatusConflict, Code: "MEMBER_NOT_EFFECTIVE", Message: "code names a member that is not EFFECTIVE: not confirmed or activated yet, refused or failed"}
	case errors.Is(err, member.ErrBalanceNotAllowed):
		return 0, nil, apigw.ParamError("balance", "is for membercard-open cards only: this member's card has none")
	case errors.Is(err, member.ErrTooManyChanges):
		return 0, nil, &apigw.Error{Status: http.StatusTooManyRequests, Code: "TOO_MANY_CHANGES", Message: fmt.Sprintf("%d changes of this member wait for WeChat Pay; retry when they are synced", member.MaxChanges), RetryAfter: 60}
	case errors.Is(err, member.ErrWakeFailed):
		h.Logger.ErrorContext(ctx, "member change not queued: nothing changed", "error", err.Error())
		return 0, nil, &apigw.Error{Status: http.StatusServiceUnavailable, Code: "QUEUE_UNAVAILABLE", Message: "the change could not be queued; nothing was changed: retry"}
	default:
		h.Logger.ErrorContext(ctx, "member change not accepted", "error", err.Error())
		return 0, nil, stateUnavailable("accepting the change")
	}
	res.version = version
	return http.StatusAccepted, marshal(PatchAnswer{CardID: cardID, Code: code, Version: version}), nil
}
