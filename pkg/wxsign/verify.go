package wxsign

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Header names of a signed WeChat Pay answer.
const (
	HeaderTimestamp = "Wechatpay-Timestamp"
	HeaderNonce     = "Wechatpay-Nonce"
	HeaderSignature = "Wechatpay-Signature"
	HeaderSerial    = "Wechatpay-Serial"
	HeaderRequestID = "Request-Id"
)

// MaxClockSkew is how far an answer's timestamp may be from our clock, either
// way. An answer at exactly MaxClockSkew is rejected, as the official SDKs do.
const MaxClockSkew = 5 * time.Minute

// ProbePrefix opens the deliberately wrong signatures WeChat Pay sends to
// check that a client verifies.
const ProbePrefix = "WECHATPAY/SIGNTEST/"

// The reasons an answer fails verification; a *VerifyError matches exactly
// one of them with errors.Is.
var (
	ErrMissingHeader      = errors.New("missing header")
	ErrUnknownKey         = errors.New("unknown WeChat Pay key ID")
	ErrMalformedTimestamp = errors.New("malformed timestamp")
	ErrStaleTimestamp     = errors.New("timestamp outside the allowed clock skew")
	ErrBadSignature       = errors.New("bad signature")
)

// VerifyError describes an answer that failed verification. It carries what
// is safe to log: the reason, the header at fault, the key ID and WeChat
// Pay's Request-ID.
type VerifyError struct {
	Reason    error  // one of the Err* sentinels of this package
	Header    string // the header at fault, when there is one
	Serial    string // Wechatpay-Serial as received
	RequestID string // Request-ID as received, may be empty
	Probe     bool   // the signature was a WECHATPAY/SIGNTEST/ probe
	Err       error  // the underlying cause, when there is one
}

func (e *VerifyError) Error() string {
	var b strings.Builder
	b.WriteString("wxsign: answer not verified: ")
	b.WriteString(e.Reason.Error())
	if e.Header != "" {
		fmt.Fprintf(&b, " (%s)", e.Header)
	}
	if e.Serial != "" && e.Header != HeaderSerial {
		fmt.Fprintf(&b, ", serial %.64q", e.Serial)
	}
	if e.Probe {
		b.WriteString(", a WECHATPAY/SIGNTEST/ probe")
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, ", request ID %.64q", e.RequestID)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the reason and the underlying cause.
func (e *VerifyError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

// IsProbe reports whether err is a failed verification of a
// WECHATPAY/SIGNTEST/ probe: expected now and then, no reason to page anyone.
func IsProbe(err error) bool {
	var ve *VerifyError
	return errors.As(err, &ve) && ve.Probe
}

// KeySet maps WeChat Pay key IDs (a public key ID such as PUB_KEY_ID_…, or a
// platform certificate serial number) to public keys. It holds more than one
// key during a rotation or a migration from platform certificates to public
// keys. It must not be changed while a Verifier uses it.
type KeySet map[string]*rsa.PublicKey

// A Verifier checks WeChat Pay answers and notifications. It is safe for
// concurrent use.
type Verifier struct {
	Keys KeySet
	Now  func() time.Time // nil means time.Now
}

// Verify checks an answer's headers and its signature over the raw body.
// An empty body is valid. It returns nil or a *VerifyError.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	requestID := strings.TrimSpace(h.Get(HeaderRequestID))
	var vals [4]string
	for i, name := range [4]string{HeaderSerial, HeaderSignature, HeaderTimestamp, HeaderNonce} {
		vals[i] = strings.TrimSpace(h.Get(name))
		if vals[i] == "" {
			return &VerifyError{Reason: ErrMissingHeader, Header: name, RequestID: requestID}
		}
	}
	serial, signature, timestamp, nonce := vals[0], vals[1], vals[2], vals[3]
	fail := func(reason error, header string, err error) error {
		return &VerifyError{
			Reason: reason, Header: header, Serial: serial, RequestID: requestID,
			Probe: strings.HasPrefix(signature, ProbePrefix), Err: err,
		}
	}
	ts, err := parseTimestamp(timestamp)
	if err != nil {
		return fail(ErrMalformedTimestamp, HeaderTimestamp, err)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := now().Unix() - ts
	if skew <= -int64(MaxClockSkew/time.Second) || skew >= int64(MaxClockSkew/time.Second) {
		return fail(ErrStaleTimestamp, HeaderTimestamp, fmt.Errorf("%d s from our clock", skew))
	}
	key := v.Keys[serial]
	if key == nil {
		return fail(ErrUnknownKey, HeaderSerial, nil)
	}
	if err := verifySignature(key, signature, ResponseMessage(timestamp, nonce, body)); err != nil {
		return fail(ErrBadSignature, HeaderSignature, err)
	}
	return nil
}

var errSignatureEncoding = errors.New("signature is not standard base64")

// verifySignature checks a base64 RSASSA-PKCS1-v1_5 SHA-256 signature.
func verifySignature(pub *rsa.PublicKey, signature string, message []byte) error {
	if pub == nil {
		return errors.New("no public key")
	}
	var sigBuf [512]byte
	if base64.StdEncoding.DecodedLen(len(signature)) > len(sigBuf) {
		return errors.New("signature too long")
	}
	n, err := base64.StdEncoding.Decode(sigBuf[:], []byte(signature))
	if err != nil {
		return errSignatureEncoding
	}
	sum := sha256.Sum256(message)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sigBuf[:n])
}
