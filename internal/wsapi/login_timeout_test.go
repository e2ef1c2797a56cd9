package wsapi

import (
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/protocol"
)

// heldVerifier is a Verifier whose token is its user, but which holds the token
// "held:<user>" until release is closed: a login being processed. entered is closed when it
// begins to hold it.
type heldVerifier struct{ entered, release chan struct{} }

func (v heldVerifier) Verify(token string, _ time.Time) (string, error) {
	user, held := strings.CutPrefix(token, "held:")
	if held {
		close(v.entered)
		<-v.release
	}
	return user, nil
}

// waitSessions waits, up to 10 s, until srv has n open connections.
func waitSessions(t *testing.T, srv *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Sessions() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open, want %d", srv.Sessions(), n)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
}

// protocol.md "Login", R6.2: a connection kicked loginTimeout while its login was being
// processed changes nothing when that login goes on: it neither takes its device's place nor
// kicks the device's connection as replaced.
func TestLoginTimeoutDuringALoginChangesNothing(t *testing.T) {
	backend := &trackedBackend{prunedLog: prunedLog{oldest: 1}}
	verifier := heldVerifier{entered: make(chan struct{}), release: make(chan struct{})}
	srv := New(Config{LoginTimeout: time.Second}, backend, noBus{}, verifier, nil, nil)
	url := listen(t, srv)
	first := dialWS(t, url)
	exchange(t, first, aliceLogin)

	late := dialWS(t, url)
	if err := late.Write(t.Context(), websocket.MessageText,
		[]byte(`{"id":1,"op":"login","data":{"token":"held:alice","deviceID":"a1"}}`)); err != nil {
		t.Fatal(err)
	}
	<-verifier.entered
	if got := readUntilKicked(t, late); got != protocol.KickLoginTimeout {
		t.Fatalf("the held login's connection was kicked %q, want %q", got, protocol.KickLoginTimeout)
	}
	close(verifier.release)
	late.CloseNow()
	waitSessions(t, srv, 1)

	if _, kicked := seqs(exchange(t, first)); kicked != "" {
		t.Errorf("the device's connection was kicked %q by a login whose connection was kicked %q before",
			kicked, protocol.KickLoginTimeout)
	}
	var registered *session
	srv.mu.Lock()
	if us := srv.users["alice"]; us != nil {
		registered = us.devices["a1"]
	}
	srv.mu.Unlock()
	if registered == nil || !registered.live() {
		t.Errorf("device a1 is registered to %p, not to its live connection", registered)
	}
}
