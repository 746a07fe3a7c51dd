package wxpaytest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// A stand-in for any WeChat Pay API: register a route, and its handler gets
// only requests whose signature, identity, clock and nonce check out.
func ExampleServer_Handle() {
	srv := wxpaytest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.Handle(wxpaytest.Route{
		Method: http.MethodGet, Pattern: "/v3/refund/domestic/refunds/{out_refund_no}", Scheme: wxsign.Merchant,
		Handler: func(c *wxpaytest.Call) wxpaytest.Reply {
			if c.PathValue("out_refund_no") != "R1" {
				return wxpaytest.Error(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "退款单不存在")
			}
			return wxpaytest.OK(map[string]string{"out_refund_no": "R1", "status": "SUCCESS", "mchid": c.Caller.ID})
		},
	})
	mch := srv.AddMerchant("1900000001")

	c, _ := wxpay.New(wxpay.Config{BaseURL: srv.URL, BackupURL: "-", Signer: mch.Signer(), Verifier: srv.Verifier(), HTTPClient: srv.Client()})
	for _, id := range []string{"R1", "R2"} {
		resp, err := c.Do(context.Background(), wxpay.Request{Method: http.MethodGet, Path: "/v3/refund/domestic/refunds/" + id, Route: "/v3/refund/domestic/refunds/{out_refund_no}"})
		var apiErr *wxpay.APIError
		if errors.As(err, &apiErr) {
			fmt.Println(apiErr.Status, apiErr.Code, apiErr.RequestID != "")
			continue
		}
		if err != nil {
			panic(err)
		}
		fmt.Println(string(resp.Body))
	}
	rec, _ := srv.LastRequest()
	fmt.Println(rec.Method, rec.URI, rec.Status, rec.Code)
	// Output:
	// {"mchid":"1900000001","out_refund_no":"R1","status":"SUCCESS"}
	// 404 RESOURCE_NOT_EXISTS true
	// GET /v3/refund/domestic/refunds/R2 404 RESOURCE_NOT_EXISTS
}
