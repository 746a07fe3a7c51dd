// Package lambdainit is the part of a cold start every wxcard function
// shares, whatever else it links: a JSON logger at the level Lambda's
// logging controls set, the function's metrics emitter, the ID lists read
// from the environment, and the refusal to serve when the cold start
// fails. It links no AWS client, so a function carries only the clients
// it calls.
package lambdainit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/pkg/membercard"
)

// Function is what a function's main starts from.
type Function struct {
	Name    string
	Logger  *slog.Logger     // JSON on stderr, at AWS_LAMBDA_LOG_LEVEL
	Metrics *metrics.Emitter // EMF on stdout
	// RuntimeAPI is AWS_LAMBDA_RUNTIME_API, where Refuse reports.
	RuntimeAPI string
	exit       func(int)
}

// New is the common cold start of the function name, from the process
// environment.
func New(name string) *Function {
	return From(name, os.Stderr, os.Stdout, os.Getenv)
}

// From is New with the log and metrics streams and the environment given,
// for tests.
func From(name string, logs, metricsOut io.Writer, getenv func(string) string) *Function {
	return &Function{
		Name:       name,
		Logger:     NewLogger(logs, LogLevel(getenv)),
		Metrics:    &metrics.Emitter{Out: metricsOut, Function: name, Level: MetricsLevel(getenv)},
		RuntimeAPI: getenv("AWS_LAMBDA_RUNTIME_API"),
		exit:       os.Exit,
	}
}

// InitPhase is how long Lambda lets a function's init phase (its cold
// start, before the first invocation) run before it ends it: what a cold
// start's reads and retries must fit in, with Refuse's report after them.
const InitPhase = 10 * time.Second

// ReportTimeout bounds ReportInitError's post to the Runtime API.
const ReportTimeout = 2 * time.Second

// Refuse ends a cold start that cannot serve: it logs why (err must name
// what is wrong, never a secret), reports an init error to the Runtime API,
// and exits. The function refuses to serve rather than serve broken.
func (f *Function) Refuse(err error) {
	f.Logger.Error("cold start failed; refusing to serve", "error", err.Error())
	ReportInitError(f.RuntimeAPI, err)
	exit := f.exit
	if exit == nil {
		exit = os.Exit
	}
	exit(1)
}

// ReportInitError posts err to /runtime/init/error of the Runtime API at
// api (AWS_LAMBDA_RUNTIME_API), as the Runtime API asks of a runtime that
// cannot start; nothing when api is empty.
func ReportInitError(api string, err error) {
	if api == "" {
		return
	}
	body, _ := json.Marshal(map[string]any{"errorMessage": err.Error(), "errorType": "Runtime.InitError"})
	// The address is the Lambda service's own AWS_LAMBDA_RUNTIME_API, not caller input.
	req, rerr := http.NewRequest(http.MethodPost, "http://"+api+"/2018-06-01/runtime/init/error", bytes.NewReader(body)) //nolint:gosec,noctx // see above
	if rerr != nil {
		return
	}
	req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
	c := &http.Client{Timeout: ReportTimeout}
	if resp, err := c.Do(req); err == nil { //nolint:gosec // the Runtime API, as above
		_ = resp.Body.Close()
	}
}

// NewLogger returns a JSON logger at level that adds the Lambda request ID
// of the invocation in ctx to every line.
func NewLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(requestIDHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

// LogLevel is the level Lambda's advanced logging controls set in
// AWS_LAMBDA_LOG_LEVEL (the template's ApplicationLogLevel): TRACE and
// DEBUG log debug lines, WARN and ERROR (and FATAL) only those; anything
// else, or nothing, is INFO.
func LogLevel(getenv func(string) string) slog.Level {
	switch strings.ToUpper(strings.TrimSpace(getenv("AWS_LAMBDA_LOG_LEVEL"))) {
	case "TRACE", "DEBUG":
		return slog.LevelDebug
	case "WARN":
		return slog.LevelWarn
	case "ERROR", "FATAL":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// MetricsLevel is the level EMF metric lines carry so that Lambda's
// log-level filtering keeps them: the configured application log level
// when it is above INFO, else none (INFO).
func MetricsLevel(getenv func(string) string) string {
	switch v := strings.ToUpper(strings.TrimSpace(getenv("AWS_LAMBDA_LOG_LEVEL"))); v {
	case "WARN", "ERROR", "FATAL":
		return v
	}
	return ""
}

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		r.AddAttrs(slog.String("lambda_request_id", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// IDList parses the comma-separated list of IDs in the environment
// variable name (value v), each at most max characters of WeChat Pay's ID
// alphabet, refusing a malformed one at start rather than silently never
// matching it. Empty entries are skipped.
func IDList(name, v string, max int) ([]string, error) {
	var out []string
	for _, id := range strings.Split(v, ",") {
		if id = strings.TrimSpace(id); id == "" {
			continue
		}
		if err := membercard.CheckID(name, id, max); err != nil {
			return nil, fmt.Errorf("%s: entry %q: %w", name, id, err)
		}
		out = append(out, id)
	}
	return out, nil
}
