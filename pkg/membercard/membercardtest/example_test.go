package membercardtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// A user opens a card: the stand-in posts WeChat Pay's notification to the
// receiver under test, which verifies and decrypts it and confirms the
// card through the confirm API. WeChat Pay accepts one confirmation; the
// next is its 404 NOT_FOUND, and the query tells the card is a member's.
func ExampleCards_PostOpenCard() {
	srv := membercardtest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.AddCard("pbLatjvWOibDc5-TBnbUk1pD12o0")
	mch := srv.AddMerchant("1900000001")
	apiV3Key := []byte("0123456789abcdef0123456789abcdef")
	client, _ := wxpay.New(wxpay.Config{BaseURL: srv.URL, BackupURL: "-", Signer: mch.Signer(), Verifier: srv.Verifier(),
		PublicKeyID: srv.PublicKeyID, HTTPClient: srv.Client()})

	confirm := func(card membercard.UserCard) error {
		body, _ := json.Marshal(membercard.PartnerUserCardConfirmRequest{BrandID: card.BrandID, UserCardConfirmRequest: membercard.UserCardConfirmRequest{
			CardID: card.CardID, OpenID: card.OpenID, UserCardConfirmState: membercard.ConfirmSuccess, Level: "金卡"}})
		_, err := client.Do(context.Background(), wxpay.Request{Method: http.MethodPost, Path: membercard.PartnerUserCardConfirmPath(card.UserCardCode),
			Route: membercard.PartnerUserCardConfirmRoute, Body: body})
		return err
	}
	// The receiver: verify, decrypt, confirm.
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		env, err := srv.Verifier().ParseNotification(r.Header, body)
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		plain, err := wxsign.DecryptResource(apiV3Key, env.Resource)
		var card membercard.UserCard
		if err != nil || json.Unmarshal(plain, &card) != nil || !membercard.IsUserCardCreateEvent(env.EventType) || confirm(card) != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	code, status, err := srv.PostOpenCard(context.Background(), nil, receiver.URL, membercardtest.Opening{
		Flavour: membercardtest.FlavourPartner, BrandID: "1004", CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0",
		OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA", Key: apiV3Key,
	})
	if err != nil {
		panic(err)
	}
	card, _ := srv.UserCard(code)
	fmt.Println(status, card.UserCardState, card.Level, srv.Confirmations(code))

	var apiErr *wxpay.APIError
	fmt.Println(errors.As(confirm(card), &apiErr), apiErr.Status, apiErr.Code, apiErr.Message)
	// Output:
	// 204 EFFECTIVE 金卡 1
	// true 404 NOT_FOUND 用户不存在未激活的会员卡
}
