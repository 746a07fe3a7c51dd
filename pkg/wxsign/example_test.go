package wxsign_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
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

// Keys come as PEM: the merchant's apiclient_key.pem (PKCS#8) or an older
// PKCS#1 file. Errors say what is wrong and never carry key material.
func ExampleParsePrivateKey() {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	apiclientKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})

	parsed, err := wxsign.ParsePrivateKey(apiclientKey)
	fmt.Println(parsed.N.BitLen(), err)

	_, err = wxsign.ParsePrivateKey(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0}}))
	fmt.Println(err)
	_, err = wxsign.ParsePrivateKey(append(apiclientKey, apiclientKey...))
	fmt.Println(err)
	// Output:
	// 2048 <nil>
	// wxsign: private key: encrypted PEM is not supported; store the key unencrypted in the secret
	// wxsign: private key: more than one PEM block
}

// WeChat Pay's public key (pub_key.pem) is a PKIX PUBLIC KEY; a platform
// certificate, its older form, is read for its key.
func ExampleParsePublicKey() {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pub, err := wxsign.ParsePublicKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	fmt.Println(pub.Equal(&key.PublicKey), err)

	_, err = wxsign.ParsePublicKey([]byte("PUB_KEY_ID_0114232134912410000000000000"))
	fmt.Println(err)
	// Output:
	// true <nil>
	// wxsign: public key: no PEM block found (want -----BEGIN …----- … -----END …-----)
}

// Message is what a request signature covers: the method, the path and
// query as sent, the timestamp, the nonce and the body, each followed by
// a newline.
func ExampleMessage() {
	m := wxsign.Message(http.MethodPost, "/v3/brand/partner/card-member/pre-auth-tokens", 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242", []byte(`{"brand_id":"1004"}`))
	fmt.Printf("%q\n", m)
	// Output:
	// "POST\n/v3/brand/partner/card-member/pre-auth-tokens\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n{\"brand_id\":\"1004\"}\n"
}

// ResponseMessage is what the signature of an answer or a notification
// covers: the Wechatpay-Timestamp and Wechatpay-Nonce headers and the body.
func ExampleResponseMessage() {
	fmt.Printf("%q\n", wxsign.ResponseMessage("1554209980", "c5ac7061fccab6bf3e254dcf98995b8c", []byte(`{"token":"d2df23f2"}`)))
	// Output:
	// "1554209980\nc5ac7061fccab6bf3e254dcf98995b8c\n{\"token\":\"d2df23f2\"}\n"
}

// Sign is RSASSA-PKCS1-v1_5 with SHA-256, base64: 344 characters for an
// RSA-2048 key. The key may be any crypto.Signer, such as one in a KMS.
func ExampleSign() {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	msg := wxsign.ResponseMessage("1554209980", "c5ac7061fccab6bf3e254dcf98995b8c", []byte(`{}`))
	sig, err := wxsign.Sign(key, msg)
	fmt.Println(len(sig), err)

	raw, _ := base64.StdEncoding.DecodeString(sig)
	sum := sha256.Sum256(msg)
	fmt.Println(rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], raw))
	// Output:
	// 344 <nil>
	// <nil>
}

// A nonce is 32 characters of [0-9A-Za-z] from crypto/rand.
func ExampleNewNonce() {
	n, err := wxsign.NewNonce()
	fmt.Println(len(n), strings.Trim(n, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == "", err)
	// Output:
	// 32 true <nil>
}

// FormatAuthorization lays out the header a Signer sends.
func ExampleFormatAuthorization() {
	fmt.Println(wxsign.FormatAuthorization(wxsign.Credentials{
		Scheme: wxsign.Brand, ID: "1004", Nonce: "593BEC0C930BF1AFEB40B4A08C8FB242",
		Timestamp: 1554208460, SerialNo: "5E0B1F7A", Signature: "c2lnbmF0dXJl",
	}))
	// Output:
	// WECHATPAY-BRAND-SHA256-RSA2048 brand_id="1004",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",timestamp="1554208460",serial_no="5E0B1F7A",signature="c2lnbmF0dXJl"
}

// A server that plays WeChat Pay reads the Authorization header as WeChat
// Pay does; the errors name the parameter at fault.
func ExampleParseAuthorization() {
	c, err := wxsign.ParseAuthorization(`WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",timestamp="1554208460",serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",signature="c2ln"`)
	fmt.Println(c.Scheme, c.ID, c.Timestamp, c.SerialNo, err)

	_, err = wxsign.ParseAuthorization(`WECHATPAY2-SHA256-RSA2048 brand_id="1004",nonce_str="n",timestamp="1",serial_no="s",signature="c2ln"`)
	fmt.Println(errors.Is(err, wxsign.ErrMalformedAuthorization), err)
	// Output:
	// WECHATPAY2-SHA256-RSA2048 1900000001 1554208460 1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C <nil>
	// true wxsign: malformed Authorization header: unexpected parameter "brand_id" for WECHATPAY2-SHA256-RSA2048
}

// VerifyRequest checks that a parsed header's signature covers the
// request as received, under the caller's public key. The clock and the
// nonce are the server's to check.
func ExampleVerifyRequest() {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	id := wxsign.Identity{Scheme: wxsign.Merchant, ID: "1900000001", SerialNo: "5E0B1F7A", Key: key}
	body := []byte(`{"brand_id":"1004"}`)
	h, _ := id.Signer().Authorization(http.MethodPost, "/v3/brand/partner/card-member/pre-auth-tokens", body)

	c, err := wxsign.ParseAuthorization(h)
	if err != nil {
		panic(err)
	}
	fmt.Println(wxsign.VerifyRequest(&key.PublicKey, c, http.MethodPost, "/v3/brand/partner/card-member/pre-auth-tokens", body))
	fmt.Println(wxsign.VerifyRequest(&key.PublicKey, c, http.MethodPost, "/v3/brand/partner/card-member/pre-auth-tokens", []byte(`{"brand_id":"1005"}`)) != nil)
	// Output:
	// <nil>
	// true
}

// A notification is verified like an answer, then its envelope is decoded
// strictly; its resource is decrypted with the API v3 key afterwards.
func ExampleVerifier_ParseNotification() {
	wechatpay, _ := rsa.GenerateKey(rand.Reader, 2048)
	v := &wxsign.Verifier{Keys: wxsign.KeySet{"PUB_KEY_ID_0114": &wechatpay.PublicKey}}
	apiV3Key := []byte("0123456789abcdef0123456789abcdef")

	// What WeChat Pay posts.
	res, _ := wxsign.EncryptResource(apiV3Key, "fdasflkja484", "user_card", []byte(`{"card_id":"pbLatjvWOibDc5-TBnbUk1pD12o0"}`))
	res.OriginalType = "user_card"
	envelope, _ := json.Marshal(map[string]any{"id": "EV-2018022511223320873", "create_time": "2025-05-20T13:29:35+08:00",
		"event_type": "BRAND_MEMBER_CARD.USER_CARD.CREATE", "resource_type": "encrypt-resource", "summary": "用户开通会员卡通知", "resource": res})
	ts := fmt.Sprint(time.Now().Unix())
	sig, _ := wxsign.Sign(wechatpay, wxsign.ResponseMessage(ts, "nonce", envelope))
	h := http.Header{}
	h.Set(wxsign.HeaderTimestamp, ts)
	h.Set(wxsign.HeaderNonce, "nonce")
	h.Set(wxsign.HeaderSerial, "PUB_KEY_ID_0114")
	h.Set(wxsign.HeaderSignature, sig)

	n, err := v.ParseNotification(h, envelope)
	if err != nil {
		panic(err)
	}
	plain, err := wxsign.DecryptResource(apiV3Key, n.Resource)
	fmt.Println(n.ID, n.EventType)
	fmt.Println(string(plain), err)

	_, err = v.ParseNotification(h, append(envelope, ' '))
	fmt.Println(errors.Is(err, wxsign.ErrBadSignature))
	// Output:
	// EV-2018022511223320873 BRAND_MEMBER_CARD.USER_CARD.CREATE
	// {"card_id":"pbLatjvWOibDc5-TBnbUk1pD12o0"} <nil>
	// true
}

// DecodeNotification alone reads an envelope that was verified elsewhere;
// a key that differs in case from a documented one is refused, as it
// could be read two ways.
func ExampleDecodeNotification() {
	n, err := wxsign.DecodeNotification([]byte(`{"id":"EV-1","create_time":"2025-05-20T13:29:35+08:00","event_type":"REFUND.SUCCESS","resource_type":"encrypt-resource","summary":"退款成功",` +
		`"resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext":"AAAA","nonce":"fdasflkja484","associated_data":"refund","original_type":"refund"}}`))
	fmt.Println(n.EventType, n.Resource.OriginalType, err)

	_, err = wxsign.DecodeNotification([]byte(`{"id":"EV-1","ID":"EV-2"}`))
	var ne *wxsign.NotificationError
	fmt.Println(errors.As(err, &ne), err)
	// Output:
	// REFUND.SUCCESS refund <nil>
	// true wxsign: notification id must be spelled exactly "id"
}

// A notification's resource is AEAD_AES_256_GCM under the merchant's
// 32-byte API v3 key; EncryptResource is its inverse, for stand-ins.
func ExampleDecryptResource() {
	apiV3Key := []byte("0123456789abcdef0123456789abcdef")
	res, err := wxsign.EncryptResource(apiV3Key, "fdasflkja484", "user_card", []byte(`{"user_card_code":"478515832665"}`))
	if err != nil {
		panic(err)
	}
	plain, err := wxsign.DecryptResource(apiV3Key, res)
	fmt.Println(res.Algorithm, string(plain), err)

	_, err = wxsign.DecryptResource([]byte("ffffffffffffffffffffffffffffffff"), res)
	fmt.Println(err)
	// Output:
	// AEAD_AES_256_GCM {"user_card_code":"478515832665"} <nil>
	// wxsign: resource does not decrypt: wrong API v3 key or tampered resource
}

// Fields WeChat Pay encrypts with the merchant's public key (a phone
// number a user filled in) decrypt with the merchant's private key.
func ExampleDecryptSensitive() {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	ct, err := wxsign.EncryptSensitive(&key.PublicKey, "13800138000")
	if err != nil {
		panic(err)
	}
	phone, err := wxsign.DecryptSensitive(key, ct)
	fmt.Println(phone, err)
	// Output:
	// 13800138000 <nil>
}

// EncryptResource is how a stand-in encrypts a notification's resource:
// AES-256-GCM under the API v3 key, the 12-byte nonce and the associated
// data in the clear beside it.
func ExampleEncryptResource() {
	res, err := wxsign.EncryptResource([]byte("0123456789abcdef0123456789abcdef"), "fdasflkja484", "user_card", []byte(`{}`))
	fmt.Println(res.Algorithm, res.Nonce, res.AssociatedData, len(res.Ciphertext), err)

	_, err = wxsign.EncryptResource([]byte("0123456789abcdef0123456789abcdef"), "short", "user_card", []byte(`{}`))
	fmt.Println(err)
	// Output:
	// AEAD_AES_256_GCM fdasflkja484 user_card 24 <nil>
	// wxsign: nonce is 5 bytes, want 12
}

// A caller encrypts a sensitive field of a request with WeChat Pay's
// public key: RSA-OAEP, base64, 344 characters for a 2048-bit key.
func ExampleEncryptSensitive() {
	wechatpay, _ := rsa.GenerateKey(rand.Reader, 2048)
	ct, err := wxsign.EncryptSensitive(&wechatpay.PublicKey, "13800138000")
	fmt.Println(len(ct), err)
	// Output:
	// 344 <nil>
}

// WeChat Pay now and then sends an answer signed WECHATPAY/SIGNTEST/… to
// check that clients verify: it fails verification like any bad
// signature, and IsProbe tells it apart for the logs.
func ExampleIsProbe() {
	v := &wxsign.Verifier{Keys: wxsign.KeySet{}}
	h := http.Header{}
	h.Set(wxsign.HeaderTimestamp, fmt.Sprint(time.Now().Unix()))
	h.Set(wxsign.HeaderNonce, "nonce")
	h.Set(wxsign.HeaderSerial, "PUB_KEY_ID_0114")
	h.Set(wxsign.HeaderSignature, wxsign.ProbePrefix+"abc")
	err := v.Verify(h, []byte(`{}`))
	fmt.Println(err != nil, wxsign.IsProbe(err), wxsign.IsProbe(errors.New("other")))
	// Output:
	// true true false
}
