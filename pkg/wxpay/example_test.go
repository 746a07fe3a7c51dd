package wxpay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// A client of the real WeChat Pay: the merchant's private key
// (apiclient_key.pem) signs, WeChat Pay's public key (pub_key.pem, under
// its ID PUB_KEY_ID_…) verifies. BaseURL, BackupURL and HTTPClient are
// left unset: WeChat Pay's host, its backup host, and a client of the
// system's roots. Share one HTTPClient per process (NewHTTPClient).
func ExampleNew() {
	// In production, read from the merchant's secret store.
	merchantKeyPEM := wxpaytest.PrivateKeyPEM(wxpaytest.PooledKey(1))
	wechatpayPublicKeyPEM := wxpaytest.PublicKeyPEM(&wxpaytest.PooledKey(0).PublicKey)

	key, err := wxsign.ParsePrivateKey(merchantKeyPEM)
	if err != nil {
		panic(err)
	}
	pub, err := wxsign.ParsePublicKey(wechatpayPublicKeyPEM)
	if err != nil {
		panic(err)
	}
	const publicKeyID = "PUB_KEY_ID_0114232134912410000000000000"
	c, err := wxpay.New(wxpay.Config{
		Signer: wxsign.Identity{
			Scheme: wxsign.Merchant, ID: "1900000001",
			SerialNo: "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", // the merchant certificate's serial
			Key:      key,
		}.Signer(),
		Verifier:    &wxsign.Verifier{Keys: wxsign.KeySet{publicKeyID: pub}},
		PublicKeyID: publicKeyID,
		Product:     "shop/1.4.2",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.Fields(c.UserAgent())[:2])

	// Only https:// hosts.
	_, err = wxpay.New(wxpay.Config{BaseURL: "http://api.mch.weixin.qq.com", Signer: wxsign.Identity{}.Signer(), Verifier: &wxsign.Verifier{}})
	fmt.Println(err)
	// Output:
	// [shop/1.4.2 wxcard-wxpay/0.1.0]
	// wxpay: host "http://api.mch.weixin.qq.com" is not https://
}

// A service provider asks for a brand's product authorities, here from
// the membercardtest stand-in (see New for the real WeChat Pay).
func ExampleClient_Do() {
	srv := membercardtest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.SetAuthorities(membercard.ProductAuthorities{BrandID: "1004", AuthorizationType: "AUTHORIZATION_TYPE_HOSTING", UpdateTime: "2025-05-20T13:29:35+08:00"})
	mch := srv.AddMerchant("1900000001")

	c, err := wxpay.New(srv.Config(mch))
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Do(ctx, wxpay.Request{Method: http.MethodGet, Path: membercard.ProductAuthoritiesPath("1004"), Route: membercard.ProductAuthoritiesRoute})
	if err != nil {
		panic(err)
	}
	var a membercard.ProductAuthorities
	if err := json.Unmarshal(resp.Body, &a); err != nil {
		panic(err)
	}
	fmt.Println(resp.Status, a.AuthorizationType, resp.Attempts, resp.FailedOver)

	// A brand the provider has no authorisation from: WeChat Pay's error.
	_, err = c.Do(ctx, wxpay.Request{Method: http.MethodGet, Path: membercard.ProductAuthoritiesPath("4001"), Route: membercard.ProductAuthoritiesRoute})
	var apiErr *wxpay.APIError
	fmt.Println(errors.As(err, &apiErr), apiErr.Status, apiErr.Code, apiErr.Retryable())
	// Output:
	// 200 AUTHORIZATION_TYPE_HOSTING 1 false
	// true 400 PARAM_ERROR false
}

// The User-Agent names this library; a caller puts its product in front.
func ExampleConfig_product() {
	srv := wxpaytest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	c, err := wxpay.New(wxpay.Config{Signer: srv.AddMerchant("1900000001").Signer(), Verifier: srv.Verifier(), Product: "shop/1.4.2"})
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.Fields(c.UserAgent())[:2])
	// Output:
	// [shop/1.4.2 wxcard-wxpay/0.1.0]
}

// A call fails over to a backup host once when its host cannot be
// reached. The backup is WeChat Pay's own only for a client of WeChat
// Pay's own host: a client of anything else, such as a stand-in, has
// the backup it names, or none.
func ExampleConfig_backupURL() {
	srv := wxpaytest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.Handle(wxpaytest.Route{Method: http.MethodGet, Pattern: "/v3/x", Scheme: wxsign.Merchant,
		Handler: func(*wxpaytest.Call) wxpaytest.Reply { return wxpaytest.OK(map[string]string{}) }})
	cfg := srv.Config(srv.AddMerchant("1900000001"))
	req := wxpay.Request{Method: http.MethodGet, Path: "/v3/x", Route: "/v3/x"}

	// The stand-in drops the connection: no backup, unreachable.
	c, _ := wxpay.New(cfg)
	srv.Inject(wxpaytest.Fault{Kind: wxpaytest.Drop})
	_, err := c.Do(context.Background(), req)
	var ce *wxpay.CallError
	fmt.Println(errors.Is(err, wxpay.ErrUnreachable), errors.As(err, &ce) && ce.FailedOver)

	// A backup named (here the stand-in again): the call moves to it.
	cfg.BackupURL = srv.URL
	c, _ = wxpay.New(cfg)
	srv.Inject(wxpaytest.Fault{Kind: wxpaytest.Drop})
	resp, err := c.Do(context.Background(), req)
	fmt.Println(err, resp.Attempts, resp.FailedOver)
	// Output:
	// true false
	// <nil> 2 true
}

// One http.Client per process, shared by every Client (a brand's and a
// service provider's here): one connection pool, every phase of an
// attempt bounded, idle connections dropped before WeChat Pay drops them.
func ExampleNewHTTPClient() {
	hc := wxpay.NewHTTPClient(nil) // the system's roots; SSL_CERT_FILE applies
	tr := hc.Transport.(*http.Transport)
	fmt.Println(hc.Timeout, tr.IdleConnTimeout, tr.TLSClientConfig.MinVersion == 0x0303)

	srv := wxpaytest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	for _, id := range []*wxsign.Identity{srv.AddBrand("1004"), srv.AddMerchant("1900000001")} {
		_, err := wxpay.New(wxpay.Config{Signer: id.Signer(), Verifier: srv.Verifier(), HTTPClient: hc})
		fmt.Println(id.Scheme, err)
	}
	// Output:
	// 8s 5s true
	// WECHATPAY-BRAND-SHA256-RSA2048 <nil>
	// WECHATPAY2-SHA256-RSA2048 <nil>
}

// WeChat Pay's Request-ID is what its support asks for: RequestID finds
// it in any error a call returns that got an answer.
func ExampleRequestID() {
	srv := wxpaytest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	cfg := srv.Config(srv.AddMerchant("1900000001"))
	cfg.MaxAttempts = 1
	c, _ := wxpay.New(cfg)

	srv.Inject(wxpaytest.Fault{Kind: wxpaytest.Status, Status: http.StatusServiceUnavailable})
	_, err := c.Do(context.Background(), wxpay.Request{Method: http.MethodGet, Path: "/v3/x", Route: "/v3/x"})
	rec, _ := srv.LastRequest()
	fmt.Println(wxpay.RequestID(err) != "", rec.Status, rec.Code)

	fmt.Printf("%q\n", wxpay.RequestID(errors.New("no answer")))
	// Output:
	// true 503 SYSTEM_ERROR
	// ""
}
