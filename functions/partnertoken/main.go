// Command partnertoken is the Lambda function behind
// POST /v3/brand/partner/card-member/pre-auth-tokens (and its older name
// …/open-user-card-tokens): it signs as a service provider.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/lambdaapp"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

func main() {
	app := lambdaapp.MustBoot("partnertoken", wxsign.Merchant)
	h := &cardapi.PartnerToken{Upstream: app.Upstream, Policy: app.MustTokenPolicy(), Logger: app.Logger, Metrics: app.Metrics}
	lambda.Start(h.Handle)
}
