package main

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/dialtone/dialtone/client"
)

// The devices of TestE2EOpsRandom, and its checks: what each device shows against what the
// server says.

// fdev is a tdev whose login resumes from the last seq it saved (R7.2), and which may be
// disconnected between steps.
type fdev struct {
	*tdev
	seq    int64 // the last seq saved, 0 for a fresh installation
	from   int   // the device's view is folded from this event on (a login that did not catch up starts afresh)
	online bool
}

func (d *fdev) Load(context.Context, client.SeqKey) (int64, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seq, d.seq > 0, nil
}

// savedSeq returns the last seq saved, which the device's SDK writes from its own goroutine.
func (d *fdev) savedSeq() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seq
}

func (d *fdev) Save(ctx context.Context, k client.SeqKey, seq int64) error {
	d.mu.Lock()
	d.seq = seq
	d.mu.Unlock()
	return d.tdev.Save(ctx, k, seq)
}

// ringing folds the device's events into the calls it rings for: an invitation rings until
// its user's own state leaves pending, or the call ends.
func (d *fdev) ringing() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	rings := map[string]bool{}
	for _, e := range d.evs[d.from:] {
		switch e.kind {
		case "received":
			rings[e.callID] = true
		case "timeout", "ended":
			delete(rings, e.callID)
		case "cancelled", "changed":
			for _, u := range e.users {
				if u.UserID == d.user && !isPending(u.State) {
					delete(rings, e.callID)
				}
			}
			if e.ended {
				delete(rings, e.callID)
			}
		}
	}
	return slices.Sorted(maps.Keys(rings))
}

// disorder describes the first event the device got out of order, or "": seqs strictly
// increase (R7.2), a call's versions never go back (§5 "Order"), and nothing comes after the
// version at which a call ended (R4.4). ended gives the calls seen Ended.
func (d *fdev) disorder(ended map[string]client.CallInfo) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var seq int64
	versions := map[string]int64{}
	for i, e := range d.evs[d.from:] {
		switch {
		case e.seq != 0 && e.seq <= seq:
			return fmt.Sprintf("%s: event %d (%s of %s) has seq %d after %d (R7.2)", d.key(), i, e.kind, e.callID, e.seq, seq)
		case e.version < versions[e.callID]:
			return fmt.Sprintf("%s: %s of %s at version %d after version %d (§5)", d.key(), e.kind, e.callID, e.version, versions[e.callID])
		}
		if c, ok := ended[e.callID]; ok && e.version > c.Version {
			return fmt.Sprintf("%s: %s of %s at version %d, after it ended at %d (R4.4)", d.key(), e.kind, e.callID, e.version, c.Version)
		}
		seq = max(seq, e.seq)
		versions[e.callID] = e.version
	}
	return ""
}

// checkDevices checks that every connected device, once caught up, rings for exactly the
// Started calls in which its user is pending (R5.3, R7.2, §5). A ring timeout may fire
// between the catch-up and the reading of the calls, so a mismatch is read again after
// another catch-up before it fails.
func (w *fuzzWorld) checkDevices() {
	for try := 0; ; try++ {
		w.catchUp()
		diff := w.devicesDiffer()
		if diff == "" {
			return
		}
		if try == 2 {
			w.fail("%s", diff)
		}
	}
}

// devicesDiffer describes the first device that does not ring as the server says, or "".
func (w *fuzzWorld) devicesDiffer() string {
	for _, u := range fuzzUsers {
		on := w.online(u)
		if len(on) == 0 {
			continue
		}
		var pending []string
		ending := map[string]bool{} // rings that may end before a device learns of them
		calls := w.list(on[0])
		w.checkCallRules(u, calls)
		if w.px != nil {
			w.px.checkNotReceived(w, u, calls, on)
		}
		for id, ci := range calls {
			switch me := byUser(ci)[u]; {
			case ci.State != client.CallStarted || !isPending(me.State):
			case time.Until(time.UnixMilli(me.Deadline)) < 1500*time.Millisecond:
				ending[id] = true // a login then synthesizes no invitation (R5.3)
			default:
				pending = append(pending, id)
			}
			for user, ui := range byUser(ci) {
				if ui.State != client.StateAccepted || ci.State != client.CallStarted {
					delete(w.mains[id], user)
				}
			}
		}
		slices.Sort(pending)
		for _, d := range on {
			if msg := d.disorder(w.ended); msg != "" {
				w.fail("%s", msg)
			}
			if got := slices.DeleteFunc(d.ringing(), func(c string) bool { return w.barriers[c] || ending[c] }); !slices.Equal(got, pending) {
				return fmt.Sprintf("%s rings for %v; %s is pending in %v (R5.3, R7.2, §5)\n%s", d.key(), got, u, pending, describe(calls))
			}
		}
	}
	return ""
}

// checkCallRules checks user's calls: it is in at most one call (§1, R3.1, R3.3, R3.7), a
// call's version never decreases (§1) and an ended call never changes (R4.4).
func (w *fuzzWorld) checkCallRules(user string, calls map[string]client.CallInfo) {
	var in []string
	for id, ci := range calls {
		if ci.State == client.CallStarted && byUser(ci)[user].State == client.StateAccepted {
			in = append(in, id)
		}
		if ci.Version < w.versions[id] {
			w.fail("call %s went back from version %d to %d (§1)", id, w.versions[id], ci.Version)
		}
		w.versions[id] = ci.Version
		if e, ok := w.ended[id]; ok && !reflect.DeepEqual(e, ci) {
			w.fail("ended call %s changed (R4.4):\n%+v\nnow\n%+v", id, e, ci)
		}
		if ci.State == client.CallEnded {
			w.ended[id] = ci
		}
	}
	if len(in) > 1 {
		w.fail("%s is in %d calls at once (§1, R3.1): %v\n%s", user, len(in), in, describe(calls))
	}
}

// describe renders calls as "callID mode state: users, deadlines", a deadline as the time
// left when it was read.
func describe(calls map[string]client.CallInfo) string {
	var out []string
	for id, ci := range calls {
		left := []string{}
		for _, u := range ci.CallUserList {
			if u.Deadline > 0 {
				left = append(left, fmt.Sprintf("%s in %v", u.UserID, time.Until(time.UnixMilli(u.Deadline)).Round(time.Millisecond)))
			}
		}
		out = append(out, fmt.Sprintf("  %s mode=%d state=%d: %s; deadlines %v", id, ci.Mode, ci.State, userStates(ci.CallUserList), left))
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// checkEnds checks that every ended call got exactly one call_end webhook, with §10's reason
// for how §4 ended it, and that no Started call got one.
func (w *fuzzWorld) checkEnds() {
	calls := map[string]client.CallInfo{}
	for _, u := range fuzzUsers {
		for id, ci := range w.list(w.online(u)[0]) {
			calls[id] = ci
		}
	}
	for id, ci := range calls {
		if ci.State == client.CallStarted {
			if names, _ := w.hooks.ofCall(id); slices.Contains(names, "call_end") {
				w.fail("Started call %s got call_end: %v", id, names)
			}
			continue
		}
		names, bodies := w.hooks.call(id, "call_end")
		var reasons []string
		for i, n := range names {
			if n == "call_end" {
				reasons = append(reasons, fmt.Sprint(bodies[i]["reason"]))
			}
		}
		if want := anyEndReason(ci, names); !slices.Equal(reasons, []string{want}) {
			w.fail("call %s (mode %d, %s) ended with %v, want [%s] (§4, §10)", id, ci.Mode, userStates(ci.CallUserList), reasons, want)
		}
	}
}

// anyEndReason is the call_end reason (§10) an ended call's final states and webhook names
// show (§4): endReason's for a general-mode call.
func anyEndReason(ci client.CallInfo, names []string) string {
	if ci.Mode == client.ModeGeneral || byUser(ci)[ci.Caller].State == client.StateCancelled {
		return endReason(ci, names)
	}
	if slices.ContainsFunc(ci.CallUserList, func(u client.CallUserInfo) bool { return u.State == client.StateAccepted }) {
		return "ended" // callEnd leaves every state as it was (R3.9)
	}
	return "everyone_left"
}
