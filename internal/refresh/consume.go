package refresh

import (
	"context"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/authority"
	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/pacedqueue"
)

// The refresh's pace, by default: WeChat Pay allows a merchant 10 calls a
// second to product authorities; the refresh takes 8, leaving 2 for the
// GET route, across the event source mapping's maximum concurrency of 2
// (the least SQS allows).
const (
	DefaultCallsPerSecond = 8
	DefaultConcurrency    = 2
)

// MinTimeLeft is the least time before the invocation's deadline in which
// a brand is started; the brands left are sent to the queue again.
const MinTimeLeft = pacedqueue.DefaultMinTimeLeft

// Checker checks one brand (cardapi.BrandChecker).
type Checker interface {
	Check(ctx context.Context, brandID string) cardapi.BrandResult
}

// MalformedMetric counts refresh messages deleted because their body is
// not a brand (route queue).
const MalformedMetric = "MessagesMalformed"

// The refresh's own counts in each batch's metric line.
const (
	changesMetric     = "AuthorityChanges"
	revocationsMetric = "AuthorityRevocations"
)

// NewConsumer is the refresh queue's function: a pacedqueue.Consumer whose
// work on each message is check's on its brand, under the names the
// refresh's logs, metrics (route queue: BrandsRefreshed, BrandsFailed,
// BrandsLeft, MessagesMalformed, AuthorityChanges, AuthorityRevocations),
// README and alarms use. A brand that failed is delivered again; a message
// that is not a brand is deleted.
//
// The caller sets the rest: Pacers (check must wait for them before every
// call to WeChat Pay, as the deployed client does before every attempt),
// Logger, Metrics and Requeue.
func NewConsumer(check Checker) *pacedqueue.Consumer {
	return &pacedqueue.Consumer{
		Name: "refresh",
		Handler: pacedqueue.HandlerFunc(func(ctx context.Context, msg events.SQSMessage, t *pacedqueue.Tally) pacedqueue.Action {
			m, err := ParseMessage(msg.Body)
			if err != nil {
				return pacedqueue.Malformed // Valid refused it already
			}
			r := check.Check(ctx, m.BrandID)
			if !r.OK {
				return pacedqueue.Retry
			}
			switch authority.Outcome(r.Outcome) {
			case authority.Changed, authority.FirstSeen:
				t.Count(changesMetric, 1)
			case authority.RevokedNow:
				t.Count(revocationsMetric, 1)
			}
			return pacedqueue.Done
		}),
		Valid: func(body string) error {
			_, err := ParseMessage(body)
			return err
		},
		MinTimeLeft: MinTimeLeft,
		Labels: pacedqueue.Labels{Route: "queue", Items: "brands", Done: "refreshed",
			DoneMetric: "BrandsRefreshed", FailedMetric: "BrandsFailed", LeftMetric: "BrandsLeft", MalformedMetric: MalformedMetric},
		Counts: []string{changesMetric, revocationsMetric},
	}
}
