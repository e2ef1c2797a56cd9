package wsconn_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/internal/wsconn"
)

// serveSmallBuffers is serve on a listener whose connections have a small send buffer
// (smallSendBuffers), over TLS when tls is set.
func serveSmallBuffers(t *testing.T, tls bool) (*httptest.Server, <-chan *wsconn.Conn) {
	return serveWith(t, func(h http.Handler) *httptest.Server {
		srv := httptest.NewUnstartedServer(h)
		srv.Listener = smallSendBuffers{srv.Listener}
		if tls {
			srv.StartTLS()
		} else {
			srv.Start()
		}
		return srv
	})
}

// dialSmallReceive dials srv with a small receive buffer: together with the server's small
// send buffer, a write of more than a few kilobytes is taken in parts, several system calls
// each writing part of what was asked.
func dialSmallReceive(t *testing.T, srv *httptest.Server) *websocket.Conn {
	t.Helper()
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	tr := &http.Transport{DialContext: d.DialContext}
	if srv.TLS != nil {
		tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	}
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	c, _, err := websocket.Dial(t.Context(), url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	must(t, err)
	t.Cleanup(func() { c.CloseNow() })
	c.SetReadLimit(1 << 20)
	return c
}

// markedTexts returns n texts of the connection numbered conn, each in three parts, of
// lengths that take each form of header (7, 16 and 64 bits). Every byte says which
// connection, text and part it belongs to, so that a byte out of place shows.
func markedTexts(conn, n int) []wsconn.Text {
	texts := make([]wsconn.Text, n)
	for i := range texts {
		for p := range texts[i] {
			mark := fmt.Sprintf("[c%d t%d p%d]", conn, i, p)
			texts[i][p] = bytes.Repeat([]byte(mark), 1+(i*i*40*(p+1))/len(mark))
		}
	}
	return texts
}

// checkArrive writes texts with WriteTexts while client reads them, and returns an error
// unless each arrives as one text message, whole and in order, and WriteTexts reports them
// all written.
func checkArrive(t *testing.T, client *websocket.Conn, server *wsconn.Conn, texts []wsconn.Text) error {
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := server.WriteTexts(10*time.Second, texts)
		done <- result{n, err}
	}()
	for i, text := range texts {
		typ, b, err := client.Read(t.Context())
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		if want := bytes.Join(text[:], nil); typ != websocket.MessageText || !bytes.Equal(b, want) {
			return fmt.Errorf("message %d: client read %d bytes of type %v beginning %.40q, want %d of text beginning %.40q",
				i, len(b), typ, b, len(want), want)
		}
	}
	if r := <-done; r.err != nil || r.n != len(texts) {
		return fmt.Errorf("WriteTexts wrote %d of %d texts: %v", r.n, len(texts), r.err)
	}
	return nil
}

// A batch larger than the socket's buffers goes out in many system calls, each writing only
// part of what is left: each resumes exactly where the last one stopped, inside a header, a
// part or between frames, and the peer reads every frame whole, in order.
func TestTextsWrittenTogetherSurviveShortWrites(t *testing.T) {
	srv, conns := serveSmallBuffers(t, false)
	client := dialSmallReceive(t, srv)
	if err := checkArrive(t, client, <-conns, markedTexts(0, 40)); err != nil {
		t.Fatal(err)
	}
}

// Over TLS the batch has no socket of its own to be written to with one system call; it is
// written part after part through the TLS connection, whole and in order all the same.
func TestTextsWrittenTogetherOverTLS(t *testing.T) {
	srv, conns := serveSmallBuffers(t, true)
	client := dialSmallReceive(t, srv)
	if err := checkArrive(t, client, <-conns, markedTexts(0, 40)); err != nil {
		t.Fatal(err)
	}
}

// Connections written at once, each batch in many system calls, share the buffers a write
// borrows: every connection's peer reads its own frames only, whole and in order, and never a
// byte of another's.
func TestConnectionsWrittenAtOnceGetOnlyTheirOwnFrames(t *testing.T) {
	const conns, batches = 12, 3
	var wg sync.WaitGroup
	for _, tls := range []bool{false, true} {
		for c := range conns {
			srv, accepted := serveSmallBuffers(t, tls)
			client, server := dialSmallReceive(t, srv), <-accepted
			wg.Go(func() {
				for b := range batches {
					if err := checkArrive(t, client, server, markedTexts(c*batches+b, 24)); err != nil {
						t.Errorf("connection %d (TLS %v), batch %d: %v", c, tls, b, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
}

// A write that fails part of the way through a batch reports the texts written whole before
// the one it broke off in, across the system calls of the batch (framesPerWrite frames each):
// here the small ones, with headers of 7 and 16 bits, that the buffers take, and not the large
// one that no peer reads.
func TestWriteTextsReportsWhatWasWrittenBeforeAFailure(t *testing.T) {
	srv, conns := serveSmallBuffers(t, false)
	dialSmallReceive(t, srv) // reads nothing
	server := <-conns
	var texts []wsconn.Text
	for i := range 20 {
		texts = append(texts, wsconn.Text{[]byte("small"), bytes.Repeat([]byte("s"), i*10)})
	}
	texts = append(texts, wsconn.Text{bytes.Repeat([]byte("large"), 2<<20)}, wsconn.Text{[]byte("after")})
	n, err := server.WriteTexts(200*time.Millisecond, texts)
	if !errors.Is(err, os.ErrDeadlineExceeded) || n != 20 {
		t.Fatalf("WriteTexts reported %d texts written, %v; want 20 and the deadline exceeded", n, err)
	}
}

// A connection costs little while idle (the package comment), also after it was written a
// batch: the buffers of a write are lent by a pool, and the socket keeps none of them either.
// (Go's net package keeps the list of buffers of a socket's largest writev with the socket,
// which for a batch of framesPerWrite frames of three parts is over a kilobyte.)
func TestAnIdleConnectionKeepsNothingOfABatch(t *testing.T) {
	const conns = 200
	srv, accepted := serve(t)
	type ends struct {
		server *wsconn.Conn
		client *bufio.Reader
	}
	pairs := make([]ends, conns)
	for i := range pairs {
		_, br := rawClient(t, srv, nil)
		pairs[i] = ends{<-accepted, br}
	}
	text := wsconn.Text{[]byte("one"), []byte("two"), []byte("three")}
	heapAfterWriting := func(frames int) int64 {
		texts := slices.Repeat([]wsconn.Text{text}, frames)
		for _, p := range pairs {
			_, err := p.server.WriteTexts(time.Second, texts)
			must(t, err)
			_, err = io.ReadFull(p.client, make([]byte, frames*(2+text.Len())))
			must(t, err)
		}
		runtime.GC()
		runtime.GC() // and what the pools held
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	one := heapAfterWriting(1)
	batch := heapAfterWriting(16)
	runtime.KeepAlive(pairs) // measured with the connections open
	if grown := (batch - one) / conns; grown > 256 {
		t.Errorf("an idle connection holds %d bytes more after a batch of 16 frames than after one frame", grown)
	}
}

// A pong is not held behind a whole batch (RFC 6455 section 5.5.3: answered "as soon as is
// practical"): a ping that arrives while a batch of many system calls' worth of frames is
// being written to a peer that reads slowly is answered after the frames of the system call
// under way, before the last frame of the batch.
func TestPongIsNotHeldBehindAWholeBatch(t *testing.T) {
	const frames = 5 * 16
	srv, conns := serveSmallBuffers(t, false)
	nc, br := rawClient(t, srv, nil)
	server := <-conns
	readUntilError(t, server)
	texts := slices.Repeat([]wsconn.Text{{bytes.Repeat([]byte("x"), 32<<10)}}, frames)
	done := make(chan error, 1)
	go func() {
		_, err := server.WriteTexts(30*time.Second, texts)
		done <- err
	}()
	if f := readFrame(t, br); f.op != 1 { // the batch is being written
		t.Fatalf("first frame has opcode %d, want a text frame", f.op)
	}
	_, err := nc.Write(masked(true, 9, []byte("beat")))
	must(t, err)
	textsBeforePong := 1
	for range frames { // the other texts and the pong
		if readFrame(t, br).op == 10 {
			break
		}
		textsBeforePong++
	}
	for range frames - textsBeforePong {
		readFrame(t, br)
	}
	must(t, <-done)
	if textsBeforePong == frames {
		t.Fatalf("the pong came after the last of the batch's %d frames", frames)
	}
}

// The write timeout is the time the peer has to take one frame, as when each frame was written
// with a system call of its own: a peer that takes every frame of a batch in time is not cut
// off because the whole batch took it longer than the timeout, over TCP or TLS.
func TestWriteTimeoutIsPerFrameWithinABatch(t *testing.T) {
	const frames, timeout, pace = 16, 500 * time.Millisecond, 100 * time.Millisecond
	for _, tls := range []bool{false, true} {
		srv, conns := serveSmallBuffers(t, tls)
		client, server := dialSmallReceive(t, srv), <-conns
		texts := slices.Repeat([]wsconn.Text{{bytes.Repeat([]byte("x"), 64<<10)}}, frames)
		done := make(chan error, 1)
		go func() {
			_, err := server.WriteTexts(timeout, texts)
			done <- err
		}()
		for i := range frames { // a frame per pace: the batch takes longer than the timeout
			time.Sleep(pace)
			if _, _, err := client.Read(t.Context()); err != nil {
				t.Fatalf("TLS %v: a peer that took a frame every %v was cut off after %d frames: %v",
					tls, pace, i, <-done)
			}
		}
		must(t, <-done)
	}
}
