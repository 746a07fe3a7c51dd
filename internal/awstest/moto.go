package awstest

import (
	"os"
	"os/exec"
	"testing"
)

// BackendsEnv names the environment variable that chooses the backends:
// "fakes" runs against the in-process fakes only, even where moto_server
// is installed (mutation testing runs the suite hundreds of times, and
// moto_server costs seconds to start). Unset, both run.
const BackendsEnv = "WXCARD_TEST_BACKENDS"

// fakesOnly reports whether BackendsEnv asks for the in-process fakes
// only; a value it does not know fails the test rather than being ignored.
func fakesOnly(t testing.TB) bool {
	t.Helper()
	switch v := os.Getenv(BackendsEnv); v {
	case "":
		return false
	case "fakes":
		return true
	default:
		t.Fatalf("%s=%q: want \"fakes\" or unset", BackendsEnv, v)
		return false
	}
}

func motoInstalled() bool {
	_, err := exec.LookPath("moto_server")
	return err == nil
}
