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
	c := w.Partner // the service provider's cards, and membercard-open's (the merchant's)
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

// Update sends a change: brand cards as the brand (PATCH user-cards for
// level and attach, user-points/sync for points), a service provider's as
// the service provider (their twins), membercard-open cards as the
// merchant (PATCH codes/{code} for level and balance, PATCH …/rights for
// points). Each request's out_request_no is the change's own, so the
// same change sent again is never counted twice.
func (w *WeChatPay) Update(ctx context.Context, it Item, c Change) error {
	var applied Change
	for i, req := range updateRequests(it, c) {
		cl, err := w.caller(req.src)
		if err != nil {
			return err
		}
		if _, err := cl.Do(ctx, req.Request); err != nil {
			if i > 0 {
				return &PartlyApplied{Applied: applied, Err: err}
			}
			return err
		}
		req.fields(&applied, c)
	}
	return nil
}

type sourcedRequest struct {
	src Source
	wxpay.Request
	// fields copies into applied the fields of c this request sends.
	fields func(applied *Change, c Change)
}

func levelAndBalance(applied *Change, c Change) { applied.Level, applied.Balance = c.Level, c.Balance }
func levelAndAttach(applied *Change, c Change)  { applied.Level, applied.Attach = c.Level, c.Attach }
func pointsOnly(applied *Change, c Change)      { applied.Points = c.Points }

// updateRequests are the calls that send c, in order. The member API
// checked c against WeChat Pay's field rules before it accepted it; a
// request WeChat Pay refuses anyway fails the change for good.
func updateRequests(it Item, c Change) []sourcedRequest {
	var reqs []sourcedRequest
	add := func(src Source, method, path, route string, body any, fields func(*Change, Change)) {
		b, err := json.Marshal(body)
		if err != nil {
			panic(err) // strings and numbers only
		}
		reqs = append(reqs, sourcedRequest{src, wxpay.Request{Method: method, Path: path, Route: route, Body: b}, fields})
	}
	switch it.Source {
	case SourceOpen:
		if c.Level != nil || c.Balance != nil {
			req := membercard.OpenUserCardUpdateRequest{OutRequestNo: OutRequestNo(it.CardID, it.UserCardCode, c.Version)}
			if c.Level != nil {
				req.Level = *c.Level
			}
			if c.Balance != nil {
				req.BalanceInformation = &membercard.BalanceInformation{BeforeBalance: it.Balance, Balance: *c.Balance, AddBalance: *c.Balance - it.Balance}
			}
			add(SourceOpen, http.MethodPatch, membercard.OpenUserCardPath(it.CardID, it.UserCardCode), membercard.OpenUserCardRoute, req, levelAndBalance)
		}
		if c.Points != nil {
			before, after := it.Points, *c.Points
			delta := after - before
			add(SourceOpen, http.MethodPatch, membercard.RightsPath(it.CardID, it.UserCardCode), membercard.RightsRoute,
				membercard.RightsRequest{OutRequestNo: RightsRequestNo(it.CardID, it.UserCardCode, c.Version),
					BeforeBonusValue: &before, BonusValue: &after, AddBonusValue: &delta}, pointsOnly)
		}
	case SourceBrand, SourcePartner:
		if c.Level != nil || c.Attach != nil {
			req := membercard.UserCardUpdateRequest{OpenID: it.OpenID}
			if c.Level != nil {
				req.Level = *c.Level
			}
			if c.Attach != nil {
				req.Attach = *c.Attach
			}
			if it.Source == SourceBrand {
				add(SourceBrand, http.MethodPatch, membercard.UserCardUpdatePath(it.UserCardCode, it.CardID), membercard.UserCardRoute, req, levelAndAttach)
			} else {
				add(SourcePartner, http.MethodPatch, membercard.PartnerUserCardUpdatePath(it.UserCardCode, it.CardID), membercard.PartnerUserCardRoute,
					membercard.PartnerUserCardUpdateRequest{BrandID: it.BrandID, UserCardUpdateRequest: req}, levelAndAttach)
			}
		}
		if c.Points != nil {
			reqs = append(reqs, pointsRequest(it, *c.Points, OutRequestNo(it.CardID, it.UserCardCode, c.Version)))
		}
	}
	return reqs
}

// pointsRequest is user-points/sync of points, as the brand or the
// service provider.
func pointsRequest(it Item, points int64, outRequestNo string) sourcedRequest {
	req := membercard.UserPointsSyncRequest{OutRequestNo: outRequestNo, CardID: it.CardID, OpenID: it.OpenID,
		UserCardCode: it.UserCardCode, PointBalance: points}
	var body any = req
	path := membercard.UserPointsSyncPath
	if it.Source == SourcePartner {
		body, path = membercard.PartnerUserPointsSyncRequest{BrandID: it.BrandID, UserPointsSyncRequest: req}, membercard.PartnerUserPointsSyncPath
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return sourcedRequest{it.Source, wxpay.Request{Method: http.MethodPost, Path: path, Route: path, Body: b}, pointsOnly}
}

// SyncPoints tells WeChat Pay a brand or service-provider member's points
// (user-points/sync), as *.SYNC_USER_POINT asks.
func (w *WeChatPay) SyncPoints(ctx context.Context, it Item, points int64, outRequestNo string) error {
	if it.Source == SourceOpen {
		return fmt.Errorf("%s card: points are asked only of brand cards", it.Source)
	}
	req := pointsRequest(it, points, outRequestNo)
	c, err := w.caller(req.src)
	if err != nil {
		return err
	}
	_, err = c.Do(ctx, req.Request)
	return err
}

// OpenCard reads a membercard-open card, as the merchant.
func (w *WeChatPay) OpenCard(ctx context.Context, cardID, code string) (membercard.OpenUserCard, error) {
	c, err := w.caller(SourceOpen)
	if err != nil {
		return membercard.OpenUserCard{}, err
	}
	resp, err := c.Do(ctx, wxpay.Request{Method: http.MethodGet, Path: membercard.OpenUserCardPath(cardID, code), Route: membercard.OpenUserCardRoute})
	if err != nil {
		return membercard.OpenUserCard{}, err
	}
	var card membercard.OpenUserCard
	if err := json.Unmarshal(resp.Body, &card); err != nil {
		return membercard.OpenUserCard{}, fmt.Errorf("the card's answer is not a membercard-open card (request ID %q)", resp.RequestID)
	}
	return card, nil
}
