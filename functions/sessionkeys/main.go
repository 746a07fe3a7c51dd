// Command sessionkeys is the Lambda function behind the sign-in issuer's
// GET /.well-known/openid-configuration and /.well-known/jwks.json: the
// public keys of SESSION_KMS_KEY_ID and SESSION_PREVIOUS_KMS_KEY_IDS, read
// once from KMS at cold start, retried for a few seconds while a new role
// or key propagates. It refuses to start without the current key; a
// previous key it cannot read is left out, logged and counted
// (session.KeysFromEnv). It holds no secret and links no Secrets Manager
// client.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxcard/wxcard/internal/lambdainit"
	"github.com/wxcard/wxcard/internal/session"
)

func main() {
	fn := lambdainit.New("sessionkeys")
	h, err := session.KeysFromEnv(context.Background(), os.Getenv, session.Deps{Logger: fn.Logger, Metrics: fn.Metrics})
	if err != nil {
		fn.Refuse(err)
	}
	lambda.Start(h.Handle)
}
