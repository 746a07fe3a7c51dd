package cardevents_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/cardevents"
	"github.com/wxcard/wxcard/internal/eventbus/bridge"
	"github.com/wxcard/wxcard/internal/idempotency"
	"github.com/wxcard/wxcard/internal/lambdaapp"
	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/internal/secretstest"
	"github.com/wxcard/wxcard/internal/statetable"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

// cannedAWS answers DynamoDB's writes and EventBridge's PutEvents at once,
// as a local endpoint that does no work: what is measured is the
// handler's own cost and the real SDK clients' (request building, SigV4
// signing, HTTP on loopback, answer parsing).
func cannedAWS(b *testing.B) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		if r.Header.Get("X-Amz-Target") == "AWSEvents.PutEvents" {
			_, _ = io.WriteString(w, `{"FailedEntryCount":0,"Entries":[{"EventId":"e"}]}`)
			return
		}
		_, _ = io.WriteString(w, `{}`)
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

// BenchmarkNotification is one warm notification: verify the signature,
// decode, decrypt the resource, claim the id (PutItem), publish
// (PutEvents) and complete (UpdateItem), against a local endpoint.
func BenchmarkNotification(b *testing.B) {
	srv := wxpaytest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	id := secretstest.IdentityOf(srv, srv.AddMerchant(mchid))
	id.APIv3Key = apiV3Key
	logger := slog.New(slog.DiscardHandler)
	creds, err := lambdaapp.NewCredentials(context.Background(), func(context.Context) (*secret.Identity, error) { return id, nil }, logger)
	if err != nil {
		b.Fatal(err)
	}
	env := awstest.Getenv(awstest.Env(cannedAWS(b), map[string]string{"STATE_TABLE_NAME": "t", "EVENT_BUS_NAME": "bus"}))
	table, err := statetable.FromEnv(env)
	if err != nil {
		b.Fatal(err)
	}
	bus, err := bridge.FromEnv(env)
	if err != nil {
		b.Fatal(err)
	}
	h := &cardevents.Handler{Credentials: creds, Store: idempotency.Table{Table: table}, Bus: bus, Logger: logger, Metrics: &metrics.Emitter{Out: io.Discard, Function: "cardevents"}}
	hdr, body, err := srv.Notifier(apiV3Key).Build(wxpaytest.Notification{ID: "EV-bench", EventType: "MEMBERCARD.ACCEPT_CARD",
		Resource: map[string]any{"card_id": cardID, "code": code, "openid": openid, "accept_time": "2026-11-24T10:00:00+08:00"}}, wxpaytest.Genuine)
	if err != nil {
		b.Fatal(err)
	}
	ev := event(hdr, body)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := h.Handle(ctx, ev)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("%v %d %s", err, resp.StatusCode, resp.Body)
		}
	}
}
