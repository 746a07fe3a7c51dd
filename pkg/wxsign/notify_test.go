package wxsign_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/wxsign"
)

const goodEnvelope = `{"id":"8b33f79f-8869-5ae5-b41b-3c0b59f957d0","create_time":"2020-07-13T23:27:38+08:00","resource_type":"encrypt-resource","event_type":"MEMBERCARD.ACTIVATE_CARD","summary":"会员卡激活通知","resource":{"original_type":"membercard","algorithm":"AEAD_AES_256_GCM","ciphertext":"eHh4","associated_data":"membercard","nonce":"j9g1wAzF9Xn1"}}`

func TestDecodeNotification(t *testing.T) {
	n, err := wxsign.DecodeNotification([]byte(goodEnvelope))
	require.NoError(t, err)
	assert.Equal(t, wxsign.Notification{
		ID: "8b33f79f-8869-5ae5-b41b-3c0b59f957d0", CreateTime: "2020-07-13T23:27:38+08:00", EventType: "MEMBERCARD.ACTIVATE_CARD",
		ResourceType: "encrypt-resource", Summary: "会员卡激活通知",
		Resource: wxsign.EncryptedResource{Algorithm: "AEAD_AES_256_GCM", Ciphertext: "eHh4", AssociatedData: "membercard", OriginalType: "membercard", Nonce: "j9g1wAzF9Xn1"},
	}, *n)

	// A key WeChat Pay adds later is ignored: forward compatible.
	_, err = wxsign.DecodeNotification([]byte(strings.Replace(goodEnvelope, `"summary"`, `"new_field":{"a":[1]},"summary"`, 1)))
	require.NoError(t, err)

	bad := []struct{ name, body, field string }{
		{"not JSON", `{"id":`, "id"},
		{"an array", `[]`, "body"},
		{"two objects", goodEnvelope + `{}`, "body"},
		{"duplicate id", strings.Replace(goodEnvelope, `{"id"`, `{"id":"other","id"`, 1), "id"},
		{"id in another case", strings.Replace(goodEnvelope, `"summary"`, `"ID":"other","summary"`, 1), "id"},
		{"resource_type with a long s", strings.Replace(goodEnvelope, `"summary"`, `"re\u017fource_type":"X","summary"`, 1), "resource_type"},
		{"duplicate ciphertext", strings.Replace(goodEnvelope, `"nonce"`, `"ciphertext":"b3RoZXI=","nonce"`, 1), "resource.ciphertext"},
		{"ciphertext in another case", strings.Replace(goodEnvelope, `"nonce"`, `"CipherText":"b3RoZXI=","nonce"`, 1), "resource.ciphertext"},
		{"no id", strings.Replace(goodEnvelope, `"id":"8b33f79f-8869-5ae5-b41b-3c0b59f957d0",`, ``, 1), "id"},
		{"null id", strings.Replace(goodEnvelope, `"8b33f79f-8869-5ae5-b41b-3c0b59f957d0"`, `null`, 1), "id"},
		{"numeric id", strings.Replace(goodEnvelope, `"8b33f79f-8869-5ae5-b41b-3c0b59f957d0"`, `7`, 1), "id"},
		{"bad time", strings.Replace(goodEnvelope, `2020-07-13T23:27:38+08:00`, `yesterday`, 1), "create_time"},
		{"no event type", strings.Replace(goodEnvelope, `"MEMBERCARD.ACTIVATE_CARD"`, `""`, 1), "event_type"},
		{"resource not an object", strings.Replace(goodEnvelope, `"resource":{`, `"resource":"x","r":{`, 1), "resource"},
		{"no nonce", strings.Replace(goodEnvelope, `,"nonce":"j9g1wAzF9Xn1"`, ``, 1), "resource.nonce"},
		{"no ciphertext", strings.Replace(goodEnvelope, `"ciphertext":"eHh4",`, ``, 1), "resource.ciphertext"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wxsign.DecodeNotification([]byte(tc.body))
			var ne *wxsign.NotificationError
			require.True(t, errors.As(err, &ne), "%v", err)
			assert.Equal(t, tc.field, ne.Field, ne.Error())
		})
	}
}

func TestSensitiveFieldsRoundTrip(t *testing.T) {
	mk, _ := testKeys(t)
	ct, err := wxsign.EncryptSensitive(&mk.PublicKey, "13800138000")
	require.NoError(t, err)
	got, err := wxsign.DecryptSensitive(mk, ct)
	require.NoError(t, err)
	assert.Equal(t, "13800138000", got)

	_, wk := testKeys(t)
	_, err = wxsign.DecryptSensitive(wk, ct)
	require.ErrorContains(t, err, "does not decrypt")
	assert.NotContains(t, err.Error(), "13800138000")
	_, err = wxsign.DecryptSensitive(mk, "not base64!")
	require.ErrorContains(t, err, "base64")
}

// FuzzDecodeNotification: never panics; what decodes has every required
// field, and an error always names a field.
func FuzzDecodeNotification(f *testing.F) {
	f.Add([]byte(goodEnvelope))
	f.Add([]byte(`{"id":"a","ID":"b"}`))
	f.Add([]byte(`{"resource":{"nonce":"1","nonce":"2"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := wxsign.DecodeNotification(body)
		if err != nil {
			var ne *wxsign.NotificationError
			if !errors.As(err, &ne) || ne.Field == "" {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		if n.ID == "" || n.EventType == "" || n.Resource.Ciphertext == "" || n.Resource.Nonce == "" {
			t.Fatalf("decoded without a required field: %q", body)
		}
	})
}
