// Package awsenv reads what Lambda gives every function to reach AWS: the
// region, the role's credentials, and, for tests and emulators, a service's
// endpoint. It does what config.LoadDefaultConfig would do in a Lambda
// without linking the SSO, STS and IMDS clients a Lambda never uses: the
// binaries are smaller and start faster.
package awsenv

import (
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Env is a function's AWS environment.
type Env struct {
	Region      string
	Credentials aws.CredentialsProvider
	getenv      func(string) string
}

// FromEnv reads AWS_REGION (or AWS_DEFAULT_REGION) and the role's
// credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)
// through getenv (os.Getenv in production).
func FromEnv(getenv func(string) string) (Env, error) {
	region := firstNonEmpty(getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"))
	if region == "" {
		return Env{}, errors.New("AWS_REGION is not set")
	}
	key, secretKey := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secretKey == "" {
		return Env{}, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them from the function's role)")
	}
	return Env{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(key, secretKey, getenv("AWS_SESSION_TOKEN"))),
		getenv:      getenv,
	}, nil
}

// Endpoint is the endpoint the SDK's standard variables name for a service
// (AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL), or nil for AWS's
// own. service is the variable's suffix, e.g. "DYNAMODB" or "SECRETS_MANAGER".
func (e Env) Endpoint(service string) *string {
	if ep := firstNonEmpty(e.getenv("AWS_ENDPOINT_URL_"+service), e.getenv("AWS_ENDPOINT_URL")); ep != "" {
		return aws.String(ep)
	}
	return nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
