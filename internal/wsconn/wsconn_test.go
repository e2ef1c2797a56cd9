package wsconn_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/internal/wsconn"
)

const limit = 1024

// serve upgrades one connection and hands it to the test on the returned channel.
func serve(t *testing.T) (*httptest.Server, <-chan *wsconn.Conn) {
	return serveWith(t, httptest.NewServer)
}

// serveWith is serve on a server made by start (httptest.NewServer or NewTLSServer).
func serveWith(t *testing.T, start func(http.Handler) *httptest.Server) (*httptest.Server, <-chan *wsconn.Conn) {
	t.Helper()
	conns := make(chan *wsconn.Conn, 1)
	srv := start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsconn.Upgrade(w, r, limit)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		conns <- c
	}))
	t.Cleanup(srv.Close)
	return srv, conns
}

// pair returns both ends of a new connection.
func pair(t *testing.T) (*websocket.Conn, *wsconn.Conn) {
	srv, conns := serve(t)
	client := dial(t, srv)
	return client, <-conns
}

// readUntilError reads c until Read or Wait fails, and then sends the error.
func readUntilError(t *testing.T, c *wsconn.Conn) <-chan error {
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := next(t, c); err != nil {
				errc <- err
				return
			}
		}
	}()
	return errc
}

func dial(t *testing.T, srv *httptest.Server) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// next waits for the connection to be readable and reads what arrived.
func next(t *testing.T, c *wsconn.Conn) ([]wsconn.Message, error) {
	t.Helper()
	if err := c.Wait(); err != nil {
		return nil, err
	}
	var got []wsconn.Message
	err := c.Read(func(m wsconn.Message) { got = append(got, m) })
	return got, err
}

func TestMessagesBothWays(t *testing.T) {
	client, server := pair(t)
	client.SetReadLimit(1 << 20)

	must(t, client.Write(t.Context(), websocket.MessageText, []byte(`{"a":1}`)))
	must(t, client.Write(t.Context(), websocket.MessageBinary, []byte{1, 2}))
	var got []wsconn.Message
	for len(got) < 2 {
		ms, err := next(t, server)
		must(t, err)
		got = append(got, ms...)
	}
	if string(got[0].Data) != `{"a":1}` || got[0].Binary || !got[1].Binary || !bytes.Equal(got[1].Data, []byte{1, 2}) {
		t.Fatalf("got %+v", got)
	}

	long := bytes.Repeat([]byte("x"), 70_000) // a 64-bit length header
	for _, p := range [][]byte{[]byte("short"), bytes.Repeat([]byte("y"), 300), long} {
		must(t, server.WriteText(time.Second, p))
		typ, b, err := client.Read(t.Context())
		must(t, err)
		if typ != websocket.MessageText || !bytes.Equal(b, p) {
			t.Fatalf("client read %d bytes of type %v, want %d text", len(b), typ, len(p))
		}
	}
}

// A text frame written in parts is one message, their concatenation, with the length of the
// whole in its header: 7-bit, 16-bit and 64-bit lengths, whichever part makes them so.
func TestTextInPartsIsOneMessage(t *testing.T) {
	client, server := pair(t)
	client.SetReadLimit(1 << 20)
	for _, parts := range [][][]byte{
		{[]byte(`{"event":"e","seq":1,"data":`), []byte(`{"a":1}`), []byte("}")},
		{[]byte("head"), bytes.Repeat([]byte("y"), 120), []byte("tail")},
		{nil, bytes.Repeat([]byte("z"), 70_000), []byte("}")},
		{[]byte("only")},
	} {
		must(t, server.WriteText(time.Second, parts...))
		typ, b, err := client.Read(t.Context())
		must(t, err)
		if want := bytes.Join(parts, nil); typ != websocket.MessageText || !bytes.Equal(b, want) {
			t.Fatalf("client read %d bytes of type %v, want %d text", len(b), typ, len(want))
		}
	}
}

// Texts written together are each one message, in order, their parts put together: more of
// them than one system call writes, of 7-bit, 16-bit and 64-bit lengths.
func TestTextsWrittenTogetherAreMessagesInOrder(t *testing.T) {
	client, server := pair(t)
	client.SetReadLimit(1 << 20)
	var texts []wsconn.Text
	for i := range 40 {
		texts = append(texts, wsconn.Text{[]byte(`{"n":` + strconv.Itoa(i) + `,"pad":"`), bytes.Repeat([]byte("p"), i*i*50), []byte(`"}`)})
	}
	written := make(chan error, 1)
	go func() { _, err := server.WriteTexts(time.Second, texts); written <- err }()
	for i, text := range texts {
		typ, b, err := client.Read(t.Context())
		must(t, err)
		if want := bytes.Join(text[:], nil); typ != websocket.MessageText || !bytes.Equal(b, want) {
			t.Fatalf("message %d: client read %d bytes of type %v, want %d text", i, len(b), typ, len(want))
		}
	}
	must(t, <-written)
}

func TestFragmentsMakeOneMessage(t *testing.T) {
	client, server := pair(t)

	w, err := client.Writer(t.Context(), websocket.MessageText)
	must(t, err)
	for _, part := range []string{`{"op":`, `"heartbeat"`, `}`} {
		_, err := w.Write([]byte(part))
		must(t, err)
	}
	must(t, w.Close())
	var got []wsconn.Message
	for len(got) == 0 {
		ms, err := next(t, server)
		must(t, err)
		got = append(got, ms...)
	}
	if len(got) != 1 || string(got[0].Data) != `{"op":"heartbeat"}` {
		t.Fatalf("got %+v", got)
	}
}

func TestWaitParksUntilBytesArrive(t *testing.T) {
	client, server := pair(t)

	woke := make(chan error, 1)
	go func() { woke <- server.Wait() }()
	select {
	case err := <-woke:
		t.Fatalf("Wait returned %v before anything was sent", err)
	case <-time.After(50 * time.Millisecond):
	}
	must(t, client.Write(t.Context(), websocket.MessageText, []byte("hi")))
	must(t, <-woke)

	server.CloseNow()
	if err := server.Wait(); err == nil {
		t.Fatal("Wait on a closed connection returned nil")
	}
}

// A message over the limit closes the connection with 1009 (protocol.md "Transport").
func TestTooBigClosesWith1009(t *testing.T) {
	client, server := pair(t)

	go client.Write(context.Background(), websocket.MessageText, bytes.Repeat([]byte("z"), limit+1))
	if _, err := next(t, server); err == nil {
		t.Fatal("reading a message over the limit succeeded")
	}
	if _, _, err := client.Read(t.Context()); websocket.CloseStatus(err) != wsconn.StatusMessageTooBig {
		t.Fatalf("client read %v, want close status 1009", err)
	}
}

func TestServerCloseHandshake(t *testing.T) {
	client, server := pair(t)

	must(t, server.WriteText(time.Second, []byte("bye")))
	server.Close(4005)
	if err := server.WriteText(time.Second, []byte("late")); !errors.Is(err, wsconn.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	readErr := readUntilError(t, server)
	_, b, err := client.Read(t.Context())
	must(t, err)
	if string(b) != "bye" {
		t.Fatalf("client read %q", b)
	}
	if _, _, err := client.Read(t.Context()); websocket.CloseStatus(err) != 4005 {
		t.Fatalf("client read %v, want close status 4005", err)
	}
	if err := <-readErr; !errors.Is(err, wsconn.ErrClosed) {
		t.Fatalf("server read ended with %v, want ErrClosed after the peer's answer", err)
	}
}

func TestClientCloseAndPing(t *testing.T) {
	client, server := pair(t)
	readErr := readUntilError(t, server)
	pingCtx := client.CloseRead(t.Context()) // the client reads in the background (pongs)
	must(t, client.Ping(t.Context()))
	if pingCtx.Err() != nil {
		t.Fatal("connection ended after a ping")
	}
	must(t, client.Close(websocket.StatusNormalClosure, "done"))
	if err := <-readErr; !errors.Is(err, wsconn.ErrClosed) {
		t.Fatalf("server read ended with %v, want ErrClosed", err)
	}
}

// rawClient does the handshake by hand and sends first frame in the same write, before the
// server's answer: the bytes the HTTP server read past the handshake must not be lost.
func rawClient(t *testing.T, srv *httptest.Server, frame []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	must(t, err)
	t.Cleanup(func() { nc.Close() })
	req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	_, err = nc.Write(append([]byte(req), frame...))
	must(t, err)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	must(t, err)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake answered %s", resp.Status)
	}
	return nc, br
}

func TestBytesSentWithTheHandshake(t *testing.T) {
	srv, conns := serve(t)
	masked := []byte{0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2}
	rawClient(t, srv, masked)
	server := <-conns
	got, err := next(t, server)
	must(t, err)
	if len(got) != 1 || string(got[0].Data) != "hi" {
		t.Fatalf("got %+v", got)
	}
}

func TestUnmaskedFrameIsAProtocolError(t *testing.T) {
	srv, conns := serve(t)
	_, br := rawClient(t, srv, []byte{0x81, 0x02, 'h', 'i'})
	server := <-conns
	if _, err := next(t, server); err == nil {
		t.Fatal("an unmasked frame was accepted")
	}
	head := make([]byte, 4)
	if _, err := io.ReadFull(br, head); err != nil || head[0] != 0x88 || int(head[2])<<8|int(head[3]) != wsconn.StatusProtocol {
		t.Fatalf("server sent % x (%v), want a close frame with status 1002", head, err)
	}
}

// A close frame without a status is answered with 1000 (RFC 6455 section 5.5.1).
func TestCloseWithoutStatus(t *testing.T) {
	srv, conns := serve(t)
	_, br := rawClient(t, srv, []byte{0x88, 0x80, 1, 2, 3, 4}) // masked, empty close frame
	server := <-conns
	if _, err := next(t, server); !errors.Is(err, wsconn.ErrClosed) {
		t.Fatalf("read ended with %v, want ErrClosed", err)
	}
	head := make([]byte, 4)
	if _, err := io.ReadFull(br, head); err != nil || head[0] != 0x88 || int(head[2])<<8|int(head[3]) != wsconn.StatusNormal {
		t.Fatalf("server sent % x (%v), want a close frame with status 1000", head, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Over TLS there is no socket to watch: Wait returns at once and Read blocks for the bytes.
func TestOverTLS(t *testing.T) {
	srv, conns := serveWith(t, httptest.NewTLSServer)
	client, _, err := websocket.Dial(t.Context(), "wss"+strings.TrimPrefix(srv.URL, "https"),
		&websocket.DialOptions{HTTPClient: srv.Client()})
	must(t, err)
	defer client.CloseNow()
	server := <-conns

	got := make(chan []wsconn.Message, 1)
	go func() {
		ms, err := next(t, server)
		if err != nil {
			t.Errorf("read: %v", err)
		}
		got <- ms
	}()
	must(t, client.Write(t.Context(), websocket.MessageText, []byte("secret")))
	if ms := <-got; len(ms) != 1 || string(ms[0].Data) != "secret" {
		t.Fatalf("got %+v", ms)
	}
	must(t, server.WriteText(time.Second, []byte("reply")))
	if _, b, err := client.Read(t.Context()); err != nil || string(b) != "reply" {
		t.Fatalf("client read %q, %v", b, err)
	}
}

// Over TLS too, a write that fails for a peer that reads nothing ends the connection at once:
// closing it does not wait for room in the full buffers to send TLS's own goodbye
// (close_notify), which crypto/tls would give up to five seconds. The server's socket gets a
// small fixed send buffer, so that the buffers stay full once the write failed.
func TestOverTLSAFailedWriteClosesAtOnce(t *testing.T) {
	srv, conns := serveWith(t, func(h http.Handler) *httptest.Server {
		srv := httptest.NewUnstartedServer(h)
		srv.Listener = smallSendBuffers{srv.Listener}
		srv.StartTLS()
		return srv
	})
	client, _, err := websocket.Dial(t.Context(), "wss"+strings.TrimPrefix(srv.URL, "https"),
		&websocket.DialOptions{HTTPClient: srv.Client()})
	must(t, err)
	defer client.CloseNow() // the client never reads
	server := <-conns
	for {
		start := time.Now()
		err := server.WriteText(100*time.Millisecond, bytes.Repeat([]byte("x"), 60000))
		if err == nil {
			continue
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("the write that failed returned after %v: the socket's close waited for the peer", took)
		}
		break
	}
}

// smallSendBuffers gives each accepted TCP connection a small send buffer that does not grow.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

// RFC 6455 sections 5.2 and 8.1: a 64-bit length with its top bit set is a protocol error
// (1002), and a text message that is not UTF-8, whole or in fragments, fails with 1007; both
// with a close frame.
func TestMalformedFramesCloseWithTheirStatus(t *testing.T) {
	masked := func(fin bool, op byte, payload string) []byte {
		b0 := op
		if fin {
			b0 |= 0x80
		}
		return append([]byte{b0, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...) // zero mask
	}
	for name, tt := range map[string]struct {
		frames []byte
		status int
	}{
		"length MSB":           {[]byte{0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'}, wsconn.StatusProtocol},
		"invalid UTF-8":        {masked(true, 1, "{\"op\":\"heart\xffbeat\"}"), wsconn.StatusInvalidPayload},
		"split UTF-8 invalid":  {append(masked(false, 1, "{\"op\":\"\xc3"), masked(true, 0, "\xa9\x80\"}")...), wsconn.StatusInvalidPayload},
		"split UTF-8 is valid": {append(masked(false, 1, "{\"op\":\"\xc3"), masked(true, 0, "\xa9\"}")...), 0},
	} {
		t.Run(name, func(t *testing.T) {
			srv, conns := serve(t)
			nc, br := rawClient(t, srv, tt.frames)
			must(t, nc.SetReadDeadline(time.Now().Add(5*time.Second))) // a missing close frame fails, not hangs
			server := <-conns
			got, err := next(t, server)
			if tt.status == 0 {
				if err != nil || len(got) != 1 || string(got[0].Data) != "{\"op\":\"é\"}" {
					t.Fatalf("got %+v, %v; want the message whole", got, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("the frames were accepted: %+v", got)
			}
			head := make([]byte, 4)
			if _, err := io.ReadFull(br, head); err != nil || head[0] != 0x88 || int(head[2])<<8|int(head[3]) != tt.status {
				t.Fatalf("server sent % x (%v), want a close frame with status %d", head, err, tt.status)
			}
		})
	}
}

// A write that fails (here its deadline passed while the peer read nothing) may have sent part
// of a frame, so nothing can follow it on the stream: later writes, the close frame included,
// fail at once instead of sending bytes the peer cannot parse or waiting for their own
// deadline, and the reader does not wait for a close answer that cannot come.
func TestFailedWriteEndsTheConnection(t *testing.T) {
	_, server := pair(t) // the client never reads
	for server.WriteText(100*time.Millisecond, bytes.Repeat([]byte("x"), 60000)) == nil {
	}
	wrote := make(chan error, 1)
	go func() { wrote <- server.WriteText(time.Minute, []byte("after")) }()
	select {
	case err := <-wrote:
		if err == nil {
			t.Error("a frame was written after a write that failed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write after a failed one waits for its own deadline")
	}
	server.Close(wsconn.StatusNormal)
	waited := make(chan error, 1)
	go func() { waited <- server.Wait() }()
	select {
	case err := <-waited:
		if err == nil {
			t.Error("Wait found bytes to read on a connection whose peer sent nothing")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Wait still blocked after a write failed")
	}
}

// RFC 6455 section 5.2 allows 63-bit lengths: a continuation frame whose length, added to the
// fragments read so far, passes 2^63 is over the limit like any other (1009), not a length
// that wraps around.
func TestFragmentLengthNearTheMaximumClosesWith1009(t *testing.T) {
	srv, conns := serve(t)
	first := []byte{0x01, 0x81, 0, 0, 0, 0, 'x'}                                           // text, not final, 1 byte
	cont := []byte{0x80, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0} // final continuation, 2^63-1 bytes
	nc, br := rawClient(t, srv, append(first, cont...))
	must(t, nc.SetReadDeadline(time.Now().Add(5*time.Second)))
	server := <-conns
	if got, err := next(t, server); err == nil {
		t.Fatalf("the frames were accepted: %+v", got)
	}
	head := make([]byte, 4)
	if _, err := io.ReadFull(br, head); err != nil || head[0] != 0x88 || int(head[2])<<8|int(head[3]) != wsconn.StatusMessageTooBig {
		t.Fatalf("server sent % x (%v), want a close frame with status 1009", head, err)
	}
}

// RFC 6455 section 4.2.1: the Sec-WebSocket-Key is base64 of 16 bytes; a handshake with any
// other key is refused with 400 Bad Request, not upgraded.
func TestHandshakeWithAMalformedKeyIsRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := wsconn.Upgrade(w, r, limit); err == nil {
			c.CloseNow()
			t.Errorf("upgraded with key %q", r.Header.Get("Sec-WebSocket-Key"))
		}
	}))
	t.Cleanup(srv.Close)
	for _, key := range []string{
		"AAAAAAAAAAAAAAAAAAAAAAAA", // 24 characters, 18 bytes
		"!!!!!!!!!!!!!!!!!!!!!!==", // 24 characters, not base64
	} {
		req, err := http.NewRequest("GET", srv.URL, nil)
		must(t, err)
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", key)
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("key %q: handshake answered %s, want 400", key, resp.Status)
		}
	}
}
