package cardevents_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/wxcard/wxcard/internal/cardevents"
	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/idempotency"
	"github.com/wxcard/wxcard/internal/lambdaapp"
	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/internal/secretstest"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// claimRecorder is a Store that remembers every Claim: a claim is a write.
type claimRecorder struct {
	idempotency.Memory
	mu     sync.Mutex
	claims int
}

func (c *claimRecorder) Claim(ctx context.Context, key string, now time.Time, ttl time.Duration) (string, error) {
	c.mu.Lock()
	c.claims++
	c.mu.Unlock()
	return c.Memory.Claim(ctx, key, now, ttl)
}

// FuzzNotification sends whole API Gateway events to the handler: never a
// panic, always a FAIL or SUCCESS answer, and nothing stored or published
// unless the very headers and body verify, checked independently.
func FuzzNotification(f *testing.F) {
	srv := wxpaytest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	id := secretstest.IdentityOf(srv, srv.AddMerchant(mchid))
	id.APIv3Key = apiV3Key
	nt := srv.Notifier(apiV3Key)
	for _, spoil := range append([]wxpaytest.Spoil{wxpaytest.Genuine}, wxpaytest.Spoils...) {
		h, body, err := nt.Build(wxpaytest.Notification{EventType: "MEMBERCARD.ACCEPT_CARD", Resource: map[string]any{"card_id": cardID}}, spoil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(h.Get(wxsign.HeaderTimestamp), h.Get(wxsign.HeaderNonce), h.Get(wxsign.HeaderSignature), h.Get(wxsign.HeaderSerial), body, false)
	}
	verifier := id.Verifier()
	logger := slog.New(slog.DiscardHandler)
	creds, err := lambdaapp.NewCredentials(context.Background(), func(context.Context) (*secret.Identity, error) { return id, nil }, logger)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, timestamp, nonce, signature, serial string, body []byte, b64 bool) {
		store, bus := &claimRecorder{}, &eventbus.Memory{}
		h := &cardevents.Handler{Credentials: creds, Store: store, Bus: bus, Logger: logger}
		hdr := http.Header{}
		for k, v := range map[string]string{wxsign.HeaderTimestamp: timestamp, wxsign.HeaderNonce: nonce, wxsign.HeaderSignature: signature, wxsign.HeaderSerial: serial} {
			hdr.Set(k, v)
		}
		ev := event(hdr, body)
		if b64 {
			ev.IsBase64Encoded = true
		}
		resp, err := h.Handle(context.Background(), ev)
		if err != nil {
			t.Fatalf("handler error: %v", err)
		}
		if resp.StatusCode != 200 && resp.Body == "" {
			t.Fatalf("%d without a body", resp.StatusCode)
		}
		if store.claims == 0 && len(bus.Events()) == 0 {
			return
		}
		// Something was stored or published: the bytes must verify.
		raw := body
		if b64 {
			if raw, err = base64.StdEncoding.DecodeString(string(body)); err != nil {
				t.Fatalf("stored or published a body that is not base64")
			}
		}
		if err := verifier.Verify(hdr, raw); err != nil {
			t.Fatalf("stored or published an unverified notification: %v", err)
		}
	})
}
