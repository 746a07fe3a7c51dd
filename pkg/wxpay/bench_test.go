package wxpay_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"

	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// The call every benchmark here makes: the partner pre-auth token.
var (
	benchReq    = membercard.PartnerPreAuthTokenRequest{BrandID: brandID, CardID: cardID, OpenID: openid}
	benchAnswer = []byte(`{"token":"d2df23f2f4fasf3gwsd2df23f2f4fasf3g","expire_time":"2026-11-22T15:16:01+08:00"}`)
)

type benchEnv struct {
	canned *wxpaytest.Canned
	mch    *wxsign.Identity
	keyID  string
}

func newBenchEnv(b *testing.B) *benchEnv {
	wxp := wxpaytest.PooledKey(0)
	c := wxpaytest.NewCanned(wxp, wxpaytest.DefaultPublicKeyID, benchAnswer)
	b.Cleanup(c.Close)
	mch := &wxsign.Identity{Scheme: wxsign.Merchant, ID: mchid, SerialNo: "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", Key: wxpaytest.PooledKey(1)}
	return &benchEnv{canned: c, mch: mch, keyID: wxpaytest.DefaultPublicKeyID}
}

func (e *benchEnv) verifier() *wxsign.Verifier {
	return &wxsign.Verifier{Keys: wxsign.KeySet{e.keyID: &wxpaytest.PooledKey(0).PublicKey}}
}

// callers returns one call of each kind, sharing e's server: the bare round
// trip, the crypto floor, pkg/wxpay, wechatpay-go, and the seed sample.
type callers struct {
	roundTrip, floor, wxpay, sdk, seed, seedFresh func(b *testing.B)
}

func newCallers(b *testing.B, e *benchEnv) callers {
	ctx := context.Background()
	url := e.canned.URL + membercard.PartnerPreAuthTokensPath
	hc := e.canned.Client()

	client, err := wxpay.New(wxpay.Config{BaseURL: e.canned.URL, BackupURL: "-", Signer: e.mch.Signer(), Verifier: e.verifier(),
		PublicKeyID: e.keyID, HTTPClient: e.canned.Client(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	sdk, err := core.NewClient(ctx,
		option.WithWechatPayPublicKeyAuthCipher(e.mch.ID, e.mch.SerialNo, e.mch.Key.(*rsa.PrivateKey), e.keyID, &wxpaytest.PooledKey(0).PublicKey),
		option.WithHTTPClient(e.canned.Client()))
	if err != nil {
		b.Fatal(err)
	}
	// The seed's `client := &http.Client{}` shares http.DefaultTransport.
	dt := http.DefaultTransport.(*http.Transport)
	saved := dt.TLSClientConfig
	dt.TLSClientConfig = &tls.Config{RootCAs: e.canned.CertPool(), MinVersion: tls.VersionTLS12}
	b.Cleanup(func() { dt.CloseIdleConnections(); dt.TLSClientConfig = saved })

	floorMsg := wxsign.Message(http.MethodPost, membercard.PartnerPreAuthTokensPath, 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242", []byte(`{"brand_id":"1004"}`))
	ts := fmt.Sprint(time.Now().Unix())
	floorSig, _ := wxsign.Sign(wxpaytest.PooledKey(0), wxsign.ResponseMessage(ts, "n", benchAnswer))
	floorHeader := http.Header{}
	floorHeader.Set(wxsign.HeaderTimestamp, ts)
	floorHeader.Set(wxsign.HeaderNonce, "n")
	floorHeader.Set(wxsign.HeaderSignature, floorSig)
	floorHeader.Set(wxsign.HeaderSerial, e.keyID)
	v := e.verifier()
	signer := e.mch.Signer()

	return callers{
		roundTrip: func(b *testing.B) {
			body, _ := json.Marshal(benchReq)
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			req.Header.Set("Accept", "application/json")
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		},
		floor: func(b *testing.B) {
			if _, err := wxsign.Sign(e.mch.Key, floorMsg); err != nil {
				b.Fatal(err)
			}
			if err := v.Verify(floorHeader, benchAnswer); err != nil {
				b.Fatal(err)
			}
		},
		wxpay: func(b *testing.B) {
			body, _ := json.Marshal(benchReq)
			resp, err := client.Do(ctx, wxpay.Request{Method: http.MethodPost, Path: membercard.PartnerPreAuthTokensPath, Route: membercard.PartnerPreAuthTokensPath, Body: body})
			if err != nil {
				b.Fatal(err)
			}
			var tok membercard.PreAuthToken
			if err := json.Unmarshal(resp.Body, &tok); err != nil {
				b.Fatal(err)
			}
		},
		sdk: func(b *testing.B) {
			res, err := sdk.Post(ctx, url, benchReq)
			if err != nil {
				b.Fatal(err)
			}
			var tok membercard.PreAuthToken
			if err := core.UnMarshalResponse(res.Response, &tok); err != nil {
				b.Fatal(err)
			}
		},
		seed: func(b *testing.B) {
			seedSampleCall(b, url, e.keyID, signer, v, &http.Client{})
		},
		seedFresh: func(b *testing.B) {
			seedSampleCall(b, url, e.keyID, signer, v, &http.Client{Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: e.canned.CertPool(), MinVersion: tls.VersionTLS12}, DisableKeepAlives: true}})
		},
	}
}

// seedSampleCall makes the call the way the seed documents' Go sample
// does: marshal, build, sign, send on the given client, read, verify, decode.
func seedSampleCall(b *testing.B, url, keyID string, signer *wxsign.Signer, v *wxsign.Verifier, client *http.Client) {
	reqBody, err := json.Marshal(benchReq)
	if err != nil {
		b.Fatal(err)
	}
	httpRequest, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(reqBody))
	httpRequest.Header.Set("Accept", "application/json")
	httpRequest.Header.Set("Wechatpay-Serial", keyID)
	httpRequest.Header.Set("Content-Type", "application/json")
	auth, err := signer.Authorization(http.MethodPost, httpRequest.URL.RequestURI(), reqBody)
	if err != nil {
		b.Fatal(err)
	}
	httpRequest.Header.Set("Authorization", auth)
	httpResponse, err := client.Do(httpRequest)
	if err != nil {
		b.Fatal(err)
	}
	respBody, err := io.ReadAll(httpResponse.Body)
	httpResponse.Body.Close()
	if err != nil {
		b.Fatal(err)
	}
	if err := v.Verify(httpResponse.Header, respBody); err != nil {
		b.Fatal(err)
	}
	var tok membercard.PreAuthToken
	if err := json.Unmarshal(respBody, &tok); err != nil {
		b.Fatal(err)
	}
}

func loop(b *testing.B, call func(*testing.B)) {
	b.ReportAllocs()
	for b.Loop() {
		call(b)
	}
}

// BenchmarkRoundTrip is the loopback TLS round trip of the same request on
// a warm connection, with no signing and no verification.
func BenchmarkRoundTrip(b *testing.B) { loop(b, newCallers(b, newBenchEnv(b)).roundTrip) }

// BenchmarkCall is one full pkg/wxpay call (marshal, sign, send, read,
// verify, decode) on a warm connection.
func BenchmarkCall(b *testing.B) { loop(b, newCallers(b, newBenchEnv(b)).wxpay) }

// BenchmarkOfficialSDKCall is the same call made with wechatpay-go
// v0.2.20's client, on the same transport settings.
func BenchmarkOfficialSDKCall(b *testing.B) { loop(b, newCallers(b, newBenchEnv(b)).sdk) }

// BenchmarkSeedSampleCall: the seed's `client := &http.Client{}` per call.
// It shares http.DefaultTransport, so connections are still pooled here
// (with a 90 s idle timeout, past WeChat Pay's 8 s: a Lambda thaw then
// finds a dead connection, which a benchmark cannot show).
func BenchmarkSeedSampleCall(b *testing.B) { loop(b, newCallers(b, newBenchEnv(b)).seed) }

// BenchmarkSeedSampleCallFreshTransport: a new client with its own
// transport per call, as code that configures TLS per call ends up doing:
// a TCP and TLS handshake every call.
func BenchmarkSeedSampleCallFreshTransport(b *testing.B) {
	loop(b, newCallers(b, newBenchEnv(b)).seedFresh)
}

// BenchmarkInterleaved makes, in each iteration, one of each: floor, round
// trip, pkg/wxpay call, SDK call, seed call, in rotating order, and reports
// each one's mean and the target ratios. Pairing them in one run cancels
// the drift of a busy machine that separate benchmarks suffer from.
func BenchmarkInterleaved(b *testing.B) {
	c := newCallers(b, newBenchEnv(b))
	names := []string{"floor", "roundtrip", "wxpay", "sdk", "seed"}
	calls := []func(*testing.B){c.floor, c.roundTrip, c.wxpay, c.sdk, c.seed}
	total := make([]time.Duration, len(calls))
	n := 0
	for b.Loop() {
		for k := range calls {
			i := (n + k) % len(calls)
			start := time.Now()
			calls[i](b)
			total[i] += time.Since(start)
		}
		n++
	}
	for i, name := range names {
		b.ReportMetric(float64(total[i].Nanoseconds())/float64(n), "ns-"+name)
	}
	b.ReportMetric(float64(total[2])/float64(total[0]+total[1]), "ratio-wxpay/(floor+roundtrip)")
	b.ReportMetric(float64(total[2])/float64(total[3]), "ratio-wxpay/sdk")
	b.ReportMetric(float64(total[4])/float64(total[2]), "ratio-seed/wxpay")
}

// BenchmarkCallStandIn is the same call against the full wxpaytest
// stand-in, which verifies each request and signs each answer itself.
func BenchmarkCallStandIn(b *testing.B) {
	srv := membercardtest.NewServer(wxpaytest.Options{})
	b.Cleanup(srv.Close)
	srv.AddCard(cardID)
	srv.SetAuthorities(membercard.ProductAuthorities{BrandID: brandID, AuthorizationType: "AUTHORIZATION_TYPE_HOSTING", UpdateTime: "2025-05-20T13:29:35+08:00"})
	mch := srv.AddMerchant(mchid)
	cfg := srv.Config(mch)
	cfg.Logger = slog.New(slog.DiscardHandler)
	c, err := wxpay.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		body, _ := json.Marshal(benchReq)
		if _, err := c.Do(ctx, wxpay.Request{Method: http.MethodPost, Path: membercard.PartnerPreAuthTokensPath, Route: membercard.PartnerPreAuthTokensPath, Body: body}); err != nil {
			b.Fatal(err)
		}
		srv.ResetRequests()
	}
}
