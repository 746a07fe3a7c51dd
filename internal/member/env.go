package member

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/wxcard/wxcard/internal/pacedqueue"
	"github.com/wxcard/wxcard/internal/pacedqueue/sqsqueue"
)

// ParkFromEnv is Queue.Park through SQS: MEMBER_DEAD_LETTER_QUEUE_URL
// (the member queue's dead-letter queue), the AWS region and credentials,
// and AWS_ENDPOINT_URL_SQS for a local endpoint.
func ParkFromEnv(getenv func(string) string) (func(ctx context.Context, body string) error, error) {
	url := strings.TrimSpace(getenv("MEMBER_DEAD_LETTER_QUEUE_URL"))
	if url == "" {
		return nil, errors.New("MEMBER_DEAD_LETTER_QUEUE_URL is not set: name the member queue's dead-letter queue, where failed members wait for a redrive")
	}
	c, err := sqsqueue.ClientFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	q := &sqsqueue.Queue{Client: c, URL: url}
	return func(ctx context.Context, body string) error {
		_, err := q.Send(ctx, []string{body})
		return err
	}, nil
}

// The pace of confirmations, by default: WeChat Pay allows 5 a second per
// brand and per service provider; the members function takes 4, across
// the event source mapping's maximum concurrency of 2 (the least SQS
// allows).
const (
	DefaultCallsPerSecond = 4
	DefaultConcurrency    = 2
)

// PacerFromEnv is one identity's pace from MEMBER_CALLS_PER_SECOND
// (default DefaultCallsPerSecond, at most 5) and MEMBER_CONCURRENCY
// (default DefaultConcurrency): every call to WeChat Pay as that identity,
// each attempt and each user-card query included, waits for it.
func PacerFromEnv(getenv func(string) string) (*pacedqueue.Pacer, error) {
	return pacedqueue.PacerFromEnv(getenv, "MEMBER_CALLS_PER_SECOND", "MEMBER_CONCURRENCY", DefaultCallsPerSecond, DefaultConcurrency, 5)
}

// WakeDelay holds a sync message back from the members function long
// enough for the write it is sent before to land (milliseconds): a message
// that still comes first is delivered again.
const WakeDelay = 2 * time.Second

// SendAPI is the SQS call a QueueWaker makes.
type SendAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// QueueWaker is a Waker through the member queue.
type QueueWaker struct {
	Client SendAPI
	URL    string
}

// Wake sends the sync message, held back WakeDelay.
func (w *QueueWaker) Wake(ctx context.Context, cardID, code string, version int64) error {
	_, err := w.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(w.URL), MessageBody: aws.String(WakeBody(cardID, code, version)),
		DelaySeconds: int32(WakeDelay / time.Second)})
	return err
}

// WakerFromEnv is a QueueWaker of MEMBER_QUEUE_URL (the member queue), the
// AWS region and credentials, and AWS_ENDPOINT_URL_SQS for a local
// endpoint.
func WakerFromEnv(getenv func(string) string) (*QueueWaker, error) {
	url := strings.TrimSpace(getenv("MEMBER_QUEUE_URL"))
	if url == "" {
		return nil, errors.New("MEMBER_QUEUE_URL is not set: name the member queue, through which functions/members syncs each change")
	}
	c, err := sqsqueue.ClientFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return &QueueWaker{Client: c, URL: url}, nil
}
