package main

import (
	"errors"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/coder/websocket"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/servertest"
	"github.com/dialtone/dialtone/protocol"
)

// limitFileSize sets the file size limit (RLIMIT_FSIZE) of process pid to bytes: every write
// past it fails with EFBIG, as a write to a failing disk does, while the process reads on.
// The Go runtime ignores the SIGXFSZ that comes with it.
func limitFileSize(t *testing.T, pid int, bytes uint64) {
	t.Helper()
	limit := syscall.Rlimit{Cur: bytes, Max: ^uint64(0)}
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_FSIZE,
		uintptr(unsafe.Pointer(&limit)), 0, 0, 0); errno != 0 {
		t.Fatalf("prlimit: %v", errno)
	}
}

// lineOf returns the line of body that starts with prefix, or "".
func lineOf(body, prefix string) string {
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

// While the server's database cannot be written (here every file write fails, as on a failing
// disk), a change is refused with 6000270 and counted under it, /readyz answers 503 with the
// reason, dialtone_store_writable is 0, and /healthz stays 200; once writes succeed again,
// /readyz's own probe makes it ready, and dialtone_store_writable 1, without a change
// (docs/operations.md "When the disk fills").
func TestE2ENotReadyWhileTheDatabaseCannotBeWritten(t *testing.T) {
	bin, addr := buildServer(t), freeAddr(t)
	cmd := startBinary(t, bin, addr, nil, "--data", t.TempDir(), "--secret", servertest.Secret, "--log-level", "error")
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	conn, _, err := websocket.Dial(t.Context(), "ws://"+addr+protocol.Path, nil)
	must(t, err)
	t.Cleanup(func() { conn.CloseNow() })
	r := &rawConn{t: t, conn: conn}
	r.login("alice")

	limitFileSize(t, cmd.Process.Pid, 1)
	r.send(`{"id":2,"op":"callInvite","data":{"invitees":["bob"]}}`)
	if f := r.reply(2); f.Error == nil || f.Error.Code != protocol.CodeInternal {
		t.Fatalf("callInvite on an unwritable database: %+v, want code %d", f, protocol.CodeInternal)
	}
	if status, body := getStatus(t, base+"/readyz"); status != http.StatusServiceUnavailable ||
		!strings.HasPrefix(body, "not ready: the database cannot be written: ") {
		t.Errorf("/readyz: %d %q, want 503 with the reason", status, body)
	}
	if status, _ := getStatus(t, base+"/healthz"); status != http.StatusOK {
		t.Errorf("/healthz: %d, want 200", status)
	}
	_, metrics := getStatus(t, base+"/metrics")
	for _, want := range []string{"dialtone_store_writable 0", `dialtone_operations_total{code="6000270",op="callInvite"} 1`} {
		if got := lineOf(metrics, strings.Fields(want)[0]+" "); got != want {
			t.Errorf("/metrics: %q, want %q", got, want)
		}
	}

	limitFileSize(t, cmd.Process.Pid, ^uint64(0))
	for deadline := time.Now().Add(waitFor); ; time.Sleep(100 * time.Millisecond) {
		status, _ := getStatus(t, base+"/readyz")
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %v after the writes came back", status, waitFor)
		}
	}
	if _, metrics := getStatus(t, base+"/metrics"); lineOf(metrics, "dialtone_store_writable ") != "dialtone_store_writable 1" {
		t.Errorf("/metrics: %q once ready again, want dialtone_store_writable 1", lineOf(metrics, "dialtone_store_writable "))
	}
}

// A Go client's logout on a server whose database cannot write fails with 6000270 and changes
// nothing (protocol.md `logout`): the client stays running and Connected, the device logged in
// with its push target, and once writes succeed again the same client's repeated Logout logs
// the device out (R6.1, §9; docs/behaviour.md §12, "A Go Logout that fails").
func TestE2ELogoutOnAnUnwritableDatabaseIsRepeated(t *testing.T) {
	bin, addr := buildServer(t), freeAddr(t)
	cmd := startBinary(t, bin, addr, nil, "--dev", "--data", t.TempDir(), "--secret", servertest.Secret, "--log-level", "error")
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	phone := dialAt(t, "ws://"+addr+protocol.Path, "alice", "a-phone", client.Options{})
	ctx := t.Context()
	if _, err := phone.Login(ctx, token(t, "alice"), "a-phone"); err != nil {
		t.Fatal(err)
	}
	must(t, phone.PushRegister(ctx, client.PushTarget{Provider: "webhook", Token: "phone-token"}))

	limitFileSize(t, cmd.Process.Pid, 1)
	if err := phone.Logout(ctx); code(err) != protocol.CodeInternal {
		t.Fatalf("Logout on an unwritable database: %v, want %d", err, protocol.CodeInternal)
	}
	if err, s := phone.Err(), phone.State(); err != nil || s != client.Connected {
		t.Fatalf("after the refused Logout: Err %v, state %v, want the client running and Connected", err, s)
	}

	limitFileSize(t, cmd.Process.Pid, ^uint64(0))
	if err := phone.Logout(ctx); err != nil {
		t.Fatalf("Logout repeated once the database can be written: %v", err)
	}
	if !errors.Is(phone.Err(), client.ErrLoggedOut) {
		t.Fatalf("Err() = %v, want ErrLoggedOut", phone.Err())
	}
}
