package sqsqueue_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/pacedqueue/sqsqueue"
)

// stubSQS enqueues what it is sent, except: the entries whose body is in
// fail, each failure once (SenderFault false: send it again); those in
// always, every time, by the sender's fault when senderFault is set; and
// answers the first callErrs calls with an error. It notes the calls and
// how many were in flight at once.
type stubSQS struct {
	mu          sync.Mutex
	fail        map[string]bool
	always      map[string]bool
	senderFault bool
	forget      bool // answer without the failed entries: neither sent nor failed
	callErrs    int
	calls       []*sqs.SendMessageBatchInput
	bodies      []string
	inFlight    int
	most        int
	hold        chan struct{} // when set, each call waits for it
	entered     chan struct{} // when set, told of each call
}

func (s *stubSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	s.mu.Lock()
	s.inFlight++
	s.most = max(s.most, s.inFlight)
	s.calls = append(s.calls, in)
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
	if s.callErrs > 0 {
		s.callErrs--
		return nil, errors.New("connection reset")
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		body := aws.ToString(e.MessageBody)
		switch {
		case s.always[body]:
			if !s.forget {
				out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InvalidParameterValue"), Message: aws.String("no"), SenderFault: s.senderFault})
			}
		case s.fail[body]:
			delete(s.fail, body)
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("try again")})
		default:
			s.bodies = append(s.bodies, body)
			out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id})
		}
	}
	return out, nil
}

func bodies(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`{"n":%d}`, 100000+i)
	}
	return out
}

// Entries SQS failed among others are sent again, those alone: every
// body is sent once, BatchSize to a call, to the queue's URL.
func TestSendResendsOnlyTheFailedEntries(t *testing.T) {
	t.Parallel()
	all := bodies(25)
	stub := &stubSQS{fail: map[string]bool{all[3]: true, all[5]: true, all[9]: true, all[12]: true}}
	unsent, err := (&sqsqueue.Queue{Client: stub, URL: "https://sqs.example/q"}).Send(context.Background(), all)
	require.NoError(t, err)
	assert.Empty(t, unsent)
	got := slices.Clone(stub.bodies)
	slices.Sort(got)
	assert.Equal(t, all, got, "each body once")
	require.Len(t, stub.calls, 5, "three batches, two of them again")
	var sizes []int
	for _, c := range stub.calls {
		assert.Equal(t, "https://sqs.example/q", aws.ToString(c.QueueUrl))
		sizes = append(sizes, len(c.Entries))
	}
	slices.Sort(sizes)
	assert.Equal(t, []int{1, 3, 5, 10, 10}, sizes, "the failed entries alone")
}

// What cannot be sent is returned, in order, with the last reason: a
// sender fault is not sent again; an entry failed by SQS, an answer
// without it or a failed call is sent again, up to three attempts; an
// ended context sends nothing.
func TestSendReturnsWhatItCouldNotSend(t *testing.T) {
	t.Parallel()
	all := bodies(23)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name  string
		stub  *stubSQS
		ctx   context.Context
		calls int
		err   string
		sent  int
	}{
		{"sender fault", &stubSQS{always: map[string]bool{all[2]: true, all[21]: true}, senderFault: true}, context.Background(), 3,
			"SQS reported failed entries, e.g. InvalidParameterValue: no", 21},
		{"failed by SQS", &stubSQS{always: map[string]bool{all[2]: true, all[21]: true}}, context.Background(), 3 + 2 + 2,
			"SQS reported failed entries, e.g. InvalidParameterValue: no", 21},
		{"answered without them", &stubSQS{always: map[string]bool{all[2]: true, all[21]: true}, forget: true}, context.Background(), 3 + 2 + 2,
			"SQS answered without them", 21},
		{"calls failed", &stubSQS{callErrs: 9}, context.Background(), 9, "connection reset", 0},
		{"one call failed", &stubSQS{callErrs: 1}, context.Background(), 4, "", 23},
		{"context ended", &stubSQS{}, cancelled, 0, "context canceled", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			unsent, err := (&sqsqueue.Queue{Client: tc.stub, URL: "https://sqs.example/q", Senders: 1}).Send(tc.ctx, all)
			assert.Len(t, tc.stub.calls, tc.calls)
			assert.Len(t, tc.stub.bodies, tc.sent)
			if tc.err == "" {
				require.NoError(t, err)
				assert.Empty(t, unsent)
				return
			}
			require.ErrorContains(t, err, tc.err)
			var want []string
			for _, b := range all {
				if !slices.Contains(tc.stub.bodies, b) {
					want = append(want, b)
				}
			}
			assert.Equal(t, want, unsent, "in order")
		})
	}
	unsent, err := (&sqsqueue.Queue{Client: &stubSQS{}}).Send(context.Background(), nil)
	require.NoError(t, err)
	assert.Empty(t, unsent, "nothing to send")
}

// Batches go out Senders at a time, not one after the other.
func TestSendSendsBatchesConcurrently(t *testing.T) {
	t.Parallel()
	for _, senders := range []int{0, 3} {
		t.Run(fmt.Sprint(senders), func(t *testing.T) {
			want := senders
			if want == 0 {
				want = sqsqueue.DefaultSenders
			}
			stub := &stubSQS{hold: make(chan struct{}), entered: make(chan struct{}, 1000)}
			q := &sqsqueue.Queue{Client: stub, URL: "https://sqs.example/q", Senders: senders}
			done := make(chan error)
			go func() {
				_, err := q.Send(context.Background(), bodies(1000))
				done <- err
			}()
			// No call ends before hold is closed: want calls entering means
			// that many in flight at once.
			for i := range want {
				select {
				case <-stub.entered:
				case <-time.After(10 * time.Second):
					t.Fatalf("only %d batches in flight at once, want %d", i, want)
				}
			}
			close(stub.hold)
			require.NoError(t, <-done)
			assert.Equal(t, want, stub.most)
			assert.Len(t, stub.bodies, 1000)
		})
	}
}

// Requeue sends to the queue it is given, as Send does.
func TestRequeue(t *testing.T) {
	t.Parallel()
	all := bodies(12)
	stub := &stubSQS{always: map[string]bool{all[11]: true}, senderFault: true}
	unsent, err := sqsqueue.Requeue(stub)(context.Background(), "https://sqs.example/refresh", all)
	require.ErrorContains(t, err, "InvalidParameterValue")
	assert.Equal(t, all[11:], unsent)
	require.Len(t, stub.calls, 2)
	assert.Equal(t, "https://sqs.example/refresh", aws.ToString(stub.calls[0].QueueUrl))

	stub = &stubSQS{}
	unsent, err = sqsqueue.Requeue(stub)(context.Background(), "https://sqs.example/refresh", all[:sqsqueue.BatchSize])
	require.NoError(t, err)
	assert.Empty(t, unsent)
	assert.Len(t, stub.calls, 1, "a full batch is one call")
}

// A deployed consumer's Requeue reaches SQS at AWS_ENDPOINT_URL_SQS (here
// moto_server's), with the AWS environment's region and credentials.
func TestRequeueFromEnv(t *testing.T) {
	t.Parallel()
	_, err := sqsqueue.RequeueFromEnv(func(string) string { return "" })
	require.ErrorContains(t, err, "AWS environment: AWS_REGION is not set")
	_, err = sqsqueue.ClientFromEnv(func(string) string { return "" })
	require.ErrorContains(t, err, "AWS environment")

	for _, s := range awstest.Stacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			url := s.NewQueue(t, "requeue")
			env := awstest.Env("http://127.0.0.1:1", map[string]string{"AWS_ENDPOINT_URL_SQS": s.Endpoint})
			requeue, err := sqsqueue.RequeueFromEnv(awstest.Getenv(env))
			require.NoError(t, err)
			unsent, err := requeue(context.Background(), url, bodies(13))
			require.NoError(t, err)
			assert.Empty(t, unsent)
			assert.Equal(t, 13, s.QueueDepth(t, url))
			assert.Equal(t, 2, s.Calls("AmazonSQS.SendMessageBatch"))
			var got []string
			for _, d := range (&awstest.EventSource{Stack: s, QueueURL: url}).Drain(t, 5, failNone) {
				got = append(got, d.Body)
			}
			slices.Sort(got)
			assert.Equal(t, bodies(13), got, "the bodies as given")
			assert.True(t, strings.HasPrefix(got[0], `{"n":`))
		})
	}
}

func failNone(events.SQSEvent) events.SQSEventResponse { return events.SQSEventResponse{} }
