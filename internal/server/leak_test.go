package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/auth"
	"github.com/dialtone/dialtone/internal/goroutines"
	"github.com/dialtone/dialtone/protocol"
)

// serverGoroutines returns, by their header line, the stacks of the goroutines of the
// server's code, the SQLite driver and the HTTP server, other than the test's and the SDK's.
func serverGoroutines() map[string]string {
	found := map[string]string{}
	for _, g := range goroutines.Stacks() {
		if strings.Contains(g, "_test.go") || strings.Contains(g, "dialtone/client.") {
			continue
		}
		if strings.Contains(g, "dialtone/internal/") || strings.Contains(g, "modernc.org/sqlite") ||
			strings.Contains(g, "net/http.(*conn)") || strings.Contains(g, "net/http.(*Server)") {
			head, _, _ := strings.Cut(g, " [")
			found[head] = g
		}
	}
	return found
}

// startedSince returns the goroutines of now that are not in before.
func startedSince(before, now map[string]string) []string {
	var left []string
	for head, g := range now {
		if _, old := before[head]; !old {
			left = append(left, g)
		}
	}
	return left
}

// openFiles returns what the process's file descriptors refer to.
func openFiles(t *testing.T) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("reading /proc/self/fd: %v", err)
	}
	var files []string
	for _, fd := range fds {
		if link, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil {
			files = append(files, link)
		}
	}
	return files
}

// waitEnded waits until the goroutines of the server started since before have ended; those
// still running when Run returned get 2 s (one may be seen as it returns from its last call),
// but an idle one of the task pool (internal/gopool) only 1 s, half its linger time: the drain
// closes the pool rather than leave its goroutines waiting for tasks that cannot come. It fails
// the test with those left.
func waitEnded(t *testing.T, what string, before map[string]string) {
	t.Helper()
	start := time.Now()
	for {
		left := startedSince(before, serverGoroutines())
		switch {
		case len(left) == 0:
			return
		case time.Since(start) > time.Second && slices.ContainsFunc(left, idlePoolGoroutine):
			t.Fatalf("%s: idle goroutines of the task pool still wait for tasks 1s later:\n%s", what, strings.Join(left, "\n\n"))
		case time.Since(start) > 2*time.Second:
			t.Fatalf("%s: %d goroutines of the server still run:\n%s", what, len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
}

// idlePoolGoroutine reports whether the goroutine dump g is of a task pool's goroutine waiting
// for a task.
func idlePoolGoroutine(g string) bool {
	return strings.Contains(g, "[select") && strings.Contains(g, "gopool.(*Pool).work")
}

// A server that was used and then shut down has ended every goroutine it started, and closed
// its listener, every connection and its database, by the time Run returns: a server run
// again in the same process (as tests and embedders do) starts from nothing. That includes the
// idle goroutines of its task pool (internal/gopool), which would otherwise wait for a task
// for their linger time.
func TestRunLeavesNothingAfterTheDrain(t *testing.T) {
	runAndUse(t, t.TempDir()) // what a first run sets up for good (the driver's, the runtime's) is not counted
	before, files := serverGoroutines(), len(openFiles(t))
	dir := t.TempDir()
	runAndUse(t, dir)
	open := openFiles(t)
	var dataFiles []string
	for _, f := range open {
		if strings.HasPrefix(f, dir) {
			dataFiles = append(dataFiles, f)
		}
	}
	if len(open) > files || len(dataFiles) > 0 {
		t.Fatalf("after Run returned: %d files open (%d before), data files %v", len(open), files, dataFiles)
	}
	waitEnded(t, "after Run returned", before)
}

// runAndUse runs the server on dir, with webhooks and a push service, has two devices log in,
// call and hang up while a third user is pushed the invitation, and some connect and
// disconnect, then shuts it down and closes the clients; it returns once Run has, and fails
// the test if the server left a connection to its receivers open.
func runAndUse(t *testing.T, dir string) {
	t.Helper()
	recv := newReceiver(t)
	defer recv.srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"--secret", testSecret, "--listen", "127.0.0.1:0", "--data", dir, "--log-level", "error",
			"--webhook-url", recv.srv.URL + "/hook", "--webhook-secret", "hook-secret", "--push-webhook-url", recv.srv.URL + "/push"},
			nil, io.Discard, io.Discard, func(a string) { addrs <- a })
	}()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	}
	login := func(user string) *client.Client {
		t.Helper()
		c, err := client.Dial(t.Context(), "ws://"+addr, client.Options{MinBackoff: time.Hour, MaxBackoff: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		token, err := auth.Mint([]byte(testSecret), user, time.Hour, time.Now(), "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Login(t.Context(), token, user+"-phone"); err != nil {
			t.Fatalf("login of %s: %v", user, err)
		}
		return c
	}
	dave := login("dave")
	if err := dave.PushRegister(t.Context(), client.PushTarget{Provider: "webhook", Token: "dave-token"}); err != nil {
		t.Fatalf("PushRegister: %v", err)
	}
	dave.Close()
	waitNoSession(t, addr) // dave is offline: he is pushed the invitation
	alice, bob := login("alice"), login("bob")
	res, err := alice.CallInvite(t.Context(), []string{"bob", "dave"},
		client.InviteConfig{Timeout: 30, PushConfig: &client.PushConfig{Title: "alice"}})
	if err != nil {
		t.Fatalf("CallInvite: %v", err)
	}
	if _, err := bob.CallAccept(t.Context(), res.CallID, client.OpConfig{}); err != nil {
		t.Fatalf("CallAccept: %v", err)
	}
	for range 10 {
		login("carol").Close()
	}
	recv.waitFor(t, "/hook", "/push")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return 30s after the shutdown began")
	}
	alice.Close()
	bob.Close()
	recv.waitClosed(t)
}

// waitNoSession waits until the server at addr counts no session (its dialtone_sessions metric).
func waitNoSession(t *testing.T, addr string) {
	t.Helper()
	get := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := get.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(strings.Split(string(body), "\n"), "dialtone_sessions 0") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the server still counts a session 5s after its last device closed")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}
}

// receiver is the webhook receiver and push service of runAndUse: it answers every request
// 200 and counts its open connections.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	open int
	got  map[string]bool // the paths requested
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{got: map[string]bool{}}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		r.mu.Lock()
		r.got[req.URL.Path] = true
		r.mu.Unlock()
	}))
	r.srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		r.mu.Lock()
		defer r.mu.Unlock()
		switch state {
		case http.StateNew:
			r.open++
		case http.StateClosed, http.StateHijacked:
			r.open--
		}
	}
	r.srv.Start()
	return r
}

// waitFor waits until each of paths was requested.
func (r *receiver) waitFor(t *testing.T, paths ...string) {
	t.Helper()
	r.poll(t, "requests to "+strings.Join(paths, " and "), func() bool {
		for _, p := range paths {
			if !r.got[p] {
				return false
			}
		}
		return true
	})
}

// waitClosed waits until the server closed every connection it opened to the receiver: the
// ones it kept open between callbacks and pushes included.
func (r *receiver) waitClosed(t *testing.T) {
	t.Helper()
	r.poll(t, "the server's connections to its receivers to close after Run returned", func() bool { return r.open == 0 })
}

// poll waits up to 2 s for cond, read with r.mu held.
func (r *receiver) poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		r.mu.Lock()
		ok, open := cond(), r.open
		r.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (%d connections open, got %v)", what, open, r.got)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}
}

// listenerFD returns the file descriptor of the process's socket listening on port.
func listenerFD(t *testing.T, port int) int {
	t.Helper()
	inodes := map[string]int{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("reading /proc/self/fd: %v", err)
	}
	for _, fd := range fds {
		link, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			n, _ := strconv.Atoi(fd.Name())
			inodes[strings.TrimSuffix(inode, "]")] = n
		}
	}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, row := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(row)
			if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
				continue
			}
			_, local, _ := strings.Cut(f[1], ":")
			if p, err := strconv.ParseInt(local, 16, 32); err == nil && int(p) == port {
				if fd, ok := inodes[f[9]]; ok {
					return fd
				}
			}
		}
	}
	t.Fatalf("no socket of the process listens on port %d", port)
	return -1
}

// A server whose listener fails returns the error, and first ends what it serves as a drain
// does: its sessions are kicked with shutdown and closed, and none of them runs on after Run
// returned, over a switchboard and a store that Run closed.
func TestRunEndsItsSessionsWhenServingFails(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"--secret", testSecret, "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--log-level", "error"},
			nil, io.Discard, io.Discard, func(a string) { addrs <- a })
	}()
	addr := <-addrs
	before := serverGoroutines()
	kicks := make(chan string, 4)
	c, err := client.Dial(t.Context(), "ws://"+addr, client.Options{MinBackoff: time.Hour, MaxBackoff: time.Hour,
		EventHandler: kickWatcher{kicks: kicks}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	token, err := auth.Mint([]byte(testSecret), "alice", time.Hour, time.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(t.Context(), token, "alice-phone"); err != nil {
		t.Fatalf("Login: %v", err)
	}
	_, port, _ := strings.Cut(addr, ":")
	p, _ := strconv.Atoi(port)
	if err := syscall.Shutdown(listenerFD(t, p), syscall.SHUT_RDWR); err != nil { // accept fails from now on
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "serve") {
			t.Fatalf("Run returned %v, want the listener's error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return 30s after its listener failed")
	}
	waitEnded(t, "after Run returned", before)
	select {
	case reason := <-kicks:
		if reason != protocol.KickShutdown {
			t.Errorf("session kicked with %q, want %q", reason, protocol.KickShutdown)
		}
	case <-time.After(10 * time.Second):
		t.Error("the session was not kicked")
	}
}
