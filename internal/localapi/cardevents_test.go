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
)

// The printed card-events line, run as a user pastes it: the sandbox posts
// a genuine notification, the route accepts it, and the event prints as a
// JSON line; a forgery posted directly is refused.
func TestCardEventsCurlLinePrintsAnEvent(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	srv, printed := printingSandbox(t, nil)

	out, err := exec.Command("sh", "-c", localapi.CardEventsCurlLine(srv.URL)).Output()
	require.NoError(t, err)
	assert.JSONEq(t, `{"code":"SUCCESS"}`, string(out))
	var ev struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
		Detail     struct {
			ID       string            `json:"id"`
			Resource map[string]string `json:"resource"`
		} `json:"detail"`
	}
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(printed.String())), &ev), printed.String())
	assert.Equal(t, "wxcard", ev.Source)
	assert.Equal(t, "MEMBERCARDSP.USER_CARD.CREATE", ev.DetailType)
	assert.Equal(t, localapi.SandboxCardID, ev.Detail.Resource["card_id"])
	assert.NotEmpty(t, ev.Detail.ID)

	req, err := http.NewRequest(http.MethodPost, srv.URL+localapi.NotifyPath, strings.NewReader(`{"id":"forged"}`))
	require.NoError(t, err)
	req.Header.Set("Wechatpay-Serial", "PUB_KEY_ID_0114232134912410000000000000")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, 401, resp.StatusCode)
	assert.Equal(t, 1, strings.Count(printed.String(), "\n"), "the forgery published nothing")
}
