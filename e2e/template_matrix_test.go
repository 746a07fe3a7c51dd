package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/member"
)

// The secrets of the sets: a full ARN ends in the six characters Secrets
// Manager appends to the name; a partial one does not.
const (
	brandSecretFull      = "arn:aws:secretsmanager:ap-east-1:123456789012:secret:wxcard/brand-AbC123"
	brandSecretPartial   = "arn:aws:secretsmanager:ap-east-1:123456789012:secret:wxcard/brand"
	partnerSecretFull    = "arn:aws:secretsmanager:ap-east-1:123456789012:secret:wxcard/partner-x9Y8z7"
	partnerSecretPartial = "arn:aws:secretsmanager:ap-east-1:123456789012:secret:wxcard/partner"
	miniProgramName      = "wxcard/miniprogram"
	miniProgramPartial   = "arn:aws:secretsmanager:ap-east-1:123456789012:secret:wxcard/miniprogram"
	ownSigningKey        = "arn:aws:kms:ap-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
	previousKeyA         = "arn:aws:kms:ap-east-1:123456789012:key/aaaaaaaa-2222-3333-4444-555555555555"
	previousKeyB         = "arn:aws:kms:ap-east-1:123456789012:key/bbbbbbbb-2222-3333-4444-555555555555"
	memberDecider        = "arn:aws:lambda:ap-east-1:123456789012:function:brand-decider"
	memberDeciderAlias   = "arn:aws:lambda:ap-east-1:210987654321:function:brand-decider:live"
)

// The secrets as Secrets Manager names them: what a grant must cover.
var realSecretArn = map[string]string{
	brandSecretFull:      brandSecretFull,
	brandSecretPartial:   brandSecretPartial + "-Q1w2E3",
	partnerSecretFull:    partnerSecretFull,
	partnerSecretPartial: partnerSecretPartial + "-R4t5Y6",
}

type templateSet struct {
	name   string
	params map[string]string
}

// templateSets are the parameter sets the template is checked under: JWT
// and NONE with and without sign-in, an issuer of the user's own, a key
// rotation, an existing bus, CORS without a reservation, a reservation,
// and the brand's decision function for members (none in the other sets
// with both secrets) with the stack's bus and, by an alias in another
// account, an existing one; a brand's own stack (BrandSecretArn alone) and
// a service provider's (PartnerSecretArn alone), each with and without
// sign-in and with a decision function; full and partial secret ARNs
// alternate.
var templateSets = []templateSet{
	{"jwt-signin", map[string]string{"BrandSecretArn": brandSecretFull, "PartnerSecretArn": partnerSecretPartial,
		"TokenRoutesAuthorization": "JWT", "MiniProgramSecretId": miniProgramName}},
	{"jwt-own-issuer", map[string]string{"BrandSecretArn": brandSecretPartial, "PartnerSecretArn": partnerSecretFull,
		"TokenRoutesAuthorization": "JWT", "JwtIssuer": "https://login.example.com", "JwtAudience": "wxcard-api"}},
	{"jwt-own-issuer-signin", map[string]string{"BrandSecretArn": brandSecretFull, "PartnerSecretArn": partnerSecretFull,
		"TokenRoutesAuthorization": "JWT", "JwtIssuer": "https://login.example.com", "JwtAudience": "wxcard-api",
		"MiniProgramSecretId": miniProgramPartial}},
	{"none", map[string]string{"BrandSecretArn": brandSecretPartial, "PartnerSecretArn": partnerSecretPartial,
		"TokenRoutesAuthorization": "NONE"}},
	{"none-signin", map[string]string{"BrandSecretArn": brandSecretFull, "PartnerSecretArn": partnerSecretFull,
		"TokenRoutesAuthorization": "NONE", "MiniProgramSecretId": miniProgramPartial}},
	{"rotation", map[string]string{"BrandSecretArn": brandSecretFull, "PartnerSecretArn": partnerSecretFull,
		"TokenRoutesAuthorization": "JWT", "MiniProgramSecretId": miniProgramName,
		"SessionSigningKeyArn": ownSigningKey, "SessionPreviousKeyArns": previousKeyA + "," + previousKeyB}},
	{"existing-bus", map[string]string{"BrandSecretArn": brandSecretFull, "PartnerSecretArn": partnerSecretFull,
		"TokenRoutesAuthorization": "NONE", "ExistingEventBusName": "shared-bus"}},
	{"cors-no-reservation", map[string]string{"BrandSecretArn": brandSecretPartial, "PartnerSecretArn": partnerSecretFull,
		"TokenRoutesAuthorization": "JWT", "MiniProgramSecretId": miniProgramName, "SessionKeysConcurrency": "0",
		"CorsAllowOrigins": "https://h5.example.com,https://shop.example.com"}},
	{"reservation", map[string]string{"BrandSecretArn": brandSecretFull, "PartnerSecretArn": partnerSecretFull,
		"TokenRoutesAuthorization": "JWT", "MiniProgramSecretId": miniProgramName, "SessionKeysConcurrency": "5"}},
	{"member-decider", map[string]string{"BrandSecretArn": brandSecretPartial, "PartnerSecretArn": partnerSecretFull,
		"TokenRoutesAuthorization": "NONE", "MemberConfirmFunctionArn": memberDecider, "MemberCallsPerSecond": "5", "MemberConcurrency": "5"}},
	{"member-decider-alias-existing-bus", map[string]string{"BrandSecretArn": brandSecretFull, "PartnerSecretArn": partnerSecretPartial,
		"TokenRoutesAuthorization": "JWT", "MiniProgramSecretId": miniProgramName, "ExistingEventBusName": "shared-bus",
		"MemberConfirmFunctionArn": memberDeciderAlias, "MemberBacklogAgeThreshold": "3600"}},
	{"brand-only-signin", map[string]string{"BrandSecretArn": brandSecretFull,
		"TokenRoutesAuthorization": "JWT", "MiniProgramSecretId": miniProgramName, "MemberConfirmFunctionArn": memberDecider}},
	{"brand-only", map[string]string{"BrandSecretArn": brandSecretPartial,
		"TokenRoutesAuthorization": "NONE", "ExistingEventBusName": "shared-bus", "MemberConfirmFunctionArn": memberDeciderAlias}},
	{"partner-only-signin", map[string]string{"PartnerSecretArn": partnerSecretPartial,
		"TokenRoutesAuthorization": "JWT", "MiniProgramSecretId": miniProgramPartial, "MemberConfirmFunctionArn": memberDeciderAlias,
		"CorsAllowOrigins": "https://h5.example.com"}},
	{"partner-only", map[string]string{"PartnerSecretArn": partnerSecretFull,
		"TokenRoutesAuthorization": "JWT", "JwtIssuer": "https://login.example.com", "JwtAudience": "wxcard-api",
		"MemberConfirmFunctionArn": memberDecider}},
}

// pseudo parameters and AWS::NoValue: names a Ref may use that are no resource.
var pseudo = map[string]bool{"AWS::Region": true, "AWS::AccountId": true, "AWS::Partition": true,
	"AWS::StackName": true, "AWS::URLSuffix": true, "AWS::NoValue": true, "AWS::StackId": true}

// TestTemplateMatrix reads the template as CloudFormation does after the
// SAM transform, under each parameter set.
func TestTemplateMatrix(t *testing.T) {
	t.Parallel()
	params := make([]map[string]string, len(templateSets))
	for i, set := range templateSets {
		params[i] = set.params
	}
	tpls := transformSets(t, params)
	for i, set := range templateSets {
		t.Run(set.name, func(t *testing.T) {
			t.Parallel()
			s := resolveStack(t, tpls[i], set.params)
			assert.Empty(t, s.ruleFailures(t), "a valid set passes every rule")
			checkReferences(t, s)
			checkNoCycle(t, s)
			checkDeployed(t, s)
			checkRoutes(t, s)
			checkFunctionURL(t, s)
			checkStatements(t, s, set.params)
			checkMemberQueue(t, s)
			checkSessionKey(t, s)
			checkReservations(t, s)
			checkOperations(t, s)
		})
	}
}

// given is whether the set gives what a function's condition
// (functionConditions) stands for, read from the parameters themselves.
func given(s *stack, cond string) bool {
	switch cond {
	case "":
		return true
	case "HasBrandSecret":
		return s.Params["BrandSecretArn"] != ""
	case "HasPartnerSecret":
		return s.Params["PartnerSecretArn"] != ""
	case "HasSignIn":
		return s.Params["MiniProgramSecretId"] != ""
	}
	panic("no such condition in functionConditions: " + cond)
}

// checkDeployed: exactly the functions whose secret the set gives are
// deployed (with sign-in, its two; the members function and the member
// API always), both are told of exactly the secrets given, and the outputs
// name only the routes that exist.
func checkDeployed(t *testing.T, s *stack) {
	t.Helper()
	var want, got []string
	for id, cond := range functionConditions {
		if given(s, cond) {
			want = append(want, id)
		}
	}
	for id, r := range s.Resources {
		if r.Type == "AWS::Lambda::Function" {
			got = append(got, id)
		}
	}
	assert.ElementsMatch(t, want, got, "the functions deployed are those whose secret is given")
	for _, id := range []string{"MembersFunction", "MemberApiFunction"} {
		vars := asMap(asMap(s.Resources[id].Properties["Environment"])["Variables"])
		for param, env := range map[string]string{"PartnerSecretArn": "WXPAY_SECRET_ID", "BrandSecretArn": "WXPAY_BRAND_SECRET_ID"} {
			if v := s.Params[param]; v != "" && (id == "MembersFunction" || param == "PartnerSecretArn") {
				assert.Equal(t, v, vars[env], "%s's %s is %s", id, env, param)
			} else {
				assert.NotContains(t, vars, env, "%s without %s", id, param)
			}
		}
	}
	outputs := map[string]bool{}
	for name, o := range asMap(s.raw["Outputs"]) {
		c, ok := asMap(o)["Condition"].(string)
		outputs[name] = !ok || s.condition(t, c)
	}
	assert.Equal(t, given(s, "HasPartnerSecret"), outputs["CardEventsUrl"], "the service provider's notify_url")
	assert.Equal(t, given(s, "HasBrandSecret"), outputs["BrandCardEventsUrl"], "the brand's notify_url")
	assert.True(t, outputs["ApiUrl"] && outputs["MemberQueueUrl"] && outputs["EventBusName"] && outputs["MemberCareUrl"], "in every stack")
}

// metricFunctions: the function dimension of wxcard's metrics, as each
// function emits it, and the function's logical ID (both card-events
// functions emit cardevents: their route tells them apart).
var metricFunctions = map[string]string{
	"pretoken": "PreTokenFunction", "partnertoken": "PartnerTokenFunction", "permissiontoken": "PermissionTokenFunction",
	"authorities": "AuthoritiesFunction", "authoritiesschedule": "AuthoritiesScheduleFunction",
	"authoritiesrefresh": "AuthoritiesRefreshFunction", "session": "SessionFunction", "sessionkeys": "SessionKeysFunction",
	"members": "MembersFunction", "memberapi": "MemberApiFunction",
}

// checkMetricFunction: the function whose metric (function and route
// dimensions) something shows is deployed.
func checkMetricFunction(t *testing.T, s *stack, where, function, route string) {
	t.Helper()
	id := metricFunctions[function]
	if function == "cardevents" {
		id = designRoutes["POST "+route].function
	}
	require.NotEmpty(t, id, "%s: a metric of function %s (route %s) this test does not know", where, function, route)
	assert.Contains(t, s.Resources, id, "%s shows %s's metrics, which this stack does not deploy", where, id)
}

// dashboard is the stack's dashboard body as CloudWatch receives it.
type dashboard struct {
	Widgets []struct {
		Properties struct {
			Title   string     `json:"title"`
			Region  string     `json:"region"`
			Metrics [][]string `json:"metrics"`
		} `json:"properties"`
	} `json:"widgets"`
}

func renderDashboard(t *testing.T, s *stack) (dashboard, string) {
	t.Helper()
	d, ok := s.Resources["Dashboard"]
	require.True(t, ok, "the stack has its dashboard")
	body := subText(t, d.Properties["DashboardBody"])
	var dash dashboard
	require.NoError(t, json.Unmarshal([]byte(body), &dash), body)
	return dash, body
}

// checkOperations: the alarms and the dashboard watch only functions and
// queues the stack has; every function has its Errors alarm; an alarm's
// metric math names only its own metrics; no widget is empty.
func checkOperations(t *testing.T, s *stack) {
	t.Helper()
	errorsAlarm := map[string]bool{}
	for id, r := range s.Resources {
		if r.Type != "AWS::CloudWatch::Alarm" {
			continue
		}
		dimensionSets := []any{r.Properties["Dimensions"]}
		metricIDs := map[string]bool{}
		var expressions []string
		for _, m := range list(r.Properties["Metrics"]) {
			mm := asMap(m)
			metricIDs[fmt.Sprint(mm["Id"])] = true
			if e, ok := mm["Expression"].(string); ok {
				expressions = append(expressions, e)
				continue
			}
			dimensionSets = append(dimensionSets, asMap(asMap(mm["MetricStat"])["Metric"])["Dimensions"])
		}
		for _, e := range expressions {
			for _, ref := range regexp.MustCompile(`\bm[0-9]+\b`).FindAllString(e, -1) {
				assert.True(t, metricIDs[ref], "%s: its expression %q names %s, which it does not have", id, e, ref)
			}
		}
		for _, ds := range dimensionSets {
			dims := map[string]any{}
			for _, d := range list(ds) {
				dims[fmt.Sprint(asMap(d)["Name"])] = asMap(d)["Value"]
			}
			if fn, ok := dims["FunctionName"]; ok {
				ref := fmt.Sprint(asMap(fn)["Ref"])
				assert.Contains(t, s.Resources, ref, "%s watches %s", id, ref)
				if r.Properties["MetricName"] == "Errors" {
					errorsAlarm[ref] = true
				}
			}
			if fn, ok := dims["function"]; ok {
				checkMetricFunction(t, s, id, fmt.Sprint(fn), fmt.Sprint(dims["route"]))
			}
		}
	}
	for id, r := range s.Resources {
		if r.Type == "AWS::Lambda::Function" {
			assert.True(t, errorsAlarm[id], "%s has an Errors alarm", id)
		}
	}
	// The authorities functions' one alarm without a function dimension.
	_, ok := s.Resources["AuthorityStateFailuresAlarm"]
	assert.Equal(t, given(s, "HasPartnerSecret"), ok, "AuthorityStateFailuresAlarm with the authorities functions")

	dash, _ := renderDashboard(t, s)
	require.NotEmpty(t, dash.Widgets)
	for _, w := range dash.Widgets {
		p := w.Properties
		assert.NotEmpty(t, p.Metrics, "widget %q shows something", p.Title)
		assert.Equal(t, testRegion, p.Region, "widget %q", p.Title)
		for _, m := range p.Metrics {
			if m[0] == "AWS/SQS" {
				queue, ok := strings.CutSuffix(strings.TrimPrefix(m[3], "${"), ".QueueName}")
				require.True(t, ok, "widget %q: a queue by its QueueName: %s", p.Title, m[3])
				assert.Contains(t, s.Resources, queue, "widget %q shows %s", p.Title, queue)
				continue
			}
			dims := map[string]string{}
			for i := 2; i+1 < len(m); i += 2 {
				dims[m[i]] = m[i+1]
			}
			if fn, ok := dims["function"]; ok {
				checkMetricFunction(t, s, "widget "+strconv.Quote(p.Title), fn, dims["route"])
			}
		}
	}
}

// Every Ref, GetAtt, Sub and DependsOn names a parameter or a resource
// that exists under the set.
func checkReferences(t *testing.T, s *stack) {
	t.Helper()
	for id, r := range s.Resources {
		for _, name := range append(refs(r.Properties), r.DependsOn...) {
			if pseudo[name] {
				continue
			}
			_, isParam := s.Params[name]
			_, isResource := s.Resources[name]
			assert.True(t, isParam || isResource, "%s refers to %s, which does not exist under this set", id, name)
		}
	}
	for name, o := range asMap(s.raw["Outputs"]) {
		om := asMap(o)
		if c, ok := om["Condition"].(string); ok && !s.condition(t, c) {
			continue
		}
		for _, ref := range refs(s.resolve(t, om["Value"])) {
			_, isParam := s.Params[ref]
			_, isResource := s.Resources[ref]
			assert.True(t, pseudo[ref] || isParam || isResource, "output %s refers to %s, which does not exist under this set", name, ref)
		}
	}
}

// No resource depends on itself through others.
func checkNoCycle(t *testing.T, s *stack) {
	t.Helper()
	edges := map[string][]string{}
	for id, r := range s.Resources {
		for _, name := range append(refs(r.Properties), r.DependsOn...) {
			if _, ok := s.Resources[name]; ok {
				edges[id] = append(edges[id], name)
			}
		}
	}
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var visit func(id string, trail []string)
	visit = func(id string, trail []string) {
		switch state[id] {
		case open:
			t.Errorf("dependency cycle: %s", strings.Join(append(trail, id), " -> "))
			return
		case done:
			return
		}
		state[id] = open
		for _, next := range edges[id] {
			visit(next, append(trail, id))
		}
		state[id] = done
	}
	for id := range s.Resources {
		visit(id, nil)
	}
}

// Every documented route exists exactly once, on the one API, declared the
// one way (the API's body), with its documented authorisation and function.
func checkRoutes(t *testing.T, s *stack) {
	t.Helper()
	useJwt := s.Params["TokenRoutesAuthorization"] == "JWT"
	signIn := s.Conditions["HasSignIn"]
	var apis []string
	for id, r := range s.Resources {
		switch r.Type {
		case "AWS::ApiGatewayV2::Api":
			apis = append(apis, id)
		case "AWS::ApiGatewayV2::Route", "AWS::ApiGatewayV2::Integration", "AWS::ApiGatewayV2::Authorizer":
			t.Errorf("%s (%s) beside the API's body: an update that changes the body would delete it", id, r.Type)
		case "AWS::Serverless::HttpApi":
			t.Errorf("%s survived the SAM transform", id)
		}
	}
	require.Equal(t, []string{"Api"}, apis, "one API")
	body := asMap(s.Resources["Api"].Properties["Body"])
	require.NotNil(t, body, "the API's routes are its body's")

	schemes := asMap(asMap(body["components"])["securitySchemes"])
	seen := map[string]int{}
	for p, item := range asMap(body["paths"]) {
		for method, op := range asMap(item) {
			key := strings.ToUpper(method) + " " + p
			seen[key]++
			want, ok := designRoutes[key]
			if !assert.True(t, ok, "route %s is not in the design (designRoutes)", key) {
				continue
			}
			if !assert.Contains(t, s.Resources, want.function, "route %s belongs to a function this stack deploys", key) {
				continue
			}
			integ := asMap(asMap(op)["x-amazon-apigateway-integration"])
			assert.Equal(t, "aws_proxy", integ["type"], key)
			assert.Equal(t, "2.0", integ["payloadFormatVersion"], key)
			assert.Contains(t, refs(integ["uri"]), want.function, "%s is served by %s", key, want.function)

			auth := "NONE"
			for _, sec := range list(asMap(op)["security"]) {
				for name := range asMap(sec) {
					scheme := asMap(schemes[name])
					require.NotNil(t, scheme, "%s: security scheme %s is defined", key, name)
					switch {
					case scheme["x-amazon-apigateway-authtype"] == "awsSigv4":
						auth = "AWS_IAM"
					case asMap(scheme["x-amazon-apigateway-authorizer"])["type"] == "jwt":
						auth = "JWT"
						checkJwtAuthorizer(t, s, asMap(scheme["x-amazon-apigateway-authorizer"]))
					default:
						t.Errorf("%s: unknown security scheme %v", key, scheme)
					}
				}
			}
			wantAuth := want.auth
			if wantAuth == "TOKEN" {
				wantAuth = map[bool]string{true: "JWT", false: "NONE"}[useJwt]
			}
			assert.Equal(t, wantAuth, auth, "route %s", key)
			checkInvokeGrant(t, s, want.function, key)
		}
	}
	// Each route exactly where its function is (checkDeployed: where its secret is).
	for key, r := range designRoutes {
		want := 0
		if _, ok := s.Resources[r.function]; ok {
			want = 1
		}
		assert.Equal(t, want, seen[key], "route %s", key)
	}
	cors := asMap(body["x-amazon-apigateway-cors"])
	if origins := s.Params["CorsAllowOrigins"].([]string); strings.Join(origins, "") != "" {
		assert.Equal(t, origins, strs(cors["allowOrigins"]), "CORS origins")
		// A browser calls the token routes (the H5 pages: the pre-auth tokens,
		// POST /members/activate, GET /members/me); no other route's method
		// is opened to browsers (PATCH /members/… is operators', IAM).
		methods := strs(cors["allowMethods"])
		browser := map[string]bool{"OPTIONS": true}
		for key, r := range designRoutes {
			if r.auth == "TOKEN" {
				method, _, _ := strings.Cut(key, " ")
				browser[method] = true
				assert.Contains(t, methods, method, "CORS allows the token route %s", key)
			}
		}
		for _, m := range methods {
			assert.True(t, browser[m], "CORS allows %s, which no token route takes", m)
		}
		assert.NotContains(t, methods, "PATCH")
	} else {
		assert.Nil(t, cors, "no CORS without origins")
	}

	// The stage throttles what the design says, and names only routes that exist.
	var stages []string
	for id, r := range s.Resources {
		if r.Type == "AWS::ApiGatewayV2::Stage" {
			stages = append(stages, id)
		}
	}
	require.Equal(t, []string{"ApiStage"}, stages, "one stage, the logical ID SAM gave it")
	stage := s.Resources["ApiStage"].Properties
	assert.Equal(t, map[string]any{"Ref": "Api"}, stage["ApiId"])
	assert.EqualValues(t, 5, asMap(stage["DefaultRouteSettings"])["ThrottlingRateLimit"], "WeChat Pay's 5/s")
	for key := range asMap(stage["RouteSettings"]) {
		assert.Equal(t, 1, seen[key], "the stage throttles %s, which must exist", key)
	}
	if signIn {
		assert.Equal(t, s.Params["SessionRateLimit"], asMap(asMap(stage["RouteSettings"])["POST /session"])["ThrottlingRateLimit"])
	}
}

// checkJwtAuthorizer: the token routes trust the user's own issuer when
// one is given, else wxcard's sign-in, whose URL and both grants exist
// before the API (API Gateway fetches its discovery document then).
func checkJwtAuthorizer(t *testing.T, s *stack, a map[string]any) {
	t.Helper()
	assert.Equal(t, "$request.header.Authorization", a["identitySource"])
	cfg := asMap(a["jwtConfiguration"])
	if iss := s.Params["JwtIssuer"]; iss != "" {
		assert.Equal(t, iss, cfg["issuer"])
		assert.Equal(t, []string{s.Params["JwtAudience"].(string)}, strs(cfg["audience"]))
		return
	}
	require.True(t, s.Conditions["HasSignIn"], "wxcard's own issuer needs sign-in")
	assert.Contains(t, refs(cfg["issuer"]), "SessionKeysUrl")
	assert.Equal(t, []string{s.Params["SessionAudience"].(string)}, strs(cfg["audience"]))
	deps := refs(s.Resources["Api"].Properties)
	assert.Contains(t, deps, "SessionKeysUrlPublicPermission", "the API is created after the issuer's public grants")
	assert.Contains(t, deps, "SessionKeysUrlInvokePermission", "the API is created after the issuer's public grants")
}

// checkInvokeGrant: API Gateway may invoke the function for this route.
func checkInvokeGrant(t *testing.T, s *stack, function, key string) {
	t.Helper()
	method, p, _ := strings.Cut(key, " ")
	for _, r := range s.Resources {
		if r.Type != "AWS::Lambda::Permission" || r.Properties["Principal"] != "apigateway.amazonaws.com" {
			continue
		}
		if !slices.Contains(refs(r.Properties["FunctionName"]), function) {
			continue
		}
		src := fmt.Sprint(asMap(r.Properties["SourceArn"])["Fn::Sub"])
		_, pattern, _ := strings.Cut(src, "${Api}/*/")
		pathPattern := strings.NewReplacer("{card_id}", "x", "{brand_id}", "x", "{code}", "x").Replace(p)
		if pattern != "" && globMatch(pattern, method+pathPattern) {
			return
		}
	}
	t.Errorf("no permission lets API Gateway invoke %s for %s", function, key)
}

// The keys function's URL is public (AuthType NONE) with both grants a
// public URL needs, under sign-in alone; nothing else is public.
func checkFunctionURL(t *testing.T, s *stack) {
	t.Helper()
	var urls, public []string
	for id, r := range s.Resources {
		switch r.Type {
		case "AWS::Lambda::Url":
			urls = append(urls, id)
		case "AWS::Lambda::Permission":
			if r.Properties["Principal"] == "*" {
				public = append(public, id)
			}
		}
	}
	if !s.Conditions["HasSignIn"] {
		assert.Empty(t, urls)
		assert.Empty(t, public)
		return
	}
	require.Equal(t, []string{"SessionKeysUrl"}, urls)
	assert.Equal(t, "NONE", s.Resources["SessionKeysUrl"].Properties["AuthType"])
	assert.ElementsMatch(t, []string{"SessionKeysUrlPublicPermission", "SessionKeysUrlInvokePermission"}, public)
	pub := s.Resources["SessionKeysUrlPublicPermission"].Properties
	assert.Equal(t, "lambda:InvokeFunctionUrl", pub["Action"])
	assert.Equal(t, "NONE", pub["FunctionUrlAuthType"])
	inv := s.Resources["SessionKeysUrlInvokePermission"].Properties
	assert.Equal(t, "lambda:InvokeFunction", inv["Action"])
	assert.Equal(t, true, inv["InvokedViaFunctionUrl"])
	for _, p := range []map[string]any{pub, inv} {
		assert.Equal(t, map[string]any{"Ref": "SessionKeysFunction"}, p["FunctionName"])
	}
}

// statement is one IAM statement of a role, resolved.
type statement struct {
	Actions   []string
	Resources []any
	Condition map[string]any
}

func roleStatements(s *stack, role string) []statement {
	var out []statement
	for _, p := range list(s.Resources[role].Properties["Policies"]) {
		for _, st := range list(asMap(asMap(p)["PolicyDocument"])["Statement"]) {
			m := asMap(st)
			if m["Effect"] != "Allow" {
				continue
			}
			out = append(out, statement{Actions: strs(m["Action"]), Resources: list(m["Resource"]), Condition: asMap(m["Condition"])})
		}
	}
	return out
}

// checkStatements: each function's role names exactly the ARNs it should:
// its secrets with Secrets Manager's suffix, the table (its own items) and
// its index, its queue, the bus, the keys, the brand's decision function.
func checkStatements(t *testing.T, s *stack, set map[string]string) {
	t.Helper()
	secretsOf := map[string][]string{
		"PreTokenFunction": {"BrandSecretArn"}, "PartnerTokenFunction": {"PartnerSecretArn"},
		"PermissionTokenFunction": {"PartnerSecretArn"}, "AuthoritiesFunction": {"PartnerSecretArn"},
		"AuthoritiesRefreshFunction": {"PartnerSecretArn"}, "CardEventsFunction": {"PartnerSecretArn"},
		"BrandCardEventsFunction": {"BrandSecretArn"},
	}
	// The members function reads the secrets the stack has, either or both;
	// the member API the service provider's alone (activation), when given.
	for _, p := range []string{"PartnerSecretArn", "BrandSecretArn"} {
		if s.Params[p] != "" {
			secretsOf["MembersFunction"] = append(secretsOf["MembersFunction"], p)
		}
	}
	if s.Params["PartnerSecretArn"] != "" {
		secretsOf["MemberApiFunction"] = []string{"PartnerSecretArn"}
	}
	// The items of the state table each function may touch (design.md).
	itemsOf := map[string]string{
		"AuthoritiesFunction": "authority#*", "AuthoritiesRefreshFunction": "authority#*", "AuthoritiesScheduleFunction": "authority#*",
		"CardEventsFunction": "notification#*", "BrandCardEventsFunction": "notification#*", "MembersFunction": "member#*",
		"MemberApiFunction": "member#*",
	}
	// The index of the state table each function may query, and nothing else of it.
	indexOf := map[string]string{"AuthoritiesScheduleFunction": "kind-pk", "MemberApiFunction": "openid-pk"}
	queueOf := map[string]string{
		"AuthoritiesScheduleFunction": "RefreshQueue.Arn", "AuthoritiesRefreshFunction": "RefreshQueue.Arn", "MembersFunction": "MemberQueue.Arn",
		"MemberApiFunction": "MemberQueue.Arn",
	}
	bus := "EventBus.Arn"
	if name := s.Params["ExistingEventBusName"]; name != "" {
		bus = "arn:aws:events:" + testRegion + ":" + testAccount + ":event-bus/" + name.(string)
	}
	for id, r := range s.Resources {
		if r.Type != "AWS::Serverless::Function" && r.Type != "AWS::Lambda::Function" {
			continue
		}
		role := id + "Role"
		require.Contains(t, s.Resources, role, "%s has its own role", id)
		secretsRead, secretsGranted := 0, map[string]bool{}
		for _, st := range roleStatements(s, role) {
			for _, action := range st.Actions {
				service, _, _ := strings.Cut(action, ":")
				for _, res := range st.Resources {
					name := fmt.Sprintf("%s: %s on %v", id, action, res)
					switch service {
					case "secretsmanager":
						secretsRead++
						secretsGranted[checkSecretGrant(t, s, id, secretsOf[id], res)] = true
					case "dynamodb":
						if sub, ok := asMap(res)["Fn::Sub"].(string); ok && strings.HasPrefix(sub, "${StateTable.Arn}/index/") {
							require.NotEmpty(t, indexOf[id], "%s: a function the design gives no index of the state table", name)
							assert.Equal(t, "${StateTable.Arn}/index/"+indexOf[id], sub, "%s: its own index only", name)
							assert.Equal(t, "dynamodb:Query", action, "%s: an index is queried, nothing more", name)
							continue
						}
						assert.Equal(t, "StateTable.Arn", getAtt(res), "%s: the state table or its index only", name)
						assert.NotEqual(t, "dynamodb:Query", action, "%s: no Query of the table itself", name)
						assert.NotEqual(t, "dynamodb:Scan", action, "%s: no Scan", name)
						if getAtt(res) == "StateTable.Arn" {
							keys := asMap(st.Condition["ForAllValues:StringLike"])["dynamodb:LeadingKeys"]
							require.NotEmpty(t, itemsOf[id], "%s: a function the design gives no items of the state table", name)
							assert.Equal(t, []string{itemsOf[id]}, strs(keys), "%s: its own items only", name)
						}
					case "sqs":
						own := []string{queueOf[id]}
						if id == "MembersFunction" {
							own = append(own, "MemberDeadLetterQueue.Arn") // parks the members WeChat Pay refused
							assert.Equal(t, "sqs:SendMessage", action, name)
						}
						if id == "MemberApiFunction" {
							assert.Equal(t, "sqs:SendMessage", action, "%s: sends the changes it accepted, nothing more", name)
						}
						assert.Contains(t, own, getAtt(res), "%s: its own queue only", name)
					case "lambda":
						// Only the members function invokes anything: the brand's decision
						// function, exactly as given, and only when given.
						assert.Equal(t, "MembersFunction", id, "%s: only the members function invokes a function", name)
						assert.True(t, s.Conditions["HasMemberDecider"], "%s: without a decision function", name)
						assert.Equal(t, "lambda:InvokeFunction", action, name)
						assert.Equal(t, s.Params["MemberConfirmFunctionArn"], res, "%s: the decision function given, nothing else", name)
					case "events":
						got := getAtt(res)
						if got == "" {
							got = fmt.Sprint(res)
						}
						assert.Equal(t, bus, got, "%s: the bus only", name)
					case "kms":
						checkKeyGrant(t, s, id, action, res, st.Condition)
					case "logs", "xray":
					default:
						t.Errorf("%s: a service the design does not give %s", name, id)
					}
				}
			}
		}
		switch {
		case len(secretsOf[id]) > 0:
			assert.Equal(t, 2*len(secretsOf[id]), secretsRead, "%s reads each of its secrets by the ARN given and with the suffix", id)
			assert.Len(t, secretsGranted, len(secretsOf[id]), "%s reads each of its secrets", id)
		case id == "SessionFunction":
			want := 1
			if strings.HasPrefix(set["MiniProgramSecretId"], "arn:") {
				want = 2
			}
			assert.Equal(t, want, secretsRead, "%s reads the mini-program's secret alone", id)
		default:
			assert.Zero(t, secretsRead, "%s reads no secret", id)
		}
	}
}

// memberEventTypes are the card events the member queue takes (design.md,
// "Members"): the openings and deletions of the brand's cards, the service
// provider's, and the service provider's under their name before August 2025;
// WeChat Pay's requests for a member's points of the same three families
// (member care answers them with the stored points); and the activation of
// a membercard-open card.
var memberEventTypes = []string{
	"BRAND_MEMBER_CARD.USER_CARD.CREATE", "BRAND_MEMBER_CARD.USER_CARD.DELETE",
	"BRAND_MEMBER_CARD_SP.USER_CARD.CREATE", "BRAND_MEMBER_CARD_SP.USER_CARD.DELETE",
	"MEMBERCARDSP.USER_CARD.CREATE", "MEMBERCARDSP.USER_CARD.DELETE",
	"BRAND_MEMBER_CARD.SYNC_USER_POINT", "BRAND_MEMBER_CARD_SP.SYNC_USER_POINT", "MEMBERCARDSP.SYNC_USER_POINT",
	"MEMBERCARD.ACTIVATE_CARD",
}

// checkMemberQueue: one rule on wxcard's bus sends exactly the member
// event types to the member queue, retried and dead-lettered; the queues'
// policy lets that rule alone send; the queue redrives to its dead-letter
// queue; the members function consumes it under MemberConcurrency and is
// told of the decision function only when one is given.
func checkMemberQueue(t *testing.T, s *stack) {
	t.Helper()
	var rules []string
	for id, r := range s.Resources {
		if r.Type == "AWS::Events::Rule" {
			rules = append(rules, id)
		}
	}
	require.Equal(t, []string{"MemberEventsRule"}, rules, "one rule of the stack's own")
	rule := s.Resources["MemberEventsRule"].Properties
	bus := any(map[string]any{"Ref": "EventBus"})
	if name := s.Params["ExistingEventBusName"]; name != "" {
		bus = name
	}
	assert.Equal(t, bus, rule["EventBusName"], "the bus wxcard publishes to")
	assert.Equal(t, "ENABLED", rule["State"])
	pattern := asMap(rule["EventPattern"])
	assert.ElementsMatch(t, []string{"source", "detail-type"}, keys(pattern), "the pattern matches on the source and the type alone")
	assert.Equal(t, []string{"wxcard"}, strs(pattern["source"]))
	types := strs(pattern["detail-type"])
	assert.Len(t, types, len(memberEventTypes), "each type once")
	assert.ElementsMatch(t, memberEventTypes, types, "exactly the openings, deletions, points requests and activations")
	assert.ElementsMatch(t, member.EventTypes(), types, "exactly the types the members function takes")
	targets := list(rule["Targets"])
	require.Len(t, targets, 1, "the member queue alone")
	target := asMap(targets[0])
	assert.Equal(t, "MemberQueue.Arn", getAtt(target["Arn"]))
	assert.Equal(t, "MemberDeadLetterQueue.Arn", getAtt(asMap(target["DeadLetterConfig"])["Arn"]), "what cannot be delivered is kept")
	assert.NotEmpty(t, asMap(target["RetryPolicy"]), "SQS refusing is retried")
	assert.Nil(t, target["Input"], "the event as published")
	assert.Nil(t, target["InputTransformer"], "the event as published")

	// The queue policy: the rule alone sends, to the two member queues.
	ruleArn := map[string]any{"Fn::GetAtt": []any{"MemberEventsRule", "Arn"}}
	covered := map[string]bool{}
	for id, r := range s.Resources {
		if r.Type != "AWS::SQS::QueuePolicy" {
			continue
		}
		var queues []string
		for _, q := range list(r.Properties["Queues"]) {
			queues = append(queues, fmt.Sprint(asMap(q)["Ref"]))
		}
		if !slices.Contains(queues, "MemberQueue") && !slices.Contains(queues, "MemberDeadLetterQueue") {
			continue
		}
		assert.ElementsMatch(t, []string{"MemberQueue", "MemberDeadLetterQueue"}, queues, id)
		for _, st := range list(asMap(r.Properties["PolicyDocument"])["Statement"]) {
			m := asMap(st)
			assert.Equal(t, "Allow", m["Effect"], id)
			assert.Equal(t, map[string]any{"Service": "events.amazonaws.com"}, m["Principal"], "%s: EventBridge alone", id)
			assert.Equal(t, []string{"sqs:SendMessage"}, strs(m["Action"]), "%s: sending alone", id)
			assert.Equal(t, map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": ruleArn}}, m["Condition"], "%s: for the member rule alone", id)
			for _, res := range list(m["Resource"]) {
				assert.Contains(t, []string{"MemberQueue.Arn", "MemberDeadLetterQueue.Arn"}, getAtt(res), id)
				covered[getAtt(res)] = true
			}
		}
	}
	assert.True(t, covered["MemberQueue.Arn"], "the rule may send to the member queue")
	assert.True(t, covered["MemberDeadLetterQueue.Arn"], "the rule may dead-letter to the member dead-letter queue")

	q := s.Resources["MemberQueue"].Properties
	assert.Equal(t, "MemberDeadLetterQueue.Arn", getAtt(asMap(q["RedrivePolicy"])["deadLetterTargetArn"]))
	assert.EqualValues(t, 5, asMap(q["RedrivePolicy"])["maxReceiveCount"])

	// The consumer: the mapping SAM made, bounded by MemberConcurrency.
	var mappings []map[string]any
	for _, r := range s.Resources {
		if r.Type == "AWS::Lambda::EventSourceMapping" && getAtt(r.Properties["EventSourceArn"]) == "MemberQueue.Arn" {
			mappings = append(mappings, r.Properties)
		}
	}
	require.Len(t, mappings, 1, "one consumer of the member queue")
	assert.Equal(t, map[string]any{"Ref": "MembersFunction"}, mappings[0]["FunctionName"])
	assert.Equal(t, s.Params["MemberConcurrency"], fmt.Sprint(asMap(mappings[0]["ScalingConfig"])["MaximumConcurrency"]))
	vars := asMap(asMap(s.Resources["MembersFunction"].Properties["Environment"])["Variables"])
	if s.Conditions["HasMemberDecider"] {
		assert.Equal(t, s.Params["MemberConfirmFunctionArn"], vars["MEMBER_CONFIRM_FUNCTION"])
	} else {
		assert.NotContains(t, vars, "MEMBER_CONFIRM_FUNCTION", "every opening confirmed")
	}
	assert.Equal(t, s.Params["MemberCallsPerSecond"], fmt.Sprint(vars["MEMBER_CALLS_PER_SECOND"]))
	assert.Equal(t, s.Params["MemberConcurrency"], fmt.Sprint(vars["MEMBER_CONCURRENCY"]))
}

// checkSecretGrant: a function's secret grant covers one of its secrets
// (params) as Secrets Manager names it, and nothing of another name; it
// returns the parameter of that secret.
func checkSecretGrant(t *testing.T, s *stack, function string, params []string, res any) string {
	t.Helper()
	pattern, ok := res.(string)
	require.True(t, ok, "%s: a secret's ARN resolves to a string, got %v", function, res)
	if function == "SessionFunction" {
		id := s.Params["MiniProgramSecretId"].(string)
		real := id + "-Zx8Cv7"
		if !strings.HasPrefix(id, "arn:") {
			real = "arn:aws:secretsmanager:" + testRegion + ":" + testAccount + ":secret:" + id + "-Zx8Cv7"
		}
		assert.True(t, pattern == real || globMatch(pattern, real) || pattern == id, "%s: %s", function, pattern)
		return "MiniProgramSecretId"
	}
	require.NotEmpty(t, params, "%s reads no WeChat Pay secret", function)
	param := params[0]
	for _, p := range params {
		if given := s.Params[p].(string); pattern == given || pattern == given+"-??????" {
			param = p
		}
	}
	given := s.Params[param].(string)
	assert.Contains(t, []string{given, given + "-??????"}, pattern, "%s grants its own secret (%s) only", function, param)
	covered := false
	for _, p := range []string{given, given + "-??????"} {
		covered = covered || globMatch(p, realSecretArn[given])
	}
	assert.True(t, covered, "%s: %s as given (%s) is covered", function, param, given)
	assert.False(t, globMatch(pattern, realSecretArn[given]+"x"), "%s: %s grants no longer name", function, pattern)
	return param
}

// checkKeyGrant: the sign-in roles are granted in IAM the signing key
// (the stack's own by its alias; its key policy decides) and the previous
// keys, nothing else.
func checkKeyGrant(t *testing.T, s *stack, function, action string, res any, cond map[string]any) {
	t.Helper()
	arn := fmt.Sprint(res)
	own, _ := s.Params["SessionSigningKeyArn"].(string)
	prev := s.Params["SessionPreviousKeyArns"].([]string)
	if s.Conditions["CreateSessionKey"] {
		// The stack's own key, by its alias: a key ARN would be a cycle.
		own = "arn:aws:kms:" + testRegion + ":" + testAccount + ":key/*"
		if arn == own {
			alias := asMap(cond["ForAnyValue:StringEquals"])["kms:ResourceAliases"]
			assert.Equal(t, "alias/"+testStack+"-session", alias, "%s: %s on any key only through the stack key's alias", function, action)
			assert.Equal(t, "alias/"+testStack+"-session", s.Resources["SessionKeyAlias"].Properties["AliasName"], "the alias the grant names")
		}
	} else {
		assert.Empty(t, cond, "%s: %s on a key named by its ARN", function, action)
	}
	switch function {
	case "SessionFunction":
		assert.Contains(t, []string{"kms:Sign", "kms:GetPublicKey"}, action)
		assert.Equal(t, own, arn, "%s: %s on the user's own signing key only", function, action)
	case "SessionKeysFunction":
		assert.Equal(t, "kms:GetPublicKey", action)
		assert.Contains(t, append([]string{own}, prev...), arn, "%s reads the signing and previous keys only", function)
	default:
		t.Errorf("%s: %s on %s: only the sign-in functions use KMS", function, action, arn)
	}
}

// checkSessionKey: the key wxcard creates signs for the session function
// alone, whatever IAM grants, and the account keeps its administration.
func checkSessionKey(t *testing.T, s *stack) {
	t.Helper()
	key, ok := s.Resources["SessionKey"]
	if !s.Conditions["CreateSessionKey"] {
		assert.False(t, ok, "a key of the user's own: the stack creates none")
		return
	}
	require.True(t, ok)
	sessionRole := map[string]any{"Fn::GetAtt": []any{"SessionFunctionRole", "Arn"}}
	keysRole := map[string]any{"Fn::GetAtt": []any{"SessionKeysFunctionRole", "Arn"}}
	var admin, signers, readers, denied bool
	for _, st := range list(asMap(key.Properties["KeyPolicy"])["Statement"]) {
		m := asMap(st)
		actions := strs(m["Action"])
		principal := fmt.Sprint(asMap(m["Principal"])["AWS"])
		cond := asMap(m["Condition"])
		switch {
		case m["Effect"] == "Deny":
			assert.Equal(t, []string{"kms:Sign"}, actions)
			assert.Equal(t, "*", principal, "the deny covers every principal")
			assert.Equal(t, sessionRole, asMap(cond["ArnNotEquals"])["aws:PrincipalArn"], "but the session function's role")
			denied = true
		case principal == "arn:aws:iam::"+testAccount+":root":
			for _, a := range actions {
				assert.NotContains(t, []string{"kms:*", "kms:Sign", "kms:Verify", "kms:CreateGrant", "kms:GetPublicKey"}, a, "the account administers: it does not sign or grant")
				assert.NotContains(t, a, "*", "no wildcard in the account's actions: %s", a)
			}
			assert.Contains(t, actions, "kms:PutKeyPolicy", "the account keeps key administration")
			assert.Contains(t, actions, "kms:ScheduleKeyDeletion", "the account keeps key administration")
			admin = true
		case slices.Equal(actions, []string{"kms:Sign"}):
			assert.Equal(t, "*", principal)
			assert.Equal(t, sessionRole, asMap(cond["ArnEquals"])["aws:PrincipalArn"], "the session function's role alone signs")
			signers = true
		case slices.Equal(actions, []string{"kms:GetPublicKey"}):
			assert.ElementsMatch(t, []any{sessionRole, keysRole}, list(asMap(cond["ArnEquals"])["aws:PrincipalArn"]), "the two sign-in roles read the public key")
			readers = true
		default:
			t.Errorf("a key policy statement this test does not know: %v", m)
		}
	}
	assert.True(t, admin && signers && readers && denied, "the key policy: administration, signing, reading, and the deny")
	assert.Equal(t, "Retain", key.Deletion)
}

// checkReservations: only SessionKeysConcurrency reserves concurrency, and
// only when it is not 0.
func checkReservations(t *testing.T, s *stack) {
	t.Helper()
	for id, r := range s.Resources {
		rc, ok := r.Properties["ReservedConcurrentExecutions"]
		if id == "SessionKeysFunction" && s.Params["SessionKeysConcurrency"] != "0" {
			assert.Equal(t, s.Params["SessionKeysConcurrency"], fmt.Sprint(rc), id)
			continue
		}
		assert.False(t, ok, "%s reserves concurrency (%v)", id, rc)
	}
}

// A stack with default parameters (and TokenRoutesAuthorization, which has
// none, and the two secrets) reserves
// no concurrency: AWS refuses any reservation on a new account whose limit
// is 10.
func TestTemplateDefaultsReserveNothing(t *testing.T) {
	t.Parallel()
	doc, _ := loadTemplate(t)
	assert.Equal(t, "0", node(doc, "Parameters", "SessionKeysConcurrency", "Default").Value)
	set := map[string]string{"BrandSecretArn": brandSecretFull, "PartnerSecretArn": partnerSecretFull,
		"TokenRoutesAuthorization": "JWT", "MiniProgramSecretId": miniProgramName}
	s := resolveStack(t, transformSets(t, []map[string]string{set})[0], set)
	for id, r := range s.Resources {
		_, ok := r.Properties["ReservedConcurrentExecutions"]
		assert.False(t, ok, "%s reserves concurrency by default", id)
	}
}

// The template's Rules refuse each invalid set they exist for.
func TestTemplateRulesRefuseInvalidSets(t *testing.T) {
	t.Parallel()
	base := map[string]string{"BrandSecretArn": brandSecretFull, "PartnerSecretArn": partnerSecretFull}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name   string
		params map[string]string
		rule   string
	}{
		{"JWT trusting nobody", with("TokenRoutesAuthorization", "JWT"), "JwtNeedsAnIssuer"},
		{"an issuer without audience", with("TokenRoutesAuthorization", "JWT", "JwtIssuer", "https://login.example.com"), "OwnIssuerNeedsAudience"},
		{"an audience without issuer", with("TokenRoutesAuthorization", "JWT", "MiniProgramSecretId", miniProgramName, "JwtAudience", "x"), "AudienceGoesWithOwnIssuer"},
		{"sign-in with a registered claim", with("TokenRoutesAuthorization", "NONE", "MiniProgramSecretId", miniProgramName, "OpenIdClaim", "sub"), "SignInOpenIdClaimNotRegistered"},
		{"more member invocations than calls a second", with("TokenRoutesAuthorization", "NONE", "MemberConcurrency", "3", "MemberCallsPerSecond", "2"), "MemberPaceCoversConcurrency"},
		{"five member invocations at four a second", with("TokenRoutesAuthorization", "NONE", "MemberConcurrency", "5"), "MemberPaceCoversConcurrency"},
		{"neither secret", with("TokenRoutesAuthorization", "NONE", "BrandSecretArn", "", "PartnerSecretArn", ""), "NeedsAWeChatPaySecret"},
		{"neither secret, with sign-in", with("TokenRoutesAuthorization", "JWT", "MiniProgramSecretId", miniProgramName,
			"BrandSecretArn", "", "PartnerSecretArn", ""), "NeedsAWeChatPaySecret"},
	}
	doc, _ := loadTemplate(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := resolveStack(t, yamlToAny(t, doc), tc.params)
			assert.Equal(t, []string{tc.rule}, s.ruleFailures(t))
		})
	}
	// The member pace: every pair the parameters allow, refused exactly when
	// there are more invocations than calls a second (as the code refuses it).
	for calls := 2; calls <= 5; calls++ {
		for conc := 2; conc <= 5; conc++ {
			s := resolveStack(t, yamlToAny(t, doc), with("TokenRoutesAuthorization", "NONE",
				"MemberCallsPerSecond", strconv.Itoa(calls), "MemberConcurrency", strconv.Itoa(conc)))
			var want []string
			if conc > calls {
				want = []string{"MemberPaceCoversConcurrency"}
			}
			assert.Equal(t, want, s.ruleFailures(t), "MemberCallsPerSecond %d, MemberConcurrency %d", calls, conc)
		}
	}
}
