package main

import (
	"context"
	"testing"

	"github.com/dialtone/dialtone/client"
)

// TestE2EStateOperationTable reproduces behaviour §5's state × operation table over the wire:
// an advanced call is brought to a state for user x, then x tries one operation and gets
// success or exactly the table's code. (Inviting and NotYetReceived cannot be held by a
// connected SDK, which acknowledges every ring at once; they equal Received in the table and
// are covered by internal/call's table tests.)
func TestE2EStateOperationTable(t *testing.T) {
	ts := startServer(t, "--max-invites-per-minute", "1000")
	const ok = client.ErrorCode(0)
	type op func(ctx context.Context, x *device, callID string) error
	ops := map[string]op{
		"accept": func(ctx context.Context, x *device, id string) error {
			_, err := x.CallAccept(ctx, id, client.OpConfig{})
			return err
		},
		"reject": func(ctx context.Context, x *device, id string) error {
			_, err := x.CallReject(ctx, id, client.OpConfig{})
			return err
		},
		"callingInvite": func(ctx context.Context, x *device, id string) error {
			_, err := x.CallingInvite(ctx, id, []string{x.user + "-friend"}, client.CallingInviteConfig{})
			return err
		},
		"quit": func(ctx context.Context, x *device, id string) error {
			_, err := x.CallQuit(ctx, id, client.OpConfig{})
			return err
		},
		"end": func(ctx context.Context, x *device, id string) error {
			_, err := x.CallEnd(ctx, id, client.OpConfig{})
			return err
		},
		"join": func(ctx context.Context, x *device, id string) error {
			_, err := x.CallJoin(ctx, id, client.OpConfig{})
			return err
		},
	}
	// setup brings x to the state; the caller stays Accepted so the call stays Started.
	type setup func(t *testing.T, caller, x *device, callID string)
	states := []struct {
		name    string
		timeout int
		setup   setup
		want    map[string]client.ErrorCode
	}{
		{"Received", 60, func(t *testing.T, caller, x *device, id string) {},
			map[string]client.ErrorCode{"accept": ok, "reject": ok, "callingInvite": client.CodeStateForbids,
				"quit": client.CodeStateForbids, "end": client.CodeStateForbids, "join": ok}},
		{"Accepted", 60, func(t *testing.T, caller, x *device, id string) {
			must(t, ops["accept"](t.Context(), x, id))
		}, map[string]client.ErrorCode{"accept": client.CodeStateForbids, "reject": client.CodeStateForbids,
			"callingInvite": ok, "quit": ok, "end": ok, "join": client.CodeAlreadyActive}},
		{"Timeout", 1, func(t *testing.T, caller, x *device, id string) {
			x.wait(id, "timeout")
		}, map[string]client.ErrorCode{"accept": client.CodeCallUnavailable, "reject": client.CodeCallUnavailable,
			"callingInvite": client.CodeStateForbids, "quit": client.CodeStateForbids, "end": client.CodeStateForbids, "join": ok}},
		{"Rejected", 60, func(t *testing.T, caller, x *device, id string) {
			must(t, ops["reject"](t.Context(), x, id))
		}, map[string]client.ErrorCode{"accept": client.CodeStateForbids, "reject": client.CodeStateForbids,
			"callingInvite": client.CodeStateForbids, "quit": client.CodeStateForbids, "end": client.CodeStateForbids, "join": ok}},
		{"Quit", 60, func(t *testing.T, caller, x *device, id string) {
			must(t, ops["accept"](t.Context(), x, id))
			must(t, ops["quit"](t.Context(), x, id))
		}, map[string]client.ErrorCode{"accept": client.CodeStateForbids, "reject": client.CodeStateForbids,
			"callingInvite": client.CodeStateForbids, "quit": client.CodeStateForbids, "end": client.CodeStateForbids, "join": ok}},
		{"BeCancelled", 60, func(t *testing.T, caller, x *device, id string) {
			_, err := caller.CallCancel(t.Context(), id, []string{x.user}, client.OpConfig{})
			must(t, err)
		}, map[string]client.ErrorCode{"accept": client.CodeStateForbids, "reject": client.CodeStateForbids,
			"callingInvite": client.CodeStateForbids, "quit": client.CodeStateForbids, "end": client.CodeStateForbids,
			"join": client.CodeStateForbids}},
	}
	for _, st := range states {
		for name, op := range ops {
			t.Run(st.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				caller := ts.login(t, "c-"+st.name+"-"+name, "d")
				x := ts.login(t, "x-"+st.name+"-"+name, "d")
				res, err := caller.CallInvite(t.Context(), []string{x.user}, client.InviteConfig{Mode: client.ModeAdvanced, Timeout: st.timeout})
				must(t, err)
				if st.name != "Timeout" { // a 1 s ring may end before the receipt on a busy machine: Timeout either way
					caller.wait(res.CallID, "changed "+x.user+"=Received")
				}
				st.setup(t, caller, x, res.CallID)
				if got := code(op(t.Context(), x, res.CallID)); got != st.want[name] {
					t.Errorf("§5: %s in state %s: code %d, want %d", name, st.name, got, st.want[name])
				}
			})
		}
	}
}

// §5 footnote: in general mode callingInvite, callQuit, callEnd and callJoin → 6000286.
func TestE2EGeneralModeRefusesAdvancedOps(t *testing.T) {
	ts := startServer(t)
	alice, bob := ts.login(t, "alice", "a"), ts.login(t, "bob", "b")
	res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	bob.wait(res.CallID, "received from alice")
	ctx := t.Context()
	for name, err := range map[string]error{
		"callingInvite": second(alice.CallingInvite(ctx, res.CallID, []string{"carol"}, client.CallingInviteConfig{})),
		"callQuit":      second(alice.CallQuit(ctx, res.CallID, client.OpConfig{})),
		"callEnd":       second(alice.CallEnd(ctx, res.CallID, client.OpConfig{})),
		"callJoin":      second(bob.CallJoin(ctx, res.CallID, client.OpConfig{})),
	} {
		if code(err) != client.CodeNotAdvanced {
			t.Errorf("%s on a general call: got %v, want 6000286", name, err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func second[T any](_ T, err error) error { return err }
