package refresh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/authority"
	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/pkg/membercard"
)

// Command is what the scheduler is invoked with:
//
//   - an EventBridge Scheduled Event envelope (the schedule) or {}: enqueue
//     every brand covered;
//   - {"brand_ids": [...]}: enqueue these brands now, forgetting any
//     earlier removal. Once checked, each has a snapshot and so stays
//     covered: how an operator adds brands;
//   - {"remove_brand_ids": [...]}: mark these brands' snapshots removed,
//     so that the refresh no longer covers them and no check records them
//     (authority.Removed): how an operator removes brands. A brand without
//     a snapshot is already not covered: answered in not_covered, not
//     refused.
//
// Anything else, an HTTP API event included, does not decode.
type Command struct {
	Envelope *events.EventBridgeEvent
	BrandIDs []string
	Remove   []string
	// Force enqueues every brand covered even while the queue still holds
	// a period's worth ({"force": true}): an operator's refresh now.
	Force bool
}

// maxCommandIDs bounds the brands of one command: an operator's list,
// and an invocation payload of at most 256 KB.
const maxCommandIDs = 5000

// UnmarshalJSON tells the shapes apart, strictly.
func (c *Command) UnmarshalJSON(b []byte) error {
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return errors.New("refresh command is not a JSON object")
	}
	var probe struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return fmt.Errorf("refresh command is not a JSON object: %w", err)
	}
	if probe.Source == "aws.events" || probe.Source == "aws.scheduler" {
		if probe.DetailType != "Scheduled Event" {
			return fmt.Errorf("unexpected EventBridge event %.40q", probe.DetailType)
		}
		var env events.EventBridgeEvent
		if err := json.Unmarshal(b, &env); err != nil {
			return fmt.Errorf("scheduled event envelope does not decode: %w", err)
		}
		*c = Command{Envelope: &env}
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return fmt.Errorf("refresh command is not a JSON object: %w", err)
	}
	var in Command
	for k, v := range fields {
		var dst *[]string
		switch k {
		case "brand_ids":
			dst = &in.BrandIDs
		case "remove_brand_ids":
			dst = &in.Remove
		case "force":
			if string(v) != "true" {
				return errors.New(`refresh command: force: want true`)
			}
			in.Force = true
			continue
		default:
			return fmt.Errorf(`unrecognised refresh command: key %.40q; want a Scheduled Event envelope, {}, {"brand_ids": [...]} or {"remove_brand_ids": [...]}`, k)
		}
		if err := json.Unmarshal(v, dst); err != nil || *dst == nil {
			return fmt.Errorf("%s: want a list of brand IDs", k)
		}
		if len(*dst) > maxCommandIDs {
			return fmt.Errorf("%s: %d brand IDs, at most %d in one command", k, len(*dst), maxCommandIDs)
		}
		for i, id := range *dst {
			if err := membercard.CheckID(k, id, maxBrandID); err != nil {
				return fmt.Errorf("%s[%d]: %w", k, i, err)
			}
		}
	}
	if in.BrandIDs != nil && in.Remove != nil {
		return errors.New("refresh command: brand_ids and remove_brand_ids in one command; send two")
	}
	if in.Force && (in.BrandIDs != nil || in.Remove != nil) {
		return errors.New("refresh command: force goes alone: it enqueues every brand covered")
	}
	*c = in
	return nil
}

// Snapshots are the brands the state table covers (authtable.Table).
type Snapshots interface {
	Brands(ctx context.Context) (active, removed []string, err error)
	Remove(ctx context.Context, brandID string) error
	Restore(ctx context.Context, brandID string) error
}

// Sender enqueues brands, and says how many wait (Queue).
type Sender interface {
	Send(ctx context.Context, brandIDs []string) (int, error)
	Depth(ctx context.Context) (int, error)
}

// Scheduler is the refresh's scheduled function: it enqueues, and it
// takes operators' commands.
type Scheduler struct {
	Queue     Sender
	Snapshots Snapshots
	// Listed are the brands of AUTHORITY_BRAND_IDS, always covered.
	Listed  []string
	Logger  *slog.Logger
	Metrics *metrics.Emitter // nil: no metrics
}

// Summary is what the scheduler answers.
type Summary struct {
	Listed    int `json:"listed,omitempty"`    // brands of AUTHORITY_BRAND_IDS
	Snapshots int `json:"snapshots,omitempty"` // brands with a snapshot
	Enqueued  int `json:"enqueued"`            // messages sent, one per brand
	// Waiting is what the queue held when a scheduled refresh skipped its
	// period: at least a period's worth of brands from earlier ones.
	Waiting int `json:"waiting,omitempty"`
	// Removed are the brands whose snapshots a remove command deleted.
	Removed []string `json:"removed,omitempty"`
	// NotCovered are the brands a remove command found nothing to remove
	// for: no snapshot, never checked or removed already. The command's
	// aim holds for them (the refresh does not cover them), so they are
	// not refused: a removal sent twice, or an async invoke's retry, does
	// not fail.
	NotCovered []string `json:"not_covered,omitempty"`
	// Refused are the brands a remove command kept, with why; any makes
	// the invocation fail.
	Refused map[string]string `json:"refused,omitempty"`
}

// Handle runs one command.
func (s *Scheduler) Handle(ctx context.Context, cmd Command) (*Summary, error) {
	m := s.Metrics.New("schedule")
	defer s.Metrics.Flush(m)
	if cmd.Remove != nil {
		return s.remove(ctx, cmd.Remove)
	}
	sum := &Summary{}
	brands := cmd.BrandIDs
	// An operator adding a brand undoes its removal.
	if err := s.restore(ctx, brands); err != nil {
		return sum, err
	}
	if brands == nil {
		stored, removed, err := s.Snapshots.Brands(ctx)
		if err != nil {
			// Enqueue nothing: a refresh of the listed brands alone would
			// look complete while it is not. The schedule retries.
			return sum, err
		}
		// A brand removed, then listed in AUTHORITY_BRAND_IDS: listed wins.
		var relisted []string
		for _, id := range removed {
			if slices.Contains(s.Listed, id) {
				relisted = append(relisted, id)
			}
		}
		if err := s.restore(ctx, relisted); err != nil {
			return sum, err
		}
		sum.Listed, sum.Snapshots = len(s.Listed), len(stored)
		brands = covered(s.Listed, stored, s.Logger)
		// A queue that still holds a period's worth is behind: another
		// period on top would only pile up. Skip; the backlog alarm says why.
		switch depth, err := s.Queue.Depth(ctx); {
		case err != nil:
			s.Logger.WarnContext(ctx, "refresh queue depth unknown: enqueueing anyway", "error", err.Error())
		case !cmd.Force && depth > 0 && depth >= len(brands):
			sum.Waiting = depth
			m.Count("RefreshSkipped", 1)
			s.Logger.WarnContext(ctx, "refresh skipped: the queue still holds a period's worth of brands", "waiting", depth, "brands", len(brands))
			return sum, nil
		}
	}
	n, err := s.Queue.Send(ctx, brands)
	sum.Enqueued = n
	m.Count("BrandsEnqueued", n)
	s.Logger.InfoContext(ctx, "refresh enqueued", "listed", sum.Listed, "snapshots", sum.Snapshots, "enqueued", n, "brands", len(brands))
	return sum, err
}

// restoreWorkers is how many removals restore forgets at once.
const restoreWorkers = 16

// restore forgets the removal of each brand (a no-op for one not
// removed), restoreWorkers at a time.
func (s *Scheduler) restore(ctx context.Context, brandIDs []string) error {
	ids := make(chan string)
	var (
		mu     sync.Mutex
		failed []string
		wg     sync.WaitGroup
	)
	for range min(restoreWorkers, len(brandIDs)) {
		wg.Go(func() {
			for id := range ids {
				if err := s.Snapshots.Restore(ctx, id); err != nil {
					s.Logger.ErrorContext(ctx, "forgetting a brand's removal", "brand_id", id, "error", err.Error())
					mu.Lock()
					failed = append(failed, id)
					mu.Unlock()
				}
			}
		})
	}
	for _, id := range brandIDs {
		ids <- id
	}
	close(ids)
	wg.Wait()
	if len(failed) > 0 {
		slices.Sort(failed)
		return fmt.Errorf("forgetting the removal of %d brand(s) failed (the state table; see the log), nothing enqueued: %s", len(failed), strings.Join(failed, " "))
	}
	return nil
}

// covered is listed and stored without repeats, listed first; a stored
// key that is not a well-formed brand ID (not one this program wrote) is
// skipped and logged.
func covered(listed, stored []string, logger *slog.Logger) []string {
	seen := make(map[string]bool, len(listed)+len(stored))
	out := make([]string, 0, len(listed)+len(stored))
	for _, id := range slices.Concat(listed, stored) {
		if seen[id] {
			continue
		}
		seen[id] = true
		if err := membercard.CheckID("brand_id", id, maxBrandID); err != nil {
			logger.Warn("state table: skipping a malformed authority key", "error", err.Error())
			continue
		}
		out = append(out, id)
	}
	return out
}

// remove deletes snapshots. A listed brand is refused (the next refresh
// would bring it back: remove it from AUTHORITY_BRAND_IDS first), and so
// is one whose snapshot holds events not yet published (after the next
// check it can go). One without a snapshot is not covered already.
func (s *Scheduler) remove(ctx context.Context, brandIDs []string) (*Summary, error) {
	sum := &Summary{Refused: map[string]string{}}
	seen := make(map[string]bool, len(brandIDs))
	for _, id := range brandIDs {
		// Once each: a repeat would find the snapshot it just removed gone.
		if seen[id] {
			continue
		}
		seen[id] = true
		if slices.Contains(s.Listed, id) {
			sum.Refused[id] = "is in AUTHORITY_BRAND_IDS: remove it there first"
			continue
		}
		switch err := s.Snapshots.Remove(ctx, id); {
		case err == nil:
			sum.Removed = append(sum.Removed, id)
			s.Logger.InfoContext(ctx, "brand removed from the refresh", "brand_id", id)
		case errors.Is(err, authority.ErrNoSnapshot):
			sum.NotCovered = append(sum.NotCovered, id)
			s.Logger.InfoContext(ctx, "brand not covered by the refresh: nothing to remove", "brand_id", id)
		case errors.Is(err, authority.ErrPending):
			sum.Refused[id] = "its snapshot holds events not yet published: remove it after the next refresh"
		default:
			s.Logger.ErrorContext(ctx, "removing a brand", "brand_id", id, "error", err.Error())
			sum.Refused[id] = "not removed: the state table failed (see the log)"
		}
	}
	if len(sum.Refused) == 0 {
		sum.Refused = nil
		return sum, nil
	}
	var why []string
	for _, id := range slices.Sorted(maps.Keys(sum.Refused)) {
		s.Logger.WarnContext(ctx, "brand not removed from the refresh", "brand_id", id, "reason", sum.Refused[id])
		why = append(why, id+" "+sum.Refused[id])
	}
	return sum, fmt.Errorf("refresh: %d of %d brands not removed: %s", len(why), len(seen), strings.Join(why, "; "))
}
