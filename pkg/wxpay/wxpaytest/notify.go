package wxpaytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"time"

	"github.com/wxcard/wxcard/pkg/wxsign"
)

// Notifier builds callback notifications as WeChat Pay sends them: the
// envelope, with its resource encrypted (AEAD_AES_256_GCM) by the
// merchant's API v3 key, signed with WeChat Pay's key over
// TIMESTAMP\nNONCE\nBODY\n like an answer, with the four Wechatpay-*
// headers. It also builds the spoiled kinds a receiver must refuse.
type Notifier struct {
	KeyID    string          // Wechatpay-Serial: a public key ID or a platform certificate serial
	Key      *rsa.PrivateKey // WeChat Pay's signing key for KeyID
	APIv3Key []byte          // the merchant's API v3 key, 32 bytes
	Now      func() time.Time
}

// Notifier returns a Notifier that signs as this stand-in's WeChat Pay
// public key, for a merchant whose API v3 key is apiV3Key.
func (s *Server) Notifier(apiV3Key []byte) *Notifier {
	return &Notifier{KeyID: s.PublicKeyID, Key: s.Key, APIv3Key: apiV3Key}
}

// Notification is one notification to build.
type Notification struct {
	ID         string // default: a random UUID-like ID
	EventType  string
	Summary    string
	CreateTime time.Time // default: now, in China Standard Time
	// Resource is the plaintext resource: marshalled to JSON, or used as
	// is when it is a []byte.
	Resource       any
	OriginalType   string // default "user_card"
	AssociatedData string // default OriginalType
}

// Spoil is a way a notification can be wrong.
type Spoil int

// The spoiled kinds. The first group fails verification; the second is
// signed correctly but cannot be used.
const (
	Genuine                Spoil = iota
	SpoilBadSignature            // a valid-looking signature over other bytes
	SpoilProbeSignature          // a WECHATPAY/SIGNTEST/ probe
	SpoilStaleTimestamp          // signed six minutes ago
	SpoilFutureTimestamp         // signed six minutes ahead
	SpoilUnknownKeyID            // Wechatpay-Serial names a key nobody holds
	SpoilMissingSignature        // no Wechatpay-Signature
	SpoilMissingTimestamp        // no Wechatpay-Timestamp
	SpoilMissingNonce            // no Wechatpay-Nonce
	SpoilMissingSerial           // no Wechatpay-Serial
	SpoilTamperedBody            // the body was changed after signing
	SpoilWrongAPIv3Key           // the resource is encrypted with another key
	SpoilNotJSONResource         // the resource decrypts to text that is not JSON
	SpoilMalformedEnvelope       // the envelope has no id
)

// Spoils are every spoiled kind, for table tests.
var Spoils = []Spoil{SpoilBadSignature, SpoilProbeSignature, SpoilStaleTimestamp, SpoilFutureTimestamp, SpoilUnknownKeyID, SpoilMissingSignature,
	SpoilMissingTimestamp, SpoilMissingNonce, SpoilMissingSerial, SpoilTamperedBody, SpoilWrongAPIv3Key, SpoilNotJSONResource, SpoilMalformedEnvelope}

// VerificationFails reports whether a receiver refuses sp at verification
// (401), rather than after it (400).
func (sp Spoil) VerificationFails() bool { return sp >= SpoilBadSignature && sp <= SpoilTamperedBody }

var spoilNames = map[Spoil]string{
	Genuine: "genuine", SpoilBadSignature: "bad signature", SpoilProbeSignature: "probe signature", SpoilStaleTimestamp: "stale timestamp",
	SpoilFutureTimestamp: "future timestamp", SpoilUnknownKeyID: "unknown key ID", SpoilMissingSignature: "missing signature",
	SpoilMissingTimestamp: "missing timestamp", SpoilMissingNonce: "missing nonce", SpoilMissingSerial: "missing serial",
	SpoilTamperedBody: "tampered body", SpoilWrongAPIv3Key: "wrong API v3 key", SpoilNotJSONResource: "resource not JSON",
	SpoilMalformedEnvelope: "malformed envelope",
}

func (sp Spoil) String() string { return spoilNames[sp] }

// Build returns the headers and body of n as WeChat Pay would send them,
// spoiled as asked.
func (nt *Notifier) Build(n Notification, spoil Spoil) (http.Header, []byte, error) {
	now := time.Now
	if nt.Now != nil {
		now = nt.Now
	}
	if n.ID == "" {
		n.ID = randomID()
	}
	if n.CreateTime.IsZero() {
		n.CreateTime = now()
	}
	if n.OriginalType == "" {
		n.OriginalType = "user_card"
	}
	if n.AssociatedData == "" {
		n.AssociatedData = n.OriginalType
	}
	plain, ok := n.Resource.([]byte)
	if !ok {
		var err error
		if plain, err = json.Marshal(n.Resource); err != nil {
			return nil, nil, fmt.Errorf("wxpaytest: resource: %w", err)
		}
	}
	key := nt.APIv3Key
	switch spoil {
	case SpoilWrongAPIv3Key:
		key = []byte("ffffffffffffffffffffffffffffffff")
	case SpoilNotJSONResource:
		plain = []byte("not json")
	}
	gcmNonce := randomID()[:12]
	res, err := wxsign.EncryptResource(key, gcmNonce, n.AssociatedData, plain)
	if err != nil {
		return nil, nil, err
	}
	res.OriginalType = n.OriginalType
	env := map[string]any{
		"id": n.ID, "create_time": n.CreateTime.In(chinaTime).Format(time.RFC3339), "resource_type": "encrypt-resource",
		"event_type": n.EventType, "summary": n.Summary, "resource": res,
	}
	if spoil == SpoilMalformedEnvelope {
		delete(env, "id")
	}
	body, err := json.Marshal(env)
	if err != nil {
		return nil, nil, err
	}
	ts := now()
	switch spoil {
	case SpoilStaleTimestamp:
		ts = ts.Add(-6 * time.Minute)
	case SpoilFutureTimestamp:
		ts = ts.Add(6 * time.Minute)
	}
	timestamp := strconv.FormatInt(ts.Unix(), 10)
	nonce, err := wxsign.NewNonce()
	if err != nil {
		return nil, nil, err
	}
	signed := body
	if spoil == SpoilBadSignature {
		signed = append([]byte(nil), body...)
		signed[len(signed)-2] ^= 1
	}
	sig, err := wxsign.Sign(nt.Key, wxsign.ResponseMessage(timestamp, nonce, signed))
	if err != nil {
		return nil, nil, err
	}
	if spoil == SpoilProbeSignature {
		sig = wxsign.ProbePrefix + sig[len(wxsign.ProbePrefix):]
	}
	serial := nt.KeyID
	if spoil == SpoilUnknownKeyID {
		serial = "PUB_KEY_ID_0000000000000000000000000000"
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Mozilla/4.0")
	h.Set(wxsign.HeaderTimestamp, timestamp)
	h.Set(wxsign.HeaderNonce, nonce)
	h.Set(wxsign.HeaderSignature, sig)
	h.Set(wxsign.HeaderSerial, serial)
	h.Set(wxsign.HeaderRequestID, "08F1D4B8A806"+timestamp)
	switch spoil {
	case SpoilMissingSignature:
		h.Del(wxsign.HeaderSignature)
	case SpoilMissingTimestamp:
		h.Del(wxsign.HeaderTimestamp)
	case SpoilMissingNonce:
		h.Del(wxsign.HeaderNonce)
	case SpoilMissingSerial:
		h.Del(wxsign.HeaderSerial)
	case SpoilTamperedBody:
		body = append(body[:len(body)-1:len(body)-1], []byte(`,"x":1}`)...)
	}
	return h, body, nil
}

// maxReceiverAnswer bounds what PostNotification reads of an answer:
// WeChat Pay reads only the status and a short {"code","message"}.
const maxReceiverAnswer = 64 << 10

// PostNotification delivers a notification Build made, as WeChat Pay
// does: a POST of body to url with the headers h. It returns the
// receiver's status and the first 64 KiB of its answer; WeChat Pay counts
// 200 and 204 as received and retries anything else. A nil client is
// http.DefaultClient.
func PostNotification(ctx context.Context, client *http.Client, url string, h http.Header, body []byte) (status int, answer []byte, err error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("wxpaytest: notification request: %w", err)
	}
	for k, v := range h {
		req.Header[k] = append([]string(nil), v...)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("wxpaytest: posting the notification: %w", err)
	}
	defer resp.Body.Close()
	answer, err = io.ReadAll(io.LimitReader(resp.Body, maxReceiverAnswer))
	if err != nil {
		return resp.StatusCode, answer, fmt.Errorf("wxpaytest: reading the receiver's answer: %w", err)
	}
	return resp.StatusCode, answer, nil
}

var chinaTime = time.FixedZone("CST", 8*3600)

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// NewPlatformCertificate makes a WeChat Pay platform certificate for key,
// with serial number serial, as merchants still migrating from platform
// certificates to the public key hold them.
func NewPlatformCertificate(key *rsa.PrivateKey, serial int64) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "Tenpay.com Root CA stand-in", Organization: []string{"wxpaytest"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(5 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
