package member_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// standIn is the stand-in with the test card, and a WeChatPay of its
// brand and service provider, each call tried once.
func standIn(t *testing.T) (*membercardtest.Server, *member.WeChatPay) {
	t.Helper()
	srv := membercardtest.NewServer(wxpaytest.Options{})
	t.Cleanup(srv.Close)
	srv.AddCard(opening.CardID)
	client := func(id *wxsign.Identity) member.Caller {
		cfg := srv.Config(id)
		cfg.MaxAttempts = 1
		c, err := wxpay.New(cfg)
		require.NoError(t, err)
		return c
	}
	return srv, &member.WeChatPay{Brand: client(srv.AddBrand("1004")), Partner: client(srv.AddMerchant("1900000001"))}
}

// The confirm and user-card APIs against the stand-in, which checks them
// as WeChat Pay does: each flavour through its own identity and API; a
// second confirmation is 404; an unknown card reads as not found.
func TestWeChatPayAgainstTheStandIn(t *testing.T) {
	srv, wx := standIn(t)
	ctx := context.Background()
	key := []byte("0123456789abcdef0123456789abcdef")
	for _, tc := range []struct {
		flavour membercardtest.Flavour
		src     member.Source
	}{{membercardtest.FlavourBrand, member.SourceBrand}, {membercardtest.FlavourPartner, member.SourcePartner}} {
		t.Run(string(tc.src), func(t *testing.T) {
			code, _, _, err := srv.OpenCard(membercardtest.Opening{Flavour: tc.flavour, BrandID: "1004", CardID: opening.CardID, OpenID: "oWx" + string(tc.src), Key: key})
			require.NoError(t, err)
			o := member.Opening{BrandID: "1004", CardID: opening.CardID, UserCardCode: code, OpenID: "oWx" + string(tc.src)}
			state, err := wx.CardState(ctx, tc.src, o)
			require.NoError(t, err)
			assert.Equal(t, membercard.UserCardUnactivated, state)

			d := member.Decision{State: membercard.ConfirmSuccess, Level: "金卡", ValidDateInformation: &membercard.ValidDateInformation{Type: membercard.ValidDatePermanent}}
			require.NoError(t, wx.Confirm(ctx, tc.src, o, d))
			state, err = wx.CardState(ctx, tc.src, o)
			require.NoError(t, err)
			assert.Equal(t, membercard.UserCardEffective, state)
			card, _ := srv.UserCard(code)
			assert.Equal(t, "金卡", card.Level)

			err = wx.Confirm(ctx, tc.src, o, d)
			var ae *wxpay.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, http.StatusNotFound, ae.Status)
			assert.Equal(t, 1, srv.Confirmations(code))

			// The other identity's API does not know the card.
			other := member.SourcePartner
			if tc.src == member.SourcePartner {
				other = member.SourceBrand
			}
			_, err = wx.CardState(ctx, other, o)
			require.ErrorIs(t, err, member.ErrCardNotFound)

			// A request that breaks a rule is never sent.
			bad := o
			bad.BrandID = ""
			before := len(srv.Requests())
			err = wx.Confirm(ctx, tc.src, bad, member.Decision{State: "MAYBE"})
			require.Error(t, err)
			assert.Len(t, srv.Requests(), before)
		})
	}
	for _, src := range []member.Source{member.SourceBrand, member.SourcePartner} {
		none := &member.WeChatPay{}
		require.ErrorIs(t, none.Confirm(ctx, src, opening, member.Decision{State: membercard.ConfirmSuccess}), member.ErrNoIdentity)
		_, err := none.CardState(ctx, src, opening)
		require.ErrorIs(t, err, member.ErrNoIdentity)
	}
	// An answer without a state is an error, not a state.
	empty := &member.WeChatPay{Partner: callerFunc(func(context.Context, wxpay.Request) (*wxpay.Response, error) {
		return &wxpay.Response{Status: 200, Body: []byte(`{"user_card_code":"1"}`)}, nil
	})}
	_, err := empty.CardState(ctx, member.SourcePartner, opening)
	require.ErrorContains(t, err, "user_card_state")
	failing := &member.WeChatPay{Partner: callerFunc(func(context.Context, wxpay.Request) (*wxpay.Response, error) {
		return nil, errors.New("unreachable")
	})}
	_, err = failing.CardState(ctx, member.SourcePartner, opening)
	require.ErrorContains(t, err, "unreachable")
}

type callerFunc func(context.Context, wxpay.Request) (*wxpay.Response, error)

func (f callerFunc) Do(ctx context.Context, r wxpay.Request) (*wxpay.Response, error) {
	return f(ctx, r)
}

// The memory store: versions are checked, and what it hands out is a copy.
func TestMemoryStore(t *testing.T) {
	var m member.Memory
	ctx := context.Background()
	it := member.Item{CardID: "c", UserCardCode: "1", Version: 1, Decision: &member.Decision{State: membercard.ConfirmSuccess}}
	require.NoError(t, m.Put(ctx, it, 0))
	require.ErrorIs(t, m.Put(ctx, it, 0), member.ErrConflict)
	got, err := m.Get(ctx, "c", "1")
	require.NoError(t, err)
	got.Decision.State = "changed"
	again, _ := m.Get(ctx, "c", "1")
	assert.Equal(t, membercard.ConfirmSuccess, again.Decision.State, "a copy")
	assert.Len(t, m.Items(), 1)
	absent, err := m.Get(ctx, "c", "2")
	require.NoError(t, err)
	assert.Equal(t, int64(0), absent.Version)
}

// Changes against the stand-in, which checks each request as WeChat Pay
// does: brand and partner cards through user-cards PATCH and
// user-points/sync, membercard-open cards through PATCH codes/{code}
// (balance_information: before, after, added) and …/rights; a change sent
// again (a lost answer) is applied once; SYNC_USER_POINT's answer and the
// card read.
func TestWeChatPayUpdatesAgainstTheStandIn(t *testing.T) {
	srv, wx := standIn(t)
	ctx := context.Background()
	key := []byte("0123456789abcdef0123456789abcdef")
	level, attach := "金卡", "vip"
	for _, tc := range []struct {
		flavour membercardtest.Flavour
		src     member.Source
	}{{membercardtest.FlavourBrand, member.SourceBrand}, {membercardtest.FlavourPartner, member.SourcePartner}} {
		t.Run(string(tc.src), func(t *testing.T) {
			user := "oUp" + string(tc.src)
			code, _, _, err := srv.OpenCard(membercardtest.Opening{Flavour: tc.flavour, BrandID: "1004", CardID: opening.CardID, OpenID: user, Key: key})
			require.NoError(t, err)
			o := member.Opening{BrandID: "1004", CardID: opening.CardID, UserCardCode: code, OpenID: user}
			require.NoError(t, wx.Confirm(ctx, tc.src, o, member.Decision{State: membercard.ConfirmSuccess}))
			it := member.Item{CardID: opening.CardID, UserCardCode: code, BrandID: "1004", OpenID: user, Source: tc.src, State: member.Effective}
			c := member.Change{Version: 7, Level: &level, Attach: &attach, Points: ptr[int64](100)}
			require.NoError(t, wx.Update(ctx, it, c))
			require.NoError(t, wx.Update(ctx, it, c), "sent again: the same out_request_no")
			card, _ := srv.UserCard(code)
			assert.Equal(t, "金卡", card.Level)
			assert.Equal(t, "vip", card.Attach)
			p, _ := srv.Points(code)
			assert.Equal(t, int64(100), p)
			assert.Equal(t, 1, srv.PointSyncs(code))

			it.Points = 100
			require.NoError(t, wx.SyncPoints(ctx, it, 100, member.PointsRequestNo(it.CardID, code, "n-1", 100)))
			assert.Equal(t, 2, srv.PointSyncs(code))

			other := it
			other.UserCardCode = "no-such-card"
			var ae *wxpay.APIError
			require.ErrorAs(t, wx.Update(ctx, other, member.Change{Version: 8, Points: ptr[int64](1)}), &ae)
			assert.False(t, ae.Retryable())
		})
	}
	t.Run("membercard-open", func(t *testing.T) {
		card, err := srv.IssueOpenCard(membercardtest.OpenCardIssue{CardID: opening.CardID, OpenID: "oUpOpen", Bonus: 5, Balance: 300})
		require.NoError(t, err)
		_, err = wx.Partner.Do(ctx, wxpay.Request{Method: http.MethodPost, Path: membercard.ActivatePath(opening.CardID, card.Code), Route: membercard.ActivateRoute, Body: []byte(`{}`)})
		require.NoError(t, err)
		read, err := wx.OpenCard(ctx, opening.CardID, card.Code)
		require.NoError(t, err)
		assert.Equal(t, membercard.OpenCardEffective, read.UserCardStatus)
		it := member.Item{CardID: opening.CardID, UserCardCode: card.Code, OpenID: "oUpOpen", Source: member.SourceOpen, State: member.Effective,
			Points: read.BonusValue, Balance: read.Balance}
		short := "金"
		c := member.Change{Version: 3, Level: &short, Points: ptr[int64](70), Balance: ptr[int64](250)}
		require.NoError(t, wx.Update(ctx, it, c))
		require.NoError(t, wx.Update(ctx, it, c), "sent again")
		got, _ := srv.OpenUserCard(card.Code)
		assert.Equal(t, []any{"金", int64(70), int64(250)}, []any{got.Level, got.BonusValue, got.Balance})
		assert.Equal(t, 2, srv.Updates(card.Code), "one PATCH and one rights, each applied once")
		require.Error(t, wx.SyncPoints(ctx, it, 1, "x"), "WeChat Pay asks no membercard-open card for points")

		// The level taken, the points refused: taken in part.
		var part *member.PartlyApplied
		err = wx.Update(ctx, it, member.Change{Version: 5, Level: ptr("银"), Points: ptr[int64](membercard.MaxPoints + 1)})
		require.ErrorAs(t, err, &part)
		assert.Equal(t, "银", *part.Applied.Level)
		assert.Nil(t, part.Applied.Points)
		it.Level = "银"

		// A change computed from stale values is refused by WeChat Pay
		// (before_balance is not the card's): for good.
		var ae *wxpay.APIError
		require.ErrorAs(t, wx.Update(ctx, it, member.Change{Version: 4, Balance: ptr[int64](1)}), &ae)
		assert.False(t, ae.Retryable())
	})
	t.Run("no identity", func(t *testing.T) {
		none := &member.WeChatPay{}
		require.ErrorIs(t, none.Update(ctx, member.Item{Source: member.SourceBrand}, member.Change{Points: ptr[int64](1)}), member.ErrNoIdentity)
		require.ErrorIs(t, none.SyncPoints(ctx, member.Item{Source: member.SourcePartner}, 1, "x"), member.ErrNoIdentity)
		_, err := none.OpenCard(ctx, "c", "1")
		require.ErrorIs(t, err, member.ErrNoIdentity)
	})
}
