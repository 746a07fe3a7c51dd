package session_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/internal/session"
	"github.com/wxcard/wxcard/pkg/wxlogin"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

func TestSignInIssuesAVerifiableToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.srv.SetUnionID(appID, openID, "oUnion_1")
	code := f.srv.IssueCode(appID, openID)
	resp, m := f.signIn(t, codeBody(code))
	require.Equal(t, http.StatusOK, resp.StatusCode, resp.Body)
	assert.Equal(t, "no-store", resp.Headers["Cache-Control"])
	assert.Equal(t, "application/json", resp.Headers["Content-Type"])
	assert.Equal(t, "Bearer", m["token_type"])
	assert.EqualValues(t, 3600, m["expires_in"])
	assert.Equal(t, openID, m["openid"])
	assert.Len(t, m, 4, "token, token_type, expires_in, openid and nothing else: %v", m)

	raw := m["token"].(string)
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, jwksKeyfunc(t, f.keys),
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(issuer), jwt.WithAudience(audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(time.Second))
	require.NoError(t, err)
	assert.Equal(t, "JWT", tok.Header["typ"])
	assert.Equal(t, f.tokens.KeyID(), tok.Header["kid"])
	assert.Equal(t, openID, claims["sub"])
	assert.Equal(t, openID, claims["openid"])
	assert.Equal(t, "oUnion_1", claims["unionid"])
	assert.Equal(t, audience, claims["aud"])
	iat, nbf, exp := claims["iat"].(float64), claims["nbf"].(float64), claims["exp"].(float64)
	assert.Equal(t, iat, nbf)
	assert.Equal(t, float64(3600), exp-iat)
	assert.InDelta(t, float64(time.Now().Unix()), iat, 2)
	jti, _ := claims["jti"].(string)
	assert.Len(t, jti, 22)
	assert.Len(t, claims, 9, "%v", claims)

	// No session_key, secret, full code or full token in the logs; the
	// outcome is one line.
	logs := f.logs.String()
	for _, secret := range []string{appSecret, code, raw, raw[len(raw)-40:], openID} {
		assert.NotContains(t, logs, secret)
	}
	assert.NotContains(t, logs, "session_key")
	lines := f.logs.lines(t)
	require.Len(t, lines, 1)
	assert.Equal(t, "sign-in served", lines[0]["msg"])
	assert.Equal(t, session.HashOpenID(openID), lines[0]["openid_hash"])
	assert.Equal(t, jti, lines[0]["jti"])
	assert.Equal(t, apiReqID, lines[0]["api_request_id"])
	assert.EqualValues(t, 1, lines[0]["wechat_attempts"])
	assert.EqualValues(t, 200, lines[0]["status"])
	assert.NotContains(t, resp.Body, "session_key")

	// A second token has another jti.
	_, m2 := f.signIn(t, codeBody(f.srv.IssueCode(appID, openID)))
	assert.NotEqual(t, raw, m2["token"])
}

func TestSignInWithoutUnionID(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, m := f.signIn(t, codeBody(f.srv.IssueCode(appID, openID)))
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(m["token"].(string), claims, jwksKeyfunc(t, f.keys), jwt.WithValidMethods([]string{"RS256"}))
	require.NoError(t, err)
	assert.NotContains(t, claims, "unionid")
}

// Tokens the verifier must refuse: the verification is real, and so is
// the key it uses.
func TestTokenRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, m := f.signIn(t, codeBody(f.srv.IssueCode(appID, openID)))
	raw := m["token"].(string)
	parts := strings.Split(raw, ".")
	require.Len(t, parts, 3)
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), openID, "o_someone_else", 2))) + "." + parts[2]
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	pubDER := wxpaytest.PublicKeyPEM(&wxpaytest.PooledKey(0).PublicKey)
	hs, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": issuer, "aud": audience, "sub": openID, "exp": time.Now().Add(time.Hour).Unix()}).SignedString(pubDER)
	require.NoError(t, err)
	other, err := session.NewTokens(keySigner{wxpaytest.PooledKey(1)}, session.TokenConfig{Issuer: issuer, Audience: audience, TTL: time.Hour})
	require.NoError(t, err)
	unknownKid, err := other.Issue(context.Background(), openID, "")
	require.NoError(t, err)
	past := time.Now().Add(-2 * time.Hour)
	old, err := session.NewTokens(keySigner{wxpaytest.PooledKey(0)}, session.TokenConfig{Issuer: issuer, Audience: audience, TTL: 5 * time.Minute, Now: func() time.Time { return past }})
	require.NoError(t, err)
	expired, err := old.Issue(context.Background(), openID, "")
	require.NoError(t, err)
	kf := jwksKeyfunc(t, f.keys)
	verify := func(tok string, aud string) error {
		_, err := jwt.Parse(tok, kf, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(issuer), jwt.WithAudience(aud), jwt.WithExpirationRequired())
		return err
	}
	require.NoError(t, verify(raw, audience))
	for name, tc := range map[string]struct {
		tok, aud string
		want     error
	}{
		"tampered payload":                    {tampered, audience, jwt.ErrTokenSignatureInvalid},
		"alg none":                            {none, audience, jwt.ErrTokenSignatureInvalid},
		"HS256 with the public key as secret": {hs, audience, jwt.ErrTokenSignatureInvalid},
		"unknown kid":                         {unknownKid.Raw, audience, jwt.ErrTokenUnverifiable},
		"expired":                             {expired.Raw, audience, jwt.ErrTokenExpired},
		"wrong audience":                      {raw, "another-app", jwt.ErrTokenInvalidAudience},
	} {
		err := verify(tc.tok, tc.aud)
		assert.ErrorIs(t, err, tc.want, name)
	}
}

func TestBadRequestsNeverReachWeChat(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	long := strings.Repeat("a", session.MaxCodeLength+1)
	cases := []struct {
		name   string
		ev     func() events.APIGatewayV2HTTPRequest
		status int
		code   string
		msg    string
	}{
		{"GET", func() events.APIGatewayV2HTTPRequest {
			ev := post(`{"code":"abc"}`)
			ev.RequestContext.HTTP.Method = "GET"
			return ev
		}, 405, "METHOD_NOT_ALLOWED", "method must be POST"},
		{"no content type", func() events.APIGatewayV2HTTPRequest {
			ev := post(`{"code":"abc"}`)
			ev.Headers = nil
			return ev
		}, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type"},
		{"form", func() events.APIGatewayV2HTTPRequest {
			ev := post(`code=abc`)
			ev.Headers["content-type"] = "application/x-www-form-urlencoded"
			return ev
		}, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type"},
		{"too large", func() events.APIGatewayV2HTTPRequest {
			return post(`{"code":"` + strings.Repeat("a", apigw.MaxBodyBytes) + `"}`)
		}, 413, "REQUEST_TOO_LARGE", "body"},
		{"bad base64", func() events.APIGatewayV2HTTPRequest {
			ev := post("!!")
			ev.IsBase64Encoded = true
			return ev
		}, 400, "PARAM_ERROR", "body"},
	}
	for _, b := range []struct{ body, msg string }{
		{``, `body must be one JSON object`},
		{`null`, `body must be one JSON object`},
		{`[]`, `body must be one JSON object`},
		{`"abc"`, `body must be one JSON object`},
		{`{}`, `code is required`},
		{`{"code":""}`, `code is required`},
		{`{"code":null}`, `code must not be null`},
		{`{"code":1}`, `code must be a string`},
		{`{"code":true}`, `code must be a string`},
		{`{"code":{}}`, `code must be a string, not an object or array`},
		{`{"code":["a"]}`, `code must be a string, not an object or array`},
		{`{"code":"abc","code":"abd"}`, `code appears more than once`},
		{`{"code":"abc","Code":"x"}`, `body has the unknown key "Code"`},
		{`{"CODE":"abc"}`, `body has the unknown key "CODE"`},
		{`{"code":"abc","openid":"o"}`, `body has the unknown key "openid"`},
		{`{"code":"abc"} {}`, `body must be one JSON object`},
		{`{"code":"abc"}x`, `body must be one JSON object`},
		{`{"code":"abc"`, `body must be one JSON object`},
		{`{"code":"abc",}`, `body must be one JSON object`},
		{`{"code" "abc"}`, `body must be one JSON object`},
		{`{"code":"ab c"}`, `code may contain only printable ASCII characters without spaces`},
		{`{"code":"ab\tc"}`, `code may contain only printable ASCII characters without spaces`},
		{`{"code":"ab\u007fc"}`, `code may contain only printable ASCII characters without spaces`},
		{`{"code":"abé"}`, `code may contain only printable ASCII characters without spaces`},
		{`{"code":"ab😀"}`, `code may contain only printable ASCII characters without spaces`},
		{"{\"code\":\"ab\xffc\"}", `body must be valid UTF-8`},
		{`{"code":"` + long + `"}`, `code must be at most 128 characters`},
	} {
		cases = append(cases, struct {
			name   string
			ev     func() events.APIGatewayV2HTTPRequest
			status int
			code   string
			msg    string
		}{b.body, func() events.APIGatewayV2HTTPRequest { return post(b.body) }, 400, "PARAM_ERROR", b.msg})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := f.h.Handle(context.Background(), tc.ev())
			require.NoError(t, err)
			assert.Equal(t, tc.status, resp.StatusCode, resp.Body)
			var e apigw.Error
			require.NoError(t, json.Unmarshal([]byte(resp.Body), &e))
			assert.Equal(t, tc.code, e.Code)
			assert.True(t, strings.HasPrefix(e.Message, tc.msg), "%q does not start with %q", e.Message, tc.msg)
			assert.Equal(t, apiReqID, e.RequestID)
			assert.Equal(t, "no-store", resp.Headers["Cache-Control"])
		})
	}
	t.Cleanup(func() { assert.Empty(t, f.srv.Requests(), "no bad request reaches WeChat") })
}

func TestCodeRules(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"!", "~", strings.Repeat("z", session.MaxCodeLength), "0a1B-_.~!*'()\"\\/"} {
		code, aerr := session.DecodeCode([]byte(codeBody(ok)))
		require.Nil(t, aerr, ok)
		assert.Equal(t, ok, code)
	}
	code, aerr := session.DecodeCode([]byte(`{"\u0063ode":"a\u0062c"}`))
	require.Nil(t, aerr)
	assert.Equal(t, "abc", code)
	code, aerr = session.DecodeCode([]byte(" \n{ \"code\" : \"abc\" }\n "))
	require.Nil(t, aerr)
	assert.Equal(t, "abc", code)
}

func TestWeChatRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		errcode int
		status  int
		code    string
		calls   int  // to WeChat for two tries with the same code
		spent   bool // the second try answers without calling
	}{
		{"invalid code", 40029, 401, "INVALID_CODE", 1, true},
		{"code used", 40163, 401, "INVALID_CODE", 1, true},
		{"blocked user", 40226, 403, "USER_BLOCKED", 1, true},
		{"quota", 45011, 429, "FREQUENCY_LIMITED", 2, false},
		{"wrong appid", 40013, 500, "CONFIGURATION_ERROR", 2, false},
		{"wrong secret", 40125, 500, "CONFIGURATION_ERROR", 2, false},
		{"other errcode", 40001, 502, "UPSTREAM_INVALID_ANSWER", 2, false},
		{"unknown errcode", 99999, 502, "UPSTREAM_INVALID_ANSWER", 2, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			code := f.srv.IssueCode(appID, openID)
			f.srv.FailNext(tc.errcode, "refused")
			f.srv.FailNext(tc.errcode, "refused")
			for try := range 2 {
				resp, m := f.signIn(t, codeBody(code))
				assert.Equal(t, tc.status, resp.StatusCode, "try %d: %s", try, resp.Body)
				assert.Equal(t, tc.code, m["code"])
				assert.Equal(t, apiReqID, m["request_id"])
				assert.NotEmpty(t, m["message"])
				if tc.status == 429 {
					assert.Equal(t, "60", resp.Headers["Retry-After"])
				} else {
					assert.NotContains(t, resp.Headers, "Retry-After")
				}
			}
			assert.Len(t, f.srv.Requests(), tc.calls)
			lines := f.logs.lines(t)
			require.Len(t, lines, 2)
			assert.Equal(t, "sign-in refused", lines[0]["msg"])
			assert.Equal(t, tc.code, lines[0]["code"])
			assert.Equal(t, tc.spent, lines[1]["code_refused_before"] == true)
			level := "INFO"
			if tc.status >= 500 {
				level = "ERROR"
			}
			assert.Equal(t, level, lines[0]["level"])
			assert.NotContains(t, f.logs.String(), code)
			assert.NotContains(t, f.logs.String(), appSecret)
		})
	}
}

func TestStandInErrcodesEndToEnd(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.srv.BlockUser(appID, "risky")
	expired := f.srv.IssueCode(appID, openID)
	*f.now = f.now.Add(5 * time.Minute)
	used := f.srv.IssueCode(appID, openID)
	resp, _ := f.signIn(t, codeBody(used))
	require.Equal(t, 200, resp.StatusCode)
	for _, tc := range []struct {
		code   string
		status int
		want   string
	}{
		{expired, 401, "INVALID_CODE"},
		{"never-issued", 401, "INVALID_CODE"},
		{used, 401, "INVALID_CODE"},
		{f.srv.IssueCode(appID, "risky"), 403, "USER_BLOCKED"},
	} {
		resp, m := f.signIn(t, codeBody(tc.code))
		assert.Equal(t, tc.status, resp.StatusCode)
		assert.Equal(t, tc.want, m["code"])
	}
	assert.Len(t, f.srv.Requests(), 4, "the used code was not sent again: this process exchanged it")
}

func TestSpentCodeForgottenAfterItsLife(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.srv.FailNext(40029, "invalid code")
	f.signIn(t, codeBody("abc"))
	*f.now = f.now.Add(session.CodeLifetime - time.Nanosecond)
	f.signIn(t, codeBody("abc"))
	assert.Len(t, f.srv.Requests(), 1)
	*f.now = f.now.Add(time.Nanosecond)
	f.signIn(t, codeBody("abc"))
	assert.Len(t, f.srv.Requests(), 2)
}

func TestUpstreamFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		fault  func(f *fixture)
		status int
		code   string
		calls  int
	}{
		{"busy then fine", func(f *fixture) { f.srv.FailNext(-1, "busy") }, 200, "", 2},
		{"busy on every attempt", func(f *fixture) {
			for range 3 {
				f.srv.FailNext(-1, "busy")
			}
		}, 502, "UPSTREAM_UNAVAILABLE", 3},
		{"5xx on every attempt", func(f *fixture) {
			for range 3 {
				f.srv.FailNextStatus(503)
			}
		}, 502, "UPSTREAM_UNAVAILABLE", 3},
		{"redirect", func(f *fixture) { f.srv.FailNextStatus(302) }, 502, "UPSTREAM_INVALID_ANSWER", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			tc.fault(f)
			resp, m := f.signIn(t, codeBody(f.srv.IssueCode(appID, openID)))
			assert.Equal(t, tc.status, resp.StatusCode, resp.Body)
			if tc.code != "" {
				assert.Equal(t, tc.code, m["code"])
			}
			assert.Len(t, f.srv.Requests(), tc.calls)
			assert.EqualValues(t, tc.calls, f.logs.lines(t)[0]["wechat_attempts"])
		})
	}
}

// After our own 504 the code may be spent at WeChat: the client's retry
// is told to call wx.login again, and the code is not sent again.
func TestUpstreamTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.srv.HangNext()
	code := f.srv.IssueCode(appID, openID)
	ctx, cancel := context.WithTimeout(context.Background(), session.DeadlineMargin+300*time.Millisecond)
	defer cancel()
	resp, err := f.h.Handle(ctx, post(codeBody(code)))
	require.NoError(t, err)
	assert.Equal(t, 504, resp.StatusCode, resp.Body)
	assert.Contains(t, resp.Body, "UPSTREAM_TIMEOUT")
	dl, _ := ctx.Deadline()
	assert.Greater(t, time.Until(dl), session.DeadlineMargin/2, "answered with the margin left")

	resp, m := f.signIn(t, codeBody(code))
	assert.Equal(t, 401, resp.StatusCode, resp.Body)
	assert.Equal(t, "INVALID_CODE", m["code"])
	assert.Contains(t, m["message"], "ran out of time")
	assert.Len(t, f.srv.Requests(), 1, "the retry does not send the code again")
	assert.Equal(t, true, f.logs.lines(t)[1]["code_refused_before"])
	assert.NotContains(t, f.logs.String(), code)
}

func TestSigningFailures(t *testing.T) {
	t.Parallel()
	for name, signer := range map[string]session.Signer{
		"KMS fails":       failSigner{keySigner: keySigner{wxpaytest.PooledKey(0)}, err: errors.New("KMS: throttled")},
		"KMS signs wrong": failSigner{keySigner: keySigner{wxpaytest.PooledKey(0)}, other: wxpaytest.PooledKey(1)},
		"KMS out of time": failSigner{keySigner: keySigner{wxpaytest.PooledKey(0)}, err: context.DeadlineExceeded},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, signer)
			code := f.srv.IssueCode(appID, openID)
			resp, m := f.signIn(t, codeBody(code))
			assert.Equal(t, 503, resp.StatusCode)
			assert.Equal(t, "SIGNING_UNAVAILABLE", m["code"])
			assert.Len(t, m, 3, "code, message, request_id and no token: %v", m)
			assert.NotContains(t, resp.Body, "eyJ")
			lines := f.logs.lines(t)
			assert.Equal(t, "ERROR", lines[0]["level"])
			assert.Equal(t, session.HashOpenID(openID), lines[0]["openid_hash"])
			// The code is spent at WeChat: the retry is told so, without a call.
			resp, m = f.signIn(t, codeBody(code))
			assert.Equal(t, 401, resp.StatusCode)
			assert.Equal(t, "INVALID_CODE", m["code"])
			assert.Len(t, f.srv.Requests(), 1)
		})
	}
}

func TestTokensConfig(t *testing.T) {
	t.Parallel()
	s := keySigner{wxpaytest.PooledKey(0)}
	good := session.TokenConfig{Issuer: issuer, Audience: audience, TTL: time.Hour}
	_, err := session.NewTokens(nil, good)
	require.Error(t, err)
	for _, claim := range []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "unionid", "a b", "a\"", `a\`, "é", strings.Repeat("c", 65)} {
		cfg := good
		cfg.OpenIDClaim = claim
		_, err := session.NewTokens(s, cfg)
		assert.Error(t, err, claim)
	}
	for _, cfg := range []session.TokenConfig{{Audience: audience, TTL: time.Hour}, {Issuer: issuer, TTL: time.Hour}, {Issuer: issuer, Audience: audience}} {
		_, err := session.NewTokens(s, cfg)
		assert.Error(t, err)
	}
	cfg := good
	cfg.OpenIDClaim = "https://example.com/openid"
	tokens, err := session.NewTokens(s, cfg)
	require.NoError(t, err)
	tok, err := tokens.Issue(context.Background(), openID, "")
	require.NoError(t, err)
	claims := jwt.MapClaims{}
	_, _, err = jwt.NewParser().ParseUnverified(tok.Raw, claims)
	require.NoError(t, err)
	assert.Equal(t, openID, claims["https://example.com/openid"])
	assert.NotContains(t, claims, "openid")
	assert.Equal(t, time.Hour, tokens.TTL())
	assert.WithinDuration(t, time.Now().Add(time.Hour), tok.Expires, 2*time.Second)
}

func TestKeyID(t *testing.T) {
	t.Parallel()
	pub := &wxpaytest.PooledKey(0).PublicKey
	kid, err := session.KeyID(pub)
	require.NoError(t, err)
	// RFC 7638 §3: SHA-256 of {"e":…,"kty":"RSA","n":…}, members in order, no spaces.
	canon := fmt.Sprintf(`{"e":"%s","kty":"RSA","n":"%s"}`,
		base64.RawURLEncoding.EncodeToString([]byte{1, 0, 1}), base64.RawURLEncoding.EncodeToString(pub.N.Bytes()))
	require.Equal(t, 65537, pub.E)
	sum := sha256.Sum256([]byte(canon))
	assert.Equal(t, base64.RawURLEncoding.EncodeToString(sum[:]), kid)

	_, err = session.KeyID("not a key")
	require.ErrorContains(t, err, "not RSA")
	small := wxpaytest.PooledKey(0).PublicKey
	small.N = new(big.Int).Rsh(small.N, 1100)
	_, err = session.KeyID(&small)
	require.ErrorContains(t, err, "bits")
	var _ crypto.PublicKey = pub
}

func TestLogHelpers(t *testing.T) {
	t.Parallel()
	assert.Len(t, session.HashOpenID(openID), 16)
	assert.NotEqual(t, session.HashOpenID("a"), session.HashOpenID("b"))
	assert.Equal(t, "…", session.TokenPrefix("abcd"))
	assert.Equal(t, "abcd…", session.TokenPrefix("abcde"))
}

func TestFromLogin(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 504, session.FromLogin(context.DeadlineExceeded).Status)
	assert.Equal(t, 504, session.FromLogin(wxlogin.ErrTimeout).Status)
	assert.Equal(t, 502, session.FromLogin(wxlogin.ErrUnavailable).Status)
	assert.Equal(t, "UPSTREAM_INVALID_ANSWER", session.FromLogin(errors.New("x")).Code)
}

func FuzzDecodeCode(f *testing.F) {
	for _, s := range []string{`{"code":"abc"}`, `{"code":null}`, `{"code":"a","code":"b"}`, `{"Code":"a"}`, `{"code":"é"}`, `[]`, `{"code":1}`, `{"code":"abc"} x`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		code, aerr := session.DecodeCode(body)
		if aerr != nil {
			require.Equal(t, 400, aerr.Status)
			require.Equal(t, "PARAM_ERROR", aerr.Code)
			require.True(t, strings.HasPrefix(aerr.Message, "code ") || strings.HasPrefix(aerr.Message, "body "), aerr.Message)
			require.Empty(t, code)
			return
		}
		require.NotEmpty(t, code)
		require.LessOrEqual(t, len(code), session.MaxCodeLength)
		for i := 0; i < len(code); i++ {
			require.True(t, code[i] >= 0x21 && code[i] <= 0x7e)
		}
		// What was accepted is the one string of a one-key object.
		var m map[string]any
		require.NoError(t, json.Unmarshal(body, &m))
		require.Equal(t, map[string]any{"code": code}, m)
	})
}

// Requests repeating a refused code in parallel each get the refusal
// with their own request ID; the race detector watches the remembered
// answer, which Handle stamps per request while others read it.
func TestSpentCodeRepeatedConcurrently(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	// "abc" was never issued: WeChat refuses it (40029) to the one
	// request that reaches it; the others wait for that answer, or find
	// it remembered.
	const workers, each = 8, 10
	var wg sync.WaitGroup
	ids := make([][]string, workers)
	for w := range workers {
		ids[w] = make([]string, each)
		wg.Go(func() {
			for i := range each {
				ev := post(codeBody("abc"))
				ev.RequestContext.RequestID = fmt.Sprintf("req-%d-%d", w, i)
				resp, err := f.h.Handle(context.Background(), ev)
				var m map[string]any
				if err == nil && resp.StatusCode == 401 && json.Unmarshal([]byte(resp.Body), &m) == nil {
					ids[w][i], _ = m["request_id"].(string)
				}
			}
		})
	}
	wg.Wait()
	for w := range workers {
		for i := range each {
			assert.Equal(t, fmt.Sprintf("req-%d-%d", w, i), ids[w][i])
		}
	}
	sent := len(f.srv.Requests())
	f.signIn(t, codeBody("abc"))
	assert.Len(t, f.srv.Requests(), sent, "once remembered, the refused code is not sent again")
}

// heldExchanger holds every exchange until release is closed, then
// answers s and err, or until ctx is done, as wxlogin.Client times out;
// it counts the exchanges.
type heldExchanger struct {
	release chan struct{}
	calls   atomic.Int32
	s       *wxlogin.Session
	err     error
}

func (e *heldExchanger) Exchange(ctx context.Context, _ string) (*wxlogin.Session, error) {
	e.calls.Add(1)
	select {
	case <-e.release:
		return e.s, e.err
	case <-ctx.Done():
		return nil, &wxlogin.CallError{Attempts: 1, Err: fmt.Errorf("%w: %w", wxlogin.ErrTimeout, ctx.Err())}
	}
}

func newHeldSignIn(t *testing.T, login session.Exchanger) *session.SignIn {
	t.Helper()
	tokens, err := session.NewTokens(keySigner{wxpaytest.PooledKey(0)}, session.TokenConfig{Issuer: issuer, Audience: audience, TTL: time.Hour})
	require.NoError(t, err)
	return session.NewSignIn(login, tokens, nil, nil, nil)
}

// Eight requests with the same code at once: it reaches WeChat once, and
// the seven others answer as a repeat after that exchange would. In
// synctest's bubble, synctest.Wait returns once each request is either
// held in Exchange or waiting for the one that is, so none can arrive
// after the exchange ended.
func TestSameCodeInFlightReachesWeChatOnce(t *testing.T) {
	t.Parallel()
	callErr := func(err error) error { return &wxlogin.CallError{Attempts: 1, Err: err} }
	for _, tc := range []struct {
		name           string
		s              *wxlogin.Session
		err            error
		first, others  int
		code, otherMsg string
		remembered     bool // a later repeat is answered without a call
	}{
		{"exchanged", &wxlogin.Session{OpenID: openID, Attempts: 1}, nil, 200, 401, "INVALID_CODE", "already used", true},
		{"refused for good", nil, callErr(&wxlogin.APIError{Code: wxlogin.CodeUserBlocked}), 403, 403, "USER_BLOCKED", "high-risk", true},
		{"timed out", nil, callErr(fmt.Errorf("%w: %w", wxlogin.ErrTimeout, context.DeadlineExceeded)), 504, 401, "INVALID_CODE", "ran out of time", true},
		{"busy", nil, callErr(wxlogin.ErrBusy), 502, 502, "UPSTREAM_UNAVAILABLE", "retry later", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				login := &heldExchanger{release: make(chan struct{}), s: tc.s, err: tc.err}
				h := newHeldSignIn(t, login)
				const n = 8
				resps := make([]events.APIGatewayV2HTTPResponse, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						ev := post(codeBody("same-code"))
						ev.RequestContext.RequestID = fmt.Sprint("req-", i)
						resps[i], _ = h.Handle(context.Background(), ev)
					})
				}
				synctest.Wait()
				close(login.release)
				wg.Wait()
				assert.Equal(t, int32(1), login.calls.Load(), "the code reached WeChat once")
				statuses := map[int]int{}
				for i, resp := range resps {
					statuses[resp.StatusCode]++
					if resp.StatusCode == 200 {
						continue
					}
					var m map[string]any
					require.NoError(t, json.Unmarshal([]byte(resp.Body), &m), resp.Body)
					assert.Equal(t, fmt.Sprint("req-", i), m["request_id"], "each answer is stamped with its own request's ID")
					if resp.StatusCode == tc.others {
						assert.Equal(t, tc.code, m["code"])
						assert.Contains(t, m["message"], tc.otherMsg)
					}
				}
				want := map[int]int{tc.first: 1}
				want[tc.others] += n - 1
				assert.Equal(t, want, statuses)

				resp, err := h.Handle(context.Background(), post(codeBody("same-code")))
				require.NoError(t, err)
				assert.Equal(t, tc.others, resp.StatusCode, resp.Body)
				calls := int32(2)
				if tc.remembered {
					calls = 1
				}
				assert.Equal(t, calls, login.calls.Load())
			})
		})
	}
}

// A request waiting for another's exchange of its code gives up at its
// own deadline, with the margin left, and sends nothing; the exchange it
// waited for goes on.
func TestWaitForSameCodeEndsAtTheDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		login := &heldExchanger{release: make(chan struct{}), s: &wxlogin.Session{OpenID: openID, Attempts: 1}}
		h := newHeldSignIn(t, login)
		first := make(chan events.APIGatewayV2HTTPResponse, 1)
		go func() {
			resp, _ := h.Handle(context.Background(), post(codeBody("same-code")))
			first <- resp
		}()
		synctest.Wait() // the first is held in Exchange
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		resp, err := h.Handle(ctx, post(codeBody("same-code")))
		require.NoError(t, err)
		assert.Equal(t, 504, resp.StatusCode, resp.Body)
		assert.Contains(t, resp.Body, "UPSTREAM_TIMEOUT")
		assert.Equal(t, time.Second-session.DeadlineMargin, time.Since(start), "gave up with the margin left")
		close(login.release)
		assert.Equal(t, 200, (<-first).StatusCode)
		assert.Equal(t, int32(1), login.calls.Load())
	})
}
