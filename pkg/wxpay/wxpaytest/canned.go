package wxpaytest

import (
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// Canned is a WeChat Pay that answers every request with one signed
// answer and checks nothing. Its own work per request is a read and a
// write, so a benchmark against it measures the client, not the server.
type Canned struct {
	URL  string
	srv  *httptest.Server
	pool *x509.CertPool
	key  *rsa.PrivateKey
	id   string
	body []byte

	mu       sync.Mutex
	signedAt time.Time
	header   http.Header
}

// NewCanned starts a Canned server answering 200 with body, signed by key
// under keyID.
func NewCanned(key *rsa.PrivateKey, keyID string, body []byte) *Canned {
	_, pool, cert, err := newTLS()
	if err != nil {
		panic(fmt.Sprintf("wxpaytest: making TLS certificates: %v", err))
	}
	c := &Canned{pool: pool, key: key, id: keyID, body: body}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(c.serve))
	c.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	c.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	c.srv.StartTLS()
	c.URL = c.srv.URL
	return c
}

// Close stops the server.
func (c *Canned) Close() { c.srv.Close() }

// CertPool trusts the server.
func (c *Canned) CertPool() *x509.CertPool { return c.pool }

// Client is a production-configured client (wxpay.NewHTTPClient) trusting the server.
func (c *Canned) Client() *http.Client { return wxpay.NewHTTPClient(c.pool) }

// answerHeader signs the answer once a minute, well inside the 5-minute window.
func (c *Canned) answerHeader() http.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.signedAt) < time.Minute {
		return c.header
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce, _ := wxsign.NewNonce()
	sig, err := wxsign.Sign(c.key, wxsign.ResponseMessage(ts, nonce, c.body))
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Request-ID", "08CANNED0000000000000000000000000000")
	h.Set(wxsign.HeaderTimestamp, ts)
	h.Set(wxsign.HeaderNonce, nonce)
	h.Set(wxsign.HeaderSignature, sig)
	h.Set(wxsign.HeaderSerial, c.id)
	c.header, c.signedAt = h, time.Now()
	return h
}

func (c *Canned) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	h := c.answerHeader()
	for k, v := range h {
		w.Header()[k] = v
	}
	_, _ = w.Write(c.body)
}
