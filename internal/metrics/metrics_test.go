package metrics

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var at = time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)

func TestFlushWritesOneValidEMFLine(t *testing.T) {
	s := New(map[string]string{"function": "pretoken", "route": "/brand/card-member/pre-auth-tokens"})
	s.Count("Requests", 1)
	s.Duration("UpstreamLatency", 42500*time.Microsecond)
	s.Duration("UpstreamLatency", 7*time.Millisecond)
	s.SetDimension("outcome", "OK")
	var buf bytes.Buffer
	require.NoError(t, s.Flush(&buf, at))
	assert.Equal(t, 1, bytes.Count(buf.Bytes(), []byte("\n")), "one line")

	r, err := Parse(bytes.TrimSpace(buf.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, at.UnixMilli(), r.Timestamp)
	assert.Equal(t, Namespace, r.Namespace)
	assert.Equal(t, [][]string{{"function", "route"}, {"function", "route", "outcome"}}, r.Sets)
	assert.Equal(t, map[string]string{"function": "pretoken", "route": "/brand/card-member/pre-auth-tokens", "outcome": "OK"}, r.Dimensions)
	assert.Equal(t, map[string]Unit{"Requests": Count, "UpstreamLatency": Milliseconds}, r.Units)
	assert.Equal(t, []float64{1}, r.Values["Requests"])
	assert.Equal(t, []float64{42.5, 7}, r.Values["UpstreamLatency"])

	buf.Reset()
	require.NoError(t, s.Flush(&buf, at))
	assert.Empty(t, buf.String(), "a flushed set writes nothing more")
}

func TestLimits(t *testing.T) {
	s := New(map[string]string{"function": "f"})
	for i := 0; i < MaxValues+5; i++ {
		s.Count("Requests", 1)
	}
	for i := 0; i < MaxMetrics+5; i++ {
		s.Count("M"+string(rune('a'+i%26))+string(rune('a'+i/26)), 1)
	}
	var buf bytes.Buffer
	require.NoError(t, s.Flush(&buf, at))
	r, err := Parse(bytes.TrimSpace(buf.Bytes()))
	require.NoError(t, err)
	assert.Len(t, r.Values["Requests"], MaxValues)
	assert.Len(t, r.Units, MaxMetrics)
}

// Parse refuses what CloudWatch would refuse, so tests that use it mean it.
func TestParseRefusesBrokenLines(t *testing.T) {
	for name, line := range map[string]string{
		"not JSON":           `{"_aws":`,
		"no timestamp":       `{"_aws":{"CloudWatchMetrics":[{"Namespace":"wxcard","Dimensions":[["f"]],"Metrics":[{"Name":"R","Unit":"Count"}]}]},"f":"x","R":1}`,
		"seconds timestamp":  `{"_aws":{"Timestamp":1764000000,"CloudWatchMetrics":[{"Namespace":"wxcard","Dimensions":[["f"]],"Metrics":[{"Name":"R","Unit":"Count"}]}]},"f":"x","R":1}`,
		"no directive":       `{"_aws":{"Timestamp":1764000000000,"CloudWatchMetrics":[]}}`,
		"no namespace":       `{"_aws":{"Timestamp":1764000000000,"CloudWatchMetrics":[{"Dimensions":[["f"]],"Metrics":[{"Name":"R","Unit":"Count"}]}]},"f":"x","R":1}`,
		"dimension missing":  `{"_aws":{"Timestamp":1764000000000,"CloudWatchMetrics":[{"Namespace":"wxcard","Dimensions":[["f"]],"Metrics":[{"Name":"R","Unit":"Count"}]}]},"R":1}`,
		"dimension a number": `{"_aws":{"Timestamp":1764000000000,"CloudWatchMetrics":[{"Namespace":"wxcard","Dimensions":[["f"]],"Metrics":[{"Name":"R","Unit":"Count"}]}]},"f":1,"R":1}`,
		"bad unit":           `{"_aws":{"Timestamp":1764000000000,"CloudWatchMetrics":[{"Namespace":"wxcard","Dimensions":[["f"]],"Metrics":[{"Name":"R","Unit":"Things"}]}]},"f":"x","R":1}`,
		"value missing":      `{"_aws":{"Timestamp":1764000000000,"CloudWatchMetrics":[{"Namespace":"wxcard","Dimensions":[["f"]],"Metrics":[{"Name":"R","Unit":"Count"}]}]},"f":"x"}`,
		"value a string":     `{"_aws":{"Timestamp":1764000000000,"CloudWatchMetrics":[{"Namespace":"wxcard","Dimensions":[["f"]],"Metrics":[{"Name":"R","Unit":"Count"}]}]},"f":"x","R":"1"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(line))
			require.Error(t, err)
			assert.NotErrorIs(t, err, ErrNotEMF)
		})
	}
	_, err := Parse([]byte(`{"level":"INFO","msg":"request served"}`))
	require.ErrorIs(t, err, ErrNotEMF)
}

func TestParseLogSkipsOrdinaryLines(t *testing.T) {
	s := New(map[string]string{"function": "f"})
	s.Count("Requests", 1)
	var buf bytes.Buffer
	buf.WriteString(`{"level":"INFO","msg":"hello"}` + "\n")
	require.NoError(t, s.Flush(&buf, at))
	recs, err := ParseLog(buf.Bytes())
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, 1.0, recs[0].Sum("Requests"))
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"_aws":{"Timestamp":1764000000000,"CloudWatchMetrics":[{"Namespace":"wxcard","Dimensions":[["f"]],"Metrics":[{"Name":"R","Unit":"Count"}]}]},"f":"x","R":[1,2]}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := Parse(line)
		if err == nil && (r.Namespace == "" || len(r.Units) == 0) {
			t.Fatalf("accepted a line without namespace or metrics: %q", line)
		}
	})
}

// Under a WARN or ERROR application log level, Lambda drops lines without
// a level: the emitter stamps its lines with the level it is given.
func TestEmitterLevel(t *testing.T) {
	var buf bytes.Buffer
	e := &Emitter{Out: &buf, Function: "f", Level: "ERROR", Now: func() time.Time { return at }}
	s := e.New("/r")
	s.Count("Requests", 1)
	e.Flush(s)
	assert.Contains(t, buf.String(), `"level":"ERROR"`)
	_, err := Parse(bytes.TrimSpace(buf.Bytes()))
	require.NoError(t, err)

	var nilEmitter *Emitter
	nilEmitter.Flush(nilEmitter.New("/r")) // records nothing, panics not
	nilEmitter.Flush(nilEmitter.NewColdStart())
}

// A cold start's metrics carry the function dimension alone, so that an
// alarm names them by function only.
func TestEmitterColdStart(t *testing.T) {
	var buf bytes.Buffer
	e := &Emitter{Out: &buf, Function: "sessionkeys", Now: func() time.Time { return at }}
	s := e.NewColdStart()
	s.Count("PreviousKeyUnreadable", 2)
	e.Flush(s)
	r, err := Parse(bytes.TrimSpace(buf.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"function"}}, r.Sets)
	assert.Equal(t, map[string]string{"function": "sessionkeys"}, r.Dimensions)
	assert.Equal(t, 2.0, r.Sum("PreviousKeyUnreadable"))
}

// BenchmarkInvocationLine is the metrics work of one invocation: a Set
// with the handlers' metrics and one line written.
func BenchmarkInvocationLine(b *testing.B) {
	e := &Emitter{Out: io.Discard, Function: "pretoken"}
	b.ReportAllocs()
	for b.Loop() {
		s := e.New("/brand/card-member/pre-auth-tokens")
		s.Count("Requests", 1)
		s.Duration("UpstreamLatency", 31*time.Millisecond)
		s.Count("UpstreamAttempts", 1)
		s.Count("Outcome", 1)
		s.SetDimension("outcome", "OK")
		e.Flush(s)
	}
}
