package pacedqueue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/internal/pacedqueue"
)

const arn = "arn:aws:sqs:us-east-1:123456789012:wxcard-Queue-X"

// batch is an SQS event of one message per body, each message's ID
// "m-" and its body, from the queue arn.
func batch(bodies ...string) events.SQSEvent {
	var ev events.SQSEvent
	for _, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: "m-" + b, Body: b, EventSourceARN: arn})
	}
	return ev
}

// numbered is n bodies, "body 0" onward.
func numbered(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprint("body ", i))
	}
	return out
}

func failures(bodies ...string) []events.SQSBatchItemFailure {
	var out []events.SQSBatchItemFailure
	for _, b := range bodies {
		out = append(out, events.SQSBatchItemFailure{ItemIdentifier: "m-" + b})
	}
	return out
}

// scripted answers each message by its body's first word: "done",
// "retry", "malformed" or a number (an Action outside the three); it
// counts one "Seen" per message and notes the bodies it was handed.
type scripted struct {
	mu   sync.Mutex
	seen []string
}

func (s *scripted) Handle(_ context.Context, msg events.SQSMessage, t *pacedqueue.Tally) pacedqueue.Action {
	s.mu.Lock()
	s.seen = append(s.seen, msg.Body)
	s.mu.Unlock()
	t.Count("Seen", 1)
	word, _, _ := strings.Cut(msg.Body, " ")
	switch word {
	case "done":
		return pacedqueue.Done
	case "retry":
		return pacedqueue.Retry
	case "malformed":
		return pacedqueue.Malformed
	}
	var a int
	_, _ = fmt.Sscan(word, &a)
	return pacedqueue.Action(a)
}

// validWords refuses a body starting "bad".
func validWords(body string) error {
	if strings.HasPrefix(body, "bad") {
		return errors.New("a bad body")
	}
	return nil
}

// logged is a slog.Handler keeping each line's level, message and
// attributes, as text.
type logged struct {
	mu    sync.Mutex
	lines []map[string]string
}

func (l *logged) logger() *slog.Logger { return slog.New(l) }

func (l *logged) Enabled(context.Context, slog.Level) bool { return true }

func (l *logged) Handle(_ context.Context, r slog.Record) error {
	line := map[string]string{"level": r.Level.String(), "msg": r.Message}
	r.Attrs(func(a slog.Attr) bool {
		line[a.Key] = a.Value.String()
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	return nil
}

// The consumer's logger has neither attributes nor groups of its own.
func (l *logged) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logged) WithGroup(string) slog.Handler      { return l }

// emitter writes metric lines to out, stamped with a time metrics.Parse
// accepts even in synctest's bubble (whose clock starts in 2000).
func emitter(out *strings.Builder) *metrics.Emitter {
	return &metrics.Emitter{Out: out, Function: "f", Now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
}

// metricLine reads back the one metric line written to out.
func metricLine(t *testing.T, out *strings.Builder) *metrics.Record {
	t.Helper()
	recs, err := metrics.ParseLog([]byte(out.String()))
	require.NoError(t, err)
	require.Len(t, recs, 1)
	return recs[0]
}
