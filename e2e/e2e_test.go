// Package e2e runs the compiled bootstrap binaries as Lambda does: a
// local Runtime API hands them events, the real AWS SDK reads their secret
// from a local Secrets Manager (AWS_ENDPOINT_URL_SECRETS_MANAGER), and
// wxpaytest plays WeChat Pay over TLS trusted through SSL_CERT_FILE.
package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/lambdatest"
	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/internal/member/membertable"
	"github.com/wxcard/wxcard/internal/secretstest"
	"github.com/wxcard/wxcard/internal/statetable"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

const (
	mchid   = "1900000001"
	brandID = "1004"
	cardID  = "pbLatjvWOibDc5-TBnbUk1pD12o0"
	openid  = "obLatjnx9gnqzS4myYGmLZ7LgLBA"
)

// binaries maps a function's name to its compiled bootstrap.
var binaries = map[string]string{}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "wxcard-e2e-")
	if err != nil {
		panic(err)
	}
	for _, fn := range lambdatest.Functions {
		path, err := lambdatest.Build(dir, fn)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		binaries[fn] = path
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Stack is WeChat Pay, Secrets Manager and the two identities a deployment has.
type Stack struct {
	WxPay   *membercardtest.Server
	Secrets *secretstest.Server
	caFile  string
	dir     string
}

// NewStack starts WeChat Pay and Secrets Manager with the brand secret
// "wxcard/brand" and the service-provider secret "wxcard/partner".
func NewStack(t testing.TB, opts wxpaytest.Options) *Stack {
	t.Helper()
	srv := membercardtest.NewServer(opts)
	t.Cleanup(srv.Close)
	srv.AddCard(cardID)
	for _, b := range []string{"1004", "1005", "1006"} {
		srv.SetAuthorities(membercard.ProductAuthorities{BrandID: b, AuthorizationType: "AUTHORIZATION_TYPE_HOSTING", AuthorizationProduct: []string{"BRAND_PRODUCT_AUTHORITY_MERCHANT_CARD"}, UpdateTime: "2025-05-20T13:29:35+08:00"})
	}
	brand, mch := srv.AddBrand(brandID), srv.AddMerchant(mchid)
	sm := secretstest.NewServer(map[string]string{
		"wxcard/brand":   secretstest.ValueOf(srv.Server, brand),
		"wxcard/partner": secretstest.ValueOf(srv.Server, mch),
	})
	t.Cleanup(sm.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "wxpaytest-ca.pem")
	require.NoError(t, srv.WriteCAFile(ca))
	return &Stack{WxPay: srv, Secrets: sm, caFile: ca, dir: dir}
}

// Env is the environment of a function of this stack.
func (s *Stack) Env(secretID string, extra ...string) []string {
	return append([]string{
		"WXPAY_SECRET_ID=" + secretID,
		"WXPAY_BASE_URL=" + s.WxPay.URL,
		"WXPAY_BACKUP_BASE_URL=" + s.WxPay.URL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + s.Secrets.URL,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(s.dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(s.dir, "no-aws-credentials"),
		"HOME=" + s.dir,
		"SSL_CERT_FILE=" + s.caFile,
		"AUTHORITY_BRAND_IDS=1004,1005,1006",
		"TOKEN_ROUTES_AUTHORIZATION=NONE",
	}, extra...)
}

// stateEnv points a function at st's state table and bus.
func stateEnv(st *awstest.Stack) []string {
	return []string{
		"STATE_TABLE_NAME=" + st.Table, "EVENT_BUS_NAME=" + st.Bus,
		"AWS_ENDPOINT_URL_DYNAMODB=" + st.Endpoint, "AWS_ENDPOINT_URL_EVENTBRIDGE=" + st.Endpoint,
	}
}

// envFor is the environment of function fn: its secret, and for the
// authorities functions the state table and bus of the first AWS stack.
func (s *Stack) envFor(t testing.TB, fn, secretID string) []string {
	t.Helper()
	if fn == "authoritiesschedule" {
		env, _ := refreshEnv(t, awstest.Stacks(t)[0])
		return s.Env("", env...)
	}
	if !authorityFunctions[fn] {
		return s.Env(secretID)
	}
	return s.Env(secretID, stateEnv(awstest.Stacks(t)[0])...)
}

// Function is one running function.
type Function struct {
	Runtime *lambdatest.Runtime
	Proc    *lambdatest.Process
}

// StartFunction runs a function's binary and waits for its first poll.
func StartFunction(t testing.TB, name string, env []string) *Function {
	t.Helper()
	rt, err := lambdatest.NewRuntime()
	require.NoError(t, err)
	t.Cleanup(rt.Close)
	p, err := lambdatest.Start(binaries[name], rt, env...)
	require.NoError(t, err)
	t.Cleanup(p.Stop)
	select {
	case <-rt.FirstPoll():
	case <-p.Exited():
		t.Fatalf("%s exited during cold start: %v\n%s", name, p.ExitErr(), p.Output())
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not poll for an invocation within 20 s\n%s", name, p.Output())
	}
	return &Function{Runtime: rt, Proc: p}
}

// Invoke sends one event and decodes the HTTP API answer.
func (f *Function) Invoke(t testing.TB, payload any) lambdatest.Result {
	t.Helper()
	b, err := json.Marshal(payload)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := f.Runtime.Invoke(ctx, b, 10*time.Second)
	require.NoError(t, err, "output:\n%s", f.Proc.Output())
	return res
}

func (f *Function) HTTP(t testing.TB, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	res := f.Invoke(t, ev)
	require.False(t, res.IsError, "function error: %s", res.Payload)
	var resp events.APIGatewayV2HTTPResponse
	require.NoError(t, json.Unmarshal(res.Payload, &resp), string(res.Payload))
	return resp
}

func httpEvent(method, routeKey, path, body string, params map[string]string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: method + " " + routeKey, RawPath: path, Body: body, PathParameters: params,
		Headers: map[string]string{"content-type": "application/json", "user-agent": "e2e"},
	}
	ev.RequestContext.HTTP.Method = method
	ev.RequestContext.HTTP.Path = path
	ev.RequestContext.RequestID = "JKJaXmPLvHcESHA="
	ev.RequestContext.Stage = "$default"
	return ev
}

// A valid request per function, and warm invocations that reuse the keys
// (no second Secrets Manager read) and the connection.
func TestEachFunctionServesAndStaysWarm(t *testing.T) {
	t.Parallel()
	cases := []struct {
		fn, secret string
		ev         events.APIGatewayV2HTTPRequest
		field      string
	}{
		{"pretoken", "wxcard/brand", httpEvent("POST", membercard.BrandPreAuthTokensPath, membercard.BrandPreAuthTokensPath, `{"card_id":"`+cardID+`","openid":"`+openid+`"}`, nil), "token"},
		{"partnertoken", "wxcard/partner", httpEvent("POST", membercard.PartnerPreAuthTokensPath, membercard.PartnerPreAuthTokensPath, `{"brand_id":"1004","card_id":"`+cardID+`","openid":"`+openid+`"}`, nil), "token"},
		{"partnertoken", "wxcard/partner", httpEvent("POST", membercard.PartnerOpenUserCardTokensPath, membercard.PartnerOpenUserCardTokensPath, `{"brand_id":"1004","card_id":"`+cardID+`","openid":"`+openid+`"}`, nil), "token"},
		{"permissiontoken", "wxcard/partner", httpEvent("POST", membercard.PermissionTokensRoute, membercard.PermissionTokensPath(cardID), `{"activate_type":"AUTO_ACTIVATE","outer_str":"门店A"}`, map[string]string{"card_id": cardID}), "permission_token"},
		{"authorities", "wxcard/partner", httpEvent("GET", membercard.ProductAuthoritiesRoute, membercard.ProductAuthoritiesPath(brandID), "", map[string]string{"brand_id": brandID}), "authorization_type"},
	}
	for _, tc := range cases {
		t.Run(tc.fn+" "+tc.ev.RouteKey, func(t *testing.T) {
			s := NewStack(t, wxpaytest.Options{})
			f := StartFunction(t, tc.fn, s.envFor(t, tc.fn, tc.secret))
			for i := 0; i < 4; i++ {
				resp := f.HTTP(t, tc.ev)
				require.Equal(t, 200, resp.StatusCode, resp.Body)
				assert.Equal(t, "no-store", resp.Headers["Cache-Control"])
				var m map[string]any
				require.NoError(t, json.Unmarshal([]byte(resp.Body), &m))
				assert.NotEmpty(t, m[tc.field])
			}
			assert.Equal(t, 1, s.Secrets.Calls(), "warm invocations never read the secret again")
			assert.Equal(t, 1, s.WxPay.Connections(), "warm invocations reuse the connection")
			rec, err := s.WxPay.LastRequest()
			require.NoError(t, err)
			assert.Contains(t, rec.Header.Get("User-Agent"), "wxcard/")
			// Log lines are JSON and carry the Lambda request ID and WeChat Pay's Request-ID.
			served := f.Proc.WaitLines(`"msg":"request served"`, 4, 5*time.Second)
			require.Len(t, served, 4)
			var line map[string]any
			require.NoError(t, json.Unmarshal([]byte(served[0]), &line))
			assert.NotEmpty(t, line["lambda_request_id"])
			assert.NotEmpty(t, line["wechatpay_request_id"])
			out := f.Proc.Output()
			assert.NotContains(t, out, openid)
			assert.NotContains(t, out, "PRIVATE KEY")
			assert.NotContains(t, out, "WECHATPAY2-SHA256")
		})
	}
}

// A bad input answer through the binary: 400 naming the field, nothing upstream.
func TestBadInputThroughTheBinary(t *testing.T) {
	t.Parallel()
	s := NewStack(t, wxpaytest.Options{})
	f := StartFunction(t, "partnertoken", s.Env("wxcard/partner"))
	resp := f.HTTP(t, httpEvent("POST", membercard.PartnerPreAuthTokensPath, membercard.PartnerPreAuthTokensPath, `{"brand_id":"1004","card_id":"`+strings.Repeat("c", 33)+`","openid":"o"}`, nil))
	assert.Equal(t, 400, resp.StatusCode)
	assert.Contains(t, resp.Body, `"code":"PARAM_ERROR"`)
	assert.Contains(t, resp.Body, "card_id")
	assert.Empty(t, s.WxPay.Requests())
}

// The process is frozen (SIGSTOP) longer than WeChat Pay's idle timeout,
// as Lambda freezes it between invocations; after SIGCONT the next call
// succeeds although its pooled connection died meanwhile.
func TestFreezeLongerThanIdleTimeoutThenThaw(t *testing.T) {
	s := NewStack(t, wxpaytest.Options{IdleTimeout: 500 * time.Millisecond})
	f := StartFunction(t, "pretoken", s.Env("wxcard/brand"))
	ev := httpEvent("POST", membercard.BrandPreAuthTokensPath, membercard.BrandPreAuthTokensPath, `{"card_id":"`+cardID+`","openid":"`+openid+`"}`, nil)
	require.Equal(t, 200, f.HTTP(t, ev).StatusCode)

	require.NoError(t, f.Proc.Cmd.Process.Signal(syscall.SIGSTOP))
	time.Sleep(1500 * time.Millisecond) // the freeze itself: three idle timeouts
	require.NoError(t, f.Proc.Cmd.Process.Signal(syscall.SIGCONT))

	resp := f.HTTP(t, ev)
	assert.Equal(t, 200, resp.StatusCode, resp.Body)
	assert.Equal(t, 1, s.Secrets.Calls())
	assert.GreaterOrEqual(t, s.WxPay.Connections(), 2, "the dead connection was replaced")
}

// A wrong secret: the function refuses to serve, reports an init error and
// exits; its log names the secret and the field, never the content.
func TestBadSecretRefusesToServe(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, fn, secretID, value, want string
		extra                           []string
	}{
		{"missing secret", "pretoken", "wxcard/absent", "", `secret \"wxcard/absent\"`, nil},
		{"wrong identity kind", "pretoken", "wxcard/partner", "", `field \"mchid\"`, nil},
		{"broken PEM", "partnertoken", "wxcard/broken", "broken", `field \"private_key\"`, nil},
		// A token function that does not know how its callers are authenticated fails closed.
		{"pretoken without TOKEN_ROUTES_AUTHORIZATION", "pretoken", "wxcard/brand", "", "TOKEN_ROUTES_AUTHORIZATION is not set", []string{"TOKEN_ROUTES_AUTHORIZATION="}},
		{"partnertoken with an unknown TOKEN_ROUTES_AUTHORIZATION", "partnertoken", "wxcard/partner", "", "TOKEN_ROUTES_AUTHORIZATION is", []string{"TOKEN_ROUTES_AUTHORIZATION=jwt"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStack(t, wxpaytest.Options{})
			if tc.value != "" {
				var m map[string]string
				require.NoError(t, json.Unmarshal([]byte(secretstest.ValueOf(s.WxPay.Server, s.WxPay.AddMerchant("1900000002"))), &m))
				m["private_key"] = "-----BEGIN PRIVATE KEY-----\nMIIBroken\n-----END PRIVATE KEY-----\n"
				b, _ := json.Marshal(m)
				s.Secrets.Set(tc.secretID, string(b))
			}
			out := requireInitError(t, tc.fn, s.Env(tc.secretID, tc.extra...))
			assert.Contains(t, out, tc.want)
			assert.NotContains(t, out, "MIIBroken")
			assert.NotContains(t, out, "PUB_KEY_ID")
		})
	}
}

// Each function that publishes refuses to start on a bus that does not
// exist, naming it: AWS would answer its PutEvents as a success and drop
// the events.
func TestPublishersRefuseAMissingBus(t *testing.T) {
	t.Parallel()
	st := awstest.Stacks(t)[0]
	for _, tc := range []struct{ fn, secretID string }{
		{"cardevents", "wxcard/notify"},
		{"authorities", "wxcard/partner"},
		{"authoritiesrefresh", "wxcard/partner"},
	} {
		t.Run(tc.fn, func(t *testing.T) {
			t.Parallel()
			s := NewStack(t, wxpaytest.Options{})
			notifySecret(t, s)
			missing := st.Bus + "-typo"
			env := append(stateEnv(st), "EVENT_BUS_NAME="+missing) // the last EVENT_BUS_NAME counts
			out := requireInitError(t, tc.fn, s.Env(tc.secretID, env...))
			assert.Contains(t, out, `bus \"`+missing+`\" (EVENT_BUS_NAME) does not exist`)
		})
	}
}

// requireInitError starts function fn with env and requires that it
// report an init error, say it refuses to serve and exit; it returns the
// function's output.
func requireInitError(t *testing.T, fn string, env []string) string {
	t.Helper()
	rt, err := lambdatest.NewRuntime()
	require.NoError(t, err)
	defer rt.Close()
	p, err := lambdatest.Start(binaries[fn], rt, env...)
	require.NoError(t, err)
	defer p.Stop()
	select {
	case body := <-rt.InitError():
		assert.Contains(t, string(body), "Runtime.InitError")
	case <-time.After(20 * time.Second):
		t.Fatalf("no init error reported\n%s", p.Output())
	}
	select {
	case <-p.Exited():
		require.Error(t, p.ExitErr())
	case <-time.After(10 * time.Second):
		t.Fatal("the function kept running")
	}
	out := p.Output()
	assert.Contains(t, out, "refusing to serve")
	return out
}

// Every sample event in events/ (the ones for sam local invoke -e) is
// served by its function: a token, an authority, a refresh summary, a
// removal, an accepted card event, a sign-in or the issuer's keys. (TestSampleEventsCoverEveryRoute
// checks that there is one for every route and command.)
func TestSampleEvents(t *testing.T) {
	t.Parallel()
	root, err := lambdatest.ModuleRoot()
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(root, "events", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		fn, _, _ := strings.Cut(name, "-")
		if name == "brand-card-events" {
			fn = "cardevents" // the same code, given the brand secret
		}
		secretID := "wxcard/partner"
		if fn == "pretoken" {
			secretID = "wxcard/brand"
		}
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			s := NewStack(t, wxpaytest.Options{})
			switch fn {
			case "authoritiesrefresh":
				f := StartFunction(t, fn, s.envFor(t, fn, secretID))
				var ev events.SQSEvent
				require.NoError(t, json.Unmarshal(raw, &ev))
				assert.Empty(t, consume(t, f)(ev).BatchItemFailures)
				return
			case "authoritiesschedule":
				f := StartFunction(t, fn, s.envFor(t, fn, secretID))
				res := f.Invoke(t, json.RawMessage(raw))
				var cmd map[string]any
				require.NoError(t, json.Unmarshal(raw, &cmd))
				if ids, ok := cmd["remove_brand_ids"].([]any); ok {
					// Read as a removal: each brand named is removed or,
					// without a snapshot in this fresh stack, answered as not
					// covered; neither is a function error.
					require.False(t, res.IsError, string(res.Payload))
					for _, id := range ids {
						assert.Regexp(t, fmt.Sprintf(`"(removed|not_covered)":\[[^]]*"%s"`, id), string(res.Payload))
					}
					return
				}
				require.False(t, res.IsError, string(res.Payload))
				assert.Contains(t, string(res.Payload), `"enqueued":3`)
				return
			case "session":
				// The sample's code is no code the login stand-in issued:
				// as it is, WeChat refuses it; with a fresh code, a token.
				ss := newSignInStack(t)
				id := ss.secret(t, "wxcard/miniprogram", `{"appid":"`+miniAppID+`","app_secret":"`+miniAppSecret+`"}`)
				f := StartFunction(t, fn, ss.Env(id))
				var ev events.APIGatewayV2HTTPRequest
				require.NoError(t, json.Unmarshal(raw, &ev))
				resp := f.HTTP(t, ev)
				assert.Equal(t, 401, resp.StatusCode, resp.Body)
				assert.Contains(t, resp.Body, "INVALID_CODE")
				ev.Body = `{"code":"` + ss.Login.IssueCode(miniAppID, openid) + `"}`
				resp = f.HTTP(t, ev)
				assert.Equal(t, 200, resp.StatusCode, resp.Body)
				assert.Contains(t, resp.Body, `"token_type":"Bearer"`)
				return
			case "sessionkeys":
				ss := newSignInStack(t)
				f := StartFunction(t, fn, ss.Env(""))
				resp := f.HTTP(t, func() events.APIGatewayV2HTTPRequest {
					var ev events.APIGatewayV2HTTPRequest
					require.NoError(t, json.Unmarshal(raw, &ev))
					return ev
				}())
				assert.Equal(t, 200, resp.StatusCode, resp.Body)
				assert.Equal(t, "public, max-age=300", resp.Headers["Cache-Control"])
				if strings.HasSuffix(name, "jwks") {
					assert.Len(t, jwks(t, resp.Body), 1)
				} else {
					assert.Contains(t, resp.Body, `"issuer":"`+signInIssuer+`"`)
				}
				return
			case "members":
				// The sample's card is none the stand-in holds: confirmed,
				// WeChat Pay answers it has no such card, and the member is
				// recorded failed and parked in the dead-letter queue; the
				// message is done, not retried.
				st := awstest.Stacks(t)[0]
				dlq := st.NewQueue(t, "wxcard-sample-members-dlq")
				f := StartFunction(t, fn, s.Env(secretID, append(stateEnv(st), "AWS_ENDPOINT_URL_SQS="+st.Endpoint, "MEMBER_DEAD_LETTER_QUEUE_URL="+dlq)...))
				var ev events.SQSEvent
				require.NoError(t, json.Unmarshal(raw, &ev))
				assert.Empty(t, consume(t, f)(ev).BatchItemFailures)
				assert.Contains(t, f.Proc.Output(), `"outcome":"failed"`)
				assert.Equal(t, 1, st.QueueDepth(t, dlq), "parked")
				return
			case "memberapi":
				// The samples name a card and member the fresh stand-in and
				// table do not hold: as they are, WeChat Pay cannot decrypt
				// the code, the caller has no members, the member is not
				// found; with a card the stand-in issued and a member in the
				// table, they succeed.
				st := awstest.Stacks(t)[0]
				queue := st.NewQueue(t, "wxcard-sample-members")
				f := StartFunction(t, fn, s.Env(secretID, append(stateEnv(st), "AWS_ENDPOINT_URL_SQS="+st.Endpoint, "MEMBER_QUEUE_URL="+queue,
					"TOKEN_ROUTES_AUTHORIZATION=JWT")...))
				var ev events.APIGatewayV2HTTPRequest
				require.NoError(t, json.Unmarshal(raw, &ev))
				resp := f.HTTP(t, ev)
				tbl, err := statetable.FromEnv(awstest.Getenv(st.Env(nil)))
				require.NoError(t, err)
				switch ev.RouteKey {
				case "POST /members/activate":
					assert.Equal(t, 400, resp.StatusCode, resp.Body)
					assert.Contains(t, resp.Body, "INVALID_REQUEST")
					var body map[string]string
					require.NoError(t, json.Unmarshal([]byte(ev.Body), &body))
					card, err := s.WxPay.IssueOpenCard(membercardtest.OpenCardIssue{CardID: body["card_id"], OpenID: ev.RequestContext.Authorizer.JWT.Claims["openid"]})
					require.NoError(t, err)
					body["encrypt_code"], body["activate_ticket"] = card.EncryptCode, card.ActivateTicket
					b, err := json.Marshal(body)
					require.NoError(t, err)
					ev.Body = string(b)
					resp = f.HTTP(t, ev)
					assert.Equal(t, 200, resp.StatusCode, resp.Body)
					assert.Contains(t, resp.Body, `"state":"EFFECTIVE"`)
				case "GET /members/me":
					assert.Equal(t, 200, resp.StatusCode, resp.Body)
					assert.JSONEq(t, `{"members":[]}`, resp.Body)
				default:
					assert.Equal(t, 404, resp.StatusCode, resp.Body)
					assert.Contains(t, resp.Body, "MEMBER_NOT_FOUND")
					require.NoError(t, membertable.Table{Table: tbl}.Put(context.Background(), member.Item{CardID: ev.PathParameters["card_id"],
						UserCardCode: ev.PathParameters["code"], OpenID: openid, Source: member.SourceOpen, State: member.Effective, Version: 1}, 0))
					resp = f.HTTP(t, ev)
					assert.Equal(t, 202, resp.StatusCode, resp.Body)
					assert.Equal(t, 1, st.QueueDepth(t, queue), "its sync queued")
				}
				return
			case "cardevents":
				// The sample is encrypted with notifyAPIv3Key (the brand's as
				// its brand API key) and signed by a key nobody holds, long
				// ago: as it is, it is refused; signed afresh by the
				// stand-in's WeChat Pay key, it is accepted.
				secretID := "wxcard/notify"
				if name == "brand-card-events" {
					brandNotifySecret(t, s, notifyAPIv3Key)
					secretID = "wxcard/brand-notify"
				} else {
					notifySecret(t, s)
				}
				f := StartFunction(t, fn, s.Env(secretID, stateEnv(awstest.Stacks(t)[0])...))
				var ev events.APIGatewayV2HTTPRequest
				require.NoError(t, json.Unmarshal(raw, &ev))
				assert.Equal(t, 401, f.HTTP(t, ev).StatusCode, "the sample's own signature is stale and from an unknown key")
				ts := strconv.FormatInt(time.Now().Unix(), 10)
				nonce, err := wxsign.NewNonce()
				require.NoError(t, err)
				sig, err := wxsign.Sign(s.WxPay.Key, wxsign.ResponseMessage(ts, nonce, []byte(ev.Body)))
				require.NoError(t, err)
				ev.Headers["wechatpay-timestamp"], ev.Headers["wechatpay-nonce"] = ts, nonce
				ev.Headers["wechatpay-signature"], ev.Headers["wechatpay-serial"] = sig, s.WxPay.PublicKeyID
				resp := f.HTTP(t, ev)
				assert.Equal(t, 200, resp.StatusCode, resp.Body)
				assert.JSONEq(t, `{"code":"SUCCESS"}`, resp.Body)
				return
			}
			f := StartFunction(t, fn, s.envFor(t, fn, secretID))
			res := f.Invoke(t, json.RawMessage(raw))
			require.False(t, res.IsError, string(res.Payload))
			var resp events.APIGatewayV2HTTPResponse
			require.NoError(t, json.Unmarshal(res.Payload, &resp))
			assert.Equal(t, 200, resp.StatusCode, resp.Body)
		})
	}
}

// The security rules, through the compiled binaries: the JWT's openid
// binds the body's, allow-lists refuse before any upstream call, answers
// are not cacheable, and logs hold a hash of the openid, not the openid.
func TestSecurityRulesThroughTheBinary(t *testing.T) {
	t.Parallel()
	s := NewStack(t, wxpaytest.Options{})
	f := StartFunction(t, "partnertoken", s.Env("wxcard/partner", "ALLOWED_CARD_IDS="+cardID, "ALLOWED_BRAND_IDS=1004,1005", "OPENID_CLAIM=wx_openid", "TOKEN_ROUTES_AUTHORIZATION=JWT"))
	withClaim := func(ev events.APIGatewayV2HTTPRequest, openid string) events.APIGatewayV2HTTPRequest {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"sub": "u1", "wx_openid": openid}},
		}
		return ev
	}
	route := membercard.PartnerPreAuthTokensPath
	body := func(brand, card, openid string) string {
		if openid == "" {
			return `{"brand_id":"` + brand + `","card_id":"` + card + `"}`
		}
		return `{"brand_id":"` + brand + `","card_id":"` + card + `","openid":"` + openid + `"}`
	}
	cases := []struct {
		name   string
		ev     events.APIGatewayV2HTTPRequest
		status int
		sent   string
	}{
		{"openid differs from the JWT", withClaim(httpEvent("POST", route, route, body("1004", cardID, "someone-else"), nil), openid), 403, ""},
		{"openid taken from the JWT", withClaim(httpEvent("POST", route, route, body("1004", cardID, ""), nil), openid), 200, openid},
		{"openid equals the JWT", withClaim(httpEvent("POST", route, route, body("1004", cardID, openid), nil), openid), 200, openid},
		{"card outside the allow-list", withClaim(httpEvent("POST", route, route, body("1004", "othercard", openid), nil), openid), 403, ""},
		{"brand outside the allow-list", withClaim(httpEvent("POST", route, route, body("2001", cardID, openid), nil), openid), 403, ""},
		{"duplicate key", withClaim(httpEvent("POST", route, route, `{"brand_id":"1004","brand_id":"1005","card_id":"`+cardID+`","openid":"o"}`, nil), "o"), 400, ""},
		{"a second brand_id in other case", withClaim(httpEvent("POST", route, route, `{"brand_id":"1004","card_id":"`+cardID+`","Brand_Id":"1005"}`, nil), openid), 400, ""},
		{"no JWT claims at all", httpEvent("POST", route, route, body("1004", cardID, openid), nil), 403, ""},
		{"a token that names no openid", withClaim(httpEvent("POST", route, route, body("1004", cardID, openid), nil), ""), 403, ""},
		{"the older route, a token that names no openid", withClaim(httpEvent("POST", membercard.PartnerOpenUserCardTokensPath, membercard.PartnerOpenUserCardTokensPath, body("1004", cardID, openid), nil), ""), 403, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.WxPay.ResetRequests()
			resp := f.HTTP(t, tc.ev)
			assert.Equal(t, tc.status, resp.StatusCode, resp.Body)
			assert.Equal(t, "no-store", resp.Headers["Cache-Control"])
			if tc.sent == "" {
				assert.Empty(t, s.WxPay.Requests(), "refused before WeChat Pay")
				return
			}
			rec, err := s.WxPay.LastRequest()
			require.NoError(t, err)
			assert.Contains(t, string(rec.Body), `"openid":"`+tc.sent+`"`)
		})
	}
	lines := f.Proc.WaitLines(`"openid_hash"`, 2, 5*time.Second)
	assert.NotEmpty(t, lines)
	assert.NotContains(t, f.Proc.Output(), openid)
	assert.NotContains(t, f.Proc.Output(), "someone-else")
}

// The compiled pretoken under TOKEN_ROUTES_AUTHORIZATION=JWT fails closed,
// and under NONE lets the body's openid stand.
func TestPreTokenAuthorizationThroughTheBinary(t *testing.T) {
	t.Parallel()
	s := NewStack(t, wxpaytest.Options{})
	route := membercard.BrandPreAuthTokensPath
	withClaims := func(body string, claims map[string]string) events.APIGatewayV2HTTPRequest {
		ev := httpEvent("POST", route, route, body, nil)
		if claims != nil {
			ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
			}
		}
		return ev
	}
	withOpenID := `{"card_id":"` + cardID + `","openid":"` + openid + `"}`
	withoutOpenID := `{"card_id":"` + cardID + `"}`
	for _, tc := range []struct {
		name, mode, body string
		claims           map[string]string
		status           int
	}{
		{"JWT, no claims", "JWT", withOpenID, nil, 403},
		{"JWT, token without openid", "JWT", withOpenID, map[string]string{"sub": "u1"}, 403},
		{"JWT, token without openid, body without openid", "JWT", withoutOpenID, map[string]string{"sub": "u1"}, 403},
		{"JWT, another user's openid", "JWT", withOpenID, map[string]string{"openid": "obLatSomeoneElse"}, 403},
		{"JWT, openid from the token", "JWT", withoutOpenID, map[string]string{"openid": openid}, 200},
		{"NONE, the body stands", "NONE", withOpenID, nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := StartFunction(t, "pretoken", s.Env("wxcard/brand", "TOKEN_ROUTES_AUTHORIZATION="+tc.mode))
			s.WxPay.ResetRequests()
			resp := f.HTTP(t, withClaims(tc.body, tc.claims))
			assert.Equal(t, tc.status, resp.StatusCode, resp.Body)
			if tc.status != 200 {
				assert.Contains(t, resp.Body, `"FORBIDDEN"`)
				assert.Empty(t, s.WxPay.Requests(), "refused before WeChat Pay")
				return
			}
			rec, err := s.WxPay.LastRequest()
			require.NoError(t, err)
			assert.Contains(t, string(rec.Body), `"openid":"`+openid+`"`)
		})
	}
}
