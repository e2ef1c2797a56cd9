package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/dialtone/dialtone/client"
)

// The README's "Run it" and "Try it in your browser", as a newcomer follows them: `dialtoned
// --dev` (here on a free port, in an empty working directory, with the default --data) prints
// where clients connect, the demo users' tokens, which log in, and the page to open; the page,
// /healthz, /readyz and /metrics answer; the log says where it listens and, as an absolute
// path, where its data is (a relative --data names a directory only with the process's
// working directory, which the log does not show); and Ctrl-C (SIGINT) drains and exits 0.
func TestE2EDevStartAsTheREADMESays(t *testing.T) {
	bin := buildServer(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	var stdout, stderr lockedBuffer
	cmd := exec.Command(bin, "--dev", "--listen", addr)
	cmd.Dir = dir
	cmd.Env = []string{} // nothing of the test's environment, as on a fresh shell
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitLogged(t, &stderr, "dialtoned listening")

	wantData := filepath.Join(dir, ".dialtone")
	if want := `addr=` + addr + ` data=` + wantData + ` dev=true`; !strings.Contains(stderr.String(), want) {
		t.Errorf("the start's log lacks %q:\n%s", want, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"Dialtone dev server on ws://" + addr + "/v1/ws",
		"open http://" + addr + "/ in two tabs",
		"--url ws://" + addr + "/v1/ws --user alice --secret dialtone-dev-secret",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the dev server's banner lacks %q:\n%s", want, out)
		}
	}
	for _, user := range []string{"alice", "bob", "carol"} {
		m := regexp.MustCompile(`(?m)^  ` + user + ` +(\S+)$`).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("the banner prints no token for %s:\n%s", user, out)
			continue
		}
		c, err := client.Dial(t.Context(), "ws://"+addr+"/v1/ws", client.Options{})
		must(t, err)
		res, err := c.Login(t.Context(), m[1], "readme")
		if err != nil || res.UserID != user {
			t.Errorf("the printed token of %s logs in as %q: %v", user, res.UserID, err)
		}
		c.Close()
	}
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		if code, body := getStatus(t, "http://"+addr+path); code != 200 || strings.TrimSpace(body) != want {
			t.Errorf("GET %s = %d %q, want 200 %q", path, code, body, want)
		}
	}
	if code, body := getStatus(t, "http://"+addr+"/"); code != 200 || !strings.Contains(body, "<html") {
		t.Errorf("GET / = %d, want the demo page:\n%.200s", code, body)
	}
	if code, body := getStatus(t, "http://"+addr+"/metrics"); code != 200 || !strings.Contains(body, "dialtone_sessions ") {
		t.Errorf("GET /metrics = %d, want the metrics:\n%.200s", code, body)
	}

	must(t, cmd.Process.Signal(syscall.SIGINT)) // Ctrl-C
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after Ctrl-C: %v, want status 0\n%s", err, stderr.String())
	}
	for _, want := range []string{"msg=draining", "msg=stopped"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the log lacks %q after Ctrl-C:\n%s", want, stderr.String())
		}
	}
}

// The README's "Outside --dev the server refuses to start without --secret": a production
// start with neither --secret nor DIALTONE_SECRET (nor an empty one, which counts as unset)
// exits 1 with a line naming --secret and its variable, before it creates the data directory.
func TestE2EProductionStartNeedsASecret(t *testing.T) {
	bin := buildServer(t)
	for _, env := range [][]string{{}, {"DIALTONE_SECRET="}} {
		data := filepath.Join(t.TempDir(), "data")
		cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--data", data)
		cmd.Env = env
		var stderr lockedBuffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 ||
			!hasLineStarting(stderr.String(), "dialtoned: --secret is required (or DIALTONE_SECRET), unless --dev") {
			t.Errorf("env %q: %v, stderr:\n%s\nwant status 1 and a line naming --secret", env, err, stderr.String())
		}
		if _, serr := os.Stat(data); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("env %q: the refused start created its data directory (%v)", env, serr)
		}
	}
}
