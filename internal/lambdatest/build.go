package lambdatest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Functions are the project's functions, by directory under functions/.
var Functions = []string{"pretoken", "partnertoken", "permissiontoken", "authorities", "authoritiesschedule", "authoritiesrefresh", "cardevents", "session", "sessionkeys", "members", "memberapi"}

// ModuleRoot is the directory of the go.mod of the working directory.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

// Build compiles functions/<name> as the deployment does, a static,
// stripped bootstrap, into dir/<name>/bootstrap, and returns its path.
func Build(dir, name string) (string, error) {
	return BuildPackage(dir, name, "./functions/"+name)
}

// BuildPackage compiles the main package pkg (a path relative to the
// module's root, such as "./examples/memberdecider") as Build does, into
// dir/<name>/bootstrap.
func BuildPackage(dir, name, pkg string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w\n%s", name, err, b)
	}
	return out, nil
}
