package membercardtest

import (
	"context"
	"fmt"
	"net/http"

	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

func (c *Cards) brandUpdateUserCard(call *wxpaytest.Call) wxpaytest.Reply {
	code, q, reply, ok := pathAndQuery(call, "card_id")
	if !ok {
		return reply
	}
	var req membercard.UserCardUpdateRequest
	if err := decode(call.Body, &req); err != nil {
		return paramError(err)
	}
	return c.updateUserCard(code, FlavourBrand, call.Caller.ID, q["card_id"], &req)
}

func (c *Cards) partnerUpdateUserCard(call *wxpaytest.Call) wxpaytest.Reply {
	code, q, reply, ok := pathAndQuery(call, "card_id")
	if !ok {
		return reply
	}
	var req membercard.PartnerUserCardUpdateRequest
	if err := decode(call.Body, &req); err != nil {
		return paramError(err)
	}
	return c.updateUserCard(code, FlavourPartner, req.BrandID, q["card_id"], &req.UserCardUpdateRequest)
}

// updateUserCard sets the level and attach of the card code, if it is of
// the flavour, brand, card template and user named, and answers the card.
func (c *Cards) updateUserCard(code string, f Flavour, brandID, cardID string, req *membercard.UserCardUpdateRequest) wxpaytest.Reply {
	c.mu.Lock()
	defer c.mu.Unlock()
	uc := c.userCards[code]
	if uc == nil || uc.opening.Flavour != f || uc.card.BrandID != brandID || uc.card.CardID != cardID || uc.card.OpenID != req.OpenID {
		return wxpaytest.Error(http.StatusNotFound, "NOT_FOUND", openCardAbsent)
	}
	if req.Level != "" {
		uc.card.Level = req.Level
	}
	if req.Attach != "" {
		uc.card.Attach = req.Attach
	}
	uc.card.ModifyTime = c.now()
	return wxpaytest.OK(uc.clone())
}

func (c *Cards) brandSyncPoints(call *wxpaytest.Call) wxpaytest.Reply {
	if name, found := undefinedKey(call.Query); found {
		return undefinedParam(name)
	}
	var req membercard.UserPointsSyncRequest
	if err := decode(call.Body, &req); err != nil {
		return paramError(err)
	}
	return c.syncPoints(call.Caller.ID, FlavourBrand, call.Caller.ID, "", &req)
}

func (c *Cards) partnerSyncPoints(call *wxpaytest.Call) wxpaytest.Reply {
	if name, found := undefinedKey(call.Query); found {
		return undefinedParam(name)
	}
	var req membercard.PartnerUserPointsSyncRequest
	if err := decode(call.Body, &req); err != nil {
		return paramError(err)
	}
	return c.syncPoints(call.Caller.ID, FlavourPartner, req.BrandID, req.BrandID, &req.UserPointsSyncRequest)
}

// syncPoints sets the points of the card the request names, once per
// out_request_no, if it is an EFFECTIVE card of the flavour and brand; it
// answers the request echoed, with echoBrandID.
func (c *Cards) syncPoints(caller string, f Flavour, brandID, echoBrandID string, req *membercard.UserPointsSyncRequest) wxpaytest.Reply {
	c.mu.Lock()
	defer c.mu.Unlock()
	echo := membercard.UserPointsSync{OutRequestNo: req.OutRequestNo, BrandID: echoBrandID, CardID: req.CardID,
		OpenID: req.OpenID, UserCardCode: req.UserCardCode, PointBalance: req.PointBalance}
	return c.once(caller, "sync "+f.String(), req.OutRequestNo, "", echo, func() wxpaytest.Reply {
		uc := c.userCards[req.UserCardCode]
		if uc == nil || uc.opening.Flavour != f || uc.card.BrandID != brandID || uc.card.CardID != req.CardID || uc.card.OpenID != req.OpenID {
			return wxpaytest.Error(http.StatusNotFound, "NOT_FOUND", openCardAbsent)
		}
		if uc.card.UserCardState != membercard.UserCardEffective {
			return wxpaytest.Error(http.StatusBadRequest, "INVALID_REQUEST", badCardState)
		}
		uc.points = req.PointBalance
		uc.pointSyncs++
		return wxpaytest.OK(echo)
	})
}

// Points is the point balance of the brand or partner card code, as the
// user-points sync last set it (0 before any); false for no such card.
func (c *Cards) Points(code string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	uc := c.userCards[code]
	if uc == nil {
		return 0, false
	}
	return uc.points, true
}

// PointSyncs is how many distinct user-points syncs WeChat Pay applied to
// the card code: a sync sent again with its out_request_no is answered as
// before and not counted again.
func (c *Cards) PointSyncs(code string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if uc := c.userCards[code]; uc != nil {
		return uc.pointSyncs
	}
	return 0
}

// syncUserPointEvent is the event type under which WeChat Pay asks for the
// points of a card of opening o.
func (o *Opening) syncUserPointEvent() string {
	switch {
	case o.Flavour == FlavourBrand:
		return membercard.BrandSyncUserPointEvent
	case o.LegacyEventType:
		return membercard.LegacyPartnerSyncUserPointEvent
	}
	return membercard.PartnerSyncUserPointEvent
}

// SyncUserPoint is WeChat Pay asking for the point balance of the
// EFFECTIVE brand or partner card code: the SYNC_USER_POINT notification
// it would post is returned, under the event type of the card's flavour
// (membercard.BrandSyncUserPointEvent, PartnerSyncUserPointEvent, or
// LegacyPartnerSyncUserPointEvent for an opening with LegacyEventType),
// signed with the stand-in's WeChat Pay public key and encrypted with the
// opening's Key. Its resource is a membercard.SyncUserPoint. A card that
// is not EFFECTIVE belongs to no member whose points WeChat Pay shows:
// that is an error.
func (c *Cards) SyncUserPoint(code string) (h http.Header, body []byte, err error) {
	c.mu.Lock()
	uc := c.userCards[code]
	if uc == nil {
		c.mu.Unlock()
		return nil, nil, fmt.Errorf("membercardtest: no user card %q", code)
	}
	if uc.card.UserCardState != membercard.UserCardEffective {
		state := uc.card.UserCardState
		c.mu.Unlock()
		return nil, nil, fmt.Errorf("membercardtest: user card %q is %s, not EFFECTIVE", code, state)
	}
	o := uc.opening
	resource := membercard.SyncUserPoint{BrandID: uc.card.BrandID, CardID: uc.card.CardID, OpenID: uc.card.OpenID, UserCardCode: code}
	c.mu.Unlock()
	nt := c.srv.Notifier(o.Key)
	nt.Now = c.srv.Now
	return nt.Build(wxpaytest.Notification{
		EventType: o.syncUserPointEvent(), Summary: syncPointSum, Resource: resource,
		OriginalType: membercard.SyncUserPointResourceType, AssociatedData: membercard.SyncUserPointResourceType,
	}, wxpaytest.Genuine)
}

// PostSyncUserPoint builds the notification as SyncUserPoint does and
// posts it to url with client (nil: http.DefaultClient). status is the
// receiver's; err a failure to build or to deliver.
func (c *Cards) PostSyncUserPoint(ctx context.Context, client *http.Client, url, code string) (status int, err error) {
	h, body, err := c.SyncUserPoint(code)
	if err != nil {
		return 0, err
	}
	status, _, err = wxpaytest.PostNotification(ctx, client, url, h, body)
	return status, err
}
