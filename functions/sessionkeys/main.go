// Command sessionkeys is the Lambda function behind the sign-in issuer's
// GET /.well-known/openid-configuration and /.well-known/jwks.json: the
// public keys of SESSION_KMS_KEY_ID and SESSION_PREVIOUS_KMS_KEY_IDS, read
// once from KMS. It holds no secret.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxcard/wxcard/internal/session"
)

func main() {
	logger := session.NewLogger(os.Stderr, os.Getenv)
	h, err := session.KeysFromEnv(context.Background(), os.Getenv, session.Deps{Logger: logger, Metrics: session.NewMetrics(os.Stdout, "sessionkeys", os.Getenv)})
	if err != nil {
		session.Refuse(logger, os.Getenv, err)
	}
	lambda.Start(h.Handle)
}
