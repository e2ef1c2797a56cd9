// Package servertest runs the real Dialtone server in-process for tests: the same wiring as
// cmd/dialtoned (internal/server.Run), on 127.0.0.1 port 0, with a temporary SQLite directory
// and short heartbeats, driven over real sockets.
package servertest

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/auth"
	"github.com/dialtone/dialtone/internal/server"
)

// Secret signs the tokens of servers started here.
const Secret = "servertest-secret-0123456789"

// Server is a running dialtoned.
type Server struct {
	t    testing.TB
	URL  string // ws://127.0.0.1:PORT/v1/ws
	Addr string // 127.0.0.1:PORT
	Data string // the SQLite directory

	cancel   context.CancelFunc
	done     chan error
	logs     *syncBuffer
	stopOnce sync.Once
}

// Start runs a server with the README's test flags (--dev, port 0, a fresh data directory,
// heartbeat 1s/3s) plus extra flags, which win. It is stopped when the test ends.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	return StartOn(t, t.TempDir(), extra...)
}

// StartOn is Start on an existing data directory (to test restarts).
func StartOn(t testing.TB, dataDir string, extra ...string) *Server {
	t.Helper()
	args := append([]string{"--dev", "--listen", "127.0.0.1:0", "--data", dataDir, "--secret", Secret,
		"--heartbeat-interval", "1s", "--heartbeat-timeout", "3s", "--log-level", "warn"}, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{t: t, Data: dataDir, cancel: cancel, done: make(chan error, 1), logs: &syncBuffer{}}
	addrs := make(chan string, 1)
	go func() {
		s.done <- server.Run(ctx, args, nil, &syncBuffer{}, s.logs, func(a string) { addrs <- a })
	}()
	select {
	case s.Addr = <-addrs:
	case err := <-s.done:
		cancel()
		t.Fatalf("server did not start: %v\n%s", err, s.logs.String())
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("server did not start in 20s")
	}
	s.URL = "ws://" + s.Addr + "/v1/ws"
	t.Cleanup(s.Stop)
	return s
}

// Stop drains the server and waits for it to return; it may be called more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.cancel()
		select {
		case err := <-s.done:
			if err != nil {
				s.t.Errorf("server stopped with error: %v", err)
			}
		case <-time.After(30 * time.Second):
			s.t.Error("server did not stop in 30s")
		}
	})
}

// Logs returns what the server logged so far.
func (s *Server) Logs() string { return s.logs.String() }

// Token mints a one-hour login token for user, signed with Secret.
func Token(t testing.TB, user string) string {
	t.Helper()
	tok, err := auth.Mint([]byte(Secret), user, time.Hour, time.Now(), "")
	if err != nil {
		t.Fatalf("mint token: %v", err)
	}
	return tok
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
