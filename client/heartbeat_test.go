package client

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialtone/dialtone/protocol"
)

func TestHeartbeatAtInterval(t *testing.T) {
	fs := newFakeServer(t)
	fs.hbInterval, fs.hbTimeout = 20, 2000
	// The SDK starts its heartbeat interval once logged in, so the third heartbeat cannot come
	// sooner than three intervals after the login began, however late this goroutine runs.
	start := time.Now()
	c, _ := connect(t, fs, Options{})
	for range 3 {
		recv(t, fs.heartbeats, "heartbeat")
	}
	if el := time.Since(start); el < 60*time.Millisecond {
		t.Fatalf("3 heartbeats %v after the login began, want at least 3 intervals (60ms)", el)
	}
	if c.State() != Connected {
		t.Fatalf("state %v", c.State())
	}
}

// A connection on which nothing arrives for the heartbeat timeout, though the client keeps
// sending heartbeats, is dropped with ErrHeartbeatTimeout. The interval leaves each heartbeat's
// write ample time: the websocket library closes a connection whose write outlives its
// context (one interval), which a loaded machine could otherwise cause first.
func TestSilentConnectionIsDropped(t *testing.T) {
	fs := newFakeServer(t)
	fs.hbInterval, fs.hbTimeout = 200, 600
	fs.setRespond(func(fc *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
		return nil, nil, req.Op != protocol.OpHeartbeat // heartbeats get no reply
	})
	rec := newRecorder()
	_, _ = connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Millisecond})
	recv(t, fs.logins, "first login")
	sc := rec.waitState(t, Reconnecting)
	if !errors.Is(sc.reason, ErrHeartbeatTimeout) {
		t.Fatalf("Reconnecting reason %v, want ErrHeartbeatTimeout", sc.reason)
	}
	recv(t, fs.logins, "second login")
}

// A connection that heard the replaced kick, then goes silent, its close lost on the network,
// ends for that kick (docs/behaviour.md §12, "A kick whose close is lost"), and before the
// watchdog could drop it: the client is Disconnected with the kick, rather than reconnecting
// with ErrHeartbeatTimeout and taking the device back from the newer connection; as the
// browser SDK does.
func TestSilentConnectionAfterAKickEndsForTheKick(t *testing.T) {
	fs := newFakeServer(t)
	fs.hbInterval, fs.hbTimeout = 200, 600
	var kicked atomic.Bool
	fs.setRespond(func(fc *fakeConn, req protocol.Request) (any, *protocol.Error, bool) {
		if kicked.Load() {
			return nil, nil, false // a kicked connection carries out nothing more it reads
		}
		return defaultRespond(fc, req)
	})
	rec := newRecorder()
	c, fc := connect(t, fs, Options{EventHandler: rec, MinBackoff: time.Millisecond})
	recv(t, fs.logins, "first login")
	kicked.Store(true)
	fc.kickEvent(protocol.KickReplaced)
	sc := rec.waitState(t, Disconnected)
	var kick *KickError
	if !errors.As(sc.reason, &kick) || kick.Reason != protocol.KickReplaced || !errors.As(c.Err(), &kick) {
		t.Fatalf("Disconnected reason %v, Err %v; want the replaced kick", sc.reason, c.Err())
	}
	assertNoReconnection(t, fs, c)
}

// stallingConn is a TCP connection whose writes, once stall is set, block until it is closed
// or resume is closed: a peer that stopped reading, with the socket's send buffer full.
type stallingConn struct {
	net.Conn
	stall  atomic.Bool
	resume chan struct{}
	closed chan struct{}
	once   sync.Once
}

func (sc *stallingConn) Write(p []byte) (int, error) {
	if sc.stall.Load() {
		select {
		case <-sc.closed:
			return 0, net.ErrClosed
		case <-sc.resume:
		}
	}
	return sc.Conn.Write(p)
}

func (sc *stallingConn) Close() error {
	sc.once.Do(func() { close(sc.closed) })
	return sc.Conn.Close()
}

// stallFirstConn returns a DialContext whose first connection is sent on first, to be made to
// stall; later connections are plain.
func stallFirstConn() (dial func(context.Context, string, string) (net.Conn, error), first chan *stallingConn) {
	first = make(chan *stallingConn, 1)
	var n atomic.Int32
	dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil || n.Add(1) > 1 {
			return nc, err
		}
		sc := &stallingConn{Conn: nc, resume: make(chan struct{}), closed: make(chan struct{})}
		first <- sc
		return sc, nil
	}
	return dial, first
}

// A heartbeat whose write is stuck for a whole heartbeat interval (R6.1: the server stopped
// reading) drops the connection, and the app is told why: the heartbeat timed out, not the
// reader's error on the connection closed under it.
func TestStalledHeartbeatWriteReportsHeartbeatTimeout(t *testing.T) {
	fs := newFakeServer(t)
	fs.hbInterval, fs.hbTimeout = 50, 60_000 // the silence watchdog stays out of the way
	dial, first := stallFirstConn()
	rec := newRecorder()
	_, _ = connect(t, fs, Options{EventHandler: rec, DialContext: dial, MinBackoff: time.Millisecond})
	recv(t, first, "first connection").stall.Store(true)
	sc := rec.waitState(t, Reconnecting)
	if !errors.Is(sc.reason, ErrHeartbeatTimeout) {
		t.Fatalf("Reconnecting reason %q, want ErrHeartbeatTimeout", sc.reason)
	}
	recv(t, fs.logins, "first login")
	recv(t, fs.logins, "second login")
}

// An operation whose ctx ends while its frame is being written (the server stopped reading)
// ends the connection, since a frame cut short cannot be finished (package doc); the
// Reconnecting state says so, with the ctx's error, rather than with the reader's error on the
// connection closed under it.
func TestRequestCutShortInItsWriteReportsWhy(t *testing.T) {
	fs := newFakeServer(t)
	dial, first := stallFirstConn()
	rec := newRecorder()
	c, _ := connect(t, fs, Options{EventHandler: rec, DialContext: dial, MinBackoff: time.Millisecond})
	recv(t, first, "first connection").stall.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.QueryCall(ctx, "c1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("QueryCall on a stalled connection: %v, want its ctx's deadline", err)
	}
	sc := rec.waitState(t, Reconnecting)
	if !errors.Is(sc.reason, context.DeadlineExceeded) || !strings.Contains(sc.reason.Error(), protocol.OpQueryCall) {
		t.Fatalf("Reconnecting reason %q, want the queryCall write cut short by its context", sc.reason)
	}
}

// A heartbeat that waits a whole interval for another request's frame, itself slow to go out
// (a large frame on a slow link), is skipped: the connection stays, and the request goes
// through once the link takes it (R6.1 drops only a connection silent for the timeout).
func TestHeartbeatBehindASlowWriteKeepsTheConnection(t *testing.T) {
	fs := newFakeServer(t)
	fs.hbInterval, fs.hbTimeout = 50, 60_000
	dial, first := stallFirstConn()
	rec := newRecorder()
	skipped := make(chan struct{}, 1)
	logger := slog.New(messageSignal{msg: "dialtone: heartbeat not sent", ch: skipped})
	c, _ := connect(t, fs, Options{EventHandler: rec, Logger: logger, DialContext: dial, MinBackoff: time.Millisecond})
	sc := recv(t, first, "first connection")
	recv(t, fs.logins, "first login")
	rec.waitState(t, Connected)
	sc.stall.Store(true)
	queried := make(chan error, 1)
	go func() {
		_, err := c.QueryCall(testCtx(t), "c1")
		queried <- err
	}()
	recv(t, skipped, "a heartbeat skipped behind the query")
	close(sc.resume)
	if err := recv(t, queried, "the query"); err != nil {
		t.Fatalf("QueryCall on the slow link: %v", err)
	}
	assertNoReconnection(t, fs, c)
	for len(rec.states) > 0 {
		if s := <-rec.states; s.state == Reconnecting {
			t.Fatalf("Reconnecting (%v) though the link only was slow", s.reason)
		}
	}
}
