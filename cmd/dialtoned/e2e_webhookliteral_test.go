package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
)

// rawHooks is a webhook receiver that checks each request as docs/webhooks.md "Request" tells
// an operator to (operatorVerify, the docs' code word for word) and keeps the raw bodies in
// arrival order; hold, when set, makes it hang on the bodies it matches until release closes.
type rawHooks struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	bodies  []string
	poke    chan struct{}
	hold    func(body string) bool
	release chan struct{}
	once    sync.Once
}

// unhold ends the requests held, and holds none from then on.
func (h *rawHooks) unhold() { h.once.Do(func() { close(h.release) }) }

func newRawHooks(t *testing.T, hold func(string) bool) *rawHooks {
	h := &rawHooks{t: t, poke: make(chan struct{}, 1), hold: hold, release: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
			!operatorVerify([]byte(hookSecret), r.Header.Get("Dialtone-Signature"), body, time.Now()) {
			t.Errorf("webhook request %s %q refused by the receiver of docs/webhooks.md: %s", r.Method, r.Header, body)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if h.hold != nil && h.hold(string(body)) && !h.released() {
			select {
			case <-h.release:
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		h.mu.Lock()
		h.bodies = append(h.bodies, string(body))
		h.mu.Unlock()
		select {
		case h.poke <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(h.srv.Close)
	t.Cleanup(h.unhold) // runs first: held requests end, then the server closes
	return h
}

func (h *rawHooks) flags() []string {
	return []string{"--webhook-url", h.srv.URL, "--webhook-secret", hookSecret}
}

// ofCall waits until callID has a body whose event is last and returns the call's bodies in
// arrival order, each once (a redelivery is dropped, as a receiver deduplicating on eventID
// does).
func (h *rawHooks) ofCall(callID, last string) []string {
	h.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		var out []string
		seen := map[string]bool{}
		done := false
		h.mu.Lock()
		for _, b := range h.bodies {
			var m struct{ EventID, Event, CallID string }
			_ = json.Unmarshal([]byte(b), &m)
			if m.CallID != callID || seen[m.EventID] {
				continue
			}
			seen[m.EventID] = true
			out = append(out, b)
			done = done || m.Event == last
		}
		h.mu.Unlock()
		if done {
			return out
		}
		select {
		case <-h.poke:
		case <-deadline:
			h.t.Fatalf("no %s webhook of call %s; got %q", last, callID, out)
		}
	}
}

// wantBodies compares the bodies of callID, in order, each with the whole literal of want: in
// a literal, ID stands for the callID, V1, V2, ... for the version of a change (the same
// name, the same version; a later name, a greater version), and T for a time that must be
// within [from, to] and the same in every body of one change (timestamp, endTime).
func wantBodies(t *testing.T, callID string, bodies []string, from, to int64, want ...string) {
	t.Helper()
	if len(bodies) != len(want) {
		t.Errorf("call %s: %d webhooks %q, want %d", callID, len(bodies), bodies, len(want))
		return
	}
	versions := map[string]int64{}
	times := map[string]int64{}
	var lastVersion int64
	for i, body := range bodies {
		var m struct {
			EventID   string
			Timestamp int64
		}
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Errorf("webhook %s: %v", body, err)
			continue
		}
		vname := regexp.MustCompile(`"eventID":"ID\.(V[0-9]+)\.`).FindStringSubmatch(want[i])
		if vname == nil {
			t.Fatalf("literal %s has no eventID ID.V<n>.<index>", want[i])
		}
		parts := strings.Split(m.EventID, ".")
		var v int64
		if len(parts) != 3 || parts[0] != callID || func() error { _, err := fmt.Sscan(parts[1], &v); return err }() != nil {
			t.Errorf("eventID %q is not %s.<version>.<index>", m.EventID, callID)
			continue
		}
		if prev, ok := versions[vname[1]]; ok && prev != v {
			t.Errorf("webhook %d: version %d, want %d (one change)", i, v, prev)
		} else if !ok && v <= lastVersion {
			t.Errorf("webhook %d: version %d after %d, want a later change", i, v, lastVersion)
		}
		versions[vname[1]], lastVersion = v, v
		if m.Timestamp < from || m.Timestamp > to {
			t.Errorf("webhook %d: timestamp %d outside [%d, %d]", i, m.Timestamp, from, to)
		}
		if prev, ok := times[vname[1]]; ok && prev != m.Timestamp {
			t.Errorf("webhook %d: timestamp %d, want %d, its change's", i, m.Timestamp, prev)
		}
		times[vname[1]] = m.Timestamp
		lit := strings.ReplaceAll(want[i], `"eventID":"ID.`+vname[1]+`.`, fmt.Sprintf(`"eventID":"ID.%d.`, v))
		lit = strings.ReplaceAll(lit, `"ID`, `"`+callID)
		lit = strings.ReplaceAll(lit, `:T`, fmt.Sprintf(":%d", m.Timestamp))
		if body != lit {
			t.Errorf("webhook %d of call %s:\n got %s\nwant %s", i, callID, body, lit)
		}
	}
}

// Behaviour §10 and docs/webhooks.md "Bodies": the whole body of every event kind and of every
// call_end reason, through the real server, byte for byte against its literal. call_end always
// has operatedUserID, "" when a timeout ended the call (docs/behaviour.md §12).
func TestE2EWebhookWholeBodies(t *testing.T) {
	hooks := newRawHooks(t, nil)
	ts := startServer(t, hooks.flags()...)
	ctx := t.Context()
	alice, bob, carol := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "carol", "c")
	dave, erin := ts.login(t, "dave", "d"), ts.login(t, "erin", "e")
	from := time.Now().UnixMilli()

	// General: rejected, answered, cancelled, timed out.
	rejected, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60, ExtendedData: "hi"})
	must(t, err)
	must(t, second(bob.CallReject(ctx, rejected.CallID, client.OpConfig{ExtendedData: "busy"})))
	answered, err := alice.CallInvite(ctx, []string{"bob", "carol"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	must(t, second(carol.CallReject(ctx, answered.CallID, client.OpConfig{})))
	must(t, second(bob.CallAccept(ctx, answered.CallID, client.OpConfig{ExtendedData: "yes"})))
	cancelled, err := dave.CallInvite(ctx, []string{"erin", "carol"}, client.InviteConfig{Timeout: 60, ExtendedData: "x"})
	must(t, err)
	must(t, second(dave.CallCancel(ctx, cancelled.CallID, []string{"erin"}, client.OpConfig{ExtendedData: "sorry"})))
	timedOut, err := erin.CallInvite(ctx, []string{"nobody", "noone"}, client.InviteConfig{Timeout: 1})
	must(t, err)

	// Advanced: invite, join, quit and the two ends of an advanced call.
	adv := client.InviteConfig{Timeout: 60, Mode: client.ModeAdvanced, ExtendedData: "adv"}
	ended, err := alice.CallInvite(ctx, []string{"bob"}, adv)
	must(t, err)
	must(t, second(bob.CallAccept(ctx, ended.CallID, client.OpConfig{})))
	must(t, second(bob.CallingInvite(ctx, ended.CallID, []string{"carol", "dave"}, client.CallingInviteConfig{Timeout: 30, ExtendedData: "join us"})))
	must(t, second(carol.CallReject(ctx, ended.CallID, client.OpConfig{ExtendedData: "later"})))
	must(t, second(carol.CallJoin(ctx, ended.CallID, client.OpConfig{ExtendedData: "back"})))
	must(t, second(carol.CallQuit(ctx, ended.CallID, client.OpConfig{ExtendedData: "gone"})))
	end, err := alice.CallEnd(ctx, ended.CallID, client.OpConfig{ExtendedData: "done"})
	must(t, err)
	left, err := dave.CallInvite(ctx, []string{"nobody"}, client.InviteConfig{Timeout: 60, Mode: client.ModeAdvanced})
	must(t, err)
	must(t, second(dave.CallQuit(ctx, left.CallID, client.OpConfig{ExtendedData: "bye"})))

	bodies := map[string][]string{}
	for id, last := range map[string]string{rejected.CallID: "call_end", answered.CallID: "call_end", cancelled.CallID: "call_end",
		timedOut.CallID: "call_end", ended.CallID: "call_end", left.CallID: "call_end"} {
		bodies[id] = hooks.ofCall(id, last)
	}
	to := time.Now().UnixMilli()

	wantBodies(t, rejected.CallID, bodies[rejected.CallID], from, to,
		`{"eventID":"ID.V1.0","event":"call_create","callID":"ID","timestamp":T,"caller":"alice","mode":0,"users":["bob"],"timeout":60,"extendedData":"hi"}`,
		`{"eventID":"ID.V2.0","event":"call_reject","callID":"ID","timestamp":T,"caller":"alice","mode":0,"extendedData":"busy","userID":"bob"}`,
		`{"eventID":"ID.V2.1","event":"call_end","callID":"ID","timestamp":T,"caller":"alice","mode":0,"operatedUserID":"bob","reason":"rejected","endTime":T}`)
	wantBodies(t, answered.CallID, bodies[answered.CallID], from, to,
		`{"eventID":"ID.V1.0","event":"call_create","callID":"ID","timestamp":T,"caller":"alice","mode":0,"users":["bob","carol"],"timeout":60,"extendedData":""}`,
		`{"eventID":"ID.V2.0","event":"call_reject","callID":"ID","timestamp":T,"caller":"alice","mode":0,"extendedData":"","userID":"carol"}`,
		`{"eventID":"ID.V3.0","event":"call_accept","callID":"ID","timestamp":T,"caller":"alice","mode":0,"extendedData":"yes","userID":"bob"}`,
		`{"eventID":"ID.V3.1","event":"call_end","callID":"ID","timestamp":T,"caller":"alice","mode":0,"operatedUserID":"bob","reason":"answered","endTime":T}`)
	// A general call's cancel cancels the whole call (R3.2), whichever invitees it names.
	wantBodies(t, cancelled.CallID, bodies[cancelled.CallID], from, to,
		`{"eventID":"ID.V1.0","event":"call_create","callID":"ID","timestamp":T,"caller":"dave","mode":0,"users":["erin","carol"],"timeout":60,"extendedData":"x"}`,
		`{"eventID":"ID.V2.0","event":"call_cancel","callID":"ID","timestamp":T,"caller":"dave","mode":0,"users":["erin","carol"],"extendedData":"sorry","operatedUserID":"dave","reason":"caller_cancel"}`,
		`{"eventID":"ID.V2.1","event":"call_end","callID":"ID","timestamp":T,"caller":"dave","mode":0,"operatedUserID":"dave","reason":"cancelled","endTime":T}`)
	wantBodies(t, timedOut.CallID, bodies[timedOut.CallID], from, to,
		`{"eventID":"ID.V1.0","event":"call_create","callID":"ID","timestamp":T,"caller":"erin","mode":0,"users":["nobody","noone"],"timeout":1,"extendedData":""}`,
		`{"eventID":"ID.V2.0","event":"call_timeout","callID":"ID","timestamp":T,"caller":"erin","mode":0,"users":["nobody","noone"]}`,
		`{"eventID":"ID.V2.1","event":"call_end","callID":"ID","timestamp":T,"caller":"erin","mode":0,"operatedUserID":"","reason":"timeout","endTime":T}`)
	wantBodies(t, ended.CallID, bodies[ended.CallID], from, to,
		`{"eventID":"ID.V1.0","event":"call_create","callID":"ID","timestamp":T,"caller":"alice","mode":1,"users":["bob"],"timeout":60,"extendedData":"adv"}`,
		`{"eventID":"ID.V2.0","event":"call_accept","callID":"ID","timestamp":T,"caller":"alice","mode":1,"extendedData":"","userID":"bob"}`,
		`{"eventID":"ID.V3.0","event":"call_invite","callID":"ID","timestamp":T,"caller":"alice","mode":1,"users":["carol","dave"],"timeout":30,"extendedData":"join us","inviter":"bob"}`,
		`{"eventID":"ID.V4.0","event":"call_reject","callID":"ID","timestamp":T,"caller":"alice","mode":1,"extendedData":"later","userID":"carol"}`,
		`{"eventID":"ID.V5.0","event":"call_join","callID":"ID","timestamp":T,"caller":"alice","mode":1,"extendedData":"back","userID":"carol"}`,
		`{"eventID":"ID.V6.0","event":"call_quit","callID":"ID","timestamp":T,"caller":"alice","mode":1,"extendedData":"gone","userID":"carol","lost":false}`,
		`{"eventID":"ID.V7.0","event":"call_end","callID":"ID","timestamp":T,"caller":"alice","mode":1,"operatedUserID":"alice","reason":"ended","endTime":T}`)
	if end.EndTime < from || end.EndTime > to {
		t.Errorf("callEnd's endTime %d outside [%d, %d]", end.EndTime, from, to)
	}
	wantBodies(t, left.CallID, bodies[left.CallID], from, to,
		`{"eventID":"ID.V1.0","event":"call_create","callID":"ID","timestamp":T,"caller":"dave","mode":1,"users":["nobody"],"timeout":60,"extendedData":""}`,
		`{"eventID":"ID.V2.0","event":"call_quit","callID":"ID","timestamp":T,"caller":"dave","mode":1,"extendedData":"bye","userID":"dave","lost":false}`,
		`{"eventID":"ID.V2.1","event":"call_end","callID":"ID","timestamp":T,"caller":"dave","mode":1,"operatedUserID":"dave","reason":"everyone_left","endTime":T}`)
}

// §10 and docs/webhooks.md: a receiver that never answers the callbacks of one call holds up
// neither the calls (their operations commit and reply at once) nor the callbacks of other
// calls; once it answers again, the held call's callbacks follow, each once, in order.
func TestE2EWebhookReceiverHangingOnOneCallHoldsUpNothingElse(t *testing.T) {
	var held sync.Map // callIDs whose callbacks the receiver does not answer
	hooks := newRawHooks(t, func(body string) bool {
		var m struct{ CallID string }
		_ = json.Unmarshal([]byte(body), &m)
		_, ok := held.Load(m.CallID)
		return ok
	})
	ts := startServer(t, hooks.flags()...)
	ctx := t.Context()
	alice, bob, carol, dave := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "carol", "c"), ts.login(t, "dave", "d")

	// The receiver hangs on every callback of alice's call whose ID it learns from the reply:
	// its call_create is delivered, or held, depending on the race with the reply; either way
	// the later ones are held.
	stuck, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	held.Store(stuck.CallID, true)
	must(t, second(bob.CallReject(ctx, stuck.CallID, client.OpConfig{ExtendedData: "no"})))

	other, err := carol.CallInvite(ctx, []string{"dave"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	must(t, second(dave.CallAccept(ctx, other.CallID, client.OpConfig{})))
	names := eventsOf(hooks.ofCall(other.CallID, "call_end"))
	if !equalStrings(names, []string{"call_create", "call_accept", "call_end"}) {
		t.Errorf("webhooks of the call the receiver answers %v", names)
	}
	for _, b := range hooks.bodiesOf(stuck.CallID) {
		if strings.Contains(b, `"event":"call_reject"`) || strings.Contains(b, `"event":"call_end"`) {
			t.Errorf("a callback the receiver never answered counts as delivered: %s", b)
		}
	}

	hooks.unhold()
	if names := eventsOf(hooks.ofCall(stuck.CallID, "call_end")); !equalStrings(names, []string{"call_create", "call_reject", "call_end"}) {
		t.Errorf("webhooks of the held call once answered %v", names)
	}
}

func (h *rawHooks) released() bool {
	select {
	case <-h.release:
		return true
	default:
		return false
	}
}

// bodiesOf returns the bodies of callID received so far.
func (h *rawHooks) bodiesOf(callID string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, b := range h.bodies {
		if strings.Contains(b, `"callID":"`+callID+`"`) {
			out = append(out, b)
		}
	}
	return out
}

// eventsOf returns the event names of bodies.
func eventsOf(bodies []string) []string {
	var names []string
	for _, b := range bodies {
		var m struct{ Event string }
		_ = json.Unmarshal([]byte(b), &m)
		names = append(names, m.Event)
	}
	return names
}
