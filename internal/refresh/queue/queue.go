// Package queue is the refresh queue in Amazon SQS: the refresh.Sender
// of the deployed scheduler, and the consumer's Requeue of the brands it
// had no time for, apart from package refresh, which needs no SQS client.
package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/wxcard/wxcard/internal/awsenv"
	"github.com/wxcard/wxcard/internal/refresh"
)

// SQSAPI is the part of the SQS client the queue uses.
type SQSAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
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

// DefaultSenders is how many batches a Queue sends at once: 10,000 brands
// are 1,000 batches, a few seconds at a few milliseconds each.
const DefaultSenders = 16

// sendAttempts bounds how often an entry SQS reported failed is sent
// again (SendMessageBatch fails entries one by one, e.g. when throttled).
const sendAttempts = 3

// Queue is the refresh queue in SQS.
type Queue struct {
	Client SQSAPI
	URL    string
	// Senders is how many batches are in flight at once; 0 means
	// DefaultSenders.
	Senders int
}

// Send enqueues one message per brand, refresh.BatchSize to a call. It returns how
// many were enqueued and, if not all, an error saying how many were not
// and why. A brand sent twice (a retried call whose first answer was lost)
// is checked twice, which is harmless.
func (q *Queue) Send(ctx context.Context, brandIDs []string) (int, error) {
	senders := q.Senders
	if senders <= 0 {
		senders = DefaultSenders
	}
	batches := make(chan []string)
	var (
		mu      sync.Mutex
		sent    int
		lastErr error
		wg      sync.WaitGroup
	)
	for range min(senders, (len(brandIDs)+refresh.BatchSize-1)/refresh.BatchSize) {
		wg.Go(func() {
			for b := range batches {
				unsent, err := q.sendBatch(ctx, b)
				mu.Lock()
				sent += len(b) - len(unsent)
				if err != nil {
					lastErr = err
				}
				mu.Unlock()
			}
		})
	}
	for i := 0; i < len(brandIDs); i += refresh.BatchSize {
		batches <- brandIDs[i:min(i+refresh.BatchSize, len(brandIDs))]
	}
	close(batches)
	wg.Wait()
	if sent < len(brandIDs) {
		return sent, fmt.Errorf("refresh queue: %d of %d brands not enqueued: %w", len(brandIDs)-sent, len(brandIDs), lastErr)
	}
	return sent, nil
}

// sendBatch sends one batch, and again the entries SQS reports failed; it
// returns the brands it could not send.
func (q *Queue) sendBatch(ctx context.Context, brandIDs []string) ([]string, error) {
	pending := make(map[string]string, len(brandIDs)) // entry ID -> brand
	for i, id := range brandIDs {
		pending[strconv.Itoa(i)] = id
	}
	var lastErr error
	for range sendAttempts {
		if ctx.Err() != nil {
			break
		}
		entries := make([]types.SendMessageBatchRequestEntry, 0, len(pending))
		for i := range len(brandIDs) {
			if id, ok := pending[strconv.Itoa(i)]; ok {
				entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(refresh.Message{BrandID: id}.Body())})
			}
		}
		out, err := q.Client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.URL), Entries: entries})
		if err != nil {
			lastErr = err
			continue
		}
		for _, ok := range out.Successful {
			delete(pending, aws.ToString(ok.Id))
		}
		if len(pending) == 0 {
			return nil, nil
		}
		lastErr = errors.New("SQS answered without them")
		permanent := false
		for _, f := range out.Failed {
			lastErr = fmt.Errorf("SQS reported failed entries, e.g. %s: %s", aws.ToString(f.Code), aws.ToString(f.Message))
			permanent = permanent || f.SenderFault
		}
		if permanent {
			break // sending it again cannot help
		}
	}
	if lastErr == nil {
		lastErr = ctx.Err()
	}
	var unsent []string
	for i, id := range brandIDs {
		if _, ok := pending[strconv.Itoa(i)]; ok {
			unsent = append(unsent, id)
		}
	}
	return unsent, lastErr
}

// Requeue sends brandIDs (at most BatchSize) to the queue again as new
// messages, whose receive count starts afresh, and returns those it could
// not send.
func (q *Queue) Requeue(ctx context.Context, brandIDs []string) ([]string, error) {
	return q.sendBatch(ctx, brandIDs)
}

// FromEnv builds the refresh queue of a deployed function:
// REFRESH_QUEUE_URL, the AWS region and credentials, and
// AWS_ENDPOINT_URL_SQS for a local endpoint.
func FromEnv(getenv func(string) string) (*Queue, error) {
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

// SQSRequeue is refresh.Consumer.Requeue through an SQS client: the
// consumer's role needs sqs:SendMessage on the refresh queue.
func SQSRequeue(client SQSAPI) func(context.Context, string, []string) ([]string, error) {
	return func(ctx context.Context, queueURL string, brandIDs []string) ([]string, error) {
		return (&Queue{Client: client, URL: queueURL}).Requeue(ctx, brandIDs)
	}
}

// RequeueFromEnv is the consumer's refresh.Consumer.Requeue: an SQS client
// of the AWS region and credentials, and AWS_ENDPOINT_URL_SQS for a local
// endpoint. The queue is the one each batch came from.
func RequeueFromEnv(getenv func(string) string) (func(context.Context, string, []string) ([]string, error), error) {
	env, err := awsenv.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("AWS environment: %w", err)
	}
	return SQSRequeue(sqs.New(sqs.Options{Region: env.Region, Credentials: env.Credentials, BaseEndpoint: env.Endpoint("SQS")})), nil
}
