package call

import (
	"strings"
	"testing"
)

// story runs scenario lines (see TestScenarios) on a fresh harness.
func story(t *testing.T, lines ...string) *harness {
	t.Helper()
	h := newHarness(t)
	for i, l := range lines {
		runLine(t, h, "line "+string(rune('1'+i)), l)
	}
	return h
}

// userIn returns the lines that put x into state st in an advanced call of alice (or a general
// one) with y still ringing, so that the call stays Started.
func userIn(st UserState, mode string) []string {
	lines := []string{"t=0 alice@a1 invite x y timeout=30 check mode=" + mode}
	switch st {
	case NotYetReceived:
		lines = append(lines, "t=5000 tick")
	case Received:
		lines = append(lines, "t=100 x@x1 receipt")
	case Accepted, Quit, Cancelled:
		lines = append(lines, "t=100 x@x1 accept")
	case Rejected:
		lines = append(lines, "t=100 x@x1 reject")
	case BeCancelled:
		lines = append(lines, "t=100 alice@a1 cancel x")
	case Timeout: // y is re-invited later so the call keeps a pending user in general mode too
		lines = append(lines, "t=100 alice@a1 callinginvite z timeout=60", "t=30000 tick")
	}
	if st == Quit || st == Cancelled {
		lines = append(lines, "t=200 x@x1 quit")
	}
	return lines
}

// TestR5OperationTable reproduces behaviour §5's "state \ operation" table cell by cell (advanced
// mode, call Started): each op by x in each state succeeds (0) or fails with the table's code.
func TestR5OperationTable(t *testing.T) {
	ops := []string{"accept", "reject", "callinginvite w", "quit", "end", "join"}
	table := []struct {
		states []UserState
		want   [6]Code
	}{
		{[]UserState{Inviting, NotYetReceived, Received}, [6]Code{0, 0, 6000274, 6000274, 6000274, 0}},
		{[]UserState{Accepted}, [6]Code{6000274, 6000274, 0, 0, 0, 0}},
		{[]UserState{Timeout}, [6]Code{6000276, 6000276, 6000274, 6000274, 6000274, 0}},
		{[]UserState{Rejected, Quit}, [6]Code{6000274, 6000274, 6000274, 6000274, 6000274, 0}},
		{[]UserState{BeCancelled, Cancelled}, [6]Code{6000274, 6000274, 6000274, 6000274, 6000274, 6000274}},
		{[]UserState{Unknown}, [6]Code{6000276, 6000276, 6000276, 6000276, 6000276, 6000276}},
	}
	for _, row := range table {
		for _, st := range row.states {
			for i, op := range ops {
				t.Run(st.String()+"/"+strings.Fields(op)[0], func(t *testing.T) {
					lines := userIn(st, "advanced")
					if st == Unknown {
						lines = append(lines, "t=100 alice@a1 cancel x") // x stays in the list; test "nobody" instead
					}
					h := story(t, lines...)
					if st == Cancelled {
						h.call.User("x").State = Cancelled // only the caller is ever Cancelled, in an ended call
					}
					who := "x@x2"
					if st == Unknown {
						who = "nobody@n1"
					}
					at := "t=1000 "
					if st == Timeout {
						at = "t=31000 "
					}
					runLine(t, h, op, at+who+" "+op)
					if got := h.code(); got != row.want[i] {
						t.Fatalf("%v %s: got %d, want %d", st, op, got, row.want[i])
					}
					if h.err == nil && h.state("x") != map[string]UserState{"accept": Accepted, "reject": Rejected,
						"quit": Quit, "join": Accepted, "callinginvite": Accepted, "end": Accepted}[strings.Fields(op)[0]] {
						t.Fatalf("%v %s: x is %v afterwards", st, op, h.state("x"))
					}
				})
			}
		}
	}
}

// TestR3_7JoinFromMainDevice: the table's "switch / 6000283" cell.
func TestR3_7JoinFromMainDevice(t *testing.T) {
	h := story(t, append(userIn(Accepted, "advanced"), "t=1000 x@x1 join")...)
	if h.code() != CodeAlreadyActive {
		t.Fatalf("join from the main device: got %v", h.err)
	}
	h = story(t, append(userIn(Accepted, "advanced"), "t=1000 x join")...)
	if h.code() != CodeAlreadyActive {
		t.Fatalf("join through the server API by an Accepted user: got %v", h.err)
	}
}

// TestR5GeneralModeAdvancedOps: in general mode callingInvite, callQuit, callEnd and callJoin →
// 6000286 whatever the user's state, while accept and reject follow the table.
func TestR5GeneralModeAdvancedOps(t *testing.T) {
	for _, st := range []UserState{Inviting, NotYetReceived, Received, Rejected, Accepted} {
		for _, op := range []string{"callinginvite w", "quit", "end", "join"} {
			t.Run(st.String()+"/"+strings.Fields(op)[0], func(t *testing.T) {
				lines := userIn(st, "general")
				who := "x@x2"
				if st == Accepted {
					lines, who = lines[:1], "alice@a2" // in general mode only the caller stays Accepted in a Started call
				}
				h := story(t, append(lines, "t=1000 "+who+" "+op)...)
				if h.code() != CodeNotAdvanced {
					t.Fatalf("got %v, want 6000286", h.err)
				}
			})
		}
	}
	h := story(t, append(userIn(Received, "general"), "t=1000 alice@a1 accept")...)
	if h.code() != CodeStateForbids {
		t.Fatalf("caller accept in general mode: got %v", h.err)
	}
}

// fixture puts one user in every state of an advanced call: alice (caller, Accepted, main a1),
// b (Accepted through the server API: no main device), c Inviting, d NotYetReceived, e Received,
// f Rejected, g Timeout, h Quit, i BeCancelled.
func fixture(t *testing.T) *harness {
	return story(t,
		"t=0 alice@a1 invite b d e f h i timeout=60 check mode=advanced",
		"t=100 b accept", "t=100 e@e1 receipt", "t=100 f@f1 reject", "t=100 h@h1 accept",
		"t=100 alice@a1 callinginvite g timeout=1",
		"t=200 h@h1 quit", "t=200 alice@a1 cancel i",
		"t=1100 tick",
		"t=4000 alice@a1 callinginvite c timeout=60",
		"t=5000 tick",
		"expect state alice=Accepted b=Accepted c=Inviting d=NotYetReceived e=Received f=Rejected g=Timeout h=Quit i=BeCancelled",
	)
}

// TestR5RecipientTable reproduces behaviour §5's "who receives what" table: for each event
// kind, a change that produces it in the fixture and exactly the recipients the table gives.
func TestR5RecipientTable(t *testing.T) {
	cases := []struct {
		name   string
		op     string
		expect []string
	}{
		{"UserStateChanged/listeners_and_own_reject", "t=6000 e@e1 reject", []string{
			"expect event callUserStateChanged to alice:only=a1 b:all c:all d:all e:all users=e"}},
		{"UserStateChanged/receipt", "t=6000 c@c1 receipt", []string{
			"expect event callUserStateChanged to alice:only=a1 b:all c:all d:all e:all users=c"}},
		{"UserStateChanged/own_accept_all_devices", "t=6000 d@d1 accept", []string{
			"expect event callUserStateChanged to alice:only=a1 b:all c:all d:all e:all users=d"}},
		{"UserStateChanged/own_quit_all_devices", "t=6000 alice@a1 quit", []string{
			"expect event callUserStateChanged to alice:all b:all c:all d:all e:all users=alice"}},
		{"Timeout/Received_and_NotYetReceived", "t=9000 tick; t=60000 tick", []string{
			"expect event callInvitationTimeout to d:all e:all",
			"expect event callUserStateChanged to alice:only=a1 b:all c:all users=d,e"}},
		{"Cancelled/targets_and_canceller_other_devices", "t=6000 alice@a1 cancel c d e", []string{
			"expect event callInvitationCancelled to c:all d:all e:all alice:but=a1 users=c,d,e",
			"expect event callUserStateChanged to alice:only=a1 b:all users=c,d,e"}},
		{"Ended/every_active_user", "t=6000 b end", []string{
			"expect events callInvitationEnded",
			"expect event callInvitationEnded to alice:all b:all c:all d:all e:all operated=b"}},
		{"Received/new_invitees_only", "t=6000 alice@a1 callinginvite f g h i", []string{
			"expect event callInvitationReceived to f:all g:all h:all i:all inviter=alice",
			"expect event callUserStateChanged to alice:only=a1 b:all c:all d:all e:all users=f,g,h,i"}},
		{"MainDeviceChanged/server_API_user_gets_a_device", "t=6000 b@b9 join", []string{
			"expect events callMainDeviceChanged", "expect event callMainDeviceChanged to b:all device=b9"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := fixture(t)
			for _, op := range strings.Split(c.op, "; ") {
				runLine(t, h, c.name, op)
			}
			runLine(t, h, c.name, "expect ok")
			for _, e := range c.expect {
				runLine(t, h, c.name, e)
			}
		})
	}
}
