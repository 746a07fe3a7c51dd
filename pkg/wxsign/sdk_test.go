package wxsign_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/signers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/validators"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/consts"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/wxcard/wxcard/pkg/wxsign"
)

// With the nonce and timestamp pinned, our merchant Authorization header is
// byte for byte the one the official Go SDK (v0.2.20) builds from its
// exported format constants and signing function.
func TestAuthorizationMatchesOfficialSDK(t *testing.T) {
	mk, _ := testKeys(t)
	cases := []struct{ method, url, body string }{
		{http.MethodPost, "/v3/brand/partner/card-member/pre-auth-tokens", `{"brand_id":"1004","card_id":"pbLatjvWOibDc5-TBnbUk1pD12o0","openid":"obLatjnx9gnqzS4myYGmLZ7LgLBA"}`},
		{http.MethodGet, "/v3/brand-basic/partner/brands/1004/product-authorities", ""},
		{http.MethodPost, "/v3/marketing/membercard-open/cards/pbLatjvWOibDc5-TBnbUk1pD12o0/permission-tokens", `{"activate_type":"AUTO_ACTIVATE","outer_str":"店铺A"}`},
		{http.MethodGet, "/v3/certificates?offset=0&limit=10", ""},
	}
	sdkSigner := &signers.SHA256WithRSASigner{MchID: "1900000001", CertificateSerialNo: "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", PrivateKey: mk}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.url, func(t *testing.T) {
			const ts, nonce = 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242"
			ours := &wxsign.Signer{
				Identity: wxsign.Identity{Scheme: wxsign.Merchant, ID: sdkSigner.MchID, SerialNo: sdkSigner.CertificateSerialNo, Key: mk},
				Now:      fixedClock(ts), Nonce: func() (string, error) { return nonce, nil },
			}
			got, err := ours.Authorization(tc.method, tc.url, []byte(tc.body))
			require.NoError(t, err)

			message := fmt.Sprintf(consts.SignatureMessageFormat, tc.method, tc.url, int64(ts), nonce, tc.body)
			sig, err := sdkSigner.Sign(context.Background(), message)
			require.NoError(t, err)
			want := fmt.Sprintf(consts.HeaderAuthorizationFormat, "WECHATPAY2-"+sdkSigner.Algorithm(),
				sig.MchID, nonce, int64(ts), sig.CertificateSerialNo, sig.Signature)
			assert.Equal(t, want, got)
			assert.Equal(t, message, string(wxsign.Message(tc.method, tc.url, ts, nonce, []byte(tc.body))))

			sdkSig, err := utils.SignSHA256WithRSA(message, mk)
			require.NoError(t, err)
			ourSig, err := wxsign.Sign(mk, []byte(message))
			require.NoError(t, err)
			assert.Equal(t, sdkSig, ourSig)
		})
	}
}

// answerCase is one answer of the agreement corpus. The timestamp is an
// offset from "now" so that both validators, one of which reads the real
// clock, see the same age.
type answerCase struct {
	name   string
	offset int64
	serial string
	mutate func(h http.Header, body []byte) []byte
	body   string
	accept bool
}

func agreementCorpus() []answerCase {
	const body = `{"token":"d2df23f2f4fasf3gws","expire_time":"2020-05-20T13:29:35.120+08:00"}`
	same := func(_ http.Header, b []byte) []byte { return b }
	del := func(name string) func(http.Header, []byte) []byte {
		return func(h http.Header, b []byte) []byte { h.Del(name); return b }
	}
	set := func(name, value string) func(http.Header, []byte) []byte {
		return func(h http.Header, b []byte) []byte { h.Set(name, value); return b }
	}
	return []answerCase{
		{"valid", 0, testKeyID, same, body, true},
		{"valid empty body", 0, testKeyID, same, "", true},
		{"valid product authorities", 0, testKeyID, same, `{"brand_id":"1004","authorization_type":"AUTHORIZATION_TYPE_HOSTING","authorization_product":["BRAND_PRODUCT_AUTHORITY_MERCHANT_CARD"],"update_time":"2025-05-20T13:29:35+08:00"}`, true},
		{"valid unicode body", 0, testKeyID, same, `{"message":"参数错误"}`, true},
		{"tampered body", 0, testKeyID, func(_ http.Header, b []byte) []byte { return append(b, ' ') }, body, false},
		{"tampered body byte", 0, testKeyID, func(_ http.Header, b []byte) []byte { c := bytes.Clone(b); c[3] ^= 1; return c }, body, false},
		{"tampered nonce", 0, testKeyID, set(wxsign.HeaderNonce, "other"), body, false},
		{"tampered timestamp", 0, testKeyID, func(h http.Header, b []byte) []byte {
			h.Set(wxsign.HeaderTimestamp, fmt.Sprint(time.Now().Unix()-1))
			return b
		}, body, false},
		{"wrong key ID", 0, "PUB_KEY_ID_0000000000000000000000000000", same, body, false},
		{"299 s old", -299, testKeyID, same, body, true},
		{"300 s old", -300, testKeyID, same, body, false},
		{"301 s old", -301, testKeyID, same, body, false},
		{"299 s ahead", 299, testKeyID, same, body, true},
		{"300 s ahead", 300, testKeyID, same, body, false},
		{"301 s ahead", 301, testKeyID, same, body, false},
		{"stale by a day", -86400, testKeyID, same, body, false},
		{"future by a day", 86400, testKeyID, same, body, false},
		{"probe", 0, testKeyID, set(wxsign.HeaderSignature, wxsign.ProbePrefix+"Zm9vYmFy"), body, false},
		{"probe only prefix", 0, testKeyID, set(wxsign.HeaderSignature, wxsign.ProbePrefix), body, false},
		{"missing timestamp", 0, testKeyID, del(wxsign.HeaderTimestamp), body, false},
		{"missing nonce", 0, testKeyID, del(wxsign.HeaderNonce), body, false},
		{"missing signature", 0, testKeyID, del(wxsign.HeaderSignature), body, false},
		{"missing serial", 0, testKeyID, del(wxsign.HeaderSerial), body, false},
		{"blank signature", 0, testKeyID, set(wxsign.HeaderSignature, "  "), body, false},
		{"signature not base64", 0, testKeyID, set(wxsign.HeaderSignature, "%%%"), body, false},
		{"timestamp not a number", 0, testKeyID, set(wxsign.HeaderTimestamp, "abc"), body, false},
	}
}

// Our Verifier and the official SDK's response validator agree, accept or
// reject, on every answer of the corpus.
func TestVerifierAgreesWithOfficialSDK(t *testing.T) {
	_, wk := testKeys(t)
	sdk := validators.NewWechatPayResponseValidator(verifiers.NewSHA256WithRSAPubkeyVerifier(testKeyID, wk.PublicKey))
	ours := &wxsign.Verifier{Keys: wxsign.KeySet{testKeyID: &wk.PublicKey}}

	for _, tc := range agreementCorpus() {
		t.Run(tc.name, func(t *testing.T) {
			// Both validators read the clock; a run that straddles a second
			// boundary would see two ages, so it is done again (at most 5 times).
			for try := 0; try < 5; try++ {
				start := time.Now().Unix()
				h := signedAnswer(t, wk, tc.serial, start+tc.offset, "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", []byte(tc.body))
				body := tc.mutate(h, []byte(tc.body))
				ourErr := ours.Verify(h.Clone(), body)
				sdkErr := sdk.Validate(context.Background(), &http.Response{Header: h.Clone(), Body: io.NopCloser(bytes.NewReader(body))})
				if time.Now().Unix() != start {
					continue
				}
				assert.Equal(t, tc.accept, ourErr == nil, "ours: %v", ourErr)
				assert.Equal(t, tc.accept, sdkErr == nil, "sdk: %v", sdkErr)
				return
			}
			t.Fatal("could not run within one second")
		})
	}
}

// Notification resources we encrypt, the SDK decrypts, and the other way.
func TestDecryptResourceMatchesOfficialSDK(t *testing.T) {
	key := "0123456789abcdef0123456789abcdef"
	res, err := wxsign.EncryptResource([]byte(key), "0123456789ab", "transaction", []byte(`{"openid":"o1"}`))
	require.NoError(t, err)
	plain, err := utils.DecryptAES256GCM(key, res.AssociatedData, res.Nonce, res.Ciphertext)
	require.NoError(t, err)
	assert.Equal(t, `{"openid":"o1"}`, plain)
	ours, err := wxsign.DecryptResource([]byte(key), res)
	require.NoError(t, err)
	assert.Equal(t, plain, string(ours))
}
