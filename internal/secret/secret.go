// Package secret reads a function's WeChat Pay credentials from AWS Secrets
// Manager and checks them before anything is signed with them.
package secret

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/wxcard/wxcard/pkg/wxsign"
)

// An Identity is a parsed, checked secret: whom the function signs as
// (wxsign.Identity: Scheme wxsign.Brand by brand_id, or wxsign.Merchant, a
// service provider, by mchid; Key is an *rsa.PrivateKey) and how it checks
// WeChat Pay's answers.
type Identity struct {
	wxsign.Identity
	PublicKeyID string // WeChat Pay public key ID, sent as Wechatpay-Serial
	PublicKey   *rsa.PublicKey

	// APIv3Key is the merchant's API v3 key (apiv3_key, 32 characters),
	// which decrypts a service provider's notifications; nil when the
	// secret has none.
	APIv3Key []byte
	// BrandAPIKey is the brand's API key (brand_api_key, 32 characters:
	// 品牌API密钥, set in the brand platform), which decrypts a brand's
	// notifications; nil when the secret has none.
	BrandAPIKey []byte
	// PlatformCertificates (wechatpay_platform_certificates) are WeChat
	// Pay platform certificates still trusted during a migration to the
	// public key, each under its own serial number.
	PlatformCertificates []*x509.Certificate
}

// PlatformSerial is how WeChat Pay names a platform certificate in
// Wechatpay-Serial: its serial number's bytes in upper-case hex, leading
// zero bytes kept (as the official SDKs print it).
func PlatformSerial(cert *x509.Certificate) string {
	return fmt.Sprintf("%X", cert.SerialNumber.Bytes())
}

// Verifier returns a verifier that trusts the identity's WeChat Pay public
// key and its platform certificates.
func (id *Identity) Verifier() *wxsign.Verifier {
	keys := wxsign.KeySet{id.PublicKeyID: id.PublicKey}
	for _, c := range id.PlatformCertificates {
		keys[PlatformSerial(c)] = c.PublicKey.(*rsa.PublicKey) // checked by Parse
	}
	return &wxsign.Verifier{Keys: keys}
}

// NotificationKey is the key that decrypts the identity's notifications:
// a brand's brand_api_key, a service provider's apiv3_key.
func (id *Identity) NotificationKey() []byte {
	if id.Scheme == wxsign.Brand {
		return id.BrandAPIKey
	}
	return id.APIv3Key
}

// NeedNotificationKey is the error of a function that decrypts
// notifications when the secret has no key for them (NotificationKey).
func (id *Identity) NeedNotificationKey(secretID string) error {
	if len(id.NotificationKey()) > 0 {
		return nil
	}
	if id.Scheme == wxsign.Brand {
		return &Error{SecretID: secretID, Field: "brand_api_key", Reason: "is missing: a brand's card events are decrypted with the brand API key (品牌API密钥)"}
	}
	return &Error{SecretID: secretID, Field: "apiv3_key", Reason: "is missing: cardevents decrypts notifications with the API v3 key"}
}

// Error says which secret and which field is wrong, never what it holds.
type Error struct {
	SecretID string
	Field    string // empty when the secret as a whole is wrong
	Reason   string
	Err      error // the cause, when it carries no secret material
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("secret %q: %s", e.SecretID, e.Reason)
	if e.Field != "" {
		msg = fmt.Sprintf("secret %q: field %q %s", e.SecretID, e.Field, e.Reason)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// fields is the secret's JSON. Unknown fields are allowed: an operator may
// keep notes or the API v3 key beside them.
type fields struct {
	BrandID              *string  `json:"brand_id"`
	MchID                *string  `json:"mchid"`
	CertSerialNo         *string  `json:"cert_serial_no"`
	PrivateKey           *string  `json:"private_key"`
	WechatpayPublicKeyID *string  `json:"wechatpay_public_key_id"`
	WechatpayPublicKey   *string  `json:"wechatpay_public_key"`
	APIv3Key             *string  `json:"apiv3_key"`
	BrandAPIKey          *string  `json:"brand_api_key"`
	PlatformCertificates []string `json:"wechatpay_platform_certificates"`
}

// Parse checks a secret's value and returns the identity that signs with
// scheme want: wxsign.Brand (the secret holds brand_id) or
// wxsign.Merchant (mchid). An empty want takes the identity the secret
// holds, whichever it is (the card-events code serves either).
func Parse(secretID string, value []byte, want wxsign.Scheme) (*Identity, error) {
	fail := func(field, reason string, err error) error {
		return &Error{SecretID: secretID, Field: field, Reason: reason, Err: err}
	}
	if want != "" && want.IDParam() == "" {
		return nil, fail("", fmt.Sprintf("cannot be read for the unknown scheme %q", want), nil)
	}
	var f fields
	dec := json.NewDecoder(bytes.NewReader(value))
	if err := dec.Decode(&f); err != nil {
		// The decoder's message may quote the secret; keep only its kind.
		return nil, fail("", "is not a JSON object", nil)
	}
	hasBrand, hasMch := f.BrandID != nil, f.MchID != nil
	if want == "" {
		switch {
		case hasBrand && !hasMch:
			want = wxsign.Brand
		case hasMch && !hasBrand:
			want = wxsign.Merchant
		case !hasBrand && !hasMch:
			return nil, fail("", "has neither brand_id (a brand) nor mchid (a service provider)", nil)
		}
	}
	switch {
	case hasBrand && hasMch:
		return nil, fail("", "has both brand_id and mchid; a secret holds one identity", nil)
	case want == wxsign.Brand && hasMch:
		return nil, fail("mchid", "is a service-provider identity; this function signs as a brand and needs brand_id", nil)
	case want == wxsign.Merchant && hasBrand:
		return nil, fail("brand_id", "is a brand identity; this function signs as a service provider and needs mchid", nil)
	}
	id := &Identity{Identity: wxsign.Identity{Scheme: want}}
	required := []struct {
		name string
		v    *string
		dst  *string
	}{
		// The secret's field is the Authorization parameter: brand_id or mchid.
		{want.IDParam(), pick(want == wxsign.Brand, f.BrandID, f.MchID), &id.ID},
		{"cert_serial_no", f.CertSerialNo, &id.SerialNo},
		{"private_key", f.PrivateKey, nil},
		{"wechatpay_public_key_id", f.WechatpayPublicKeyID, &id.PublicKeyID},
		{"wechatpay_public_key", f.WechatpayPublicKey, nil},
	}
	for _, r := range required {
		if r.v == nil || strings.TrimSpace(*r.v) == "" {
			return nil, fail(r.name, "is missing or empty", nil)
		}
		if r.dst != nil {
			*r.dst = strings.TrimSpace(*r.v)
			if strings.ContainsAny(*r.dst, "\",\\ \n\t") {
				return nil, fail(r.name, "contains quotes, commas, backslashes or spaces", nil)
			}
		}
	}
	key, err := wxsign.ParsePrivateKey([]byte(*f.PrivateKey))
	if err != nil {
		return nil, fail("private_key", "does not parse", err)
	}
	id.Key = key
	if id.PublicKey, err = wxsign.ParsePublicKey([]byte(*f.WechatpayPublicKey)); err != nil {
		return nil, fail("wechatpay_public_key", "does not parse", err)
	}
	if f.APIv3Key != nil {
		// Optional for every function; when given it must be usable.
		if k := *f.APIv3Key; len(k) != wxsign.APIv3KeyLength || strings.TrimSpace(k) != k {
			return nil, fail("apiv3_key", fmt.Sprintf("must be exactly %d characters", wxsign.APIv3KeyLength), nil)
		}
		id.APIv3Key = []byte(*f.APIv3Key)
	}
	if f.BrandAPIKey != nil {
		if k := *f.BrandAPIKey; len(k) != wxsign.APIv3KeyLength || strings.TrimSpace(k) != k {
			return nil, fail("brand_api_key", fmt.Sprintf("must be exactly %d characters", wxsign.APIv3KeyLength), nil)
		}
		id.BrandAPIKey = []byte(*f.BrandAPIKey)
	}
	for i, p := range f.PlatformCertificates {
		field := fmt.Sprintf("wechatpay_platform_certificates[%d]", i)
		cert, err := parseCertificate([]byte(p))
		if err != nil {
			return nil, fail(field, "does not parse", err)
		}
		if PlatformSerial(cert) == id.PublicKeyID {
			return nil, fail(field, "has the serial number of wechatpay_public_key_id", nil)
		}
		id.PlatformCertificates = append(id.PlatformCertificates, cert)
	}
	return id, nil
}

// parseCertificate reads one PEM certificate holding an RSA key of at
// least wxsign.MinKeyBits.
func parseCertificate(data []byte) (*x509.Certificate, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("want one PEM CERTIFICATE block")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("more than one PEM block")
	}
	if _, err := wxsign.ParsePublicKey(data); err != nil {
		return nil, err
	}
	return x509.ParseCertificate(block.Bytes)
}

func pick(cond bool, a, b *string) *string {
	if cond {
		return a
	}
	return b
}

// GetSecretValueAPI is the one Secrets Manager call this package makes.
type GetSecretValueAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Load fetches secretID and parses it as the identity that signs with
// scheme want.
func Load(ctx context.Context, api GetSecretValueAPI, secretID string, want wxsign.Scheme) (*Identity, error) {
	if secretID == "" {
		return nil, &Error{SecretID: secretID, Reason: "no secret configured: set WXPAY_SECRET_ID"}
	}
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID})
	if err != nil {
		return nil, &Error{SecretID: secretID, Reason: "cannot be read from Secrets Manager", Err: err}
	}
	if out.SecretString == nil {
		return nil, &Error{SecretID: secretID, Reason: "has no SecretString (binary secrets are not supported)"}
	}
	return Parse(secretID, []byte(*out.SecretString), want)
}

// Encode writes id as the value Parse reads: the JSON object to store in
// Secrets Manager, with the private key as PKCS#8 PEM and the WeChat Pay
// public key as PKIX PEM.
func Encode(id *Identity) ([]byte, error) {
	if id.Key == nil || id.PublicKey == nil || id.Scheme.IDParam() == "" {
		return nil, errors.New("secret: identity without keys or scheme")
	}
	key, err := x509.MarshalPKCS8PrivateKey(id.Key)
	if err != nil {
		return nil, fmt.Errorf("secret: encoding the private key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(id.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("secret: encoding the public key: %w", err)
	}
	v := map[string]any{
		id.Scheme.IDParam():       id.ID,
		"cert_serial_no":          id.SerialNo,
		"private_key":             string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})),
		"wechatpay_public_key_id": id.PublicKeyID,
		"wechatpay_public_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})),
	}
	if len(id.APIv3Key) > 0 {
		v["apiv3_key"] = string(id.APIv3Key)
	}
	if len(id.BrandAPIKey) > 0 {
		v["brand_api_key"] = string(id.BrandAPIKey)
	}
	if len(id.PlatformCertificates) > 0 {
		var certs []string
		for _, c := range id.PlatformCertificates {
			certs = append(certs, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
		}
		v["wechatpay_platform_certificates"] = certs
	}
	return json.Marshal(v)
}
