package client

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// goldenDir holds the frames of protocol.md as the server writes them.
const goldenDir = "../protocol/testdata/golden"

// unmarshalCases are values that the one-pass read takes, and the unusual forms it leaves to
// json.Unmarshal, each to be decoded into every type readValue reads.
var unmarshalCases = []string{
	`{"callID":"c1","version":3,"mode":1,"synthetic":true,"caughtUp":false,"callState":2,"endTime":-0}`,
	` \t{ "callID" : "c1" , "callUserList" : [ { "userID" : "a" } , { "state" : -1 } ] } ` + "\n",
	`{"callUserList":[]}`, `{"errorUserList":[]}`, `{"callInfo":{"callUserList":[]}}`,
	`{"callUserList":[{"userID":"a","state":1,"inviter":"b","extendedData":"x","deadline":5,"acceptTime":6,"updateTime":7}]}`,
	`{"callInfo":{"callID":"c","state":1,"callUserList":[{"userID":"u"}]},"errorUserList":[{"userID":"x","reason":6000001}]}`,
	`{"callID":null,"version":null,"mode":null,"callUserList":null,"errorUserList":null,"headSeq":null}`,
	`{"synthetic":null}`, `{"caughtUp":null}`, `{"callInfo":null}`,
	`{"callID":"c1","callID":"c2"}`,
	`{"callUserList":[{"userID":"a","state":1}],"callUserList":[{"inviter":"b"}]}`,
	`{"callInfo":{"callID":"c"},"callInfo":{"version":2}}`,
	`{"CallID":"c1"}`, `{"callid":"c1","VERSION":2}`, `{"call\u0049D":"c1"}`, `{"x":{"y":[1,{"z":null}]},"callID":"c1"}`,
	`{"callID":"c\u00e9\n\"","caller":"\ud800"}`, "{\"callID\":\"\xff\xfe\"}", `{"callID":"é"}`,
	`{"version":1.5}`, `{"version":1e3}`, `{"version":9223372036854775808}`, `{"version":-9223372036854775808}`,
	`{"mode":9223372036854775807}`, `{"mode":1.0}`, `{"timeout":"30"}`, `{"version":true}`, `{"callID":1}`,
	`{"synthetic":1}`, `{"caughtUp":"true"}`, `{"callUserList":{}}`, `{"callUserList":[null]}`,
	`{"callUserList":[1]}`, `{"callUserList":["a"]}`, `{"errorUserList":[{"reason":"x"}]}`, `{"callInfo":[]}`,
	`{"callID":"c1","version":"x","caller":"a","callUserList":[{"userID":"u","state":"s","inviter":"i"}]}`,
	`{"callID":"c1"} x`, `{"callID":"c1"`, `{"callID":"c1",}`, `{"callID" "c1"}`, `{"callUserList":[{},]}`,
	"{\"callID\":\"a\tb\"}", `{"callID":"\x"}`, `{"version":01}`, `{"version":-}`, `{"synthetic":tru}`,
	``, ` `, `null`, `[]`, `"s"`, `1`, `{}`, `{} {}`,
	`{"callID":"\ud83d\ude00"}`, `{"callID":"\ude00\ud83d"}`, `{"callID":"\ud83d\u0041"}`, "{\"callID\":\"\xed\xa0\x80\"}",
	"{\"callID\":\"\xc0\xaf\x7f\u2028\"}", "{\"callID\":\"\x00\"}", `{"callID":"\/\b\f\n\r\t\"\\"}`,
	`{"version":-0.0}`, `{"version":+1}`, `{"version":1E2}`, `{"mode":1e2}`, `{"timeout":-9223372036854775809}`,
	`{"version":1e400}`, `{"version":18446744073709551616}`, `{"callID":-0}`, `{"callID":{}}`, `{"callID":"a","callID":null}`,
	`{"callInfo":{"callUserList":[{"userID":"a"}]},"callInfo":{"callUserList":[{"state":1},{"userID":"b"}]}}`,
	`{"CallID":"x","callID":"y"}`, `{"callID":"y","CallID":"x"}`, `{"ſynthetic":true}`, `{"caller":"a","Caller":null}`,
	`{"callUserList":[{"userID":null,"state":null,"deadline":null}]}`, `{"callInfo":{"callID":null,"callUserList":null}}`,
	" \t\n\r{ \t\n\r\"callID\" \t\n\r: \"c\" , \"callUserList\" : [ \n ] \t\n\r} \t\n\r", "\ufeff{}", `{"callID":"c"} null`,
}

// decodedTypes check a value's decoding into each type readValue reads, and into one it does
// not (CallJoinResult).
var decodedTypes = []func(*testing.T, []byte){
	sameAsUnmarshal[CallInvitationCreated], sameAsUnmarshal[CallInvitationReceived],
	sameAsUnmarshal[CallInvitationCancelled], sameAsUnmarshal[CallInvitationTimeout],
	sameAsUnmarshal[CallInvitationEnded], sameAsUnmarshal[CallUserStateChanged],
	sameAsUnmarshal[CallMainDeviceChanged], sameAsUnmarshal[LoginResult], sameAsUnmarshal[CallIDResult],
	sameAsUnmarshal[CallInviteResult], sameAsUnmarshal[CallEndResult], sameAsUnmarshal[CallJoinResult],
}

// TestUnmarshalIsJSONUnmarshal: every case decodes into every type as json.Unmarshal decodes
// it, errors and partly decoded values included.
func TestUnmarshalIsJSONUnmarshal(t *testing.T) {
	for _, data := range unmarshalCases {
		for _, check := range decodedTypes {
			check(t, []byte(data))
		}
	}
}

// TestReadValueReadsTheServersValues: the events and results that readValue reads, as the
// server writes them (protocol/testdata/golden, indented), are read in one pass, into what
// json.Unmarshal makes of them.
func TestReadValueReadsTheServersValues(t *testing.T) {
	for file, check := range map[string]func(*testing.T, []byte){
		"callInvitationCreated.event.json":            readsInOnePass[CallInvitationCreated],
		"callInvitationReceived.event.json":           readsInOnePass[CallInvitationReceived],
		"callInvitationReceived.synthetic.event.json": readsInOnePass[CallInvitationReceived],
		"callInvitationCancelled.event.json":          readsInOnePass[CallInvitationCancelled],
		"callInvitationTimeout.event.json":            readsInOnePass[CallInvitationTimeout],
		"callInvitationEnded.event.json":              readsInOnePass[CallInvitationEnded],
		"callUserStateChanged.event.json":             readsInOnePass[CallUserStateChanged],
		"callUserStateChanged.ended.event.json":       readsInOnePass[CallUserStateChanged],
		"callMainDeviceChanged.event.json":            readsInOnePass[CallMainDeviceChanged],
		"login.result.json":                           readsInOnePass[LoginResult],
		"callAccept.result.json":                      readsInOnePass[CallIDResult],
		"callReject.result.json":                      readsInOnePass[CallIDResult],
		"callInvite.result.json":                      readsInOnePass[CallInviteResult],
		"callEnd.result.json":                         readsInOnePass[CallEndResult],
	} {
		t.Run(file, func(t *testing.T) { check(t, goldenValue(t, file)) })
	}
}

// FuzzUnmarshal checks that unmarshal decodes any text into each type as json.Unmarshal does.
func FuzzUnmarshal(f *testing.F) {
	for _, data := range unmarshalCases {
		f.Add([]byte(data))
	}
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no golden frames: %v", err)
	}
	for _, file := range files {
		f.Add(goldenValue(f, filepath.Base(file)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, check := range decodedTypes {
			check(t, data)
		}
	})
}

// sameAsUnmarshal fails t unless unmarshal of data into a zero T gives what json.Unmarshal
// gives: the same error, and the same value.
func sameAsUnmarshal[T any](t *testing.T, data []byte) {
	t.Helper()
	var got, want T
	gotErr, wantErr := unmarshal(data, &got), json.Unmarshal(data, &want)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !cmp.Equal(got, want) {
		t.Fatalf("unmarshal(%.80q) into %T: error %v, json.Unmarshal: %v; value (-json.Unmarshal +unmarshal):\n%s",
			data, got, gotErr, wantErr, cmp.Diff(want, got))
	}
}

// readsInOnePass fails t unless readValue reads data into a T, which sameAsUnmarshal checks.
func readsInOnePass[T any](t *testing.T, data []byte) {
	t.Helper()
	var v T
	if !readValue(data, &v) {
		t.Fatalf("readValue left %s to json.Unmarshal", data)
	}
	sameAsUnmarshal[T](t, data)
}

// goldenValue returns the data of the golden event frame, or the result of the golden reply,
// in file, as the frame has it.
func goldenValue(tb testing.TB, file string) []byte {
	tb.Helper()
	frame, err := os.ReadFile(filepath.Join(goldenDir, file))
	if err != nil {
		tb.Fatal(err)
	}
	f, err := decodeFrame(frame)
	if err != nil {
		tb.Fatalf("%s: %v", file, err)
	}
	if strings.Contains(file, ".event.") {
		return f.Data
	}
	return f.Result
}
