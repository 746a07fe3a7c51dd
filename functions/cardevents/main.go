// Command cardevents is the Lambda function behind POST /notify/card-events,
// which WeChat Pay calls with membership-card notifications: it verifies
// them with the keys of the service-provider secret, decrypts them with its
// API v3 key, deduplicates them in the state table (STATE_TABLE_NAME) and
// publishes each once to the bus (EVENT_BUS_NAME), which must exist at
// cold start.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxcard/wxcard/internal/cardevents"
	"github.com/wxcard/wxcard/internal/eventbus/bridge"
	"github.com/wxcard/wxcard/internal/idempotency"
	"github.com/wxcard/wxcard/internal/lambdaapp"
	"github.com/wxcard/wxcard/internal/statetable"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

func main() {
	app := lambdaapp.MustBootReceiver("cardevents", wxsign.Merchant)
	table, err := statetable.FromEnv(os.Getenv)
	if err != nil {
		app.Refuse(err)
	}
	bus, err := bridge.FromEnvChecked(context.Background(), os.Getenv)
	if err != nil {
		app.Refuse(err)
	}
	h := &cardevents.Handler{
		Credentials: app.Credentials, Store: idempotency.Table{Table: table}, Bus: bus,
		Logger: app.Logger, DecryptSensitive: app.Env.DecryptSensitiveFields, Metrics: app.Metrics,
	}
	lambda.Start(h.Handle)
}
