// Package wxlogin is a client of WeChat's mini-program login API,
// code2Session (GET /sns/jscode2session): it exchanges the one-time code a
// mini-program's wx.login gives for the user's openid, unionid and session
// key.
//
// Security rules it keeps: the app secret travels in the request's query
// string, so no error, log line or value this package returns ever holds
// the request URL or the secret; the session key is a [SessionKey], which
// prints, logs and marshals as "[REDACTED]" (call [SessionKey.Reveal] to
// use it). It retries only what WeChat asks to retry (errcode -1, a 5xx,
// or no connection at all), at most [Config.MaxAttempts] times inside the
// caller's deadline, and never follows a redirect.
//
// It needs nothing but the standard library.
package wxlogin

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
	"strings"
	"sync"
	"time"
)

// DefaultBaseURL is WeChat's API host.
const DefaultBaseURL = "https://api.weixin.qq.com"

// Path is code2Session's path.
const Path = "/sns/jscode2session"

// UserAgent is the User-Agent the client sends.
const UserAgent = "wxcard-wxlogin/0.1.0"

// MaxAnswerBytes bounds an answer; code2Session's are under 200 bytes.
const MaxAnswerBytes = 16 << 10

// AttemptTimeout bounds one attempt, from dial to the last byte of the answer.
const AttemptTimeout = 5 * time.Second

// NewHTTPClient returns the http.Client a process should share: every
// phase of an attempt bounded, TLS verified against rootCAs (nil: the
// system roots), redirects never followed (one would carry the app secret
// elsewhere).
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
			ResponseHeaderTimeout: 4 * time.Second,
			// Well under a server's keep-alive timeout, so a pooled
			// connection is seldom closed by WeChat just as a code goes
			// out on it (such a request is not resent: see exchange).
			IdleConnTimeout:     5 * time.Second,
			MaxIdleConnsPerHost: 4,
		},
		Timeout:       AttemptTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Config configures a Client. AppID and AppSecret are required.
type Config struct {
	BaseURL   string // default DefaultBaseURL; must be https://
	AppID     string // the mini-program's AppID
	AppSecret string // the mini-program's AppSecret: never printed by this package

	HTTPClient *http.Client // default NewHTTPClient(nil); share one per process

	MaxAttempts int           // default 3
	BaseBackoff time.Duration // default 100 ms; doubled each retry, with full jitter
	MaxBackoff  time.Duration // default 1 s
}

// Client calls code2Session. It is safe for concurrent use.
type Client struct {
	cfg Config
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("wxlogin: BaseURL %q is not an https:// host", cfg.BaseURL)
	}
	if cfg.AppID == "" || cfg.AppSecret == "" {
		return nil, errors.New("wxlogin: Config needs AppID and AppSecret")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = NewHTTPClient(nil)
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
	return &Client{cfg: cfg}, nil
}

// AppID is the AppID the client signs in to.
func (c *Client) AppID() string { return c.cfg.AppID }

// Session is a successful exchange.
type Session struct {
	OpenID     string     // the user's openid for this mini-program
	UnionID    string     // the user's unionid, when WeChat gave one
	SessionKey SessionKey // never printed; see SessionKey
	Attempts   int        // attempts made, retries included
	// Latency is the time spent waiting for WeChat, summed over attempts.
	Latency time.Duration
}

// SessionKey is the user's session key. It prints, logs and marshals as
// "[REDACTED]" in every form, so that a Session can be logged or printed
// whole; Reveal returns it for the one use it has (decrypting the user's
// data with it, on the server).
type SessionKey struct{ v string }

// NewSessionKey wraps a session key (for tests and stand-ins).
func NewSessionKey(v string) SessionKey { return SessionKey{v} }

const redacted = "[REDACTED]"

// Reveal returns the session key itself.
func (k SessionKey) Reveal() string { return k.v }

// IsZero reports whether WeChat gave no session key.
func (k SessionKey) IsZero() bool { return k.v == "" }

// String redacts.
func (k SessionKey) String() string { return redacted }

// GoString redacts.
func (k SessionKey) GoString() string { return redacted }

// Format redacts, whatever the verb.
func (k SessionKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue redacts.
func (k SessionKey) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts.
func (k SessionKey) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// MarshalText redacts.
func (k SessionKey) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Errors, matched with errors.Is. An *APIError matches the sentinel of its
// errcode.
var (
	// ErrInvalidCode: the code is unknown, expired or already used (40029, 40163).
	ErrInvalidCode = errors.New("wxlogin: invalid, expired or used code")
	// ErrUserBlocked: WeChat refuses a user it rates high-risk (40226).
	ErrUserBlocked = errors.New("wxlogin: user blocked as high-risk")
	// ErrRateLimited: the AppID's quota of calls is spent (45011).
	ErrRateLimited = errors.New("wxlogin: rate limited")
	// ErrBadCredentials: WeChat refuses the AppID or AppSecret (40013, 40125).
	ErrBadCredentials = errors.New("wxlogin: invalid AppID or AppSecret")
	// ErrBusy: WeChat was busy (-1) on every attempt.
	ErrBusy = errors.New("wxlogin: WeChat busy")
	// ErrInvalidAnswer: an answer that is not code2Session's: not JSON, no
	// openid, another errcode, an unexpected HTTP status or a redirect.
	ErrInvalidAnswer = errors.New("wxlogin: invalid answer")
	// ErrUnavailable: WeChat answered 5xx on every attempt, or could not be
	// reached.
	ErrUnavailable = errors.New("wxlogin: WeChat unavailable")
	// ErrTimeout: no answer before the deadline.
	ErrTimeout = errors.New("wxlogin: no answer from WeChat before the deadline")
)

// The errcodes code2Session documents.
const (
	CodeBusy           = -1
	CodeInvalidCode    = 40029
	CodeCodeUsed       = 40163
	CodeInvalidAppID   = 40013
	CodeInvalidSecret  = 40125
	CodeUserBlocked    = 40226
	CodeQuotaExhausted = 45011
)

// APIError is an errcode WeChat answered.
type APIError struct {
	Code    int    // errcode
	Message string // errmsg with the secret and code cut out, then shortened to MaxErrMsg
}

func (e *APIError) Error() string {
	return fmt.Sprintf("wxlogin: code2Session answered errcode %d: %s", e.Code, e.Message)
}

// Is matches the sentinel of e's errcode.
func (e *APIError) Is(target error) bool { return target == sentinel(e.Code) }

func sentinel(code int) error {
	switch code {
	case CodeInvalidCode, CodeCodeUsed:
		return ErrInvalidCode
	case CodeUserBlocked:
		return ErrUserBlocked
	case CodeQuotaExhausted:
		return ErrRateLimited
	case CodeInvalidAppID, CodeInvalidSecret:
		return ErrBadCredentials
	case CodeBusy:
		return ErrBusy
	}
	return ErrInvalidAnswer
}

// CallError wraps a failed exchange with what is safe to log about it.
type CallError struct {
	Attempts int
	Latency  time.Duration // time spent waiting for WeChat, as in Session
	Err      error
}

func (e *CallError) Error() string {
	return fmt.Sprintf("code2Session after %d attempt(s): %v", e.Attempts, e.Err)
}

func (e *CallError) Unwrap() error { return e.Err }

// Exchange trades a wx.login code for the user's session. Its error wraps
// an *APIError or one of the sentinels above, in a *CallError.
func (c *Client) Exchange(ctx context.Context, code string) (*Session, error) {
	if code == "" {
		return nil, &CallError{Err: fmt.Errorf("%w: empty code", ErrInvalidCode)}
	}
	var st stats
	s, err := c.exchange(ctx, code, &st)
	if err != nil {
		return nil, &CallError{Attempts: st.attempts, Latency: st.latency, Err: err}
	}
	s.Attempts, s.Latency = st.attempts, st.latency
	return s, nil
}

type stats struct {
	attempts int
	latency  time.Duration
}

func (c *Client) exchange(ctx context.Context, code string, st *stats) (*Session, error) {
	reusedRetry := false
	for attempt := 1; ; attempt++ {
		st.attempts = attempt
		s, info, err := c.once(ctx, code)
		st.latency += info.waited
		if err == nil {
			return s, nil
		}
		var retry bool
		switch {
		case errors.Is(err, ErrBusy), info.status >= 500:
			// WeChat said busy, or its gateway failed before an answer:
			// retried. An answer cut short after a 200 is final: WeChat
			// may have exchanged the code, and a retry would spend it.
			retry = true
		case info.answered || info.local:
			return nil, err
		case ctx.Err() != nil || isTimeout(err) && !info.connecting:
			// The caller's time is up, or the request may have been sent
			// (and the code spent) and WeChat be slow: final.
			return nil, fmt.Errorf("%w: %w", ErrTimeout, err)
		case info.written:
			// The request went out and the connection died without an
			// answer: WeChat may have exchanged the code, and a resend
			// would spend it (40163). Final, as a cut-short answer is.
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		case info.reused && !reusedRetry:
			// A pooled connection died while idle, before the request
			// was written: WeChat never saw it, so a fresh connection is
			// safe and is no retry.
			reusedRetry = true
			attempt--
			continue
		default:
			// No connection at all: WeChat never saw the code.
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
			retry = true
		}
		if !retry || attempt >= c.cfg.MaxAttempts || !c.backoff(ctx, attempt) {
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
	connecting bool // a connect or TLS handshake began and no connection came of it
	reused     bool // the request went out on a pooled connection
	written    bool // the whole request was written to the connection
	answered   bool // WeChat sent at least a status line
	status     int  // the HTTP status WeChat answered, when answered
	local      bool // failed before anything was sent
	waited     time.Duration
}

// requestURL is the request's URL, with the secret in it: it goes to
// net/http and nowhere else.
func (c *Client) requestURL(code string) string {
	return c.cfg.BaseURL + Path + "?appid=" + url.QueryEscape(c.cfg.AppID) + "&secret=" + url.QueryEscape(c.cfg.AppSecret) +
		"&js_code=" + url.QueryEscape(code) + "&grant_type=authorization_code"
}

func (c *Client) once(ctx context.Context, code string) (*Session, attemptInfo, error) {
	info := attemptInfo{local: true}
	// net/http may go on dialling for this request in its own goroutine
	// after the request took a pooled connection: the trace is written
	// under a lock, and a connect that starts after GotConn is not this
	// request's.
	var (
		mu                             sync.Mutex
		got, connecting, reused, wrote bool
	)
	connect := func() {
		mu.Lock()
		defer mu.Unlock()
		if !got {
			connecting = true
		}
	}
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		ConnectStart:      func(string, string) { connect() },
		TLSHandshakeStart: connect,
		GotConn: func(ci httptrace.GotConnInfo) {
			mu.Lock()
			defer mu.Unlock()
			got, connecting, reused = true, false, ci.Reused
		},
		WroteRequest: func(w httptrace.WroteRequestInfo) {
			mu.Lock()
			defer mu.Unlock()
			wrote = w.Err == nil
		},
	})
	traced := func() {
		mu.Lock()
		defer mu.Unlock()
		info.connecting, info.reused, info.written = connecting, reused, wrote
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.requestURL(code), nil)
	if err != nil {
		return nil, info, c.scrub(code, "building the request", err)
	}
	// An empty body net/http cannot rewind (no GetBody): it sends nothing
	// on the wire, but net/http then never resends the GET by itself when
	// a pooled connection breaks after the request went out, which could
	// spend the code twice unseen. Whether to resend is decided in
	// exchange, once, from the trace.
	req.Body = io.NopCloser(strings.NewReader(""))
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	info.local = false
	sent := time.Now()
	resp, err := c.cfg.HTTPClient.Do(req)
	traced()
	if err != nil {
		info.waited = time.Since(sent)
		return nil, info, c.scrub(code, "sending", err)
	}
	defer resp.Body.Close()
	info.answered, info.status = true, resp.StatusCode
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes+1))
	info.waited = time.Since(sent)
	switch {
	case err != nil && (ctx.Err() != nil || isTimeout(err)):
		return nil, info, fmt.Errorf("%w: %w", ErrTimeout, c.scrub(code, "reading the answer", err))
	case err != nil:
		return nil, info, fmt.Errorf("%w: %w", ErrUnavailable, c.scrub(code, "reading the answer", err))
	case resp.StatusCode >= 500:
		return nil, info, fmt.Errorf("%w: HTTP status %d", ErrUnavailable, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, info, fmt.Errorf("%w: HTTP status %d", ErrInvalidAnswer, resp.StatusCode)
	case len(raw) > MaxAnswerBytes:
		return nil, info, fmt.Errorf("%w: answer over %d bytes", ErrInvalidAnswer, MaxAnswerBytes)
	}
	s, err := parseAnswer(raw, func(msg string) string { return c.clean(code, msg) })
	if err != nil {
		return nil, info, err
	}
	return s, info, nil
}

// answer is code2Session's JSON.
type answer struct {
	OpenID     *string          `json:"openid"`
	SessionKey *string          `json:"session_key"`
	UnionID    *string          `json:"unionid"`
	ErrCode    *json.RawMessage `json:"errcode"`
	ErrMsg     *string          `json:"errmsg"`
}

// MaxErrMsg bounds the errmsg an APIError keeps.
const MaxErrMsg = 200

// ParseAnswer reads a code2Session answer: a *Session, or an error that is
// an *APIError (a non-zero errcode) or wraps ErrInvalidAnswer (not one JSON
// object, an errcode that is not an integer, no openid, or an openid or
// unionid that is not 1 to 128 of [A-Za-z0-9_-]).
func ParseAnswer(raw []byte) (*Session, error) { return parseAnswer(raw, nil) }

// parseAnswer is ParseAnswer with clean, when not nil, applied to the
// whole errmsg before it is cut to MaxErrMsg: cut first, a secret or code
// straddling the cut would keep its head, which no scrub matches.
func parseAnswer(raw []byte, clean func(string) string) (*Session, error) {
	var a answer
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalidAnswer)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrInvalidAnswer)
	}
	if a.ErrCode != nil {
		var code int
		if err := json.Unmarshal(*a.ErrCode, &code); err != nil {
			return nil, fmt.Errorf("%w: errcode is not an integer", ErrInvalidAnswer)
		}
		if code != 0 {
			msg := ""
			if a.ErrMsg != nil {
				msg = *a.ErrMsg
			}
			if clean != nil {
				msg = clean(msg)
			}
			return nil, &APIError{Code: code, Message: printable(msg, MaxErrMsg)}
		}
	}
	if a.OpenID == nil || !isID(*a.OpenID) {
		return nil, fmt.Errorf("%w: no usable openid", ErrInvalidAnswer)
	}
	s := &Session{OpenID: *a.OpenID}
	if a.UnionID != nil && *a.UnionID != "" {
		if !isID(*a.UnionID) {
			return nil, fmt.Errorf("%w: unionid is not an ID", ErrInvalidAnswer)
		}
		s.UnionID = *a.UnionID
	}
	if a.SessionKey != nil {
		s.SessionKey = SessionKey{*a.SessionKey}
	}
	return s, nil
}

// isID: 1 to 128 characters of [A-Za-z0-9_-], the alphabet of WeChat's IDs.
func isID(v string) bool {
	if v == "" || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		ch := v[i]
		ok := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-'
		if !ok {
			return false
		}
	}
	return true
}

// printable keeps at most max bytes of s, with anything outside printable
// ASCII replaced: an errmsg is unverified text that ends up in logs.
func printable(s string, max int) string {
	b := []byte(s)
	if len(b) > max {
		b = b[:max]
	}
	for i, ch := range b {
		if ch < 0x20 || ch > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// clean cuts the secret and the code out of text WeChat or a transport
// produced.
func (c *Client) clean(code, s string) string {
	for _, v := range []string{c.cfg.AppSecret, url.QueryEscape(c.cfg.AppSecret), code, url.QueryEscape(code)} {
		if v != "" {
			s = strings.ReplaceAll(s, v, redacted)
		}
	}
	return s
}

// scrub turns a transport error into one without the URL: *url.Error
// prints the URL, and the URL holds the secret. The cause is kept (for
// errors.Is and errors.As) only when its own text holds neither the secret
// nor the code.
func (c *Client) scrub(code, doing string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := c.clean(code, err.Error())
	if msg != err.Error() {
		return &transportError{msg: "wxlogin: " + doing + " " + Path + ": " + msg}
	}
	return &transportError{msg: "wxlogin: " + doing + " " + Path + ": " + msg, err: err}
}

type transportError struct {
	msg string
	err error
}

func (e *transportError) Error() string { return e.msg }
func (e *transportError) Unwrap() error { return e.err }

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
