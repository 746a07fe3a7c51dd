package lambdaapp

import (
	"fmt"
	"os"

	"github.com/wxcard/wxcard/internal/authority"
	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/statetable"
)

// AuthorityTracker builds what records product-authority answers: the
// state table (STATE_TABLE_NAME) and the bus (EVENT_BUS_NAME), both
// required, from the environment read through getenv.
func AuthorityTracker(getenv func(string) string) (*authority.Tracker, error) {
	table, err := statetable.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("state table: %w", err)
	}
	bus, err := eventbus.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("event bus: %w", err)
	}
	return &authority.Tracker{Store: authority.Table{Table: table}, Bus: bus}, nil
}

// MustAuthorityTracker is AuthorityTracker from the process environment or,
// failing, refuses to serve as MustBoot does.
func (a *App) MustAuthorityTracker() *authority.Tracker {
	t, err := AuthorityTracker(os.Getenv)
	if err != nil {
		a.Logger.Error("cold start failed; refusing to serve", "error", err.Error())
		reportInitError(err)
		os.Exit(1)
	}
	return t
}
