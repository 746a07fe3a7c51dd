package session_test

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/kmssign/kmssigntest"
	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/internal/secretstest"
	"github.com/wxcard/wxcard/internal/session"
	"github.com/wxcard/wxcard/pkg/wxlogin/wxlogintest"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

func get(path, method, domain string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{RawPath: path}
	ev.RequestContext.HTTP.Method = method
	ev.RequestContext.HTTP.Path = path
	ev.RequestContext.DomainName = domain
	ev.RequestContext.RequestID = apiReqID
	return ev
}

func TestKeys(t *testing.T) {
	t.Parallel()
	k0, k1 := &wxpaytest.PooledKey(0).PublicKey, &wxpaytest.PooledKey(1).PublicKey
	logs := &logBuf{}
	var emf strings.Builder
	keys, err := session.NewKeys("", []crypto.PublicKey{k0, k1, k0}, slog.New(slog.NewJSONHandler(logs, nil)),
		&metrics.Emitter{Out: &emf, Function: "sessionkeys"})
	require.NoError(t, err)
	const domain = "abc123.lambda-url.ap-east-1.on.aws"

	resp, err := keys.Handle(context.Background(), get(session.DiscoveryPath, "GET", domain))
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "public, max-age=300", resp.Headers["Cache-Control"])
	assert.Equal(t, "application/json", resp.Headers["Content-Type"])
	assert.JSONEq(t, `{"issuer":"https://`+domain+`","jwks_uri":"https://`+domain+`/.well-known/jwks.json",
		"id_token_signing_alg_values_supported":["RS256"],"response_types_supported":["id_token"],"subject_types_supported":["public"]}`, resp.Body)

	resp, err = keys.Handle(context.Background(), get(session.JWKSPath, "GET", domain))
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "public, max-age=300", resp.Headers["Cache-Control"])
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &set))
	require.Len(t, set.Keys, 2, "the signing key and the previous one, once each")
	for i, pub := range []crypto.PublicKey{k0, k1} {
		kid, err := session.KeyID(pub)
		require.NoError(t, err)
		k := set.Keys[i]
		assert.Equal(t, map[string]string{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": k["n"], "e": "AQAB"}, k)
		assert.True(t, jwkToRSA(t, k).Equal(pub))
	}
	assert.NotContains(t, resp.Body, `"d"`)

	for _, tc := range []struct {
		path, method string
		status       int
		code         string
	}{
		{"/.well-known/other", "GET", 404, "NOT_FOUND"},
		{"/", "GET", 404, "NOT_FOUND"},
		{session.JWKSPath + "/", "GET", 404, "NOT_FOUND"},
		{session.JWKSPath, "POST", 405, "METHOD_NOT_ALLOWED"},
		{session.DiscoveryPath, "DELETE", 405, "METHOD_NOT_ALLOWED"},
	} {
		resp, err := keys.Handle(context.Background(), get(tc.path, tc.method, domain))
		require.NoError(t, err)
		assert.Equal(t, tc.status, resp.StatusCode, tc.path)
		var m map[string]string
		require.NoError(t, json.Unmarshal([]byte(resp.Body), &m))
		assert.Equal(t, tc.code, m["code"])
		assert.Equal(t, apiReqID, m["request_id"])
		assert.Equal(t, "no-store", resp.Headers["Cache-Control"])
		if tc.status == 405 {
			assert.Equal(t, "GET", resp.Headers["Allow"])
		}
	}
	// The path falls back to requestContext.http.path.
	ev := get(session.JWKSPath, "GET", domain)
	ev.RawPath = ""
	resp, err = keys.Handle(context.Background(), ev)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)

	// No domain to derive the issuer from: a configuration error, not a wrong issuer.
	for _, bad := range []string{"", "a/b", "a?b"} {
		resp, err = keys.Handle(context.Background(), get(session.DiscoveryPath, "GET", bad))
		require.NoError(t, err)
		assert.Equal(t, 500, resp.StatusCode, bad)
		assert.Contains(t, resp.Body, "SESSION_ISSUER")
	}
	lines := logs.lines(t)
	require.NotEmpty(t, lines)
	assert.Equal(t, "keys request", lines[0]["msg"])
	assert.Equal(t, session.DiscoveryPath, lines[0]["route"])
	assert.EqualValues(t, 200, lines[0]["status"])
	assert.Equal(t, "other", lines[2]["route"])
	assert.Contains(t, emf.String(), `"outcome":"NOT_FOUND"`)
}

func TestKeysWithIssuer(t *testing.T) {
	t.Parallel()
	keys, err := session.NewKeys(issuer, []crypto.PublicKey{&wxpaytest.PooledKey(0).PublicKey}, nil, nil)
	require.NoError(t, err)
	resp, err := keys.Handle(context.Background(), get(session.DiscoveryPath, "GET", "elsewhere.example.com"))
	require.NoError(t, err)
	var d session.Discovery
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &d))
	assert.Equal(t, issuer, d.Issuer)
	assert.Equal(t, issuer+"/.well-known/jwks.json", d.JWKSURI)

	_, err = session.NewKeys(issuer, nil, nil, nil)
	require.Error(t, err)
	_, err = session.NewKeys("http://keys.example.com", []crypto.PublicKey{&wxpaytest.PooledKey(0).PublicKey}, nil, nil)
	require.Error(t, err)
	_, err = session.NewKeys(issuer, []crypto.PublicKey{"x"}, nil, nil)
	require.Error(t, err)
}

func TestCheckIssuer(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"https://a.example.com", "https://a.example.com/path", "http://localhost:3000", "http://127.0.0.1:3000", "http://[::1]:3000"} {
		assert.NoError(t, session.CheckIssuer(ok), ok)
	}
	for _, bad := range []string{"", "a.example.com", "https://", "https://a.example.com/", "https://a.example.com?x=1", "https://a.example.com#f",
		"https://u@a.example.com", "http://a.example.com", "ftp://localhost", "https://a b", "http://localhost.example.com"} {
		assert.Error(t, session.CheckIssuer(bad), bad)
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func signInEnv(extra map[string]string) map[string]string {
	m := map[string]string{
		"MINIPROGRAM_SECRET_ID": "wxcard/mp", "SESSION_KMS_KEY_ID": "alias/session", "SESSION_AUDIENCE": audience, "SESSION_ISSUER": issuer,
	}
	for k, v := range extra {
		if v == "-" {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return m
}

func TestSignInConfigFromEnv(t *testing.T) {
	t.Parallel()
	c, err := session.SignInConfigFromEnv(env(signInEnv(nil)))
	require.NoError(t, err)
	assert.Equal(t, session.Config{SecretID: "wxcard/mp", LoginBaseURL: "https://api.weixin.qq.com", KeyID: "alias/session", Audience: audience, Issuer: issuer, TokenTTL: time.Hour, OpenIDClaim: "openid"}, c)

	c, err = session.SignInConfigFromEnv(env(signInEnv(map[string]string{
		"WXLOGIN_BASE_URL": "https://127.0.0.1:8443", "SESSION_PREVIOUS_KMS_KEY_IDS": " k1, ,k2,k1,alias/session ", "SESSION_TOKEN_TTL": "300", "OPENID_CLAIM": "wx_openid",
	})))
	require.NoError(t, err)
	assert.Equal(t, []string{"k1", "k2"}, c.PreviousKeys)
	assert.Equal(t, 5*time.Minute, c.TokenTTL)
	assert.Equal(t, "wx_openid", c.OpenIDClaim)
	assert.Equal(t, "https://127.0.0.1:8443", c.LoginBaseURL)
	c, err = session.SignInConfigFromEnv(env(signInEnv(map[string]string{"SESSION_TOKEN_TTL": "86400"})))
	require.NoError(t, err)
	assert.Equal(t, 24*time.Hour, c.TokenTTL)

	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"no secret":          {map[string]string{"MINIPROGRAM_SECRET_ID": "-"}, "MINIPROGRAM_SECRET_ID"},
		"no key":             {map[string]string{"SESSION_KMS_KEY_ID": " "}, "SESSION_KMS_KEY_ID"},
		"no audience":        {map[string]string{"SESSION_AUDIENCE": "-"}, "SESSION_AUDIENCE"},
		"audience ctl":       {map[string]string{"SESSION_AUDIENCE": "a\x01b"}, "SESSION_AUDIENCE"},
		"no issuer":          {map[string]string{"SESSION_ISSUER": "-"}, "SESSION_ISSUER"},
		"bad issuer":         {map[string]string{"SESSION_ISSUER": "https://x/"}, "SESSION_ISSUER"},
		"ttl low":            {map[string]string{"SESSION_TOKEN_TTL": "299"}, "SESSION_TOKEN_TTL"},
		"ttl high":           {map[string]string{"SESSION_TOKEN_TTL": "86401"}, "SESSION_TOKEN_TTL"},
		"ttl word":           {map[string]string{"SESSION_TOKEN_TTL": "1h"}, "SESSION_TOKEN_TTL"},
		"claim sub":          {map[string]string{"OPENID_CLAIM": "sub"}, "OPENID_CLAIM"},
		"claim exp":          {map[string]string{"OPENID_CLAIM": "exp"}, "OPENID_CLAIM"},
		"claim with a space": {map[string]string{"OPENID_CLAIM": "open id"}, "OPENID_CLAIM"},
	} {
		_, err := session.SignInConfigFromEnv(env(signInEnv(tc.env)))
		assert.ErrorContains(t, err, tc.want, name)
	}
	// The keys function needs neither the secret nor the audience nor the issuer.
	c, err = session.KeysConfigFromEnv(env(map[string]string{"SESSION_KMS_KEY_ID": "k"}))
	require.NoError(t, err)
	assert.Empty(t, c.Issuer)
	_, err = session.KeysConfigFromEnv(env(map[string]string{}))
	require.ErrorContains(t, err, "SESSION_KMS_KEY_ID")
}

func TestSignInFromEnv(t *testing.T) {
	t.Parallel()
	sm := secretstest.NewServer(map[string]string{"wxcard/mp": `{"appid":"` + appID + `","app_secret":"` + appSecret + `"}`, "wxcard/bad": `{"appid":"wx1"}`})
	defer sm.Close()
	kms := kmssigntest.New()
	kms.AddKey("alias/session", wxpaytest.PooledKey(0))
	login := wxlogintest.NewServer(wxlogintest.Options{})
	defer login.Close()
	login.AddApp(appID, appSecret)
	deps := session.Deps{ReadMiniProgram: secret.MiniProgramReader(secretstest.Client(sm.URL)), KMS: kms, LoginHTTPClient: login.Client()}
	h, err := session.SignInFromEnv(context.Background(), env(signInEnv(map[string]string{"WXLOGIN_BASE_URL": login.URL})), deps)
	require.NoError(t, err)
	resp, err := h.Handle(context.Background(), post(codeBody(login.IssueCode(appID, openID))))
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	calls := kms.Calls()
	require.Len(t, calls, 2)
	assert.Equal(t, "GetPublicKey", calls[0].Op)
	assert.Equal(t, "Sign", calls[1].Op)
	assert.EqualValues(t, "RAW", calls[1].MessageType)

	for name, tc := range map[string]struct {
		env  map[string]string
		kms  func()
		want string
	}{
		"secret without app_secret": {map[string]string{"MINIPROGRAM_SECRET_ID": "wxcard/bad"}, nil, `field "app_secret" is missing`},
		"secret absent":             {map[string]string{"MINIPROGRAM_SECRET_ID": "wxcard/none"}, nil, `"wxcard/none"`},
		"key absent":                {map[string]string{"SESSION_KMS_KEY_ID": "alias/none"}, nil, "SESSION_KMS_KEY_ID"},
		"KMS failing":               {nil, func() { kms.FailNext(errors.New("throttled")) }, "SESSION_KMS_KEY_ID"},
		"http login":                {map[string]string{"WXLOGIN_BASE_URL": "http://api.weixin.qq.com"}, nil, "WXLOGIN_BASE_URL"},
		"bad env":                   {map[string]string{"SESSION_AUDIENCE": "-"}, nil, "SESSION_AUDIENCE"},
	} {
		if tc.kms != nil {
			tc.kms()
		}
		_, err := session.SignInFromEnv(context.Background(), env(signInEnv(tc.env)), deps)
		assert.ErrorContains(t, err, tc.want, name)
		if err != nil {
			assert.NotContains(t, err.Error(), appSecret, name)
		}
	}
	// Without a secret reader there is no sign-in; without a KMS client,
	// the AWS environment is required.
	_, err = session.SignInFromEnv(context.Background(), env(signInEnv(nil)), session.Deps{KMS: kms})
	require.ErrorContains(t, err, "MINIPROGRAM_SECRET_ID")
	_, err = session.SignInFromEnv(context.Background(), env(signInEnv(nil)), session.Deps{ReadMiniProgram: deps.ReadMiniProgram})
	require.ErrorContains(t, err, "AWS environment")
}

func TestKeysFromEnv(t *testing.T) {
	t.Parallel()
	kms := kmssigntest.New()
	kms.AddKey("k0", wxpaytest.PooledKey(0))
	kms.AddKey("k1", wxpaytest.PooledKey(1))
	keys, err := session.KeysFromEnv(context.Background(), env(map[string]string{"SESSION_KMS_KEY_ID": "k0", "SESSION_PREVIOUS_KMS_KEY_IDS": "k1"}), session.Deps{KMS: kms})
	require.NoError(t, err)
	resp, err := keys.Handle(context.Background(), get(session.JWKSPath, "GET", "x.example.com"))
	require.NoError(t, err)
	kid0, _ := session.KeyID(&wxpaytest.PooledKey(0).PublicKey)
	kid1, _ := session.KeyID(&wxpaytest.PooledKey(1).PublicKey)
	assert.Regexp(t, `"kid":"`+kid0+`".*"kid":"`+kid1+`"`, resp.Body)
	for _, c := range kms.Calls() {
		assert.Equal(t, "GetPublicKey", c.Op)
	}
	// A previous key gone is left out (keyread_test.go); the current key
	// gone refuses, after the retries a key just created may need.
	keys, err = session.KeysFromEnv(context.Background(), env(map[string]string{"SESSION_KMS_KEY_ID": "k0", "SESSION_PREVIOUS_KMS_KEY_IDS": "gone"}), session.Deps{KMS: kms})
	require.NoError(t, err)
	resp, err = keys.Handle(context.Background(), get(session.JWKSPath, "GET", "x.example.com"))
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(resp.Body, `"kid"`))
	clock := &fakeClock{}
	_, err = session.KeysFromEnv(context.Background(), env(map[string]string{"SESSION_KMS_KEY_ID": "gone"}), session.Deps{KMS: kms, Now: clock.Now, Sleep: clock.Sleep})
	require.ErrorContains(t, err, "SESSION_KMS_KEY_ID")
	_, err = session.KeysFromEnv(context.Background(), env(map[string]string{"SESSION_KMS_KEY_ID": "k0", "SESSION_ISSUER": "nope"}), session.Deps{KMS: kms})
	require.ErrorContains(t, err, "SESSION_ISSUER")
	_, err = session.KeysFromEnv(context.Background(), env(map[string]string{"SESSION_KMS_KEY_ID": "k0"}), session.Deps{})
	require.ErrorContains(t, err, "AWS environment")
}
