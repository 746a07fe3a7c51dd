// Package pkg_test checks what pkg/ may import: the packages under pkg/ are
// for any Go project, so they need nothing but the standard library and
// each other (their tests aside).
package pkg_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const pkgRoot = "github.com/wxcard/wxcard/pkg"

func TestPkgImportsOnlyTheStandardLibrary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	// Every package of pkg/ and every package they depend on (their tests
	// excluded) that is not in the standard library.
	out, err := exec.Command("go", "list", "-deps",
		"-f", `{{if not .Standard}}{{.ImportPath}}{{end}}`, "./...").CombinedOutput()
	require.NoError(t, err, "%s", out)
	var seen []string
	for _, p := range strings.Fields(string(out)) {
		seen = append(seen, p)
		assert.True(t, p == pkgRoot || strings.HasPrefix(p, pkgRoot+"/"), "pkg/ depends on %s, outside the standard library and pkg/", p)
	}
	assert.Contains(t, seen, pkgRoot+"/wxpay/wxpaytest", "the list covers pkg/")
}
