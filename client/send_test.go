package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/protocol"
)

// BenchmarkSendRequest sends the frame of a callEnd request, as Client.call does, on a loopback
// WebSocket whose server reads and drops it: the request's encoding, its registration and its
// write. The server's reads run in the same process and count.
func BenchmarkSendRequest(b *testing.B) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		for {
			if _, _, err := ws.Read(r.Context()); err != nil {
				return
			}
		}
	}))
	defer hs.Close()
	u, err := url.Parse("ws" + strings.TrimPrefix(hs.URL, "http"))
	if err != nil {
		b.Fatal(err)
	}
	o := Options{}.withDefaults()
	start := func(f func()) bool { go f(); return true }
	cn, err := dialConn(b.Context(), u, &o, start, func(*conn, protocol.Frame, func()) {}, func(*conn) {})
	if err != nil {
		b.Fatal(err)
	}
	defer cn.close(ErrClosed)
	data, err := json.Marshal(protocol.CallOpData{CallID: "c9VxQ2hKq0mZ7fT1"})
	if err != nil {
		b.Fatal(err)
	}
	idem := NewIdempotencyKey()
	ctx, cancel := context.WithTimeout(b.Context(), time.Hour) // as a request's, with a deadline
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		id, err := cn.send(ctx, protocol.OpCallEnd, data, idem, func(protocol.Frame, error) {})
		if err != nil {
			b.Fatal(err)
		}
		cn.forget(id) // no reply comes
	}
}
