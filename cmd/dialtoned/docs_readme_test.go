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

// The README's "Test it" command runs as written on a fresh machine only with what the
// section says it needs: -race needs cgo, so a C compiler (without one, go turns cgo off and
// "go test -race" stops at once: "-race requires cgo").
func TestREADMETestCommandNamesWhatItNeeds(t *testing.T) {
	section := docsSection(t, "README.md", "## Test it")
	block := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(section)
	if block == nil {
		t.Fatal("the README's \"Test it\" has no command")
	}
	if strings.Contains(block[1], "-race") && !strings.Contains(section, "C compiler") {
		t.Errorf("the README's \"Test it\" runs %q but does not say that -race needs a C compiler", strings.TrimSpace(block[1]))
	}
}
