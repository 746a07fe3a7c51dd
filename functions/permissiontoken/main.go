// Command permissiontoken is the Lambda function behind
// POST /v3/marketing/membercard-open/cards/{card_id}/permission-tokens: it
// signs as a service provider.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/lambdaapp"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

func main() {
	app := lambdaapp.MustBoot("permissiontoken", wxsign.Merchant)
	h := &cardapi.PermissionTokenHandler{Upstream: app.Upstream, Policy: app.Policy(), Logger: app.Logger, Metrics: app.Metrics}
	lambda.Start(h.Handle)
}
