package wsapi

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/internal/gopool"
	"github.com/dialtone/dialtone/internal/goroutines"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// trackedBackend is a Backend that counts the devices connected and not yet disconnected.
type trackedBackend struct {
	prunedLog
	connected atomic.Int32
}

func (b *trackedBackend) DeviceConnected(string, string)         { b.connected.Add(1) }
func (b *trackedBackend) DeviceDisconnected(string, string)      { b.connected.Add(-1) }
func (b *trackedBackend) Logout(context.Context, string, string) {}

// countingBus is a Bus that counts its live subscriptions and can deliver to them.
type countingBus struct {
	mu   sync.Mutex
	subs map[*func([]switchboard.LogEntry)]struct{}
}

func (b *countingBus) Subscribe(_ string, deliver func([]switchboard.LogEntry)) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs == nil {
		b.subs = map[*func([]switchboard.LogEntry)]struct{}{}
	}
	key := &deliver
	b.subs[key] = struct{}{}
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.subs, key)
	}
}

func (b *countingBus) live() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// publish delivers entries to every live subscription.
func (b *countingBus) publish(entries []switchboard.LogEntry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for d := range b.subs {
		(*d)(entries)
	}
}

// endpointGoroutines returns the stacks of the goroutines the endpoint runs: sessions, their
// send queues, its task pool, the timers' functions.
func endpointGoroutines() []string {
	var found []string
	for _, g := range goroutines.Stacks() {
		if (strings.Contains(g, "dialtone/internal/wsapi.") || strings.Contains(g, "dialtone/internal/wsconn.") ||
			strings.Contains(g, "dialtone/internal/gopool.")) && !strings.Contains(g, "_test.go") {
			found = append(found, g)
		}
	}
	return found
}

// waitReleased waits, up to 10 s (the task pool's idle goroutines linger 2 s), until srv holds
// nothing of any session: no session, user entry, place among the connections not logged in,
// bus subscription, connected device, and no goroutine; it fails the test with what is left.
func waitReleased(t *testing.T, what string, srv *Server, backend *trackedBackend, bus *countingBus) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		srv.mu.Lock()
		sessions, users, unauth := len(srv.all), len(srv.users), len(srv.unauth)
		srv.mu.Unlock()
		subs, connected, goroutines := bus.live(), backend.connected.Load(), endpointGoroutines()
		if sessions+users+unauth+subs+int(connected)+len(goroutines) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d sessions, %d user entries, %d addresses not logged in, %d subscriptions, "+
				"%d devices connected, %d goroutines left:\n%s", what, sessions, users, unauth, subs, connected,
				len(goroutines), strings.Join(goroutines, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
}

// lifecycleServer serves a new endpoint with cfg on a test listener.
func lifecycleServer(t *testing.T, cfg Config) (*Server, string, *trackedBackend, *countingBus) {
	t.Helper()
	backend, bus := &trackedBackend{prunedLog: prunedLog{oldest: 1}}, &countingBus{}
	srv := New(cfg, backend, bus, tokenIsUser{}, nil, nil)
	srv.tasks = gopool.New(10 * time.Millisecond) // idle task goroutines end soon: the checks wait less
	return srv, listen(t, srv), backend, bus
}

// listen serves srv on a test listener, closed after the test, and returns its WebSocket URL.
func listen(t *testing.T, srv *Server) string {
	t.Helper()
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

func dialWS(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.Dial(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return conn
}

const aliceLogin = `{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1"}}`

// However a session ends, the endpoint holds nothing of it afterwards: its goroutines and
// timers are gone, its bus subscription cancelled, its device disconnected (R6.1), and the
// per-user and per-address entries it made removed (R6.2, protocol.md "Transport").
func TestSessionEndsLeaveNothing(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		end  func(t *testing.T, url string, bus *countingBus)
	}{
		{"client closes", Config{}, func(t *testing.T, url string, _ *countingBus) {
			conn := dialWS(t, url)
			exchange(t, conn, aliceLogin)
			conn.Close(websocket.StatusNormalClosure, "")
		}},
		{"logout", Config{}, func(t *testing.T, url string, _ *countingBus) {
			conn := dialWS(t, url)
			exchange(t, conn, aliceLogin)
			requestFrame(t, conn, `{"id":2,"op":"logout"}`)
			readUntilKicked(t, conn)
			conn.CloseNow() // kicked: the client hangs up
		}},
		{"replaced", Config{}, func(t *testing.T, url string, _ *countingBus) {
			first := dialWS(t, url)
			exchange(t, first, aliceLogin)
			second := dialWS(t, url)
			exchange(t, second, aliceLogin)
			readUntilKicked(t, first)
			first.CloseNow()
			second.Close(websocket.StatusNormalClosure, "")
		}},
		{"heartbeat timeout", Config{HeartbeatTimeout: 300 * time.Millisecond}, func(t *testing.T, url string, _ *countingBus) {
			conn := dialWS(t, url)
			exchange(t, conn, aliceLogin)
			readUntilKicked(t, conn)
		}},
		{"bad frames", Config{}, func(t *testing.T, url string, _ *countingBus) {
			conn := dialWS(t, url)
			exchange(t, conn, aliceLogin)
			for range badFrameLimit {
				_ = conn.Write(t.Context(), websocket.MessageText, []byte("not json"))
			}
			readUntilKicked(t, conn)
			conn.CloseNow()
		}},
		{"vanished without a close frame", Config{}, func(t *testing.T, url string, _ *countingBus) {
			conn := dialWS(t, url)
			exchange(t, conn, aliceLogin)
			conn.CloseNow()
		}},
		{"write fails", Config{}, func(t *testing.T, url string, bus *countingBus) {
			peer := dialRaw(t, strings.TrimPrefix(url, "ws://"))
			peer.send(aliceLogin)
			deadline := time.Now().Add(10 * time.Second)
			for bus.live() == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
			}
			peer.nc.(*net.TCPConn).SetLinger(0) // the close resets the connection: writes fail
			peer.nc.Close()
			bus.publish(bigEvents("alice", 1, 4, 1<<10))
		}},
		{"auth failed before login", Config{}, func(t *testing.T, url string, _ *countingBus) {
			conn := dialWS(t, url)
			_ = conn.Write(t.Context(), websocket.MessageText, []byte(`{"id":1,"op":"login","data":{"token":"","deviceID":"a1"}}`))
			conn.CloseNow()
		}},
		{"login timeout", Config{LoginTimeout: 200 * time.Millisecond}, func(t *testing.T, url string, _ *countingBus) {
			conn := dialWS(t, url)
			readUntilKicked(t, conn)
			conn.CloseNow()
		}},
		{"refused before login", Config{MaxUnauthenticatedPerIP: 1}, func(t *testing.T, url string, _ *countingBus) {
			first := dialWS(t, url)
			second := dialWS(t, url)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			for { // refused: an error frame, then the close
				if _, _, err := second.Read(ctx); err != nil {
					break
				}
			}
			first.Close(websocket.StatusNormalClosure, "")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, url, backend, bus := lifecycleServer(t, tc.cfg)
			tc.end(t, url, bus)
			waitReleased(t, "after the session ended", srv, backend, bus)
		})
	}
}

// Many sessions that log in and end leave the endpoint as it was, and a shutdown ends every
// session and goroutine of the endpoint.
func TestManySessionsAndShutdownLeaveNothing(t *testing.T) {
	srv, url, backend, bus := lifecycleServer(t, Config{})
	for i := range 50 {
		conn := dialWS(t, url)
		exchange(t, conn, `{"id":1,"op":"login","data":{"token":"u`+string(rune('a'+i%26))+`","deviceID":"d"}}`)
		if i%2 == 0 {
			conn.Close(websocket.StatusNormalClosure, "")
		} else {
			conn.CloseNow()
		}
	}
	waitReleased(t, "after 50 sessions", srv, backend, bus)
	for range 5 {
		exchange(t, dialWS(t, url), aliceLogin[:len(aliceLogin)-3]+`2"}}`)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	waitReleased(t, "after Shutdown", srv, backend, bus)
}

// sessionGoroutines returns the stacks of the goroutines that run sessions: their readers and
// their send queues' writers (the task pool's idle goroutines are not a session's, and one
// that has given back its session, Server.wg, only returns).
func sessionGoroutines() []string {
	var found []string
	for _, g := range endpointGoroutines() {
		if strings.Contains(g, "wsapi.(*session)") || strings.Contains(g, "wsapi.(*sendQueue)") {
			found = append(found, g)
		}
	}
	return found
}

// A shutdown whose time runs out closes the connections still open and returns only once
// their sessions have ended: nothing of a session runs on after Shutdown, when the server
// closes the switchboard and the store under it.
func TestShutdownReturnsAfterTheSessionsItCut(t *testing.T) {
	backend := &slowDisconnect{trackedBackend: trackedBackend{prunedLog: prunedLog{oldest: 1}}, release: make(chan struct{})}
	bus := &countingBus{}
	srv := New(Config{HeartbeatTimeout: time.Minute, SendQueue: 1024}, backend, bus, tokenIsUser{}, nil, nil)
	addr := serve(t, srv)
	peer := dialRaw(t, addr) // reads nothing: the server's writes block once the buffers are full
	peer.send(aliceLogin)
	deadline := time.Now().Add(10 * time.Second)
	for bus.live() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
	bus.publish(bigEvents("alice", 1, 40, 16<<10)) // more than the buffers hold
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// The session's end takes a while after its connection is cut (a store that is slow to
	// record the device's disconnection, say): beyond the shutdown's time.
	open := sync.OnceFunc(func() { close(backend.release) })
	time.AfterFunc(time.Second, open)
	t.Cleanup(open)
	srv.Shutdown(ctx)
	if left := sessionGoroutines(); len(left) > 0 {
		t.Fatalf("%d goroutines of sessions still run after Shutdown returned:\n%s", len(left), strings.Join(left, "\n\n"))
	}
	if n := backend.connected.Load(); n != 0 {
		t.Errorf("%d devices still connected after Shutdown returned", n)
	}
	if n := srv.Sessions(); n != 0 {
		t.Errorf("%d sessions after Shutdown returned", n)
	}
}

// slowDisconnect is a trackedBackend whose DeviceDisconnected waits for release.
type slowDisconnect struct {
	trackedBackend
	release chan struct{}
}

func (b *slowDisconnect) DeviceDisconnected(userID, deviceID string) {
	<-b.release
	b.trackedBackend.DeviceDisconnected(userID, deviceID)
}
