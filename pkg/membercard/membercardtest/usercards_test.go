package membercardtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

var (
	brandAPIKey = []byte("BRANDapiKEY0123456789abcdefghijk")
	apiV3Key    = []byte("0123456789abcdef0123456789abcdef")
)

func brandOpening() membercardtest.Opening {
	return membercardtest.Opening{Flavour: membercardtest.FlavourBrand, BrandID: brandID, CardID: cardID, OpenID: openid, Key: brandAPIKey}
}

func partnerOpening() membercardtest.Opening {
	return membercardtest.Opening{Flavour: membercardtest.FlavourPartner, BrandID: brandID, CardID: cardID, OpenID: openid, Key: apiV3Key}
}

// upstream is the production client of one identity, as wxcard calls
// WeChat Pay: Wechatpay-Serial sent, answers verified, one attempt unless
// a test says otherwise.
func upstream(t *testing.T, s *membercardtest.Server, id *wxsign.Identity, attempts int) *wxpay.Client {
	t.Helper()
	cfg := s.Config(id)
	cfg.MaxAttempts, cfg.BaseBackoff, cfg.MaxBackoff = attempts, time.Nanosecond, time.Nanosecond
	c, err := wxpay.New(cfg)
	require.NoError(t, err)
	return c
}

// do calls WeChat Pay and returns the status and body of its answer,
// error or not.
func do(t *testing.T, c *wxpay.Client, method, path, route string, body any) (int, []byte) {
	t.Helper()
	req := wxpay.Request{Method: method, Path: path, Route: route}
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		req.Body = b
	}
	resp, err := c.Do(context.Background(), req)
	if err != nil {
		var apiErr *wxpay.APIError
		require.ErrorAs(t, err, &apiErr, "%v", err)
		b, _ := json.Marshal(map[string]string{"code": apiErr.Code, "message": apiErr.Message})
		return apiErr.Status, b
	}
	return resp.Status, resp.Body
}

func errorOf(t *testing.T, body []byte) (code, message string) {
	t.Helper()
	var e struct{ Code, Message string }
	require.NoError(t, json.Unmarshal(body, &e), "%s", body)
	return e.Code, e.Message
}

func cardOf(t *testing.T, body []byte) membercard.UserCard {
	t.Helper()
	var c membercard.UserCard
	require.NoError(t, json.Unmarshal(body, &c), "%s", body)
	return c
}

// received is a notification as its receiver reads it.
type received struct {
	env      *wxsign.Notification
	resource map[string]any
	card     membercard.UserCard
}

func receive(t *testing.T, s *membercardtest.Server, key []byte, h http.Header, body []byte) received {
	t.Helper()
	env, err := s.Verifier().ParseNotification(h, body)
	require.NoError(t, err)
	plain, err := wxsign.DecryptResource(key, env.Resource)
	require.NoError(t, err)
	r := received{env: env}
	require.NoError(t, json.Unmarshal(plain, &r.resource))
	require.NoError(t, json.Unmarshal(plain, &r.card))
	return r
}

var systemCode = regexp.MustCompile(`^[0-9]{24}$`)

// An opening is the notification WeChat Pay posts: signed with its public
// key, encrypted with the flavour's key, under the flavour's event type,
// carrying the card as the query answers it.
func TestOpenCard(t *testing.T) {
	legacy := partnerOpening()
	legacy.LegacyEventType = true
	leveled := brandOpening()
	leveled.Level = "金卡"
	for _, tc := range []struct {
		name      string
		o         membercardtest.Opening
		eventType string
	}{
		{"brand", brandOpening(), "BRAND_MEMBER_CARD.USER_CARD.CREATE"},
		{"brand with a level", leveled, "BRAND_MEMBER_CARD.USER_CARD.CREATE"},
		{"service provider", partnerOpening(), "BRAND_MEMBER_CARD_SP.USER_CARD.CREATE"},
		{"service provider, before August 2025", legacy, "MEMBERCARDSP.USER_CARD.CREATE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2025, 9, 1, 2, 3, 4, 0, time.UTC)
			s, _, _ := newServer(t, wxpaytest.Options{Now: func() time.Time { return now }})
			code, h, body, err := s.OpenCard(tc.o)
			require.NoError(t, err)
			assert.Regexp(t, systemCode, code)

			v := s.Verifier()
			v.Now = func() time.Time { return now }
			env, err := v.ParseNotification(h, body)
			require.NoError(t, err, "signed at the stand-in's time, with its key")
			assert.Equal(t, s.PublicKeyID, h.Get(wxsign.HeaderSerial))
			assert.Equal(t, tc.eventType, env.EventType)
			assert.Equal(t, "用户开通会员卡通知", env.Summary)
			assert.Equal(t, "encrypt-resource", env.ResourceType)
			assert.Equal(t, "user_card", env.Resource.OriginalType)
			assert.Equal(t, "user_card", env.Resource.AssociatedData)
			assert.Equal(t, "2025-09-01T10:03:04+08:00", env.CreateTime)
			_, err = wxsign.DecryptResource(apiV3Key, env.Resource)
			assert.Equal(t, tc.o.Flavour == membercardtest.FlavourPartner, err == nil, "encrypted with the opening's key alone")
			_, err = wxsign.DecryptResource(brandAPIKey, env.Resource)
			assert.Equal(t, tc.o.Flavour == membercardtest.FlavourBrand, err == nil)

			plain, err := wxsign.DecryptResource(tc.o.Key, env.Resource)
			require.NoError(t, err)
			want := map[string]any{
				"user_card_code": code, "card_id": cardID, "openid": openid, "brand_id": brandID, "card_type": "NORMAL",
				"valid_date_information": map[string]any{"type": "PERMANENT"}, "pickup_time": "2025-09-01T10:03:04+08:00",
				"user_card_state": "UNACTIVATED", "create_time": "2025-09-01T10:03:04+08:00", "modify_time": "2025-09-01T10:03:04+08:00",
			}
			if tc.o.Level != "" {
				want["level"] = tc.o.Level
			}
			var got map[string]any
			require.NoError(t, json.Unmarshal(plain, &got))
			assert.Equal(t, want, got)

			card, ok := s.UserCard(code)
			require.True(t, ok)
			assert.Equal(t, membercard.UserCardUnactivated, card.UserCardState)
			assert.Equal(t, cardOf(t, plain), card, "the resource is the card the query answers")
			assert.Zero(t, s.Confirmations(code))
		})
	}
}

// Each opening is a card of its own, under its own code.
func TestOpenCardCodesAreFresh(t *testing.T) {
	s, _, _ := newServer(t, wxpaytest.Options{})
	seen := map[string]bool{}
	for range 20 {
		code, _, _, err := s.OpenCard(partnerOpening())
		require.NoError(t, err)
		assert.False(t, seen[code], code)
		seen[code] = true
	}
}

func TestOpenCardRefusesWhatWeChatPayCannotSend(t *testing.T) {
	with := func(o membercardtest.Opening, f func(*membercardtest.Opening)) membercardtest.Opening {
		f(&o)
		return o
	}
	for name, o := range map[string]membercardtest.Opening{
		"no flavour":              with(brandOpening(), func(o *membercardtest.Opening) { o.Flavour = 0 }),
		"unknown flavour":         with(brandOpening(), func(o *membercardtest.Opening) { o.Flavour = 3 }),
		"legacy names of a brand": with(brandOpening(), func(o *membercardtest.Opening) { o.LegacyEventType = true }),
		"short key":               with(brandOpening(), func(o *membercardtest.Opening) { o.Key = []byte("short") }),
		"no key":                  with(partnerOpening(), func(o *membercardtest.Opening) { o.Key = nil }),
		"no brand":                with(partnerOpening(), func(o *membercardtest.Opening) { o.BrandID = "" }),
		"bad openid":              with(partnerOpening(), func(o *membercardtest.Opening) { o.OpenID = "o o" }),
		"level too long": with(partnerOpening(), func(o *membercardtest.Opening) {
			o.Level = "一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三"
		}),
		"unknown card template": with(partnerOpening(), func(o *membercardtest.Opening) { o.CardID = "pbLatjvWOibDc5-TBnbUk1pD12o1" }),
	} {
		t.Run(name, func(t *testing.T) {
			s, _, _ := newServer(t, wxpaytest.Options{})
			_, _, _, err := s.OpenCard(o)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "membercardtest: ")
		})
	}
	assert.Equal(t, "brand", membercardtest.FlavourBrand.String())
	assert.Equal(t, "partner", membercardtest.FlavourPartner.String())
	assert.Equal(t, "Flavour(0)", membercardtest.Flavour(0).String())
}

// The life of a card through each flavour's APIs: opened UNACTIVATED,
// confirmed once (EFFECTIVE, with the fields the confirmation gave), then
// no longer pending: a second confirmation is WeChat Pay's 404 NOT_FOUND,
// and the query tells what happened.
func TestConfirmAndQuery(t *testing.T) {
	for _, partner := range []bool{false, true} {
		t.Run(fmt.Sprintf("partner=%v", partner), func(t *testing.T) {
			s, mch, brand := newServer(t, wxpaytest.Options{})
			o, who := brandOpening(), brand
			confirmPath, confirmRoute := membercard.UserCardConfirmPath, membercard.UserCardConfirmRoute
			query := func(code string) string { return membercard.UserCardPath(code, cardID, openid) }
			req := membercard.UserCardConfirmRequest{CardID: cardID, OpenID: openid, UserCardConfirmState: membercard.ConfirmSuccess,
				Level: "钻石会员", Attach: `{"store":"A-01"}`, CardColor: "#63B359", CardPictureURL: "https://wxpaylogo.qpic.cn/a.png",
				ValidDateInformation: &membercard.ValidDateInformation{Type: membercard.ValidDateFixTerm, AvailableDayAfterReceive: 365}}
			var body any = req
			if partner {
				o, who = partnerOpening(), mch
				confirmPath, confirmRoute = membercard.PartnerUserCardConfirmPath, membercard.PartnerUserCardConfirmRoute
				query = func(code string) string { return membercard.PartnerUserCardPath(code, brandID, cardID, openid) }
				body = membercard.PartnerUserCardConfirmRequest{BrandID: brandID, UserCardConfirmRequest: req}
			}
			c := upstream(t, s, who, 1)
			o.Level = "普通会员"
			code, _, _, err := s.OpenCard(o)
			require.NoError(t, err)

			status, answer := do(t, c, http.MethodGet, query(code), "query", nil)
			require.Equal(t, 200, status, "%s", answer)
			assert.Equal(t, membercard.UserCardUnactivated, cardOf(t, answer).UserCardState)

			status, answer = do(t, c, http.MethodPost, confirmPath(code), confirmRoute, body)
			require.Equal(t, 200, status, "%s", answer)
			confirmed := cardOf(t, answer)
			assert.Equal(t, membercard.UserCardEffective, confirmed.UserCardState)
			assert.Equal(t, "钻石会员", confirmed.Level)
			assert.Equal(t, `{"store":"A-01"}`, confirmed.Attach)
			assert.Equal(t, "#63B359", confirmed.CardColor)
			assert.Equal(t, "https://wxpaylogo.qpic.cn/a.png", confirmed.CardPictureURL)
			assert.Equal(t, req.ValidDateInformation, confirmed.ValidDateInformation)
			stored, _ := s.UserCard(code)
			assert.Equal(t, confirmed, stored)
			assert.Equal(t, 1, s.Confirmations(code))

			status, answer = do(t, c, http.MethodPost, confirmPath(code), confirmRoute, body)
			assert.Equal(t, 404, status)
			errCode, msg := errorOf(t, answer)
			assert.Equal(t, "NOT_FOUND", errCode)
			assert.Equal(t, "用户不存在未激活的会员卡", msg)
			assert.Equal(t, 1, s.Confirmations(code), "a refused confirmation is not counted")

			status, answer = do(t, c, http.MethodGet, query(code), "query", nil)
			require.Equal(t, 200, status)
			assert.Equal(t, confirmed, cardOf(t, answer))
		})
	}
}

// A confirmation without the optional fields keeps what the opening gave;
// a refused opening turns the card INVALID.
func TestConfirmKeepsAndRefuses(t *testing.T) {
	s, mch, _ := newServer(t, wxpaytest.Options{})
	c := upstream(t, s, mch, 1)
	o := partnerOpening()
	o.Level = "金卡"
	code, _, _, err := s.OpenCard(o)
	require.NoError(t, err)
	status, answer := do(t, c, http.MethodPost, membercard.PartnerUserCardConfirmPath(code), "", membercard.PartnerUserCardConfirmRequest{BrandID: brandID,
		UserCardConfirmRequest: membercard.UserCardConfirmRequest{CardID: cardID, OpenID: openid, UserCardConfirmState: membercard.ConfirmSuccess}})
	require.Equal(t, 200, status, "%s", answer)
	card := cardOf(t, answer)
	assert.Equal(t, "金卡", card.Level)
	assert.Equal(t, &membercard.ValidDateInformation{Type: membercard.ValidDatePermanent}, card.ValidDateInformation)

	code, _, _, err = s.OpenCard(o)
	require.NoError(t, err)
	status, answer = do(t, c, http.MethodPost, membercard.PartnerUserCardConfirmPath(code), "", membercard.PartnerUserCardConfirmRequest{BrandID: brandID,
		UserCardConfirmRequest: membercard.UserCardConfirmRequest{CardID: cardID, OpenID: openid, UserCardConfirmState: membercard.ConfirmFail, Level: "钻石会员"}})
	require.Equal(t, 200, status, "%s", answer)
	card = cardOf(t, answer)
	assert.Equal(t, membercard.UserCardInvalid, card.UserCardState)
	assert.Equal(t, "金卡", card.Level, "a refusal changes nothing else")
	assert.Equal(t, 1, s.Confirmations(code))
}

// The stand-in's clock dates the card's changes.
func TestConfirmationIsDated(t *testing.T) {
	now := time.Date(2025, 9, 1, 2, 3, 4, 0, time.UTC)
	s, _, brand := newServer(t, wxpaytest.Options{Now: func() time.Time { return now }})
	code, _, _, err := s.OpenCard(brandOpening())
	require.NoError(t, err)
	now = now.Add(time.Minute)
	cfg := s.Config(brand)
	cfg.Signer.Now = func() time.Time { return now }
	cfg.Verifier.Now = cfg.Signer.Now
	cfg.MaxAttempts = 1
	c, err := wxpay.New(cfg)
	require.NoError(t, err)
	status, answer := do(t, c, http.MethodPost, membercard.UserCardConfirmPath(code), "", membercard.UserCardConfirmRequest{CardID: cardID, OpenID: openid, UserCardConfirmState: membercard.ConfirmSuccess})
	require.Equal(t, 200, status, "%s", answer)
	card := cardOf(t, answer)
	assert.Equal(t, "2025-09-01T10:03:04+08:00", card.CreateTime)
	assert.Equal(t, "2025-09-01T10:03:04+08:00", card.PickupTime)
	assert.Equal(t, "2025-09-01T10:04:04+08:00", card.ModifyTime)
}

// Everything a confirmation can get wrong, each refused as WeChat Pay
// refuses it, and none of them counted.
func TestConfirmRefusals(t *testing.T) {
	type confirmCase struct {
		name    string
		partner bool // signed as the service provider, to the partner API
		path    func(code string) string
		body    string
		mutate  func(*http.Request, *membercardtest.Server)
		status  int
		code    string
		message string
	}
	brandBody := func(extra string) string {
		return `{"card_id":"` + cardID + `","openid":"` + openid + `","user_card_confirm_state":"CREATE_CARD_SUCCESS"` + extra + `}`
	}
	partnerBody := func(brand, extra string) string {
		return `{"brand_id":"` + brand + `","card_id":"` + cardID + `","openid":"` + openid + `","user_card_confirm_state":"CREATE_CARD_SUCCESS"` + extra + `}`
	}
	const notPending = "用户不存在未激活的会员卡"
	const undefined = "请求中含有未在API文档中定义的参数"
	tests := []confirmCase{
		{name: "brand ok", body: brandBody(""), status: 200},
		{name: "partner ok", partner: true, body: partnerBody(brandID, ""), status: 200},
		{name: "another card template", body: `{"card_id":"pbLatjvWOibDc5-TBnbUk1pD12o1","openid":"` + openid + `","user_card_confirm_state":"CREATE_CARD_SUCCESS"}`, status: 404, code: "NOT_FOUND", message: notPending},
		{name: "another user", body: `{"card_id":"` + cardID + `","openid":"obLatjnx9gnqzS4myYGmLZ7LgLBB","user_card_confirm_state":"CREATE_CARD_SUCCESS"}`, status: 404, code: "NOT_FOUND", message: notPending},
		{name: "another brand", partner: true, body: partnerBody("1005", ""), status: 404, code: "NOT_FOUND", message: notPending},
		{name: "unknown code", path: func(string) string { return membercard.UserCardConfirmPath("478515832665123456789012") }, body: brandBody(""), status: 404, code: "NOT_FOUND", message: notPending},
		{name: "brand card through the partner API", partner: true, path: membercard.PartnerUserCardConfirmPath, body: partnerBody(brandID, ""), status: 404, code: "NOT_FOUND", message: notPending},
		{name: "code with a space", path: func(string) string { return membercard.UserCardConfirmPath("4785 1583") }, body: brandBody(""), status: 400, code: "PARAM_ERROR"},
		{name: "code of 33", path: func(string) string { return membercard.UserCardConfirmPath("478515832665123456789012345678901") }, body: brandBody(""), status: 400, code: "PARAM_ERROR"},
		{name: "fail_reason is undefined", body: brandBody(`,"fail_reason":"x"`), status: 400, code: "PARAM_ERROR", message: undefined},
		{name: "brand_id is undefined in the brand body", body: partnerBody(brandID, ""), status: 400, code: "PARAM_ERROR", message: undefined},
		{name: "a key in capitals", body: brandBody(`,"Level":"x"`), status: 400, code: "PARAM_ERROR", message: undefined},
		{name: "card_id in the query", path: func(code string) string { return membercard.UserCardConfirmPath(code) + "?card_id=" + cardID }, body: brandBody(""), status: 400, code: "PARAM_ERROR", message: undefined},
		{name: "partner without brand_id", partner: true, body: brandBody(""), status: 400, code: "PARAM_ERROR"},
		{name: "state missing", body: `{"card_id":"` + cardID + `","openid":"` + openid + `"}`, status: 400, code: "PARAM_ERROR"},
		{name: "state unknown", body: `{"card_id":"` + cardID + `","openid":"` + openid + `","user_card_confirm_state":"CREATE_CARD_ALREADY_EXISTS"}`, status: 400, code: "PARAM_ERROR"},
		{name: "null level", body: brandBody(`,"level":null`), status: 400, code: "PARAM_ERROR"},
		{name: "validity broken", partner: true, body: partnerBody(brandID, `,"valid_date_information":{"type":"FIX_TERM"}`), status: 400, code: "PARAM_ERROR"},
		{name: "colour broken", body: brandBody(`,"card_color":"red"`), status: 400, code: "PARAM_ERROR"},
		{name: "partner without Wechatpay-Serial", partner: true, body: partnerBody(brandID, ""), mutate: func(r *http.Request, _ *membercardtest.Server) { r.Header.Del("Wechatpay-Serial") }, status: 400, code: "INVALID_REQUEST"},
		{name: "brand without Wechatpay-Serial", body: brandBody(""), mutate: func(r *http.Request, _ *membercardtest.Server) { r.Header.Del("Wechatpay-Serial") }, status: 400, code: "INVALID_REQUEST"},
		{name: "brand API signed as a merchant", partner: true, path: membercard.UserCardConfirmPath, body: brandBody(""), status: 401, code: "SIGN_ERROR"},
		{name: "GET is not confirm", path: membercard.UserCardConfirmPath, body: "", status: 405, code: "METHOD_NOT_ALLOWED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, mch, brand := newServer(t, wxpaytest.Options{})
			o, who, path := brandOpening(), brand, membercard.UserCardConfirmPath
			if tc.partner {
				o, who, path = partnerOpening(), mch, membercard.PartnerUserCardConfirmPath
			}
			if tc.name == "brand card through the partner API" || tc.name == "brand API signed as a merchant" {
				o = brandOpening()
			}
			if tc.path != nil {
				path = tc.path
			}
			code, _, _, err := s.OpenCard(o)
			require.NoError(t, err)
			method := http.MethodPost
			if tc.body == "" {
				method = http.MethodGet
			}
			status, errCode := send(t, s, who, raw{method: method, path: path(code), body: tc.body, mutate: tc.mutate})
			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.code, errCode)
			if tc.message != "" {
				assert.Contains(t, lastMessage(t, s), tc.message)
			}
			want := 0
			if tc.status == 200 {
				want = 1
			}
			assert.Equal(t, want, s.Confirmations(code))
			card, _ := s.UserCard(code)
			assert.Equal(t, want == 1, card.UserCardState == membercard.UserCardEffective)
		})
	}
}

// The messages WeChat Pay gives, which a caller's logs show.
func TestConfirmMessages(t *testing.T) {
	s, _, brand := newServer(t, wxpaytest.Options{})
	c := upstream(t, s, brand, 1)
	code, _, _, err := s.OpenCard(brandOpening())
	require.NoError(t, err)
	_, answer := do(t, c, http.MethodPost, membercard.UserCardConfirmPath(code), "", map[string]string{"card_id": cardID, "openid": openid, "user_card_confirm_state": membercard.ConfirmFail, "fail_reason": "x"})
	_, msg := errorOf(t, answer)
	assert.Equal(t, `请求中含有未在API文档中定义的参数: "fail_rea"… is not a known field`, msg)
	_, answer = do(t, c, http.MethodPost, membercard.UserCardConfirmPath(code)+"?card_id=x", "", map[string]string{"card_id": cardID, "openid": openid, "user_card_confirm_state": membercard.ConfirmFail})
	_, msg = errorOf(t, answer)
	assert.Equal(t, `请求中含有未在API文档中定义的参数: "card_id"`, msg)
	_, answer = do(t, c, http.MethodPost, membercard.UserCardConfirmPath(code), "", map[string]string{"card_id": cardID, "openid": openid})
	_, msg = errorOf(t, answer)
	assert.Equal(t, "参数错误: user_card_confirm_state is required", msg)
}

func TestUserCardQueryRefusals(t *testing.T) {
	const base = "/brand/card-member/user-cards/"
	const partnerBase = "/v3/brand/partner/card-member/user-cards/"
	const notFound = "用户会员卡不存在"
	tests := []struct {
		name    string
		partner bool
		opening bool // the card is opened as a partner card
		query   func(code string) string
		body    string
		status  int
		code    string
		message string
	}{
		{name: "brand ok", query: func(c string) string { return base + c + "?card_id=" + cardID + "&openid=" + openid }, status: 200},
		{name: "order of the query is free", query: func(c string) string { return base + c + "?openid=" + openid + "&card_id=" + cardID }, status: 200},
		{name: "partner ok", partner: true, opening: true, query: func(c string) string {
			return partnerBase + c + "?brand_id=1004&card_id=" + cardID + "&openid=" + openid
		}, status: 200},
		{name: "another user", query: func(c string) string { return base + c + "?card_id=" + cardID + "&openid=other" }, status: 404, code: "NOT_FOUND", message: notFound},
		{name: "another card", query: func(c string) string { return base + c + "?card_id=other&openid=" + openid }, status: 404, code: "NOT_FOUND", message: notFound},
		{name: "another brand", partner: true, opening: true, query: func(c string) string {
			return partnerBase + c + "?brand_id=1005&card_id=" + cardID + "&openid=" + openid
		}, status: 404, code: "NOT_FOUND", message: notFound},
		{name: "a partner card through the brand API", opening: true, query: func(c string) string { return base + c + "?card_id=" + cardID + "&openid=" + openid }, status: 404, code: "NOT_FOUND", message: notFound},
		{name: "a brand card through the partner API", partner: true, query: func(c string) string {
			return partnerBase + c + "?brand_id=1004&card_id=" + cardID + "&openid=" + openid
		}, status: 404, code: "NOT_FOUND", message: notFound},
		{name: "unknown code", query: func(string) string { return base + "478515832665123456789012?card_id=" + cardID + "&openid=" + openid }, status: 404, code: "NOT_FOUND", message: notFound},
		{name: "code with an escaped slash reaches the API", query: func(string) string { return base + "a%2Fb?card_id=" + cardID + "&openid=" + openid }, status: 404, code: "NOT_FOUND", message: notFound},
		{name: "code with a space", query: func(string) string { return base + "a%20b?card_id=" + cardID + "&openid=" + openid }, status: 400, code: "PARAM_ERROR"},
		{name: "no openid", query: func(c string) string { return base + c + "?card_id=" + cardID }, status: 400, code: "PARAM_ERROR", message: "参数错误: openid is required"},
		{name: "no query", query: func(c string) string { return base + c }, status: 400, code: "PARAM_ERROR", message: "参数错误: card_id is required"},
		{name: "partner without brand_id", partner: true, opening: true, query: func(c string) string { return partnerBase + c + "?card_id=" + cardID + "&openid=" + openid }, status: 400, code: "PARAM_ERROR", message: "参数错误: brand_id is required"},
		{name: "brand_id is undefined in the brand query", query: func(c string) string { return base + c + "?brand_id=1004&card_id=" + cardID + "&openid=" + openid }, status: 400, code: "PARAM_ERROR", message: `请求中含有未在API文档中定义的参数: "brand_id"`},
		{name: "the first undefined is named", query: func(c string) string { return base + c + "?z=1&a=2&card_id=" + cardID + "&openid=" + openid }, status: 400, code: "PARAM_ERROR", message: `请求中含有未在API文档中定义的参数: "a"`},
		{name: "an empty key is undefined", query: func(c string) string { return base + c + "?=1&card_id=" + cardID + "&openid=" + openid }, status: 400, code: "PARAM_ERROR", message: `请求中含有未在API文档中定义的参数: ""`},
		{name: "openid twice", query: func(c string) string {
			return base + c + "?card_id=" + cardID + "&openid=" + openid + "&openid=" + openid
		}, status: 400, code: "PARAM_ERROR", message: "参数错误: openid appears more than once"},
		{name: "card_id of 33", query: func(c string) string { return base + c + "?card_id=pbLatjvWOibDc5-TBnbUk1pD12o012345&openid=" + openid }, status: 400, code: "PARAM_ERROR"},
		{name: "openid of 129", partner: true, opening: true, query: func(c string) string {
			return partnerBase + c + "?brand_id=1004&card_id=" + cardID + "&openid=" + fmt.Sprintf("%0129d", 1)
		}, status: 400, code: "PARAM_ERROR", message: "参数错误: openid must be at most 128 characters"},
		{name: "a body", query: func(c string) string { return base + c + "?card_id=" + cardID + "&openid=" + openid }, body: "{}", status: 400, code: "INVALID_REQUEST"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, mch, brand := newServer(t, wxpaytest.Options{})
			o, who := brandOpening(), brand
			if tc.opening {
				o = partnerOpening()
			}
			if tc.partner {
				who = mch
			}
			code, _, _, err := s.OpenCard(o)
			require.NoError(t, err)
			r := raw{method: http.MethodGet, path: tc.query(code)}
			if tc.body != "" {
				r.body = tc.body
				r.mutate = func(r *http.Request, _ *membercardtest.Server) { r.Method = http.MethodGet }
			}
			status, errCode := send(t, s, who, r)
			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.code, errCode)
			if tc.message != "" {
				assert.Equal(t, tc.message, lastMessage(t, s))
			}
		})
	}
}

// lastMessage is the message of the stand-in's last error answer.
func lastMessage(t *testing.T, s *membercardtest.Server) string {
	t.Helper()
	rec, err := s.LastRequest()
	require.NoError(t, err)
	return rec.Message
}

// A deletion is notified under the opening's flavour and names, encrypted
// with its key; the card turns INVALID and can no longer be confirmed.
func TestDeleteCard(t *testing.T) {
	legacy := partnerOpening()
	legacy.LegacyEventType = true
	for _, tc := range []struct {
		name      string
		o         membercardtest.Opening
		eventType string
	}{
		{"brand", brandOpening(), "BRAND_MEMBER_CARD.USER_CARD.DELETE"},
		{"service provider", partnerOpening(), "BRAND_MEMBER_CARD_SP.USER_CARD.DELETE"},
		{"service provider, before August 2025", legacy, "MEMBERCARDSP.USER_CARD.DELETE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, mch, brand := newServer(t, wxpaytest.Options{})
			code, _, _, err := s.OpenCard(tc.o)
			require.NoError(t, err)
			h, body, err := s.DeleteCard(code)
			require.NoError(t, err)
			got := receive(t, s, tc.o.Key, h, body)
			assert.Equal(t, tc.eventType, got.env.EventType)
			assert.True(t, membercard.IsUserCardDeleteEvent(got.env.EventType))
			assert.Equal(t, "用户删除会员卡通知", got.env.Summary)
			assert.Equal(t, "user_card", got.env.Resource.AssociatedData)
			assert.Equal(t, code, got.card.UserCardCode)
			assert.Equal(t, membercard.UserCardInvalid, got.card.UserCardState)
			stored, _ := s.UserCard(code)
			assert.Equal(t, stored, got.card)

			path, body2, who := membercard.UserCardConfirmPath(code), `{"card_id":"`+cardID+`","openid":"`+openid+`","user_card_confirm_state":"CREATE_CARD_SUCCESS"}`, brand
			if tc.o.Flavour == membercardtest.FlavourPartner {
				path, body2, who = membercard.PartnerUserCardConfirmPath(code), `{"brand_id":"1004","card_id":"`+cardID+`","openid":"`+openid+`","user_card_confirm_state":"CREATE_CARD_SUCCESS"}`, mch
			}
			status, errCode := send(t, s, who, raw{method: http.MethodPost, path: path, body: body2})
			assert.Equal(t, 404, status, "a deleted card is not pending")
			assert.Equal(t, "NOT_FOUND", errCode)

			_, _, err = s.DeleteCard(code)
			assert.Error(t, err, "deleted twice")
		})
	}
}

func TestDeleteCardRefusals(t *testing.T) {
	s, mch, _ := newServer(t, wxpaytest.Options{})
	_, _, err := s.DeleteCard("478515832665123456789012")
	assert.Error(t, err, "no such card")

	code, _, _, err := s.OpenCard(partnerOpening())
	require.NoError(t, err)
	status, _ := send(t, s, mch, raw{method: http.MethodPost, path: membercard.PartnerUserCardConfirmPath(code),
		body: `{"brand_id":"1004","card_id":"` + cardID + `","openid":"` + openid + `","user_card_confirm_state":"CREATE_CARD_FAIL"}`})
	require.Equal(t, 200, status)
	_, _, err = s.DeleteCard(code)
	assert.Error(t, err, "a refused card is in no wallet")

	_, ok := s.UserCard("478515832665123456789012")
	assert.False(t, ok)
	assert.Zero(t, s.Confirmations("478515832665123456789012"))
}

// An effective card can be deleted, and reads INVALID after.
func TestDeleteEffectiveCard(t *testing.T) {
	s, _, brand := newServer(t, wxpaytest.Options{})
	c := upstream(t, s, brand, 1)
	code, _, _, err := s.OpenCard(brandOpening())
	require.NoError(t, err)
	status, _ := do(t, c, http.MethodPost, membercard.UserCardConfirmPath(code), "", membercard.UserCardConfirmRequest{CardID: cardID, OpenID: openid, UserCardConfirmState: membercard.ConfirmSuccess})
	require.Equal(t, 200, status)
	_, _, err = s.DeleteCard(code)
	require.NoError(t, err)
	status, answer := do(t, c, http.MethodGet, membercard.UserCardPath(code, cardID, openid), "", nil)
	require.Equal(t, 200, status)
	assert.Equal(t, membercard.UserCardInvalid, cardOf(t, answer).UserCardState)
}

// PostOpenCard and PostDeleteCard deliver the notifications to a
// receiver, which gets exactly what WeChat Pay would send.
func TestPostOpenAndDeleteCard(t *testing.T) {
	s, _, _ := newServer(t, wxpaytest.Options{})
	type delivery struct {
		h    http.Header
		body []byte
	}
	var mu sync.Mutex
	var deliveries []delivery
	status := http.StatusNoContent
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		deliveries = append(deliveries, delivery{r.Header.Clone(), body})
		w.WriteHeader(status)
	}))
	defer receiver.Close()
	ctx := context.Background()

	code, st, err := s.PostOpenCard(ctx, receiver.Client(), receiver.URL+"/notify/card-events", partnerOpening())
	require.NoError(t, err)
	assert.Equal(t, 204, st)
	mu.Lock()
	status = http.StatusInternalServerError
	mu.Unlock()
	st, err = s.PostDeleteCard(ctx, nil, receiver.URL+"/notify/card-events", code)
	require.NoError(t, err)
	assert.Equal(t, 500, st, "the receiver's status, whatever it is")

	mu.Lock()
	var got []received
	for _, d := range deliveries {
		got = append(got, receive(t, s, apiV3Key, d.h, d.body))
	}
	mu.Unlock()
	require.Len(t, got, 2)
	assert.Equal(t, membercard.PartnerUserCardCreateEvent, got[0].env.EventType)
	assert.Equal(t, code, got[0].card.UserCardCode)
	assert.Equal(t, membercard.UserCardUnactivated, got[0].resource["user_card_state"])
	assert.Equal(t, membercard.PartnerUserCardDeleteEvent, got[1].env.EventType)
	assert.Equal(t, membercard.UserCardInvalid, got[1].resource["user_card_state"])
	assert.NotEqual(t, got[0].env.ID, got[1].env.ID)

	_, _, err = s.PostOpenCard(ctx, nil, receiver.URL, membercardtest.Opening{})
	assert.Error(t, err, "an opening that cannot happen is not posted")
	_, err = s.PostDeleteCard(ctx, nil, receiver.URL, "478515832665123456789012")
	assert.Error(t, err)
	mu.Lock()
	assert.Len(t, deliveries, 2, "nothing more was posted")
	mu.Unlock()

	receiver.Close()
	code, _, err = s.PostOpenCard(ctx, nil, receiver.URL, partnerOpening())
	assert.Error(t, err, "nobody listens")
	_, ok := s.UserCard(code)
	assert.True(t, ok, "the card was opened all the same: WeChat Pay would retry the notification")
}

// Confirmations of one card in flight at once: one is accepted, every
// other is WeChat Pay's NOT_FOUND.
func TestConcurrentConfirmationsAcceptOne(t *testing.T) {
	s, mch, _ := newServer(t, wxpaytest.Options{})
	code, _, _, err := s.OpenCard(partnerOpening())
	require.NoError(t, err)
	body := membercard.PartnerUserCardConfirmRequest{BrandID: brandID, UserCardConfirmRequest: membercard.UserCardConfirmRequest{CardID: cardID, OpenID: openid, UserCardConfirmState: membercard.ConfirmSuccess}}
	c := upstream(t, s, mch, 1)
	statuses := make(chan int, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			st, _ := do(t, c, http.MethodPost, membercard.PartnerUserCardConfirmPath(code), "", body)
			statuses <- st
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	assert.Equal(t, map[int]int{200: 1, 404: 7}, count)
	assert.Equal(t, 1, s.Confirmations(code))
}

// The faults wxpaytest injects reach the new APIs: a 429 or 5xx retried
// is confirmed once; a 429, a 5xx or a hang-up that is not retried
// confirms nothing.
func TestFaultsApplyToUserCardAPIs(t *testing.T) {
	body := membercard.UserCardConfirmRequest{CardID: cardID, OpenID: openid, UserCardConfirmState: membercard.ConfirmSuccess}
	for _, f := range []wxpaytest.Fault{{Kind: wxpaytest.Status, Status: 429}, {Kind: wxpaytest.Status, Status: 503}, {Kind: wxpaytest.Drop}} {
		t.Run(fmt.Sprint(f.Kind, f.Status), func(t *testing.T) {
			s, _, brand := newServer(t, wxpaytest.Options{})
			code, _, _, err := s.OpenCard(brandOpening())
			require.NoError(t, err)
			s.Inject(f)
			_, err = upstream(t, s, brand, 1).Do(context.Background(), wxpay.Request{Method: http.MethodPost, Path: membercard.UserCardConfirmPath(code), Route: membercard.UserCardConfirmRoute, Body: mustJSON(t, body)})
			require.Error(t, err)
			assert.Zero(t, s.Confirmations(code), "the fault answered before the API")
			if f.Kind == wxpaytest.Drop {
				return // a hang-up is not retried on the same host
			}

			s.Inject(f)
			resp, err := upstream(t, s, brand, 3).Do(context.Background(), wxpay.Request{Method: http.MethodPost, Path: membercard.UserCardConfirmPath(code), Route: membercard.UserCardConfirmRoute, Body: mustJSON(t, body)})
			require.NoError(t, err)
			assert.Equal(t, 2, resp.Attempts)
			assert.Equal(t, 1, s.Confirmations(code))
		})
	}
	s, _, brand := newServer(t, wxpaytest.Options{})
	code, _, _, err := s.OpenCard(brandOpening())
	require.NoError(t, err)
	s.Inject(wxpaytest.Fault{Kind: wxpaytest.BadSignature})
	_, err = upstream(t, s, brand, 1).Do(context.Background(), wxpay.Request{Method: http.MethodGet, Path: membercard.UserCardPath(code, cardID, openid), Route: membercard.UserCardRoute})
	assert.Error(t, err, "a query answer that fails verification")
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// 5 calls a second per brand to each user-card API, and per merchant to
// the partner ones, whichever cards they name.
func TestUserCardRateLimits(t *testing.T) {
	now := time.Unix(1700000000, 0)
	s, mch, brand := newServer(t, wxpaytest.Options{RateLimits: true, Now: func() time.Time { return now }})
	clock := func(sg *wxsign.Signer) { sg.Now = func() time.Time { return now } }
	var codes []string
	for range 6 {
		code, _, _, err := s.OpenCard(brandOpening())
		require.NoError(t, err)
		codes = append(codes, code)
	}
	confirm := func(i int) raw {
		return raw{method: http.MethodPost, path: membercard.UserCardConfirmPath(codes[i]), sign: clock,
			body: `{"card_id":"` + cardID + `","openid":"` + openid + `","user_card_confirm_state":"CREATE_CARD_SUCCESS"}`}
	}
	for i := range 5 {
		status, _ := send(t, s, brand, confirm(i))
		require.Equal(t, 200, status, "confirmation %d", i)
	}
	status, code := send(t, s, brand, confirm(5))
	assert.Equal(t, 429, status)
	assert.Equal(t, "FREQUENCY_LIMITED", code)
	assert.Zero(t, s.Confirmations(codes[5]))

	for i := range 5 {
		status, _ := send(t, s, brand, raw{method: http.MethodGet, path: membercard.UserCardPath(codes[i], cardID, openid), sign: clock})
		require.Equal(t, 200, status, "query %d: its own window", i)
	}
	status, _ = send(t, s, brand, raw{method: http.MethodGet, path: membercard.UserCardPath(codes[5], cardID, openid), sign: clock})
	assert.Equal(t, 429, status)

	for i := range 5 {
		status, _ := send(t, s, mch, raw{method: http.MethodGet, path: membercard.PartnerUserCardPath(codes[i], brandID, cardID, openid), sign: clock})
		require.Equal(t, 404, status, "partner query %d: a brand card, but not limited", i)
	}
	status, _ = send(t, s, mch, raw{method: http.MethodGet, path: membercard.PartnerUserCardPath(codes[5], brandID, cardID, openid), sign: clock})
	assert.Equal(t, 429, status)

	now = now.Add(time.Second)
	status, _ = send(t, s, brand, confirm(5))
	assert.Equal(t, 200, status, "a new second, a new window")
}
