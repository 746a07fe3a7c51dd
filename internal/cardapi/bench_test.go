package cardapi_test

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// BenchmarkHandler is one warm invocation of each handler, event in,
// response out, with WeChat Pay a canned answer over loopback TLS.
func BenchmarkHandler(b *testing.B) {
	body := []byte(`{"token":"d2df23f2f4fasf3gwsd2df23f2f4fasf3g","permission_token":"EhhEF0Jt0uDLPK6Cr70KCrJmkTtfPPE222gUFsdP87CF4Rqz","expire_time":"2026-11-22T15:16:01+08:00"}`)
	canned := wxpaytest.NewCanned(wxpaytest.PooledKey(0), wxpaytest.DefaultPublicKeyID, body)
	defer canned.Close()
	hc := canned.Client()
	logger := slog.New(slog.DiscardHandler)
	client := func(scheme wxsign.Scheme) *wxpay.Client {
		c, err := wxpay.New(wxpay.Config{BaseURL: canned.URL, BackupURL: "-",
			Signer:      &wxsign.Signer{Identity: wxsign.Identity{Scheme: scheme, ID: "1004", SerialNo: "5E0B1F7A", Key: wxpaytest.PooledKey(1)}},
			Verifier:    &wxsign.Verifier{Keys: wxsign.KeySet{wxpaytest.DefaultPublicKeyID: &wxpaytest.PooledKey(0).PublicKey}},
			PublicKeyID: wxpaytest.DefaultPublicKeyID, HTTPClient: hc, Logger: logger})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	brand, partner := client(wxsign.Brand), client(wxsign.Merchant)
	policy := cardapi.Policy{OpenIDClaim: "openid"}
	perm := event("POST", membercard.PermissionTokensRoute, `{"activate_type":"AUTO_ACTIVATE","outer_str":"门店A"}`, nil)
	perm.PathParameters = map[string]string{"card_id": cardID}
	auth := event("GET", membercard.ProductAuthoritiesRoute, "", map[string]string{})
	auth.PathParameters = map[string]string{"brand_id": brandID}
	cases := []struct {
		name   string
		handle func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)
		ev     events.APIGatewayV2HTTPRequest
	}{
		{"pretoken", (&cardapi.PreToken{Upstream: brand, Policy: policy, Logger: logger}).Handle, event("POST", membercard.BrandPreAuthTokensPath, preBody, nil)},
		{"partnertoken", (&cardapi.PartnerToken{Upstream: partner, Policy: policy, Logger: logger}).Handle, event("POST", membercard.PartnerPreAuthTokensPath, partnerBody, nil)},
		{"permissiontoken", (&cardapi.PermissionTokenHandler{Upstream: partner, Policy: policy, Logger: logger}).Handle, perm},
		{"authorities", (&cardapi.Authorities{Upstream: partner, Policy: policy, Logger: logger}).Handle, auth},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				resp, err := tc.handle(ctx, tc.ev)
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("%v %d %s", err, resp.StatusCode, resp.Body)
				}
			}
		})
	}
}

// BenchmarkLiveHeapGrowth checks that nothing accumulates per call: the
// live heap after GC, measured after 1,000 warm invocations and again after
// 1,000 more, is reported as B-live-heap-growth-per-1k-calls (≈ 0).
func BenchmarkLiveHeapGrowth(b *testing.B) {
	canned := wxpaytest.NewCanned(wxpaytest.PooledKey(0), wxpaytest.DefaultPublicKeyID, []byte(`{"token":"d2df23f2f4fasf3gwsd2df23f2f4fasf3g","expire_time":"2026-11-22T15:16:01+08:00"}`))
	defer canned.Close()
	c, err := wxpay.New(wxpay.Config{BaseURL: canned.URL, BackupURL: "-",
		Signer:      &wxsign.Signer{Identity: wxsign.Identity{Scheme: wxsign.Brand, ID: "1004", SerialNo: "5E0B1F7A", Key: wxpaytest.PooledKey(1)}},
		Verifier:    &wxsign.Verifier{Keys: wxsign.KeySet{wxpaytest.DefaultPublicKeyID: &wxpaytest.PooledKey(0).PublicKey}},
		PublicKeyID: wxpaytest.DefaultPublicKeyID, HTTPClient: canned.Client(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	h := &cardapi.PreToken{Upstream: c, Policy: cardapi.Policy{OpenIDClaim: "openid"}, Logger: slog.New(slog.DiscardHandler)}
	ev := event("POST", membercard.BrandPreAuthTokensPath, preBody, nil)
	live := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	calls := func(n int) {
		for range n {
			if resp, err := h.Handle(context.Background(), ev); err != nil || resp.StatusCode != 200 {
				b.Fatal(err, resp.Body)
			}
		}
	}
	var growth float64
	for b.Loop() {
		calls(1000)
		before := live()
		calls(1000)
		growth = float64(int64(live()) - int64(before))
	}
	b.ReportMetric(growth, "B-live-heap-growth-per-1k-calls")
}

// BenchmarkMetricsOverhead makes, per iteration, one warm pretoken
// invocation without metrics and one with them (an EMF line written to a
// discarding writer, as to stdout in Lambda), in alternating order, so
// that drift hits both alike. It reports each one's mean and the ratio.
func BenchmarkMetricsOverhead(b *testing.B) {
	body := []byte(`{"token":"d2df23f2f4fasf3gwsd2df23f2f4fasf3g","expire_time":"2026-11-22T15:16:01+08:00"}`)
	canned := wxpaytest.NewCanned(wxpaytest.PooledKey(0), wxpaytest.DefaultPublicKeyID, body)
	defer canned.Close()
	logger := slog.New(slog.DiscardHandler)
	c, err := wxpay.New(wxpay.Config{BaseURL: canned.URL, BackupURL: "-",
		Signer:      &wxsign.Signer{Identity: wxsign.Identity{Scheme: wxsign.Brand, ID: "1004", SerialNo: "5E0B1F7A", Key: wxpaytest.PooledKey(1)}},
		Verifier:    &wxsign.Verifier{Keys: wxsign.KeySet{wxpaytest.DefaultPublicKeyID: &wxpaytest.PooledKey(0).PublicKey}},
		PublicKeyID: wxpaytest.DefaultPublicKeyID, HTTPClient: canned.Client(), Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	policy := cardapi.Policy{OpenIDClaim: "openid"}
	without := &cardapi.PreToken{Upstream: c, Policy: policy, Logger: logger}
	with := &cardapi.PreToken{Upstream: c, Policy: policy, Logger: logger, Metrics: &metrics.Emitter{Out: io.Discard, Function: "pretoken"}}
	ev := event("POST", membercard.BrandPreAuthTokensPath, preBody, nil)
	ctx := context.Background()
	var tWith, tWithout time.Duration
	run := func(h *cardapi.PreToken) time.Duration {
		start := time.Now()
		resp, err := h.Handle(ctx, ev)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("%v %d", err, resp.StatusCode)
		}
		return time.Since(start)
	}
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			tWithout += run(without)
			tWith += run(with)
		} else {
			tWith += run(with)
			tWithout += run(without)
		}
		i++
	}
	b.ReportMetric(float64(tWithout.Nanoseconds())/float64(i), "ns-without-metrics")
	b.ReportMetric(float64(tWith.Nanoseconds())/float64(i), "ns-with-metrics")
	b.ReportMetric(float64(tWith)/float64(tWithout), "ratio-with/without")
}
