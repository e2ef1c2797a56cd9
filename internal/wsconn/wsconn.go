// Package wsconn is the server end of a WebSocket connection (RFC 6455) made to cost little
// while idle: between messages it holds no read or write buffer and needs no goroutine with a
// deep stack. A connection is read in two steps: Wait parks until bytes arrive, holding nothing
// but a shallow stack, and Read then takes a pooled buffer, reads and hands over the messages
// that arrived, and gives the buffer back. Writes go straight to the socket: one system call
// for a frame, or for up to framesPerWrite frames written together. Ping, pong and close frames
// are answered here; the caller sees only messages.
//
// It is a strict server of RFC 6455, version 13, without extensions or subprotocols. A
// client frame that breaks the RFC fails the connection with a close frame: unmasked, with a
// reserved bit or opcode, a control frame over 125 bytes or fragmented, a continuation with no
// message begun or a new message inside a fragmented one, a length not in its shortest form
// or a 64-bit length with its top bit set, or a close frame of one byte or with a code no
// endpoint may send, with 1002; a text message or close reason that is not UTF-8 with 1007; a
// message over the read limit with 1009, before its payload is read. Pings between the
// fragments of a message are answered at once, with their payload; pongs are dropped.
package wsconn

import (
	"bufio"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Close status codes used by the package (RFC 6455 section 7.4.1).
const (
	StatusNormal         = 1000
	StatusProtocol       = 1002
	StatusInvalidPayload = 1007 // a text message or close reason that is not UTF-8 (RFC 6455 section 8.1)
	StatusMessageTooBig  = 1009
)

// CloseTimeout bounds the wait for the peer's close frame after this end sent its own.
const CloseTimeout = 5 * time.Second

// ErrClosed is returned by writes after the close frame was sent, and by the Read that takes
// the peer's close frame, which ends the close handshake and closes the socket; a Wait or Read
// after that fails with the closed socket's error.
var ErrClosed = errors.New("wsconn: connection closed")

// Conn is one upgraded connection. Wait and Read belong to one reader at a time; WriteText,
// Close and CloseNow may be called from any goroutine.
type Conn struct {
	nc        net.Conn
	raw       syscall.RawConn // nil when nc has no file descriptor (TLS): Wait returns at once
	pending   []byte          // bytes the HTTP server had read past the handshake
	readLimit int64

	message  []byte // the fragments so far of a message split over frames (reader only)
	fragment bool   // a fragmented message is open (reader only)
	binary   bool   // its first frame was binary (reader only)

	wmu       sync.Mutex
	closeSent bool
	writeErr  error // the first write that failed: the stream may end inside a frame
}

// Upgrade answers the WebSocket handshake of r (RFC 6455 section 4.2) and takes the connection
// over from the HTTP server. Messages longer than readLimit bytes close the connection with
// status 1009. No extension or subprotocol is negotiated, whatever the client offers.
//
// A request that is not a version 13 handshake is refused with an HTTP error that says why,
// and the connection stays the HTTP server's: a method other than GET gets 405, a request
// before HTTP/1.1 505, one that does not ask to upgrade to WebSocket (Upgrade holding the token
// "websocket" and Connection the token "Upgrade", in any case, in lists and on any number of
// lines) 426 naming the upgrade, a Sec-WebSocket-Version other than one 13 (or none) 426 with
// Sec-WebSocket-Version: 13, and a Sec-WebSocket-Key that is not one, base64 of 16 bytes, 400.
// On error the HTTP response has been written and nothing is left open.
func Upgrade(w http.ResponseWriter, r *http.Request, readLimit int64) (*Conn, error) {
	if err := checkHandshake(w, r); err != nil {
		return nil, fmt.Errorf("wsconn: upgrade: %w", err)
	}
	nc, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "the connection cannot be taken over", http.StatusInternalServerError)
		return nil, fmt.Errorf("wsconn: upgrade: %w", err)
	}
	// The HTTP server's deadlines are the handshake's: the connection keeps its own.
	answer := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + acceptKey(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
	err = nc.SetDeadline(time.Time{})
	if err == nil {
		err = nc.SetWriteDeadline(time.Now().Add(CloseTimeout))
	}
	if err == nil {
		_, err = io.WriteString(nc, answer)
	}
	if err == nil {
		err = nc.SetWriteDeadline(time.Time{})
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("wsconn: upgrade: %w", err)
	}
	c := &Conn{nc: nc, readLimit: readLimit}
	if n := rw.Reader.Buffered(); n > 0 { // a client that did not wait for the handshake's answer
		c.pending, _ = rw.Reader.Peek(n)
		c.pending = append([]byte(nil), c.pending...)
	}
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
		}
	}
	return c, nil
}

// checkHandshake checks that r is a WebSocket handshake this end takes (RFC 6455 section
// 4.2.1) and, when it is not, answers it with the error Upgrade's comment gives and returns
// why.
func checkHandshake(w http.ResponseWriter, r *http.Request) error {
	refuse := func(status int, why string) error {
		http.Error(w, why, status)
		return errors.New(why)
	}
	h := w.Header()
	switch {
	case r.Method != http.MethodGet:
		h.Set("Allow", http.MethodGet)
		return refuse(http.StatusMethodNotAllowed, "a WebSocket handshake is a GET request")
	case r.ProtoMajor != 1 || r.ProtoMinor < 1:
		return refuse(http.StatusHTTPVersionNotSupported, "a WebSocket handshake is an HTTP/1.1 request")
	case !hasToken(r.Header["Upgrade"], "websocket") || !hasToken(r.Header["Connection"], "upgrade"):
		h.Set("Upgrade", "websocket")
		h.Set("Connection", "Upgrade")
		h.Set("Sec-WebSocket-Version", "13")
		return refuse(http.StatusUpgradeRequired,
			"this is a WebSocket endpoint: the request must ask to upgrade (Upgrade: websocket, Connection: Upgrade)")
	}
	if v := r.Header["Sec-Websocket-Version"]; len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		h.Set("Sec-WebSocket-Version", "13")
		return refuse(http.StatusUpgradeRequired, "Sec-WebSocket-Version must be 13")
	}
	if k := r.Header["Sec-Websocket-Key"]; len(k) != 1 || !validKey(k[0]) {
		return refuse(http.StatusBadRequest, "Sec-WebSocket-Key must be given once, base64 of 16 bytes")
	}
	return nil
}

// hasToken reports whether the comma-separated lists of values hold token, in any case
// (RFC 9110 section 5.6.1; a header on several lines is one list).
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.Trim(t, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// validKey reports whether key is a Sec-WebSocket-Key: 16 bytes in base64 (RFC 6455 section
// 4.2.1).
func validKey(key string) bool {
	b, err := base64.StdEncoding.Strict().DecodeString(key)
	return err == nil && len(b) == 16
}

// acceptKey is the Sec-WebSocket-Accept answering key (RFC 6455 section 4.2.2).
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Message is one complete text or binary message.
type Message struct {
	Binary bool
	Data   []byte // owned by the receiver
}

// readers holds the read buffers, lent to Read for the bytes of one wake-up.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// Read reads the frames that have arrived and gives each complete message to handle, in order
// (handle runs on the calling goroutine). It blocks only to finish a frame that has begun or,
// before any byte has arrived, for the first one, and returns nil once the bytes read are used
// up; call Wait before calling it again. It answers pings and the peer's close frame (echoing
// its code, then closing the socket: ErrClosed). After a protocol violation (the package
// comment) it returns an error having sent its close frame; the caller closes the socket
// (CloseNow) or waits for the answer (Linger). Any error from Read is final.
func (c *Conn) Read(handle func(Message)) error {
	br := readers.Get().(*bufio.Reader)
	br.Reset((*source)(c))
	defer func() {
		br.Reset(nil)
		readers.Put(br)
	}()
	for {
		if err := c.readFrame(br, handle); err != nil {
			return err
		}
		if br.Buffered() == 0 && len(c.pending) == 0 {
			return nil
		}
	}
}

// source reads the bytes left over from the handshake, then the socket.
type source Conn

func (s *source) Read(p []byte) (int, error) {
	if len(s.pending) > 0 {
		n := copy(p, s.pending)
		s.pending = s.pending[n:]
		if len(s.pending) == 0 {
			s.pending = nil
		}
		return n, nil
	}
	return s.nc.Read(p)
}

func (c *Conn) readFrame(br *bufio.Reader, handle func(Message)) error {
	h, err := readHeader(br)
	if errors.Is(err, ws.ErrHeaderLengthMSB) || errors.Is(err, ws.ErrHeaderLengthUnexpected) ||
		errors.Is(err, errLengthNotShortest) {
		return c.fail(StatusProtocol, err)
	}
	if err != nil {
		return err
	}
	state := ws.StateServerSide
	if c.fragment {
		state = state.Set(ws.StateFragmented)
	}
	if err := ws.CheckHeader(h, state); err != nil {
		return c.fail(StatusProtocol, err)
	}
	// Compared as the room left, not as a sum: a 63-bit length added to the fragments read so
	// far could wrap around.
	if !h.OpCode.IsControl() && h.Length > c.readLimit-int64(len(c.message)) {
		return c.fail(StatusMessageTooBig, fmt.Errorf("wsconn: message over %d bytes", c.readLimit))
	}
	payload := make([]byte, h.Length)
	if _, err := io.ReadFull(br, payload); err != nil {
		return err
	}
	ws.Cipher(payload, h.Mask, 0)
	switch h.OpCode {
	case ws.OpPing:
		if _, err := c.writeFrames(ws.OpPong, CloseTimeout, []Text{{payload}}); !errors.Is(err, ErrClosed) {
			return err // nil, or a failed write; after our close frame no pong is due
		}
		return nil
	case ws.OpPong:
		return nil
	case ws.OpClose:
		return c.closeReceived(payload)
	case ws.OpText, ws.OpBinary:
		c.binary = h.OpCode == ws.OpBinary
	}
	if !h.Fin {
		c.fragment = true
		c.message = append(c.message, payload...)
		return nil
	}
	if c.fragment {
		payload = append(c.message, payload...)
		c.message, c.fragment = nil, false
	}
	if !c.binary && !utf8.Valid(payload) {
		return c.fail(StatusInvalidPayload, errors.New("wsconn: text message is not UTF-8"))
	}
	handle(Message{Binary: c.binary, Data: payload})
	return nil
}

// errLengthNotShortest is readHeader's refusal of a length in a longer form than it needs.
var errLengthNotShortest = errors.New("wsconn: frame length not in its shortest form")

// readHeader reads a frame header as ws.ReadHeader does, and refuses with
// errLengthNotShortest a length written in the 16-bit form that fits 7 bits or in the 64-bit
// form that fits 16: RFC 6455 section 5.2 says "the minimal number of bytes MUST be used to
// encode the length".
func readHeader(br *bufio.Reader) (ws.Header, error) {
	var lengthForm byte
	if head, err := br.Peek(2); err == nil {
		lengthForm = head[1] & 0x7f
	} // else ReadHeader meets the same end of the stream
	h, err := ws.ReadHeader(br)
	if err == nil && (lengthForm == 126 && h.Length < 126 || lengthForm == 127 && h.Length <= 0xffff) {
		return h, errLengthNotShortest
	}
	return h, err
}

// closeReceived answers the peer's close frame with the same status (1000 for a frame without
// one) when this end has not sent one yet, and closes the connection: the close handshake is
// over. A close frame that no endpoint may send fails the connection instead (RFC 6455
// sections 5.5.1, 7.4 and 8.1): a payload of one byte, or a code validCloseCode refuses, with
// 1002, and a reason that is not UTF-8 with 1007.
func (c *Conn) closeReceived(payload []byte) error {
	code := StatusNormal
	switch {
	case len(payload) == 1:
		return c.fail(StatusProtocol, errors.New("wsconn: close frame of one byte"))
	case len(payload) >= 2:
		code = int(binary.BigEndian.Uint16(payload))
		if !validCloseCode(code) {
			return c.fail(StatusProtocol, fmt.Errorf("wsconn: close code %d may not be sent", code))
		}
		if !utf8.Valid(payload[2:]) {
			return c.fail(StatusInvalidPayload, errors.New("wsconn: close reason is not UTF-8"))
		}
	}
	c.Close(code) // a no-op when this end closed first
	c.closeSocket()
	return ErrClosed
}

// validCloseCode reports whether an endpoint may send code in a close frame (RFC 6455 section
// 7.4): 1000–1003 and 1007–1011 of section 7.4.1, 1012–1014 of the IANA registry section 11.7
// set up (service restart, try again later, bad gateway), and 3000–4999 of section 7.4.2 for
// libraries and applications. 1004 is reserved, 1005, 1006 and 1015 are never sent, the other
// codes up to 2999 are defined by no specification, and none is defined above 4999.
func validCloseCode(code int) bool {
	return code >= 1000 && code <= 1003 || code >= 1007 && code <= 1014 || code >= 3000 && code <= 4999
}

// fail sends a close frame with code and ends reading: err is returned to the reader.
func (c *Conn) fail(code int, err error) error {
	c.Close(code)
	return err
}

// Wait blocks until the connection has bytes to read, has reached its end, or failed (a
// closed connection or a passed close deadline returns an error). It holds no buffer while it
// waits. Without a file descriptor to watch (TLS) it returns at once and Read blocks instead.
func (c *Conn) Wait() error {
	if c.raw == nil || len(c.pending) > 0 {
		return nil
	}
	return c.raw.Read(peek)
}

// WriteText writes the concatenation of parts (at most MaxParts of them) as one text frame,
// with one system call and without copying them together; the write fails after timeout. A
// write that fails closes the socket, as it may have sent part of the frame, and every later
// write fails with its error.
func (c *Conn) WriteText(timeout time.Duration, parts ...[]byte) error {
	var text Text
	if copy(text[:], parts) < len(parts) {
		panic("wsconn: a text frame of more than MaxParts parts")
	}
	_, err := c.writeFrames(ws.OpText, timeout, []Text{text})
	return err
}

// MaxParts is the most parts WriteText takes for one frame.
const MaxParts = 3

// Text is the payload of a text frame in parts (WriteTexts): their concatenation, each written
// as it is, without being copied together. Its parts are not modified while it is written.
type Text [MaxParts][]byte

// Len returns the length of t's payload.
func (t *Text) Len() int {
	n := 0
	for _, p := range t {
		n += len(p)
	}
	return n
}

// WriteTexts writes texts in order, each as one text frame, with one system call for each
// framesPerWrite of them on Linux (a system call for each frame elsewhere, and over TLS one for
// each part). The write fails when the peer takes no frame for timeout, as if each frame were
// written with a system call of its own: a batch may take longer. A write that fails closes
// the socket, as WriteText's does. A pong or close frame written meanwhile goes out between two
// such writes; after a close frame, the texts not yet written are not (ErrClosed). It returns
// how many of texts were written whole: all of them, or, with the error, those before the
// frame the write broke off in or the close frame.
func (c *Conn) WriteTexts(timeout time.Duration, texts []Text) (int, error) {
	return c.writeFrames(ws.OpText, timeout, texts)
}

// framesPerWrite is the most frames written with one system call (WriteTexts).
const framesPerWrite = 16

// maxHeaderLen is the length of the longest header of a frame this end sends (appendHeader).
const maxHeaderLen = 10

// vector holds the buffers of one writev: the headers of up to framesPerWrite frames, and
// each frame's header and parts. A write takes one from vectors and gives it back, so that
// neither a write nor an idle connection holds buffers of its own.
type vector struct {
	headers [framesPerWrite][maxHeaderLen]byte
	bufs    [framesPerWrite * (1 + MaxParts)][]byte
	ends    [framesPerWrite]frameEnd // where each of its frames ends
	frames  int                      // how many frames bufs holds
	vec     net.Buffers              // a slice of bufs: what remains to write
	sys     sysWrite                 // the system calls writing vec (writeVector)
}

// frameEnd is where a frame of a vector ends: the index in bufs after its last buffer, and
// the bytes of the vector up to its end.
type frameEnd struct {
	buf   int
	bytes int64
}

var vectors = sync.Pool{New: func() any { return new(vector) }}

// fill makes v.vec the frames of op with texts (at most framesPerWrite of them) as payloads.
func (v *vector) fill(op ws.OpCode, texts []Text) {
	v.vec, v.frames = v.bufs[:0], len(texts)
	var size int64
	for i := range texts {
		header := appendHeader(v.headers[i][:0], op, texts[i].Len())
		v.vec = append(v.vec, header)
		for _, p := range texts[i] {
			if len(p) > 0 {
				v.vec = append(v.vec, p)
			}
		}
		size += int64(len(header) + texts[i].Len())
		v.ends[i] = frameEnd{buf: len(v.vec), bytes: size}
	}
}

// wholeFrames returns how many of v's frames the first n bytes written of them hold whole.
func (v *vector) wholeFrames(n int64) int {
	whole := 0
	for whole < v.frames && v.ends[whole].bytes <= n {
		whole++
	}
	return whole
}

// writeEach writes v's frames to c's connection one after another, each given timeout from
// the end of the one before, and returns how many bytes it wrote. It is for a connection
// written through net.Buffers, whose deadline cannot move during a write: over TLS, whose
// writes are a system call for each buffer anyway, a deadline passed fails every later write.
func (c *Conn) writeEach(v *vector, timeout time.Duration) (int64, error) {
	var wrote int64
	start := 0
	for i := range v.frames {
		if err := c.nc.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
			return wrote, err
		}
		v.vec = v.bufs[start:v.ends[i].buf]
		n, err := v.vec.WriteTo(c.nc)
		wrote += n
		if err != nil {
			return wrote, err
		}
		start = v.ends[i].buf
	}
	return wrote, nil
}

// drop forgets the parts v held, so that a vector in the pool keeps no payload alive.
func (v *vector) drop() {
	clear(v.bufs[:])
	v.vec = nil
}

// writeFrames writes a frame of op for each of texts, framesPerWrite frames to a system call,
// and returns how many of them were written whole (WriteTexts). It holds the write lock for
// one system call's frames at a time, so that a pong or a close frame written meanwhile waits
// for those frames only, not for the whole of texts.
func (c *Conn) writeFrames(op ws.OpCode, timeout time.Duration, texts []Text) (int, error) {
	written := 0
	for {
		n, err := c.writeGroup(op, timeout, texts[written:min(len(texts), written+framesPerWrite)])
		written += n
		if err != nil || written == len(texts) {
			return written, err
		}
	}
}

// writeGroup writes a frame of op for each of texts (at most framesPerWrite of them) with one
// system call under the write lock, and returns how many of them were written whole. After a
// close frame was sent it writes nothing and returns ErrClosed.
func (c *Conn) writeGroup(op ws.OpCode, timeout time.Duration, texts []Text) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writeErr != nil {
		return 0, c.writeErr
	}
	if c.closeSent {
		return 0, ErrClosed
	}
	if op == ws.OpClose {
		c.closeSent = true
	}
	v := vectors.Get().(*vector)
	defer vectors.Put(v)
	v.fill(op, texts)
	n, err := c.writeVector(v, timeout)
	v.drop()
	if err != nil {
		c.writeErr = fmt.Errorf("wsconn: write: %w", err)
		c.closeSocket()
		return v.wholeFrames(n), c.writeErr
	}
	return len(texts), nil
}

// appendHeader appends the header of a final, unmasked frame (server to client).
func appendHeader(b []byte, op ws.OpCode, n int) []byte {
	b = append(b, 0x80|byte(op))
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
}

// Close starts the close handshake: it sends a close frame with code (once; later calls do
// nothing) and gives the peer CloseTimeout to answer, after which Wait and Read fail. The
// reader closes the socket when the answer comes; CloseNow does it at once. When the close
// frame cannot be written (a peer that reads nothing fills the buffers), the write's failure
// has closed the socket: no answer can come.
func (c *Conn) Close(code int) {
	if _, err := c.writeFrames(ws.OpClose, CloseTimeout, []Text{{ws.NewCloseFrameBody(ws.StatusCode(code), "")}}); err == nil {
		c.nc.SetReadDeadline(time.Now().Add(CloseTimeout))
	}
}

// CloseNow closes the socket without a handshake.
func (c *Conn) CloseNow() error { return c.closeSocket() }

// closeSocket closes the connection's socket at once. Over TLS it skips TLS's own goodbye
// (close_notify), which would wait up to five seconds for room in buffers that a peer that
// stopped reading keeps full; the WebSocket close frame, when there is one, has said the end.
func (c *Conn) closeSocket() error {
	if tc, ok := c.nc.(*tls.Conn); ok {
		return tc.NetConn().Close()
	}
	return c.nc.Close()
}

// Linger reads and drops whatever arrives until the close handshake ends, the connection
// fails or CloseTimeout passes, then closes the socket. Call it after Close when nothing else
// reads the connection.
func (c *Conn) Linger() {
	defer c.closeSocket()
	for c.Wait() == nil && c.Read(func(Message) {}) == nil {
	}
}
