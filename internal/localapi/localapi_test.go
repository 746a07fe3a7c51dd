package localapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/lambdatest"
	"github.com/wxcard/wxcard/internal/localapi"
)

func sandbox(t *testing.T) *httptest.Server {
	t.Helper()
	return sandboxWith(t, map[string]string{})
}

func sandboxWith(t *testing.T, vars map[string]string) *httptest.Server {
	t.Helper()
	srv, _ := printingSandbox(t, vars)
	return srv
}

// printingSandbox is the local API against the sandbox, as make run serves
// it with the environment vars, and what it prints as bus events.
func printingSandbox(t *testing.T, vars map[string]string) (*httptest.Server, *lambdatest.Buffer) {
	t.Helper()
	env, brandSecret, err := localapi.Env(func(k string) string { return vars[k] })
	require.NoError(t, err)
	require.Empty(t, env.SecretID)
	require.Empty(t, brandSecret)
	stack, err := localapi.NewSandboxStack(context.Background(), env, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(stack.Close)
	printed := &lambdatest.Buffer{}
	stack.Events.Out = printed
	return serve(t, stack), printed
}

// serve starts the stack as make run does: its own address is the
// sign-in's issuer.
func serve(t *testing.T, stack *localapi.Stack) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	require.NoError(t, stack.EnableSignIn(context.Background(), "http://"+srv.Listener.Addr().String()))
	srv.Config.Handler = localapi.Handler(stack.Routes)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// Every curl line the banner prints, run as a user pastes it, succeeds
// (the member-care lines, in order: TestMemberCurlLines):
// with the token routes open and behind the JWT authorizer (whose lines
// must carry the bearer token of the banner's sign-in, or they answer
// 401), whatever OPENID_CLAIM names.
func TestBannerCurlLinesSucceed(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	for _, vars := range []map[string]string{
		{},
		{"TOKEN_ROUTES_AUTHORIZATION": "JWT"},
		{"TOKEN_ROUTES_AUTHORIZATION": "JWT", "OPENID_CLAIM": "wx_openid"},
	} {
		t.Run(fmt.Sprint(vars), func(t *testing.T) {
			env, _, err := localapi.Env(func(k string) string { return vars[k] })
			require.NoError(t, err)
			stack, err := localapi.NewSandboxStack(context.Background(), env, slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			t.Cleanup(stack.Close)
			srv := serve(t, stack)
			var banner strings.Builder
			localapi.PrintBanner(&banner, srv.URL, stack, env)
			// The member-care lines build on each other: pasted in order,
			// they succeed (TestMemberCurlLines).
			shown, care, found := strings.Cut(banner.String(), "\nMember care:")
			require.True(t, found, banner.String())
			_, care, _ = strings.Cut(care, "\n")
			assert.Equal(t, "  "+strings.Join(localapi.MemberCurlLines(srv.URL, env), "\n  ")+"\n", care)
			var lines, signIn []string
			for _, l := range strings.Split(shown, "\n") {
				switch {
				case strings.HasPrefix(l, "  curl "):
					lines = append(lines, strings.TrimSpace(l))
				case strings.HasPrefix(l, "  CODE=$(curl "), strings.HasPrefix(l, "  TOKEN=$(curl "), strings.HasPrefix(l, "  CARD=$(curl "):
					signIn = append(signIn, strings.TrimSpace(l))
				}
			}
			require.Len(t, lines, 10, banner.String())
			require.Len(t, signIn, 3, banner.String())
			want := map[int]string{0: "token", 1: "token", 2: "permission_token", 3: "authorization_type"}
			for i, line := range lines {
				// Each line after a fresh sign-in, as a user pastes the banner.
				script := strings.Join(signIn, "\n") + "\n" + line + " -w '\n%{http_code}'"
				out, err := exec.Command("bash", "-c", script).Output()
				require.NoError(t, err, line)
				body, code, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
				assert.Equal(t, "200", code, "%s\n%s", line, body)
				var m map[string]any
				require.NoError(t, json.Unmarshal([]byte(body), &m), body)
				if k, ok := want[i]; ok {
					assert.NotEmpty(t, m[k], body)
				}
			}
		})
	}
}

func TestRoutesAndEvents(t *testing.T) {
	srv := sandbox(t)
	get := func(method, path, ct, body string) (int, string, http.Header) {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	code, body, _ := get("GET", "/nope", "", "")
	assert.Equal(t, 404, code)
	assert.JSONEq(t, `{"message":"Not Found"}`, body)

	code, body, h := get("POST", "/v3/brand/partner/card-member/open-user-card-tokens", "application/json", `{"brand_id":"1004","card_id":"`+localapi.SandboxCardID+`","openid":"o1"}`)
	assert.Equal(t, 200, code, body)
	assert.Equal(t, "no-store", h.Get("Cache-Control"))

	// A binary content type travels base64-encoded, as API Gateway sends it, and is refused by type.
	code, body, _ = get("POST", "/brand/card-member/pre-auth-tokens", "application/octet-stream", `{}`)
	assert.Equal(t, 415, code, body)

	code, body, _ = get("GET", "/v3/brand-basic/partner/brands/4001/product-authorities", "", "")
	assert.Equal(t, 400, code)
	assert.Contains(t, body, `"request_id"`)

	// An escaped slash in a path parameter cannot reach another API.
	code, body, _ = get("POST", "/v3/marketing/membercard-open/cards/a%2F..%2Fb/permission-tokens", "application/json", `{"activate_type":"AUTO_ACTIVATE"}`)
	assert.Equal(t, 400, code)
	assert.Contains(t, body, "card_id")
}

func TestEnvReadsBothSecrets(t *testing.T) {
	vars := map[string]string{"WXPAY_SECRET_ID": "wxcard/partner", "WXPAY_BRAND_SECRET_ID": "wxcard/brand", "ALLOWED_CARD_IDS": "c1"}
	env, brand, err := localapi.Env(func(k string) string { return vars[k] })
	require.NoError(t, err)
	assert.Equal(t, "wxcard/partner", env.SecretID)
	assert.Equal(t, "wxcard/brand", brand)
	assert.Equal(t, []string{"c1"}, env.AllowedCardIDs)
	vars["ALLOWED_BRAND_IDS"] = "a b"
	_, _, err = localapi.Env(func(k string) string { return vars[k] })
	require.Error(t, err)
}

// make run serves NONE by default and JWT when asked. Under JWT, with
// sign-in enabled (as make run does), only a bearer token of the local
// issuer opens the token routes (TestLocalSignInFlow): a hand-made claims
// header opens nothing, whatever it claims.
func TestLocalTokenRoutesAuthorization(t *testing.T) {
	post := func(srv *httptest.Server, path, body, claims string) int {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if claims != "" {
			req.Header.Set(localapi.ClaimsHeader, claims)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		require.NoError(t, resp.Body.Close())
		return resp.StatusCode
	}
	pre := `{"card_id":"` + localapi.SandboxCardID + `","openid":"` + localapi.SandboxOpenID + `"}`
	partner := `{"brand_id":"` + localapi.SandboxBrandID + `","card_id":"` + localapi.SandboxCardID + `"}`
	none := sandbox(t)
	assert.Equal(t, 200, post(none, "/brand/card-member/pre-auth-tokens", pre, ""), "NONE by default: the body stands")

	jwt := sandboxWith(t, map[string]string{"TOKEN_ROUTES_AUTHORIZATION": "JWT"})
	for _, tc := range []struct{ name, path, body, claims string }{
		{"no token", "/brand/card-member/pre-auth-tokens", pre, ""},
		{"claims without openid", "/brand/card-member/pre-auth-tokens", pre, `{"sub":"u1"}`},
		{"claims of another user", "/brand/card-member/pre-auth-tokens", pre, `{"openid":"obLatSomeoneElse"}`},
		{"claims of the caller's own openid", "/brand/card-member/pre-auth-tokens", pre, `{"openid":"` + localapi.SandboxOpenID + `"}`},
		{"partner: claims with an openid", "/v3/brand/partner/card-member/pre-auth-tokens", partner, `{"openid":"` + localapi.SandboxOpenID + `"}`},
		{"partner, older route: no token", "/v3/brand/partner/card-member/open-user-card-tokens", partner, ""},
		{"claims that are not JSON", "/brand/card-member/pre-auth-tokens", pre, `openid=x`},
	} {
		assert.Equal(t, 401, post(jwt, tc.path, tc.body, tc.claims), tc.name)
	}

	_, _, err := localapi.Env(func(k string) string { return map[string]string{"TOKEN_ROUTES_AUTHORIZATION": "jwt"}[k] })
	require.ErrorContains(t, err, "TOKEN_ROUTES_AUTHORIZATION")
}

// A body shorter than its Content-Length does not hold the connection:
// the server gives up after its read timeout and closes it.
func TestShortBodyDoesNotHangTheServer(t *testing.T) {
	env, _, err := localapi.Env(func(string) string { return "" })
	require.NoError(t, err)
	stack, err := localapi.NewSandboxStack(context.Background(), env, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(stack.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := localapi.NewServer(localapi.Handler(stack.Routes), 300*time.Millisecond)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "POST /brand/card-member/pre-auth-tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{}")
	require.NoError(t, err)
	// The read blocks until the server gives up on the body; the deadline
	// only bounds the test if it never does.
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	start := time.Now()
	_, err = io.ReadAll(c)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server held the connection for 10 s")
	assert.Less(t, time.Since(start), 5*time.Second)
}
