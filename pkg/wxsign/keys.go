package wxsign

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// MinKeyBits is the smallest RSA key WeChat Pay API v3 uses.
const MinKeyBits = 2048

// ParsePrivateKey reads an RSA private key from PEM: a PKCS#8 "PRIVATE KEY"
// block or a PKCS#1 "RSA PRIVATE KEY" block. Errors say what is wrong and
// never contain key material.
func ParsePrivateKey(data []byte) (*rsa.PrivateKey, error) {
	block, err := decodeSinglePEM(data)
	if err != nil {
		return nil, fmt.Errorf("wxsign: private key: %w", err)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("wxsign: private key: encrypted PEM is not supported; store the key unencrypted in the secret")
	default:
		return nil, fmt.Errorf("wxsign: private key: PEM block is %.40q, want PRIVATE KEY (PKCS#8) or RSA PRIVATE KEY (PKCS#1)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("wxsign: private key: %s block does not parse (%s)", block.Type, asn1Reason(err))
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("wxsign: private key: %T is not an RSA key", key)
	}
	if bits := rsaKey.N.BitLen(); bits < MinKeyBits {
		return nil, fmt.Errorf("wxsign: private key: RSA key of %d bits, want at least %d", bits, MinKeyBits)
	}
	return rsaKey, nil
}

// ParsePublicKey reads an RSA public key from PEM: a PKIX "PUBLIC KEY" block
// (the form of WeChat Pay public keys), a PKCS#1 "RSA PUBLIC KEY" block, or
// an X.509 "CERTIFICATE" (the form of WeChat Pay platform certificates).
// Errors never contain key material.
func ParsePublicKey(data []byte) (*rsa.PublicKey, error) {
	block, err := decodeSinglePEM(data)
	if err != nil {
		return nil, fmt.Errorf("wxsign: public key: %w", err)
	}
	var key any
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("wxsign: public key: PEM block is %.40q, want PUBLIC KEY or CERTIFICATE", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("wxsign: public key: %s block does not parse (%s)", block.Type, asn1Reason(err))
	}
	rsaKey, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("wxsign: public key: %T is not an RSA key", key)
	}
	if bits := rsaKey.N.BitLen(); bits < MinKeyBits {
		return nil, fmt.Errorf("wxsign: public key: RSA key of %d bits, want at least %d", bits, MinKeyBits)
	}
	return rsaKey, nil
}

// decodeSinglePEM returns the one PEM block in data. Text around it is
// allowed (pem.Decode skips it); a second block is not, so that a secret with
// two keys pasted together is caught rather than half used.
func decodeSinglePEM(data []byte) (*pem.Block, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		if len(data) == 0 {
			return nil, errors.New("empty")
		}
		return nil, errors.New("no PEM block found (want -----BEGIN …----- … -----END …-----)")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("more than one PEM block")
	}
	return block, nil
}

// asn1Reason keeps the kind of a parse failure without its bytes: the x509
// and asn1 errors are about structure, but are capped to be safe.
func asn1Reason(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}
