package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// operatorDocs are the docs a newcomer and an operator rely on.
var operatorDocs = []string{"README.md", "docs/operations.md", "docs/webhooks.md", "docs/push.md", "docs/reliability.md"}

// repoTests returns the names of the Go test functions of the repository, and the paths of
// its test files (Go and JavaScript), from the repository root.
func repoTests(t *testing.T) (names, files []string) {
	t.Helper()
	decl := regexp.MustCompile(`(?m)^func (Test\w+)\(`)
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == "testdata"):
			return filepath.SkipDir
		case d.IsDir() || !strings.Contains(d.Name(), "_test."):
			return nil
		}
		rel, err := filepath.Rel("../..", path)
		if err != nil {
			return err
		}
		files = append(files, filepath.ToSlash(rel))
		if strings.HasSuffix(path, ".go") {
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range decl.FindAllStringSubmatch(string(src), -1) {
				names = append(names, m[1])
			}
		}
		return nil
	})
	must(t, err)
	return names, files
}

// Each guarantee the docs prove with a test names a test that exists: `TestX` (or `TestX*`,
// the tests whose names begin so, or `TestX/Sub`, a subtest of TestX) and test files such as
// web/dialtone_events_test.mjs.
func TestDocsProofsNameTestsThatExist(t *testing.T) {
	names, files := repoTests(t)
	proof := regexp.MustCompile("`(Test\\w+)(\\*)?(?:/\\w+)?`|`([\\w/.]+_test\\.\\w+)`")
	for _, path := range operatorDocs {
		doc, err := os.ReadFile("../../" + path)
		must(t, err)
		for _, m := range proof.FindAllStringSubmatch(string(doc), -1) {
			switch name, prefix, file := m[1], m[2] != "", m[3]; {
			case file != "":
				if !slices.ContainsFunc(files, func(f string) bool { return f == file || strings.HasSuffix(f, "/"+file) }) {
					t.Errorf("%s names the test file %s, which does not exist", path, file)
				}
			case prefix:
				if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, name) }) {
					t.Errorf("%s names the tests %s*; none exists", path, name)
				}
			case !slices.Contains(names, name):
				t.Errorf("%s names the test %s, which does not exist", path, name)
			}
		}
	}
}
