package lambdaapp

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Preconnect overlaps a cold start's two waits: while the secret is read,
// it opens the TCP and TLS connection to WeChat Pay's primary host, and
// makes that connection the transport's first one to that host, so the
// first invocation does not wait for a handshake. It sends nothing over
// the connection: WeChat Pay sees no request.
//
// A pre-opened connection is used at most once, and only if it is younger
// than maxAge and still open; otherwise the transport dials as usual. A
// dial that is still under way when the first request needs the host is
// waited for (within that request's context) rather than dialled twice.
type Preconnect struct {
	addr   string        // host:port of the primary host
	maxAge time.Duration // older than this, the connection may have been closed by WeChat Pay
	now    func() time.Time
	dial   func(ctx context.Context, network, addr string) (net.Conn, error) // the transport's ordinary TLS dial

	done   chan struct{} // closed when the pre-dial ended
	conn   net.Conn
	err    error
	opened time.Time

	once sync.Once // the pre-opened connection is offered once
}

// preconnectTimeout bounds the background dial: the transport's dial (2 s)
// and handshake (3 s) timeouts.
const preconnectTimeout = 5 * time.Second

// StartPreconnect starts dialling baseURL's host in the background and
// installs the connection in t, whose DialTLSContext it takes over (the
// transport's own TLS settings still apply to every connection). It
// returns nil, changing nothing, where the pre-dial cannot help: not an
// https URL, or a proxy in the way.
func StartPreconnect(t *http.Transport, baseURL string, maxAge time.Duration) *Preconnect {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil
	}
	if t.Proxy != nil {
		if p, err := t.Proxy(&http.Request{URL: u}); err != nil || p != nil {
			return nil
		}
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	p := &Preconnect{
		addr: net.JoinHostPort(u.Hostname(), port), maxAge: maxAge, now: time.Now,
		dial: tlsDialer(t), done: make(chan struct{}),
	}
	t.DialTLSContext = p.DialTLSContext
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), preconnectTimeout)
		defer cancel()
		p.conn, p.err = p.dial(ctx, "tcp", p.addr)
		p.opened = p.now()
		close(p.done)
	}()
	return p
}

// tlsDialer is the TLS dial http.Transport does itself: its DialContext,
// then a handshake with its TLSClientConfig within TLSHandshakeTimeout.
func tlsDialer(t *http.Transport) func(ctx context.Context, network, addr string) (net.Conn, error) {
	dialTCP := t.DialContext
	if dialTCP == nil {
		dialTCP = (&net.Dialer{}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		raw, err := dialTCP(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cfg := &tls.Config{}
		if t.TLSClientConfig != nil {
			cfg = t.TLSClientConfig.Clone()
		}
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			cfg.ServerName = host
		}
		hctx := ctx
		if t.TLSHandshakeTimeout > 0 {
			var cancel context.CancelFunc
			hctx, cancel = context.WithTimeout(ctx, t.TLSHandshakeTimeout)
			defer cancel()
		}
		conn := tls.Client(raw, cfg)
		if err := conn.HandshakeContext(hctx); err != nil {
			_ = raw.Close()
			return nil, err
		}
		return conn, nil
	}
}

// DialTLSContext is the transport's TLS dial: the pre-opened connection
// for the first request to the primary host, when it is usable, and an
// ordinary dial otherwise.
func (p *Preconnect) DialTLSContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if addr == p.addr {
		var conn net.Conn
		p.once.Do(func() { conn = p.take(ctx) })
		if conn != nil {
			return conn, nil
		}
	}
	return p.dial(ctx, network, addr)
}

// take waits for the pre-dial (within ctx) and returns its connection if
// it is fresh and still open; a connection it does not return is closed.
func (p *Preconnect) take(ctx context.Context) net.Conn {
	select {
	case <-p.done:
	case <-ctx.Done():
		go func() { <-p.done; closeConn(p.conn) }()
		return nil
	}
	if p.err != nil || p.conn == nil {
		return nil
	}
	if p.now().Sub(p.opened) >= p.maxAge || !alive(p.conn) {
		closeConn(p.conn)
		return nil
	}
	return p.conn
}

// Wait waits until the pre-dial has ended and returns its error; for
// tests and benchmarks.
func (p *Preconnect) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func closeConn(c net.Conn) {
	if c != nil {
		_ = c.Close()
	}
}

// alive reports whether a connection nobody has written to is still open:
// a read that would block means open; EOF or an error means the peer
// closed it. An HTTP/1.1 server sends nothing before a request, so no
// data is lost.
func alive(c net.Conn) bool {
	if err := c.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		return false
	}
	var b [1]byte
	_, err := c.Read(b[:])
	_ = c.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
