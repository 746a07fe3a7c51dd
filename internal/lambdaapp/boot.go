package lambdaapp

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/lambdainit"
	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// SecretsTimeout bounds the cold start's read of the secret.
const SecretsTimeout = 5 * time.Second

// App is what a function's main wires its handler with: the common cold
// start (its Logger, Metrics and Refuse) and what the secret gives.
type App struct {
	*lambdainit.Function
	Env      Env
	Upstream *Upstream // nil for a function that calls no WeChat Pay API
	// Brand is the brand's client of a function booted by BootEither (nil
	// without WXPAY_BRAND_SECRET_ID); its Upstream is then the service
	// provider's (nil without WXPAY_SECRET_ID).
	Brand *Upstream
	// Credentials is the identity of a function that only receives
	// (cardevents); nil otherwise.
	Credentials *Credentials
}

// Boot is a cold start: read the environment, build the Secrets Manager
// client from it (AWS_ENDPOINT_URL_SECRETS_MANAGER applies), read and check
// the secret as identity kind, and build the WeChat Pay client once.
func Boot(ctx context.Context, fn *lambdainit.Function, kind wxsign.Scheme) (*App, error) {
	env, err := OSEnv()
	if err != nil {
		return nil, err
	}
	app := &App{Function: fn, Env: env}
	if err := bootClients(ctx, app, identity{env.SecretID, kind, &app.Upstream}); err != nil {
		return nil, err
	}
	return app, nil
}

// BootEither is the cold start of a function that calls WeChat Pay as a
// brand, as a service provider, or both (the member queue's consumer):
// each secret given is read and checked as its identity, and each gets its
// own client over one HTTP client.
func BootEither(ctx context.Context, fn *lambdainit.Function) (*App, error) {
	env, err := EitherEnvFrom(os.Getenv)
	if err != nil {
		return nil, err
	}
	app := &App{Function: fn, Env: env}
	var ids []identity
	if env.SecretID != "" {
		ids = append(ids, identity{env.SecretID, wxsign.Merchant, &app.Upstream})
	}
	if env.BrandSecretID != "" {
		ids = append(ids, identity{env.BrandSecretID, wxsign.Brand, &app.Brand})
	}
	if err := bootClients(ctx, app, ids...); err != nil {
		return nil, err
	}
	return app, nil
}

// identity is a secret a function signs with, and where its client goes.
type identity struct {
	secretID string
	kind     wxsign.Scheme
	dst      **Upstream
}

// bootClients builds one HTTP client (its connection to WeChat Pay opened
// while the secrets are read), then reads and checks each secret as its
// identity and builds its WeChat Pay client.
func bootClients(ctx context.Context, app *App, ids ...identity) error {
	hc := wxpay.NewHTTPClient(nil)
	if !app.Env.NoPreconnect {
		// The handshake with WeChat Pay overlaps the secret reads below.
		StartPreconnect(hc.Transport.(*http.Transport), app.Env.BaseURL, wxpay.IdleConnTimeout)
	}
	ctx, cancel := context.WithTimeout(ctx, SecretsTimeout)
	defer cancel()
	sm, err := secret.ClientFromEnv(os.Getenv)
	if err != nil {
		return fmt.Errorf("AWS environment: %w", err)
	}
	for _, id := range ids {
		load := func(ctx context.Context) (*secret.Identity, error) { return secret.Load(ctx, sm, id.secretID, id.kind) }
		up, err := NewUpstream(ctx, app.Env, load, hc, app.Logger)
		if err != nil {
			return err
		}
		up.Credentials().Metrics = app.Metrics
		*id.dst = up
	}
	return nil
}

// MustBootEither is BootEither or, failing, refuses to serve as MustBoot
// does.
func MustBootEither(function string) *App {
	fn := lambdainit.New(function)
	app, err := BootEither(context.Background(), fn)
	if err != nil {
		fn.Refuse(err)
	}
	return app
}

// MustBootOptional boots a function whose WeChat Pay calls are optional
// (the member API: activation needs the service provider's or merchant's
// secret, its other routes none): with WXPAY_SECRET_ID as MustBoot does,
// as identity kind; without it, with no Upstream. A failure refuses to
// serve as MustBoot does.
func MustBootOptional(function string, kind wxsign.Scheme) *App {
	fn := lambdainit.New(function)
	env, err := envFrom(os.Getenv)
	if err != nil {
		fn.Refuse(err)
	}
	app := &App{Function: fn, Env: env}
	if env.SecretID == "" {
		return app
	}
	if err := bootClients(context.Background(), app, identity{env.SecretID, kind, &app.Upstream}); err != nil {
		fn.Refuse(err)
	}
	return app
}

// BootReceiver is the cold start of a function that calls no WeChat Pay
// API but verifies and decrypts what WeChat Pay sends: the environment and
// the secret as identity kind, which must hold the key its notifications
// are encrypted with (secret.Identity.NeedNotificationKey; a refresh that
// loses it keeps the identity in use). An empty kind takes the identity
// the secret holds at cold start and keeps to it.
func BootReceiver(ctx context.Context, fn *lambdainit.Function, kind wxsign.Scheme) (*App, error) {
	env, err := OSEnv()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, SecretsTimeout)
	defer cancel()
	sm, err := secret.ClientFromEnv(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("AWS environment: %w", err)
	}
	load := func(ctx context.Context) (*secret.Identity, error) {
		id, err := secret.Load(ctx, sm, env.SecretID, kind)
		if err != nil {
			return nil, err
		}
		// A secret rewritten to the other kind is refused, not followed:
		// the function serves the route of the kind it started with.
		kind = id.Scheme
		return id, id.NeedNotificationKey(env.SecretID)
	}
	creds, err := NewCredentials(ctx, load, fn.Logger)
	if err != nil {
		return nil, err
	}
	creds.Metrics = fn.Metrics
	return &App{Function: fn, Env: env, Credentials: creds}, nil
}

// MustBootReceiver is BootReceiver or, failing, refuses to serve as
// MustBoot does.
func MustBootReceiver(function string, kind wxsign.Scheme) *App {
	fn := lambdainit.New(function)
	app, err := BootReceiver(context.Background(), fn, kind)
	if err != nil {
		fn.Refuse(err)
	}
	return app
}

// MustBoot boots or, failing, logs why (naming the secret and field, never
// its content), reports an init error to the Lambda Runtime API, and exits:
// the function refuses to serve rather than serve with broken credentials.
func MustBoot(function string, kind wxsign.Scheme) *App {
	fn := lambdainit.New(function)
	app, err := Boot(context.Background(), fn, kind)
	if err != nil {
		fn.Refuse(err)
	}
	return app
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
