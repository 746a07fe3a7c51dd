package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/awstest"
	"gopkg.in/yaml.v3"
)

// This file holds what the template tests need to read template.yaml as
// CloudFormation would under one set of parameters: the SAM transform (run
// by the samtranslator package that cfn-lint installs), then the
// template's conditions and intrinsic functions resolved.

// samTransformSets expands template.yaml once per parameter set, in one
// Python process: argv[1] is the template, standard input a JSON list of
// parameter sets, standard output the list of expanded templates.
const samTransformSets = `
import json, re, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse
class Policies:
    def get_policies(self): return {}
    def load(self): pass
src = re.sub(r"(?m)^(\s*CodeUri:) \.$", r"\1 s3://bucket/key", open(sys.argv[1]).read())
out = []
for params in json.load(sys.stdin):
    out.append(transform(yaml_parse(src), params, Policies()))
json.dump(out, sys.stdout)
`

// Pseudo parameters as CloudFormation gives them in the test's account.
const (
	testRegion    = "ap-east-1"
	testAccount   = "123456789012"
	testPartition = "aws"
	testStack     = "wxcard"
)

// samPython is python3 with samtranslator, or a skip saying why not.
func samPython(t *testing.T) string {
	t.Helper()
	// CI has samtranslator (with cfn-lint): there a skip would hide every check.
	skip := func(format string, args ...any) {
		awstest.LogSkip("samtranslator is not installed: the SAM transform of template.yaml under every parameter set needs it: pip install cfn-lint")
		t.Skipf(format, args...)
	}
	if os.Getenv("CI") != "" {
		skip = t.Fatalf
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		skip("python3 is not installed: the SAM transform is not run")
	}
	if exec.Command(python, "-c", "import samtranslator").Run() != nil {
		skip("samtranslator (installed with cfn-lint) is missing: the SAM transform is not run")
	}
	return python
}

// transformSets expands template.yaml under each parameter set.
func transformSets(t *testing.T, sets []map[string]string) []map[string]any {
	t.Helper()
	python := samPython(t)
	_, root := loadTemplate(t)
	in, err := json.Marshal(sets)
	require.NoError(t, err)
	cmd := exec.Command(python, "-c", samTransformSets, filepath.Join(root, "template.yaml"))
	cmd.Env = append(os.Environ(), "AWS_DEFAULT_REGION="+testRegion)
	cmd.Stdin = strings.NewReader(string(in))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var tpls []map[string]any
	require.NoError(t, json.Unmarshal(out, &tpls))
	require.Len(t, tpls, len(sets))
	return tpls
}

// stack is an expanded template under one parameter set, conditions
// resolved: Resources holds the resources that would be created, their
// properties with every Fn::If chosen, AWS::NoValue removed, and Refs to
// parameters and pseudo parameters replaced by their values (also inside
// Fn::Sub). Refs, GetAtts and Subs of resources stay as they are.
type stack struct {
	Params     map[string]any // string, or []string for a CommaDelimitedList
	Conditions map[string]bool
	Resources  map[string]resource
	raw        map[string]any
}

type resource struct {
	Type       string
	Properties map[string]any
	DependsOn  []string
	Deletion   string // DeletionPolicy
}

// noValue marks a value that AWS::NoValue removed.
type noValue struct{}

func resolveStack(t *testing.T, tpl map[string]any, set map[string]string) *stack {
	t.Helper()
	s := &stack{Params: map[string]any{}, Conditions: map[string]bool{}, Resources: map[string]resource{}, raw: tpl}
	for name, p := range asMap(tpl["Parameters"]) {
		pm := asMap(p)
		v, given := set[name]
		if !given {
			d, ok := pm["Default"]
			require.True(t, ok, "parameter %s has no default and the set gives none", name)
			v = fmt.Sprint(d)
		}
		checkParameter(t, name, pm, v)
		if pm["Type"] == "CommaDelimitedList" {
			s.Params[name] = splitList(v)
		} else {
			s.Params[name] = v
		}
	}
	for name := range set {
		_, ok := s.Params[name]
		require.True(t, ok, "the set names %s, which the template does not have", name)
	}
	s.Params["AWS::Region"] = testRegion
	s.Params["AWS::AccountId"] = testAccount
	s.Params["AWS::Partition"] = testPartition
	s.Params["AWS::StackName"] = testStack
	s.Params["AWS::URLSuffix"] = "amazonaws.com"
	for name := range asMap(tpl["Conditions"]) {
		s.condition(t, name)
	}
	for id, r := range asMap(tpl["Resources"]) {
		rm := asMap(r)
		if c, ok := rm["Condition"].(string); ok && !s.condition(t, c) {
			continue
		}
		res := resource{Type: rm["Type"].(string)}
		if p, ok := s.resolve(t, rm["Properties"]).(map[string]any); ok {
			res.Properties = p
		}
		switch d := rm["DependsOn"].(type) {
		case string:
			res.DependsOn = []string{d}
		case []any:
			for _, x := range d {
				res.DependsOn = append(res.DependsOn, x.(string))
			}
		}
		res.Deletion, _ = rm["DeletionPolicy"].(string)
		s.Resources[id] = res
	}
	return s
}

// splitList is a CommaDelimitedList's value; "" is one empty element, as
// in CloudFormation.
func splitList(v string) []string { return strings.Split(v, ",") }

// checkParameter: the value is one CloudFormation accepts for the parameter.
func checkParameter(t *testing.T, name string, p map[string]any, v string) {
	t.Helper()
	if pat, ok := p["AllowedPattern"].(string); ok {
		require.Regexp(t, regexp.MustCompile(pat), v, "%s=%q fails its AllowedPattern", name, v)
	}
	if av, ok := p["AllowedValues"].([]any); ok {
		var vals []string
		for _, a := range av {
			vals = append(vals, fmt.Sprint(a))
		}
		require.Contains(t, vals, v, "%s: not an allowed value", name)
	}
	if p["Type"] == "Number" {
		n, err := strconv.ParseFloat(v, 64)
		require.NoError(t, err, "%s is a number", name)
		// JSON decodes the bounds as float64, YAML as int.
		if lo, ok := p["MinValue"]; ok {
			bound, err := strconv.ParseFloat(fmt.Sprint(lo), 64)
			require.NoError(t, err, name)
			require.GreaterOrEqual(t, n, bound, name)
		}
		if hi, ok := p["MaxValue"]; ok {
			bound, err := strconv.ParseFloat(fmt.Sprint(hi), 64)
			require.NoError(t, err, name)
			require.LessOrEqual(t, n, bound, name)
		}
	}
}

func (s *stack) condition(t *testing.T, name string) bool {
	t.Helper()
	if v, ok := s.Conditions[name]; ok {
		return v
	}
	c, ok := asMap(s.raw["Conditions"])[name]
	require.True(t, ok, "no condition %s", name)
	v := s.truth(t, c)
	s.Conditions[name] = v
	return v
}

// truth evaluates a condition function (also a rule's).
func (s *stack) truth(t *testing.T, c any) bool {
	t.Helper()
	m := asMap(c)
	require.Len(t, m, 1, "a condition function: %v", c)
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Fn::Equals":
			return fmt.Sprint(s.value(t, args[0])) == fmt.Sprint(s.value(t, args[1]))
		case "Fn::Not":
			return !s.truth(t, args[0])
		case "Fn::And", "Fn::Or":
			and := fn == "Fn::And"
			for _, a := range args {
				if s.truth(t, a) != and {
					return !and
				}
			}
			return and
		case "Condition":
			return s.condition(t, arg.(string))
		case "Fn::Contains":
			want := fmt.Sprint(s.value(t, args[1]))
			for _, x := range s.value(t, args[0]).([]any) {
				if fmt.Sprint(x) == want {
					return true
				}
			}
			return false
		}
		t.Fatalf("condition function %s is not evaluated by this test", fn)
	}
	return false
}

// value evaluates the functions a condition uses on parameters.
func (s *stack) value(t *testing.T, v any) any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		if l, ok := v.([]any); ok {
			out := make([]any, len(l))
			for i, x := range l {
				out[i] = s.value(t, x)
			}
			return out
		}
		return v
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Ref":
			p, ok := s.param(arg.(string))
			require.True(t, ok, "a condition refers to %v", arg)
			return p
		case "Fn::Join":
			var parts []string
			for _, x := range s.value(t, args[1]).([]any) {
				parts = append(parts, fmt.Sprint(x))
			}
			return strings.Join(parts, args[0].(string))
		case "Fn::Split":
			var out []any
			for _, x := range strings.Split(fmt.Sprint(s.value(t, args[1])), args[0].(string)) {
				out = append(out, x)
			}
			return out
		case "Fn::Select":
			i, err := strconv.Atoi(fmt.Sprint(s.value(t, args[0])))
			require.NoError(t, err)
			l := s.value(t, args[1]).([]any)
			require.Less(t, i, len(l), "Fn::Select out of range")
			return l[i]
		}
		t.Fatalf("function %s in a condition is not evaluated by this test", fn)
	}
	return nil
}

// param is a parameter's value as a Ref gives it: a string, or a list
// for a CommaDelimitedList.
func (s *stack) param(name string) (any, bool) {
	p, ok := s.Params[name]
	if l, isList := p.([]string); isList {
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = e
		}
		return out, true
	}
	return p, ok
}

// resolve chooses every Fn::If, removes AWS::NoValue and replaces
// parameters' values.
func (s *stack) resolve(t *testing.T, v any) any {
	t.Helper()
	switch x := v.(type) {
	case []any:
		out := []any{}
		for _, e := range x {
			if r := s.resolve(t, e); r != (noValue{}) {
				out = append(out, r)
			}
		}
		return out
	case map[string]any:
		if len(x) == 1 {
			if arg, ok := x["Fn::If"].([]any); ok {
				require.Len(t, arg, 3)
				if s.condition(t, arg[0].(string)) {
					return s.resolve(t, arg[1])
				}
				return s.resolve(t, arg[2])
			}
			if ref, ok := x["Ref"].(string); ok {
				if ref == "AWS::NoValue" {
					return noValue{}
				}
				if p, ok := s.param(ref); ok {
					return p
				}
				return x
			}
			if sub, ok := x["Fn::Sub"]; ok {
				return s.resolveSub(t, sub)
			}
		}
		out := map[string]any{}
		for k, e := range x {
			if r := s.resolve(t, e); r != (noValue{}) {
				out[k] = r
			}
		}
		return out
	}
	return v
}

var subVar = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

// resolveSub replaces the parameters (and Fn::Sub's own variables when
// they resolve to strings) in a Fn::Sub; the result is a string when
// nothing else is left, or a Fn::Sub of the rest.
func (s *stack) resolveSub(t *testing.T, sub any) any {
	t.Helper()
	str, vars := "", map[string]any{}
	switch x := sub.(type) {
	case string:
		str = x
	case []any:
		str = x[0].(string)
		vars = asMap(s.resolve(t, x[1]))
	}
	rest := false
	out := subVar.ReplaceAllStringFunc(str, func(m string) string {
		name := m[2 : len(m)-1]
		if v, ok := vars[name].(string); ok {
			return v
		}
		if v, ok := s.Params[name].(string); ok {
			return v
		}
		rest = true
		return m
	})
	if !rest {
		return out
	}
	if len(vars) == 0 {
		return map[string]any{"Fn::Sub": out}
	}
	return map[string]any{"Fn::Sub": []any{out, vars}}
}

// subText is a resolved string as Fn::Sub makes it: a Fn::Sub's own
// variables substituted, each rendered the same way (a variable may be a
// Fn::Sub of its own); what names a resource (${Queue.QueueName}) is left
// as written, for the caller to check.
func subText(t *testing.T, v any) string {
	t.Helper()
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		switch sub := x["Fn::Sub"].(type) {
		case string:
			return sub
		case []any:
			require.Len(t, sub, 2)
			vars := asMap(sub[1])
			return subVar.ReplaceAllStringFunc(sub[0].(string), func(m string) string {
				if val, ok := vars[m[2:len(m)-1]]; ok {
					return subText(t, val)
				}
				return m
			})
		}
	}
	t.Fatalf("not a string or a Fn::Sub: %v", v)
	return ""
}

// refs lists the logical IDs a resolved value refers to, by Ref, GetAtt
// or Fn::Sub (a variable of Fn::Sub's own is not one).
func refs(v any) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for k, e := range x {
				switch k {
				case "Ref":
					out = append(out, e.(string))
					continue
				case "Fn::GetAtt":
					switch a := e.(type) {
					case []any:
						out = append(out, a[0].(string))
					case string:
						out = append(out, strings.SplitN(a, ".", 2)[0])
					}
					continue
				case "Fn::Sub":
					str, vars := "", map[string]any{}
					if l, ok := e.([]any); ok {
						str, vars = l[0].(string), asMap(l[1])
						walk(l[1])
					} else {
						str = e.(string)
					}
					for _, m := range subVar.FindAllStringSubmatch(str, -1) {
						name := strings.SplitN(m[1], ".", 2)[0]
						if _, ok := vars[m[1]]; !ok {
							out = append(out, name)
						}
					}
					continue
				}
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// list is v as a list: a lone value is a list of one.
func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// strs is a list of strings (a lone string is one).
func strs(v any) []string {
	var out []string
	for _, x := range list(v) {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// getAtt is the "X.Attr" a value's Fn::GetAtt names, or "".
func getAtt(v any) string {
	switch a := asMap(v)["Fn::GetAtt"].(type) {
	case []any:
		return a[0].(string) + "." + a[1].(string)
	case string:
		return a
	}
	return ""
}

// ruleFailures evaluates the template's Rules under the stack's
// parameters: the names of the rules whose assertions fail.
func (s *stack) ruleFailures(t *testing.T) []string {
	t.Helper()
	var failed []string
	for name, r := range asMap(s.raw["Rules"]) {
		rm := asMap(r)
		if c, ok := rm["RuleCondition"]; ok && !s.truth(t, c) {
			continue
		}
		for _, a := range list(rm["Assertions"]) {
			if !s.truth(t, asMap(a)["Assert"]) {
				failed = append(failed, name)
				break
			}
		}
	}
	slices.Sort(failed)
	return failed
}

// globMatch: an IAM resource pattern (* and ?) matches arn.
func globMatch(pattern, arn string) bool {
	ok, err := path.Match(strings.ReplaceAll(pattern, "/", "\x00"), strings.ReplaceAll(arn, "/", "\x00"))
	return err == nil && ok
}

// yamlToAny is template.yaml as JSON would hold it: the short forms of the
// intrinsic functions (!Ref, !If, !GetAtt…) become their long forms.
func yamlToAny(t *testing.T, n *yaml.Node) map[string]any {
	t.Helper()
	var conv func(n *yaml.Node) any
	conv = func(n *yaml.Node) any {
		var v any
		switch n.Kind {
		case yaml.DocumentNode:
			return conv(n.Content[0])
		case yaml.MappingNode:
			m := map[string]any{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				m[n.Content[i].Value] = conv(n.Content[i+1])
			}
			v = m
		case yaml.SequenceNode:
			l := []any{}
			for _, c := range n.Content {
				l = append(l, conv(c))
			}
			v = l
		case yaml.AliasNode:
			return conv(n.Alias)
		default:
			var x any
			require.NoError(t, n.Decode(&x))
			v = x
		}
		switch tag := n.Tag; {
		case tag == "!Ref" || tag == "!Condition":
			return map[string]any{tag[1:]: v}
		case tag == "!GetAtt":
			return map[string]any{"Fn::GetAtt": v}
		case strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!"):
			return map[string]any{"Fn::" + tag[1:]: v}
		}
		return v
	}
	m, ok := conv(n).(map[string]any)
	require.True(t, ok)
	return m
}
