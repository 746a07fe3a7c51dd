package lambdaapp

import (
	"context"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/wxpay"
)

type countingServer struct {
	*httptest.Server
	conns, requests atomic.Int64
}

func newCountingServer(t *testing.T) *countingServer {
	s := &countingServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		_, _ = w.Write([]byte(`{}`))
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *countingServer) transport() (*http.Client, *http.Transport) {
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	c := wxpay.NewHTTPClient(pool)
	return c, c.Transport.(*http.Transport)
}

func get(t *testing.T, c *http.Client, url string) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// The connection opened during init serves the first request: one
// connection in all, and the pre-dial itself sent no request.
func TestPreconnectServesTheFirstRequest(t *testing.T) {
	srv := newCountingServer(t)
	c, tr := srv.transport()
	p := StartPreconnect(tr, srv.URL, wxpay.IdleConnTimeout)
	require.NotNil(t, p)
	require.NoError(t, p.Wait(context.Background()))
	assert.EqualValues(t, 1, srv.conns.Load())
	assert.EqualValues(t, 0, srv.requests.Load(), "no request is sent to open the connection")

	get(t, c, srv.URL+"/a")
	get(t, c, srv.URL+"/b")
	assert.EqualValues(t, 1, srv.conns.Load(), "the first request used the pre-opened connection, the second reused it")
	assert.EqualValues(t, 2, srv.requests.Load())
}

// A pre-opened connection that is too old, or that the server closed, is
// not used; the request dials anew and succeeds.
func TestPreconnectDropsStaleConnections(t *testing.T) {
	t.Run("too old", func(t *testing.T) {
		srv := newCountingServer(t)
		c, tr := srv.transport()
		p := StartPreconnect(tr, srv.URL, time.Hour)
		require.NoError(t, p.Wait(context.Background()))
		p.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
		get(t, c, srv.URL)
		assert.EqualValues(t, 2, srv.conns.Load())
	})
	t.Run("closed by the server", func(t *testing.T) {
		srv := newCountingServer(t)
		c, tr := srv.transport()
		p := StartPreconnect(tr, srv.URL, time.Hour)
		require.NoError(t, p.Wait(context.Background()))
		srv.CloseClientConnections()
		get(t, c, srv.URL)
		assert.EqualValues(t, 2, srv.conns.Load())
	})
}

// An unreachable host makes the pre-dial fail quietly; the request then
// fails as it would have (and wxpay fails over), without waiting again
// for the pre-dial.
func TestPreconnectUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	c := wxpay.NewHTTPClient(nil)
	p := StartPreconnect(c.Transport.(*http.Transport), "https://"+addr, time.Hour)
	require.Error(t, p.Wait(context.Background()))
	resp, err := c.Get("https://" + addr)
	if err == nil {
		_ = resp.Body.Close()
	}
	require.Error(t, err)
}

func TestPreconnectOnlyWhereItHelps(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:1", "-", "https://"} {
		assert.Nil(t, StartPreconnect(wxpay.NewHTTPClient(nil).Transport.(*http.Transport), u, time.Hour), u)
	}
	tr := wxpay.NewHTTPClient(nil).Transport.(*http.Transport)
	tr.Proxy = func(*http.Request) (*url.URL, error) { return url.Parse("http://proxy.invalid:3128") }
	assert.Nil(t, StartPreconnect(tr, "https://api.mch.weixin.qq.com", time.Hour), "a proxy in the way")
}
