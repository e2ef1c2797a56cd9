package wsconn_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/wsconn"
)

// The tests of this file speak RFC 6455 byte by byte over a bare socket, as a strict client
// or a proxy does.

// masked returns a client frame (masked, as RFC 6455 section 5.3 requires) with the given
// FIN bit, opcode and payload, its length in the shortest form.
func masked(fin bool, op byte, payload []byte) []byte {
	form := 7
	switch n := len(payload); {
	case n > 0xffff:
		form = 64
	case n >= 126:
		form = 16
	}
	return maskedLengthIn(form, fin, op, payload)
}

// maskedLengthIn is masked with the payload length written in form: 7, 16 or 64 bits (RFC
// 6455 section 5.2), whether or not that is the shortest form for it.
func maskedLengthIn(form int, fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var b []byte
	switch n := len(payload); form {
	case 7:
		b = []byte{b0, 0x80 | byte(n)}
	case 16:
		b = binary.BigEndian.AppendUint16([]byte{b0, 0x80 | 126}, uint16(n))
	default:
		b = binary.BigEndian.AppendUint64([]byte{b0, 0x80 | 127}, uint64(n))
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// closeBody is the payload of a close frame: code, then reason.
func closeBody(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// frame is one frame the server sent.
type frame struct {
	fin     bool
	op      byte
	payload []byte
}

// readFrame reads one server frame, which must be unmasked (RFC 6455 section 5.1).
func readFrame(t *testing.T, br *bufio.Reader) frame {
	t.Helper()
	var head [2]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	if head[1]&0x80 != 0 {
		t.Fatalf("the server sent a masked frame (% x)", head)
	}
	if head[0]&0x70 != 0 {
		t.Fatalf("the server sent a frame with reserved bits set (% x)", head)
	}
	n := uint64(head[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			t.Fatal(err)
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			t.Fatal(err)
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatal(err)
	}
	return frame{fin: head[0]&0x80 != 0, op: head[0] & 0x0f, payload: p}
}

// expectClose reads the server's next frame, which must be a close frame with code.
func expectClose(t *testing.T, br *bufio.Reader, code int) {
	t.Helper()
	f := readFrame(t, br)
	if f.op != 8 || len(f.payload) < 2 || int(binary.BigEndian.Uint16(f.payload)) != code {
		t.Fatalf("server sent opcode %d with payload % x, want a close frame with status %d", f.op, f.payload, code)
	}
}

// expectEOF checks that the server sends nothing more and closes the TCP connection.
func expectEOF(t *testing.T, nc net.Conn, br *bufio.Reader) {
	t.Helper()
	must(t, nc.SetReadDeadline(time.Now().Add(5*time.Second)))
	if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
		t.Fatalf("after the close frame the server sent % x and ended with %v, want nothing and its end", rest, err)
	}
}

// opened returns a raw client and the server's end of a new connection whose first frames
// (those of the test) went with the handshake. The server's end is read by a goroutine that
// sends each message's text, and closes the channel once Read or Wait failed.
func opened(t *testing.T, frames []byte) (net.Conn, *bufio.Reader, <-chan string) {
	t.Helper()
	srv, conns := serve(t)
	nc, br := rawClient(t, srv, frames)
	must(t, nc.SetReadDeadline(time.Now().Add(5*time.Second))) // a missing frame fails, not hangs
	server := <-conns
	t.Cleanup(func() { server.CloseNow() })
	msgs := make(chan string, 16)
	go func() {
		defer close(msgs)
		for server.Wait() == nil {
			err := server.Read(func(m wsconn.Message) { msgs <- fmt.Sprintf("%v %s", m.Binary, m.Data) })
			if err != nil {
				return
			}
		}
	}()
	return nc, br, msgs
}

// RFC 6455 sections 5.5.1 and 7.4: a close frame with a code an endpoint may send is echoed
// with that code, and the server then closes the TCP connection, sending nothing more; a
// close frame whose code no endpoint may send (0–999, 1004–1006, 1015, those up to 2999 that
// no public specification defines, 5000 and above) fails the connection with 1002, as one
// whose payload is a single byte does; one whose reason is not UTF-8 fails it with 1007
// (section 8.1). 1012–1014 are in the IANA registry that section 11.7 sets up.
func TestCloseFrameCodes(t *testing.T) {
	for _, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4009, 4999} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			nc, br, _ := opened(t, masked(true, 8, closeBody(code, "bye")))
			expectClose(t, br, code)
			expectEOF(t, nc, br)
		})
	}
	for _, code := range []int{0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			_, br, _ := opened(t, masked(true, 8, closeBody(code, "")))
			expectClose(t, br, wsconn.StatusProtocol)
		})
	}
	t.Run("one byte", func(t *testing.T) {
		_, br, _ := opened(t, masked(true, 8, []byte{0x03}))
		expectClose(t, br, wsconn.StatusProtocol)
	})
	t.Run("reason not UTF-8", func(t *testing.T) {
		_, br, _ := opened(t, masked(true, 8, closeBody(1000, "bye \xff")))
		expectClose(t, br, wsconn.StatusInvalidPayload)
	})
	t.Run("nothing after the close", func(t *testing.T) {
		frames := append(masked(true, 8, closeBody(1000, "")), masked(true, 9, []byte("ping"))...)
		nc, br, msgs := opened(t, append(frames, masked(true, 1, []byte("late"))...))
		expectClose(t, br, 1000)
		expectEOF(t, nc, br)
		for m := range msgs {
			t.Errorf("a message after the close frame was handed over: %q", m)
		}
	})
}

// RFC 6455 sections 5.2, 5.4 and 5.5: reserved bits without an extension, reserved opcodes,
// control frames over 125 bytes or fragmented, a continuation with no message begun and a new
// data frame inside a fragmented message each fail the connection with 1002, and no message
// is handed over.
func TestProtocolViolationsCloseWith1002(t *testing.T) {
	rsv := func(bits byte) []byte {
		f := masked(true, 1, []byte("hi"))
		f[0] |= bits
		return f
	}
	cases := map[string][]byte{
		"RSV1":                      rsv(0x40),
		"RSV2":                      rsv(0x20),
		"RSV3":                      rsv(0x10),
		"ping of 126 bytes":         masked(true, 9, bytes.Repeat([]byte("p"), 126)),
		"close of 126 bytes":        masked(true, 8, closeBody(1000, strings.Repeat("r", 124))),
		"fragmented ping":           masked(false, 9, []byte("p")),
		"fragmented close":          masked(false, 8, closeBody(1000, "")),
		"continuation first":        masked(true, 0, []byte("x")),
		"text inside a message":     append(masked(false, 1, []byte("a")), masked(true, 1, []byte("b"))...),
		"binary inside a message":   append(masked(false, 1, []byte("a")), masked(true, 2, []byte("b"))...),
		"continuation after a last": append(masked(true, 1, []byte("a")), masked(true, 0, []byte("b"))...),
	}
	for _, op := range []byte{3, 4, 5, 6, 7, 11, 12, 13, 14, 15} {
		cases[fmt.Sprintf("opcode %d", op)] = masked(true, op, nil)
	}
	for name, frames := range cases {
		t.Run(name, func(t *testing.T) {
			_, br, msgs := opened(t, frames)
			expectClose(t, br, wsconn.StatusProtocol)
			for m := range msgs {
				if name != "continuation after a last" || m != "false a" {
					t.Errorf("handed over %q", m)
				}
			}
		})
	}
}

// RFC 6455 section 5.2: "the minimal number of bytes MUST be used to encode the length". A
// data or control frame whose length is written in the 16-bit form but fits 7 bits, or in the
// 64-bit form but fits 16, fails the connection with 1002, and no message is handed over.
func TestLengthNotInItsShortestFormClosesWith1002(t *testing.T) {
	text := []byte(strings.Repeat("t", 200))
	cases := map[string][]byte{
		"text of 0 bytes in 16 bits":   maskedLengthIn(16, true, 1, nil),
		"text of 125 bytes in 16 bits": maskedLengthIn(16, true, 1, text[:125]),
		"text of 0 bytes in 64 bits":   maskedLengthIn(64, true, 1, nil),
		"text of 125 bytes in 64 bits": maskedLengthIn(64, true, 1, text[:125]),
		"text of 200 bytes in 64 bits": maskedLengthIn(64, true, 1, text),
		"ping in 16 bits":              maskedLengthIn(16, true, 9, []byte("p")),
		"close in 64 bits":             maskedLengthIn(64, true, 8, closeBody(1000, "")),
		"continuation in 16 bits": append(masked(false, 1, []byte("a")),
			maskedLengthIn(16, true, 0, []byte("b"))...),
	}
	for name, frames := range cases {
		t.Run(name, func(t *testing.T) {
			_, br, msgs := opened(t, frames)
			expectClose(t, br, wsconn.StatusProtocol)
			for m := range msgs {
				t.Errorf("handed over %q", m)
			}
		})
	}
}

// RFC 6455 section 5.4: a ping between the fragments of a message is answered at once, with
// its payload (section 5.5.3), and the message is handed over whole; an unsolicited pong is
// ignored (section 5.5.3).
func TestControlFramesBetweenFragments(t *testing.T) {
	frames := bytes.Join([][]byte{
		masked(false, 1, []byte("hel")),
		masked(true, 9, []byte("are you there")),
		masked(false, 0, []byte("lo ")),
		masked(true, 10, []byte("unsolicited")),
		masked(true, 0, []byte("world")),
		masked(true, 9, nil),
	}, nil)
	_, br, msgs := opened(t, frames)
	if f := readFrame(t, br); f.op != 10 || !f.fin || string(f.payload) != "are you there" {
		t.Fatalf("server sent %+v, want a pong with the ping's payload", f)
	}
	if f := readFrame(t, br); f.op != 10 || len(f.payload) != 0 {
		t.Fatalf("server sent %+v, want an empty pong", f)
	}
	if m := <-msgs; m != "false hello world" {
		t.Fatalf("handed over %q, want the message whole", m)
	}
}

// A frame may arrive one byte at a time (RFC 6455 section 5 puts no bound on TCP's
// segmentation): its header, extended length, mask and payload are read as they come.
func TestFrameOneByteAtATime(t *testing.T) {
	nc, br, msgs := opened(t, nil)
	text := strings.Repeat("ab", 100) // a 16-bit extended length
	for _, b := range append(masked(true, 1, []byte(text)), masked(true, 9, []byte("p"))...) {
		_, err := nc.Write([]byte{b})
		must(t, err)
		time.Sleep(time.Millisecond)
	}
	if m := <-msgs; m != "false "+text {
		t.Fatalf("handed over %q", m)
	}
	if f := readFrame(t, br); f.op != 10 || string(f.payload) != "p" {
		t.Fatalf("server sent %+v, want a pong", f)
	}
}

// Several frames in one TCP segment are each handled, in order.
func TestSeveralFramesInOneSegment(t *testing.T) {
	nc, br, msgs := opened(t, nil)
	_, err := nc.Write(bytes.Join([][]byte{
		masked(true, 1, []byte("one")), masked(true, 9, []byte("p1")), masked(true, 2, []byte("two")),
		masked(false, 1, []byte("thr")), masked(true, 0, []byte("ee")), masked(true, 8, closeBody(1000, "")),
	}, nil))
	must(t, err)
	for _, want := range []string{"false one", "true two", "false three"} {
		if m := <-msgs; m != want {
			t.Fatalf("handed over %q, want %q", m, want)
		}
	}
	if f := readFrame(t, br); f.op != 10 || string(f.payload) != "p1" {
		t.Fatalf("server sent %+v, want a pong", f)
	}
	expectClose(t, br, 1000)
	expectEOF(t, nc, br)
}

// The limit is on the message: exactly the limit is taken, whole or in fragments, and one byte
// more closes with 1009 (RFC 6455 section 7.4.1) before the payload is read.
func TestMessageSizeLimit(t *testing.T) {
	full := bytes.Repeat([]byte("x"), limit)
	for name, tt := range map[string]struct {
		frames []byte
		status int
	}{
		"at the limit":              {masked(true, 1, full), 0},
		"at the limit in fragments": {append(masked(false, 1, full[:10]), masked(true, 0, full[10:])...), 0},
		"one byte over":             {masked(true, 1, append(full, 'x')), wsconn.StatusMessageTooBig},
		"one byte over in fragments": {append(masked(false, 1, full), masked(true, 0, []byte("x"))...),
			wsconn.StatusMessageTooBig},
		"over, header only": {[]byte{0x81, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4}, wsconn.StatusMessageTooBig},
	} {
		t.Run(name, func(t *testing.T) {
			_, br, msgs := opened(t, tt.frames)
			if tt.status == 0 {
				if m := <-msgs; m != "false "+string(full) {
					t.Fatalf("handed over %d bytes, want %d", len(m)-6, limit)
				}
				return
			}
			expectClose(t, br, tt.status)
			if m, ok := <-msgs; ok {
				t.Fatalf("handed over %d bytes", len(m))
			}
		})
	}
}
