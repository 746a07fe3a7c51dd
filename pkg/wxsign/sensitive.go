package wxsign

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // WeChat Pay's sensitive fields use RSA-OAEP with SHA-1, as it documents
	"encoding/base64"
	"errors"
)

// DecryptSensitive decrypts a field WeChat Pay encrypted with the
// merchant's public key (a phone number, a user's form values): base64 of
// RSAES-OAEP with SHA-1 and MGF1-SHA-1, as WeChat Pay documents. key is
// an *rsa.PrivateKey, or any crypto.Decrypter holding one. The error
// never contains the plaintext.
func DecryptSensitive(key crypto.Decrypter, ciphertext string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(ciphertext)
	if err != nil {
		return "", errors.New("wxsign: sensitive field is not standard base64")
	}
	plain, err := key.Decrypt(rand.Reader, raw, &rsa.OAEPOptions{Hash: crypto.SHA1}) //nolint:gosec // see the import
	if err != nil {
		return "", errors.New("wxsign: sensitive field does not decrypt with this private key")
	}
	return string(plain), nil
}

// EncryptSensitive is DecryptSensitive's inverse: how a caller encrypts a
// sensitive field for WeChat Pay (with its public key), and how stand-ins
// that play WeChat Pay encrypt one for a merchant.
func EncryptSensitive(pub *rsa.PublicKey, plaintext string) (string, error) {
	ct, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, []byte(plaintext), nil) //nolint:gosec // see the import
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}
