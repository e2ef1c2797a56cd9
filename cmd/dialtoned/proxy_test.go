package main

import (
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cutProxy forwards TCP connections to the server and can cut them at any moment, like a
// network that drops: the tests' way of killing a connection mid-stream. It can also hold
// them: stop forwarding both ways, closes included, without closing anything, like a network
// that goes silent (a phone out of signal, a laptop asleep, a NAT that dropped its mapping).
type cutProxy struct {
	ln      net.Listener
	target  string
	discard atomic.Bool  // while set, server-to-client bytes are dropped (replies "lost")
	freeze  atomic.Bool  // while set, bytes are dropped both ways: the network vanished
	lostUp  atomic.Int64 // client-to-server bytes dropped while freeze was set
	heldUp  atomic.Int64 // client-to-server bytes that waited in a hold
	lastUp  atomic.Int64 // Unix ns of the last client-to-server bytes forwarded
	mu      sync.Mutex
	conns   map[net.Conn]net.Conn // client side → server side
	cuts    atomic.Int64
	holdMu  sync.Mutex
	open    chan struct{} // closed while nothing is held; see hold
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]net.Conn{}, open: make(chan struct{})}
	close(p.open)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.cutAll()
		p.release()
	})
	return p
}

// URL is the WebSocket URL of the server through the proxy.
func (p *cutProxy) URL() string { return "ws://" + p.ln.Addr().String() + "/v1/ws" }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c] = s
		p.mu.Unlock()
		go func() {
			p.copyUp(s, c)
			p.waitRelease()
			p.drop(c)
		}()
		go func() {
			p.copyDown(c, s)
			p.waitRelease()
			p.drop(c)
		}()
	}
}

// copyUp copies client → server, dropping what arrives while freeze is set.
func (p *cutProxy) copyUp(s, c net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 && p.held() {
			p.heldUp.Add(int64(n))
			p.waitRelease()
		}
		if n > 0 && p.freeze.Load() {
			p.lostUp.Add(int64(n))
		} else if n > 0 {
			if _, werr := s.Write(buf[:n]); werr != nil {
				return
			}
			p.lastUp.Store(time.Now().UnixNano())
		}
		if err != nil {
			return
		}
	}
}

// copyDown copies server → client, dropping what arrives while discard or freeze is set.
func (p *cutProxy) copyDown(c, s net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			p.waitRelease()
		}
		if n > 0 && !p.discard.Load() && !p.freeze.Load() {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// hold stops forwarding on every connection, open or opened later: the bytes read and the
// closes seen wait in the proxy, and behind them in the sockets' buffers, until release.
func (p *cutProxy) hold() {
	p.holdMu.Lock()
	defer p.holdMu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default:
	}
}

// release forwards, in order, what waited during the hold, and whatever follows, as TCP does
// for a network back before the connection gave up.
func (p *cutProxy) release() {
	p.holdMu.Lock()
	defer p.holdMu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

// held reports whether a hold is on.
func (p *cutProxy) held() bool {
	select {
	case <-p.gate():
		return false
	default:
		return true
	}
}

// waitRelease waits while a hold is on.
func (p *cutProxy) waitRelease() { <-p.gate() }

// sinceLastUp returns how long ago the server was last sent client bytes: a lower bound of
// how long it has heard nothing from its clients.
func (p *cutProxy) sinceLastUp() time.Duration { return time.Since(time.Unix(0, p.lastUp.Load())) }

func (p *cutProxy) gate() chan struct{} {
	p.holdMu.Lock()
	defer p.holdMu.Unlock()
	return p.open
}

func (p *cutProxy) drop(c net.Conn) {
	p.mu.Lock()
	s, ok := p.conns[c]
	delete(p.conns, c)
	p.mu.Unlock()
	if ok {
		c.Close()
		s.Close()
	}
}

// cutRandom cuts one open connection chosen at random; it reports whether there was one.
func (p *cutProxy) cutRandom() bool {
	p.mu.Lock()
	open := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		open = append(open, c)
	}
	p.mu.Unlock()
	if len(open) == 0 {
		return false
	}
	p.drop(open[rand.IntN(len(open))])
	p.cuts.Add(1)
	return true
}

func (p *cutProxy) cutAll() {
	p.mu.Lock()
	open := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		open = append(open, c)
	}
	p.mu.Unlock()
	for _, c := range open {
		p.drop(c)
	}
}
