package metrics

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// shownValues returns, for each metric and label, the values the metrics show from the start:
// those of New, with both delivery kinds configured.
func shownValues(t *testing.T) map[string]map[string][]string {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.OutboxKind("webhook")
	m.OutboxKind("push")
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]string{}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if out[f.GetName()] == nil {
					out[f.GetName()] = map[string][]string{}
				}
				if vs := out[f.GetName()][l.GetName()]; !slices.Contains(vs, l.GetValue()) {
					out[f.GetName()][l.GetName()] = append(vs, l.GetValue())
				}
			}
		}
	}
	return out
}

// readmeRow returns the README metrics table's row of name.
func readmeRow(t *testing.T, name string) string {
	t.Helper()
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, row, ok := strings.Cut(string(doc), "\n| `"+name)
	if !ok {
		t.Fatalf("the README's metrics table has no row for %s", name)
	}
	row, _, _ = strings.Cut(row, "\n")
	return row
}

// identifiers returns the backticked identifiers of text, in order.
func identifiers(text string) []string {
	var out []string
	for _, m := range regexp.MustCompile("`(\\w+)`").FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// sameSet reports whether a and b hold the same strings.
func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// The README's metrics table names the values of the labelled counters that are shown from the
// start: every kick reason of dialtone_kicks_total, and the kinds and results of
// dialtone_outbox_attempts_total, and no other.
func TestREADMENamesTheShownLabelValues(t *testing.T) {
	shown := shownValues(t)

	_, reasons, _ := strings.Cut(readmeRow(t, "dialtone_kicks_total"), "reason (")
	reasons, _, _ = strings.Cut(reasons, ")")
	if got, want := identifiers(reasons), shown["dialtone_kicks_total"]["reason"]; !sameSet(got, want) {
		t.Errorf("README: dialtone_kicks_total's reasons are %q; the metric shows %q", got, want)
	}

	row := readmeRow(t, "dialtone_outbox_attempts_total")
	_, kinds, _ := strings.Cut(row, "`kind` ")
	kinds, results, _ := strings.Cut(kinds, "`result` ")
	results, _, _ = strings.Cut(results, ";")
	out := shown["dialtone_outbox_attempts_total"]
	if got := identifiers(kinds); !sameSet(got, out["kind"]) {
		t.Errorf("README: dialtone_outbox_attempts_total's kinds are %q; the metric shows %q", got, out["kind"])
	}
	if got := identifiers(results); !sameSet(got, out["result"]) {
		t.Errorf("README: dialtone_outbox_attempts_total's results are %q; the metric shows %q", got, out["result"])
	}
}

// Every series the operator docs select by a label value of a metric shown from the start
// (`dialtone_kicks_total{reason="heartbeatTimeout"}`, `…{kind="push",result="failed"|"dropped"}`)
// selects values the metric has: an alert written from the docs matches something.
func TestDocsSelectShownLabelValues(t *testing.T) {
	shown := shownValues(t)
	selector := regexp.MustCompile("`(dialtone_\\w+)\\{([^}`]*)\\}`")
	matcher := regexp.MustCompile(`(\w+)=((?:"[^"]*"\|?)+)`)
	for _, path := range []string{"README.md", "docs/operations.md", "docs/webhooks.md", "docs/push.md", "docs/reliability.md"} {
		doc, err := os.ReadFile("../../" + path)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range selector.FindAllStringSubmatch(string(doc), -1) {
			labels, ok := shown[s[1]]
			if !ok {
				continue // values of a metric not shown from the start (op, code) are open
			}
			for _, m := range matcher.FindAllStringSubmatch(s[2], -1) {
				for v := range strings.SplitSeq(m[2], "|") {
					if v = strings.Trim(v, `"`); !slices.Contains(labels[m[1]], v) {
						t.Errorf("%s selects %s, but %s has no %s=%q (it has %q)", path, s[0], s[1], m[1], v, labels[m[1]])
					}
				}
			}
		}
	}
}
