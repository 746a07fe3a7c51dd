// Package metrics writes CloudWatch metrics in the Embedded Metric Format
// (EMF): one JSON line in the function's log stream, which CloudWatch Logs
// turns into metrics. No API call and no dependency: the format is public
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
//
// A Set collects one invocation's metrics; Flush writes them as one line.
// Dimensions are low-cardinality names (function, route, outcome), never
// an ID.
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every wxcard metric.
const Namespace = "wxcard"

// Unit is a CloudWatch unit.
type Unit string

// The units wxcard uses.
const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
)

// The limits EMF sets on one line's directive.
const (
	MaxMetrics    = 100 // metric definitions per directive
	MaxDimensions = 30  // dimensions per dimension set
	MaxValues     = 100 // values per metric
)

type metric struct {
	unit   Unit
	values []float64
}

// Set is one invocation's metrics, sharing the same dimension values. Each
// dimension set is a list of dimension names; every metric is reported
// under each set. A Set is safe for concurrent use.
type Set struct {
	mu      sync.Mutex
	dims    map[string]string
	sets    [][]string
	metrics map[string]*metric
	order   []string
}

// New returns a Set whose metrics carry dims, reported under the dimension
// set of all of dims' names.
func New(dims map[string]string) *Set {
	s := &Set{dims: map[string]string{}, metrics: map[string]*metric{}}
	names := make([]string, 0, len(dims))
	for k, v := range dims {
		s.dims[k] = v
		names = append(names, k)
	}
	sort.Strings(names)
	s.sets = [][]string{names}
	return s
}

// SetDimension sets a dimension known only later (an invocation's
// outcome) and reports every metric also under a dimension set of the
// first set's names plus this one: totals per function and route stay
// one metric, and the breakdown by outcome is another.
func (s *Set) SetDimension(name, value string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.dims[name]; !ok {
		s.sets = append(s.sets, append(append([]string(nil), s.sets[0]...), name))
	}
	s.dims[name] = value
}

// Add records one value of a metric; a metric may hold up to MaxValues
// values, which CloudWatch aggregates (sum, count, percentiles).
func (s *Set) Add(name string, unit Unit, value float64) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.metrics[name]
	if m == nil {
		if len(s.order) == MaxMetrics {
			return
		}
		m = &metric{unit: unit}
		s.metrics[name] = m
		s.order = append(s.order, name)
	}
	if len(m.values) < MaxValues {
		m.values = append(m.values, value)
	}
}

// Count adds n to a Count metric.
func (s *Set) Count(name string, n int) { s.Add(name, Count, float64(n)) }

// Duration records d in milliseconds.
func (s *Set) Duration(name string, d time.Duration) {
	s.Add(name, Milliseconds, float64(d.Microseconds())/1000)
}

// Flush writes the metrics as one EMF line with timestamp now, and empties
// the Set's metrics (its dimensions stay). It writes nothing when there is
// no metric.
func (s *Set) Flush(w io.Writer, now time.Time) error { return s.flush(w, now, nil) }

func (s *Set) flush(w io.Writer, now time.Time, props map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) == 0 {
		return nil
	}
	type def struct {
		Name string `json:"Name"`
		Unit Unit   `json:"Unit"`
	}
	type directive struct {
		Namespace  string     `json:"Namespace"`
		Dimensions [][]string `json:"Dimensions"`
		Metrics    []def      `json:"Metrics"`
	}
	root := make(map[string]any, len(s.dims)+len(s.order)+len(props)+1)
	for k, v := range props {
		root[k] = v
	}
	for k, v := range s.dims {
		root[k] = v
	}
	defs := make([]def, 0, len(s.order))
	for _, name := range s.order {
		m := s.metrics[name]
		defs = append(defs, def{Name: name, Unit: m.unit})
		if len(m.values) == 1 {
			root[name] = m.values[0]
		} else {
			root[name] = m.values
		}
	}
	root["_aws"] = struct {
		Timestamp         int64       `json:"Timestamp"`
		CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
	}{now.UnixMilli(), []directive{{Namespace: Namespace, Dimensions: s.sets, Metrics: defs}}}
	line, err := json.Marshal(root)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	s.metrics = map[string]*metric{}
	s.order = nil
	if _, err := w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("metrics: writing: %w", err)
	}
	return nil
}
