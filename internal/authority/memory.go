package authority

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Memory is a Store in memory, with the same conditional writes as the
// table: what `make run` uses. It keeps ExpiresAt but deletes nothing:
// the process of `make run` does not live as long as RevokedFor.
type Memory struct {
	mu    sync.Mutex
	items map[string]Item
}

func (m *Memory) version(brandID string) int64 { return m.items[brandID].Version }

func clone(it Item) Item {
	if it.Authority != nil {
		a := *it.Authority
		a.AuthorizationProduct = slices.Clone(a.AuthorizationProduct)
		it.Authority = &a
	}
	it.Pending = slices.Clone(it.Pending)
	return it
}

// Get returns the brand's item.
func (m *Memory) Get(_ context.Context, brandID string) (Item, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.items[brandID]
	if !ok {
		return Item{BrandID: brandID}, nil
	}
	return clone(it), nil
}

// Put replaces the item if its version is still expect.
func (m *Memory) Put(_ context.Context, it Item, expect int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.version(it.BrandID) != expect {
		return ErrConflict
	}
	if m.items == nil {
		m.items = map[string]Item{}
	}
	m.items[it.BrandID] = clone(it)
	return nil
}

// Touch records a check that changed nothing.
func (m *Memory) Touch(_ context.Context, brandID string, checkedAt time.Time, updateTime string, expiresAt time.Time, expect int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.version(brandID) != expect || expect == 0 {
		return ErrConflict
	}
	it := clone(m.items[brandID])
	it.CheckedAt = checkedAt
	if updateTime != "" && it.Authority != nil {
		it.Authority.UpdateTime = updateTime
	}
	if !expiresAt.IsZero() {
		it.ExpiresAt = expiresAt
	}
	m.items[brandID] = it
	return nil
}

// ClearPending removes the pending events if pendingID owns them.
func (m *Memory) ClearPending(_ context.Context, brandID, pendingID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.items[brandID]
	if !ok || it.PendingID != pendingID {
		return nil
	}
	it.Pending, it.PendingID, it.PendingSince = nil, "", time.Time{}
	it.Version++
	m.items[brandID] = it
	return nil
}

// Release gives up the pending events if pendingID owns them.
func (m *Memory) Release(_ context.Context, brandID, pendingID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.items[brandID]
	if !ok || it.PendingID != pendingID {
		return nil
	}
	it.PendingSince = time.Time{}
	it.Version++
	m.items[brandID] = it
	return nil
}

// Brands lists the brands that have a snapshot, and apart those removed,
// sorted.
func (m *Memory) Brands(context.Context) (active, removed []string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, it := range m.items {
		if it.State == Removed {
			removed = append(removed, id)
		} else {
			active = append(active, id)
		}
	}
	slices.Sort(active)
	slices.Sort(removed)
	return active, removed, nil
}

// Remove marks the brand removed, as Table.Remove does.
func (m *Memory) Remove(_ context.Context, brandID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.items[brandID]
	switch {
	case !ok || it.State == Removed:
		return ErrNoSnapshot
	case len(it.Pending) > 0:
		return ErrPending
	}
	m.items[brandID] = Item{BrandID: brandID, State: Removed, CheckedAt: it.CheckedAt, Version: it.Version + 1, ExpiresAt: time.Now().Add(RemovedFor).Truncate(time.Second)}
	return nil
}

// Restore forgets a removal, as Table.Restore does.
func (m *Memory) Restore(_ context.Context, brandID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.items[brandID].State == Removed {
		delete(m.items, brandID)
	}
	return nil
}
