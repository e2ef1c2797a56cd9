package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/protocol"
)

// §11, R3.10, R3.11, R3.7: a user learns nothing about a call it is not in. For every op that
// takes a callID, over the WebSocket and through the server REST API, the refusal a non-member
// gets for a call going on, in either mode, or one that ended, is the one it gets for a call ID
// that never existed, well-formed or not: the same code and the same message (and, through
// REST, the same status). With --join-policy anyone too, where the only difference is the join
// the policy lets a newcomer make, of a Started advanced call (docs/behaviour.md §12): its
// join of a general-mode call is refused as an unknown call's, not with 6000286.
func TestE2ENonMembersLearnNothingOfACall(t *testing.T) {
	for _, policy := range []string{"members", "anyone"} {
		t.Run(policy, func(t *testing.T) { nonMembersLearnNothing(t, policy) })
	}
}

// nonMembersLearnNothing is TestE2ENonMembersLearnNothingOfACall under one join policy.
func nonMembersLearnNothing(t *testing.T, policy string) {
	ts := startServer(t, "--api-key", apiKey, "--join-policy", policy,
		"--max-requests-per-second", "1000", "--max-invites-per-minute", "1000") // mallory makes many requests
	ctx := t.Context()
	alice, bob, mallory := ts.login(t, "alice", "a"), ts.login(t, "bob", "b"), ts.login(t, "mallory", "m")
	ringing, err := alice.CallInvite(ctx, []string{"carol"}, advanced)
	must(t, err)
	answered, err := bob.CallInvite(ctx, []string{"dave"}, advanced)
	must(t, err)
	must(t, second(ts.login(t, "dave", "d").CallAccept(ctx, answered.CallID, client.OpConfig{})))
	frank := ts.login(t, "frank", "f")
	ended, err := frank.CallInvite(ctx, []string{"erin"}, client.InviteConfig{})
	must(t, err)
	must(t, second(frank.CallCancel(ctx, ended.CallID, nil, client.OpConfig{})))
	general, err := ts.login(t, "gina", "g").CallInvite(ctx, []string{"hank"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	group, err := ts.login(t, "ivan", "i").CallInvite(ctx, []string{"judy", "kim"}, client.InviteConfig{Timeout: 60})
	must(t, err)
	must(t, second(ts.login(t, "judy", "j").CallAccept(ctx, group.CallID, client.OpConfig{})))
	// A well-formed ID that names no call: a real one with its last character changed.
	id, last := ringing.CallID, "0"
	if strings.HasSuffix(id, last) {
		last = "1"
	}
	unknown := id[:len(id)-1] + last
	// joinable: a call mallory's callJoin would join under the policy, so not one to refuse.
	calls := []struct {
		what, callID string
		joinable     bool
	}{
		{"a call that never existed", unknown, false},
		{"a ringing call", ringing.CallID, policy == "anyone"},
		{"an answered call", answered.CallID, policy == "anyone"},
		{"an ended call", ended.CallID, false},
		{"a malformed call ID", "not a call ID!", false},
		{"a ringing general-mode call", general.CallID, false},
		{"an answered general-mode group call", group.CallID, false},
	}

	before, err := alice.QueryCall(ctx, ringing.CallID)
	must(t, err)

	ops := map[string]func(callID string) error{
		"callCancel": func(c string) error { return second(mallory.CallCancel(ctx, c, nil, client.OpConfig{})) },
		"callAccept": func(c string) error { return second(mallory.CallAccept(ctx, c, client.OpConfig{})) },
		"callReject": func(c string) error { return second(mallory.CallReject(ctx, c, client.OpConfig{})) },
		"callingInvite": func(c string) error {
			return second(mallory.CallingInvite(ctx, c, []string{"zoe"}, client.CallingInviteConfig{}))
		},
		"callJoin":     func(c string) error { return second(mallory.CallJoin(ctx, c, client.OpConfig{})) },
		"callQuit":     func(c string) error { return second(mallory.CallQuit(ctx, c, client.OpConfig{})) },
		"callEnd":      func(c string) error { return second(mallory.CallEnd(ctx, c, client.OpConfig{})) },
		"callReceived": func(c string) error { return mallory.CallReceived(ctx, c) },
		"queryCall":    func(c string) error { return second(mallory.QueryCall(ctx, c)) },
	}
	for op, do := range ops {
		var first protocol.Error
		for i, c := range calls {
			if op == "callJoin" && c.joinable {
				continue
			}
			var pe *protocol.Error
			if err := do(c.callID); !errors.As(err, &pe) {
				t.Errorf("%s on %s: %v, want a refusal", op, c.what, err)
				continue
			}
			switch {
			case i == 0 && pe.Code != protocol.CodeCallUnavailable:
				t.Errorf("%s on %s: code %d, want 6000276", op, c.what, pe.Code)
			case i == 0:
				first = *pe
			case *pe != first:
				t.Errorf("%s on %s: %+v; on %s: %+v, want the same reply", op, c.what, *pe, calls[0].what, first)
			}
		}
	}

	user := `{"userID":"mallory"}`
	endpoints := map[string]func(callID string) (int, map[string]any){
		"GET": func(c string) (int, map[string]any) {
			return apiCall(t, ts, "GET", "/v1/api/calls/"+url.PathEscape(c)+"?userID=mallory", apiKey, "")
		},
		"accept": func(c string) (int, map[string]any) {
			return apiCall(t, ts, "POST", "/v1/api/calls/"+url.PathEscape(c)+"/accept", apiKey, user)
		},
		"reject": func(c string) (int, map[string]any) {
			return apiCall(t, ts, "POST", "/v1/api/calls/"+url.PathEscape(c)+"/reject", apiKey, user)
		},
		"cancel": func(c string) (int, map[string]any) {
			return apiCall(t, ts, "POST", "/v1/api/calls/"+url.PathEscape(c)+"/cancel", apiKey, user)
		},
		"end": func(c string) (int, map[string]any) {
			return apiCall(t, ts, "POST", "/v1/api/calls/"+url.PathEscape(c)+"/end", apiKey, user)
		},
	}
	for name, do := range endpoints {
		var first string
		for i, c := range calls {
			st, body := do(c.callID)
			got := fmt.Sprint(st, " ", body)
			switch {
			case i == 0 && (st != http.StatusNotFound || errCode(body) != float64(protocol.CodeCallUnavailable)):
				t.Errorf("REST %s on %s: %s, want 404 and 6000276", name, c.what, got)
			case i == 0:
				first = got
			case got != first:
				t.Errorf("REST %s on %s: %s; on %s: %s, want the same answer", name, c.what, got, calls[0].what, first)
			}
		}
	}

	// The refusals changed nothing, and told mallory nothing by any event (§5).
	if after, err := alice.QueryCall(ctx, ringing.CallID); err != nil || after.Version != before.Version {
		t.Errorf("the refusals changed the ringing call: version %d, then %d (%v)", before.Version, after.Version, err)
	}
	for _, c := range calls {
		mallory.expect(ts, c.callID)
	}
}
