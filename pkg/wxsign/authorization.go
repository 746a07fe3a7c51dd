package wxsign

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Credentials are the parts of an Authorization header.
type Credentials struct {
	Scheme    Scheme
	ID        string // mchid or brand_id, by Scheme
	Nonce     string
	Timestamp int64
	SerialNo  string
	Signature string
}

// ErrMalformedAuthorization is matched by every error of ParseAuthorization.
var ErrMalformedAuthorization = errors.New("wxsign: malformed Authorization header")

// ParseAuthorization parses an Authorization header as WeChat Pay reads it:
// a known scheme, one space, then exactly the five parameters of that scheme
// as name="value" pairs separated by commas, each once, in any order. Errors
// name the parameter at fault but never echo the signature.
func ParseAuthorization(header string) (Credentials, error) {
	var c Credentials
	scheme, params, ok := strings.Cut(header, " ")
	if !ok {
		return c, fmt.Errorf("%w: no scheme", ErrMalformedAuthorization)
	}
	c.Scheme = Scheme(scheme)
	idParam := c.Scheme.IDParam()
	if idParam == "" {
		return c, fmt.Errorf("%w: unknown scheme %.40q", ErrMalformedAuthorization, scheme)
	}
	seen := map[string]bool{}
	for _, pair := range strings.Split(params, ",") {
		name, quoted, ok := strings.Cut(pair, "=")
		if !ok || len(quoted) < 2 || quoted[0] != '"' || quoted[len(quoted)-1] != '"' {
			return c, fmt.Errorf("%w: parameter %.40q is not name=\"value\"", ErrMalformedAuthorization, name)
		}
		value := quoted[1 : len(quoted)-1]
		if value == "" {
			return c, fmt.Errorf("%w: parameter %.40q is empty", ErrMalformedAuthorization, name)
		}
		if strings.ContainsRune(value, '"') {
			return c, fmt.Errorf("%w: parameter %.40q has a stray quote", ErrMalformedAuthorization, name)
		}
		if seen[name] {
			return c, fmt.Errorf("%w: parameter %.40q repeated", ErrMalformedAuthorization, name)
		}
		seen[name] = true
		switch name {
		case idParam:
			c.ID = value
		case "nonce_str":
			c.Nonce = value
		case "timestamp":
			ts, err := parseTimestamp(value)
			if err != nil {
				return c, fmt.Errorf("%w: timestamp: %w", ErrMalformedAuthorization, err)
			}
			c.Timestamp = ts
		case "serial_no":
			c.SerialNo = value
		case "signature":
			c.Signature = value
		default:
			return c, fmt.Errorf("%w: unexpected parameter %.40q for %s", ErrMalformedAuthorization, name, scheme)
		}
	}
	for _, name := range []string{idParam, "nonce_str", "timestamp", "serial_no", "signature"} {
		if !seen[name] {
			return c, fmt.Errorf("%w: missing parameter %s", ErrMalformedAuthorization, name)
		}
	}
	return c, nil
}

// VerifyRequest checks that c's signature covers the request
// (method, url, body) under the public key pub. It checks neither the clock
// nor the nonce: a server does that with its own state.
func VerifyRequest(pub *rsa.PublicKey, c Credentials, method, url string, body []byte) error {
	return verifySignature(pub, c.Signature, Message(method, url, c.Timestamp, c.Nonce, body))
}

// parseTimestamp accepts 1 to 19 decimal digits and nothing else: no sign,
// no spaces, so that what is signed is what is read.
func parseTimestamp(s string) (int64, error) {
	if s == "" || len(s) > 19 {
		return 0, errors.New("not 1 to 19 digits")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not decimal digits")
		}
	}
	return strconv.ParseInt(s, 10, 64)
}
