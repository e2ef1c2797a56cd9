package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialtone/dialtone/internal/servertest"
)

// TestBenchLifecycleJSONNamesEveryField: the --json object of the invocation as documented
// carries lifecyclesPerSecond, errors, the tool's own CPU and allocations per lifecycle, and
// inviteToRing, acceptToCaller and lifecycle each with p50Ms, p90Ms, p99Ms, p999Ms and maxMs,
// under exactly these names.
func TestBenchLifecycleJSONNamesEveryField(t *testing.T) {
	srv := servertest.Start(t, highLimits...)
	stdout, stderr, err := runOnce(t, "bench", "lifecycle", "--url", srv.URL, "--secret", servertest.Secret,
		"--pairs", "2", "--duration", "300ms", "--warmup", "0s", "--rate", "20", "--devices", "2", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var obj map[string]json.RawMessage
	decodeReport(t, stdout, &obj)
	for _, name := range []string{"lifecyclesPerSecond", "errors", "missedStarts", "toolCpuMsPerLifecycle", "toolCpuCores", "toolAllocsPerLifecycle"} {
		if _, ok := obj[name]; !ok {
			t.Errorf("no %q in %s", name, stdout)
		}
	}
	for _, name := range []string{"inviteToRing", "acceptToCaller", "lifecycle"} {
		var p map[string]float64
		if err := json.Unmarshal(obj[name], &p); err != nil {
			t.Errorf("%s: %v in %s", name, err, stdout)
			continue
		}
		for _, f := range []string{"p50Ms", "p90Ms", "p99Ms", "p999Ms", "maxMs"} {
			if _, ok := p[f]; !ok {
				t.Errorf("no %s.%s in %s", name, f, stdout)
			}
		}
	}
}

// TestOpenLoopSpreadsStartsOverThePairs: at --rate R over P pairs the intended starts, all
// pairs together, are 1/R apart, and each lifecycle's latency runs from its intended start.
func TestOpenLoopSpreadsStartsOverThePairs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := &lifecycleConfig{pairs: 4, devices: 1, rate: 100, duration: time.Second, stepTimeout: time.Second}
		r := newLifecycleRun(cfg)
		var mu sync.Mutex
		var began []time.Time
		r.cycle = func(_ *lcPair, _ context.Context, _ time.Duration) (lcResult, string, error) {
			mu.Lock()
			began = append(began, time.Now())
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			return lcResult{ring: []time.Duration{time.Millisecond}, accept: time.Millisecond, accepted: true}, "", nil
		}
		rep := r.execute(context.Background(), make([]*lcPair, cfg.pairs), io.Discard)
		sort.Slice(began, func(i, j int) bool { return began[i].Before(began[j]) })
		if len(began) != 100 || rep.Lifecycles != 100 || rep.MissedStarts != 0 {
			t.Fatalf("100/s for 1 s over 4 pairs: %d started, %d lifecycles, %d missed", len(began), rep.Lifecycles, rep.MissedStarts)
		}
		for i := 1; i < len(began); i++ {
			if gap := began[i].Sub(began[i-1]); gap != 10*time.Millisecond {
				t.Fatalf("starts %d and %d are %v apart, want 10ms", i-1, i, gap)
			}
		}
		if rep.Lifecycle.MaxMs != 5 || rep.Lifecycle.P50Ms != 5 {
			t.Errorf("lifecycles of 5 ms started on time: %+v", rep.Lifecycle)
		}
	})
}

// TestBenchIdleCountsOnlySuccessfulLogins: logins that fail are errors, not logins, in the
// login rate; memory is divided by the sessions connected at the end.
func TestBenchIdleCountsOnlySuccessfulLogins(t *testing.T) {
	srv := servertest.Start(t, highLimits...)
	// 192.0.2.1 (TEST-NET-1) is no address of this machine: every dial from it fails.
	stdout, stderr, err := runOnce(t, "bench", "idle", "--url", srv.URL, "--secret", servertest.Secret,
		"--sessions", "20", "--hold", "0s", "--sources", "127.0.0.1,192.0.2.1", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var rep idleReport
	decodeReport(t, stdout, &rep)
	if rep.LoggedIn != 10 || rep.Errors["error:login"] != 10 || rep.LoginsPerSecond != 10/rep.LoginSeconds {
		t.Errorf("10 of 20 logins fail: %d logged in, errors %v, %.1f logins/s over %.3fs",
			rep.LoggedIn, rep.Errors, rep.LoginsPerSecond, rep.LoginSeconds)
	}
}

// TestWarmupIsNotMeasured: the lifecycles and errors of --warmup are in the progress line's
// counts but in none of the report's figures.
func TestWarmupIsNotMeasured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := &lifecycleConfig{pairs: 1, devices: 1, warmup: 100 * time.Millisecond, duration: 100 * time.Millisecond, stepTimeout: time.Second}
		r := newLifecycleRun(cfg)
		r.cycle = func(_ *lcPair, _ context.Context, _ time.Duration) (lcResult, string, error) {
			if time.Now().Before(r.measureStart) {
				time.Sleep(50 * time.Millisecond) // one slow failure, then the 50 ms pause after it
				return lcResult{ring: []time.Duration{time.Hour}}, "accept", context.DeadlineExceeded
			}
			time.Sleep(10 * time.Millisecond)
			return lcResult{ring: []time.Duration{time.Millisecond}, accept: time.Millisecond, accepted: true}, "", nil
		}
		rep := r.execute(context.Background(), make([]*lcPair, cfg.pairs), io.Discard)
		if rep.Lifecycles != 10 || rep.LifecyclesPerSecond != 100 || len(rep.Errors) != 0 ||
			rep.InviteToRing.MaxMs != 1 || rep.Lifecycle.MaxMs != 10 || r.allErrs.snapshot()["timeout:accept"] != 1 {
			t.Errorf("a failed warmup lifecycle, then 10 ms ones: %+v; all errors %v", rep, r.allErrs.snapshot())
		}
	})
}

// TestBenchCPUProfileIsWritten: --cpuprofile leaves a CPU profile of the run in its file (a
// gzipped profile, as runtime/pprof writes it).
func TestBenchCPUProfileIsWritten(t *testing.T) {
	srv := servertest.Start(t, highLimits...)
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	if _, stderr, err := runOnce(t, "bench", "lifecycle", "--url", srv.URL, "--secret", servertest.Secret,
		"--pairs", "1", "--duration", "200ms", "--warmup", "0s", "--cpuprofile", path, "--json"); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("--cpuprofile %s: %d bytes, %v; want a gzipped profile", path, len(b), err)
	}
}
