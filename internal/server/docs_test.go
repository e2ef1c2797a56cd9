package server

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/dialtone/dialtone/internal/config"
)

// What "dialtoned --dev" prints is what the README's "Run it", "Try it in your browser" and
// "From the terminal" say it prints: the WebSocket URL, tokens for alice, bob and carol, the
// page's address, and the very command lines the README gives for the terminal client.
func TestDevHelpIsWhatTheREADMESays(t *testing.T) {
	cfg, err := config.Parse([]string{"--dev"}, func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := cfg.Listen
	var out strings.Builder
	printDevHelp(&out, cfg, addr)
	printed := out.String()

	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	_, terminal, _ := strings.Cut(readme, "## From the terminal")
	block := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(terminal)
	if block == nil {
		t.Fatal("the README's \"From the terminal\" has no command")
	}
	for line := range strings.SplitSeq(strings.TrimSpace(block[1]), "\n") {
		if !strings.Contains(printed, "\n  "+line+"\n") {
			t.Errorf("the README's command %q is not among those dialtoned --dev prints:\n%s", line, printed)
		}
	}
	for _, want := range []string{"`ws://" + addr + "/v1/ws`", "<http://" + addr + "/>", "`" + addr + "`"} {
		if !strings.Contains(readme, want) {
			t.Errorf("the README does not give the dev server's %s", want)
		}
	}
	for _, user := range []string{"alice", "bob", "carol"} {
		if !regexp.MustCompile(`\n  ` + user + ` +\S+\n`).MatchString(printed) {
			t.Errorf("dialtoned --dev prints no token for %s, which the README promises:\n%s", user, printed)
		}
	}
	if !strings.Contains(printed, "ws://"+addr+"/v1/ws") || !strings.Contains(printed, "http://"+addr+"/") {
		t.Errorf("dialtoned --dev does not print its URLs:\n%s", printed)
	}
}

// The client commands "dialtoned --dev" prints run as printed when pasted into a shell, also
// with a --secret or --audience that holds blanks or characters a shell reads ($, quotes): the
// shell hands the client the very secret and audience the server has.
func TestDevHelpCommandsPasteIntoAShell(t *testing.T) {
	const secret, audience = `dev secret with $HOME, "quotes" and 'apostrophes'`, "app #1; echo"
	cfg, err := config.Parse([]string{"--dev", "--secret", secret, "--audience", audience},
		func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	printDevHelp(&out, cfg, cfg.Listen)
	lines := regexp.MustCompile(`(?m)^  (go run \./cmd/dialtone client .*)$`).FindAllStringSubmatch(out.String(), -1)
	if len(lines) == 0 {
		t.Fatalf("dialtoned --dev prints no client command:\n%s", out.String())
	}
	for _, l := range lines {
		// The shell splits the line into words as it would run it; each word on a line of its own.
		words, err := exec.Command("sh", "-c", "set -- "+l[1]+"\nprintf '%s\\n' \"$@\"").Output()
		if err != nil {
			t.Fatalf("sh cannot read %q: %v", l[1], err)
		}
		args := strings.Split(strings.TrimSuffix(string(words), "\n"), "\n")
		got := map[string]string{}
		for i := 0; i+1 < len(args); i++ {
			if strings.HasPrefix(args[i], "--") {
				got[args[i]] = args[i+1]
			}
		}
		if got["--secret"] != secret || got["--audience"] != audience {
			t.Errorf("pasted into a shell, %q gives --secret %q and --audience %q; want %q and %q",
				l[1], got["--secret"], got["--audience"], secret, audience)
		}
	}
}
