package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
)

// General mode, seed flows: invite → received → accept ends the call (R3.1, R5.1, R3.3, R4.1).
func TestE2EGeneralInviteAccept(t *testing.T) {
	ts := startServer(t)
	alice, bob := ts.login(t, "alice", "a-phone"), ts.login(t, "bob", "b-phone")

	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 30, ExtendedData: "video"})
	if err != nil {
		t.Fatalf("callInvite: %v", err)
	}
	if res.Timeout != 30 || len(res.ErrorUserList) != 0 || res.CallInfo.State != client.CallStarted {
		t.Fatalf("callInvite result = %+v", res)
	}
	ring := bob.wait(res.CallID, "received from alice").(client.CallInvitationReceived)
	if ring.ExtendedData != "video" || ring.Timeout != 30 || ring.Deadline == 0 || ring.Synthetic {
		t.Errorf("callInvitationReceived = %+v", ring)
	}
	alice.wait(res.CallID, "changed bob=Received") // the SDK acknowledged the ring (R3.11, R5.1)
	if _, err := bob.CallAccept(t.Context(), res.CallID, client.OpConfig{ExtendedData: "hi"}); err != nil {
		t.Fatalf("callAccept: %v", err)
	}
	ended := alice.wait(res.CallID, "changed bob=Accepted (call ended)").(client.CallUserStateChanged)
	if ended.EndTime == 0 || ended.CallUserList[0].ExtendedData != "hi" {
		t.Errorf("final callUserStateChanged = %+v", ended)
	}
	alice.expect(ts, res.CallID, "created", "changed bob=Received", "changed bob=Accepted (call ended)")
	bob.expect(ts, res.CallID, "received from alice", "changed bob=Received", "changed bob=Accepted (call ended)")

	info, err := bob.QueryCall(t.Context(), res.CallID)
	if err != nil || info.State != client.CallEnded || info.EndTime == 0 {
		t.Errorf("queryCall = %+v, %v", info, err)
	}
}

// R3.2: the caller cancels the whole call; the callee stops ringing.
func TestE2EGeneralCancel(t *testing.T) {
	ts := startServer(t)
	alice, bob := ts.login(t, "alice", "a-phone"), ts.login(t, "bob", "b-phone")
	alice2 := ts.login(t, "alice", "a-laptop")

	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 30})
	if err != nil {
		t.Fatal(err)
	}
	alice.wait(res.CallID, "changed bob=Received")
	if _, err := bob.CallCancel(t.Context(), res.CallID, nil, client.OpConfig{}); code(err) != client.CodeNotInviter {
		t.Errorf("callee's cancel: got %v, want 6000273", err)
	}
	cres, err := alice.CallCancel(t.Context(), res.CallID, nil, client.OpConfig{ExtendedData: "sorry"})
	if err != nil || len(cres.ErrorInvitees) != 0 {
		t.Fatalf("callCancel = %+v, %v", cres, err)
	}
	got := bob.wait(res.CallID, "cancelled bob=BeCancelled").(client.CallInvitationCancelled)
	if got.Inviter != "alice" || got.ExtendedData != "sorry" {
		t.Errorf("callInvitationCancelled = %+v", got)
	}
	// §5: the canceller's other devices are told; the device that cancelled has its reply; as
	// an Accepted user, alice heard of bob's receipt on her main device only (R6.3).
	alice.expect(ts, res.CallID, "created", "changed bob=Received")
	alice2.expect(ts, res.CallID, "created", "cancelled bob=BeCancelled")
	bob.expect(ts, res.CallID, "received from alice", "changed bob=Received", "cancelled bob=BeCancelled")
	if _, err := bob.CallAccept(t.Context(), res.CallID, client.OpConfig{}); code(err) != client.CodeCallUnavailable {
		t.Errorf("accept after cancel: got %v, want 6000276 (R4.4)", err)
	}
}

// R3.4, R4.1: the only invitee rejects; the call ends.
func TestE2EGeneralReject(t *testing.T) {
	ts := startServer(t)
	alice, bob := ts.login(t, "alice", "a-phone"), ts.login(t, "bob", "b-phone")
	bob2 := ts.login(t, "bob", "b-tablet")

	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Timeout != 90 {
		t.Errorf("default timeout = %d, want 90", res.Timeout)
	}
	alice.wait(res.CallID, "changed bob=Received")
	if _, err := bob.CallReject(t.Context(), res.CallID, client.OpConfig{ExtendedData: "busy"}); err != nil {
		t.Fatal(err)
	}
	alice.expect(ts, res.CallID, "created", "changed bob=Received", "changed bob=Rejected (call ended)")
	// Both of bob's devices rang, and both stop: the reject reaches all of them.
	for _, d := range []*device{bob, bob2} {
		d.expect(ts, res.CallID, "received from alice", "changed bob=Received", "changed bob=Rejected (call ended)")
	}
}

// R3.5: nobody answers; every invitee times out together and the call ends (R4.1).
func TestE2EGeneralTimeout(t *testing.T) {
	ts := startServer(t)
	alice, bob, carol := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "carol", "c")

	res, err := alice.CallInvite(t.Context(), []string{"bob", "carol"}, client.InviteConfig{Timeout: 1})
	if err != nil {
		t.Fatal(err)
	}
	bob.wait(res.CallID, "timeout")
	carol.wait(res.CallID, "timeout")
	alice.wait(res.CallID, "changed bob=Timeout,carol=Timeout (call ended)")
	if _, err := bob.CallAccept(t.Context(), res.CallID, client.OpConfig{}); code(err) != client.CodeCallUnavailable {
		t.Errorf("accept after timeout: got %v, want 6000276", err)
	}
	info, err := alice.QueryCall(t.Context(), res.CallID)
	if err != nil || info.State != client.CallEnded {
		t.Fatalf("queryCall = %+v, %v", info, err)
	}
	for _, u := range info.CallUserList {
		if u.Deadline != 0 {
			t.Errorf("%s keeps deadline %d after the end (§10b)", u.UserID, u.Deadline)
		}
	}
}

// R3.3: the first device to accept wins; the user's other devices stop ringing; afterwards
// only the main device follows the call (R6.3), until the change that ends it, which every
// device of every active user gets (§5).
func TestE2EMultiDeviceAccept(t *testing.T) {
	ts := startServer(t)
	alice := ts.login(t, "alice", "a")
	phone, laptop := ts.login(t, "bob", "phone"), ts.login(t, "bob", "laptop")
	carol, dave := ts.login(t, "carol", "c"), ts.login(t, "dave", "d")

	res, err := alice.CallInvite(t.Context(), []string{"bob", "carol", "dave"}, client.InviteConfig{Timeout: 30})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"bob", "carol", "dave"} {
		alice.wait(res.CallID, "changed "+u+"=Received")
	}
	if _, err := phone.CallAccept(t.Context(), res.CallID, client.OpConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := laptop.CallAccept(t.Context(), res.CallID, client.OpConfig{}); code(err) != client.CodeStateForbids {
		t.Errorf("second device's accept: got %v, want 6000274", err)
	}
	laptop.wait(res.CallID, "changed bob=Accepted")
	if _, err := carol.CallReject(t.Context(), res.CallID, client.OpConfig{}); err != nil {
		t.Fatal(err)
	}
	phone.wait(res.CallID, "changed carol=Rejected")
	laptop.expectNone(ts, res.CallID, "changed carol=Rejected")
	if _, err := dave.CallReject(t.Context(), res.CallID, client.OpConfig{}); err != nil {
		t.Fatal(err)
	}
	phone.wait(res.CallID, "changed dave=Rejected (call ended)")
	laptop.wait(res.CallID, "changed dave=Rejected (call ended)")
}

// The health, readiness and metrics endpoints answer on the server's listener; every request
// answered counts in dialtone_operations_total, logins and refusals included. A request is
// counted once answered, so the client may see a reply a moment before its count.
func TestE2EHTTPEndpoints(t *testing.T) {
	ts := startServer(t)
	alice := ts.login(t, "alice", "a")
	must(t, second(alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})))
	r := ts.raw(t)
	r.send(`{"id":1,"op":"heartbeat"}`) // before login
	r.errorCode()
	r.login("bob")
	r.send(`{"id":2,"op":"noSuchOp"}`)
	r.errorCode()
	for path, want := range map[string][]string{
		"/healthz": {"ok"},
		"/readyz":  {"ready"},
		"/metrics": {`dialtone_operations_total{code="0",op="callInvite"} 1`, `dialtone_operations_total{code="0",op="login"} 2`,
			`dialtone_operations_total{code="6000121",op="heartbeat"} 1`, `dialtone_operations_total{code="6000002",op="unknown"} 1`},
	} {
		var status int
		var body []byte
		lacking := func() string {
			resp, err := http.Get("http://" + ts.Addr + path)
			must(t, err)
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, w := range want {
				if status = resp.StatusCode; status != http.StatusOK || !strings.Contains(string(body), w) {
					return w
				}
			}
			return ""
		}
		for deadline := time.Now().Add(waitFor); lacking() != "" && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		if w := lacking(); w != "" {
			t.Errorf("GET %s: %d, body lacks %q:\n%.3000s", path, status, w, body)
		}
	}
}
