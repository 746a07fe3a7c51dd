// Package cardevents is the handler of POST /notify/card-events and POST
// /notify/brand-card-events: WeChat Pay's membership-card notifications,
// verified like answers, decrypted with the key of the identity the
// function holds (a service provider's API v3 key, a brand's brand API
// key), deduplicated by notification id in the state table and published
// once to the event bus. Nothing unverified is ever stored or published.
package cardevents

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/idempotency"
	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// Limits and lifetimes.
const (
	// MaxBodyBytes bounds a notification; WeChat Pay's are a few KiB.
	MaxBodyBytes = 64 << 10
	// ClaimTTL is how long a claim keeps other invocations off an id: more
	// than the function's 10 s timeout, less than WeChat Pay's retries.
	ClaimTTL = 30 * time.Second
	// KeepCompleted is how long a delivered id is remembered (TTL).
	KeepCompleted = 7 * 24 * time.Hour
)

// Credentials is where the handler gets the identity from: the
// service-provider secret, refreshed when a notification names a key ID
// the secret does not hold (MarkStaleUnverified: anyone can send one) or
// when a signed notification does not decrypt (MarkStale: WeChat Pay's own
// word that the keys changed) (*lambdaapp.Credentials).
type Credentials interface {
	Current(ctx context.Context) *secret.Identity
	MarkStale(reason string)
	MarkStaleUnverified(reason string)
}

// Handler serves WeChat Pay's notifications.
type Handler struct {
	// Route is the route served, for logs and metrics: RouteFor the
	// identity's scheme; "" means Route.
	Route       string
	Credentials Credentials
	Store       idempotency.Store
	Bus         eventbus.Publisher
	Logger      *slog.Logger
	// DecryptSensitive decrypts the fields WeChat Pay encrypts with the
	// merchant's public key (phone_number, the values of user_information)
	// with the secret's private key before publishing
	// (DECRYPT_SENSITIVE_FIELDS); otherwise they pass through as sent.
	DecryptSensitive bool
	// Metrics writes one CloudWatch EMF line per notification; nil writes
	// none.
	Metrics *metrics.Emitter
	Now     func() time.Time // nil means time.Now
}

// Event is the Detail of a published card event.
type Event struct {
	ID         string          `json:"id"`
	CreateTime string          `json:"create_time"`
	EventType  string          `json:"event_type"`
	Summary    string          `json:"summary"`
	Resource   json.RawMessage `json:"resource"`
}

// outcome is what one request logs.
type outcome struct {
	id, eventType, cardID, result string
}

// Handle serves one notification.
func (h *Handler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	start := h.now()
	var out outcome
	resp, level, err := h.handle(ctx, &ev, &out)
	attrs := []slog.Attr{slog.String("route", h.route()), slog.Int("status", resp.StatusCode), slog.String("outcome", out.result),
		slog.Float64("duration_ms", float64(h.now().Sub(start).Microseconds())/1000)}
	for _, a := range []struct{ k, v string }{{"notification_id", out.id}, {"event_type", out.eventType}, {"card_id", out.cardID}} {
		if a.v != "" {
			attrs = append(attrs, slog.String(a.k, a.v))
		}
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	h.Logger.LogAttrs(ctx, level, "notification "+out.result, attrs...)
	h.count(resp.StatusCode, out.result)
	return resp, nil
}

// count writes the notification's metrics: received, and by outcome
// rejected (4xx: a bad signature is outcome rejected_signature),
// published, duplicate, or failed to publish.
func (h *Handler) count(status int, result string) {
	m := h.Metrics.New(h.route())
	m.Count("NotificationsReceived", 1)
	switch {
	case status >= 400 && status < 500:
		m.Count("NotificationsRejected", 1)
	case result == "published" || result == "published_unrecorded":
		m.Count("EventsPublished", 1)
	case result == "duplicate":
		m.Count("Duplicates", 1)
	case result == "failed_publish":
		m.Count("PublishFailures", 1)
	}
	m.SetDimension("outcome", result)
	h.Metrics.Flush(m)
}

// The routes: a service provider's notifications, and a brand's.
const (
	Route      = "/notify/card-events"
	BrandRoute = "/notify/brand-card-events"
)

// RouteFor is the route of a function holding an identity of scheme: a
// brand's notifications arrive on BrandRoute.
func RouteFor(scheme wxsign.Scheme) string {
	if scheme == wxsign.Brand {
		return BrandRoute
	}
	return Route
}

func (h *Handler) route() string {
	if h.Route != "" {
		return h.Route
	}
	return Route
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func fail(status int, message string) events.APIGatewayV2HTTPResponse {
	b, _ := json.Marshal(map[string]string{"code": "FAIL", "message": message})
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}, Body: string(b)}
}

var success = events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK,
	Headers: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}, Body: `{"code":"SUCCESS"}`}

func (h *Handler) handle(ctx context.Context, ev *events.APIGatewayV2HTTPRequest, out *outcome) (events.APIGatewayV2HTTPResponse, slog.Level, error) {
	if ev.RequestContext.HTTP.Method != http.MethodPost {
		out.result = "rejected_method"
		return fail(http.StatusMethodNotAllowed, "method must be POST"), slog.LevelWarn, nil
	}
	body, err := rawBody(ev)
	if err != nil {
		out.result = "rejected_body"
		return fail(http.StatusBadRequest, err.Error()), slog.LevelWarn, nil
	}

	// 1. Verify, exactly as an answer is verified.
	id := h.Credentials.Current(ctx)
	hdr := headers(ev)
	err = id.Verifier().Verify(hdr, body)
	if errors.Is(err, wxsign.ErrUnknownKey) {
		// A key the secret does not hold yet: reread the secret (rate
		// limited, in a window of its own: this is not yet verified) and
		// try once more with what it holds now.
		h.Credentials.MarkStaleUnverified("unknown key ID")
		if fresh := h.Credentials.Current(ctx); fresh != id {
			id = fresh
			err = id.Verifier().Verify(hdr, body)
		}
	}
	if err != nil {
		// WeChat Pay's own WECHATPAY/SIGNTEST/ probes are expected now and
		// then: refused alike, counted apart, so that they page no one.
		out.result = "rejected_signature"
		if wxsign.IsProbe(err) {
			out.result = "rejected_probe"
		}
		return fail(http.StatusUnauthorized, "signature verification failed"), slog.LevelWarn, err
	}

	// 2. Decode the envelope strictly and decrypt the resource.
	n, err := wxsign.DecodeNotification(body)
	if err != nil {
		out.result = "rejected_envelope"
		return fail(http.StatusBadRequest, "notification is malformed"), slog.LevelError, err
	}
	out.id, out.eventType = n.ID, n.EventType
	resource, err := h.resource(id, n)
	if err != nil {
		// Signed by WeChat Pay yet not decryptable: the API v3 key (or the
		// private key) was rotated. Reread the secret (rate limited) and
		// try once more with what it holds now.
		h.Credentials.MarkStale("notification does not decrypt")
		if fresh := h.Credentials.Current(ctx); fresh != id {
			id = fresh
			resource, err = h.resource(id, n)
		}
	}
	if err != nil {
		out.result = "rejected_resource"
		return fail(http.StatusBadRequest, "resource cannot be decrypted"), slog.LevelError, err
	}
	out.cardID = cardID(resource)

	// 3. Claim the id; a repeat of a delivered one is answered at once.
	now := h.now()
	token, err := h.Store.Claim(ctx, n.ID, now, ClaimTTL)
	switch {
	case errors.Is(err, idempotency.ErrDone):
		out.result = "duplicate"
		return success, slog.LevelInfo, nil
	case errors.Is(err, idempotency.ErrBusy):
		out.result = "in_progress"
		return fail(http.StatusInternalServerError, "notification is being processed; retry later"), slog.LevelWarn, nil
	case err != nil:
		out.result = "failed_store"
		return fail(http.StatusInternalServerError, "notification could not be stored; retry later"), slog.LevelError, err
	}

	// 4. Publish once; a failure releases the claim so the retry delivers it.
	detail, err := json.Marshal(Event{ID: n.ID, CreateTime: n.CreateTime, EventType: n.EventType, Summary: n.Summary, Resource: resource})
	if err == nil {
		created, _ := time.Parse(time.RFC3339, n.CreateTime) // checked by DecodeNotification
		err = h.Bus.Publish(ctx, eventbus.Event{DetailType: n.EventType, Time: created, Detail: detail})
	}
	if err != nil {
		if rerr := h.Store.Release(ctx, n.ID, token); rerr != nil {
			err = errors.Join(err, rerr) // the claim then expires after ClaimTTL
		}
		out.result = "failed_publish"
		return fail(http.StatusInternalServerError, "notification could not be published; retry later"), slog.LevelError, err
	}
	if err := h.Store.Complete(ctx, n.ID, token, h.now(), KeepCompleted); err != nil {
		// Published: WeChat Pay gets its 200. The claim expires and a
		// retry after ClaimTTL would publish again (at least once).
		out.result = "published_unrecorded"
		return success, slog.LevelWarn, err
	}
	out.result = "published"
	return success, slog.LevelInfo, nil
}

// rawBody is the request's body as WeChat Pay sent it: API Gateway may
// have base64-encoded it.
func rawBody(ev *events.APIGatewayV2HTTPRequest) ([]byte, error) {
	if len(ev.Body) > base64.StdEncoding.EncodedLen(MaxBodyBytes) {
		return nil, fmt.Errorf("body is larger than %d bytes", MaxBodyBytes)
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, errors.New("body is marked base64-encoded but is not valid base64")
		}
	}
	if len(body) > MaxBodyBytes {
		return nil, fmt.Errorf("body is larger than %d bytes", MaxBodyBytes)
	}
	if len(body) == 0 {
		return nil, errors.New("body is empty")
	}
	return body, nil
}

// headers turns API Gateway's lower-cased headers into an http.Header.
func headers(ev *events.APIGatewayV2HTTPRequest) http.Header {
	h := http.Header{}
	for k, v := range ev.Headers {
		h.Set(k, v)
	}
	return h
}

// resource decrypts the notification's resource, which must be a JSON
// object, and decrypts its sensitive fields when asked.
func (h *Handler) resource(id *secret.Identity, n *wxsign.Notification) (json.RawMessage, error) {
	plain, err := wxsign.DecryptResource(id.NotificationKey(), n.Resource)
	if err != nil {
		return nil, err
	}
	plain = bytes.TrimSpace(plain)
	var obj map[string]any
	if len(plain) == 0 || plain[0] != '{' || json.Unmarshal(plain, &obj) != nil {
		return nil, errors.New("decrypted resource is not a JSON object")
	}
	if !h.DecryptSensitive {
		return plain, nil
	}
	if err := decryptSensitive(id, obj); err != nil {
		return nil, err
	}
	return json.Marshal(obj)
}

// decryptSensitive decrypts phone_number and the values of
// user_information (common_field_list and custom_field_list entries'
// value and value_list) in place.
func decryptSensitive(id *secret.Identity, obj map[string]any) error {
	key, ok := id.Key.(crypto.Decrypter)
	if !ok {
		return fmt.Errorf("the private key (%T) cannot decrypt", id.Key)
	}
	dec := func(field string, v any) (any, error) {
		s, ok := v.(string)
		if !ok || s == "" {
			return v, nil
		}
		plain, err := wxsign.DecryptSensitive(key, s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		return plain, nil
	}
	var err error
	if v, ok := obj["phone_number"]; ok {
		if obj["phone_number"], err = dec("phone_number", v); err != nil {
			return err
		}
	}
	info, _ := obj["user_information"].(map[string]any)
	for _, list := range []string{"common_field_list", "custom_field_list"} {
		entries, _ := info[list].([]any)
		for _, e := range entries {
			field, _ := e.(map[string]any)
			if field == nil {
				continue
			}
			if v, ok := field["value"]; ok {
				if field["value"], err = dec("user_information."+list+".value", v); err != nil {
					return err
				}
			}
			values, _ := field["value_list"].([]any)
			for i, v := range values {
				if values[i], err = dec("user_information."+list+".value_list", v); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// cardID is the resource's card_id, for the log: an ID, not personal data.
func cardID(resource json.RawMessage) string {
	var r struct {
		CardID any `json:"card_id"`
	}
	_ = json.Unmarshal(resource, &r)
	s, _ := r.CardID.(string)
	if len(s) > 64 || strings.ContainsFunc(s, func(c rune) bool { return c < '!' || c > '~' }) {
		return ""
	}
	return s
}
