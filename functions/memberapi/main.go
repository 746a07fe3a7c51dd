// Command memberapi serves the member routes (docs/card-events-and-members.md,
// "Member care"): POST /members/activate activates a membercard-open card
// as the merchant (WXPAY_SECRET_ID) and records the member; GET
// /members/me lists the caller's members; PATCH /members/{card_id}/{code}
// accepts a change of level, points, balance or attach into the state
// table (STATE_TABLE_NAME) and queues its sync (MEMBER_QUEUE_URL), which
// functions/members sends to WeChat Pay. Events go to EVENT_BUS_NAME.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/eventbus/bridge"
	"github.com/wxcard/wxcard/internal/lambdaapp"
	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/internal/member/membertable"
	"github.com/wxcard/wxcard/internal/memberapi"
	"github.com/wxcard/wxcard/internal/statetable"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

func main() {
	// Activation calls membercard-open as the merchant or service provider
	// (WXPAY_SECRET_ID); the other routes call no WeChat Pay API, so a
	// brand-only stack serves them without a secret.
	app := lambdaapp.MustBootOptional("memberapi", wxsign.Merchant)
	policy := app.MustTokenPolicy()
	table, err := statetable.FromEnv(os.Getenv)
	if err != nil {
		app.Refuse(fmt.Errorf("state table: %w", err))
	}
	waker, err := member.WakerFromEnv(os.Getenv)
	if err != nil {
		app.Refuse(err)
	}
	bus, err := bridge.FromEnvChecked(context.Background(), os.Getenv)
	if err != nil {
		app.Refuse(fmt.Errorf("event bus: %w", err))
	}
	keeper := &member.Keeper{Store: membertable.Table{Table: table}, Bus: bus, Waker: waker, Logger: app.Logger}
	var wechatpay cardapi.Caller
	if app.Upstream != nil {
		// membercard-open is called as the merchant or service provider.
		wechatpay = app.Upstream
	}
	h := &memberapi.Handler{Keeper: keeper, WeChatPay: wechatpay, Policy: policy, Logger: app.Logger, Metrics: app.Metrics}
	lambda.Start(h.Handle)
}
