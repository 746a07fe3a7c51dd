package e2e

import (
	"bufio"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/lambdatest"
)

// `make run` is stopped by one SIGTERM to make: the local API it started
// goes with it, and its port is free again.
func TestMakeRunStopsWithMake(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	root, err := lambdatest.ModuleRoot()
	require.NoError(t, err)
	cmd := exec.Command("make", "-s", "run", "RUN_ADDR=127.0.0.1:0")
	cmd.Dir = root
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	addr := regexp.MustCompile(`wxcard local API on (http://127\.0\.0\.1:\d+)`)
	var base string
	timeout := time.After(2 * time.Minute)
	for base == "" {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "make run ended before serving")
			if m := addr.FindStringSubmatch(l); m != nil {
				base = m[1]
			}
		case <-timeout:
			t.Fatal("make run did not start serving within 2 minutes")
		}
	}
	resp, err := http.Get(base + "/v3/brand-basic/partner/brands/1004/product-authorities")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, 200, resp.StatusCode)

	child := childOf(t, cmd.Process.Pid)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM), "one SIGTERM, to make only")
	select {
	case err := <-exited:
		t.Logf("make exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("make did not exit on SIGTERM")
	}
	// The local API was make's child: it must exit too.
	deadline := time.Now().Add(10 * time.Second)
	for alive(child) {
		if time.Now().After(deadline) {
			t.Fatalf("wxcard-local (pid %d) still runs after make was stopped", child)
		}
		time.Sleep(20 * time.Millisecond) // polling another process's exit
	}
	resp, err = http.Get(base + "/")
	if err == nil {
		_ = resp.Body.Close()
	}
	require.Error(t, err, "the port is free")
}

// childOf is the one child process of pid.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("no /proc: cannot find make's child")
	}
	require.NoError(t, err)
	f := strings.Fields(string(raw))
	require.Len(t, f, 1, "make runs exactly one process, the local API")
	child, err := strconv.Atoi(f[0])
	require.NoError(t, err)
	return child
}

func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	// A zombie is not running.
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !strings.Contains(string(stat), ") Z ")
}
