package authority

import (
	"fmt"

	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/statetable"
)

// TrackerFromEnv builds the Tracker of a deployed function: the state
// table (STATE_TABLE_NAME) and the bus (EVENT_BUS_NAME), both required,
// from the environment read through getenv.
func TrackerFromEnv(getenv func(string) string) (*Tracker, error) {
	table, err := statetable.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("state table: %w", err)
	}
	bus, err := eventbus.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("event bus: %w", err)
	}
	return &Tracker{Store: Table{Table: table}, Bus: bus}, nil
}
