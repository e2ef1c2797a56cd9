package main

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// readme returns the repository's README.md.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// usageOf returns what "dialtone ARGS --help" prints: the usage text of a subcommand with its
// flags.
func usageOf(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(t.Context(), append(args, "--help"), strings.NewReader(""), &out, &out); err != nil {
		t.Fatalf("dialtone %s --help: %v", strings.Join(args, " "), err)
	}
	return out.String()
}

// The README's command lines of the CLI ("go run ./cmd/dialtone client …", `dialtone token
// --secret S alice`, …) name commands the CLI has and flags those commands take, as their
// --help lists them, and the README names every command of the CLI's usage.
func TestREADMECommandLinesMatchTheCLI(t *testing.T) {
	doc := readme(t)
	lines := regexp.MustCompile("(?m)(?:^|`)(?:go run \\./cmd/)?dialtone ([a-z][^`\\n]*(?:\\n[^`\\n]*)?)(?:`|$)").
		FindAllStringSubmatch(doc, -1)
	if len(lines) == 0 {
		t.Fatal("the README shows no dialtone command line")
	}
	usages := map[string]string{}
	for _, l := range lines {
		words := strings.Fields(l[1])
		sub := words[0]
		if !strings.Contains(mainUsage, "\n  dialtone "+sub+" ") {
			t.Errorf("README: %q: dialtone has no command %s", l[0], sub)
			continue
		}
		if usages[sub] == "" {
			usages[sub] = usageOf(t, sub)
		}
		for _, w := range words[1:] {
			if name, ok := strings.CutPrefix(w, "--"); ok && name != "help" &&
				!strings.Contains(usages[sub], "\n  -"+name+" ") && !strings.Contains(usages[sub], "\n  -"+name+"\n") {
				t.Errorf("README: %q: dialtone %s has no flag %s", l[0], sub, w)
			}
		}
	}
	for _, m := range regexp.MustCompile(`\n  dialtone (\w+) `).FindAllStringSubmatch(mainUsage, -1) {
		if sub := m[1]; sub != "help" && !strings.Contains(doc, "`"+sub+"`") && usages[sub] == "" {
			t.Errorf("the README does not name the CLI's command %s", sub)
		}
	}
}

// The README's list of the interactive client's commands ("Type `help` for the commands: …")
// names commands of its help, with flags they take, and every command that carries out an op.
func TestREADMEClientCommandsMatchTheHelp(t *testing.T) {
	_, list, ok := strings.Cut(readme(t), "Type `help` for the commands:")
	if !ok {
		t.Fatal("the README does not list the client's commands")
	}
	list, _, _ = strings.Cut(list, "Events print")
	table := commandTable()
	var named []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(list, -1) {
		words := strings.Fields(m[1])
		i := slices.IndexFunc(table, func(c command) bool { return c.name == words[0] })
		if i < 0 {
			t.Errorf("README: %q: the client has no command %s", m[1], words[0])
			continue
		}
		named = append(named, words[0])
		for _, w := range words[1:] {
			if strings.HasPrefix(w, "--") && !strings.Contains(table[i].args, "["+w+" ") && !strings.Contains(table[i].args, "["+w+"]") {
				t.Errorf("README: %q: the client's %s has no flag %s (%s)", m[1], words[0], w, table[i].args)
			}
		}
	}
	op := regexp.MustCompile(`\((call|query)\w+\)$`)
	for _, c := range table {
		if op.MatchString(c.help) && !slices.Contains(named, c.name) {
			t.Errorf("the README's list of the client's commands leaves out %s (%s)", c.name, c.help)
		}
	}
}
