package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/servertest"
)

// crashCycles is how often TestE2ECrashSafety kills the server (ten times more with
// DIALTONE_SOAK set).
const crashCycles = 20

// R7.1: the real server binary is killed with SIGKILL at random moments under steady load and
// restarted on the same data. Every operation that got a success reply is there afterwards, no
// call is half applied, and ring deadlines that passed while the server was down fire at
// start-up (R3.5).
func TestE2ECrashSafety(t *testing.T) {
	cycles := soak(crashCycles)
	bin := buildServer(t)
	data, addr := t.TempDir(), freeAddr(t)
	url := "ws://" + addr + "/v1/ws"
	var acked []ackedOp
	for cycle := range cycles {
		proc := startProcess(t, bin, addr, data)
		ctx, stop := context.WithCancel(t.Context())
		var mu sync.Mutex
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() {
				for _, op := range crashLoad(ctx, t, url, fmt.Sprintf("k%d-%d", cycle, w)) {
					mu.Lock()
					acked = append(acked, op)
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(1000+rand.IntN(1500)) * time.Millisecond) // a random moment
		must(t, proc.Process.Signal(syscall.SIGKILL))
		_ = proc.Wait()
		stop()
		wg.Wait()
	}
	time.Sleep(1500 * time.Millisecond) // the short rings' deadlines pass while the server is down
	proc := startProcess(t, bin, addr, data)
	defer func() { _ = proc.Process.Signal(syscall.SIGTERM); _ = proc.Wait() }()
	verifyAcked(t, url, acked)
	t.Logf("%d acknowledged operations verified after %d kills", len(acked), cycles)
}

// ackedOp is an operation that got a success reply, and what it promised.
type ackedOp struct {
	caller, callee, callID string
	kind                   string // "ringing" (1 s ring, never answered) or "accepted"
}

// crashLoad logs in a caller and a callee and alternates two kinds of calls until ctx ends or
// the server dies: one the callee accepts, one left ringing for 1 s.
func crashLoad(ctx context.Context, t *testing.T, url, prefix string) []ackedOp {
	opts := client.Options{RequestTimeout: time.Second, MinBackoff: time.Hour, MaxBackoff: time.Hour}
	caller, callee := prefix+"-c", prefix+"-e"
	a, err := client.Dial(ctx, url, opts)
	if err != nil {
		return nil
	}
	defer a.Close()
	b, err := client.Dial(ctx, url, opts)
	if err != nil {
		return nil
	}
	defer b.Close()
	if _, err := a.Login(ctx, servertest.Token(t, caller), "d"); err != nil {
		return nil
	}
	if _, err := b.Login(ctx, servertest.Token(t, callee), "d"); err != nil {
		return nil
	}
	var acked []ackedOp
	for i := 0; ctx.Err() == nil; i++ {
		short := i%2 == 1
		timeout := 30
		if short {
			timeout = 1
		}
		res, err := a.CallInvite(ctx, []string{callee}, client.InviteConfig{Timeout: timeout})
		if err != nil {
			return acked
		}
		if short {
			acked = append(acked, ackedOp{caller, callee, res.CallID, "ringing"})
			return acked // the caller stays busy with it; its ring must still time out
		}
		if _, err := b.CallAccept(ctx, res.CallID, client.OpConfig{}); err != nil {
			return acked
		}
		acked = append(acked, ackedOp{caller, callee, res.CallID, "accepted"})
	}
	return acked
}

// verifyAcked checks every acknowledged operation against the restarted server.
func verifyAcked(t *testing.T, url string, acked []ackedOp) {
	t.Helper()
	if len(acked) < 20 {
		t.Fatalf("only %d operations succeeded: the load did not run", len(acked))
	}
	ctx := t.Context()
	devices := map[string]*client.Client{}
	for _, op := range acked {
		c := devices[op.caller]
		if c == nil {
			var err error
			c, err = client.Dial(ctx, url, client.Options{})
			must(t, err)
			defer c.Close()
			must(t, second(c.Login(ctx, servertest.Token(t, op.caller), "verifier")))
			devices[op.caller] = c
		}
		deadline := time.Now().Add(waitFor)
		for {
			info, err := c.QueryCall(ctx, op.callID)
			if err != nil {
				t.Fatalf("acknowledged call %s (%s) lost: %v", op.callID, op.kind, err)
			}
			want := map[string]client.CallUserState{"accepted": client.StateAccepted, "ringing": client.StateTimeout}[op.kind]
			got := info.CallUserList[1].State
			if info.State == client.CallEnded && got == want && info.EndTime != 0 && info.CallUserList[1].Deadline == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("call %s (%s): state %d, callee %d; want ended with callee %d", op.callID, op.kind, info.State, got, want)
			}
			time.Sleep(50 * time.Millisecond) // the restarted server fires past deadlines at start-up
		}
	}
	// No busy record outlives its call: once the callers' devices are lost (R4.3, 3s after the
	// start-up), every caller is free to call again.
	for user, c := range devices {
		deadline := time.Now().Add(waitFor)
		for {
			res, err := c.CallInvite(ctx, []string{"nobody"}, client.InviteConfig{Timeout: 60})
			if err == nil {
				must(t, second(c.CallCancel(ctx, res.CallID, nil, client.OpConfig{})))
				break
			}
			if code(err) != client.CodeBusy || time.Now().After(deadline) {
				t.Fatalf("%s cannot call after the restart: %v", user, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// buildServer builds the dialtoned binary into a temporary directory and returns its path.
func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dialtoned")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build dialtoned: %v\n%s", err, out)
	}
	return bin
}

func startProcess(t *testing.T, bin, addr, data string) *exec.Cmd {
	t.Helper()
	return startBinary(t, bin, addr, nil, "--dev", "--data", data, "--secret", servertest.Secret,
		"--heartbeat-interval", "1s", "--heartbeat-timeout", "3s", "--log-level", "error")
}

// startBinary runs bin listening on addr, with env added to this process's environment, and
// returns once it is ready; the caller stops it.
func startBinary(t *testing.T, bin, addr string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--listen", addr}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	must(t, cmd.Start())
	deadline := time.Now().Add(waitFor)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("server did not become ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
