package config

import (
	"os"
	"strings"
	"testing"
)

// The README's configuration table is the one the code generates, so it lists every flag with
// its real default.
func TestREADMEConfigurationTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), MarkdownTable()) {
		t.Errorf("README.md does not contain the configuration table of MarkdownTable(); paste this in:\n%s", MarkdownTable())
	}
}
