package sqlite

import (
	"testing"

	"github.com/dialtone/dialtone/internal/switchboard"
)

// TestMigrationOfPushRecordsKeyedByCall checks migration 0011: push records written when a
// call's pushes were ordered per call take their user's key (switchboard.PushOrderKey), so that
// a user's invitation still goes before the withdrawal committed after the upgrade (§9).
func TestMigrationOfPushRecordsKeyedByCall(t *testing.T) {
	s, path := openTest(t, Options{})
	old := switchboard.Change{Outbox: []switchboard.OutboxRecord{
		{Kind: switchboard.OutboxPush, OrderKey: "c1", Body: []byte(`{"kind":"invitation","userID":"bob","callID":"c1"}`), CreatedAt: 1},
		{Kind: switchboard.OutboxPush, OrderKey: "c1", Body: []byte(`{"kind":"invitation","userID":"carol","callID":"c1"}`), CreatedAt: 1},
		{Kind: switchboard.OutboxWebhook, OrderKey: "c1", Body: []byte(`{"userID":"bob"}`), CreatedAt: 1},
	}}
	if _, err := s.Commit(bg, old); err != nil {
		t.Fatal(err)
	}
	execOnWriter(t, s, `PRAGMA user_version = 10`)
	s = reopen(t, s, path)
	withdrawal := switchboard.OutboxRecord{Kind: switchboard.OutboxPush, OrderKey: switchboard.PushOrderKey("c1", "bob"),
		Body: []byte(`{"kind":"withdrawal","userID":"bob","callID":"c1"}`), CreatedAt: 2}
	if _, err := s.Commit(bg, switchboard.Change{Outbox: []switchboard.OutboxRecord{withdrawal}}); err != nil {
		t.Fatal(err)
	}
	heads, err := s.OutboxHeads(bg, switchboard.OutboxPush, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range heads {
		got = append(got, h.OrderKey+" "+string(h.Body))
	}
	want := []string{
		`c1 bob {"kind":"invitation","userID":"bob","callID":"c1"}`,
		`c1 carol {"kind":"invitation","userID":"carol","callID":"c1"}`,
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("push heads after the migration:\n%q\nwant\n%q (bob's withdrawal waits for his invitation)", got, want)
	}
	hooks, err := s.OutboxHeads(bg, switchboard.OutboxWebhook, 0, 10)
	if err != nil || len(hooks) != 1 || hooks[0].OrderKey != "c1" {
		t.Errorf("webhook heads after the migration: %+v (%v), want one keyed c1", hooks, err)
	}
}
