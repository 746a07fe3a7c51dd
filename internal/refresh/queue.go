package refresh

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

// BatchSize is SQS's most messages in one SendMessageBatch.
const BatchSize = 10

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

// Send enqueues one message per brand, BatchSize to a call. It returns how
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
	for range min(senders, (len(brandIDs)+BatchSize-1)/BatchSize) {
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
	for i := 0; i < len(brandIDs); i += BatchSize {
		batches <- brandIDs[i:min(i+BatchSize, len(brandIDs))]
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
				entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(Message{BrandID: id}.Body())})
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

// QueueURLFromARN is the URL of the SQS queue arn names
// (arn:aws:sqs:REGION:ACCOUNT:NAME), as an SQS event's records carry it.
func QueueURLFromARN(arn string) (string, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[3] == "" || parts[4] == "" || parts[5] == "" {
		return "", fmt.Errorf("%.100q is not an SQS queue ARN", arn)
	}
	host := "sqs." + parts[3] + ".amazonaws.com"
	if parts[1] == "aws-cn" {
		host += ".cn"
	}
	return "https://" + host + "/" + parts[4] + "/" + parts[5], nil
}
