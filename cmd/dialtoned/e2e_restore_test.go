package main

import (
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/protocol"
)

// backupTo copies the running server's database into dir with VACUUM INTO, as
// docs/operations.md says.
func backupTo(t *testing.T, ts *testServer, dir string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(ts.Data, "dialtone.db"))
	must(t, err)
	_, err = db.Exec("VACUUM INTO ?", filepath.Join(dir, "dialtone.db"))
	must(t, err)
	must(t, db.Close())
}

// eventOf reads r's next event and returns it with the callID of its data.
func eventOf(r *rawConn) (protocol.Frame, string) {
	r.t.Helper()
	f := r.nextEvent()
	var d struct {
		CallID string `json:"callID"`
	}
	if err := json.Unmarshal(f.Data, &d); err != nil {
		r.t.Fatalf("event %s: %v", f.Event, err)
	}
	return f, d.CallID
}

// ringAndCancel has caller ring callee and cancel: two events in the callee's log.
func ringAndCancel(t *testing.T, caller *device, callee string) string {
	t.Helper()
	res, err := caller.CallInvite(t.Context(), []string{callee}, client.InviteConfig{Timeout: 60})
	must(t, err)
	must(t, second(caller.CallCancel(t.Context(), res.CallID, nil, client.OpConfig{})))
	return res.CallID
}

// R7.2, R5.3 after a restore (docs/operations.md, Backups): a device that received events
// after the backup holds a seq the restored log never issued. Once the restored log has
// grown, a login from that seq must not resume past events it never received: it is told
// caughtUp:false and gets the invitation still ringing, synthesized. From the headSeq of that
// reply it then resumes like any device, caught up with every later event.
func TestE2ERestoredServerSkipsNoEventForADeviceAheadOfTheBackup(t *testing.T) {
	ts := startServer(t)
	alice := ts.login(t, "alice", "a")
	bob, _ := ts.rawLogin(t, "bob", "b", -1)
	ringAndCancel(t, alice, "bob")
	restored := t.TempDir()
	backupTo(t, ts, restored)

	lost := ringAndCancel(t, alice, "bob") // after the backup: bob's device sees it, the copy does not
	var held int64
	for {
		f, id := eventOf(bob)
		if held = f.Seq; id == lost && f.Event == protocol.EventCallInvitationCancelled {
			break
		}
	}
	bob.conn.CloseNow()

	back := startServerOn(t, restored)
	alice = back.login(t, "alice", "a")
	cancelled := ringAndCancel(t, alice, "bob")
	ringAndCancel(t, alice, "bob") // the restored log grows past the seq bob's device holds
	ringing, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)

	bob, lr := back.rawLogin(t, "bob", "b", held)
	if lr.CaughtUp {
		var got []string
		for range 3 {
			f, id := eventOf(bob)
			got = append(got, f.Event+" "+id)
		}
		t.Fatalf("login from seq %d, received after the backup, on the restored server: caughtUp with headSeq %d, "+
			"then %q: the events of call %s, before them, were skipped", held, lr.HeadSeq, got, cancelled)
	}
	if f, id := eventOf(bob); f.Event != protocol.EventCallInvitationReceived || f.Seq != 0 || id != ringing.CallID {
		t.Fatalf("after caughtUp:false: %s of %s (seq %d), want the synthesized invitation of %s", f.Event, id, f.Seq, ringing.CallID)
	}
	bob.conn.CloseNow()

	must(t, second(alice.CallCancel(t.Context(), ringing.CallID, nil, client.OpConfig{})))
	bob, again := back.rawLogin(t, "bob", "b", lr.HeadSeq)
	if !again.CaughtUp || again.HeadSeq <= lr.HeadSeq {
		t.Fatalf("login from the headSeq %d given after the restore: caughtUp %v, headSeq %d; want caught up past it",
			lr.HeadSeq, again.CaughtUp, again.HeadSeq)
	}
	if f, id := eventOf(bob); f.Event != protocol.EventCallInvitationCancelled || id != ringing.CallID || f.Seq != again.HeadSeq {
		t.Errorf("after resuming from %d: %s of %s (seq %d), want the cancellation of %s (seq %d)",
			lr.HeadSeq, f.Event, id, f.Seq, ringing.CallID, again.HeadSeq)
	}
}
