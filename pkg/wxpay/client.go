// Package wxpay is a WeChat Pay API v3 client that does the transport right:
// it signs each attempt with [wxsign], verifies every 2xx answer before
// returning it, retries 429 and 5xx with backoff inside the caller's
// deadline, fails over to a backup host once when the first cannot be
// reached, and keeps one connection pool that survives a process that was
// suspended between calls.
//
// The backup host is WeChat Pay's own ([DefaultBackupURL]) only for a
// client of WeChat Pay's own host ([DefaultBaseURL]); a client pointed at
// anything else (a stand-in such as package wxpaytest, a proxy) has no
// backup unless [Config].BackupURL names one, so it never fails over to
// the real WeChat Pay. For tests, wxpaytest's Server.Config returns a
// ready Config.
//
// The client logs one line per call to Config.Logger, if one is given, and
// never the Authorization header, a body, or a token. Its User-Agent names
// this library; Config.Product puts the caller's product in front.
package wxpay

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxcard/wxcard/pkg/wxsign"
)

// Version is this library's version, sent in the User-Agent.
const Version = "0.1.0"

// LibraryProduct is the product token of this library in the User-Agent.
const LibraryProduct = "wxcard-wxpay/" + Version

// Default hosts of WeChat Pay API v3.
const (
	DefaultBaseURL   = "https://api.mch.weixin.qq.com"
	DefaultBackupURL = "https://api2.mch.weixin.qq.com"
)

// IdleConnTimeout is how long a pooled connection may stay idle. WeChat Pay
// closes idle keep-alive connections after about 8 s; dropping ours first
// means we never write into a connection the server is closing.
const IdleConnTimeout = 5 * time.Second

// AttemptTimeout bounds one attempt, from dial to the last byte of the answer.
const AttemptTimeout = 8 * time.Second

// MaxAnswerBytes bounds an answer's body; WeChat Pay's are a few hundred bytes.
const MaxAnswerBytes = 1 << 20

// NewHTTPClient returns the http.Client a process should share across
// invocations. rootCAs nil means the system roots (SSL_CERT_FILE applies).
// Every phase of one attempt has its own bound, and an attempt as a whole
// at most AttemptTimeout; the caller's context bounds the whole call,
// retries included.
func NewHTTPClient(rootCAs *x509.CertPool) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: (&net.Dialer{
				Timeout:   2 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: rootCAs},
			TLSHandshakeTimeout:   3 * time.Second,
			ResponseHeaderTimeout: 6 * time.Second,
			IdleConnTimeout:       IdleConnTimeout,
			MaxIdleConnsPerHost:   8,
		},
		Timeout:       AttemptTimeout,
		CheckRedirect: noRedirect,
	}
}

// noRedirect is every client's CheckRedirect: WeChat Pay never redirects,
// and following one would send a signed request elsewhere.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Config configures a Client. Signer and Verifier are required.
type Config struct {
	BaseURL string // default DefaultBaseURL
	// BackupURL is the host a call fails over to, once, when BaseURL
	// cannot be reached. Empty means DefaultBackupURL when BaseURL is
	// WeChat Pay's own host (DefaultBaseURL, or empty), and no backup
	// otherwise: a client of a stand-in or a proxy never fails over to
	// the real WeChat Pay. "-" means no backup whatever the BaseURL.
	BackupURL string

	Signer   *wxsign.Signer   // signs every attempt
	Verifier *wxsign.Verifier // verifies every 2xx answer
	// PublicKeyID is sent as Wechatpay-Serial: required by brand APIs, and it
	// makes partner APIs sign answers with that key.
	PublicKeyID string

	// HTTPClient is default NewHTTPClient(nil); share one per process. The
	// Client uses a copy whose CheckRedirect never follows a redirect
	// (the transport, and so the connection pool, is shared).
	HTTPClient *http.Client
	Logger     *slog.Logger // one line per call; nil logs nothing

	// Product is the caller's product, put in front of the library's in the
	// User-Agent: one or more "name/version" tokens separated by spaces,
	// such as "shop/1.4.2". Empty sends the library's alone.
	Product string

	MaxAttempts int           // default 3
	BaseBackoff time.Duration // default 100 ms; doubled each retry, with full jitter
	MaxBackoff  time.Duration // default 1 s

	// Pace, when set, is called before every attempt (retries, the fresh
	// connection and the fail-over included), and the attempt waits for
	// it: a rate limiter's Wait, for a caller that must keep every request
	// that may reach WeChat Pay under a rate. Its error ends the call.
	Pace func(ctx context.Context) error
}

// Client calls WeChat Pay. It is safe for concurrent use.
type Client struct {
	cfg       Config
	hosts     []string
	userAgent string
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.Signer == nil || cfg.Verifier == nil {
		return nil, errors.New("wxpay: Config needs a Signer and a Verifier")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	hosts := []string{strings.TrimRight(cfg.BaseURL, "/")}
	if cfg.BackupURL == "" && isWeChatPay(hosts[0]) {
		cfg.BackupURL = DefaultBackupURL
	}
	if cfg.BackupURL != "" && cfg.BackupURL != "-" {
		hosts = append(hosts, strings.TrimRight(cfg.BackupURL, "/"))
	}
	for _, h := range hosts {
		if !strings.HasPrefix(h, "https://") {
			return nil, fmt.Errorf("wxpay: host %q is not https://", h)
		}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = NewHTTPClient(nil)
	} else {
		hc := *cfg.HTTPClient
		hc.CheckRedirect = noRedirect
		cfg.HTTPClient = &hc
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := checkProduct(cfg.Product); err != nil {
		return nil, err
	}
	ua := fmt.Sprintf("%s (%s/%s) Go/%s", LibraryProduct, runtime.GOOS, runtime.GOARCH, runtime.Version())
	if cfg.Product != "" {
		ua = cfg.Product + " " + ua
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Second
	}
	return &Client{
		cfg:       cfg,
		hosts:     hosts,
		userAgent: ua,
	}, nil
}

// isWeChatPay reports whether host (no trailing slash) is DefaultBaseURL,
// as a URL compares: the host name in any case, the port 443 implied.
func isWeChatPay(host string) bool {
	return strings.EqualFold(strings.TrimSuffix(host, ":443"), DefaultBaseURL)
}

// checkProduct accepts space-separated product tokens, name or name/version,
// each an HTTP token (RFC 9110).
func checkProduct(p string) error {
	if p == "" {
		return nil
	}
	for _, word := range strings.Split(p, " ") {
		name, version, hasVersion := strings.Cut(word, "/")
		if !isToken(name) || (hasVersion && !isToken(version)) {
			return fmt.Errorf("wxpay: Config.Product %q is not product tokens like \"name/1.0\"", p)
		}
	}
	return nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r >= 0x7f || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// UserAgent is the User-Agent the client sends.
func (c *Client) UserAgent() string { return c.userAgent }

// Request is one API call.
type Request struct {
	Method string
	// Path is the path and query. It is signed as net/http sends it: a
	// character it escapes (a space, a non-ASCII letter) is signed escaped.
	Path string
	// Route is the path template, for logs (no IDs in it).
	Route string
	// Body is sent, and signed, byte for byte; nil for GET.
	Body []byte
}

// Response is a verified 2xx answer.
type Response struct {
	Status    int
	Body      []byte
	RequestID string
	Attempts  int
	// FailedOver reports that the answer came from the backup host.
	FailedOver bool
	// Latency is the time spent waiting for WeChat Pay, summed over the
	// attempts: from sending each request to reading its answer, without
	// signing or backoff.
	Latency time.Duration
}

// APIError is a 4xx or 5xx answer from WeChat Pay.
type APIError struct {
	Status    int             // the HTTP status
	Code      string          // WeChat Pay's error code, or the status text without one
	Message   string          // WeChat Pay's message
	Detail    json.RawMessage // WeChat Pay's detail, if any
	RequestID string          // the Request-ID header
	// RetryAfter is the answer's Retry-After (delay-seconds or an HTTP
	// date), 0 without one. Like the body, it is unverified: bound it
	// before passing it on.
	RetryAfter time.Duration
}

// errorBody is WeChat Pay's error body. It is unverified, so it is decoded
// apart: only the HTTP answer says the status and the request ID.
type errorBody struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Detail  json.RawMessage `json:"detail"`
}

func newAPIError(status int, requestID string, h http.Header, raw []byte) *APIError {
	var b errorBody
	if json.Unmarshal(raw, &b) != nil || b.Code == "" {
		b = errorBody{Code: http.StatusText(status), Message: "answer without a WeChat Pay error body"}
	}
	return &APIError{Status: status, Code: b.Code, Message: b.Message, Detail: b.Detail, RequestID: requestID,
		RetryAfter: retryAfter(h.Get("Retry-After"), time.Now())}
}

// retryAfter reads a Retry-After header (RFC 9110: delay-seconds or an
// HTTP date) as a delay from now; 0 when absent, malformed or past.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 1 || secs > int64(24*time.Hour/time.Second) {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func (e *APIError) Error() string {
	return fmt.Sprintf("wxpay: WeChat Pay answered %d %s: %s (request ID %q)", e.Status, e.Code, e.Message, e.RequestID)
}

// Retryable reports whether WeChat Pay asked to come back later: 429 or 5xx.
func (e *APIError) Retryable() bool { return e.Status == http.StatusTooManyRequests || e.Status >= 500 }

// Transport failures, matched with errors.Is.
var (
	// ErrUnreachable: no host answered (DNS, connect, TLS, or a connection
	// that broke before an answer), after fail-over.
	ErrUnreachable = errors.New("WeChat Pay unreachable")
	// ErrTimeout: no answer before the caller's deadline.
	ErrTimeout = errors.New("no answer from WeChat Pay before the deadline")
	// ErrInvalidAnswer: WeChat Pay answered a status that is neither 2xx,
	// 4xx nor 5xx, such as a redirect (which is never followed). It is
	// not retried.
	ErrInvalidAnswer = errors.New("WeChat Pay answered a status that is neither 2xx, 4xx nor 5xx")
)

// CallError wraps a failed call with what is safe to log about it.
type CallError struct {
	Route      string
	Attempts   int
	RequestID  string        // WeChat Pay's Request-ID of the last answer, if any
	FailedOver bool          // the call moved to the backup host
	Latency    time.Duration // time spent waiting for WeChat Pay, as in Response
	Err        error
}

func (e *CallError) Error() string {
	return fmt.Sprintf("wxpay: %s after %d attempt(s): %v", e.Route, e.Attempts, e.Err)
}

func (e *CallError) Unwrap() error { return e.Err }

// RequestID returns WeChat Pay's Request-ID carried by err, if any.
func RequestID(err error) string {
	var ce *CallError
	if errors.As(err, &ce) && ce.RequestID != "" {
		return ce.RequestID
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.RequestID
	}
	var ve *wxsign.VerifyError
	if errors.As(err, &ve) {
		return ve.RequestID
	}
	return ""
}

// Do makes the call: it returns a verified answer, or an error that is an
// *APIError, a *wxsign.VerifyError, ErrInvalidAnswer, ErrUnreachable,
// ErrTimeout or the error of Config.Pace (all wrapped in a *CallError).
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	start := time.Now()
	var st callStats
	resp, err := c.do(ctx, req, &st)
	c.log(ctx, req, resp, st, time.Since(start), err)
	if err != nil {
		requestID := RequestID(err)
		if requestID == "" {
			requestID = st.requestID
		}
		return nil, &CallError{Route: req.Route, Attempts: st.attempts, RequestID: requestID, FailedOver: st.failedOver, Latency: st.latency, Err: err}
	}
	resp.Attempts, resp.FailedOver, resp.Latency = st.attempts, st.failedOver, st.latency
	return resp, nil
}

// callStats is what a call did, for the caller's metrics.
type callStats struct {
	attempts   int
	failedOver bool
	latency    time.Duration
	requestID  string // the last attempt's Request-ID, if it was answered
}

func (c *Client) do(ctx context.Context, req Request, st *callStats) (*Response, error) {
	host := 0
	reusedRetry := false
	for attempt := 1; ; attempt++ {
		if c.cfg.Pace != nil {
			if err := c.cfg.Pace(ctx); err != nil {
				if ctx.Err() != nil {
					return nil, fmt.Errorf("%w: waiting for the pace: %w", ErrTimeout, err)
				}
				return nil, fmt.Errorf("wxpay: pace: %w", err)
			}
		}
		st.attempts = attempt
		resp, info, err := c.once(ctx, c.hosts[host], req)
		st.latency += info.waited
		st.requestID = info.requestID
		if err == nil {
			return resp, nil
		}
		var apiErr *APIError
		var verifyErr *wxsign.VerifyError
		switch {
		case errors.As(err, &verifyErr):
			// An answer that failed verification is that, whatever the clock says.
			return nil, err
		case errors.As(err, &apiErr):
			if !apiErr.Retryable() || attempt >= c.cfg.MaxAttempts {
				return nil, err
			}
			if !c.backoff(ctx, attempt) {
				return nil, err
			}
		case ctx.Err() != nil || isTimeout(err) && !info.connecting:
			// The caller's time is up, or the request may have been sent
			// and WeChat Pay be slow: final.
			return nil, fmt.Errorf("%w: %w", ErrTimeout, err)
		case info.answered || info.local:
			// An answer that did not verify or could not be read, or a request
			// we could not build: not a network failure, nothing to retry.
			return nil, err
		case info.reused && !reusedRetry:
			// A pooled connection died while idle (a server close racing our
			// write, or a thawed process): the server never saw the request,
			// so sending it again on a fresh connection is safe.
			reusedRetry = true
		case host+1 < len(c.hosts):
			// No answer from the primary: a connection refused, a connect or
			// TLS handshake that timed out, or one dropped before any answer
			// (which WeChat Pay may have seen: the backup may see it again,
			// as WeChat Pay's own advice to switch hosts implies).
			host++ // fail over once, to the backup host
			st.failedOver = true
		default:
			return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
		}
		if attempt >= c.cfg.MaxAttempts+2 {
			// Hard stop: retries, one fresh connection and one fail-over at most.
			return nil, err
		}
	}
}

// backoff waits before attempt+1: full jitter over BaseBackoff*2^(attempt-1),
// capped at MaxBackoff. It returns false, without waiting, when the wait
// would end past the context's deadline.
func (c *Client) backoff(ctx context.Context, attempt int) bool {
	ceiling := c.cfg.BaseBackoff << (attempt - 1)
	if ceiling > c.cfg.MaxBackoff || ceiling <= 0 {
		ceiling = c.cfg.MaxBackoff
	}
	wait := time.Duration(rand.Int64N(int64(ceiling)) + 1) //nolint:gosec // jitter, not a secret
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

type attemptInfo struct {
	// connecting: a connect or TLS handshake began and no connection was
	// obtained, so a timeout came before anything was sent. A transport
	// that reports neither leaves it false: its timeouts are final.
	connecting bool
	reused     bool // the request went out on a pooled connection
	answered   bool // WeChat Pay sent at least a status line
	local      bool // failed before anything was sent
	waited     time.Duration
	requestID  string // the answer's Request-ID
}

// once sends one signed attempt to host.
func (c *Client) once(ctx context.Context, host string, req Request) (*Response, attemptInfo, error) {
	var info attemptInfo
	info.local = true
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	// The transport may dial in a goroutine of its own, and go on dialling
	// after the request took a pooled connection instead: the trace is
	// written under a lock, and a dial that starts after GotConn is not
	// this attempt's.
	var trace struct {
		sync.Mutex
		got, connecting, reused bool
	}
	connecting := func() {
		trace.Lock()
		defer trace.Unlock()
		trace.connecting = trace.connecting || !trace.got
	}
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		ConnectStart:      func(string, string) { connecting() },
		TLSHandshakeStart: connecting,
		GotConn: func(ci httptrace.GotConnInfo) {
			trace.Lock()
			defer trace.Unlock()
			trace.got, trace.connecting, trace.reused = true, false, ci.Reused
		},
	})
	hreq, err := http.NewRequestWithContext(ctx, req.Method, host+req.Path, body)
	if err != nil {
		return nil, info, fmt.Errorf("wxpay: building request for %s: %w", req.Route, withoutURL(err, req.Route))
	}
	// Sign the request target net/http will write, which may be escaped
	// differently from req.Path (as the official SDK does).
	auth, err := c.cfg.Signer.Authorization(req.Method, hreq.URL.RequestURI(), req.Body)
	if err != nil {
		return nil, info, err
	}
	hreq.Header.Set("Authorization", auth)
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", c.userAgent)
	if c.cfg.PublicKeyID != "" {
		hreq.Header.Set("Wechatpay-Serial", c.cfg.PublicKeyID)
	}
	if req.Body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	info.local = false
	sent := time.Now()
	hresp, err := c.cfg.HTTPClient.Do(hreq)
	trace.Lock()
	info.connecting, info.reused = trace.connecting, trace.reused
	trace.Unlock()
	if err != nil {
		info.waited = time.Since(sent)
		return nil, info, withoutURL(err, req.Route)
	}
	defer hresp.Body.Close()
	info.answered = true
	raw, err := io.ReadAll(io.LimitReader(hresp.Body, MaxAnswerBytes+1))
	info.waited = time.Since(sent)
	requestID := hresp.Header.Get(wxsign.HeaderRequestID)
	info.requestID = requestID
	if err != nil {
		return nil, info, fmt.Errorf("wxpay: reading answer (request ID %q): %w", requestID, err)
	}
	if len(raw) > MaxAnswerBytes {
		return nil, info, fmt.Errorf("wxpay: answer over %d bytes (request ID %q)", MaxAnswerBytes, requestID)
	}
	switch st := hresp.StatusCode; {
	case st >= 400 && st <= 599:
		return nil, info, newAPIError(st, requestID, hresp.Header, raw)
	case st < 200 || st > 299:
		// A redirect (never followed: noRedirect) or a status WeChat Pay
		// does not send: neither an answer nor a refusal.
		return nil, info, fmt.Errorf("%w: %d (request ID %q)", ErrInvalidAnswer, st, requestID)
	}
	if err := c.cfg.Verifier.Verify(hresp.Header, raw); err != nil {
		return nil, info, err
	}
	return &Response{Status: hresp.StatusCode, Body: raw, RequestID: requestID}, info, nil
}

// withoutURL replaces the URL in a transport error by the API's route: a
// URL's path and query can carry what identifies a user's card (a card
// code, an encrypt_code), and errors end up in logs.
func withoutURL(err error, route string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: route, Err: ue.Err}
	}
	return err
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// log writes the one line of a call. It never logs the Authorization
// header, the body, an openid or a token.
func (c *Client) log(ctx context.Context, req Request, resp *Response, st callStats, d time.Duration, err error) {
	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.String("route", req.Route),
		slog.Int("attempts", st.attempts),
		slog.Bool("failed_over", st.failedOver),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
	}
	level := slog.LevelInfo
	status, code, requestID := 0, "", RequestID(err)
	var apiErr *APIError
	switch {
	case err == nil:
		status, requestID = resp.Status, resp.RequestID
	case errors.As(err, &apiErr):
		status, code = apiErr.Status, apiErr.Code
		level = slog.LevelWarn
	default:
		level = slog.LevelWarn
		if wxsign.IsProbe(err) {
			code = "PROBE_SIGNATURE"
		}
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	attrs = append(attrs, slog.Int("status", status), slog.String("code", code), slog.String("wechatpay_request_id", requestID))
	c.cfg.Logger.LogAttrs(ctx, level, "wechatpay call", attrs...)
}
