package call

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestScenarios runs the stories in testdata/*.txt, one subtest per file. Each line is an
// input or an expectation about the last input's outcome (Expire's and the op's effects):
//
//	t=0 alice@a1 invite bob carol timeout=30 mode=advanced check push data=x
//	t=5000 bob@b1 accept|reject|receipt|join|quit|end [data=x] [push]
//	t=5000 alice@a1 cancel [bob ...]   t=5000 alice@a1 callinginvite dave [timeout=20]
//	t=5000 lost alice@a1               t=5000 glare alice        t=5000 tick
//	expect ok | error 6000274 | nochange
//	expect state alice=Accepted bob=Timeout
//	expect call Started|Ended [version=3] [answered] [endtime=5000]
//	expect event callUserStateChanged to alice:only=a1 bob:all [users=bob] [ended] [version=4]
//	expect no event callInvitationEnded
//	expect events callInvitationTimeout callUserStateChanged   (every event kind, in order)
//	expect webhooks call_timeout call_end:timeout            (every webhook, reason after ':')
//	expect busy alice=false bob=true | expect busy none
//	expect pushes invitation:bob withdrawal:carol | expect pushes none
//	(withdrawal:carol:else-end: a withdrawal whose alternative is the op's end push)
//	expect errorusers bob=6000001 | expect errorinvitees zoe
//	expect mustbefree bob
//	expect user bob state=Inviting inviter=alice deadline=31000 accept=0 update=1000 data= main=
//	                 (§10b: the user's fields named, in the order named)
func TestScenarios(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) == 0 {
		t.Fatal("no scenario files")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t)
			for n, line := range strings.Split(string(data), "\n") {
				line = strings.TrimSpace(line)
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				runLine(t, h, f+":"+strconv.Itoa(n+1), line)
			}
		})
	}
}

func runLine(t *testing.T, h *harness, where, line string) {
	t.Helper()
	f := strings.Fields(line)
	if f[0] == "expect" {
		if msg := expect(h, f[1:]); msg != "" {
			t.Errorf("%s: %s: %s", where, line, msg)
		}
		return
	}
	now, err := strconv.ParseInt(strings.TrimPrefix(f[0], "t="), 10, 64)
	if err != nil || len(f) < 2 {
		t.Fatalf("%s: bad line %q", where, line)
	}
	in, done := parseInput(f[1:], now, h)
	switch {
	case in != nil:
		h.do(in, now)
	case !done:
		t.Fatalf("%s: bad input %q", where, line)
	}
}

// opts splits k=v options and bare words (flags and user lists).
func opts(words []string) (kv map[string]string, bare []string) {
	kv = map[string]string{}
	for _, w := range words {
		if k, v, ok := strings.Cut(w, "="); ok {
			kv[k] = v
		} else {
			bare = append(bare, w)
		}
	}
	return kv, bare
}

func actor(s string) Actor {
	u, d, _ := strings.Cut(s, "@")
	return Actor{UserID: u, DeviceID: d}
}

// parseInput returns the input of an op line, or nil and done when it ran the line itself
// (invite, tick), or nil and !done for a line it does not know.
func parseInput(f []string, now int64, h *harness) (in Input, done bool) {
	switch f[0] {
	case "tick":
		h.tick(now)
		return nil, true
	case "lost":
		a := actor(f[1])
		return DeviceLost(a), false
	case "glare":
		return GlareCancel{UserID: f[1]}, false
	}
	a, op := actor(f[0]), f[1]
	kv, bare := opts(f[2:])
	var push *PushConfig
	if slices.Contains(bare, "push") {
		push = &PushConfig{Title: "t", ResourcesID: "ring"}
		bare = slices.DeleteFunc(bare, func(s string) bool { return s == "push" })
	}
	timeout, _ := strconv.Atoi(kv["timeout"])
	data := kv["data"]
	switch op {
	case "invite":
		h.create(Invite{Actor: a, CallID: "c1", Invitees: slices.DeleteFunc(bare, func(s string) bool { return s == "check" }),
			Timeout: timeout, Mode: map[string]Mode{"advanced": Advanced}[kv["mode"]], ExtendedData: data, Push: push,
			EnableNotReceivedCheck: slices.Contains(f, "check")}, now)
		return nil, true
	case "accept":
		return Accept{Actor: a, ExtendedData: data}, false
	case "reject":
		return Reject{Actor: a, ExtendedData: data}, false
	case "receipt":
		return Receipt{Actor: a}, false
	case "cancel":
		return Cancel{Actor: a, Invitees: bare, ExtendedData: data, Push: push}, false
	case "callinginvite":
		return CallingInvite{Actor: a, Invitees: bare, Timeout: timeout, ExtendedData: data, Push: push}, false
	case "join":
		return Join{Actor: a, ExtendedData: data}, false
	case "quit":
		return QuitCall{Actor: a, ExtendedData: data, Push: push}, false
	case "end":
		return End{Actor: a, ExtendedData: data, Push: push}, false
	}
	return nil, false
}

// expect checks one expectation and returns "" or what differs.
func expect(h *harness, f []string) string {
	got, want := "", strings.Join(f[1:], " ")
	switch f[0] {
	case "ok":
		got, want = errString(h.err), "<nil>"
	case "error":
		got = strconv.Itoa(int(h.code()))
	case "nochange":
		got, want = strconv.FormatBool(h.err == nil && !h.last.Changed), "true"
	case "state":
		var parts []string
		for _, w := range f[1:] {
			u, _, _ := strings.Cut(w, "=")
			parts = append(parts, u+"="+h.state(u).String())
		}
		got = strings.Join(parts, " ")
	case "call":
		got = callLine(h.call, f[1:])
	case "event":
		got = findEvent(h.last.Events, f[1:])
	case "no":
		got = strconv.Itoa(len(slices.DeleteFunc(slices.Clone(h.last.Events), func(e Event) bool { return e.Kind.String() != f[2] })))
		want = "0"
	case "events":
		got = joinMap(h.last.Events, func(e Event) string { return e.Kind.String() })
	case "webhooks":
		got = joinMap(h.last.Webhooks, func(w Webhook) string { return w.Event + cond(w.Reason != "", ":"+w.Reason) })
	case "busy":
		got = joinMap(h.last.Busy, func(b Busy) string { return b.UserID + "=" + strconv.FormatBool(b.InCall) })
	case "pushes":
		names := map[PushKind]string{PushInvitation: "invitation", PushWithdrawal: "withdrawal", PushQuit: "quit", PushEnd: "end"}
		got = joinMap(h.last.Pushes, func(p Push) string {
			return names[p.Kind] + ":" + p.UserID + cond(p.Always, ":always") + cond(p.Else != 0, ":else-"+names[p.Else])
		})
	case "errorusers":
		got = joinMap(h.last.ErrorUsers, func(e ErrorUser) string { return e.UserID + "=" + strconv.Itoa(int(e.Reason)) })
	case "errorinvitees":
		got = strings.Join(h.last.ErrorInvitees, " ")
	case "mustbefree":
		got = h.last.MustBeFree
	case "user":
		got, want = userLine(h.call.User(f[1]), f[2:]), strings.Join(f[2:], " ")
	default:
		return "unknown expectation"
	}
	if got == "" && want == "none" {
		return ""
	}
	if f[0] == "event" {
		got, want = canonical(got), canonical(want)
	}
	if got != want {
		return "got " + strconv.Quote(got)
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func cond(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}

func joinMap[T any](xs []T, f func(T) string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = f(x)
	}
	return strings.Join(parts, " ")
}

// callLine renders the call's fields asked for by want's words, in want's order.
func callLine(c Call, want []string) string {
	parts := []string{map[State]string{Started: "Started", Ended: "Ended"}[c.State]}
	for _, w := range want[1:] {
		switch k, _, _ := strings.Cut(w, "="); k {
		case "version":
			parts = append(parts, "version="+strconv.FormatInt(c.Version, 10))
		case "endtime":
			parts = append(parts, "endtime="+strconv.FormatInt(c.EndTime, 10))
		case "answered", "unanswered":
			parts = append(parts, cond(c.Answered, "answered")+cond(!c.Answered, "unanswered"))
		}
	}
	return strings.Join(parts, " ")
}

// userLine renders the fields of u named by want's words (k=v), in want's order.
func userLine(u *User, want []string) string {
	if u == nil {
		return "not in the call"
	}
	parts := make([]string, len(want))
	for i, w := range want {
		k, _, _ := strings.Cut(w, "=")
		v := map[string]string{"state": u.State.String(), "inviter": u.Inviter, "data": u.ExtendedData,
			"invitedata": u.InviteData, "main": u.MainDevice, "deadline": strconv.FormatInt(u.Deadline, 10),
			"accept": strconv.FormatInt(u.AcceptTime, 10), "update": strconv.FormatInt(u.UpdateTime, 10)}[k]
		parts[i] = k + "=" + v
	}
	return strings.Join(parts, " ")
}

// findEvent renders the one event of kind f[0] in the form the expectation is written in.
func findEvent(events []Event, f []string) string {
	var found []Event
	for _, e := range events {
		if e.Kind.String() == f[0] {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		return "no single " + f[0] + " (found " + strconv.Itoa(len(found)) + ")"
	}
	e := found[0]
	s := f[0] + " to " + recipients(e.To)
	for _, w := range f[1:] {
		switch {
		case strings.HasPrefix(w, "users="):
			s += " users=" + strings.ReplaceAll(joinMap(e.Users, func(u User) string { return u.ID }), " ", ",")
		case w == "ended":
			s += cond(e.CallEnded, " ended")
		case strings.HasPrefix(w, "data="):
			s += " data=" + e.ExtendedData
		case strings.HasPrefix(w, "operated="):
			s += " operated=" + e.OperatedUserID
		case strings.HasPrefix(w, "inviter="):
			s += " inviter=" + e.Inviter
		case strings.HasPrefix(w, "device="):
			s += " device=" + e.DeviceID
		case strings.HasPrefix(w, "version="):
			s += " version=" + strconv.FormatInt(e.Version, 10)
		}
	}
	return s
}

// canonical orders an event line's words and its users= list, so that expectations need not
// follow the call's user order.
func canonical(line string) string {
	words := strings.Fields(line)
	for i, w := range words {
		if list, ok := strings.CutPrefix(w, "users="); ok {
			ids := strings.Split(list, ",")
			slices.Sort(ids)
			words[i] = "users=" + strings.Join(ids, ",")
		}
	}
	slices.Sort(words)
	return strings.Join(words, " ")
}
