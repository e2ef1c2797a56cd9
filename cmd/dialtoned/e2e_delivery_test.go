package main

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
)

// TestE2EDeliveryRandom drives the real server through the Go SDK with random operations, one
// at a time, and checks who receives what (behaviour §5, R6.3, R7.2) and the per-user fields
// (§10b) after each of them, without a copy of the state machine: the states come from
// queryCall before and after the op, and the oracles are §5's tables applied to them.
//
//   - the reply code is the one §5's state × operation table (and R3.2, R3.7, §8) gives for
//     the acting user's state;
//   - each device's seq, and each call's version on a device, strictly increase (R7.2, §5);
//   - every change reaches exactly the devices §5 names, given the states before and after it:
//     a listener's main device only, a changed user's all devices, the ending change once on
//     every device of every user active before it (R6.3);
//   - the call folded from the events agrees with queryCall, and the §10b fields move as
//     §10b says.
//
// Ring timeouts are 600 s, so no deadline fires. After each op every device is brought up to
// date with a barrier call that rings every user: a device receives its user's events in log
// order, so once it has the barrier's cancellation it has every earlier event.
func TestE2EDeliveryRandom(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			runDelivery(t, seed, soak(80))
		})
	}
}

var deliveryUsers = []string{"ann", "bob", "cat", "dan", "eve"}

// deliveryDevices are the devices of each user: ann and bob have two.
var deliveryDevices = map[string][]string{"ann": {"p", "t"}, "bob": {"p", "t"}, "cat": {"p"}, "dan": {"p"}, "eve": {"p"}}

// tdev is one logged-in device; it records every event with the seq the SDK processed it at
// (it is the device's SeqStore too).
type tdev struct {
	client.BaseHandler
	*client.Client
	user, id string
	mu       sync.Mutex
	evs      []tev
	notify   chan struct{}
}

type tev struct {
	kind    string // created, received, cancelled, timeout, ended, changed, main
	callID  string
	version int64
	seq     int64
	synth   bool
	users   []client.CallUserInfo
	ended   bool // callUserStateChanged with callState 2
	endTime int64
	ext     string // callInvitationEnded's extendedData
}

func (d *tdev) add(e tev) {
	d.mu.Lock()
	d.evs = append(d.evs, e)
	d.mu.Unlock()
	select {
	case d.notify <- struct{}{}:
	default:
	}
}

func (d *tdev) OnCallInvitationCreated(e client.CallInvitationCreated) {
	d.add(tev{kind: "created", callID: e.CallID, version: e.Version, users: e.CallUserList})
}
func (d *tdev) OnCallInvitationReceived(e client.CallInvitationReceived) {
	d.add(tev{kind: "received", callID: e.CallID, version: e.Version, synth: e.Synthetic, users: e.CallUserList})
}
func (d *tdev) OnCallInvitationCancelled(e client.CallInvitationCancelled) {
	d.add(tev{kind: "cancelled", callID: e.CallID, version: e.Version, users: e.CallUserList})
}
func (d *tdev) OnCallInvitationTimeout(e client.CallInvitationTimeout) {
	d.add(tev{kind: "timeout", callID: e.CallID, version: e.Version})
}
func (d *tdev) OnCallInvitationEnded(e client.CallInvitationEnded) {
	d.add(tev{kind: "ended", callID: e.CallID, version: e.Version, endTime: e.EndTime, ext: e.ExtendedData})
}
func (d *tdev) OnCallUserStateChanged(e client.CallUserStateChanged) {
	d.add(tev{kind: "changed", callID: e.CallID, version: e.Version, users: e.CallUserList,
		ended: e.CallState == client.CallEnded, endTime: e.EndTime})
}
func (d *tdev) OnCallMainDeviceChanged(e client.CallMainDeviceChanged) {
	d.add(tev{kind: "main", callID: e.CallID, version: e.Version})
}

// Load and Save make tdev the device's SeqStore: Save follows the handler call of each logged
// event, so it gives that event its seq.
func (d *tdev) Load(context.Context, client.SeqKey) (int64, bool, error) { return 0, false, nil }
func (d *tdev) Save(_ context.Context, _ client.SeqKey, seq int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n := len(d.evs); n > 0 && d.evs[n-1].seq == 0 && !d.evs[n-1].synth {
		d.evs[n-1].seq = seq
	}
	select {
	case d.notify <- struct{}{}:
	default:
	}
	return nil
}

// since returns the events recorded from index i on.
func (d *tdev) since(i int) []tev {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.evs[i:])
}

func (d *tdev) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.evs)
}

// waitKind waits until the device has processed an event kind on callID.
func (d *tdev) waitKind(t *testing.T, callID, kind string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	for {
		d.mu.Lock()
		found := slices.ContainsFunc(d.evs, func(e tev) bool { return e.callID == callID && e.kind == kind && e.seq > 0 })
		d.mu.Unlock()
		if found {
			return
		}
		select {
		case <-d.notify:
		case <-ctx.Done():
			t.Fatalf("%s@%s: no %s on call %s", d.user, d.id, kind, callID)
		}
	}
}

func (d *tdev) key() string { return d.user + "@" + d.id }

// world is the test's view: the devices, the calls made, their main devices (which queryCall
// does not show) and whether each was answered.
type world struct {
	t        *testing.T
	ts       *testServer
	seed     uint64
	rng      *rand.Rand
	devs     map[string]*tdev // by user@id
	barrier  *tdev
	barriers map[string]bool
	calls    []string
	mains    map[string]map[string]string // call → user → main device
	answered map[string]bool
	callers  map[string]string
	ended    map[string]bool
	folded   map[string]map[string]client.CallUserInfo
	log      []string
	step     int
	covered  map[string]int // changes checked, by kind: the run's coverage, logged at its end
}

func (w *world) loginDevice(user, id string) *tdev {
	w.t.Helper()
	d := &tdev{user: user, id: id, notify: make(chan struct{}, 1)}
	c, err := client.Dial(w.t.Context(), w.ts.URL, client.Options{EventHandler: d, SeqStore: d})
	if err != nil {
		w.t.Fatalf("dial %s@%s: %v", user, id, err)
	}
	d.Client = c
	w.t.Cleanup(func() { c.Close() })
	if _, err := c.Login(w.t.Context(), token(w.t, user), id); err != nil {
		w.t.Fatalf("login %s@%s: %v", user, id, err)
	}
	return d
}

// devices returns user's logged-in devices.
func (w *world) devices(user string) []*tdev {
	var out []*tdev
	for _, id := range deliveryDevices[user] {
		if d := w.devs[user+"@"+id]; d != nil {
			out = append(out, d)
		}
	}
	return out
}

// fail reports a mismatch with the seed and the op log.
func (w *world) fail(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("seed %d, step %d: %s\nop log:\n%s", w.seed, w.step, fmt.Sprintf(format, args...), strings.Join(w.log, "\n"))
}

// query returns the call as its caller sees it (the caller is always in it).
func (w *world) query(callID string) client.CallInfo {
	w.t.Helper()
	ci, err := w.devices(w.callers[callID])[0].QueryCall(w.t.Context(), callID)
	if err != nil {
		w.fail("queryCall %s by its caller: %v", callID, err)
	}
	return ci
}

// ringOut waits until nobody rings in the call any more: its 1 s ring timeout fired (R3.5).
func (w *world) ringOut(callID string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.t.Context(), waitFor)
	defer cancel()
	for {
		ci := w.query(callID)
		if !slices.ContainsFunc(ci.CallUserList, func(u client.CallUserInfo) bool { return isPending(u.State) }) {
			return
		}
		select {
		case <-ctx.Done():
			w.fail("call %s still rings: %s", callID, userStates(ci.CallUserList))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// quiet waits until every invitation is acknowledged (R5.1, sent by the SDKs) and every
// device has every event committed so far.
func (w *world) quiet(rung []string) {
	w.t.Helper()
	for _, id := range rung {
		ctx, cancel := context.WithTimeout(w.t.Context(), waitFor)
		for {
			ci := w.query(id)
			if !slices.ContainsFunc(ci.CallUserList, func(u client.CallUserInfo) bool { return u.State == client.StateInviting }) {
				break
			}
			select {
			case <-ctx.Done():
				cancel()
				w.fail("call %s: invitees not acknowledged: %s", id, userStates(ci.CallUserList))
			case <-time.After(5 * time.Millisecond): // the SDKs acknowledge on their own
			}
		}
		cancel()
	}
	res, err := w.barrier.CallInvite(w.t.Context(), deliveryUsers, client.InviteConfig{Timeout: 600})
	if err != nil {
		w.fail("barrier invite: %v", err)
	}
	w.barriers[res.CallID] = true
	for _, d := range w.devs {
		d.waitKind(w.t, res.CallID, "received")
	}
	if _, err := w.barrier.CallCancel(w.t.Context(), res.CallID, nil, client.OpConfig{}); err != nil {
		w.fail("barrier cancel: %v", err)
	}
	for _, d := range w.devs {
		d.waitKind(w.t, res.CallID, "cancelled")
	}
}

func runDelivery(t *testing.T, seed uint64, steps int) {
	ts := startServer(t, raceFlags...)
	w := &world{t: t, ts: ts, seed: seed, rng: rand.New(rand.NewPCG(seed, 7)), devs: map[string]*tdev{},
		barriers: map[string]bool{}, mains: map[string]map[string]string{}, answered: map[string]bool{},
		callers: map[string]string{}, covered: map[string]int{}, ended: map[string]bool{}, folded: map[string]map[string]client.CallUserInfo{}}
	for _, u := range deliveryUsers {
		for _, id := range deliveryDevices[u] {
			w.devs[u+"@"+id] = w.loginDevice(u, id)
		}
	}
	w.barrier = w.loginDevice("zz-barrier", "b")
	w.quiet(nil)
	for w.step = 1; w.step <= steps; w.step++ {
		w.once()
	}
	t.Logf("changes checked: %v", w.covered)
}

func isPending(s client.CallUserState) bool {
	return s == client.StateInviting || s == client.StateNotYetReceived || s == client.StateReceived
}

func isActive(s client.CallUserState) bool { return isPending(s) || s == client.StateAccepted }

// category folds the pending states into one: receipts (R5.1) are changes of their own.
func category(u client.CallUserInfo, in bool) string {
	switch {
	case !in:
		return "out"
	case isPending(u.State):
		return "pending"
	}
	return stateName(u.State)
}

func byUser(ci client.CallInfo) map[string]client.CallUserInfo {
	m := map[string]client.CallUserInfo{}
	for _, u := range ci.CallUserList {
		m[u.UserID] = u
	}
	return m
}

// op is one random operation.
type op struct {
	kind     string // invite, accept, reject, cancel, callingInvite, join, quit, end, logout
	actor    *tdev
	callID   string
	invitees []string
	mode     client.CallMode
	ext      string // the op's config.extendedData
}

func (o op) String() string {
	return fmt.Sprintf("%s %s call=%s invitees=%v mode=%d", o.actor.key(), o.kind, o.callID, o.invitees, o.mode)
}

// pick chooses the next op. Most ops are made by a user of a Started call, with an op its
// state allows, so that most of them change something; the rest test the refusals.
func (w *world) pick(pre map[string]client.CallInfo) op {
	var started []string
	for _, c := range w.calls {
		if !w.ended[c] {
			started = append(started, c)
		}
	}
	o := op{}
	device := func(user string) *tdev {
		ds := w.devices(user)
		return ds[w.rng.IntN(len(ds))]
	}
	others := func(n int) []string {
		var out []string
		for _, i := range w.rng.Perm(len(deliveryUsers))[:n+1] {
			if deliveryUsers[i] != o.actor.user && len(out) < n {
				out = append(out, deliveryUsers[i])
			}
		}
		return out
	}
	o.actor = device(deliveryUsers[w.rng.IntN(len(deliveryUsers))])
	r := w.rng.IntN(100)
	switch {
	case r < 12 || len(w.calls) == 0:
		o.kind, o.mode, o.invitees = "invite", client.CallMode(w.rng.IntN(2)), others(1+w.rng.IntN(3))
		return o
	case r < 14:
		o.kind, o.mode, o.invitees = "ringShort", client.CallMode(w.rng.IntN(2)), others(1+w.rng.IntN(2))
		return o
	case r < 19:
		o.kind = "logout"
		return o
	}
	if len(started) > 0 && w.rng.IntN(10) > 0 {
		o.callID = started[w.rng.IntN(len(started))]
	} else {
		o.callID = w.calls[w.rng.IntN(len(w.calls))]
		if _, ok := pre[o.callID]; !ok {
			pre[o.callID] = w.query(o.callID)
		}
	}
	ci := pre[o.callID]
	kinds := []string{"accept", "reject", "cancel", "callingInvite", "join", "quit", "end"}
	if w.rng.IntN(5) > 0 {
		u := ci.CallUserList[w.rng.IntN(len(ci.CallUserList))]
		o.actor = device(u.UserID)
		switch {
		case isPending(u.State):
			kinds = []string{"accept", "accept", "reject", "join"}
		case u.State == client.StateAccepted:
			kinds = []string{"callingInvite", "callingInvite", "cancel", "cancel", "quit", "end", "join"}
		case u.State == client.StateRejected || u.State == client.StateQuit || u.State == client.StateTimeout:
			kinds = []string{"join", "join", "callingInvite"}
		}
	}
	o.kind = kinds[w.rng.IntN(len(kinds))]
	switch o.kind {
	case "callingInvite":
		o.invitees = others(1 + w.rng.IntN(3))
	case "cancel":
		if w.rng.IntN(3) > 0 {
			// mostly the users this one invited who still ring
			for _, u := range ci.CallUserList {
				if u.Inviter == o.actor.user && isPending(u.State) && w.rng.IntN(2) == 0 {
					o.invitees = append(o.invitees, u.UserID)
				}
			}
			if len(o.invitees) == 0 {
				o.invitees = others(1 + w.rng.IntN(2))
			}
		}
	}
	return o
}

func (w *world) do(o op) (string, error) {
	ctx, d, ext := w.t.Context(), o.actor, o.ext
	var err error
	switch o.kind {
	case "invite":
		var res client.CallInviteResult
		res, err = d.CallInvite(ctx, o.invitees, client.InviteConfig{Timeout: 600, Mode: o.mode, ExtendedData: ext})
		return res.CallID, err
	case "ringShort":
		var res client.CallInviteResult
		res, err = d.CallInvite(ctx, o.invitees, client.InviteConfig{Timeout: 1, Mode: o.mode, ExtendedData: ext})
		return res.CallID, err
	case "accept":
		_, err = d.CallAccept(ctx, o.callID, client.OpConfig{ExtendedData: ext})
	case "reject":
		_, err = d.CallReject(ctx, o.callID, client.OpConfig{ExtendedData: ext})
	case "cancel":
		_, err = d.CallCancel(ctx, o.callID, o.invitees, client.OpConfig{ExtendedData: ext})
	case "callingInvite":
		_, err = d.CallingInvite(ctx, o.callID, o.invitees, client.CallingInviteConfig{Timeout: 600, ExtendedData: ext})
	case "join":
		_, err = d.CallJoin(ctx, o.callID, client.OpConfig{ExtendedData: ext})
	case "quit":
		_, err = d.CallQuit(ctx, o.callID, client.OpConfig{ExtendedData: ext})
	case "end":
		_, err = d.CallEnd(ctx, o.callID, client.OpConfig{ExtendedData: ext})
	}
	return o.callID, err
}

// once makes one random op and checks it.
func (w *world) once() {
	t := w.t
	marks := map[string]int{}
	for k, d := range w.devs {
		marks[k] = d.count()
	}
	pre := map[string]client.CallInfo{}
	for _, c := range w.calls {
		if !w.ended[c] {
			pre[c] = w.query(c)
		}
	}
	o := w.pick(pre)
	preMains := map[string]map[string]string{}
	for c, m := range w.mains {
		preMains[c] = maps.Clone(m)
	}
	if o.callID != "" {
		// (a) the acting user's own view agrees with the caller's.
		ci, err := o.actor.QueryCall(t.Context(), o.callID)
		_, in := byUser(pre[o.callID])[o.actor.user]
		if (err == nil) != in || (err != nil && code(err) != client.CodeCallUnavailable) {
			w.fail("queryCall by %s: %v, member %v", o.actor.key(), err, in)
		}
		if err == nil && byUser(ci)[o.actor.user].State != byUser(pre[o.callID])[o.actor.user].State {
			w.fail("queryCall by %s disagrees with the caller's", o.actor.key())
		}
	}
	o.ext = fmt.Sprintf("%s %d", o.kind, w.step)
	w.log = append(w.log, fmt.Sprintf("%3d %v", w.step, o))
	var gone string
	var rung []string
	kind := o.kind
	if o.kind == "logout" {
		gone = o.actor.key()
		if err := o.actor.Logout(t.Context()); err != nil {
			w.fail("logout: %v", err)
		}
		user, id, _ := strings.Cut(gone, "@")
		w.devs[gone] = w.loginDevice(user, id)
		marks[gone] = 0
	} else {
		want := w.wantCode(o, pre)
		id, err := w.do(o)
		if code(err) != want {
			w.fail("%v: got %v, want code %d; states before %s", o, err, want, userStates(pre[o.callID].CallUserList))
		}
		if err != nil {
			kind = ""
		}
		switch {
		case kind == "invite" || kind == "ringShort":
			o.callID = id
			w.calls = append(w.calls, id)
			w.callers[id] = o.actor.user
			w.mains[id] = map[string]string{o.actor.user: o.actor.id}
			rung = []string{id}
		case kind == "callingInvite":
			rung = []string{id}
		case kind == "join" && byUser(pre[o.callID])[o.actor.user].State == client.StateAccepted:
			kind = "switch"
			w.mains[o.callID][o.actor.user] = o.actor.id
		case kind == "accept" || kind == "join":
			w.mains[o.callID][o.actor.user] = o.actor.id
		case kind == "cancel":
			if pre[o.callID].Mode == client.ModeGeneral || len(o.invitees) == 0 {
				kind = "cancelWhole"
			}
		}
	}
	if kind == "ringShort" {
		w.ringOut(o.callID)
	}
	w.quiet(rung)
	post := map[string]client.CallInfo{}
	for c := range pre {
		post[c] = w.query(c)
	}
	if (o.kind == "invite" || o.kind == "ringShort") && kind != "" {
		post[o.callID] = w.query(o.callID)
		pre[o.callID] = client.CallInfo{CallID: o.callID, State: client.CallStarted}
	}
	for c, ci := range post {
		for _, u := range ci.CallUserList {
			if u.State != client.StateAccepted {
				delete(w.mains[c], u.UserID)
			} else if u.UserID != ci.Caller {
				w.answered[c] = true
			}
		}
		if ci.State == client.CallEnded {
			w.ended[c] = true
		}
	}
	// the events of this step, by device
	got := map[string][]tev{}
	for k, d := range w.devs {
		got[k] = d.since(marks[k])
	}
	if gone != "" {
		// its user's device logs in again as a new installation would (without lastSeq): it
		// gets no event of the change its logout made, only synthesized invitations.
		var synthesized, ringing []string
		for _, e := range got[gone] {
			switch {
			case w.barriers[e.callID]:
			case e.synth && e.kind == "received":
				synthesized = append(synthesized, e.callID)
			default:
				w.fail("%s after its login: unexpected %s on %s", gone, e.kind, e.callID)
			}
		}
		for c, ci := range post {
			if ci.State == client.CallStarted && isPending(byUser(ci)[o.actor.user].State) {
				if _, in := byUser(ci)[o.actor.user]; in {
					ringing = append(ringing, c)
				}
			}
		}
		slices.Sort(synthesized)
		slices.Sort(ringing)
		if !slices.Equal(synthesized, ringing) {
			w.fail("%s after its login: invitations synthesized for %v, ringing in %v (R5.3)", gone, synthesized, ringing)
		}
		delete(got, gone)
	}
	w.checkOrder()
	for c := range post {
		w.checkCall(o, kind, c, pre[c], post[c], preMains[c], gone, got)
	}
	for k, evs := range got {
		for _, e := range evs {
			if _, known := post[e.callID]; !known && !w.barriers[e.callID] {
				w.fail("%s got %s on call %s, which was not changed", k, e.kind, e.callID)
			}
		}
	}
}
