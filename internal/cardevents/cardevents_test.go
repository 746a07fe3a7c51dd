package cardevents_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/cardevents"
	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/eventbus/bridge"
	"github.com/wxcard/wxcard/internal/idempotency"
	"github.com/wxcard/wxcard/internal/lambdaapp"
	"github.com/wxcard/wxcard/internal/lambdatest"
	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/internal/secretstest"
	"github.com/wxcard/wxcard/internal/statetable"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

const (
	mchid    = "1900000001"
	cardID   = "pbLatjvWOibDc5-TBnbUk1pD12o0"
	openid   = "obLatjnx9gnqzS4myYGmLZ7LgLBA"
	code     = "751234212312"
	phone    = "13800138000"
	realName = "张三"
)

var apiV3Key = []byte("0123456789abcdef0123456789abcdef")

// backend is where the handler stores and publishes: memory, or the state
// table and bus of an AWS backend through the real SDK clients.
type backend struct {
	name   string
	store  func(t *testing.T) idempotency.Store
	bus    func(t *testing.T) eventbus.Publisher
	events func(t *testing.T, want int) []awstest.BusEvent // what reached the bus, read once
	stack  *awstest.Stack                                  // nil for memory
}

func backends(t *testing.T) []*backend {
	out := []*backend{memoryBackend()}
	for _, s := range awstest.Stacks(t) {
		env := awstest.Getenv(s.Env(nil))
		out = append(out, &backend{
			name: s.Name, stack: s,
			store: func(t *testing.T) idempotency.Store {
				table, err := statetable.FromEnv(env)
				require.NoError(t, err)
				return idempotency.Table{Table: table}
			},
			bus: func(t *testing.T) eventbus.Publisher {
				bus, err := bridge.FromEnv(env)
				require.NoError(t, err)
				return bus
			},
			events: func(t *testing.T, want int) []awstest.BusEvent {
				wait := 10 * time.Second
				if want == 0 {
					wait = 0
				}
				return s.Events(t, want, wait)
			},
		})
	}
	return out
}

// memoryBackend stores and publishes in memory: for tests of the
// handler's own logic, which need no AWS backend started.
func memoryBackend() *backend {
	mem, read := &eventbus.Memory{}, 0
	return &backend{
		name:  "memory",
		store: func(*testing.T) idempotency.Store { return &idempotency.Memory{} },
		bus:   func(*testing.T) eventbus.Publisher { return mem },
		events: func(*testing.T, int) []awstest.BusEvent {
			var got []awstest.BusEvent
			all := mem.Events()
			for _, e := range all[read:] {
				got = append(got, awstest.BusEvent{Source: eventbus.Source, DetailType: e.DetailType, Time: e.Time.UTC().Format(time.RFC3339), Detail: e.Detail})
			}
			read = len(all)
			return got
		},
	}
}

// fixture is one handler against one backend and the WeChat Pay stand-in.
type fixture struct {
	srv      *wxpaytest.Server
	notifier *wxpaytest.Notifier
	identity *secret.Identity
	h        *cardevents.Handler
	logs     *lambdatest.Buffer
	b        *backend
}

func newFixture(t *testing.T, b *backend) *fixture {
	t.Helper()
	srv := wxpaytest.NewServer(wxpaytest.Options{})
	t.Cleanup(srv.Close)
	id := secretstest.IdentityOf(srv, srv.AddMerchant(mchid))
	id.APIv3Key = apiV3Key
	logs := &lambdatest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	creds, err := lambdaapp.NewCredentials(context.Background(), func(context.Context) (*secret.Identity, error) { return id, nil }, logger)
	require.NoError(t, err)
	h := &cardevents.Handler{Credentials: creds, Store: b.store(t), Bus: b.bus(t), Logger: logger}
	b.events(t, 0) // nothing left from an earlier test
	return &fixture{srv: srv, notifier: srv.Notifier(apiV3Key), identity: id, h: h, logs: logs, b: b}
}

// event is the API Gateway event WeChat Pay's POST becomes.
func event(h http.Header, body []byte) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "POST /notify/card-events", RawPath: "/notify/card-events", Headers: map[string]string{}, Body: string(body)}
	for k, v := range h {
		ev.Headers[strings.ToLower(k)] = v[0]
	}
	ev.RequestContext.HTTP.Method = http.MethodPost
	return ev
}

func (f *fixture) send(t *testing.T, n wxpaytest.Notification, spoil wxpaytest.Spoil) events.APIGatewayV2HTTPResponse {
	t.Helper()
	h, body, err := f.notifier.Build(n, spoil)
	require.NoError(t, err)
	resp, err := f.h.Handle(context.Background(), event(h, body))
	require.NoError(t, err)
	return resp
}

func encrypted(t *testing.T, f *fixture, s string) string {
	ct, err := wxsign.EncryptSensitive(f.identity.Key.Public().(*rsa.PublicKey), s)
	require.NoError(t, err)
	return ct
}

// payloads are realistic decrypted resources of the documented event types.
func payloads(t *testing.T, f *fixture) map[string]map[string]any {
	return map[string]map[string]any{
		"MEMBERCARDSP.USER_CARD.CREATE": {"brand_id": "1004", "card_id": cardID, "openid": openid, "user_card_code": code,
			"create_time": "2026-11-24T10:00:00+08:00", "outer_str": "门店A"},
		"MEMBERCARDSP.USER_CARD.DELETE": {"brand_id": "1004", "card_id": cardID, "openid": openid, "user_card_code": code,
			"delete_time": "2026-11-25T10:00:00+08:00"},
		"BRAND_MEMBER_CARD_SP.USER_CARD.CREATE": {"brand_id": "1004", "appid": "wxea9c30a90fs8d3fe", "card_id": cardID, "openid": openid,
			"user_card_code": code, "create_time": "2026-11-24T10:00:00+08:00"},
		"BRAND_MEMBER_CARD_SP.USER_CARD.DELETE": {"brand_id": "1004", "appid": "wxea9c30a90fs8d3fe", "card_id": cardID, "openid": openid,
			"user_card_code": code, "delete_time": "2026-11-25T10:00:00+08:00"},
		"MEMBERCARD.ACCEPT_CARD": {"card_id": cardID, "code": code, "openid": openid, "appid": "wxea9c30a90fs8d3fe", "outer_str": "szwxtd",
			"accept_time": "2026-11-24T10:00:00+08:00"},
		"MEMBERCARD.ACTIVATE_CARD": {"card_id": cardID, "code": code, "openid": openid, "phone_number": encrypted(t, f, phone),
			"user_information": map[string]any{
				"common_field_list": []any{map[string]any{"name": "USER_FORM_INFO_FLAG_NAME", "value": encrypted(t, f, realName)}},
				"custom_field_list": []any{map[string]any{"name": "喜欢的运动", "value": encrypted(t, f, "篮球"), "value_list": []any{encrypted(t, f, "羽毛球")}}},
			},
			"activate_time": "2026-11-24T10:01:00+08:00"},
		"MEMBERCARD.USERCARD_MANAGE": {"card_id": cardID, "code": code, "openid": openid, "manage_type": "DELETE_CARD",
			"manage_time": "2026-11-26T10:00:00+08:00"},
	}
}

var created = time.Date(2026, 11, 24, 10, 0, 5, 0, time.FixedZone("CST", 8*3600))

func TestEachEventTypeIsPublishedOnce(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			sent := map[string]map[string]any{}
			for typ, res := range payloads(t, f) {
				id := "EV-" + strings.ReplaceAll(typ, ".", "-")
				sent[id] = res
				resp := f.send(t, wxpaytest.Notification{ID: id, EventType: typ, Summary: "会员卡事件", CreateTime: created, Resource: res}, wxpaytest.Genuine)
				require.Equal(t, 200, resp.StatusCode, resp.Body)
				assert.JSONEq(t, `{"code":"SUCCESS"}`, resp.Body)
			}
			got := b.events(t, len(sent))
			require.Len(t, got, len(sent))
			for _, e := range got {
				assert.Equal(t, "wxcard", e.Source)
				assert.Equal(t, "2026-11-24T02:00:05Z", e.Time, "Time is the notification's create_time")
				var d struct {
					ID, CreateTime, EventType, Summary string
					Resource                           map[string]any
				}
				require.NoError(t, json.Unmarshal(e.Detail, &struct {
					ID         *string         `json:"id"`
					CreateTime *string         `json:"create_time"`
					EventType  *string         `json:"event_type"`
					Summary    *string         `json:"summary"`
					Resource   *map[string]any `json:"resource"`
				}{&d.ID, &d.CreateTime, &d.EventType, &d.Summary, &d.Resource}))
				assert.Equal(t, e.DetailType, d.EventType)
				assert.Equal(t, "2026-11-24T10:00:05+08:00", d.CreateTime)
				assert.Equal(t, "会员卡事件", d.Summary)
				want, _ := json.Marshal(sent[d.ID])
				have, _ := json.Marshal(d.Resource)
				assert.JSONEq(t, string(want), string(have), "the decrypted resource, sensitive fields as sent")
			}
			assert.Empty(t, b.events(t, 0), "nothing more")
			logs := f.logs.String()
			for _, secretText := range []string{openid, code, phone, realName, "篮球"} {
				assert.NotContains(t, logs, secretText, "no personal data in logs")
			}
			assert.Contains(t, logs, `"card_id":"`+cardID+`"`)
			assert.Contains(t, logs, `"notification_id":"EV-MEMBERCARD-ACCEPT_CARD"`)
		})
	}
}

// An unknown event type is published too: forward compatible.
func TestUnknownEventTypeIsPublished(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memoryBackend())
	resp := f.send(t, wxpaytest.Notification{ID: "EV-new", EventType: "MEMBERCARD.SOMETHING_NEW", Resource: map[string]any{"card_id": cardID}}, wxpaytest.Genuine)
	require.Equal(t, 200, resp.StatusCode)
	got := f.b.events(t, 1)
	require.Len(t, got, 1)
	assert.Equal(t, "MEMBERCARD.SOMETHING_NEW", got[0].DetailType)
}

// With DECRYPT_SENSITIVE_FIELDS the fields WeChat Pay encrypted with the
// merchant's public key are published in clear; never logged either way.
func TestSensitiveFieldsDecryptedOnRequest(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memoryBackend())
	f.h.DecryptSensitive = true
	res := payloads(t, f)["MEMBERCARD.ACTIVATE_CARD"]
	require.Equal(t, 200, f.send(t, wxpaytest.Notification{ID: "EV-1", EventType: "MEMBERCARD.ACTIVATE_CARD", Resource: res}, wxpaytest.Genuine).StatusCode)
	got := f.b.events(t, 1)
	require.Len(t, got, 1)
	var d struct {
		Resource struct {
			PhoneNumber     string `json:"phone_number"`
			UserInformation struct {
				Common []struct{ Name, Value string } `json:"common_field_list"`
				Custom []struct {
					Name      string   `json:"name"`
					Value     string   `json:"value"`
					ValueList []string `json:"value_list"`
				} `json:"custom_field_list"`
			} `json:"user_information"`
		} `json:"resource"`
	}
	require.NoError(t, json.Unmarshal(got[0].Detail, &d))
	assert.Equal(t, phone, d.Resource.PhoneNumber)
	assert.Equal(t, realName, d.Resource.UserInformation.Common[0].Value)
	assert.Equal(t, "篮球", d.Resource.UserInformation.Custom[0].Value)
	assert.Equal(t, []string{"羽毛球"}, d.Resource.UserInformation.Custom[0].ValueList)
	assert.NotContains(t, f.logs.String(), phone)

	// A sensitive field that does not decrypt is refused, not published half done.
	res["phone_number"] = "bm90IGVuY3J5cHRlZA=="
	resp := f.send(t, wxpaytest.Notification{ID: "EV-2", EventType: "MEMBERCARD.ACTIVATE_CARD", Resource: res}, wxpaytest.Genuine)
	assert.Equal(t, 400, resp.StatusCode)
	assert.Empty(t, f.b.events(t, 0))
}

// Every spoiled notification is refused with the design's answer, and
// leaves no trace: nothing stored (the genuine one is then delivered as
// new) and nothing published.
func TestSpoiledNotificationsLeaveNoTrace(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			n := wxpaytest.Notification{ID: "EV-spoiled", EventType: "MEMBERCARD.ACCEPT_CARD", Resource: map[string]any{"card_id": cardID, "openid": openid}}
			for _, spoil := range wxpaytest.Spoils {
				resp := f.send(t, n, spoil)
				want := 400
				if spoil.VerificationFails() {
					want = 401
				}
				assert.Equal(t, want, resp.StatusCode, "%s: %s", spoil, resp.Body)
				var body struct{ Code, Message string }
				require.NoError(t, json.Unmarshal([]byte(resp.Body), &body))
				assert.Equal(t, "FAIL", body.Code, spoil.String())
				assert.NotEmpty(t, body.Message)
			}
			assert.Empty(t, b.events(t, 0), "nothing published")
			require.Equal(t, 200, f.send(t, n, wxpaytest.Genuine).StatusCode)
			assert.Len(t, b.events(t, 1), 1, "the id was not stored by any refused attempt")
			logs := f.logs.String()
			assert.Equal(t, 9, strings.Count(logs, `"level":"WARN","msg":"notification rejected_signature"`), "one warning per verification failure")
			assert.Equal(t, 1, strings.Count(logs, `"level":"WARN","msg":"notification rejected_probe"`), "probes counted apart")
			assert.NotContains(t, logs, openid)
		})
	}
}

func TestRepeatsArePublishedOnce(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			h, body, err := f.notifier.Build(wxpaytest.Notification{ID: "EV-dup", EventType: "MEMBERCARD.ACCEPT_CARD", Resource: map[string]any{"card_id": cardID}}, wxpaytest.Genuine)
			require.NoError(t, err)
			for i := 0; i < 3; i++ {
				resp, err := f.h.Handle(context.Background(), event(h, body))
				require.NoError(t, err)
				assert.Equal(t, 200, resp.StatusCode, "attempt %d", i)
			}
			// Twenty concurrent copies of a new id.
			h, body, err = f.notifier.Build(wxpaytest.Notification{ID: "EV-burst", EventType: "MEMBERCARD.ACCEPT_CARD", Resource: map[string]any{"card_id": cardID}}, wxpaytest.Genuine)
			require.NoError(t, err)
			var wg sync.WaitGroup
			statuses := make(chan int, 20)
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, _ := f.h.Handle(context.Background(), event(h, body))
					statuses <- resp.StatusCode
				}()
			}
			wg.Wait()
			close(statuses)
			for st := range statuses {
				assert.Contains(t, []int{200, 500}, st, "accepted, or in progress elsewhere (WeChat Pay retries)")
			}
			// WeChat Pay's retry of a copy that got 500 is answered 200.
			resp, err := f.h.Handle(context.Background(), event(h, body))
			require.NoError(t, err)
			assert.Equal(t, 200, resp.StatusCode)
			got := b.events(t, 2)
			assert.Len(t, got, 2, "each id published exactly once")
			assert.Empty(t, b.events(t, 0))
		})
	}
}

// PutEvents failing (the call, or one entry) answers 500 and releases the
// claim; WeChat Pay's retry then publishes it, once.
func TestPublishFailureThenRecovery(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		if b.stack == nil {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			n := wxpaytest.Notification{ID: "EV-retry", EventType: "MEMBERCARD.ACCEPT_CARD", Resource: map[string]any{"card_id": cardID}}
			b.stack.Inject("AWSEvents.PutEvents", awstest.Fault{Body: awstest.PutEventsPartialFailure}, awstest.Fault{Status: 400, Type: "AccessDeniedException"})
			for i := 0; i < 2; i++ {
				resp := f.send(t, n, wxpaytest.Genuine)
				assert.Equal(t, 500, resp.StatusCode, resp.Body)
				assert.Contains(t, resp.Body, `"FAIL"`)
			}
			assert.Empty(t, b.events(t, 0))
			require.Equal(t, 200, f.send(t, n, wxpaytest.Genuine).StatusCode, "the retry is not blocked by the failed attempts' claims")
			require.Equal(t, 200, f.send(t, n, wxpaytest.Genuine).StatusCode)
			assert.Len(t, b.events(t, 1), 1)
			assert.Empty(t, b.events(t, 0), "exactly once")
			assert.Contains(t, f.logs.String(), "InternalFailure")
		})
	}
}

// The state table failing answers 500 (WeChat Pay retries) and publishes
// nothing.
func TestStoreFailureIsRetried(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		if b.stack == nil {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			n := wxpaytest.Notification{ID: "EV-store", EventType: "MEMBERCARD.ACCEPT_CARD", Resource: map[string]any{"card_id": cardID}}
			b.stack.Inject("DynamoDB_20120810.PutItem", awstest.Fault{Status: 400, Type: "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"})
			assert.Equal(t, 500, f.send(t, n, wxpaytest.Genuine).StatusCode)
			assert.Empty(t, b.events(t, 0))
			assert.Equal(t, 200, f.send(t, n, wxpaytest.Genuine).StatusCode)
			assert.Len(t, b.events(t, 1), 1)
		})
	}
}

// A crash between claim and publish loses nothing: the claim blocks
// retries until it expires, then the next retry takes it over and
// publishes.
func TestCrashedClaimIsTakenOverAfterExpiry(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			now := time.Now()
			f.h.Now = func() time.Time { return now }
			_, err := f.h.Store.Claim(context.Background(), "EV-crash", now, cardevents.ClaimTTL) // the crashed invocation's claim
			require.NoError(t, err)
			n := wxpaytest.Notification{ID: "EV-crash", EventType: "MEMBERCARD.ACCEPT_CARD", Resource: map[string]any{"card_id": cardID}}
			now = now.Add(15 * time.Second) // WeChat Pay's first retry
			assert.Equal(t, 500, f.send(t, n, wxpaytest.Genuine).StatusCode)
			assert.Empty(t, b.events(t, 0))
			now = now.Add(cardevents.ClaimTTL) // a later retry
			assert.Equal(t, 200, f.send(t, n, wxpaytest.Genuine).StatusCode)
			assert.Len(t, b.events(t, 1), 1)
		})
	}
}

// A failure after the publish but before the record is completed (the
// table refusing the update, or a crash) is delivered at least once: the
// event went out and WeChat Pay gets 200; a copy that arrived after the
// claim expired would publish it again, and consumers see it twice then
// (the README says to deduplicate by detail.id).
func TestFailureAfterPublishIsAtLeastOnce(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		if b.stack == nil {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b)
			now := time.Now()
			f.h.Now = func() time.Time { return now }
			n := wxpaytest.Notification{ID: "EV-late", EventType: "MEMBERCARD.ACCEPT_CARD", Resource: map[string]any{"card_id": cardID}}
			b.stack.Inject("DynamoDB_20120810.UpdateItem", awstest.Fault{Status: 400, Type: "com.amazonaws.dynamodb.v20120810#ValidationException"})
			assert.Equal(t, 200, f.send(t, n, wxpaytest.Genuine).StatusCode, "published: WeChat Pay need not retry")
			assert.Len(t, b.events(t, 1), 1)
			assert.Contains(t, f.logs.String(), "published_unrecorded")
			now = now.Add(15 * time.Second)
			assert.Equal(t, 500, f.send(t, n, wxpaytest.Genuine).StatusCode, "a copy within the claim is held off")
			now = now.Add(cardevents.ClaimTTL)
			assert.Equal(t, 200, f.send(t, n, wxpaytest.Genuine).StatusCode)
			assert.Len(t, b.events(t, 1), 1, "a copy after the claim expired publishes again: at least once")
		})
	}
}

// A notification signed by a key the secret does not hold yet (a platform
// certificate added during a migration) makes the handler reread the
// secret, and verify again with what it holds now; rate limited.
func TestUnknownKeyRefreshesTheSecret(t *testing.T) {
	t.Parallel()
	srv := wxpaytest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	id := secretstest.IdentityOf(srv, srv.AddMerchant(mchid))
	id.APIv3Key = apiV3Key
	var mu sync.Mutex
	current, loads := id, 0
	load := func(context.Context) (*secret.Identity, error) {
		mu.Lock()
		defer mu.Unlock()
		loads++
		return current, nil
	}
	logger := slog.New(slog.DiscardHandler)
	creds, err := lambdaapp.NewCredentials(context.Background(), load, logger)
	require.NoError(t, err)
	mem := &eventbus.Memory{}
	h := &cardevents.Handler{Credentials: creds, Store: &idempotency.Memory{}, Bus: mem, Logger: logger}

	cert, err := wxpaytest.NewPlatformCertificate(wxpaytest.PooledKey(3), 0x5157F09EFDC096DE)
	require.NoError(t, err)
	withCert := *id
	withCert.PlatformCertificates = []*x509.Certificate{cert}
	mu.Lock()
	current = &withCert // the operator added the certificate to the secret
	mu.Unlock()

	pn := &wxpaytest.Notifier{KeyID: "5157F09EFDC096DE", Key: wxpaytest.PooledKey(3), APIv3Key: apiV3Key}
	hdr, body, err := pn.Build(wxpaytest.Notification{ID: "EV-cert", EventType: "MEMBERCARD.ACCEPT_CARD", Resource: map[string]any{"card_id": cardID}}, wxpaytest.Genuine)
	require.NoError(t, err)
	resp, err := h.Handle(context.Background(), event(hdr, body))
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode, resp.Body)
	assert.Equal(t, 2, loads, "one refresh")
	assert.Len(t, mem.Events(), 1)

	// Another unknown key within the minute: no second read, refused.
	other := &wxpaytest.Notifier{KeyID: "6666", Key: wxpaytest.PooledKey(4), APIv3Key: apiV3Key}
	hdr, body, err = other.Build(wxpaytest.Notification{ID: "EV-other", EventType: "MEMBERCARD.ACCEPT_CARD", Resource: map[string]any{"card_id": cardID}}, wxpaytest.Genuine)
	require.NoError(t, err)
	resp, err = h.Handle(context.Background(), event(hdr, body))
	require.NoError(t, err)
	assert.Equal(t, 401, resp.StatusCode)
	assert.Equal(t, 2, loads, "rate limited")
}

// rotatingSecret is a secret whose value a test changes, counting reads.
type rotatingSecret struct {
	mu      sync.Mutex
	current *secret.Identity
	reads   int
}

func (r *rotatingSecret) load(context.Context) (*secret.Identity, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	return r.current, nil
}

func (r *rotatingSecret) set(id *secret.Identity) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current = id
}

func (r *rotatingSecret) readCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads
}

// The operator rotates the API v3 key in the merchant platform and in the
// secret: the next notification, signed by WeChat Pay and encrypted with
// the new key, rereads the secret once and is delivered, not refused for
// up to MaxAge. Before it, an unknown-serial probe (anyone can send one)
// may have reread the secret: that does not make the key change wait.
func TestRotatedAPIv3KeyIsPickedUpAtOnce(t *testing.T) {
	t.Parallel()
	for _, probeFirst := range []bool{false, true} {
		t.Run(map[bool]string{false: "alone", true: "right after an unknown-serial probe"}[probeFirst], func(t *testing.T) {
			t.Parallel()
			srv := wxpaytest.NewServer(wxpaytest.Options{})
			defer srv.Close()
			id := secretstest.IdentityOf(srv, srv.AddMerchant(mchid))
			id.APIv3Key = apiV3Key
			sec := &rotatingSecret{current: id}
			logger := slog.New(slog.DiscardHandler)
			creds, err := lambdaapp.NewCredentials(context.Background(), sec.load, logger)
			require.NoError(t, err)
			mem := &eventbus.Memory{}
			h := &cardevents.Handler{Credentials: creds, Store: &idempotency.Memory{}, Bus: mem, Logger: logger}
			handle := func(n *wxpaytest.Notifier, eventID string) events.APIGatewayV2HTTPResponse {
				hdr, body, err := n.Build(wxpaytest.Notification{ID: eventID, EventType: "MEMBERCARD.ACCEPT_CARD", Resource: map[string]any{"card_id": cardID}}, wxpaytest.Genuine)
				require.NoError(t, err)
				resp, err := h.Handle(context.Background(), event(hdr, body))
				require.NoError(t, err)
				return resp
			}
			reads := 1 // the cold start's
			if probeFirst {
				probe := &wxpaytest.Notifier{KeyID: "PROBE0001", Key: wxpaytest.PooledKey(4), APIv3Key: apiV3Key}
				assert.Equal(t, 401, handle(probe, "EV-probe").StatusCode)
				reads++
				require.Equal(t, reads, sec.readCount(), "the probe reread the secret")
			}

			rotated := []byte("fedcba9876543210fedcba9876543210")
			next := *id
			next.APIv3Key = rotated
			sec.set(&next)
			resp := handle(srv.Notifier(rotated), "EV-rotated")
			assert.Equal(t, 200, resp.StatusCode, resp.Body)
			assert.Equal(t, reads+1, sec.readCount(), "one secret read")
			require.Len(t, mem.Events(), 1)
			assert.Equal(t, "MEMBERCARD.ACCEPT_CARD", mem.Events()[0].DetailType)

			// The old key no longer decrypts, and a second failure within the
			// minute rereads nothing.
			resp = handle(srv.Notifier(apiV3Key), "EV-old-key")
			assert.Equal(t, 400, resp.StatusCode)
			assert.Equal(t, reads+1, sec.readCount(), "rate limited")
		})
	}
}

// API Gateway may hand the body over base64-encoded: it is decoded before
// verification.
func TestBase64Body(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memoryBackend())
	h, body, err := f.notifier.Build(wxpaytest.Notification{ID: "EV-b64", EventType: "MEMBERCARD.ACCEPT_CARD", Resource: map[string]any{"card_id": cardID}}, wxpaytest.Genuine)
	require.NoError(t, err)
	ev := event(h, nil)
	ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	resp, err := f.h.Handle(context.Background(), ev)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode, resp.Body)

	ev.Body = "!!!"
	resp, _ = f.h.Handle(context.Background(), ev)
	assert.Equal(t, 400, resp.StatusCode)
	ev.IsBase64Encoded, ev.Body = false, string(body)
	ev.RequestContext.HTTP.Method = http.MethodGet
	resp, _ = f.h.Handle(context.Background(), ev)
	assert.Equal(t, 405, resp.StatusCode)
}

// One EMF line per notification, valid by the format's rules: received,
// and rejected, published or duplicate, broken down by outcome.
func TestMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memoryBackend())
	var buf lambdatest.Buffer
	f.h.Metrics = &metrics.Emitter{Out: &buf, Function: "cardevents"}
	n := wxpaytest.Notification{ID: "EV-m", EventType: "MEMBERCARD.ACCEPT_CARD", Resource: map[string]any{"card_id": cardID}}
	f.send(t, n, wxpaytest.Genuine)
	f.send(t, n, wxpaytest.Genuine)
	f.send(t, n, wxpaytest.SpoilBadSignature)
	recs, err := metrics.ParseLog([]byte(buf.String()))
	require.NoError(t, err)
	require.Len(t, recs, 3)
	sum := map[string]float64{}
	outcomes := map[string]bool{}
	for _, r := range recs {
		assert.Equal(t, "wxcard", r.Namespace)
		assert.Equal(t, [][]string{{"function", "route"}, {"function", "route", "outcome"}}, r.Sets)
		assert.Equal(t, "cardevents", r.Dimensions["function"])
		outcomes[r.Dimensions["outcome"]] = true
		for name := range r.Values {
			sum[name] += r.Sum(name)
			assert.Equal(t, metrics.Count, r.Units[name])
		}
	}
	assert.Equal(t, map[string]float64{"NotificationsReceived": 3, "EventsPublished": 1, "Duplicates": 1, "NotificationsRejected": 1}, sum)
	assert.Equal(t, map[string]bool{"published": true, "duplicate": true, "rejected_signature": true}, outcomes)
}
