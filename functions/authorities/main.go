// Command authorities is the Lambda function behind
// GET /v3/brand-basic/partner/brands/{brand_id}/product-authorities: it
// signs as a service provider and records each answer in the state table
// (STATE_TABLE_NAME), publishing changes to the bus (EVENT_BUS_NAME). Its
// only event is the HTTP API's; the scheduled refresh is
// functions/authoritiesrefresh.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxcard/wxcard/internal/authority"
	"github.com/wxcard/wxcard/internal/authority/authtable"
	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/eventbus/bridge"
	"github.com/wxcard/wxcard/internal/lambdaapp"
	"github.com/wxcard/wxcard/internal/statetable"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

func main() {
	app := lambdaapp.MustBoot("authorities", wxsign.Merchant)
	table, err := statetable.FromEnv(os.Getenv)
	if err != nil {
		app.Refuse(fmt.Errorf("state table: %w", err))
	}
	bus, err := bridge.FromEnvChecked(context.Background(), os.Getenv)
	if err != nil {
		app.Refuse(fmt.Errorf("event bus: %w", err))
	}
	state := &authority.Tracker{Store: authtable.Table{Table: table}, Bus: bus}
	h := &cardapi.Authorities{Upstream: app.Upstream, Policy: app.Policy(), Logger: app.Logger, Metrics: app.Metrics, State: state}
	lambda.Start(h.Handle)
}
