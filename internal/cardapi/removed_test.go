package cardapi_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/authority"
	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
)

// callerFunc is a Caller in a function.
type callerFunc func(context.Context, wxpay.Request) (*wxpay.Response, error)

func (f callerFunc) Do(ctx context.Context, req wxpay.Request) (*wxpay.Response, error) {
	return f(ctx, req)
}

// removedBrand is state in memory holding brandID's snapshot, removed by
// an operator, and the bus it would publish to.
func removedBrand(t *testing.T, brandID string) (*authority.Tracker, *eventbus.Memory) {
	t.Helper()
	store := &authority.Memory{}
	bus := &eventbus.Memory{}
	require.NoError(t, store.Put(context.Background(), authority.Item{BrandID: brandID, State: authority.Authorised,
		Authority: &authority.Authority{AuthorizationType: "AUTHORIZATION_TYPE_HOSTING", AuthorizationProduct: []string{"X"}}, CheckedAt: time.Now(), Version: 1}, 0))
	require.NoError(t, store.Remove(context.Background(), brandID))
	return &authority.Tracker{Store: store, Bus: bus}, bus
}

// A brand an operator removed (a message still queued, or redriven) costs
// WeChat Pay no call and publishes nothing.
func TestBrandCheckerSkipsARemovedBrand(t *testing.T) {
	t.Parallel()
	state, bus := removedBrand(t, "1004")
	called := false
	h := &cardapi.BrandChecker{
		Upstream: callerFunc(func(context.Context, wxpay.Request) (*wxpay.Response, error) {
			called = true
			return nil, wxpay.ErrUnreachable
		}),
		Logger: slog.New(slog.DiscardHandler),
		State:  state,
	}
	r := h.Check(context.Background(), "1004")
	assert.True(t, r.OK)
	assert.Equal(t, string(authority.NotTracked), r.Outcome)
	assert.False(t, called, "WeChat Pay was not asked")
	assert.Empty(t, bus.Events())
}

// The GET route still answers about a removed brand, and says in its log
// that nothing was recorded.
func TestAuthoritiesRouteOnARemovedBrand(t *testing.T) {
	t.Parallel()
	state, bus := removedBrand(t, "1004")
	var logs bytes.Buffer
	h := &cardapi.Authorities{
		Upstream: callerFunc(func(context.Context, wxpay.Request) (*wxpay.Response, error) {
			return &wxpay.Response{Status: 200, Body: []byte(`{"brand_id":"1004","authorization_type":"AUTHORIZATION_TYPE_HOSTING","authorization_product":["Y"],"update_time":"2025-05-20T13:29:35+08:00"}`)}, nil
		}),
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		State:  state,
	}
	ev := event("GET", membercard.ProductAuthoritiesRoute, "", map[string]string{})
	ev.PathParameters = map[string]string{"brand_id": "1004"}
	resp, err := h.Handle(context.Background(), ev)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode, resp.Body)
	assert.Contains(t, logs.String(), `"msg":"authority not recorded: the brand was removed by an operator"`)
	assert.NotContains(t, logs.String(), `"msg":"authority recorded"`)
	assert.Empty(t, bus.Events())
}
