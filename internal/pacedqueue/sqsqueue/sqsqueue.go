// Package sqsqueue is the SQS side of a paced queue: it sends message
// bodies to a queue in batches, again the entries SQS fails, and is the
// pacedqueue.Consumer's Requeue. The refresh's scheduler sends its brands
// through it (package refresh/queue); the refresh's and the member queue's
// consumers send back through it what they had no time for. Apart from
// package pacedqueue, so that a consumer built without SQS does not link
// its client.
package sqsqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/wxcard/wxcard/internal/awsenv"
)

// SendAPI is the part of the SQS client the package uses.
type SendAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// BatchSize is SQS's most messages in one SendMessageBatch.
const BatchSize = 10

// DefaultSenders is how many batches a Queue sends at once: 10,000
// messages are 1,000 batches, a few seconds at a few milliseconds each.
const DefaultSenders = 16

// sendAttempts bounds how often an entry SQS reported failed is sent
// again (SendMessageBatch fails entries one by one, e.g. when throttled).
const sendAttempts = 3

// Queue is an SQS queue that messages are sent to.
type Queue struct {
	Client SendAPI
	URL    string
	// Senders is how many batches are in flight at once; 0 means
	// DefaultSenders.
	Senders int
}

// Send sends one message per body, BatchSize to a call, and again the
// entries SQS reports failed, unless by the sender's fault. It returns
// the bodies it could not send, in order, and then the last error met. A
// body may be sent twice (a retried call whose first answer was lost):
// its consumer must take that in its stride.
func (q *Queue) Send(ctx context.Context, bodies []string) (unsent []string, err error) {
	senders := q.Senders
	if senders <= 0 {
		senders = DefaultSenders
	}
	batches := (len(bodies) + BatchSize - 1) / BatchSize
	unsentOf := make([][]string, batches) // by batch, to keep the order
	next := make(chan int)
	var (
		mu      sync.Mutex
		lastErr error
		wg      sync.WaitGroup
	)
	for range min(senders, batches) {
		wg.Go(func() {
			for b := range next {
				u, err := q.sendBatch(ctx, bodies[b*BatchSize:min((b+1)*BatchSize, len(bodies))])
				unsentOf[b] = u
				if err != nil {
					mu.Lock()
					lastErr = err
					mu.Unlock()
				}
			}
		})
	}
	for b := range batches {
		next <- b
	}
	close(next)
	wg.Wait()
	for _, u := range unsentOf {
		unsent = append(unsent, u...)
	}
	if len(unsent) == 0 {
		return nil, nil
	}
	return unsent, lastErr
}

// sendBatch sends one batch, and again the entries SQS reports failed; it
// returns the bodies it could not send.
func (q *Queue) sendBatch(ctx context.Context, bodies []string) ([]string, error) {
	pending := make(map[string]bool, len(bodies)) // entry IDs: the bodies' indexes
	for i := range bodies {
		pending[strconv.Itoa(i)] = true
	}
	var lastErr error
	for range sendAttempts {
		if ctx.Err() != nil {
			break
		}
		entries := make([]types.SendMessageBatchRequestEntry, 0, len(pending))
		for i, body := range bodies {
			if id := strconv.Itoa(i); pending[id] {
				entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(body)})
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
	for i, body := range bodies {
		if pending[strconv.Itoa(i)] {
			unsent = append(unsent, body)
		}
	}
	return unsent, lastErr
}

// Requeue is pacedqueue.Consumer.Requeue through client: it sends the
// bodies to the queue they came from as new messages, whose receive count
// starts afresh. The consumer's role needs sqs:SendMessage on the queue.
func Requeue(client SendAPI) func(ctx context.Context, queueURL string, bodies []string) ([]string, error) {
	return func(ctx context.Context, queueURL string, bodies []string) ([]string, error) {
		return (&Queue{Client: client, URL: queueURL}).Send(ctx, bodies)
	}
}

// RequeueFromEnv is a deployed consumer's Requeue: an SQS client (see
// ClientFromEnv) sending to the queue each batch came from.
func RequeueFromEnv(getenv func(string) string) (func(ctx context.Context, queueURL string, bodies []string) ([]string, error), error) {
	c, err := ClientFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return Requeue(c), nil
}

// ClientFromEnv is the SQS client of a deployed function: the AWS region
// and credentials, and AWS_ENDPOINT_URL_SQS for a local endpoint.
func ClientFromEnv(getenv func(string) string) (*sqs.Client, error) {
	env, err := awsenv.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("AWS environment: %w", err)
	}
	return sqs.New(sqs.Options{Region: env.Region, Credentials: env.Credentials, BaseEndpoint: env.Endpoint("SQS")}), nil
}
