package awstest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Stack is what a test's functions talk to: the state table and the bus
// of design.md on moto_server, with a queue subscribed to the bus that
// receives what is published, behind one endpoint that can inject faults.
type Stack struct {
	Name     string // "moto": the backend, for subtests' names
	Endpoint string // every service's endpoint: a fault-injecting proxy to moto_server
	Table    string // the state table's name
	Bus      string // the bus's name

	backend  string // moto_server's endpoint
	queueURL string

	mu     sync.Mutex
	faults map[string][]Fault
	calls  map[string]*atomic.Int64
}

// Fault is what the proxy answers in place of the backend for one call.
type Fault struct {
	Status int    // an HTTP status, e.g. 500 or 400
	Type   string // the error's __type, e.g. "InternalException" or "ThrottlingException"
	// Body, when set, is answered with 200 instead of an error: e.g. a
	// PutEvents answer reporting a failed entry.
	Body string
	// After, when set, forwards the call to the backend and then answers
	// the fault: the backend acted but the caller never heard (a network
	// failure after the write).
	After bool
	// Drop, when set, closes the connection without an answer, as an
	// unreachable or crashed endpoint does (after the call, with After).
	Drop bool
}

// PutEventsPartialFailure is a PutEvents answer with one failed entry.
const PutEventsPartialFailure = `{"FailedEntryCount":1,"Entries":[{"ErrorCode":"InternalFailure","ErrorMessage":"injected"}]}`

// Stacks returns the stacks a test runs against, each with a fresh table
// and bus: moto_server's (a slice, so that a test names its subtests by
// backend, and another backend can join). It skips the test, saying so,
// where moto_server is not installed (see RequireMotoEnv).
func Stacks(t testing.TB) []*Stack {
	t.Helper()
	return []*Stack{newStack(t, StartMoto(t))}
}

var stackSeq atomic.Int64

// unique makes a name that no other test, nor another test binary
// sharing the moto_server (see MotoEndpointEnv), uses.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), stackSeq.Add(1))
}

func newStack(t testing.TB, motoEndpoint string) *Stack {
	t.Helper()
	s := &Stack{Name: "moto", backend: motoEndpoint, faults: map[string][]Fault{}, calls: map[string]*atomic.Int64{}}
	s.Table, s.Bus = unique("wxcard-state"), unique("wxcard-bus")
	CreateStateTable(t, motoEndpoint, s.Table)
	s.queueURL = CreateBusWithQueue(t, motoEndpoint, s.Bus)
	target, err := url.Parse(motoEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	backend := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := r.Header.Get("X-Amz-Target")
		s.counter(op).Add(1)
		f, ok := s.takeFault(op)
		if !ok {
			backend.ServeHTTP(w, r)
			return
		}
		if f.After {
			backend.ServeHTTP(httptest.NewRecorder(), r)
		}
		if f.Drop {
			panic(http.ErrAbortHandler) // net/http closes the connection, unanswered
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
	return s.Events(t, 0, 0)
}
