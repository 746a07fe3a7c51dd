package localapi_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/localapi"
)

// The printed revocation lines, run as a user pastes them: the first
// refresh sees every sandbox brand for the first time, the second prints
// one revocation event for the revoked brand, and the GET route records
// too.
func TestAuthorityCurlLinesShowARevocation(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	srv, printed := printingSandbox(t, nil)

	lines := localapi.AuthorityCurlLines(srv.URL)
	require.Len(t, lines, 4)
	run := func(line string) map[string]any {
		out, err := exec.Command("sh", "-c", line).Output()
		require.NoError(t, err, line)
		var m map[string]any
		require.NoError(t, json.Unmarshal(out, &m), string(out))
		return m
	}
	sum := run(lines[0])
	assert.Equal(t, map[string]any{"first_seen": float64(4)}, sum["outcomes"])
	assert.Equal(t, 4, strings.Count(printed.String(), `"detail-type":"Brand authority changed"`))

	printed.Reset()
	run(lines[1])
	sum = run(lines[2])
	assert.Equal(t, map[string]any{"unchanged": float64(3), "revoked": float64(1)}, sum["outcomes"])
	out := strings.TrimSpace(printed.String())
	require.Equal(t, 1, strings.Count(out, "\n")+1, out)
	var ev struct {
		Source     string         `json:"source"`
		DetailType string         `json:"detail-type"`
		Detail     map[string]any `json:"detail"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &ev))
	assert.Equal(t, "wxcard", ev.Source)
	assert.Equal(t, "Brand authority revoked", ev.DetailType)
	assert.Equal(t, localapi.SandboxRevocableBrand, ev.Detail["brand_id"])
	assert.NotNil(t, ev.Detail["before"])

	printed.Reset()
	run(lines[3])
	run("curl -s " + srv.URL + "/v3/brand-basic/partner/brands/" + localapi.SandboxRevocableBrand + "/product-authorities")
	assert.Contains(t, printed.String(), `"detail-type":"Brand authority changed"`, "the GET route records the restoration")
}
