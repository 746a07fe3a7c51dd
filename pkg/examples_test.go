package pkg_test

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// methodsWithExamples are the methods a user starts from, by package
// directory: each needs an Example of its own, as a function does.
var methodsWithExamples = map[string][]string{
	"wxpay":                     {"Client.Do"},
	"wxpay/wxpaytest":           {"Server.Config", "Server.Handle", "Server.Inject", "Notifier.Build"},
	"wxsign":                    {"Signer.Authorization", "Identity.Signer", "Verifier.Verify", "Verifier.ParseNotification"},
	"membercard":                {"BrandPreAuthTokenRequest.Validate", "PartnerPreAuthTokenRequest.Validate", "PermissionTokenRequest.Validate", "UserCardConfirmRequest.Validate", "PartnerUserCardConfirmRequest.Validate", "ValidDateInformation.Validate"},
	"membercard/membercardtest": {"Cards.SetAuthorities", "Cards.OpenCard", "Cards.PostOpenCard", "Cards.PostDeleteCard"},
	"wxlogin":                   {"Client.Exchange"},
	"wxlogin/wxlogintest":       {"Server.Config", "Server.FailNext"},
}

// Every exported function of pkg/ (constructors included) and every
// method in methodsWithExamples has an Example that go doc attaches to it
// (go doc -http, pkg.go.dev) and that go test runs and checks: it has an
// // Output: comment.
func TestEveryEntryPointHasAnExample(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	err := filepath.WalkDir(".", func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if dir == "." {
			return nil
		}
		seen[filepath.ToSlash(dir)] = true
		missing := withoutExamples(t, dir, methodsWithExamples[filepath.ToSlash(dir)])
		assert.Empty(t, missing, "pkg/%s: no Example with an // Output: for these", dir)
		return nil
	})
	require.NoError(t, err)
	for dir := range methodsWithExamples {
		assert.True(t, seen[dir], "methodsWithExamples names pkg/%s, which does not exist", dir)
	}
}

// withoutExamples returns the exported functions of the package in dir,
// and the listed methods, that have no runnable Example with output.
func withoutExamples(t *testing.T, dir string, methods []string) []string {
	t.Helper()
	fset := token.NewFileSet()
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	var files []*ast.File
	for _, p := range paths {
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		require.NoError(t, err)
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil
	}
	p, err := doc.NewFromFiles(fset, files, pkgRoot+"/"+filepath.ToSlash(dir))
	require.NoError(t, err)
	runs := func(exs []*doc.Example) bool {
		for _, ex := range exs {
			if ex.Output != "" || ex.EmptyOutput {
				return true
			}
		}
		return false
	}
	var missing []string
	want := map[string]bool{}
	for _, m := range methods {
		want[m] = true
	}
	funcs := p.Funcs
	for _, ty := range p.Types {
		funcs = append(funcs, ty.Funcs...)
		for _, m := range ty.Methods {
			name := ty.Name + "." + m.Name
			if want[name] {
				delete(want, name)
				if !runs(m.Examples) {
					missing = append(missing, name)
				}
			}
		}
	}
	for _, f := range funcs {
		if !runs(f.Examples) {
			missing = append(missing, f.Name)
		}
	}
	for name := range want {
		missing = append(missing, name+" (no such method)")
	}
	return missing
}
