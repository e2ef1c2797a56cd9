package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/internal/wire"
)

// escapedMessage returns a push of kind whose pushConfig is at its §9 limits (title and
// content 256 bytes, payload 2048, resourcesID 32) and made of U+0001, which JSON writes as
// \u0001 (six bytes for one), from a caller with the longest userID (§1, 32 bytes) in a call
// whose ID is as long as the server makes them (24 characters); an invitation names an inviter
// with the longest userID too.
func escapedMessage(kind string, now int64) Message {
	m := Message{Kind: kind, CallID: strings.Repeat("C", 24), Caller: strings.Repeat("<", 32), ServerTime: now,
		Title: strings.Repeat("\x01", 256), Content: strings.Repeat("\x01", 256), Payload: strings.Repeat("\x01", 2048),
		ResourcesID: strings.Repeat("\x01", 32)}
	if kind == KindInvitation {
		m.Deadline, m.Inviter = now+30_000, strings.Repeat(">", 32)
	}
	return m
}

// checkShortened fails t unless got is want shortened as docs/push.md "Size limits" says: the
// call's identity intact, the payload dropped, title and content prefixes of want's at a UTF-8
// boundary, and marked truncated.
func checkShortened(t *testing.T, what string, got, want Message) {
	t.Helper()
	if got.Kind != want.Kind || got.CallID != want.CallID || got.Caller != want.Caller || got.Inviter != want.Inviter ||
		got.Deadline != want.Deadline || got.ServerTime != want.ServerTime {
		t.Errorf("%s: kind %q callID %q caller %q inviter %q deadline %d serverTime %d, want those of %+v",
			what, got.Kind, got.CallID, got.Caller, got.Inviter, got.Deadline, got.ServerTime, want)
	}
	if got.Payload != "" || !got.Truncated {
		t.Errorf("%s: payload %d bytes, truncated %v; want the payload dropped and the push marked truncated",
			what, len(got.Payload), got.Truncated)
	}
	for _, f := range []struct{ name, got, want string }{{"title", got.Title, want.Title}, {"content", got.Content, want.Content}} {
		if !strings.HasPrefix(f.want, f.got) || !utf8.ValidString(f.got) {
			t.Errorf("%s: %s %q is no UTF-8 prefix of %q", what, f.name, f.got, f.want)
		}
	}
}

// §9: a push whose pushConfig JSON escapes past the provider's limit is shortened to fit
// (docs/push.md "Size limits") and sent, so the phone rings: APNs alert and VoIP targets,
// invitation and withdrawal (a VoIP target gets only invitations).
func TestAPNsOversizePushIsShortenedToFit(t *testing.T) {
	f := newFakeAPNs(t)
	clock := newClock()
	a, _ := newAPNs(t, f, clock)
	alert := Target{Provider: "apns", Token: "tok-alert", BundleID: "com.example.app"}
	voip := Target{Provider: "apns", Token: "tok-voip", VoIP: true, BundleID: "com.example.app"}
	sends := []struct {
		t     Target
		kind  string
		limit int
	}{{alert, KindInvitation, 4096}, {alert, KindWithdrawal, 4096}, {voip, KindInvitation, 5120}}
	for _, s := range sends {
		if err := a.Send(t.Context(), s.t, escapedMessage(s.kind, clock.ms(0))); err != nil {
			t.Errorf("Send(%s, %s): %v", s.t.Token, s.kind, err)
		}
	}
	got := f.requests()
	if len(got) != len(sends) {
		t.Fatalf("APNs got %d requests, want %d", len(got), len(sends))
	}
	for i, s := range sends {
		r := got[i]
		var flags struct {
			Truncated bool `json:"truncated"`
		}
		_ = json.Unmarshal(r.raw, &flags)
		b := r.body
		sent := Message{Kind: b.Kind, CallID: b.CallID, Caller: b.Caller, Inviter: b.Inviter, ServerTime: b.ServerTime, Deadline: b.Deadline,
			Title: b.APS.Alert.Title, Content: b.APS.Alert.Body, Payload: b.Payload, Truncated: flags.Truncated}
		what := s.t.Token + " " + s.kind
		checkShortened(t, what, sent, escapedMessage(s.kind, clock.ms(0)))
		if r.size > s.limit {
			t.Errorf("%s: body of %d bytes, over APNs' %d", what, r.size, s.limit)
		}
	}
}

// §9: the same for FCM, whose limit is on the message's data; FCM answers a larger one with
// 400 INVALID_ARGUMENT, which must not cost the user its target either.
func TestFCMOversizePushIsShortenedToFit(t *testing.T) {
	p, f, clock := newFCM(t)
	target := Target{Provider: "fcm", Token: "dev-1"}
	kinds := []string{KindInvitation, KindWithdrawal, KindQuit}
	for _, kind := range kinds {
		if err := p.Send(t.Context(), target, escapedMessage(kind, clock.ms(0))); err != nil {
			t.Errorf("Send(%s): %v", kind, err)
		}
	}
	f.mu.Lock()
	sends := append([]fcmSend(nil), f.sends...)
	f.mu.Unlock()
	if len(sends) != len(kinds) {
		t.Fatalf("FCM got %d sends, want %d", len(sends), len(kinds))
	}
	for i, kind := range kinds {
		d := sends[i].body.Message.Data
		sent := Message{Kind: d["kind"], CallID: d["callID"], Caller: d["caller"], Inviter: d["inviter"], Title: d["title"], Content: d["content"],
			Payload: d["payload"], Truncated: d["truncated"] == "true"}
		want := escapedMessage(kind, clock.ms(0))
		want.ServerTime, want.Deadline = 0, 0
		checkShortened(t, kind, sent, want)
		if w := escapedMessage(kind, clock.ms(0)); d["deadline"] != optionalInt(w.Deadline) || d["serverTime"] != optionalInt(w.ServerTime) {
			t.Errorf("%s: deadline %q serverTime %q, want %d and %d", kind, d["deadline"], d["serverTime"], w.Deadline, w.ServerTime)
		}
		if sends[i].dataSize > 4096 {
			t.Errorf("%s: data of %d bytes, over FCM's 4096", kind, sends[i].dataSize)
		}
	}
}

// optionalInt is n as FCM data carries it: "" for 0, which is left out.
func optionalInt(n int64) string {
	if n == 0 {
		return ""
	}
	b, _ := json.Marshal(n)
	return string(b)
}

// countShortened is an Observer that counts the pushes shortened.
type countShortened struct{ n atomic.Int64 }

func (c *countShortened) PushShortened() { c.n.Add(1) }

// A push shortened to fit keeps the user's target, is logged at WARN without the pushConfig
// (docs/architecture.md "Logging") and counted once per send (dialtone_push_shortened_total);
// an FCM target is not removed for a push that was too big.
func TestDispatchOversizePushKeepsTargetAndWarns(t *testing.T) {
	var shortened countShortened
	p, f, clock := newFCM(t)
	var logged bytes.Buffer // Deliver is called synchronously here
	store := &memStore{marks: map[string]bool{}, targets: []switchboard.PushTarget{
		{UserID: "bob", DeviceID: "p", Provider: "fcm", Token: "dev-1"}}}
	d := NewDispatcher(DispatcherConfig{Providers: map[string]Provider{"fcm": p}, Targets: store, Marks: store,
		Profiles: map[string]Profile{"ring": {Sound: "ring.ogg"}}, Log: slog.New(slog.NewTextHandler(&logged, nil)),
		Observer: &shortened})
	m := escapedMessage(KindInvitation, clock.ms(0))
	m.ResourcesID = "ring"
	m.Payload = strings.Repeat("\x01", 2040) + "secret!!"
	body, _ := json.Marshal(wire.PushMessage{Kind: m.Kind, UserID: "bob", CallID: m.CallID, Caller: m.Caller,
		ServerTime: m.ServerTime, Deadline: m.Deadline, Title: m.Title, Content: m.Content, Payload: m.Payload,
		ResourcesID: m.ResourcesID})
	if err := d.Deliver(t.Context(), switchboard.OutboxRecord{ID: 1, Kind: switchboard.OutboxPush, OrderKey: m.CallID, Body: body}); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if targets, _ := store.PushTargets(t.Context(), "bob"); len(targets) != 1 {
		t.Errorf("bob's targets after the push: %+v, want dev-1 kept", targets)
	}
	f.mu.Lock()
	n := len(f.sends)
	f.mu.Unlock()
	if n != 1 {
		t.Errorf("FCM got %d sends, want 1", n)
	}
	if got := shortened.n.Load(); got != 1 {
		t.Errorf("%d shortened pushes counted, want 1", got)
	}
	log := logged.String()
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "push: shortened") || !strings.Contains(log, "callID="+m.CallID) {
		t.Errorf("log %q, want a WARN line of the shortened push naming its call", log)
	}
	if strings.Contains(log, "secret!!") || strings.Contains(log, `\x01`) || strings.Contains(log, "\x01") {
		t.Errorf("log %q holds the pushConfig", log)
	}
}

// A push that no shortening fits (a profile past its bound, which ParseProfiles refuses) is
// refused without a request, as a rejection: retrying cannot help.
func TestPushThatCannotFitIsRefusedWithoutRequest(t *testing.T) {
	fa := newFakeAPNs(t)
	clock := newClock()
	a, _ := newAPNs(t, fa, clock)
	p, ff, _ := newFCM(t)
	m := escapedMessage(KindInvitation, clock.ms(0))
	m.Profile = Profile{Sound: strings.Repeat("s", 5000), AndroidChannelID: strings.Repeat("c", 5000)}
	for name, send := range map[string]func() error{
		"apns": func() error { return a.Send(t.Context(), Target{Provider: "apns", Token: "tok", BundleID: "b"}, m) },
		"fcm":  func() error { return p.Send(t.Context(), Target{Provider: "fcm", Token: "dev-1"}, m) },
	} {
		if err := send(); !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrRejected) || errors.Is(err, ErrTokenInvalid) {
			t.Errorf("%s: Send of a push that cannot fit: %v, want ErrTooLarge, a rejection", name, err)
		}
	}
	ff.mu.Lock()
	n := len(ff.sends)
	ff.mu.Unlock()
	if len(fa.requests()) != 0 || n != 0 {
		t.Errorf("%d APNs and %d FCM requests, want none", len(fa.requests()), n)
	}
}

// §9, docs/push.md "Size limits": a title and content written in characters of two, three and
// four bytes (a name in any script, an emoji), mixed with characters JSON escapes, are cut at
// a character boundary: with limits that leave room for about half the content, then half the
// title, each provider with a limit gets valid UTF-8 in valid JSON within the limit, and the
// text cut is a non-empty prefix of the original.
func TestOversizePushWithMultiByteTextIsCutAtCharacterBoundaries(t *testing.T) {
	for _, p := range sizedProviders(t) {
		m := escapedMessage(KindInvitation, 1)
		m.Title = strings.Repeat("Zoë \x01", 42) // 252 bytes
		m.Content = strings.Repeat("€😀\x01", 32) // 256 bytes
		bare := m
		bare.Payload, bare.Truncated = "", true
		whole := encodedSize(t, p, bare)
		bare.Content = ""
		noContent := encodedSize(t, p, bare)
		bare.Title = ""
		noText := encodedSize(t, p, bare)
		for _, c := range []struct {
			name  string
			limit int
			cut   func(Message) string
		}{
			{"content", (whole + noContent) / 2, func(m Message) string { return m.Content }},
			{"title", (noContent + noText) / 2, func(m Message) string { return m.Title }},
		} {
			what := p.name + " " + c.name
			got, body, err := fit(m, c.limit, p.encode)
			if err != nil {
				t.Fatalf("%s: fit: %v", what, err)
			}
			if cut := c.cut(got); cut == "" || cut == c.cut(m) {
				t.Errorf("%s: cut to %q, want part of %q", what, cut, c.cut(m))
			}
			checkShortened(t, what, got, m)
			if !json.Valid(body) || !utf8.Valid(body) || len(body) > c.limit {
				t.Errorf("%s: sent %d bytes (limit %d), valid JSON %v, valid UTF-8 %v",
					what, len(body), c.limit, json.Valid(body), utf8.Valid(body))
			}
		}
	}
}

// encodedSize returns the size of m as p counts it.
func encodedSize(t *testing.T, p sizedProvider, m Message) int {
	t.Helper()
	body, err := p.encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return len(body)
}
