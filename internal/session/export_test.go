package session

import (
	"time"

	"github.com/wxcard/wxcard/internal/apigw"
)

// KeyRetryMax is the longest wait between reads of a key.
const KeyRetryMax = keyRetryMax

// SpentCodes exposes the spent-code memory to the tests.
type SpentCodes struct{ s *spentCodes }

func NewSpentCodes(now func() time.Time, maxEntries int) SpentCodes {
	return SpentCodes{newSpentCodes(now, maxEntries)}
}
func (c SpentCodes) Lookup(code string) *apigw.Error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.s.lookup(codeKey(code))
}
func (c SpentCodes) Add(code string, answer *apigw.Error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.s.add(codeKey(code), answer)
}
func (c SpentCodes) Len() int {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return len(c.s.byKey)
}
func (c SpentCodes) OrderLen() int {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return len(c.s.order)
}
