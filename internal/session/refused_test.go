package session_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/internal/session"
)

func TestSpentCodesBounded(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	c := session.NewSpentCodes(func() time.Time { return now }, 3)
	a := &apigw.Error{Status: 401, Code: "INVALID_CODE"}
	for i := range 3 {
		c.Add(fmt.Sprint("c", i), a)
		now = now.Add(time.Second)
	}
	assert.Equal(t, 3, c.Len())
	c.Add("c3", a)
	assert.Equal(t, 3, c.Len(), "the oldest goes when full")
	assert.Nil(t, c.Lookup("c0"))
	assert.Same(t, a, c.Lookup("c1"))
	assert.Same(t, a, c.Lookup("c3"))
	// Adding the same code again keeps one entry and extends its life.
	now = now.Add(time.Minute)
	c.Add("c3", a)
	assert.Equal(t, 3, c.Len())
	assert.Equal(t, 3, c.OrderLen())
	// Expired entries go at the next add, even when not full.
	now = now.Add(session.CodeLifetime - time.Second)
	assert.Nil(t, c.Lookup("c1"))
	assert.NotNil(t, c.Lookup("c3"))
	c.Add("c4", a)
	assert.Equal(t, 2, c.Len())
	assert.Equal(t, 2, c.OrderLen())
	require.NotNil(t, c.Lookup("c4"))
}
