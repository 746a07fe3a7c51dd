package idempotency

import (
	"context"
	"sync"
	"time"
)

// Memory keeps the records in memory, for the local runner and tests. It
// has the Table's semantics.
type Memory struct {
	mu      sync.Mutex
	records map[string]record
}

type record struct {
	status, token string
	expiry        time.Time
}

// Claim implements Store.
func (m *Memory) Claim(_ context.Context, key string, now time.Time, ttl time.Duration) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.records[key]; ok {
		if r.status == Completed {
			return "", ErrDone
		}
		if !r.expiry.Before(now) {
			return "", ErrBusy
		}
	}
	if m.records == nil {
		m.records = map[string]record{}
	}
	token := newToken()
	m.records[key] = record{status: InProgress, token: token, expiry: now.Add(ttl)}
	return token, nil
}

// Complete implements Store.
func (m *Memory) Complete(_ context.Context, key, token string, _ time.Time, _ time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[key]
	if !ok || r.token != token {
		return ErrLost
	}
	m.records[key] = record{status: Completed, token: token}
	return nil
}

// Release implements Store.
func (m *Memory) Release(_ context.Context, key, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.records[key]; ok && r.token == token && r.status == InProgress {
		delete(m.records, key)
	}
	return nil
}
