package wsapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/internal/clientip"
	"github.com/dialtone/dialtone/protocol"
)

// readUntilKicked reads conn's frames up to the kicked event and returns its reason. It does
// not read past it: the close frame that follows stays unanswered, as for a client that
// reconnects as soon as it is told it was refused.
func readUntilKicked(t *testing.T, conn *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("connection ended before a kicked event: %v", err)
		}
		var f protocol.Frame
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("frame %q: %v", data, err)
		}
		if f.Event == protocol.EventKicked {
			var k protocol.Kicked
			if err := json.Unmarshal(f.Data, &k); err != nil {
				t.Fatalf("kicked %q: %v", f.Data, err)
			}
			return k.Reason
		}
	}
}

// A connection the server refuses before it logs in (a token that does not verify, bad
// frames, the login timeout) gives back its place among its address's connections not logged
// in (maxUnauthenticatedPerIP, protocol.md "Transport") when it is kicked, not when its close
// handshake ends: the client's next connection, opened at once, is not refused with 6000292.
func TestRefusedConnectionGivesItsUnauthenticatedPlaceBack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		frames []string
		reason string
	}{
		{"authFailed", []string{`{"id":1,"op":"login","data":{"token":"x","deviceID":"a1"}}`}, protocol.KickAuthFailed},
		{"badFrames", []string{"1", "2", "3", "4", "5"}, protocol.KickBadFrames},
		{"loginTimeout", nil, protocol.KickLoginTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := New(Config{MaxUnauthenticatedPerIP: 1, LoginTimeout: 100 * time.Millisecond},
				&prunedLog{}, noBus{}, refusingVerifier{errors.New("token is expired")}, nil, nil)
			url := listen(t, srv)
			first, _, err := websocket.Dial(t.Context(), url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer first.CloseNow()
			for _, frame := range tc.frames {
				if err := first.Write(t.Context(), websocket.MessageText, []byte(frame)); err != nil {
					t.Fatal(err)
				}
			}
			if got := readUntilKicked(t, first); got != tc.reason {
				t.Fatalf("first connection kicked with %q, want %q", got, tc.reason)
			}

			next, _, err := websocket.Dial(t.Context(), url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer next.CloseNow()
			f := requestFrame(t, next, `{"id":2,"op":"heartbeat"}`)
			if f.Error == nil || f.Error.Code != protocol.CodeNotLoggedIn || f.ID != 2 {
				t.Errorf("next connection, opened right after the refusal, answered %+v (error %+v), want the heartbeat's 6000121", f, f.Error)
			}
		})
	}
}

// requestFrame sends frame on conn and returns the first frame the server sends back.
func requestFrame(t *testing.T, conn *websocket.Conn, frame string) protocol.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	_, data, err := conn.Read(ctx)
	if err != nil {
		t.Fatalf("no answer to %s: %v", frame, err)
	}
	var f protocol.Frame
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("frame %q: %v", data, err)
	}
	return f
}

// An IPv6 client is counted by its /64 among the connections not logged in of an address
// (maxUnauthenticatedPerIP, docs/operations.md): one host usually owns a whole /64, so a client
// that rotates its addresses within it is refused like one that does not, while a client of
// another /64 has an allowance of its own.
func TestUnauthenticatedLimitCountsIPv6ByPrefix(t *testing.T) {
	trusted, err := clientip.Parse("127.0.0.1, ::1")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{MaxUnauthenticatedPerIP: 1, TrustedProxies: trusted},
		&prunedLog{}, noBus{}, refusingVerifier{errors.New("token is expired")}, nil, nil)
	url := listen(t, srv)
	// heartbeat opens a connection for the client at addr and returns the error code of the
	// first frame it gets after a heartbeat: 6000121 (not logged in) when it was let in.
	heartbeat := func(addr string) protocol.Code {
		conn, _, err := websocket.Dial(t.Context(), url,
			&websocket.DialOptions{HTTPHeader: http.Header{"X-Forwarded-For": {addr}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.CloseNow() })
		f := requestFrame(t, conn, `{"id":1,"op":"heartbeat"}`)
		if f.Error == nil {
			t.Fatalf("%s: heartbeat answered %+v, want an error", addr, f)
		}
		return f.Error.Code
	}
	if c := heartbeat("2001:db8:1:2::1"); c != protocol.CodeNotLoggedIn {
		t.Fatalf("first client of 2001:db8:1:2::/64: code %d, want 6000121", c)
	}
	if c := heartbeat("2001:db8:1:2::2"); c != protocol.CodeRateLimited {
		t.Errorf("another address of the same /64: code %d, want 6000292 (one client past its limit)", c)
	}
	if c := heartbeat("2001:db8:1:3::1"); c != protocol.CodeNotLoggedIn {
		t.Errorf("a client of another /64: code %d, want 6000121", c)
	}
}

// protocol.md "Transport": only the bad frames of the last 60 s count. Four a minute ago and
// four now leave the connection open; the fifth within the minute closes it (badFrames).
func TestBadFramesOfAnEarlierMinuteDoNotCount(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	hs := httptest.NewServer(New(Config{}, &trackedBackend{}, noBus{}, tokenIsUser{}, clock, nil))
	t.Cleanup(hs.Close)
	conn := dialWS(t, "ws"+strings.TrimPrefix(hs.URL, "http"))
	fourBad := []string{`[]`, `[]`, `[]`, `[]`}
	exchange(t, conn, fourBad...)
	now.Add(int64(time.Minute)) // protocol.md: 60 s
	for _, f := range exchange(t, conn, fourBad...) {
		if f.Event == protocol.EventKicked {
			t.Fatal("kicked for bad frames of which only four came within the minute")
		}
	}
	if err := conn.Write(t.Context(), websocket.MessageText, []byte(`[]`)); err != nil {
		t.Fatal(err)
	}
	if reason := readUntilKicked(t, conn); reason != protocol.KickBadFrames {
		t.Fatalf("the fifth bad frame within the minute kicked %q, want badFrames", reason)
	}
}
