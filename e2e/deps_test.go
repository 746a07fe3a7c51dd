package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/lambdatest"
)

// Test-only modules: the official SDK of the differential tests, testify
// and what they bring, and golang-jwt, the JWT library the sign-in tests
// verify tokens with, independent of the go-jose that issues them.
var testOnlyModules = []string{
	"github.com/wechatpay-apiv3/wechatpay-go", "github.com/stretchr/testify", "github.com/davecgh/go-spew",
	"github.com/pmezard/go-difflib", "gopkg.in/yaml.v3", "github.com/golang-jwt/jwt", "github.com/pb33f/",
}

// The shipped binaries carry no test-only module: `go version -m` lists
// the modules linked into each compiled bootstrap.
func TestBinariesCarryNoTestOnlyModule(t *testing.T) {
	t.Parallel()
	for _, fn := range lambdatest.Functions {
		out, err := exec.Command("go", "version", "-m", binaries[fn]).CombinedOutput()
		require.NoError(t, err, string(out))
		require.Contains(t, string(out), "github.com/aws/aws-lambda-go", "go version -m lists the modules")
		for _, m := range testOnlyModules {
			assert.NotContains(t, string(out), m, "%s links %s", fn, m)
		}
	}
}

// Every shipped binary is built with the patched toolchain go.mod names,
// not the machine's own Go: `go version -m` prints the Go that built it.
func TestBinariesBuiltWithGoModToolchain(t *testing.T) {
	t.Parallel()
	root, err := lambdatest.ModuleRoot()
	require.NoError(t, err)
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^toolchain (go\S+)$`).FindSubmatch(gomod)
	require.NotNil(t, m, "go.mod names a toolchain")
	for _, fn := range lambdatest.Functions {
		out, err := exec.Command("go", "version", "-m", binaries[fn]).CombinedOutput()
		require.NoError(t, err, string(out))
		first, _, _ := strings.Cut(string(out), "\n")
		assert.True(t, strings.HasSuffix(first, ": "+string(m[1])), "%s built with %q, go.mod says %s", fn, first, m[1])
	}
}

// Neither the functions nor the local runner link the testing package or
// the test-only helpers.
func TestProgramsLinkNoTestingPackage(t *testing.T) {
	t.Parallel()
	root, err := lambdatest.ModuleRoot()
	require.NoError(t, err)
	cmd := exec.Command("go", "list", "-deps", "./functions/...", "./cmd/wxcard-local")
	cmd.Dir = root
	out, err := cmd.Output()
	require.NoError(t, err)
	for _, pkg := range strings.Fields(string(out)) {
		assert.NotEqual(t, "testing", pkg)
		assert.NotContains(t, pkg, "internal/awstest")
		assert.NotContains(t, pkg, "internal/lambdatest")
		for _, m := range testOnlyModules {
			assert.False(t, strings.HasPrefix(pkg, m), "links %s", pkg)
		}
	}
}

// Each function links exactly the AWS service clients it calls: a client
// linked is a client initialised on every cold start (the token functions
// once paid ~0.8 ms for DynamoDB's and EventBridge's, never called). A new
// function is a new row; a function missing here fails the test.
func TestFunctionsLinkOnlyTheAWSClientsTheyCall(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"pretoken":           {"secretsmanager"},
		"partnertoken":       {"secretsmanager"},
		"permissiontoken":    {"secretsmanager"},
		"authorities":        {"dynamodb", "eventbridge", "secretsmanager"},
		"authoritiesrefresh": {"dynamodb", "eventbridge", "secretsmanager", "sqs"}, // sends a brand it had no time for back
		"cardevents":         {"dynamodb", "eventbridge", "secretsmanager"},
		// Sends back what it had no time for, and invokes the brand's decision function.
		"members": {"dynamodb", "eventbridge", "lambda", "secretsmanager", "sqs"},
		// Sends an accepted change's sync message; never decides (no Lambda client).
		"memberapi": {"dynamodb", "eventbridge", "secretsmanager", "sqs"},
		// The scheduler and the keys function hold no secret, so they link
		// no Secrets Manager client: they boot with internal/lambdainit.
		"authoritiesschedule": {"dynamodb", "sqs"},
		"session":             {"kms", "secretsmanager"},
		"sessionkeys":         {"kms"},
	}
	root, err := lambdatest.ModuleRoot()
	require.NoError(t, err)
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	require.NoError(t, err)
	for _, e := range entries {
		assert.Contains(t, want, e.Name(), "functions/%s: add its row", e.Name())
	}
	client := regexp.MustCompile(`^github\.com/aws/aws-sdk-go-v2/service/([a-z0-9]+)$`)
	for fn, clients := range want {
		t.Run(fn, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command("go", "list", "-deps", "./functions/"+fn)
			cmd.Dir = root
			out, err := cmd.Output()
			require.NoError(t, err)
			var got []string
			for _, pkg := range strings.Fields(string(out)) {
				if m := client.FindStringSubmatch(pkg); m != nil {
					got = append(got, m[1])
				}
			}
			assert.ElementsMatch(t, clients, got, "the AWS service clients functions/%s links", fn)
		})
	}
}
