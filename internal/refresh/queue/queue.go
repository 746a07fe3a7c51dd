// Package queue is the refresh queue in Amazon SQS: the refresh.Sender of
// the deployed scheduler, sending through sqsqueue, apart from package
// refresh, which needs no SQS client.
package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/wxcard/wxcard/internal/pacedqueue/sqsqueue"
	"github.com/wxcard/wxcard/internal/refresh"
)

// SQSAPI is the part of the SQS client the queue uses.
type SQSAPI interface {
	sqsqueue.SendAPI
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Queue is the refresh queue in SQS.
type Queue struct {
	Client SQSAPI
	URL    string
	// Senders is how many batches are in flight at once; 0 means
	// sqsqueue.DefaultSenders.
	Senders int
}

// Depth is about how many messages the queue holds: waiting, in flight
// and delayed (SQS's approximate counts).
func (q *Queue) Depth(ctx context.Context) (int, error) {
	names := []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible, types.QueueAttributeNameApproximateNumberOfMessagesDelayed}
	out, err := q.Client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.URL), AttributeNames: names})
	if err != nil {
		return 0, fmt.Errorf("reading the refresh queue's depth: %w", err)
	}
	n := 0
	for _, name := range names {
		v, err := strconv.Atoi(out.Attributes[string(name)])
		if err != nil {
			return 0, fmt.Errorf("the refresh queue's %s is %.20q", name, out.Attributes[string(name)])
		}
		n += v
	}
	return n, nil
}

// Send enqueues one message per brand (sqsqueue.Queue.Send). It returns
// how many were enqueued and, if not all, an error saying how many were
// not and why. A brand sent twice (a retried call whose first answer was
// lost) is checked twice, which is harmless.
func (q *Queue) Send(ctx context.Context, brandIDs []string) (int, error) {
	bodies := make([]string, len(brandIDs))
	for i, id := range brandIDs {
		bodies[i] = refresh.Message{BrandID: id}.Body()
	}
	unsent, err := (&sqsqueue.Queue{Client: q.Client, URL: q.URL, Senders: q.Senders}).Send(ctx, bodies)
	sent := len(brandIDs) - len(unsent)
	if len(unsent) > 0 {
		return sent, fmt.Errorf("refresh queue: %d of %d brands not enqueued: %w", len(unsent), len(brandIDs), err)
	}
	return sent, nil
}

// FromEnv builds the refresh queue of a deployed function:
// REFRESH_QUEUE_URL, and the SQS client of sqsqueue.ClientFromEnv.
func FromEnv(getenv func(string) string) (*Queue, error) {
	url := strings.TrimSpace(getenv("REFRESH_QUEUE_URL"))
	if url == "" {
		return nil, errors.New("REFRESH_QUEUE_URL is not set: name the SQS queue the refresh sends brands to")
	}
	c, err := sqsqueue.ClientFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return &Queue{Client: c, URL: url}, nil
}
