package main

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/dialtone/dialtone/client"
)

// raceFlags lift the per-user and per-connection limits, which the races below would exceed.
var raceFlags = []string{"--max-invites-per-minute", "100000", "--max-requests-per-second", "100000"}

// together runs ops at the same moment (as far as goroutines allow) and returns their errors.
func together(ops ...func() error) []error {
	errs := make([]error, len(ops))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Go(func() {
			<-start
			errs[i] = op()
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// checkCallEvents checks, after a barrier, that every device received the events of each call
// in version order and each once (§5 "Order"), and that a device whose last event of a call
// says the call ended finds it Ended when its user queries it.
func checkCallEvents(t *testing.T, ts *testServer, callIDs []string, devs ...*device) {
	t.Helper()
	for _, d := range devs {
		ts.barrier(t, d)
		d.mu.Lock()
		last := map[string]recorded{}
		var bad []string
		for _, e := range d.events {
			if !slices.Contains(callIDs, e.callID) {
				continue
			}
			if p, ok := last[e.callID]; ok && e.version <= p.version {
				bad = append(bad, fmt.Sprintf("%s@%d %s after @%d %s", e.callID, e.version, e.summary, p.version, p.summary))
			}
			last[e.callID] = e
		}
		d.mu.Unlock()
		if len(bad) > 0 {
			t.Errorf("%s@%s: events out of version order or repeated: %q; all: %q", d.user, d.id, bad, d.history())
		}
		for id, e := range last {
			info, err := d.QueryCall(t.Context(), id)
			if err != nil {
				t.Errorf("%s@%s: queryCall %s: %v", d.user, d.id, id, err)
				continue
			}
			if info.Version < e.version {
				t.Errorf("%s@%s: call %s queried at version %d, older than its event @%d %s", d.user, d.id, id, info.Version, e.version, e.summary)
			}
			ended := e.summary == "timeout" || slices.Contains([]string{"(call ended)"}, lastWords(e.summary)) ||
				len(e.summary) > 9 && e.summary[:9] == "ended by "
			if ended && info.State != client.CallEnded {
				t.Errorf("%s@%s: last event of call %s is %q but the call is %v", d.user, d.id, id, e.summary, info.State)
			}
		}
	}
}

func lastWords(s string) string {
	if len(s) >= 12 {
		return s[len(s)-12:]
	}
	return s
}

// checkNotBusyTwice checks that the user is Accepted in at most one Started call (§1, R3.1,
// R3.3, R3.7), and returns that call's ID ("" for none).
func checkNotBusyTwice(t *testing.T, d *device) string {
	t.Helper()
	res, err := d.QueryCallInvitationList(t.Context(), 100, 0)
	if err != nil {
		t.Fatalf("%s: list calls: %v", d.user, err)
	}
	var in []string
	for _, c := range res.CallList {
		for _, u := range c.CallUserList {
			if u.UserID == d.user && u.State == client.StateAccepted && c.State == client.CallStarted {
				in = append(in, c.CallID)
			}
		}
	}
	if len(in) > 1 {
		t.Errorf("%s is in %d calls at once: %v", d.user, len(in), in)
	}
	if len(in) == 0 {
		return ""
	}
	return in[0]
}

// acceptedAt returns the position among d's events of its user's own change to Accepted in
// callID, or -1.
func acceptedAt(d *device, callID string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, e := range d.events {
		if e.callID == callID && slices.Contains([]string{"changed " + d.user + "=Accepted", "changed " + d.user + "=Accepted (call ended)"}, e.summary) {
			return i
		}
	}
	return -1
}

// R3.3, R3.7, §1: a user's two devices accept, at the same moment, an advanced call (which
// makes the user busy) and a general 1:1 call (which ends on the answer). Either the 1:1
// accept commits first, or it must be refused as busy: an accept that commits after its user
// became busy in another call breaks the busy rule, whichever order the devices see.
func TestE2ERaceAcceptWhileBecomingBusy(t *testing.T) {
	ts := startServer(t, raceFlags...)
	phone, laptop := ts.login(t, "bob", "phone"), ts.login(t, "bob", "laptop")
	alice, carol := ts.login(t, "alice", "a"), ts.login(t, "carol", "c")
	for round := range soak(40) {
		adv, err := carol.CallInvite(t.Context(), []string{"bob"}, advanced)
		must(t, err)
		gen, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
		must(t, err)
		phone.wait(gen.CallID, "received from alice")
		laptop.wait(gen.CallID, "received from alice")
		errs := together(
			func() error { return second(phone.CallAccept(t.Context(), adv.CallID, client.OpConfig{})) },
			func() error { return second(laptop.CallAccept(t.Context(), gen.CallID, client.OpConfig{})) },
		)
		must(t, errs[0])
		checkCallEvents(t, ts, []string{adv.CallID, gen.CallID}, phone, laptop, alice, carol)
		switch {
		case errs[1] == nil:
			// Both accepts succeeded: the 1:1 accept must have committed before bob became
			// busy, which bob's log (one order for all his devices) shows.
			for _, d := range []*device{phone, laptop} {
				a, g := acceptedAt(d, adv.CallID), acceptedAt(d, gen.CallID)
				if a < 0 || g < 0 {
					t.Fatalf("round %d: %s@%s misses an accept: %q", round, d.user, d.id, d.history())
				}
				if g > a {
					t.Fatalf("round %d: the 1:1 call was accepted after bob became busy in the advanced call (R3.3); %s@%s saw %q",
						round, d.user, d.id, d.history())
				}
			}
		case code(errs[1]) != client.CodeBusy:
			t.Fatalf("round %d: 1:1 accept got %v, want success or 6000290", round, errs[1])
		default:
			must(t, second(alice.CallCancel(t.Context(), gen.CallID, nil, client.OpConfig{})))
		}
		checkNotBusyTwice(t, phone)
		must(t, second(carol.CallEnd(t.Context(), adv.CallID, client.OpConfig{})))
		if t.Failed() {
			return
		}
	}
}
