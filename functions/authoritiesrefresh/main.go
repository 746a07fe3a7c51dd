// Command authoritiesrefresh consumes the refresh queue: invoked by the
// queue's event source mapping with a batch of brands, it asks WeChat Pay
// about each, paced (REFRESH_CALLS_PER_SECOND across REFRESH_CONCURRENCY
// invocations, every attempt counted), records each answer in the state
// table (STATE_TABLE_NAME), publishes changes and revocations to the bus
// (EVENT_BUS_NAME), and reports the brands that failed so that SQS
// delivers them again; brands it had no time for it sends to the queue
// again as new messages, and malformed messages it deletes.
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
	"github.com/wxcard/wxcard/internal/pacedqueue"
	"github.com/wxcard/wxcard/internal/pacedqueue/sqsqueue"
	"github.com/wxcard/wxcard/internal/refresh"
	"github.com/wxcard/wxcard/internal/statetable"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

func main() {
	app := lambdaapp.MustBoot("authoritiesrefresh", wxsign.Merchant)
	table, err := statetable.FromEnv(os.Getenv)
	if err != nil {
		app.Refuse(fmt.Errorf("state table: %w", err))
	}
	bus, err := bridge.FromEnvChecked(context.Background(), os.Getenv)
	if err != nil {
		app.Refuse(fmt.Errorf("event bus: %w", err))
	}
	state := &authority.Tracker{Store: authtable.Table{Table: table}, Bus: bus}
	pacer, err := refresh.PacerFromEnv(os.Getenv)
	if err != nil {
		app.Refuse(err)
	}
	requeue, err := sqsqueue.RequeueFromEnv(os.Getenv)
	if err != nil {
		app.Refuse(err)
	}
	// Every attempt waits for the pace: retries of a 429 or a 5xx, too.
	app.Upstream.SetPace(pacer.Wait)
	check := &cardapi.BrandChecker{Upstream: app.Upstream, Logger: app.Logger, State: state}
	h := refresh.NewConsumer(check)
	h.Pacers, h.Logger, h.Metrics, h.Requeue = []*pacedqueue.Pacer{pacer}, app.Logger, app.Metrics, requeue
	lambda.Start(h.Handle)
}
