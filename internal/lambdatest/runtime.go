// Package lambdatest runs compiled Lambda functions as Lambda does, for
// end-to-end tests and benchmarks: a local Lambda Runtime API
// (/2018-06-01/runtime/invocation/next and friends) that hands out events
// and collects answers, and a helper that starts a bootstrap binary
// pointed at it.
package lambdatest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const prefix = "/2018-06-01/runtime"

// invokePrefix is the Lambda Invoke API's path, which the Runtime Interface
// Emulator serves too: AWS_ENDPOINT_URL_LAMBDA pointed at Addr makes an AWS
// SDK Lambda client's Invoke reach the function this Runtime runs.
const invokePrefix = "/2015-03-31/functions"

// InvokeTimeout is the deadline of an invocation through the Invoke API
// (a synchronous invoke of a function whose timeout is 10 s).
const InvokeTimeout = 10 * time.Second

// Result is what the function answered for one invocation.
type Result struct {
	Payload []byte // the response, or the error document
	IsError bool   // posted to /invocation/{id}/error
}

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan Result
}

// Runtime is a local Lambda Runtime API.
type Runtime struct {
	// Addr is host:port, the value of AWS_LAMBDA_RUNTIME_API.
	Addr string

	srv       *http.Server
	ln        net.Listener
	queue     chan *invocation
	seq       atomic.Int64
	mu        sync.Mutex
	pending   map[string]*invocation
	firstPoll chan struct{}
	pollOnce  sync.Once
	polledAt  atomic.Int64
	initErr   chan []byte
}

// NewRuntime starts a Runtime API on a free loopback port.
func NewRuntime() (*Runtime, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Runtime{
		Addr: ln.Addr().String(), ln: ln,
		queue: make(chan *invocation), pending: map[string]*invocation{},
		firstPoll: make(chan struct{}), initErr: make(chan []byte, 1),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+prefix+"/invocation/next", r.next)
	mux.HandleFunc("POST "+prefix+"/invocation/{id}/response", r.answer(false))
	mux.HandleFunc("POST "+prefix+"/invocation/{id}/error", r.answer(true))
	mux.HandleFunc("POST "+prefix+"/init/error", r.initError)
	mux.HandleFunc("POST "+invokePrefix+"/{name}/invocations", r.invokeAPI)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// Close stops the Runtime API.
func (r *Runtime) Close() { _ = r.srv.Close() }

// FirstPoll is closed when the function first asks for an invocation: the
// end of its cold start.
func (r *Runtime) FirstPoll() <-chan struct{} { return r.firstPoll }

// FirstPollTime is when that happened (zero before).
func (r *Runtime) FirstPollTime() time.Time {
	if ns := r.polledAt.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// InitError delivers the body of a /init/error report.
func (r *Runtime) InitError() <-chan []byte { return r.initErr }

// Invoke hands payload to the function and waits for its answer, at most
// until ctx ends. The function's deadline is timeout from now.
func (r *Runtime) Invoke(ctx context.Context, payload []byte, timeout time.Duration) (Result, error) {
	inv := &invocation{
		id:       fmt.Sprintf("8476a536-e9f4-11e8-9739-%012d", r.seq.Add(1)),
		payload:  payload,
		deadline: time.Now().Add(timeout),
		done:     make(chan Result, 1),
	}
	r.mu.Lock()
	r.pending[inv.id] = inv
	r.mu.Unlock()
	select {
	case r.queue <- inv:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("the function did not ask for the invocation: %w", ctx.Err())
	}
	select {
	case res := <-inv.done:
		return res, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("the function did not answer: %w", ctx.Err())
	}
}

// invokeAPI serves the Lambda Invoke API's synchronous (RequestResponse)
// invocation as Lambda answers it: 200 with the function's response, or
// 200 with X-Amz-Function-Error: Unhandled and the error document when the
// function failed or ran out of time.
func (r *Runtime) invokeAPI(w http.ResponseWriter, req *http.Request) {
	if t := req.Header.Get("X-Amz-Invocation-Type"); t != "" && t != "RequestResponse" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"Type":"User","message":"only RequestResponse invocations are served here"}`)
		return
	}
	payload, _ := io.ReadAll(io.LimitReader(req.Body, 6<<20))
	ctx, cancel := context.WithTimeout(req.Context(), InvokeTimeout)
	defer cancel()
	res, err := r.Invoke(ctx, payload, InvokeTimeout)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	if err != nil {
		res = Result{IsError: true, Payload: []byte(`{"errorType":"Sandbox.Timedout","errorMessage":"Task timed out"}`)}
	}
	if res.IsError {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
	}
	_, _ = w.Write(res.Payload)
}

func (r *Runtime) next(w http.ResponseWriter, req *http.Request) {
	r.pollOnce.Do(func() {
		r.polledAt.Store(time.Now().UnixNano())
		close(r.firstPoll)
	})
	var inv *invocation
	select {
	case inv = <-r.queue:
	case <-req.Context().Done():
		return
	}
	h := w.Header()
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:wxcard-test")
	h.Set("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1")
	h.Set("Content-Type", "application/json")
	_, _ = w.Write(inv.payload)
}

func (r *Runtime) answer(isError bool) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		id := req.PathValue("id")
		body, _ := io.ReadAll(io.LimitReader(req.Body, 6<<20))
		r.mu.Lock()
		inv := r.pending[id]
		delete(r.pending, id)
		r.mu.Unlock()
		if inv == nil {
			http.Error(w, `{"errorMessage":"unknown request ID","errorType":"InvalidRequestID"}`, http.StatusBadRequest)
			return
		}
		inv.done <- Result{Payload: body, IsError: isError}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"status":"OK"}`))
	}
}

func (r *Runtime) initError(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	select {
	case r.initErr <- body:
	default:
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"OK"}`))
}

// Process is a running bootstrap binary.
type Process struct {
	Cmd    *exec.Cmd
	output *syncBuffer
	exited chan struct{}
	err    error
}

// Start runs binary as Lambda would: AWS_LAMBDA_RUNTIME_API set to rt,
// plus env (KEY=VALUE), and nothing else of this process's environment but
// PATH. Its stdout and stderr are collected.
func Start(binary string, rt *Runtime, env ...string) (*Process, error) {
	cmd := exec.Command(binary)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_LAMBDA_RUNTIME_API=" + rt.Addr,
		"AWS_LAMBDA_FUNCTION_NAME=wxcard-test",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/wxcard-test",
		"AWS_LAMBDA_LOG_STREAM_NAME=test",
	}, env...)
	buf := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{Cmd: cmd, output: buf, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Output is what the process wrote so far.
func (p *Process) Output() string { return p.output.String() }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitErr is the process's exit error, after Exited.
func (p *Process) ExitErr() error { return p.err }

// Stop kills the process and waits for it.
func (p *Process) Stop() {
	_ = p.Cmd.Process.Kill()
	<-p.exited
}

// syncBuffer collects output and tells waiters about every write.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // closed and replaced on every write
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	if s.written != nil {
		close(s.written)
		s.written = nil
	}
	return n, err
}

// wait returns a channel closed at the next write.
func (s *syncBuffer) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written == nil {
		s.written = make(chan struct{})
	}
	return s.written
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WaitLines waits until the output has at least n lines containing substr
// (the pipe from the process may lag its answer), and returns them.
func (p *Process) WaitLines(substr string, n int, timeout time.Duration) []string {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		next := p.output.wait()
		if lines := p.Lines(substr); len(lines) >= n {
			return lines
		}
		select {
		case <-next:
		case <-p.exited:
			return p.Lines(substr)
		case <-deadline.C:
			return p.Lines(substr)
		}
	}
}

// Lines returns the output's JSON log lines containing substr.
func (p *Process) Lines(substr string) []string {
	var out []string
	for _, l := range strings.Split(p.Output(), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}
