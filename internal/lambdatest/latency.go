package lambdatest

import (
	"io"
	"net"
	"sync"
	"time"
)

// LatencyProxy is a TCP proxy that makes every new connection cost the
// round trips of a distant server: the first bytes the server sends reach
// the client no sooner than Handshake after the client connected (for
// TLS 1.3 over TCP, two round trips: TCP's and TLS's). Later bytes pass
// at loopback speed, as on a warm connection.
type LatencyProxy struct {
	Addr string // host:port to connect to instead of the target

	l      net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

// NewLatencyProxy proxies to target (host:port) with the given handshake
// delay per new connection.
func NewLatencyProxy(target string, handshake time.Duration) (*LatencyProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &LatencyProxy{Addr: l.Addr().String(), l: l}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted := time.Now()
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			if !p.track(c, up) {
				return
			}
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() {
				defer p.wg.Done()
				_, _ = io.Copy(&delayedWriter{w: c, until: accepted.Add(handshake)}, up)
				_ = c.Close()
			}()
		}
	}()
	return p, nil
}

func (p *LatencyProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	p.conns = append(p.conns, cs...)
	return true
}

// Close stops the proxy and its connections.
func (p *LatencyProxy) Close() {
	p.mu.Lock()
	p.closed = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	_ = p.l.Close()
	p.wg.Wait()
}

// delayedWriter holds its first write until a point in time: the
// simulated network latency, not a synchronisation.
type delayedWriter struct {
	w     io.Writer
	until time.Time
	once  bool
}

func (d *delayedWriter) Write(b []byte) (int, error) {
	if !d.once {
		d.once = true
		time.Sleep(time.Until(d.until))
	}
	return d.w.Write(b)
}
