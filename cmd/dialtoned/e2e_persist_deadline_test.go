package main

import (
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
)

// R5.2, R3.5 across a graceful restart: a not-received check that came due while the server was
// down fires at start-up, dated at its due time, while the ring deadline still ahead fires at
// its own time, once, neither earlier nor later by the downtime; the caller's SDK, which
// reconnects by itself, sees each change exactly once, in order.
func TestE2EPersistChecksAndDeadlinesAcrossARestart(t *testing.T) {
	flags := []string{"--not-received-check", "3s"}
	first := startServer(t, flags...)
	alice := first.login(t, "alice", "a")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 5, EnableNotReceivedCheck: true})
	must(t, err)
	created, deadline := res.CallInfo.CreateTime, userIn(t, res.CallInfo.CallUserList, "bob").Deadline
	first.Stop()
	for time.Now().UnixMilli() < created+3500 { // the check comes due while the server is down
		time.Sleep(50 * time.Millisecond)
	}
	if time.Now().UnixMilli() >= deadline-500 {
		t.Fatalf("the server was down past bob's deadline %d: no ring left to check", deadline)
	}

	next := startServerOn(t, first.Data, append([]string{"--listen", first.Addr}, flags...)...)
	nyr := alice.wait(res.CallID, "changed bob=NotYetReceived").(client.CallUserStateChanged)
	if at := nyr.CallUserList[0].UpdateTime; at != created+3000 {
		t.Errorf("bob NotYetReceived at %d, want the check's due time %d (R5.2)", at, created+3000)
	}
	timedOut := alice.wait(res.CallID, "changed bob=Timeout (call ended)").(client.CallUserStateChanged)
	if now := time.Now().UnixMilli(); now < deadline {
		t.Errorf("bob timed out at %d, before his deadline %d (R3.5)", now, deadline)
	}
	if at := timedOut.CallUserList[0].UpdateTime; at != deadline {
		t.Errorf("bob's Timeout dated %d, want his deadline %d (R3.5)", at, deadline)
	}
	alice.expect(next, res.CallID, "created", "changed bob=NotYetReceived", "changed bob=Timeout (call ended)")
}
