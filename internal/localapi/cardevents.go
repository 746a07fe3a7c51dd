package localapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/cardevents"
	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/idempotency"
	"github.com/wxcard/wxcard/internal/lambdaapp"
	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/internal/pacedqueue"
	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/internal/secretstest"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

// The sandbox's notification keys: the service provider's API v3 key and
// the brand's brand API key (品牌API密钥). The local API decrypts the
// sandbox's notifications with them.
//
//nolint:gosec // the embedded sandbox's own keys, published on purpose
const (
	SandboxAPIv3Key    = "wxcardSandboxAPIv3Key0123456789a"
	SandboxBrandAPIKey = "wxcardSandboxBrandAPIKey01234567"
)

// The card-events routes, and the local runner's own routes that make the
// sandbox play a user opening the sandbox card (and deleting it): WeChat
// Pay posts the notification to the card-events route, and the member
// flow runs as deployed.
const (
	NotifyPath      = cardevents.Route
	BrandNotifyPath = cardevents.BrandRoute
	OpenCardPath    = "/local/cards/open"
	DeleteCardRoute = "/local/cards/{user_card_code}/delete"
)

// sandboxPartnerSecret is the sandbox service provider's secret, with its
// API v3 key.
func sandboxPartnerSecret(srv *wxpaytest.Server) []byte {
	id := secretstest.IdentityOf(srv, srv.AddMerchant(SandboxMchID))
	id.APIv3Key = []byte(SandboxAPIv3Key)
	return encodeSecret(id)
}

// sandboxBrandSecret is the sandbox brand's secret, with its brand API key.
func sandboxBrandSecret(srv *wxpaytest.Server) []byte {
	id := secretstest.IdentityOf(srv, srv.AddBrand(SandboxBrandID))
	id.BrandAPIKey = []byte(SandboxBrandAPIKey)
	return encodeSecret(id)
}

func encodeSecret(id *secret.Identity) []byte {
	v, err := secret.Encode(id)
	if err != nil {
		panic(err) // a generated identity always encodes
	}
	return v
}

// cardEventsRoute is the card-events route of the identity load gives (a
// brand's or a service provider's), with the state in memory and events
// published to bus.
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
	route := cardevents.RouteFor(creds.Current(ctx).Scheme)
	h := &cardevents.Handler{Route: route, Credentials: creds, Store: &idempotency.Memory{}, Bus: bus, Logger: logger}
	return Route{"POST " + route, h.Handle}, nil
}

// memberBus is the local bus: it prints every event (Memory) and hands the
// card events the member queue takes to its consumer at once, as the
// template's rule and queue would, so the member's events print right
// after the notification's. The member API's sync messages reach the same
// consumer (memberRoutes).
type memberBus struct {
	*eventbus.Memory
	consumer *pacedqueue.Consumer
	// store holds the members, for the consumer and the member API alike.
	store  *member.Memory
	logger *slog.Logger
}

var memberTypes = member.EventTypes()

func (b *memberBus) Publish(ctx context.Context, evs ...eventbus.Event) error {
	if err := b.Memory.Publish(ctx, evs...); err != nil {
		return err
	}
	var bodies []string
	for _, ev := range evs {
		if !slices.Contains(memberTypes, ev.DetailType) {
			continue
		}
		body, err := json.Marshal(map[string]any{"version": "0", "id": newMessageID(), "detail-type": ev.DetailType,
			"source": eventbus.Source, "time": ev.Time.UTC().Format(time.RFC3339), "detail": ev.Detail})
		if err != nil {
			return err
		}
		bodies = append(bodies, string(body))
	}
	// The notification is accepted whatever becomes of the member, as the
	// queue decouples them when deployed: a failure is the consumer's log.
	b.deliver(ctx, bodies)
	return nil
}

// deliver hands bodies to the member queue's consumer as one batch of SQS
// messages sent now, and waits for it.
func (b *memberBus) deliver(ctx context.Context, bodies []string) {
	if len(bodies) == 0 {
		return
	}
	sent := strconv.FormatInt(time.Now().UnixMilli(), 10)
	var batch events.SQSEvent
	for _, body := range bodies {
		batch.Records = append(batch.Records, events.SQSMessage{MessageId: newMessageID(), Body: body,
			Attributes: map[string]string{"SentTimestamp": sent}})
	}
	resp, err := b.consumer.Handle(context.WithoutCancel(ctx), batch)
	if err == nil && len(resp.BatchItemFailures) > 0 {
		b.logger.WarnContext(ctx, "local member queue: messages not handled (deployed, SQS would deliver them again)", "count", len(resp.BatchItemFailures))
	}
}

func newMessageID() string {
	var id [8]byte
	_, _ = rand.Read(id[:])
	return hex.EncodeToString(id[:])
}

// newMemberBus is the local bus with the member queue's consumer behind
// it: members kept in memory, every opening confirmed, as the brand or the
// service provider, and changes synced with the same two.
func newMemberBus(logger *slog.Logger, brand, partner cardapi.Caller) *memberBus {
	b := &memberBus{Memory: &eventbus.Memory{}, store: &member.Memory{}, logger: logger}
	wechatpay := &member.WeChatPay{Brand: brand, Partner: partner}
	keeper := &member.Keeper{Store: b.store, Bus: b.Memory, Decider: member.AlwaysConfirm{},
		WeChatPay: wechatpay, Updater: wechatpay, Logger: logger}
	b.consumer = &pacedqueue.Consumer{Name: "member", Handler: &member.Queue{Keeper: keeper, Logger: logger}, Valid: member.Valid,
		Logger: logger, Labels: member.Labels, Counts: member.Counts}
	return b
}

// openCardRequest is the body of OpenCardPath: whose card the sandbox user
// opens.
type openCardRequest struct {
	Flavour string `json:"flavour"` // "brand" (default) or "partner"
}

// sandboxUser is the sandbox playing WeChat Pay and its user for the
// local routes: the cards the user opened here, and where WeChat Pay
// posts their notifications.
type sandboxUser struct {
	srv     *membercardtest.Server
	client  *http.Client
	mu      sync.Mutex
	routeOf map[string]string // a card opened here -> its card-events route
}

// self is the URL of path on this local API: only this machine, the Host
// the request came in on.
func (*sandboxUser) self(ev *events.APIGatewayV2HTTPRequest, path string) (string, *apigw.Error) {
	host := apigw.Header(ev, "Host")
	if name, _, err := net.SplitHostPort(host); err != nil || name != "localhost" && !net.ParseIP(name).IsLoopback() {
		return "", apigw.ParamError("Host", "is not a loopback address of this local API")
	}
	return "http://" + host + path, nil
}

// cardRoute is the card-events route of a card opened here.
func (u *sandboxUser) cardRoute(code string) (string, *apigw.Error) {
	u.mu.Lock()
	path, ok := u.routeOf[code]
	u.mu.Unlock()
	if !ok {
		e := apigw.ParamError("user_card_code", "is no card the sandbox user opened here")
		e.Status, e.Code = http.StatusNotFound, "NOT_FOUND"
		return "", e
	}
	return path, nil
}

func notificationRefused(status int) events.APIGatewayV2HTTPResponse {
	return apigw.JSON(http.StatusBadGateway, []byte(fmt.Sprintf(`{"code":"NOTIFICATION_REFUSED","message":"the card-events route answered %d"}`, status)))
}

func (u *sandboxUser) cardAnswer(code string) events.APIGatewayV2HTTPResponse {
	card, _ := u.srv.UserCard(code)
	b, _ := json.Marshal(map[string]string{"user_card_code": card.UserCardCode, "card_id": card.CardID, "user_card_state": card.UserCardState})
	return apigw.JSON(http.StatusOK, b)
}

// sandboxCardRoutes make the sandbox play WeChat Pay and a user: the user
// opens the sandbox card (brand or service-provider flavour), WeChat Pay
// posts the genuine, freshly signed notification to this local API's
// card-events route, and the answer is the user card as WeChat Pay then
// holds it (EFFECTIVE once wxcard confirmed it). The deletion posts the
// card's deletion. The member-care routes (sandboxMemberRoutes) follow.
func sandboxCardRoutes(srv *membercardtest.Server) []Route {
	u := &sandboxUser{srv: srv, client: &http.Client{Timeout: 10 * time.Second}, routeOf: map[string]string{}}
	return append([]Route{{"POST " + OpenCardPath, u.open}, {"POST " + DeleteCardRoute, u.del}}, u.memberRoutes()...)
}

func (u *sandboxUser) open(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	var req openCardRequest
	if ev.Body != "" {
		if err := membercard.Decode([]byte(ev.Body), &req); err != nil {
			return apigw.ParamError("body", err.Error()).Respond(), nil
		}
	}
	o := membercardtest.Opening{Flavour: membercardtest.FlavourBrand, BrandID: SandboxBrandID, CardID: SandboxCardID, OpenID: SandboxOpenID,
		Key: []byte(SandboxBrandAPIKey)}
	path := BrandNotifyPath
	switch req.Flavour {
	case "", "brand":
	case "partner":
		o.Flavour, o.Key, path = membercardtest.FlavourPartner, []byte(SandboxAPIv3Key), NotifyPath
	default:
		return apigw.ParamError("flavour", "must be brand or partner").Respond(), nil
	}
	url, aerr := u.self(&ev, path)
	if aerr != nil {
		return aerr.Respond(), nil
	}
	code, status, err := u.srv.PostOpenCard(ctx, u.client, url, o)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("posting the notification: %w", err)
	}
	u.mu.Lock()
	u.routeOf[code] = path
	u.mu.Unlock()
	if status != http.StatusOK {
		return notificationRefused(status), nil
	}
	return u.cardAnswer(code), nil
}

func (u *sandboxUser) del(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	code := ev.PathParameters["user_card_code"]
	path, aerr := u.cardRoute(code)
	if aerr != nil {
		return aerr.Respond(), nil
	}
	url, aerr := u.self(&ev, path)
	if aerr != nil {
		return aerr.Respond(), nil
	}
	status, err := u.srv.PostDeleteCard(ctx, u.client, url, code)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("posting the notification: %w", err)
	}
	if status != http.StatusOK {
		return notificationRefused(status), nil
	}
	return u.cardAnswer(code), nil
}

// CardCurlLines have the sandbox user open the sandbox card, a brand's
// and a service provider's, and delete the first; the events they print
// show the notification, the confirmation and the member.
func CardCurlLines(base string) []string {
	return []string{
		fmt.Sprintf(`CARD=$(curl -s -X POST %s%s | sed -E 's/.*"user_card_code":"([^"]+)".*/\1/')`, base, OpenCardPath),
		fmt.Sprintf(`curl -s -X POST %s%s -H 'Content-Type: application/json' -d '{"flavour":"partner"}'`, base, OpenCardPath),
		fmt.Sprintf(`curl -s -X POST %s/local/cards/$CARD/delete`, base),
	}
}
