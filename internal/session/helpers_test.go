package session_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/session"
	"github.com/wxcard/wxcard/pkg/wxlogin"
	"github.com/wxcard/wxcard/pkg/wxlogin/wxlogintest"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

const (
	appID     = "wx0123456789abcdef"
	appSecret = "app-secret-0123456789abcdef0123"
	openID    = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
	issuer    = "https://keys.example.com"
	audience  = "wxcard-test"
	apiReqID  = "Ab1cDeFgHiJkLm="
)

// keySigner signs in memory, as KMS does with MessageType RAW.
type keySigner struct{ key *rsa.PrivateKey }

func (s keySigner) Public() crypto.PublicKey { return &s.key.PublicKey }

func (s keySigner) SignMessage(_ context.Context, msg []byte) ([]byte, error) {
	sum := sha256.Sum256(msg)
	return rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
}

// failSigner fails, or answers a signature of another key.
type failSigner struct {
	keySigner
	err   error
	other *rsa.PrivateKey
}

func (s failSigner) SignMessage(ctx context.Context, msg []byte) ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	return keySigner{s.other}.SignMessage(ctx, msg)
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// lines are the JSON log lines.
func (l *logBuf) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split([]byte(l.String()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal(line, &m))
		out = append(out, m)
	}
	return out
}

type fixture struct {
	srv    *wxlogintest.Server
	h      *session.SignIn
	tokens *session.Tokens
	keys   *session.Keys
	logs   *logBuf
	now    *time.Time
}

func newFixture(t *testing.T, signer session.Signer) *fixture {
	t.Helper()
	f := &fixture{logs: &logBuf{}}
	now := time.Now()
	f.now = &now
	f.srv = wxlogintest.NewServer(wxlogintest.Options{Now: func() time.Time { return *f.now }})
	t.Cleanup(f.srv.Close)
	f.srv.AddApp(appID, appSecret)
	cfg := f.srv.Config(appID, appSecret)
	cfg.BaseBackoff = time.Millisecond
	login, err := wxlogin.New(cfg)
	require.NoError(t, err)
	if signer == nil {
		signer = keySigner{wxpaytest.PooledKey(0)}
	}
	f.tokens, err = session.NewTokens(keySigner{wxpaytest.PooledKey(0)}, session.TokenConfig{Issuer: issuer, Audience: audience, TTL: time.Hour})
	require.NoError(t, err)
	tokens, err := session.NewTokens(signer, session.TokenConfig{Issuer: issuer, Audience: audience, TTL: time.Hour})
	require.NoError(t, err)
	logger := slog.New(slog.NewJSONHandler(f.logs, nil))
	f.h = session.NewSignIn(login, tokens, logger, nil, func() time.Time { return *f.now })
	f.keys, err = session.NewKeys(issuer, []crypto.PublicKey{&wxpaytest.PooledKey(0).PublicKey}, nil, nil)
	require.NoError(t, err)
	return f
}

func post(body string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{
		RawPath: "/session",
		Headers: map[string]string{"content-type": "application/json"},
		Body:    body,
	}
	ev.RequestContext.HTTP.Method = "POST"
	ev.RequestContext.HTTP.Path = "/session"
	ev.RequestContext.RequestID = apiReqID
	return ev
}

func codeBody(code string) string {
	b, _ := json.Marshal(map[string]string{"code": code})
	return string(b)
}

func (f *fixture) signIn(t *testing.T, body string) (events.APIGatewayV2HTTPResponse, map[string]any) {
	t.Helper()
	resp, err := f.h.Handle(context.Background(), post(body))
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &m), resp.Body)
	return resp, m
}

// jwksKeyfunc verifies with the keys the Keys handler serves, by kid.
func jwksKeyfunc(t *testing.T, keys *session.Keys) jwt.Keyfunc {
	t.Helper()
	ev := events.APIGatewayV2HTTPRequest{RawPath: session.JWKSPath}
	ev.RequestContext.HTTP.Method = "GET"
	resp, err := keys.Handle(context.Background(), ev)
	require.NoError(t, err)
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &set))
	return func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		for _, k := range set.Keys {
			if k["kid"] == kid {
				return jwkToRSA(t, k), nil
			}
		}
		return nil, errors.New("unknown kid")
	}
}
