package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
)

// waitFor bounds every wait of the end-to-end tests for something the server must do.
const waitFor = 10 * time.Second

// device is one logged-in device driven through the public SDK, recording every event it
// receives as a one-line summary (see summarize) per call.
type device struct {
	*client.Client
	client.BaseHandler
	t      *testing.T
	user   string
	id     string
	mu     sync.Mutex
	events []recorded
	kicks  []client.Kicked
	states []client.ConnectionState
	notify chan struct{}
}

type recorded struct {
	callID  string
	version int64
	summary string
	ev      any
}

// login connects and logs in user's device id; it is closed when the test ends.
func (ts *testServer) login(t *testing.T, user, id string) *device {
	t.Helper()
	d := ts.dial(t, user, id, client.Options{})
	if _, err := d.Login(t.Context(), token(t, user), id); err != nil {
		t.Fatalf("login %s@%s: %v", user, id, err)
	}
	// The server reads a connection's next request only after the login's catch-up, so once
	// this reply is in, every later event reaches the device live (not synthesized).
	if _, err := d.QueryCallInvitationList(t.Context(), 1, 0); err != nil {
		t.Fatalf("sync after login %s@%s: %v", user, id, err)
	}
	return d
}

// dial connects user's device id without logging in.
func (ts *testServer) dial(t *testing.T, user, id string, opts client.Options) *device {
	t.Helper()
	return dialAt(t, ts.URL, user, id, opts)
}

// dialAt connects user's device id to url (the server, or a proxy in front of it).
func dialAt(t *testing.T, url, user, id string, opts client.Options) *device {
	t.Helper()
	d := &device{t: t, user: user, id: id, notify: make(chan struct{}, 1)}
	opts.EventHandler = d
	if opts.MinBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	}
	c, err := client.Dial(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("dial %s@%s: %v", user, id, err)
	}
	d.Client = c
	t.Cleanup(func() { c.Close() })
	return d
}

func (d *device) record(callID string, version int64, summary string, ev any) {
	d.mu.Lock()
	d.events = append(d.events, recorded{callID, version, summary, ev})
	d.mu.Unlock()
	d.poke()
}

func (d *device) poke() {
	select {
	case d.notify <- struct{}{}:
	default:
	}
}

func (d *device) OnCallInvitationCreated(ev client.CallInvitationCreated) {
	d.record(ev.CallID, ev.Version, "created", ev)
}

func (d *device) OnCallInvitationReceived(ev client.CallInvitationReceived) {
	s := "received from " + ev.Inviter
	if ev.Synthetic {
		s += " (synthetic)"
	}
	d.record(ev.CallID, ev.Version, s, ev)
}

func (d *device) OnCallInvitationCancelled(ev client.CallInvitationCancelled) {
	d.record(ev.CallID, ev.Version, "cancelled "+userStates(ev.CallUserList), ev)
}

func (d *device) OnCallInvitationTimeout(ev client.CallInvitationTimeout) {
	d.record(ev.CallID, ev.Version, "timeout", ev)
}

func (d *device) OnCallInvitationEnded(ev client.CallInvitationEnded) {
	d.record(ev.CallID, ev.Version, "ended by "+ev.OperatedUserID, ev)
}

func (d *device) OnCallUserStateChanged(ev client.CallUserStateChanged) {
	s := "changed " + userStates(ev.CallUserList)
	if ev.CallState == client.CallEnded {
		s += " (call ended)"
	}
	d.record(ev.CallID, ev.Version, s, ev)
}

func (d *device) OnCallMainDeviceChanged(ev client.CallMainDeviceChanged) {
	d.record(ev.CallID, ev.Version, "main device "+ev.DeviceID, ev)
}

func (d *device) OnKicked(ev client.Kicked) {
	d.mu.Lock()
	d.kicks = append(d.kicks, ev)
	d.mu.Unlock()
	d.poke()
}

func (d *device) OnConnectionStateChanged(state client.ConnectionState, _ error) {
	d.mu.Lock()
	d.states = append(d.states, state)
	d.mu.Unlock()
	d.poke()
}

// userStates renders a callUserList as "bob=Accepted,carol=Inviting".
func userStates(list []client.CallUserInfo) string {
	parts := make([]string, len(list))
	for i, u := range list {
		parts[i] = u.UserID + "=" + stateName(u.State)
	}
	return strings.Join(parts, ",")
}

func stateName(s client.CallUserState) string {
	names := map[client.CallUserState]string{
		client.StateInviting: "Inviting", client.StateAccepted: "Accepted", client.StateRejected: "Rejected",
		client.StateCancelled: "Cancelled", client.StateReceived: "Received", client.StateTimeout: "Timeout",
		client.StateQuit: "Quit", client.StateNotYetReceived: "NotYetReceived", client.StateBeCancelled: "BeCancelled",
	}
	if n, ok := names[s]; ok {
		return n
	}
	return fmt.Sprint(int(s))
}

// history returns every event received so far as "callID@version summary".
func (d *device) history() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, len(d.events))
	for i, e := range d.events {
		out[i] = fmt.Sprintf("%s@%d %s", e.callID, e.version, e.summary)
	}
	return out
}

// until waits until cond holds on the device's state, or fails the test.
func (d *device) until(what string, cond func() bool) {
	d.t.Helper()
	deadline := time.After(waitFor)
	for {
		d.mu.Lock()
		ok := cond()
		d.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-d.notify:
		case <-deadline:
			d.t.Fatalf("%s@%s: timed out waiting for %s; got %v", d.user, d.id, what, d.summaries(""))
		}
	}
}

// wait waits for an event of callID whose summary is summary and returns it.
func (d *device) wait(callID, summary string) any {
	d.t.Helper()
	var found any
	d.until(fmt.Sprintf("%q on call %s", summary, callID), func() bool {
		for _, e := range d.events {
			if e.callID == callID && e.summary == summary {
				found = e.ev
				return true
			}
		}
		return false
	})
	return found
}

// waitCount waits until d has received summary on callID at least n times.
func (d *device) waitCount(callID, summary string, n int) {
	d.t.Helper()
	d.until(fmt.Sprintf("%q %d times on call %s", summary, n, callID), func() bool {
		got := 0
		for _, e := range d.events {
			if e.callID == callID && e.summary == summary {
				got++
			}
		}
		return got >= n
	})
}

// last returns the summary of the last event d received on callID ("" for none).
func (d *device) last(callID string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	got := d.summaries(callID)
	if len(got) == 0 {
		return ""
	}
	return got[len(got)-1]
}

// summaries returns the summaries of the events of callID so far ("" for all calls).
func (d *device) summaries(callID string) []string {
	var out []string
	for _, e := range d.events {
		if callID == "" || e.callID == callID {
			out = append(out, e.summary)
		}
	}
	return out
}

// expect checks that the device received exactly the events want for callID, in order. It
// first runs a barrier: a fresh call rings the device's user, and since a device receives
// events in commit order, every earlier event of callID has arrived once that ring has.
func (d *device) expect(ts *testServer, callID string, want ...string) {
	d.t.Helper()
	ts.barrier(d.t, d)
	d.mu.Lock()
	got := d.summaries(callID)
	d.mu.Unlock()
	if !slices.Equal(got, want) {
		d.t.Errorf("%s@%s events of call %s:\n got  %q\n want %q", d.user, d.id, callID, got, want)
	}
}

// expectNone checks, after a barrier, that the device never received summary on callID.
func (d *device) expectNone(ts *testServer, callID, summary string) {
	d.t.Helper()
	ts.barrier(d.t, d)
	d.mu.Lock()
	got := d.summaries(callID)
	d.mu.Unlock()
	if slices.Contains(got, summary) {
		d.t.Errorf("%s@%s received %q on call %s; events %q", d.user, d.id, summary, callID, got)
	}
}

// barrier rings d's user from a dedicated barrier user and waits until d sees it, then
// cancels that ring and waits until d sees the cancellation. It returns the barrier call.
func (ts *testServer) barrier(t *testing.T, d *device) string {
	t.Helper()
	ts.barrierMu.Lock()
	defer ts.barrierMu.Unlock()
	if ts.barrierDevice == nil {
		ts.barrierDevice = ts.login(t, "zz-barrier", "barrier")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	res, err := ts.barrierDevice.CallInvite(ctx, []string{d.user}, client.InviteConfig{Timeout: 60})
	if err != nil {
		t.Fatalf("barrier invite: %v", err)
	}
	d.wait(res.CallID, "received from zz-barrier")
	if _, err := ts.barrierDevice.CallCancel(ctx, res.CallID, nil, client.OpConfig{}); err != nil {
		t.Fatalf("barrier cancel: %v", err)
	}
	d.wait(res.CallID, "cancelled "+d.user+"=BeCancelled")
	return res.CallID
}

// code returns the wire code of err (0 for nil).
func code(err error) client.ErrorCode { return client.Code(err) }

// userIn returns userID's entry in list, failing the test when there is none.
func userIn(t *testing.T, list []client.CallUserInfo, userID string) client.CallUserInfo {
	t.Helper()
	for _, u := range list {
		if u.UserID == userID {
			return u
		}
	}
	t.Fatalf("%s not in callUserList %+v", userID, list)
	return client.CallUserInfo{}
}

// wantCode checks that err carries the wire code want (0 for success).
func wantCode(t *testing.T, what string, err error, want client.ErrorCode) {
	t.Helper()
	if got := code(err); got != want {
		t.Errorf("%s: got %v (code %d), want %d", what, err, got, want)
	}
}
