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

// A user takes a JUMP_ACTIVATE card and lands on the merchant's page with
// an encrypt_code and an activate_ticket: the page decrypts the code, reads
// the user's form and activates the card, which spends the ticket.
func ExampleCards_IssueOpenCard() {
	srv := membercardtest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.AddCard("pbLatjvWOibDc5-TBnbUk1pD12o0")
	client, _ := wxpay.New(srv.Config(srv.AddMerchant("1900000001")))
	get := func(path string) ([]byte, error) {
		resp, err := client.Do(context.Background(), wxpay.Request{Method: http.MethodGet, Path: path})
		if err != nil {
			return nil, err
		}
		return resp.Body, nil
	}

	h, err := srv.IssueOpenCard(membercardtest.OpenCardIssue{CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0", OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA",
		UserInformation: json.RawMessage(`{"common_field_list":[{"name":"USER_FORM_FLAG_NAME","value":"张三"}]}`)})
	if err != nil {
		panic(err)
	}
	body, _ := get(membercard.DecryptCodePath("pbLatjvWOibDc5-TBnbUk1pD12o0", h.EncryptCode))
	var code membercard.DecryptedCode
	_ = json.Unmarshal(body, &code)
	form, _ := get(membercard.ActivateInformationPath(h.ActivateTicket))
	fmt.Println(code.Code == h.Code, string(form))

	resp, err := client.Do(context.Background(), wxpay.Request{Method: http.MethodPost, Path: membercard.ActivatePath("pbLatjvWOibDc5-TBnbUk1pD12o0", code.Code), Body: []byte(`{"membership_number":"VIP-0001"}`)})
	card, _ := srv.OpenUserCard(code.Code)
	fmt.Println(resp.Status, err, card.UserCardStatus, card.MembershipNumber)

	_, err = get(membercard.ActivateInformationPath(h.ActivateTicket))
	var apiErr *wxpay.APIError
	fmt.Println(errors.As(err, &apiErr), apiErr.Status, apiErr.Code, apiErr.Message)
	// Output:
	// true {"user_information":{"common_field_list":[{"name":"USER_FORM_FLAG_NAME","value":"张三"}]}}
	// 204 <nil> EFFECTIVE VIP-0001
	// true 400 INVALID_REQUEST activate_ticket已失效
}

// An AUTO_ACTIVATE card is a member's at once: WeChat Pay notifies the
// activation, and the receiver reads the card with the query.
func ExampleCards_PostAutoActivate() {
	srv := membercardtest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.AddCard("pbLatjvWOibDc5-TBnbUk1pD12o0")
	apiV3Key := []byte("0123456789abcdef0123456789abcdef")
	client, _ := wxpay.New(srv.Config(srv.AddMerchant("1900000001")))
	levels := make(chan string, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		env, err := srv.Verifier().ParseNotification(r.Header, body)
		if err != nil || env.EventType != membercard.OpenCardActivateEvent {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var a membercard.OpenCardActivation
		plain, err := wxsign.DecryptResource(apiV3Key, env.Resource)
		if err != nil || json.Unmarshal(plain, &a) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		resp, err := client.Do(r.Context(), wxpay.Request{Method: http.MethodGet, Path: membercard.OpenUserCardPath(a.CardID, a.Code)})
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var card membercard.OpenUserCard
		_ = json.Unmarshal(resp.Body, &card)
		levels <- card.UserCardStatus + " " + card.Level
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	_, status, err := srv.PostAutoActivate(context.Background(), nil, receiver.URL, membercardtest.OpenCardIssue{
		CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0", OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA", Level: "普通会员"}, apiV3Key)
	fmt.Println(status, err, <-levels)
	// Output:
	// 204 <nil> EFFECTIVE 普通会员
}

// AutoActivate returns the notification for a test that delivers it
// itself.
func ExampleCards_AutoActivate() {
	srv := membercardtest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.AddCard("pbLatjvWOibDc5-TBnbUk1pD12o0")
	apiV3Key := []byte("0123456789abcdef0123456789abcdef")
	code, h, body, err := srv.AutoActivate(membercardtest.OpenCardIssue{CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0", OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA", Bonus: 100}, apiV3Key)
	if err != nil {
		panic(err)
	}
	env, _ := srv.Verifier().ParseNotification(h, body)
	plain, _ := wxsign.DecryptResource(apiV3Key, env.Resource)
	var a membercard.OpenCardActivation
	_ = json.Unmarshal(plain, &a)
	card, _ := srv.OpenUserCard(code)
	fmt.Println(env.EventType, a.EventType, a.ActivateScene, a.Code == code, card.BonusValue)
	// Output:
	// MEMBERCARD.ACTIVATE_CARD MEMBER_CARD_ACTIVATE NEW_ACTIVATE true 100
}

// WeChat Pay asks for a member's points; the receiver answers with the
// user-points sync. The same sync sent again is answered the same and
// counted once.
func ExampleCards_PostSyncUserPoint() {
	srv := membercardtest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.AddCard("pbLatjvWOibDc5-TBnbUk1pD12o0")
	brandAPIKey := []byte("0123456789abcdef0123456789abcdef")
	brand, _ := wxpay.New(srv.Config(srv.AddBrand("1004")))
	code, _, _, _ := srv.OpenCard(membercardtest.Opening{Flavour: membercardtest.FlavourBrand, BrandID: "1004",
		CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0", OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA", Key: brandAPIKey})
	confirm, _ := json.Marshal(membercard.UserCardConfirmRequest{CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0", OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA", UserCardConfirmState: membercard.ConfirmSuccess})
	_, _ = brand.Do(context.Background(), wxpay.Request{Method: http.MethodPost, Path: membercard.UserCardConfirmPath(code), Body: confirm})

	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		env, err := srv.Verifier().ParseNotification(r.Header, body)
		if err != nil || !membercard.IsSyncUserPointEvent(env.EventType) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		plain, _ := wxsign.DecryptResource(brandAPIKey, env.Resource)
		var sp membercard.SyncUserPoint
		_ = json.Unmarshal(plain, &sp)
		sync, _ := json.Marshal(membercard.UserPointsSyncRequest{OutRequestNo: "1004_" + sp.UserCardCode + "_v3", CardID: sp.CardID,
			OpenID: sp.OpenID, UserCardCode: sp.UserCardCode, PointBalance: 250})
		for range 2 { // a retry after a lost answer
			if _, err := brand.Do(r.Context(), wxpay.Request{Method: http.MethodPost, Path: membercard.UserPointsSyncPath, Body: sync}); err != nil {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	status, err := srv.PostSyncUserPoint(context.Background(), nil, receiver.URL, code)
	points, _ := srv.Points(code)
	fmt.Println(status, err, points, srv.PointSyncs(code))
	// Output:
	// 204 <nil> 250 1
}

// SyncUserPoint returns the notification for a test that delivers it
// itself: under the card's flavour, encrypted with its opening's key.
func ExampleCards_SyncUserPoint() {
	srv := membercardtest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.AddCard("pbLatjvWOibDc5-TBnbUk1pD12o0")
	code, _, _, _ := srv.OpenCard(membercardtest.Opening{Flavour: membercardtest.FlavourPartner, BrandID: "1004",
		CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0", OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA", Key: []byte("0123456789abcdef0123456789abcdef")})
	_, _, err := srv.SyncUserPoint(code)
	fmt.Println(err != nil, "before the confirmation")

	partner, _ := wxpay.New(srv.Config(srv.AddMerchant("1900000001")))
	confirm, _ := json.Marshal(membercard.PartnerUserCardConfirmRequest{BrandID: "1004", UserCardConfirmRequest: membercard.UserCardConfirmRequest{
		CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0", OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA", UserCardConfirmState: membercard.ConfirmSuccess}})
	_, _ = partner.Do(context.Background(), wxpay.Request{Method: http.MethodPost, Path: membercard.PartnerUserCardConfirmPath(code), Body: confirm})
	h, body, err := srv.SyncUserPoint(code)
	env, _ := srv.Verifier().ParseNotification(h, body)
	fmt.Println(err, env.EventType, env.Resource.OriginalType)
	// Output:
	// true before the confirmation
	// <nil> BRAND_MEMBER_CARD_SP.SYNC_USER_POINT sync_user_point
}
