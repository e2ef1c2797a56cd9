package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docMetric matches a metric as the docs write it: `name`, `name{a,b}` (its label names) or
// `name{a="x",b="y"|"z"}` (a selection of its series).
var docMetric = regexp.MustCompile("`(dialtone_\\w+)(?:\\{([^}`]*)\\})?`")

// labelNames returns the label names of a docMetric's braces, sorted and comma-separated:
// "op,code" and `code="0",op="x"` both give "code,op".
func labelNames(braces string) string {
	var names []string
	for part := range strings.SplitSeq(braces, ",") {
		name, _, _ := strings.Cut(part, "=")
		if name = strings.TrimSpace(name); name != "" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// docsSection returns the text of the section of the doc at path (from the repository root)
// whose heading is heading, up to the next heading of its level.
func docsSection(t *testing.T, path, heading string) string {
	t.Helper()
	doc, err := os.ReadFile("../../" + path)
	must(t, err)
	_, section, ok := strings.Cut(string(doc), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s has no section %q", path, heading)
	}
	level, _, _ := strings.Cut(heading, " ")
	section, _, _ = strings.Cut(section, "\n"+level+" ")
	return section
}

// docs/operations.md "Metrics" lists every Dialtone metric of /metrics with its labels and
// type, as the README's table does (which TestE2EMetricsMatchREADME holds to what a running
// server exports), and no other.
func TestOperationsListsEveryMetric(t *testing.T) {
	types, labels := readmeMetrics(t)
	section := docsSection(t, "docs/operations.md", "## Metrics")
	row := regexp.MustCompile("(?m)^\\| `(dialtone_\\w+)(?:\\{([\\w,]*)\\})?` \\| (\\w+) \\|")
	listed := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		name, typ := m[1], m[3]
		listed[name] = true
		switch want, ok := types[name]; {
		case !ok:
			t.Errorf("docs/operations.md lists %s, which the server does not export", name)
		case typ != want:
			t.Errorf("docs/operations.md says %s is a %s; it is a %s", name, typ, want)
		}
		if got, want := labelNames(m[2]), labelNames(labels[name]); got != want {
			t.Errorf("docs/operations.md gives %s the labels {%s}; it has {%s}", name, got, want)
		}
	}
	for name := range types {
		if !listed[name] {
			t.Errorf("%s is exported but docs/operations.md's Metrics table does not list it", name)
		}
	}
}

// Every metric the README and the docs of running, webhooks, push and reliability name
// exists, and every series they select names labels the metric has: an operator's alert
// written from them selects something. Histograms' _bucket, _sum and _count are their own.
func TestDocsNameOnlyExportedMetrics(t *testing.T) {
	types, labels := readmeMetrics(t)
	for _, path := range []string{"README.md", "docs/operations.md", "docs/webhooks.md", "docs/push.md", "docs/reliability.md"} {
		doc, err := os.ReadFile("../../" + path)
		must(t, err)
		for _, m := range docMetric.FindAllStringSubmatch(string(doc), -1) {
			name := m[1]
			if types[name] == "" {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if base, ok := strings.CutSuffix(name, suffix); ok && types[base] == "histogram" {
						name = base
					}
				}
			}
			if types[name] == "" {
				t.Errorf("%s names %s, which the server does not export", path, m[0])
				continue
			}
			have := strings.Split(labels[name], ",")
			for _, l := range strings.Split(labelNames(m[2]), ",") {
				if l != "" && l != "le" && !slices.Contains(have, l) {
					t.Errorf("%s selects %s by the label %q, which it does not have", path, m[0], l)
				}
			}
		}
	}
}
