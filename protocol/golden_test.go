package protocol

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the values in golden_test.go")

// Sample values, fully populated so that every field appears on the wire.
var (
	samplePush = &PushConfig{Title: "Alice", Content: "is calling", Payload: `{"k":"v"}`, ResourcesID: "voip"}
	sampleUser = CallUserInfo{UserID: "bob", State: StateInviting, Inviter: "alice", ExtendedData: "bob-data",
		Deadline: 1700000030000, AcceptTime: 0, UpdateTime: 1700000000000}
	sampleCaller = CallUserInfo{UserID: "alice", State: StateAccepted, Inviter: "", ExtendedData: "",
		Deadline: 0, AcceptTime: 1700000000000, UpdateTime: 1700000000000}
	sampleCall = CallInfo{CallID: "c9VxQ2hKq0mZ7fT1", Caller: "alice", Inviter: "alice", Mode: ModeAdvanced,
		State: CallStarted, ExtendedData: "call-data", CreateTime: 1700000000000, EndTime: 0, Version: 3,
		CallUserList: []CallUserInfo{sampleCaller, sampleUser}}
	lastSeq = int64(41)
)

// shapeKeys are the field names of protocol.md's shapes, by the key under which they appear.
var shapeKeys = map[string][]string{
	"callUserList":  {"userID", "state", "inviter", "extendedData", "deadline", "acceptTime", "updateTime"},
	"callInfo":      {"callID", "caller", "inviter", "mode", "state", "extendedData", "createTime", "endTime", "version", "callUserList"},
	"callList":      {"callID", "caller", "inviter", "mode", "state", "extendedData", "createTime", "endTime", "version", "callUserList"},
	"errorUserList": {"userID", "reason"},
	"pushConfig":    {"title", "content", "payload", "resourcesID"},
	"error":         {"code", "message"},
}

// goldenCase is one message of protocol.md: the typed value, the frame that carries it and the
// field names protocol.md gives its data (or result) and, where it has one, its config.
type goldenCase struct {
	name   string // file name without .json
	kind   string // "request", "reply", "event" or "error"
	op     string // request op, or event name
	id     int64  // request or reply id
	seq    int64  // event seq
	idem   string // request idem
	value  any    // the data, result or error; nil for requests without data
	keys   []string
	config []string
}

func goldenCases() []goldenCase {
	opConfig := OpConfig{ExtendedData: "x", PushConfig: samplePush}
	extOnly := OpConfig{ExtendedData: "x"}
	callID := sampleCall.CallID
	return []goldenCase{
		{name: "login.request", kind: "request", op: OpLogin, id: 1,
			value: &LoginData{Token: "eyJhbGciOiJIUzI1NiJ9.e30.sig", DeviceID: "a-phone", LastSeq: &lastSeq},
			keys:  []string{"token", "deviceID", "lastSeq"}},
		{name: "login.result", kind: "reply", id: 1,
			value: &LoginResult{UserID: "alice", DeviceID: "a-phone", HeadSeq: 42, CaughtUp: true,
				HeartbeatIntervalMs: 10000, HeartbeatTimeoutMs: 35000, ServerTime: 1700000000000},
			keys: []string{"userID", "deviceID", "headSeq", "caughtUp", "heartbeatIntervalMs", "heartbeatTimeoutMs", "serverTime"}},
		{name: "logout.request", kind: "request", op: OpLogout, id: 2},
		{name: "logout.result", kind: "reply", id: 2, value: &struct{}{}, keys: []string{}},
		{name: "heartbeat.request", kind: "request", op: OpHeartbeat, id: 3},
		{name: "heartbeat.result", kind: "reply", id: 3, value: &HeartbeatResult{ServerTime: 1700000000000},
			keys: []string{"serverTime"}},
		{name: "callInvite.request", kind: "request", op: OpCallInvite, id: 4, idem: "k7Yf2pQx9LmN3bVc",
			value: &CallInviteData{Invitees: []string{"bob", "carol"}, Config: InviteConfig{Timeout: 30, Mode: ModeAdvanced,
				ExtendedData: "x", PushConfig: samplePush, EnableNotReceivedCheck: true}},
			keys:   []string{"invitees", "config"},
			config: []string{"timeout", "mode", "extendedData", "pushConfig", "enableNotReceivedCheck"}},
		{name: "callInvite.result", kind: "reply", id: 4,
			value: &CallInviteResult{CallID: callID, Timeout: 30,
				ErrorUserList: []ErrorUserInfo{{UserID: "carol", Reason: CodeInvalidParameter}}, CallInfo: sampleCall},
			keys: []string{"callID", "timeout", "errorUserList", "callInfo"}},
		{name: "callCancel.request", kind: "request", op: OpCallCancel, id: 5,
			value: &CallCancelData{CallID: callID, Invitees: []string{"bob"}, Config: opConfig},
			keys:  []string{"callID", "invitees", "config"}, config: []string{"extendedData", "pushConfig"}},
		{name: "callCancel.result", kind: "reply", id: 5,
			value: &CallCancelResult{CallID: callID, ErrorInvitees: []string{"dave"}}, keys: []string{"callID", "errorInvitees"}},
		{name: "callAccept.request", kind: "request", op: OpCallAccept, id: 6,
			value: &CallOpData{CallID: callID, Config: extOnly}, keys: []string{"callID", "config"}, config: []string{"extendedData"}},
		{name: "callAccept.result", kind: "reply", id: 6, value: &CallIDResult{CallID: callID}, keys: []string{"callID"}},
		{name: "callReject.request", kind: "request", op: OpCallReject, id: 7,
			value: &CallOpData{CallID: callID, Config: extOnly}, keys: []string{"callID", "config"}, config: []string{"extendedData"}},
		{name: "callReject.result", kind: "reply", id: 7, value: &CallIDResult{CallID: callID}, keys: []string{"callID"}},
		{name: "callingInvite.request", kind: "request", op: OpCallingInvite, id: 8,
			value: &CallingInviteData{CallID: callID, Invitees: []string{"dave"},
				Config: CallingInviteConfig{Timeout: 60, ExtendedData: "x", PushConfig: samplePush}},
			keys: []string{"callID", "invitees", "config"}, config: []string{"timeout", "extendedData", "pushConfig"}},
		{name: "callingInvite.result", kind: "reply", id: 8,
			value: &CallingInviteResult{CallID: callID, ErrorUserList: []ErrorUserInfo{{UserID: "bob", Reason: CodeAlreadyActive}}},
			keys:  []string{"callID", "errorUserList"}},
		{name: "callJoin.request", kind: "request", op: OpCallJoin, id: 9,
			value: &CallOpData{CallID: callID, Config: extOnly}, keys: []string{"callID", "config"}, config: []string{"extendedData"}},
		{name: "callJoin.result", kind: "reply", id: 9,
			value: &CallJoinResult{CallID: callID, CreateTime: 1700000000000, JoinTime: 1700000005000,
				CallUserList: sampleCall.CallUserList, ExtendedData: "call-data"},
			keys: []string{"callID", "createTime", "joinTime", "callUserList", "extendedData"}},
		{name: "callQuit.request", kind: "request", op: OpCallQuit, id: 10,
			value: &CallOpData{CallID: callID, Config: opConfig}, keys: []string{"callID", "config"},
			config: []string{"extendedData", "pushConfig"}},
		{name: "callQuit.result", kind: "reply", id: 10,
			value: &CallQuitResult{CallID: callID, CreateTime: 1700000000000, AcceptTime: 1700000001000, QuitTime: 1700000009000},
			keys:  []string{"callID", "createTime", "acceptTime", "quitTime"}},
		{name: "callEnd.request", kind: "request", op: OpCallEnd, id: 11,
			value: &CallOpData{CallID: callID, Config: opConfig}, keys: []string{"callID", "config"},
			config: []string{"extendedData", "pushConfig"}},
		{name: "callEnd.result", kind: "reply", id: 11,
			value: &CallEndResult{CallID: callID, CreateTime: 1700000000000, AcceptTime: 1700000001000, EndTime: 1700000009000},
			keys:  []string{"callID", "createTime", "acceptTime", "endTime"}},
		{name: "callReceived.request", kind: "request", op: OpCallReceived, id: 12,
			value: &CallIDData{CallID: callID}, keys: []string{"callID"}},
		{name: "callReceived.result", kind: "reply", id: 12, value: &struct{}{}, keys: []string{}},
		{name: "queryCallInvitationList.request", kind: "request", op: OpQueryCallInvitationList, id: 13,
			value: &QueryCallInvitationListData{Config: ListConfig{Count: 20, NextFlag: 981}},
			keys:  []string{"config"}, config: []string{"count", "nextFlag"}},
		{name: "queryCallInvitationList.result", kind: "reply", id: 13,
			value: &QueryCallInvitationListResult{CallList: []CallInfo{sampleCall}, NextFlag: 977},
			keys:  []string{"callList", "nextFlag"}},
		{name: "queryCall.request", kind: "request", op: OpQueryCall, id: 14,
			value: &CallIDData{CallID: callID}, keys: []string{"callID"}},
		{name: "queryCall.result", kind: "reply", id: 14, value: &QueryCallResult{CallInfo: sampleCall}, keys: []string{"callInfo"}},
		{name: "pushRegister.request", kind: "request", op: OpPushRegister, id: 15,
			value: &PushRegisterData{Provider: PushProviderAPNs, Token: "9f2c4e6a8b", VoIP: true, BundleID: "com.example.app", AppID: "app-1"},
			keys:  []string{"provider", "token", "voip", "bundleID", "appID"}},
		{name: "pushRegister.result", kind: "reply", id: 15, value: &struct{}{}, keys: []string{}},
		{name: "pushUnregister.request", kind: "request", op: OpPushUnregister, id: 16,
			value: &PushUnregisterData{Provider: PushProviderAPNs, Token: "9f2c4e6a8b"}, keys: []string{"provider", "token"}},
		{name: "pushUnregister.result", kind: "reply", id: 16, value: &struct{}{}, keys: []string{}},

		{name: "error.reply", kind: "error", id: 6, value: &Error{Code: CodeStateForbids, Message: "the user's state does not allow this operation"}},
		{name: "error.badFrame", kind: "error", value: &Error{Code: CodeInvalidParameter, Message: "bad frame: id must be a positive integer"}},

		{name: "callInvitationCreated.event", kind: "event", op: EventCallInvitationCreated, seq: 1,
			value: &CallInvitationCreated{CallID: callID, Version: 1, Mode: ModeAdvanced, Caller: "alice", ExtendedData: "call-data",
				Timeout: 30, CreateTime: 1700000000000, CallUserList: sampleCall.CallUserList},
			keys: []string{"callID", "version", "mode", "caller", "extendedData", "timeout", "createTime", "callUserList"}},
		{name: "callInvitationReceived.event", kind: "event", op: EventCallInvitationReceived, seq: 7,
			value: receivedSample(false),
			keys: []string{"callID", "version", "mode", "caller", "inviter", "extendedData", "timeout", "deadline", "createTime",
				"callUserList", "synthetic"}},
		{name: "callInvitationReceived.synthetic.event", kind: "event", op: EventCallInvitationReceived,
			value: receivedSample(true),
			keys: []string{"callID", "version", "mode", "caller", "inviter", "extendedData", "timeout", "deadline", "createTime",
				"callUserList", "synthetic"}},
		{name: "callInvitationCancelled.event", kind: "event", op: EventCallInvitationCancelled, seq: 8,
			value: &CallInvitationCancelled{CallID: callID, Version: 4, Mode: ModeGeneral, Inviter: "alice", ExtendedData: "x",
				CallUserList: []CallUserInfo{{UserID: "bob", State: StateBeCancelled, Inviter: "alice", UpdateTime: 1700000004000}}},
			keys: []string{"callID", "version", "mode", "inviter", "extendedData", "callUserList"}},
		{name: "callInvitationTimeout.event", kind: "event", op: EventCallInvitationTimeout, seq: 9,
			value: &CallInvitationTimeout{CallID: callID, Version: 5, Mode: ModeAdvanced},
			keys:  []string{"callID", "version", "mode"}},
		{name: "callInvitationEnded.event", kind: "event", op: EventCallInvitationEnded, seq: 10,
			value: &CallInvitationEnded{CallID: callID, Version: 6, Mode: ModeAdvanced, Caller: "alice", OperatedUserID: "bob",
				ExtendedData: "x", EndTime: 1700000009000},
			keys: []string{"callID", "version", "mode", "caller", "operatedUserID", "extendedData", "endTime"}},
		{name: "callUserStateChanged.event", kind: "event", op: EventCallUserStateChanged, seq: 11,
			value: &CallUserStateChanged{CallID: callID, Version: 2,
				CallUserList: []CallUserInfo{{UserID: "bob", State: StateReceived, Inviter: "alice", Deadline: 1700000030000, UpdateTime: 1700000001000}}},
			keys: []string{"callID", "version", "callUserList"}},
		{name: "callUserStateChanged.ended.event", kind: "event", op: EventCallUserStateChanged, seq: 12,
			value: &CallUserStateChanged{CallID: callID, Version: 3,
				CallUserList: []CallUserInfo{{UserID: "bob", State: StateAccepted, Inviter: "alice", AcceptTime: 1700000002000, UpdateTime: 1700000002000}},
				CallState:    CallEnded, EndTime: 1700000002000},
			keys: []string{"callID", "version", "callUserList", "callState", "endTime"}},
		{name: "callMainDeviceChanged.event", kind: "event", op: EventCallMainDeviceChanged, seq: 13,
			value: &CallMainDeviceChanged{CallID: callID, Version: 7, DeviceID: "b-laptop"},
			keys:  []string{"callID", "version", "deviceID"}},
		{name: "kicked.event", kind: "event", op: EventKicked,
			value: &Kicked{Reason: KickReplaced, Retry: false}, keys: []string{"reason", "retry"}},
	}
}

func receivedSample(synthetic bool) *CallInvitationReceived {
	return &CallInvitationReceived{CallID: sampleCall.CallID, Version: 1, Mode: ModeAdvanced, Caller: "alice", Inviter: "alice",
		ExtendedData: "invite-data", Timeout: 30, Deadline: 1700000030000, CreateTime: 1700000000000,
		CallUserList: sampleCall.CallUserList, Synthetic: synthetic}
}

// frame builds the wire frame of a golden case.
func (g goldenCase) frame(t *testing.T) []byte {
	t.Helper()
	var data json.RawMessage
	if g.value != nil && g.kind != "error" {
		var err error
		if data, err = json.Marshal(g.value); err != nil {
			t.Fatal(err)
		}
	}
	var v any
	switch g.kind {
	case "request":
		v = Request{ID: g.id, Op: g.op, Data: data, Idem: g.idem}
	case "reply":
		v = Reply{ID: g.id, Result: data}
	case "error":
		v = Reply{ID: g.id, Error: g.value.(*Error)}
	case "event":
		v = Event{Event: g.op, Seq: g.seq, Data: data}
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func goldenPath(name string) string { return filepath.Join("testdata", "golden", name+".json") }

func TestGoldenEncode(t *testing.T) {
	for _, g := range goldenCases() {
		t.Run(g.name, func(t *testing.T) {
			got := g.frame(t)
			path := goldenPath(g.name)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s differs (-golden +encoded):\n%s", path, diff)
			}
		})
	}
}

func TestGoldenDecode(t *testing.T) {
	for _, g := range goldenCases() {
		t.Run(g.name, func(t *testing.T) {
			raw, err := os.ReadFile(goldenPath(g.name))
			if err != nil {
				t.Fatal(err)
			}
			var data json.RawMessage
			switch g.kind {
			case "request":
				req, err := DecodeRequest(raw)
				if err != nil {
					t.Fatal(err)
				}
				if req.ID != g.id || req.Op != g.op || req.Idem != g.idem {
					t.Fatalf("request = %d %q %q, want %d %q %q", req.ID, req.Op, req.Idem, g.id, g.op, g.idem)
				}
				data = req.Data
			default:
				var f Frame
				if err := json.Unmarshal(raw, &f); err != nil {
					t.Fatal(err)
				}
				if f.ID != g.id || f.Event != g.op || f.Seq != g.seq {
					t.Fatalf("frame = id %d event %q seq %d, want %d %q %d", f.ID, f.Event, f.Seq, g.id, g.op, g.seq)
				}
				if g.kind == "error" {
					if diff := cmp.Diff(g.value, f.Error); diff != "" || f.Result != nil {
						t.Fatalf("error (-want +got):\n%s", diff)
					}
					return
				}
				data = f.Result
				if g.kind == "event" {
					data = f.Data
				}
			}
			if g.value == nil {
				if data != nil {
					t.Fatalf("data = %s, want none", data)
				}
				return
			}
			got := reflect.New(reflect.TypeOf(g.value).Elem()).Interface()
			if err := DecodeData(data, got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(g.value, got); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGoldenFieldNames checks every golden frame's field names against protocol.md: the
// envelope's, the data's or result's, the config's and those of every shape.
func TestGoldenFieldNames(t *testing.T) {
	envelope := map[string][]string{
		"request": {"id", "op", "data", "idem"}, "reply": {"id", "result"},
		"error": {"id", "error"}, "event": {"event", "seq", "data"},
	}
	for _, g := range goldenCases() {
		t.Run(g.name, func(t *testing.T) {
			raw, err := os.ReadFile(goldenPath(g.name))
			if err != nil {
				t.Fatal(err)
			}
			var top map[string]any
			if err := json.Unmarshal(raw, &top); err != nil {
				t.Fatal(err)
			}
			for k := range top {
				if !slices.Contains(envelope[g.kind], k) {
					t.Errorf("envelope field %q not in protocol.md", k)
				}
			}
			for k, v := range top {
				switch k {
				case "data", "result":
					checkKeys(t, k, v, g.keys)
					for field, sub := range v.(map[string]any) {
						if field == "config" {
							checkKeys(t, "config", sub, g.config)
						}
						walkShapes(t, field, sub)
					}
				case "error":
					walkShapes(t, k, v)
				}
			}
		})
	}
}

// walkShapes checks the keys of every shape found under key, recursively.
func walkShapes(t *testing.T, key string, v any) {
	t.Helper()
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			walkShapes(t, key, e)
		}
	case map[string]any:
		if want, ok := shapeKeys[key]; ok {
			checkKeys(t, key, v, want)
		}
		for k, sub := range v {
			walkShapes(t, k, sub)
		}
	}
}

func checkKeys(t *testing.T, where string, v any, want []string) {
	t.Helper()
	obj, ok := v.(map[string]any)
	if !ok {
		t.Errorf("%s is %T, want an object", where, v)
		return
	}
	got := make([]string, 0, len(obj))
	for k := range obj {
		got = append(got, k)
	}
	sort.Strings(got)
	w := slices.Clone(want)
	sort.Strings(w)
	if diff := cmp.Diff(w, got); diff != "" {
		t.Errorf("%s field names (-protocol.md +encoded):\n%s", where, diff)
	}
}

// TestGoldenFilesAllUsed catches a stale golden file left behind by a renamed case.
func TestGoldenFilesAllUsed(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, g := range goldenCases() {
		known[goldenPath(g.name)] = true
	}
	for _, f := range files {
		if !known[f] {
			t.Errorf("%s belongs to no golden case", f)
		}
	}
}

// TestGoldenEveryMessage checks that every op, event and kick of protocol.md has a golden frame.
func TestGoldenEveryMessage(t *testing.T) {
	have := map[string]bool{}
	for _, g := range goldenCases() {
		have[g.name] = true
	}
	ops := []string{OpLogin, OpLogout, OpHeartbeat, OpCallInvite, OpCallCancel, OpCallAccept, OpCallReject,
		OpCallingInvite, OpCallJoin, OpCallQuit, OpCallEnd, OpCallReceived, OpQueryCallInvitationList, OpQueryCall,
		OpPushRegister, OpPushUnregister}
	for _, op := range ops {
		for _, suffix := range []string{".request", ".result"} {
			if !have[op+suffix] {
				t.Errorf("no golden %s%s", op, suffix)
			}
		}
	}
	events := []string{EventCallInvitationCreated, EventCallInvitationReceived, EventCallInvitationCancelled,
		EventCallInvitationTimeout, EventCallInvitationEnded, EventCallUserStateChanged, EventCallMainDeviceChanged, EventKicked}
	for _, e := range events {
		if !have[e+".event"] {
			t.Errorf("no golden %s.event", e)
		}
	}
	// The frames must be compact-equal whatever their indentation: json.Compact of each parses.
	for name := range have {
		raw, err := os.ReadFile(goldenPath(name))
		if err != nil {
			continue
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
