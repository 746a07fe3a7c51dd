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
)

// A service provider asks for a brand's product authorities. Against the
// real WeChat Pay, leave BaseURL and HTTPClient unset, and build Signer and
// Verifier from the merchant's key and WeChat Pay's public key.
func ExampleClient_Do() {
	srv := membercardtest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.SetAuthorities(membercard.ProductAuthorities{BrandID: "1004", AuthorizationType: "AUTHORIZATION_TYPE_HOSTING", UpdateTime: "2025-05-20T13:29:35+08:00"})
	mch := srv.AddMerchant("1900000001")

	c, err := wxpay.New(wxpay.Config{
		BaseURL: srv.URL, BackupURL: "-", HTTPClient: srv.Client(),
		Signer: mch.Signer(), Verifier: srv.Verifier(), PublicKeyID: srv.PublicKeyID,
	})
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
