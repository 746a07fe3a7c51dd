package pacedqueue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/pacedqueue"
)

// Whatever a batch holds and however its invocation ends, every message
// is accounted for once: done, failed, left or malformed; the answer
// lists exactly those that failed and those left that could not be sent
// back. Each byte of script is a message: its low two bits what its
// handler answers (0 Done, 1 Retry, 2 Malformed) or, 3, a body Valid
// refuses; bit 2 ends the invocation once it is handled; bit 3 makes it
// one Requeue cannot send.
func FuzzConsumer(f *testing.F) {
	for _, seed := range [][]byte{{0}, {0, 1, 2, 3}, {4, 0, 1, 3, 8, 9}, {1, 5, 3, 8, 0}, {7, 4, 3}, {0x0c, 0, 8}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) == 0 || len(script) > 50 {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		code := func(body string) byte {
			var i, b int
			_, err := fmt.Sscan(body, &i, &b)
			require.NoError(t, err)
			return byte(b)
		}
		var handled []string
		var out strings.Builder
		c := &pacedqueue.Consumer{Name: "q", Logger: slog.New(slog.DiscardHandler), Metrics: emitter(&out),
			Valid: func(body string) error {
				if code(body)&3 == 3 {
					return errors.New("refused")
				}
				return nil
			},
			Handler: pacedqueue.HandlerFunc(func(_ context.Context, msg events.SQSMessage, _ *pacedqueue.Tally) pacedqueue.Action {
				handled = append(handled, msg.Body)
				b := code(msg.Body)
				if b&4 != 0 {
					cancel()
				}
				return pacedqueue.Action(b & 3)
			}),
			Requeue: func(_ context.Context, _ string, bodies []string) ([]string, error) {
				var unsent []string
				for _, body := range bodies {
					if code(body)&8 != 0 {
						unsent = append(unsent, body)
					}
				}
				return unsent, nil
			},
		}
		var ev events.SQSEvent
		var wantHandled, wantFailed, leftUnsent []string
		var done, failed, left, malformed int
		ended := false
		for i, b := range script {
			body := fmt.Sprintf("%d %d", i, b)
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: body, Body: body, EventSourceARN: arn})
			switch {
			case b&3 == 3:
				malformed++
			case ended:
				left++
				if b&8 != 0 {
					leftUnsent = append(leftUnsent, body)
				}
			default:
				wantHandled = append(wantHandled, body)
				switch b & 3 {
				case 0:
					done++
				case 1:
					failed++
					wantFailed = append(wantFailed, body)
				case 2:
					malformed++
				}
				ended = b&4 != 0
			}
		}
		resp, err := c.Handle(ctx, ev)
		require.NoError(t, err)
		assert.Equal(t, wantHandled, handled)
		var got []string
		for _, f := range resp.BatchItemFailures {
			got = append(got, f.ItemIdentifier)
		}
		assert.Equal(t, slices.Concat(wantFailed, leftUnsent), got)
		assert.Equal(t, map[string][]float64{"MessagesDone": {float64(done)}, "MessagesFailed": {float64(failed)},
			"MessagesLeft": {float64(left)}, "MessagesMalformed": {float64(malformed)}}, metricLine(t, &out).Values)
		assert.Equal(t, len(script), done+failed+left+malformed)
	})
}

// An event's ARN is untrusted: whatever it holds, the answer is an SQS
// queue URL of its parts, or an error.
func FuzzQueueURLFromARN(f *testing.F) {
	for _, seed := range []string{"arn:aws:sqs:us-east-1:123456789012:q", "arn:aws-cn:sqs:cn-north-1:1:q", "arn:aws:sqs:::", "arn:aws:sqs:r:a:q:x", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, arn string) {
		url, err := pacedqueue.QueueURLFromARN(arn)
		if err != nil {
			assert.Empty(t, url)
			return
		}
		parts := strings.Split(arn, ":")
		require.Len(t, parts, 6)
		suffix := ".amazonaws.com"
		if parts[1] == "aws-cn" {
			suffix += ".cn"
		}
		assert.Equal(t, "https://sqs."+parts[3]+suffix+"/"+parts[4]+"/"+parts[5], url)
	})
}
