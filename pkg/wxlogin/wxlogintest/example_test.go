package wxlogintest_test

import (
	"context"
	"errors"
	"fmt"

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
