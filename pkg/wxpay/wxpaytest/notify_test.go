package wxpaytest_test

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// Every notification the Notifier builds is what a receiver sees from
// WeChat Pay: a genuine one verifies and decrypts; each spoiled kind fails
// where its name says.
func TestNotifier(t *testing.T) {
	srv := wxpaytest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	apiV3Key := []byte("0123456789abcdef0123456789abcdef")
	nt := srv.Notifier(apiV3Key)
	v := &wxsign.Verifier{Keys: wxsign.KeySet{srv.PublicKeyID: &srv.Key.PublicKey}}
	n := wxpaytest.Notification{EventType: "MEMBERCARD.ACCEPT_CARD", Summary: "领卡通知", Resource: map[string]string{"card_id": "pb1"}}

	for _, spoil := range append([]wxpaytest.Spoil{wxpaytest.Genuine}, wxpaytest.Spoils...) {
		t.Run(spoil.String(), func(t *testing.T) {
			h, body, err := nt.Build(n, spoil)
			require.NoError(t, err)
			env, err := v.ParseNotification(h, body)
			if spoil.VerificationFails() {
				var ve *wxsign.VerifyError
				require.ErrorAs(t, err, &ve)
				assert.Equal(t, spoil == wxpaytest.SpoilProbeSignature, wxsign.IsProbe(err))
				return
			}
			if spoil == wxpaytest.SpoilMalformedEnvelope {
				var ne *wxsign.NotificationError
				require.ErrorAs(t, err, &ne)
				return
			}
			require.NoError(t, err)
			plain, err := wxsign.DecryptResource(apiV3Key, env.Resource)
			switch spoil {
			case wxpaytest.SpoilWrongAPIv3Key:
				require.Error(t, err)
			case wxpaytest.SpoilNotJSONResource:
				require.NoError(t, err)
				assert.False(t, json.Valid(plain))
			default:
				require.NoError(t, err)
				assert.JSONEq(t, `{"card_id":"pb1"}`, string(plain))
				assert.Equal(t, "MEMBERCARD.ACCEPT_CARD", env.EventType)
				assert.Equal(t, "user_card", env.Resource.AssociatedData)
			}
		})
	}

	// A platform certificate signs too, under its serial.
	cert, err := wxpaytest.NewPlatformCertificate(wxpaytest.PooledKey(3), 0x5157F09EFDC096DE)
	require.NoError(t, err)
	pn := &wxpaytest.Notifier{KeyID: "5157F09EFDC096DE", Key: wxpaytest.PooledKey(3), APIv3Key: apiV3Key}
	h, body, err := pn.Build(n, wxpaytest.Genuine)
	require.NoError(t, err)
	pv := &wxsign.Verifier{Keys: wxsign.KeySet{"5157F09EFDC096DE": cert.PublicKey.(*rsa.PublicKey)}}
	_, err = pv.ParseNotification(h, body)
	require.NoError(t, err)
}

// PostNotification delivers a notification as WeChat Pay does and hands
// back the receiver's answer.
func TestPostNotification(t *testing.T) {
	srv := wxpaytest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	h, body, err := srv.Notifier([]byte("0123456789abcdef0123456789abcdef")).Build(wxpaytest.Notification{EventType: "X", Resource: map[string]string{}}, wxpaytest.Genuine)
	require.NoError(t, err)

	var got *http.Request
	var gotBody []byte
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		gotBody, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"code":"FAIL","message":"busy"}`))
	}))
	defer receiver.Close()

	status, answer, err := wxpaytest.PostNotification(context.Background(), nil, receiver.URL+"/notify", h, body)
	require.NoError(t, err)
	assert.Equal(t, 500, status)
	assert.JSONEq(t, `{"code":"FAIL","message":"busy"}`, string(answer))
	assert.Equal(t, http.MethodPost, got.Method)
	assert.Equal(t, "/notify", got.URL.Path)
	assert.Equal(t, body, gotBody)
	for _, k := range []string{wxsign.HeaderSignature, wxsign.HeaderTimestamp, wxsign.HeaderNonce, wxsign.HeaderSerial, "Content-Type"} {
		assert.Equal(t, h.Get(k), got.Header.Get(k), k)
	}

	_, _, err = wxpaytest.PostNotification(context.Background(), receiver.Client(), "http://127.0.0.1:0/", h, body)
	assert.Error(t, err, "nothing listens there")
	_, _, err = wxpaytest.PostNotification(context.Background(), nil, "::", h, body)
	assert.Error(t, err, "not a URL")
}
