package secret

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/wxcard/wxcard/internal/awsenv"
)

// ClientFromEnv builds the real Secrets Manager client from the environment
// Lambda gives every function (see awsenv); for tests and emulators,
// AWS_ENDPOINT_URL_SECRETS_MANAGER or AWS_ENDPOINT_URL.
func ClientFromEnv(getenv func(string) string) (*secretsmanager.Client, error) {
	env, err := awsenv.FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return secretsmanager.New(secretsmanager.Options{
		Region: env.Region, Credentials: env.Credentials, BaseEndpoint: env.Endpoint("SECRETS_MANAGER"),
	}), nil
}

// MiniProgramReader reads a mini-program secret through api as
// LoadMiniProgram does, in the shape the sign-in's cold start takes it
// (internal/session.Deps), so that a package that needs no Secrets Manager
// client need not link one.
func MiniProgramReader(api GetSecretValueAPI) func(ctx context.Context, secretID string) (appID, appSecret string, err error) {
	return func(ctx context.Context, secretID string) (string, string, error) {
		mp, err := LoadMiniProgram(ctx, api, secretID)
		if err != nil {
			return "", "", err
		}
		return mp.AppID, mp.AppSecret, nil
	}
}
