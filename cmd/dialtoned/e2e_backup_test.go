package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/protocol"
)

// The backup of docs/operations.md: VACUUM INTO on the database of a running server, with a
// call ringing and one ended, restored into a new data directory that a server then starts
// on. The calls are there, the ringing one's deadline fires (R3.5), a device resumes from the
// seq it had at the backup (R7.2) and a repeated request gets its first reply (R7.3).
func TestE2EBackupOfARunningServerRestores(t *testing.T) {
	ts := startServer(t)
	invite := `{"id":%d,"op":"callInvite","data":{"invitees":["bob"],"config":{"timeout":5}},"idem":"k-backup-0123456789"}`
	r, _ := ts.rawLogin(t, "alice", "a", -1)
	r.send(fmt.Sprintf(invite, 2))
	first := r.reply(2)
	var ringing protocol.CallInviteResult
	if first.Error != nil || json.Unmarshal(first.Result, &ringing) != nil {
		t.Fatalf("invite: %+v", first)
	}
	r.conn.CloseNow()
	carol := ts.login(t, "carol", "c")
	ended, err := carol.CallInvite(t.Context(), []string{"dave"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	_, err = carol.CallCancel(t.Context(), ended.CallID, nil, client.OpConfig{})
	must(t, err)
	_, probe := ts.rawLogin(t, "alice", "probe", -1)

	restored := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(ts.Data, "dialtone.db"))
	must(t, err)
	_, err = db.Exec("VACUUM INTO ?", filepath.Join(restored, "dialtone.db"))
	must(t, err)
	must(t, db.Close())
	if entries, err := os.ReadDir(restored); err != nil || len(entries) != 1 {
		t.Fatalf("the backup is not one file: %v %v", entries, err)
	}

	second := startServerOn(t, restored)
	if !second.canResume(t, "alice", probe.HeadSeq) {
		t.Errorf("a login from seq %d, the head at the backup, is not caught up on the restored server", probe.HeadSeq)
	}
	r, _ = second.rawLogin(t, "alice", "a", -1)
	r.send(fmt.Sprintf(invite, 2))
	if f := r.reply(2); f.Error != nil || string(f.Result) != string(first.Result) {
		t.Errorf("the invite repeated on the restored server: %s %v, want the first reply %s", f.Result, f.Error, first.Result)
	}
	r.conn.CloseNow()
	info, err := second.login(t, "carol", "c").QueryCall(t.Context(), ended.CallID)
	must(t, err)
	if info.State != client.CallEnded {
		t.Errorf("the ended call on the restored server is %+v", info)
	}
	alice := second.login(t, "alice", "a")
	alice.wait(ringing.CallID, "changed bob=Timeout (call ended)")
}
