package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/awsenv"
	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/kmssign"
	"github.com/wxcard/wxcard/internal/session"
	"github.com/wxcard/wxcard/pkg/wxlogin/wxlogintest"
)

const (
	miniAppID     = "wx1234567890abcdef"
	miniAppSecret = "e2eAppSecretNeverLogged0123456789"
	// signInIssuer is the keys function's URL in events/sessionkeys-*.json:
	// the issuer the keys function derives from the host it is called on.
	signInIssuer   = "https://k3xq7v2mzr5t4l6y2w7u3n4p5o0abcde.lambda-url.ap-east-1.on.aws"
	signInAudience = "wxcard"
)

// signInStack is what the sign-in functions run on: WeChat's login API
// (the stand-in, over TLS trusted through SSL_CERT_FILE), and Secrets
// Manager and KMS on moto_server, with an RSA_2048 SIGN_VERIFY key.
type signInStack struct {
	Login    *wxlogintest.Server
	Endpoint string
	KMS      *kms.Client
	KeyID    string
	caFile   string
	dir      string
}

func newSignInStack(t testing.TB) *signInStack {
	t.Helper()
	ep := awstest.StartMoto(t)
	ctx := context.Background()
	env := awstest.Env(ep, map[string]string{"AWS_ENDPOINT_URL_KMS": ep})
	kc, err := kmssign.ClientFromEnv(awstest.Getenv(env))
	require.NoError(t, err)
	key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeSignVerify})
	require.NoError(t, err)
	login := wxlogintest.NewServer(wxlogintest.Options{})
	t.Cleanup(login.Close)
	login.AddApp(miniAppID, miniAppSecret)
	dir := t.TempDir()
	s := &signInStack{Login: login, Endpoint: ep, KMS: kc, KeyID: aws.ToString(key.KeyMetadata.KeyId), caFile: filepath.Join(dir, "wxlogintest-ca.pem"), dir: dir}
	require.NoError(t, os.WriteFile(s.caFile, standInCA(t, login), 0o600))
	return s
}

// standInCA is the PEM of the CA that signed the stand-in's certificate:
// the root of the chain a client trusting RootCAs verifies.
func standInCA(t testing.TB, login *wxlogintest.Server) []byte {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(login.URL, "https://"), &tls.Config{RootCAs: login.RootCAs(), MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	defer conn.Close()
	chains := conn.ConnectionState().VerifiedChains
	require.NotEmpty(t, chains)
	root := chains[0][len(chains[0])-1]
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})
}

// secret stores a mini-program secret value in moto, under name made
// unique (tests share one moto_server), and returns its ID.
func (s *signInStack) secret(t testing.TB, name, value string) string {
	t.Helper()
	name += "-" + rand.Text()
	env, err := awsenv.FromEnv(awstest.Getenv(awstest.Env(s.Endpoint, nil)))
	require.NoError(t, err)
	sm := secretsmanager.New(secretsmanager.Options{Region: env.Region, Credentials: env.Credentials, BaseEndpoint: aws.String(s.Endpoint)})
	_, err = sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	require.NoError(t, err)
	return name
}

// Env is the environment of session or sessionkeys on this stack.
func (s *signInStack) Env(secretID string, extra ...string) []string {
	return append([]string{
		"MINIPROGRAM_SECRET_ID=" + secretID,
		"WXLOGIN_BASE_URL=" + s.Login.URL,
		"SESSION_KMS_KEY_ID=" + s.KeyID,
		"SESSION_AUDIENCE=" + signInAudience,
		"SESSION_ISSUER=" + signInIssuer,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + s.Endpoint,
		"AWS_ENDPOINT_URL_KMS=" + s.Endpoint,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(s.dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(s.dir, "no-aws-credentials"),
		"HOME=" + s.dir,
		"SSL_CERT_FILE=" + s.caFile,
	}, extra...)
}

// sampleEvent reads events/<name>.json.
func sampleEvent(t testing.TB, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "events", name+".json"))
	require.NoError(t, err)
	var ev events.APIGatewayV2HTTPRequest
	require.NoError(t, json.Unmarshal(raw, &ev))
	return ev
}

// jwks reads a JWKS by RFC 7517 and 7518 §6.3.1, apart from go-jose: kid → key.
func jwks(t *testing.T, body string) map[string]*rsa.PublicKey {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &set))
	out := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		require.Equal(t, "RSA", k["kty"])
		require.Equal(t, "RS256", k["alg"])
		require.Equal(t, "sig", k["use"])
		n, err := base64.RawURLEncoding.DecodeString(k["n"])
		require.NoError(t, err)
		e, err := base64.RawURLEncoding.DecodeString(k["e"])
		require.NoError(t, err)
		out[k["kid"]] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return out
}

var errUnknownKid = errors.New("kid not in the JWKS")

// verifyAsAuthorizer verifies a token with golang-jwt (not the go-jose
// that issued it) as an HTTP API JWT authorizer does: RS256 only, the key
// the JWKS publishes under the header's kid, iss, aud, exp required.
func verifyAsAuthorizer(tok string, keys map[string]*rsa.PublicKey) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(tk *jwt.Token) (any, error) {
		kid, _ := tk.Header["kid"].(string)
		k, ok := keys[kid]
		if !ok {
			return nil, errUnknownKid
		}
		return k, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(signInIssuer), jwt.WithAudience(signInAudience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	return claims, err
}

// Sign-in through the compiled binaries, against moto_server's KMS and
// Secrets Manager and the login stand-in over TLS: a wx.login code becomes
// a KMS-signed token that an independent JWT library verifies against the
// JWKS the keys function serves; tokens an authorizer must refuse are
// refused by that same verification.
func TestSignInThroughTheBinaries(t *testing.T) {
	t.Parallel()
	s := newSignInStack(t)
	id := s.secret(t, "wxcard/miniprogram", `{"appid":"`+miniAppID+`","app_secret":"`+miniAppSecret+`"}`)
	signIn := StartFunction(t, "session", s.Env(id))
	keysFn := StartFunction(t, "sessionkeys", s.Env(""))

	disc := keysFn.HTTP(t, sampleEvent(t, "sessionkeys-openid-configuration"))
	require.Equal(t, 200, disc.StatusCode, disc.Body)
	var d session.Discovery
	require.NoError(t, json.Unmarshal([]byte(disc.Body), &d))
	assert.Equal(t, signInIssuer, d.Issuer, "the issuer is derived from the function URL's host")
	assert.Equal(t, signInIssuer+"/.well-known/jwks.json", d.JWKSURI)
	set := keysFn.HTTP(t, sampleEvent(t, "sessionkeys-jwks"))
	require.Equal(t, 200, set.StatusCode, set.Body)
	assert.Equal(t, session.KeysCacheControl, set.Headers["Cache-Control"])
	keys := jwks(t, set.Body)
	require.Len(t, keys, 1)

	ev := sampleEvent(t, "session")
	ev.Body = `{"code":"` + s.Login.IssueCode(miniAppID, openid) + `"}`
	resp := signIn.HTTP(t, ev)
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	var ans session.Answer
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &ans))
	assert.Equal(t, "Bearer", ans.TokenType)
	assert.Equal(t, openid, ans.OpenID)
	assert.EqualValues(t, 3600, ans.ExpiresIn)

	claims, err := verifyAsAuthorizer(ans.Token, keys)
	require.NoError(t, err)
	assert.Equal(t, openid, claims["sub"])
	assert.Equal(t, openid, claims["openid"])
	exp, err := claims.GetExpirationTime()
	require.NoError(t, err)
	iat, err := claims.GetIssuedAt()
	require.NoError(t, err)
	assert.Equal(t, time.Hour, exp.Sub(iat.Time))
	assert.WithinDuration(t, time.Now(), iat.Time, time.Minute)
	header, _, _ := strings.Cut(ans.Token, ".")
	rawHeader, err := base64.RawURLEncoding.DecodeString(header)
	require.NoError(t, err)
	var h map[string]any
	require.NoError(t, json.Unmarshal(rawHeader, &h))
	assert.Equal(t, "RS256", h["alg"])
	assert.Contains(t, keys, h["kid"], "the token's kid is the one the JWKS publishes")

	// Neither the app secret nor WeChat's session_key leave the function.
	out := signIn.Proc.Output()
	assert.NotContains(t, out, miniAppSecret)
	assert.NotContains(t, out, ans.Token)
	assert.NotContains(t, resp.Body, "session_key")

	// The same code again is refused, and not sent to WeChat again.
	calls := len(s.Login.Requests())
	again := signIn.HTTP(t, ev)
	assert.Equal(t, 401, again.StatusCode)
	assert.Contains(t, again.Body, "INVALID_CODE")
	assert.Len(t, s.Login.Requests(), calls, "a spent code is answered from memory")

	// Tokens signed by the same KMS key but with the wrong claims, for the refusals.
	ctx := context.Background()
	signer, err := kmssign.New(ctx, s.KMS, s.KeyID)
	require.NoError(t, err)
	issue := func(cfg session.TokenConfig) string {
		tokens, err := session.NewTokens(signer, cfg)
		require.NoError(t, err)
		tk, err := tokens.Issue(ctx, openid, "")
		require.NoError(t, err)
		return tk.Raw
	}
	good := session.TokenConfig{Issuer: signInIssuer, Audience: signInAudience, TTL: session.MinTokenTTL}
	_, err = verifyAsAuthorizer(issue(good), keys)
	require.NoError(t, err, "a token signed through kmssign on moto verifies: the refusals below are for their one fault")
	expired := good
	expired.Now = func() time.Time { return time.Now().Add(-2 * session.MinTokenTTL) }
	wrongAud := good
	wrongAud.Audience = "someone-else"
	wrongIss := good
	wrongIss.Issuer = "https://other.lambda-url.ap-east-1.on.aws"

	parts := strings.Split(ans.Token, ".")
	var payload map[string]any
	rawPayload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(rawPayload, &payload))
	payload["sub"], payload["openid"] = "obLatSomeoneElse", "obLatSomeoneElse"
	tamperedPayload, err := json.Marshal(payload)
	require.NoError(t, err)
	h["kid"] = "not-a-published-kid"
	unknownKidHeader, err := json.Marshal(h)
	require.NoError(t, err)
	none, err := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": h["kid"].(string)})
	require.NoError(t, err)
	var kid string
	for k := range keys {
		kid = k
	}
	der, err := x509.MarshalPKIXPublicKey(keys[kid])
	require.NoError(t, err)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(payload))
	hs.Header["kid"] = kid
	confused, err := hs.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	require.NoError(t, err)
	enc := base64.RawURLEncoding.EncodeToString

	for name, tok := range map[string]string{
		"tampered payload":           parts[0] + "." + enc(tamperedPayload) + "." + parts[2],
		"unknown kid":                enc(unknownKidHeader) + "." + parts[1] + "." + parts[2],
		"expired":                    issue(expired),
		"wrong aud":                  issue(wrongAud),
		"wrong iss":                  issue(wrongIss),
		"alg none":                   enc(none) + "." + parts[1] + ".",
		"HS256 with the public key":  confused,
		"signature of another token": parts[0] + "." + parts[1] + "." + strings.Split(issue(good), ".")[2],
		"signature cut off":          parts[0] + "." + parts[1] + ".",
		"two segments":               parts[0] + "." + parts[1],
	} {
		_, err := verifyAsAuthorizer(tok, keys)
		assert.Error(t, err, name)
	}
	_, err = verifyAsAuthorizer(enc(unknownKidHeader)+"."+parts[1]+"."+parts[2], keys)
	assert.ErrorIs(t, err, errUnknownKid)
}

// A mini-program secret without appid or app_secret: the session binary
// refuses to start, naming the field and never the value.
func TestSignInBadSecretRefusesToServe(t *testing.T) {
	t.Parallel()
	s := newSignInStack(t)
	for _, tc := range []struct{ name, value, field string }{
		{"no appid", `{"app_secret":"` + miniAppSecret + `"}`, "appid"},
		{"empty app_secret", `{"appid":"` + miniAppID + `","app_secret":""}`, "app_secret"},
		{"no app_secret", `{"appid":"` + miniAppID + `"}`, "app_secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := s.secret(t, "wxcard/mp-"+strings.ReplaceAll(tc.name, " ", "-"), tc.value)
			out := requireInitError(t, "session", s.Env(id))
			assert.Contains(t, out, `\"`+tc.field+`\"`, "names the field")
			assert.Contains(t, out, id)
			assert.NotContains(t, out, miniAppSecret)
		})
	}
}
