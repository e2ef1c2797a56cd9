package client

import (
	"errors"
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
