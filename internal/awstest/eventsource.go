package awstest

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// NewQueue creates an SQS queue on the stack's backend and returns its
// URL; the queue's name is prefix made unique (see Stacks).
func (s *Stack) NewQueue(t testing.TB, prefix string) string {
	t.Helper()
	name := unique(prefix)
	out, err := SQS(s.backend).CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("creating queue %q: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// QueueDepth is how many messages the queue holds: visible, in flight or
// delayed.
func (s *Stack) QueueDepth(t testing.TB, queueURL string) int {
	t.Helper()
	out, err := SQS(s.backend).GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL), AttributeNames: depthAttributes})
	if err != nil {
		t.Fatalf("reading the depth of %s: %v", queueURL, err)
	}
	n := 0
	for _, k := range depthAttributes {
		v, err := strconv.Atoi(out.Attributes[string(k)])
		if err != nil {
			t.Fatalf("attribute %s of %s: %q", k, queueURL, out.Attributes[string(k)])
		}
		n += v
	}
	return n
}

var depthAttributes = []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
	sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible, sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}

// EventSource stands in for a Lambda SQS event source mapping with
// ReportBatchItemFailures, one invocation at a time: it receives a batch,
// hands it to the function as an events.SQSEvent, deletes the messages
// the function did not report and makes the reported ones visible again
// at once (as their visibility timeout would, later).
type EventSource struct {
	Stack     *Stack
	QueueURL  string
	BatchSize int32 // 0 means 10
	// WaitTimeSeconds long-polls each receive, as Lambda's poller does:
	// messages sent with a delay (member.WakeDelay) are received once it
	// passed, not missed by a receive that finds the queue empty first.
	WaitTimeSeconds int32
}

// Delivery is one message as the function saw it.
type Delivery struct {
	Body         string
	ReceiveCount int
	Failed       bool
}

// Drain invokes the function until a receive finds the queue empty, or
// after at most rounds invocations, and returns every delivery in order.
func (e *EventSource) Drain(t testing.TB, rounds int, invoke func(events.SQSEvent) events.SQSEventResponse) []Delivery {
	t.Helper()
	ctx := context.Background()
	q := SQS(e.Stack.backend)
	size := e.BatchSize
	if size == 0 {
		size = 10
	}
	var out []Delivery
	for range rounds {
		got, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.QueueURL), MaxNumberOfMessages: size, WaitTimeSeconds: e.WaitTimeSeconds,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount,
				sqstypes.MessageSystemAttributeNameSentTimestamp}})
		if err != nil {
			t.Fatalf("receiving from %s: %v", e.QueueURL, err)
		}
		if len(got.Messages) == 0 {
			return out
		}
		var ev events.SQSEvent
		for _, m := range got.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{
				MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
				Attributes: m.Attributes, EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:" + Region + ":123456789012:" + e.QueueURL[strings.LastIndex(e.QueueURL, "/")+1:],
			})
		}
		resp := invoke(ev)
		failed := map[string]bool{}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		var done []sqstypes.DeleteMessageBatchRequestEntry
		for i, m := range got.Messages {
			n, _ := strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
			id := aws.ToString(m.MessageId)
			out = append(out, Delivery{Body: aws.ToString(m.Body), ReceiveCount: n, Failed: failed[id]})
			if !failed[id] {
				done = append(done, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
				continue
			}
			if _, err := q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(e.QueueURL), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
				t.Fatalf("making message %s visible again: %v", id, err)
			}
		}
		// As Lambda's event source mapping: the successes deleted in one call.
		if len(done) > 0 {
			del, err := q.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(e.QueueURL), Entries: done})
			if err != nil {
				t.Fatalf("deleting %d messages from %s: %v", len(done), e.QueueURL, err)
			}
			if len(del.Failed) > 0 {
				t.Fatalf("deleting messages from %s: %d failed: %s", e.QueueURL, len(del.Failed), aws.ToString(del.Failed[0].Message))
			}
		}
	}
	return out
}
