package member

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// Memory is a Store in memory: the local runner's, and tests'.
type Memory struct {
	mu    sync.Mutex
	items map[string]Item
}

// Get reads the member.
func (m *Memory) Get(_ context.Context, cardID, userCardCode string) (Item, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.items[Key(cardID, userCardCode)]
	if !ok {
		return Item{CardID: cardID, UserCardCode: userCardCode}, nil
	}
	return clone(it), nil
}

// Put writes it if the stored version is still expect.
func (m *Memory) Put(_ context.Context, it Item, expect int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := Key(it.CardID, it.UserCardCode)
	if m.items[key].Version != expect {
		return ErrConflict
	}
	if m.items == nil {
		m.items = map[string]Item{}
	}
	m.items[key] = clone(it)
	return nil
}

// Items are the stored members.
func (m *Memory) Items() []Item {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Item, 0, len(m.items))
	for _, it := range m.items {
		out = append(out, clone(it))
	}
	return out
}

// ByOpenID lists the user's members but the deleted ones, in key order.
func (m *Memory) ByOpenID(_ context.Context, openid string) ([]Item, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Item
	for _, it := range m.items {
		if it.OpenID == openid && it.State != Deleted {
			out = append(out, clone(it))
		}
	}
	slices.SortFunc(out, func(a, b Item) int {
		return strings.Compare(Key(a.CardID, a.UserCardCode), Key(b.CardID, b.UserCardCode))
	})
	if len(out) > MaxMembersPerUser {
		out = out[:MaxMembersPerUser]
	}
	return out, nil
}

func clone(it Item) Item {
	it.Pending = slices.Clone(it.Pending)
	it.Changes = slices.Clone(it.Changes)
	if it.Decision != nil {
		d := *it.Decision
		it.Decision = &d
	}
	return it
}
