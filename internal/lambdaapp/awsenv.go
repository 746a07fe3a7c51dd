package lambdaapp

import (
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// SecretsManagerFromEnv builds the real Secrets Manager client from the
// environment Lambda gives every function: AWS_REGION and the role's
// credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN),
// and, for tests and emulators, AWS_ENDPOINT_URL_SECRETS_MANAGER or
// AWS_ENDPOINT_URL. It does what config.LoadDefaultConfig would do in a
// Lambda without linking the SSO, STS and IMDS clients a Lambda never
// uses: the binaries are about 2 MB smaller and start faster.
func SecretsManagerFromEnv(getenv func(string) string) (*secretsmanager.Client, error) {
	region := firstNonEmpty(getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"))
	if region == "" {
		return nil, errors.New("AWS_REGION is not set")
	}
	key, secretKey := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secretKey == "" {
		return nil, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them from the function's role)")
	}
	opts := secretsmanager.Options{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(key, secretKey, getenv("AWS_SESSION_TOKEN"))),
	}
	if ep := firstNonEmpty(getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER"), getenv("AWS_ENDPOINT_URL")); ep != "" {
		opts.BaseEndpoint = aws.String(ep)
	}
	return secretsmanager.New(opts), nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
