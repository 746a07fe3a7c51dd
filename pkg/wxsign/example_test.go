package wxsign_test

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/wxcard/wxcard/pkg/wxsign"
)

// A service provider signs a partner API call with the merchant scheme.
func ExampleSigner_Authorization_merchant() {
	key, _ := rsa.GenerateKey(rand.Reader, 2048) // in production: wxsign.ParsePrivateKey(apiclient_key.pem)
	s := &wxsign.Signer{
		Identity: wxsign.Identity{
			Scheme:   wxsign.Merchant,
			ID:       "1900000001",
			SerialNo: "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
			Key:      key,
		},
		// Pinned here so the output is stable; leave nil in production.
		Now:   func() time.Time { return time.Unix(1554208460, 0) },
		Nonce: func() (string, error) { return "593BEC0C930BF1AFEB40B4A08C8FB242", nil },
	}
	h, err := s.Authorization(http.MethodGet, "/v3/brand-basic/partner/brands/1004/product-authorities", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(h[:strings.Index(h, ",signature=")])
	// Output:
	// WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",timestamp="1554208460",serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"
}

// A brand signs a brand API call with the brand scheme.
func ExampleSigner_Authorization_brand() {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	s := &wxsign.Signer{
		Identity: wxsign.Identity{Scheme: wxsign.Brand, ID: "1004", SerialNo: "5E0B1F7A", Key: key},
		Now:      func() time.Time { return time.Unix(1554208460, 0) },
		Nonce:    func() (string, error) { return "593BEC0C930BF1AFEB40B4A08C8FB242", nil },
	}
	body := []byte(`{"card_id":"pbLatjvWOibDc5-TBnbUk1pD12o0","openid":"obLatjnx9gnqzS4myYGmLZ7LgLBA"}`)
	h, err := s.Authorization(http.MethodPost, "/brand/card-member/pre-auth-tokens", body)
	if err != nil {
		panic(err)
	}
	fmt.Println(h[:strings.Index(h, ",signature=")])
	// Output:
	// WECHATPAY-BRAND-SHA256-RSA2048 brand_id="1004",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",timestamp="1554208460",serial_no="5E0B1F7A"
}

// An answer is trusted only after Verify; a probe fails like any bad signature.
func ExampleVerifier_Verify() {
	wechatpay, _ := rsa.GenerateKey(rand.Reader, 2048)
	v := &wxsign.Verifier{Keys: wxsign.KeySet{"PUB_KEY_ID_0114": &wechatpay.PublicKey}}

	body := []byte(`{"token":"d2df23f2f4fasf3gws"}`)
	ts := fmt.Sprint(time.Now().Unix())
	sig, _ := wxsign.Sign(wechatpay, wxsign.ResponseMessage(ts, "nonce", body))
	h := http.Header{}
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Nonce", "nonce")
	h.Set("Wechatpay-Serial", "PUB_KEY_ID_0114")
	h.Set("Wechatpay-Signature", sig)
	fmt.Println(v.Verify(h, body))

	h.Set("Wechatpay-Signature", "WECHATPAY/SIGNTEST/abc")
	err := v.Verify(h, body)
	fmt.Println(wxsign.IsProbe(err))
	// Output:
	// <nil>
	// true
}

// An Identity is who signs; its Signer signs as it.
func ExampleIdentity_Signer() {
	key, _ := rsa.GenerateKey(rand.Reader, 2048) // or any crypto.Signer holding an RSA-2048 key
	id := wxsign.Identity{Scheme: wxsign.Brand, ID: "1004", SerialNo: "5E0B1F7A", Key: key}
	h, err := id.Signer().Authorization(http.MethodGet, "/v3/brand-basic/brands/1004", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(h[:strings.Index(h, ",nonce_str=")])
	// Output:
	// WECHATPAY-BRAND-SHA256-RSA2048 brand_id="1004"
}
