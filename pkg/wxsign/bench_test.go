package wxsign_test

import (
	"net/http"
	"testing"

	"github.com/wxcard/wxcard/pkg/wxsign"
)

var benchBody = []byte(`{"brand_id":"1004","card_id":"pbLatjvWOibDc5-TBnbUk1pD12o0","openid":"obLatjnx9gnqzS4myYGmLZ7LgLBA"}`)

// BenchmarkSign is one RSA-2048 signature over a request's string to sign:
// the crypto floor of a call.
func BenchmarkSign(b *testing.B) {
	mk, _ := testKeys(b)
	msg := wxsign.Message(http.MethodPost, "/v3/brand/partner/card-member/pre-auth-tokens", 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242", benchBody)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wxsign.Sign(mk, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthorization is a whole header: nonce, string to sign,
// signature and layout.
func BenchmarkAuthorization(b *testing.B) {
	mk, _ := testKeys(b)
	s := &wxsign.Signer{Identity: wxsign.Identity{Scheme: wxsign.Merchant, ID: "1900000001", SerialNo: "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", Key: mk}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Authorization(http.MethodPost, "/v3/brand/partner/card-member/pre-auth-tokens", benchBody); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is one answer's header checks and signature verification.
func BenchmarkVerify(b *testing.B) {
	_, wk := testKeys(b)
	body := []byte(`{"token":"d2df23f2f4fasf3gws","expire_time":"2020-05-20T13:29:35.120+08:00"}`)
	h := signedAnswer(b, wk, testKeyID, 1700000000, "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", body)
	v := &wxsign.Verifier{Keys: wxsign.KeySet{testKeyID: &wk.PublicKey}, Now: fixedClock(1700000000)}
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(h, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloor is the irreducible work of one call: sign the request,
// verify the answer.
func BenchmarkFloor(b *testing.B) {
	mk, wk := testKeys(b)
	msg := wxsign.Message(http.MethodPost, "/v3/brand/partner/card-member/pre-auth-tokens", 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242", benchBody)
	body := []byte(`{"token":"d2df23f2f4fasf3gws","expire_time":"2020-05-20T13:29:35.120+08:00"}`)
	h := signedAnswer(b, wk, testKeyID, 1700000000, "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", body)
	v := &wxsign.Verifier{Keys: wxsign.KeySet{testKeyID: &wk.PublicKey}, Now: fixedClock(1700000000)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wxsign.Sign(mk, msg); err != nil {
			b.Fatal(err)
		}
		if err := v.Verify(h, body); err != nil {
			b.Fatal(err)
		}
	}
}
