package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A DIALTONE_ variable that names no setting (a misspelling) is reported, with the setting it
// most likely meant; the settings' own variables, DIALTONE_CONFIG, the CLI's variables and
// empty ones (which count as unset) are not, nor is anything without the prefix.
func TestUnknownEnv(t *testing.T) {
	environ := []string{
		"PATH=/usr/bin", "HOME=/root", "dialtone_listen=x",
		"DIALTONE_HEARTBEAT_TIMOUT=60s", "DIALTONE_LISTEN=:1", "DIALTONE_CONFIG=/etc/d.json",
		"DIALTONE_URL=ws://h/v1/ws", "DIALTONE_TOKEN=t", "DIALTONE_SECRET=s",
		"DIALTONE_EMPTY_TYPO=", "DIALTONE_SOMETHING_ELSE=1", "DIALTONE_APIKEY=k", "DIALTONE_=x", "DIALTONE_NOEQUALS",
		"DIALTONE_TRUSTED_PROXY=127.0.0.1",
	}
	want := []UnknownVar{
		{Name: "DIALTONE_", Closest: ""},
		{Name: "DIALTONE_APIKEY", Closest: "DIALTONE_API_KEY"},
		{Name: "DIALTONE_HEARTBEAT_TIMOUT", Closest: "DIALTONE_HEARTBEAT_TIMEOUT"},
		{Name: "DIALTONE_SOMETHING_ELSE", Closest: ""},
		{Name: "DIALTONE_TRUSTED_PROXY", Closest: "DIALTONE_TRUSTED_PROXIES"},
	}
	if diff := cmp.Diff(want, UnknownEnv(environ)); diff != "" {
		t.Errorf("UnknownEnv (-want +got):\n%s", diff)
	}
	for _, s := range settings() {
		if got := UnknownEnv([]string{EnvVar(s.name) + "=1"}); len(got) != 0 {
			t.Errorf("the variable of --%s is reported unknown: %v", s.name, got)
		}
	}
}

// Every DIALTONE_ variable the dialtone CLI reads is one UnknownEnv knows, so that a server
// started from the same shell does not warn about it.
func TestCLIVariablesAreKnown(t *testing.T) {
	files, err := filepath.Glob("../../cmd/dialtone/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no CLI sources found: %v", err)
	}
	name := regexp.MustCompile(`"(DIALTONE_[A-Z0-9_]+)"`)
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range name.FindAllStringSubmatch(string(src), -1) {
			seen++
			if got := UnknownEnv([]string{m[1] + "=x"}); len(got) != 0 {
				t.Errorf("%s reads %s, which UnknownEnv reports: add it to cliEnvVars", f, m[1])
			}
		}
	}
	if seen == 0 {
		t.Error("no DIALTONE_ variable found in the CLI's sources: the pattern no longer matches them")
	}
}

// Every DIALTONE_ variable a test of the project reads is a switch of its test runs that
// UnknownEnv knows (cliEnvVars, which docs/operations.md names with it), so that a server
// started from a shell where a developer set one does not warn about it.
func TestTestSwitchesAreKnown(t *testing.T) {
	read := regexp.MustCompile(`os\.(?:Getenv|LookupEnv)\("(DIALTONE_[A-Z0-9_]+)"\)`)
	seen := 0
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules"):
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(path, "_test.go"):
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range read.FindAllStringSubmatch(string(src), -1) {
			seen++
			if got := UnknownEnv([]string{m[1] + "=1"}); len(got) != 0 {
				t.Errorf("%s reads %s, which UnknownEnv reports: a switch of the test runs belongs in cliEnvVars, "+
					"and a child process's own marker needs no DIALTONE_ name", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Error("no test reads a DIALTONE_ variable: the pattern no longer matches them")
	}
}
