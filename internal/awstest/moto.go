package awstest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// MotoEndpointEnv names the environment variable that says which
// moto_server the tests use. Unset, each test binary starts its own the
// first time a test asks. A URL (http://127.0.0.1:PORT) is a moto_server
// already running, shared by several test binaries, as make mutate
// shares one among the hundreds of runs it makes: every name a Stack
// creates carries the process's id. "off" starts none: the tests that
// need one skip, saying so.
const MotoEndpointEnv = "WXCARD_MOTO_ENDPOINT"

// RequireMotoEnv names the environment variable that, set to "1", turns
// every skip for want of moto_server (not installed, or failing to start)
// into a failure: on CI machines, which have it, such a skip is a broken
// setup, not a pass. MotoEndpointEnv=off still leaves moto out on purpose.
const RequireMotoEnv = "WXCARD_REQUIRE_MOTO"

// SkipLogEnv names the environment variable that, set to a file's path,
// makes every test skipped for want of a tool (moto_server, samtranslator)
// append why to that file, one line each (LogSkip): `make test` counts
// them by reason and says so at its end, where a skip would otherwise go
// unseen without -v.
const SkipLogEnv = "WXCARD_SKIP_LOG"

// MotoMissing is the skip log's line for a test that needed moto_server.
const MotoMissing = "moto_server is not installed or did not start: the AWS tests (DynamoDB, SQS, EventBridge, KMS) need it: pip install 'moto[server]' (docs/developing.md)"

// Why there is no moto_server: on purpose, or a setting not understood.
var (
	errMotoOff = errors.New(MotoEndpointEnv + "=off: moto_server is not started")
	errMotoEnv = errors.New(MotoEndpointEnv + ": want a moto_server's http:// URL, \"off\", or unset")
)

// The test binary's one moto_server.
var moto struct {
	once     sync.Once
	endpoint string
	err      error
	stdin    io.WriteCloser // held open: moto_server dies when it closes
}

// motoEndpoint starts the test binary's moto_server the first time it
// is asked for, and says why there is none when it cannot start.
func motoEndpoint() (string, error) {
	moto.once.Do(func() { moto.endpoint, moto.err = chooseMoto(os.Getenv(MotoEndpointEnv), startMoto) })
	return moto.endpoint, moto.err
}

// chooseMoto reads MotoEndpointEnv's value, starting a moto_server where
// it is unset.
func chooseMoto(v string, start func() (string, error)) (string, error) {
	switch v = strings.TrimSpace(v); {
	case v == "off":
		return "", errMotoOff
	case strings.HasPrefix(v, "http://"):
		return strings.TrimSuffix(v, "/"), nil
	case v != "":
		return "", fmt.Errorf("%w, not %q", errMotoEnv, v)
	default:
		return start()
	}
}

// noMoto skips the test for want of moto_server, or fails it under
// RequireMotoEnv.
func noMoto(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, errMotoOff) {
		t.Skip(err)
	}
	if os.Getenv(RequireMotoEnv) == "1" || errors.Is(err, errMotoEnv) {
		t.Fatalf("%v (%s=1: this machine must have it)", err, RequireMotoEnv)
	}
	LogSkip(MotoMissing)
	t.Skipf("%v: this test needs moto_server (%s=1 makes this a failure)", err, RequireMotoEnv)
}

// LogSkip appends why a test is skipped to SkipLogEnv's file, if set; one
// short write with O_APPEND, so that test binaries running at once do not
// interleave.
func LogSkip(reason string) {
	path := os.Getenv(SkipLogEnv)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600) //nolint:gosec // a path make test chose
	if err != nil {
		return
	}
	_, _ = f.WriteString(reason + "\n")
	_ = f.Close()
}

// StartMoto returns the endpoint of the test binary's moto_server (see
// MotoEndpointEnv), starting it on a free loopback port the first time;
// it stops when the test binary exits. Tests share it, each on its own
// table, queue, bus or key. It skips the test, saying why, where
// moto_server is not installed (see RequireMotoEnv).
func StartMoto(t testing.TB) string {
	t.Helper()
	ep, err := motoEndpoint()
	if err != nil {
		noMoto(t, err)
	}
	return ep
}

func startMoto() (string, error) {
	path, err := exec.LookPath("moto_server")
	if err != nil {
		return "", errors.New("moto_server is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	// A shell holds moto_server and kills it when its stdin closes, which
	// the kernel does when this process exits however it exits: a test
	// binary has no hook after its last test (TestMain aside).
	cmd := exec.Command("sh", "-c", `"$0" -H 127.0.0.1 -p "$1" & pid=$!; cat >/dev/null; kill $pid`, path, fmt.Sprint(port)) //nolint:gosec // moto_server as found on PATH, for tests
	cmd.Env = append(os.Environ(), "MOTO_ALLOW_NONEXISTENT_REGION=true")
	if moto.stdin, err = cmd.StdinPipe(); err != nil {
		return "", err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting moto_server: %w", err)
	}
	// moto (werkzeug) prints "Running on http://…" on stderr once it
	// listens, then a line per request: read them all, or it blocks.
	ready, died := make(chan struct{}), make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.Contains(sc.Text(), "Running on") {
				close(ready)
				signalled = true
			}
		}
		if !signalled {
			close(died)
		}
	}()
	select {
	case <-ready:
		return fmt.Sprintf("http://127.0.0.1:%d", port), nil
	case <-died:
		return "", errors.New("moto_server exited before it listened")
	case <-time.After(60 * time.Second):
		_ = moto.stdin.Close()
		return "", errors.New("moto_server did not start within 60 s")
	}
}
