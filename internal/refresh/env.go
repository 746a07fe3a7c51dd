package refresh

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/wxcard/wxcard/internal/awsenv"
)

// QueueFromEnv builds the refresh queue of a deployed function:
// REFRESH_QUEUE_URL, the AWS region and credentials, and
// AWS_ENDPOINT_URL_SQS for a local endpoint.
func QueueFromEnv(getenv func(string) string) (*Queue, error) {
	url := strings.TrimSpace(getenv("REFRESH_QUEUE_URL"))
	if url == "" {
		return nil, errors.New("REFRESH_QUEUE_URL is not set: name the SQS queue the refresh sends brands to")
	}
	env, err := awsenv.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("AWS environment: %w", err)
	}
	c := sqs.New(sqs.Options{Region: env.Region, Credentials: env.Credentials, BaseEndpoint: env.Endpoint("SQS")})
	return &Queue{Client: c, URL: url}, nil
}

// IntervalFromEnv is the consumer's pace from REFRESH_CALLS_PER_SECOND
// (default DefaultCallsPerSecond; 1 to 10, WeChat Pay's limit) and
// REFRESH_CONCURRENCY (the event source mapping's maximum concurrency,
// default DefaultConcurrency; 1 to REFRESH_CALLS_PER_SECOND, so that each
// invocation may make at least one call a second). The template sets both
// from the same parameters as the mapping.
func IntervalFromEnv(getenv func(string) string) (time.Duration, error) {
	rate, err := intFromEnv(getenv, "REFRESH_CALLS_PER_SECOND", DefaultCallsPerSecond, 10, "WeChat Pay's limit")
	if err != nil {
		return 0, err
	}
	concurrency, err := intFromEnv(getenv, "REFRESH_CONCURRENCY", DefaultConcurrency, rate, "REFRESH_CALLS_PER_SECOND")
	if err != nil {
		return 0, err
	}
	return Interval(rate, concurrency), nil
}

func intFromEnv(getenv func(string) string, name string, def, most int, why string) (int, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > most {
		return 0, fmt.Errorf("%s is %.20q: want a whole number from 1 to %d (%s)", name, v, most, why)
	}
	return n, nil
}
