package call

import (
	"strings"
	"testing"
)

// TestR9PushConfigBoundsOfEveryOp: §9's bounds (title and content 256 bytes, payload 2048,
// resourcesID 32) hold for each op that takes a pushConfig (R3.2, R3.6, R3.8, R3.9, as for
// R3.1): one byte over any of them → 6000001 with nothing changed, on a call where the op at
// the bounds succeeds.
func TestR9PushConfigBoundsOfEveryOp(t *testing.T) {
	long := strings.Repeat("é", 1024) // 2048 bytes
	at := PushConfig{Title: long[:256], Content: long[:256], Payload: long, ResourcesID: long[:32]}
	over := map[string]PushConfig{
		"title":       {Title: long[:256] + "x"},
		"content":     {Content: long[:256] + "x"},
		"payload":     {Payload: long + "x"},
		"resourcesID": {ResourcesID: long[:32] + "x"},
	}
	alice := Actor{UserID: "alice", DeviceID: "a1"}
	ops := map[string]func(p *PushConfig) Input{
		"callCancel":    func(p *PushConfig) Input { return Cancel{Actor: alice, Invitees: []string{"bob"}, Push: p} },
		"callingInvite": func(p *PushConfig) Input { return CallingInvite{Actor: alice, Invitees: []string{"dave"}, Push: p} },
		"callQuit":      func(p *PushConfig) Input { return QuitCall{Actor: alice, Push: p} },
		"callEnd":       func(p *PushConfig) Input { return End{Actor: alice, Push: p} },
	}
	for op, input := range ops {
		for field, p := range over {
			h := newHarness(t)
			runLine(t, h, "setup", "t=0 alice@a1 invite bob carol timeout=30 mode=advanced push")
			runLine(t, h, "setup", "t=100 carol@c1 accept")
			before := h.call.Version
			h.do(input(&p), 1000)
			if h.code() != CodeInvalidParameter || h.call.Version != before || len(h.last.Pushes) != 0 {
				t.Errorf("%s with a %s one byte too long: code %d, version %d (was %d), pushes %d; want 6000001 and no change",
					op, field, h.code(), h.call.Version, before, len(h.last.Pushes))
			}
		}
		h := newHarness(t)
		runLine(t, h, "setup", "t=0 alice@a1 invite bob carol timeout=30 mode=advanced push")
		runLine(t, h, "setup", "t=100 carol@c1 accept")
		h.do(input(&at), 1000)
		if h.err != nil || len(h.last.Pushes) == 0 {
			t.Errorf("%s with a pushConfig at its bounds: %v, %d pushes; want it done, with pushes", op, h.err, len(h.last.Pushes))
		}
	}
}
