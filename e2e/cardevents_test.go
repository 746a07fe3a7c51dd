package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/lambdatest"
	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/internal/secretstest"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

var notifyAPIv3Key = []byte("0123456789abcdef0123456789abcdef")

// notifySecret stores the service-provider secret with its API v3 key as
// "wxcard/notify".
func notifySecret(t testing.TB, s *Stack) {
	t.Helper()
	id := secretstest.IdentityOf(s.WxPay.Server, s.WxPay.AddMerchant(mchid))
	id.APIv3Key = notifyAPIv3Key
	v, err := secret.Encode(id)
	require.NoError(t, err)
	s.Secrets.Set("wxcard/notify", string(v))
}

func notificationEvent(h http.Header, body []byte) events.APIGatewayV2HTTPRequest {
	ev := httpEvent("POST", "/notify/card-events", "/notify/card-events", string(body), nil)
	for k, v := range h {
		ev.Headers[strings.ToLower(k)] = v[0]
	}
	return ev
}

// The compiled cardevents binary under the local Runtime API, with the
// real SDK clients on the state table and bus: a notification is
// published once (read back from an SQS queue subscribed to the bus), a
// repeat is answered without publishing, a forgery is refused and leaves
// nothing.
func TestCardEventsThroughTheBinary(t *testing.T) {
	t.Parallel()
	for _, aws := range awstest.Stacks(t) {
		t.Run(aws.Name, func(t *testing.T) {
			s := NewStack(t, wxpaytest.Options{})
			notifySecret(t, s)
			env := s.Env("wxcard/notify")
			for k, v := range aws.Env(nil) {
				if k != "AWS_ENDPOINT_URL" {
					env = append(env, k+"="+v)
				}
			}
			env = append(env, "AWS_ENDPOINT_URL_DYNAMODB="+aws.Endpoint, "AWS_ENDPOINT_URL_EVENTBRIDGE="+aws.Endpoint)
			f := StartFunction(t, "cardevents", env)
			nt := s.WxPay.Notifier(notifyAPIv3Key)
			n := wxpaytest.Notification{ID: "EV-e2e-1", EventType: "MEMBERCARDSP.USER_CARD.CREATE", Summary: "用户开通会员卡",
				Resource: map[string]any{"brand_id": "1004", "card_id": cardID, "openid": openid, "user_card_code": "751234212312"}}
			h, body, err := nt.Build(n, wxpaytest.Genuine)
			require.NoError(t, err)
			for i := 0; i < 2; i++ {
				resp := f.HTTP(t, notificationEvent(h, body))
				assert.Equal(t, 200, resp.StatusCode, resp.Body)
			}
			fh, fbody, err := nt.Build(wxpaytest.Notification{ID: "EV-e2e-2", EventType: "MEMBERCARDSP.USER_CARD.CREATE", Resource: map[string]any{"card_id": cardID}}, wxpaytest.SpoilBadSignature)
			require.NoError(t, err)
			resp := f.HTTP(t, notificationEvent(fh, fbody))
			assert.Equal(t, 401, resp.StatusCode)

			got := aws.Events(t, 1, 15*time.Second)
			require.Len(t, got, 1, "published once")
			assert.Equal(t, "MEMBERCARDSP.USER_CARD.CREATE", got[0].DetailType)
			var d map[string]any
			require.NoError(t, json.Unmarshal(got[0].Detail, &d))
			assert.Equal(t, "EV-e2e-1", d["id"])
			assert.Equal(t, cardID, d["resource"].(map[string]any)["card_id"])
			assert.Empty(t, aws.DrainEvents(t))

			out := f.Proc.Output()
			assert.NotContains(t, out, openid, "no openid in the function's output")
			assert.NotContains(t, out, "751234212312")
			assert.Contains(t, out, `"_aws"`, "EMF metrics on stdout")
		})
	}
}

// cardevents refuses to start without its table, its bus, or an API v3
// key in the secret.
func TestCardEventsRefusesToStartWithoutItsParts(t *testing.T) {
	t.Parallel()
	s := NewStack(t, wxpaytest.Options{})
	notifySecret(t, s)
	base := []string{"STATE_TABLE_NAME=t", "EVENT_BUS_NAME=b"}
	for _, tc := range []struct {
		name, secretID, want string
		env                  []string
	}{
		{"no API v3 key", "wxcard/partner", `field \"apiv3_key\" is missing`, base},
		{"no table", "wxcard/notify", "STATE_TABLE_NAME is not set", []string{"EVENT_BUS_NAME=b"}},
		{"no bus", "wxcard/notify", "EVENT_BUS_NAME is not set", []string{"STATE_TABLE_NAME=t"}},
		{"bad DECRYPT_SENSITIVE_FIELDS", "wxcard/notify", "DECRYPT_SENSITIVE_FIELDS", append([]string{"DECRYPT_SENSITIVE_FIELDS=yes"}, base...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := lambdatest.NewRuntime()
			require.NoError(t, err)
			defer rt.Close()
			p, err := lambdatest.Start(binaries["cardevents"], rt, s.Env(tc.secretID, tc.env...)...)
			require.NoError(t, err)
			defer p.Stop()
			select {
			case <-rt.InitError():
			case <-time.After(20 * time.Second):
				t.Fatalf("no init error\n%s", p.Output())
			}
			<-p.Exited()
			assert.Contains(t, p.Output(), tc.want)
			assert.NotContains(t, p.Output(), string(notifyAPIv3Key))
		})
	}
}
