package wxpay_test

import (
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// rawServer answers every request with handler, over TLS the client
// trusts; it counts the requests it saw.
func rawServer(t *testing.T, handler http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func rawClient(t *testing.T, base string, trust ...*httptest.Server) *wxpay.Client {
	pool := x509.NewCertPool()
	for _, s := range trust {
		pool.AddCert(s.Certificate())
	}
	c, err := wxpay.New(wxpay.Config{
		BaseURL: base, BackupURL: "-", PublicKeyID: wxpaytest.DefaultPublicKeyID,
		Signer:     &wxsign.Signer{Identity: wxsign.Identity{Scheme: wxsign.Merchant, ID: mchid, SerialNo: "5E0B1F7A", Key: wxpaytest.PooledKey(1)}},
		Verifier:   &wxsign.Verifier{Keys: wxsign.KeySet{wxpaytest.DefaultPublicKeyID: &wxpaytest.PooledKey(0).PublicKey}},
		HTTPClient: wxpay.NewHTTPClient(pool),
	})
	require.NoError(t, err)
	return c
}

// signed writes body as WeChat Pay would, with status, signed by its key.
func signed(w http.ResponseWriter, status int, body []byte) { signedOver(w, status, body, body) }

// signedOver writes body with a signature over other bytes.
func signedOver(w http.ResponseWriter, status int, body, over []byte) {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"
	sig, _ := wxsign.Sign(wxpaytest.PooledKey(0), wxsign.ResponseMessage(ts, nonce, over))
	h := w.Header()
	h.Set(wxsign.HeaderTimestamp, ts)
	h.Set(wxsign.HeaderNonce, nonce)
	h.Set(wxsign.HeaderSignature, sig)
	h.Set(wxsign.HeaderSerial, wxpaytest.DefaultPublicKeyID)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Every 2xx answer is verified, not only 200: an unsigned or forged 201
// or 204 is refused, and a signed one accepted.
func TestEvery2xxIsVerified(t *testing.T) {
	t.Parallel()
	for _, status := range []int{200, 201, 202, 204} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			body := []byte(`{"token":"forged"}`)
			if status == http.StatusNoContent {
				body = nil
			}
			unsigned, _ := rawServer(t, func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(status)
				_, _ = w.Write(body)
			})
			_, err := rawClient(t, unsigned.URL, unsigned).Do(ctxWithin(t, 5*time.Second), partnerRequest())
			var ve *wxsign.VerifyError
			require.ErrorAs(t, err, &ve, "an unsigned %d is refused", status)

			forged, _ := rawServer(t, func(w http.ResponseWriter, _ *http.Request) {
				signedOver(w, status, body, []byte(`{"token":"genuine"}`))
			})
			_, err = rawClient(t, forged.URL, forged).Do(ctxWithin(t, 5*time.Second), partnerRequest())
			require.ErrorAs(t, err, &ve, "a %d whose signature is over other bytes is refused", status)

			genuine, _ := rawServer(t, func(w http.ResponseWriter, _ *http.Request) { signed(w, status, body) })
			resp, err := rawClient(t, genuine.URL, genuine).Do(ctxWithin(t, 5*time.Second), partnerRequest())
			require.NoError(t, err)
			assert.Equal(t, status, resp.Status)
		})
	}
}

// A redirect is never followed: following it would send a signed request
// elsewhere. The target would answer a genuine signed 200.
func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			target, hits := rawServer(t, func(w http.ResponseWriter, _ *http.Request) {
				signed(w, http.StatusOK, []byte(`{"token":"t"}`))
			})
			redirector, _ := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+r.URL.Path, status)
			})
			_, err := rawClient(t, redirector.URL, redirector, target).Do(ctxWithin(t, 5*time.Second), partnerRequest())
			require.Error(t, err)
			assert.Zero(t, hits.Load(), "the signed request never reached the redirect's target")
		})
	}
}
