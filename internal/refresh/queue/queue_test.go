package queue_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/refresh"
	"github.com/wxcard/wxcard/internal/refresh/queue"
)

// fakeSQS holds the brands sent to it, one call at a time (Senders 1),
// or refuses every call with err; its attributes are attrs, or else the
// count held with 2 in flight and 1 delayed.
type fakeSQS struct {
	err    error
	attrs  map[string]string
	mu     sync.Mutex // the queue sends batches concurrently
	brands []string
}

func (s *fakeSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	if s.err != nil {
		return nil, s.err
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		m, err := refresh.ParseMessage(aws.ToString(e.MessageBody))
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.brands = append(s.brands, m.BrandID)
		s.mu.Unlock()
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func (s *fakeSQS) GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.attrs != nil {
		return &sqs.GetQueueAttributesOutput{Attributes: s.attrs}, nil
	}
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{
		"ApproximateNumberOfMessages": strconv.Itoa(len(s.brands)), "ApproximateNumberOfMessagesNotVisible": "2", "ApproximateNumberOfMessagesDelayed": "1"}}, nil
}

// Every brand goes to the queue as its message; the depth counts what
// waits, is in flight and is delayed.
func TestSendAndDepth(t *testing.T) {
	t.Parallel()
	fake := &fakeSQS{}
	q := &queue.Queue{Client: fake, URL: "https://sqs.example/q", Senders: 1}
	brands := brandIDs(25)
	n, err := q.Send(context.Background(), brands)
	require.NoError(t, err)
	assert.Equal(t, 25, n)
	assert.Equal(t, brands, fake.brands)
	depth, err := q.Depth(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 25+2+1, depth, "waiting, in flight and delayed")
}

// What cannot be sent or read is said, with how many brands and why.
func TestSendAndDepthFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		fake       *fakeSQS
		send, read string
	}{
		{"refused", &fakeSQS{err: errors.New("throttled")}, "refresh queue: 12 of 12 brands not enqueued: throttled", "reading the refresh queue's depth: throttled"},
		{"odd depth", &fakeSQS{attrs: map[string]string{"ApproximateNumberOfMessages": "many"}}, "",
			`the refresh queue's ApproximateNumberOfMessages is "many"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &queue.Queue{Client: tc.fake, URL: "https://sqs.example/q"}
			n, err := q.Send(context.Background(), brandIDs(12))
			if tc.send == "" {
				require.NoError(t, err)
				assert.Equal(t, 12, n)
			} else {
				require.EqualError(t, err, tc.send)
				assert.Zero(t, n)
			}
			_, err = q.Depth(context.Background())
			require.EqualError(t, err, tc.read)
		})
	}
}

// The deployed scheduler's queue is REFRESH_QUEUE_URL, reached with the
// AWS environment.
func TestFromEnv(t *testing.T) {
	t.Parallel()
	_, err := queue.FromEnv(func(string) string { return "" })
	require.ErrorContains(t, err, "REFRESH_QUEUE_URL is not set")
	_, err = queue.FromEnv(func(k string) string { return map[string]string{"REFRESH_QUEUE_URL": "https://sqs.example/q"}[k] })
	require.ErrorContains(t, err, "AWS environment")
	q, err := queue.FromEnv(func(k string) string {
		return map[string]string{"REFRESH_QUEUE_URL": " https://sqs.example/q ", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}[k]
	})
	require.NoError(t, err)
	assert.Equal(t, "https://sqs.example/q", q.URL)
}

func brandIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(100000 + i)
	}
	return out
}
