package cardevents_test

// Tests at the edges mutation testing showed unguarded: the body size
// bounds, the card ID a log line may carry, every value of a list of
// sensitive values, a claim that cannot be released, and the duration a
// log line reports.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/cardevents"
	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/idempotency"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

// A body of exactly MaxBodyBytes, raw or base64-encoded, passes the size
// checks and reaches verification (401, as it is not signed); one byte
// more is refused as too large (400).
func TestBodySizeBound(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		size   int
		base64 bool
		want   int
	}{
		{"raw, at the bound", cardevents.MaxBodyBytes, false, 401},
		{"raw, one byte over", cardevents.MaxBodyBytes + 1, false, 400},
		{"base64, at the bound", cardevents.MaxBodyBytes, true, 401},
		{"base64, one byte over", cardevents.MaxBodyBytes + 1, true, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, memoryBackend())
			body := bytes.Repeat([]byte("a"), tc.size)
			h, _, err := f.notifier.Build(wxpaytest.Notification{ID: "EV-size", EventType: "MEMBERCARD.ACCEPT_CARD", Resource: map[string]any{"card_id": cardID}}, wxpaytest.Genuine)
			require.NoError(t, err)
			ev := event(h, body)
			if tc.base64 {
				ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
			}
			resp, err := f.h.Handle(context.Background(), ev)
			require.NoError(t, err)
			assert.Equal(t, tc.want, resp.StatusCode, resp.Body)
			if tc.want == 400 {
				assert.Contains(t, resp.Body, "larger than")
			}
		})
	}
}

// The card ID goes into the log line only when it is 1 to 64 printable
// ASCII characters without spaces ('!' to '~'); anything else could be a
// forged log field.
func TestLoggedCardIDIsPrintableASCII(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, cardID string
		logged       bool
	}{
		{"64 characters", strings.Repeat("p", 64), true},
		{"65 characters", strings.Repeat("p", 65), false},
		{"first printable", "pb!", true},
		{"last printable", "pb~", true},
		{"space", "pb x", false},
		{"DEL", "pb\x7f", false},
		{"non-ASCII", "pb卡", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, memoryBackend())
			resp := f.send(t, wxpaytest.Notification{ID: "EV-card", EventType: "MEMBERCARD.ACCEPT_CARD", Resource: map[string]any{"card_id": tc.cardID}}, wxpaytest.Genuine)
			require.Equal(t, 200, resp.StatusCode, resp.Body)
			var line map[string]any
			require.NoError(t, json.Unmarshal([]byte(f.logs.String()), &line), f.logs.String())
			if tc.logged {
				assert.Equal(t, tc.cardID, line["card_id"])
			} else {
				assert.NotContains(t, line, "card_id")
			}
		})
	}
}

// Every value of a value_list is decrypted, not only the first; one that
// does not decrypt refuses the notification.
func TestEverySensitiveListValueIsDecrypted(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		values func(f *fixture) []any
		want   []string // nil: refused
	}{
		{"two values", func(f *fixture) []any { return []any{encrypted(t, f, "羽毛球"), encrypted(t, f, "游泳")} }, []string{"羽毛球", "游泳"}},
		{"the second does not decrypt", func(f *fixture) []any { return []any{encrypted(t, f, "羽毛球"), "bm90IGVuY3J5cHRlZA=="} }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, memoryBackend())
			f.h.DecryptSensitive = true
			res := map[string]any{"card_id": cardID, "user_information": map[string]any{
				"custom_field_list": []any{
					map[string]any{"name": "喜欢的运动", "value_list": tc.values(f)},
					map[string]any{"name": "城市", "value": encrypted(t, f, "深圳")},
				},
			}}
			resp := f.send(t, wxpaytest.Notification{ID: "EV-list", EventType: "MEMBERCARD.ACTIVATE_CARD", Resource: res}, wxpaytest.Genuine)
			if tc.want == nil {
				assert.Equal(t, 400, resp.StatusCode, resp.Body)
				assert.Empty(t, f.b.events(t, 0))
				return
			}
			require.Equal(t, 200, resp.StatusCode, resp.Body)
			got := f.b.events(t, 1)
			require.Len(t, got, 1)
			var d struct {
				Resource struct {
					UserInformation struct {
						Custom []struct {
							Value     string   `json:"value"`
							ValueList []string `json:"value_list"`
						} `json:"custom_field_list"`
					} `json:"user_information"`
				} `json:"resource"`
			}
			require.NoError(t, json.Unmarshal(got[0].Detail, &d))
			require.Len(t, d.Resource.UserInformation.Custom, 2)
			assert.Equal(t, tc.want, d.Resource.UserInformation.Custom[0].ValueList)
			assert.Equal(t, "深圳", d.Resource.UserInformation.Custom[1].Value, "the fields after the list too")
		})
	}
}

// failingBus refuses every event.
type failingBus struct{}

func (failingBus) Publish(context.Context, ...eventbus.Event) error {
	return errors.New("bus unavailable")
}

// unreleasable is a store whose claims cannot be released.
type unreleasable struct{ idempotency.Memory }

func (*unreleasable) Release(context.Context, string, string) error {
	return errors.New("release refused")
}

// When the publish fails and the claim cannot be released either, the log
// line says both: the operator learns why WeChat Pay's retries are held
// off until the claim expires.
func TestUnreleasedClaimIsLogged(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memoryBackend())
	f.h.Bus, f.h.Store = failingBus{}, &unreleasable{}
	resp := f.send(t, wxpaytest.Notification{ID: "EV-stuck", EventType: "MEMBERCARD.ACCEPT_CARD", Resource: map[string]any{"card_id": cardID}}, wxpaytest.Genuine)
	assert.Equal(t, 500, resp.StatusCode)
	logs := f.logs.String()
	assert.Contains(t, logs, "failed_publish")
	assert.Contains(t, logs, "bus unavailable")
	assert.Contains(t, logs, "release refused")
}

// duration_ms is milliseconds: with a clock that moves 1.5 ms per reading,
// a request refused at once (two readings) took 1.5 ms.
func TestLogDurationIsMilliseconds(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memoryBackend())
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	f.h.Now = func() time.Time { now = now.Add(1500 * time.Microsecond); return now }
	ev := event(nil, []byte("{}"))
	ev.RequestContext.HTTP.Method = "GET"
	resp, err := f.h.Handle(context.Background(), ev)
	require.NoError(t, err)
	require.Equal(t, 405, resp.StatusCode)
	var line struct {
		DurationMS float64 `json:"duration_ms"`
	}
	require.NoError(t, json.Unmarshal([]byte(f.logs.String()), &line), f.logs.String())
	assert.InDelta(t, 1.5, line.DurationMS, 1e-9)
}
