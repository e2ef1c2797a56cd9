package main

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/servertest"
)

// lockedBuffer is a bytes.Buffer safe for a process's writes and the test's reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The README's shutdown: the first SIGTERM (or SIGINT, a Ctrl-C) drains, and the binary exits
// 0 once drained; a second one during a drain that a client holds up (a request whose body
// never comes) stops it at once with exit status 1, and the log says so, so an operator can
// tell a forced stop, which cut sessions without the shutdown kick, from a drain that finished.
func TestE2ESignalsDrainThenForce(t *testing.T) {
	bin := buildServer(t)
	for _, tc := range []struct {
		signal  syscall.Signal
		signals int
	}{{syscall.SIGTERM, 1}, {syscall.SIGTERM, 2}, {syscall.SIGINT, 1}, {syscall.SIGINT, 2}} {
		signals := tc.signals
		addr := freeAddr(t)
		var stderr lockedBuffer
		cmd := exec.Command(bin, "--listen", addr, "--data", t.TempDir(), "--secret", servertest.Secret, "--api-key", apiKey)
		cmd.Stderr = &stderr
		must(t, cmd.Start())
		waitLog := func(what string) {
			t.Helper()
			for deadline := time.Now().Add(waitFor); !strings.Contains(stderr.String(), what); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					_ = cmd.Process.Kill()
					t.Fatalf("no %q in the log:\n%s", what, stderr.String())
				}
			}
		}
		waitLog("dialtoned listening")
		if signals == 2 { // a REST request whose body never comes: its handler waits for it
			conn, err := net.Dial("tcp", addr)
			must(t, err)
			defer conn.Close()
			_, err = conn.Write([]byte("POST /v1/api/calls HTTP/1.1\r\nHost: dialtone\r\nAuthorization: Bearer " + apiKey +
				"\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n"))
			must(t, err)
			line, err := bufio.NewReader(conn).ReadString('\n') // sent once the handler reads the body
			if err != nil || !strings.Contains(line, "100 Continue") {
				t.Fatalf("no 100 Continue: %q %v", line, err)
			}
		}
		must(t, cmd.Process.Signal(tc.signal))
		waitLog("draining")
		if signals == 2 {
			must(t, cmd.Process.Signal(tc.signal))
		}
		err := cmd.Wait()
		var exit *exec.ExitError
		switch {
		case signals == 1 && err != nil:
			t.Errorf("exit after one %v: %v, want status 0\n%s", tc.signal, err, stderr.String())
		case signals == 1 && !strings.Contains(stderr.String(), "stopped"):
			t.Errorf("no \"stopped\" in the log after a finished drain:\n%s", stderr.String())
		case signals == 2 && (!errors.As(err, &exit) || exit.ExitCode() != 1):
			t.Errorf("exit after two %v: %v, want status 1\n%s", tc.signal, err, stderr.String())
		case signals == 2 && !strings.Contains(stderr.String(), "second signal"):
			t.Errorf("the log does not tell of the forced stop:\n%s", stderr.String())
		}
	}
}
