// Package wxpaytest is a WeChat Pay API v3 stand-in for tests, in the manner
// of net/http/httptest: a server over real TLS, with its own throwaway CA
// and keys, that checks requests as WeChat Pay does (scheme per route, known
// identity and serial, clock, nonce reuse, signature over the exact bytes
// received, headers, rate limits), hands each verified request to the
// [Handler] of its [Route], signs the answer, can be told to misbehave, and
// records what it got.
//
// A client of the stand-in is one call away: [Server.Config] returns a
// ready wxpay.Config for an identity the server knows ([Server.AddMerchant],
// [Server.AddBrand]), trusting its CA and with no backup host.
//
// It knows no API of its own: register the APIs a test needs with
// [Server.Handle]. Package membercard/membercardtest registers the
// membership-card APIs, and plays the user whose opened and deleted cards
// WeChat Pay notifies ([Notifier], [PostNotification]).
package wxpaytest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// DefaultPublicKeyID is the ID of the stand-in's WeChat Pay public key.
const DefaultPublicKeyID = "PUB_KEY_ID_0114232134912410000000000000"

// Options configure a Server.
type Options struct {
	// IdleTimeout closes keep-alive connections idle this long, as WeChat
	// Pay does after about 8 s (the default).
	IdleTimeout time.Duration
	// RateLimits enforces each route's Limit, per caller, as WeChat Pay
	// answers 429 FREQUENCY_LIMITED.
	RateLimits bool
	// Listener, when set, is served instead of a new 127.0.0.1:0 listener.
	Listener net.Listener
	// Now is the stand-in's clock; nil means time.Now.
	Now func() time.Time
}

// Record is a request the server received, and what it answered.
type Record struct {
	Time    time.Time
	Method  string
	URI     string // the request target exactly as received
	Header  http.Header
	Body    []byte
	Status  int
	Code    string // WeChat Pay error code of the answer, empty on success
	Message string // and its message, which says which rule was broken
}

// Server is a running stand-in.
type Server struct {
	// URL is https://127.0.0.1:PORT.
	URL string
	// PublicKeyID names Key's public half, as WeChat Pay's public key ID does.
	PublicKeyID string
	// Key is the stand-in's WeChat Pay signing key.
	Key *rsa.PrivateKey

	srv   *httptest.Server
	caPEM []byte
	pool  *x509.CertPool
	opts  Options
	conns atomic.Int64
	reqID atomic.Int64

	mu         sync.Mutex
	nextKey    int
	identities map[string]*wxsign.Identity // by scheme + " " + ID
	routes     []*compiledRoute
	nonces     map[string]time.Time
	faults     []Fault
	records    []Record
	windows    map[string][]time.Time
}

// NewServer starts a stand-in. Close it when done.
func NewServer(opts Options) *Server {
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 8 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	caPEM, pool, cert, err := newTLS()
	if err != nil {
		panic(fmt.Sprintf("wxpaytest: making TLS certificates: %v", err))
	}
	s := &Server{
		PublicKeyID: DefaultPublicKeyID,
		Key:         PooledKey(0),
		caPEM:       caPEM,
		pool:        pool,
		opts:        opts,
		nextKey:     1,
		identities:  map[string]*wxsign.Identity{},
		nonces:      map[string]time.Time{},
		windows:     map[string][]time.Time{},
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	if opts.Listener != nil {
		_ = s.srv.Listener.Close()
		s.srv.Listener = opts.Listener
	}
	s.srv.Config.IdleTimeout = opts.IdleTimeout
	s.srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	// Handshake failures of clients that do not trust us are expected in tests.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.srv.StartTLS()
	s.URL = s.srv.URL
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// CloseClientConnections closes every connection, as WeChat Pay does to
// idle ones: the next call on a pooled connection finds it dead.
func (s *Server) CloseClientConnections() { s.srv.CloseClientConnections() }

// Connections is how many TCP connections the server has accepted.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// CACertPEM is the PEM of the throwaway CA that signed the server's
// certificate, for SSL_CERT_FILE.
func (s *Server) CACertPEM() []byte { return bytes.Clone(s.caPEM) }

// WriteCAFile writes CACertPEM to path.
func (s *Server) WriteCAFile(path string) error { return os.WriteFile(path, s.caPEM, 0o600) }

// CertPool trusts the server's CA.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Client returns a production-configured client (wxpay.NewHTTPClient) that
// trusts the server. Each call returns a new client with its own pool.
func (s *Server) Client() *http.Client { return wxpay.NewHTTPClient(s.pool) }

// Config is a ready wxpay.Config that calls the stand-in as id: BaseURL
// is the server's URL with no backup host (a connection the stand-in
// drops never fails over to the real WeChat Pay), id signs, the server's
// Verifier verifies, Wechatpay-Serial is the server's PublicKeyID, and
// HTTPClient is a new Client. id is an identity of this server
// (AddMerchant, AddBrand). Set any other field on the result.
func (s *Server) Config(id *wxsign.Identity) wxpay.Config {
	return wxpay.Config{
		BaseURL:     s.URL,
		BackupURL:   "-",
		Signer:      id.Signer(),
		Verifier:    s.Verifier(),
		PublicKeyID: s.PublicKeyID,
		HTTPClient:  s.Client(),
	}
}

// PublicKeyPEM is the stand-in's WeChat Pay public key.
func (s *Server) PublicKeyPEM() []byte { return PublicKeyPEM(&s.Key.PublicKey) }

// Verifier verifies the stand-in's answers.
func (s *Server) Verifier() *wxsign.Verifier {
	return &wxsign.Verifier{Keys: wxsign.KeySet{s.PublicKeyID: &s.Key.PublicKey}}
}

// AddMerchant registers a service provider and returns its identity.
func (s *Server) AddMerchant(mchid string) *wxsign.Identity {
	return s.addIdentity(wxsign.Merchant, mchid)
}

// AddBrand registers a brand and returns its identity.
func (s *Server) AddBrand(brandID string) *wxsign.Identity {
	return s.addIdentity(wxsign.Brand, brandID)
}

func (s *Server) addIdentity(scheme wxsign.Scheme, id string) *wxsign.Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := PooledKey(s.nextKey)
	s.nextKey++
	ident := &wxsign.Identity{Scheme: scheme, ID: id, SerialNo: fmt.Sprintf("%040X", s.nextKey*7919), Key: key}
	s.identities[string(scheme)+" "+id] = ident
	return ident
}

// Now is the stand-in's clock (Options.Now), for handlers.
func (s *Server) Now() time.Time { return s.opts.Now() }

// Requests returns what the server received so far.
func (s *Server) Requests() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.records...)
}

// ResetRequests forgets what the server received.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = nil
}

// FaultKind is a way to misbehave.
type FaultKind int

// The faults a Server can be told to commit.
const (
	ProbeSignature FaultKind = iota + 1 // sign with a WECHATPAY/SIGNTEST/ probe
	BadSignature                        // a signature that does not verify
	UnknownKeyID                        // Wechatpay-Serial names a key nobody holds
	StaleTimestamp                      // Wechatpay-Timestamp 10 minutes old
	MissingHeaders                      // no Wechatpay-* headers
	TamperedBody                        // change the body after signing
	Status                              // answer Fault.Status with WeChat Pay's error body
	Slow                                // wait Fault.Delay (or until the caller gives up), then answer
	Drop                                // close the connection without answering
	// DropAnswer handles the request, then closes the connection without
	// its answer: WeChat Pay acted, and the caller never heard.
	DropAnswer
	// Redirect answers Fault.Status (default 307) with a Location on this
	// server, unsigned, as a misconfigured proxy or a hijacked host
	// would: a client that follows it sends a second request, recorded.
	Redirect
)

// Fault is one misbehaviour, spent on one request.
type Fault struct {
	Kind   FaultKind
	Status int           // for Status: 429, 500, 503…
	Delay  time.Duration // for Slow
}

// Inject queues faults; each request takes the next one.
func (s *Server) Inject(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

func (s *Server) takeFault() (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) == 0 {
		return Fault{}, false
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	return f, true
}

// answer is what a route decided to send.
type answer struct {
	status  int
	code    string
	message string
	body    []byte
}

func apiError(status int, code, message string) answer {
	return answerOf(Error(status, code, message))
}

// answerOf is what the server sends for a handler's reply; the error code
// is kept for the record.
func answerOf(r Reply) answer {
	a := answer{status: r.Status, body: r.Body}
	if r.Status < 200 || r.Status > 299 {
		var e struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(r.Body, &e)
		a.code, a.message = e.Code, e.Message
	}
	return a
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	fault, faulty := s.takeFault()
	if faulty && fault.Kind == Redirect {
		status := fault.Status
		if status == 0 {
			status = http.StatusTemporaryRedirect
		}
		s.record(r, body, answer{status: status})
		w.Header().Set("Location", "/redirected"+r.URL.Path)
		w.Header().Set("Request-ID", s.newRequestID())
		w.WriteHeader(status)
		return
	}
	if faulty && fault.Kind == Drop {
		s.record(r, body, answer{})
		hangUp(w)
		return
	}
	if faulty && fault.Kind == DropAnswer {
		s.record(r, body, s.handle(r, body))
		hangUp(w)
		return
	}
	if faulty && fault.Kind == Slow {
		t := time.NewTimer(fault.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			// The caller gave up: send nothing, not even the empty 200
			// net/http would write for a handler that returns.
			t.Stop()
			s.record(r, body, answer{})
			hangUp(w)
			return
		}
	}
	var a answer
	if faulty && fault.Kind == Status {
		code, msg := "SYSTEM_ERROR", "系统异常，请稍后重试"
		if fault.Status == http.StatusTooManyRequests {
			code, msg = "FREQUENCY_LIMITED", "请求过快，达到接口频率限制"
		}
		a = apiError(fault.Status, code, msg)
	} else {
		a = s.handle(r, body)
	}
	s.record(r, body, a)
	s.write(w, a, fault)
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
		}
	}
}

func (s *Server) record(r *http.Request, body []byte, a answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, Record{
		Time: s.opts.Now(), Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone(),
		Body: body, Status: a.status, Code: a.code, Message: a.message,
	})
}

// write signs and sends an answer, committing the fault if it is one that
// spoils the signature.
func (s *Server) write(w http.ResponseWriter, a answer, f Fault) {
	ts := strconv.FormatInt(s.opts.Now().Unix(), 10)
	if f.Kind == StaleTimestamp {
		ts = strconv.FormatInt(s.opts.Now().Add(-10*time.Minute).Unix(), 10)
	}
	nonce, _ := wxsign.NewNonce()
	sig, err := wxsign.Sign(s.Key, wxsign.ResponseMessage(ts, nonce, a.body))
	if err != nil {
		http.Error(w, "signing failed", http.StatusInternalServerError)
		return
	}
	serial := s.PublicKeyID
	body := a.body
	switch f.Kind {
	case ProbeSignature:
		sig = wxsign.ProbePrefix + sig[len(wxsign.ProbePrefix):]
	case BadSignature:
		flip := "A"
		if sig[0] == 'A' {
			flip = "B"
		}
		sig = flip + sig[1:]
	case UnknownKeyID:
		serial = "PUB_KEY_ID_0000000000000000000000000000"
	case TamperedBody:
		body = bytes.Replace(body, []byte(`"`), []byte(`'`), 1)
		if bytes.Equal(body, a.body) {
			body = append(body, ' ')
		}
	}
	h := w.Header()
	h.Set("Request-ID", s.newRequestID())
	h.Set("Content-Type", "application/json; charset=utf-8")
	if f.Kind != MissingHeaders {
		h.Set(wxsign.HeaderTimestamp, ts)
		h.Set(wxsign.HeaderNonce, nonce)
		h.Set(wxsign.HeaderSignature, sig)
		h.Set(wxsign.HeaderSerial, serial)
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(body)
}

func (s *Server) newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("08%014X%s", s.reqID.Add(1), strings.ToUpper(hex.EncodeToString(b[:])))
}

func (s *Server) handle(r *http.Request, body []byte) answer {
	rt, params, status := s.match(r.Method, r.URL.EscapedPath())
	switch status {
	case http.StatusNotFound:
		return apiError(http.StatusNotFound, "NOT_FOUND", "请求的资源不存在")
	case http.StatusMethodNotAllowed:
		return apiError(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "不支持的请求方法")
	}
	if a, bad := s.checkHeaders(r, rt); bad {
		return a
	}
	caller, a, bad := s.authenticate(r, rt, body)
	if bad {
		return a
	}
	if rt.Scheme == wxsign.Brand && r.Header.Get(wxsign.HeaderSerial) != s.PublicKeyID {
		return apiError(http.StatusBadRequest, "INVALID_REQUEST", "Wechatpay-Serial 与 brand_id 对应的微信支付公钥ID不匹配")
	}
	if rt.RequireSerial && r.Header.Get(wxsign.HeaderSerial) == "" {
		return apiError(http.StatusBadRequest, "INVALID_REQUEST", "缺少 Wechatpay-Serial")
	}
	if serial := r.Header.Get(wxsign.HeaderSerial); serial != "" && serial != s.PublicKeyID {
		return apiError(http.StatusBadRequest, "INVALID_REQUEST", "Wechatpay-Serial 无效")
	}
	// One window per API and caller, whatever the path parameters: WeChat
	// Pay limits a merchant's calls to an API, not to one card of it.
	if s.opts.RateLimits && rt.Limit > 0 && !s.allow(rt.Method+" "+rt.Pattern+" "+caller.ID, rt.Limit) {
		return apiError(http.StatusTooManyRequests, "FREQUENCY_LIMITED", "请求过快，达到接口频率限制")
	}
	return answerOf(rt.Handler(&Call{
		Caller: caller, Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
		Header: r.Header.Clone(), Body: body, params: params,
	}))
}

// checkHeaders checks the headers every API v3 request must carry.
func (s *Server) checkHeaders(r *http.Request, rt *compiledRoute) (answer, bool) {
	switch accept := r.Header.Get("Accept"); accept {
	case "application/json", "*/*":
	default:
		return apiError(http.StatusBadRequest, "INVALID_REQUEST", "Accept 应为 application/json"), true
	}
	if r.Header.Get("User-Agent") == "" {
		return apiError(http.StatusBadRequest, "INVALID_REQUEST", "缺少 User-Agent"), true
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			return apiError(http.StatusBadRequest, "INVALID_REQUEST", "Content-Type 应为 application/json"), true
		}
	}
	return answer{}, false
}

// authenticate checks the Authorization header as WeChat Pay does.
func (s *Server) authenticate(r *http.Request, rt *compiledRoute, body []byte) (*wxsign.Identity, answer, bool) {
	signErr := func(msg string) (*wxsign.Identity, answer, bool) {
		return nil, apiError(http.StatusUnauthorized, "SIGN_ERROR", msg), true
	}
	c, err := wxsign.ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return signErr("Authorization 格式错误")
	}
	if c.Scheme != rt.Scheme {
		return signErr("认证类型错误，应为 " + string(rt.Scheme))
	}
	s.mu.Lock()
	caller := s.identities[string(c.Scheme)+" "+c.ID]
	s.mu.Unlock()
	if caller == nil {
		return signErr(c.Scheme.IDParam() + " 不存在")
	}
	if c.SerialNo != caller.SerialNo {
		return signErr("serial_no 与商户证书不匹配")
	}
	now := s.opts.Now().Unix()
	if d := now - c.Timestamp; d >= 300 || d <= -300 {
		return signErr("timestamp 已过期")
	}
	if len(c.Nonce) == 0 || len(c.Nonce) > 32 {
		return signErr("nonce_str 长度错误")
	}
	if err := wxsign.VerifyRequest(caller.Key.Public().(*rsa.PublicKey), c, r.Method, r.RequestURI, body); err != nil {
		return signErr("签名验证失败")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	nonceKey := c.ID + " " + c.Nonce
	if _, seen := s.nonces[nonceKey]; seen {
		return signErr("nonce_str 重复")
	}
	s.nonces[nonceKey] = s.opts.Now()
	if len(s.nonces) > 10000 {
		for k, t := range s.nonces {
			if s.opts.Now().Sub(t) > 10*time.Minute {
				delete(s.nonces, k)
			}
		}
	}
	return caller, answer{}, false
}

// allow is a sliding one-second window per key.
func (s *Server) allow(key string, limit int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	w := s.windows[key]
	for len(w) > 0 && now.Sub(w[0]) >= time.Second {
		w = w[1:]
	}
	if len(w) >= limit {
		s.windows[key] = w
		return false
	}
	s.windows[key] = append(w, now)
	return true
}

// ErrNoRequest is returned by LastRequest when nothing was received.
var ErrNoRequest = errors.New("wxpaytest: no request received")

// LastRequest returns the most recent request.
func (s *Server) LastRequest() (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.records) == 0 {
		return Record{}, ErrNoRequest
	}
	return s.records[len(s.records)-1], nil
}
