package member

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
)

// Caller calls WeChat Pay (lambdaapp.Upstream: signed, verified, paced).
type Caller interface {
	Do(ctx context.Context, req wxpay.Request) (*wxpay.Response, error)
}

// WeChatPay confirms openings and reads user cards with WeChat Pay: a
// brand's cards signed as the brand, the others as the service provider.
// A nil Caller is an identity the deployment does not hold.
type WeChatPay struct {
	Brand   Caller
	Partner Caller
}

// ErrNoIdentity is a member of a source whose secret the function was not
// given: it cannot be confirmed until it is (the message is retried, then
// dead-lettered, and can be redriven once the secret is configured).
var ErrNoIdentity = errors.New("no WeChat Pay secret for this kind of card: set WXPAY_BRAND_SECRET_ID (brand cards) or WXPAY_SECRET_ID (service provider)")

func (w *WeChatPay) caller(src Source) (Caller, error) {
	c := w.Partner
	if src == SourceBrand {
		c = w.Brand
	}
	if c == nil {
		return nil, fmt.Errorf("%s card: %w", src, ErrNoIdentity)
	}
	return c, nil
}

// confirmBody is the confirm API's request for the source, checked.
func confirmBody(src Source, o Opening, d Decision) ([]byte, error) {
	req := d.request(o)
	var v interface{ Validate() error } = req
	if src == SourcePartner {
		v = &membercard.PartnerUserCardConfirmRequest{BrandID: o.BrandID, UserCardConfirmRequest: *req}
	}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// Confirm sends the decision. nil means WeChat Pay took it; a
// *wxpay.APIError is its refusal.
func (w *WeChatPay) Confirm(ctx context.Context, src Source, o Opening, d Decision) error {
	c, err := w.caller(src)
	if err != nil {
		return err
	}
	body, err := confirmBody(src, o, d)
	if err != nil {
		return fmt.Errorf("confirm request: %w", err)
	}
	req := wxpay.Request{Method: http.MethodPost, Path: membercard.UserCardConfirmPath(o.UserCardCode), Route: membercard.UserCardConfirmRoute, Body: body}
	if src == SourcePartner {
		req.Path, req.Route = membercard.PartnerUserCardConfirmPath(o.UserCardCode), membercard.PartnerUserCardConfirmRoute
	}
	_, err = c.Do(ctx, req)
	return err
}

// ErrCardNotFound is WeChat Pay not knowing the user card.
var ErrCardNotFound = errors.New("WeChat Pay knows no such user card")

// CardState reads the user card's user_card_state as WeChat Pay holds it.
func (w *WeChatPay) CardState(ctx context.Context, src Source, o Opening) (string, error) {
	c, err := w.caller(src)
	if err != nil {
		return "", err
	}
	req := wxpay.Request{Method: http.MethodGet, Path: membercard.UserCardPath(o.UserCardCode, o.CardID, o.OpenID), Route: membercard.UserCardRoute}
	if src == SourcePartner {
		req.Path, req.Route = membercard.PartnerUserCardPath(o.UserCardCode, o.BrandID, o.CardID, o.OpenID), membercard.PartnerUserCardRoute
	}
	resp, err := c.Do(ctx, req)
	var ae *wxpay.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return "", ErrCardNotFound
	}
	if err != nil {
		return "", err
	}
	var card membercard.UserCard
	if err := json.Unmarshal(resp.Body, &card); err != nil || card.UserCardState == "" {
		return "", fmt.Errorf("the user card's answer has no user_card_state (request ID %q)", resp.RequestID)
	}
	return card.UserCardState, nil
}
