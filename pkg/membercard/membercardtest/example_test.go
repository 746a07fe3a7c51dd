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
	client, _ := wxpay.New(srv.Config(mch))

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

// A new stand-in knows no card template and no brand: a brand's
// pre-auth token needs the card template made first.
func ExampleNewServer() {
	srv := membercardtest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	brand, _ := wxpay.New(srv.Config(srv.AddBrand("1004")))
	body, _ := json.Marshal(membercard.BrandPreAuthTokenRequest{CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0", OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA"})
	req := wxpay.Request{Method: http.MethodPost, Path: membercard.BrandPreAuthTokensPath, Route: membercard.BrandPreAuthTokensPath, Body: body}

	_, err := brand.Do(context.Background(), req)
	var apiErr *wxpay.APIError
	fmt.Println(errors.As(err, &apiErr), apiErr.Status, apiErr.Code, apiErr.Message)

	srv.AddCard("pbLatjvWOibDc5-TBnbUk1pD12o0")
	resp, err := brand.Do(context.Background(), req)
	fmt.Println(resp.Status, err)
	// Output:
	// true 400 PARAM_ERROR 会员卡模板ID无效
	// 200 <nil>
}

// A service provider's pre-auth token for a brand is refused, as WeChat
// Pay refuses it, until the brand has authorised the provider: set the
// brand's authorities first.
func ExampleCards_SetAuthorities() {
	srv := membercardtest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.AddCard("pbLatjvWOibDc5-TBnbUk1pD12o0")
	partner, _ := wxpay.New(srv.Config(srv.AddMerchant("1900000001")))
	body, _ := json.Marshal(membercard.PartnerPreAuthTokenRequest{BrandID: "1004", CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0", OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA"})
	req := wxpay.Request{Method: http.MethodPost, Path: membercard.PartnerPreAuthTokensPath, Route: membercard.PartnerPreAuthTokensPath, Body: body}

	_, err := partner.Do(context.Background(), req)
	var apiErr *wxpay.APIError
	fmt.Println(errors.As(err, &apiErr), apiErr.Status, apiErr.Code, apiErr.Message)

	srv.SetAuthorities(membercard.ProductAuthorities{BrandID: "1004", AuthorizationType: "AUTHORIZATION_TYPE_HOSTING",
		AuthorizationProduct: []string{"BRAND_PRODUCT_AUTHORITY_MERCHANT_CARD"}, UpdateTime: "2025-05-20T13:29:35+08:00"})
	resp, err := partner.Do(context.Background(), req)
	var tok membercard.PreAuthToken
	_ = json.Unmarshal(resp.Body, &tok)
	fmt.Println(resp.Status, len(tok.Token), err)
	// Output:
	// true 400 PARAM_ERROR 品牌ID错误，或未建立授权关系
	// 200 32 <nil>
}

// The card APIs can share a wxpaytest stand-in with the APIs a test adds.
func ExampleInstall() {
	srv := wxpaytest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	cards := membercardtest.Install(srv)
	cards.AddCard("pbLatjvWOibDc5-TBnbUk1pD12o0")
	srv.Handle(wxpaytest.Route{Method: http.MethodGet, Pattern: "/v3/merchant-service/complaints-v2", Scheme: wxsign.Merchant,
		Handler: func(*wxpaytest.Call) wxpaytest.Reply {
			return wxpaytest.OK(map[string]any{"data": []string{}, "total_count": 0})
		}})
	c, _ := wxpay.New(srv.Config(srv.AddMerchant("1900000001")))

	resp, err := c.Do(context.Background(), wxpay.Request{Method: http.MethodGet, Path: "/v3/merchant-service/complaints-v2", Route: "/v3/merchant-service/complaints-v2"})
	fmt.Println(string(resp.Body), err)
	resp, err = c.Do(context.Background(), wxpay.Request{Method: http.MethodPost, Path: membercard.PermissionTokensPath("pbLatjvWOibDc5-TBnbUk1pD12o0"),
		Route: membercard.PermissionTokensRoute, Body: []byte(`{"activate_type":"AUTO_ACTIVATE"}`)})
	fmt.Println(resp.Status, err)
	// Output:
	// {"data":[],"total_count":0} <nil>
	// 200 <nil>
}

// OpenCard returns the notification WeChat Pay would post, for a test
// that delivers it itself; the card waits UNACTIVATED for its
// confirmation, here through the brand's confirm API.
func ExampleCards_OpenCard() {
	srv := membercardtest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.AddCard("pbLatjvWOibDc5-TBnbUk1pD12o0")
	brandAPIKey := []byte("0123456789abcdef0123456789abcdef")
	code, h, body, err := srv.OpenCard(membercardtest.Opening{
		Flavour: membercardtest.FlavourBrand, BrandID: "1004", CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0",
		OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA", Key: brandAPIKey,
	})
	if err != nil {
		panic(err)
	}
	n, err := srv.Verifier().ParseNotification(h, body)
	if err != nil {
		panic(err)
	}
	plain, _ := wxsign.DecryptResource(brandAPIKey, n.Resource)
	var card membercard.UserCard
	_ = json.Unmarshal(plain, &card)
	fmt.Println(n.EventType, card.UserCardCode == code, card.UserCardState)

	brand, _ := wxpay.New(srv.Config(srv.AddBrand("1004")))
	confirm, _ := json.Marshal(membercard.UserCardConfirmRequest{CardID: card.CardID, OpenID: card.OpenID, UserCardConfirmState: membercard.ConfirmSuccess})
	_, err = brand.Do(context.Background(), wxpay.Request{Method: http.MethodPost, Path: membercard.UserCardConfirmPath(code), Route: membercard.UserCardConfirmRoute, Body: confirm})
	card, _ = srv.UserCard(code)
	fmt.Println(err, card.UserCardState, srv.Confirmations(code))
	// Output:
	// BRAND_MEMBER_CARD.USER_CARD.CREATE true UNACTIVATED
	// <nil> EFFECTIVE 1
}

// A user deletes a card from their wallet: WeChat Pay notifies it under
// the opening's flavour and key, and the card is INVALID.
func ExampleCards_PostDeleteCard() {
	srv := membercardtest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.AddCard("pbLatjvWOibDc5-TBnbUk1pD12o0")
	events := make(chan string, 2)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n, err := srv.Verifier().ParseNotification(r.Header, body)
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		events <- n.EventType
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	code, _, err := srv.PostOpenCard(context.Background(), receiver.Client(), receiver.URL, membercardtest.Opening{
		Flavour: membercardtest.FlavourPartner, BrandID: "1004", CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0",
		OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA", Key: []byte("0123456789abcdef0123456789abcdef"),
	})
	if err != nil {
		panic(err)
	}
	status, err := srv.PostDeleteCard(context.Background(), receiver.Client(), receiver.URL, code)
	card, _ := srv.UserCard(code)
	fmt.Println(<-events)
	fmt.Println(<-events, status, err, card.UserCardState)

	_, err = srv.PostDeleteCard(context.Background(), receiver.Client(), receiver.URL, code)
	fmt.Println(err != nil)
	// Output:
	// BRAND_MEMBER_CARD_SP.USER_CARD.CREATE
	// BRAND_MEMBER_CARD_SP.USER_CARD.DELETE 204 <nil> INVALID
	// true
}
