package wxpaytest_test

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// A stand-in knows the identities added to it and no API: a route it was
// not given is WeChat Pay's 404, after the signature checked out.
func ExampleNewServer() {
	srv := wxpaytest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	mch := srv.AddMerchant("1900000001")

	c, err := wxpay.New(srv.Config(mch))
	if err != nil {
		panic(err)
	}
	_, err = c.Do(context.Background(), wxpay.Request{Method: http.MethodGet, Path: "/v3/certificates", Route: "/v3/certificates"})
	var apiErr *wxpay.APIError
	fmt.Println(errors.As(err, &apiErr), apiErr.Status, apiErr.Code)
	rec, _ := srv.LastRequest()
	fmt.Println(rec.Method, rec.URI, rec.Header.Get("Wechatpay-Serial") == srv.PublicKeyID)
	// Output:
	// true 404 NOT_FOUND
	// GET /v3/certificates true
}

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

	c, _ := wxpay.New(srv.Config(mch))
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

// Config is a ready client configuration for an identity of the stand-in:
// its URL with no backup host, the identity's signer, the stand-in's
// verifier and public key ID, and a client that trusts it. A connection
// the stand-in drops ends the call: it never fails over to the real
// WeChat Pay.
func ExampleServer_Config() {
	srv := wxpaytest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.Handle(wxpaytest.Route{Method: http.MethodGet, Pattern: "/v3/brand/x", Scheme: wxsign.Brand,
		Handler: func(c *wxpaytest.Call) wxpaytest.Reply {
			return wxpaytest.OK(map[string]string{"brand_id": c.Caller.ID})
		}})

	cfg := srv.Config(srv.AddBrand("1004"))
	fmt.Println(cfg.BaseURL == srv.URL, cfg.BackupURL, cfg.PublicKeyID == srv.PublicKeyID)
	cfg.MaxAttempts = 1 // any other field is the caller's
	c, err := wxpay.New(cfg)
	if err != nil {
		panic(err)
	}
	req := wxpay.Request{Method: http.MethodGet, Path: "/v3/brand/x", Route: "/v3/brand/x"}

	srv.Inject(wxpaytest.Fault{Kind: wxpaytest.Drop})
	_, err = c.Do(context.Background(), req)
	var ce *wxpay.CallError
	fmt.Println(errors.Is(err, wxpay.ErrUnreachable), errors.As(err, &ce) && ce.FailedOver)

	resp, err := c.Do(context.Background(), req)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(resp.Body))
	// Output:
	// true - true
	// true false
	// {"brand_id":"1004"}
}

// Faults are spent one per request, in order: here a 429 the client
// retries, then an answer whose signature does not verify, which is
// never returned.
func ExampleServer_Inject() {
	srv := wxpaytest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.Handle(wxpaytest.Route{Method: http.MethodGet, Pattern: "/v3/x", Scheme: wxsign.Merchant,
		Handler: func(*wxpaytest.Call) wxpaytest.Reply { return wxpaytest.OK(map[string]string{"ok": "yes"}) }})
	cfg := srv.Config(srv.AddMerchant("1900000001"))
	cfg.BaseBackoff = time.Millisecond
	c, _ := wxpay.New(cfg)
	req := wxpay.Request{Method: http.MethodGet, Path: "/v3/x", Route: "/v3/x"}

	srv.Inject(wxpaytest.Fault{Kind: wxpaytest.Status, Status: http.StatusTooManyRequests}, wxpaytest.Fault{Kind: wxpaytest.BadSignature})
	resp, err := c.Do(context.Background(), req)
	fmt.Println(resp, errors.Is(err, wxsign.ErrBadSignature))
	for _, rec := range srv.Requests() {
		fmt.Printf("%d %q\n", rec.Status, rec.Code)
	}
	resp, err = c.Do(context.Background(), req)
	fmt.Println(string(resp.Body), err)
	// Output:
	// <nil> true
	// 429 "FREQUENCY_LIMITED"
	// 200 ""
	// {"ok":"yes"} <nil>
}

// A Notifier builds the callback notifications WeChat Pay posts to a
// merchant: signed with the stand-in's key, the resource encrypted with
// the merchant's API v3 key; and the spoiled kinds a receiver must refuse.
func ExampleNotifier_Build() {
	srv := wxpaytest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	apiV3Key := []byte("0123456789abcdef0123456789abcdef")
	nt := srv.Notifier(apiV3Key)

	h, body, err := nt.Build(wxpaytest.Notification{EventType: "REFUND.SUCCESS", Resource: map[string]string{"out_refund_no": "R1"}}, wxpaytest.Genuine)
	if err != nil {
		panic(err)
	}
	n, err := srv.Verifier().ParseNotification(h, body)
	if err != nil {
		panic(err)
	}
	plain, err := wxsign.DecryptResource(apiV3Key, n.Resource)
	fmt.Println(n.EventType, string(plain), err)

	for _, spoil := range []wxpaytest.Spoil{wxpaytest.SpoilProbeSignature, wxpaytest.SpoilWrongAPIv3Key} {
		h, body, _ := nt.Build(wxpaytest.Notification{EventType: "REFUND.SUCCESS", Resource: map[string]string{}}, spoil)
		n, err := srv.Verifier().ParseNotification(h, body)
		if err == nil {
			_, err = wxsign.DecryptResource(apiV3Key, n.Resource)
		}
		fmt.Println(spoil, spoil.VerificationFails(), wxsign.IsProbe(err), err != nil)
	}
	// Output:
	// REFUND.SUCCESS {"out_refund_no":"R1"} <nil>
	// probe signature true true true
	// wrong API v3 key false false true
}

// PostNotification delivers a notification as WeChat Pay does; the
// receiver's status says whether WeChat Pay would deliver it again.
func ExamplePostNotification() {
	srv := wxpaytest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := srv.Verifier().ParseNotification(r.Header, body); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	nt := srv.Notifier([]byte("0123456789abcdef0123456789abcdef"))
	for _, spoil := range []wxpaytest.Spoil{wxpaytest.Genuine, wxpaytest.SpoilTamperedBody} {
		h, body, _ := nt.Build(wxpaytest.Notification{EventType: "REFUND.SUCCESS", Resource: map[string]string{}}, spoil)
		status, _, err := wxpaytest.PostNotification(context.Background(), receiver.Client(), receiver.URL, h, body)
		fmt.Println(spoil, status, err)
	}
	// Output:
	// genuine 204 <nil>
	// tampered body 401 <nil>
}

// A Canned server answers every request with one signed answer and checks
// nothing: a benchmark against it measures the client alone.
func ExampleNewCanned() {
	wechatpay := wxpaytest.PooledKey(0)
	canned := wxpaytest.NewCanned(wechatpay, wxpaytest.DefaultPublicKeyID, []byte(`{"token":"d2df23f2"}`))
	defer canned.Close()

	c, err := wxpay.New(wxpay.Config{
		BaseURL: canned.URL, BackupURL: "-", HTTPClient: canned.Client(),
		Signer:   wxsign.Identity{Scheme: wxsign.Merchant, ID: "1900000001", SerialNo: "5E0B1F7A", Key: wxpaytest.PooledKey(1)}.Signer(),
		Verifier: &wxsign.Verifier{Keys: wxsign.KeySet{wxpaytest.DefaultPublicKeyID: &wechatpay.PublicKey}},
	})
	if err != nil {
		panic(err)
	}
	resp, err := c.Do(context.Background(), wxpay.Request{Method: http.MethodPost, Path: "/anything", Route: "/anything", Body: []byte(`{}`)})
	fmt.Println(string(resp.Body), err)
	// Output:
	// {"token":"d2df23f2"} <nil>
}

// OK, JSON and Error are a handler's replies: a status and a JSON body,
// WeChat Pay's {"code","message"} for an error.
func ExampleOK() {
	r := wxpaytest.OK(map[string]string{"status": "SUCCESS"})
	fmt.Println(r.Status, string(r.Body))
	// Output:
	// 200 {"status":"SUCCESS"}
}

// JSON replies any status with a JSON body.
func ExampleJSON() {
	r := wxpaytest.JSON(http.StatusAccepted, map[string]int{"total_count": 0})
	fmt.Println(r.Status, string(r.Body))
	// Output:
	// 202 {"total_count":0}
}

// Error replies WeChat Pay's error body; a client reads it as an
// *wxpay.APIError.
func ExampleError() {
	r := wxpaytest.Error(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "退款单不存在")
	fmt.Println(r.Status, string(r.Body))
	// Output:
	// 404 {"code":"RESOURCE_NOT_EXISTS","message":"退款单不存在"}
}

// Keys are made once per test process and shared: the same index is
// the same key. Server.Key is PooledKey(0); each identity added draws
// the next.
func ExamplePooledKey() {
	k := wxpaytest.PooledKey(0)
	fmt.Println(k.N.BitLen(), k == wxpaytest.PooledKey(0), k == wxpaytest.PooledKey(1))

	srv := wxpaytest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	fmt.Println(srv.Key == k)
	// Output:
	// 2048 true false
	// true
}

// PrivateKeyPEM writes a key as a merchant's apiclient_key.pem, for a
// test that feeds code which reads one.
func ExamplePrivateKeyPEM() {
	pemBytes := wxpaytest.PrivateKeyPEM(wxpaytest.PooledKey(1))
	key, err := wxsign.ParsePrivateKey(pemBytes)
	fmt.Println(strings.SplitN(string(pemBytes), "\n", 2)[0], key.Equal(wxpaytest.PooledKey(1)), err)
	// Output:
	// -----BEGIN PRIVATE KEY----- true <nil>
}

// PublicKeyPEM writes a key as WeChat Pay's pub_key.pem; Server.PublicKeyPEM
// is the stand-in's.
func ExamplePublicKeyPEM() {
	srv := wxpaytest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	pub, err := wxsign.ParsePublicKey(srv.PublicKeyPEM())
	fmt.Println(pub.Equal(&srv.Key.PublicKey), err)
	fmt.Println(strings.SplitN(string(wxpaytest.PublicKeyPEM(&srv.Key.PublicKey)), "\n", 2)[0])
	// Output:
	// true <nil>
	// -----BEGIN PUBLIC KEY-----
}

// A platform certificate is how merchants not yet moved to WeChat Pay's
// public key hold it: its serial number is the key ID in Wechatpay-Serial.
func ExampleNewPlatformCertificate() {
	cert, err := wxpaytest.NewPlatformCertificate(wxpaytest.PooledKey(0), 0x5157F09EFDC096DE)
	if err != nil {
		panic(err)
	}
	pub, err := wxsign.ParsePublicKey(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	fmt.Printf("%X %v %v\n", cert.SerialNumber, pub.Equal(&wxpaytest.PooledKey(0).PublicKey), err)
	// Output:
	// 5157F09EFDC096DE true <nil>
}
