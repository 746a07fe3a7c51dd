package localapi_test

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/localapi"
	"github.com/wxcard/wxcard/pkg/membercard"
)

// printedEvent is one event line the local API printed.
type printedEvent struct {
	Source     string         `json:"source"`
	DetailType string         `json:"detail-type"`
	Detail     map[string]any `json:"detail"`
}

// The printed member lines, run as a user pastes them in one shell: the
// sandbox user opens the sandbox card (a brand's, then a service
// provider's), WeChat Pay's notification prints, wxcard confirms and
// Member joined prints, the card is EFFECTIVE; the deletion prints its
// notification and Member left. A forgery posted directly is refused.
func TestCardCurlLinesJoinAndLeave(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	srv, printed := printingSandbox(t, nil)
	script := strings.Join(localapi.CardCurlLines(srv.URL), "\n") + "\necho; echo \"$CARD\""
	out, err := exec.Command("bash", "-c", script).Output()
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.GreaterOrEqual(t, len(lines), 2, string(out))
	code := lines[len(lines)-1]
	require.NoError(t, membercard.CheckUserCardCode("code", code), "the first line leaves the card's code in $CARD")
	assert.Contains(t, string(out), `"user_card_state":"EFFECTIVE"`, "the partner card, confirmed")
	assert.Contains(t, string(out), `"user_card_state":"INVALID"`, "the deleted card")

	var types []string
	for _, l := range strings.Split(strings.TrimSpace(printed.String()), "\n") {
		var ev printedEvent
		require.NoError(t, json.Unmarshal([]byte(l), &ev), l)
		assert.Equal(t, "wxcard", ev.Source)
		types = append(types, ev.DetailType)
	}
	assert.Equal(t, []string{
		membercard.BrandUserCardCreateEvent, "Member joined",
		membercard.PartnerUserCardCreateEvent, "Member joined",
		membercard.BrandUserCardDeleteEvent, "Member left",
	}, types)

	for _, path := range []string{localapi.NotifyPath, localapi.BrandNotifyPath} {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(`{"id":"forged"}`))
		require.NoError(t, err)
		req.Header.Set("Wechatpay-Serial", "PUB_KEY_ID_0114232134912410000000000000")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, 401, resp.StatusCode)
	}
	assert.Len(t, strings.Split(strings.TrimSpace(printed.String()), "\n"), 6, "the forgeries published nothing")

	// Bad input to the local routes.
	for _, tc := range []struct{ path, body string }{{localapi.OpenCardPath, `{"flavour":"other"}`}, {localapi.OpenCardPath, `{"x":1}`}} {
		resp, err := http.Post(srv.URL+tc.path, "application/json", strings.NewReader(tc.body))
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, 400, resp.StatusCode, tc.body)
	}
	resp, err := http.Post(srv.URL+"/local/cards/000000000000/delete", "application/json", nil)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, 404, resp.StatusCode)
}
