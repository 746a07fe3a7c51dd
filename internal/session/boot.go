package session

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/wxcard/wxcard/internal/metrics"
)

// The sign-in functions boot without internal/lambdaapp, which links the
// DynamoDB and EventBridge clients (through cardapi) that these functions
// never use. What they need of it is here: a JSON logger at Lambda's
// level, the metrics emitter, and the refusal to start.

// NewLogger is a JSON logger at the level AWS_LAMBDA_LOG_LEVEL names (as
// lambdaapp.LogLevel reads it).
func NewLogger(w io.Writer, getenv func(string) string) *slog.Logger {
	level := slog.LevelInfo
	switch strings.ToUpper(strings.TrimSpace(getenv("AWS_LAMBDA_LOG_LEVEL"))) {
	case "TRACE", "DEBUG":
		level = slog.LevelDebug
	case "WARN":
		level = slog.LevelWarn
	case "ERROR", "FATAL":
		level = slog.LevelError
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// NewMetrics is the function's EMF emitter on w, its lines stamped with the
// configured level when it is above INFO (as lambdaapp.MetricsLevel does).
func NewMetrics(w io.Writer, function string, getenv func(string) string) *metrics.Emitter {
	level := ""
	switch v := strings.ToUpper(strings.TrimSpace(getenv("AWS_LAMBDA_LOG_LEVEL"))); v {
	case "WARN", "ERROR", "FATAL":
		level = v
	}
	return &metrics.Emitter{Out: w, Function: function, Level: level}
}

// Refuse ends a cold start that cannot serve, as lambdaapp's Refuse does:
// it logs why (naming what is wrong, never a secret), reports an init
// error to the Lambda Runtime API, and exits.
func Refuse(logger *slog.Logger, getenv func(string) string, err error) {
	logger.Error("cold start failed; refusing to serve", "error", err.Error())
	ReportInitError(getenv("AWS_LAMBDA_RUNTIME_API"), err)
	os.Exit(1)
}

// ReportInitError posts err to the Runtime API's /runtime/init/error at
// api (AWS_LAMBDA_RUNTIME_API); nothing when api is empty.
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
	c := &http.Client{Timeout: 2 * time.Second}
	if resp, err := c.Do(req); err == nil { //nolint:gosec // the Runtime API, as above
		_ = resp.Body.Close()
	}
}
