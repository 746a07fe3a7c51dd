package queue_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/refresh"
	"github.com/wxcard/wxcard/internal/refresh/queue"
)

// stubSQS enqueues what it is sent, except the entries whose brand fails
// (each failure once), and notes how many calls were in flight at once.
type stubSQS struct {
	mu       sync.Mutex
	fail     map[string]bool
	bodies   []string
	inFlight int
	most     int
	hold     chan struct{} // when set, each call waits for it
	entered  chan struct{} // when set, told of each call
}

func (s *stubSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	s.mu.Lock()
	s.inFlight++
	s.most = max(s.most, s.inFlight)
	s.mu.Unlock()
	if s.entered != nil {
		s.entered <- struct{}{}
	}
	if s.hold != nil {
		<-s.hold
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		m, err := refresh.ParseMessage(aws.ToString(e.MessageBody))
		if err != nil {
			return nil, err
		}
		if s.fail[m.BrandID] {
			delete(s.fail, m.BrandID)
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), SenderFault: false})
			continue
		}
		s.bodies = append(s.bodies, m.BrandID)
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func (s *stubSQS) GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := strconv.Itoa(len(s.bodies))
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{
		"ApproximateNumberOfMessages": n, "ApproximateNumberOfMessagesNotVisible": "2", "ApproximateNumberOfMessagesDelayed": "1"}}, nil
}

// Entries SQS failed among others are sent again, those alone: every
// brand is enqueued once.
func TestSendResendsOnlyTheFailedEntries(t *testing.T) {
	t.Parallel()
	stub := &stubSQS{fail: map[string]bool{"100003": true, "100005": true, "100009": true, "100012": true}}
	q := &queue.Queue{Client: stub, URL: "https://sqs.example/q"}
	brands := brandIDs(25)
	n, err := q.Send(context.Background(), brands)
	require.NoError(t, err)
	assert.Equal(t, 25, n)
	got := slices.Clone(stub.bodies)
	slices.Sort(got)
	assert.Equal(t, brands, got, "each brand once")
	depth, err := q.Depth(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 25+2+1, depth, "waiting, in flight and delayed")
}

// Batches go out Senders at a time, not one after the other.
func TestSendSendsBatchesConcurrently(t *testing.T) {
	t.Parallel()
	stub := &stubSQS{hold: make(chan struct{}), entered: make(chan struct{}, 1000)}
	q := &queue.Queue{Client: stub, URL: "https://sqs.example/q"}
	done := make(chan error)
	go func() {
		_, err := q.Send(context.Background(), brandIDs(1000))
		done <- err
	}()
	// No call ends before hold is closed: DefaultSenders calls entering
	// means that many in flight at once.
	for i := range queue.DefaultSenders {
		select {
		case <-stub.entered:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d batches in flight at once, want %d", i, queue.DefaultSenders)
		}
	}
	close(stub.hold)
	require.NoError(t, <-done)
	assert.Equal(t, queue.DefaultSenders, stub.most)
	assert.Len(t, stub.bodies, 1000)
}

func brandIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(100000 + i)
	}
	return out
}
