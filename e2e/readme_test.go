package e2e

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/lambdatest"
	"github.com/wxcard/wxcard/internal/localapi"
)

// readmeCommand is one "$ curl …" line of the README with the output the
// README shows after it.
type readmeCommand struct {
	line     int
	command  string
	expected []string
}

var trailingComment = regexp.MustCompile(`\s{2,}#.*$`)

// readmeCommands reads the "$ " commands of the README's text blocks,
// joining continued lines.
func readmeCommands(t *testing.T, readme []byte) []readmeCommand {
	var out []readmeCommand
	inBlock := false
	var cur *readmeCommand
	continued := false
	for i, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "```") {
			inBlock = !inBlock
			cur, continued = nil, false
			continue
		}
		if !inBlock {
			continue
		}
		switch {
		case continued:
			cur.command += " " + strings.TrimSpace(strings.TrimSuffix(line, `\`))
			continued = strings.HasSuffix(line, `\`)
		case strings.HasPrefix(line, "$ "):
			out = append(out, readmeCommand{line: i + 1})
			cur = &out[len(out)-1]
			cur.command = strings.TrimSuffix(trailingComment.ReplaceAllString(strings.TrimPrefix(line, "$ "), ""), `\`)
			continued = strings.HasSuffix(line, `\`)
		case cur != nil && strings.TrimSpace(line) != "":
			cur.expected = append(cur.expected, line)
		}
	}
	return out
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Every curl line the README shows runs, as a user pastes it, against the
// local API it describes (make run; with JWT where the line carries the
// claims header), in the README's order, and answers as the README says:
// the same JSON keys, the same code, and the events it says are printed.
func TestReadmeCurlLinesDoWhatTheReadmeSays(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	root, err := lambdatest.ModuleRoot()
	require.NoError(t, err)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	cmds := readmeCommands(t, readme)
	require.NotEmpty(t, cmds)

	printed := map[string]*lambdatest.Buffer{}
	server := func(mode string) *httptest.Server {
		env, _, err := localapi.Env(func(k string) string {
			return map[string]string{"TOKEN_ROUTES_AUTHORIZATION": mode}[k]
		})
		require.NoError(t, err)
		stack, err := localapi.NewSandboxStack(context.Background(), env, slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		t.Cleanup(stack.Close)
		printed[mode] = &lambdatest.Buffer{}
		stack.Events.Out = printed[mode]
		srv := httptest.NewServer(localapi.Handler(stack.Routes))
		t.Cleanup(srv.Close)
		return srv
	}
	servers := map[string]*httptest.Server{"NONE": server("NONE"), "JWT": server("JWT")}

	ran := 0
	for _, c := range cmds {
		require.True(t, strings.HasPrefix(c.command, "curl "), "README line %d: only curl lines are shown with $: %s", c.line, c.command)
		mode := "NONE"
		if strings.Contains(c.command, localapi.ClaimsHeader) || strings.Contains(strings.ToLower(c.command), "x-wxcard-jwt-claims") {
			mode = "JWT"
		}
		before := len(printed[mode].String())
		cmd := strings.ReplaceAll(c.command, "http://127.0.0.1:3000", servers[mode].URL)
		out, err := exec.Command("sh", "-c", cmd).Output()
		require.NoError(t, err, "README line %d: %s", c.line, c.command)
		ran++
		var got map[string]any
		require.NoError(t, json.Unmarshal(out, &got), "README line %d answered no JSON object: %s", c.line, out)
		if len(c.expected) == 0 {
			continue
		}
		var want map[string]any
		if json.Unmarshal([]byte(c.expected[0]), &want) == nil {
			assert.Equal(t, keys(want), keys(got), "README line %d: the answer's fields", c.line)
			if code, ok := want["code"]; ok {
				assert.Equal(t, code, got["code"], "README line %d", c.line)
			}
		}
		for _, e := range c.expected[1:] {
			// Further lines are what make run prints: a bus event.
			m := regexp.MustCompile(`"detail-type":"([^"]+)"`).FindStringSubmatch(e)
			require.NotNil(t, m, "README line %d: unexpected shown output %q", c.line, e)
			assert.Contains(t, printed[mode].String()[before:], `"detail-type":"`+m[1]+`"`, "README line %d prints the event", c.line)
		}
	}
	t.Logf("ran %d curl lines from the README", ran)
	assert.GreaterOrEqual(t, ran, 8, "the README shows eight curl lines")
}

// Every make command the README shows is a target make help lists, and
// make help prints no unexpanded variable.
func TestReadmeMakeTargetsExist(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	root, err := lambdatest.ModuleRoot()
	require.NoError(t, err)
	cmd := exec.Command("make", "-s", "help")
	cmd.Dir = root
	help, err := cmd.Output()
	require.NoError(t, err)
	assert.NotContains(t, string(help), "$(", "make help expands its variables")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	targets := regexp.MustCompile(`(?m)^(?:\$ )?make ([a-z-]+)`).FindAllStringSubmatch(string(readme), -1)
	require.NotEmpty(t, targets)
	for _, m := range targets {
		assert.Regexp(t, `(?m)^  `+regexp.QuoteMeta(m[1])+`\s`, string(help), "make %s is in make help", m[1])
	}
}

// events/ has a sample for every route of template.yaml and for every
// command of the schedule's function that README shows (README promises
// one for each), so a route or command added later without its sample
// fails here. TestSampleEvents runs them.
func TestSampleEventsCoverEveryRoute(t *testing.T) {
	t.Parallel()
	doc, root := loadTemplate(t)
	files, err := filepath.Glob(filepath.Join(root, "events", "*.json"))
	require.NoError(t, err)
	sampleRoutes := map[string]bool{}
	var commands []string // sorted top-level keys of each object sample
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(raw, &m), f)
		if rk, ok := m["routeKey"].(string); ok {
			sampleRoutes[rk] = true
		}
		commands = append(commands, strings.Join(keys(m), ","))
	}
	resources := node(doc, "Resources")
	routes := 0
	for _, id := range mapKeys(resources) {
		for _, ev := range mapKeys(node(resources, id, "Properties", "Events")) {
			e := node(resources, id, "Properties", "Events", ev)
			if node(e, "Type").Value != "HttpApi" {
				continue
			}
			key := node(e, "Properties", "Method").Value + " " + node(e, "Properties", "Path").Value
			routes++
			assert.True(t, sampleRoutes[key], "events/ has no sample for %s (%s)", key, id)
		}
	}
	require.Positive(t, routes, "template.yaml has HttpApi routes")

	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	payloads := regexp.MustCompile(`--payload '(\{[^']*\})'`).FindAllSubmatch(readme, -1)
	require.NotEmpty(t, payloads, "README shows the schedule's commands")
	for _, p := range payloads {
		var m map[string]any
		require.NoError(t, json.Unmarshal(p[1], &m), "README's payload %s", p[1])
		assert.Contains(t, commands, strings.Join(keys(m), ","), "events/ has no sample of the command %s", p[1])
	}
	assert.Contains(t, commands, strings.Join(keys(map[string]any{"version": 0, "id": 0, "detail-type": 0, "source": 0, "account": 0, "time": 0, "region": 0, "resources": 0, "detail": 0}), ","), "the schedule's own event")
}
