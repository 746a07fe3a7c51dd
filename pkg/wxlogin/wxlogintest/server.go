// Package wxlogintest is a stand-in for WeChat's mini-program login API
// (code2Session, GET /sns/jscode2session) for tests, in the manner of
// net/http/httptest: a server over real TLS with a throwaway CA, that
// knows the apps added to it, hands out one-time codes that expire after
// five minutes (as wx.login's do), answers every documented errcode, can
// be told to fail, and records what it got, the secret redacted.
package wxlogintest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"

	"github.com/wxcard/wxcard/pkg/wxlogin"
)

// CodeLifetime is how long a code stays valid, as wx.login's do.
const CodeLifetime = 5 * time.Minute

// Redacted replaces the secret in a Record.
const Redacted = "[REDACTED]"

// Options configure a Server.
type Options struct {
	// Now is the stand-in's clock; nil means time.Now. Codes expire by it.
	Now func() time.Time
	// CallsPerMinute, when above zero, is each AppID's quota: a call over
	// it in the same minute of Now answers 45011, as WeChat's minute quota does.
	CallsPerMinute int
}

// Record is a request the server received, and what it answered.
type Record struct {
	Time   time.Time
	Method string
	Path   string
	// Query is the request's query with the secret's value replaced by
	// Redacted (left empty when none was sent).
	Query   url.Values
	Status  int // HTTP status
	ErrCode int // errcode answered; 0 on success
}

// Server is a running stand-in.
type Server struct {
	// URL is https://127.0.0.1:PORT: the Config.BaseURL of a wxlogin client.
	URL string

	srv  *httptest.Server
	pool *x509.CertPool
	opts Options

	mu      sync.Mutex
	apps    map[string]string // appid → secret
	codes   map[string]*code
	blocked map[string]bool   // appid + " " + openid
	unionID map[string]string // appid + " " + openid → unionid
	faults  []fault
	calls   map[string][]time.Time // appid → call times in the current window
	records []Record
}

type code struct {
	appID, openID string
	issued        time.Time
	used          bool
}

type fault struct {
	errcode int
	errmsg  string
	status  int  // an HTTP status instead of an errcode
	hang    bool // no answer until the client gives up
}

// NewServer starts a stand-in. Close it when done.
func NewServer(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	pool, cert, err := newTLS()
	if err != nil {
		panic(fmt.Sprintf("wxlogintest: making TLS certificates: %v", err))
	}
	s := &Server{
		pool: pool, opts: opts,
		apps: map[string]string{}, codes: map[string]*code{}, blocked: map[string]bool{},
		unionID: map[string]string{}, calls: map[string][]time.Time{},
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.srv.StartTLS()
	s.URL = s.srv.URL
	return s
}

// Close shuts the server down; a request held by HangNext is released.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Client returns an http.Client that trusts the stand-in's certificate,
// configured as wxlogin.NewHTTPClient configures one.
func (s *Server) Client() *http.Client { return wxlogin.NewHTTPClient(s.pool) }

// RootCAs is the pool that trusts the stand-in.
func (s *Server) RootCAs() *x509.CertPool { return s.pool }

// Config is a wxlogin.Config for appID and secret against the stand-in.
func (s *Server) Config(appID, secret string) wxlogin.Config {
	return wxlogin.Config{BaseURL: s.URL, AppID: appID, AppSecret: secret, HTTPClient: s.Client()}
}

// AddApp registers a mini-program and its AppSecret.
func (s *Server) AddApp(appID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[appID] = secret
}

// IssueCode returns a new code for openID of appID, as wx.login gives one:
// it can be exchanged once, within CodeLifetime of now.
func (s *Server) IssueCode(appID, openID string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	c := base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	// Codes past their life answer as unknown ones do: forget them, so a
	// long-running sandbox does not grow with every wx.login.
	for k, old := range s.codes {
		if !now.Before(old.issued.Add(CodeLifetime)) {
			delete(s.codes, k)
		}
	}
	s.codes[c] = &code{appID: appID, openID: openID, issued: now}
	return c
}

// SetUnionID makes the exchanges of openID under appID answer unionID too.
func (s *Server) SetUnionID(appID, openID, unionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unionID[appID+" "+openID] = unionID
}

// BlockUser makes WeChat rate openID under appID high-risk: its codes
// answer 40226.
func (s *Server) BlockUser(appID, openID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocked[appID+" "+openID] = true
}

// FailNext makes the next request (after those already queued) answer
// errcode and errmsg, whatever it asks; the code it carries stays unused.
func (s *Server) FailNext(errcode int, errmsg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{errcode: errcode, errmsg: errmsg})
}

// FailNextStatus makes the next request answer HTTP status with an empty body.
func (s *Server) FailNextStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{status: status})
}

// HangNext makes the next request get no answer until its client gives up
// or the server closes: a WeChat that is too slow.
func (s *Server) HangNext() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{hang: true})
}

// MaxRecords is how many requests Requests keeps: the newest, so that a
// long-running sandbox does not grow with every exchange.
const MaxRecords = 10000

// record keeps rec, dropping the oldest beyond MaxRecords; s.mu is held.
func (s *Server) record(rec Record) {
	if len(s.records) == MaxRecords {
		s.records = append(s.records[:0], s.records[1:]...)
	}
	s.records = append(s.records, rec)
}

// Requests returns what the server received (at most MaxRecords, the
// newest), oldest first.
func (s *Server) Requests() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.records...)
}

// The errmsg texts the stand-in answers, as WeChat words them.
var messages = map[int]string{
	wxlogin.CodeBusy:           "system error",
	wxlogin.CodeInvalidCode:    "invalid code",
	wxlogin.CodeCodeUsed:       "code been used",
	wxlogin.CodeInvalidAppID:   "invalid appid",
	wxlogin.CodeInvalidSecret:  "invalid appsecret",
	wxlogin.CodeUserBlocked:    "high risk user",
	wxlogin.CodeQuotaExhausted: "api minute-quota reach limit  mustslower  retry next minute",
	40002:                      "invalid grant_type",
	41008:                      "missing code",
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rec := Record{Method: r.Method, Path: r.URL.Path, Query: url.Values{}}
	for k, v := range q {
		rec.Query[k] = append([]string(nil), v...)
	}
	if _, ok := rec.Query["secret"]; ok {
		rec.Query["secret"] = []string{Redacted}
	}
	s.mu.Lock()
	rec.Time = s.opts.Now()
	var f *fault
	if len(s.faults) > 0 {
		f = &s.faults[0]
		s.faults = s.faults[1:]
	}
	var body any
	switch {
	case f != nil && f.hang:
		s.record(rec)
		s.mu.Unlock()
		<-r.Context().Done()
		return
	case f != nil && f.status != 0:
		rec.Status = f.status
	case f != nil:
		rec.ErrCode = f.errcode
		body = map[string]any{"errcode": f.errcode, "errmsg": f.errmsg}
	case r.Method != http.MethodGet || r.URL.Path != wxlogin.Path:
		rec.Status = http.StatusNotFound
	default:
		body = s.exchange(q, &rec)
	}
	if rec.Status == 0 {
		rec.Status = http.StatusOK
	}
	s.record(rec)
	s.mu.Unlock()
	if body == nil {
		w.WriteHeader(rec.Status)
		return
	}
	b, _ := json.Marshal(body)
	// WeChat serves its JSON as text/plain.
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(b)
}

// exchange answers one code2Session call; s.mu is held.
func (s *Server) exchange(q url.Values, rec *Record) any {
	fail := func(errcode int) any {
		rec.ErrCode = errcode
		return map[string]any{"errcode": errcode, "errmsg": messages[errcode] + ", rid: 0000-stand-in"}
	}
	appID := q.Get("appid")
	secret, known := s.apps[appID]
	switch {
	case !known:
		return fail(wxlogin.CodeInvalidAppID)
	case q.Get("secret") != secret:
		return fail(wxlogin.CodeInvalidSecret)
	case q.Get("grant_type") != "authorization_code":
		return fail(40002)
	case q.Get("js_code") == "":
		return fail(41008)
	}
	now := s.opts.Now()
	if n := s.opts.CallsPerMinute; n > 0 {
		minute := now.Truncate(time.Minute)
		var kept []time.Time
		for _, t := range s.calls[appID] {
			if !t.Before(minute) {
				kept = append(kept, t)
			}
		}
		if len(kept) >= n {
			s.calls[appID] = kept
			return fail(wxlogin.CodeQuotaExhausted)
		}
		s.calls[appID] = append(kept, now)
	}
	c, ok := s.codes[q.Get("js_code")]
	switch {
	case !ok || c.appID != appID:
		return fail(wxlogin.CodeInvalidCode)
	case c.used:
		return fail(wxlogin.CodeCodeUsed)
	case !now.Before(c.issued.Add(CodeLifetime)):
		return fail(wxlogin.CodeInvalidCode)
	}
	c.used = true
	if s.blocked[appID+" "+c.openID] {
		return fail(wxlogin.CodeUserBlocked)
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	out := map[string]any{"openid": c.openID, "session_key": base64.StdEncoding.EncodeToString(key)}
	if u := s.unionID[appID+" "+c.openID]; u != "" {
		out["unionid"] = u
	}
	return out
}

// newTLS makes a throwaway CA and a certificate for 127.0.0.1 and localhost.
func newTLS() (*x509.CertPool, tls.Certificate, error) {
	var cert tls.Certificate
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, cert, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wxlogintest throwaway CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, cert, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, cert, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, cert, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "api.weixin.qq.com stand-in"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, cert, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}, nil
}
