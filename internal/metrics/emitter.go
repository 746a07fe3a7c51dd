package metrics

import (
	"io"
	"time"
)

// Emitter writes one function's metrics to its log stream (stdout in
// Lambda). A nil Emitter, or one without Out, writes nothing, so handlers
// built without metrics (tests, the local runner) need no special case.
type Emitter struct {
	Out      io.Writer
	Function string           // the function's short name: the function dimension
	Now      func() time.Time // nil means time.Now
	// Level, when set, is written as the line's "level": Lambda's log-level
	// filtering (ApplicationLogLevel) treats a line without one as INFO and
	// would drop every metric under WARN or ERROR, so the emitter stamps
	// its lines with the configured level itself.
	Level string
}

// New starts an invocation's metrics for route; nil when nothing is written.
func (e *Emitter) New(route string) *Set {
	if e == nil || e.Out == nil {
		return nil
	}
	return New(map[string]string{"function": e.Function, "route": route})
}

// NewColdStart starts metrics of the function as a whole, which no route
// owns (what its cold start found), under the dimension set of function
// alone; nil when nothing is written.
func (e *Emitter) NewColdStart() *Set {
	if e == nil || e.Out == nil {
		return nil
	}
	return New(map[string]string{"function": e.Function})
}

// Flush writes s as one line; errors are dropped (a metric is not worth
// failing an invocation for, and the log stream is the only place to say
// so).
func (e *Emitter) Flush(s *Set) {
	if e == nil || e.Out == nil || s == nil {
		return
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	var props map[string]string
	if e.Level != "" {
		props = map[string]string{"level": e.Level}
	}
	_ = s.flush(e.Out, now(), props)
}
