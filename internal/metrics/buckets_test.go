package metrics

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dialtone/dialtone/internal/sqlite"
)

// bucketsOf returns the upper bounds of each histogram's buckets (without +Inf), by name,
// once every histogram has an observation.
func bucketsOf(t *testing.T) map[string][]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.Op("login", 0, 0)
	m.Commit(0)
	m.CommitBatch(1)
	m.Deadline(0)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float64{}
	for _, f := range families {
		if h := f.GetMetric()[0].GetHistogram(); h != nil {
			for _, b := range h.GetBucket() {
				out[f.GetName()] = append(out[f.GetName()], b.GetUpperBound())
			}
		}
	}
	return out
}

// Each histogram's buckets fit its unit: those in seconds tell a fast disk's sub-millisecond
// commit from a slow one's and reach past a second; the changes per commit reach the
// store's largest batch exactly, and tell one change from two.
func TestHistogramBucketsFitTheirUnit(t *testing.T) {
	buckets := bucketsOf(t)
	if len(buckets) != 4 {
		t.Fatalf("histograms %v, want the 4 of the README", buckets)
	}
	for name, b := range buckets {
		switch {
		case strings.HasSuffix(name, "_seconds"):
			if b[0] > 100e-6 || b[len(b)-1] < 1 {
				t.Errorf("%s: buckets %v, want from at most 100µs to at least 1s", name, b)
			}
		case name == "dialtone_commit_batch_changes":
			if b[0] != 1 || b[1] != 2 || b[len(b)-1] != sqlite.DefaultMaxBatch {
				t.Errorf("%s: buckets %v, want 1, 2, … %d", name, b, sqlite.DefaultMaxBatch)
			}
		default:
			t.Errorf("%s: a histogram of no known unit", name)
		}
		if !slices.IsSorted(b) {
			t.Errorf("%s: buckets %v not sorted", name, b)
		}
	}
}
