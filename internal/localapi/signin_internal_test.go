package localapi

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/session"
)

// The local authorizer refuses every token API Gateway's JWT authorizer
// refuses, and passes the claims of a good one as API Gateway does.
func TestVerifyAsTheAuthorizerDoes(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	kid, err := session.KeyID(&key.PublicKey)
	require.NoError(t, err)
	const iss = "http://127.0.0.1:3000"
	si := &localSignIn{issuer: iss, audience: SandboxAudience, kid: kid, pub: &key.PublicKey}
	now := time.Unix(1_800_000_000, 0)
	good := jwt.Claims{Issuer: iss, Subject: "o1", Audience: jwt.Audience{SandboxAudience}, IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour))}
	sign := func(k any, alg jose.SignatureAlgorithm, kid string, c jwt.Claims) string {
		opts := (&jose.SignerOptions{}).WithType("JWT")
		if kid != "" {
			opts = opts.WithHeader("kid", kid)
		}
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k}, opts)
		require.NoError(t, err)
		tok, err := jwt.Signed(s).Claims(c).Claims(map[string]any{"openid": "o1", "n": 5, "l": []string{"a", "b"}}).Serialize()
		require.NoError(t, err)
		return tok
	}
	with := func(f func(*jwt.Claims)) jwt.Claims { c := good; f(&c); return c }

	claims, err := si.verify("Bearer "+sign(key, jose.RS256, kid, good), now)
	require.NoError(t, err)
	assert.Equal(t, "o1", claims["openid"])
	assert.Equal(t, "o1", claims["sub"])
	assert.Equal(t, "5", claims["n"])
	assert.Equal(t, "[a b]", claims["l"])
	assert.Equal(t, "1800003600", claims["exp"])
	_, err = si.verify(sign(key, jose.RS256, kid, good), now)
	require.NoError(t, err, "API Gateway takes the token without its Bearer prefix too")

	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + kid + `"}`))
	payload := strings.Split(sign(key, jose.RS256, kid, good), ".")[1]
	for name, tok := range map[string]string{
		"empty":                 "",
		"another key":           sign(other, jose.RS256, kid, good),
		"unknown kid":           sign(key, jose.RS256, "nope", good),
		"no kid":                sign(key, jose.RS256, "", good),
		"PS256":                 sign(key, jose.PS256, kid, good),
		"HS256 with public key": sign(publicPEM(t, &key.PublicKey), jose.HS256, kid, good),
		"alg none":              header + "." + payload + ".",
		"expired":               sign(key, jose.RS256, kid, with(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Second)) })),
		"no exp":                sign(key, jose.RS256, kid, with(func(c *jwt.Claims) { c.Expiry = nil })),
		"not yet valid":         sign(key, jose.RS256, kid, with(func(c *jwt.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Minute)) })),
		"wrong audience":        sign(key, jose.RS256, kid, with(func(c *jwt.Claims) { c.Audience = jwt.Audience{"other"} })),
		"wrong issuer":          sign(key, jose.RS256, kid, with(func(c *jwt.Claims) { c.Issuer = "http://127.0.0.1:3001" })),
	} {
		_, err := si.verify("Bearer "+tok, now)
		assert.Error(t, err, name)
	}
}

// publicPEM is the public key as a verifier would hold it: the secret of
// the classic HS256 confusion.
func publicPEM(t *testing.T, pub *rsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Whatever arrives as an Authorization header, no claims come out of it
// without the issuer's signature: the seeds are near misses.
func FuzzVerify(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(f, err)
	kid, err := session.KeyID(&key.PublicKey)
	require.NoError(f, err)
	si := &localSignIn{issuer: "http://127.0.0.1:3000", audience: SandboxAudience, kid: kid, pub: &key.PublicKey}
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"` + kid + `"}`))
	body := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"http://127.0.0.1:3000","aud":"wxcard","sub":"o1","exp":9999999999}`))
	for _, seed := range []string{"", "Bearer", "Bearer ", "bearer x.y.z", head + "." + body + ".", "Bearer " + head + "." + body + ".AAAA", head + "." + body} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		claims, err := si.verify(header, time.Unix(1_800_000_000, 0))
		if err == nil || claims != nil {
			t.Fatalf("accepted %q", header)
		}
	})
}

// The local wx.login's body: an openid comes out only as the rule says.
func FuzzLoginOpenID(f *testing.F) {
	for _, seed := range []string{"", `{"openid":"o1"}`, `{"openid":""}`, `{"openid":null}`, `{"openid":"a b"}`, `{"openid":"x"}{}`, `{"openid":"\u00e9"}`} {
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, body string, b64 bool) {
		ev := events.APIGatewayV2HTTPRequest{Body: body, IsBase64Encoded: b64}
		openid, aerr := loginOpenID(ev)
		if aerr != nil {
			if aerr.Status != 400 || !strings.Contains(aerr.Message+aerr.Code, "openid") && !strings.Contains(aerr.Error(), "openid") {
				t.Fatalf("refusal %v does not name openid", aerr)
			}
			return
		}
		if !printableASCII(openid, 128) {
			t.Fatalf("accepted openid %q", openid)
		}
	})
}
