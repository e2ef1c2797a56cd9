package wsapi

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/protocol"
)

// ARCHITECTURE rule 7, R7.1: a shutdown lets the requests in flight finish and sends their
// replies before it kicks their session with shutdown. A frame that arrives once the drain
// began is not carried out: it has no reply, and the client sends it again once reconnected.
func TestShutdownAnswersTheRequestsInFlightBeforeTheKick(t *testing.T) {
	backend := &slowAccept{entered: make(chan struct{}), release: make(chan struct{})}
	srv := New(Config{}, backend, noBus{}, tokenIsUser{}, nil, nil)
	conn := aliceLoggedInTo(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"id":2,"op":"callAccept","data":{"callID":"c1"}}`)); err != nil {
		t.Fatal(err)
	}
	<-backend.entered

	shut := make(chan struct{})
	go func() {
		srv.Shutdown(ctx)
		close(shut)
	}()
	for {
		srv.mu.Lock()
		draining := srv.draining
		srv.mu.Unlock()
		if draining {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("Shutdown did not begin")
		}
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"id":3,"op":"heartbeat"}`)); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, func() { close(backend.release) })

	var got []string
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			break
		}
		var f protocol.Frame
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("frame %q: %v", data, err)
		}
		switch {
		case f.Event != "":
			got = append(got, f.Event+" "+string(f.Data))
		case f.Error != nil:
			got = append(got, "reply "+string(rune('0'+f.ID))+" error")
		default:
			got = append(got, "reply "+string(rune('0'+f.ID)))
		}
	}
	want := []string{"reply 2", `kicked {"reason":"shutdown","retry":true}`}
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		t.Errorf("frames after the drain began: %q, want %q", got, want)
	}
	select {
	case <-shut:
	case <-ctx.Done():
		t.Fatal("Shutdown did not return")
	}
}
