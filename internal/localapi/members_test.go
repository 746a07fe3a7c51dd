package localapi_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/lambdaapp"
	"github.com/wxcard/wxcard/internal/lambdatest"
	"github.com/wxcard/wxcard/internal/localapi"
	"github.com/wxcard/wxcard/pkg/membercard"
)

// printedTypes are the detail-types of the events printed since from.
func printedTypes(t *testing.T, printed *lambdatest.Buffer, from int) []string {
	t.Helper()
	var types []string
	for _, l := range strings.Split(strings.TrimSpace(printed.String()[from:]), "\n") {
		if l == "" {
			continue
		}
		var ev printedEvent
		require.NoError(t, json.Unmarshal([]byte(l), &ev), l)
		types = append(types, ev.DetailType)
	}
	return types
}

// lastPrinted is the last printed event of the detail-type.
func lastPrinted(t *testing.T, printed *lambdatest.Buffer, detailType string) printedEvent {
	t.Helper()
	var last printedEvent
	for _, l := range strings.Split(strings.TrimSpace(printed.String()), "\n") {
		var ev printedEvent
		require.NoError(t, json.Unmarshal([]byte(l), &ev), l)
		if ev.DetailType == detailType {
			last = ev
		}
	}
	require.Equal(t, detailType, last.DetailType, "no %s printed", detailType)
	return last
}

// issue has the sandbox user take a JUMP_ACTIVATE card.
func issue(t *testing.T, base string) localapi.IssuedCard {
	t.Helper()
	st, m := call(t, base, "POST", localapi.IssueCardPath, `{"activation":"jump"}`, nil)
	require.Equal(t, 200, st, m)
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	var card localapi.IssuedCard
	require.NoError(t, json.Unmarshal(raw, &card))
	return card
}

// The banner's member-care lines, pasted in order in one shell (after the
// sign-in under JWT), each succeed and print what they say: the
// activation, the change synced, the card WeChat Pay activated itself, and
// a brand card's points answered.
func TestMemberCurlLines(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	for _, vars := range []map[string]string{{}, {"TOKEN_ROUTES_AUTHORIZATION": "JWT"}} {
		t.Run(fmt.Sprint(vars), func(t *testing.T) {
			srv, printed := printingSandbox(t, vars)
			env, _, err := localapi.Env(func(k string) string { return vars[k] })
			require.NoError(t, err)
			var lines []string
			if env.TokenRoutesAuthorization == lambdaapp.TokenAuthJWT {
				lines = localapi.SignInLines(srv.URL)
			}
			for _, l := range localapi.MemberCurlLines(srv.URL, env) {
				// Each answer on a line of its own, then its status.
				if strings.HasPrefix(l, "curl ") {
					l += ` -w '\n%{http_code}\n'`
				}
				lines = append(lines, l)
			}
			out, err := exec.Command("bash", "-c", strings.Join(lines, "\n")).Output()
			require.NoError(t, err)
			got := strings.Split(strings.TrimSpace(string(out)), "\n")
			require.Len(t, got, 11, string(out))
			var issued localapi.IssuedCard
			require.NoError(t, json.Unmarshal([]byte(got[0]), &issued), got[0])
			for i, want := range []struct {
				line, status int
				has          string
			}{
				{1, 2, `"state":"EFFECTIVE"`},
				{3, 4, `"code":"` + issued.Code + `","state":"EFFECTIVE"`},
				{5, 6, `"version":`},
				{7, 8, `"status":200`},
				{9, 10, `"status":200`},
			} {
				assert.Contains(t, got[want.line], want.has, "line %d", i)
				assert.Contains(t, []string{"200", "202"}, got[want.status], "line %d: %s", i, got[want.line])
			}
			assert.Equal(t, []string{
				"Member activated", "Member updated",
				membercard.OpenCardActivateEvent, "Member activated",
				membercard.BrandUserCardCreateEvent, "Member joined",
				membercard.BrandSyncUserPointEvent,
			}, printedTypes(t, printed, 0))
			st, card := call(t, srv.URL, "GET", "/local/cards/"+issued.Code, "", nil)
			require.Equal(t, 200, st, card)
			assert.Equal(t, float64(100), card["points"], "synced to WeChat Pay")
		})
	}
}

// The member routes share the members with the member queue: a card
// activated, listed, changed twice (each change synced once, in order,
// Member updated printed before the answer), the stand-in holding the last
// points; a brand card's SYNC_USER_POINT answered from the store; and the
// refusals, under JWT (the sign-in's tokens) for the token routes, with
// PATCH an IAM route that needs no token.
func TestMemberRoutes(t *testing.T) {
	t.Parallel()
	srv, printed := printingSandbox(t, map[string]string{"TOKEN_ROUTES_AUTHORIZATION": "JWT"})
	base := srv.URL
	token := map[string]string{"Authorization": "Bearer " + signIn(t, base, localapi.SandboxOpenID)}
	other := map[string]string{"Authorization": "Bearer " + signIn(t, base, "obLatSomeoneElse")}
	card := issue(t, base)

	q, err := url.ParseQuery(strings.TrimPrefix(card.ActivateURL, localapi.SandboxActivateURL+"?"))
	require.NoError(t, err)
	assert.Equal(t, url.Values{"card_id": {localapi.SandboxCardID}, "encrypt_code": {card.EncryptCode}, "openid": {localapi.SandboxOpenID},
		"activate_ticket": {card.ActivateTicket}}, q, "the H5 page reads what it needs from its query")
	st, c := call(t, base, "GET", "/local/cards/"+card.Code, "", nil)
	require.Equal(t, 200, st)
	assert.Equal(t, membercard.OpenCardNotActivated, c["state"])

	h5 := fmt.Sprintf(`{"card_id":%q,"encrypt_code":%q,"activate_ticket":%q}`, localapi.SandboxCardID, card.EncryptCode, card.ActivateTicket)
	patch := "/members/" + localapi.SandboxCardID + "/" + card.Code
	for _, tc := range []struct {
		name, method, path, body string
		headers                  map[string]string
		status                   int
		code, has                string
	}{
		{"activate: no token", "POST", "/members/activate", h5, nil, 401, "", ""},
		{"activate: another user's card", "POST", "/members/activate", h5, other, 403, "FORBIDDEN", "card_id"},
		{"activate: a field missing", "POST", "/members/activate", `{"card_id":"` + localapi.SandboxCardID + `"}`, token, 400, "PARAM_ERROR", "encrypt_code"},
		{"activate: an encrypt_code of no card", "POST", "/members/activate",
			`{"card_id":"` + localapi.SandboxCardID + `","encrypt_code":"bm90IGEgY29kZSBvZiB0aGlzIGNhcmQ="}`, token, 400, "INVALID_REQUEST", ""},
		{"me: no token", "GET", "/members/me", "", nil, 401, "", ""},
		{"me: another user's openid", "GET", "/members/me?openid=" + localapi.SandboxOpenID, "", other, 403, "FORBIDDEN", "openid"},
		{"patch: not activated yet", "PATCH", patch, `{"points":1}`, nil, 404, "MEMBER_NOT_FOUND", ""},
		{"activate", "POST", "/members/activate", h5, token, 200, "", `"state":"EFFECTIVE"`},
		{"activate again: the ticket is spent", "POST", "/members/activate",
			fmt.Sprintf(`{"card_id":%q,"code":%q,"activate_ticket":%q}`, localapi.SandboxCardID, issue(t, base).Code, card.ActivateTicket), token, 400, "INVALID_REQUEST", ""},
		{"me", "GET", "/members/me", "", token, 200, "", `"code":"` + card.Code + `","level":"","points":0,"state":"EFFECTIVE"`},
		{"patch: a negative balance", "PATCH", patch, `{"balance":-1}`, nil, 400, "PARAM_ERROR", "balance"},
		{"patch: attach on membercard-open", "PATCH", patch, `{"attach":"x"}`, nil, 400, "PARAM_ERROR", "attach"},
		{"patch: a level too long for membercard-open", "PATCH", patch, `{"level":"Platinum"}`, nil, 400, "PARAM_ERROR", "level"},
		{"patch: no such member", "PATCH", "/members/" + localapi.SandboxCardID + "/000000000000", `{"points":1}`, nil, 404, "MEMBER_NOT_FOUND", ""},
		{"patch: +100", "PATCH", patch, `{"points":100}`, nil, 202, "", `"version":`},
		{"patch: -30", "PATCH", patch, `{"points":70,"balance":500}`, nil, 202, "", `"version":`},
		{"issue: an unknown activation", "POST", localapi.IssueCardPath, `{"activation":"now"}`, nil, 400, "PARAM_ERROR", "activation"},
		{"sync-points: no card opened here", "POST", "/local/cards/" + card.Code + "/sync-points", "", nil, 404, "NOT_FOUND", ""},
		{"card: none", "GET", "/local/cards/000000000000", "", nil, 404, "NOT_FOUND", ""},
	} {
		before := len(printed.String())
		st, m := call(t, base, tc.method, tc.path, tc.body, tc.headers)
		assert.Equal(t, tc.status, st, "%s: %v", tc.name, m)
		if tc.code != "" {
			assert.Equal(t, tc.code, m["code"], tc.name)
		}
		raw, err := json.Marshal(m)
		require.NoError(t, err)
		assert.Contains(t, string(raw), tc.has, tc.name)
		switch tc.name {
		case "activate":
			assert.Equal(t, []string{"Member activated"}, printedTypes(t, printed, before))
			assert.Contains(t, printed.String()[before:], "张三", "the form, as WeChat Pay gave it")
		case "patch: +100", "patch: -30":
			assert.Equal(t, []string{"Member updated"}, printedTypes(t, printed, before), "synced before the answer")
		default:
			assert.Empty(t, printedTypes(t, printed, before), tc.name)
		}
	}
	updated := lastPrinted(t, printed, "Member updated")
	assert.Equal(t, float64(70), updated.Detail["points"])
	assert.Equal(t, float64(500), updated.Detail["balance"])
	st, c = call(t, base, "GET", "/local/cards/"+card.Code, "", nil)
	require.Equal(t, 200, st)
	assert.Equal(t, map[string]any{"card_id": localapi.SandboxCardID, "code": card.Code, "state": "EFFECTIVE", "level": "", "points": float64(70), "balance": float64(500)}, c)

	// A brand card: its points changed, then asked by WeChat Pay.
	st, opened := call(t, base, "POST", localapi.OpenCardPath, "", nil)
	require.Equal(t, 200, st, opened)
	code, _ := opened["user_card_code"].(string)
	st, m := call(t, base, "PATCH", "/members/"+localapi.SandboxCardID+"/"+code, `{"points":80,"level":"Gold"}`, nil)
	require.Equal(t, 202, st, m)
	assert.Equal(t, float64(80), lastPrinted(t, printed, "Member updated").Detail["points"])
	st, m = call(t, base, "PATCH", "/members/"+localapi.SandboxCardID+"/"+code, `{"balance":1}`, nil)
	assert.Equal(t, 400, st, "no balance on a brand card")
	assert.Equal(t, "PARAM_ERROR", m["code"])
	st, m = call(t, base, "POST", "/local/cards/"+code+"/sync-points", "", nil)
	require.Equal(t, 200, st, m)
	assert.Equal(t, map[string]any{"user_card_code": code, "status": float64(200), "points": float64(80)}, m)
	st, c = call(t, base, "GET", "/local/cards/"+code, "", nil)
	require.Equal(t, 200, st)
	assert.Equal(t, map[string]any{"card_id": localapi.SandboxCardID, "code": code, "state": "EFFECTIVE", "level": "Gold", "points": float64(80)}, c)

	// The card deleted: no more points asked, and no member to change.
	st, _ = call(t, base, "POST", "/local/cards/"+code+"/delete", "", nil)
	require.Equal(t, 200, st)
	st, m = call(t, base, "POST", "/local/cards/"+code+"/sync-points", "", nil)
	assert.Equal(t, 409, st, m)
	st, m = call(t, base, "PATCH", "/members/"+localapi.SandboxCardID+"/"+code, `{"points":1}`, nil)
	assert.Equal(t, 404, st, m)
	st, m = call(t, base, "GET", "/members/me", "", token)
	require.Equal(t, 200, st)
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), code, "no deleted member")
}

// An AUTO_ACTIVATE card: WeChat Pay activates it and notifies the service
// provider's card-events route; the member queue reads the card and
// records the member, which GET /members/me then lists (without JWT, the
// query's openid names the user).
func TestIssueAutoActivate(t *testing.T) {
	t.Parallel()
	srv, printed := printingSandbox(t, nil)
	st, m := call(t, srv.URL, "POST", localapi.IssueCardPath, `{"activation":"auto"}`, nil)
	require.Equal(t, 200, st, m)
	code, _ := m["code"].(string)
	assert.Equal(t, map[string]any{"card_id": localapi.SandboxCardID, "code": code, "status": float64(200)}, m)
	assert.Equal(t, []string{membercard.OpenCardActivateEvent, "Member activated"}, printedTypes(t, printed, 0))
	activated := lastPrinted(t, printed, "Member activated")
	assert.Equal(t, code, activated.Detail["code"])
	assert.Nil(t, activated.Detail["user_information"], "the notification carries no form")

	st, m = call(t, srv.URL, "GET", "/members/me?openid="+localapi.SandboxOpenID, "", nil)
	require.Equal(t, 200, st, m)
	assert.Equal(t, map[string]any{"members": []any{map[string]any{"card_id": localapi.SandboxCardID, "code": code, "state": "EFFECTIVE",
		"level": "", "points": float64(0), "balance": float64(0)}}}, m)
	st, m = call(t, srv.URL, "GET", "/members/me", "", nil)
	assert.Equal(t, 400, st, "without JWT, the query names the user")
	assert.Equal(t, "PARAM_ERROR", m["code"])
}
