package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeRequestValid(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		want  Request
	}{
		{"minimal", `{"id":1,"op":"heartbeat"}`, Request{ID: 1, Op: "heartbeat"}},
		{"with data", `{"id":7,"op":"callAccept","data":{"callID":"c1"}}`,
			Request{ID: 7, Op: "callAccept", Data: json.RawMessage(`{"callID":"c1"}`)}},
		{"with idem", `{"id":7,"op":"callAccept","data":{},"idem":"0123456789abcdef"}`,
			Request{ID: 7, Op: "callAccept", Data: json.RawMessage(`{}`), Idem: "0123456789abcdef"}},
		{"data null is absent", `{"id":2,"op":"logout","data":null}`, Request{ID: 2, Op: "logout"}},
		{"idem null is absent", `{"id":2,"op":"logout","idem":null}`, Request{ID: 2, Op: "logout"}},
		{"surrounding white space", " \n\t{\"id\":3,\"op\":\"heartbeat\"}\r\n ", Request{ID: 3, Op: "heartbeat"}},
		{"key order", `{"data":{"a":1},"op":"x","id":4}`, Request{ID: 4, Op: "x", Data: json.RawMessage(`{"a":1}`)}},
		{"unknown fields ignored", `{"id":5,"op":"x","extra":[1,2],"v":2}`, Request{ID: 5, Op: "x"}},
		{"unknown op is not a bad frame", `{"id":6,"op":"noSuchOp"}`, Request{ID: 6, Op: "noSuchOp"}},
		{"empty op is a string", `{"id":6,"op":""}`, Request{ID: 6, Op: ""}},
		{"data not an object is kept for the op", `{"id":8,"op":"callAccept","data":[1]}`,
			Request{ID: 8, Op: "callAccept", Data: json.RawMessage(`[1]`)}},
		{"largest safe id", `{"id":9007199254740991,"op":"x"}`, Request{ID: 1<<53 - 1, Op: "x"}},
		{"escaped op", `{"id":1,"op":"call\u0041ccept"}`, Request{ID: 1, Op: "callAccept"}},
		{"escaped idem", `{"id":1,"op":"x","idem":"0123456789abcde\u0066"}`, Request{ID: 1, Op: "x", Idem: "0123456789abcdef"}},
		{"escaped names", `{"\u0069d":3,"o\u0070":"x","id":2,"d\u0061ta":{"a":1}}`,
			Request{ID: 2, Op: "x", Data: json.RawMessage(`{"a":1}`)}},
		// Behaviour §12: a repeated name takes its last value.
		{"repeated names", `{"id":1,"op":"x","data":{"a":1},"op":"heartbeat","id":9,"data":null}`,
			Request{ID: 9, Op: "heartbeat"}},
		{"repeated id, the first not an integer", `{"id":"x","op":"heartbeat","id":2}`, Request{ID: 2, Op: "heartbeat"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tt.frame))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// badFrames are the bad frames of protocol.md, Transport.
var badFrames = []struct{ name, frame string }{
	{"empty", ``},
	{"white space", "  \n"},
	{"not JSON", `hello`},
	{"truncated", `{"id":1,"op":"x"`},
	{"trailing garbage", `{"id":1,"op":"x"} {}`},
	{"array", `[{"id":1,"op":"x"}]`},
	{"string", `"login"`},
	{"number", `1`},
	{"null", `null`},
	{"true", `true`},
	{"id missing", `{"op":"x"}`},
	{"id null", `{"id":null,"op":"x"}`},
	{"id zero", `{"id":0,"op":"x"}`},
	{"id negative", `{"id":-1,"op":"x"}`},
	{"id minus zero", `{"id":-0,"op":"x"}`},
	{"id fractional", `{"id":1.5,"op":"x"}`},
	{"id with a zero fraction", `{"id":1.0,"op":"x"}`},
	{"id exponent", `{"id":1e3,"op":"x"}`},
	{"id string", `{"id":"1","op":"x"}`},
	{"id bool", `{"id":true,"op":"x"}`},
	{"id object", `{"id":{},"op":"x"}`},
	{"id beyond 53 bits", `{"id":9007199254740992,"op":"x"}`},
	{"id 2^53+1", `{"id":9007199254740993,"op":"x"}`},
	{"id largest int64", `{"id":9223372036854775807,"op":"x"}`},
	{"id overflows int64", `{"id":9223372036854775808,"op":"x"}`},
	{"id wrong case", `{"ID":1,"op":"x"}`},
	{"op missing", `{"id":1}`},
	{"op null", `{"id":1,"op":null}`},
	{"op number", `{"id":1,"op":7}`},
	{"op array", `{"id":1,"op":["x"]}`},
	{"op object", `{"id":1,"op":{}}`},
	{"op wrong case", `{"id":1,"Op":"x"}`},
	{"repeated id, the last not an integer", `{"id":1,"op":"x","id":"1"}`},
	// JSON's white space is space, tab, CR and LF only (RFC 8259 section 2).
	{"vertical tab before", "\v{\"id\":1,\"op\":\"x\"}"},
	{"form feed after", "{\"id\":1,\"op\":\"x\"}\f"},
	{"no-break space before", "\u00a0{\"id\":1,\"op\":\"x\"}"},
	{"line separator after", "{\"id\":1,\"op\":\"x\"}\u2028"},
	{"ideographic space only", "\u3000"},
}

func TestDecodeRequestBadFrames(t *testing.T) {
	for _, tt := range badFrames {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tt.frame))
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("err = %v, want ErrBadFrame", err)
			}
			if !strings.HasPrefix(err.Error(), "protocol: bad frame: ") {
				t.Errorf("error %q gives no reason", err)
			}
			if diff := cmp.Diff(Request{}, got); diff != "" {
				t.Errorf("request not empty on a bad frame:\n%s", diff)
			}
		})
	}
}

func TestDecodeRequestBadIdem(t *testing.T) {
	// Not a string, or a string of 15 or 65 bytes (counted in bytes: é is two).
	for _, idem := range []string{`7`, `true`, `["k"]`, `{"k":1}`,
		`"` + strings.Repeat("k", 13) + `é"`, `"` + strings.Repeat("k", 63) + `é"`} {
		t.Run(idem, func(t *testing.T) {
			got, err := DecodeRequest([]byte(`{"id":3,"op":"callAccept","data":{"callID":"c"},"idem":` + idem + `}`))
			if !errors.Is(err, ErrBadIdem) {
				t.Fatalf("err = %v, want ErrBadIdem", err)
			}
			if errors.Is(err, ErrBadFrame) {
				t.Error("a bad idem counts as a bad frame")
			}
			// The rest is filled in so the server can answer the request by its id.
			if got.ID != 3 || got.Op != "callAccept" || string(got.Data) != `{"callID":"c"}` {
				t.Errorf("request = %+v", got)
			}
		})
	}
}

// protocol.md "Envelopes": keys of 16 and 64 bytes are taken as they are; an empty one is none.
func TestDecodeRequestIdemBounds(t *testing.T) {
	for _, idem := range []string{"", strings.Repeat("k", 14) + "é", strings.Repeat("k", 62) + "é"} {
		got, err := DecodeRequest([]byte(`{"id":3,"op":"callAccept","idem":"` + idem + `"}`))
		if err != nil || got.Idem != idem {
			t.Errorf("idem of %d bytes: %+v, %v", len(idem), got, err)
		}
	}
}

func TestDecodeData(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    CallInviteData
		wantErr bool
	}{
		{"absent", ``, CallInviteData{}, false},
		{"empty object", `{}`, CallInviteData{}, false},
		{"full", `{"invitees":["bob"],"config":{"timeout":30,"mode":1,"enableNotReceivedCheck":true}}`,
			CallInviteData{Invitees: []string{"bob"}, Config: InviteConfig{Timeout: 30, Mode: ModeAdvanced, EnableNotReceivedCheck: true}}, false},
		{"unknown fields ignored", `{"invitees":["bob"],"future":{"x":1},"config":{"newKnob":true}}`,
			CallInviteData{Invitees: []string{"bob"}}, false},
		{"negative integer", `{"config":{"mode":-1}}`, CallInviteData{Config: InviteConfig{Mode: -1}}, false},
		{"repeated name", `{"invitees":["a"],"config":{"timeout":5},"invitees":["bob"]}`,
			CallInviteData{Invitees: []string{"bob"}, Config: InviteConfig{Timeout: 5}}, false},
		{"name in another case is an unknown field", `{"Invitees":["bob"],"CONFIG":{"timeout":5},"config":{"Timeout":6}}`,
			CallInviteData{}, false},
		{"name in another case does not replace the field", `{"invitees":["a"],"Invitees":["b"]}`,
			CallInviteData{Invitees: []string{"a"}}, false},
		{"repeated object takes the last whole", `{"config":{"timeout":601},"config":{"mode":1}}`,
			CallInviteData{Config: InviteConfig{Mode: ModeAdvanced}}, false},
		{"repeated nested object takes the last whole", `{"config":{"pushConfig":{"title":"a"},"pushConfig":{"content":"b"}}}`,
			CallInviteData{Config: InviteConfig{PushConfig: &PushConfig{Content: "b"}}}, false},
		{"repeated name, then one in other case", `{"invitees":["a"],"Invitees":["b"],"invitees":["c"]}`,
			CallInviteData{Invitees: []string{"c"}}, false},
		{"lone surrogate escape is U+FFFD", `{"invitees":["a\ud800b\udc00"]}`, CallInviteData{Invitees: []string{"a\uFFFDb\uFFFD"}}, false},
		{"largest integer", `{"config":{"timeout":-9007199254740991}}`, CallInviteData{Config: InviteConfig{Timeout: -9007199254740991}}, false},
		{"null in a list of strings", `{"invitees":["bob",null]}`, CallInviteData{}, true},
		{"null in a list in a repeated name's last value", `{"invitees":["bob"],"invitees":[null]}`, CallInviteData{}, true},
		{"null in a list in a name repeated before", `{"invitees":[null],"invitees":["bob"]}`, CallInviteData{Invitees: []string{"bob"}}, false},
		{"not UTF-8", "{\"invitees\":[\"\xff\"]}", CallInviteData{}, true},
		{"integer past 53 bits", `{"config":{"timeout":9007199254740992}}`, CallInviteData{}, true},
		{"negative integer past 53 bits", `{"config":{"mode":-9007199254740992}}`, CallInviteData{}, true},
		{"white space around", " {\"invitees\":[]} ", CallInviteData{Invitees: []string{}}, false},
		{"integer with fraction", `{"config":{"timeout":1.5}}`, CallInviteData{}, true},
		{"integer with zero fraction", `{"config":{"timeout":30.0}}`, CallInviteData{}, true},
		{"integer with exponent", `{"config":{"timeout":1e3}}`, CallInviteData{}, true},
		{"integer overflow", `{"config":{"timeout":99999999999999999999}}`, CallInviteData{}, true},
		{"integer as string", `{"config":{"timeout":"30"}}`, CallInviteData{}, true},
		{"string as number", `{"invitees":[7]}`, CallInviteData{}, true},
		{"array as string", `{"invitees":"bob"}`, CallInviteData{}, true},
		{"object as array", `{"config":[]}`, CallInviteData{}, true},
		{"bool as string", `{"config":{"enableNotReceivedCheck":"true"}}`, CallInviteData{}, true},
		{"nested wrong type", `{"config":{"pushConfig":{"title":1}}}`, CallInviteData{}, true},
		{"array", `[]`, CallInviteData{}, true},
		{"string", `"x"`, CallInviteData{}, true},
		{"number", `1`, CallInviteData{}, true},
		{"null", `null`, CallInviteData{}, true},
		{"not JSON", `{`, CallInviteData{}, true},
		{"no-break space before", "\u00a0{}", CallInviteData{}, true},
		{"vertical tab after", "{}\v", CallInviteData{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got CallInviteData
			err := DecodeData(json.RawMessage(tt.data), &got)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("DecodeData succeeded: %+v", got)
				}
				if msg := err.Error(); strings.Contains(msg, "Go ") || strings.Contains(msg, "protocol.") {
					t.Errorf("error %q speaks of Go types, not of the wire", msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// protocol.md "Shapes": data of more than MaxDataItems names and values is refused before it is
// read into fields, however plain, whatever its size: a request cannot make the server read
// thousands of values it has no field for.
func TestDecodeDataRefusesMoreItemsThanTheBound(t *testing.T) {
	future := func(numbers int) string { // the object, the name, the list and the numbers
		return `{"future":[` + strings.TrimSuffix(strings.Repeat("1,", numbers), ",") + `]}`
	}
	for _, tt := range []struct {
		name    string
		data    string
		wantErr bool
	}{
		{"at the bound", future(MaxDataItems - 3), false},
		{"one past the bound", future(MaxDataItems - 2), true},
		{"nulls past the bound", `{"future":[` + strings.TrimSuffix(strings.Repeat("null,", MaxDataItems), ",") + `]}`, true},
		{"names past the bound", `{` + strings.TrimSuffix(strings.Repeat(`"a":true,`, MaxDataItems/2+1), ",") + `}`, true},
	} {
		var got CallInviteData
		err := DecodeData(json.RawMessage(tt.data), &got)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: DecodeData = %v, want an error: %v", tt.name, err, tt.wantErr)
		}
	}
}

// isPlain reports whether scanData finds data, which goes into a value with fields, plain.
func isPlain(data []byte, fields fieldNames) bool {
	plain, _ := scanData(data, fields)
	return plain
}

func TestDecodeDataLastSeq(t *testing.T) {
	var d LoginData
	if err := DecodeData(json.RawMessage(`{"token":"t","deviceID":"d"}`), &d); err != nil || d.LastSeq != nil {
		t.Fatalf("absent lastSeq: %v, %v", err, d.LastSeq)
	}
	if err := DecodeData(json.RawMessage(`{"token":"t","deviceID":"d","lastSeq":0}`), &d); err != nil || d.LastSeq == nil || *d.LastSeq != 0 {
		t.Fatalf("lastSeq 0: %v, %v", err, d.LastSeq)
	}
	if err := DecodeData(json.RawMessage(`{"lastSeq":2.5}`), &LoginData{}); err == nil {
		t.Fatal("lastSeq 2.5 accepted")
	}
}

func TestErrorInterface(t *testing.T) {
	var err error = &Error{Code: CodeBusy, Message: "busy"}
	if got, want := err.Error(), "dialtone error 6000290: busy"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var pe *Error
	if !errors.As(errors.Join(errors.New("op"), err), &pe) || pe.Code != CodeBusy {
		t.Errorf("errors.As failed: %v", pe)
	}
}

func TestReplyAndEventOmitEmpty(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{Reply{Error: &Error{Code: CodeInvalidParameter, Message: "m"}}, `{"error":{"code":6000001,"message":"m"}}`},
		{Reply{ID: 1, Result: json.RawMessage(`{}`)}, `{"id":1,"result":{}}`},
		{Event{Event: EventKicked, Data: json.RawMessage(`{"reason":"logout","retry":false}`)},
			`{"event":"kicked","data":{"reason":"logout","retry":false}}`},
		{Request{ID: 1, Op: OpLogout}, `{"id":1,"op":"logout"}`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.v)
		if err != nil || string(got) != tt.want {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tt.v, got, err, tt.want)
		}
	}
}

// FuzzDecodeRequest checks that DecodeRequest never panics, that what it accepts has a positive
// id, and that an accepted request re-encodes to a frame that decodes to the same request.
// Plain `go test` runs only the seeds; `go test -fuzz FuzzDecodeRequest` explores.
func FuzzDecodeRequest(f *testing.F) {
	for _, tt := range badFrames {
		f.Add([]byte(tt.frame))
	}
	for _, s := range []string{
		`{"id":1,"op":"heartbeat"}`, `{"id":2,"op":"logout","data":null}`,
		`{"id":3,"op":"callAccept","data":{"callID":"c"},"idem":"0123456789abcdef"}`,
		`{"id":4,"op":"x","data":{ "a" : [1, 2.5, "<&>"] }}`, `{"id":5,"op":"x","idem":5}`,
		`{"id":6,"op":"x","data":"\u00e9\ud83d\ude00"}`, `{"id":7,"op":"a","op":"b","id":8}`,
		`{"id":9007199254740992,"op":"x"}`, `{"id":1e0,"op":"x"}`, "{\"id\":1,\"op\":\"\xff\"}",
		`{"id":1,"op":"x","data":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
	} {
		f.Add([]byte(s))
	}
	golden, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.request.json"))
	for _, path := range golden {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, err := DecodeRequest(frame)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrBadIdem) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if req.ID <= 0 {
			t.Fatalf("accepted id %d", req.ID)
		}
		encoded, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", req, err)
		}
		again, err := DecodeRequest(encoded)
		if err != nil {
			t.Fatalf("re-decode %s: %v", encoded, err)
		}
		if again.ID != req.ID || again.Op != req.Op || again.Idem != req.Idem {
			t.Fatalf("round trip changed the envelope: %+v → %+v", req, again)
		}
		// Data is raw JSON: re-encoding compacts and escapes it, so compare its meaning.
		if diff := cmp.Diff(jsonValue(t, req.Data), jsonValue(t, again.Data)); diff != "" {
			t.Fatalf("round trip changed data (-first +second):\n%s", diff)
		}
	})
}

// FuzzReadEnvelope checks that readEnvelope reads the envelope of any valid JSON object
// exactly as encoding/json's map does (envelopeOfMap: names matched exactly, the last of a
// repeated name winning, values as they stand in the frame), and that it leaves to the map
// only objects with an escape in them. Plain `go test` runs only the seeds.
func FuzzReadEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"op":"heartbeat"}`, ` { "id" : 2 , "op" : "x" , "data" : { "a" : [ 1 , "}" ] } , "idem" : "k" } `,
		`{"data":{"id":1,"op":"inner"},"id":3,"op":"outer"}`, `{"id":1,"id":2,"op":"a","op":"b","data":[],"data":{}}`,
		`{"Id":1,"ID":2,"OP":"x","\u0069d":4,"op":"\u0078"}`, `{"id":-0,"op":"x","idem":null,"data":null}`,
		`{"id":1e3,"op":"x","data":"{\"id\":9}","idem":true,"x":[{"y":[[]]},false,null]}`,
		"{\"id\":1,\"op\":\"\xff\",\"i\xffd\":7}", `{}`, `{"":"","id":[1,{"op":"]"}]}`,
	} {
		f.Add([]byte(s))
	}
	for _, tt := range badFrames {
		f.Add([]byte(tt.frame))
	}
	f.Fuzz(func(t *testing.T, obj []byte) {
		obj = trimJSONSpace(obj)
		if len(obj) == 0 || obj[0] != '{' || !json.Valid(obj) {
			return
		}
		got, ok := readEnvelope(obj)
		if !ok {
			if bytes.IndexByte(obj, '\\') < 0 {
				t.Fatalf("%s has no escape, yet its envelope was left to the map", obj)
			}
			return
		}
		want := envelopeOfMap(obj)
		for _, m := range []struct {
			name      string
			got, want []byte
		}{{"id", got.id, want.id}, {"op", got.op, want.op}, {"data", got.data, want.data}, {"idem", got.idem, want.idem}} {
			if !bytes.Equal(m.got, m.want) || (m.got == nil) != (m.want == nil) {
				t.Errorf("%s of %s: read %q, the map has %q", m.name, obj, m.got, m.want)
			}
		}
	})
}

// jsonValue decodes raw JSON for comparison, keeping numbers exact; nil for no data.
func jsonValue(t *testing.T, raw json.RawMessage) any {
	if raw == nil {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("data %s: %v", raw, err)
	}
	return v
}

// opData makes, for each op with data fields, a new value of the type its data decodes into;
// any other op (heartbeat, logout) takes an empty object.
var opData = map[string]func() any{
	OpLogin:                   func() any { return new(LoginData) },
	OpCallInvite:              func() any { return new(CallInviteData) },
	OpCallCancel:              func() any { return new(CallCancelData) },
	OpCallAccept:              func() any { return new(CallOpData) },
	OpCallReject:              func() any { return new(CallOpData) },
	OpCallingInvite:           func() any { return new(CallingInviteData) },
	OpCallJoin:                func() any { return new(CallOpData) },
	OpCallQuit:                func() any { return new(CallOpData) },
	OpCallEnd:                 func() any { return new(CallOpData) },
	OpCallReceived:            func() any { return new(CallIDData) },
	OpQueryCallInvitationList: func() any { return new(QueryCallInvitationListData) },
	OpQueryCall:               func() any { return new(CallIDData) },
	OpPushRegister:            func() any { return new(PushRegisterData) },
	OpPushUnregister:          func() any { return new(PushUnregisterData) },
}

// newOpData returns a new value for op's data (opData).
func newOpData(op string) any {
	if newData, ok := opData[op]; ok {
		return newData()
	}
	return new(struct{})
}

// FuzzDecodeData checks, for the data of every op, that DecodeData never panics on any data,
// that it accepts only a JSON object in UTF-8 whose integers fit in 53 bits, that what it
// accepts decodes again, once encoded, to the same value, and that data scanData finds plain
// decodes as lastValues reads it. Plain `go test` runs only the seeds: the golden requests'
// data, and data that repeats names, holds numbers out of range, is not UTF-8 or is nested
// past what encoding/json reads.
func FuzzDecodeData(f *testing.F) {
	golden, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.request.json"))
	for _, path := range golden {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		req, err := DecodeRequest(b)
		if err != nil {
			f.Fatalf("%s: %v", path, err)
		}
		f.Add(req.Op, []byte(req.Data))
	}
	for _, s := range []string{
		`{}`, `{"invitees":["bob"],"config":{"timeout":30,"extendedData":"\ud83d\ude00"}}`,
		`{"invitees":["\ud800"]}`, `{"config":{"extendedData":"\udc00\\"}}`, `{"Invitees":[1]}`,
		`{"config":{"timeout":9007199254740992}}`, `{"config":{"pushConfig":{"title":"\u00e9"}}}`,
		`{"config":{"mode":1},"config":{"timeout":3}}`, `{"invitees":[null]}`, `[]`, `null`,
		"{\"invitees\":[\"\xff\"]}",
		`{"config":{"timeout":-9007199254740992}}`, `{"config":{"timeout":1e2}}`,
	} {
		f.Add(OpCallInvite, []byte(s))
	}
	deep := strings.Repeat("[", 10001) + strings.Repeat("]", 10001) // past encoding/json's 10000
	for _, seed := range []struct{ op, data string }{
		{OpLogin, `{"token":"t","deviceID":"d","lastSeq":9007199254740992}`},
		{OpLogin, `{"token":"t","lastSeq":1,"LastSeq":-1,"lastseq":null}`},
		{OpLogin, "{\"token\":\"t\xc3\"}"},
		{OpQueryCallInvitationList, `{"config":{"count":-1,"nextFlag":99999999999999999999}}`},
		{OpQueryCallInvitationList, `{"config":{"nextFlag":1.0},"config":{"count":5}}`},
		{OpCallCancel, `{"callID":"c","invitees":["a",null],"config":{"pushConfig":null}}`},
		{OpCallingInvite, `{"callID":"c","config":{"timeout":600,"timeout":601}}`},
		{OpPushRegister, `{"provider":"apns","token":"t","voip":1,"bundleID":"a.b"}`},
		{OpCallAccept, `{"callID":"c","config":` + deep + `}`},
		// nested within encoding/json's limit, a name repeated at the bottom: read by lastValues
		{OpHeartbeat, strings.Repeat(`{"a":`, 2000) + `{"x":1,"x":2}` + strings.Repeat("}", 2000)},
	} {
		f.Add(seed.op, []byte(seed.data))
	}
	f.Fuzz(func(t *testing.T, op string, data []byte) {
		decoded := newOpData(op)
		if err := DecodeData(data, decoded); err != nil || len(data) == 0 {
			return
		}
		if !json.Valid(data) || !utf8.Valid(data) {
			t.Fatalf("accepted data that is not JSON in UTF-8: %q", data)
		}
		checkIntegers(t, reflect.ValueOf(decoded), op)
		encoded, err := json.Marshal(decoded)
		if err != nil {
			t.Fatal(err)
		}
		again := newOpData(op)
		if err := DecodeData(encoded, again); err != nil {
			t.Fatalf("%s, from %q, is refused: %v", encoded, data, err)
		}
		if diff := cmp.Diff(decoded, again); diff != "" {
			t.Fatalf("%q decodes differently once encoded (-first +second):\n%s", data, diff)
		}
		if !isPlain(bytes.TrimSpace(data), fieldNamesOf(reflect.TypeOf(decoded))) {
			return
		}
		last, err := lastValues(bytes.TrimSpace(data), reflect.TypeOf(decoded))
		if err != nil {
			t.Fatalf("%q is plain, but lastValues refuses it: %v", data, err)
		}
		slow := newOpData(op)
		if err := json.Unmarshal(last, slow); err != nil {
			t.Fatalf("%q is plain, but its lastValues reading is refused: %v", data, err)
		}
		if diff := cmp.Diff(decoded, slow); diff != "" {
			t.Fatalf("%q is plain, but decodes differently through lastValues (-plain +lastValues):\n%s", data, diff)
		}
	})
}

// checkIntegers checks that every integer held by v, decoded data, fits in 53 bits
// (protocol.md "Shapes"); path names v in the failure.
func checkIntegers(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			checkIntegers(t, v.Elem(), path)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			checkIntegers(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.Slice:
		for i := range v.Len() {
			checkIntegers(t, v.Index(i), path)
		}
	case reflect.Int, reflect.Int64:
		if n := v.Int(); n > MaxInteger || n < -MaxInteger {
			t.Fatalf("%s: accepted %d, past 53 bits", path, n)
		}
	}
}

// DecodeData reads data that holds no repeated name, no name in another case than a field's,
// no null in a list and no long integer with encoding/json alone (scanData), and everything
// else through lastValues.
func TestPlainJSON(t *testing.T) {
	type data struct {
		CallID string `json:"callID"`
		CallInviteData
	}
	fields := fieldNamesOf(reflect.TypeOf(&data{}))
	tests := []struct {
		data  string
		plain bool
	}{
		{`{}`, true},
		{`{"callID":"c1","config":{"extendedData":"a \"quoted\" {[null]} 12345678901234567"}}`, true},
		{`{"invitees":["bob","carol"],"config":{"timeout":30,"mode":1,"pushConfig":{"title":"t"}}}`, true},
		{`{"a":{"x":1},"b":{"x":2}}`, true}, // one name in two objects
		{`{"config":{"timeout":9007199254740991.5}}`, true},
		{`{"config":{"timeout":1e300}}`, true},
		{`{"config":{"extendedData":null},"invitees":[]}`, true},
		{`{"config":{"mode":1},"config":{"timeout":3}}`, false},
		{`{"callID":"a","CallID":"b"}`, false},
		{`{"config":{"Mode":1}}`, false},
		{`{"invitees":[],"Invitees":[]}`, false},
		{`{"a":1,"A":2,"callid":3}`, false},
		{`{"a":1,"A":2,"future":{"B":3,"b":4}}`, true}, // names of no field
		{`{"call\u0049D":"a"}`, false},
		{`{"invitees":["bob",null]}`, false},
		{`{"users":[{"a":1},null]}`, false},
		{`{"config":{"count":9007199254740993}}`, false},
		{`{"config":{"count":-1000000000000000}}`, false},
		{` { "a" : 1 , "a" : 2 } `, false},
	}
	for _, tt := range tests {
		if got := isPlain([]byte(tt.data), fields); got != tt.plain {
			t.Errorf("scanData(%s) = %v, want %v", tt.data, got, tt.plain)
		}
	}
}

// scanData compares each name of an object with the names before it, which for the ten
// thousand names a 64 KiB frame holds would take fifty million comparisons: an object of more
// than maxPlainNames (16) names, more than any op's data has, is left to lastValues, whose map
// finds a repeated name at once.
func TestPlainJSONLeavesObjectsOfManyNamesToLastValues(t *testing.T) {
	object := func(names int) string {
		members := make([]string, names)
		for i := range members {
			members[i] = fmt.Sprintf(`"n%d":%d`, i, i)
		}
		return "{" + strings.Join(members, ",") + "}"
	}
	for _, tt := range []struct {
		data  string
		plain bool
	}{
		{object(16), true},
		{`{"a":` + object(16) + `,"b":` + object(16) + `}`, true}, // the bound is per object
		{object(17), false},
		{`{"config":` + object(10000) + `}`, false},
	} {
		if got := isPlain([]byte(tt.data), nil); got != tt.plain {
			t.Errorf("scanData of %d bytes beginning %.40s = %v, want %v", len(tt.data), tt.data, got, tt.plain)
		}
	}
}
