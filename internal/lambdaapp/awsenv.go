package lambdaapp

import (
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/wxcard/wxcard/internal/awsenv"
)

// SecretsManagerFromEnv builds the real Secrets Manager client from the
// environment Lambda gives every function (see awsenv); for tests and
// emulators, AWS_ENDPOINT_URL_SECRETS_MANAGER or AWS_ENDPOINT_URL.
func SecretsManagerFromEnv(getenv func(string) string) (*secretsmanager.Client, error) {
	env, err := awsenv.FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return secretsmanager.New(secretsmanager.Options{
		Region: env.Region, Credentials: env.Credentials, BaseEndpoint: env.Endpoint("SECRETS_MANAGER"),
	}), nil
}
