// Command authorities is the Lambda function behind
// GET /v3/brand-basic/partner/brands/{brand_id}/product-authorities and the
// scheduled refresh of the brands in AUTHORITY_BRAND_IDS: it signs as a
// service provider.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/lambdaapp"
	"github.com/wxcard/wxcard/internal/secret"
)

func main() {
	app := lambdaapp.MustBoot(secret.ServiceProvider)
	h := &cardapi.Authorities{Upstream: app.Upstream, Policy: app.Policy(), Logger: app.Logger, BrandIDs: app.Env.AuthorityBrandIDs}
	lambda.Start(h.Invoke)
}
