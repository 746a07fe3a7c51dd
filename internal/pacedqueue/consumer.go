package pacedqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/metrics"
)

// DefaultMinTimeLeft is Consumer.MinTimeLeft when unset: room for one
// message's calls, retries included, before the invocation's deadline.
const DefaultMinTimeLeft = 15 * time.Second

// Action is what becomes of a message its Handler is done with.
type Action int

const (
	// Done deletes the message: the event source mapping deletes every
	// message the answer does not list.
	Done Action = iota
	// Retry reports the message as a batch item failure: SQS delivers it
	// again, alone, and dead-letters it after the queue's maxReceiveCount,
	// toward which this delivery counts.
	Retry
	// Malformed deletes the message, counts it and logs it at ERROR: it
	// could only fail again, and five useless deliveries before the
	// dead-letter queue would help nobody. The handler logs why.
	Malformed
)

// Handler does one message's own work: it waits for the consumer's
// Pacers before every call they pace (a client's pace does, before every
// attempt), counts its own outcomes in t, and says what becomes of the
// message. An Action other than the three is taken as Retry.
type Handler interface {
	Handle(ctx context.Context, msg events.SQSMessage, t *Tally) Action
}

// HandlerFunc is a function as a Handler.
type HandlerFunc func(ctx context.Context, msg events.SQSMessage, t *Tally) Action

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, msg events.SQSMessage, t *Tally) Action {
	return f(ctx, msg, t)
}

// Tally is a batch's counts of its handler's own outcomes. The consumer
// reports each in the batch's metric line as one value, the batch's sum,
// as CloudWatch Logs Insights and the dashboards read a batch's counts,
// not one value per message. A Tally is safe for concurrent use; a nil
// Tally counts nothing.
type Tally struct {
	mu     sync.Mutex
	names  []string // in the order reported
	counts map[string]int
}

func newTally(names []string) *Tally {
	t := &Tally{counts: map[string]int{}}
	for _, name := range names {
		t.Count(name, 0)
	}
	return t
}

// Count adds n to the count called name.
func (t *Tally) Count(name string, n int) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.counts[name]; !ok {
		t.names = append(t.names, name)
	}
	t.counts[name] += n
}

// report counts the tally into m, one value a name.
func (t *Tally) report(m *metrics.Set) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, name := range t.names {
		m.Count(name, t.counts[name])
	}
}

// Labels are a consumer's words in its logs and metrics, so that a queue
// keeps the names its dashboards, alarms and README use. An empty field
// takes the default it names.
type Labels struct {
	Route string // the metric set's route dimension; default the consumer's Name
	Items string // what the messages hold, in log lines ("brands"); default "messages"
	Done  string // the log key of the messages done ("refreshed"); default "done"
	// The metrics of the messages done, failed (delivered again), left for
	// lack of time and malformed (deleted); default MessagesDone,
	// MessagesFailed, MessagesLeft and MessagesMalformed.
	DoneMetric, FailedMetric, LeftMetric, MalformedMetric string
}

func (l Labels) withDefaults(name string) Labels {
	set := func(s *string, def string) {
		if *s == "" {
			*s = def
		}
	}
	set(&l.Route, name)
	set(&l.Items, "messages")
	set(&l.Done, "done")
	set(&l.DoneMetric, "MessagesDone")
	set(&l.FailedMetric, "MessagesFailed")
	set(&l.LeftMetric, "MessagesLeft")
	set(&l.MalformedMetric, "MessagesMalformed")
	return l
}

// Consumer is a queue's function: it hands the messages of a batch to its
// Handler, in order, and reports those to deliver again, so that SQS
// delivers them again, alone, and dead-letters them after the queue's
// maxReceiveCount.
//
// Only a message whose work failed counts toward that limit. A malformed
// message is deleted at once (see Malformed). A message left for lack of
// time is sent to the queue again as a new message (Requeue) and its own
// reported done: SQS counts every receive toward maxReceiveCount, even of
// a message made visible again at once (ChangeMessageVisibility 0), so
// only a new message starts afresh.
type Consumer struct {
	// Name names the queue in log messages: "refresh" logs "refresh batch
	// done".
	Name string
	// Handler does each message's own work.
	Handler Handler
	// Valid, when set, checks each message's body before the handler sees
	// it or, left for lack of time, it is sent back: a body it refuses is
	// malformed, logged with Valid's error.
	Valid func(body string) error
	// Pacers are the paces the handler's calls wait for (one per identity
	// called); the consumer settles each after the batch, so that the
	// invocation that runs next in this one's place does not start sooner.
	Pacers []*Pacer
	// MinTimeLeft is the least time before the invocation's deadline in
	// which a message is started; 0 means DefaultMinTimeLeft.
	MinTimeLeft time.Duration
	Logger      *slog.Logger     // nil: slog.Default()
	Metrics     *metrics.Emitter // nil: no metrics
	// Requeue sends the bodies of messages left for lack of time back to
	// the queue they came from (queueURL, from the records'
	// EventSourceARN) and returns those it could not send, which are then
	// reported failed, to be delivered again. nil reports them all failed.
	// sqsqueue.Requeue is one.
	Requeue func(ctx context.Context, queueURL string, bodies []string) (unsent []string, err error)
	// Labels are the queue's words in logs and metrics.
	Labels Labels
	// Counts are names of the handler's Tally reported with every batch,
	// in this order, 0 when it counted none; other names it counts follow.
	Counts []string
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

// Handle handles one batch. Its answer lists the messages to deliver
// again: those whose work failed, and those left for lack of time that
// could not be sent to the queue again. It logs one line and writes one
// metric line per batch.
func (c *Consumer) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	if len(ev.Records) == 0 {
		// SQS never invokes with none: this is some other event.
		return resp, errors.New("not an SQS event: no Records")
	}
	log, l := c.logger(), c.Labels.withDefaults(c.Name)
	minLeft := c.MinTimeLeft
	if minLeft <= 0 {
		minLeft = DefaultMinTimeLeft
	}
	retry := func(rec events.SQSMessage) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
	}
	tally := newTally(c.Counts)
	var done, failed, malformed int
	var left []events.SQSMessage
	for i, rec := range ev.Records {
		if !c.valid(ctx, log, rec) {
			malformed++
			continue
		}
		if ctx.Err() != nil || timeLeft(ctx) < minLeft {
			left = append(left, rec)
			for _, r := range ev.Records[i+1:] {
				if !c.valid(ctx, log, r) {
					malformed++
					continue
				}
				left = append(left, r)
			}
			break
		}
		switch c.Handler.Handle(ctx, rec, tally) {
		case Done:
			done++
		case Malformed:
			malformed++
			log.ErrorContext(ctx, "malformed "+c.Name+" message deleted", "message_id", rec.MessageId)
		default:
			failed++
			retry(rec)
		}
	}
	requeued := c.sendBack(ctx, log, l, left, retry)
	for _, p := range c.Pacers {
		p.Settle(ctx)
	}

	log.InfoContext(ctx, c.Name+" batch done", l.Items, len(ev.Records), l.Done, done, "failed", failed,
		"left", len(left), "requeued", requeued, "malformed", malformed)
	m := c.Metrics.New(l.Route)
	m.Count(l.DoneMetric, done)
	m.Count(l.FailedMetric, failed)
	m.Count(l.LeftMetric, len(left))
	m.Count(l.MalformedMetric, malformed)
	tally.report(m)
	c.Metrics.Flush(m)
	return resp, nil
}

func (c *Consumer) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

// valid reports whether rec passes Valid, logging it if not: reported
// done, it is deleted, as delivered again it could only fail again.
func (c *Consumer) valid(ctx context.Context, log *slog.Logger, rec events.SQSMessage) bool {
	if c.Valid == nil {
		return true
	}
	if err := c.Valid(rec.Body); err != nil {
		log.ErrorContext(ctx, "malformed "+c.Name+" message deleted", "message_id", rec.MessageId, "error", err.Error())
		return false
	}
	return true
}

// sendBack sends the messages left for lack of time to their queue again
// as new messages, and reports as failed (delivered again, counted) those
// it could not send; it returns how many it sent.
func (c *Consumer) sendBack(ctx context.Context, log *slog.Logger, l Labels, left []events.SQSMessage, retry func(events.SQSMessage)) int {
	if len(left) == 0 {
		return 0
	}
	requeued := 0
	var queueURL string
	var err error
	if c.Requeue == nil {
		err = errors.New("no Requeue")
	} else {
		queueURL, err = QueueURLFromARN(left[0].EventSourceARN)
	}
	if err == nil {
		bodies := make([]string, len(left))
		for i, r := range left {
			bodies[i] = r.Body
		}
		var unsent []string
		unsent, err = c.Requeue(ctx, queueURL, bodies)
		requeued = len(bodies) - len(unsent)
		again := make(map[string]bool, len(unsent))
		for _, b := range unsent {
			again[b] = true
		}
		for _, r := range left {
			if again[r.Body] {
				retry(r)
			}
		}
	} else {
		for _, r := range left {
			retry(r)
		}
	}
	level, msg := slog.LevelInfo, c.Name+" batch cut short: the "+l.Items+" left are sent to the queue again"
	attrs := []slog.Attr{slog.Int("left", len(left)), slog.Int("requeued", requeued)}
	if err != nil {
		level, msg = slog.LevelWarn, c.Name+" batch cut short: "+l.Items+" not sent again are delivered again"
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	log.LogAttrs(ctx, level, msg, attrs...)
	return requeued
}

// timeLeft is the time to ctx's deadline; a very long time without one.
func timeLeft(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return time.Duration(1<<63 - 1)
}
