package wxsign

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// APIv3KeyLength is the length of a merchant's API v3 key, the AES-256 key
// that encrypts notification resources.
const APIv3KeyLength = 32

// Notification is a callback notification from WeChat Pay.
type Notification struct {
	ID           string            `json:"id"`
	CreateTime   string            `json:"create_time"`
	EventType    string            `json:"event_type"`
	ResourceType string            `json:"resource_type"`
	Summary      string            `json:"summary"`
	Resource     EncryptedResource `json:"resource"`
}

// EncryptedResource is the encrypted payload of a notification.
type EncryptedResource struct {
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	OriginalType   string `json:"original_type"`
	Nonce          string `json:"nonce"`
}

// ParseNotification verifies a notification's headers and signature exactly
// as an answer's, and only then decodes its body with DecodeNotification.
// A verification failure is a *VerifyError; a body that does not decode is
// a *NotificationError.
func (v *Verifier) ParseNotification(h http.Header, body []byte) (*Notification, error) {
	if err := v.Verify(h, body); err != nil {
		return nil, err
	}
	return DecodeNotification(body)
}

// NotificationError is a notification body that does not keep the
// envelope's rules. Field names the field at fault ("body" for the whole).
type NotificationError struct {
	Field  string
	Reason string
}

func (e *NotificationError) Error() string {
	return "wxsign: notification " + e.Field + " " + e.Reason
}

var (
	envelopeKeys = map[string]bool{"id": true, "create_time": true, "event_type": true, "resource_type": true, "summary": true, "resource": true}
	resourceKeys = map[string]bool{"algorithm": true, "ciphertext": true, "associated_data": true, "original_type": true, "nonce": true}
)

// DecodeNotification reads a notification's envelope strictly: one JSON
// object; no duplicate key and no key that differs only in case from a
// documented one (Go's encoding/json would match it case-insensitively,
// so one body could be read two ways); the documented fields as strings,
// with id, create_time (RFC 3339), event_type, resource_type and the
// resource's algorithm, ciphertext and nonce present. Keys WeChat Pay may
// add later are ignored.
func DecodeNotification(body []byte) (*Notification, error) {
	if err := scanEnvelope(body); err != nil {
		return nil, err
	}
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, &NotificationError{Field: te.Field, Reason: "must be a " + te.Type.Kind().String()}
		}
		return nil, &NotificationError{Field: "body", Reason: "is not a JSON object"}
	}
	for _, f := range []struct{ name, v string }{
		{"id", n.ID}, {"create_time", n.CreateTime}, {"event_type", n.EventType}, {"resource_type", n.ResourceType},
		{"resource.algorithm", n.Resource.Algorithm}, {"resource.ciphertext", n.Resource.Ciphertext}, {"resource.nonce", n.Resource.Nonce},
	} {
		if f.v == "" {
			return nil, &NotificationError{Field: f.name, Reason: "is missing or empty"}
		}
	}
	if len(n.ID) > 64 {
		return nil, &NotificationError{Field: "id", Reason: "is longer than 64 characters"}
	}
	if _, err := time.Parse(time.RFC3339, n.CreateTime); err != nil {
		return nil, &NotificationError{Field: "create_time", Reason: "is not an RFC 3339 time"}
	}
	return &n, nil
}

// scanEnvelope walks the body's tokens for duplicate and case-variant keys
// in the envelope and its resource.
func scanEnvelope(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		return &NotificationError{Field: "body", Reason: "is not a JSON object"}
	}
	if err := scanKeys(dec, "", envelopeKeys); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return &NotificationError{Field: "body", Reason: "must hold one JSON object and nothing after it"}
	}
	return nil
}

// scanKeys reads an object's members after its '{'. known are the
// documented keys at this level; only "resource" is descended into.
func scanKeys(dec *json.Decoder, path string, known map[string]bool) error {
	seen := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return &NotificationError{Field: orBody(path), Reason: "is not valid JSON"}
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			return nil
		}
		key, _ := tok.(string)
		name := path + key
		if !known[key] {
			name = path + shortKey(key)
		}
		if seen[key] {
			return &NotificationError{Field: name, Reason: "appears more than once"}
		}
		seen[key] = true
		if !known[key] {
			for k := range known {
				if strings.EqualFold(k, key) {
					return &NotificationError{Field: path + k, Reason: "must be spelled exactly " + strconv.Quote(k)}
				}
			}
		}
		if key == "resource" && path == "" {
			tok, err := dec.Token()
			if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
				return &NotificationError{Field: "resource", Reason: "must be an object"}
			}
			if err := scanKeys(dec, "resource.", resourceKeys); err != nil {
				return err
			}
			continue
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return &NotificationError{Field: name, Reason: "is not valid JSON"}
		}
	}
}

// shortKey names an undocumented key in an error: at most 16 characters,
// quoted and escaped.
func shortKey(key string) string {
	if r := []rune(key); len(r) > 16 {
		return strconv.QuoteToASCII(string(r[:16])) + "…"
	}
	return strconv.QuoteToASCII(key)
}

func orBody(path string) string {
	if path == "" {
		return "body"
	}
	return strings.TrimSuffix(path, ".")
}

// DecryptResource decrypts an AEAD_AES_256_GCM resource with the 32-byte API
// v3 key. The error never contains the key or the plaintext.
func DecryptResource(apiV3Key []byte, r EncryptedResource) ([]byte, error) {
	if r.Algorithm != "AEAD_AES_256_GCM" {
		return nil, fmt.Errorf("wxsign: resource algorithm %.40q, want AEAD_AES_256_GCM", r.Algorithm)
	}
	if len(apiV3Key) != APIv3KeyLength {
		return nil, fmt.Errorf("wxsign: API v3 key is %d bytes, want %d", len(apiV3Key), APIv3KeyLength)
	}
	ciphertext, err := base64.StdEncoding.DecodeString(r.Ciphertext)
	if err != nil {
		return nil, errors.New("wxsign: resource ciphertext is not standard base64")
	}
	block, err := aes.NewCipher(apiV3Key)
	if err != nil {
		return nil, fmt.Errorf("wxsign: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("wxsign: %w", err)
	}
	if len(r.Nonce) != gcm.NonceSize() {
		return nil, fmt.Errorf("wxsign: resource nonce is %d bytes, want %d", len(r.Nonce), gcm.NonceSize())
	}
	plain, err := gcm.Open(nil, []byte(r.Nonce), ciphertext, []byte(r.AssociatedData))
	if err != nil {
		return nil, errors.New("wxsign: resource does not decrypt: wrong API v3 key or tampered resource")
	}
	return plain, nil
}

// EncryptResource is DecryptResource's inverse, for tests and stand-ins that
// play WeChat Pay. nonce must be 12 bytes.
func EncryptResource(apiV3Key []byte, nonce, associatedData string, plaintext []byte) (EncryptedResource, error) {
	block, err := aes.NewCipher(apiV3Key)
	if err != nil {
		return EncryptedResource{}, fmt.Errorf("wxsign: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return EncryptedResource{}, fmt.Errorf("wxsign: %w", err)
	}
	if len(nonce) != gcm.NonceSize() {
		return EncryptedResource{}, fmt.Errorf("wxsign: nonce is %d bytes, want %d", len(nonce), gcm.NonceSize())
	}
	ct := gcm.Seal(nil, []byte(nonce), plaintext, []byte(associatedData))
	return EncryptedResource{
		Algorithm: "AEAD_AES_256_GCM", Ciphertext: base64.StdEncoding.EncodeToString(ct),
		AssociatedData: associatedData, Nonce: nonce,
	}, nil
}
