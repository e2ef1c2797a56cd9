package push

import (
	"testing"
	"time"
)

// A quit push (behaviour §9) also reaches a user still ringing for the call (a listener, §5).
// It must not take the place of that user's invitation: not on the phone's screen, where APNs
// replaces a notification with the same apns-collapse-id, nor in FCM's store for an offline
// device, which keeps one message per collapse_key. So it collapses only with the call's other
// quit pushes; every other push of the call collapses under the callID (docs/push.md).
func TestQuitPushCollapsesApartFromTheRing(t *testing.T) {
	clock := newClock()
	f := newFakeAPNs(t)
	a, _ := newAPNs(t, f, clock)
	p, ff, _ := newFCM(t)
	kinds := []string{KindInvitation, KindQuit, KindWithdrawal, KindEnd}
	want := []string{"call-1", "call-1.quit", "call-1", "call-1"}
	for _, kind := range kinds {
		m := Message{Kind: kind, CallID: "call-1", Caller: "alice", ServerTime: clock.ms(0), Title: "t"}
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
