package push

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/switchboard"
)

// A quit push (behaviour §9) also reaches a user still ringing for the call (a listener, §5).
// It must not take the place of that user's invitation: not on the phone's screen, where APNs
// replaces a notification with the same apns-collapse-id, nor in FCM's store for an offline
// device, which keeps one message per collapse_key. So beside a ring it collapses only with the
// call's other quit pushes; every other push of the call collapses under the callID
// (docs/push.md).
func TestQuitPushCollapsesApartFromTheRing(t *testing.T) {
	clock := newClock()
	f := newFakeAPNs(t)
	a, _ := newAPNs(t, f, clock)
	p, ff, _ := newFCM(t)
	kinds := []string{KindInvitation, KindQuit, KindWithdrawal, KindEnd}
	want := []string{"call-1", "call-1.quit", "call-1", "call-1"}
	for _, kind := range kinds {
		m := Message{Kind: kind, CallID: "call-1", Caller: "alice", ServerTime: clock.ms(0), Title: "t", BesideRing: kind == KindQuit}
		if kind == KindInvitation {
			m.Deadline = clock.ms(30 * time.Second)
		}
		if err := a.Send(t.Context(), Target{Provider: "apns", Token: "tok", BundleID: "com.example.app"}, m); err != nil {
			t.Fatalf("APNs %s: %v", kind, err)
		}
		if err := p.Send(t.Context(), Target{Provider: "fcm", Token: "dev-1"}, m); err != nil {
			t.Fatalf("FCM %s: %v", kind, err)
		}
	}
	apnsGot := f.requests()
	ff.mu.Lock()
	fcmGot := append([]fcmSend(nil), ff.sends...)
	ff.mu.Unlock()
	if len(apnsGot) != len(kinds) || len(fcmGot) != len(kinds) {
		t.Fatalf("%d APNs and %d FCM requests, want %d each", len(apnsGot), len(fcmGot), len(kinds))
	}
	for i, kind := range kinds {
		if got := apnsGot[i].header.Get("apns-collapse-id"); got != want[i] {
			t.Errorf("APNs %s: apns-collapse-id %q, want %q", kind, got, want[i])
		}
		if got := fcmGot[i].body.Message.Android.CollapseKey; got != want[i] {
			t.Errorf("FCM %s: collapse_key %q, want %q", kind, got, want[i])
		}
	}
}

// A quit push collapses apart only where a ring may stand: for a user who was sent an
// invitation push of the call not yet withdrawn (the mark of §9's "was sent an invitation
// push"). Any other user has no ring of the call on the screen, and its quit push collapses
// under the callID, so that the call's later push (its end, or a later quit) replaces it and
// the phone keeps one notification for the call (docs/push.md "Message fields").
func TestQuitPushCollapsesApartOnlyBesideARing(t *testing.T) {
	var (
		mu   sync.Mutex
		keys []string
	)
	rec := providerFunc(func(_ context.Context, t Target, m Message) error { // a user's targets are sent side by side
		mu.Lock()
		keys = append(keys, t.Token+" "+m.Kind+" "+m.CollapseKey())
		mu.Unlock()
		return nil
	})
	e := newDispatchEnv(t)
	e.d = NewDispatcher(DispatcherConfig{Providers: map[string]Provider{"fcm": rec}, Targets: e.store, Marks: e.store})
	for _, r := range []switchboard.OutboxRecord{
		e.record(KindInvitation, "bob", false), e.record(KindQuit, "bob", false), e.record(KindWithdrawal, "bob", false),
		e.record(KindQuit, "carol", false), e.record(KindEnd, "carol", false),
	} {
		if err := e.d.Deliver(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(keys)
	want := []string{"bob-1 invitation c1", "bob-1 quit c1.quit", "bob-1 withdrawal c1",
		"bob-2 invitation c1", "bob-2 quit c1.quit", "bob-2 withdrawal c1", "carol-1 end c1", "carol-1 quit c1"}
	if !slices.Equal(keys, want) {
		t.Errorf("sent (token kind collapse key) %q, want %q", keys, want)
	}
}
