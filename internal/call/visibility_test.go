package call

import (
	"reflect"
	"strings"
	"testing"
)

// TestNonMemberRefusalHidesTheCall (§11, §8, R3.7, docs/behaviour.md §12): a user who was never
// in a call gets, for every op it aims at the call, exactly the refusal of an unknown call
// (6000276, same reason), whatever the call's mode and state and whatever the join policy, so
// a refusal tells it neither that the call exists nor its mode. The one exception is the join
// that joinPolicy anyone lets it make: a Started advanced call's, which succeeds.
func TestNonMemberRefusalHidesTheCall(t *testing.T) {
	calls := map[string][]string{
		"general ringing":  {"t=0 alice@a1 invite bob timeout=30"},
		"general group":    {"t=0 alice@a1 invite bob carol timeout=30", "t=100 bob@b1 accept"},
		"general ended":    {"t=0 alice@a1 invite bob timeout=30", "t=100 bob@b1 accept"},
		"advanced ringing": {"t=0 alice@a1 invite bob timeout=30 mode=advanced"},
		"advanced ended":   {"t=0 alice@a1 invite bob timeout=30 mode=advanced", "t=100 alice@a1 end"},
	}
	ops := []string{"accept", "reject", "cancel", "cancel bob", "callinginvite w", "quit", "end", "join", "receipt"}
	want := Unavailable()
	for _, policy := range []JoinPolicy{JoinMembers, JoinAnyone} {
		for name, lines := range calls {
			for _, op := range ops {
				joins := policy == JoinAnyone && name == "advanced ringing" && op == "join"
				t.Run(map[JoinPolicy]string{JoinMembers: "members", JoinAnyone: "anyone"}[policy]+"/"+name+"/"+op, func(t *testing.T) {
					h := newHarness(t)
					h.cfg.JoinPolicy = policy
					for i, l := range lines {
						runLine(t, h, "line "+string(rune('1'+i)), l)
					}
					before := h.call.Clone()
					runLine(t, h, op, "t=1000 zoe@z1 "+op)
					switch {
					case joins && h.err != nil:
						t.Fatalf("a newcomer's join under joinPolicy anyone: %v, want a success", h.err)
					case joins:
						return
					case !reflect.DeepEqual(h.err, want):
						t.Fatalf("zoe %s: %v, want the unknown call's refusal %v", strings.Fields(op)[0], h.err, want)
					case h.call.User("zoe") != nil || h.call.Version != before.Version:
						t.Fatalf("zoe's refused %s changed the call: %+v", op, h.call)
					}
				})
			}
		}
	}
}
