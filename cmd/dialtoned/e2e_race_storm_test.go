package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
)

// stormOp is one operation a device may send to the storm's call.
type stormOp struct {
	name string
	do   func(d *device, callID string, others []string) error
}

var stormOps = []stormOp{
	{"accept", func(d *device, id string, _ []string) error {
		return second(d.CallAccept(d.t.Context(), id, client.OpConfig{}))
	}},
	{"reject", func(d *device, id string, _ []string) error {
		return second(d.CallReject(d.t.Context(), id, client.OpConfig{}))
	}},
	{"join", func(d *device, id string, _ []string) error {
		return second(d.CallJoin(d.t.Context(), id, client.OpConfig{}))
	}},
	{"quit", func(d *device, id string, _ []string) error {
		return second(d.CallQuit(d.t.Context(), id, client.OpConfig{}))
	}},
	{"invite", func(d *device, id string, others []string) error {
		return second(d.CallingInvite(d.t.Context(), id, others, client.CallingInviteConfig{Timeout: 1}))
	}},
	{"cancel", func(d *device, id string, others []string) error {
		return second(d.CallCancel(d.t.Context(), id, others, client.OpConfig{}))
	}},
	{"end", func(d *device, id string, _ []string) error {
		return second(d.CallEnd(d.t.Context(), id, client.OpConfig{}))
	}},
}

// stormCodes are the refusals §5's table and §8 allow for the storm's operations.
var stormCodes = map[client.ErrorCode]bool{client.CodeStateForbids: true, client.CodeCallUnavailable: true,
	client.CodeAlreadyActive: true, client.CodeNoValidInvitee: true, client.CodeNotInviter: true,
	client.CodeCancelAccepted: true}

// R3.3–R3.9, §5, §10, R4.4: five users with two devices each send, all at once and several
// rounds in a row, random operations on one advanced call, until it is ended. Whatever the
// interleaving: every reply is a success or a code the spec allows, every device gets the
// call's events in version order and each once, a device whose user is still pending when the
// call ends gets the end as its last event (no ring is left), the webhooks come in version
// order with exactly one call_end, last, and nobody is left busy.
func TestE2ERaceStormOnOneCall(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startServer(t, append(hookFlags(hooks), raceFlags...)...)
	users := []string{"alice", "bob", "carol", "dave", "erin"}
	var devs []*device
	for _, u := range users {
		devs = append(devs, ts.login(t, u, "1"), ts.login(t, u, "2"))
	}
	for round := range soak(6) {
		rng := rand.New(rand.NewPCG(uint64(round), 7))
		res, err := devs[0].CallInvite(t.Context(), users[1:], advanced)
		must(t, err)
		id := res.CallID
		for _, d := range devs[2:] {
			d.wait(id, "received from alice")
		}
		for wave := 0; wave < 6; wave++ {
			var ops []func() error
			var what []string
			for _, d := range devs {
				o := stormOps[rng.IntN(len(stormOps))]
				if rng.IntN(4) > 0 && o.name == "end" {
					o = stormOps[0] // an end now and then, so that the call lives a few waves
				}
				others := []string{users[rng.IntN(len(users))]}
				what = append(what, fmt.Sprintf("%s@%s %s %v", d.user, d.id, o.name, others))
				ops = append(ops, func() error { return o.do(d, id, others) })
			}
			for i, err := range together(ops...) {
				if err != nil && !stormCodes[code(err)] {
					t.Errorf("round %d wave %d: %s got %v", round, wave, what[i], err)
				}
			}
		}
		endStorm(t, devs, id)
		for _, d := range devs {
			checkStormEvents(t, ts, d, id)
		}
		info, err := devs[0].QueryCall(t.Context(), id)
		must(t, err)
		for _, d := range devs {
			if u := userIn(t, info.CallUserList, d.user); pending(u.State) {
				got := settled(t, ts, d, id)
				if last := got[len(got)-1]; !strings.HasPrefix(last, "ended by ") && !strings.HasSuffix(last, "(call ended)") {
					t.Errorf("round %d: %s@%s, %s at the end, heard %q", round, d.user, d.id, stateName(u.State), got)
				}
			}
			if in := checkNotBusyTwice(t, d); in != "" {
				t.Errorf("round %d: %s still busy in %s", round, d.user, in)
			}
		}
		checkStormHooks(t, hooks, id)
		if t.Failed() {
			t.Fatalf("round %d: call ended as %s", round, userStates(info.CallUserList))
		}
	}
}

// endStorm ends the storm's call: a device of a user still Accepted ends it; when nobody is,
// the last quit has ended it already.
func endStorm(t *testing.T, devs []*device, id string) {
	t.Helper()
	info, err := devs[0].QueryCall(t.Context(), id)
	must(t, err)
	if info.State == client.CallEnded {
		return
	}
	for _, d := range devs {
		if userIn(t, info.CallUserList, d.user).State == client.StateAccepted {
			must(t, second(d.CallEnd(t.Context(), id, client.OpConfig{})))
			return
		}
	}
	t.Fatalf("call %s is Started with nobody Accepted: %s", id, userStates(info.CallUserList))
}

// checkStormHooks checks that the webhooks of callID came in version order (eventID
// <callID>.<version>.<index>) with exactly one call_end, the last (§10, R4.4).
func checkStormHooks(t *testing.T, hooks *hookReceiver, callID string) {
	t.Helper()
	names, bodies := hooks.call(callID, "call_end")
	prev := [2]int{}
	for i, b := range bodies {
		parts := strings.Split(b["eventID"].(string), ".")
		v, _ := strconv.Atoi(parts[len(parts)-2])
		n, _ := strconv.Atoi(parts[len(parts)-1])
		if v < prev[0] || v == prev[0] && n <= prev[1] {
			t.Errorf("webhooks of %s out of order at %d: %v", callID, i, names)
		}
		prev = [2]int{v, n}
	}
	if count(names, "call_end") != 1 || names[len(names)-1] != "call_end" {
		t.Errorf("webhooks of %s: %v, want one call_end, last", callID, names)
	}
}

// checkStormEvents checks, after a barrier, that d received the events of callID in version
// order, none twice (§5 "Order", R7.2). One change may give a device two different events: a
// subset cancel made from another device of the canceller gives its main device the
// canceller's callInvitationCancelled and, as a listener, callUserStateChanged (§5, §12).
func checkStormEvents(t *testing.T, ts *testServer, d *device, callID string) {
	t.Helper()
	ts.barrier(t, d)
	d.mu.Lock()
	defer d.mu.Unlock()
	var prev recorded
	for _, e := range d.events {
		if e.callID != callID {
			continue
		}
		if e.version < prev.version || e.version == prev.version && e.summary == prev.summary {
			t.Errorf("%s@%s: @%d %s after @%d %s; all: %q", d.user, d.id, e.version, e.summary, prev.version, prev.summary, d.summaries(callID))
		}
		prev = e
	}
}

// R3.2–R3.5, R4.1, §5, §10: alice (two devices) rings bob, carol and dave (two devices each)
// in general mode, and right at the ring deadline every invitee device accepts or rejects at
// random while alice's devices cancel. Whatever wins: every reply is a success or a code the
// spec allows, at most one cancel succeeds, every device gets the call's events in version
// order, none twice, and learns that its user stopped ringing (no ring is left), and the
// webhooks end with one call_end whose reason matches the final states.
func TestE2ERaceStormAtDeadline(t *testing.T) {
	hooks := newHookReceiver(t, 0)
	ts := startServer(t, append(hookFlags(hooks), raceFlags...)...)
	users := []string{"alice", "bob", "carol", "dave"}
	var devs []*device
	for _, u := range users {
		devs = append(devs, ts.login(t, u, "1"), ts.login(t, u, "2"))
	}
	for round := range soak(6) {
		rng := rand.New(rand.NewPCG(uint64(round), 11))
		res, err := devs[0].CallInvite(t.Context(), users[1:], client.InviteConfig{Timeout: raceRing})
		must(t, err)
		id := res.CallID
		for _, d := range devs[2:] {
			d.wait(id, "received from alice")
		}
		var ops []func() error
		var what []string
		for _, d := range devs {
			o := stormOps[rng.IntN(2)] // accept or reject
			if d.user == "alice" {
				o = stormOps[5] // cancel (the whole call, general mode)
			}
			what = append(what, d.user+"@"+d.id+" "+o.name)
			ops = append(ops, func() error { return o.do(d, id, nil) })
		}
		atDeadline(devs[0], res.CallInfo.CreateTime, time.Duration(round%5-2)*10*time.Millisecond)
		errs := together(ops...)
		cancels := 0
		for i, err := range errs {
			switch {
			case err == nil && strings.HasSuffix(what[i], "cancel"):
				cancels++
			case err != nil && !stormCodes[code(err)]:
				t.Errorf("round %d: %s got %v", round, what[i], err)
			}
		}
		info, err := devs[0].QueryCall(t.Context(), id)
		must(t, err)
		if cancels > 1 || info.State != client.CallEnded {
			t.Errorf("round %d: %d cancels succeeded; call %v %s; replies %v", round, cancels, info.State, userStates(info.CallUserList), errs)
		}
		for _, d := range devs {
			checkStormEvents(t, ts, d, id)
			if d.user != "alice" && !toldNotRinging(d, id) {
				t.Errorf("round %d: %s@%s never told its ring ended: %q", round, d.user, d.id, d.summaries(id))
			}
		}
		names, bodies := hooks.call(id, "call_end")
		checkStormHooks(t, hooks, id)
		if got, want := bodies[len(bodies)-1]["reason"], endReason(info, names); got != want {
			t.Errorf("round %d: call_end reason %v, want %v (webhooks %v, users %s)", round, got, want, names, userStates(info.CallUserList))
		}
		if t.Failed() {
			t.Fatalf("round %d: replies %v to %v", round, errs, what)
		}
	}
}

// toldNotRinging reports whether d received an event of callID telling that its user is no
// longer pending: its own timeout or cancellation, its own answer, or the end of the call.
func toldNotRinging(d *device, callID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.summaries(callID) {
		if s == "timeout" || strings.HasPrefix(s, "cancelled ") && strings.Contains(s, d.user+"=BeCancelled") ||
			strings.HasSuffix(s, "(call ended)") ||
			strings.Contains(s, d.user+"=Accepted") || strings.Contains(s, d.user+"=Rejected") {
			return true
		}
	}
	return false
}

// endReason is the call_end reason §10 gives a general-mode call that ended as info, with
// the webhooks names before it.
func endReason(info client.CallInfo, names []string) string {
	for _, u := range info.CallUserList {
		switch {
		case u.UserID == info.Caller && u.State == client.StateCancelled:
			return "cancelled"
		case u.UserID != info.Caller && u.State == client.StateAccepted:
			return "answered"
		}
	}
	if len(names) > 1 && names[len(names)-2] == "call_reject" {
		return "rejected"
	}
	return "timeout"
}

// R3.2, §5, docs/behaviour.md §12: a subset cancel sent from a device that is not the
// canceller's main device gives the main device the canceller's callInvitationCancelled and
// then, as a listener, callUserStateChanged, both of that change; the sending device gets
// neither (it has its reply). This is why checkStormEvents lets one change give two events.
func TestE2ESubsetCancelFromAnotherDevice(t *testing.T) {
	ts := startServer(t)
	main, other := ts.login(t, "alice", "1"), ts.login(t, "alice", "2")
	ts.login(t, "bob", "b")
	carol := ts.login(t, "carol", "c")
	res, err := main.CallInvite(t.Context(), []string{"bob", "carol"}, advanced)
	must(t, err)
	carol.wait(res.CallID, "received from alice")
	main.wait(res.CallID, "changed carol=Received")
	main.wait(res.CallID, "changed bob=Received")
	must(t, second(other.CallCancel(t.Context(), res.CallID, []string{"carol"}, client.OpConfig{})))
	carol.wait(res.CallID, "cancelled carol=BeCancelled")
	got := settled(t, ts, main, res.CallID)
	if want := []string{"cancelled carol=BeCancelled", "changed carol=BeCancelled"}; len(got) < 2 || !slices.Equal(got[len(got)-2:], want) {
		t.Errorf("main device events %q, want %q last", got, want)
	}
	other.expect(ts, res.CallID, "created")
}
