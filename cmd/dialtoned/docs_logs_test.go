package main

import (
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// logLine is one log record the server's code writes: its message and level ("" when the
// level is chosen at run time, as the outbox's once-a-minute WARN is).
type logLine struct {
	msg, level, at string
	attrs          []string // the literal attribute keys of the call and of its file's loggers' With
	spread         bool     // the call passes its attributes as a slice (args...): attrs are not all known
}

// slogLevels maps the slog.Logger methods to the level names the log table uses.
var slogLevels = map[string]string{"Debug": "DEBUG", "Info": "INFO", "Warn": "WARN", "Error": "ERROR"}

// codeLogLines returns the log records of the server's code (internal/… and cmd/dialtoned,
// tests excluded) whose message is a string literal: calls of a *slog.Logger's Debug, Info,
// Warn and Error (on a receiver named log or Log), of its Log with a run-time level, and of the
// push dispatcher's warnOnce.
func codeLogLines(t *testing.T) []logLine {
	t.Helper()
	var lines []logLine
	fset := gotoken.NewFileSet()
	for _, root := range []string{"../../internal", "."} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			with := withKeys(f)
			ast.Inspect(f, func(n ast.Node) bool {
				if l, ok := logCall(n); ok {
					l.at = fset.Position(n.Pos()).String()
					l.spread = n.(*ast.CallExpr).Ellipsis.IsValid()
					l.attrs = append(l.attrs, with...)
					lines = append(lines, l)
				}
				return true
			})
			return nil
		})
		must(t, err)
	}
	if len(lines) == 0 {
		t.Fatal("found no log call in the code")
	}
	return lines
}

// logCall reports whether n is a log call with a literal message, and returns it.
func logCall(n ast.Node) (logLine, bool) {
	c, ok := n.(*ast.CallExpr)
	if !ok {
		return logLine{}, false
	}
	sel, ok := c.Fun.(*ast.SelectorExpr)
	if !ok {
		return logLine{}, false
	}
	literal := func(i int) (string, bool) {
		if len(c.Args) <= i {
			return "", false
		}
		lit, ok := c.Args[i].(*ast.BasicLit)
		if !ok || lit.Kind != gotoken.STRING {
			return "", false
		}
		s, err := strconv.Unquote(lit.Value)
		return s, err == nil
	}
	receiver := ""
	switch x := sel.X.(type) {
	case *ast.Ident:
		receiver = x.Name
	case *ast.SelectorExpr:
		receiver = x.Sel.Name
	}
	keys := func(from int) []string { // the attribute keys, literal strings at every other place
		var out []string
		for i := from; i < len(c.Args); i += 2 {
			if k, ok := literal(i); ok {
				out = append(out, k)
			}
		}
		return out
	}
	isLogger := receiver == "log" || receiver == "Log"
	switch level, isLevel := slogLevels[sel.Sel.Name]; {
	case isLevel && isLogger:
		msg, ok := literal(0)
		return logLine{msg: msg, level: level, attrs: keys(1)}, ok
	case sel.Sel.Name == "Log" && isLogger:
		msg, ok := literal(2)
		return logLine{msg: msg, attrs: keys(3)}, ok
	case sel.Sel.Name == "warnOnce":
		msg, ok := literal(0)
		return logLine{msg: msg, level: "WARN", attrs: keys(1)}, ok
	}
	return logLine{}, false
}

// withKeys returns the literal attribute keys that f's code adds to a logger with With.
func withKeys(f *ast.File) []string {
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		c, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "With" {
			for i := 0; i < len(c.Args); i += 2 {
				if lit, ok := c.Args[i].(*ast.BasicLit); ok && lit.Kind == gotoken.STRING {
					if k, err := strconv.Unquote(lit.Value); err == nil {
						out = append(out, k)
					}
				}
			}
		}
		return true
	})
	return out
}

// tableLine is one log line the operations doc's log table names: its message (a prefix when
// the table ends it with "…") and the levels the table gives it.
type tableLine struct {
	msg    string
	prefix bool
	levels []string
	attrs  []string // the attribute keys the table shows ("key=…")
}

// matches reports whether the code's message msg is this table line's.
func (l tableLine) matches(msg string) bool {
	if l.prefix {
		return strings.HasPrefix(msg, l.msg)
	}
	return msg == l.msg
}

// operationsLogTable returns the log lines of docs/operations.md's log table. In a row, a line
// written right after a level name ("INFO `…`") has that level; the others have the row's
// levels. What follows the message in the table (its attributes, "key=…", or "…") is not part
// of the message. Only Go's HTTP server's lines ("http: …") are kept out: the server passes
// their text through.
func operationsLogTable(t *testing.T) []tableLine {
	t.Helper()
	doc, err := os.ReadFile("../../docs/operations.md")
	must(t, err)
	_, table, ok := strings.Cut(string(doc), "| level | lines | what to do |")
	if !ok {
		t.Fatal("docs/operations.md has no log table")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	levelName := regexp.MustCompile(`\b(DEBUG|INFO|WARN|ERROR)\b`)
	item := regexp.MustCompile("(?:\\b(DEBUG|INFO|WARN|ERROR) )?`([^`]+)`")
	attr := regexp.MustCompile(` \w+=`)
	attrKey := regexp.MustCompile(` (\w+)=`)
	var lines []tableLine
	for row := range strings.SplitSeq(table, "\n") {
		cells := strings.Split(row, " | ")
		if len(cells) < 3 || !strings.HasPrefix(row, "| ") {
			continue
		}
		rowLevels := levelName.FindAllString(cells[0], -1)
		for _, m := range item.FindAllStringSubmatch(cells[1], -1) {
			text := m[2]
			if strings.HasPrefix(text, "http: ") {
				continue
			}
			var attrs []string
			for _, a := range attrKey.FindAllStringSubmatch(text, -1) {
				attrs = append(attrs, a[1])
			}
			if loc := attr.FindStringIndex(text); loc != nil {
				text = text[:loc[0]]
			}
			l := tableLine{msg: strings.TrimSpace(strings.TrimSuffix(text, "…")), levels: rowLevels, attrs: attrs}
			l.prefix = l.msg != text
			if m[1] != "" {
				l.levels = []string{m[1]}
			}
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		t.Fatal("docs/operations.md's log table names no line")
	}
	return lines
}

// docs/operations.md "The log": every line its table names is written by the server with
// that message and at a level the table gives it, and every ERROR and WARN line of the server
// is in the table, so that an operator who greps for a line finds it, and one who meets a line
// knows what to do.
func TestOperationsLogTableMatchesTheCode(t *testing.T) {
	code := codeLogLines(t)
	table := operationsLogTable(t)
	for _, l := range table {
		// A backticked word that no code line has and that holds no blank is a name
		// (an attribute, a kick reason), not a line.
		found := slices.ContainsFunc(code, func(c logLine) bool { return l.matches(c.msg) })
		if !found && (strings.Contains(l.msg, " ") || l.prefix) {
			t.Errorf("docs/operations.md names the log line %q, which the server never writes", l.msg)
		}
		for _, c := range code {
			for _, a := range l.attrs {
				if l.matches(c.msg) && !c.spread && !slices.Contains(c.attrs, a) {
					t.Errorf("%s: docs/operations.md gives %q the attribute %s, which it does not have (%q)", c.at, l.msg, a, c.attrs)
				}
			}
		}
	}
	for _, c := range code {
		var levels []string // the levels of the table's lines that c matches
		for _, l := range table {
			if l.matches(c.msg) {
				levels = append(levels, l.levels...)
			}
		}
		switch {
		case levels == nil && (c.level == "ERROR" || c.level == "WARN" || c.level == ""):
			t.Errorf("%s: %s %q is not in docs/operations.md's log table", c.at, cmpLevel(c.level), c.msg)
		case levels != nil && c.level != "" && !slices.Contains(levels, c.level):
			t.Errorf("%s: %q is written at %s, docs/operations.md's log table says %v", c.at, c.msg, c.level, levels)
		}
	}
}

// cmpLevel names a level for a message, a run-time one included.
func cmpLevel(level string) string {
	if level == "" {
		return "(level chosen at run time)"
	}
	return level
}
