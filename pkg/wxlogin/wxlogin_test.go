package wxlogin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/wxlogin"
	"github.com/wxcard/wxcard/pkg/wxlogin/wxlogintest"
)

const (
	appID  = "wx0123456789abcdef"
	secret = "s3cr3t-Value+/="
	openID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newStandIn(t *testing.T, opts wxlogintest.Options) *wxlogintest.Server {
	t.Helper()
	srv := wxlogintest.NewServer(opts)
	t.Cleanup(srv.Close)
	srv.AddApp(appID, secret)
	return srv
}

func newClient(t *testing.T, srv *wxlogintest.Server, appID, secret string) *wxlogin.Client {
	t.Helper()
	cfg := srv.Config(appID, secret)
	cfg.BaseBackoff = time.Millisecond
	c, err := wxlogin.New(cfg)
	require.NoError(t, err)
	return c
}

// assertNoSecret checks that an error's text holds neither the secret
// (plain or escaped) nor the code.
func assertNoSecret(t *testing.T, err error, code string) {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		for _, v := range []string{secret, "s3cr3t-Value%2B%2F%3D", "secret=", code} {
			if v != "" {
				assert.NotContains(t, e.Error(), v)
			}
		}
	}
}

func TestExchange(t *testing.T) {
	t.Parallel()
	srv := newStandIn(t, wxlogintest.Options{})
	c := newClient(t, srv, appID, secret)
	code := srv.IssueCode(appID, openID)
	s, err := c.Exchange(context.Background(), code)
	require.NoError(t, err)
	assert.Equal(t, openID, s.OpenID)
	assert.Empty(t, s.UnionID)
	assert.Len(t, s.SessionKey.Reveal(), 24)
	assert.False(t, s.SessionKey.IsZero())
	assert.Equal(t, 1, s.Attempts)
	assert.Positive(t, s.Latency)
	assert.Equal(t, appID, c.AppID())

	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, http.MethodGet, reqs[0].Method)
	assert.Equal(t, wxlogin.Path, reqs[0].Path)
	assert.Equal(t, appID, reqs[0].Query.Get("appid"))
	assert.Equal(t, wxlogintest.Redacted, reqs[0].Query.Get("secret"))
	assert.Equal(t, code, reqs[0].Query.Get("js_code"))
	assert.Equal(t, "authorization_code", reqs[0].Query.Get("grant_type"))
	assert.Equal(t, http.StatusOK, reqs[0].Status)

	srv.SetUnionID(appID, "other", "oUnion_1")
	s, err = c.Exchange(context.Background(), srv.IssueCode(appID, "other"))
	require.NoError(t, err)
	assert.Equal(t, "oUnion_1", s.UnionID)
}

func TestQueryEscaped(t *testing.T) {
	t.Parallel()
	var got string
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.RawQuery
		_, _ = w.Write([]byte(`{"openid":"o1","session_key":"k"}`))
	}))
	defer ts.Close()
	c, err := wxlogin.New(wxlogin.Config{BaseURL: ts.URL + "/", AppID: "a&b", AppSecret: "x y&z=1", HTTPClient: ts.Client()})
	require.NoError(t, err)
	_, err = c.Exchange(context.Background(), "c&d=e")
	require.NoError(t, err)
	assert.Equal(t, "appid=a%26b&secret=x+y%26z%3D1&js_code=c%26d%3De&grant_type=authorization_code", got)
}

func TestErrcodes(t *testing.T) {
	t.Parallel()
	now := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	srv := newStandIn(t, wxlogintest.Options{Now: now.Now})
	srv.AddApp("wxother", "other")
	srv.BlockUser(appID, "risky")
	expired := srv.IssueCode(appID, openID)
	now.Add(wxlogintest.CodeLifetime)
	// Used within its life (a code past it answers as an unknown one).
	used := srv.IssueCode(appID, openID)
	_, err := newClient(t, srv, appID, secret).Exchange(context.Background(), used)
	require.NoError(t, err)
	cases := []struct {
		name      string
		appID     string
		secret    string
		code      string
		errcode   int
		sentinel  error
		attempts  int
		retryable bool
	}{
		{"unknown code", appID, secret, "nope", 40029, wxlogin.ErrInvalidCode, 1, false},
		{"expired code", appID, secret, expired, 40029, wxlogin.ErrInvalidCode, 1, false},
		{"another app's code", appID, secret, srv.IssueCode("wxother", openID), 40029, wxlogin.ErrInvalidCode, 1, false},
		{"used code", appID, secret, used, 40163, wxlogin.ErrInvalidCode, 1, false},
		{"blocked user", appID, secret, srv.IssueCode(appID, "risky"), 40226, wxlogin.ErrUserBlocked, 1, false},
		{"wrong secret", appID, "wrong", srv.IssueCode(appID, openID), 40125, wxlogin.ErrBadCredentials, 1, false},
		{"unknown appid", "wxnobody", secret, srv.IssueCode(appID, openID), 40013, wxlogin.ErrBadCredentials, 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := newClient(t, srv, tc.appID, tc.secret).Exchange(context.Background(), tc.code)
			require.ErrorIs(t, err, tc.sentinel)
			var ae *wxlogin.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.errcode, ae.Code)
			assert.NotEmpty(t, ae.Message)
			var ce *wxlogin.CallError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.attempts, ce.Attempts)
			assertNoSecret(t, err, tc.code)
			for _, other := range []error{wxlogin.ErrInvalidCode, wxlogin.ErrUserBlocked, wxlogin.ErrRateLimited, wxlogin.ErrBadCredentials, wxlogin.ErrBusy, wxlogin.ErrInvalidAnswer, wxlogin.ErrUnavailable, wxlogin.ErrTimeout} {
				if !errors.Is(other, tc.sentinel) {
					assert.NotErrorIs(t, err, other)
				}
			}
		})
	}
}

func TestQuota(t *testing.T) {
	t.Parallel()
	now := &clock{t: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)}
	srv := newStandIn(t, wxlogintest.Options{Now: now.Now, CallsPerMinute: 1})
	c := newClient(t, srv, appID, secret)
	_, err := c.Exchange(context.Background(), srv.IssueCode(appID, openID))
	require.NoError(t, err)
	code := srv.IssueCode(appID, openID)
	_, err = c.Exchange(context.Background(), code)
	require.ErrorIs(t, err, wxlogin.ErrRateLimited)
	assert.Len(t, srv.Requests(), 2, "45011 is not retried")
	now.Add(time.Minute)
	_, err = c.Exchange(context.Background(), code)
	require.NoError(t, err, "a code refused for quota is still good")
}

func TestRetries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		faults   func(*wxlogintest.Server)
		sentinel error
		attempts int
	}{
		{"busy then fine", func(s *wxlogintest.Server) { s.FailNext(-1, "system error") }, nil, 2},
		{"busy twice then fine", func(s *wxlogintest.Server) { s.FailNext(-1, "busy"); s.FailNext(-1, "busy") }, nil, 3},
		{"busy three times", func(s *wxlogintest.Server) {
			for range 3 {
				s.FailNext(-1, "busy")
			}
		}, wxlogin.ErrBusy, 3},
		{"5xx then fine", func(s *wxlogintest.Server) { s.FailNextStatus(http.StatusBadGateway) }, nil, 2},
		{"500 then fine", func(s *wxlogintest.Server) { s.FailNextStatus(http.StatusInternalServerError) }, nil, 2},
		{"5xx three times", func(s *wxlogintest.Server) {
			for range 3 {
				s.FailNextStatus(http.StatusServiceUnavailable)
			}
		}, wxlogin.ErrUnavailable, 3},
		{"4xx", func(s *wxlogintest.Server) { s.FailNextStatus(http.StatusForbidden) }, wxlogin.ErrInvalidAnswer, 1},
		{"redirect", func(s *wxlogintest.Server) { s.FailNextStatus(http.StatusFound) }, wxlogin.ErrInvalidAnswer, 1},
		{"another errcode", func(s *wxlogintest.Server) { s.FailNext(40001, "whatever") }, wxlogin.ErrInvalidAnswer, 1},
		{"quota", func(s *wxlogintest.Server) { s.FailNext(45011, "quota") }, wxlogin.ErrRateLimited, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newStandIn(t, wxlogintest.Options{})
			tc.faults(srv)
			code := srv.IssueCode(appID, openID)
			s, err := newClient(t, srv, appID, secret).Exchange(context.Background(), code)
			assert.Len(t, srv.Requests(), tc.attempts)
			if tc.sentinel == nil {
				require.NoError(t, err)
				assert.Equal(t, tc.attempts, s.Attempts)
				return
			}
			require.ErrorIs(t, err, tc.sentinel)
			var ce *wxlogin.CallError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.attempts, ce.Attempts)
			assert.Contains(t, ce.Error(), fmt.Sprintf("after %d attempt(s)", tc.attempts))
			assertNoSecret(t, err, code)
		})
	}
}

func TestBackoffStaysInsideDeadline(t *testing.T) {
	t.Parallel()
	srv := newStandIn(t, wxlogintest.Options{})
	for range 3 {
		srv.FailNext(-1, "busy")
	}
	cfg := srv.Config(appID, secret)
	cfg.BaseBackoff, cfg.MaxBackoff = time.Hour, time.Hour
	c, err := wxlogin.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.Exchange(ctx, "code")
	require.ErrorIs(t, err, wxlogin.ErrBusy)
	assert.Len(t, srv.Requests(), 1, "a backoff past the deadline is not waited for")
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	srv := newStandIn(t, wxlogintest.Options{})
	srv.HangNext()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	code := srv.IssueCode(appID, openID)
	_, err := newClient(t, srv, appID, secret).Exchange(ctx, code)
	require.ErrorIs(t, err, wxlogin.ErrTimeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, wxlogin.ErrUnavailable)
	assert.Len(t, srv.Requests(), 1, "a request that may have spent the code is not sent again")
	assertNoSecret(t, err, code)
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	c, err := wxlogin.New(wxlogin.Config{BaseURL: "https://" + addr, AppID: appID, AppSecret: secret, BaseBackoff: time.Millisecond})
	require.NoError(t, err)
	_, err = c.Exchange(context.Background(), "the-code")
	require.ErrorIs(t, err, wxlogin.ErrUnavailable)
	var ce *wxlogin.CallError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 3, ce.Attempts)
	var ne *net.OpError
	assert.ErrorAs(t, err, &ne, "the cause is kept when it holds no secret")
	assertNoSecret(t, err, "the-code")
}

func TestUntrustedCertificate(t *testing.T) {
	t.Parallel()
	srv := newStandIn(t, wxlogintest.Options{})
	c, err := wxlogin.New(wxlogin.Config{BaseURL: srv.URL, AppID: appID, AppSecret: secret, BaseBackoff: time.Millisecond})
	require.NoError(t, err)
	_, err = c.Exchange(context.Background(), "the-code")
	require.ErrorIs(t, err, wxlogin.ErrUnavailable)
	assertNoSecret(t, err, "the-code")
	assert.Empty(t, srv.Requests())
}

func TestSecretEchoedIsScrubbed(t *testing.T) {
	t.Parallel()
	srv := newStandIn(t, wxlogintest.Options{})
	srv.FailNext(40001, "bad "+secret+" for the-code")
	_, err := newClient(t, srv, appID, secret).Exchange(context.Background(), "the-code")
	require.ErrorIs(t, err, wxlogin.ErrInvalidAnswer)
	assertNoSecret(t, err, "the-code")
	assert.Contains(t, err.Error(), "bad [REDACTED] for [REDACTED]")
}

// An errmsg is scrubbed whole before it is cut to MaxErrMsg: cut first,
// a secret or code straddling the cut would keep its head, which no
// longer matches the scrub.
func TestSecretStraddlingTheCutIsScrubbed(t *testing.T) {
	t.Parallel()
	const code = "the-code-0123456789"
	head := strings.Repeat("x", wxlogin.MaxErrMsg-5)
	for name, echoed := range map[string]string{
		"secret":         secret,
		"escaped secret": url.QueryEscape(secret),
		"code":           code,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newStandIn(t, wxlogintest.Options{})
			srv.FailNext(40001, head+echoed+" tail")
			_, err := newClient(t, srv, appID, secret).Exchange(context.Background(), code)
			var ae *wxlogin.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, (head + "[REDACTED] tail")[:wxlogin.MaxErrMsg], ae.Message)
			assertNoSecret(t, err, code)
		})
	}
}

func TestEmptyCode(t *testing.T) {
	t.Parallel()
	srv := newStandIn(t, wxlogintest.Options{})
	_, err := newClient(t, srv, appID, secret).Exchange(context.Background(), "")
	require.ErrorIs(t, err, wxlogin.ErrInvalidCode)
	assert.Empty(t, srv.Requests())
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, cfg := range []wxlogin.Config{
		{BaseURL: "http://api.weixin.qq.com", AppID: "a", AppSecret: "s"},
		{BaseURL: "https://", AppID: "a", AppSecret: "s"},
		{BaseURL: "https://h?x=1", AppID: "a", AppSecret: "s"},
		{BaseURL: "https://h#f", AppID: "a", AppSecret: "s"},
		{BaseURL: "https://u@h", AppID: "a", AppSecret: "s"},
		{BaseURL: "://", AppID: "a", AppSecret: "s"},
		{AppID: "", AppSecret: "s"},
		{AppID: "a", AppSecret: ""},
	} {
		_, err := wxlogin.New(cfg)
		assert.Error(t, err, "%q", cfg.BaseURL)
	}
	_, err := wxlogin.New(wxlogin.Config{AppID: "a", AppSecret: "s"})
	require.NoError(t, err)
}

func TestParseAnswer(t *testing.T) {
	t.Parallel()
	cases := []struct {
		raw      string
		openid   string
		unionid  string
		key      string
		errcode  int
		sentinel error
	}{
		{raw: `{"openid":"o1","session_key":"k=="}`, openid: "o1", key: "k=="},
		{raw: `{"openid":"o1","session_key":"k","unionid":"u1","errcode":0,"errmsg":"ok"}`, openid: "o1", unionid: "u1", key: "k"},
		{raw: `{"openid":"o1","unionid":""}`, openid: "o1"},
		{raw: `{"openid":"o1"}`, openid: "o1"},
		{raw: `{"errcode":40029,"errmsg":"invalid code"}`, errcode: 40029, sentinel: wxlogin.ErrInvalidCode},
		{raw: `{"errcode":40163,"errmsg":"code been used"}`, errcode: 40163, sentinel: wxlogin.ErrInvalidCode},
		{raw: `{"errcode":40226}`, errcode: 40226, sentinel: wxlogin.ErrUserBlocked},
		{raw: `{"errcode":45011}`, errcode: 45011, sentinel: wxlogin.ErrRateLimited},
		{raw: `{"errcode":40013}`, errcode: 40013, sentinel: wxlogin.ErrBadCredentials},
		{raw: `{"errcode":40125}`, errcode: 40125, sentinel: wxlogin.ErrBadCredentials},
		{raw: `{"errcode":-1}`, errcode: -1, sentinel: wxlogin.ErrBusy},
		{raw: `{"errcode":40001}`, errcode: 40001, sentinel: wxlogin.ErrInvalidAnswer},
		{raw: `{"errcode":40029,"openid":"o1"}`, errcode: 40029, sentinel: wxlogin.ErrInvalidCode},
		{raw: `{"errcode":"40029"}`, sentinel: wxlogin.ErrInvalidAnswer},
		{raw: `{"errcode":1.5}`, sentinel: wxlogin.ErrInvalidAnswer},
		{raw: `{"errcode":0}`, sentinel: wxlogin.ErrInvalidAnswer},
		{raw: `{}`, sentinel: wxlogin.ErrInvalidAnswer},
		{raw: `{"openid":""}`, sentinel: wxlogin.ErrInvalidAnswer},
		{raw: `{"openid":null}`, sentinel: wxlogin.ErrInvalidAnswer},
		{raw: `{"openid":"o 1"}`, sentinel: wxlogin.ErrInvalidAnswer},
		{raw: `{"openid":"` + strings.Repeat("o", 129) + `"}`, sentinel: wxlogin.ErrInvalidAnswer},
		{raw: `{"openid":"` + strings.Repeat("o", 128) + `"}`, openid: strings.Repeat("o", 128)},
		{raw: `{"openid":"o1","unionid":"u/1"}`, sentinel: wxlogin.ErrInvalidAnswer},
		{raw: `{"openid":1}`, sentinel: wxlogin.ErrInvalidAnswer},
		{raw: `{"openid":"o1"} {}`, sentinel: wxlogin.ErrInvalidAnswer},
		{raw: `[]`, sentinel: wxlogin.ErrInvalidAnswer},
		{raw: ``, sentinel: wxlogin.ErrInvalidAnswer},
		{raw: `<html>`, sentinel: wxlogin.ErrInvalidAnswer},
	}
	for _, tc := range cases {
		s, err := wxlogin.ParseAnswer([]byte(tc.raw))
		if tc.sentinel != nil {
			require.ErrorIs(t, err, tc.sentinel, tc.raw)
			var ae *wxlogin.APIError
			if tc.errcode != 0 {
				require.ErrorAs(t, err, &ae, tc.raw)
				assert.Equal(t, tc.errcode, ae.Code)
			} else {
				assert.False(t, errors.As(err, &ae), tc.raw)
			}
			continue
		}
		require.NoError(t, err, tc.raw)
		assert.Equal(t, tc.openid, s.OpenID)
		assert.Equal(t, tc.unionid, s.UnionID)
		assert.Equal(t, tc.key, s.SessionKey.Reveal())
	}
}

func TestErrMsgBoundedAndPrintable(t *testing.T) {
	t.Parallel()
	_, err := wxlogin.ParseAnswer([]byte(`{"errcode":40001,"errmsg":"a\nb\u00e9` + strings.Repeat("x", 500) + `"}`))
	var ae *wxlogin.APIError
	require.ErrorAs(t, err, &ae)
	assert.Len(t, ae.Message, wxlogin.MaxErrMsg)
	assert.True(t, strings.HasPrefix(ae.Message, "a?b??x"), ae.Message)
	assert.Equal(t, "wxlogin: code2Session answered errcode 40001: "+ae.Message, ae.Error())
}

func TestSessionKeyNeverPrinted(t *testing.T) {
	t.Parallel()
	const key = "tiihtNczf5v6AKRyjwEUhQ=="
	s := &wxlogin.Session{OpenID: openID, SessionKey: wxlogin.NewSessionKey(key)}
	var outs []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		outs = append(outs, fmt.Sprintf(f, s), fmt.Sprintf(f, *s), fmt.Sprintf(f, s.SessionKey))
	}
	outs = append(outs, s.SessionKey.String(), s.SessionKey.GoString())
	j, err := json.Marshal(s)
	require.NoError(t, err)
	outs = append(outs, string(j))
	txt, err := s.SessionKey.MarshalText()
	require.NoError(t, err)
	outs = append(outs, string(txt))
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		slog.New(h).Info("x", "session", s, "key", s.SessionKey, "plain", *s)
	}
	outs = append(outs, buf.String())
	for _, o := range outs {
		assert.NotContains(t, o, key)
		assert.NotContains(t, o, "tiihtNczf5v6")
	}
	assert.Contains(t, string(j), `"SessionKey":"[REDACTED]"`)
	assert.Equal(t, "[REDACTED]", fmt.Sprint(s.SessionKey))
	assert.Contains(t, buf.String(), "[REDACTED]")
	assert.Equal(t, key, s.SessionKey.Reveal())
}

func TestAnswerTooLarge(t *testing.T) {
	t.Parallel()
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"openid":"o1","x":"` + strings.Repeat("a", wxlogin.MaxAnswerBytes) + `"}`))
	}))
	defer ts.Close()
	c, err := wxlogin.New(wxlogin.Config{BaseURL: ts.URL, AppID: appID, AppSecret: secret, HTTPClient: ts.Client()})
	require.NoError(t, err)
	_, err = c.Exchange(context.Background(), "c")
	require.ErrorIs(t, err, wxlogin.ErrInvalidAnswer)
}

func TestAnswerExactlyMax(t *testing.T) {
	t.Parallel()
	body := `{"openid":"o1","x":"`
	body += strings.Repeat("a", wxlogin.MaxAnswerBytes-len(body)-2) + `"}`
	require.Len(t, body, wxlogin.MaxAnswerBytes)
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(body)) }))
	defer ts.Close()
	c, err := wxlogin.New(wxlogin.Config{BaseURL: ts.URL, AppID: appID, AppSecret: secret, HTTPClient: ts.Client()})
	require.NoError(t, err)
	_, err = c.Exchange(context.Background(), "c")
	require.NoError(t, err)
}

func FuzzParseAnswer(f *testing.F) {
	for _, s := range []string{`{"openid":"o1","session_key":"k"}`, `{"errcode":40029,"errmsg":"invalid code"}`, `{"errcode":-1}`, `{"openid":"o1","unionid":"u"}`, `{}`, `[1]`, `{"errcode":"1"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := wxlogin.ParseAnswer(raw)
		if err != nil {
			require.Nil(t, s)
			var ae *wxlogin.APIError
			if errors.As(err, &ae) {
				require.NotZero(t, ae.Code)
				require.LessOrEqual(t, len(ae.Message), wxlogin.MaxErrMsg)
				for i := 0; i < len(ae.Message); i++ {
					require.True(t, ae.Message[i] >= 0x20 && ae.Message[i] <= 0x7e)
				}
			} else {
				require.ErrorIs(t, err, wxlogin.ErrInvalidAnswer)
			}
			return
		}
		require.NotEmpty(t, s.OpenID)
		require.LessOrEqual(t, len(s.OpenID), 128)
		require.NotContains(t, fmt.Sprint(s), s.SessionKey.Reveal()+"\x00")
	})
}

// An answer cut short after a 200 is final: WeChat may have exchanged the
// code already, and a retry would spend it (40163) instead of telling the
// caller WeChat failed.
func TestExchangeDoesNotRetryAnAnswerCutShort(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"openid":"o`))
	}))
	t.Cleanup(srv.Close)
	c, err := wxlogin.New(wxlogin.Config{BaseURL: srv.URL, AppID: appID, AppSecret: secret, HTTPClient: srv.Client(), BaseBackoff: time.Millisecond})
	require.NoError(t, err)
	_, err = c.Exchange(context.Background(), "a-code")
	require.ErrorIs(t, err, wxlogin.ErrUnavailable)
	assert.Equal(t, int32(1), calls.Load(), "sent once")
	assertNoSecret(t, err, "a-code")
}

// Exchanges in parallel share one client and its pooled connections; the
// race detector watches the connection trace that decides what may be
// retried (net/http may dial for a request in another goroutine).
func TestExchangeConcurrently(t *testing.T) {
	t.Parallel()
	srv := newStandIn(t, wxlogintest.Options{})
	c := newClient(t, srv, appID, secret)
	codes := make([]string, 32)
	for i := range codes {
		codes[i] = srv.IssueCode(appID, openID)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(codes))
	for i, code := range codes {
		wg.Go(func() { _, errs[i] = c.Exchange(context.Background(), code) })
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}
	assert.Len(t, srv.Requests(), len(codes), "each code sent once")
}

// A connection whose TLS handshake never completes never carried the code:
// it is retried as unreachable, not ended as a timeout that may have spent it.
func TestExchangeRetriesAHandshakeThatTimesOut(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var accepted atomic.Int32
	var held sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() { close(done); _ = ln.Close(); held.Wait() })
	held.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			held.Go(func() { <-done; _ = conn.Close() }) // never answers the handshake
		}
	})
	hc := &http.Client{Transport: &http.Transport{TLSHandshakeTimeout: 50 * time.Millisecond}}
	c, err := wxlogin.New(wxlogin.Config{BaseURL: "https://" + ln.Addr().String(), AppID: appID, AppSecret: secret, HTTPClient: hc, BaseBackoff: time.Millisecond})
	require.NoError(t, err)
	_, err = c.Exchange(context.Background(), "a-code")
	require.ErrorIs(t, err, wxlogin.ErrUnavailable)
	require.NotErrorIs(t, err, wxlogin.ErrTimeout)
	var ce *wxlogin.CallError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 3, ce.Attempts)
	assert.Equal(t, int32(3), accepted.Load(), "a fresh connection each attempt")
	assertNoSecret(t, err, "a-code")
}

// A pooled connection that WeChat closes after reading the request, with
// no answer, may have spent the code: the exchange fails rather than send
// the code again, and net/http does not resend it either (it would, for a
// bodiless GET). Each code reaches WeChat once.
func TestExchangeDoesNotResendAfterAPooledConnectionDies(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]int{}    // code -> times WeChat received it
	perConn := map[string]int{} // remote address -> requests on that connection
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Query().Get("js_code")]++
		perConn[r.RemoteAddr]++
		n := perConn[r.RemoteAddr]
		mu.Unlock()
		if n > 1 {
			// The second request on a connection: read, then the
			// connection dies without an answer.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		_, _ = w.Write([]byte(`{"openid":"` + openID + `","session_key":"k"}`))
	}))
	t.Cleanup(srv.Close)
	c, err := wxlogin.New(wxlogin.Config{BaseURL: srv.URL, AppID: appID, AppSecret: secret, HTTPClient: srv.Client(), BaseBackoff: time.Millisecond})
	require.NoError(t, err)
	_, err = c.Exchange(context.Background(), "first-code")
	require.NoError(t, err)
	_, err = c.Exchange(context.Background(), "second-code")
	require.ErrorIs(t, err, wxlogin.ErrUnavailable)
	require.NotErrorIs(t, err, wxlogin.ErrTimeout)
	var ce *wxlogin.CallError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 1, ce.Attempts)
	assertNoSecret(t, err, "second-code")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, map[string]int{"first-code": 1, "second-code": 1}, seen, "each code reached WeChat once")
}
