package wxsign_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/wxsign"
)

var (
	keysOnce            sync.Once
	merchantKey, wxpKey *rsa.PrivateKey
)

// testKeys returns two RSA-2048 keys, made once per test binary: one plays
// the merchant's API key, the other WeChat Pay's.
func testKeys(t testing.TB) (merchant, wechatpay *rsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if merchantKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if wxpKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return merchantKey, wxpKey
}

const testKeyID = "PUB_KEY_ID_0114232134912410000000000000"

// signedAnswer builds the headers WeChat Pay would send with body.
func signedAnswer(t testing.TB, key *rsa.PrivateKey, serial string, ts int64, nonce string, body []byte) http.Header {
	t.Helper()
	tsText := strconv.FormatInt(ts, 10)
	sig, err := wxsign.Sign(key, wxsign.ResponseMessage(tsText, nonce, body))
	require.NoError(t, err)
	h := http.Header{}
	h.Set(wxsign.HeaderTimestamp, tsText)
	h.Set(wxsign.HeaderNonce, nonce)
	h.Set(wxsign.HeaderSignature, sig)
	h.Set(wxsign.HeaderSerial, serial)
	h.Set(wxsign.HeaderRequestID, "08F0B6B9A20610A8D6A2E70C18B9CB9A1020C51128D4C7F1")
	return h
}

func fixedClock(unix int64) func() time.Time { return func() time.Time { return time.Unix(unix, 0) } }

func TestNewNonce(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		n, err := wxsign.NewNonce()
		require.NoError(t, err)
		require.Len(t, n, wxsign.NonceLength)
		for _, c := range n {
			require.True(t, c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z', "nonce %q", n)
		}
		require.False(t, seen[n], "nonce repeated")
		seen[n] = true
	}
}

// The string to sign for seed 000's example (POST /brand/card-member/pre-auth-tokens)
// must match the documented layout: five lines, each ending in \n.
func TestMessageBrandPreAuthTokenSeed(t *testing.T) {
	body := []byte(`{"card_id":"pbLatjvWOibDc5-TBnbUk1pD12o0","openid":"obLatjnx9gnqzS4myYGmLZ7LgLBA"}`)
	got := wxsign.Message(http.MethodPost, "/brand/card-member/pre-auth-tokens", 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242", body)
	want := "POST\n" +
		"/brand/card-member/pre-auth-tokens\n" +
		"1554208460\n" +
		"593BEC0C930BF1AFEB40B4A08C8FB242\n" +
		`{"card_id":"pbLatjvWOibDc5-TBnbUk1pD12o0","openid":"obLatjnx9gnqzS4myYGmLZ7LgLBA"}` + "\n"
	assert.Equal(t, want, string(got))

	// GET has an empty body line, still ending in \n.
	got = wxsign.Message(http.MethodGet, "/v3/brand-basic/partner/brands/1004/product-authorities", 1554208460, "N", nil)
	assert.Equal(t, "GET\n/v3/brand-basic/partner/brands/1004/product-authorities\n1554208460\nN\n\n", string(got))
}

func TestSignerBrandHeader(t *testing.T) {
	mk, _ := testKeys(t)
	s := &wxsign.Signer{
		Identity: wxsign.Identity{Scheme: wxsign.Brand, ID: "1004", SerialNo: "5E0B1F7A", Key: mk},
		Now:      fixedClock(1554208460), Nonce: func() (string, error) { return "593BEC0C930BF1AFEB40B4A08C8FB242", nil },
	}
	body := []byte(`{"card_id":"pbLatjvWOibDc5-TBnbUk1pD12o0","openid":"obLatjnx9gnqzS4myYGmLZ7LgLBA"}`)
	h, err := s.Authorization(http.MethodPost, "/brand/card-member/pre-auth-tokens", body)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(h, `WECHATPAY-BRAND-SHA256-RSA2048 brand_id="1004",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",timestamp="1554208460",serial_no="5E0B1F7A",signature="`), h)

	c, err := wxsign.ParseAuthorization(h)
	require.NoError(t, err)
	assert.Equal(t, wxsign.Brand, c.Scheme)
	assert.Equal(t, "1004", c.ID)
	require.NoError(t, wxsign.VerifyRequest(&mk.PublicKey, c, http.MethodPost, "/brand/card-member/pre-auth-tokens", body))
	require.Error(t, wxsign.VerifyRequest(&mk.PublicKey, c, http.MethodPost, "/brand/card-member/pre-auth-tokens", append(body, ' ')))
}

func TestSignerRefusesIncompleteIdentity(t *testing.T) {
	mk, _ := testKeys(t)
	for name, id := range map[string]wxsign.Identity{
		"unknown scheme": {Scheme: "X", ID: "1", SerialNo: "S", Key: mk},
		"no id":          {Scheme: wxsign.Merchant, SerialNo: "S", Key: mk},
		"no serial":      {Scheme: wxsign.Brand, ID: "1", Key: mk},
		"no key":         {Scheme: wxsign.Merchant, ID: "1", SerialNo: "S"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := id.Signer().Authorization(http.MethodGet, "/", nil)
			require.Error(t, err)
		})
	}
}

func TestParseAuthorization(t *testing.T) {
	const good = `WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="abc",timestamp="1554208460",serial_no="1DDE",signature="c2ln"`
	c, err := wxsign.ParseAuthorization(good)
	require.NoError(t, err)
	assert.Equal(t, wxsign.Credentials{Scheme: wxsign.Merchant, ID: "1900000001", Nonce: "abc", Timestamp: 1554208460, SerialNo: "1DDE", Signature: "c2ln"}, c)
	assert.Equal(t, good, wxsign.FormatAuthorization(c))

	bad := map[string]string{
		"empty":              ``,
		"no params":          `WECHATPAY2-SHA256-RSA2048`,
		"unknown scheme":     `Bearer mchid="1"`,
		"brand id in mch":    `WECHATPAY2-SHA256-RSA2048 brand_id="1",nonce_str="a",timestamp="1",serial_no="s",signature="x"`,
		"mchid in brand":     `WECHATPAY-BRAND-SHA256-RSA2048 mchid="1",nonce_str="a",timestamp="1",serial_no="s",signature="x"`,
		"missing signature":  `WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="a",timestamp="1",serial_no="s"`,
		"repeated":           `WECHATPAY2-SHA256-RSA2048 mchid="1",mchid="2",nonce_str="a",timestamp="1",serial_no="s",signature="x"`,
		"unquoted":           `WECHATPAY2-SHA256-RSA2048 mchid=1,nonce_str="a",timestamp="1",serial_no="s",signature="x"`,
		"stray quote":        `WECHATPAY2-SHA256-RSA2048 mchid="1"",nonce_str="a",timestamp="1",serial_no="s",signature="x"`,
		"signed timestamp":   `WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="a",timestamp="+1",serial_no="s",signature="x"`,
		"timestamp overflow": `WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="a",timestamp="99999999999999999999",serial_no="s",signature="x"`,
		"trailing comma":     `WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="a",timestamp="1",serial_no="s",signature="x",`,
	}
	for name, h := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := wxsign.ParseAuthorization(h)
			require.ErrorIs(t, err, wxsign.ErrMalformedAuthorization)
			assert.NotContains(t, err.Error(), `"x"`, "the signature must not be echoed")
		})
	}
}

func TestVerify(t *testing.T) {
	_, wk := testKeys(t)
	const now = 1700000000
	body := []byte(`{"token":"d2df23f2f4fasf3gws","expire_time":"2020-05-20T13:29:35.120+08:00"}`)
	v := &wxsign.Verifier{Keys: wxsign.KeySet{testKeyID: &wk.PublicKey}, Now: fixedClock(now)}

	tests := []struct {
		name   string
		header func() http.Header
		body   []byte
		want   error
		probe  bool
	}{
		{"valid", func() http.Header { return signedAnswer(t, wk, testKeyID, now, "n1", body) }, body, nil, false},
		{"valid empty body", func() http.Header { return signedAnswer(t, wk, testKeyID, now, "n1", nil) }, nil, nil, false},
		{"tampered body", func() http.Header { return signedAnswer(t, wk, testKeyID, now, "n1", body) }, append([]byte{' '}, body...), wxsign.ErrBadSignature, false},
		{"tampered nonce", func() http.Header {
			h := signedAnswer(t, wk, testKeyID, now, "n1", body)
			h.Set(wxsign.HeaderNonce, "n2")
			return h
		}, body, wxsign.ErrBadSignature, false},
		{"unknown key", func() http.Header { return signedAnswer(t, wk, "PUB_KEY_ID_OTHER", now, "n1", body) }, body, wxsign.ErrUnknownKey, false},
		{"299 s old", func() http.Header { return signedAnswer(t, wk, testKeyID, now-299, "n1", body) }, body, nil, false},
		{"300 s old", func() http.Header { return signedAnswer(t, wk, testKeyID, now-300, "n1", body) }, body, wxsign.ErrStaleTimestamp, false},
		{"299 s ahead", func() http.Header { return signedAnswer(t, wk, testKeyID, now+299, "n1", body) }, body, nil, false},
		{"300 s ahead", func() http.Header { return signedAnswer(t, wk, testKeyID, now+300, "n1", body) }, body, wxsign.ErrStaleTimestamp, false},
		{"malformed timestamp", func() http.Header {
			h := signedAnswer(t, wk, testKeyID, now, "n1", body)
			h.Set(wxsign.HeaderTimestamp, "17e8")
			return h
		}, body, wxsign.ErrMalformedTimestamp, false},
		{"probe", func() http.Header {
			h := signedAnswer(t, wk, testKeyID, now, "n1", body)
			h.Set(wxsign.HeaderSignature, wxsign.ProbePrefix+"bm90IGEgc2lnbmF0dXJl")
			return h
		}, body, wxsign.ErrBadSignature, true},
		{"signature not base64", func() http.Header {
			h := signedAnswer(t, wk, testKeyID, now, "n1", body)
			h.Set(wxsign.HeaderSignature, "!!!")
			return h
		}, body, wxsign.ErrBadSignature, false},
	}
	for _, name := range []string{wxsign.HeaderTimestamp, wxsign.HeaderNonce, wxsign.HeaderSignature, wxsign.HeaderSerial} {
		tests = append(tests, struct {
			name   string
			header func() http.Header
			body   []byte
			want   error
			probe  bool
		}{"missing " + name, func() http.Header {
			h := signedAnswer(t, wk, testKeyID, now, "n1", body)
			h.Del(name)
			return h
		}, body, wxsign.ErrMissingHeader, false})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Verify(tc.header(), tc.body)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
			var ve *wxsign.VerifyError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, "08F0B6B9A20610A8D6A2E70C18B9CB9A1020C51128D4C7F1", ve.RequestID)
			assert.Equal(t, tc.probe, wxsign.IsProbe(err))
			assert.Contains(t, err.Error(), "08F0B6B9A20610A8D6A2E70C18B9CB9A1020C51128D4C7F1")
			for _, other := range []error{wxsign.ErrMissingHeader, wxsign.ErrUnknownKey, wxsign.ErrMalformedTimestamp, wxsign.ErrStaleTimestamp, wxsign.ErrBadSignature} {
				if !errors.Is(other, tc.want) {
					assert.NotErrorIs(t, err, other, "a failure has exactly one reason")
				}
			}
		})
	}
}

// A key set holds two keys during a rotation: answers signed by either verify.
func TestVerifyKeyRotation(t *testing.T) {
	mk, wk := testKeys(t)
	v := &wxsign.Verifier{Keys: wxsign.KeySet{"OLD_SERIAL": &mk.PublicKey, testKeyID: &wk.PublicKey}, Now: fixedClock(1700000000)}
	require.NoError(t, v.Verify(signedAnswer(t, mk, "OLD_SERIAL", 1700000000, "a", []byte("{}")), []byte("{}")))
	require.NoError(t, v.Verify(signedAnswer(t, wk, testKeyID, 1700000000, "b", []byte("{}")), []byte("{}")))
	// The right key ID with the other key's signature fails.
	require.ErrorIs(t, v.Verify(signedAnswer(t, mk, testKeyID, 1700000000, "c", []byte("{}")), []byte("{}")), wxsign.ErrBadSignature)
}

func pemOf(t testing.TB, typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParseKeys(t *testing.T) {
	mk, _ := testKeys(t)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(mk)
	require.NoError(t, err)
	pkixDER, err := x509.MarshalPKIXPublicKey(&mk.PublicKey)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Tenpay.com Root CA"}, NotBefore: time.Unix(0, 0), NotAfter: time.Unix(4e9, 0)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &mk.PublicKey, mk)
	require.NoError(t, err)

	for name, data := range map[string][]byte{
		"PKCS#8":                  pemOf(t, "PRIVATE KEY", pkcs8),
		"PKCS#1":                  pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(mk)),
		"PKCS#8 with text around": append(append([]byte("apiclient_key.pem\n"), pemOf(t, "PRIVATE KEY", pkcs8)...), "\n"...),
	} {
		t.Run("private "+name, func(t *testing.T) {
			k, err := wxsign.ParsePrivateKey(data)
			require.NoError(t, err)
			assert.True(t, k.Equal(mk))
		})
	}
	for name, data := range map[string][]byte{
		"PKIX":        pemOf(t, "PUBLIC KEY", pkixDER),
		"PKCS#1":      pemOf(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&mk.PublicKey)),
		"certificate": pemOf(t, "CERTIFICATE", certDER),
	} {
		t.Run("public "+name, func(t *testing.T) {
			k, err := wxsign.ParsePublicKey(data)
			require.NoError(t, err)
			assert.True(t, k.Equal(&mk.PublicKey))
		})
	}

	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	smallDER, err := x509.MarshalPKCS8PrivateKey(small)
	require.NoError(t, err)
	corrupt := pemOf(t, "PRIVATE KEY", append([]byte{}, pkcs8[:len(pkcs8)/2]...))
	privBad := map[string]struct {
		data []byte
		want string
	}{
		"empty":           {nil, "empty"},
		"not PEM":         {[]byte("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "no PEM block"},
		"public as priv":  {pemOf(t, "PUBLIC KEY", pkixDER), `"PUBLIC KEY"`},
		"encrypted":       {pemOf(t, "ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}), "encrypted"},
		"truncated":       {corrupt, "does not parse"},
		"two blocks":      {append(pemOf(t, "PRIVATE KEY", pkcs8), pemOf(t, "PRIVATE KEY", pkcs8)...), "more than one"},
		"1024-bit key":    {pemOf(t, "PRIVATE KEY", smallDER), "1024 bits"},
		"PKCS#1 as PKCS8": {pemOf(t, "PRIVATE KEY", x509.MarshalPKCS1PrivateKey(mk)), "does not parse"},
	}
	for name, tc := range privBad {
		t.Run("private bad "+name, func(t *testing.T) {
			_, err := wxsign.ParsePrivateKey(tc.data)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "MII", "no key material in errors")
			assert.Less(t, len(err.Error()), 300)
		})
	}
	_, err = wxsign.ParsePublicKey(pemOf(t, "PRIVATE KEY", pkcs8))
	require.ErrorContains(t, err, `"PRIVATE KEY"`)
	_, err = wxsign.ParsePublicKey(pemOf(t, "CERTIFICATE", []byte{0x30, 0x03, 1, 2, 3}))
	require.ErrorContains(t, err, "does not parse")
}

func TestNotification(t *testing.T) {
	_, wk := testKeys(t)
	apiV3Key := []byte("0123456789abcdef0123456789abcdef")
	res, err := wxsign.EncryptResource(apiV3Key, "fdasflkja484", "membercard", []byte(`{"card_id":"pb1","openid":"o1"}`))
	require.NoError(t, err)
	body := []byte(`{"id":"EV-2018022511223320873","create_time":"2015-05-20T13:29:35+08:00","resource_type":"encrypt-resource","event_type":"MEMBER_CARD.ACTIVATE","summary":"s","resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext":"` + res.Ciphertext + `","associated_data":"membercard","nonce":"fdasflkja484"}}`)
	v := &wxsign.Verifier{Keys: wxsign.KeySet{testKeyID: &wk.PublicKey}, Now: fixedClock(1700000000)}

	n, err := v.ParseNotification(signedAnswer(t, wk, testKeyID, 1700000000, "x", body), body)
	require.NoError(t, err)
	plain, err := wxsign.DecryptResource(apiV3Key, n.Resource)
	require.NoError(t, err)
	assert.JSONEq(t, `{"card_id":"pb1","openid":"o1"}`, string(plain))

	_, err = v.ParseNotification(signedAnswer(t, wk, testKeyID, 1700000000, "x", body), append(body, ' '))
	require.ErrorIs(t, err, wxsign.ErrBadSignature)

	tampered := n.Resource
	tampered.AssociatedData = "other"
	_, err = wxsign.DecryptResource(apiV3Key, tampered)
	require.ErrorContains(t, err, "does not decrypt")
	_, err = wxsign.DecryptResource([]byte("short"), n.Resource)
	require.ErrorContains(t, err, "5 bytes, want 32")
	wrongAlg := n.Resource
	wrongAlg.Algorithm = "AES_CBC"
	_, err = wxsign.DecryptResource(apiV3Key, wrongAlg)
	require.ErrorContains(t, err, "AEAD_AES_256_GCM")
}

func TestVerifyErrorMessageHasNoSecrets(t *testing.T) {
	_, wk := testKeys(t)
	v := &wxsign.Verifier{Keys: wxsign.KeySet{testKeyID: &wk.PublicKey}, Now: fixedClock(1700000000)}
	h := signedAnswer(t, wk, testKeyID, 1700000000, "n", []byte("{}"))
	sig := h.Get(wxsign.HeaderSignature)
	err := v.Verify(h, []byte(`{"token":"SECRET-TOKEN"}`))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "SECRET-TOKEN")
	assert.NotContains(t, err.Error(), sig)
	assert.False(t, errors.Is(err, wxsign.ErrMalformedAuthorization))
}
