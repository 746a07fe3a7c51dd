package member

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/pacedqueue"
)

// The member queue's own metrics, per batch (dimension route "members"),
// beside the consumer's (Labels).
const (
	JoinedMetric      = "MembersJoined"
	RefusedMetric     = "MembersRefused"
	FailedMetric      = "MembersFailed" // WeChat Pay refused a confirmation for good: alarmed
	LeftMetric        = "MembersLeft"
	DuplicateMetric   = "MemberDuplicates"
	DecisionErrMetric = "MemberDecisionErrors"
	UpdatedMetric     = "MembersUpdated"
	UpdateFailMetric  = "MemberUpdatesFailed" // WeChat Pay refused a change for good: alarmed
	ActivatedMetric   = "MembersActivated"
	PointsMetric      = "MemberPointsSynced"
	StaleMetric       = "MemberSyncsStale"
)

// Counts are the queue's own metrics, reported with every batch.
var Counts = []string{JoinedMetric, RefusedMetric, FailedMetric, LeftMetric, DuplicateMetric, DecisionErrMetric,
	UpdatedMetric, UpdateFailMetric, ActivatedMetric, PointsMetric, StaleMetric}

// StaleAfter is how long a sync message for a version not stored may wait
// for its write: the member API writes within its own timeout of the
// message, so an older one is of a change that was never accepted.
const StaleAfter = time.Minute

// Labels are the member queue's words in the consumer's logs and metrics:
// MemberRetries counts the deliveries to come again (a transient failure,
// a member in flight, a decision that failed).
var Labels = pacedqueue.Labels{Route: "members", Items: "members", Done: "handled",
	DoneMetric: "MemberMessagesHandled", FailedMetric: "MemberRetries", LeftMetric: "MemberMessagesLeft", MalformedMetric: "MemberMessagesMalformed"}

// Queue is the member queue's per-message work (a pacedqueue.Handler):
// it parses the message and hands it to the Keeper.
type Queue struct {
	Keeper *Keeper
	Logger *slog.Logger
	// Park, when set, sends the message of a member WeChat Pay refused to
	// confirm (FAILED) to the dead-letter queue, to be redriven once the
	// cause is fixed: a FAILED member is tried again when its opening
	// comes again. A message it cannot park is delivered again instead.
	Park func(ctx context.Context, body string) error
}

// MinTimeLeft is the least time before the invocation's deadline in which
// the members function starts a message: one member may take a decision
// (DecisionTimeout), a user-card read and a confirmation of up to three
// attempts, with room to answer the batch after.
const MinTimeLeft = 45 * time.Second

// Ref names a member in logs without its card code (which, with the card,
// opens the member's card): the first 12 hex digits of the SHA-256 of its
// key.
func Ref(cardID, userCardCode string) string {
	sum := sha256.Sum256([]byte(Key(cardID, userCardCode)))
	return hex.EncodeToString(sum[:6])
}

// sentBefore reports whether SQS took the message before t (its
// SentTimestamp attribute, in milliseconds); a message without one is new.
func sentBefore(rec events.SQSMessage, t time.Time) bool {
	ms, err := strconv.ParseInt(rec.Attributes["SentTimestamp"], 10, 64)
	return err == nil && time.UnixMilli(ms).Before(t)
}

// Valid reports whether body is a member message (pacedqueue.Consumer.Valid).
func Valid(body string) error {
	_, err := ParseMessage(body)
	return err
}

// Handle handles one message: one structured line, and the batch's counts.
func (q *Queue) Handle(ctx context.Context, rec events.SQSMessage, m *pacedqueue.Tally) pacedqueue.Action {
	msg, err := ParseMessage(rec.Body)
	if err != nil {
		q.Logger.ErrorContext(ctx, "malformed member message deleted", "message_id", rec.MessageId, "error", err.Error())
		return pacedqueue.Malformed
	}
	o := msg.Opening
	attrs := []slog.Attr{slog.String("event_type", msg.EventType), slog.String("source", string(msg.Source)),
		slog.String("card_id", o.CardID), slog.String("member", Ref(o.CardID, o.UserCardCode)),
		slog.String("notification_id", msg.NotificationID), slog.String("message_id", rec.MessageId)}
	var out Outcome
	switch msg.Kind {
	case Opened:
		out, err = q.Keeper.Open(ctx, msg.Source, o)
	case Removed:
		out, err = q.Keeper.Delete(ctx, msg.Source, o)
	case PointsAsked:
		out, err = q.Keeper.AnswerPoints(ctx, o, msg.NotificationID)
	case OpenActivated:
		out, err = q.Keeper.AutoActivated(ctx, o)
	case SyncAsked:
		var res SyncResult
		res, err = q.Keeper.Sync(ctx, o.CardID, o.UserCardCode, msg.Version)
		m.Count(UpdatedMetric, res.Updated)
		m.Count(UpdateFailMetric, res.Failed)
		attrs = append(attrs, slog.Int64("version", msg.Version), slog.Int("updated", res.Updated), slog.Int("update_failed", res.Failed))
		out = Updated
		switch {
		case res.Failed > 0:
			out = UpdateFailed
		case res.Updated == 0:
			out = Duplicate
		}
		if errors.Is(err, ErrNotWritten) && sentBefore(rec, time.Now().Add(-StaleAfter)) {
			// The change this message was sent for was never written.
			m.Count(StaleMetric, 1)
			q.Logger.LogAttrs(ctx, slog.LevelInfo, "member sync message of a change never written deleted", append(attrs, slog.String("outcome", "stale"))...)
			return pacedqueue.Done
		}
	}
	if err != nil {
		level, result := slog.LevelWarn, "retry"
		var de *DecisionError
		switch {
		case errors.As(err, &de):
			result, level = "decision_error", slog.LevelError
			m.Count(DecisionErrMetric, 1)
		case errors.Is(err, ErrInFlight):
			result, level = "in_flight", slog.LevelInfo
		case errors.Is(err, ErrNotWritten):
			result, level = "not_written_yet", slog.LevelInfo
		case errors.Is(err, ErrNoIdentity):
			level = slog.LevelError
		}
		q.Logger.LogAttrs(ctx, level, "member message delivered again", append(attrs, slog.String("outcome", result), slog.String("error", err.Error()))...)
		return pacedqueue.Retry
	}
	level := slog.LevelInfo
	switch out {
	case Joined:
		m.Count(JoinedMetric, 1)
	case JoinRefused:
		m.Count(RefusedMetric, 1)
	case JoinFailed:
		m.Count(FailedMetric, 1)
		level = slog.LevelError
		if q.Park != nil {
			if err := q.Park(ctx, rec.Body); err != nil {
				q.Logger.LogAttrs(ctx, slog.LevelError, "failed member not parked in the dead-letter queue: delivered again", append(attrs, slog.String("error", err.Error()))...)
				return pacedqueue.Retry
			}
			attrs = append(attrs, slog.Bool("parked", true))
		}
	case Left:
		m.Count(LeftMetric, 1)
	case UpdateFailed:
		level = slog.LevelError
	case Activated:
		m.Count(ActivatedMetric, 1)
	case PointsSynced:
		m.Count(PointsMetric, 1)
	case Duplicate, NotOpened:
		m.Count(DuplicateMetric, 1)
	}
	q.Logger.LogAttrs(ctx, level, "member "+string(out), append(attrs, slog.String("outcome", string(out)))...)
	return pacedqueue.Done
}
