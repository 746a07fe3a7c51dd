package wxsign_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/wxsign"
)

// What a VerifyError says, part by part: what an operator reads in a log.
func TestVerifyErrorText(t *testing.T) {
	cause := errors.New("crypto/rsa: verification error")
	for _, tc := range []struct {
		e    wxsign.VerifyError
		want string
	}{
		{wxsign.VerifyError{Reason: wxsign.ErrMissingHeader, Header: wxsign.HeaderNonce},
			"wxsign: answer not verified: missing header (Wechatpay-Nonce)"},
		{wxsign.VerifyError{Reason: wxsign.ErrBadSignature, Header: wxsign.HeaderSignature, Serial: "PUB_KEY_ID_1", Probe: true, RequestID: "R1", Err: cause},
			`wxsign: answer not verified: bad signature (Wechatpay-Signature), serial "PUB_KEY_ID_1", a WECHATPAY/SIGNTEST/ probe, request ID "R1": crypto/rsa: verification error`},
		{wxsign.VerifyError{Reason: wxsign.ErrUnknownKey, Header: wxsign.HeaderSerial, Serial: "PUB_KEY_ID_9"},
			"wxsign: answer not verified: unknown WeChat Pay key ID (Wechatpay-Serial)"},
		{wxsign.VerifyError{Reason: wxsign.ErrStaleTimestamp, Serial: "S"},
			`wxsign: answer not verified: timestamp outside the allowed clock skew, serial "S"`},
	} {
		assert.Equal(t, tc.want, tc.e.Error())
	}
	e := &wxsign.VerifyError{Reason: wxsign.ErrBadSignature}
	assert.Equal(t, []error{wxsign.ErrBadSignature}, e.Unwrap(), "no nil cause in the chain")
	e.Err = cause
	assert.Equal(t, []error{wxsign.ErrBadSignature, cause}, e.Unwrap())
}

// Timestamps of up to 19 digits are read (leading zeros included), more
// are refused.
func TestTimestampLength(t *testing.T) {
	_, wk := testKeys(t)
	v := &wxsign.Verifier{Keys: wxsign.KeySet{testKeyID: &wk.PublicKey}, Now: fixedClock(1700000000)}
	body := []byte(`{}`)
	for digits, ok := range map[int]bool{19: true, 20: false} {
		ts := strings.Repeat("0", digits-10) + "1700000000"
		h := signedAnswer(t, wk, testKeyID, 1700000000, "n", body)
		sig, err := wxsign.Sign(wk, wxsign.ResponseMessage(ts, "n", body))
		require.NoError(t, err)
		h.Set(wxsign.HeaderTimestamp, ts)
		h.Set(wxsign.HeaderSignature, sig)
		err = v.Verify(h, body)
		if ok {
			assert.NoError(t, err, "%d digits", digits)
		} else {
			assert.ErrorIs(t, err, wxsign.ErrMalformedTimestamp, "%d digits", digits)
		}
	}
}

// An empty quoted value is refused as empty: the syntax is right, the
// value is missing.
func TestEmptyAuthorizationValue(t *testing.T) {
	_, err := wxsign.ParseAuthorization(`WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="",timestamp="1700000000",serial_no="S",signature="x"`)
	require.ErrorIs(t, err, wxsign.ErrMalformedAuthorization)
	assert.Contains(t, err.Error(), `"nonce_str" is empty`)
}

// A nonce uses the whole alphabet: over 200 nonces, far more than the 8
// characters a biased or broken rejection step would leave.
func TestNonceAlphabetIsUsedWhole(t *testing.T) {
	chars := map[rune]bool{}
	for i := 0; i < 200; i++ {
		n, err := wxsign.NewNonce()
		require.NoError(t, err)
		for _, c := range n {
			chars[c] = true
		}
	}
	assert.Greater(t, len(chars), 55)
}

// Notification limits at their edges: an id of 64 characters is read, 65
// is not; an undocumented key of 16 characters is named whole, 17 cut.
func TestNotificationLimits(t *testing.T) {
	for n, ok := range map[int]bool{64: true, 65: false} {
		body := strings.Replace(goodEnvelope, "8b33f79f-8869-5ae5-b41b-3c0b59f957d0", strings.Repeat("a", n), 1)
		_, err := wxsign.DecodeNotification([]byte(body))
		assert.Equal(t, ok, err == nil, "id of %d: %v", n, err)
	}
	for n, want := range map[int]string{16: strconv.Quote(strings.Repeat("k", 16)), 17: strconv.Quote(strings.Repeat("k", 16)) + "…"} {
		body := strings.Replace(goodEnvelope, `"summary"`, `"`+strings.Repeat("k", n)+`":{,"summary"`, 1)
		_, err := wxsign.DecodeNotification([]byte(body))
		var ne *wxsign.NotificationError
		require.ErrorAs(t, err, &ne)
		assert.Equal(t, want, ne.Field)
	}
}
