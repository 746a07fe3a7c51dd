package wxsign

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
// as an answer's, and only then decodes its body.
func (v *Verifier) ParseNotification(h http.Header, body []byte) (*Notification, error) {
	if err := v.Verify(h, body); err != nil {
		return nil, err
	}
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, fmt.Errorf("wxsign: notification body is not JSON: %w", err)
	}
	if n.Resource.Ciphertext == "" {
		return nil, errors.New("wxsign: notification has no resource.ciphertext")
	}
	return &n, nil
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
