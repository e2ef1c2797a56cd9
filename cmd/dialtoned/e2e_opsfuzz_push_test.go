package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/push"
)

// TestE2EOpsRandomPushAndJoin runs the random ops of TestE2EOpsRandom, with their checks, on a
// server with a push service (--push-webhook-url), the not-received check (3 s) and join policy
// anyone. Every device registers a push target when it logs in; most invites and
// callingInvites carry a pushConfig, and about half the invites enableNotReceivedCheck; some
// steps drop every device of a user, invite users with no connected device, or make a user
// never in a call join it. Besides TestE2EOpsRandom's checks:
//
//   - a user is NotYetReceived only in a call made with enableNotReceivedCheck, no sooner than
//     the check after its invitation and before its ring deadline (R5.2, R3.5), and never after
//     one of its devices showed it Received (R5.1); at the end, past every pending user's check,
//     no invitee of such a call still Started is Inviting (R5.2);
//   - an invitee with a push target and no connected device from its invitation to its next
//     login (or the end) is sent an invitation push with its deadline; one connected all along
//     is sent none (§9, docs/push.md "Who gets what");
//   - an invitee rung with a pushConfig while it had a push target, and kept one since, that is
//     NotYetReceived at the end with that invitation's deadline is sent the R5.2 re-push: an
//     invitation push with that deadline committed at the check, whatever its presence (§9);
//   - each user's pushes of a call are invitations followed by one withdrawal, again and again,
//     and a user no longer ringing for a call it was pushed an invitation of is sent the
//     withdrawal, unless logouts left it without a push target (§9);
//   - a newcomer's callJoin succeeds on a Started advanced-mode call, unless it is busy or the
//     call full, and is refused like an unknown call otherwise (R3.7, docs/behaviour.md §12);
//     the joiner is then Accepted with inviter "" and acceptTime = joinTime, as queries show
//     (§10b), and a call_join webhook names it (§10).
//
// A failure prints the seed and the steps; DIALTONE_SOAK runs ten times as many steps.
func TestE2EOpsRandomPushAndJoin(t *testing.T) {
	for seed := range uint64(2) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			runOpsRandomPushAndJoin(t, seed, soak(50))
		})
	}
}

// runOpsRandomPushAndJoin makes steps random steps from seed, then the final checks.
func runOpsRandomPushAndJoin(t *testing.T, seed uint64, steps int) {
	px := &pushWorld{service: newPushService(t), targets: map[string]bool{}, lastOnline: map[string]int{},
		wentOffline: map[string]int{}, untargeted: map[string]int64{}, notYetReceived: map[string]bool{},
		checked: map[string]bool{}, rungWithPush: map[string]int64{}, covered: map[string]int{}}
	w := newFuzzWorld(t, seed, px)
	for w.step = 1; w.step <= steps; w.step++ {
		w.once()
	}
	px.waitNotReceivedChecks(w)
	w.checkDevices()
	px.checkNotReceivedPushes(w)
	for _, u := range fuzzUsers {
		px.awaitOfflinePushes(w, u)
	}
	px.checkOnlineInvitations(w)
	px.checkWithdrawals(w)
	w.restart()
	w.checkEnds()
	t.Logf("replies by op and code: %v; pushes: %d; push checks: %v; NotYetReceived: %d", w.covered, len(px.service.all()),
		px.covered, len(px.notYetReceived))
}

// notReceivedCheck is the server's --not-received-check in TestE2EOpsRandomPushAndJoin.
const notReceivedCheck = 3 * time.Second

// pushWorld is what TestE2EOpsRandomPushAndJoin adds to the random ops' world.
type pushWorld struct {
	service        *pushService
	targets        map[string]bool  // device key → its push target is registered
	lastOnline     map[string]int   // user → the last step at which one of its devices logged in
	wentOffline    map[string]int   // user → the last step at which it was left with no connected device
	untargeted     map[string]int64 // user → when (Unix ms) it was last left with no push target
	notYetReceived map[string]bool  // "callID userID" of the NotYetReceived users seen
	checked        map[string]bool  // calls made with enableNotReceivedCheck
	rungWithPush   map[string]int64 // "callID userID" → the deadline of its last invitation with a pushConfig made while it had a push target
	invitations    []pushedInvitation
	covered        map[string]int // the checks made, by what they found: the run's coverage, logged at its end
}

// pushedInvitation is one invitation of a user, made in a step of its own.
type pushedInvitation struct {
	callID, user string
	deadline     int64
	recheck      int64 // when the call has the not-received check: when it runs (Unix ms), else 0
	step         int
	offline      bool // the user had no connected device and a push target
	online       bool // the user had a connected device
}

// flags are the server flags of the push service, the not-received check and join policy
// anyone.
func (px *pushWorld) flags() []string {
	return []string{"--push-webhook-url", px.service.srv.URL, "--not-received-check", notReceivedCheck.String(),
		"--join-policy", "anyone"}
}

// pushConfig is the op's pushConfig: its step, or nil when it asks for no push.
func (o fop) pushConfig() *client.PushConfig {
	if !o.push {
		return nil
	}
	return &client.PushConfig{Title: o.ext}
}

// connected registers d's push target (its key as token) and notes its user online.
func (px *pushWorld) connected(w *fuzzWorld, d *fdev) {
	w.t.Helper()
	if err := d.PushRegister(w.t.Context(), client.PushTarget{Provider: "webhook", Token: d.key()}); err != nil {
		w.fail("pushRegister by %s: %v", d.key(), err)
	}
	px.targets[d.key()] = true
	px.lastOnline[d.user] = w.step
}

// left notes d's user offline when d was its last connected device, and waits until the
// server counts no session of d: a push is decided by the presence the server sees (§9).
func (px *pushWorld) left(w *fuzzWorld, d *fdev) {
	if len(w.online(d.user)) == 0 {
		px.wentOffline[d.user] = w.step
	}
	px.waitSessions(w)
}

// allLeft notes every user offline, as a restart disconnects every device.
func (px *pushWorld) allLeft(w *fuzzWorld) {
	for _, u := range fuzzUsers {
		px.wentOffline[u] = w.step
	}
}

// waitSessions waits until the server counts exactly the sessions of the connected devices
// whose connection has not ended (a user's REST logout ends all at once), and the barrier's.
func (px *pushWorld) waitSessions(w *fuzzWorld) {
	n := 1
	for _, d := range w.devs {
		select {
		case <-d.Done():
		default:
			if d.online {
				n++
			}
		}
	}
	want := fmt.Sprintf("dialtone_sessions %d", n)
	deadline := time.After(waitFor)
	for got := metric(w.t, w.ts, "dialtone_sessions "); got != want; got = metric(w.t, w.ts, "dialtone_sessions ") {
		select {
		case <-deadline:
			w.fail("the server counts %q, want %q", got, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// hasTarget reports whether one of user's devices has its push target registered.
func (px *pushWorld) hasTarget(user string) bool {
	return slices.ContainsFunc(fuzzDeviceIDs, func(id string) bool { return px.targets[user+"@"+id] })
}

// invited records the calls a successful invite made with enableNotReceivedCheck (a
// callingInvite's invitees follow the call's, R3.6), and the invitations with a pushConfig an
// invite or callingInvite made on its own (not among others at once), with the presence of
// each invitee then.
func (px *pushWorld) invited(w *fuzzWorld, p *planned) {
	if p.o.kind == "invite" && p.o.check {
		px.checked[p.id] = true
	}
	if p.o.kind != "invite" && p.o.kind != "callingInvite" || !p.o.push || w.bursting {
		return
	}
	ci, ok := w.view(p.id)
	if !ok {
		return
	}
	refused := map[string]bool{}
	for _, e := range p.errs {
		refused[e.UserID] = true
	}
	for _, u := range p.o.invitees {
		me := byUser(ci)[u]
		if refused[u] || !isPending(me.State) || me.Deadline == 0 {
			continue // refused, or no longer ringing: its push may have been superseded (docs/push.md)
		}
		online := len(w.online(u)) > 0
		if px.hasTarget(u) {
			px.rungWithPush[p.id+" "+u] = me.Deadline
		}
		var recheck int64
		if px.checked[p.id] {
			recheck = me.Deadline - int64(p.o.timeout)*1000 + notReceivedCheck.Milliseconds()
		}
		px.invitations = append(px.invitations, pushedInvitation{callID: p.id, user: u, deadline: me.Deadline,
			recheck: recheck, step: w.step, offline: !online && px.hasTarget(u), online: online})
	}
}

// step makes, at random, one of the steps pushWorld adds: a newcomer's join, every device of
// a user dropped, or an invite of offline users (§9). It reports whether it made one.
func (px *pushWorld) step(w *fuzzWorld, lists map[string]map[string]client.CallInfo) bool {
	switch w.rng.IntN(10) {
	case 0, 1:
		px.newcomerJoin(w, lists)
	case 2:
		px.takeOffline(w)
	case 3, 4:
		px.inviteOffline(w)
	default:
		return false
	}
	return true
}

// inviteOffline makes an advanced-mode invite with a pushConfig, of users with no connected
// device where there are any, mostly with enableNotReceivedCheck.
func (px *pushWorld) inviteOffline(w *fuzzWorld) {
	d := w.pickDevice(fuzzUsers[w.rng.IntN(len(fuzzUsers))])
	if d == nil {
		return
	}
	var offline []string
	for _, u := range fuzzUsers {
		if len(w.online(u)) == 0 {
			offline = append(offline, u)
		}
	}
	invitees := append(offline, slices.DeleteFunc(w.someone(1), func(u string) bool { return u == d.user })...)
	if len(invitees) == 0 {
		return
	}
	p := &planned{o: fop{kind: "invite", dev: d, invitees: invitees, mode: client.ModeAdvanced, timeout: 600,
		ext: fmt.Sprintf("step %d", w.step), push: true, check: w.rng.IntN(4) > 0},
		want: mayBeBusy, key: client.NewIdempotencyKey(), line: len(w.log)}
	w.logf("%v key=%s", p.o, p.key)
	w.run(p)
	w.finish(p)
}

// takeOffline drops every connected device of a user that has no main device in a call:
// a main device's loss would take the heartbeat timeout to wait for.
func (px *pushWorld) takeOffline(w *fuzzWorld) {
	for _, i := range w.rng.Perm(len(fuzzUsers)) {
		user := fuzzUsers[i]
		if len(w.online(user)) == 0 || slices.ContainsFunc(slices.Collect(maps.Values(w.mains)), func(m map[string]string) bool {
			return m[user] != ""
		}) {
			continue
		}
		for _, d := range w.online(user) {
			w.logf("%s drop", d.key())
			d.Close()
			w.gone(d)
		}
		return
	}
}

// newcomerJoin makes a user join a call it was never in (R3.7, joinPolicy anyone).
func (px *pushWorld) newcomerJoin(w *fuzzWorld, lists map[string]map[string]client.CallInfo) {
	if len(w.calls) == 0 {
		return
	}
	callID := px.joinableCall(w)
	ci, ok := w.view(callID)
	var joiner *fdev
	for _, i := range w.rng.Perm(len(fuzzUsers)) {
		u := fuzzUsers[i]
		if _, member := lists[u][callID]; !member && byUser(ci)[u].UserID == "" {
			joiner = w.pickDevice(u)
		}
		if joiner != nil {
			break
		}
	}
	if !ok || joiner == nil {
		return
	}
	want := client.ErrorCode(-1) // success, busy (6000290) or full (6000272)
	if ci.Mode == client.ModeGeneral || ci.State == client.CallEnded {
		want = client.CodeCallUnavailable // never joinable: refused as an unknown call (docs/behaviour.md §12)
	}
	w.logf("%s newcomer join call=%s", joiner.key(), callID)
	res, err := joiner.CallJoin(w.t.Context(), callID, client.OpConfig{ExtendedData: fmt.Sprintf("step %d", w.step)})
	w.outcome(callID, err)
	w.checkCode("newcomer join", joiner.key()+" newcomer join "+callID, err, want)
	if err == nil {
		px.covered["newcomer joined"]++
		w.afterSuccess(fop{kind: "join", dev: joiner, callID: callID}, callID)
		px.checkJoined(w, joiner.user, res)
	} else if want == -1 && code(err) != client.CodeBusy && code(err) != client.CodeTooManyUsers {
		w.fail("%s's join of Started advanced call %s: %v, want success, 6000290 or 6000272 (R3.7)", joiner.key(), callID, err)
	}
}

// joinableCall returns a Started advanced-mode call, or another call at random (as one in four
// times).
func (px *pushWorld) joinableCall(w *fuzzWorld) string {
	if w.rng.IntN(4) > 0 {
		for _, i := range w.rng.Perm(len(w.calls)) {
			if ci, ok := w.view(w.calls[i]); ok && ci.State == client.CallStarted && ci.Mode == client.ModeAdvanced {
				return ci.CallID
			}
		}
	}
	return w.pickCall()
}

// checkJoined checks a newcomer's successful join: Accepted with inviter "" and acceptTime =
// joinTime in the reply and in a query (§10b, R3.7), and named by a call_join webhook (§10).
func (px *pushWorld) checkJoined(w *fuzzWorld, user string, res client.CallJoinResult) {
	ci, _ := w.view(res.CallID)
	for what, list := range map[string][]client.CallUserInfo{"reply": res.CallUserList, "queryCall": ci.CallUserList} {
		me := byUser(client.CallInfo{CallUserList: list})[user]
		if me.State != client.StateAccepted || me.Inviter != "" || me.AcceptTime != res.JoinTime {
			w.fail("newcomer %s in the join's %s: %+v, want Accepted, inviter \"\", acceptTime %d (R3.7, §10b)",
				user, what, me, res.JoinTime)
		}
	}
	deadline := time.After(waitFor)
	for {
		names, bodies := w.hooks.ofCall(res.CallID)
		if slices.ContainsFunc(bodies, func(b map[string]any) bool { return b["event"] == "call_join" && b["userID"] == user }) {
			return
		}
		select {
		case <-w.hooks.poke:
		case <-deadline:
			w.fail("no call_join webhook names newcomer %s of %s: %v (§10)", user, res.CallID, names)
		}
	}
}

// checkNotReceived checks the NotYetReceived users of calls, as user reads them, against R5.2
// and R3.5, and that none of user's devices on saw it NotYetReceived after Received in one
// invitation (R5.1).
func (px *pushWorld) checkNotReceived(w *fuzzWorld, user string, calls map[string]client.CallInfo, on []*fdev) {
	for id, ci := range calls {
		for _, u := range ci.CallUserList {
			if u.State == client.StateNotYetReceived {
				px.checkNotYetReceived(w, id, u)
			}
		}
	}
	for _, d := range on {
		if msg := d.notReceivedAfterReceipt(); msg != "" {
			w.fail("%s", msg)
		}
	}
}

// checkNotYetReceived checks that u became NotYetReceived in a call made with
// enableNotReceivedCheck, no sooner than the check after its invitation, and before its ring
// deadline (R5.2, R3.5).
func (px *pushWorld) checkNotYetReceived(w *fuzzWorld, callID string, u client.CallUserInfo) {
	px.notYetReceived[callID+" "+u.UserID] = true
	if !px.checked[callID] {
		w.fail("%s is NotYetReceived in %s, made without enableNotReceivedCheck (R5.2)", u.UserID, callID)
	}
	invited := u.Deadline - 600_000 // the rings that reach the check last 600 s (pickOp)
	if u.Deadline > 0 && (u.UpdateTime-invited < notReceivedCheck.Milliseconds() || u.UpdateTime >= u.Deadline) {
		w.fail("%s became NotYetReceived in %s at %d, %d ms after its invitation, deadline %d (R5.2, R3.5)",
			u.UserID, callID, u.UpdateTime, u.UpdateTime-invited, u.Deadline)
	}
}

// notReceivedAfterReceipt describes the first change the device got that made its user
// NotYetReceived after a change showed it Received, with no invitation between, or "".
func (d *fdev) notReceivedAfterReceipt() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	received := map[string]bool{} // calls in which the user's current invitation was received
	for _, e := range d.evs[d.from:] {
		if e.kind == "received" {
			delete(received, e.callID)
		}
		if e.kind != "changed" {
			continue
		}
		for _, u := range e.users {
			switch {
			case u.UserID != d.user:
			case u.State == client.StateReceived:
				received[e.callID] = true
			case u.State == client.StateInviting:
				delete(received, e.callID)
			case u.State == client.StateNotYetReceived && received[e.callID]:
				return fmt.Sprintf("%s: %s made NotYetReceived in %s at version %d after it was Received (R5.1, R5.2)",
					d.key(), d.user, e.callID, e.version)
			}
		}
	}
	return ""
}

// waitNotReceivedChecks waits until every pending user of a Started call made with
// enableNotReceivedCheck is past its check's instant, and no longer Inviting: each is checked
// within the delay (R5.2), or answered. A change that must not happen (a received user made
// NotYetReceived, R5.1) can only be seen missing after its instant.
func (px *pushWorld) waitNotReceivedChecks(w *fuzzWorld) {
	w.logf("wait for the not-received checks")
	ctx, cancel := context.WithTimeout(w.t.Context(), waitFor+notReceivedCheck)
	defer cancel()
	for c := range px.checked {
		for {
			ci, ok := w.view(c)
			if !ok || ci.State != client.CallStarted || !slices.ContainsFunc(ci.CallUserList, func(u client.CallUserInfo) bool {
				checkAt := u.Deadline - 600_000 + notReceivedCheck.Milliseconds() // rings of 600 s (pickOp)
				return u.State == client.StateInviting || isPending(u.State) && time.Now().UnixMilli() <= checkAt+500
			}) {
				break
			}
			select {
			case <-ctx.Done():
				w.fail("call %s, made with enableNotReceivedCheck, still has Inviting users: %s (R5.2)", c, userStates(ci.CallUserList))
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// checkNotReceivedPushes checks the R5.2 re-pushes: each invitee in rungWithPush still
// NotYetReceived in a Started call with that invitation's deadline, and never left without a
// push target since it, was sent an invitation push with that deadline committed no sooner than
// the check after the invitation (§9: pushed whatever its presence). No withdrawal superseded it:
// the user still rings for that invitation.
func (px *pushWorld) checkNotReceivedPushes(w *fuzzWorld) {
	for key, deadline := range px.rungWithPush {
		callID, user, _ := strings.Cut(key, " ")
		ci, ok := w.view(callID)
		invited := deadline - 600_000 // the rings that reach the check last 600 s (pickOp)
		if me := byUser(ci)[user]; !ok || ci.State != client.CallStarted || me.State != client.StateNotYetReceived ||
			me.Deadline != deadline || px.untargeted[user] >= invited {
			continue
		}
		px.covered["R5.2 re-push"]++
		px.waitPushes(w, fmt.Sprintf("%s, NotYetReceived in %s (deadline %d), was sent no R5.2 invitation push: %+v (§9)",
			user, callID, deadline, px.pushesOf(callID, user)), func() bool {
			return slices.ContainsFunc(px.pushesOf(callID, user), func(m push.Message) bool {
				return m.Kind == "invitation" && m.Deadline == deadline && m.ServerTime >= invited+notReceivedCheck.Milliseconds()
			})
		})
	}
}

// pushesOf returns the pushes to user's targets about callID so far, in arrival order: each
// push once per target the user had then.
func (px *pushWorld) pushesOf(callID, user string) []push.Message {
	var out []push.Message
	for _, b := range px.service.forCall(callID) {
		if strings.HasPrefix(b.Target.Token, user+"@") {
			out = append(out, b.Message)
		}
	}
	return out
}

// awaitOfflinePushes waits, for each invitation of user made while it had no connected
// device and a push target, and while it has had none since, for the invitation push with
// its deadline (§9); the device about to log in is the first since. Those invitations are
// then done with.
func (px *pushWorld) awaitOfflinePushes(w *fuzzWorld, user string) {
	if len(px.invitations) == 0 || len(w.online(user)) > 0 {
		return // none yet, and no device is connected before the first invitation
	}
	px.invitations = slices.DeleteFunc(px.invitations, func(inv pushedInvitation) bool {
		if inv.user != user || !inv.offline || px.lastOnline[user] >= inv.step {
			return false
		}
		px.covered["invitation to an offline user"]++
		px.waitPushes(w, fmt.Sprintf("no invitation push to offline %s for %s (deadline %d) (§9)", user, inv.callID, inv.deadline),
			func() bool { return px.pushedInvitation(inv) })
		return true
	})
}

// pushedInvitation reports whether inv's invitation push was sent: with its deadline (§9).
func (px *pushWorld) pushedInvitation(inv pushedInvitation) bool {
	return slices.ContainsFunc(px.pushesOf(inv.callID, inv.user), func(m push.Message) bool {
		return m.Kind == "invitation" && m.Deadline == inv.deadline
	})
}

// checkOnlineInvitations checks that no invitee connected from its invitation on was sent its
// invitation push (§9) before the not-received check: a device slow to acknowledge under load
// may still be NotYetReceived then, and the R5.2 push it gets is due.
func (px *pushWorld) checkOnlineInvitations(w *fuzzWorld) {
	for _, inv := range px.invitations {
		if !inv.online || px.wentOffline[inv.user] >= inv.step {
			continue
		}
		px.covered["invitation to an online user"]++
		if slices.ContainsFunc(px.pushesOf(inv.callID, inv.user), func(m push.Message) bool {
			return m.Kind == "invitation" && m.Deadline == inv.deadline && (inv.recheck == 0 || m.ServerTime < inv.recheck)
		}) {
			w.fail("%s, connected since it was invited to %s at step %d, was sent the invitation push: %+v (§9)",
				inv.user, inv.callID, inv.step, px.pushesOf(inv.callID, inv.user))
		}
	}
}

// checkWithdrawals checks each user's pushes of each call: runs of invitations each followed by
// one withdrawal (§9), and, once they settle, a withdrawal last when the user no longer rings
// for the call, unless it was left without a push target since the last invitation push: the
// withdrawal then had no target to go to.
func (px *pushWorld) checkWithdrawals(w *fuzzWorld) {
	for _, c := range w.calls {
		ci, ok := w.view(c)
		for _, u := range fuzzUsers {
			if msg := pushOrder(px.pushesOf(c, u)); msg != "" {
				w.fail("%s's pushes of %s: %s (§9)", u, c, msg)
			}
			got := px.pushesOf(c, u)
			if !ok || len(got) == 0 || px.untargeted[u] >= got[len(got)-1].ServerTime ||
				(ci.State == client.CallStarted && isPending(byUser(ci)[u].State)) {
				continue
			}
			withdrawn := func() bool {
				got := px.pushesOf(c, u)
				return got[len(got)-1].Kind == "withdrawal"
			}
			px.covered["ringing over"]++
			px.waitPushes(w, fmt.Sprintf("%s, no longer ringing for %s (%s), was sent no withdrawal after its invitation push: %+v (§9)",
				u, c, userStates(ci.CallUserList), px.pushesOf(c, u)), withdrawn)
		}
	}
}

// dropTarget notes that a logout dropped the push target of device (a device key).
func (px *pushWorld) dropTarget(device string) {
	delete(px.targets, device)
	if user, _, _ := strings.Cut(device, "@"); !px.hasTarget(user) {
		px.untargeted[user] = time.Now().UnixMilli()
	}
}

// pushOrder describes the first push out of order in one user's pushes of one call, or "":
// only invitations and withdrawals, and each run of withdrawals (one push, to each target)
// after a run of invitations. A user's pushes of a call are sent one after another, each to
// all its targets (docs/push.md).
func pushOrder(msgs []push.Message) string {
	var kinds []string
	invited := false
	for i, m := range msgs {
		kinds = append(kinds, m.Kind)
		switch m.Kind {
		case "invitation":
			invited = true
		case "withdrawal":
			if i > 0 && msgs[i-1].Kind == "withdrawal" && msgs[i-1].ServerTime == m.ServerTime {
				continue // the same withdrawal, to another target
			}
			if !invited {
				return fmt.Sprintf("a withdrawal without an invitation before it: %v", kinds)
			}
			invited = false
		default:
			return fmt.Sprintf("a %s push, and no op asked for one: %v", m.Kind, kinds)
		}
	}
	return ""
}

// waitPushes waits until ok holds, failing with msg and the steps after waitFor.
func (px *pushWorld) waitPushes(w *fuzzWorld, msg string, ok func() bool) {
	w.t.Helper()
	deadline := time.After(waitFor)
	for !ok() {
		select {
		case <-px.service.poke:
		case <-deadline:
			w.fail("%s", msg)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
