package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/kmssign"
	"github.com/wxcard/wxcard/internal/kmssign/kmssigntest"
	"github.com/wxcard/wxcard/internal/session"
	"github.com/wxcard/wxcard/pkg/wxlogin"
	"github.com/wxcard/wxcard/pkg/wxlogin/wxlogintest"
)

// BenchmarkSignInWarm is one warm POST /session in process: the body
// checked, the code exchanged with the login stand-in over a kept-alive
// TLS connection, the token signed through kmssign by the KMS stand-in
// with its Latency as the emulated round trip. It reports the CPU (user +
// system) the process spent per sign-in, the stand-in's share included,
// so an upper bound of the function's.
func BenchmarkSignInWarm(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	for _, lat := range []time.Duration{0, 10 * time.Millisecond} {
		b.Run(fmt.Sprintf("kms-%s", lat), func(b *testing.B) {
			ctx := context.Background()
			login := wxlogintest.NewServer(wxlogintest.Options{})
			b.Cleanup(login.Close)
			login.AddApp(miniAppID, miniAppSecret)
			client, err := wxlogin.New(login.Config(miniAppID, miniAppSecret))
			if err != nil {
				b.Fatal(err)
			}
			kms := kmssigntest.New()
			kms.Latency = lat
			kms.AddKey("k", key)
			signer, err := kmssign.New(ctx, kms, "k")
			if err != nil {
				b.Fatal(err)
			}
			tokens, err := session.NewTokens(signer, session.TokenConfig{Issuer: signInIssuer, Audience: signInAudience, TTL: session.DefaultTokenTTL})
			if err != nil {
				b.Fatal(err)
			}
			h := session.NewSignIn(client, tokens, nil, nil, nil)
			ev := sampleEvent(b, "session")
			call := func(ev events.APIGatewayV2HTTPRequest) {
				ev.Body = `{"code":"` + login.IssueCode(miniAppID, openid) + `"}`
				resp, err := h.Handle(ctx, ev)
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("%v %d %s", err, resp.StatusCode, resp.Body)
				}
			}
			call(ev) // the connection to WeChat, as a warm function has it
			var before, after syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
			n := 0
			for b.Loop() {
				call(ev)
				n++
			}
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
			cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(n), "ms-cpu/op")
		})
	}
}
