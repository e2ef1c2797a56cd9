package wsconn_test

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
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
