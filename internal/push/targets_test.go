package push

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/internal/wire"
)

// fcmDispatcher returns a dispatcher over a fake FCM whose user bob has the given FCM tokens,
// in that order, with its log and the shortened pushes it counts.
func fcmDispatcher(t *testing.T, tokens ...string) (*Dispatcher, *fakeFCM, *bytes.Buffer, *countShortened) {
	p, f, _ := newFCM(t)
	store := &memStore{marks: map[string]bool{}}
	for _, tok := range tokens {
		store.targets = append(store.targets, switchboard.PushTarget{UserID: "bob", DeviceID: tok, Provider: "fcm", Token: tok})
	}
	var logged bytes.Buffer // written only by Deliver, which the tests call from one goroutine at a time
	var shortened countShortened
	d := NewDispatcher(DispatcherConfig{Providers: map[string]Provider{"fcm": p}, Targets: store, Marks: store,
		Log: slog.New(slog.NewTextHandler(&logged, nil)), Observer: &shortened})
	return d, f, &logged, &shortened
}

// pushRecord returns outbox record id: an invitation push of m to bob.
func pushRecord(id int64, m Message) switchboard.OutboxRecord {
	body, _ := json.Marshal(wire.PushMessage{Kind: m.Kind, UserID: "bob", CallID: m.CallID, Caller: m.Caller,
		ServerTime: m.ServerTime, Deadline: m.Deadline, Title: m.Title, Content: m.Content, Payload: m.Payload})
	return switchboard.OutboxRecord{ID: id, Kind: switchboard.OutboxPush, OrderKey: m.CallID, Body: body}
}

// §9, docs/push.md "One failing target delays no other": a target whose provider does not
// answer does not hold up the push to the user's other targets, which is sent at once; the
// record is done once every target answered.
func TestDispatchSlowTargetDelaysNoOtherTarget(t *testing.T) {
	d, f, _, _ := fcmDispatcher(t, "slow", "dev-1")
	m := Message{Kind: KindInvitation, CallID: "c1", Caller: "alice", ServerTime: 1000, Deadline: 31000}
	done := make(chan error, 1)
	go func() { done <- d.Deliver(t.Context(), pushRecord(1, m)) }()

	deadline := time.After(10 * time.Second)
	for !slices.Contains(f.sentTo(), "dev-1") {
		select {
		case <-f.poke:
		case <-deadline:
			close(f.hold)
			<-done
			t.Fatalf("dev-1 got no push within 10 s while FCM had not answered the send to slow (sent %q)", f.sentTo())
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Deliver returned %v before the slow target answered", err)
	default:
	}
	close(f.hold)
	if err := <-done; err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if got := f.sentTo(); !slices.Equal(got, []string{"dev-1", "slow"}) {
		t.Errorf("FCM sends to %q, want dev-1 then slow", got)
	}
}

// docs/push.md "Size limits": a shortened push is logged at WARN and counted in
// dialtone_push_shortened_total once per target, however often the record is retried because
// of a target that keeps failing.
func TestDispatchShortenedPushWarnedOncePerTargetAcrossRetries(t *testing.T) {
	d, f, logged, shortened := fcmDispatcher(t, "down", "dev-1")
	m := escapedMessage(KindInvitation, 1_700_000_000_000)
	m.ResourcesID = ""
	rec := pushRecord(1, m)
	for attempt := 1; attempt <= 3; attempt++ {
		if err := d.Deliver(t.Context(), rec); err == nil {
			t.Fatalf("attempt %d: Deliver with FCM answering 503 for down succeeded", attempt)
		}
	}
	sent := f.sentTo()
	if len(sent) != 4 || len(slices.DeleteFunc(slices.Clone(sent), func(s string) bool { return s != "dev-1" })) != 1 {
		got := sent
		t.Fatalf("FCM sends to %q, want dev-1 once and down on each attempt", got)
	}
	if n := strings.Count(logged.String(), "push: shortened"); n != 2 {
		t.Errorf("%d WARN lines of the shortened push over 3 attempts to 2 targets, want 2 (one per target):\n%s", n, logged)
	}
	if got := shortened.n.Load(); got != 2 {
		t.Errorf("%d shortened pushes counted over 3 attempts to 2 targets, want 2 (one per target)", got)
	}
}
