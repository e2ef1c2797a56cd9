package wsapi

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/protocol"
)

// presence is a Backend that reports when a device is disconnected; it has no call ringing.
type presence struct {
	Backend      // nil: only the methods below are called
	disconnected chan time.Time
}

func newPresence() *presence { return &presence{disconnected: make(chan time.Time, 1)} }

func (b *presence) RingingCalls(context.Context, string) ([]call.Call, int64, error) {
	return nil, 0, nil
}
func (b *presence) DeviceConnected(string, string) {}
func (b *presence) DeviceDisconnected(string, string) {
	select {
	case b.disconnected <- time.Now():
	default:
	}
}

// lost waits for the device's disconnection and returns when it came.
func (b *presence) lost(t *testing.T) time.Time {
	t.Helper()
	select {
	case at := <-b.disconnected:
		return at
	case <-time.After(10 * time.Second):
		t.Fatal("the device was not disconnected")
		return time.Time{}
	}
}

// handBus is a Bus that hands each subscriber's deliver function to the test.
type handBus struct {
	subscribed chan func([]switchboard.LogEntry)
}

func newHandBus() *handBus { return &handBus{subscribed: make(chan func([]switchboard.LogEntry), 1)} }

func (b *handBus) Subscribe(_ string, deliver func([]switchboard.LogEntry)) func() {
	b.subscribed <- deliver
	return func() {}
}

func (b *handBus) deliver(t *testing.T) func([]switchboard.LogEntry) {
	t.Helper()
	select {
	case d := <-b.subscribed:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no login subscribed")
		return nil
	}
}

// smallSendBuffers gives each accepted connection a small send buffer: a peer that reads
// nothing blocks the server's writes after a few frames.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

// serve runs srv on a test listener; the sessions still open are shut down after the test.
func serve(t *testing.T, srv *Server) string {
	t.Helper()
	hs := httptest.NewUnstartedServer(srv)
	hs.Listener = smallSendBuffers{hs.Listener}
	hs.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hs.Close()
	})
	return hs.Listener.Addr().String()
}

// rawPeer is a WebSocket client on a bare socket with a small receive buffer, that reads only
// the handshake's answer: with the server's small send buffer (serve), the server's writes
// block after a few frames.
type rawPeer struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawPeer {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_, err = nc.Write([]byte("GET /v1/ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\n" +
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := &rawPeer{t: t, nc: nc, br: bufio.NewReader(nc)}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := p.br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		t.Fatalf("handshake answered %q, %v", status, err)
	}
	for {
		line, err := p.br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			return p
		}
	}
}

// send writes text as one masked text frame (with a zero mask: the payload goes as is).
func (p *rawPeer) send(text string) {
	p.t.Helper()
	if err := p.trySend(text); err != nil {
		p.t.Fatal(err)
	}
}

// trySend is send for a goroutine other than the test's: it returns the write's error.
func (p *rawPeer) trySend(text string) error {
	_, err := p.nc.Write(maskedTextFrame(text))
	return err
}

// maskedTextFrame returns text, of at most 65,535 bytes, as one text frame from a client, masked
// with a zero mask: the payload goes as is.
func maskedTextFrame(text string) []byte {
	frame := []byte{0x81}
	switch n := len(text); {
	case n < 126:
		frame = append(frame, 0x80|byte(n))
	default:
		frame = append(frame, 0x80|126, byte(n>>8), byte(n))
	}
	frame = append(frame, 0, 0, 0, 0)
	return append(frame, text...)
}

// bigEvents returns n events for every device, each of size bytes.
func bigEvents(userID string, from int64, n, size int) []switchboard.LogEntry {
	data := append(append([]byte(`"`), bytes.Repeat([]byte("x"), size)...), '"')
	entries := make([]switchboard.LogEntry, n)
	for i := range entries {
		entries[i] = switchboard.LogEntry{UserID: userID, Seq: from + int64(i), Prev: from + int64(i) - 1, Target: call.AllDevices,
			Event: protocol.EventCallUserStateChanged, Data: data}
	}
	return entries
}

// kickTimeout is the heartbeat timeout of the heartbeat-kick tests below. A kick that waited
// for the blocked write would come about 1.8 of it after the peer's last frame (the write
// starts at 0.8 and times out one timeout later), and the tests allow 1.5: with two seconds
// the kick has a second of slack on a loaded machine.
const kickTimeout = 2 * time.Second

// loginSilent logs alice's device in on a rawPeer that then sends and reads nothing, and
// returns the deliver function of her subscription and the moment the test saw that
// subscription. The server starts counting the peer's silence at the end of its login, after
// it subscribed, so the silence is at least as long as measured from that moment; measured
// from before the login frame was sent, a slow machine would add its delay to it.
func loginSilent(t *testing.T, addr string, bus *handBus) (func([]switchboard.LogEntry), time.Time) {
	t.Helper()
	peer := dialRaw(t, addr)
	peer.send(`{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1"}}`)
	deliver := bus.deliver(t)
	return deliver, time.Now()
}

// R6.1: a connection silent for heartbeatTimeout is closed, and its device counts as
// disconnected from then on. A peer that stopped reading and then vanished without a FIN (a
// phone losing its network) leaves the server blocked writing to a full socket; the heartbeat
// kick must not wait for that write to time out, which takes up to one more heartbeatTimeout.
func TestHeartbeatKickDoesNotWaitForABlockedWrite(t *testing.T) {
	const timeout = kickTimeout
	backend, bus := newPresence(), newHandBus()
	addr := serve(t, New(Config{HeartbeatTimeout: timeout, SendQueue: 1024}, backend, bus, tokenIsUser{}, nil, nil))
	deliver, last := loginSilent(t, addr, bus)
	// Shortly before the heartbeat kick, events fill the buffers: the server is blocked
	// writing when the kick comes.
	burst := time.AfterFunc(time.Until(last.Add(timeout*8/10)), func() { deliver(bigEvents("alice", 1, 40, 16<<10)) })
	t.Cleanup(func() { burst.Stop() })
	if waited := backend.lost(t).Sub(last); waited > timeout*3/2 {
		t.Errorf("device disconnected %v after its last frame, want about %v", waited.Round(time.Millisecond), timeout)
	}
}

// R6.1: the same when the events overflow the send queue first. The slowConsumer kick waits
// behind the blocked write; the heartbeat kick that follows must still close the connection.
func TestHeartbeatKickClosesAConnectionKickedBefore(t *testing.T) {
	const timeout = kickTimeout
	backend, bus := newPresence(), newHandBus()
	addr := serve(t, New(Config{HeartbeatTimeout: timeout, SendQueue: 16}, backend, bus, tokenIsUser{}, nil, nil))
	deliver, last := loginSilent(t, addr, bus)
	burst := time.AfterFunc(time.Until(last.Add(timeout*8/10)), func() {
		for i := range 40 { // one by one, as the bus delivers commits: the queue overflows
			deliver(bigEvents("alice", int64(1+i), 1, 16<<10))
		}
	})
	t.Cleanup(func() { burst.Stop() })
	if waited := backend.lost(t).Sub(last); waited > timeout*3/2 {
		t.Errorf("device disconnected %v after its last frame, want about %v", waited.Round(time.Millisecond), timeout)
	}
}

// R6.1, docs/reliability.md "Slow consumers": a peer that keeps sending heartbeats, so is never
// silent, but accepts no frame (its buffers full, below the send queue's bound, so it is not
// shed) is closed once a write has been blocked for heartbeatTimeout, and its device counts as
// disconnected; it does not hold its session, and the frames queued for it, for ever.
func TestPeerThatAcceptsNoFrameIsClosed(t *testing.T) {
	backend, bus := newPresence(), newHandBus()
	addr := serve(t, New(Config{HeartbeatTimeout: kickTimeout, SendQueue: 1024}, backend, bus, tokenIsUser{}, nil, nil))
	peer := dialRaw(t, addr)
	peer.send(`{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1"}}`)
	bus.deliver(t)(bigEvents("alice", 1, 40, 16<<10)) // more than the buffers hold
	stop := make(chan struct{})
	defer close(stop)
	go heartbeatUntil(peer, kickTimeout/4, stop)
	backend.lost(t)
}

// heartbeatUntil sends peer's heartbeats every interval until stop is closed or a write fails.
func heartbeatUntil(peer *rawPeer, interval time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for id := 2; ; id++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if peer.trySend(fmt.Sprintf(`{"id":%d,"op":"heartbeat"}`, id)) != nil {
			return
		}
	}
}

// A graceful shutdown waits for the sessions only until its context ends: a peer that stopped
// reading, whose close waits on a blocked write, must not keep its session running on, past
// the shutdown, until the write times out (the switchboard is closed after Shutdown returns).
//
// The operator learns from the log that the drain's time ran out, and how many connections
// were cut without their close handshake.
func TestShutdownClosesTheConnectionsStillOpenWhenItsContextEnds(t *testing.T) {
	backend, bus := newPresence(), newHandBus()
	var logs lockedBuffer
	srv := New(Config{HeartbeatTimeout: time.Minute, SendQueue: 1024}, backend, bus, tokenIsUser{}, nil,
		slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	addr := serve(t, srv)
	peer := dialRaw(t, addr)
	peer.send(`{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1"}}`)
	bus.deliver(t)(bigEvents("alice", 1, 40, 16<<10)) // more than the buffers hold
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	srv.Shutdown(ctx)
	ended := time.Now()
	if waited := backend.lost(t).Sub(ended); waited > time.Second {
		t.Errorf("session ended %v after Shutdown returned", waited.Round(time.Millisecond))
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "connections=1") {
		t.Errorf("log %q; want a warning that the drain cut 1 connection", logs.String())
	}
}

// heldHijack is a ResponseWriter whose connection is taken over only once released: it holds
// a connection between the server's check that it is not shutting down and the session's start.
type heldHijack struct {
	http.ResponseWriter
	conn     net.Conn
	hijacked chan struct{}
	release  chan struct{}
}

func (w *heldHijack) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	close(w.hijacked)
	<-w.release
	return w.conn, bufio.NewReadWriter(bufio.NewReader(w.conn), bufio.NewWriter(w.conn)), nil
}

// A connection accepted as Shutdown begins is kicked with shutdown like the others, rather
// than missed by it and left running past the shutdown.
func TestShutdownKicksAConnectionItsUpgradeOverlapped(t *testing.T) {
	srv := New(Config{}, newPresence(), newHandBus(), tokenIsUser{}, nil, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	w := &heldHijack{ResponseWriter: httptest.NewRecorder(), conn: server,
		hijacked: make(chan struct{}), release: make(chan struct{})}
	r := httptest.NewRequest("GET", "/v1/ws", nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	r.Header.Set("Sec-WebSocket-Version", "13")
	served := make(chan struct{})
	go func() { defer close(served); srv.ServeHTTP(w, r) }()
	<-w.hijacked // past the check that the server is not shutting down

	shutDown := make(chan struct{})
	go func() {
		defer close(shutDown)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	for draining := false; !draining; runtime.Gosched() { // Shutdown has listed the sessions
		srv.mu.Lock()
		draining = srv.draining
		srv.mu.Unlock()
	}
	close(w.release)
	<-served

	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(client)
	if _, err := http.ReadResponse(br, nil); err != nil {
		t.Fatal(err)
	}
	var head [2]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		t.Fatalf("no frame from the server: %v", err)
	}
	payload := make([]byte, head[1]&0x7f)
	io.ReadFull(br, payload)
	if !strings.Contains(string(payload), `"event":"kicked"`) || !strings.Contains(string(payload), protocol.KickShutdown) {
		t.Errorf("first frame %q, want the kicked event with reason shutdown", payload)
	}
	client.Close()
	<-shutDown
}
