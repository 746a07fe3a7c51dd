package lambdaapp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// SecretsTimeout bounds the cold start's read of the secret.
const SecretsTimeout = 5 * time.Second

// App is what a function's main wires its handler with.
type App struct {
	Env      Env
	Logger   *slog.Logger
	Upstream *Upstream // nil for a function that calls no WeChat Pay API
	// Credentials is the identity of a function that only receives
	// (cardevents); nil otherwise.
	Credentials *Credentials
	// Metrics writes the function's CloudWatch metrics (EMF) to stdout.
	Metrics *metrics.Emitter
}

// Boot is a cold start: read the environment, build the Secrets Manager
// client from it (AWS_ENDPOINT_URL_SECRETS_MANAGER applies), read and check
// the secret as identity kind, and build the WeChat Pay client once.
func Boot(ctx context.Context, function string, kind wxsign.Scheme, logger *slog.Logger) (*App, error) {
	env, err := OSEnv()
	if err != nil {
		return nil, err
	}
	hc := wxpay.NewHTTPClient(nil)
	if !env.NoPreconnect {
		// The handshake with WeChat Pay overlaps the secret read below.
		StartPreconnect(hc.Transport.(*http.Transport), env.BaseURL, wxpay.IdleConnTimeout)
	}
	ctx, cancel := context.WithTimeout(ctx, SecretsTimeout)
	defer cancel()
	sm, err := SecretsManagerFromEnv(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("AWS environment: %w", err)
	}
	load := func(ctx context.Context) (*secret.Identity, error) { return secret.Load(ctx, sm, env.SecretID, kind) }
	up, err := NewUpstream(ctx, env, load, hc, logger)
	if err != nil {
		return nil, err
	}
	em := &metrics.Emitter{Out: os.Stdout, Function: function, Level: MetricsLevel(os.Getenv)}
	up.Credentials().Metrics = em
	return &App{Env: env, Logger: logger, Upstream: up, Metrics: em}, nil
}

// BootReceiver is the cold start of a function that calls no WeChat Pay
// API but verifies and decrypts what WeChat Pay sends: the environment and
// the secret as identity kind, which must hold an API v3 key (a refresh
// that loses it keeps the identity in use).
func BootReceiver(ctx context.Context, function string, kind wxsign.Scheme, logger *slog.Logger) (*App, error) {
	env, err := OSEnv()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, SecretsTimeout)
	defer cancel()
	sm, err := SecretsManagerFromEnv(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("AWS environment: %w", err)
	}
	load := func(ctx context.Context) (*secret.Identity, error) {
		id, err := secret.Load(ctx, sm, env.SecretID, kind)
		if err != nil {
			return nil, err
		}
		return id, id.NeedAPIv3Key(env.SecretID)
	}
	creds, err := NewCredentials(ctx, load, logger)
	if err != nil {
		return nil, err
	}
	em := &metrics.Emitter{Out: os.Stdout, Function: function, Level: MetricsLevel(os.Getenv)}
	creds.Metrics = em
	return &App{Env: env, Logger: logger, Credentials: creds, Metrics: em}, nil
}

// MustBootReceiver is BootReceiver or, failing, refuses to serve as
// MustBoot does.
func MustBootReceiver(function string, kind wxsign.Scheme) *App {
	logger := NewLogger(os.Stderr, LogLevel(os.Getenv))
	app, err := BootReceiver(context.Background(), function, kind, logger)
	if err != nil {
		(&App{Logger: logger}).Refuse(err)
	}
	return app
}

// MustBootWithoutSecret is the cold start of a function that holds no
// WeChat Pay credentials (the refresh's scheduler): the environment, the
// logger and the metrics; failing, it refuses to serve as MustBoot does.
func MustBootWithoutSecret(function string) *App {
	logger := NewLogger(os.Stderr, LogLevel(os.Getenv))
	env, err := envFrom(os.Getenv, false)
	if err != nil {
		(&App{Logger: logger}).Refuse(err)
	}
	return &App{Env: env, Logger: logger, Metrics: &metrics.Emitter{Out: os.Stdout, Function: function, Level: MetricsLevel(os.Getenv)}}
}

// MustBoot boots or, failing, logs why (naming the secret and field, never
// its content), reports an init error to the Lambda Runtime API, and exits:
// the function refuses to serve rather than serve with broken credentials.
func MustBoot(function string, kind wxsign.Scheme) *App {
	logger := NewLogger(os.Stderr, LogLevel(os.Getenv))
	app, err := Boot(context.Background(), function, kind, logger)
	if err != nil {
		(&App{Logger: logger}).Refuse(err)
	}
	return app
}

// reportInitError posts to /runtime/init/error, as the Runtime API asks of
// a runtime that cannot start.
func reportInitError(err error) {
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	if api == "" {
		return
	}
	body, _ := json.Marshal(map[string]any{"errorMessage": err.Error(), "errorType": "Runtime.InitError"})
	// The address is the Lambda service's own AWS_LAMBDA_RUNTIME_API, not caller input.
	req, rerr := http.NewRequest(http.MethodPost, "http://"+api+"/2018-06-01/runtime/init/error", bytes.NewReader(body)) //nolint:gosec // see above
	if rerr != nil {
		return
	}
	req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
	c := &http.Client{Timeout: 2 * time.Second}
	if resp, err := c.Do(req); err == nil { //nolint:gosec // the Runtime API, as above
		_ = resp.Body.Close()
	}
}

// Policy is the deployment's caller policy, for a function without token
// routes.
func (a *App) Policy() cardapi.Policy { return a.Env.Policy() }

// MustTokenPolicy is the policy of a function that serves token routes or,
// when TOKEN_ROUTES_AUTHORIZATION is not set, refuses to serve.
func (a *App) MustTokenPolicy() cardapi.Policy {
	p, err := a.Env.TokenPolicy()
	if err != nil {
		a.Refuse(err)
	}
	return p
}

// Refuse ends a cold start that cannot serve: it logs why (naming what is
// wrong, never a secret), reports an init error to the Runtime API, and
// exits.
func (a *App) Refuse(err error) {
	a.Logger.Error("cold start failed; refusing to serve", "error", err.Error())
	reportInitError(err)
	os.Exit(1)
}
