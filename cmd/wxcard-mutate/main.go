// Command wxcard-mutate runs mutation testing (gremlins) on the packages
// whose tests guard money and security, and fails when a package's test
// efficacy (mutants killed / mutants covered) is under the threshold.
//
// A surviving mutant is either killed by a new test or listed in
// mutation/equivalent.txt with a one-line reason: a mutant that cannot
// change behaviour. Such a mutant is left out of the efficacy. A listed
// mutant that no longer survives, or no longer exists, is reported so the
// list does not rot.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Packages are the critical packages, as the mutation issue lists them.
var Packages = []string{
	"./pkg/wxsign", "./pkg/wxpay", "./pkg/membercard", "./internal/cardapi", "./internal/secret", "./internal/cardevents", "./internal/kmssign",
	"./pkg/wxlogin", "./internal/session", "./internal/pacedqueue", "./internal/member", "./internal/member/lambdadecider", "./internal/memberapi",
}

// onMoto are the packages whose tests under mutation run on moto_server
// (awstest.Stacks: the state table and the bus); the others' tests that
// need moto skip (WXCARD_MOTO_ENDPOINT=off), as they cover what the
// in-process stand-ins do with more time per mutant.
var onMoto = map[string]bool{"./internal/cardapi": true, "./internal/cardevents": true}

// fewerWorkers are the packages whose mutants run with two workers, not
// -workers: their tests keep both cores busy (wxsign generates RSA keys),
// so a third worker only queues. Measured, 2 vs 3 workers: wxsign 1m32s vs
// 1m52s. cardevents, once moto's own CPU per test run was cut (see
// awstest.CreateBusWithQueue), went the other way: 59s vs 51s.
var fewerWorkers = map[string]bool{"./pkg/wxsign": true}

// packageKey is how onMoto and fewerWorkers name a package given on the
// command line ("pkg/wxsign", "./pkg/wxsign/").
func packageKey(pkg string) string { return "./" + filepath.Clean(pkg) }

// stopMoto stops the run's moto_server, if one was started.
var stopMoto = func() {}

type mutation struct {
	Type   string `json:"type"`
	Status string `json:"status"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

type report struct {
	Files []struct {
		Name      string     `json:"file_name"`
		Mutations []mutation `json:"mutations"`
	} `json:"files"`
}

// equivalent is one listed mutant: a file, a mutator type and the trimmed
// text of the mutated line (lines move; their text rarely does).
type equivalent struct {
	file, typ, text, reason string
	used                    bool
}

func main() {
	threshold := flag.Float64("threshold", 90, "minimum test efficacy per package, in percent")
	list := flag.String("equivalent", "mutation/equivalent.txt", "file of equivalent mutants")
	// Three workers on CI's two cores: a mutant's test run is compiling
	// and linking, then tests that mostly wait (backoffs, timeouts,
	// moto_server), and a third worker fills those waits. Measured on
	// pkg/wxpay: 2 workers 2m08s, 3 workers 1m26s, 4 workers 1m32s.
	workers := flag.Int("workers", 3, "gremlins workers")
	flag.Parse()
	pkgs := flag.Args()
	if len(pkgs) == 0 {
		pkgs = Packages
	}
	eqs, err := readEquivalent(*list)
	if err != nil {
		fail(err)
	}
	// One moto_server for the whole run, shared by every mutant's tests
	// (each test on its own table, queue and bus): started per test
	// binary, it would cost seconds per mutant.
	endpoint := "off"
	for _, p := range pkgs {
		if onMoto[packageKey(p)] {
			if endpoint, err = startMoto(); err != nil {
				fail(err)
			}
			break
		}
	}
	start := time.Now()
	failed := false
	// Each package's row is printed as it finishes, with its survivors;
	// the whole table again at the end, where gremlins' output cannot
	// interleave with it.
	const header = "| package | killed | lived | equivalent | not covered | timed out | efficacy | time |\n|---|---|---|---|---|---|---|---|"
	var rows []string
	for _, pkg := range pkgs {
		if _, err := os.Stat(pkg); err != nil {
			rows = append(rows, fmt.Sprintf("| %s | not present | | | | | | |", pkg))
			continue
		}
		pkgStart := time.Now()
		key := packageKey(pkg)
		moto := "off"
		if onMoto[key] {
			moto = endpoint
		}
		w := *workers
		if fewerWorkers[key] {
			w = min(w, 2)
		}
		r, err := unleash(pkg, w, moto)
		if err != nil {
			fail(err)
		}
		var killed, lived, equiv, uncovered, timedOut int
		var survivors []string
		for _, f := range r.Files {
			path := filepath.Join(pkg, f.Name)
			lines, err := readLines(path)
			if err != nil {
				fail(err)
			}
			for _, m := range f.Mutations {
				switch m.Status {
				case "KILLED":
					killed++
				case "TIMED OUT":
					timedOut++
				case "NOT COVERED":
					uncovered++
				case "LIVED":
					text := ""
					if m.Line-1 < len(lines) {
						text = strings.TrimSpace(lines[m.Line-1])
					}
					if e := match(eqs, path, m.Type, text); e != nil {
						equiv++
						continue
					}
					lived++
					survivors = append(survivors, fmt.Sprintf("%s:%d:%d %s  %s", path, m.Line, m.Column, m.Type, text))
				}
			}
		}
		efficacy := 100.0
		if killed+timedOut+lived > 0 {
			efficacy = 100 * float64(killed+timedOut) / float64(killed+timedOut+lived)
		}
		verdict := ""
		switch {
		case killed+timedOut+lived == 0:
			// No mutant ran a test: gremlins measured nothing (as when it
			// could not read the module's name from go.mod's first line
			// and took every mutant for uncovered). That is no 100 %.
			verdict, failed = " **no mutant covered: not measured**", true
		case timedOut > killed+lived:
			// Timed-out mutants count as killed: when most time out, the
			// measurement, not the tests, failed.
			verdict, failed = " **most mutants timed out: not measured**", true
		case efficacy < *threshold:
			verdict, failed = " **under the threshold**", true
		}
		row := fmt.Sprintf("| %s | %d | %d | %d | %d | %d | %.1f %%%s | %s |", pkg, killed, lived, equiv, uncovered, timedOut, efficacy, verdict, time.Since(pkgStart).Round(time.Second))
		rows = append(rows, row)
		fmt.Println(header + "\n" + row)
		for _, s := range survivors {
			fmt.Println("    lived: " + s)
		}
	}
	for _, e := range eqs {
		if !e.used && covers(pkgs, e.file) {
			fmt.Printf("listed as equivalent but not found surviving (remove it from %s): %s %s %q\n", *list, e.file, e.typ, e.text)
		}
	}
	stopMoto()
	fmt.Printf("\n%s\n%s\n\nmutation testing took %s (%d gremlins worker(s); 2 for %v)\n", header, strings.Join(rows, "\n"), time.Since(start).Round(time.Second), *workers, keys(fewerWorkers))
	if failed {
		fail(fmt.Errorf("a package's test efficacy is under %.0f %%, or could not be measured: kill the surviving mutants with tests, or list the equivalent ones", *threshold))
	}
}

func covers(pkgs []string, file string) bool {
	for _, p := range pkgs {
		if filepath.Dir(file) == filepath.Clean(p) {
			return true
		}
	}
	return false
}

func match(eqs []*equivalent, file, typ, text string) *equivalent {
	for _, e := range eqs {
		if e.file == file && e.typ == typ && e.text == text {
			e.used = true
			return e
		}
	}
	return nil
}

// startMoto starts moto_server on a free loopback port and waits until it
// answers.
func startMoto() (string, error) {
	path, err := exec.LookPath("moto_server")
	if err != nil {
		return "", fmt.Errorf("moto_server is not installed: the tests of %v run on it", keys(onMoto))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	_ = l.Close()
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(path, "-H", host, "-p", port) //nolint:gosec // moto_server as found on PATH
	cmd.Env = append(os.Environ(), "MOTO_ALLOW_NONEXISTENT_REGION=true")
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting moto_server: %w", err)
	}
	stopMoto = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return "http://" + addr, nil
		}
	}
	stopMoto()
	return "", errors.New("moto_server did not listen within 2 minutes")
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// mutantGoFlags are the go command's flags for every gremlins run (see
// unleash).
const mutantGoFlags = "-count=1 -short -trimpath -vet=off -ldflags=-s"

// unleash runs gremlins on one package and reads its JSON report; its
// tests use the moto_server at motoEndpoint, or none ("off").
func unleash(pkg string, workers int, motoEndpoint string) (*report, error) {
	out, err := os.CreateTemp("", "gremlins-*.json")
	if err != nil {
		return nil, err
	}
	_ = out.Close()
	defer os.Remove(out.Name())
	// -E /: files of sub-packages (wxpaytest, membercardtest) are left out.
	// gremlins v0.6.0 runs the parent package's tests on their mutants, not
	// their own: a wxpaytest mutant that wxpaytest's tests kill is counted
	// as lived. Such a package is measured by naming it.
	cmd := exec.Command("gremlins", "unleash", "--workers", fmt.Sprint(workers), "--timeout-coefficient", "3", "-E", "/", "-o", out.Name(), pkg) //nolint:gosec // arguments from this program's package list and flags
	// gremlins runs the package's tests once per mutant: they share the
	// run's moto_server rather than each start one.
	// -count=1: gremlins times its first, unmutated run of the tests and
	// gives each mutant a multiple of that; a run answered from Go's test
	// cache takes no time, and every mutant would then "time out" and
	// count as killed.
	// -trimpath: each gremlins worker tests in its own copy of the module;
	// without it every copy's path is part of the build cache's keys, and
	// the unchanged packages were rebuilt per copy. With -vet=off (vet runs
	// in make lint, not per mutant) a mutant costs about 40 % less.
	// -short: a load test runs fewer of the same requests (make test runs
	// them all).
	cmd.Env = append(os.Environ(), "WXCARD_MOTO_ENDPOINT="+motoEndpoint, "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" "+mutantGoFlags))
	cmd.Stderr = os.Stderr
	if b, err := cmd.Output(); err != nil {
		return nil, fmt.Errorf("gremlins on %s: %w\n%s", pkg, err, b)
	}
	raw, err := os.ReadFile(out.Name())
	if err != nil {
		return nil, err
	}
	var r report
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("gremlins report of %s: %w", pkg, err)
	}
	return &r, nil
}

// readEquivalent reads lines of the form
//
//	path/to/file.go | MUTATOR_TYPE | trimmed text of the mutated line | why it cannot change behaviour
//
// ignoring blank lines and lines starting with #.
func readEquivalent(path string) ([]*equivalent, error) {
	f, err := os.Open(path) //nolint:gosec // a path from the command line
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*equivalent
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, " | ")
		if len(parts) != 4 || strings.TrimSpace(parts[3]) == "" {
			return nil, fmt.Errorf("%s:%d: want `file | TYPE | line text | reason`", path, n)
		}
		out = append(out, &equivalent{file: filepath.Clean(strings.TrimSpace(parts[0])), typ: strings.TrimSpace(parts[1]), text: strings.TrimSpace(parts[2]), reason: parts[3]})
	}
	return out, sc.Err()
}

func readLines(path string) ([]string, error) {
	b, err := os.ReadFile(path) //nolint:gosec // a file gremlins reported
	if err != nil {
		return nil, err
	}
	return strings.Split(string(b), "\n"), nil
}

func fail(err error) {
	stopMoto()
	fmt.Fprintln(os.Stderr, "wxcard-mutate:", err)
	os.Exit(1)
}
