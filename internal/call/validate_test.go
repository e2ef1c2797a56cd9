package call

import (
	"strconv"
	"strings"
	"testing"
)

// TestR3_1CreateValidation: callInvite's parameters and counts, with §8's precedence.
func TestR3_1CreateValidation(t *testing.T) {
	ok := Invite{Actor: Actor{UserID: "alice", DeviceID: "a1"}, CallID: "c", Invitees: []string{"bob"}}
	long := strings.Repeat("x", 2049)
	ten := []string{"b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9"}
	cases := []struct {
		name string
		edit func(*Invite, *Config)
		want Code
	}{
		{"valid", func(*Invite, *Config) {}, 0},
		{"empty_invitees_6000001", func(in *Invite, _ *Config) { in.Invitees = nil }, 6000001},
		{"ten_invitees_6000272", func(in *Invite, _ *Config) { in.Invitees = ten }, 6000272},
		{"ten_invalid_invitees_6000272_before_6000281", func(in *Invite, _ *Config) {
			in.Invitees = []string{"", " ", "alice", "alice", "x y", "z z", "é", "\t", "?\n", "a,b"}
		}, 6000272},
		{"timeout_negative_6000001", func(in *Invite, _ *Config) { in.Timeout = -1 }, 6000001},
		{"timeout_601_6000001", func(in *Invite, _ *Config) { in.Timeout = 601 }, 6000001},
		{"timeout_600", func(in *Invite, _ *Config) { in.Timeout = 600 }, 0},
		{"extendedData_2049_6000001", func(in *Invite, _ *Config) { in.ExtendedData = long }, 6000001},
		{"extendedData_2048", func(in *Invite, _ *Config) { in.ExtendedData = long[1:] }, 0},
		{"push_title_257_6000001", func(in *Invite, _ *Config) { in.Push = &PushConfig{Title: long[:257]} }, 6000001},
		{"push_content_257_6000001", func(in *Invite, _ *Config) { in.Push = &PushConfig{Content: long[:257]} }, 6000001},
		{"push_payload_2049_6000001", func(in *Invite, _ *Config) { in.Push = &PushConfig{Payload: long} }, 6000001},
		{"push_resources_33_6000001", func(in *Invite, _ *Config) { in.Push = &PushConfig{ResourcesID: long[:33]} }, 6000001},
		{"push_at_limits", func(in *Invite, _ *Config) {
			in.Push = &PushConfig{Title: long[:256], Content: long[:256], Payload: long[:2048], ResourcesID: long[:32]}
		}, 0},
		{"invalid_caller_6000001", func(in *Invite, _ *Config) { in.UserID = "al ice" }, 6000001},
		{"caller_33_bytes_6000001", func(in *Invite, _ *Config) { in.UserID = long[:33] }, 6000001},
		{"invalid_device_6000001", func(in *Invite, _ *Config) { in.DeviceID = "a 1" }, 6000001},
		{"server_API_no_device", func(in *Invite, _ *Config) { in.DeviceID = "" }, 0},
		{"unknown_mode_6000001", func(in *Invite, _ *Config) { in.Mode = 5 }, 6000001},
		{"mode_minus_one_is_general", func(in *Invite, _ *Config) { in.Mode = -1 }, 0},
		{"only_invalid_6000281", func(in *Invite, _ *Config) { in.Invitees = []string{"alice", "b b"} }, 6000281},
		{"maxCallUsers_6000272", func(in *Invite, cfg *Config) { cfg.MaxCallUsers = 2; in.Invitees = []string{"b", "c"} }, 6000272},
		{"maxCallUsers_counts_valid_only", func(in *Invite, cfg *Config) { cfg.MaxCallUsers = 2; in.Invitees = []string{"b", "b", "alice"} }, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, cfg := ok, DefaultConfig()
			c.edit(&in, &cfg)
			out, err := Create(in, cfg, 1000)
			if got := codeOf(t, err); got != c.want {
				t.Fatalf("got %d, want %d", got, c.want)
			}
			if err == nil && (out.Call.Version != 1 || out.MustBeFree != "alice" || out.Call.Mode == -1) {
				t.Fatalf("bad outcome %+v", out)
			}
		})
	}
}

func codeOf(t *testing.T, err error) Code {
	t.Helper()
	if err == nil {
		return 0
	}
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("%v is not a *Error", err)
	}
	return e.Code
}

// TestR3_1ErrorUserListAndDefaults: errorUserList reasons, the default timeout and deadlines.
func TestR3_1ErrorUserListAndDefaults(t *testing.T) {
	story(t, "t=1000 alice@a1 invite bob alice bob b!d carol",
		"expect errorusers alice=6000001 bob=6000001",
		"expect state bob=Inviting b!d=Inviting carol=Inviting")
	h := story(t, "t=1000 alice@a1 invite bob alice bob b!d zo√e",
		"expect errorusers alice=6000001 bob=6000001 zo√e=6000001")
	if u := h.call.User("bob"); u.Deadline != 1000+90_000 || u.InviteTimeout != 90 || h.last.Timeout != 90 || u.Inviter != "alice" {
		t.Fatalf("R3.1 default timeout: %+v", u)
	}
}

// TestR3_6CallingInviteCounts: errorUserList, 6000281, and maxCallUsers all or nothing.
func TestR3_6CallingInviteCounts(t *testing.T) {
	base := []string{"t=0 alice@a1 invite bob timeout=30 mode=advanced", "t=100 bob@b1 accept"}
	story(t, append(base, "t=200 bob@b1 callinginvite alice bob", "expect error 6000281")...)
	story(t, append(base, "t=200 bob@b1 callinginvite c0 c1 c2 c3 c4 c5 c6 c7 c8 c9", "expect error 6000272")...)
	h := newHarness(t)
	h.cfg.MaxCallUsers = 3
	for i, l := range append(base, "t=200 bob@b1 callinginvite c0 c1", "expect error 6000272",
		"t=200 bob@b1 callinginvite c0", "expect ok", "t=300 alice@a1 callinginvite c1", "expect error 6000272",
		"t=300 c0@c0 reject", "t=400 alice@a1 callinginvite c0 c1", "expect error 6000272",
		"t=400 alice@a1 callinginvite c0", "expect ok") {
		runLine(t, h, "line "+string(rune('1'+i)), l)
	}
	if u := h.call.User("c0"); u.Inviter != "alice" || u.State != Inviting {
		t.Fatalf("R3.6 re-invite: %+v", u)
	}
	// §8: 6000001 (parameters) comes before 6000276 (not a member) and 6000286.
	story(t, append(base, "t=200 zoe@z1 callinginvite c0 timeout=601", "expect error 6000001")...)
	story(t, "t=0 alice@a1 invite bob", "t=0 alice@a1 callinginvite", "expect error 6000001")
}

// TestCallUserListBounded (R3.6, R3.7): a call lists at most MaxListedUsers users, so that
// every frame that carries its callUserList stays one clients take (docs/behaviour.md §12). A
// callingInvite or a callJoin that would list more is 6000272; re-inviting users already
// listed still works.
func TestCallUserListBounded(t *testing.T) {
	h := newHarness(t)
	h.cfg.JoinPolicy, h.cfg.MaxCallUsers = JoinAnyone, 20
	runLine(t, h, "create", "t=0 alice@a1 invite u0 timeout=30 mode=advanced")
	alice := Actor{UserID: "alice", DeviceID: "a1"}
	for n := 1; len(h.call.Users) < MaxListedUsers; n++ { // 9 users at a time, then cancelled
		var ids []string
		for len(ids) < min(9, MaxListedUsers-len(h.call.Users)) {
			ids = append(ids, "u"+strconv.Itoa(len(h.call.Users)-1+len(ids)))
		}
		h.do(CallingInvite{Actor: alice, Invitees: ids}, int64(n))
		if h.err != nil {
			t.Fatalf("invite of %v with %d users listed: %v", ids, len(h.call.Users), h.err)
		}
		h.do(Cancel{Actor: alice, Invitees: ids}, int64(n))
		if h.err != nil {
			t.Fatalf("cancel of %v: %v", ids, h.err)
		}
	}
	for i, l := range []string{
		"t=5000 alice@a1 callinginvite newcomer", "expect error 6000272",
		"t=5000 newcomer@n1 join", "expect error 6000272",
		"t=5000 alice@a1 callinginvite u1 u2", "expect ok",
		"t=5000 u1@d join", "expect ok",
	} {
		runLine(t, h, "line "+strconv.Itoa(i+1), l)
	}
	if len(h.call.Users) != MaxListedUsers {
		t.Errorf("the call lists %d users, want %d", len(h.call.Users), MaxListedUsers)
	}
}

// TestR3_7JoinPolicy: JoinAnyone lets a stranger join (inviter ""), within maxCallUsers.
func TestR3_7JoinPolicy(t *testing.T) {
	h := newHarness(t)
	h.cfg.JoinPolicy = JoinAnyone
	h.cfg.MaxCallUsers = 3
	for i, l := range []string{"t=0 alice@a1 invite bob timeout=30 mode=advanced", "t=100 zoe@z1 join",
		"expect ok", "expect webhooks call_join", "expect mustbefree zoe", "expect busy zoe=true",
		"expect event callUserStateChanged to alice:only=a1 bob:all zoe:all users=zoe",
		"t=200 yan@y1 join", "expect error 6000272"} {
		runLine(t, h, "line "+string(rune('1'+i)), l)
	}
	if u := h.call.User("zoe"); u.Inviter != "" || u.MainDevice != "z1" || u.AcceptTime != 100 || !h.call.Answered {
		t.Fatalf("joiner %+v", u)
	}
	story(t, "t=0 alice@a1 invite bob timeout=30 mode=advanced", "t=100 zoe@z1 join", "expect error 6000276")
}

// TestR3_2CancelRules: who may cancel, subset and whole, errorInvitees.
func TestR3_2CancelRules(t *testing.T) {
	adv := []string{"t=0 alice@a1 invite bob carol timeout=30 mode=advanced", "t=100 bob@b1 accept"}
	story(t, append(adv, "t=200 alice@a1 cancel bob", "expect error 6000271")...)
	story(t, append(adv, "t=200 alice@a1 cancel", "expect error 6000271")...)
	story(t, append(adv, "t=200 bob@b1 cancel carol", "expect error 6000273")...)
	story(t, append(adv, "t=200 zoe@z1 cancel carol", "expect error 6000276")...)
	story(t, append(adv, "t=200 alice@a1 quit", "t=300 alice@a1 cancel carol", "expect error 6000273")...)
	story(t, append(adv, "t=200 carol@c1 reject", "t=300 alice@a1 cancel carol zoe", "expect ok", "expect nochange",
		"expect errorinvitees carol zoe")...)
	story(t, "t=0 alice@a1 invite bob carol timeout=30", "t=100 carol@c1 reject", "t=200 alice cancel carol",
		"expect errorinvitees carol", "expect state bob=BeCancelled carol=Rejected",
		"expect event callInvitationCancelled to bob:all alice:all users=bob")
}

// TestR5_2CheckAndTimeoutTogether: a ring timeout due with a not-received check wins (R3.5).
func TestR5_2CheckAndTimeoutTogether(t *testing.T) {
	story(t, "t=0 alice@a1 invite bob timeout=5 check push", "t=5000 tick",
		"expect state bob=Timeout", "expect pushes withdrawal:bob", "expect call Ended version=2")
}

// TestR5_2CheckPassedWithItsRingDeadline: a not-received check and the ring deadline after it
// both passed while the server was down. They apply in the order of their instants (R3.5), but
// the check's push (R5.2) would ring a device for an invitation already timed out: none is sent.
func TestR5_2CheckPassedWithItsRingDeadline(t *testing.T) {
	story(t, "t=0 alice@a1 invite bob carol timeout=10 check push", "t=60000 tick",
		"expect state bob=Timeout carol=Timeout", "expect pushes withdrawal:bob withdrawal:carol",
		"expect call Ended version=3 endtime=10000")
	// A check whose user still rings at now pushes as ever.
	story(t, "t=0 alice@a1 invite bob timeout=10 check push", "t=9000 tick",
		"expect state bob=NotYetReceived", "expect pushes invitation:bob:always")
}

// TestR10bUserFields: acceptTime, inviter, extendedData, main device across a re-invite.
func TestR10bUserFields(t *testing.T) {
	h := story(t, "t=0 alice@a1 invite bob timeout=30 mode=advanced data=inv", "t=100 bob@b1 accept data=hi",
		"t=200 bob@b1 quit data=bye")
	if u := h.call.User("bob"); u.AcceptTime != 100 || u.MainDevice != "" || u.ExtendedData != "bye" || u.UpdateTime != 200 {
		t.Fatalf("after quit %+v", u)
	}
	runLine(t, h, "reinvite", "t=300 alice@a1 callinginvite bob timeout=10 data=again push")
	u := h.call.User("bob")
	if u.AcceptTime != 0 || u.Inviter != "alice" || u.ExtendedData != "" || u.InviteData != "again" ||
		u.InvitePush == nil || u.Deadline != 10300 || u.InviteTimeout != 10 {
		t.Fatalf("after re-invite %+v", u)
	}
	if c := h.call.User("alice"); c.AcceptTime != 0 || c.MainDevice != "a1" {
		t.Fatalf("caller %+v", c)
	}
}

// TestR9EndPushes: callEnd's push goes to its event's recipients, a withdrawal instead to a
// pending user invited with a pushConfig (§9), with the end push as its alternative, for when
// the user was sent no invitation push (online when invited).
func TestR9EndPushes(t *testing.T) {
	story(t, "t=0 alice@a1 invite bob timeout=30 mode=advanced push", "t=100 bob@b1 accept",
		"expect pushes withdrawal:bob", "t=200 bob@b1 callinginvite carol dave push", "t=300 alice@a1 end push",
		"expect pushes withdrawal:carol:else-end withdrawal:dave:else-end end:alice end:bob")
	story(t, "t=0 alice@a1 invite bob timeout=30 mode=advanced", "t=100 bob@b1 accept", "t=300 alice@a1 end",
		"expect pushes none")
}

// TestR9QuitPushAsAWithdrawalsAlternative: the last callQuit ends the call; bob, still
// ringing, gets a withdrawal whose alternative is the quit push (§9: he gets callQuit's
// event); a quit that leaves the call going gives a ringing user the quit push itself.
func TestR9QuitPushAsAWithdrawalsAlternative(t *testing.T) {
	story(t, "t=0 alice@a1 invite bob carol timeout=30 mode=advanced push", "t=100 carol@c1 accept",
		"expect pushes withdrawal:carol", "t=200 carol@c1 quit push", "expect pushes quit:alice quit:bob quit:carol",
		"t=300 alice@a1 quit push", "expect pushes withdrawal:bob:else-quit quit:alice")
}

// TestR9WithdrawalsWithoutAnOpPushConfig: a pending user invited with a pushConfig who stops
// being pending by an op that carries none (a reject, a join, a glare cancel, R3.3b) gets a
// withdrawal with the invitation's pushConfig (§9); in a call that goes on, only that user.
func TestR9WithdrawalsWithoutAnOpPushConfig(t *testing.T) {
	for _, end := range [][]string{
		{"t=100 bob@b1 reject", "expect pushes withdrawal:bob"},
		{"t=100 bob@b1 join", "expect pushes withdrawal:bob"},
		{"t=100 glare alice", "expect pushes withdrawal:bob withdrawal:carol"},
	} {
		h := story(t, append([]string{"t=0 alice@a1 invite bob carol timeout=30 mode=advanced push"}, end...)...)
		if inv := h.call.User("bob").InvitePush; inv == nil || inv.ResourcesID != "ring" {
			t.Fatalf("bob's invitation push %+v, want the profile ring", inv)
		}
		for _, p := range h.last.Pushes {
			if p.Config.Title != "t" || p.Config.ResourcesID != "" {
				t.Errorf("%s: push %+v, want the invitation's pushConfig without its profile (docs/behaviour.md §12)", end[0], p)
			}
		}
	}
}

// TestNoAliasing: results share no memory with inputs.
func TestNoAliasing(t *testing.T) {
	push := &PushConfig{Title: "t"}
	in := Invite{Actor: Actor{UserID: "alice"}, CallID: "c", Invitees: []string{"bob"}, Push: push}
	out, _ := Create(in, DefaultConfig(), 1)
	push.Title = "changed"
	if out.Call.User("bob").InvitePush.Title != "t" {
		t.Fatal("Create kept the input's pushConfig")
	}
	c := out.Call
	next := Expire(c, DefaultConfig(), 100_000)
	next.Call.Users[0].ID = "mallory"
	next.Call.User("bob").InvitePush.Title = "x"
	if c.Users[0].ID != "alice" || c.User("bob").InvitePush.Title != "t" {
		t.Fatal("Expire's result aliases its input")
	}
	if _, err := Apply(c, nil, DefaultConfig(), 2); codeOf(t, err) != CodeInvalidParameter {
		t.Fatal("nil input accepted")
	}
}
