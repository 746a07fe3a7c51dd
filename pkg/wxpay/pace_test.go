package wxpay_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

// Pace is waited for before every attempt, retries included, so that a
// rate limiter counts every request that may reach WeChat Pay; its error
// ends the call before anything is sent.
func TestPaceBeforeEveryAttempt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, wxpaytest.Options{})
	var paced, sent atomic.Int64
	busy := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		assert.Equal(t, sent.Load(), paced.Load(), "each request was paced first")
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	})
	c := f.client(t, func(c *wxpay.Config) {
		c.HTTPClient = &http.Client{Transport: busy}
		c.Pace = func(context.Context) error { paced.Add(1); return nil }
	})
	_, err := c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	var ce *wxpay.CallError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 3, ce.Attempts)
	assert.Equal(t, int64(3), paced.Load())
	assert.Equal(t, int64(3), sent.Load())

	refused := errors.New("limiter closed")
	c = f.client(t, func(c *wxpay.Config) {
		c.HTTPClient = &http.Client{Transport: busy}
		c.Pace = func(context.Context) error { return refused }
	})
	_, err = c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
	require.ErrorIs(t, err, refused)
	assert.Equal(t, int64(3), sent.Load(), "nothing sent")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c = f.client(t, func(c *wxpay.Config) { c.Pace = func(ctx context.Context) error { return ctx.Err() } })
	_, err = c.Do(ctx, partnerRequest())
	require.ErrorIs(t, err, wxpay.ErrTimeout)
	assert.Empty(t, f.srv.Requests())
}
