package config

import (
	"os"
	"strings"
	"testing"
)

// docs/operations.md's log table says which DIALTONE_ variables are no setting and yet draw no
// warning at start: every one the server knows as such (DIALTONE_CONFIG and cliEnvVars), so an
// operator who sees one set does not take it for a misspelling, nor one missing for a bug.
func TestOperationsNamesTheVariablesThatAreNoSetting(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	_, row, ok := strings.Cut(string(doc), "`environment variable names no setting and is ignored")
	if !ok {
		t.Fatal("docs/operations.md's log table has no line for an unknown DIALTONE_ variable")
	}
	row, _, _ = strings.Cut(row, "\n")
	for _, name := range append([]string{"DIALTONE_CONFIG"}, cliEnvVars...) {
		if !strings.Contains(row, "`"+name+"`") {
			t.Errorf("docs/operations.md's log table does not name %s among the variables that are no setting", name)
		}
	}
}
