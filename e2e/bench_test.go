package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/lambdatest"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

// benchSetup is function fn's environment on s and the event of one warm
// invocation: a token route's request, GET authorities, or (cardevents) a
// genuine card notification, verified and decrypted with the API v3 key of
// the secret it stores as "wxcard/notify".
func benchSetup(b *testing.B, s *Stack, fn string) ([]string, events.APIGatewayV2HTTPRequest) {
	b.Helper()
	switch fn {
	case "pretoken":
		return s.envFor(b, fn, "wxcard/brand"), httpEvent("POST", membercard.BrandPreAuthTokensPath, membercard.BrandPreAuthTokensPath, `{"card_id":"`+cardID+`","openid":"`+openid+`"}`, nil)
	case "partnertoken":
		return s.envFor(b, fn, "wxcard/partner"), httpEvent("POST", membercard.PartnerPreAuthTokensPath, membercard.PartnerPreAuthTokensPath, `{"brand_id":"1004","card_id":"`+cardID+`","openid":"`+openid+`"}`, nil)
	case "permissiontoken":
		return s.envFor(b, fn, "wxcard/partner"), httpEvent("POST", membercard.PermissionTokensRoute, membercard.PermissionTokensPath(cardID), `{"activate_type":"AUTO_ACTIVATE"}`, map[string]string{"card_id": cardID})
	case "cardevents":
		notifySecret(b, s)
		h, body, err := s.WxPay.Notifier(notifyAPIv3Key).Build(wxpaytest.Notification{ID: "EV-bench-1", EventType: "MEMBERCARDSP.USER_CARD.CREATE",
			Resource: map[string]any{"brand_id": "1004", "card_id": cardID, "openid": openid, "user_card_code": "751234212312"}}, wxpaytest.Genuine)
		if err != nil {
			b.Fatal(err)
		}
		return s.Env("wxcard/notify", stateEnv(awstest.Stacks(b)[0])...), notificationEvent(h, body)
	case "session":
		// The secret from the same Secrets Manager stand-in as the token
		// functions', and the public key from a KMS endpoint of the same
		// kind (cannedKMS), read while the secret is: the cold start is
		// compared with pretoken's on equal terms.
		ss := newSignInStack(b)
		s.Secrets.Set("wxcard/miniprogram", `{"appid":"`+miniAppID+`","app_secret":"`+miniAppSecret+`"}`)
		ev := sampleEvent(b, "session")
		ev.Body = `{"code":"` + ss.Login.IssueCode(miniAppID, openid) + `"}`
		return ss.Env("wxcard/miniprogram", "AWS_ENDPOINT_URL_SECRETS_MANAGER="+s.Secrets.URL, "AWS_ENDPOINT_URL_KMS="+cannedKMS(b, 0)), ev
	case "sessionkeys":
		ss := newSignInStack(b)
		return ss.Env("", "AWS_ENDPOINT_URL_KMS="+cannedKMS(b, 0)), sampleEvent(b, "sessionkeys-jwks")
	case "members":
		// Both secrets, the state table, the bus (checked at cold start) and
		// the queues; it serves no HTTP request (see BenchmarkMemberJoins).
		st := awstest.Stacks(b)[0]
		return s.Env("wxcard/partner", append(stateEnv(st), "WXPAY_BRAND_SECRET_ID=wxcard/brand", "AWS_ENDPOINT_URL_SQS="+st.Endpoint,
			"MEMBER_DEAD_LETTER_QUEUE_URL="+st.Endpoint+"/123456789012/wxcard-member-dlq")...), events.APIGatewayV2HTTPRequest{}
	case "memberapi":
		// The service provider's secret, the state table, the bus (checked at
		// cold start) and the member queue; a warm invocation is a user's
		// GET /members/me, a Query of the openid-pk index.
		st := awstest.Stacks(b)[0]
		ev := httpEvent("GET", "/members/me", "/members/me", "", nil)
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"openid": openid}}}
		return s.Env("wxcard/partner", append(stateEnv(st), "AWS_ENDPOINT_URL_SQS="+st.Endpoint, "TOKEN_ROUTES_AUTHORIZATION=JWT",
			"MEMBER_QUEUE_URL="+st.Endpoint+"/123456789012/wxcard-members")...), ev
	default:
		return s.envFor(b, fn, "wxcard/partner"), httpEvent("GET", membercard.ProductAuthoritiesRoute, membercard.ProductAuthoritiesPath(brandID), "", map[string]string{"brand_id": brandID})
	}
}

// cannedKMS is a KMS endpoint on loopback that answers GetPublicKey, and
// nothing else, with one recorded answer: a real RSA-2048 SIGN_VERIFY
// key's public half in KMS's JSON 1.1 protocol. It costs a cold start what
// the secretstest Secrets Manager does, where moto_server's KMS (Python)
// takes 6–9 ms a call. Each answer waits delay first, as
// secretstest.Server.SetDelay does. Only cold starts use it: it cannot sign.
func cannedKMS(b *testing.B, delay time.Duration) string {
	b.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if delay > 0 {
			time.Sleep(delay) // simulated latency, not synchronisation
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		var in struct {
			KeyID string `json:"KeyId"`
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if r.Header.Get("X-Amz-Target") != "TrentService.GetPublicKey" || json.Unmarshal(body, &in) != nil || in.KeyID == "" ||
			!strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"ValidationException","message":"the canned KMS answers a signed GetPublicKey only"}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"KeyId": "arn:aws:kms:us-east-1:123456789012:key/" + in.KeyID, "PublicKey": der,
			"KeySpec": "RSA_2048", "CustomerMasterKeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY",
			"SigningAlgorithms": []string{"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PSS_SHA_256"},
		})
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

// BenchmarkColdStart measures each compiled bootstrap from process start
// to its first poll of the Runtime API: environment, AWS configuration,
// the secret from Secrets Manager on loopback (and for session and
// sessionkeys KMS's GetPublicKey from cannedKMS), key parsing, client
// set-up.
// It reports the median and the stripped binary's size.
func BenchmarkColdStart(b *testing.B) {
	for _, fn := range lambdatest.Functions {
		b.Run(fn, func(b *testing.B) {
			s := NewStack(b, wxpaytest.Options{})
			env, _ := benchSetup(b, s, fn)
			var samples []time.Duration
			for b.Loop() {
				samples = append(samples, toFirstPoll(b, fn, env))
			}
			b.ReportMetric(float64(median(samples).Microseconds())/1000, "ms-median-to-first-poll")
			if st, err := os.Stat(binaries[fn]); err == nil {
				b.ReportMetric(float64(st.Size())/1e6, "MB-binary")
			}
		})
	}
}

// toFirstPoll starts function fn's bootstrap with env and measures process
// start to its first poll of the Runtime API.
func toFirstPoll(b *testing.B, fn string, env []string) time.Duration {
	b.Helper()
	return binaryToFirstPoll(b, fn, binaries[fn], env)
}

// binaryToFirstPoll is toFirstPoll for the bootstrap at path.
func binaryToFirstPoll(b *testing.B, fn, path string, env []string) time.Duration {
	b.Helper()
	rt, err := lambdatest.NewRuntime()
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	start := time.Now()
	p, err := lambdatest.Start(path, rt, env...)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Stop()
	select {
	case <-rt.FirstPoll():
	case <-p.Exited():
		b.Fatalf("%s exited: %s", fn, p.Output())
	case <-time.After(20 * time.Second):
		b.Fatalf("%s: no first poll", fn)
	}
	return rt.FirstPollTime().Sub(start)
}

// BenchmarkColdStartSignIn compares the sign-in functions' cold starts
// with pretoken's, started in rotating order within each iteration so that
// the machine's drift hits all three alike. Every AWS call is answered by
// an endpoint of the same kind: the secrets by secretstest, GetPublicKey by
// cannedKMS, either at once (loopback) or after 20 ms each (20ms), where a
// session that read the secret and the key one after the other would
// start 20 ms later than pretoken. It reports each median in ms and
// session's and sessionkeys' medians over pretoken's.
func BenchmarkColdStartSignIn(b *testing.B) {
	fns := []string{"pretoken", "session", "sessionkeys"}
	for _, delay := range []time.Duration{0, 20 * time.Millisecond} {
		name := "loopback"
		if delay > 0 {
			name = delay.String()
		}
		b.Run(name, func(b *testing.B) {
			s := NewStack(b, wxpaytest.Options{})
			s.Secrets.SetDelay(delay)
			kmsURL := cannedKMS(b, delay)
			envs := map[string][]string{}
			for _, fn := range fns {
				env, _ := benchSetup(b, s, fn)
				envs[fn] = append(env, "AWS_ENDPOINT_URL_KMS="+kmsURL) // the last of a name wins
			}
			samples := map[string][]time.Duration{}
			i := 0
			for b.Loop() {
				for j := range fns {
					fn := fns[(i+j)%len(fns)]
					samples[fn] = append(samples[fn], toFirstPoll(b, fn, envs[fn]))
				}
				i++
			}
			for _, fn := range fns {
				b.ReportMetric(float64(median(samples[fn]).Microseconds())/1000, "ms-"+fn)
			}
			base := float64(median(samples["pretoken"]))
			b.ReportMetric(float64(median(samples["session"]))/base, "ratio-session/pretoken")
			b.ReportMetric(float64(median(samples["sessionkeys"]))/base, "ratio-sessionkeys/pretoken")
		})
	}
}

// BenchmarkWarmInvocation is one warm invocation through the compiled
// binary and the Runtime API. Run with -benchtime 1000x: it reports the
// process's peak RSS after that many invocations, and how much its RSS grew
// after the first 100 (it should not grow with the number of calls).
func BenchmarkWarmInvocation(b *testing.B) {
	for _, fn := range lambdatest.Functions {
		b.Run(fn, func(b *testing.B) {
			if fn == "authoritiesschedule" || fn == "authoritiesrefresh" {
				b.Skip("the refresh's functions serve no request: see TestRefreshThroughTheQueue and internal/refresh's tests")
			}
			if fn == "members" {
				b.Skip("the member queue's consumer serves no request: see BenchmarkMemberJoins (internal/member) and TestMembersJoinThroughTheBinaries")
			}
			if fn == "session" {
				b.Skip("each sign-in spends its code: see BenchmarkSignInWarm")
			}
			s := NewStack(b, wxpaytest.Options{})
			// For authorities this includes recording each answer in the
			// state table, here moto_server's; for
			// cardevents, answering a repeated notification from it.
			env, ev := benchSetup(b, s, fn)
			f := StartFunction(b, fn, env)
			payload, _ := json.Marshal(ev)
			ctx := context.Background()
			i := 0
			var rssWarm float64
			for b.Loop() {
				res, err := f.Runtime.Invoke(ctx, payload, 10*time.Second)
				if err != nil || res.IsError {
					b.Fatalf("%v %s", err, res.Payload)
				}
				if i++; i == 100 {
					rssWarm = procStatusMB(b, f.Proc.Cmd.Process.Pid, "VmRSS")
				}
				s.WxPay.ResetRequests()
			}
			b.ReportMetric(procStatusMB(b, f.Proc.Cmd.Process.Pid, "VmHWM"), "MB-peak-rss")
			if i > 100 {
				b.ReportMetric(procStatusMB(b, f.Proc.Cmd.Process.Pid, "VmRSS")-rssWarm, "MB-rss-growth-after-100")
			}
		})
	}
}

// procStatusMB reads a kB field of /proc/PID/status, in MB.
func procStatusMB(b *testing.B, pid int, field string) float64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
