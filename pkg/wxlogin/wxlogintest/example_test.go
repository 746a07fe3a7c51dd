package wxlogintest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/wxcard/wxcard/pkg/wxlogin"
	"github.com/wxcard/wxcard/pkg/wxlogin/wxlogintest"
)

// A stand-in for code2Session: add an app, hand out a code as wx.login
// would, exchange it once; a second exchange is refused as WeChat refuses it.
func ExampleServer() {
	srv := wxlogintest.NewServer(wxlogintest.Options{})
	defer srv.Close()
	srv.AddApp("wx0123456789abcdef", "app-secret")
	code := srv.IssueCode("wx0123456789abcdef", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M")

	c, _ := wxlogin.New(srv.Config("wx0123456789abcdef", "app-secret"))
	s, err := c.Exchange(context.Background(), code)
	if err != nil {
		panic(err)
	}
	fmt.Println(s.OpenID, s.SessionKey)
	_, err = c.Exchange(context.Background(), code)
	fmt.Println(errors.Is(err, wxlogin.ErrInvalidCode))
	for _, r := range srv.Requests() {
		fmt.Println(r.Path, r.Query.Get("secret"), r.ErrCode)
	}
	// Output:
	// o6_bmjrPTlm6_2sgVt7hMZOPfL2M [REDACTED]
	// true
	// /sns/jscode2session [REDACTED] 0
	// /sns/jscode2session [REDACTED] 40163
}

// A stand-in on a clock of the test's: codes expire CodeLifetime after
// they were issued, as wx.login's do.
func ExampleNewServer() {
	now := time.Date(2025, 5, 20, 13, 0, 0, 0, time.UTC)
	srv := wxlogintest.NewServer(wxlogintest.Options{Now: func() time.Time { return now }})
	defer srv.Close()
	srv.AddApp("wx0123456789abcdef", "app-secret")
	c, _ := wxlogin.New(srv.Config("wx0123456789abcdef", "app-secret"))

	code := srv.IssueCode("wx0123456789abcdef", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
	now = now.Add(wxlogintest.CodeLifetime)
	_, err := c.Exchange(context.Background(), code)
	fmt.Println(errors.Is(err, wxlogin.ErrInvalidCode))
	// Output:
	// true
}

// Config is a ready client configuration for an app of the stand-in.
func ExampleServer_Config() {
	srv := wxlogintest.NewServer(wxlogintest.Options{})
	defer srv.Close()
	cfg := srv.Config("wx0123456789abcdef", "app-secret")
	fmt.Println(cfg.BaseURL == srv.URL, cfg.AppID, cfg.HTTPClient != nil)

	// The app was never added: WeChat's answer to an unknown AppID.
	c, _ := wxlogin.New(cfg)
	_, err := c.Exchange(context.Background(), "any-code")
	fmt.Println(errors.Is(err, wxlogin.ErrBadCredentials))
	// Output:
	// true wx0123456789abcdef true
	// true
}

// Faults are spent one per request: errcode -1 (busy) is retried, an
// HTTP 5xx too, until an answer or MaxAttempts.
func ExampleServer_FailNext() {
	srv := wxlogintest.NewServer(wxlogintest.Options{})
	defer srv.Close()
	srv.AddApp("wx0123456789abcdef", "app-secret")
	cfg := srv.Config("wx0123456789abcdef", "app-secret")
	cfg.BaseBackoff = time.Millisecond
	c, _ := wxlogin.New(cfg)

	srv.FailNext(wxlogin.CodeBusy, "system error")
	srv.FailNextStatus(http.StatusBadGateway)
	s, err := c.Exchange(context.Background(), srv.IssueCode("wx0123456789abcdef", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"))
	fmt.Println(s.OpenID, s.Attempts, err)

	srv.FailNext(wxlogin.CodeQuotaExhausted, "api minute-quota reach limit")
	_, err = c.Exchange(context.Background(), srv.IssueCode("wx0123456789abcdef", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"))
	fmt.Println(errors.Is(err, wxlogin.ErrRateLimited))
	for _, r := range srv.Requests() {
		fmt.Println(r.Status, r.ErrCode)
	}
	// Output:
	// o6_bmjrPTlm6_2sgVt7hMZOPfL2M 3 <nil>
	// true
	// 200 -1
	// 502 0
	// 200 0
	// 200 45011
}
