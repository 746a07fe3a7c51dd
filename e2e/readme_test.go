package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

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

// readmeShell is one `make run` of a page, as a user has it: the local
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
	sh.url = serveReadmeStack(t, stack)

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

// serveReadmeStack serves the local API of stack as make run does, with
// the local sign-in, on a port of its own: its base URL.
func serveReadmeStack(t *testing.T, stack *localapi.Stack) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	require.NoError(t, stack.EnableSignIn(context.Background(), "http://"+srv.Listener.Addr().String()))
	srv.Config.Handler = localapi.Handler(stack.Routes)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// docPage is README.md or a page of docs/, by its path from the module
// root.
type docPage struct {
	path string
	text string
}

// docPages are the user documentation: README.md, then every docs/*.md.
func docPages(t *testing.T) []docPage {
	t.Helper()
	root, err := lambdatest.ModuleRoot()
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "docs/ has pages")
	var pages []docPage
	for _, f := range append([]string{filepath.Join(root, "README.md")}, files...) {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		rel, err := filepath.Rel(root, f)
		require.NoError(t, err)
		pages = append(pages, docPage{path: filepath.ToSlash(rel), text: string(raw)})
	}
	return pages
}

// findPage finds one page by its path.
func findPage(t *testing.T, pages []docPage, path string) docPage {
	t.Helper()
	for _, p := range pages {
		if p.path == path {
			return p
		}
	}
	t.Fatalf("there is no page %s", path)
	return docPage{}
}

// Every command README.md and docs/*.md show with "$ " runs, as a user
// pastes it, against the local API as the `make run …` named before it
// on its page starts it (its port in place of 127.0.0.1:3000), in the
// page's order, one shell per page and make run. Its output is what the
// page shows after it, line for line (… is any text): first what curl
// prints, then the events the local API prints, in any order. Every
// answer is 2xx, unless the comment after the command names the status,
// or the output shown is an error ({"code":…,"message":…}: then 4xx or
// 5xx). A command whose output the page does not show is still run and
// held to the status rule.
func TestReadmeCurlLinesDoWhatTheReadmeSays(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"curl", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " is not installed")
		}
	}
	pages := docPages(t)
	ran := map[string]int{}
	for _, page := range pages {
		cmds := readmeCommands([]byte(page.text))
		if len(cmds) == 0 {
			continue
		}
		t.Run(page.path, func(t *testing.T) {
			t.Parallel()
			shells := map[string]*readmeShell{}
			for _, c := range cmds {
				where := fmt.Sprintf("%s line %d", page.path, c.line)
				require.Contains(t, c.command, "curl ", "%s: the commands shown with $ are curl lines: %s", where, c.command)
				sh := shells[c.makeRun]
				if sh == nil {
					sh = startReadmeShell(t, c.makeRun)
					shells[c.makeRun] = sh
				}
				runShown(t, sh, where, c)
			}
		})
		ran[page.path] = len(cmds)
	}
	// The walkthroughs the pages promise are there to run.
	for _, p := range []string{"README.md", "docs/sign-in.md", "docs/card-events-and-members.md", "docs/refresh.md"} {
		assert.NotZero(t, ran[p], "%s shows a walkthrough of make run", p)
	}
	t.Logf("commands run per page: %v", ran)
}

// runShown runs one command of a page in sh and holds it to what the page
// shows.
func runShown(t *testing.T, sh *readmeShell, where string, c readmeCommand) {
	t.Helper()
	before := len(sh.printed.String())
	out, statuses, exit := sh.run(t, strings.ReplaceAll(c.command, "127.0.0.1:3000", strings.TrimPrefix(sh.url, "http://")))
	require.Equal(t, "0", exit, "%s exits 0: %s\n%s", where, c.command, strings.Join(out, "\n"))
	require.NotEmpty(t, statuses, "%s got no HTTP answer", where)

	var shownErr struct{ Code, Message string }
	errorShown := len(c.expected) > 0 && json.Unmarshal([]byte(c.expected[0]), &shownErr) == nil &&
		shownErr.Message != "" && shownErr.Code != "" && shownErr.Code != "SUCCESS"
	for _, st := range statuses {
		switch m := statusInComment.FindStringSubmatch(c.comment); {
		case m != nil:
			assert.Equal(t, m[1], strconv.Itoa(st), "%s: the status its comment names", where)
		case errorShown:
			assert.GreaterOrEqual(t, st, 400, "%s shows an error", where)
		default:
			assert.True(t, st >= 200 && st < 300, "%s answers %d, not 2xx: %s", where, st, strings.Join(out, "\n"))
		}
	}
	if len(c.expected) == 0 {
		return
	}
	// What curl printed, line for line.
	require.GreaterOrEqual(t, len(c.expected), len(out), "%s prints more than the page shows:\n%s", where, strings.Join(out, "\n"))
	for i, l := range out {
		assert.Regexp(t, shownLine(c.expected[i]), l, "%s, output line %d", where, i+1)
	}
	// Then what the local API printed, in any order.
	var printed []string
	for _, l := range strings.Split(sh.printed.String()[before:], "\n") {
		if strings.TrimSpace(l) != "" {
			printed = append(printed, l)
		}
	}
	shown := c.expected[len(out):]
	assert.Len(t, printed, len(shown), "%s: as many printed lines as the page shows\n%s", where, strings.Join(printed, "\n"))
	assert.True(t, matchAnyOrder(shown, printed), "%s: the printed lines are not those the page shows\nshown:\n%s\nprinted:\n%s",
		where, strings.Join(shown, "\n"), strings.Join(printed, "\n"))
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

// makeHelpTargets are the targets make help lists.
func makeHelpTargets(t *testing.T) map[string]bool {
	t.Helper()
	root, err := lambdatest.ModuleRoot()
	require.NoError(t, err)
	cmd := exec.Command("make", "-s", "help")
	cmd.Dir = root
	help, err := cmd.Output()
	require.NoError(t, err)
	assert.NotContains(t, string(help), "$(", "make help expands its variables")
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  (\S+)\s`).FindAllStringSubmatch(string(help), -1) {
		targets[m[1]] = true
	}
	require.NotEmpty(t, targets)
	return targets
}

// Every make command a page shows at the start of a line is a target make
// help lists, and make help prints no unexpanded variable.
func TestReadmeMakeTargetsExist(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	targets := makeHelpTargets(t)
	n := 0
	for _, page := range docPages(t) {
		for _, m := range regexp.MustCompile(`(?m)^(?:\$ )?make ([a-z-]+)`).FindAllStringSubmatch(page.text, -1) {
			assert.True(t, targets[m[1]], "%s: make %s is in make help", page.path, m[1])
			n++
		}
	}
	assert.NotZero(t, n, "the pages show make commands")
}

// events/ has a sample for every route of template.yaml and for every
// command of the schedule's function that a page shows (docs/deploy.md
// promises one for each), so a route or command added later without its
// sample fails here. TestSampleEvents runs them.
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
	routes := readmeTemplateRoutes(t)
	for _, key := range routes {
		assert.True(t, sampleRoutes[key], "events/ has no sample for %s", key)
	}
	require.NotEmpty(t, routes, "template.yaml has routes")

	n := 0
	for _, page := range docPages(t) {
		for _, p := range regexp.MustCompile(`--payload '(\{[^']*\})'`).FindAllStringSubmatch(page.text, -1) {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(p[1]), &m), "%s: the payload %s", page.path, p[1])
			assert.Contains(t, commands, strings.Join(keys(m), ","), "events/ has no sample of the command %s (%s)", p[1], page.path)
			n++
		}
	}
	require.NotZero(t, n, "a page shows the schedule's commands")
	assert.Contains(t, commands, strings.Join(keys(map[string]any{"version": 0, "id": 0, "detail-type": 0, "source": 0, "account": 0, "time": 0, "region": 0, "resources": 0, "detail": 0}), ","), "the schedule's own event")
}

// The decision function docs/card-events-and-members.md shows is the
// example's own code, line for line, so that what a brand copies compiles
// (the example is built by the e2e tests' go vet and by go build ./...).
func TestReadmeDeciderIsTheExample(t *testing.T) {
	t.Parallel()
	root, err := lambdatest.ModuleRoot()
	require.NoError(t, err)
	page := findPage(t, docPages(t), "docs/card-events-and-members.md")
	example, err := os.ReadFile(filepath.Join(root, "examples", "memberdecider", "main.go"))
	require.NoError(t, err)
	_, members, ok := strings.Cut(page.text, "\n## Members\n")
	require.True(t, ok, "%s has a Members section", page.path)
	_, block, ok := strings.Cut(members, "```go\n")
	require.True(t, ok, "the Members section shows the decision function")
	block, _, _ = strings.Cut(block, "```")
	require.Contains(t, block, "func decide(")
	var lines int
	for _, l := range strings.Split(block, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			assert.Contains(t, string(example), l, "the decision function's line is not in examples/memberdecider")
			lines++
		}
	}
	assert.GreaterOrEqual(t, lines, 6)
}

// docs/operations.md's "Alarms" names every alarm of the template, and
// no other.
func TestReadmeAlarmsMatchTemplate(t *testing.T) {
	t.Parallel()
	doc, _ := loadTemplate(t)
	resources := node(doc, "Resources")
	var inTemplate []string
	for _, id := range mapKeys(resources) {
		if node(resources, id, "Type").Value == "AWS::CloudWatch::Alarm" {
			inTemplate = append(inTemplate, id)
		}
	}
	require.NotEmpty(t, inTemplate)
	page := findPage(t, docPages(t), "docs/operations.md")
	const heading = "\n## Alarms\n"
	_, section, ok := strings.Cut(page.text, heading)
	require.True(t, ok, "%s has the section %q", page.path, strings.TrimSpace(heading))
	section, _, _ = strings.Cut(section, "\n## ")
	seen := map[string]bool{}
	var inPage []string
	for _, m := range regexp.MustCompile("`([A-Za-z0-9]+Alarm)`").FindAllStringSubmatch(section, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			inPage = append(inPage, m[1])
		}
	}
	assert.ElementsMatch(t, inTemplate, inPage, "the alarms docs/operations.md lists (in backquotes) are the template's")
}

// readmeTemplateRoutes are the routes of the template's HTTP API, from
// the Api body ("POST /session"), each whatever its condition.
func readmeTemplateRoutes(t *testing.T) []string {
	t.Helper()
	doc, _ := loadTemplate(t)
	paths := node(doc, "Resources", "Api", "Properties", "Body", "paths")
	require.NotNil(t, paths, "the API's body has paths")
	var out []string
	for _, p := range mapKeys(paths) {
		item := node(paths, p)
		for item != nil && item.Tag == "!If" && item.Kind == yaml.SequenceNode && len(item.Content) == 3 {
			item = item.Content[1]
		}
		for _, method := range mapKeys(item) {
			out = append(out, strings.ToUpper(method)+" "+p)
		}
	}
	return out
}

// Names that a page may mention though nothing in this repository
// defines them, each for a reason.
var externalNames = map[string]string{
	// Environment variables of the tools and of Go, not of wxcard.
	"GOTOOLCHAIN": "Go", "SSL_CERT_FILE": "Go's crypto/x509", "GOFLAGS": "Go",
	// Resources that releases with route resources had (docs/deploy.md,
	// upgrading): they are named so that an operator can find them.
	"PreTokenRoute": "old release", "PartnerTokenRoute": "old release", "PartnerTokenLegacyRoute": "old release",
	"PreTokenIntegration": "old release", "PartnerTokenIntegration": "old release",
	"SessionAuthorizer": "old release", "JwtAuthorizer": "old release",
	// CloudFormation's and the AWS APIs' own names.
	"DeletionPolicy": "CloudFormation", "UpdateReplacePolicy": "CloudFormation", "ProtocolType": "CloudFormation",
	"FunctionUrlAuthType": "Lambda", "InvokedViaFunctionUrl": "Lambda", "AuthType": "Lambda",
	"DescribeEventBus": "EventBridge", "PutEvents": "EventBridge", "ReportBatchItemFailures": "Lambda",
	"MessageType": "KMS", "DetailType": "EventBridge", "EventBusName": "EventBridge",
	// WeChat Pay's APIs that wxcard does not call, named for the user to
	// call or configure.
	"PATCH /v3/marketing/membercard-open/callback": "WeChat Pay's callback API",
}

// sdkEnv are the AWS SDK's and Lambda's standard variables a page may
// name: the SDK reads them, not our code.
var sdkEnv = regexp.MustCompile(`^AWS_(REGION|DEFAULT_REGION|ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|PROFILE|ENDPOINT_URL(_(SECRETS_MANAGER|DYNAMODB|EVENTBRIDGE|SQS|KMS|LAMBDA|SCHEDULER|STS))?|LAMBDA_LOG_LEVEL|LAMBDA_RUNTIME_API)$`)

// repoNames are what the repository defines, for checking the names the
// pages use.
type repoNames struct {
	targets    map[string]bool // make help's
	params     map[string]bool // template.yaml's Parameters
	templateID map[string]bool // template.yaml's Parameters, Resources, Outputs, Conditions
	alarms     map[string]bool
	routes     map[string]bool // "METHOD /path" of the API and of make run's local API
	upstream   []string        // paths the Go code names: WeChat Pay's and WeChat's APIs
	env        map[string]bool // variables the code reads or the template sets
	envPrefix  map[string]bool // their first words (WXPAY, SESSION, …)
	goNames    map[string]bool // identifiers and string literals of the non-test Go code
}

func loadRepoNames(t *testing.T) repoNames {
	t.Helper()
	root, err := lambdatest.ModuleRoot()
	require.NoError(t, err)
	n := repoNames{targets: makeHelpTargets(t), params: map[string]bool{}, templateID: map[string]bool{}, alarms: map[string]bool{},
		routes: map[string]bool{}, env: map[string]bool{}, envPrefix: map[string]bool{}, goNames: map[string]bool{}}

	doc, _ := loadTemplate(t)
	for _, section := range []string{"Parameters", "Resources", "Outputs", "Conditions"} {
		for _, id := range mapKeys(node(doc, section)) {
			n.templateID[id] = true
			if section == "Parameters" {
				n.params[id] = true
				// Its values: `PassThrough`, say.
				for _, v := range values(node(doc, section, id, "AllowedValues")) {
					n.templateID[v] = true
				}
				if d := node(doc, section, id, "Default"); d != nil {
					n.templateID[d.Value] = true
				}
			}
			if section == "Resources" && node(doc, section, id, "Type").Value == "AWS::CloudWatch::Alarm" {
				n.alarms[id] = true
			}
		}
	}
	for _, r := range readmeTemplateRoutes(t) {
		n.routes[r] = true
	}
	raw, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	require.NoError(t, err)
	for _, m := range regexp.MustCompile(`(?m)^\s+([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+):`).FindAllStringSubmatch(string(raw), -1) {
		n.env[m[1]] = true
	}
	// The Makefile's variables, which make's command line sets.
	raw, err = os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	for _, m := range regexp.MustCompile(`(?m)^(?:export )?([A-Z][A-Z0-9_]*)\s*[:?]?=`).FindAllStringSubmatch(string(raw), -1) {
		n.env[m[1]] = true
	}

	// make run's own routes, the local sign-in's included.
	env, _, err := localapi.Env(func(string) string { return "" })
	require.NoError(t, err)
	stack, err := localapi.NewSandboxStack(context.Background(), env, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(stack.Close)
	require.NoError(t, stack.EnableSignIn(context.Background(), "http://127.0.0.1:3000"))
	for _, r := range stack.Routes {
		n.routes[r.Key] = true
	}

	// The Go code: what it reads from the environment, the identifiers it
	// declares and uses, its string literals, the paths it calls.
	getenv := regexp.MustCompile(`(?:[Gg]etenv|LookupEnv)\("([A-Z][A-Z0-9_]*)"\)`)
	// A variable read through a constant: os.Getenv(SkipLogEnv).
	consts, readByName := map[string]string{}, map[string]bool{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range getenv.FindAllStringSubmatch(string(src), -1) {
			n.env[m[1]] = true
		}
		f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		test := strings.HasSuffix(path, "_test.go")
		ast.Inspect(f, func(x ast.Node) bool {
			switch x := x.(type) {
			case *ast.ValueSpec:
				for i, name := range x.Names {
					if i < len(x.Values) {
						if lit, ok := x.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[name.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			case *ast.CallExpr:
				var fn string
				switch f := x.Fun.(type) {
				case *ast.Ident:
					fn = f.Name
				case *ast.SelectorExpr:
					fn = f.Sel.Name
				}
				if len(x.Args) == 1 && (strings.EqualFold(fn, "getenv") || fn == "LookupEnv") {
					if id, ok := x.Args[0].(*ast.Ident); ok {
						readByName[id.Name] = true
					}
				}
			}
			if test {
				return true
			}
			switch x := x.(type) {
			case *ast.Ident:
				n.goNames[x.Name] = true
			case *ast.BasicLit:
				if x.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(x.Value)
				if err != nil {
					return true
				}
				n.goNames[s] = true
				for _, w := range regexp.MustCompile(`[A-Za-z0-9_]+`).FindAllString(s, -1) {
					n.goNames[w] = true
				}
				if strings.HasPrefix(s, "/") && len(s) > 1 {
					n.upstream = append(n.upstream, s)
				}
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
	for name := range readByName {
		if v := consts[name]; v != "" {
			n.env[v] = true
		}
	}
	for e := range n.env {
		first, _, _ := strings.Cut(e, "_")
		n.envPrefix[first] = true
	}
	return n
}

// pathMatches reports whether a page's path names the route pattern: the
// same segments, where a {parameter} on either side stands for any one
// segment, a %s of a Go format for any, and a page's leading … for any
// beginning.
func pathMatches(page, pattern string) bool {
	page, _, _ = strings.Cut(page, "?")
	pattern, _, _ = strings.Cut(pattern, "?")
	ps, qs := strings.Split(page, "/"), strings.Split(pattern, "/")
	if strings.HasPrefix(page, "…/") {
		ps = ps[1:]
		if len(qs) < len(ps) {
			return false
		}
		qs = qs[len(qs)-len(ps):]
	}
	if len(ps) != len(qs) {
		return false
	}
	placeholder := func(s string) bool {
		return strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") || s == "%s" || strings.HasPrefix(s, "$")
	}
	for i := range ps {
		if ps[i] != qs[i] && !placeholder(ps[i]) && !placeholder(qs[i]) {
			return false
		}
	}
	return true
}

var (
	inlineCode   = regexp.MustCompile("`([^`\n]+)`")
	routeName    = regexp.MustCompile(`^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (/\S*|…/\S*)$`)
	routeLine    = regexp.MustCompile(`(?m)^(GET|POST|PUT|PATCH|DELETE) (/\S*)$`)
	makeName     = regexp.MustCompile(`^make ([a-z][a-z-]*)\b`)
	camelName    = regexp.MustCompile(`^([A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+)(?:=\S*)?$`)
	snakeName    = regexp.MustCompile(`(^|[^A-Za-z0-9_.*…])([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)([^A-Za-z0-9_.*…]|$)`)
	overrideName = regexp.MustCompile(`(?:^|\s)([A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+)=`)
	fenceLine    = regexp.MustCompile("(?m)^\\s*```")
)

// splitFences cuts a page into its prose (outside code blocks, with the
// blocks' lines blanked) and its code blocks' text.
func splitFences(text string) (prose, code string) {
	var p, c strings.Builder
	in := false
	for _, l := range strings.Split(text, "\n") {
		if fenceLine.MatchString(l) {
			in = !in
			p.WriteString("\n")
			continue
		}
		if in {
			c.WriteString(l + "\n")
			p.WriteString("\n")
		} else {
			p.WriteString(l + "\n")
		}
	}
	return p.String(), c.String()
}

// A page names nothing that does not exist: every make target (make help
// lists it), route ("METHOD /path": the API's, make run's, or a WeChat Pay
// or WeChat API path the code calls), template parameter (a CamelCase name
// in backquotes, or NAME= in a command: the template's Parameters,
// Resources, Outputs or Conditions, or a name of the Go code), alarm
// (`…Alarm`: an alarm of the template) and environment variable
// (UPPER_SNAKE in backquotes: read by the code, set by the template, the
// AWS SDK's, or, for names outside the variables' families, a string the
// code or openapi.yaml has, such as an error code) the pages name exists,
// but for the few externalNames, each with its reason.
func TestReadmeNamesExist(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	n := loadRepoNames(t)
	root, err := lambdatest.ModuleRoot()
	require.NoError(t, err)
	openapi, err := os.ReadFile(filepath.Join(root, "openapi.yaml"))
	require.NoError(t, err)
	inOpenAPI := map[string]bool{}
	for _, w := range regexp.MustCompile(`[A-Z][A-Z0-9_]+`).FindAllString(string(openapi), -1) {
		inOpenAPI[w] = true
	}

	routeKnown := func(method, path string) bool {
		if externalNames[method+" "+path] != "" {
			return true
		}
		// A path of the API or of make run: with one of its methods.
		onRoute := false
		for r := range n.routes {
			m, p, _ := strings.Cut(r, " ")
			if pathMatches(path, p) {
				if m == method {
					return true
				}
				onRoute = true
			}
		}
		if onRoute {
			return false
		}
		for _, p := range n.upstream {
			if pathMatches(path, p) {
				return true
			}
		}
		return false
	}
	checked := map[string]int{}
	for _, page := range docPages(t) {
		prose, code := splitFences(page.text)
		for _, m := range inlineCode.FindAllStringSubmatch(prose, -1) {
			span := strings.TrimSpace(m[1])
			if mm := makeName.FindStringSubmatch(span); mm != nil {
				assert.True(t, n.targets[mm[1]], "%s names `%s`: make help has no target %s", page.path, span, mm[1])
				checked["make targets"]++
			}
			if mm := routeName.FindStringSubmatch(span); mm != nil {
				assert.True(t, routeKnown(mm[1], mm[2]), "%s names the route `%s`, which neither the API, make run nor the code's WeChat APIs have", page.path, span)
				checked["routes"]++
			}
			if mm := camelName.FindStringSubmatch(span); mm != nil {
				name := mm[1]
				switch {
				case strings.HasSuffix(name, "Alarm"):
					assert.True(t, n.alarms[name], "%s names the alarm `%s`, which template.yaml does not have", page.path, name)
					checked["alarms"]++
				case strings.Contains(span, "="):
					assert.True(t, n.params[name], "%s sets `%s`, which is no parameter of template.yaml", page.path, span)
					checked["parameters"]++
				default:
					assert.True(t, n.templateID[name] || n.goNames[name] || externalNames[name] != "",
						"%s names `%s`, which is neither in template.yaml nor in the code", page.path, name)
					checked["parameters"]++
				}
			}
			for _, mm := range snakeName.FindAllStringSubmatch(span, -1) {
				name := mm[2]
				first, _, _ := strings.Cut(name, "_")
				switch {
				case n.env[name] || sdkEnv.MatchString(name) || externalNames[name] != "":
				case n.envPrefix[first]:
					assert.Fail(t, "an environment variable nothing reads", "%s names `%s`: no code reads it and the template sets no such variable", page.path, name)
				default:
					assert.True(t, n.goNames[name] || inOpenAPI[name], "%s names `%s`, which neither the code nor openapi.yaml has", page.path, name)
				}
				checked["environment variables and codes"]++
			}
		}
		// In code blocks: the routes of requests shown, and the parameters
		// a command sets.
		for _, mm := range routeLine.FindAllStringSubmatch(code, -1) {
			assert.True(t, routeKnown(mm[1], mm[2]), "%s shows a request to %s %s, which no route has", page.path, mm[1], mm[2])
			checked["routes"]++
		}
		for _, l := range strings.Split(code, "\n") {
			for _, mm := range overrideName.FindAllStringSubmatch(l, -1) {
				assert.True(t, n.params[mm[1]], "%s sets %s=, which is no parameter of template.yaml: %s", page.path, mm[1], strings.TrimSpace(l))
				checked["parameters"]++
			}
		}
	}
	for _, kind := range []string{"make targets", "routes", "parameters", "alarms", "environment variables and codes"} {
		assert.NotZero(t, checked[kind], "the pages name %s", kind)
	}
	t.Logf("names checked: %v", checked)
}

var (
	mdLink  = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
)

// anchor is the id GitHub gives a heading: lower case, punctuation
// dropped, spaces made hyphens.
func anchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors are the ids of a page's headings, repeated ones numbered as
// GitHub numbers them.
func anchors(text string) map[string]bool {
	prose, _ := splitFences(text)
	out := map[string]bool{}
	seen := map[string]int{}
	for _, m := range heading.FindAllStringSubmatch(prose, -1) {
		a := anchor(m[1])
		if k := seen[a]; k > 0 {
			out[fmt.Sprintf("%s-%d", a, k)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// Every relative link of README.md, docs/*.md, SECURITY.md and
// BENCHMARKS.md leads to a file of the repository, and a link to a
// heading (#…) to a heading that page has. README links every page of
// docs/.
func TestReadmeLinksResolve(t *testing.T) {
	t.Parallel()
	root, err := lambdatest.ModuleRoot()
	require.NoError(t, err)
	pages := docPages(t)
	for _, extra := range []string{"SECURITY.md", "BENCHMARKS.md"} {
		raw, err := os.ReadFile(filepath.Join(root, extra))
		require.NoError(t, err)
		pages = append(pages, docPage{path: extra, text: string(raw)})
	}
	n := 0
	for _, page := range pages {
		prose, _ := splitFences(page.text)
		for _, m := range mdLink.FindAllStringSubmatch(prose, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(target, "#")
			path := page.path
			if file != "" {
				path = filepath.ToSlash(filepath.Join(filepath.Dir(page.path), file))
			}
			raw, err := os.ReadFile(filepath.Join(root, path))
			if !assert.NoError(t, err, "%s links %s, which is not a file of the repository", page.path, target) {
				continue
			}
			if frag != "" {
				assert.True(t, anchors(string(raw))[frag], "%s links %s: %s has no heading #%s", page.path, target, path, frag)
			}
			n++
		}
	}
	assert.NotZero(t, n)
	readme := findPage(t, pages, "README.md")
	for _, p := range pages {
		if strings.HasPrefix(p.path, "docs/") {
			assert.Contains(t, readme.text, "]("+p.path+")", "README.md links %s", p.path)
		}
	}
}

// Every Go program a page shows (a ```go block that is a whole package
// main) compiles against this module, and runs to its end unless it
// reads files (it calls the real WeChat Pay with your keys): so an
// example of docs/go-packages.md cannot drift from the packages. The
// programs are laid into the module through go build's -overlay, under
// a directory that does not exist.
func TestReadmeGoProgramsBuildAndRun(t *testing.T) {
	t.Parallel()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not installed")
	}
	root, err := lambdatest.ModuleRoot()
	require.NoError(t, err)
	dir := t.TempDir()
	overlay := map[string]string{}
	type program struct{ page, pkg string }
	var programs []program
	block := regexp.MustCompile("(?s)```go\n(package main\n.*?)```")
	for _, page := range docPages(t) {
		for i, m := range block.FindAllStringSubmatch(page.text, -1) {
			name := fmt.Sprintf("%s_%d", strings.NewReplacer("/", "_", ".", "_", "-", "_").Replace(page.path), i)
			src := filepath.Join(dir, name+".go")
			require.NoError(t, os.WriteFile(src, []byte(m[1]), 0o600))
			overlay[filepath.Join(root, "internal", "docprograms", name, "main.go")] = src
			programs = append(programs, program{page.path, "./internal/docprograms/" + name})
			if strings.Contains(m[1], "os.ReadFile") {
				programs[len(programs)-1].page = "" // built, not run
			}
		}
	}
	require.NotEmpty(t, programs, "docs/go-packages.md shows Go programs")
	raw, err := json.Marshal(map[string]any{"Replace": overlay})
	require.NoError(t, err)
	overlayFile := filepath.Join(dir, "overlay.json")
	require.NoError(t, os.WriteFile(overlayFile, raw, 0o600))

	bin := filepath.Join(dir, "bin")
	require.NoError(t, os.Mkdir(bin, 0o700))
	args := []string{"build", "-overlay=" + overlayFile, "-o", bin}
	for _, p := range programs {
		args = append(args, p.pkg)
	}
	build := exec.Command(goCmd, args...)
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "the pages' Go programs build:\n%s", out)
	for _, p := range programs {
		if p.page == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		run := exec.CommandContext(ctx, filepath.Join(bin, filepath.Base(p.pkg)))
		out, err := run.CombinedOutput()
		cancel()
		assert.NoError(t, err, "%s: the program %s runs to its end:\n%s", p.page, filepath.Base(p.pkg), out)
	}
}
