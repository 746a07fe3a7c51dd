package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/lambdatest"
	"github.com/wxcard/wxcard/internal/localapi"
)

// readmeCommand is one "$ " command of a README code block, with what the
// README says of it: the output it shows after it, its trailing comment,
// and the `make run …` the prose before it names (the server it runs on).
type readmeCommand struct {
	line     int
	command  string
	comment  string
	expected []string
	makeRun  string // "make run" and its variables, as the README names it
}

var (
	trailingComment = regexp.MustCompile(`\s{2,}#\s?(.*)$`)
	makeRunMention  = regexp.MustCompile("`(make run(?: [A-Z_]+=[^` ]*)*)`")
	statusInComment = regexp.MustCompile(`\b([1-5][0-9][0-9])\b`)
)

// readmeCommands reads the "$ " commands of the README's code blocks,
// joining continued lines; the lines after a command up to the next one
// are its shown output.
func readmeCommands(readme []byte) []readmeCommand {
	var out []readmeCommand
	inBlock, continued := false, false
	makeRun := "make run"
	var cur *readmeCommand
	for i, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "```") {
			inBlock = !inBlock
			cur, continued = nil, false
			continue
		}
		if !inBlock {
			for _, m := range makeRunMention.FindAllStringSubmatch(line, -1) {
				makeRun = m[1]
			}
			continue
		}
		physical := func(l string) {
			if m := trailingComment.FindStringSubmatchIndex(l); m != nil {
				cur.comment += l[m[2]:m[3]]
				l = l[:m[0]]
			}
			continued = strings.HasSuffix(l, `\`)
			cur.command += " " + strings.TrimSpace(strings.TrimSuffix(l, `\`))
		}
		switch {
		case continued:
			physical(line)
		case strings.HasPrefix(line, "$ "):
			out = append(out, readmeCommand{line: i + 1, makeRun: makeRun})
			cur = &out[len(out)-1]
			physical(strings.TrimPrefix(line, "$ "))
			cur.command = strings.TrimSpace(cur.command)
		case cur != nil && strings.TrimSpace(line) != "":
			cur.expected = append(cur.expected, strings.TrimRight(line, " "))
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

// shownLine matches a line of output as README shows it: … stands for
// any text.
func shownLine(shown string) *regexp.Regexp {
	parts := strings.Split(shown, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// readmeShell is one `make run` of the README, as a user has it: the local
// API started as make run starts it with the variables the README names,
// what it prints as bus events, and one shell in which the README's
// commands run one after the other (so a variable one sets, a token, say,
// is there for the next).
type readmeShell struct {
	url     string
	printed *lambdatest.Buffer
	stdin   io.WriteCloser
	stdout  chan string
	stderr  chan string
}

const readmeDone = "__WXCARD_README_DONE__"

func startReadmeShell(t *testing.T, makeRun string) *readmeShell {
	t.Helper()
	vars := map[string]string{}
	for _, f := range strings.Fields(strings.TrimPrefix(makeRun, "make run")) {
		k, v, _ := strings.Cut(f, "=")
		vars[k] = v
	}
	env, _, err := localapi.Env(func(k string) string { return vars[k] })
	require.NoError(t, err, makeRun)
	stack, err := localapi.NewSandboxStack(context.Background(), env, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(stack.Close)
	sh := &readmeShell{printed: &lambdatest.Buffer{}, stdout: make(chan string, 1000), stderr: make(chan string, 1000)}
	stack.Events.Out = sh.printed
	sh.url = serveLocal(t, stack).URL

	cmd := exec.Command("bash", "--noprofile", "--norc")
	sh.stdin, err = cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	for r, ch := range map[io.Reader]chan string{stdout: sh.stdout, stderr: sh.stderr} {
		go func() {
			sc := bufio.NewScanner(r)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				ch <- sc.Text()
			}
			close(ch)
		}()
	}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = sh.stdin.Close(); _ = cmd.Wait() })
	// Every curl reports each answer's status on stderr, apart from what
	// the user sees.
	_, err = io.WriteString(sh.stdin, `curl() { command curl -w '%{stderr}`+readmeDone+`_STATUS %{http_code}\n' "$@"; }`+"\n")
	require.NoError(t, err)
	return sh
}

// run runs one command in the shell: its output lines, the statuses of
// the HTTP answers it got, and its exit status.
func (sh *readmeShell) run(t *testing.T, command string) (out []string, statuses []int, exit string) {
	t.Helper()
	_, err := fmt.Fprintf(sh.stdin, "{ %s\n} </dev/null; printf '\\n%s %%d\\n' $?; echo %s >&2\n", command, readmeDone, readmeDone)
	require.NoError(t, err)
	timeout := time.After(time.Minute)
	for {
		select {
		case l, ok := <-sh.stdout:
			require.True(t, ok, "the shell ended")
			if rest, found := strings.CutPrefix(l, readmeDone+" "); found {
				exit = rest
				goto stderr
			}
			if strings.TrimSpace(l) != "" {
				out = append(out, strings.TrimRight(l, " "))
			}
		case <-timeout:
			t.Fatalf("no end of %s within a minute", command)
		}
	}
stderr:
	for {
		select {
		case l, ok := <-sh.stderr:
			require.True(t, ok, "the shell ended")
			if l == readmeDone {
				return out, statuses, exit
			}
			if code, found := strings.CutPrefix(l, readmeDone+"_STATUS "); found {
				n, err := strconv.Atoi(code)
				require.NoError(t, err)
				statuses = append(statuses, n)
			}
		case <-timeout:
			t.Fatalf("no end of %s within a minute", command)
		}
	}
}

// Every command README shows with "$ " runs, as a user pastes it, against
// the local API as the `make run …` named before it starts it (its port in
// place of 127.0.0.1:3000), in README's order, one shell per make run. Its
// output is what README shows after it, line for line (… is any text):
// first what curl prints, then the events the local API prints, in any
// order. Every answer is 2xx, unless the comment after the command names
// the status, or the output shown is an error ({"code":…,"message":…}:
// then 4xx or 5xx). A command whose output README does not show is still
// run and held to the status rule.
func TestReadmeCurlLinesDoWhatTheReadmeSays(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"curl", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " is not installed")
		}
	}
	root, err := lambdatest.ModuleRoot()
	require.NoError(t, err)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	cmds := readmeCommands(readme)
	require.NotEmpty(t, cmds)

	shells := map[string]*readmeShell{}
	for _, c := range cmds {
		require.Contains(t, c.command, "curl ", "README line %d: the commands shown with $ are curl lines: %s", c.line, c.command)
		sh := shells[c.makeRun]
		if sh == nil {
			sh = startReadmeShell(t, c.makeRun)
			shells[c.makeRun] = sh
		}
		before := len(sh.printed.String())
		out, statuses, exit := sh.run(t, strings.ReplaceAll(c.command, "127.0.0.1:3000", strings.TrimPrefix(sh.url, "http://")))
		require.Equal(t, "0", exit, "README line %d exits 0: %s\n%s", c.line, c.command, strings.Join(out, "\n"))
		require.NotEmpty(t, statuses, "README line %d got no HTTP answer", c.line)

		var shownErr struct{ Code, Message string }
		errorShown := len(c.expected) > 0 && json.Unmarshal([]byte(c.expected[0]), &shownErr) == nil &&
			shownErr.Message != "" && shownErr.Code != "" && shownErr.Code != "SUCCESS"
		for _, st := range statuses {
			switch m := statusInComment.FindStringSubmatch(c.comment); {
			case m != nil:
				assert.Equal(t, m[1], strconv.Itoa(st), "README line %d: the status its comment names", c.line)
			case errorShown:
				assert.GreaterOrEqual(t, st, 400, "README line %d shows an error", c.line)
			default:
				assert.True(t, st >= 200 && st < 300, "README line %d answers %d, not 2xx: %s", c.line, st, strings.Join(out, "\n"))
			}
		}
		if len(c.expected) == 0 {
			continue
		}
		// What curl printed, line for line.
		require.GreaterOrEqual(t, len(c.expected), len(out), "README line %d prints more than README shows:\n%s", c.line, strings.Join(out, "\n"))
		for i, l := range out {
			assert.Regexp(t, shownLine(c.expected[i]), l, "README line %d, output line %d", c.line, i+1)
		}
		// Then what the local API printed, in any order.
		var printed []string
		for _, l := range strings.Split(sh.printed.String()[before:], "\n") {
			if strings.TrimSpace(l) != "" {
				printed = append(printed, l)
			}
		}
		shown := c.expected[len(out):]
		assert.Len(t, printed, len(shown), "README line %d: as many printed lines as README shows\n%s", c.line, strings.Join(printed, "\n"))
		assert.True(t, matchAnyOrder(shown, printed), "README line %d: the printed lines are not those README shows\nshown:\n%s\nprinted:\n%s",
			c.line, strings.Join(shown, "\n"), strings.Join(printed, "\n"))
	}
	t.Logf("ran %d commands from the README", len(cmds))
}

// matchAnyOrder reports whether each shown line matches a printed line of
// its own, and every printed line is matched.
func matchAnyOrder(shown, printed []string) bool {
	if len(shown) != len(printed) {
		return false
	}
	if len(shown) == 0 {
		return true
	}
	re := shownLine(shown[0])
	for i, p := range printed {
		if re.MatchString(p) {
			rest := append(append([]string{}, printed[:i]...), printed[i+1:]...)
			if matchAnyOrder(shown[1:], rest) {
				return true
			}
		}
	}
	return false
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
	_, root := loadTemplate(t)
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
	routes := templateHTTPRoutes(t)
	for _, key := range routes {
		assert.True(t, sampleRoutes[key], "events/ has no sample for %s", key)
	}
	require.NotEmpty(t, routes, "template.yaml has routes")

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

// The decision function README shows is the example's own code, line for
// line, so that what a brand copies compiles (the example is built by the
// e2e tests' go vet and by go build ./...).
func TestReadmeDeciderIsTheExample(t *testing.T) {
	t.Parallel()
	root, err := lambdatest.ModuleRoot()
	require.NoError(t, err)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	example, err := os.ReadFile(filepath.Join(root, "examples", "memberdecider", "main.go"))
	require.NoError(t, err)
	_, members, ok := strings.Cut(string(readme), "\n### Members\n")
	require.True(t, ok, "README has a Members section")
	_, block, ok := strings.Cut(members, "```go\n")
	require.True(t, ok, "the Members section shows the decision function")
	block, _, _ = strings.Cut(block, "```")
	var lines int
	for _, l := range strings.Split(block, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			assert.Contains(t, string(example), l, "README's decision function line is not in examples/memberdecider")
			lines++
		}
	}
	assert.GreaterOrEqual(t, lines, 6)
}

// README's "Operations: metrics, alarms, logs, tracing" names every alarm
// of the template, and no other.
func TestReadmeAlarmsMatchTemplate(t *testing.T) {
	t.Parallel()
	doc, root := loadTemplate(t)
	resources := node(doc, "Resources")
	var inTemplate []string
	for _, id := range mapKeys(resources) {
		if node(resources, id, "Type").Value == "AWS::CloudWatch::Alarm" {
			inTemplate = append(inTemplate, id)
		}
	}
	require.NotEmpty(t, inTemplate)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	const heading = "### Operations: metrics, alarms, logs, tracing\n"
	_, section, ok := strings.Cut(string(readme), heading)
	require.True(t, ok, "README has the section %q", heading)
	section, _, _ = strings.Cut(section, "\n#")
	seen := map[string]bool{}
	var inReadme []string
	for _, m := range regexp.MustCompile("`([A-Za-z0-9]+Alarm)`").FindAllStringSubmatch(section, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			inReadme = append(inReadme, m[1])
		}
	}
	assert.ElementsMatch(t, inTemplate, inReadme, "the alarms README lists (in backquotes) are the template's")
}
