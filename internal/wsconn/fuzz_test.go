package wsconn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// scriptedConn is a net.Conn whose peer sent in and then ended its stream; what this end
// writes is kept in out.
type scriptedConn struct {
	net.Conn // nil: Conn's reader and writer use only the methods below
	in       *bytes.Reader
	out      bytes.Buffer
	closed   bool
}

func (s *scriptedConn) Read(p []byte) (int, error) {
	if s.closed {
		return 0, net.ErrClosed
	}
	return s.in.Read(p)
}

func (s *scriptedConn) Write(p []byte) (int, error) {
	if s.closed {
		return 0, net.ErrClosed
	}
	return s.out.Write(p)
}

func (s *scriptedConn) Close() error                     { s.closed = true; return nil }
func (s *scriptedConn) SetReadDeadline(time.Time) error  { return nil }
func (s *scriptedConn) SetWriteDeadline(time.Time) error { return nil }

// fuzzReadLimit is small enough for the fuzzer to reach with 7-bit and 16-bit lengths.
const fuzzReadLimit = 300

// allocBudget bounds what reading input may allocate: the messages and payloads it holds,
// a few times over for the copies of fragments and headers, one payload of the read limit
// for a frame cut short, the pooled read buffer, and slack for the runtime and for what
// other tests' goroutines may allocate meanwhile. A payload allocated at a length the client
// claims, before the limit refused it, passes it as soon as the length passes the slack.
func allocBudget(input []byte) uint64 {
	return uint64(8*len(input) + 4*fuzzReadLimit + 4096 + 128<<10)
}

// FuzzRead feeds arbitrary client bytes to a connection's reader, as they would follow the
// handshake. Whatever the bytes, Read does not panic, allocates within allocBudget (a frame
// claiming a huge length is refused before its payload is allocated), hands over only
// messages within the read limit, text ones in UTF-8, and sends only well-formed frames:
// pongs, then at most one close frame, last. It ends in one of three ways: the bytes ran
// out, and no close frame was sent; the client's close frame, echoed with a code an endpoint
// may send, and the socket closed; or a refusal, a close frame with the code the package
// comment gives for it (RFC 6455 section 7.4.1: 1002, 1007 or 1009). Input whose first frame
// has a length RFC 6455 section 5.2 forbids is refused with 1002, no message handed over.
func FuzzRead(f *testing.F) {
	for _, seed := range []string{
		"\x81\x82\x00\x00\x00\x00hi",       // text "hi", zero mask
		"\x82\x82\x37\xfa\x21\x3d\x36\xf8", // binary 01 02
		// a text message in two fragments, a ping between them
		"\x01\x81\x00\x00\x00\x00a" + "\x89\x80\x00\x00\x00\x00" + "\x80\x81\x00\x00\x00\x00b",
		"\x81\xfe\x00\xc8\x00\x00\x00\x00" + string(bytes.Repeat([]byte("x"), 200)), // 16-bit length
		"\x88\x82\x00\x00\x00\x00\x03\xe8",                                          // close 1000
		"\x88\x81\x00\x00\x00\x00\x03",                                              // close of one byte
		"\x81\x02hi",                                                                // unmasked
		"\x81\xfe\x00\x05\x00\x00\x00\x00hello",                                     // 16 bits for a 7-bit length
		"\x81\xff\x80\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00",                  // 64-bit length, top bit set
		"\x81\xff\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00",                  // 2^32 bytes claimed
		"\x81\x81\x00\x00\x00\x00\xff",                                              // text not UTF-8
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		nc := &scriptedConn{in: bytes.NewReader(input)}
		c := &Conn{nc: nc, readLimit: fuzzReadLimit}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		handed := 0
		err := readToTheEnd(c, func(m Message) { handed++; checkMessage(t, m) })
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > allocBudget(input) {
			t.Errorf("reading %d bytes allocated %d bytes, over %d", len(input), grew, allocBudget(input))
		}
		checkEnd(t, err, nc)
		if malformedFirstLength(input) {
			if code, closed := sentFrames(t, nc.out.Bytes()); !closed || code != StatusProtocol || handed > 0 {
				t.Errorf("the first frame's length is malformed, yet %d messages were handed over "+
					"and the close frame sent was %v with %d, want 1002", handed, closed, code)
			}
		}
	})
}

// malformedFirstLength reports whether input begins with a whole frame header (its extended
// length and mask key included) whose length RFC 6455 section 5.2 forbids: in a longer form
// than it needs, or of 64 bits with the top bit set. Such a header is refused before anything
// else about the frame is looked at.
func malformedFirstLength(input []byte) bool {
	if len(input) < 2 {
		return false
	}
	maskKey := 4 * int(input[1]>>7)
	switch {
	case input[1]&0x7f == 126 && len(input) >= 4+maskKey:
		return binary.BigEndian.Uint16(input[2:]) < 126
	case input[1]&0x7f == 127 && len(input) >= 10+maskKey:
		return binary.BigEndian.Uint64(input[2:]) <= 0xffff || input[2]&0x80 != 0
	}
	return false
}

// readToTheEnd calls c.Read, handing messages to handle, until it fails, and returns its error.
func readToTheEnd(c *Conn, handle func(Message)) error {
	for {
		if err := c.Read(handle); err != nil {
			return err
		}
	}
}

// checkMessage checks that a message handed over is within the read limit and, when text,
// UTF-8.
func checkMessage(t *testing.T, m Message) {
	t.Helper()
	if len(m.Data) > fuzzReadLimit {
		t.Errorf("handed over a message of %d bytes, over the limit of %d", len(m.Data), fuzzReadLimit)
	}
	if !m.Binary && !utf8.Valid(m.Data) {
		t.Errorf("handed over a text message that is not UTF-8: %q", m.Data)
	}
}

// checkEnd checks how reading ended (err, Read's last error) against the frames sent on nc.
func checkEnd(t *testing.T, err error, nc *scriptedConn) {
	t.Helper()
	closeCode, closed := sentFrames(t, nc.out.Bytes())
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if closed {
			t.Errorf("the bytes ran out (%v), yet a close frame with %d was sent", err, closeCode)
		}
	case errors.Is(err, ErrClosed):
		if !closed || !validCloseCode(closeCode) || !nc.closed {
			t.Errorf("a close frame was taken, but the answer was a close frame %v with code %d, socket closed %v",
				closed, closeCode, nc.closed)
		}
	default:
		refusals := []int{StatusProtocol, StatusInvalidPayload, StatusMessageTooBig}
		if !closed || !slices.Contains(refusals, closeCode) {
			t.Errorf("reading failed with %v, but the close frame sent was %v with code %d, want one of %v",
				err, closed, closeCode, refusals)
		}
	}
}

// sentFrames parses what the server sent: final, unmasked pongs and, last if at all, one
// close frame, whose code it returns.
func sentFrames(t *testing.T, out []byte) (closeCode int, closed bool) {
	t.Helper()
	r := bytes.NewReader(out)
	for r.Len() > 0 {
		if closed {
			t.Fatalf("the server sent % x after its close frame", out[len(out)-r.Len():])
		}
		h, err := ws.ReadHeader(r)
		if err != nil || !h.Fin || h.Masked || h.Rsv != 0 || h.Length > int64(r.Len()) {
			t.Fatalf("the server sent a malformed frame %+v (%v) in % x", h, err, out)
		}
		payload := make([]byte, h.Length)
		io.ReadFull(r, payload) // r holds it: a bytes.Reader of at least h.Length bytes
		switch h.OpCode {
		case ws.OpPong:
		case ws.OpClose:
			if len(payload) < 2 {
				t.Fatalf("the server sent a close frame without a code: % x", payload)
			}
			closeCode, closed = int(binary.BigEndian.Uint16(payload)), true
		default:
			t.Fatalf("the server answered with a frame of opcode %d", h.OpCode)
		}
	}
	return closeCode, closed
}
