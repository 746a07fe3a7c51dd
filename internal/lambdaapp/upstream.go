package lambdaapp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"

	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// Upstream is a WeChat Pay client that follows its secret. It is built once
// at cold start; warm invocations reuse its client and connection pool and
// call Secrets Manager only when a refresh is due.
type Upstream struct {
	creds  *Credentials
	env    Env
	http   *http.Client
	logger *slog.Logger

	mu       sync.Mutex
	client   *wxpay.Client
	builtFor *secret.Identity // the identity client was built for
	pace     func(context.Context) error
}

// SetPace makes every attempt of every later call wait for pace first
// (wxpay.Config.Pace): how a function bound by WeChat Pay's calls per
// second counts retries too.
func (u *Upstream) SetPace(pace func(context.Context) error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.pace = pace
	// The next call builds a client with the pace: never the old one.
	u.client = nil
}

// NewUpstream loads the identity once (failing if it cannot) and builds the client.
func NewUpstream(ctx context.Context, env Env, load LoadFunc, hc *http.Client, logger *slog.Logger) (*Upstream, error) {
	creds, err := NewCredentials(ctx, load, logger)
	if err != nil {
		return nil, err
	}
	u := &Upstream{creds: creds, env: env, http: hc, logger: logger}
	if _, err := u.clientFor(creds.Current(ctx)); err != nil {
		return nil, err
	}
	return u, nil
}

// Credentials is the identity the client follows.
func (u *Upstream) Credentials() *Credentials { return u.creds }

// Identity returns the identity in use.
func (u *Upstream) Identity() *secret.Identity {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.builtFor
}

// Version is wxcard's version, sent as the product "wxcard/Version" in
// front of the wxpay library's User-Agent.
const Version = "0.1.0"

// clientFor returns the client for id, building it when the identity changed.
func (u *Upstream) clientFor(id *secret.Identity) (*wxpay.Client, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.client != nil && u.builtFor == id {
		return u.client, nil
	}
	c, err := wxpay.New(wxpay.Config{
		BaseURL: u.env.BaseURL, BackupURL: u.env.BackupURL,
		Signer: id.Signer(), Verifier: id.Verifier(), PublicKeyID: id.PublicKeyID,
		HTTPClient: u.http, Logger: u.logger, Product: "wxcard/" + Version, Pace: u.pace,
	})
	if err != nil {
		if u.client != nil {
			return u.client, nil // keep the working client
		}
		return nil, err
	}
	u.client, u.builtFor = c, id
	return c, nil
}

// Do calls WeChat Pay with the current credentials. SIGN_ERROR, or an
// answer signed by a key ID the secret does not hold, asks for a refresh.
func (u *Upstream) Do(ctx context.Context, req wxpay.Request) (*wxpay.Response, error) {
	c, err := u.clientFor(u.creds.Current(ctx))
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(ctx, req)
	var apiErr *wxpay.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.Code == "SIGN_ERROR":
		u.creds.MarkStale("SIGN_ERROR")
	case errors.Is(err, wxsign.ErrUnknownKey):
		u.creds.MarkStale("unknown key ID")
	}
	return resp, err
}
