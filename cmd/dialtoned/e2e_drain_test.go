package main

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/servertest"
)

// drainBound is what docs/operations.md tells an operator to give a drain before a supervisor
// kills the process: the drain waits at most 10 s for sessions.
const drainBound = 15 * time.Second

// A client whose network went silent (it reads nothing and answers no close handshake) holds
// a drain up to its bound, not for ever: the binary exits with status 0 within the time
// docs/operations.md tells an operator to give it, after kicking the other client with
// shutdown (protocol.md: retry true). Meanwhile a new connection is refused at once rather
// than left hanging. A second signal during that drain ends the process at once, with
// status 1.
func TestE2EDrainWithAStuckClientIsBounded(t *testing.T) {
	bin := buildServer(t)
	for _, signals := range []int{1, 2} {
		addr := freeAddr(t)
		var stderr lockedBuffer
		cmd := exec.Command(bin, "--listen", addr, "--data", t.TempDir(), "--secret", servertest.Secret)
		cmd.Stderr = &stderr
		must(t, cmd.Start())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		waitLogged(t, &stderr, "dialtoned listening")

		proxy := newCutProxy(t, addr)
		heldDevice(t, proxy, "alice", "phone", client.Options{})
		bob := dialAt(t, "ws://"+addr+"/v1/ws", "bob", "phone", client.Options{})
		must(t, second(bob.Login(t.Context(), token(t, "bob"), "phone")))
		proxy.hold() // alice's network goes silent: nothing she is sent arrives, she answers nothing

		must(t, cmd.Process.Signal(syscall.SIGTERM))
		signalled := time.Now()
		waitLogged(t, &stderr, "draining")
		refusedWithin(t, addr, time.Second) // the listener closes as the drain begins
		if signals == 2 {
			if strings.Contains(stderr.String(), "msg=stopped") {
				t.Fatal("the drain ended before the second signal: it tested nothing")
			}
			must(t, cmd.Process.Signal(syscall.SIGTERM))
			signalled = time.Now()
		}

		bound := drainBound
		if signals == 2 {
			bound = 2 * time.Second // at once, give or take a loaded machine
		}
		var err error
		select {
		case err = <-exited:
		case <-time.After(bound):
			t.Fatalf("%d signal(s): still running %v after the last one, want it ended within %v\n%s",
				signals, bound, bound, stderr.String())
		}
		took := time.Since(signalled).Round(time.Millisecond)
		var exit *exec.ExitError
		switch {
		case signals == 1 && err != nil:
			t.Errorf("exit after one signal (%v): %v, want status 0\n%s", took, err, stderr.String())
		case signals == 2 && (!errors.As(err, &exit) || exit.ExitCode() != 1):
			t.Errorf("exit after two signals (%v): %v, want status 1\n%s", took, err, stderr.String())
		}
		if signals == 1 {
			bob.until("the shutdown kick", func() bool { return len(bob.kicks) > 0 })
			if k := bob.kicks[0]; k.Reason != client.KickShutdown || !k.Retry {
				t.Errorf("the client still reading was kicked with %+v, want %s with retry", k, client.KickShutdown)
			}
		}
		t.Logf("%d signal(s): exited after %v", signals, took)
	}
}

// refusedWithin fails the test unless a connection to addr is refused within d of now (one
// made before that is closed at once).
func refusedWithin(t *testing.T, addr string, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		conn, err := net.DialTimeout("tcp", addr, d)
		if errors.Is(err, syscall.ECONNREFUSED) {
			return
		}
		if err == nil {
			conn.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("a new connection %v after the drain began: %v, want it refused", d, err)
		}
	}
}

// waitLogged waits until the process's log holds what, and fails the test after waitFor.
func waitLogged(t *testing.T, log *lockedBuffer, what string) {
	t.Helper()
	for deadline := time.Now().Add(waitFor); !strings.Contains(log.String(), what); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", what, log.String())
		}
	}
}

// The exit status of a start that ends by itself (docs/operations.md "Exit status"): 0 for
// --help, which prints the usage; 1, with a line naming the setting on stderr, for a flag
// that does not exist, a refused value (given by a flag or by the --config file), a file it
// cannot use, a data directory that cannot be used or that another dialtoned uses, and an
// address in use.
func TestE2EExitStatusOfARefusedStart(t *testing.T) {
	bin := buildServer(t)
	file := filepath.Join(t.TempDir(), "file")
	must(t, os.WriteFile(file, nil, 0o600))
	noDatabase := t.TempDir()
	must(t, os.Mkdir(filepath.Join(noDatabase, "dialtone.db"), 0o700)) // a directory where the database goes
	configFile := filepath.Join(t.TempDir(), "dialtone.json")
	must(t, os.WriteFile(configFile, []byte(`{"max-call-users": 1}`), 0o600))
	missing := filepath.Join(t.TempDir(), "missing.pem")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer taken.Close()
	inUse := startServer(t)
	for _, tc := range []struct {
		args   []string
		status int
		stderr string // a line of it begins so
	}{
		{[]string{"--help"}, 0, "Usage: dialtoned"},
		{[]string{"--heartbeat-timout", "35s"}, 1, "dialtoned: flag provided but not defined: -heartbeat-timout"},
		{[]string{"--heartbeat-timeout", "-5s"}, 1, "dialtoned: --heartbeat-timeout must be at least 1ms"},
		{[]string{"--max-devices-per-user", "0"}, 1, "dialtoned: --max-devices-per-user must be between 1 and 100"},
		{[]string{"--data", filepath.Join(file, "data")}, 1, "dialtoned: --data: "},
		{[]string{"--data", noDatabase}, 1, "dialtoned: --data " + noDatabase + ": cannot open its database"},
		{[]string{"--config", configFile}, 1,
			"dialtoned: --max-call-users must be between 2 and 20 (--max-call-users from " + configFile + ")"},
		{[]string{"--tls-cert", missing, "--tls-key", missing}, 1, "dialtoned: --tls-cert: "},
		{[]string{"--data", inUse.Data}, 1, "dialtoned: --data " + inUse.Data + " is in use by another dialtoned"},
		{[]string{"--data", t.TempDir(), "--listen", taken.Addr().String()}, 1, "dialtoned: --listen: listen tcp "},
	} {
		cmd := exec.Command(bin, append([]string{"--secret", servertest.Secret, "--listen", "127.0.0.1:0"}, tc.args...)...)
		var stderr lockedBuffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		status := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			status = exit.ExitCode()
		} else if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if status != tc.status || !hasLineStarting(stderr.String(), tc.stderr) {
			t.Errorf("dialtoned %v: status %d, stderr:\n%s\nwant status %d and a line beginning %q",
				tc.args, status, stderr.String(), tc.status, tc.stderr)
		}
	}
}

// hasLineStarting reports whether a line of text begins with prefix.
func hasLineStarting(text, prefix string) bool {
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}
