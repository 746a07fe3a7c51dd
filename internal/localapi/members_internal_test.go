package localapi

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/member"
)

// The local waker keeps a request's sync messages, once each, for the
// route to hand over after the handler; outside a request it refuses, so
// that Keeper.Update answers QUEUE_UNAVAILABLE and writes nothing.
func TestLocalWaker(t *testing.T) {
	for _, tc := range []struct {
		name     string
		versions []int64
		inReq    bool
		want     []string
	}{
		{"outside a request", []int64{1}, false, nil},
		{"one change", []int64{2}, true, []string{member.WakeBody(SandboxCardID, "1001", 2)}},
		{"a conflict wakes the same version again", []int64{2, 2, 3}, true,
			[]string{member.WakeBody(SandboxCardID, "1001", 2), member.WakeBody(SandboxCardID, "1001", 3)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w := &wakes{}
			if tc.inReq {
				ctx = context.WithValue(ctx, wakesKey{}, w)
			}
			for _, v := range tc.versions {
				err := localWaker{}.Wake(ctx, SandboxCardID, "1001", v)
				if !tc.inReq {
					require.ErrorIs(t, err, errNoRequest)
					continue
				}
				require.NoError(t, err)
			}
			assert.Equal(t, tc.want, w.bodies)
		})
	}
}
