package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's Go example compiles and does what the README says against a real server.
func TestREADMEGoExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	must(t, err)
	block := regexp.MustCompile("(?s)## Ring someone from Go.*?```go\n(.*?)```").FindSubmatch(readme)
	if block == nil {
		t.Fatal("README has no Go example under \"Ring someone from Go\"")
	}
	must(t, os.MkdirAll("testdata", 0o755))
	dir, err := os.MkdirTemp("testdata", "readme-") // inside the module, so its imports resolve
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir); os.Remove("testdata") })
	must(t, os.WriteFile(filepath.Join(dir, "main.go"), block[1], 0o644))

	ts := startServer(t)
	cmd := exec.CommandContext(t.Context(), "go", "run", "./"+dir)
	cmd.Env = append(os.Environ(), "DIALTONE_URL="+ts.URL,
		"ALICE_TOKEN="+token(t, "alice"), "BOB_TOKEN="+token(t, "bob"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("README example: %v\n%s", err, out)
	}
	for _, want := range []string{"alice: ringing bob in call", "bob: call from alice", "alice: bob answered"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("README example output lacks %q:\n%s", want, out)
		}
	}
}
