package awstest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Stack is what a test's functions talk to: the state table and the bus
// of design.md, with a queue subscribed to the bus, behind one endpoint
// that can inject faults. The backend is moto_server or the in-process
// fakes; the same tests run against both.
type Stack struct {
	Name     string // "moto" or "fake"
	Endpoint string // every service's endpoint: a fault-injecting proxy to the backend
	Table    string // the state table's name
	Bus      string // the bus's name

	backend  string
	queueURL string

	mu     sync.Mutex
	faults map[string][]Fault
	calls  map[string]*atomic.Int64
}

// Fault is what the proxy answers in place of the backend for one call.
type Fault struct {
	Status int    // an HTTP status, e.g. 500 or 400
	Type   string // the error's __type, e.g. "InternalException"
	// Body, when set, is answered with 200 instead of an error: e.g. a
	// PutEvents answer reporting a failed entry.
	Body string
	// After, when set, forwards the call to the backend and then answers
	// the fault: the backend acted but the caller never heard (a network
	// failure after the write).
	After bool
}

// PutEventsPartialFailure is a PutEvents answer with one failed entry.
const PutEventsPartialFailure = `{"FailedEntryCount":1,"Entries":[{"ErrorCode":"InternalFailure","ErrorMessage":"injected"}]}`

// Stacks returns the stacks a test should run against, each with a fresh
// table and bus: moto_server's where it is installed (unless BackendsEnv
// says fakes), and the in-process fakes' always.
func Stacks(t testing.TB) []*Stack {
	t.Helper()
	var out []*Stack
	for _, b := range backends(t) {
		out = append(out, newStack(t, b.name, b.endpoint))
	}
	if len(out) == 0 {
		t.Skip("no AWS backend: moto_server is not installed and no in-process fake is available")
	}
	return out
}

type backend struct{ name, endpoint string }

// fakeBackend, when set, starts the in-process fakes' server.
var fakeBackend func(t testing.TB) string

func backends(t testing.TB) []backend {
	t.Helper()
	var out []backend
	switch {
	case fakesOnly(t):
		t.Log(BackendsEnv + "=fakes: running against the in-process fakes only")
	case motoInstalled():
		out = append(out, backend{"moto", StartMoto(t)})
	default:
		t.Log("moto_server is not installed: running against the in-process fakes only")
	}
	if fakeBackend != nil {
		out = append(out, backend{"fake", fakeBackend(t)})
	}
	return out
}

var tableSeq atomic.Int64

func newStack(t testing.TB, name, endpoint string) *Stack {
	t.Helper()
	s := &Stack{Name: name, backend: endpoint, faults: map[string][]Fault{}, calls: map[string]*atomic.Int64{}}
	n := tableSeq.Add(1)
	s.Table = fmt.Sprintf("wxcard-state-%d", n)
	s.Bus = fmt.Sprintf("wxcard-bus-%d", n)
	CreateStateTable(t, endpoint, s.Table)
	s.queueURL = CreateBusWithQueue(t, endpoint, s.Bus)
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := r.Header.Get("X-Amz-Target")
		s.counter(op).Add(1)
		f, ok := s.takeFault(op)
		if !ok {
			proxy.ServeHTTP(w, r)
			return
		}
		if f.After {
			rec := httptest.NewRecorder()
			proxy.ServeHTTP(rec, r)
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if f.Body != "" {
			_, _ = io.WriteString(w, f.Body)
			return
		}
		w.WriteHeader(f.Status)
		_, _ = fmt.Fprintf(w, `{"__type":%q,"message":"injected by awstest"}`, f.Type)
	}))
	t.Cleanup(srv.Close)
	s.Endpoint = srv.URL
	return s
}

// Env is the environment of a function using this stack.
func (s *Stack) Env(extra map[string]string) map[string]string {
	env := Env(s.Endpoint, map[string]string{"STATE_TABLE_NAME": s.Table, "EVENT_BUS_NAME": s.Bus})
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// Inject makes the next calls of op (an X-Amz-Target such as
// "AWSEvents.PutEvents" or "DynamoDB_20120810.PutItem") answer the faults,
// one per call, in order.
func (s *Stack) Inject(op string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[op] = append(s.faults[op], faults...)
}

func (s *Stack) takeFault(op string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[op]
	if len(q) == 0 {
		return Fault{}, false
	}
	s.faults[op] = q[1:]
	return q[0], true
}

func (s *Stack) counter(op string) *atomic.Int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[op]
	if c == nil {
		c = new(atomic.Int64)
		s.calls[op] = c
	}
	return c
}

// Calls is how many calls of op reached the proxy, faults included.
func (s *Stack) Calls(op string) int { return int(s.counter(op).Load()) }

// Events reads the events delivered to the queue subscribed to the bus
// (see ReceiveEvents).
func (s *Stack) Events(t testing.TB, want int, wait time.Duration) []BusEvent {
	t.Helper()
	return ReceiveEvents(t, s.backend, s.queueURL, want, wait)
}

// DrainEvents reads every event delivered so far, for a test that expects
// none beyond those it already read.
func (s *Stack) DrainEvents(t testing.TB) []BusEvent {
	t.Helper()
	return ReceiveEvents(t, s.backend, s.queueURL, 0, 0)
}
