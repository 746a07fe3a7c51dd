package authority_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/authority"
)

// remover is the part of a store the scheduler removes brands with.
type remover interface {
	authority.Store
	Brands(ctx context.Context) (active, removed []string, err error)
	Remove(ctx context.Context, brandID string) error
	Restore(ctx context.Context, brandID string) error
}

// raceRemove removes brand once, between a check's read and its write.
type raceRemove struct {
	remover
	t     *testing.T
	brand string
	done  bool
}

func (r *raceRemove) Get(ctx context.Context, brandID string) (authority.Item, error) {
	it, err := r.remover.Get(ctx, brandID)
	if brandID == r.brand && !r.done {
		r.done = true
		require.NoError(r.t, r.Remove(ctx, brandID))
	}
	return it, err
}

// A removed brand stays removed: a check that read the snapshot before
// the removal writes nothing and publishes nothing, later checks (a
// message still queued, a redrive) leave it alone, and the list of
// covered brands omits it, until an operator adds it again and it is
// seen afresh.
func TestRemovedBrandIsNotWrittenBack(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			rm, ok := b.store.(remover)
			require.True(t, ok, "%T removes brands", b.store)
			clk := newClock()
			tr := &authority.Tracker{Store: rm, Bus: b.bus, Now: clk.Now}
			for _, id := range []string{"5001", "5002"} {
				res, err := tr.Observe(ctx, id, auth(card))
				require.NoError(t, err)
				require.Equal(t, authority.FirstSeen, res.Outcome)
			}
			require.Len(t, b.events(t, 2), 2)

			// The removal lands while a check of a change is in flight.
			clk.Add(time.Hour)
			racing := &authority.Tracker{Store: &raceRemove{remover: rm, t: t, brand: "5001"}, Bus: b.bus, Now: clk.Now}
			res, err := racing.Observe(ctx, "5001", auth(card, store))
			require.NoError(t, err)
			assert.Equal(t, authority.NotTracked, res.Outcome)
			assert.Equal(t, 0, res.Published)
			for _, obs := range []*authority.Authority{nil, auth(card)} {
				res, err = tr.Observe(ctx, "5001", obs)
				require.NoError(t, err)
				assert.Equal(t, authority.NotTracked, res.Outcome, "a later check leaves it alone")
			}
			brands, removed, err := rm.Brands(ctx)
			require.NoError(t, err)
			assert.False(t, slices.Contains(brands, "5001"), "not covered: %v", brands)
			assert.True(t, slices.Contains(brands, "5002"))
			assert.Equal(t, []string{"5001"}, removed)
			mark, err := rm.Get(ctx, "5001")
			require.NoError(t, err)
			assert.Nil(t, mark.Authority, "the authority is forgotten")
			assert.WithinDuration(t, time.Now().Add(authority.RemovedFor), mark.ExpiresAt, time.Minute, "the mark expires after RemovedFor")
			require.ErrorIs(t, rm.Remove(ctx, "5001"), authority.ErrNoSnapshot, "removed already")
			require.NoError(t, rm.Restore(ctx, "5002"), "restoring a brand not removed changes nothing")
			it, err := rm.Get(ctx, "5002")
			require.NoError(t, err)
			assert.Equal(t, authority.Authorised, it.State)

			// Added again: seen for the first time, before null.
			require.NoError(t, rm.Restore(ctx, "5001"))
			res, err = tr.Observe(ctx, "5001", auth(card, store))
			require.NoError(t, err)
			assert.Equal(t, authority.FirstSeen, res.Outcome)
			got := b.events(t, 1) // all events so far, waiting for one more
			require.Len(t, got, 3, "one event in all since the first two: the re-added brand's")
			assert.JSONEq(t, `null`, string(mustField(t, got[2].Detail, "before")))
		})
	}
}

// mustField is one field of a JSON object.
func mustField(t *testing.T, obj []byte, name string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(obj, &m))
	v, ok := m[name]
	require.True(t, ok, "field %s in %s", name, obj)
	return v
}
