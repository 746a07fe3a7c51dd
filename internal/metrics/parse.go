package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Record is an EMF line read back: what CloudWatch would extract from it.
type Record struct {
	Timestamp  int64
	Namespace  string
	Dimensions map[string]string    // the values of every dimension named in a set
	Sets       [][]string           // the dimension sets
	Units      map[string]Unit      // metric name to unit
	Values     map[string][]float64 // metric name to its values
}

// Sum is the sum of a metric's values (0 when absent).
func (r *Record) Sum(name string) float64 {
	var t float64
	for _, v := range r.Values[name] {
		t += v
	}
	return t
}

var validUnits = map[Unit]bool{
	"Seconds": true, "Microseconds": true, Milliseconds: true, "Bytes": true, "Kilobytes": true,
	"Megabytes": true, "Gigabytes": true, "Terabytes": true, "Bits": true, "Kilobits": true,
	"Megabits": true, "Gigabits": true, "Terabits": true, "Percent": true, Count: true,
	"Bytes/Second": true, "Kilobytes/Second": true, "Megabytes/Second": true, "Gigabytes/Second": true,
	"Terabytes/Second": true, "Bits/Second": true, "Kilobits/Second": true, "Megabits/Second": true,
	"Gigabits/Second": true, "Terabits/Second": true, "Count/Second": true, "None": true,
}

// ErrNotEMF means a log line is JSON but carries no _aws metadata: an
// ordinary log line.
var ErrNotEMF = errors.New("metrics: not an EMF line")

// Parse reads one log line as EMF, checking the specification's rules: an
// _aws object with a millisecond Timestamp and CloudWatchMetrics
// directives; each directive a Namespace, dimension sets of at most 30
// names, each name a string member of the root, and at most 100 metric
// definitions with valid units, each a member of the root holding a number
// or an array of at most 100 numbers.
func Parse(line []byte) (*Record, error) {
	var root map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("metrics: line is not a JSON object: %w", err)
	}
	raw, ok := root["_aws"]
	if !ok {
		return nil, ErrNotEMF
	}
	var meta struct {
		Timestamp         *int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name string `json:"Name"`
				Unit Unit   `json:"Unit"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("metrics: _aws: %w", err)
	}
	if meta.Timestamp == nil || *meta.Timestamp < 1e12 {
		return nil, errors.New("metrics: _aws.Timestamp missing or not in milliseconds")
	}
	if len(meta.CloudWatchMetrics) == 0 {
		return nil, errors.New("metrics: _aws.CloudWatchMetrics is empty")
	}
	r := &Record{Timestamp: *meta.Timestamp, Dimensions: map[string]string{}, Units: map[string]Unit{}, Values: map[string][]float64{}}
	for _, d := range meta.CloudWatchMetrics {
		if d.Namespace == "" || len(d.Namespace) > 255 {
			return nil, fmt.Errorf("metrics: namespace %q", d.Namespace)
		}
		r.Namespace = d.Namespace
		if len(d.Metrics) == 0 || len(d.Metrics) > MaxMetrics {
			return nil, fmt.Errorf("metrics: %d metric definitions, want 1 to %d", len(d.Metrics), MaxMetrics)
		}
		for _, set := range d.Dimensions {
			if len(set) > MaxDimensions {
				return nil, fmt.Errorf("metrics: dimension set of %d names, want at most %d", len(set), MaxDimensions)
			}
			for _, name := range set {
				var v string
				if err := json.Unmarshal(root[name], &v); err != nil {
					return nil, fmt.Errorf("metrics: dimension %q is not a string member of the root", name)
				}
				r.Dimensions[name] = v
			}
			r.Sets = append(r.Sets, set)
		}
		for _, m := range d.Metrics {
			if m.Name == "" {
				return nil, errors.New("metrics: metric definition without a Name")
			}
			if m.Unit != "" && !validUnits[m.Unit] {
				return nil, fmt.Errorf("metrics: metric %q has unit %q", m.Name, m.Unit)
			}
			vals, err := values(root[m.Name])
			if err != nil {
				return nil, fmt.Errorf("metrics: metric %q: %w", m.Name, err)
			}
			r.Units[m.Name] = m.Unit
			r.Values[m.Name] = vals
		}
	}
	return r, nil
}

func values(raw json.RawMessage) ([]float64, error) {
	if raw == nil {
		return nil, errors.New("no value in the root")
	}
	var one float64
	if err := json.Unmarshal(raw, &one); err == nil {
		return []float64{one}, nil
	}
	var many []float64
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, errors.New("value is neither a number nor an array of numbers")
	}
	if len(many) == 0 || len(many) > MaxValues {
		return nil, fmt.Errorf("%d values, want 1 to %d", len(many), MaxValues)
	}
	return many, nil
}

// ParseLog reads the EMF lines of a log, skipping ordinary lines.
func ParseLog(log []byte) ([]*Record, error) {
	var out []*Record
	for _, line := range bytes.Split(log, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		r, err := Parse(line)
		if errors.Is(err, ErrNotEMF) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
