package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/protocol"
)

// R7.3: the same callInvite sent twice with one key creates one call and both replies are
// identical; the same key with other parameters is refused; a key is per user.
func TestE2EIdempotentInvite(t *testing.T) {
	ts := startServer(t)
	r := ts.raw(t)
	r.login("alice")
	const key = "k-0123456789abcdef"
	invite := `{"id":%d,"op":"callInvite","data":{"invitees":["bob"],"config":{"timeout":%d}},"idem":"` + key + `"}`
	r.send(fmt.Sprintf(invite, 2, 30))
	first := r.reply(2)
	r.send(fmt.Sprintf(invite, 3, 30))
	again := r.reply(3)
	if first.Error != nil || again.Error != nil {
		t.Fatalf("replies: %+v / %+v", first.Error, again.Error)
	}
	if string(first.Result) != string(again.Result) {
		t.Errorf("repeat reply differs:\n%s\n%s", first.Result, again.Result)
	}
	r.send(fmt.Sprintf(invite, 4, 31))
	if f := r.reply(4); f.Error == nil || f.Error.Code != protocol.CodeInvalidParameter {
		t.Errorf("same key, other parameters: %+v, want 6000001", f)
	}
	var res protocol.CallInviteResult
	must(t, json.Unmarshal(first.Result, &res))

	alice := ts.login(t, "alice", "a2")
	list, err := alice.QueryCallInvitationList(t.Context(), 100, 0)
	must(t, err)
	if len(list.CallList) != 1 || list.CallList[0].CallID != res.CallID {
		t.Errorf("calls after a repeated invite: %d, want exactly the first", len(list.CallList))
	}
	// Another user's identical key is another request.
	other := ts.raw(t)
	other.login("carol")
	other.send(fmt.Sprintf(invite, 2, 30))
	var carols protocol.CallInviteResult
	if f := other.reply(2); f.Error != nil || json.Unmarshal(f.Result, &carols) != nil {
		t.Errorf("carol with alice's key: %+v", f)
	} else if carols.CallID == res.CallID || carols.CallInfo.Caller != "carol" {
		t.Errorf("carol with alice's key got call %s of %s, want a call of her own (alice's is %s)",
			carols.CallID, carols.CallInfo.Caller, res.CallID)
	}
}

// R7.3: an op on a call repeated with its key (a retry after a lost reply) gets the first reply
// although the call has moved on, where the same op without a key is refused; the key with
// other parameters is refused with 6000001.
func TestE2EIdempotentCallOp(t *testing.T) {
	ts := startServer(t)
	alice := ts.login(t, "alice", "a")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 30})
	must(t, err)
	bob := ts.raw(t)
	bob.login("bob")
	const key = "k-fedcba9876543210"
	reject := `{"id":%d,"op":"callReject","data":{"callID":"` + res.CallID + `","config":{"extendedData":%q}},"idem":"` + key + `"}`
	bob.send(fmt.Sprintf(reject, 2, "busy"))
	first := bob.reply(2)
	bob.send(fmt.Sprintf(reject, 3, "busy"))
	again := bob.reply(3)
	if first.Error != nil || again.Error != nil {
		t.Fatalf("replies: %+v / %+v", first.Error, again.Error)
	}
	if string(first.Result) != string(again.Result) {
		t.Errorf("repeat reply differs:\n%s\n%s", first.Result, again.Result)
	}
	bob.send(fmt.Sprintf(reject, 4, "later"))
	if f := bob.reply(4); f.Error == nil || f.Error.Code != protocol.CodeInvalidParameter {
		t.Errorf("same key, other parameters: %+v, want 6000001", f)
	}
	bob.send(`{"id":5,"op":"callReject","data":{"callID":"` + res.CallID + `","config":{"extendedData":"busy"}}}`)
	if f := bob.reply(5); f.Error == nil {
		t.Errorf("the same reject without a key succeeded: %s", f.Result)
	}
}

// R7.3: copies of one callInvite with one key, sent together so that they are in flight at
// once (a connection's requests are carried out concurrently), create one call, and every
// copy gets the same reply, errorUserList included.
func TestE2EIdempotentDuplicatesInFlight(t *testing.T) {
	ts := startServer(t)
	r := ts.raw(t)
	r.login("alice")
	const copies = 6
	invite := `{"id":%d,"op":"callInvite","data":{"invitees":["bob","alice","not a user id"],"config":{"timeout":30}},"idem":"k-in-flight-0123456789"}`
	for id := 2; id < 2+copies; id++ {
		r.send(fmt.Sprintf(invite, id))
	}
	replies := map[int64]protocol.Frame{}
	for len(replies) < copies {
		if f := r.next(); f.Event == "" {
			replies[f.ID] = f
		}
	}
	first := replies[2]
	var res protocol.CallInviteResult
	if first.Error != nil || json.Unmarshal(first.Result, &res) != nil || len(res.ErrorUserList) != 2 {
		t.Fatalf("invite: %+v", first)
	}
	for id := int64(3); id < 2+copies; id++ {
		if f := replies[id]; f.Error != nil || string(f.Result) != string(first.Result) {
			t.Errorf("copy %d: %s %v, want the reply %s", id, f.Result, f.Error, first.Result)
		}
	}
	list, err := ts.login(t, "alice", "a2").QueryCallInvitationList(t.Context(), 100, 0)
	must(t, err)
	if len(list.CallList) != 1 || list.CallList[0].CallID != res.CallID {
		t.Errorf("%d calls after %d copies of an invite, want exactly call %s", len(list.CallList), copies, res.CallID)
	}
}

// R7.3, behaviour §12 (idempotency keys and devices): the key of a device's request, sent with
// the same op and data from another device of the same user, is another request (6000001)
// and changes nothing; from the first device it is still a repeat.
func TestE2EIdempotencyKeyFromAnotherDevice(t *testing.T) {
	ts := startServer(t)
	phone, _ := ts.rawLogin(t, "alice", "phone", -1)
	laptop, _ := ts.rawLogin(t, "alice", "laptop", -1)
	invite := `{"id":%d,"op":"callInvite","data":{"invitees":["bob"],"config":{"timeout":30}},"idem":"k-device-0123456789"}`
	phone.send(fmt.Sprintf(invite, 2))
	first := phone.reply(2)
	var res protocol.CallInviteResult
	if first.Error != nil || json.Unmarshal(first.Result, &res) != nil {
		t.Fatalf("invite: %+v", first)
	}
	laptop.send(fmt.Sprintf(invite, 2))
	if f := laptop.reply(2); f.Error == nil || f.Error.Code != protocol.CodeInvalidParameter {
		t.Errorf("the phone's key and request from the laptop: %s %v, want 6000001", f.Result, f.Error)
	}
	phone.send(fmt.Sprintf(invite, 3))
	if f := phone.reply(3); f.Error != nil || string(f.Result) != string(first.Result) {
		t.Errorf("repeat from the phone: %s %v, want the first reply %s", f.Result, f.Error, first.Result)
	}
	list, err := ts.login(t, "alice", "tablet").QueryCallInvitationList(t.Context(), 100, 0)
	must(t, err)
	if len(list.CallList) != 1 || list.CallList[0].CallID != res.CallID {
		t.Errorf("%d calls, want exactly call %s", len(list.CallList), res.CallID)
	}
}

// R7.3 for the application: an operation that ended without a reply may have been carried
// out, so an app that tries it again passes the same key (client.WithIdempotencyKey) and gets
// the first reply instead of a refusal of the state it made; the key stays bound to its op.
func TestE2EApplicationIdempotencyKey(t *testing.T) {
	ts := startServer(t)
	alice, bob := ts.login(t, "alice", "a1"), ts.login(t, "bob", "b1")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 30})
	must(t, err)
	bob.wait(res.CallID, "received from alice")
	key := client.NewIdempotencyKey()
	keyed := client.WithIdempotencyKey(t.Context(), key)
	for attempt := 1; attempt <= 2; attempt++ { // the second as after a reply that never came
		if _, err := bob.CallAccept(keyed, res.CallID, client.OpConfig{}); err != nil {
			t.Fatalf("accept, attempt %d under one key: %v, want the first reply", attempt, err)
		}
	}
	if _, err := bob.CallAccept(t.Context(), res.CallID, client.OpConfig{}); client.Code(err) != client.CodeCallUnavailable {
		t.Errorf("accept again without the key: %v, want 6000276 (the accept ended the call)", err)
	}
	if _, err := bob.CallReject(keyed, res.CallID, client.OpConfig{}); client.Code(err) != client.CodeInvalidParameter {
		t.Errorf("reject under the accept's key: %v, want 6000001", err)
	}
	short := client.WithIdempotencyKey(t.Context(), "too-short")
	if _, err := bob.CallAccept(short, res.CallID, client.OpConfig{}); client.Code(err) != client.CodeInvalidParameter {
		t.Errorf("accept under a key of 9 bytes: %v, want 6000001", err)
	}
}

// A slow consumer is shed with slowConsumer (retry) instead of growing the server's memory,
// and resumes without loss (R7.2).
func TestE2ESlowConsumerResumes(t *testing.T) {
	// The heartbeat timeout is far longer than the 3,000 operations take on a loaded machine
	// under the race detector, so the silent raw connection is shed for its queue, not for its
	// silence.
	ts := startServer(t, "--max-invites-per-minute", "100000", "--max-requests-per-second", "100000",
		"--heartbeat-interval", "200s", "--heartbeat-timeout", "600s")
	// bob's raw connection never reads, with a tiny socket receive buffer so the kernel does
	// not absorb the frames; alice rings him until his send queue overflows.
	bobRaw := ts.rawWith(t, &websocket.DialOptions{HTTPClient: tinyReceiveBuffer()})
	bobRaw.login("bob")
	alice := ts.login(t, "alice", "a")
	var ids []string
	// Big frames (2 KB of extendedData each way), more than the kernel's socket buffers
	// (up to 4 MiB here) and the session's queue hold together.
	padding := strings.Repeat("x", 2000)
	for i := range 1500 {
		res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60, ExtendedData: fmt.Sprint(i, padding)})
		must(t, err)
		must(t, second(alice.CallCancel(t.Context(), res.CallID, nil, client.OpConfig{ExtendedData: padding})))
		ids = append(ids, res.CallID)
	}
	// Reading now finds the frames queued before the kick, then the kick, then the close.
	var kick protocol.Kicked
	for {
		f, err := bobRaw.read()
		if err != nil {
			break
		}
		if f.Event == protocol.EventKicked {
			_ = json.Unmarshal(f.Data, &kick)
		}
	}
	if kick.Reason != protocol.KickSlowConsumer || !kick.Retry {
		t.Errorf("slow consumer kicked with %+v, want slowConsumer with retry", kick)
	}
	// A resuming device (lastSeq 0) receives every event of those calls, in order.
	bob := ts.dial(t, "bob", "raw", client.Options{SeqStore: seqAt(0)})
	must(t, second(bob.Login(t.Context(), token(t, "bob"), "raw")))
	for _, id := range ids {
		bob.wait(id, "cancelled bob=BeCancelled")
	}
}

// seqAt is a SeqStore that always resumes from seq.
type seqAt int64

func (s seqAt) Load(context.Context, client.SeqKey) (int64, bool, error) { return int64(s), true, nil }
func (s seqAt) Save(context.Context, client.SeqKey, int64) error         { return nil }

// tinyReceiveBuffer returns an HTTP client whose connections have a 4 KiB receive buffer.
func tinyReceiveBuffer() *http.Client {
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	return &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
}

// R7.3, §8: past the invites-per-minute limit, a callInvite or callingInvite that repeats with
// its key one already carried out (the SDK's retry after a lost reply) still gets the first
// reply; any other is refused with 6000292, even one reusing a key with other parameters.
func TestE2EIdempotentInviteRepeatPastTheLimit(t *testing.T) {
	ts := startServer(t, "--max-invites-per-minute", "2")
	r := ts.raw(t)
	r.login("alice")
	invite := `{"id":%d,"op":"callInvite","data":{"invitees":["bob"],"config":{"mode":1,"timeout":%d}},"idem":"k-invite-0123456789"}`
	r.send(fmt.Sprintf(invite, 2, 30))
	first := r.reply(2)
	var res protocol.CallInviteResult
	if first.Error != nil || json.Unmarshal(first.Result, &res) != nil {
		t.Fatalf("invite: %+v", first)
	}
	more := `{"id":%d,"op":"callingInvite","data":{"callID":"` + res.CallID + `","invitees":["%s"]},"idem":"k-calling-0123456789"}`
	r.send(fmt.Sprintf(more, 3, "carol"))
	firstMore := r.reply(3)
	if firstMore.Error != nil {
		t.Fatalf("callingInvite: %v", firstMore.Error)
	}
	// Both invites of this minute are spent.
	for _, c := range []struct {
		frame string
		want  protocol.Frame
	}{
		{fmt.Sprintf(invite, 4, 30), first},
		{fmt.Sprintf(more, 5, "carol"), firstMore},
	} {
		r.send(c.frame)
		if got := r.reply(c.want.ID + 2); got.Error != nil || string(got.Result) != string(c.want.Result) {
			t.Errorf("repeat past the limit: %s %v, want the first reply %s", got.Result, got.Error, c.want.Result)
		}
	}
	for id, frame := range map[int64]string{
		6: fmt.Sprintf(invite, 6, 31),   // the key with other parameters
		7: fmt.Sprintf(more, 7, "dave"), // the key with other parameters
		8: strings.Replace(fmt.Sprintf(invite, 8, 30), "k-invite", "k-fresh", 1),
	} {
		r.send(frame)
		if f := r.reply(id); f.Error == nil || f.Error.Code != protocol.CodeRateLimited {
			t.Errorf("%s past the limit: %+v, want 6000292", frame, f)
		}
	}
}

// A repeat of an invite carried out gets its first reply and rings nobody (R7.3), so it does
// not spend one of the user's invites per minute either (§8 6000292): with a limit of 2, an
// invite, its repeat and its callingInvite's repeat leave one invite for a new request.
func TestE2EIdempotentRepeatSpendsNoInvite(t *testing.T) {
	ts := startServer(t, "--max-invites-per-minute", "2")
	r := ts.raw(t)
	r.login("alice")
	invite := `{"id":%d,"op":"callInvite","data":{"invitees":["bob"],"config":{"mode":1}},"idem":"k-invite-0123456789"}`
	r.send(fmt.Sprintf(invite, 2))
	var res protocol.CallInviteResult
	if f := r.reply(2); f.Error != nil || json.Unmarshal(f.Result, &res) != nil {
		t.Fatalf("invite: %+v", f)
	}
	r.send(fmt.Sprintf(invite, 3))
	if f := r.reply(3); f.Error != nil {
		t.Fatalf("repeat of the invite: %v, want its first reply", f.Error)
	}
	more := `{"id":%d,"op":"callingInvite","data":{"callID":"` + res.CallID + `","invitees":["%s"]},"idem":"%s"}`
	r.send(fmt.Sprintf(more, 4, "carol", "k-calling-0123456789"))
	if f := r.reply(4); f.Error != nil {
		t.Fatalf("callingInvite, the second invite of the minute after a repeat: %v, want it carried out", f.Error)
	}
	r.send(fmt.Sprintf(more, 5, "carol", "k-calling-0123456789"))
	if f := r.reply(5); f.Error != nil {
		t.Fatalf("repeat of the callingInvite: %v, want its first reply", f.Error)
	}
	r.send(fmt.Sprintf(more, 6, "dave", "k-fresh-0123456789"))
	if f := r.reply(6); f.Error == nil || f.Error.Code != protocol.CodeRateLimited {
		t.Errorf("a third new invite: %+v, want 6000292", f)
	}
}

// A client closed while its network is gone (nothing arrives, not even the answer to the close)
// returns from Close within about a second, and the operation it was waiting on fails with
// ErrClosed at once.
func TestE2ECloseWithTheNetworkGone(t *testing.T) {
	ts := startServer(t, "--heartbeat-interval", "10s", "--heartbeat-timeout", "60s")
	proxy := newCutProxy(t, ts.Addr)
	alice := dialAt(t, proxy.URL(), "alice", "a", client.Options{})
	must(t, second(alice.Login(t.Context(), token(t, "alice"), "a")))
	must(t, second(alice.QueryCallInvitationList(t.Context(), 1, 0)))

	proxy.freeze.Store(true)
	opErr := make(chan error, 1)
	go func() {
		_, err := alice.QueryCallInvitationList(t.Context(), 1, 0)
		opErr <- err
	}()
	for proxy.lostUp.Load() == 0 { // the request went out, into the void
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		alice.Close()
		close(closed)
	}()
	select {
	case err := <-opErr:
		if !errors.Is(err, client.ErrClosed) {
			t.Errorf("the request in flight failed with %v, want ErrClosed", err)
		}
		if el := time.Since(start); el > 500*time.Millisecond {
			t.Errorf("the request in flight failed %v after Close, want at once", el)
		}
	case <-time.After(3 * time.Second):
		t.Errorf("the request in flight still waits 3s after Close")
	}
	select {
	case <-closed:
		if el := time.Since(start); el > 2500*time.Millisecond {
			t.Errorf("Close took %v, want about a second at most", el)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close still waits 3s later")
	}
}
