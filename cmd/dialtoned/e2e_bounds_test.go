package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/protocol"
)

// The server's bounds on reading a request and on writing its answer (docs/api.md).
const (
	httpReadTimeout  = 10 * time.Second
	httpWriteTimeout = 15 * time.Second
)

// closedBy reads nc until the server closes it and fails the test when that takes longer than
// within; it returns what was read.
func closedBy(t *testing.T, nc net.Conn, within time.Duration) []byte {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(within))
	data, err := io.ReadAll(nc)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("connection still open after %v; read %.200q", within, data)
	}
	return data
}

// An HTTP client that sends a request slowly, a body that never ends, or asks for answers it
// does not read, is cut off once the server's bound passes (docs/api.md): such a client
// holds no connection, goroutine or answer of the server's for ever. A body that never ends is
// answered with a coded error when the endpoint was reading it. A WebSocket is not cut off.
func TestE2EHTTPSlowClientsAreClosed(t *testing.T) {
	t.Parallel() // mostly waits for the server's bounds
	ts := startServer(t, "--api-key", apiKey)
	dial := func() net.Conn {
		nc, err := net.Dial("tcp", ts.Addr)
		must(t, err)
		t.Cleanup(func() { nc.Close() })
		return nc
	}
	within := httpReadTimeout + 5*time.Second
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() { // headers byte by byte (slowloris)
		nc := dial()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			head := "GET /healthz HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Slow: y\r\n", 1000)
			for i := range len(head) {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := nc.Write([]byte{head[i]}); err != nil {
					return
				}
			}
		}()
		closedBy(t, nc, within)
	})
	for _, c := range []struct {
		name, head string
		want       string // the answer's status and code, "" when the server answers nothing
	}{
		{"a REST body that never ends", "POST /v1/api/calls HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + apiKey +
			"\r\nContent-Length: 1000\r\n\r\n{", "400 6000001"},
		{"a chunked REST body that never ends", "POST /v1/api/calls HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + apiKey +
			"\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n", "400 6000001"},
		{"a body without the key that never ends", "POST /v1/api/calls HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{", ""},
		{"a body to /healthz that never ends", "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{", ""},
	} {
		wg.Go(func() {
			nc := dial()
			_, err := nc.Write([]byte(c.head))
			must(t, err)
			data := closedBy(t, nc, within)
			if c.want == "" {
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(data))), nil)
			if err != nil {
				t.Errorf("%s: answer %.200q: %v", c.name, data, err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			if got := strings.Fields(resp.Status)[0] + " " + string(body); !strings.Contains(got, "6000001") ||
				resp.StatusCode != 400 {
				t.Errorf("%s: answer %s %s, want %s", c.name, resp.Status, body, c.want)
			}
		})
	}
	wg.Go(func() { // answers asked for and never read
		nc := dial()
		go nc.Write([]byte(strings.Repeat("GET /dialtone.js HTTP/1.1\r\nHost: x\r\n\r\n", 3000)))
		time.Sleep(httpWriteTimeout + time.Second) // the client reads nothing for longer than the bound
		closedBy(t, nc, within)
	})
	// A WebSocket outlives both bounds: its handshake's deadlines are cleared.
	r := ts.raw(t)
	r.login("alice")
	for i := int64(2); time.Since(start) < httpWriteTimeout+time.Second; i++ {
		time.Sleep(time.Second) // a heartbeat a second, within the test server's 3 s timeout
		r.send(`{"id":` + strconv.FormatInt(i, 10) + `,"op":"heartbeat"}`)
		if f := r.reply(i); f.Error != nil {
			t.Fatalf("heartbeat after %v: %v", time.Since(start), f.Error)
		}
	}
	wg.Wait()
}

// protocol.md "Transport": a connection that does not log in within 10 s is kicked
// loginTimeout (4007), whatever it sends meanwhile (heartbeats, which are refused, or the
// start of a frame it never finishes), and gives back its place among the connections of its
// address not logged in (maxUnauthenticatedPerIP), so that the address is not locked out.
func TestE2EConnectionsThatNeverLogIn(t *testing.T) {
	t.Parallel() // mostly waits for the server's bounds
	ts := startServer(t, "--max-unauthenticated-per-ip", "3", "--heartbeat-interval", "10s", "--heartbeat-timeout", "60s")
	const loginTimeout = 10 * time.Second
	idle, chatty := ts.raw(t), ts.raw(t)
	nc, err := net.Dial("tcp", ts.Addr) // a frame begun and never finished
	must(t, err)
	defer nc.Close()
	_, err = nc.Write([]byte("GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\xfe\x10\x00"))
	must(t, err)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	must(t, err)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake answered %s", resp.Status)
	}
	if code := ts.raw(t).closed(); code != 1008 {
		t.Errorf("a fourth connection not logged in closed with %d, want 1008 after 6000292", code)
	}
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
				_ = chatty.conn.Write(t.Context(), websocket.MessageText, []byte(`{"id":1,"op":"heartbeat"}`))
			}
		}
	}()
	var wg sync.WaitGroup
	for name, r := range map[string]*rawConn{"idle": idle, "sending heartbeats": chatty} {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), loginTimeout+5*time.Second)
			defer cancel()
			var kicked protocol.Kicked
			for {
				_, data, err := r.conn.Read(ctx)
				if err != nil {
					if code := websocket.CloseStatus(err); code != 4007 || kicked.Reason != protocol.KickLoginTimeout {
						t.Errorf("%s: closed with %d (%v) after kicked %+v, want loginTimeout and 4007", name, code, err, kicked)
					}
					return
				}
				var f protocol.Frame
				must(t, json.Unmarshal(data, &f))
				if f.Event == protocol.EventKicked {
					must(t, json.Unmarshal(f.Data, &kicked))
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second)) // the kick, then the close's 5 s for an answer
	if _, err := io.ReadAll(br); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("the connection with a frame begun is still open")
	}
	for _, user := range []string{"alice", "bob", "carol"} { // the address has its places back
		ts.raw(t).login(user)
	}
}
