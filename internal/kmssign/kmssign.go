// Package kmssign signs with an AWS KMS asymmetric key (RSA_2048,
// SIGN_VERIFY) as a crypto.Signer: the private key never leaves KMS.
//
// Two paths, as design.md ("Sign-in") says:
//   - [Signer.SignMessage] sends the message itself (MessageType RAW): what
//     JWT signing uses, and right on AWS and on moto_server.
//   - [Signer.Sign] is crypto.Signer's: it receives a SHA-256 digest and
//     sends it as MessageType DIGEST. Right on AWS; moto_server 5.2.1 signs
//     SHA-256 of the digest instead, which the verification below refuses.
//
// Every signature is verified against the public key read at [New] before
// it is returned: an RSA-2048 verification costs tens of microseconds, a
// KMS round trip milliseconds, and it turns a key that no longer matches
// what was published (or an emulator's wrong signature) into a refusal
// instead of a token nobody can verify.
package kmssign

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/wxcard/wxcard/internal/awsenv"
)

// API is the two KMS calls used (satisfied by *kms.Client).
type API interface {
	Sign(ctx context.Context, in *kms.SignInput, optFns ...func(*kms.Options)) (*kms.SignOutput, error)
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, optFns ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
}

var (
	_ API           = (*kms.Client)(nil)
	_ crypto.Signer = (*Signer)(nil)
)

// DefaultTimeout bounds each KMS call when no [WithTimeout] is given: KMS
// answers Sign in tens of milliseconds, and the SDK's retries fit inside.
const DefaultTimeout = 2 * time.Second

// MaxRawMessage is the largest message KMS signs with MessageType RAW.
const MaxRawMessage = 4096

// Algorithm is the one signing algorithm used: RS256's.
const Algorithm = types.SigningAlgorithmSpecRsassaPkcs1V15Sha256

var (
	// ErrUnavailable is wrapped by every failure of a KMS call (an error
	// answer, no answer in time) and by a signature that does not verify:
	// the key cannot sign now, and nothing signed was returned. A handler
	// maps it to 503.
	ErrUnavailable = errors.New("KMS signing key unavailable")
	// ErrBadSignature is wrapped (with ErrUnavailable) when KMS answered a
	// signature that does not verify against the key's public key.
	ErrBadSignature = errors.New("signature does not verify against the key's public key")
	// ErrUnsuitableKey is wrapped by New's refusal of a key that is not
	// RSA_2048, SIGN_VERIFY, offering RSASSA_PKCS1_V1_5_SHA_256.
	ErrUnsuitableKey = errors.New("KMS key unsuitable for RS256")
)

// Error is a failed KMS call: which key, which operation (GetPublicKey or
// Sign), and why. It matches ErrUnavailable with errors.Is, and the cause
// (e.g. context.DeadlineExceeded, a *types.NotFoundException). Its text
// names the key ID and the operation, never a message or a signature.
type Error struct {
	KeyID string
	Op    string
	Err   error
}

func (e *Error) Error() string {
	return fmt.Sprintf("KMS %s with key %s: %v", e.Op, e.KeyID, e.Err)
}

// Unwrap gives ErrUnavailable and the cause.
func (e *Error) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

type options struct {
	timeout time.Duration
}

// Option changes how a Signer calls KMS.
type Option func(*options)

// WithTimeout bounds each KMS call (New's GetPublicKey, every Sign and
// SignMessage) to d; crypto.Signer's Sign has no context, so this is its
// only bound. d must be positive.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// Signer signs with one KMS key. It is safe for concurrent use.
type Signer struct {
	api     API
	keyID   string // as given to New: what errors name
	signID  string // the key ID GetPublicKey resolved (its ARN on AWS): what Sign sends
	pub     *rsa.PublicKey
	timeout time.Duration
}

// New reads keyID's public key once and checks that the key can sign RS256:
// key spec RSA_2048, usage SIGN_VERIFY, offering RSASSA_PKCS1_V1_5_SHA_256.
// It refuses any other key, naming the key ID and what is wrong. Signing
// then uses the key GetPublicKey resolved, so an alias moved later does not
// make the signer sign with a key other than the one Public gives.
func New(ctx context.Context, api API, keyID string, opts ...Option) (*Signer, error) {
	o := options{timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.timeout <= 0 {
		return nil, fmt.Errorf("kmssign: timeout %v for key %s: must be positive", o.timeout, keyID)
	}
	if keyID == "" {
		return nil, errors.New("kmssign: empty KMS key ID")
	}
	cctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	out, err := api.GetPublicKey(cctx, &kms.GetPublicKeyInput{KeyId: &keyID})
	if err != nil {
		return nil, &Error{KeyID: keyID, Op: "GetPublicKey", Err: err}
	}
	// KeySpec replaced CustomerMasterKeySpec, with the same values; AWS
	// answers both, moto_server 5.2.1 only the old one.
	spec := out.KeySpec
	if spec == "" {
		spec = types.KeySpec(out.CustomerMasterKeySpec) //nolint:staticcheck // deprecated, but moto_server 5.2.1 answers only this one
	}
	var wrong []error
	if spec != types.KeySpecRsa2048 {
		wrong = append(wrong, fmt.Errorf("key spec %q, want %q", spec, types.KeySpecRsa2048))
	}
	if out.KeyUsage != types.KeyUsageTypeSignVerify {
		wrong = append(wrong, fmt.Errorf("key usage %q, want %q", out.KeyUsage, types.KeyUsageTypeSignVerify))
	}
	if !slices.Contains(out.SigningAlgorithms, Algorithm) {
		wrong = append(wrong, fmt.Errorf("signing algorithms %q do not include %q", out.SigningAlgorithms, Algorithm))
	}
	pub, err := parsePublicKey(out.PublicKey)
	if err != nil {
		wrong = append(wrong, err)
	}
	if len(wrong) > 0 {
		return nil, fmt.Errorf("kmssign: key %s: %w: %w", keyID, ErrUnsuitableKey, errors.Join(wrong...))
	}
	s := &Signer{api: api, keyID: keyID, signID: keyID, pub: pub, timeout: o.timeout}
	if out.KeyId != nil && *out.KeyId != "" {
		s.signID = *out.KeyId
	}
	return s, nil
}

// parsePublicKey is the DER SubjectPublicKeyInfo KMS answers, which must
// be a 2048-bit RSA key.
func parsePublicKey(der []byte) (*rsa.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key is %T, want *rsa.PublicKey", k)
	}
	if pub.N.BitLen() != 2048 {
		return nil, fmt.Errorf("public key has %d bits, want 2048", pub.N.BitLen())
	}
	return pub, nil
}

// KeyID is the key ID given to New.
func (s *Signer) KeyID() string { return s.keyID }

// Public is the key's public key, an *rsa.PublicKey.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Sign is crypto.Signer's: digest is a SHA-256 digest, signed by KMS with
// MessageType DIGEST and RSASSA_PKCS1_V1_5_SHA_256. o must name SHA-256
// and not be *rsa.PSSOptions; rand is unused (KMS draws nothing for
// PKCS #1 v1.5). The call is bounded by the Signer's timeout.
func (s *Signer) Sign(_ io.Reader, digest []byte, o crypto.SignerOpts) ([]byte, error) {
	if o == nil {
		return nil, errors.New("kmssign: Sign without SignerOpts: want crypto.SHA256")
	}
	if _, pss := o.(*rsa.PSSOptions); pss {
		return nil, fmt.Errorf("kmssign: key %s signs PKCS #1 v1.5 only, not PSS", s.keyID)
	}
	if h := o.HashFunc(); h != crypto.SHA256 {
		return nil, fmt.Errorf("kmssign: key %s signs SHA-256 digests only, not %v", s.keyID, h)
	}
	if len(digest) != sha256.Size {
		return nil, fmt.Errorf("kmssign: digest of %d bytes, want %d (SHA-256)", len(digest), sha256.Size)
	}
	return s.sign(context.Background(), digest, types.MessageTypeDigest, digest)
}

// SignMessage signs msg (at most MaxRawMessage bytes) with MessageType RAW
// and RSASSA_PKCS1_V1_5_SHA_256: KMS hashes it. This is RS256 over a JWS
// signing input. The call is bounded by ctx and the Signer's timeout.
func (s *Signer) SignMessage(ctx context.Context, msg []byte) ([]byte, error) {
	if len(msg) == 0 || len(msg) > MaxRawMessage {
		return nil, fmt.Errorf("kmssign: message of %d bytes, want 1 to %d", len(msg), MaxRawMessage)
	}
	digest := sha256.Sum256(msg)
	return s.sign(ctx, msg, types.MessageTypeRaw, digest[:])
}

// sign asks KMS to sign msg and verifies the answer against digest.
func (s *Signer) sign(ctx context.Context, msg []byte, mt types.MessageType, digest []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	out, err := s.api.Sign(ctx, &kms.SignInput{
		KeyId: &s.signID, Message: msg, MessageType: mt, SigningAlgorithm: Algorithm,
	})
	if err != nil {
		return nil, &Error{KeyID: s.keyID, Op: "Sign", Err: err}
	}
	if err := rsa.VerifyPKCS1v15(s.pub, crypto.SHA256, digest, out.Signature); err != nil {
		return nil, &Error{KeyID: s.keyID, Op: "Sign", Err: fmt.Errorf("%w (MessageType %s)", ErrBadSignature, mt)}
	}
	return out.Signature, nil
}

// ClientFromEnv builds the real KMS client from the environment Lambda
// gives every function (see awsenv); for tests and emulators,
// AWS_ENDPOINT_URL_KMS or AWS_ENDPOINT_URL. It lives here, not in
// lambdaapp, so that only a function that signs links the KMS client.
func ClientFromEnv(getenv func(string) string) (*kms.Client, error) {
	env, err := awsenv.FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return kms.New(kms.Options{Region: env.Region, Credentials: env.Credentials, BaseEndpoint: env.Endpoint("KMS")}), nil
}
