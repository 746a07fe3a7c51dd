package wxlogintest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// A long-running sandbox does not grow with every wx.login and exchange:
// codes past their life are forgotten, and only the newest records kept.
func TestMemoryBounded(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	s := NewServer(Options{Now: func() time.Time { return now }})
	t.Cleanup(s.Close)
	s.AddApp("wxapp", "secret")
	for range 100 {
		s.IssueCode("wxapp", "o1")
	}
	now = now.Add(CodeLifetime - time.Nanosecond)
	s.IssueCode("wxapp", "o1")
	assert.Len(t, s.codes, 101, "codes still alive are kept")
	now = now.Add(time.Nanosecond)
	s.IssueCode("wxapp", "o1")
	assert.Len(t, s.codes, 2, "the 100 past their life are forgotten")

	s.mu.Lock()
	for i := range MaxRecords + 5 {
		s.record(Record{ErrCode: i})
	}
	s.mu.Unlock()
	got := s.Requests()
	assert.Len(t, got, MaxRecords)
	assert.Equal(t, 5, got[0].ErrCode, "the oldest five were dropped")
	assert.Equal(t, MaxRecords+4, got[MaxRecords-1].ErrCode)
}
