package switchboard_test

import (
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
)

// sameReply reports a repeat's reply that is not the first one (R7.3): another call, version
// or decision time.
func sameReply(t *testing.T, what string, first, again switchboard.Result, err error) {
	t.Helper()
	if err != nil || again.Call.ID != first.Call.ID || again.Call.Version != first.Call.Version || again.Now != first.Now {
		t.Errorf("%s: call %s version %d now %d, %v; want the first reply (call %s version %d now %d)", what,
			again.Call.ID, again.Call.Version, again.Now, err, first.Call.ID, first.Call.Version, first.Now)
	}
}

// R7.3, docs/behaviour.md §12 ("The same parameters"): a repeat that spells a request with a
// default where the first left the field out, or the other way round, is the same request and
// gets the first reply: a timeout of 90 and none (R3.1, R3.6), a callCancel's empty and absent
// invitees (R3.2). Past the invite limit it is found as a repeat too.
func TestIdempotentRepeatSpelledWithDefaults(t *testing.T) {
	sb, clock := newSwitchboard(t)
	bob := []string{"bob"}
	for _, c := range []struct {
		name, key    string
		first, again int
	}{
		{"timeout absent, then 90", "invite-key-1-0123456789", 0, 90},
		{"timeout 90, then absent", "invite-key-2-0123456789", 90, 0},
	} {
		key := c.key
		first, err := sb.Invite(t.Context(), call.Invite{Actor: actor("alice"), Invitees: bob, Timeout: c.first}, key)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
		again := call.Invite{Actor: actor("alice"), Invitees: bob, Timeout: c.again}
		res, err := sb.Invite(t.Context(), again, key)
		sameReply(t, "callInvite, "+c.name, first, res, err)
		res, found, err := sb.Repeat(t.Context(), "alice", "", again, key)
		sameReply(t, "callInvite past the invite limit, "+c.name, first, res, err)
		if !found {
			t.Errorf("callInvite past the invite limit, %s: not found as a repeat", c.name)
		}
		do(t, sb, first.Call.ID, call.Cancel{Actor: actor("alice")})
	}

	id := invite(t, sb, "alice", call.Advanced, 60, "bob")
	do(t, sb, id, call.Accept{Actor: actor("bob")})
	const moreKey = "calling-invite-key-0123456789"
	first, err := sb.Do(t.Context(), id, call.CallingInvite{Actor: actor("alice"), Invitees: []string{"carol"}}, moreKey)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	res, err := sb.Do(t.Context(), id, call.CallingInvite{Actor: actor("alice"), Invitees: []string{"carol"}, Timeout: 90}, moreKey)
	sameReply(t, "callingInvite, timeout absent, then 90", first, res, err)
	do(t, sb, id, call.End{Actor: actor("alice")})

	id = invite(t, sb, "alice", call.Advanced, 60, "dave")
	const cancelKey = "cancel-key-0123456789"
	first, err = sb.Do(t.Context(), id, call.Cancel{Actor: actor("alice")}, cancelKey)
	if err != nil {
		t.Fatal(err)
	}
	res, err = sb.Do(t.Context(), id, call.Cancel{Actor: actor("alice"), Invitees: []string{}}, cancelKey)
	sameReply(t, "callCancel, invitees absent, then empty", first, res, err)
}

// R7.3: what changes a request's meaning or its reply makes another request, refused with
// 6000001 under the first one's key: another timeout, a pushConfig (even an empty one, which
// asks for pushes, §9) where the first had none, the invitees in another order (the order of
// callUserList and errorUserList), another extendedData.
func TestIdempotencyKeyWithOtherParameters(t *testing.T) {
	sb, _ := newSwitchboard(t)
	base := call.Invite{Actor: actor("alice"), Invitees: []string{"bob", "carol"}, Timeout: 90}
	const key = "other-parameters-0123456789"
	if _, err := sb.Invite(t.Context(), base, key); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*call.Invite){
		"timeout 91":         func(in *call.Invite) { in.Timeout = 91 },
		"an empty push":      func(in *call.Invite) { in.Push = &call.PushConfig{} },
		"invitees reordered": func(in *call.Invite) { in.Invitees = []string{"carol", "bob"} },
		"extendedData":       func(in *call.Invite) { in.ExtendedData = " " },
		"advanced mode":      func(in *call.Invite) { in.Mode = call.Advanced },
	} {
		in := base
		change(&in)
		_, err := sb.Invite(t.Context(), in, key)
		wantCode(t, "the key with "+name, err, call.CodeInvalidParameter)
	}
}
