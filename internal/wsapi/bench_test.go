package wsapi_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/servertest"
	"github.com/gobwas/ws"
)

// The environment of the lifecycle driver (BenchmarkLifecycle): the server's address and the
// login tokens of the caller and the callee.
const (
	driverAddrEnv   = "GO_LIFECYCLE_DRIVER_ADDR"
	driverCallerEnv = "GO_LIFECYCLE_DRIVER_CALLER"
	driverCalleeEnv = "GO_LIFECYCLE_DRIVER_CALLEE"
)

// TestMain runs the test binary as the lifecycle driver of BenchmarkLifecycle when that
// benchmark started it so, and as the package's tests otherwise.
func TestMain(m *testing.M) {
	if addr := os.Getenv(driverAddrEnv); addr != "" {
		if err := runLifecycleDriver(addr, os.Getenv(driverCallerEnv), os.Getenv(driverCalleeEnv), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "lifecycle driver:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// BenchmarkLifecycle measures the server's cost of one whole call lifecycle, as `dialtone bench
// lifecycle` runs it: the caller's callInvite (advanced mode) → the callee's
// callInvitationReceived and its callReceived → the caller sees the callee Received → the
// callee's callAccept → the caller sees the callee Accepted → the caller's callEnd → both have
// callInvitationEnded. Every request carries an idempotency key, as the Go SDK's do; four
// durable changes. One lifecycle at a time, so ns/op is the latency of the whole exchange,
// its commits' fsyncs included.
//
// The server is the real one (internal/server.Run, through servertest) on real sockets and a
// real database. Its clients run in a child process (this test binary again, as the lifecycle
// driver: TestMain), so the allocations the benchmark reports (allocs/op, B/op: the process's
// runtime.MemStats) are the server's alone. The benchmark's own share is one byte written to
// and one read from the driver's pipes per lifecycle, which allocates nothing. ns/op includes
// the driver's CPU, which a minimal WebSocket client keeps small, and the commits' fsyncs;
// cpu-µs/op is the CPU time of this process alone, the server's (its kernel time included).
func BenchmarkLifecycle(b *testing.B) {
	srv := servertest.Start(b, "--max-invites-per-minute", "1000000", "--max-requests-per-second", "1000000",
		"--heartbeat-interval", "20s", "--heartbeat-timeout", "60s")
	driver := exec.Command(os.Args[0])
	driver.Env = append(os.Environ(), driverAddrEnv+"="+srv.Addr,
		driverCallerEnv+"="+servertest.Token(b, "caller"), driverCalleeEnv+"="+servertest.Token(b, "callee"))
	var stderr bytes.Buffer
	driver.Stderr = &stderr
	commands, err := driver.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	answers, err := driver.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := driver.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		commands.Close()
		if err := driver.Wait(); err != nil {
			b.Errorf("lifecycle driver: %v\n%s", err, stderr.String())
		}
	})
	command, done := []byte{'1'}, make([]byte, 1) // allocated once: a lifecycle's exchange allocates nothing
	lifecycle := func() {
		if _, err := commands.Write(command); err != nil {
			b.Fatalf("lifecycle driver: %v\n%s", err, stderr.String())
		}
		if _, err := io.ReadFull(answers, done); err != nil {
			commands.Close()
			driver.Wait()
			b.Fatalf("lifecycle driver: %v\n%s", err, stderr.String())
		}
	}
	for range 200 { // the connections, the database and the server's pools warmed up
		lifecycle()
	}
	b.ReportAllocs()
	cpu := processCPU(b)
	for b.Loop() {
		lifecycle()
	}
	b.ReportMetric(float64((processCPU(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU returns the CPU time (user and system) this process, the server's, used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runLifecycleDriver logs the caller and the callee in to the server at addr and runs one
// lifecycle (BenchmarkLifecycle) for each byte read from commands, writing one byte to done
// after each; it returns when commands ends.
func runLifecycleDriver(addr, callerToken, calleeToken string, commands io.Reader, done io.Writer) error {
	caller, err := driverLogin(addr, callerToken, "caller-device")
	if err != nil {
		return err
	}
	callee, err := driverLogin(addr, calleeToken, "callee-device")
	if err != nil {
		return err
	}
	var command [1]byte
	for n := 0; ; n++ {
		if _, err := commands.Read(command[:]); err != nil {
			return nil
		}
		if err := driveLifecycle(caller, callee, n); err != nil {
			return fmt.Errorf("lifecycle %d: %w", n, err)
		}
		if _, err := done.Write(command[:]); err != nil {
			return err
		}
	}
}

// driveLifecycle runs lifecycle n between caller and callee.
func driveLifecycle(caller, callee *driverConn, n int) error {
	idem := func(step string) string { return fmt.Sprintf("lifecycle-%08d-%s", n, step) }
	reply, err := caller.request("callInvite", `{"invitees":["callee"],"config":{"mode":1,"timeout":60}}`, idem("invite"))
	if err != nil {
		return err
	}
	callID, ok := stringField(reply, "callID")
	if !ok {
		return fmt.Errorf("callInvite answered %s", reply)
	}
	of := `"callID":"` + callID + `"`
	if err := callee.await(eventOf("callInvitationReceived", of)); err != nil {
		return err
	}
	if _, err := callee.request("callReceived", `{`+of+`}`, idem("receipt")); err != nil {
		return err
	}
	if err := caller.await(eventOf("callUserStateChanged", of, `"userID":"callee","state":5,`)); err != nil {
		return err
	}
	if _, err := callee.request("callAccept", `{`+of+`,"config":{}}`, idem("accept")); err != nil {
		return err
	}
	if err := caller.await(eventOf("callUserStateChanged", of, `"userID":"callee","state":1,`)); err != nil {
		return err
	}
	if _, err := caller.request("callEnd", `{`+of+`,"config":{}}`, idem("end")); err != nil {
		return err
	}
	for _, c := range []*driverConn{caller, callee} {
		if err := c.await(eventOf("callInvitationEnded", of)); err != nil {
			return err
		}
		c.kept = c.kept[:0] // the call's other events: the ended event is its last
	}
	return nil
}

// driverConn is a minimal WebSocket client: it writes each request as one masked text frame
// (with a zero mask, so the payload goes as is) and reads the server's unfragmented text frames.
type driverConn struct {
	nc     net.Conn
	br     *bufio.Reader
	nextID int64
	kept   [][]byte // frames read but not yet awaited
}

// driverLogin connects to addr and logs in with token on deviceID.
func driverLogin(addr, token, deviceID string) (*driverConn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &driverConn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}
	_, err = nc.Write([]byte("GET /v1/ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\n" +
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	if err != nil {
		return nil, err
	}
	status, err := c.br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		return nil, fmt.Errorf("handshake answered %q, %v", status, err)
	}
	for line := ""; line != "\r\n"; {
		if line, err = c.br.ReadString('\n'); err != nil {
			return nil, err
		}
	}
	_, err = c.request("login", `{"token":"`+token+`","deviceID":"`+deviceID+`"}`, "")
	return c, err
}

// request sends op with data (and idem, unless empty) and returns its reply's result, or an
// error for an error reply.
func (c *driverConn) request(op, data, idem string) ([]byte, error) {
	c.nextID++
	id := strconv.FormatInt(c.nextID, 10)
	frame := `{"id":` + id + `,"op":"` + op + `","data":` + data
	if idem != "" {
		frame += `,"idem":"` + idem + `"`
	}
	if err := c.send(frame + "}"); err != nil {
		return nil, err
	}
	prefix := []byte(`{"id":` + id + `,`)
	var reply []byte
	err := c.await(func(f []byte) bool {
		reply = f
		return bytes.HasPrefix(f, prefix)
	})
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(reply[len(prefix):], []byte(`"result":`)) {
		return nil, fmt.Errorf("%s answered %s", op, reply)
	}
	return reply, nil
}

// send writes text as one masked text frame.
func (c *driverConn) send(text string) error {
	return ws.WriteFrame(c.nc, ws.MaskFrame(ws.NewTextFrame([]byte(text))))
}

// await returns once a frame for which match holds has come, within 10 s. The frames read
// before it are kept, in order, for the next await: frames of two connections, or a reply and
// the events its request caused, may come in either order.
func (c *driverConn) await(match func([]byte) bool) error {
	for i, f := range c.kept {
		if match(f) {
			c.kept = append(c.kept[:i:i], c.kept[i+1:]...)
			return nil
		}
	}
	for {
		f, err := c.next()
		if err != nil {
			return err
		}
		if match(f) {
			return nil
		}
		c.kept = append(c.kept, f)
	}
}

// next reads the server's next frame: an unfragmented text frame.
func (c *driverConn) next() ([]byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var head [2]byte
	if _, err := io.ReadFull(c.br, head[:]); err != nil {
		return nil, err
	}
	if head[0] != 0x81 {
		return nil, fmt.Errorf("frame of first byte %#x, not a whole text frame", head[0])
	}
	n := uint64(head[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(c.br, ext[:]); err != nil {
			return nil, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(c.br, ext[:]); err != nil {
			return nil, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	payload := make([]byte, n)
	_, err := io.ReadFull(c.br, payload)
	return payload, err
}

// eventOf matches the frames of event name that hold every one of parts.
func eventOf(name string, parts ...string) func([]byte) bool {
	prefix := []byte(`{"event":"` + name + `"`)
	return func(f []byte) bool {
		if !bytes.HasPrefix(f, prefix) {
			return false
		}
		for _, p := range parts {
			if !bytes.Contains(f, []byte(p)) {
				return false
			}
		}
		return true
	}
}

// stringField returns the first string value named name in frame (which holds no escaped
// quote before it).
func stringField(frame []byte, name string) (string, bool) {
	_, after, found := bytes.Cut(frame, []byte(`"`+name+`":"`))
	if !found {
		return "", false
	}
	value, _, found := bytes.Cut(after, []byte(`"`))
	return string(value), found
}
