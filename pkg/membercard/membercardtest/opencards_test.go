package membercardtest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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

const (
	otherCardID = "pbLatjvWOibDc5-TBnbUk1pD12o1"
	userForm    = `{"common_field_list":[{"name":"USER_FORM_FLAG_MOBILE","value":"13800000000"}]}`
)

func issue() membercardtest.OpenCardIssue {
	return membercardtest.OpenCardIssue{CardID: cardID, OpenID: openid, UserInformation: json.RawMessage(userForm), Level: "普通", Bonus: 10, Balance: 500}
}

// clock is a stand-in whose time a test moves, with a merchant client that
// signs and verifies by the same clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newClocked(t *testing.T) (*membercardtest.Server, *clock, *wxpay.Client) {
	t.Helper()
	clk := &clock{now: time.Date(2025, 9, 1, 2, 3, 4, 0, time.UTC)}
	s, mch, _ := newServer(t, wxpaytest.Options{Now: clk.Now})
	s.AddCard(otherCardID)
	cfg := s.Config(mch)
	cfg.Signer.Now, cfg.Verifier.Now, cfg.MaxAttempts = clk.Now, clk.Now, 1
	c, err := wxpay.New(cfg)
	require.NoError(t, err)
	return s, clk, c
}

func errorIs(t *testing.T, status int, body []byte, wantStatus int, wantCode, wantMessage string) {
	t.Helper()
	assert.Equal(t, wantStatus, status, "%s", body)
	if wantCode == "" {
		return
	}
	code, msg := errorOf(t, body)
	assert.Equal(t, wantCode, code)
	assert.Contains(t, msg, wantMessage)
}

// A JUMP_ACTIVATE card is handed out NOT_ACTIVATE, with an encrypt_code in
// WeChat Pay's Base64 and a ticket of its own.
func TestIssueOpenCard(t *testing.T) {
	s, _, _ := newClocked(t)
	seen := map[string]bool{}
	for range 10 {
		h, err := s.IssueOpenCard(issue())
		require.NoError(t, err)
		assert.Regexp(t, systemCode, h.Code)
		assert.Equal(t, openid, h.OpenID)
		assert.Contains(t, h.EncryptCode, "+")
		assert.Contains(t, h.EncryptCode, "/")
		assert.True(t, strings.HasSuffix(h.EncryptCode, "="), h.EncryptCode)
		require.NoError(t, membercard.CheckEncryptCode("encrypt_code", h.EncryptCode))
		require.NoError(t, membercard.CheckActivateTicket("activate_ticket", h.ActivateTicket))
		for _, v := range []string{h.Code, h.EncryptCode, h.ActivateTicket} {
			assert.False(t, seen[v], v)
			seen[v] = true
		}
		card, ok := s.OpenUserCard(h.Code)
		require.True(t, ok)
		assert.Equal(t, membercard.OpenUserCard{CardID: cardID, Code: h.Code, OpenID: openid, Level: "普通", UserCardStatus: membercard.OpenCardNotActivated,
			BonusValue: 10, Balance: 500, UserInformation: json.RawMessage(userForm)}, card)
		assert.Zero(t, s.Updates(h.Code))
	}
	_, ok := s.OpenUserCard("478515832665123456789012")
	assert.False(t, ok)
}

func TestIssueOpenCardRefusesWhatCannotHappen(t *testing.T) {
	with := func(f func(*membercardtest.OpenCardIssue)) membercardtest.OpenCardIssue {
		o := issue()
		f(&o)
		return o
	}
	for name, o := range map[string]membercardtest.OpenCardIssue{
		"no card":            with(func(o *membercardtest.OpenCardIssue) { o.CardID = "" }),
		"unknown template":   with(func(o *membercardtest.OpenCardIssue) { o.CardID = "pbLatjvWOibDc5-TBnbUk1pD12o9" }),
		"bad openid":         with(func(o *membercardtest.OpenCardIssue) { o.OpenID = "o o" }),
		"level of 6":         with(func(o *membercardtest.OpenCardIssue) { o.Level = "一二三四五六" }),
		"form not an object": with(func(o *membercardtest.OpenCardIssue) { o.UserInformation = json.RawMessage(`[1]`) }),
		"form not JSON":      with(func(o *membercardtest.OpenCardIssue) { o.UserInformation = json.RawMessage(`{`) }),
		"negative bonus":     with(func(o *membercardtest.OpenCardIssue) { o.Bonus = -1 }),
		"balance over int32": with(func(o *membercardtest.OpenCardIssue) { o.Balance = membercard.MaxPoints + 1 }),
	} {
		t.Run(name, func(t *testing.T) {
			s, _, _ := newClocked(t)
			_, err := s.IssueOpenCard(o)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "membercardtest: ")
			_, _, _, err = s.AutoActivate(o, apiV3Key)
			require.Error(t, err)
		})
	}
	s, _, _ := newClocked(t)
	_, _, _, err := s.AutoActivate(issue(), []byte("short"))
	assert.ErrorContains(t, err, "32")
}

func TestDecryptCode(t *testing.T) {
	const base = "/v3/marketing/membercard-open/cards/"
	tests := []struct {
		name    string
		path    func(h membercardtest.OpenCardHandout) string
		status  int
		code    string
		message string
	}{
		{name: "ok", path: func(h membercardtest.OpenCardHandout) string {
			return membercard.DecryptCodePath(cardID, h.EncryptCode)
		}, status: 200},
		{name: "another card template", path: func(h membercardtest.OpenCardHandout) string {
			return membercard.DecryptCodePath(otherCardID, h.EncryptCode)
		},
			status: 400, code: "INVALID_REQUEST", message: "解密失败,请确认入参正确性,入参要求是从微信接收的原始格式"},
		{name: "an unknown template", path: func(h membercardtest.OpenCardHandout) string {
			return membercard.DecryptCodePath("pbLatjvWOibDc5-TBnbUk1pD12o9", h.EncryptCode)
		},
			status: 400, code: "INVALID_REQUEST", message: "解密失败"},
		{name: "encoded twice", path: func(h membercardtest.OpenCardHandout) string {
			return membercard.DecryptCodePath(cardID, strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(h.EncryptCode))
		}, status: 400, code: "INVALID_REQUEST", message: "解密失败"},
		{name: "not encoded: + reads as a space", path: func(h membercardtest.OpenCardHandout) string {
			return base + cardID + "/decrypt-code?encrypt_code=" + h.EncryptCode
		}, status: 400, code: "PARAM_ERROR", message: "encrypt_code may contain only printable ASCII without space"},
		{name: "the plain code", path: func(h membercardtest.OpenCardHandout) string { return membercard.DecryptCodePath(cardID, h.Code) },
			status: 400, code: "INVALID_REQUEST", message: "解密失败"},
		{name: "no encrypt_code", path: func(membercardtest.OpenCardHandout) string { return base + cardID + "/decrypt-code" },
			status: 400, code: "PARAM_ERROR", message: "encrypt_code is required"},
		{name: "encrypt_code twice", path: func(h membercardtest.OpenCardHandout) string {
			return membercard.DecryptCodePath(cardID, h.EncryptCode) + "&encrypt_code=x"
		}, status: 400, code: "PARAM_ERROR", message: "encrypt_code appears more than once"},
		{name: "encrypt_code of 129", path: func(membercardtest.OpenCardHandout) string {
			return membercard.DecryptCodePath(cardID, strings.Repeat("A", 129))
		}, status: 400, code: "PARAM_ERROR", message: "at most 128"},
		{name: "an undefined parameter", path: func(h membercardtest.OpenCardHandout) string {
			return membercard.DecryptCodePath(cardID, h.EncryptCode) + "&code=1"
		}, status: 400, code: "PARAM_ERROR", message: `请求中含有未在API文档中定义的参数: "code"`},
		{name: "card_id of 33", path: func(h membercardtest.OpenCardHandout) string {
			return membercard.DecryptCodePath(cardID+"12345", h.EncryptCode)
		}, status: 400, code: "PARAM_ERROR", message: "card_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _, c := newClocked(t)
			h, err := s.IssueOpenCard(issue())
			require.NoError(t, err)
			status, body := do(t, c, http.MethodGet, tc.path(h), membercard.DecryptCodeRoute, nil)
			errorIs(t, status, body, tc.status, tc.code, tc.message)
			if tc.status == 200 {
				var d membercard.DecryptedCode
				require.NoError(t, json.Unmarshal(body, &d))
				assert.Equal(t, h.Code, d.Code)
			}
		})
	}
	t.Run("a body", func(t *testing.T) {
		s, mch, _ := newServer(t, wxpaytest.Options{})
		h, err := s.IssueOpenCard(issue())
		require.NoError(t, err)
		status, code := send(t, s, mch, raw{method: http.MethodGet, path: membercard.DecryptCodePath(cardID, h.EncryptCode), body: "{}",
			mutate: func(r *http.Request, _ *membercardtest.Server) { r.Method = http.MethodGet }})
		assert.Equal(t, 400, status)
		assert.Equal(t, "INVALID_REQUEST", code)
	})
}

// The code decrypts as often as asked, and stays the card's after its
// activation.
func TestDecryptCodeAgain(t *testing.T) {
	s, _, c := newClocked(t)
	h, err := s.IssueOpenCard(issue())
	require.NoError(t, err)
	for range 2 {
		status, body := do(t, c, http.MethodGet, membercard.DecryptCodePath(cardID, h.EncryptCode), "", nil)
		require.Equal(t, 200, status, "%s", body)
	}
	status, body := do(t, c, http.MethodPost, membercard.ActivatePath(cardID, h.Code), "", membercard.ActivateRequest{})
	require.Equal(t, 204, status, "%s", body)
	status, body = do(t, c, http.MethodGet, membercard.DecryptCodePath(cardID, h.EncryptCode), "", nil)
	assert.Equal(t, 200, status, "%s", body)
}

func TestOpenCardQuery(t *testing.T) {
	tests := []struct {
		name    string
		path    func(code string) string
		status  int
		code    string
		message string
	}{
		{name: "ok", path: func(code string) string { return membercard.OpenUserCardPath(cardID, code) }, status: 200},
		{name: "another card template", path: func(code string) string { return membercard.OpenUserCardPath(otherCardID, code) }, status: 404, code: "NOT_FOUND", message: "用户会员卡不存在"},
		{name: "unknown code", path: func(string) string { return membercard.OpenUserCardPath(cardID, "478515832665123456789012") }, status: 404, code: "NOT_FOUND", message: "用户会员卡不存在"},
		{name: "code of 33", path: func(string) string { return membercard.OpenUserCardPath(cardID, strings.Repeat("1", 33)) }, status: 400, code: "PARAM_ERROR", message: "code"},
		{name: "card_id with a dot", path: func(code string) string { return membercard.OpenUserCardPath("a.b", code) }, status: 400, code: "PARAM_ERROR", message: "card_id"},
		{name: "a query", path: func(code string) string { return membercard.OpenUserCardPath(cardID, code) + "?openid=" + openid }, status: 400, code: "PARAM_ERROR", message: `未在API文档中定义的参数: "openid"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _, c := newClocked(t)
			h, err := s.IssueOpenCard(issue())
			require.NoError(t, err)
			status, body := do(t, c, http.MethodGet, tc.path(h.Code), membercard.OpenUserCardRoute, nil)
			errorIs(t, status, body, tc.status, tc.code, tc.message)
			if tc.status != 200 {
				return
			}
			var got map[string]any
			require.NoError(t, json.Unmarshal(body, &got))
			assert.Equal(t, map[string]any{
				"card_id": cardID, "code": h.Code, "openid": openid, "membership_number": "", "level": "普通",
				"user_card_status": "NOT_ACTIVATE", "bonus_value": 10.0, "balance": 500.0,
				"user_information": map[string]any{"common_field_list": []any{map[string]any{"name": "USER_FORM_FLAG_MOBILE", "value": "13800000000"}}},
			}, got)
		})
	}
}

// The ticket reads the form until it expires or its card is activated;
// after either, and for a ticket nobody issued, it is 400 INVALID_REQUEST.
func TestActivateTicket(t *testing.T) {
	const spent = "activate_ticket已失效"
	tests := []struct {
		name    string
		before  func(t *testing.T, s *membercardtest.Server, clk *clock, c *wxpay.Client, h membercardtest.OpenCardHandout)
		ticket  func(h membercardtest.OpenCardHandout) string
		status  int
		code    string
		message string
	}{
		{name: "fresh", status: 200},
		{name: "read twice", before: func(t *testing.T, _ *membercardtest.Server, _ *clock, c *wxpay.Client, h membercardtest.OpenCardHandout) {
			status, _ := do(t, c, http.MethodGet, membercard.ActivateInformationPath(h.ActivateTicket), "", nil)
			require.Equal(t, 200, status)
		}, status: 200},
		{name: "a second before it expires", before: func(_ *testing.T, _ *membercardtest.Server, clk *clock, _ *wxpay.Client, _ membercardtest.OpenCardHandout) {
			clk.Add(membercardtest.ActivateTicketLife - time.Second)
		}, status: 200},
		{name: "expired", before: func(_ *testing.T, _ *membercardtest.Server, clk *clock, _ *wxpay.Client, _ membercardtest.OpenCardHandout) {
			clk.Add(membercardtest.ActivateTicketLife)
		}, status: 400, code: "INVALID_REQUEST", message: spent},
		{name: "spent by the activation", before: func(t *testing.T, _ *membercardtest.Server, _ *clock, c *wxpay.Client, h membercardtest.OpenCardHandout) {
			status, body := do(t, c, http.MethodPost, membercard.ActivatePath(cardID, h.Code), "", membercard.ActivateRequest{})
			require.Equal(t, 204, status, "%s", body)
		}, status: 400, code: "INVALID_REQUEST", message: spent},
		{name: "another card's activation spends nothing", before: func(t *testing.T, s *membercardtest.Server, _ *clock, c *wxpay.Client, _ membercardtest.OpenCardHandout) {
			other, err := s.IssueOpenCard(issue())
			require.NoError(t, err)
			status, body := do(t, c, http.MethodPost, membercard.ActivatePath(cardID, other.Code), "", membercard.ActivateRequest{})
			require.Equal(t, 204, status, "%s", body)
		}, status: 200},
		{name: "unknown", ticket: func(membercardtest.OpenCardHandout) string { return "pDF3iY9tv9zCGCj4jTXFOo1DxHdo" }, status: 400, code: "INVALID_REQUEST", message: spent},
		{name: "the encrypt_code is no ticket", ticket: func(h membercardtest.OpenCardHandout) string { return h.EncryptCode }, status: 400, code: "INVALID_REQUEST", message: spent},
		{name: "a ticket of 257", ticket: func(membercardtest.OpenCardHandout) string { return strings.Repeat("t", 257) }, status: 400, code: "PARAM_ERROR", message: "activate_ticket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, clk, c := newClocked(t)
			h, err := s.IssueOpenCard(issue())
			require.NoError(t, err)
			if tc.before != nil {
				tc.before(t, s, clk, c, h)
			}
			ticket := h.ActivateTicket
			if tc.ticket != nil {
				ticket = tc.ticket(h)
			}
			status, body := do(t, c, http.MethodGet, membercard.ActivateInformationPath(ticket), membercard.ActivateInformationRoute, nil)
			errorIs(t, status, body, tc.status, tc.code, tc.message)
			if tc.status == 200 {
				assert.JSONEq(t, `{"user_information":`+userForm+`}`, string(body))
			}
		})
	}
}

// A ticket without a form answers an empty object.
func TestActivateTicketWithoutForm(t *testing.T) {
	s, _, c := newClocked(t)
	o := issue()
	o.UserInformation = nil
	h, err := s.IssueOpenCard(o)
	require.NoError(t, err)
	status, body := do(t, c, http.MethodGet, membercard.ActivateInformationPath(h.ActivateTicket), "", nil)
	require.Equal(t, 200, status)
	assert.JSONEq(t, `{}`, string(body))
}

func TestActivate(t *testing.T) {
	tests := []struct {
		name    string
		path    func(code string) string
		body    string
		twice   bool
		status  int
		code    string
		message string
		number  string // the membership number after
	}{
		{name: "default number", body: `{}`, status: 204, number: "code"},
		{name: "own number", body: `{"membership_number":"VIP-0001"}`, status: 204, number: "VIP-0001"},
		{name: "twice", body: `{}`, twice: true, status: 400, code: "INVALID_REQUEST", message: "会员卡已激活", number: "code"},
		{name: "number with a space", body: `{"membership_number":"VIP 0001"}`, status: 400, code: "PARAM_ERROR", message: "membership_number"},
		{name: "number of 33", body: `{"membership_number":"` + strings.Repeat("1", 33) + `"}`, status: 400, code: "PARAM_ERROR", message: "membership_number"},
		{name: "level is not the activation's", body: `{"level":"金卡"}`, status: 400, code: "PARAM_ERROR", message: "请求中含有未在API文档中定义的参数"},
		{name: "number null", body: `{"membership_number":null}`, status: 400, code: "PARAM_ERROR", message: "must not be null"},
		{name: "no body", body: ``, status: 400, code: "PARAM_ERROR", message: "body is required"},
		{name: "another template", path: func(code string) string { return membercard.ActivatePath(otherCardID, code) }, body: `{}`, status: 404, code: "NOT_FOUND", message: "用户会员卡不存在"},
		{name: "unknown code", path: func(string) string { return membercard.ActivatePath(cardID, "478515832665123456789012") }, body: `{}`, status: 404, code: "NOT_FOUND"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, mch, _ := newServer(t, wxpaytest.Options{})
			s.AddCard(otherCardID)
			h, err := s.IssueOpenCard(issue())
			require.NoError(t, err)
			path := membercard.ActivatePath(cardID, h.Code)
			if tc.path != nil {
				path = tc.path(h.Code)
			}
			r := raw{method: http.MethodPost, path: path, body: tc.body}
			if tc.body == "" {
				r.mutate = func(r *http.Request, _ *membercardtest.Server) { r.Header.Set("Content-Type", "application/json") }
			}
			if tc.twice {
				status, _ := send(t, s, mch, r)
				require.Equal(t, 204, status)
			}
			status, code := send(t, s, mch, r)
			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.code, code)
			if tc.message != "" {
				assert.Contains(t, lastMessage(t, s), tc.message)
			}
			card, _ := s.OpenUserCard(h.Code)
			switch tc.number {
			case "":
				assert.Equal(t, membercard.OpenCardNotActivated, card.UserCardStatus)
				assert.Empty(t, card.MembershipNumber)
			case "code":
				assert.Equal(t, membercard.OpenCardEffective, card.UserCardStatus)
				assert.Equal(t, h.Code, card.MembershipNumber)
			default:
				assert.Equal(t, membercard.OpenCardEffective, card.UserCardStatus)
				assert.Equal(t, tc.number, card.MembershipNumber)
			}
		})
	}
}

// activated is an EFFECTIVE membercard-open card of issue(), activated
// through the API.
func activated(t *testing.T, s *membercardtest.Server, c *wxpay.Client) string {
	t.Helper()
	h, err := s.IssueOpenCard(issue())
	require.NoError(t, err)
	status, body := do(t, c, http.MethodPost, membercard.ActivatePath(cardID, h.Code), "", membercard.ActivateRequest{})
	require.Equal(t, 204, status, "%s", body)
	return h.Code
}

type step struct {
	method, path string // path "" is the card's update
	body         any
	status       int
	message      string
}

func balance(before, after int64) *membercard.BalanceInformation {
	return &membercard.BalanceInformation{BeforeBalance: before, Balance: after, AddBalance: after - before}
}

// Updates of level, balance and points: applied to an EFFECTIVE card only,
// from the balance and points it has, once per out_request_no.
func TestOpenCardUpdates(t *testing.T) {
	up := func(body any, status int, message string) step {
		return step{method: http.MethodPatch, body: body, status: status, message: message}
	}
	rights := func(body any, status int, message string) step {
		return step{method: http.MethodPatch, path: "rights", body: body, status: status, message: message}
	}
	tests := []struct {
		name            string
		notActivated    bool
		steps           []step
		level           string
		balance, points int64
		updates         int
	}{
		{name: "level", steps: []step{up(membercard.OpenUserCardUpdateRequest{Level: "金卡", OutRequestNo: "u1"}, 204, "")}, level: "金卡", balance: 500, points: 10, updates: 1},
		{name: "balance", steps: []step{up(membercard.OpenUserCardUpdateRequest{OutRequestNo: "u1", BalanceInformation: balance(500, 800)}, 204, "")}, level: "普通", balance: 800, points: 10, updates: 1},
		{name: "balance from another", steps: []step{up(membercard.OpenUserCardUpdateRequest{OutRequestNo: "u1", BalanceInformation: balance(400, 800)}, 400, "before_balance与当前余额不一致")},
			level: "普通", balance: 500, points: 10},
		{name: "the same update again", steps: []step{
			up(membercard.OpenUserCardUpdateRequest{OutRequestNo: "u1", BalanceInformation: balance(500, 800)}, 204, ""),
			up(membercard.OpenUserCardUpdateRequest{OutRequestNo: "u1", BalanceInformation: balance(500, 800)}, 204, ""),
		}, level: "普通", balance: 800, points: 10, updates: 1},
		{name: "another update under the same out_request_no", steps: []step{
			up(membercard.OpenUserCardUpdateRequest{OutRequestNo: "u1", BalanceInformation: balance(500, 800)}, 204, ""),
			up(membercard.OpenUserCardUpdateRequest{OutRequestNo: "u1", BalanceInformation: balance(800, 900)}, 400, "out_request_no重复"),
		}, level: "普通", balance: 800, points: 10, updates: 1},
		{name: "a refused update spends no out_request_no", steps: []step{
			up(membercard.OpenUserCardUpdateRequest{OutRequestNo: "u1", BalanceInformation: balance(1, 800)}, 400, "before_balance"),
			up(membercard.OpenUserCardUpdateRequest{OutRequestNo: "u1", BalanceInformation: balance(500, 800)}, 204, ""),
		}, level: "普通", balance: 800, points: 10, updates: 1},
		{name: "two updates", steps: []step{
			up(membercard.OpenUserCardUpdateRequest{OutRequestNo: "u1", BalanceInformation: balance(500, 800)}, 204, ""),
			up(membercard.OpenUserCardUpdateRequest{OutRequestNo: "u2", Level: "金卡", BalanceInformation: balance(800, 0)}, 204, ""),
		}, level: "金卡", balance: 0, points: 10, updates: 2},
		{name: "not activated", notActivated: true, steps: []step{up(membercard.OpenUserCardUpdateRequest{Level: "金卡", OutRequestNo: "u1"}, 400, "用户会员卡状态异常")},
			level: "普通", balance: 500, points: 10},
		{name: "level of 6", steps: []step{up(membercard.OpenUserCardUpdateRequest{Level: "一二三四五六", OutRequestNo: "u1"}, 400, "level must be at most 5 characters")},
			level: "普通", balance: 500, points: 10},
		{name: "out_request_no of 33", steps: []step{up(membercard.OpenUserCardUpdateRequest{OutRequestNo: strings.Repeat("a", 33)}, 400, "out_request_no")},
			level: "普通", balance: 500, points: 10},
		{name: "attach is not membercard-open's", steps: []step{up(map[string]string{"out_request_no": "u1", "attach": "x"}, 400, "请求中含有未在API文档中定义的参数")},
			level: "普通", balance: 500, points: 10},
		{name: "balance without add_balance", steps: []step{up(map[string]any{"out_request_no": "u1", "balance_information": map[string]int{"before_balance": 500, "balance": 600}}, 400, "balance_information.add_balance is required")},
			level: "普通", balance: 500, points: 10},

		{name: "points", steps: []step{rights(membercard.RightsRequest{OutRequestNo: "r1", BonusValue: ptr(70)}, 204, "")}, level: "普通", balance: 500, points: 70, updates: 1},
		{name: "points all three", steps: []step{rights(membercard.RightsRequest{OutRequestNo: "r1", BeforeBonusValue: ptr(10), BonusValue: ptr(70), AddBonusValue: ptr(60)}, 204, "")},
			level: "普通", balance: 500, points: 70, updates: 1},
		{name: "points by a change", steps: []step{rights(membercard.RightsRequest{OutRequestNo: "r1", AddBonusValue: ptr(-4)}, 204, "")}, level: "普通", balance: 500, points: 6, updates: 1},
		{name: "points from another", steps: []step{rights(membercard.RightsRequest{OutRequestNo: "r1", BeforeBonusValue: ptr(11), BonusValue: ptr(70)}, 400, "before_bonus_value与当前积分不一致")},
			level: "普通", balance: 500, points: 10},
		{name: "points below 0 by a change", steps: []step{rights(membercard.RightsRequest{OutRequestNo: "r1", AddBonusValue: ptr(-11)}, 400, "积分")},
			level: "普通", balance: 500, points: 10},
		{name: "the same points again", steps: []step{
			rights(membercard.RightsRequest{OutRequestNo: "r1", AddBonusValue: ptr(5)}, 204, ""),
			rights(membercard.RightsRequest{OutRequestNo: "r1", AddBonusValue: ptr(5)}, 204, ""),
		}, level: "普通", balance: 500, points: 15, updates: 1},
		{name: "other points under the same out_request_no", steps: []step{
			rights(membercard.RightsRequest{OutRequestNo: "r1", AddBonusValue: ptr(5)}, 204, ""),
			rights(membercard.RightsRequest{OutRequestNo: "r1", AddBonusValue: ptr(6)}, 400, "out_request_no重复"),
		}, level: "普通", balance: 500, points: 15, updates: 1},
		{name: "the update and the rights have their own out_request_no", steps: []step{
			up(membercard.OpenUserCardUpdateRequest{OutRequestNo: "x1", Level: "金卡"}, 204, ""),
			rights(membercard.RightsRequest{OutRequestNo: "x1", BonusValue: ptr(0)}, 204, ""),
		}, level: "金卡", balance: 500, points: 0, updates: 2},
		{name: "points not activated", notActivated: true, steps: []step{rights(membercard.RightsRequest{OutRequestNo: "r1", BonusValue: ptr(70)}, 400, "用户会员卡状态异常")},
			level: "普通", balance: 500, points: 10},
		{name: "points with | and * in out_request_no", steps: []step{rights(membercard.RightsRequest{OutRequestNo: "1900000001|2025*1", BonusValue: ptr(1)}, 204, "")},
			level: "普通", balance: 500, points: 1, updates: 1},
		{name: "points of a wrong sum", steps: []step{rights(membercard.RightsRequest{OutRequestNo: "r1", BeforeBonusValue: ptr(10), BonusValue: ptr(70), AddBonusValue: ptr(50)}, 400, "add_bonus_value")},
			level: "普通", balance: 500, points: 10},
		{name: "guide is not held", steps: []step{rights(map[string]any{"out_request_no": "r1", "guide": map[string]string{}}, 400, "请求中含有未在API文档中定义的参数")},
			level: "普通", balance: 500, points: 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _, c := newClocked(t)
			var code string
			if tc.notActivated {
				h, err := s.IssueOpenCard(issue())
				require.NoError(t, err)
				code = h.Code
			} else {
				code = activated(t, s, c)
			}
			for i, st := range tc.steps {
				path, route := membercard.OpenUserCardPath(cardID, code), membercard.OpenUserCardRoute
				if st.path == "rights" {
					path, route = membercard.RightsPath(cardID, code), membercard.RightsRoute
				}
				status, body := do(t, c, st.method, path, route, st.body)
				assert.Equal(t, st.status, status, "step %d: %s", i, body)
				if st.message != "" {
					_, msg := errorOf(t, body)
					assert.Contains(t, msg, st.message, "step %d", i)
				} else {
					assert.Empty(t, body, "step %d", i)
				}
			}
			card, ok := s.OpenUserCard(code)
			require.True(t, ok)
			assert.Equal(t, tc.level, card.Level)
			assert.Equal(t, tc.balance, card.Balance)
			assert.Equal(t, tc.points, card.BonusValue)
			assert.Equal(t, tc.updates, s.Updates(code))
		})
	}
}

// An out_request_no is the merchant's: spent on one card, it is another
// update on the next.
func TestOutRequestNoIsPerMerchant(t *testing.T) {
	s, _, c := newClocked(t)
	a, b := activated(t, s, c), activated(t, s, c)
	req := membercard.RightsRequest{OutRequestNo: "r1", AddBonusValue: ptr(1)}
	status, body := do(t, c, http.MethodPatch, membercard.RightsPath(cardID, a), "", req)
	require.Equal(t, 204, status, "%s", body)
	status, body = do(t, c, http.MethodPatch, membercard.RightsPath(cardID, b), "", req)
	assert.Equal(t, 400, status)
	_, msg := errorOf(t, body)
	assert.Equal(t, "out_request_no重复", msg)

	other := s.AddMerchant("1900000002")
	status, _ = send(t, s, other, raw{method: http.MethodPatch, path: membercard.RightsPath(cardID, b), body: `{"out_request_no":"r1","add_bonus_value":1}`,
		sign: func(sg *wxsign.Signer) { sg.Now = s.Now }})
	assert.Equal(t, 204, status, "another merchant's r1")
	card, _ := s.OpenUserCard(b)
	assert.Equal(t, int64(11), card.BonusValue)
}

// Updates of one card in flight at once under one out_request_no: one is
// applied, and every answer is the same.
func TestConcurrentUpdatesApplyOnce(t *testing.T) {
	s, _, c := newClocked(t)
	code := activated(t, s, c)
	statuses := make(chan int, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			st, _ := do(t, c, http.MethodPatch, membercard.RightsPath(cardID, code), "", membercard.RightsRequest{OutRequestNo: "r1", AddBonusValue: ptr(5)})
			statuses <- st
		})
	}
	wg.Wait()
	close(statuses)
	for st := range statuses {
		assert.Equal(t, 204, st)
	}
	card, _ := s.OpenUserCard(code)
	assert.Equal(t, int64(15), card.BonusValue)
	assert.Equal(t, 1, s.Updates(code))
}

// An AUTO_ACTIVATE card is EFFECTIVE at once, and WeChat Pay notifies its
// activation, encrypted with the merchant's key.
func TestAutoActivate(t *testing.T) {
	s, _, c := newClocked(t)
	code, h, body, err := s.AutoActivate(issue(), apiV3Key)
	require.NoError(t, err)
	assert.Regexp(t, systemCode, code)

	v := s.Verifier()
	v.Now = s.Now
	env, err := v.ParseNotification(h, body)
	require.NoError(t, err)
	assert.Equal(t, "MEMBERCARD.ACTIVATE_CARD", env.EventType)
	assert.Equal(t, "membercard", env.Resource.OriginalType)
	assert.Equal(t, "membercard", env.Resource.AssociatedData)
	_, err = wxsign.DecryptResource(brandAPIKey, env.Resource)
	assert.Error(t, err, "the merchant's key alone")
	plain, err := wxsign.DecryptResource(apiV3Key, env.Resource)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(plain, &got))
	assert.Equal(t, map[string]any{"event_type": "MEMBER_CARD_ACTIVATE", "card_id": cardID, "code": code, "event_time": "2025-09-01T10:03:04+08:00",
		"activate_scene": "NEW_ACTIVATE", "openid": openid}, got)

	status, answer := do(t, c, http.MethodGet, membercard.OpenUserCardPath(cardID, code), "", nil)
	require.Equal(t, 200, status)
	var card membercard.OpenUserCard
	require.NoError(t, json.Unmarshal(answer, &card))
	assert.Equal(t, membercard.OpenCardEffective, card.UserCardStatus)
	assert.Equal(t, code, card.MembershipNumber)
	stored, _ := s.OpenUserCard(code)
	assert.Equal(t, stored, card)

	status, answer = do(t, c, http.MethodPost, membercard.ActivatePath(cardID, code), "", membercard.ActivateRequest{})
	assert.Equal(t, 400, status)
	_, msg := errorOf(t, answer)
	assert.Equal(t, "会员卡已激活", msg)
}

func TestPostAutoActivate(t *testing.T) {
	s, _, _ := newServer(t, wxpaytest.Options{})
	got := make(chan membercard.OpenCardActivation, 4)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		env, err := s.Verifier().ParseNotification(r.Header, body)
		if err != nil || env.EventType != membercard.OpenCardActivateEvent {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		plain, err := wxsign.DecryptResource(apiV3Key, env.Resource)
		var a membercard.OpenCardActivation
		if err != nil || json.Unmarshal(plain, &a) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got <- a
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	code, status, err := s.PostAutoActivate(context.Background(), receiver.Client(), receiver.URL, issue(), apiV3Key)
	require.NoError(t, err)
	assert.Equal(t, 204, status)
	a := <-got
	assert.Equal(t, code, a.Code)
	assert.Equal(t, membercard.ActivateSceneNew, a.ActivateScene)

	_, _, err = s.PostAutoActivate(context.Background(), nil, receiver.URL, membercardtest.OpenCardIssue{}, apiV3Key)
	assert.Error(t, err, "an issue that cannot happen is not posted")
	assert.Empty(t, got)

	receiver.Close()
	code, _, err = s.PostAutoActivate(context.Background(), nil, receiver.URL, issue(), apiV3Key)
	assert.Error(t, err, "nobody listens")
	card, ok := s.OpenUserCard(code)
	assert.True(t, ok, "the card was activated all the same")
	assert.Equal(t, membercard.OpenCardEffective, card.UserCardStatus)
}

func ptr(v int64) *int64 { return &v }
