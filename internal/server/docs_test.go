package server

import (
	"os"
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
