package member_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/pkg/membercard"
)

func TestAlwaysConfirm(t *testing.T) {
	d, err := member.AlwaysConfirm{}.Decide(context.Background(), opening)
	require.NoError(t, err)
	assert.Equal(t, member.Decision{State: membercard.ConfirmSuccess}, d, "the opening as it is: no field changed")
	require.NoError(t, d.Validate(opening))
}

func TestPacerFromEnv(t *testing.T) {
	p, err := member.PacerFromEnv(func(string) string { return "" })
	require.NoError(t, err)
	assert.Equal(t, 510*time.Millisecond, p.Interval, "4 a second across 2 invocations, with the slack")
	_, err = member.PacerFromEnv(func(k string) string {
		if k == "MEMBER_CALLS_PER_SECOND" {
			return "6"
		}
		return ""
	})
	require.ErrorContains(t, err, "MEMBER_CALLS_PER_SECOND")
}
