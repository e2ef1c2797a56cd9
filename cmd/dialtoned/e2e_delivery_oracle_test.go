package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/dialtone/dialtone/client"
)

// The oracles of TestE2EDeliveryRandom: the reply code, the recipients and the fields each
// change must have, from the states before and after it (behaviour §5, §10b, R6.3, R7.2).

// wantCode is the reply §5's table, R3.2, R3.7 and §8 give for o, from the states before it.
func (w *world) wantCode(o op, pre map[string]client.CallInfo) client.ErrorCode {
	u := o.actor.user
	busyIn := ""
	for id, ci := range pre {
		if id != o.callID && ci.State == client.CallStarted && byUser(ci)[u].State == client.StateAccepted {
			busyIn = id
		}
	}
	if o.kind == "invite" || o.kind == "ringShort" {
		if busyIn != "" {
			return client.CodeBusy
		}
		return 0
	}
	ci := pre[o.callID]
	me, in := byUser(ci)[u]
	if !in || ci.State == client.CallEnded {
		return client.CodeCallUnavailable
	}
	general := ci.Mode == client.ModeGeneral
	if general && (o.kind == "callingInvite" || o.kind == "quit" || o.kind == "end" || o.kind == "join") {
		return client.CodeNotAdvanced
	}
	// busy is the busy rule of an answer or a join; glare lets a ringing user's answer
	// through when the call it is busy in is its own and unanswered (R3.3b).
	busy := func(ringing bool) client.ErrorCode {
		if busyIn == "" {
			return 0
		}
		if ringing && w.callers[busyIn] == u && !w.answered[busyIn] {
			return 0
		}
		return client.CodeBusy
	}
	s := me.State
	switch o.kind {
	case "accept", "reject":
		switch {
		case isPending(s):
			if o.kind == "accept" {
				return busy(true)
			}
			return 0
		case s == client.StateTimeout:
			return client.CodeCallUnavailable
		}
		return client.CodeStateForbids
	case "callingInvite", "quit", "end":
		if s != client.StateAccepted {
			return client.CodeStateForbids
		}
		if o.kind == "callingInvite" {
			users := byUser(ci)
			for _, v := range o.invitees {
				if x, in := users[v]; !in || !isActive(x.State) {
					return 0
				}
			}
			return client.CodeNoValidInvitee
		}
		return 0
	case "join":
		switch {
		case isPending(s):
			return busy(true)
		case s == client.StateAccepted:
			if w.mains[o.callID][u] == o.actor.id {
				return client.CodeAlreadyActive
			}
			return 0
		case s == client.StateCancelled || s == client.StateBeCancelled:
			return client.CodeStateForbids
		}
		return busy(false)
	case "cancel":
		if !isActive(s) {
			return client.CodeNotInviter
		}
		users := byUser(ci)
		accepted := false
		for _, v := range o.invitees {
			if x, in := users[v]; in {
				if x.Inviter != u {
					return client.CodeNotInviter
				}
				accepted = accepted || x.State == client.StateAccepted
			}
		}
		if general || len(o.invitees) == 0 {
			if ci.Caller != u {
				return client.CodeNotInviter
			}
			if w.answered[o.callID] {
				return client.CodeCancelAccepted
			}
			return 0
		}
		if accepted {
			return client.CodeCancelAccepted
		}
		return 0
	}
	panic(o.kind)
}

// checkOrder checks that each device's seq, and each call's version on it from one change to
// the next, strictly increase (R7.2, §5).
func (w *world) checkOrder() {
	for k, d := range w.devs {
		var seq int64
		versions, kinds := map[string]int64{}, map[string]string{}
		for _, e := range d.since(0) {
			if !e.synth {
				if e.seq <= seq {
					w.fail("%s: seq %d after %d (%s on %s)", k, e.seq, seq, e.kind, e.callID)
				}
				seq = e.seq
			}
			// Two events of one change share its version: the op's own event, then
			// callUserStateChanged (docs/behaviour.md §12).
			same := e.version == versions[e.callID] && (e.synth || e.kind == "changed" && kinds[e.callID] != "changed")
			if e.version <= versions[e.callID] && !same {
				w.fail("%s: call %s version %d (%s) after %d (%s)", k, e.callID, e.version, e.kind, versions[e.callID], kinds[e.callID])
			}
			versions[e.callID], kinds[e.callID] = e.version, e.kind
		}
	}
}

// devKeys returns the keys of user's devices that take part in the step (not gone, the one
// logged out in it).
func (w *world) devKeys(user, gone string) []string {
	var out []string
	for _, d := range w.devices(user) {
		if d.key() != gone {
			out = append(out, d.key())
		}
	}
	return out
}

// expectChange returns the events §5 sends for one change of a call, per device key: kind is
// the change (invite, callingInvite, accept, reject, join, switch, quit, end, cancel,
// cancelWhole, glare, lossCancel, lossQuit), actor and dev the acting user and device.
func (w *world) expectChange(kind, actor, dev, gone string, pre, post client.CallInfo, postMains map[string]string) map[string][]string {
	want := map[string][]string{}
	to := func(user, ev string, except ...string) {
		for _, k := range w.devKeys(user, gone) {
			if !slices.Contains(except, k) {
				want[k] = append(want[k], ev)
			}
		}
	}
	toMain := func(user, ev string) {
		if k := user + "@" + postMains[user]; k != gone && w.devs[k] != nil {
			want[k] = append(want[k], ev)
		}
	}
	before := byUser(pre)
	endedNow := pre.State == client.CallStarted && post.State == client.CallEnded
	switch kind {
	case "invite":
		for _, u := range post.CallUserList {
			if u.UserID == post.Caller {
				to(u.UserID, "created")
			} else {
				to(u.UserID, "received")
			}
		}
		return want
	case "switch":
		to(actor, "main")
		return want
	case "end":
		for _, u := range pre.CallUserList {
			if isActive(u.State) {
				to(u.UserID, "ended")
			}
		}
		return want
	}
	var cancelled, timedOut, fresh, changed []string
	for _, a := range post.CallUserList {
		b, in := before[a.UserID]
		if in && isPending(b.State) && a.State == client.StateBeCancelled {
			cancelled = append(cancelled, a.UserID)
		}
		if in && isPending(b.State) && a.State == client.StateTimeout {
			timedOut = append(timedOut, a.UserID)
			to(a.UserID, "timeout")
		}
		if (!in || !isActive(b.State)) && isPending(a.State) {
			fresh = append(fresh, a.UserID)
		}
		if category(b, in) != category(a, true) {
			changed = append(changed, a.UserID)
		}
	}
	for _, u := range cancelled {
		to(u, "cancelled")
	}
	switch kind {
	case "cancelWhole":
		to(actor, "cancelled", actor+"@"+dev)
		return want
	case "glare", "lossCancel":
		to(actor, "cancelled")
		return want
	case "cancel":
		if len(cancelled) > 0 {
			to(actor, "cancelled", actor+"@"+dev)
		}
	case "callingInvite":
		for _, u := range fresh {
			to(u, "received")
		}
	}
	if len(changed) == 0 {
		return want
	}
	if endedNow {
		for _, u := range pre.CallUserList {
			switch {
			case !isActive(u.State) || slices.Contains(cancelled, u.UserID) || slices.Contains(timedOut, u.UserID):
			case pre.Mode == client.ModeAdvanced && u.UserID != actor:
				to(u.UserID, "ended")
			default:
				to(u.UserID, "changed")
			}
		}
		return want
	}
	for _, u := range post.CallUserList {
		switch {
		case slices.Contains(changed, u.UserID) &&
			(u.State == client.StateAccepted || u.State == client.StateRejected || u.State == client.StateQuit):
			to(u.UserID, "changed")
		case isPending(u.State) && !slices.Contains(fresh, u.UserID):
			to(u.UserID, "changed")
		case u.State == client.StateAccepted:
			toMain(u.UserID, "changed")
		}
	}
	return want
}

// checkCall checks the events of one call in this step against §5, and the call's fields
// against §10b and the events folded.
func (w *world) checkCall(o op, kind, c string, pre, post client.CallInfo, preMains map[string]string, gone string, got map[string][]tev) {
	byVersion := map[int64]map[string][]tev{}
	var versions []int64
	for k, evs := range got {
		for _, e := range evs {
			if e.callID != c || e.synth {
				continue
			}
			if byVersion[e.version] == nil {
				byVersion[e.version] = map[string][]tev{}
				versions = append(versions, e.version)
			}
			byVersion[e.version][k] = append(byVersion[e.version][k], e)
		}
	}
	slices.Sort(versions)
	if pre.State == client.CallEnded && c != o.callID || (pre.State == client.CallEnded && kind == "") {
		if len(versions) > 0 || post.Version != pre.Version {
			w.fail("ended call %s changed: events %v, version %d → %d (R4.4)", c, byVersion, pre.Version, post.Version)
		}
		return
	}
	change := ""
	actor, dev := o.actor.user, o.actor.id
	switch {
	case c == o.callID:
		change = kind
	case (kind == "accept" || kind == "join") && post.State == client.CallEnded && pre.State == client.CallStarted:
		change = "glare"
	case gone != "" && preMains[actor] == dev && post.Version != pre.Version:
		change = "lossQuit"
		if byUser(post)[actor].State == client.StateCancelled {
			change = "lossCancel"
		}
	}
	postMains := w.mains[c]
	if change == "" {
		if len(versions) > 0 || post.Version != pre.Version {
			w.fail("call %s changed by %v: events %v, version %d → %d", c, o, byVersion, pre.Version, post.Version)
		}
		return
	}
	w.covered[change]++
	if post.State == client.CallEnded {
		w.covered[change+" (end)"]++
	}
	receipts := versions[min(1, len(versions)):]
	opPost := post
	if change == "ringShort" {
		// the invitation, its receipts, then one change for the timeout of every invitee
		if len(versions) < 3 {
			w.fail("call %s: versions %v for an invitation that timed out", c, versions)
		}
		last := versions[len(versions)-1]
		receipts = versions[1 : len(versions)-1]
		opPost = client.CallInfo{CallID: c, Caller: post.Caller, Mode: post.Mode, State: client.CallStarted, CreateTime: post.CreateTime}
		for _, u := range post.CallUserList {
			if u.State == client.StateTimeout {
				u.State = client.StateReceived
			}
			opPost.CallUserList = append(opPost.CallUserList, u)
		}
		w.covered["timeout"]++
		w.compare(fmt.Sprintf("call %s timeout", c), w.expectChange("timeout", post.Caller, "", gone, opPost, post, postMains), byVersion[last])
		w.checkLists(c, opPost, post, byVersion[last])
		change = "invite"
	}
	want := w.expectChange(change, actor, dev, gone, pre, opPost, postMains)
	var opVersion int64
	if len(versions) > 0 {
		opVersion = versions[0]
	}
	w.compare(fmt.Sprintf("call %s change %s", c, change), want, byVersion[opVersion])
	w.checkLists(c, pre, opPost, byVersion[opVersion])
	for k, evs := range byVersion[opVersion] {
		for _, e := range evs {
			wantExt := o.ext
			if gone != "" {
				wantExt = "" // an end by loss
			}
			if e.kind == "ended" && (e.ext != wantExt || e.endTime != post.EndTime) {
				w.fail("call %s: %s got an end with extendedData %q, endTime %d; want %q, %d (§10b)", c, k, e.ext, e.endTime, wantExt, post.EndTime)
			}
			if e.kind == "changed" && e.ended && e.endTime != post.EndTime {
				w.fail("call %s: %s got the ending change with endTime %d, want %d", c, k, e.endTime, post.EndTime)
			}
		}
	}
	for _, v := range receipts {
		// receipts (R5.1): to every listener after them
		if change != "invite" && change != "callingInvite" {
			w.fail("call %s: a second change (version %d) after %s: %v", c, v, change, byVersion[v])
		}
		want := map[string][]string{}
		for _, u := range opPost.CallUserList {
			switch {
			case isPending(u.State):
				for _, k := range w.devKeys(u.UserID, gone) {
					want[k] = []string{"changed"}
				}
			case u.State == client.StateAccepted:
				want[u.UserID+"@"+postMains[u.UserID]] = []string{"changed"}
			}
		}
		w.compare(fmt.Sprintf("call %s receipt at version %d", c, v), want, byVersion[v])
		for k, evs := range byVersion[v] {
			if len(evs[0].users) != 1 || evs[0].users[0].State != client.StateReceived {
				w.fail("call %s: %s got %v as a receipt", c, k, evs[0].users)
			}
		}
	}
	w.fold(c, actor, versions, byVersion, change, post)
	w.checkFields(c, change, actor, pre, post)
	if me := byUser(post)[actor]; c == o.callID && (change == "accept" || change == "reject" || change == "join" || change == "quit") &&
		me.ExtendedData != o.ext {
		w.fail("call %s: %s's extendedData after its %s is %q, want %q (R3.3, R3.7, §12)", c, actor, change, me.ExtendedData, o.ext)
	}
}

// checkLists checks the user lists of one change's events: callUserStateChanged lists only the
// users it changed (§5), callInvitationCancelled exactly the users it made BeCancelled.
func (w *world) checkLists(c string, pre, post client.CallInfo, got map[string][]tev) {
	before, after := byUser(pre), byUser(post)
	for k, evs := range got {
		for _, e := range evs {
			var listed, bad []string
			for _, u := range e.users {
				listed = append(listed, u.UserID)
				b, in := before[u.UserID]
				switch e.kind {
				case "changed":
					if category(b, in) == category(after[u.UserID], true) {
						bad = append(bad, u.UserID)
					}
				case "cancelled":
					if !in || !isPending(b.State) || after[u.UserID].State != client.StateBeCancelled {
						bad = append(bad, u.UserID)
					}
				}
			}
			if e.kind == "cancelled" {
				for _, a := range post.CallUserList {
					if b, in := before[a.UserID]; in && isPending(b.State) && a.State == client.StateBeCancelled &&
						!slices.Contains(listed, a.UserID) {
						bad = append(bad, a.UserID+" (missing)")
					}
				}
			}
			if len(bad) > 0 {
				w.fail("call %s: %s got %s listing %v; wrong: %v (§5)", c, k, e.kind, userStates(e.users), bad)
			}
		}
	}
}

func (w *world) compare(what string, want map[string][]string, got map[string][]tev) {
	gotKinds := map[string][]string{}
	for k, evs := range got {
		for _, e := range evs {
			gotKinds[k] = append(gotKinds[k], e.kind)
		}
		slices.Sort(gotKinds[k])
	}
	for k := range want {
		slices.Sort(want[k])
	}
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range gotKinds {
		keys[k] = true
	}
	var diffs []string
	for k := range keys {
		if !slices.Equal(want[k], gotKinds[k]) {
			diffs = append(diffs, fmt.Sprintf("%s got %v want %v", k, gotKinds[k], want[k]))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		w.fail("%s: recipients differ (§5, R6.3):\n  %s", what, strings.Join(diffs, "\n  "))
	}
}

// fold applies the user entries the step's events carried, version by version, to the call as
// known from earlier events, and compares it with queryCall.
func (w *world) fold(c, actor string, versions []int64, byVersion map[int64]map[string][]tev, change string, post client.CallInfo) {
	f := w.folded[c]
	if f == nil {
		f = map[string]client.CallUserInfo{}
		w.folded[c] = f
	}
	ended, told := false, map[string]bool{}
	for _, v := range versions {
		seen := map[string]client.CallUserInfo{}
		for k, evs := range byVersion[v] {
			for _, e := range evs {
				ended = ended || e.kind == "ended" || e.ended
				for _, u := range e.users {
					if prev, ok := seen[u.UserID]; ok && prev != u {
						w.fail("call %s version %d: %s got %+v, another device %+v", c, v, k, u, prev)
					}
					seen[u.UserID] = u
				}
			}
		}
		for id, u := range seen {
			f[id] = u
			told[id] = true
		}
	}
	if change == "lossQuit" && !told[actor] {
		// a user whose only device was lost learns of its quit on no device (R6.4); the
		// others were told of the end, or of its quit
		u := f[actor]
		u.State, u.ExtendedData = client.StateQuit, ""
		f[actor] = u
	}
	if change == "cancelWhole" || change == "glare" || change == "lossCancel" {
		if post.State == client.CallEnded {
			u := f[post.Caller]
			u.State = client.StateCancelled
			f[post.Caller] = u
			ended = true
		}
	}
	if ended {
		for id, u := range f {
			u.Deadline = 0
			f[id] = u
		}
	}
	for _, u := range post.CallUserList {
		g := f[u.UserID]
		if g.State != u.State || g.Inviter != u.Inviter || g.AcceptTime != u.AcceptTime || g.Deadline != u.Deadline ||
			g.ExtendedData != u.ExtendedData {
			w.fail("call %s: the events folded give %+v, queryCall %+v", c, g, u)
		}
	}
}

// checkFields checks §10b's per-user fields across the step.
func (w *world) checkFields(c, change, actor string, pre, post client.CallInfo) {
	before := byUser(pre)
	for _, a := range post.CallUserList {
		b, in := before[a.UserID]
		switch {
		case in && !isActive(b.State) && isPending(a.State):
			if a.AcceptTime != 0 || a.Inviter != actor || a.ExtendedData != "" {
				w.fail("call %s: %s re-invited by %s has %+v (§10b)", c, a.UserID, actor, a)
			}
		case a.State == client.StateAccepted && (!in || b.State != client.StateAccepted):
			if a.AcceptTime == 0 || a.AcceptTime < b.AcceptTime {
				w.fail("call %s: %s accepted with acceptTime %d, before %d (§10b)", c, a.UserID, a.AcceptTime, b.AcceptTime)
			}
		case in && b.State == client.StateAccepted && a.State != client.StateAccepted:
			if a.AcceptTime != b.AcceptTime {
				w.fail("call %s: %s left with acceptTime %d, was %d (§10b)", c, a.UserID, a.AcceptTime, b.AcceptTime)
			}
		}
		if (a.Deadline != 0) != (isPending(a.State) && post.State == client.CallStarted) {
			w.fail("call %s: %s %s has deadline %d in a call %d (§10b)", c, a.UserID, stateName(a.State), a.Deadline, post.State)
		}
	}
	if (post.EndTime != 0) != (post.State == client.CallEnded) || (post.EndTime != 0 && post.EndTime < post.CreateTime) {
		w.fail("call %s: state %d, endTime %d, createTime %d", c, post.State, post.EndTime, post.CreateTime)
	}
}
