package pacedqueue_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/pacedqueue"
)

func TestInterval(t *testing.T) {
	for _, tc := range []struct {
		rate, concurrency int
		want              time.Duration
	}{
		{8, 2, 255 * time.Millisecond}, {8, 3, 510 * time.Millisecond}, {10, 10, 1020 * time.Millisecond}, {8, 1, 127500 * time.Microsecond},
		{1, 2, 0}, {4, 0, 255 * time.Millisecond}, {3, -1, 340 * time.Millisecond},
	} {
		assert.Equal(t, tc.want, pacedqueue.Interval(tc.rate, tc.concurrency), "%d/s over %d", tc.rate, tc.concurrency)
	}
}

// Each consumer names its own variables and limits: here a queue whose
// API allows 5 calls a second, taking 4 over 2 invocations by default.
func TestPacerFromEnv(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want time.Duration
		err  string
	}{
		{nil, 510 * time.Millisecond, ""},
		{map[string]string{"Q_RATE": " 5 ", "Q_CONCURRENCY": "5"}, 1020 * time.Millisecond, ""},
		{map[string]string{"Q_RATE": "1", "Q_CONCURRENCY": "1"}, 1020 * time.Millisecond, ""},
		{map[string]string{"Q_RATE": "3"}, 1020 * time.Millisecond, ""}, // 3 over 2: 1 a second each
		{map[string]string{"Q_RATE": "6"}, 0, `Q_RATE is "6": want a whole number from 1 to 5 (WeChat Pay's limit)`},
		{map[string]string{"Q_RATE": "0"}, 0, `Q_RATE is "0": want a whole number from 1 to 5`},
		{map[string]string{"Q_RATE": "2.5"}, 0, `Q_RATE is "2.5"`},
		{map[string]string{"Q_CONCURRENCY": "6"}, 0, `Q_CONCURRENCY is "6": want a whole number from 1 to 5 (the most invocations at once)`},
		{map[string]string{"Q_CONCURRENCY": "0"}, 0, `Q_CONCURRENCY is "0"`},
		{map[string]string{"Q_CONCURRENCY": "x"}, 0, `Q_CONCURRENCY is "x"`},
		{map[string]string{"Q_CONCURRENCY": "5"}, 0, "Q_CONCURRENCY is 5, more than Q_RATE (4): each invocation must make at least one call a second"},
		// The default concurrency (2) is checked against the rate too.
		{map[string]string{"Q_RATE": "1"}, 0, "Q_CONCURRENCY is 2, more than Q_RATE (1)"},
	}
	for _, tc := range tests {
		got, err := pacedqueue.PacerFromEnv(func(k string) string { return tc.env[k] }, "Q_RATE", "Q_CONCURRENCY", 4, 2, 5)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, "%v", tc.env)
			assert.Nil(t, got)
			continue
		}
		require.NoError(t, err, "%v", tc.env)
		assert.Equal(t, tc.want, got.Interval, "%v", tc.env)
	}
}

// Concurrent waiters each take their own start, Interval apart; Settle
// waits for the start after the last.
func TestPacerSpacesConcurrentCallers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &pacedqueue.Pacer{Interval: 100 * time.Millisecond}
		start := time.Now()
		var mu sync.Mutex
		var got []time.Duration
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				assert.NoError(t, p.Wait(context.Background()))
				mu.Lock()
				got = append(got, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
		slices.Sort(got)
		assert.Equal(t, []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond}, got)
		p.Settle(context.Background())
		assert.Equal(t, 500*time.Millisecond, time.Since(start), "settled: the next call may start")

		// Once the pace has caught up, a call starts at once.
		time.Sleep(time.Second)
		before := time.Now()
		require.NoError(t, p.Wait(context.Background()))
		assert.Equal(t, before, time.Now())
	})
}

// A Wait or Settle whose context ends returns then; a nil Pacer or a zero
// Interval does not pace.
func TestPacerStopsWithItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &pacedqueue.Pacer{Interval: time.Minute}
		start := time.Now()
		require.NoError(t, p.Wait(context.Background())) // takes the start at 0

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		require.ErrorIs(t, p.Wait(ctx), context.DeadlineExceeded, "the next start is a minute away")
		assert.Equal(t, time.Second, time.Since(start))

		ctx, cancel = context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		p.Settle(ctx)
		assert.Equal(t, 2*time.Second, time.Since(start), "Settle gives up with its context")

		done, cancelDone := context.WithCancel(context.Background())
		cancelDone()
		var none *pacedqueue.Pacer
		require.NoError(t, none.Wait(done), "a nil pacer does not pace")
		none.Settle(context.Background())
		assert.ErrorIs(t, (&pacedqueue.Pacer{}).Wait(done), context.Canceled, "an ended context is said even when no wait is due")

		zero := &pacedqueue.Pacer{}
		for range 3 {
			require.NoError(t, zero.Wait(context.Background()))
		}
		zero.Settle(context.Background())
		assert.Equal(t, 2*time.Second, time.Since(start), "a zero Interval does not pace")
	})
}
