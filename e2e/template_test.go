package e2e

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/lambdatest"
	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/internal/pacedqueue"
	"github.com/wxcard/wxcard/internal/refresh"
	"github.com/wxcard/wxcard/internal/statetable"
)

// node walks a YAML mapping by keys; nil when a key is absent.
func node(n *yaml.Node, keys ...string) *yaml.Node {
	if n != nil && n.Kind == yaml.DocumentNode {
		n = n.Content[0]
	}
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

func mapKeys(n *yaml.Node) []string {
	var out []string
	for i := 0; n != nil && i+1 < len(n.Content); i += 2 {
		out = append(out, n.Content[i].Value)
	}
	return out
}

func loadTemplate(t *testing.T) (*yaml.Node, string) {
	root, err := lambdatest.ModuleRoot()
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	require.NoError(t, err)
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	return &doc, root
}

// designRoutes are the routes of the design: the function that serves
// each (its logical ID and directory) and its authorisation. "TOKEN" is
// the JWT authorizer under TokenRoutesAuthorization JWT and none under
// NONE; the operator routes are behind IAM; the card-events routes (the
// service provider's and a brand's, the same code given another secret)
// are open, because WeChat Pay calls them and proves itself by signature, and so is
// POST /session, how a caller gets a token (throttled: TestTemplateSignIn).
// Member care (functions/memberapi): a user activates a card and reads
// their members as on the token routes; an operator changes a member
// behind IAM. A route of the template not listed here fails
// TestTemplateMatrix, so none is added open by accident.
var designRoutes = map[string]struct{ function, dir, auth string }{
	"POST /brand/card-member/pre-auth-tokens":                              {"PreTokenFunction", "pretoken", "TOKEN"},
	"POST /v3/brand/partner/card-member/pre-auth-tokens":                   {"PartnerTokenFunction", "partnertoken", "TOKEN"},
	"POST /v3/brand/partner/card-member/open-user-card-tokens":             {"PartnerTokenFunction", "partnertoken", "TOKEN"},
	"POST /v3/marketing/membercard-open/cards/{card_id}/permission-tokens": {"PermissionTokenFunction", "permissiontoken", "AWS_IAM"},
	"GET /v3/brand-basic/partner/brands/{brand_id}/product-authorities":    {"AuthoritiesFunction", "authorities", "AWS_IAM"},
	"POST /notify/card-events":                                             {"CardEventsFunction", "cardevents", "NONE"},
	"POST /notify/brand-card-events":                                       {"BrandCardEventsFunction", "cardevents", "NONE"},
	"POST /session":                                                        {"SessionFunction", "session", "NONE"},
	"POST /members/activate":                                               {"MemberApiFunction", "memberapi", "TOKEN"},
	"GET /members/me":                                                      {"MemberApiFunction", "memberapi", "TOKEN"},
	"PATCH /members/{card_id}/{code}":                                      {"MemberApiFunction", "memberapi", "AWS_IAM"},
}

// authorityFunctions record product authorities in the state table.
var authorityFunctions = map[string]bool{"authorities": true, "authoritiesrefresh": true}

// functionConditions: each function exists only where what it needs does.
// The brand's functions call WeChat Pay with the brand secret, the service
// provider's with its own (the refresh's scheduler holds none, but feeds
// the refresh of the service provider's product authorities); sign-in's
// need the mini-program's secret. The members function confirms cards of
// either kind and exists in every stack, and so does the member API that
// serves member care.
var functionConditions = map[string]string{
	"PreTokenFunction": "HasBrandSecret", "BrandCardEventsFunction": "HasBrandSecret",
	"PartnerTokenFunction": "HasPartnerSecret", "PermissionTokenFunction": "HasPartnerSecret",
	"AuthoritiesFunction": "HasPartnerSecret", "AuthoritiesScheduleFunction": "HasPartnerSecret",
	"AuthoritiesRefreshFunction": "HasPartnerSecret", "CardEventsFunction": "HasPartnerSecret",
	"SessionFunction": "HasSignIn", "SessionKeysFunction": "HasSignIn",
	"MembersFunction": "", "MemberApiFunction": "",
}

// ifThen is the value an !If gives under cond: n must be
// !If [cond, value, !Ref AWS::NoValue].
func ifThen(t *testing.T, n *yaml.Node, cond string) *yaml.Node {
	t.Helper()
	require.NotNil(t, n)
	require.Equal(t, "!If", n.Tag, "an !If under %s", cond)
	require.Len(t, n.Content, 3)
	assert.Equal(t, cond, n.Content[0].Value)
	assert.Equal(t, "!Ref", n.Content[2].Tag)
	assert.Equal(t, "AWS::NoValue", n.Content[2].Value, "nothing without %s", cond)
	return n.Content[1]
}

func TestTemplate(t *testing.T) {
	t.Parallel()
	doc, root := loadTemplate(t)
	resources := node(doc, "Resources")
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)

	functions := map[string]*yaml.Node{}
	for _, id := range mapKeys(resources) {
		if node(resources, id, "Type").Value == "AWS::Serverless::Function" {
			functions[id] = node(resources, id)
		}
	}
	require.Len(t, functions, 12)
	for id, fn := range functions {
		want, ok := functionConditions[id]
		require.True(t, ok, "%s: functionConditions says where it exists", id)
		if want == "" {
			assert.Nil(t, node(fn, "Condition"), "%s exists in every stack", id)
		} else {
			assert.Equal(t, want, node(fn, "Condition").Value, id)
		}
	}
	// Either secret is optional, and the rule refuses a stack without both
	// (TestTemplateRulesRefuseInvalidSets): a brand deploys with its own
	// secret alone, a service provider with its own.
	for param, cond := range map[string]string{"BrandSecretArn": "HasBrandSecret", "PartnerSecretArn": "HasPartnerSecret"} {
		p := node(doc, "Parameters", param)
		require.NotNil(t, node(p, "Default"), param)
		assert.Empty(t, node(p, "Default").Value, "%s is optional", param)
		pat := regexp.MustCompile(node(p, "AllowedPattern").Value)
		for _, ok := range []string{"", brandSecretFull, partnerSecretPartial,
			"arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:wxcard/brand-AbC123"} {
			assert.Regexp(t, pat, ok, param)
		}
		for _, bad := range []string{"wxcard/brand", "arn:aws:kms:ap-east-1:123456789012:key/x", " ",
			"arn:aws:secretsmanager:ap-east-1:1234:secret:x"} {
			assert.NotRegexp(t, pat, bad, param)
		}
		c := node(doc, "Conditions", cond)
		require.NotNil(t, c, cond)
		assert.Equal(t, "!Not", c.Tag, "%s: %s is not empty", cond, param)
		assert.Contains(t, yamlText(t, c), param, cond)
		assert.Contains(t, yamlText(t, node(doc, "Rules", "NeedsAWeChatPaySecret", "Assertions")), param)
	}

	// Every function is built by its Makefile target, from a directory that exists.
	dirOf := map[string]string{}
	for id, fn := range functions {
		assert.Equal(t, "makefile", node(fn, "Metadata", "BuildMethod").Value, id)
		m := regexp.MustCompile(`(?m)^build-` + id + `:.*\n\t.*-o \$\(ARTIFACTS_DIR\)/bootstrap \./functions/(\w+)$`).FindSubmatch(makefile)
		require.NotNil(t, m, "Makefile has no build-%s target writing $(ARTIFACTS_DIR)/bootstrap", id)
		dirOf[id] = string(m[1])
		assert.DirExists(t, filepath.Join(root, "functions", dirOf[id]))
	}
	assert.Equal(t, ".", node(doc, "Globals", "Function", "CodeUri").Value)
	assert.Equal(t, "provided.al2023", node(doc, "Globals", "Function", "Runtime").Value)
	assert.Equal(t, "bootstrap", node(doc, "Globals", "Function", "Handler").Value)
	assert.Equal(t, "arm64", node(doc, "Globals", "Function", "Architectures").Content[0].Value)

	// Every route is served by the function the design says (the template
	// declares them as designRoutes says: TestTemplateMatrix).
	tokenFunctions := map[string]bool{}
	for key, r := range designRoutes {
		assert.Equal(t, r.dir, dirOf[r.function], "route %s is served by %s", key, r.function)
		if r.auth == "TOKEN" {
			tokenFunctions[r.function] = true
		}
	}
	// The functions behind token routes know how their callers are
	// authenticated, from the same parameter as the routes; no other
	// function is told.
	for id, fn := range functions {
		v := node(fn, "Properties", "Environment", "Variables", "TOKEN_ROUTES_AUTHORIZATION")
		if !tokenFunctions[id] {
			assert.Nil(t, v, "%s serves no token route", id)
			continue
		}
		require.NotNil(t, v, "%s serves token routes and must be given TOKEN_ROUTES_AUTHORIZATION", id)
		assert.Equal(t, "!Ref", v.Tag, id)
		assert.Equal(t, "TokenRoutesAuthorization", v.Value, id)
	}

	// Each function's role may read only its own secret: the one in its
	// WXPAY_SECRET_ID (the members function also the brand's, in its
	// WXPAY_BRAND_SECRET_ID: checkMembers; the member API too:
	// checkMemberAPI). The refresh's scheduler holds
	// none; sign-in's two functions hold no WeChat Pay secret
	// (TestTemplateSignIn).
	for id, fn := range functions {
		if dirOf[id] == "session" || dirOf[id] == "sessionkeys" {
			assert.Nil(t, node(fn, "Properties", "Environment", "Variables", "WXPAY_SECRET_ID"), id)
			continue
		}
		if dirOf[id] == "authoritiesschedule" {
			assert.Nil(t, node(fn, "Properties", "Environment", "Variables", "WXPAY_SECRET_ID"), id)
			continue
		}
		if dirOf[id] == "members" {
			checkMembers(t, doc, fn)
			continue
		}
		if dirOf[id] == "memberapi" {
			checkMemberAPI(t, doc, fn)
			continue
		}
		secretRef := node(fn, "Properties", "Environment", "Variables", "WXPAY_SECRET_ID")
		require.NotNil(t, secretRef, id)
		want := "PartnerSecretArn"
		if dirOf[id] == "pretoken" || id == "BrandCardEventsFunction" {
			want = "BrandSecretArn"
		}
		assert.Equal(t, want, secretRef.Value, id)
		policies := node(fn, "Properties", "Policies")
		require.NotNil(t, policies, id)
		read := node(policies.Content[0], "Statement").Content[0]
		require.Equal(t, "secretsmanager:GetSecretValue", node(read, "Action").Value, "%s's first policy is the Secrets Manager read of one secret", id)
		arns := node(read, "Resource").Content
		require.Len(t, arns, 2, id)
		assert.Equal(t, "!Ref", arns[0].Tag)
		assert.Equal(t, want, arns[0].Value, "%s reads only its own secret", id)
		assert.Equal(t, "${"+want+"}-??????", arns[1].Value, "%s: and with the suffix Secrets Manager appends", id)
		if dirOf[id] == "cardevents" {
			// Its idempotency records in the state table and the bus, nothing more.
			require.Len(t, policies.Content, 2, "%s: the secret, then the state", id)
			stmts := node(policies.Content[1], "Statement")
			require.Len(t, stmts.Content, 2, id)
			var actions []string
			for _, a := range node(stmts.Content[0], "Action").Content {
				actions = append(actions, a.Value)
			}
			assert.Equal(t, []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}, actions, id)
			assert.Equal(t, "StateTable.Arn", node(stmts.Content[0], "Resource").Value, id)
			assert.Equal(t, "notification#*", node(stmts.Content[0], "Condition", "ForAllValues:StringLike", "dynamodb:LeadingKeys").Content[0].Value, id)
			assert.Equal(t, []string{"events:PutEvents", "events:DescribeEventBus"}, values(node(stmts.Content[1], "Action")), id)
			vars := node(fn, "Properties", "Environment", "Variables")
			assert.Equal(t, "StateTable", node(vars, "STATE_TABLE_NAME").Value, id)
			assert.Equal(t, "DecryptSensitiveFields", node(vars, "DECRYPT_SENSITIVE_FIELDS").Value, id)
			// Its own throttling, not the token routes' 5/s.
			throttled := 0
			for key, r := range designRoutes {
				if r.function != id {
					continue
				}
				rs := node(resources, "ApiStage", "Properties", "RouteSettings", key)
				require.NotNil(t, rs, "the card-events route %s has its own throttling", key)
				rs = ifThen(t, rs, functionConditions[id]) // where the route exists
				assert.Equal(t, "CardEventsRateLimit", node(rs, "ThrottlingRateLimit").Value, key)
				assert.Equal(t, "CardEventsBurstLimit", node(rs, "ThrottlingBurstLimit").Value, key)
				throttled++
			}
			assert.Equal(t, 1, throttled, "%s serves one route", id)
			continue
		}
		if !authorityFunctions[dirOf[id]] {
			require.Len(t, policies.Content, 1, "%s has exactly one policy", id)
			continue
		}
		// The authorities functions: their own items of the state table and the bus, nothing more.
		require.Len(t, policies.Content, 2, "%s: the secret, then the state", id)
		vars := node(fn, "Properties", "Environment", "Variables")
		assert.Equal(t, "StateTable", node(vars, "STATE_TABLE_NAME").Value, id)
		assert.NotNil(t, node(vars, "EVENT_BUS_NAME"), id)
		stmts := node(policies.Content[1], "Statement")
		require.NotNil(t, stmts, id)
		if id == "AuthoritiesRefreshFunction" {
			// The consumer also sends a brand it had no time for back to its queue.
			require.Len(t, stmts.Content, 3, id)
			assert.Equal(t, "sqs:SendMessage", node(stmts.Content[2], "Action").Value, id)
			assert.Equal(t, "RefreshQueue.Arn", node(stmts.Content[2], "Resource").Value, id)
		} else {
			require.Len(t, stmts.Content, 2, id)
		}
		var actions []string
		for _, a := range node(stmts.Content[0], "Action").Content {
			actions = append(actions, a.Value)
		}
		assert.Equal(t, []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, actions, id)
		assert.Equal(t, "StateTable.Arn", node(stmts.Content[0], "Resource").Value, id)
		assert.Equal(t, "authority#*", node(stmts.Content[0], "Condition", "ForAllValues:StringLike", "dynamodb:LeadingKeys").Content[0].Value, id)
		assert.Equal(t, []string{"events:PutEvents", "events:DescribeEventBus"}, values(node(stmts.Content[1], "Action")), id)
	}
	assert.Equal(t, "AWS::DynamoDB::Table", node(resources, "StateTable", "Type").Value)
	assert.Equal(t, "AWS::Events::EventBus", node(resources, "EventBus", "Type").Value)
	assert.Equal(t, "authoritiesschedule", dirOf["AuthoritiesScheduleFunction"], "the schedule enqueues, in its own binary")
	assert.Equal(t, "authoritiesrefresh", dirOf["AuthoritiesRefreshFunction"], "the queue's consumer, in its own binary")
	assert.Equal(t, "members", dirOf["MembersFunction"], "the member queue's consumer, in its own binary")
	assert.Equal(t, dirOf["CardEventsFunction"], dirOf["BrandCardEventsFunction"], "the brand route is the same code, given the brand secret")
	for _, prop := range []string{"Timeout", "Environment", "Policies"} {
		a := yamlText(t, uncommented(node(functions["CardEventsFunction"], "Properties", prop)))
		b := yamlText(t, uncommented(node(functions["BrandCardEventsFunction"], "Properties", prop)))
		assert.Equal(t, a, strings.ReplaceAll(b, "BrandSecretArn", "PartnerSecretArn"), "the two card-events functions differ only by their secret: %s", prop)
	}
	checkRefreshFanOut(t, doc, functions)

	// Deploying without JWT is an explicit choice: no default.
	p := node(doc, "Parameters", "TokenRoutesAuthorization")
	assert.Nil(t, node(p, "Default"))
	// Throttling no higher than WeChat Pay's 5/s.
	assert.Equal(t, "5", node(resources, "ApiStage", "Properties", "DefaultRouteSettings", "ThrottlingRateLimit").Value)
}

func TestTemplateFunctionsBuildWithTheirMakefileTargets(t *testing.T) {
	t.Parallel()
	doc, root := loadTemplate(t)
	resources := node(doc, "Resources")
	for _, id := range mapKeys(resources) {
		if node(resources, id, "Type").Value != "AWS::Serverless::Function" {
			continue
		}
		t.Run(id, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command("make", "-s", "build-"+id, "ARTIFACTS_DIR="+dir)
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, string(out))
			f, err := elf.Open(filepath.Join(dir, "bootstrap"))
			require.NoError(t, err)
			defer f.Close()
			assert.Equal(t, elf.EM_AARCH64, f.Machine, "built for arm64")
			for _, prog := range f.Progs {
				assert.NotEqual(t, elf.PT_INTERP, prog.Type, "statically linked")
			}
			assert.Nil(t, f.Section(".symtab"), "stripped")
		})
	}
}

func TestTemplateCfnLint(t *testing.T) {
	t.Parallel()
	path, err := exec.LookPath("cfn-lint")
	if err != nil {
		awstest.LogSkip("cfn-lint is not installed: template.yaml is not linted: pip install cfn-lint")
		t.Skip("cfn-lint is not installed; template.yaml not linted")
	}
	_, root := loadTemplate(t)
	cmd := exec.Command(path, "template.yaml")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
}

// Operations: log levels and tracing are parameters, every alarm says
// what to do, the alarms the design asks for exist, and the dashboard is
// valid JSON over the functions' metrics.
func TestTemplateOperations(t *testing.T) {
	t.Parallel()
	doc, _ := loadTemplate(t)
	resources := node(doc, "Resources")
	g := node(doc, "Globals", "Function")
	assert.Equal(t, "Tracing", node(g, "Tracing").Value)
	assert.Equal(t, "ApplicationLogLevel", node(g, "LoggingConfig", "ApplicationLogLevel").Value)
	assert.Equal(t, "SystemLogLevel", node(g, "LoggingConfig", "SystemLogLevel").Value)
	assert.Equal(t, "JSON", node(g, "LoggingConfig", "LogFormat").Value, "log-level filtering needs JSON logs")
	for _, p := range []string{"ApplicationLogLevel", "SystemLogLevel", "Tracing"} {
		assert.NotNil(t, node(doc, "Parameters", p, "AllowedValues"), p)
	}

	alarms := map[string]bool{}
	for _, id := range mapKeys(resources) {
		if node(resources, id, "Type").Value != "AWS::CloudWatch::Alarm" {
			continue
		}
		alarms[id] = true
		desc := node(resources, id, "Properties", "AlarmDescription")
		require.NotNil(t, desc, id)
		assert.Greater(t, len(desc.Value), 100, "%s: the description says what happened and what to do", id)
		assert.NotNil(t, node(resources, id, "Properties", "AlarmActions"), id)
	}
	for _, id := range []string{"UpstreamSignatureInvalidAlarm", "UpstreamFailoverAlarm", "FrequencyLimitedAlarm", "RefreshDeadLetterAlarm",
		"ScheduleDeadLetterAlarm", "RefreshBacklogAlarm", "AuthoritiesScheduleErrorsAlarm",
		"CardEventsSignatureAlarm", "CardEventsErrorsAlarm", "AuthorityStateFailuresAlarm",
		"MemberDeadLetterAlarm", "MembersFailedAlarm", "MemberBacklogAlarm", "MembersErrorsAlarm",
		"MemberUpdatesFailedAlarm", "MemberApiErrorsAlarm"} {
		assert.True(t, alarms[id], "alarm %s", id)
	}
	// Every card-event outcome that loses or delays an event has an alarm
	// of its own, on the first occurrence, on each card-events route: the
	// metrics carry the route (the brand's function is the same code, its
	// function dimension cardevents).
	for prefix, route := range map[string]string{"CardEvents": "/notify/card-events", "BrandCardEvents": "/notify/brand-card-events"} {
		for id, outcome := range map[string]string{
			"ErrorsAlarm":           "failed_publish",
			"StoreFailuresAlarm":    "failed_store",
			"ResourceRejectedAlarm": "rejected_resource",
			"EnvelopeRejectedAlarm": "rejected_envelope",
			"SignatureAlarm":        "rejected_signature",
		} {
			id = prefix + id
			props := node(resources, id, "Properties")
			require.NotNil(t, props, "alarm %s", id)
			assert.Equal(t, "wxcard", node(props, "Namespace").Value, id)
			assert.Equal(t, map[string]string{"function": "cardevents", "route": route, "outcome": outcome}, dimensions(props), id)
			assert.Equal(t, "1", node(props, "Threshold").Value, id)
			assert.Contains(t, node(props, "AlarmDescription").Value, outcome, "%s names its outcome, as the log does", id)
		}
		errs := node(resources, prefix+"FunctionErrorsAlarm", "Properties")
		require.NotNil(t, errs, prefix+"FunctionErrorsAlarm")
		assert.Equal(t, map[string]string{"FunctionName": prefix + "Function"}, dimensions(errs))
	}
	// The member queue's consumer, as the metrics emitter names it: the
	// function members, the route members.
	failed := node(resources, "MembersFailedAlarm", "Properties")
	assert.Equal(t, "wxcard", node(failed, "Namespace").Value)
	assert.Equal(t, member.FailedMetric, node(failed, "MetricName").Value)
	assert.Equal(t, map[string]string{"function": "members", "route": "members"}, dimensions(failed))
	assert.Equal(t, map[string]string{"FunctionName": "MembersFunction"}, dimensions(node(resources, "MembersErrorsAlarm", "Properties")))
	// Member care: a change WeChat Pay refused for good, as MembersFailedAlarm
	// (the same function and route dimensions, the first occurrence); the
	// member API's own failures.
	updates := node(resources, "MemberUpdatesFailedAlarm", "Properties")
	require.NotNil(t, updates)
	assert.Equal(t, "wxcard", node(updates, "Namespace").Value)
	assert.Equal(t, member.UpdateFailMetric, node(updates, "MetricName").Value)
	assert.Equal(t, map[string]string{"function": "members", "route": "members"}, dimensions(updates))
	for _, field := range []string{"Statistic", "Period", "EvaluationPeriods", "Threshold", "ComparisonOperator", "TreatMissingData", "AlarmActions"} {
		assert.Equal(t, yamlText(t, node(failed, field)), yamlText(t, node(updates, field)), "MemberUpdatesFailedAlarm's %s is MembersFailedAlarm's", field)
	}
	assert.Contains(t, node(updates, "AlarmDescription").Value, "Member update failed", "names the event that was published")
	assert.Equal(t, map[string]string{"FunctionName": "MemberApiFunction"}, dimensions(node(resources, "MemberApiErrorsAlarm", "Properties")))
	dead := node(resources, "MemberDeadLetterAlarm", "Properties")
	assert.Equal(t, "ApproximateNumberOfMessagesVisible", node(dead, "MetricName").Value)
	assert.Equal(t, map[string]string{"QueueName": "MemberDeadLetterQueue.QueueName"}, dimensions(dead))
	assert.Equal(t, "1", node(dead, "Threshold").Value)
	assert.Equal(t, "GreaterThanOrEqualToThreshold", node(dead, "ComparisonOperator").Value)

	// The dashboard of a stack with everything (per set: TestTemplateMatrix).
	full := map[string]string{"BrandSecretArn": brandSecretFull, "PartnerSecretArn": partnerSecretFull,
		"TokenRoutesAuthorization": "JWT", "MiniProgramSecretId": miniProgramName}
	dash, body := renderDashboard(t, resolveStack(t, yamlToAny(t, doc), full))
	seen, seenQueues := map[string]bool{}, map[string]bool{}
	seenMetrics := map[string]bool{}
	for _, w := range dash.Widgets {
		for _, m := range w.Properties.Metrics {
			if m[0] == "AWS/SQS" {
				// The refresh's and the members' queues, by the names CloudFormation gives them.
				assert.Contains(t, []string{"${RefreshQueue.QueueName}", "${RefreshDeadLetterQueue.QueueName}",
					"${MemberQueue.QueueName}", "${MemberDeadLetterQueue.QueueName}"}, m[3])
				seenQueues[m[3]] = true
				continue
			}
			require.Equal(t, "wxcard", m[0])
			seenMetrics[m[1]] = true
			for i := 2; i+1 < len(m); i += 2 {
				if m[i] == "function" {
					seen[m[i+1]] = true
				}
			}
		}
	}
	for _, fn := range lambdatest.Functions {
		assert.True(t, seen[fn], "the dashboard shows %s", fn)
	}
	// The member queue: its depth, its dead letters, the age of its oldest
	// opening, and what became of the members.
	assert.True(t, seen["members"], "the dashboard shows members")
	assert.True(t, seenQueues["${MemberQueue.QueueName}"] && seenQueues["${MemberDeadLetterQueue.QueueName}"], "the dashboard shows the member queues")
	assert.Contains(t, body, `["AWS/SQS","ApproximateAgeOfOldestMessage","QueueName","${MemberQueue.QueueName}"]`)
	for _, m := range []string{member.JoinedMetric, member.RefusedMetric, member.FailedMetric, member.LeftMetric, "MemberRetries",
		member.UpdatedMetric, member.UpdateFailMetric, member.ActivatedMetric, member.PointsMetric} {
		assert.True(t, seenMetrics[m], "the dashboard shows %s", m)
	}
	// Member care: the member API's requests, per route.
	for key, r := range designRoutes {
		if r.dir == "memberapi" {
			_, p, _ := strings.Cut(key, " ")
			assert.Contains(t, body, `["wxcard","Requests","function","memberapi","route","`+p+`"]`, "the dashboard shows the requests of %s", key)
		}
	}
	assert.Contains(t, body, `"route","/notify/brand-card-events"`, "the dashboard shows the brand route")
}

// dimensions are an alarm's dimensions, by name.
func dimensions(props *yaml.Node) map[string]string {
	dims := map[string]string{}
	for _, d := range node(props, "Dimensions").Content {
		dims[node(d, "Name").Value] = node(d, "Value").Value
	}
	return dims
}

// checkRefreshFanOut: the schedule (ScheduleV2, retried, dead-lettered)
// invokes the scheduler, which may read the table's keys, remove its own
// items and send to the refresh queue, nothing more; the queue redrives to
// a dead-letter queue; the consumer reads it with an SQS event source of
// batches of 10, per-item failures and a maximum concurrency, paced by
// the same parameters.
func checkRefreshFanOut(t *testing.T, doc *yaml.Node, functions map[string]*yaml.Node) {
	t.Helper()
	resources := node(doc, "Resources")
	sched := functions["AuthoritiesScheduleFunction"]
	ev := node(sched, "Properties", "Events", "Schedule")
	assert.Equal(t, "ScheduleV2", node(ev, "Type").Value)
	assert.Equal(t, "true", node(ev, "Properties", "OmitName").Value)
	assert.Equal(t, "{}", node(ev, "Properties", "Input").Value)
	assert.NotNil(t, node(ev, "Properties", "RetryPolicy", "MaximumRetryAttempts"))
	assert.NotNil(t, node(ev, "Properties", "DeadLetterConfig"))
	vars := node(sched, "Properties", "Environment", "Variables")
	assert.Equal(t, "RefreshQueue", node(vars, "REFRESH_QUEUE_URL").Value)
	assert.Equal(t, "StateTable", node(vars, "STATE_TABLE_NAME").Value)
	assert.Nil(t, node(vars, "EVENT_BUS_NAME"), "the scheduler publishes nothing")
	policies := node(sched, "Properties", "Policies")
	require.Len(t, policies.Content, 1, "the scheduler: its statements alone")
	stmts := node(policies.Content[0], "Statement").Content
	require.Len(t, stmts, 4)
	// The brands are listed by a Query of the state table's sparse index, never a Scan.
	assert.Equal(t, "dynamodb:Query", node(stmts[0], "Action").Value)
	assert.Equal(t, "!Sub", node(stmts[0], "Resource").Tag)
	assert.Equal(t, "${StateTable.Arn}/index/"+statetable.KindIndex, node(stmts[0], "Resource").Value)
	assert.Equal(t, []string{"pk", "state", "kind"}, values(node(stmts[0], "Condition", "ForAllValues:StringEquals", "dynamodb:Attributes")),
		"the Query reads the key and the state alone")
	table := node(resources, "StateTable", "Properties")
	require.Len(t, node(table, "KeySchema").Content, 1, "design.md: one partition key, no sort key")
	gsis := node(table, "GlobalSecondaryIndexes").Content
	require.Len(t, gsis, 2, "kind-pk, then member care's openid-pk (checkMemberAPI)")
	assert.Equal(t, statetable.KindIndex, node(gsis[0], "IndexName").Value)
	var keys []string
	for _, k := range node(gsis[0], "KeySchema").Content {
		keys = append(keys, node(k, "AttributeName").Value+" "+node(k, "KeyType").Value)
	}
	assert.Equal(t, []string{statetable.KindAttr + " HASH", statetable.KeyAttr + " RANGE"}, keys)
	assert.Equal(t, "INCLUDE", node(gsis[0], "Projection", "ProjectionType").Value)
	assert.Equal(t, []string{"state"}, values(node(gsis[0], "Projection", "NonKeyAttributes")))
	assert.Equal(t, "SPECIFIC_ATTRIBUTES", node(stmts[0], "Condition", "StringEquals", "dynamodb:Select").Value)
	var actions []string
	for _, a := range node(stmts[1], "Action").Content {
		actions = append(actions, a.Value)
	}
	assert.Equal(t, []string{"dynamodb:GetItem", "dynamodb:DeleteItem"}, actions)
	assert.Equal(t, "authority#*", node(stmts[1], "Condition", "ForAllValues:StringLike", "dynamodb:LeadingKeys").Content[0].Value)
	// Its writes name the removal mark's attributes alone: not pending, which gets published.
	assert.Equal(t, "dynamodb:UpdateItem", node(stmts[2], "Action").Value)
	assert.Equal(t, "authority#*", node(stmts[2], "Condition", "ForAllValues:StringLike", "dynamodb:LeadingKeys").Content[0].Value)
	var writable []string
	for _, a := range node(stmts[2], "Condition", "ForAllValues:StringEquals", "dynamodb:Attributes").Content {
		writable = append(writable, a.Value)
	}
	assert.Contains(t, writable, statetable.KindAttr, "a removed brand stays in the index")
	assert.NotContains(t, writable, "pending")
	assert.NotContains(t, writable, "pending_since")
	actions = nil
	for _, a := range node(stmts[3], "Action").Content {
		actions = append(actions, a.Value)
	}
	assert.Equal(t, []string{"sqs:SendMessage", "sqs:GetQueueAttributes"}, actions)
	assert.Equal(t, "RefreshQueue.Arn", node(stmts[3], "Resource").Value)

	q := node(resources, "RefreshQueue", "Properties")
	assert.Equal(t, "RefreshDeadLetterQueue.Arn", node(q, "RedrivePolicy", "deadLetterTargetArn").Value)
	assert.Equal(t, "5", node(q, "RedrivePolicy", "maxReceiveCount").Value)
	consumer := functions["AuthoritiesRefreshFunction"]
	timeout, err := strconv.Atoi(node(consumer, "Properties", "Timeout").Value)
	require.NoError(t, err)
	visibility, err := strconv.Atoi(node(q, "VisibilityTimeout").Value)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, visibility, 6*timeout, "AWS: a visibility timeout of at least six times the function's")
	assert.Greater(t, float64(timeout), refresh.MinTimeLeft.Seconds()*2, "room for a batch beside the reserve")

	src := node(consumer, "Properties", "Events", "Queue")
	assert.Equal(t, "SQS", node(src, "Type").Value)
	assert.Equal(t, "RefreshQueue.Arn", node(src, "Properties", "Queue").Value)
	assert.Equal(t, strconv.Itoa(refresh.BatchSize), node(src, "Properties", "BatchSize").Value)
	assert.Equal(t, "ReportBatchItemFailures", node(src, "Properties", "FunctionResponseTypes").Content[0].Value)
	assert.Equal(t, "RefreshConcurrency", node(src, "Properties", "ScalingConfig", "MaximumConcurrency").Value)
	assert.Nil(t, node(consumer, "Properties", "ReservedConcurrentExecutions"), "the mapping bounds it")
	cvars := node(consumer, "Properties", "Environment", "Variables")
	assert.Equal(t, "RefreshCallsPerSecond", node(cvars, "REFRESH_CALLS_PER_SECOND").Value)
	assert.Equal(t, "RefreshConcurrency", node(cvars, "REFRESH_CONCURRENCY").Value, "the pace and the mapping share one parameter")

	// The defaults keep the refresh under WeChat Pay's 10/s with room for the GET route.
	rate, conc := node(doc, "Parameters", "RefreshCallsPerSecond"), node(doc, "Parameters", "RefreshConcurrency")
	assert.Equal(t, strconv.Itoa(refresh.DefaultCallsPerSecond), node(rate, "Default").Value)
	assert.Equal(t, "10", node(rate, "MaxValue").Value, "WeChat Pay's limit per merchant")
	assert.Equal(t, strconv.Itoa(refresh.DefaultConcurrency), node(conc, "Default").Value)
	assert.Equal(t, "2", node(conc, "MinValue").Value, "the least maximum concurrency SQS allows")
	assert.Equal(t, node(conc, "MinValue").Value, node(rate, "MinValue").Value, "a rate below the concurrency is refused at start")
	// The GET route gets what the refresh leaves of WeChat Pay's 10/s.
	get := node(doc, "Resources", "ApiStage", "Properties", "RouteSettings", "GET /v3/brand-basic/partner/brands/{brand_id}/product-authorities")
	require.NotNil(t, get, "the GET route has its own throttling")
	get = ifThen(t, get, "HasPartnerSecret")
	assert.Equal(t, "AuthoritiesRateLimit", node(get, "ThrottlingRateLimit").Value)
	getRate, err := strconv.Atoi(node(doc, "Parameters", "AuthoritiesRateLimit", "Default").Value)
	require.NoError(t, err)
	assert.LessOrEqual(t, refresh.DefaultCallsPerSecond+getRate, 10, "WeChat Pay's 10 calls/s for product authorities")
	assert.Equal(t, "1", node(sched, "Properties", "EventInvokeConfig", "MaximumRetryAttempts").Value)
}

// checkMembers (design.md, "Members"): the members function reads the
// secrets the stack has (either or both), its own member# items, publishes to the bus and sends back to
// its queue, and invokes the brand's decision function only when one is
// given; it consumes the member queue in batches of 10 with per-item
// failures under a maximum concurrency that its pace shares; the queue
// redrives to a dead-letter queue and keeps messages as long as SQS can.
// (The rule, the queue policy and the resolved grants: TestTemplateMatrix.)
func checkMembers(t *testing.T, doc *yaml.Node, fn *yaml.Node) {
	t.Helper()
	resources := node(doc, "Resources")
	vars := node(fn, "Properties", "Environment", "Variables")
	assert.Equal(t, "PartnerSecretArn", ifThen(t, node(vars, "WXPAY_SECRET_ID"), "HasPartnerSecret").Value)
	assert.Equal(t, "BrandSecretArn", ifThen(t, node(vars, "WXPAY_BRAND_SECRET_ID"), "HasBrandSecret").Value)
	assert.Equal(t, "StateTable", node(vars, "STATE_TABLE_NAME").Value)
	assert.NotNil(t, node(vars, "EVENT_BUS_NAME"))
	assert.Equal(t, "MemberCallsPerSecond", node(vars, "MEMBER_CALLS_PER_SECOND").Value)
	assert.Equal(t, "MemberConcurrency", node(vars, "MEMBER_CONCURRENCY").Value, "the pace and the mapping share one parameter")
	assert.Equal(t, "MemberDeadLetterQueue", node(vars, "MEMBER_DEAD_LETTER_QUEUE_URL").Value, "failed members are parked in the dead-letter queue")
	decider := node(vars, "MEMBER_CONFIRM_FUNCTION")
	require.NotNil(t, decider)
	assert.Equal(t, "!If", decider.Tag)
	assert.Equal(t, []string{"HasMemberDecider", "MemberConfirmFunctionArn", "AWS::NoValue"}, values(decider))
	assert.Contains(t, yamlText(t, node(doc, "Conditions", "HasMemberDecider")), "MemberConfirmFunctionArn")

	policies := node(fn, "Properties", "Policies").Content
	require.Len(t, policies, 3, "the secrets, the state, the decision function")
	// Each secret the stack has, as given and with Secrets Manager's suffix.
	secrets := node(policies[0], "Statement").Content
	require.Len(t, secrets, 2)
	for i, param := range []string{"PartnerSecretArn", "BrandSecretArn"} {
		st := ifThen(t, secrets[i], map[string]string{"PartnerSecretArn": "HasPartnerSecret", "BrandSecretArn": "HasBrandSecret"}[param])
		assert.Equal(t, "secretsmanager:GetSecretValue", node(st, "Action").Value)
		assert.Equal(t, []string{param, "${" + param + "}-??????"}, values(node(st, "Resource")))
	}
	stmts := node(policies[1], "Statement").Content
	require.Len(t, stmts, 3)
	assert.Equal(t, []string{"dynamodb:GetItem", "dynamodb:PutItem"}, values(node(stmts[0], "Action")), "a read and a conditional put")
	assert.Equal(t, "StateTable.Arn", node(stmts[0], "Resource").Value)
	assert.Equal(t, []string{"member#*"}, values(node(stmts[0], "Condition", "ForAllValues:StringLike", "dynamodb:LeadingKeys")))
	assert.Equal(t, []string{"events:PutEvents", "events:DescribeEventBus"}, values(node(stmts[1], "Action")))
	assert.Equal(t, "sqs:SendMessage", node(stmts[2], "Action").Value, "sends back what it had no time for, parks the failed")
	assert.Equal(t, []string{"MemberQueue.Arn", "MemberDeadLetterQueue.Arn"}, values(node(stmts[2], "Resource")))
	invoke := policies[2]
	require.Equal(t, "!If", invoke.Tag, "the decision function is granted only when given")
	assert.Equal(t, "HasMemberDecider", invoke.Content[0].Value)
	grant := node(invoke.Content[1], "Statement").Content
	require.Len(t, grant, 1)
	assert.Equal(t, "lambda:InvokeFunction", node(grant[0], "Action").Value)
	assert.Equal(t, "!Ref", node(grant[0], "Resource").Tag, "exactly the function given, no other version or alias")
	assert.Equal(t, "MemberConfirmFunctionArn", node(grant[0], "Resource").Value)
	assert.Equal(t, "AWS::NoValue", invoke.Content[2].Value)

	// The decision function's ARN: empty, or a Lambda function's (with a version or alias).
	pat := regexp.MustCompile(node(doc, "Parameters", "MemberConfirmFunctionArn", "AllowedPattern").Value)
	assert.Empty(t, node(doc, "Parameters", "MemberConfirmFunctionArn", "Default").Value)
	for _, ok := range []string{"", "arn:aws:lambda:ap-east-1:123456789012:function:brand-decider",
		"arn:aws-cn:lambda:cn-north-1:123456789012:function:brand_decider:live", "arn:aws:lambda:ap-east-1:123456789012:function:d:7"} {
		assert.Regexp(t, pat, ok)
	}
	for _, bad := range []string{"brand-decider", "arn:aws:lambda:ap-east-1:123456789012:layer:x", "arn:aws:sqs:ap-east-1:123456789012:q",
		"arn:aws:lambda:ap-east-1:123456789012:function:a b", "arn:aws:lambda:ap-east-1:1234:function:x"} {
		assert.NotRegexp(t, pat, bad)
	}

	// The queue and its consumer.
	q := node(resources, "MemberQueue", "Properties")
	require.NotNil(t, q)
	assert.Equal(t, "MemberDeadLetterQueue.Arn", node(q, "RedrivePolicy", "deadLetterTargetArn").Value)
	assert.Equal(t, "5", node(q, "RedrivePolicy", "maxReceiveCount").Value, "design.md: redrive 5")
	assert.Equal(t, "1209600", node(q, "MessageRetentionPeriod").Value, "14 days: a backlog drains at the pace")
	assert.Equal(t, "true", node(q, "SqsManagedSseEnabled").Value)
	dlq := node(resources, "MemberDeadLetterQueue", "Properties")
	require.NotNil(t, dlq)
	assert.Equal(t, "1209600", node(dlq, "MessageRetentionPeriod").Value)
	assert.Equal(t, "true", node(dlq, "SqsManagedSseEnabled").Value)
	timeout, err := strconv.Atoi(node(fn, "Properties", "Timeout").Value)
	require.NoError(t, err)
	assert.Equal(t, 120, timeout)
	visibility, err := strconv.Atoi(node(q, "VisibilityTimeout").Value)
	require.NoError(t, err)
	assert.Equal(t, 6*timeout, visibility, "AWS: a visibility timeout of six times the function's")
	assert.Greater(t, float64(timeout), pacedqueue.DefaultMinTimeLeft.Seconds()*2, "room for a batch beside the reserve")
	src := node(fn, "Properties", "Events", "Queue")
	assert.Equal(t, "SQS", node(src, "Type").Value)
	assert.Equal(t, "MemberQueue.Arn", node(src, "Properties", "Queue").Value)
	assert.Equal(t, "10", node(src, "Properties", "BatchSize").Value)
	assert.Equal(t, []string{"ReportBatchItemFailures"}, values(node(src, "Properties", "FunctionResponseTypes")))
	assert.Equal(t, "MemberConcurrency", node(src, "Properties", "ScalingConfig", "MaximumConcurrency").Value)
	assert.Nil(t, node(fn, "Properties", "ReservedConcurrentExecutions"), "the mapping bounds it")

	// The pace: the code's defaults, under WeChat Pay's 5/s per identity;
	// a concurrency above the pace, which the code refuses at start, is
	// refused by a rule (TestTemplateRulesRefuseInvalidSets).
	rate, conc := node(doc, "Parameters", "MemberCallsPerSecond"), node(doc, "Parameters", "MemberConcurrency")
	assert.Equal(t, strconv.Itoa(member.DefaultCallsPerSecond), node(rate, "Default").Value)
	assert.Equal(t, "5", node(rate, "MaxValue").Value, "WeChat Pay's limit per brand and per service provider")
	assert.Equal(t, strconv.Itoa(member.DefaultConcurrency), node(conc, "Default").Value)
	assert.Equal(t, "2", node(conc, "MinValue").Value, "the least maximum concurrency SQS allows")
	assert.Equal(t, node(rate, "MaxValue").Value, node(conc, "MaxValue").Value, "more invocations than calls a second is refused")
	assert.Equal(t, node(conc, "MinValue").Value, node(rate, "MinValue").Value, "a pace below the least concurrency could never deploy")
	rule := yamlText(t, node(doc, "Rules", "MemberPaceCoversConcurrency"))
	assert.Contains(t, rule, "MemberConcurrency")
	assert.Contains(t, rule, "MemberCallsPerSecond")

	// The backlog is visible: its alarm's threshold is a parameter, in seconds.
	backlog := node(resources, "MemberBacklogAlarm", "Properties")
	require.NotNil(t, backlog)
	assert.Equal(t, "ApproximateAgeOfOldestMessage", node(backlog, "MetricName").Value)
	assert.Equal(t, "MemberQueue.QueueName", node(node(backlog, "Dimensions").Content[0], "Value").Value)
	assert.Equal(t, "MemberBacklogAgeThreshold", node(backlog, "Threshold").Value)
	assert.Equal(t, "900", node(doc, "Parameters", "MemberBacklogAgeThreshold", "Default").Value)
	for _, out := range []string{"MemberQueueUrl", "MemberDeadLetterQueueUrl"} {
		assert.NotNil(t, node(doc, "Outputs", out), out)
	}
}

// checkMemberAPI (design.md, "Members", member care): the member API is
// told of the service provider's secret (activation), and of the
// table, the bus and the member queue; its role reads that secret, its
// own member# items (a read and a conditional put), a user's members
// through the sparse openid-pk index alone, publishes to the bus and sends
// to the member queue, nothing more; the index is keyed by openid and pk
// and projects what GET /members/me answers; the function answers before
// API Gateway's integration gives up.
func checkMemberAPI(t *testing.T, doc *yaml.Node, fn *yaml.Node) {
	t.Helper()
	resources := node(doc, "Resources")
	vars := node(fn, "Properties", "Environment", "Variables")
	assert.Equal(t, "PartnerSecretArn", ifThen(t, node(vars, "WXPAY_SECRET_ID"), "HasPartnerSecret").Value)
	assert.Nil(t, node(vars, "WXPAY_BRAND_SECRET_ID"), "activation calls WeChat Pay as the service provider alone: the brand's key is not the member API's")
	assert.Equal(t, "StateTable", node(vars, "STATE_TABLE_NAME").Value)
	members := node(resources, "MembersFunction", "Properties", "Environment", "Variables")
	assert.Equal(t, yamlText(t, node(members, "EVENT_BUS_NAME")), yamlText(t, node(vars, "EVENT_BUS_NAME")), "the bus the members function publishes to")
	queue := node(vars, "MEMBER_QUEUE_URL")
	require.NotNil(t, queue, "the member API sends the changes it accepts to the member queue")
	assert.Equal(t, "!Ref", queue.Tag)
	assert.Equal(t, "MemberQueue", queue.Value)
	logs := node(fn, "Properties", "LoggingConfig", "LogGroup")
	require.NotNil(t, logs)
	assert.Equal(t, "MemberApiLogs", logs.Value)
	assert.Equal(t, "AWS::Logs::LogGroup", node(resources, logs.Value, "Type").Value)
	assert.Nil(t, node(resources, logs.Value, "Condition"), "its log group exists where it does: in every stack")

	policies := node(fn, "Properties", "Policies").Content
	require.Len(t, policies, 2, "the secrets, then the state, the bus and the queue")
	secrets := node(ifThen(t, policies[0], "HasPartnerSecret"), "Statement").Content
	require.Len(t, secrets, 1)
	assert.Equal(t, "secretsmanager:GetSecretValue", node(secrets[0], "Action").Value)
	assert.Equal(t, []string{"PartnerSecretArn", "${PartnerSecretArn}-??????"}, values(node(secrets[0], "Resource")))
	stmts := node(policies[1], "Statement").Content
	require.Len(t, stmts, 4)
	assert.Equal(t, []string{"dynamodb:GetItem", "dynamodb:PutItem"}, values(node(stmts[0], "Action")), "a read and a conditional put")
	assert.Equal(t, "StateTable.Arn", node(stmts[0], "Resource").Value)
	assert.Equal(t, []string{"member#*"}, values(node(stmts[0], "Condition", "ForAllValues:StringLike", "dynamodb:LeadingKeys")))
	// A user's members: a Query of the openid-pk index, and of no other.
	assert.Equal(t, []string{"dynamodb:Query"}, values(node(stmts[1], "Action")))
	assert.Equal(t, "!Sub", node(stmts[1], "Resource").Tag)
	assert.Equal(t, "${StateTable.Arn}/index/"+statetable.OpenIDIndex, node(stmts[1], "Resource").Value, "the openid-pk index only, not the table")
	assert.Equal(t, []string{"events:PutEvents", "events:DescribeEventBus"}, values(node(stmts[2], "Action")))
	assert.Equal(t, []string{"sqs:SendMessage"}, values(node(stmts[3], "Action")))
	assert.Equal(t, []string{"MemberQueue.Arn"}, values(node(stmts[3], "Resource")), "the member queue alone, not its dead-letter queue")
	// No other function queries the openid-pk index; only the schedule queries kind-pk.
	for _, id := range mapKeys(resources) {
		r := node(resources, id)
		if node(r, "Type").Value != "AWS::Serverless::Function" {
			continue
		}
		text := yamlText(t, node(r, "Properties", "Policies"))
		if id != "MemberApiFunction" {
			assert.NotContains(t, text, "/index/"+statetable.OpenIDIndex, "%s reads no member through the openid-pk index", id)
		}
		if id != "MemberApiFunction" && id != "AuthoritiesScheduleFunction" {
			assert.NotContains(t, text, "dynamodb:Query", "%s queries nothing", id)
		}
	}

	// The sparse index: only member items carry openid.
	table := node(resources, "StateTable", "Properties")
	var attrs []string
	for _, a := range node(table, "AttributeDefinitions").Content {
		attrs = append(attrs, node(a, "AttributeName").Value+" "+node(a, "AttributeType").Value)
	}
	assert.Contains(t, attrs, "openid S")
	var index *yaml.Node
	for _, g := range node(table, "GlobalSecondaryIndexes").Content {
		if node(g, "IndexName").Value == statetable.OpenIDIndex {
			index = g
		}
	}
	require.NotNil(t, index, "the state table has the index %s", statetable.OpenIDIndex)
	var keys []string
	for _, k := range node(index, "KeySchema").Content {
		keys = append(keys, node(k, "AttributeName").Value+" "+node(k, "KeyType").Value)
	}
	assert.Equal(t, []string{"openid HASH", statetable.KeyAttr + " RANGE"}, keys)
	assert.Equal(t, "INCLUDE", node(index, "Projection", "ProjectionType").Value, "what GET /members/me answers, nothing more")
	assert.Equal(t, []string{"card_id", "user_card_code", "state", "level", "points", "balance"}, values(node(index, "Projection", "NonKeyAttributes")))

	// API Gateway waits for the function's answer: its timeout is below each
	// of its routes' integration timeout.
	timeout, err := strconv.Atoi(node(fn, "Properties", "Timeout").Value)
	require.NoError(t, err)
	paths := node(resources, "Api", "Properties", "Body", "paths")
	n := 0
	for key, r := range designRoutes {
		if r.function != "MemberApiFunction" {
			continue
		}
		method, p, _ := strings.Cut(key, " ")
		op := node(paths, p, strings.ToLower(method))
		require.NotNil(t, op, "route %s is declared in every stack, as its function is", key)
		wait, err := strconv.Atoi(node(op, "x-amazon-apigateway-integration", "timeoutInMillis").Value)
		require.NoError(t, err)
		assert.Less(t, timeout*1000, wait, "%s: the function answers before API Gateway gives up", key)
		n++
	}
	assert.Equal(t, 3, n, "member care's three routes")
}

// yamlText renders a node back to YAML, so that two intrinsic-function
// expressions can be compared whole.
func yamlText(t *testing.T, n *yaml.Node) string {
	t.Helper()
	require.NotNil(t, n)
	out, err := yaml.Marshal(n)
	require.NoError(t, err)
	return string(out)
}

// uncommented is a copy of n without its comments, so that two
// declarations can be compared by what they declare.
func uncommented(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	c.Content = nil
	for _, e := range n.Content {
		c.Content = append(c.Content, uncommented(e))
	}
	return &c
}

func values(n *yaml.Node) []string {
	var out []string
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	for _, c := range n.Content {
		out = append(out, c.Value)
	}
	return out
}

// Sign-in: the token routes trust SessionKeysFunction's function URL as
// their issuer, through an authorizer created after the URL can answer;
// each sign-in resource holds only what it needs; POST /session is
// throttled; the key is RS256-capable, stays in KMS, and survives stack
// updates.
func TestTemplateSignIn(t *testing.T) {
	t.Parallel()
	doc, _ := loadTemplate(t)
	resources := node(doc, "Resources")
	res := func(id string) *yaml.Node {
		r := node(resources, id)
		require.NotNil(t, r, "resource %s", id)
		return r
	}

	// The issuer is https://<host of the keys function's URL>, without the
	// URL's trailing slash, wherever it appears.
	authorizer := node(res("Api"), "Properties", "Body", "components", "securitySchemes", "TokenAuthorizer")
	require.Equal(t, "!If", authorizer.Tag)
	assert.Equal(t, "UseJwt", authorizer.Content[0].Value)
	jwt := node(authorizer.Content[1], "x-amazon-apigateway-authorizer", "jwtConfiguration")
	ownOrBuiltIn := node(jwt, "issuer")
	require.Equal(t, "!If", ownOrBuiltIn.Tag)
	assert.Equal(t, "UseOwnIssuer", ownOrBuiltIn.Content[0].Value)
	assert.Equal(t, "JwtIssuer", ownOrBuiltIn.Content[1].Value)
	issuer := ownOrBuiltIn.Content[2]
	require.Equal(t, "!Sub", issuer.Tag)
	require.Len(t, issuer.Content, 2)
	assert.Equal(t, "https://${Host}", issuer.Content[0].Value)
	host := node(issuer.Content[1], "Host")
	require.Equal(t, "!Select", host.Tag)
	assert.Equal(t, "2", host.Content[0].Value, "[https:, '', host, ''] of the URL split at /")
	split := host.Content[1]
	require.Equal(t, "!Split", split.Tag)
	assert.Equal(t, "/", split.Content[0].Value)
	assert.Equal(t, "!GetAtt", split.Content[1].Tag)
	assert.Equal(t, "SessionKeysUrl.FunctionUrl", split.Content[1].Value)
	session := res("SessionFunction")
	assert.Equal(t, yamlText(t, issuer), yamlText(t, node(session, "Properties", "Environment", "Variables", "SESSION_ISSUER")),
		"the tokens' iss is the authorizer's issuer")
	assert.Equal(t, yamlText(t, issuer), yamlText(t, node(doc, "Outputs", "SessionIssuer", "Value")), "the output is the issuer")
	keys := res("SessionKeysFunction")
	assert.Nil(t, node(keys, "Properties", "Environment", "Variables", "SESSION_ISSUER"),
		"the keys function derives the issuer from its request: naming its own URL would be a circular dependency")
	// Its URL is public and unthrottled: a reservation (a parameter, 0 for
	// none, the default: TestTemplateDefaultsReserveNothing) bounds what a
	// flood of GETs can take from the token functions.
	reserved := node(keys, "Properties", "ReservedConcurrentExecutions")
	require.NotNil(t, reserved, "the keys function can reserve its concurrency")
	assert.Equal(t, "ReserveSessionKeysConcurrency", reserved.Content[0].Value)
	assert.Equal(t, "SessionKeysConcurrency", reserved.Content[1].Value)
	// An openid claim the token sets itself would make the sign-in function
	// refuse every cold start: the deploy is refused instead.
	claimRule := yamlText(t, node(doc, "Rules", "SignInOpenIdClaimNotRegistered"))
	for _, c := range []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "unionid", "OpenIdClaim", "MiniProgramSecretId"} {
		assert.Contains(t, claimRule, c)
	}

	// The audience: the user's own issuer's, or the sign-in's. (That the
	// authorizer is created after the URL's grants: TestTemplateMatrix.)
	aud := node(jwt, "audience").Content[0]
	assert.Equal(t, "UseOwnIssuer", aud.Content[0].Value)
	assert.Equal(t, "JwtAudience", aud.Content[1].Value)
	assert.Equal(t, "SessionAudience", aud.Content[2].Value)
	assert.Equal(t, "SessionAudience", node(session, "Properties", "Environment", "Variables", "SESSION_AUDIENCE").Value)
	assert.Equal(t, "wxcard", node(doc, "Parameters", "SessionAudience", "Default").Value)

	// Conditions: the built-in issuer only where sign-in exists; JWT without
	// JwtIssuer is refused without a mini-program secret.
	conds := node(doc, "Conditions")
	assert.Contains(t, yamlText(t, node(conds, "UseBuiltInIssuer")), "HasSignIn")
	assert.Contains(t, yamlText(t, node(conds, "UseBuiltInIssuer")), "UseJwt")
	assert.Contains(t, yamlText(t, node(conds, "HasSignIn")), "MiniProgramSecretId")
	rule := node(doc, "Rules", "JwtNeedsAnIssuer")
	assert.Contains(t, yamlText(t, node(rule, "RuleCondition")), "JwtIssuer")
	assert.Contains(t, yamlText(t, node(rule, "Assertions")), "MiniProgramSecretId")
	assert.Contains(t, yamlText(t, node(doc, "Rules", "OwnIssuerNeedsAudience", "Assertions")), "JwtAudience")
	for _, id := range []string{"SessionFunction", "SessionKeysFunction", "SessionKeysUrl", "SessionKeysUrlPublicPermission",
		"SessionKeysUrlInvokePermission", "SessionLogs", "SessionKeysLogs", "SessionErrorsAlarm", "SessionKeysErrorsAlarm"} {
		assert.Equal(t, "HasSignIn", node(res(id), "Condition").Value, "%s exists only with sign-in", id)
	}

	// The URL is public, and the only public grant in the template: the
	// two that AWS requires for a URL with no auth, each as narrow as it goes.
	u := res("SessionKeysUrl")
	assert.Equal(t, "AWS::Lambda::Url", node(u, "Type").Value)
	assert.Equal(t, "NONE", node(u, "Properties", "AuthType").Value)
	assert.Equal(t, "SessionKeysFunction", node(u, "Properties", "TargetFunctionArn").Value)
	assert.Nil(t, node(keys, "Properties", "FunctionUrlConfig"), "the URL is written out, so the authorizer can depend on it")
	public := map[string]*yaml.Node{}
	for _, id := range mapKeys(resources) {
		r := node(resources, id)
		if node(r, "Type").Value == "AWS::Lambda::Permission" && node(r, "Properties", "Principal").Value == "*" {
			public[id] = node(r, "Properties")
		}
	}
	require.Len(t, public, 2, "only the keys function is public")
	p := public["SessionKeysUrlPublicPermission"]
	require.NotNil(t, p)
	assert.Equal(t, "lambda:InvokeFunctionUrl", node(p, "Action").Value)
	assert.Equal(t, "NONE", node(p, "FunctionUrlAuthType").Value)
	assert.Equal(t, "SessionKeysFunction", node(p, "FunctionName").Value)
	p = public["SessionKeysUrlInvokePermission"]
	require.NotNil(t, p)
	assert.Equal(t, "lambda:InvokeFunction", node(p, "Action").Value)
	assert.Equal(t, "true", node(p, "InvokedViaFunctionUrl").Value, "InvokeFunction only through the URL")
	assert.Equal(t, "SessionKeysFunction", node(p, "FunctionName").Value)

	// The keys function reads public keys and nothing else: no secret, no Sign.
	kvars := node(keys, "Properties", "Environment", "Variables")
	assert.Nil(t, node(kvars, "MINIPROGRAM_SECRET_ID"))
	assert.Equal(t, "SessionPreviousKeyArns", node(kvars, "SESSION_PREVIOUS_KMS_KEY_IDS").Content[1].Value)
	signingKey := yamlText(t, node(session, "Properties", "Environment", "Variables", "SESSION_KMS_KEY_ID"))
	assert.Equal(t, signingKey, yamlText(t, node(kvars, "SESSION_KMS_KEY_ID")), "both functions name the same signing key")
	// Its KMS statements and the sign-in function's: TestTemplateMatrix.
	// The sign-in function: its secret, and Sign on the one key that signs.
	svars := node(session, "Properties", "Environment", "Variables")
	assert.Equal(t, "MiniProgramSecretId", node(svars, "MINIPROGRAM_SECRET_ID").Value)
	assert.Equal(t, "SessionTokenTtl", node(svars, "SESSION_TOKEN_TTL").Value)
	assert.Equal(t, "https://api.weixin.qq.com", node(svars, "WXLOGIN_BASE_URL").Value)

	// POST /session: open (TestTemplateMatrix), and throttled on its own
	// parameters, defaults well under the token routes' burst-to-rate shape.
	rs := node(res("ApiStage"), "Properties", "RouteSettings", "POST /session").Content[1]
	require.NotNil(t, rs, "POST /session has its own throttling")
	assert.Equal(t, "SessionRateLimit", node(rs, "ThrottlingRateLimit").Value)
	assert.Equal(t, "SessionBurstLimit", node(rs, "ThrottlingBurstLimit").Value)
	rate, err := strconv.Atoi(node(doc, "Parameters", "SessionRateLimit", "Default").Value)
	require.NoError(t, err)
	burst, err := strconv.Atoi(node(doc, "Parameters", "SessionBurstLimit", "Default").Value)
	require.NoError(t, err)
	assert.Equal(t, 20, rate)
	assert.Equal(t, 2*rate, burst)
	ttl := node(doc, "Parameters", "SessionTokenTtl")
	assert.Equal(t, "300", node(ttl, "MinValue").Value, "design.md: 300–86400")
	assert.Equal(t, "86400", node(ttl, "MaxValue").Value)

	// The key: RSA_2048 for RS256, signing only, retained (its policy:
	// TestTemplateMatrix).
	key := res("SessionKey")
	assert.Equal(t, "AWS::KMS::Key", node(key, "Type").Value)
	assert.Equal(t, "CreateSessionKey", node(key, "Condition").Value)
	assert.Equal(t, "RSA_2048", node(key, "Properties", "KeySpec").Value)
	assert.Equal(t, "SIGN_VERIFY", node(key, "Properties", "KeyUsage").Value)
	assert.Equal(t, "Retain", node(key, "DeletionPolicy").Value, "deleting the key would invalidate live tokens")
	assert.Equal(t, "Retain", node(key, "UpdateReplacePolicy").Value, "replacing the key would invalidate live tokens")
	assert.Equal(t, "SessionKey", node(res("SessionKeyAlias"), "Properties", "TargetKeyId").Value)
	assert.Contains(t, signingKey, "SessionKey.Arn")
	assert.Contains(t, signingKey, "SessionSigningKeyArn", "a rotation names another key")

	assert.NotNil(t, node(doc, "Outputs", "SessionUrl"))
	assert.Contains(t, node(doc, "Outputs", "SessionUrl", "Value").Value, "/session")
}
