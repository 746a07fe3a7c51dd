package e2e

import (
	"context"
	"encoding/json"
	"os"
	"sort"
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
		// functions'; the public key from moto_server's KMS, read while
		// the secret is.
		ss := newSignInStack(b)
		s.Secrets.Set("wxcard/miniprogram", `{"appid":"`+miniAppID+`","app_secret":"`+miniAppSecret+`"}`)
		ev := sampleEvent(b, "session")
		ev.Body = `{"code":"` + ss.Login.IssueCode(miniAppID, openid) + `"}`
		return ss.Env("wxcard/miniprogram", "AWS_ENDPOINT_URL_SECRETS_MANAGER="+s.Secrets.URL), ev
	case "sessionkeys":
		ss := newSignInStack(b)
		return ss.Env(""), sampleEvent(b, "sessionkeys-jwks")
	default:
		return s.envFor(b, fn, "wxcard/partner"), httpEvent("GET", membercard.ProductAuthoritiesRoute, membercard.ProductAuthoritiesPath(brandID), "", map[string]string{"brand_id": brandID})
	}
}

// BenchmarkColdStart measures each compiled bootstrap from process start
// to its first poll of the Runtime API: environment, AWS configuration,
// the secret from Secrets Manager on loopback, key parsing, client set-up.
// It reports the median and the stripped binary's size.
func BenchmarkColdStart(b *testing.B) {
	for _, fn := range lambdatest.Functions {
		b.Run(fn, func(b *testing.B) {
			s := NewStack(b, wxpaytest.Options{})
			env, _ := benchSetup(b, s, fn)
			var samples []time.Duration
			for b.Loop() {
				rt, err := lambdatest.NewRuntime()
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				p, err := lambdatest.Start(binaries[fn], rt, env...)
				if err != nil {
					b.Fatal(err)
				}
				select {
				case <-rt.FirstPoll():
				case <-p.Exited():
					b.Fatalf("exited: %s", p.Output())
				case <-time.After(20 * time.Second):
					b.Fatal("no first poll")
				}
				samples = append(samples, rt.FirstPollTime().Sub(start))
				p.Stop()
				rt.Close()
			}
			sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
			b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "ms-median-to-first-poll")
			if st, err := os.Stat(binaries[fn]); err == nil {
				b.ReportMetric(float64(st.Size())/1e6, "MB-binary")
			}
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
