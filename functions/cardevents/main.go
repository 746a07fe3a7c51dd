// Command cardevents is the Lambda function behind POST /notify/card-events
// and POST /notify/brand-card-events, which WeChat Pay calls with
// membership-card notifications. It takes its identity from the secret
// WXPAY_SECRET_ID names: a service provider's (mchid) verifies with its
// keys and decrypts with its apiv3_key; a brand's (brand_id) decrypts with
// its brand_api_key. It deduplicates them in the state table
// (STATE_TABLE_NAME) and publishes each once to the bus (EVENT_BUS_NAME),
// which must exist at cold start.
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
)

func main() {
	// The identity the secret holds: the template gives the brand route's
	// function the brand secret.
	app := lambdaapp.MustBootReceiver("cardevents", "")
	table, err := statetable.FromEnv(os.Getenv)
	if err != nil {
		app.Refuse(err)
	}
	bus, err := bridge.FromEnvChecked(context.Background(), os.Getenv)
	if err != nil {
		app.Refuse(err)
	}
	h := &cardevents.Handler{
		Route:       cardevents.RouteFor(app.Credentials.Current(context.Background()).Scheme),
		Credentials: app.Credentials, Store: idempotency.Table{Table: table}, Bus: bus,
		Logger: app.Logger, DecryptSensitive: app.Env.DecryptSensitiveFields, Metrics: app.Metrics,
	}
	lambda.Start(h.Handle)
}
