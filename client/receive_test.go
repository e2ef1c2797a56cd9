package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/dialtone/dialtone/protocol"
)

// Frames as the server writes them (protocol/testdata/golden, compacted).
const (
	invitationFrame  = `{"event":"callInvitationReceived","seq":7,"data":{"callID":"c9VxQ2hKq0mZ7fT1","version":1,"mode":1,"caller":"alice","inviter":"alice","extendedData":"invite-data","timeout":30,"deadline":1700000030000,"createTime":1700000000000,"callUserList":[{"userID":"alice","state":1,"inviter":"","extendedData":"","deadline":0,"acceptTime":1700000000000,"updateTime":1700000000000},{"userID":"bob","state":0,"inviter":"alice","extendedData":"bob-data","deadline":1700000030000,"acceptTime":0,"updateTime":1700000000000}],"synthetic":false}}`
	inviteReplyFrame = `{"id":4,"result":{"callID":"c9VxQ2hKq0mZ7fT1","timeout":30,"errorUserList":[{"userID":"carol","reason":6000001}],"callInfo":{"callID":"c9VxQ2hKq0mZ7fT1","caller":"alice","inviter":"alice","mode":1,"state":1,"extendedData":"call-data","createTime":1700000000000,"endTime":0,"version":3,"callUserList":[{"userID":"alice","state":1,"inviter":"","extendedData":"","deadline":0,"acceptTime":1700000000000,"updateTime":1700000000000},{"userID":"bob","state":0,"inviter":"alice","extendedData":"bob-data","deadline":1700000030000,"acceptTime":0,"updateTime":1700000000000}]}}}`
)

// receiver returns a connection, without a socket, whose reader hands the events it
// dispatches to onEvent, and a channel that gets a signal when its reader ignores a frame as
// undecodable.
func receiver(onEvent func(*conn, protocol.Frame, func())) (*conn, chan struct{}) {
	ignored := make(chan struct{}, 1)
	return &conn{
		log:     slog.New(messageSignal{msg: "dialtone: ignoring an undecodable frame", ch: ignored}),
		onEvent: onEvent,
		pending: map[int64]replyFunc{},
	}, ignored
}

// signalled reports whether ch got a signal.
func signalled(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestReceiveDecodesOrIgnoresFrames pins what the reader makes of each frame: the envelope
// fields it hands on; the undecodable frames (not JSON, or an envelope field of another type)
// that still read as the reply to the request waiting (failReply), which then fails with
// ErrProtocol; and the other undecodable frames, which it ignores, leaving the request waiting
// for its reply and no event delivered.
func TestReceiveDecodesOrIgnoresFrames(t *testing.T) {
	const waiting = 4 // the request awaiting its reply
	failReply := &protocol.Frame{ID: waiting}
	for _, tc := range []struct {
		name, frame string
		want        *protocol.Frame // nil: ignored as undecodable
	}{
		{"event", `{"event":"callInvitationEnded","seq":7,"data":{"callID":"c1"}}`,
			&protocol.Frame{Event: "callInvitationEnded", Seq: 7, Data: json.RawMessage(`{"callID":"c1"}`)}},
		{"reply", `{"id":4,"result":{"callID":"c1"}}`,
			&protocol.Frame{ID: 4, Result: json.RawMessage(`{"callID":"c1"}`)}},
		{"error reply", `{"id":4,"error":{"code":6000001,"message":"m"}}`,
			&protocol.Frame{ID: 4, Error: &protocol.Error{Code: 6000001, Message: "m"}}},
		{"white space kept inside values and dropped around them",
			" \t\r\n{ \"id\" : 4 , \"result\" : { \"a\" : [ 1 , 2 ] } } \n",
			&protocol.Frame{ID: 4, Result: json.RawMessage(`{ "a" : [ 1 , 2 ] }`)}},
		{"null data and result kept as null", `{"id":4,"result":null,"data":null}`,
			&protocol.Frame{ID: 4, Result: json.RawMessage(`null`), Data: json.RawMessage(`null`)}},
		{"null envelope fields", `{"id":4,"event":null,"seq":null,"error":null}`, &protocol.Frame{ID: 4}},
		{"unknown fields", `{"id":4,"x":{"y":[true,false,null,"\u00e9",-1.5e3]},"result":1}`,
			&protocol.Frame{ID: 4, Result: json.RawMessage(`1`)}},
		{"names in another case", `{"ID":4,"Result":2,"ERROR":{"CODE":1,"Message":"m"}}`,
			&protocol.Frame{ID: 4, Result: json.RawMessage(`2`), Error: &protocol.Error{Code: 1, Message: "m"}}},
		{"escaped name", `{"\u0069d":4,"result":3}`, &protocol.Frame{ID: 4, Result: json.RawMessage(`3`)}},
		{"a repeated name keeps its last value", `{"id":3,"id":4,"result":1,"result":2}`,
			&protocol.Frame{ID: 4, Result: json.RawMessage(`2`)}},
		{"repeated errors merge", `{"id":4,"error":{"code":1,"message":"m"},"error":{"code":2}}`,
			&protocol.Frame{ID: 4, Error: &protocol.Error{Code: 2, Message: "m"}}},
		{"escaped event name", `{"event":"call\u0049nvitationEnded\n","seq":1}`,
			&protocol.Frame{Event: "callInvitationEnded\n", Seq: 1}},
		{"negative seq", `{"event":"e","seq":-2}`, &protocol.Frame{Event: "e", Seq: -2}},

		{"not JSON", `{"id":4,"result":`, failReply},
		{"empty", ``, nil},
		{"a list", `[{"id":4}]`, nil},
		{"a string", `"id"`, nil},
		{"trailing text", `{"id":4,"result":1} {}`, failReply},
		{"invalid JSON in the result", `{"id":4,"result":{"a":01}}`, failReply},
		{"invalid JSON in the data", `{"event":"e","seq":1,"data":[1,]}`, nil},
		{"invalid JSON in an unknown field", `{"id":4,"x":tru,"result":1}`, failReply},
		{"a control character in a string", "{\"id\":4,\"result\":\"a\tb\"}", failReply},
		{"a bad escape", `{"id":4,"result":"\x"}`, failReply},
		{"an id as a string", `{"id":"4","result":1}`, nil},
		{"an id with a fraction", `{"id":4.0,"result":1}`, nil},
		{"an id with an exponent", `{"id":4e0,"result":1}`, nil},
		{"an id over 64 bits", `{"id":9223372036854775808,"result":1}`, nil},
		{"an event name as a number", `{"event":5,"seq":1}`, nil},
		{"a seq as a string", `{"event":"e","seq":"1"}`, nil},
		{"a seq as true", `{"event":"e","seq":true}`, nil},
		{"an error as a string", `{"id":4,"error":"e"}`, failReply},
		{"an error code as a string", `{"id":4,"error":{"code":"1"}}`, failReply},
		{"an error message as a number", `{"id":4,"error":{"code":1,"message":2}}`, failReply},
		{"a type error before a good reply", `{"seq":"x","id":4,"result":1}`, failReply},
		{"an event name emptied by a repeat, as encoding/json reads it", `{"id":4,"event":"e","event":"","seq":"x"}`, failReply},
		{"an event name kept through a null", `{"id":4,"event":"e","event":null,"seq":"x"}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []protocol.Frame
			var bad error
			cn, ignored := receiver(func(_ *conn, f protocol.Frame, _ func()) { got = append(got, f) })
			cn.pending[waiting] = func(f protocol.Frame, err error) { got, bad = append(got, f), err }
			if !cn.receive([]byte(tc.frame)) {
				t.Fatal("the reader stopped")
			}
			if tc.want == nil {
				if len(got) != 0 || !signalled(ignored) {
					t.Fatalf("dispatched %+v; want the frame ignored as undecodable", got)
				}
				return
			}
			if signalled(ignored) {
				t.Error("the frame was reported as ignored")
			}
			if failed := errors.Is(bad, ErrProtocol); failed != (tc.want == failReply) {
				t.Errorf("the request got the error %v; want ErrProtocol: %t", bad, tc.want == failReply)
			}
			if diff := cmp.Diff([]protocol.Frame{*tc.want}, got); diff != "" {
				t.Fatalf("dispatched (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReceiveIgnoresNull: a frame of JSON null decodes as a zero frame, which is neither an
// event nor a reply, and is not reported as undecodable.
func TestReceiveIgnoresNull(t *testing.T) {
	var events int
	cn, ignored := receiver(func(*conn, protocol.Frame, func()) { events++ })
	stopped := !cn.receive([]byte(" null "))
	if reported := signalled(ignored); stopped || events != 0 || reported {
		t.Fatalf("reader stopped %v, events %d, reported undecodable %v; want nothing", stopped, events, reported)
	}
}

// BenchmarkReceive feeds the reader frames the load tool gets in every lifecycle, each down
// to the value the application gets: an invitation event, decoded as the client's onEvent
// does, and a callInvite reply, decoded as its call does.
func BenchmarkReceive(b *testing.B) {
	b.Run("callInvitationReceived", func(b *testing.B) {
		cn, _ := receiver(func(_ *conn, f protocol.Frame, _ func()) {
			if _, ev, err := decodeEvent(f); err != nil || ev.(*CallInvitationReceived).CallID == "" {
				b.Fatal(ev, err)
			}
		})
		benchReceive(b, cn, invitationFrame, func() {})
	})
	b.Run("callInviteReply", func(b *testing.B) {
		cn, _ := receiver(nil)
		await := func() {
			cn.pending[4] = func(f protocol.Frame, _ error) {
				var res CallInviteResult
				if err := decodeResult(f, &res); err != nil || res.CallInfo.CallID == "" {
					b.Fatal(res, err)
				}
			}
		}
		benchReceive(b, cn, inviteReplyFrame, await)
	})
}

// benchReceive has cn receive frame, after setup, once per iteration.
func benchReceive(b *testing.B, cn *conn, frame string, setup func()) {
	data := []byte(frame)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		setup()
		if !cn.receive(data) {
			b.Fatal("the reader stopped")
		}
	}
}

// frameSeeds are frames of the fuzz tests of decodeFrame and replyID.
var frameSeeds = []string{invitationFrame, inviteReplyFrame, `null`, `{"ſeq":1,"\u0045vent":"e\ud800"}`,
	`{"id":-9223372036854775808,"error":{"code":1},"error":{"message":"m"},"seq":-0}`, `[1,{"a":[]}]`,
	`{"id":1,"result":{"a":"\u00e9\n","b":[true,false,null,-0.5e+3]}}`, "{\"event\":\"\xff\"}",
	`{"seq":3,"Seq":1,"SEQ":2,"event":"e"}`, `{"id":2,"id":null}`, `{"id":1e0}`, `{"id":-9223372036854775809}`,
	`{"error":{"code":1},"error":null,"error":{"message":"m"}}`, `{"event":"callInvitationEnded","event":"x"}`,
	"{\"event\":\"callInvitationEnded\xff\"}", `{"id":1,"error":{"Code":1,"code":2}}`, `{"id":1,"error":{"code":1.5}}`,
	"{\"id\":1,\"x\":\"\x00\"}", `{"id":1,"x":-01}`, "{\"id\":1\x0b}", "\ufeff{}", `{"İD":1,"ıd":2,"K":3}`,
	`{"id":4,"event":"e","event":"","seq":1}`, `{"ID":3,"id":null,"Event":null}`, `{"event":"x","id":2}`,
}

// FuzzDecodeFrame checks that decodeFrame takes and refuses exactly what json.Unmarshal into a
// protocol.Frame does, and decodes the same frame.
func FuzzDecodeFrame(f *testing.F) {
	for _, seed := range frameSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(decodesAsUnmarshal)
}

// FuzzReplyID checks that replyID reads a frame's id and event name as encoding/json does: of a
// frame that decodeFrame takes, it returns the id that dispatch answers (a positive id, and no
// event), and 0 when dispatch answers no request.
func FuzzReplyID(f *testing.F) {
	for _, seed := range frameSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		frame, err := decodeFrame(data)
		if err != nil {
			return // what replyID reads of a refused frame: TestReceiveDecodesOrIgnoresFrames
		}
		var want int64
		if frame.ID > 0 && frame.Event == "" {
			want = frame.ID
		}
		if got := replyID(data); got != want {
			t.Fatalf("replyID(%.80q) = %d; want %d, of the decoded frame %+v", data, got, want, frame)
		}
	})
}

// TestDecodeFrameNestsAsDeepAsUnmarshal: values nested as deep as encoding/json allows are
// taken, one level more is refused.
func TestDecodeFrameNestsAsDeepAsUnmarshal(t *testing.T) {
	for _, depth := range []int{maxNesting, maxNesting + 1} {
		inner := strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1)
		for _, frame := range []string{`{"id":1,"result":` + inner + `}`, `{"id":1,"x":` + inner + `}`} {
			if valid := json.Valid([]byte(frame)); valid != (depth == maxNesting) {
				t.Fatalf("json.Valid of a depth of %d = %v", depth, valid)
			}
			decodesAsUnmarshal(t, []byte(frame))
		}
	}
}

// decodesAsUnmarshal fails t unless decodeFrame(data) gives what json.Unmarshal of data into a
// protocol.Frame gives: an error, or the same frame.
func decodesAsUnmarshal(t *testing.T, data []byte) {
	var want protocol.Frame
	wantErr := json.Unmarshal(data, &want)
	got, err := decodeFrame(data)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("decodeFrame(%.80q): error %v, json.Unmarshal: %v", data, err, wantErr)
	}
	if err == nil && !cmp.Equal(got, want) {
		t.Fatalf("decodeFrame(%.80q) (-json.Unmarshal +decodeFrame):\n%s", data, cmp.Diff(want, got))
	}
}

// BenchmarkReadMessage reads invitation frames, which a server writes without pause, off a
// loopback WebSocket: with websocket.Conn.Read, as the reader did until 2026-12-07, and with
// conn.read, as it does now. The server's writes run in the same process and count in both.
func BenchmarkReadMessage(b *testing.B) {
	b.Run("websocket.Read", func(b *testing.B) {
		ws := invitationStream(b)
		benchRead(b, func() ([]byte, error) {
			_, data, err := ws.Read(context.Background())
			return data, err
		})
	})
	b.Run("conn.read", func(b *testing.B) {
		cn := &conn{ws: invitationStream(b)}
		var buf bytes.Buffer
		benchRead(b, func() ([]byte, error) {
			_, data, err := cn.read(&buf)
			return data, err
		})
	})
}

// invitationStream returns the client's end of a loopback WebSocket whose server writes
// invitationFrame until the connection closes.
func invitationStream(b *testing.B) *websocket.Conn {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		for ws.Write(r.Context(), websocket.MessageText, []byte(invitationFrame)) == nil {
		}
	}))
	b.Cleanup(hs.Close)
	ws, _, err := websocket.Dial(b.Context(), "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ws.CloseNow() })
	return ws
}

// benchRead reads one message per iteration and checks it is the invitation frame.
func benchRead(b *testing.B, read func() ([]byte, error)) {
	b.ReportAllocs()
	b.SetBytes(int64(len(invitationFrame)))
	for b.Loop() {
		if data, err := read(); err != nil || len(data) != len(invitationFrame) {
			b.Fatalf("read %d bytes, %v", len(data), err)
		}
	}
}

// TestDecodeFrameKnownEventNamesWithoutCopy: an event frame whose name the client knows
// decodes without allocating: the name is the protocol's constant, not a copy of the frame's
// bytes, and the frame is not moved to the heap. A name it does not know, or one written with
// escapes, is decoded as json.Unmarshal decodes it (TestReceiveDecodesOrIgnoresFrames).
func TestDecodeFrameKnownEventNamesWithoutCopy(t *testing.T) {
	for _, name := range knownEvents {
		frame := []byte(`{"event":"` + name + `","seq":1}`)
		if allocs := testing.AllocsPerRun(10, func() {
			if f, err := decodeFrame(frame); err != nil || f.Event != name {
				t.Fatalf("decodeFrame(%s) = %+v, %v", frame, f, err)
			}
		}); allocs != 0 {
			t.Errorf("decoding the event name %q allocates %v times; want 0", name, allocs)
		}
	}
}
