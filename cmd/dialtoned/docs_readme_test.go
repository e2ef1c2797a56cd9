package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README's "Run it" says which Go a fresh machine needs: go.mod's go line, the oldest
// toolchain that builds the module.
func TestREADMEStatesTheGoVersion(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	must(t, err)
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	run := docsSection(t, "README.md", "## Run it")
	if want := "Go " + string(m[1]) + " or later"; !strings.Contains(run, want) {
		t.Errorf("the README's \"Run it\" does not say %q (go.mod: go %s)", want, m[1])
	}
}
