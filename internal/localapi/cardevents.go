package localapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/internal/cardevents"
	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/idempotency"
	"github.com/wxcard/wxcard/internal/lambdaapp"
	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/internal/secretstest"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

// SandboxAPIv3Key is the sandbox merchant's API v3 key: the local API
// decrypts the sandbox's notifications with it.
const SandboxAPIv3Key = "wxcardSandboxAPIv3Key0123456789a"

// NotifyPath is the card-events route; SendNotificationPath is the local
// runner's own route that makes the sandbox post a genuine notification
// to it, as WeChat Pay would after a user opens a card.
const (
	NotifyPath           = "/notify/card-events"
	SendNotificationPath = "/local/card-events/send"
)

// sandboxPartnerSecret is the sandbox service provider's secret, with its
// API v3 key.
func sandboxPartnerSecret(srv *wxpaytest.Server) []byte {
	id := secretstest.IdentityOf(srv, srv.AddMerchant(SandboxMchID))
	id.APIv3Key = []byte(SandboxAPIv3Key)
	v, err := secret.Encode(id)
	if err != nil {
		panic(err) // a generated identity always encodes
	}
	return v
}

// cardEventsRoute is POST /notify/card-events with the state in memory and
// events published to bus.
func cardEventsRoute(ctx context.Context, logger *slog.Logger, bus eventbus.Publisher, load lambdaapp.LoadFunc, secretID string) (Route, error) {
	creds, err := lambdaapp.NewCredentials(ctx, func(ctx context.Context) (*secret.Identity, error) {
		id, err := load(ctx)
		if err != nil {
			return nil, err
		}
		return id, id.NeedNotificationKey(secretID)
	}, logger)
	if err != nil {
		return Route{}, err
	}
	h := &cardevents.Handler{Credentials: creds, Store: &idempotency.Memory{}, Bus: bus, Logger: logger}
	return Route{"POST " + NotifyPath, h.Handle}, nil
}

// sandboxNotificationRoute makes the sandbox play WeChat Pay: it builds a
// genuine, freshly signed notification that the sandbox user opened the
// sandbox card, posts it to this local API's NotifyPath, and answers what
// that route answered.
func sandboxNotificationRoute(srv *wxpaytest.Server) Route {
	nt := srv.Notifier([]byte(SandboxAPIv3Key))
	client := &http.Client{Timeout: 10 * time.Second}
	return Route{"POST " + SendNotificationPath, func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		h, body, err := nt.Build(wxpaytest.Notification{
			EventType: "MEMBERCARDSP.USER_CARD.CREATE", Summary: "用户开通会员卡",
			Resource: map[string]string{"brand_id": SandboxBrandID, "card_id": SandboxCardID, "openid": SandboxOpenID,
				"user_card_code": "751234212312", "create_time": time.Now().Format(time.RFC3339)},
		}, wxpaytest.Genuine)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		// Post only to this machine: the Host the request came in on.
		host := apigw.Header(&ev, "Host")
		if name, _, err := net.SplitHostPort(host); err != nil || name != "localhost" && !net.ParseIP(name).IsLoopback() {
			return apigw.ParamError("Host", "is not a loopback address of this local API").Respond(), nil
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+host+NotifyPath, bytes.NewReader(body))
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		req.Header = h
		resp, err := client.Do(req) //nolint:gosec // the local API posting to itself, at the address the request came in on
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("posting the notification: %w", err)
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return apigw.JSON(resp.StatusCode, answer), nil
	}}
}

// CardEventsCurlLine makes the sandbox post a genuine notification that
// the sandbox user opened the sandbox card: the card-events route verifies,
// decrypts and deduplicates it, and the event prints as a JSON line.
func CardEventsCurlLine(base string) string {
	return "curl -s -X POST " + base + SendNotificationPath
}
