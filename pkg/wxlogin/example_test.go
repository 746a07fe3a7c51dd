package wxlogin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/wxcard/wxcard/pkg/wxlogin"
	"github.com/wxcard/wxcard/pkg/wxlogin/wxlogintest"
)

// A client of the real code2Session needs the mini-program's AppID and
// AppSecret; BaseURL and HTTPClient are left unset (WeChat's host, a
// client of the system's roots). For tests, wxlogintest's Server.Config
// returns a ready Config.
func ExampleNew() {
	appSecret := "app-secret" // in production, from the secret store
	c, err := wxlogin.New(wxlogin.Config{AppID: "wx0123456789abcdef", AppSecret: appSecret})
	fmt.Println(c.AppID(), err)

	_, err = wxlogin.New(wxlogin.Config{AppID: "wx0123456789abcdef"})
	fmt.Println(err)
	_, err = wxlogin.New(wxlogin.Config{BaseURL: "http://api.weixin.qq.com", AppID: "wx0123456789abcdef", AppSecret: "app-secret"})
	fmt.Println(err)
	// Output:
	// wx0123456789abcdef <nil>
	// wxlogin: Config needs AppID and AppSecret
	// wxlogin: BaseURL "http://api.weixin.qq.com" is not an https:// host
}

// Exchange trades the code a mini-program's wx.login gave for the user's
// openid and session key; its errors match the sentinels of the errcodes
// WeChat answers.
func ExampleClient_Exchange() {
	srv := wxlogintest.NewServer(wxlogintest.Options{})
	defer srv.Close()
	srv.AddApp("wx0123456789abcdef", "app-secret")
	srv.SetUnionID("wx0123456789abcdef", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "oTmHYjg9FqsIhH0dqUMEg0ypQTLE")
	c, err := wxlogin.New(srv.Config("wx0123456789abcdef", "app-secret"))
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	s, err := c.Exchange(ctx, srv.IssueCode("wx0123456789abcdef", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"))
	if err != nil {
		panic(err)
	}
	fmt.Println(s.OpenID, s.UnionID, s.SessionKey, s.SessionKey.IsZero(), s.Attempts)

	srv.BlockUser("wx0123456789abcdef", "oBlocked")
	_, err = c.Exchange(ctx, srv.IssueCode("wx0123456789abcdef", "oBlocked"))
	var apiErr *wxlogin.APIError
	fmt.Println(errors.Is(err, wxlogin.ErrUserBlocked), errors.As(err, &apiErr), apiErr.Code)
	// Output:
	// o6_bmjrPTlm6_2sgVt7hMZOPfL2M oTmHYjg9FqsIhH0dqUMEg0ypQTLE [REDACTED] false 1
	// true true 40226
}

// ParseAnswer reads a code2Session answer on its own: a session, an
// errcode as an *APIError, or an invalid answer.
func ExampleParseAnswer() {
	s, err := wxlogin.ParseAnswer([]byte(`{"openid":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M","session_key":"tiihtNczf5v6AKRyjwEUhQ=="}`))
	fmt.Println(s.OpenID, s.SessionKey.Reveal(), err)

	_, err = wxlogin.ParseAnswer([]byte(`{"errcode":40163,"errmsg":"code been used"}`))
	fmt.Println(errors.Is(err, wxlogin.ErrInvalidCode), err)

	_, err = wxlogin.ParseAnswer([]byte(`{"openid":""}`))
	fmt.Println(errors.Is(err, wxlogin.ErrInvalidAnswer), err)
	// Output:
	// o6_bmjrPTlm6_2sgVt7hMZOPfL2M tiihtNczf5v6AKRyjwEUhQ== <nil>
	// true wxlogin: code2Session answered errcode 40163: code been used
	// true wxlogin: invalid answer: no usable openid
}

// A session key prints, logs and marshals redacted, so a Session can be
// logged whole; Reveal is its one use.
func ExampleSessionKey() {
	s := wxlogin.Session{OpenID: "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", SessionKey: wxlogin.NewSessionKey("tiihtNczf5v6AKRyjwEUhQ==")}
	fmt.Printf("%v %+v %#v\n", s.SessionKey, s.SessionKey, s.SessionKey)
	b, _ := json.Marshal(s)
	fmt.Println(string(b))
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	logger.Info("signed in", "session_key", s.SessionKey)
	fmt.Println(s.SessionKey.Reveal())
	// Output:
	// [REDACTED] [REDACTED] [REDACTED]
	// {"OpenID":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M","UnionID":"","SessionKey":"[REDACTED]","Attempts":0,"Latency":0}
	// level=INFO msg="signed in" session_key=[REDACTED]
	// tiihtNczf5v6AKRyjwEUhQ==
}

// One http.Client per process: every phase of an attempt bounded, and
// redirects never followed (one would carry the AppSecret elsewhere).
func ExampleNewHTTPClient() {
	hc := wxlogin.NewHTTPClient(nil) // the system's roots
	fmt.Println(hc.Timeout, errors.Is(hc.CheckRedirect(nil, nil), http.ErrUseLastResponse))
	c, err := wxlogin.New(wxlogin.Config{AppID: "wx0123456789abcdef", AppSecret: "app-secret", HTTPClient: hc})
	fmt.Println(c.AppID(), err)
	// Output:
	// 5s true
	// wx0123456789abcdef <nil>
}

// NewSessionKey wraps a session key, for stand-ins and tests that build
// a Session themselves.
func ExampleNewSessionKey() {
	k := wxlogin.NewSessionKey("tiihtNczf5v6AKRyjwEUhQ==")
	fmt.Println(k, k.IsZero(), k.Reveal())
	fmt.Println(wxlogin.SessionKey{}.IsZero())
	// Output:
	// [REDACTED] false tiihtNczf5v6AKRyjwEUhQ==
	// true
}
