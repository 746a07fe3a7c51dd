package refresh_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/awstest"
)

// What SQS does with the refresh queue's traffic, as moto_server answers
// it. Where moto differs from AWS, the test says so and asserts moto's
// answer, so that a change of moto's is noticed.
func TestQueueOnMoto(t *testing.T) {
	t.Parallel()
	s := awstest.Stacks(t)[0]
	q := awstest.SQS(s.Endpoint)
	ctx := context.Background()

	t.Run("redrive after maxReceiveCount", func(t *testing.T) {
		// As AWS: a message received maxReceiveCount times and not deleted
		// moves to the dead-letter queue (template.yaml: 5 for the refresh).
		dlq := s.NewQueue(t, "refresh-dlq")
		arn, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(dlq), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		require.NoError(t, err)
		url := s.NewQueue(t, "refresh-redriven")
		_, err = q.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: map[string]string{
			"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"2"}`, arn.Attributes["QueueArn"]),
		}})
		require.NoError(t, err)
		_, err = q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(`{"brand_id":"1004"}`)})
		require.NoError(t, err)
		failing := &awstest.EventSource{Stack: s, QueueURL: url}
		var counts []int
		for _, d := range failing.Drain(t, 5, failAll) {
			counts = append(counts, d.ReceiveCount)
		}
		assert.Equal(t, []int{1, 2}, counts, "received twice, then gone from the queue")
		assert.Equal(t, 0, s.QueueDepth(t, url))
		assert.Equal(t, 1, s.QueueDepth(t, dlq))
	})

	t.Run("a body with NUL", func(t *testing.T) {
		// AWS refuses a body with a character outside #x9 | #xA | #xD |
		// #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF
		// (InvalidMessageContents, SendMessage API reference). moto accepts
		// it: the refresh's messages are JSON that Go's encoder escapes.
		url := s.NewQueue(t, "refresh-nul")
		_, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("a\x00b")})
		require.NoError(t, err)
	})

	t.Run("a failed batch entry", func(t *testing.T) {
		// On AWS an entry the sender got wrong (a delay over 900 s) fails
		// alone, with SenderFault true, and the others are sent; AWS also
		// reports entries failed by its own fault (SenderFault false: send
		// them again). moto never reports the latter, and answers the
		// former with SenderFault as the string "true", which the SDK
		// refuses to read: both paths are tested with an answer the proxy
		// injects (TestSendRetriesFailedEntries). An entry over 1 MiB is no
		// entry failure: the whole call is refused (BatchRequestTooLong).
		url := s.NewQueue(t, "refresh-batch")
		_, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []sqstypes.SendMessageBatchRequestEntry{
			{Id: aws.String("ok"), MessageBody: aws.String(`{"brand_id":"1004"}`)},
			{Id: aws.String("late"), MessageBody: aws.String(`{"brand_id":"1005"}`), DelaySeconds: 1800},
		}})
		require.ErrorContains(t, err, `deserialization failed, expected bool, got "true"`)
		assert.Equal(t, 1, s.QueueDepth(t, url), "the good entry was sent")

		_, err = q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []sqstypes.SendMessageBatchRequestEntry{
			{Id: aws.String("big"), MessageBody: aws.String(strings.Repeat("x", 1<<20+1))},
		}})
		require.ErrorContains(t, err, "BatchRequestTooLong")
	})
}

// failAll reports every message of the batch failed.
func failAll(ev events.SQSEvent) events.SQSEventResponse {
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
	}
	return resp
}
