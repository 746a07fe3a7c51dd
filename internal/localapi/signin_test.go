package localapi_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/localapi"
)

// call sends one request to srv: its status and JSON answer.
func call(t *testing.T, base, method, path, body string, headers map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m), "%s", raw)
	return resp.StatusCode, m
}

// signIn gets a code for openid from the local wx.login and exchanges it.
func signIn(t *testing.T, base, openid string) string {
	t.Helper()
	st, m := call(t, base, "POST", localapi.LoginRoute, `{"openid":"`+openid+`"}`, nil)
	require.Equal(t, 200, st, m)
	code, _ := m["code"].(string)
	require.NotEmpty(t, code)
	st, m = call(t, base, "POST", "/session", `{"code":"`+code+`"}`, nil)
	require.Equal(t, 200, st, m)
	assert.Equal(t, openid, m["openid"])
	assert.Equal(t, "Bearer", m["token_type"])
	tok, _ := m["token"].(string)
	require.NotEmpty(t, tok)
	return tok
}

// make run's sign-in: a code from the local wx.login becomes a token the
// token routes accept under JWT, for its own openid only; the issuer is the
// local API's own address.
func TestLocalSignInFlow(t *testing.T) {
	t.Parallel()
	srv := sandboxWith(t, map[string]string{"TOKEN_ROUTES_AUTHORIZATION": "JWT"})
	st, disc := call(t, srv.URL, "GET", "/.well-known/openid-configuration", "", nil)
	require.Equal(t, 200, st)
	assert.Equal(t, srv.URL, disc["issuer"])
	assert.Equal(t, srv.URL+"/.well-known/jwks.json", disc["jwks_uri"])
	st, jwks := call(t, srv.URL, "GET", "/.well-known/jwks.json", "", nil)
	require.Equal(t, 200, st)
	assert.Len(t, jwks["keys"], 1)

	tok := signIn(t, srv.URL, localapi.SandboxOpenID)
	bearer := map[string]string{"Authorization": "Bearer " + tok}
	pre := `{"card_id":"` + localapi.SandboxCardID + `","openid":"` + localapi.SandboxOpenID + `"}`
	st, m := call(t, srv.URL, "POST", "/brand/card-member/pre-auth-tokens", pre, bearer)
	assert.Equal(t, 200, st, m)
	assert.NotEmpty(t, m["token"])
	partner := `{"brand_id":"` + localapi.SandboxBrandID + `","card_id":"` + localapi.SandboxCardID + `"}`
	st, m = call(t, srv.URL, "POST", "/v3/brand/partner/card-member/pre-auth-tokens", partner, bearer)
	assert.Equal(t, 200, st, m)

	other := signIn(t, srv.URL, "obLatSomeoneElse0000000000")
	st, m = call(t, srv.URL, "POST", "/brand/card-member/pre-auth-tokens", pre, map[string]string{"Authorization": "Bearer " + other})
	assert.Equal(t, 403, st, m)
	assert.Equal(t, "FORBIDDEN", m["code"])

	for name, h := range map[string]string{
		"no token":          "",
		"not a JWT":         "Bearer nope",
		"tampered payload":  "Bearer " + tamper(t, tok),
		"basic credentials": "Basic dXNlcjpwYXNz",
	} {
		hs := map[string]string{}
		if h != "" {
			hs["Authorization"] = h
		}
		st, m := call(t, srv.URL, "POST", "/brand/card-member/pre-auth-tokens", pre, hs)
		assert.Equal(t, 401, st, name)
		assert.Equal(t, map[string]any{"message": "Unauthorized"}, m, name)
	}

	// A code is good once.
	st, m = call(t, srv.URL, "POST", localapi.LoginRoute, "", nil)
	require.Equal(t, 200, st)
	body := `{"code":"` + m["code"].(string) + `"}`
	st, _ = call(t, srv.URL, "POST", "/session", body, nil)
	assert.Equal(t, 200, st)
	st, m = call(t, srv.URL, "POST", "/session", body, nil)
	assert.Equal(t, 401, st)
	assert.Equal(t, "INVALID_CODE", m["code"])
}

// Under JWT with sign-in enabled, ClaimsHeader opens nothing: only a
// bearer token of the local issuer does, as behind API Gateway.
func TestLocalClaimsHeaderIgnoredUnderJWT(t *testing.T) {
	t.Parallel()
	srv := sandboxWith(t, map[string]string{"TOKEN_ROUTES_AUTHORIZATION": "JWT"})
	pre := `{"card_id":"` + localapi.SandboxCardID + `","openid":"` + localapi.SandboxOpenID + `"}`
	claims := map[string]string{localapi.ClaimsHeader: `{"openid":"` + localapi.SandboxOpenID + `"}`}
	st, m := call(t, srv.URL, "POST", "/brand/card-member/pre-auth-tokens", pre, claims)
	assert.Equal(t, 401, st, m)
	claims["Authorization"] = "Bearer " + signIn(t, srv.URL, localapi.SandboxOpenID)
	st, m = call(t, srv.URL, "POST", "/brand/card-member/pre-auth-tokens", pre, claims)
	assert.Equal(t, 200, st, m)
}

// A request whose Host is not this machine (a page whose name was
// rebound to 127.0.0.1) is refused on every route; loopback names pass.
func TestLocalRefusesForeignHost(t *testing.T) {
	t.Parallel()
	srv := sandbox(t)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	for host, want := range map[string]int{
		"evil.example:" + port: 403, "evil.example": 403, "127.0.0.1.nip.io:" + port: 403, "10.0.0.1:" + port: 403,
		"127.0.0.1:" + port: 200, "localhost:" + port: 200, "LOCALHOST": 200, "[::1]:" + port: 200, "127.0.0.2": 200,
	} {
		req, err := http.NewRequest(http.MethodPost, srv.URL+localapi.LoginRoute, strings.NewReader(`{"openid":"`+localapi.SandboxOpenID+`"}`))
		require.NoError(t, err)
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		raw, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, "%s: %s", host, raw)
		if want == 403 {
			assert.Contains(t, string(raw), `"FORBIDDEN"`, host)
			assert.Contains(t, string(raw), "Host", host)
		}
	}
}

// tamper changes the token's payload (its sub) and keeps the signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	parts[1] = parts[1][:len(parts[1])-2] + "AA"
	if parts[1] == strings.Split(tok, ".")[1] {
		parts[1] = parts[1][:len(parts[1])-2] + "BB"
	}
	return strings.Join(parts, ".")
}

// Under NONE the token routes stay open; sign-in is served all the same.
func TestLocalSignInUnderNone(t *testing.T) {
	t.Parallel()
	srv := sandbox(t)
	signIn(t, srv.URL, localapi.SandboxOpenID)
	pre := `{"card_id":"` + localapi.SandboxCardID + `","openid":"` + localapi.SandboxOpenID + `"}`
	st, m := call(t, srv.URL, "POST", "/brand/card-member/pre-auth-tokens", pre, nil)
	assert.Equal(t, 200, st, m)
}

// The local wx.login refuses what is not an openid, naming the field.
func TestLocalLoginRefusals(t *testing.T) {
	t.Parallel()
	srv := sandbox(t)
	for _, body := range []string{`{"openid":""}`, `{"openid":null}`, `{"open_id":"x"}`, `[1]`, `{"openid":"a b"}`, `{"openid":"` + strings.Repeat("o", 129) + `"}`, `{"openid":"x"}{}`} {
		st, m := call(t, srv.URL, "POST", localapi.LoginRoute, body, nil)
		assert.Equal(t, 400, st, body)
		assert.Equal(t, "PARAM_ERROR", m["code"], body)
		assert.Contains(t, m["message"], "openid", body)
	}
}
