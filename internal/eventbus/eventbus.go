// Package eventbus is what publishes wxcard's events: the Event, the
// Publisher, and the in-memory publisher of local runs (printed as JSON
// lines). Every event has Source "wxcard". The Amazon EventBridge bus of a
// deployed function is package bridge, apart, so that only the functions
// that publish link the EventBridge client.
package eventbus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Source is the Source of every event wxcard publishes.
const Source = "wxcard"

// Event is one event for the bus.
type Event struct {
	DetailType string
	Time       time.Time       // zero means the time of publication
	Detail     json.RawMessage // a JSON object
}

// Publisher publishes events. Publish returns nil only when every event was
// accepted; a caller that gets an error must assume none was (some may
// have been: consumers see at-least-once delivery, as with EventBridge
// itself).
type Publisher interface {
	Publish(ctx context.Context, events ...Event) error
}

// Memory keeps published events in memory and, when Out is set, writes
// each as one JSON line: what `make run` shows instead of a bus.
type Memory struct {
	Out io.Writer
	Now func() time.Time // nil means time.Now

	mu     sync.Mutex
	events []Event
}

// Publish records the events.
func (m *Memory) Publish(_ context.Context, events ...Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ev := range events {
		if ev.Time.IsZero() {
			now := time.Now
			if m.Now != nil {
				now = m.Now
			}
			ev.Time = now()
		}
		m.events = append(m.events, ev)
		if m.Out != nil {
			line, err := json.Marshal(struct {
				Source     string          `json:"source"`
				DetailType string          `json:"detail-type"`
				Time       string          `json:"time"`
				Detail     json.RawMessage `json:"detail"`
			}{Source, ev.DetailType, ev.Time.UTC().Format(time.RFC3339), ev.Detail})
			if err != nil {
				return fmt.Errorf("eventbus: event %q: %w", ev.DetailType, err)
			}
			if _, err := fmt.Fprintf(m.Out, "%s\n", line); err != nil {
				return fmt.Errorf("eventbus: writing event: %w", err)
			}
		}
	}
	return nil
}

// Events returns a copy of what was published.
func (m *Memory) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Event(nil), m.events...)
}
