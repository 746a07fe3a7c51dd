// Command pretoken is the Lambda function behind
// POST /brand/card-member/pre-auth-tokens: it signs as a brand.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/lambdaapp"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

func main() {
	app := lambdaapp.MustBoot("pretoken", wxsign.Brand)
	h := &cardapi.PreToken{Upstream: app.Upstream, Policy: app.MustTokenPolicy(), Logger: app.Logger, Metrics: app.Metrics}
	lambda.Start(h.Handle)
}
