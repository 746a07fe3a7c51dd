// Command session is the Lambda function behind POST /session: a
// mini-program's wx.login code, exchanged with WeChat, becomes a token
// signed by the KMS key SESSION_KMS_KEY_ID (internal/session).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxcard/wxcard/internal/session"
)

func main() {
	logger := session.NewLogger(os.Stderr, os.Getenv)
	h, err := session.SignInFromEnv(context.Background(), os.Getenv, session.Deps{Logger: logger, Metrics: session.NewMetrics(os.Stdout, "session", os.Getenv)})
	if err != nil {
		session.Refuse(logger, os.Getenv, err)
	}
	lambda.Start(h.Handle)
}
