// Command session is the Lambda function behind POST /session: a
// mini-program's wx.login code, exchanged with WeChat, becomes a token
// signed by the KMS key SESSION_KMS_KEY_ID (internal/session).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxcard/wxcard/internal/lambdainit"
	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/internal/session"
)

func main() {
	fn := lambdainit.New("session")
	sm, err := secret.ClientFromEnv(os.Getenv)
	if err != nil {
		fn.Refuse(fmt.Errorf("AWS environment: %w", err))
	}
	h, err := session.SignInFromEnv(context.Background(), os.Getenv, session.Deps{ReadMiniProgram: secret.MiniProgramReader(sm), Logger: fn.Logger, Metrics: fn.Metrics})
	if err != nil {
		fn.Refuse(err)
	}
	lambda.Start(h.Handle)
}
