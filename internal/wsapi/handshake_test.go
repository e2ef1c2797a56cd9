package wsapi

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// protocol.md "Transport": /v1/ws is a WebSocket endpoint. A request that is no WebSocket
// handshake (a plain GET, as a browser's address bar or curl sends) is answered with a coded
// HTTP error saying why, is never upgraded, and holds no place among its address's connections
// not logged in afterwards; the server stays up and takes the next handshake.
func TestRequestThatIsNoHandshakeIsRefused(t *testing.T) {
	srv := New(Config{MaxUnauthenticatedPerIP: 1}, newPresence(), newHandBus(), tokenIsUser{}, nil, nil)
	addr := serve(t, srv)
	for name, tt := range map[string]struct {
		header map[string]string
		status int
	}{
		"plain GET": {nil, http.StatusUpgradeRequired},
		"version 8": {map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "8"}, http.StatusUpgradeRequired},
		"no key":    {map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}, http.StatusBadRequest},
		"bad key":   {map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "not a key", "Sec-WebSocket-Version": "13"}, http.StatusBadRequest},
	} {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest("GET", "http://"+addr+"/v1/ws", nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || len(strings.TrimSpace(string(body))) == 0 {
				t.Fatalf("answered %s %q, want %d saying why", resp.Status, body, tt.status)
			}
			srv.mu.Lock()
			held := len(srv.unauth)
			srv.mu.Unlock()
			if held != 0 || srv.Sessions() != 0 {
				t.Fatalf("after the refusal %d addresses hold places and %d sessions are open", held, srv.Sessions())
			}
		})
	}
	peer := dialRaw(t, addr) // one place (MaxUnauthenticatedPerIP 1) is free: the handshake is taken
	peer.send(`{"id":1,"op":"heartbeat"}`)
}
