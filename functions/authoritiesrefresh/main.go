// Command authoritiesrefresh is the scheduled refresh of the product
// authorities of the brands in AUTHORITY_BRAND_IDS: invoked with an
// EventBridge Scheduled Event envelope or the schedule's own input
// ({"brand_ids": [...]} or {}), it asks WeChat Pay about each brand,
// records each answer in the state table (STATE_TABLE_NAME) and publishes
// changes and revocations to the bus (EVENT_BUS_NAME).
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxcard/wxcard/internal/authority"
	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/lambdaapp"
	"github.com/wxcard/wxcard/internal/secret"
)

func main() {
	app := lambdaapp.MustBoot("authoritiesrefresh", secret.ServiceProvider)
	state, err := authority.TrackerFromEnv(os.Getenv)
	if err != nil {
		app.Refuse(err)
	}
	h := &cardapi.AuthoritiesRefresh{Upstream: app.Upstream, Logger: app.Logger, Metrics: app.Metrics, State: state, BrandIDs: app.Env.AuthorityBrandIDs}
	lambda.Start(h.Handle)
}
