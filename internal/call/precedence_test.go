package call

import (
	"strings"
	"testing"
)

// TestR8PrecedenceWhenSeveralCodesApply: when an op meets several refusals of §8, the first in
// its order wins, whatever the order the rules are written in (R3.1–R3.9).
func TestR8PrecedenceWhenSeveralCodesApply(t *testing.T) {
	ten := "u1 u2 u3 u4 u5 u6 u7 u8 u9 u10"
	adv := "t=0 alice@a1 invite bob carol timeout=30 mode=advanced"
	for _, tc := range []struct {
		name  string
		lines []string
		want  string
	}{
		// 6000001 before 6000272: a bad timeout with ten invitees.
		{"invite timeout and count", []string{"t=0 alice@a1 invite " + ten + " timeout=601"}, "6000001"},
		// 6000286 before 6000274 and 6000272: a Rejected user's callingInvite of ten in a general call.
		{"general callingInvite", []string{"t=0 alice@a1 invite bob carol timeout=30", "t=100 bob@b1 reject",
			"t=200 bob@b1 callinginvite " + ten}, "6000286"},
		// 6000274 before 6000272: a pending user's callingInvite of ten.
		{"pending callingInvite", []string{adv, "t=100 bob@b1 callinginvite " + ten}, "6000274"},
		// 6000272 before 6000281: ten entries, none valid.
		{"ten invalid", []string{adv, "t=100 alice@a1 callinginvite alice bob carol bob carol bob carol bob carol bob"}, "6000272"},
		// 6000273 before 6000271: targets both Accepted and invited by someone else.
		{"cancel of accepted by another's invitee", []string{adv, "t=100 bob@b1 accept", "t=200 carol@c1 accept",
			"t=300 bob@b1 callinginvite dave", "t=400 alice@a1 cancel carol dave"}, "6000273"},
		// 6000274 before 6000272: a BeCancelled user's join of a full call.
		{"cancelled join of full call", []string{adv, "t=100 alice@a1 cancel bob", "t=200 alice@a1 callinginvite dave erin",
			"t=300 bob@b1 join"}, "6000274"},
		// 6000276 before 6000274: an accept after the ring timed out, by a user also not pending.
		{"timed out accept", []string{adv, "t=30000 bob@b1 accept"}, "6000276"},
		// 6000276 before 6000286: a member's join of an ended general call.
		{"ended general join", []string{"t=0 alice@a1 invite bob", "t=100 bob@b1 reject", "t=200 bob@b1 join"}, "6000276"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.cfg.MaxCallUsers = 4
			for i, l := range tc.lines {
				runLine(t, h, tc.name+" line "+string(rune('1'+i)), l)
			}
			if msg := expect(h, []string{"error", tc.want}); msg != "" {
				t.Errorf("%s: %s, want %s", strings.Join(tc.lines, "; "), msg, tc.want)
			}
		})
	}
}

// TestR3_1ExtendedDataBounds: every op's config.extendedData and pushConfig fields are taken up
// to their §3/§9 sizes in bytes and refused one byte past them (6000001).
func TestR3_1ExtendedDataBounds(t *testing.T) {
	a := Actor{UserID: "bob", DeviceID: "b1"}
	for _, n := range []int{2048, 2049} {
		data := strings.Repeat("é", n/2) + strings.Repeat("x", n%2) // bytes, not characters
		want := map[int]Code{2048: 0, 2049: CodeInvalidParameter}[n]
		for _, in := range []Input{Cancel{Actor: a, ExtendedData: data}, Accept{Actor: a, ExtendedData: data},
			Reject{Actor: a, ExtendedData: data}, CallingInvite{Actor: a, Invitees: []string{"x"}, ExtendedData: data},
			Join{Actor: a, ExtendedData: data}, QuitCall{Actor: a, ExtendedData: data}, End{Actor: a, ExtendedData: data}} {
			if got := codeOrZero(Check(in)); got != want {
				t.Errorf("%T with %d bytes of extendedData: %d, want %d", in, n, got, want)
			}
		}
		if _, err := Create(Invite{Actor: a, CallID: "c", Invitees: []string{"x"}, ExtendedData: data}, DefaultConfig(), 1); codeOrZero(err) != want {
			t.Errorf("Invite with %d bytes of extendedData: %v, want %d", n, err, want)
		}
	}
	for _, p := range []struct {
		push PushConfig
		want Code
	}{
		{PushConfig{Title: strings.Repeat("t", 256), Content: strings.Repeat("c", 256), Payload: strings.Repeat("p", 2048),
			ResourcesID: strings.Repeat("r", 32)}, 0},
		{PushConfig{Title: strings.Repeat("t", 257)}, CodeInvalidParameter},
		{PushConfig{Content: strings.Repeat("c", 257)}, CodeInvalidParameter},
		{PushConfig{Payload: strings.Repeat("p", 2049)}, CodeInvalidParameter},
		{PushConfig{ResourcesID: strings.Repeat("r", 33)}, CodeInvalidParameter},
	} {
		if got := codeOrZero(Check(QuitCall{Actor: a, Push: &p.push})); got != p.want {
			t.Errorf("pushConfig %d/%d/%d/%d bytes: %d, want %d", len(p.push.Title), len(p.push.Content),
				len(p.push.Payload), len(p.push.ResourcesID), got, p.want)
		}
	}
}

func codeOrZero(err error) Code {
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	return 0
}
