package lambdainit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLogLevel(t *testing.T) {
	for v, want := range map[string]slog.Level{
		"": slog.LevelInfo, "INFO": slog.LevelInfo, "debug": slog.LevelDebug, "TRACE": slog.LevelDebug,
		"WARN": slog.LevelWarn, "ERROR": slog.LevelError, "FATAL": slog.LevelError, "loud": slog.LevelInfo,
	} {
		assert.Equal(t, want, LogLevel(func(string) string { return v }), "AWS_LAMBDA_LOG_LEVEL=%q", v)
	}
	var buf bytes.Buffer
	l := NewLogger(&buf, slog.LevelWarn)
	l.Info("quiet")
	l.Warn("loud")
	assert.NotContains(t, buf.String(), "quiet")
	assert.Contains(t, buf.String(), "loud")
}

func TestMetricsLevel(t *testing.T) {
	for v, want := range map[string]string{"": "", "INFO": "", "debug": "", "warn": "WARN", " ERROR ": "ERROR", "FATAL": "FATAL"} {
		assert.Equal(t, want, MetricsLevel(func(string) string { return v }), "AWS_LAMBDA_LOG_LEVEL=%q", v)
	}
}

func TestLoggerAddsLambdaRequestID(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(&buf, slog.LevelInfo).With("fn", "pretoken").WithGroup("g")
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd"})
	l.InfoContext(ctx, "hello", "k", "v")
	assert.Contains(t, buf.String(), `"lambda_request_id":"8476a536-e9f4-11e8-9739-2dfe598c3fcd"`)
	assert.Contains(t, buf.String(), `"fn":"pretoken"`)
	assert.Contains(t, buf.String(), `"g":{"k":"v"`)
	buf.Reset()
	l.Info("outside an invocation")
	assert.NotContains(t, buf.String(), "lambda_request_id")
}

// From reads the level, names the function on its metrics and refuses
// through the Runtime API it was given.
func TestFunctionRefuses(t *testing.T) {
	var posted struct {
		path, errType string
		body          map[string]string
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posted.path, posted.errType = r.URL.Path, r.Header.Get("Lambda-Runtime-Function-Error-Type")
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &posted.body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer api.Close()
	env := map[string]string{"AWS_LAMBDA_LOG_LEVEL": "WARN", "AWS_LAMBDA_RUNTIME_API": strings.TrimPrefix(api.URL, "http://")}
	var logs, metricsOut bytes.Buffer
	fn := From("pretoken", &logs, &metricsOut, func(k string) string { return env[k] })
	assert.Equal(t, "pretoken", fn.Metrics.Function)
	assert.Equal(t, "WARN", fn.Metrics.Level)
	assert.Same(t, &metricsOut, fn.Metrics.Out)
	fn.Logger.Info("below the level")
	assert.Empty(t, logs.String())

	code := -1
	fn.exit = func(c int) { code = c }
	fn.Refuse(errors.New(`secret "wxcard/x": field "private_key" is missing`))
	assert.Equal(t, 1, code)
	assert.Contains(t, logs.String(), `"msg":"cold start failed; refusing to serve"`)
	assert.Contains(t, logs.String(), `field \"private_key\" is missing`)
	assert.Equal(t, "/2018-06-01/runtime/init/error", posted.path)
	assert.Equal(t, "Runtime.InitError", posted.errType)
	assert.Equal(t, map[string]string{"errorMessage": `secret "wxcard/x": field "private_key" is missing`, "errorType": "Runtime.InitError"}, posted.body)
}

// Outside Lambda (no AWS_LAMBDA_RUNTIME_API) there is nothing to report to.
func TestReportInitErrorWithoutRuntimeAPI(t *testing.T) {
	ReportInitError("", errors.New("x"))
	ReportInitError("127.0.0.1:1", errors.New("x")) // nobody listening: no panic, no wait
}

func TestIDList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{"", nil, ""},
		{" , ,", nil, ""},
		{"1004, 1005,,", []string{"1004", "1005"}, ""},
		{"1004,10/05", nil, `AUTHORITY_BRAND_IDS: entry "10/05"`},
		{strings.Repeat("1", 33), nil, "AUTHORITY_BRAND_IDS"},
	} {
		got, err := IDList("AUTHORITY_BRAND_IDS", tc.in, 32)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
	got, err := IDList("X", strings.Repeat("1", 32), 32)
	require.NoError(t, err)
	assert.Len(t, got, 1)
}
