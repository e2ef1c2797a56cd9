package wsapi

import (
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
