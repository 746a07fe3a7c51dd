// Package session is wxcard's own sign-in: POST /session exchanges a
// mini-program's wx.login code with WeChat (pkg/wxlogin) for the user's
// openid and answers a short-lived RS256 token signed by a key that never
// leaves KMS; GET /.well-known/openid-configuration and
// /.well-known/jwks.json publish the issuer and its public keys, so that
// the HTTP API's JWT authorizer (or anyone) can verify those tokens.
//
// The handlers are plain structs built once at cold start ([SignIn],
// [Keys]); [SignInFromEnv] and [KeysFromEnv] build them from design.md's
// environment. The mini-program's AppSecret and WeChat's session_key never
// leave the sign-in function: not in an answer, a log line, an error or a
// metric.
package session

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Signer signs with a private key held elsewhere: *kmssign.Signer (KMS,
// MessageType RAW, RSASSA_PKCS1_V1_5_SHA_256), or an in-memory key in
// tests and the local sandbox. SignMessage signs msg itself, not a digest.
type Signer interface {
	Public() crypto.PublicKey
	SignMessage(ctx context.Context, msg []byte) ([]byte, error)
}

// ErrSigning wraps every failure to sign a token: the signer failed, or
// answered a signature that does not verify. No token is returned then.
var ErrSigning = errors.New("session: signing the token failed")

// MinKeyBits is the smallest RSA key a token is signed with.
const MinKeyBits = 2048

// Claims the issuer sets itself; OPENID_CLAIM may name none of them.
var registeredClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "unionid"}

// KeyID is the kid of an RSA public key: its RFC 7638 thumbprint (SHA-256),
// base64url without padding. It changes only with the key, so a kid never
// names two keys across rotations.
func KeyID(pub crypto.PublicKey) (string, error) {
	rk, ok := pub.(*rsa.PublicKey)
	if !ok {
		return "", fmt.Errorf("session: the signing key is a %T, not RSA (RS256 needs RSA_2048)", pub)
	}
	if rk.N.BitLen() < MinKeyBits {
		return "", fmt.Errorf("session: the signing key has %d bits, want at least %d", rk.N.BitLen(), MinKeyBits)
	}
	tp, err := (&jose.JSONWebKey{Key: rk}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("session: thumbprint of the signing key: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// TokenConfig is what every token carries.
type TokenConfig struct {
	Issuer      string        // iss
	Audience    string        // aud
	TTL         time.Duration // exp - iat
	OpenIDClaim string        // the claim that carries the openid besides sub; default "openid"
	Now         func() time.Time
}

// Tokens issues signed tokens. It is safe for concurrent use.
type Tokens struct {
	cfg    TokenConfig
	signer Signer
	pub    *rsa.PublicKey
	kid    string
}

// NewTokens checks the signer's key (RSA, at least MinKeyBits) and cfg.
func NewTokens(signer Signer, cfg TokenConfig) (*Tokens, error) {
	if signer == nil {
		return nil, errors.New("session: no signer")
	}
	kid, err := KeyID(signer.Public())
	if err != nil {
		return nil, err
	}
	if cfg.OpenIDClaim == "" {
		cfg.OpenIDClaim = "openid"
	}
	if err := checkOpenIDClaim(cfg.OpenIDClaim); err != nil {
		return nil, err
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("session: tokens need an issuer and an audience")
	}
	if cfg.TTL <= 0 {
		return nil, errors.New("session: tokens need a positive lifetime")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Tokens{cfg: cfg, signer: signer, pub: signer.Public().(*rsa.PublicKey), kid: kid}, nil
}

func checkOpenIDClaim(name string) error {
	for _, r := range registeredClaims {
		if name == r {
			return fmt.Errorf("OPENID_CLAIM is %q, a claim the token sets itself (%v): name another", name, registeredClaims)
		}
	}
	for i := 0; i < len(name); i++ {
		if name[i] <= ' ' || name[i] >= 0x7f || name[i] == '"' || name[i] == '\\' {
			return fmt.Errorf("OPENID_CLAIM %.40q must be printable ASCII without spaces, quotes or backslashes", name)
		}
	}
	if name == "" || len(name) > 64 {
		return errors.New("OPENID_CLAIM must be 1 to 64 characters")
	}
	return nil
}

// KeyID is the kid of the signing key.
func (t *Tokens) KeyID() string { return t.kid }

// TTL is a token's lifetime.
func (t *Tokens) TTL() time.Duration { return t.cfg.TTL }

// Token is an issued token.
type Token struct {
	Raw     string    // the compact JWS
	ID      string    // jti
	Expires time.Time // exp
}

// Issue signs a token for openid (and unionid, when not empty) with the
// signer, under ctx. Its error wraps ErrSigning when the signer failed; the
// signature is checked against the public key before the token is
// returned, so a signer that answers garbage never issues a token.
func (t *Tokens) Issue(ctx context.Context, openid, unionid string) (*Token, error) {
	now := t.cfg.Now().Truncate(time.Second)
	jti, err := newJTI()
	if err != nil {
		return nil, err
	}
	claims := jwt.Claims{
		Issuer: t.cfg.Issuer, Subject: openid, Audience: jwt.Audience{t.cfg.Audience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(t.cfg.TTL)),
		ID: jti,
	}
	extra := map[string]any{t.cfg.OpenIDClaim: openid}
	if unionid != "" {
		extra["unionid"] = unionid
	}
	op := &opaque{ctx: ctx, signer: t.signer, jwk: &jose.JSONWebKey{Key: t.pub, KeyID: t.kid, Algorithm: string(jose.RS256), Use: "sig"}}
	js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: op}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("session: building the signer: %w", err)
	}
	raw, err := jwt.Signed(js).Claims(claims).Claims(extra).Serialize()
	if err != nil {
		if errors.Is(err, ErrSigning) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrSigning, err)
	}
	return &Token{Raw: raw, ID: jti, Expires: now.Add(t.cfg.TTL)}, nil
}

func newJTI() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("session: reading randomness for jti: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// opaque is go-jose's OpaqueSigner over a Signer, for one token: it
// carries the request's context, which OpaqueSigner.SignPayload has no
// parameter for.
type opaque struct {
	ctx    context.Context //nolint:containedctx // one token's signing, see above
	signer Signer
	jwk    *jose.JSONWebKey
}

func (o *opaque) Public() *jose.JSONWebKey { return o.jwk }

func (o *opaque) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{jose.RS256} }

func (o *opaque) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != jose.RS256 {
		return nil, fmt.Errorf("%w: algorithm %s, want RS256", ErrSigning, alg)
	}
	sig, err := o.signer.SignMessage(o.ctx, payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSigning, err)
	}
	sum := sha256.Sum256(payload)
	if err := rsa.VerifyPKCS1v15(o.jwk.Key.(*rsa.PublicKey), crypto.SHA256, sum[:], sig); err != nil {
		return nil, fmt.Errorf("%w: the signature does not verify against the key's public key", ErrSigning)
	}
	return sig, nil
}
