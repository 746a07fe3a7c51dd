package wxsign

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Scheme is the authentication scheme that opens an Authorization header.
type Scheme string

// The two schemes of WeChat Pay API v3.
const (
	// Merchant is the scheme of merchants and service providers; the
	// identity is a merchant ID (mchid).
	Merchant Scheme = "WECHATPAY2-SHA256-RSA2048"
	// Brand is the scheme of brand APIs; the identity is a brand ID (brand_id).
	Brand Scheme = "WECHATPAY-BRAND-SHA256-RSA2048"
)

// IDParam is the name of the Authorization parameter that carries the
// identity: "mchid" or "brand_id". It is empty for an unknown scheme.
func (s Scheme) IDParam() string {
	switch s {
	case Merchant:
		return "mchid"
	case Brand:
		return "brand_id"
	}
	return ""
}

// NonceLength is the length of a request nonce.
const NonceLength = 32

const nonceAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewNonce returns NonceLength characters of [0-9A-Za-z] read from
// crypto/rand, without modulo bias.
func NewNonce() (string, error) {
	var out [NonceLength]byte
	var buf [64]byte
	n := 0
	for n < NonceLength {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("wxsign: reading random nonce: %w", err)
		}
		for _, b := range buf {
			// 248 = 4*62: bytes at or above it would favour the first letters.
			if b >= 248 {
				continue
			}
			out[n] = nonceAlphabet[b%62]
			n++
			if n == NonceLength {
				break
			}
		}
	}
	return string(out[:]), nil
}

// Message returns the string a request signature covers:
// METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n. url is the path and query exactly as
// sent; body is exactly the bytes sent (empty for GET).
func Message(method, url string, timestamp int64, nonce string, body []byte) []byte {
	ts := strconv.AppendInt(make([]byte, 0, 20), timestamp, 10)
	b := make([]byte, 0, len(method)+len(url)+len(ts)+len(nonce)+len(body)+5)
	b = append(b, method...)
	b = append(b, '\n')
	b = append(b, url...)
	b = append(b, '\n')
	b = append(b, ts...)
	b = append(b, '\n')
	b = append(b, nonce...)
	b = append(b, '\n')
	b = append(b, body...)
	b = append(b, '\n')
	return b
}

// ResponseMessage returns the string an answer or notification signature
// covers: TIMESTAMP\nNONCE\nBODY\n.
func ResponseMessage(timestamp, nonce string, body []byte) []byte {
	b := make([]byte, 0, len(timestamp)+len(nonce)+len(body)+3)
	b = append(b, timestamp...)
	b = append(b, '\n')
	b = append(b, nonce...)
	b = append(b, '\n')
	b = append(b, body...)
	b = append(b, '\n')
	return b
}

// KeySize is the size in bytes of the RSA keys WeChat Pay takes: 2048 bits.
const KeySize = 256

// Sign returns the base64 RSASSA-PKCS1-v1_5 SHA-256 signature of message.
// key holds an RSA-2048 private key: an *rsa.PrivateKey (signed here), or
// any crypto.Signer, such as a key in a hardware module or a cloud KMS,
// that signs a SHA-256 digest with PKCS #1 v1.5 when given crypto.SHA256.
func Sign(key crypto.Signer, message []byte) (string, error) {
	sum := sha256.Sum256(message)
	var sig []byte
	var err error
	switch k := key.(type) {
	case nil:
		return "", errors.New("wxsign: sign: no private key")
	case *rsa.PrivateKey:
		if k == nil {
			return "", errors.New("wxsign: sign: no private key")
		}
		if k.Size() != KeySize {
			return "", fmt.Errorf("wxsign: sign: RSA key of %d bits, want 2048", k.N.BitLen())
		}
		sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
	default:
		pub, ok := key.Public().(*rsa.PublicKey)
		if !ok || pub == nil {
			return "", fmt.Errorf("wxsign: sign: %T does not hold an RSA key", key)
		}
		if pub.Size() != KeySize {
			return "", fmt.Errorf("wxsign: sign: RSA key of %d bits, want 2048", pub.N.BitLen())
		}
		sig, err = key.Sign(rand.Reader, sum[:], crypto.SHA256)
		if err == nil && len(sig) != KeySize {
			err = fmt.Errorf("signer %T returned %d bytes, want %d", key, len(sig), KeySize)
		}
	}
	if err != nil {
		return "", fmt.Errorf("wxsign: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// An Identity is a caller of WeChat Pay API v3: a merchant or service
// provider (scheme Merchant, by mchid) or a brand (scheme Brand, by
// brand_id), with its API certificate's serial number and private key.
type Identity struct {
	Scheme   Scheme // Merchant or Brand
	ID       string // mchid for Merchant, brand_id for Brand
	SerialNo string // serial number of the API certificate that Key belongs to
	// Key is the API certificate's RSA-2048 private key: an
	// *rsa.PrivateKey, or any crypto.Signer holding one (see [Sign]).
	Key crypto.Signer
}

// Signer returns a Signer for the identity.
func (id Identity) Signer() *Signer { return &Signer{Identity: id} }

// A Signer builds Authorization headers for one identity. Its fields are set
// once; a Signer is safe for concurrent use.
type Signer struct {
	Identity Identity // who signs

	// Now and Nonce are the clock and the nonce source; nil means
	// time.Now and NewNonce. Tests pin them.
	Now   func() time.Time
	Nonce func() (string, error)
}

// Authorization returns the Authorization header for one request. url is
// the path and query exactly as sent, body exactly the bytes sent.
func (s *Signer) Authorization(method, url string, body []byte) (string, error) {
	id := s.Identity
	idParam := id.Scheme.IDParam()
	switch {
	case idParam == "":
		return "", fmt.Errorf("wxsign: unknown scheme %q", id.Scheme)
	case id.ID == "":
		return "", fmt.Errorf("wxsign: signer has no %s", idParam)
	case id.SerialNo == "":
		return "", errors.New("wxsign: signer has no certificate serial number")
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	newNonce := NewNonce
	if s.Nonce != nil {
		newNonce = s.Nonce
	}
	nonce, err := newNonce()
	if err != nil {
		return "", err
	}
	ts := now().Unix()
	sig, err := Sign(id.Key, Message(method, url, ts, nonce, body))
	if err != nil {
		return "", err
	}
	return FormatAuthorization(Credentials{
		Scheme: id.Scheme, ID: id.ID, Nonce: nonce, Timestamp: ts, SerialNo: id.SerialNo, Signature: sig,
	}), nil
}

// FormatAuthorization lays out an Authorization header:
// SCHEME ID_PARAM="…",nonce_str="…",timestamp="…",serial_no="…",signature="…".
func FormatAuthorization(c Credentials) string {
	idParam := c.Scheme.IDParam()
	b := make([]byte, 0, 128+len(c.Signature))
	b = append(b, c.Scheme...)
	b = append(b, ' ')
	b = append(b, idParam...)
	b = append(b, `="`...)
	b = append(b, c.ID...)
	b = append(b, `",nonce_str="`...)
	b = append(b, c.Nonce...)
	b = append(b, `",timestamp="`...)
	b = strconv.AppendInt(b, c.Timestamp, 10)
	b = append(b, `",serial_no="`...)
	b = append(b, c.SerialNo...)
	b = append(b, `",signature="`...)
	b = append(b, c.Signature...)
	b = append(b, '"')
	return string(b)
}
