package wxsign_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/wxcard/wxcard/pkg/wxsign"
)

// FuzzParseAuthorization: never panics, and whatever parses formats back to
// a header that parses to the same credentials.
func FuzzParseAuthorization(f *testing.F) {
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="abc",timestamp="1554208460",serial_no="1DDE",signature="c2ln"`)
	f.Add(`WECHATPAY-BRAND-SHA256-RSA2048 brand_id="1004",nonce_str="n",timestamp="1",serial_no="s",signature="x"`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="1",mchid="2"`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 ,,,`)
	f.Add("")
	f.Fuzz(func(t *testing.T, header string) {
		c, err := wxsign.ParseAuthorization(header)
		if err != nil {
			return
		}
		again, err := wxsign.ParseAuthorization(wxsign.FormatAuthorization(c))
		if err != nil || again != c {
			t.Fatalf("round trip of %q: %+v, %v", header, again, err)
		}
	})
}

// FuzzVerify: arbitrary headers and bodies never panic, never verify
// without the right key's signature, and every failure is a *VerifyError.
func FuzzVerify(f *testing.F) {
	_, wk := testKeys(f)
	h := signedAnswer(f, wk, testKeyID, 1700000000, "n", []byte(`{"token":"t"}`))
	f.Add(h.Get(wxsign.HeaderTimestamp), h.Get(wxsign.HeaderNonce), h.Get(wxsign.HeaderSignature), testKeyID, []byte(`{"token":"t"}`))
	f.Add("1700000000", "n", wxsign.ProbePrefix+"AAAA", testKeyID, []byte(``))
	f.Add("", "", "", "", []byte(nil))
	f.Add("17e8", "n", "====", "x", []byte("{}"))
	v := &wxsign.Verifier{Keys: wxsign.KeySet{testKeyID: &wk.PublicKey}, Now: fixedClock(1700000000)}
	validSig := h.Get(wxsign.HeaderSignature)
	f.Fuzz(func(t *testing.T, ts, nonce, sig, serial string, body []byte) {
		h := http.Header{}
		h.Set(wxsign.HeaderTimestamp, ts)
		h.Set(wxsign.HeaderNonce, nonce)
		h.Set(wxsign.HeaderSignature, sig)
		h.Set(wxsign.HeaderSerial, serial)
		err := v.Verify(h, body)
		if err == nil {
			// Only the one genuine answer can verify.
			if strings.TrimSpace(sig) != validSig || strings.TrimSpace(nonce) != "n" || string(body) != `{"token":"t"}` {
				t.Fatalf("verified a forged answer: ts=%q nonce=%q body=%q", ts, nonce, body)
			}
			return
		}
		var ve *wxsign.VerifyError
		if !errors.As(err, &ve) {
			t.Fatalf("error %T is not a *VerifyError", err)
		}
	})
}

// FuzzDecryptResource: any resource decrypts or fails cleanly; whatever
// decrypts is the genuine plaintext under the genuine nonce and associated
// data (GCM authenticates them; the base64 may be re-wrapped).
func FuzzDecryptResource(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	good, err := wxsign.EncryptResource(key, "0123456789ab", "ad", []byte(`{"openid":"o"}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.Algorithm, good.Ciphertext, good.AssociatedData, good.Nonce)
	f.Add("AEAD_AES_256_GCM", "", "", "")
	f.Add("AEAD_AES_256_GCM", "!!!", "ad", "0123456789ab")
	f.Fuzz(func(t *testing.T, alg, ciphertext, ad, nonce string) {
		r := wxsign.EncryptedResource{Algorithm: alg, Ciphertext: ciphertext, AssociatedData: ad, Nonce: nonce}
		plain, err := wxsign.DecryptResource(key, r)
		if err == nil && (string(plain) != `{"openid":"o"}` || ad != good.AssociatedData || nonce != good.Nonce) {
			t.Fatalf("decrypted a forged resource to %q", plain)
		}
	})
}
