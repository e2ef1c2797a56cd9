package protocol

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestKicks checks KickFor, KickByCloseCode and KickReasons against the kick table of protocol.md (Events).
func TestKicks(t *testing.T) {
	table := []Kick{
		{"replaced", 4001, false},
		{"logout", 4002, false},
		{"shutdown", 4003, true},
		{"slowConsumer", 4004, true},
		{"badFrames", 4005, true},
		{"authFailed", 4006, false},
		{"loginTimeout", 4007, true},
		{"tooManyDevices", 4008, false},
		{"heartbeatTimeout", 4009, true},
	}
	constants := []string{KickReplaced, KickLogout, KickShutdown, KickSlowConsumer, KickBadFrames,
		KickAuthFailed, KickLoginTimeout, KickTooManyDevices, KickHeartbeat}
	for i, want := range table {
		if constants[i] != want.Reason {
			t.Errorf("constant %q, want %q", constants[i], want.Reason)
		}
		got, ok := KickFor(want.Reason)
		if !ok || got != want {
			t.Errorf("KickFor(%q) = %+v, %v; want %+v", want.Reason, got, ok, want)
		}
		got, ok = KickByCloseCode(want.CloseCode)
		if !ok || got != want {
			t.Errorf("KickByCloseCode(%d) = %+v, %v; want %+v", want.CloseCode, got, ok, want)
		}
	}
	if got := KickReasons(); !slices.Equal(got, constants) {
		t.Errorf("KickReasons() = %q, want %q", got, constants)
	}
	for _, reason := range []string{"", "Replaced", "unknown", "heartbeat"} {
		if k, ok := KickFor(reason); ok {
			t.Errorf("KickFor(%q) = %+v, true", reason, k)
		}
	}
	for _, code := range []int{0, 1000, 1009, 4000, 4010} {
		if k, ok := KickByCloseCode(code); ok {
			t.Errorf("KickByCloseCode(%d) = %+v, true", code, k)
		}
	}
}

// TestCodes checks the code values against behaviour §8.
func TestCodes(t *testing.T) {
	want := map[Code]int{
		CodeInvalidParameter: 6000001, CodeUnknownOp: 6000002, CodeNotLoggedIn: 6000121, CodeInternal: 6000270,
		CodeCancelAccepted: 6000271, CodeTooManyUsers: 6000272, CodeNotInviter: 6000273, CodeStateForbids: 6000274,
		CodeCallUnavailable: 6000276, CodeNoValidInvitee: 6000281, CodeAlreadyActive: 6000283, CodeNotAdvanced: 6000286,
		CodeBusy: 6000290, CodeAuthFailed: 6000291, CodeRateLimited: 6000292, CodeTooManyDevices: 6000293,
	}
	if len(want) != 16 {
		t.Fatalf("%d distinct codes, want the 16 of behaviour §8", len(want))
	}
	for c, n := range want {
		if int(c) != n {
			t.Errorf("code %d, want %d", c, n)
		}
	}
}

// TestPrecedence checks Precedence against the order of behaviour §8.
func TestPrecedence(t *testing.T) {
	want := []Code{6000121, 6000292, 6000002, 6000001, 6000291, 6000276, 6000286, 6000273, 6000274,
		6000271, 6000272, 6000281, 6000290, 6000283}
	got := Precedence()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-§8 +Precedence):\n%s", diff)
	}
	got[0] = 0
	if Precedence()[0] != CodeNotLoggedIn {
		t.Error("changing the returned slice changed Precedence")
	}
}

// TestEnums checks the wire values of behaviour §2.
func TestEnums(t *testing.T) {
	states := map[CallUserState]int{
		StateUnknown: -1, StateInviting: 0, StateAccepted: 1, StateRejected: 2, StateCancelled: 3, StateReceived: 5,
		StateTimeout: 6, StateQuit: 7, StateEnded: 8, StateNotYetReceived: 9, StateBeCancelled: 10,
	}
	for s, n := range states {
		if int(s) != n {
			t.Errorf("CallUserState %d, want %d", s, n)
		}
	}
	if CallStateUnknown != -1 || CallStarted != 1 || CallEnded != 2 {
		t.Error("CallState values differ from behaviour §2")
	}
	if ModeGeneral != 0 || ModeAdvanced != 1 {
		t.Error("CallMode values differ from behaviour §2")
	}
	if Path != "/v1/ws" || MaxFrameBytes != 64*1024 {
		t.Error("Path or MaxFrameBytes differ from protocol.md")
	}
}
