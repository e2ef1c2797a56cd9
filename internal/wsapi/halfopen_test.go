package wsapi

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// R6.1: a peer that begins a frame and then sends nothing more (TCP open, its network gone)
// is as silent as one that sent nothing: the frame it began does not keep its connection, nor
// its device, past heartbeatTimeout.
func TestHeartbeatTimeoutEndsAConnectionStoppedInsideAFrame(t *testing.T) {
	const timeout = kickTimeout
	backend, bus := newPresence(), newHandBus()
	addr := serve(t, New(Config{HeartbeatTimeout: timeout}, backend, bus, tokenIsUser{}, nil, nil))
	peer := dialRaw(t, addr)
	peer.send(`{"id":1,"op":"login","data":{"token":"alice","deviceID":"a1"}}`)
	bus.deliver(t)
	last := time.Now()
	if _, err := peer.nc.Write([]byte{0x81, 0x80 | 126, 0x01}); err != nil { // a text frame's header, cut inside its length
		t.Fatal(err)
	}
	if waited := backend.lost(t).Sub(last); waited > timeout*3/2 {
		t.Errorf("device disconnected %v after its last frame, want about %v", waited.Round(time.Millisecond), timeout)
	}
}

// protocol.md "Transport": a frame that breaks RFC 6455 closes the connection with 1002, the
// server's last frame, and the server then closes the TCP connection at once (RFC 6455
// section 7.1.7), without waiting for the login timeout or the client's answer.
func TestProtocolErrorIsTheLastFrame(t *testing.T) {
	addr := serve(t, New(Config{}, newPresence(), newHandBus(), tokenIsUser{}, nil, nil))
	peer := dialRaw(t, addr)
	if _, err := peer.nc.Write([]byte{0xC1, 0x80, 0, 0, 0, 0}); err != nil { // RSV1 without an extension
		t.Fatal(err)
	}
	peer.nc.SetReadDeadline(time.Now().Add(3 * time.Second)) // well before the login timeout
	got, err := io.ReadAll(peer.br)
	if err != nil {
		t.Fatalf("the connection was not closed: %v (read % x)", err, got)
	}
	if !bytes.Equal(got, []byte{0x88, 0x02, 1002 >> 8, 1002 & 0xff}) {
		t.Fatalf("server sent % x, want a close frame with status 1002 and nothing else", got)
	}
}
