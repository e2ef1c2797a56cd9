package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialtone/dialtone/internal/servertest"
)

// decodeReport parses the --json output into v, refusing unknown shapes.
func decodeReport(t *testing.T, stdout string, v any) {
	t.Helper()
	if strings.Count(strings.TrimSpace(stdout), "\n") != 0 {
		t.Fatalf("want one JSON line, got:\n%s", stdout)
	}
	if err := json.Unmarshal([]byte(stdout), v); err != nil {
		t.Fatalf("decode %q: %v", stdout, err)
	}
}

// checkOrdered checks that p50 ≤ p99 ≤ max and that there are samples.
func checkOrdered(t *testing.T, name string, p percentiles) {
	t.Helper()
	if p.Count == 0 || p.P50Ms > p.P90Ms || p.P90Ms > p.P99Ms || p.P99Ms > p.P999Ms || p.P999Ms > p.MaxMs {
		t.Errorf("%s percentiles out of order: %+v", name, p)
	}
}

// commitChanges reads the server's count of committed changes from its /metrics.
func commitChanges(t *testing.T, srv *servertest.Server) int64 {
	t.Helper()
	resp, err := http.Get("http://" + srv.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "dialtone_commit_batch_changes_sum "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int64(n)
		}
	}
	t.Fatal("no dialtone_commit_batch_changes_sum in /metrics")
	return 0
}

func TestBenchLifecycle(t *testing.T) {
	srv := servertest.Start(t, highLimits...)
	for _, extra := range [][]string{nil, {"--rate", "40", "--devices", "2"}} {
		args := append([]string{"bench", "lifecycle", "--url", srv.URL, "--secret", servertest.Secret,
			"--pairs", "4", "--duration", "1s", "--warmup", "200ms", "--json"}, extra...)
		changesBefore := commitChanges(t, srv)
		stdout, stderr, err := runOnce(t, args...)
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		var rep lifecycleReport
		decodeReport(t, stdout, &rep)
		// lifecyclesPerSecond counts the work done in the measured time: at most every
		// lifecycle completed, warmup and drain included.
		if rep.Lifecycles == 0 || len(rep.Errors) != 0 || rep.LifecyclesPerSecond <= 0 ||
			rep.LifecyclesPerSecond > float64(rep.CompletedTotal)/rep.DurationSeconds || rep.CompletedTotal < rep.Lifecycles {
			t.Errorf("report %+v", rep)
		}
		// Every lifecycle is four durable changes: invite, receipt, accept, end.
		if changes := commitChanges(t, srv) - changesBefore; changes != 4*rep.CompletedTotal {
			t.Errorf("the server committed %d changes for %d lifecycles, want 4 each", changes, rep.CompletedTotal)
		}
		if extra == nil && rep.Mode != "closed" {
			t.Errorf("mode %q without --rate", rep.Mode)
		}
		// Open loop: each of the 40 starts intended in the measured second completed (there
		// were no errors) or was missed.
		if started := rep.Lifecycles + rep.MissedStarts; extra != nil && (rep.Mode != "open" || started < 39 || started > 41) {
			t.Errorf("open loop at 40/s for 1s: mode %q, %d lifecycles + %d missed starts", rep.Mode, rep.Lifecycles, rep.MissedStarts)
		}
		for name, p := range map[string]percentiles{"inviteToRing": rep.InviteToRing,
			"acceptToCaller": rep.AcceptToCaller, "lifecycle": rep.Lifecycle} {
			checkOrdered(t, name, p)
			want := rep.Lifecycles
			switch name {
			case "lifecycle":
				want += rep.MissedStarts // counted with the wait they had at the end
			case "inviteToRing":
				want *= int64(rep.Devices) // every device rings
			}
			if p.Count != want {
				t.Errorf("%s has %d samples for %d lifecycles of %d callee devices and %d missed starts",
					name, p.Count, rep.Lifecycles, rep.Devices, rep.MissedStarts)
			}
		}
		if !strings.Contains(stderr, "lifecycle ") {
			t.Errorf("no progress line on stderr: %q", stderr)
		}
	}
}

// TestBenchLifecycleCountsRateLimits runs against the default limits: the refusals must be
// reported by code, not hidden.
func TestBenchLifecycleCountsRateLimits(t *testing.T) {
	srv := servertest.Start(t, "--max-invites-per-minute", "2")
	stdout, stderr, err := runOnce(t, "bench", "lifecycle", "--url", srv.URL, "--secret", servertest.Secret,
		"--pairs", "1", "--duration", "500ms", "--warmup", "0s", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var rep lifecycleReport
	decodeReport(t, stdout, &rep)
	if rep.Errors["6000292"] == 0 {
		t.Errorf("no rate-limit errors reported: %+v", rep)
	}
}

func TestBenchIdle(t *testing.T) {
	srv := servertest.Start(t, highLimits...)
	stdout, stderr, err := runOnce(t, "bench", "idle", "--url", srv.URL, "--secret", servertest.Secret,
		"--sessions", "30", "--hold", "300ms", "--sources", "127.0.0.1,127.0.0.2",
		"--server-pid", strconv.Itoa(os.Getpid()), "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var rep idleReport
	decodeReport(t, stdout, &rep)
	if rep.Sessions != 30 || rep.LoggedIn != 30 || rep.ConnectedAtEnd != 30 || len(rep.Errors) != 0 ||
		rep.LoginsPerSecond <= 0 || rep.LoginsPerSecond != float64(rep.LoggedIn)/rep.LoginSeconds ||
		rep.RSSBeforeBytes <= 0 || rep.RSSAfterBytes <= 0 ||
		rep.BytesPerSession != float64(rep.RSSAfterBytes-rep.RSSBeforeBytes)/float64(rep.ConnectedAtEnd) {
		t.Errorf("report %+v", rep)
	}
}

func TestBenchTimers(t *testing.T) {
	srv := servertest.Start(t, highLimits...)
	stdout, stderr, err := runOnce(t, "bench", "timers", "--url", srv.URL, "--secret", servertest.Secret,
		"--invitations", "40", "--window", "1s", "--lead", "1s", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var rep timersReport
	decodeReport(t, stdout, &rep)
	if rep.Invitations != 40 || rep.Calls != 5 || rep.Invited != 40 || rep.Observed != 40 ||
		rep.CallsEnded != 5 || len(rep.Errors) != 0 {
		t.Errorf("report %+v", rep)
	}
	l := rep.LatenessMs
	if l.Count != 40 || l.P50Ms > l.P99Ms || l.P99Ms > l.MaxMs {
		t.Errorf("lateness out of order: %+v", l)
	}
}

func TestTimersPlanSpreadsDeadlines(t *testing.T) {
	r := newTimersRun(&timersConfig{invitations: 100, window: 20 * time.Second, lead: 5 * time.Second})
	if r.calls != 12 {
		t.Fatalf("calls = %d, want 12", r.calls)
	}
	total := 0
	prev := int64(-1)
	for i := range r.calls {
		start, timeout := r.plan(i)
		deadline := start.Milliseconds() + int64(timeout)*1000
		if start < 0 || start >= 5*time.Second || timeout < 1 || deadline <= prev || deadline <= 5000 {
			t.Errorf("call %d: start %v timeout %ds", i, start, timeout)
		}
		prev = deadline
		total += len(r.invitees(i))
	}
	if total != 100 || prev != 25_000 {
		t.Errorf("invitees %d, last deadline %dms", total, prev)
	}
}

// TestBenchLifecycleRefusesUnusableRates: a rate whose per-pair interval is not a positive
// duration (Inf, NaN, or beyond a start per nanosecond and pair) would schedule starts that
// never advance, and the run would never end.
func TestBenchLifecycleRefusesUnusableRates(t *testing.T) {
	for _, rate := range []string{"Inf", "NaN", "1e12"} {
		_, _, err := runOnce(t, "bench", "lifecycle", "--url", "ws://127.0.0.1:1/v1/ws", "--secret", "test-secret-0123456789",
			"--pairs", "1", "--duration", "1s", "--rate", rate)
		if err == nil || !strings.Contains(err.Error(), "--rate") {
			t.Errorf("--rate %s: err %v, want a refusal of --rate", rate, err)
		}
	}
}

// TestLatencyCountsValuesBeyondRange: a duration of hours is a sample like any other, and the
// maximum is the true one.
func TestLatencyCountsValuesBeyondRange(t *testing.T) {
	l := newLatency()
	l.record(10 * time.Millisecond)
	l.record(3 * time.Hour)
	p := l.summary()
	if p.Count != 2 || p.MaxMs != float64(3*time.Hour/time.Millisecond) || p.P999Ms != p.MaxMs {
		t.Errorf("summary %+v, want 2 samples, max and p99.9 3h", p)
	}
}

// TestMissStartsCountsEveryStart: a pair far behind a high rate leaves billions of starts
// waiting at the end; each counts as missed and in the lifecycle latency with the wait it had,
// and the run still ends.
func TestMissStartsCountsEveryStart(t *testing.T) {
	r := newLifecycleRun(&lifecycleConfig{pairs: 1, rate: 1e9, duration: 10 * time.Second, warmup: 5 * time.Second})
	r.start = time.Now().Add(-15 * time.Second)
	r.measureStart = r.start.Add(r.cfg.warmup)
	r.measureEnd = r.measureStart.Add(r.cfg.duration)
	r.missStarts(r.start.Add(3*time.Second), time.Nanosecond) // 2 s of warmup starts, then 10 s measured
	const want = int64(10 * time.Second / time.Nanosecond)
	p := r.whole.summary()
	if r.missed.Load() != want || p.Count != want {
		t.Fatalf("missed %d, lifecycle samples %d, want %d each", r.missed.Load(), p.Count, want)
	}
	// The waits run evenly from 10 s (the first measured start) down to about 0 (the last):
	// at least these, as the end came a little after measureEnd.
	if p.P50Ms < 4990 || p.MaxMs < 9990 || p.P999Ms > p.MaxMs {
		t.Errorf("lifecycle %+v, want p50 about 5 s and max about 10 s", p)
	}
}

// TestRecordSeriesMatchesOneByOne: a series recorded at once gives the histogram that
// recording its durations one by one gives.
func TestRecordSeriesMatchesOneByOne(t *testing.T) {
	for _, s := range []struct {
		first, step time.Duration
		n           int64
	}{
		{3 * time.Second, 997 * time.Microsecond, 3000},   // some below 0
		{20 * time.Millisecond, 3 * time.Nanosecond, 1e6}, // many per bucket
		{2 * time.Hour, 13 * time.Second, 1000},           // hours long
		{-time.Second, time.Millisecond, 5},
	} {
		series, single := newLatency(), newLatency()
		series.recordSeries(s.first, s.step, s.n)
		for k := range s.n {
			single.record(s.first - time.Duration(k)*s.step)
		}
		if !series.h.Equals(single.h) || series.max != single.max {
			t.Errorf("%+v: recorded at once %+v, one by one %+v", s, series.summary(), single.summary())
		}
	}
}

// TestLifecycleInFlightAtTheEndIsCounted: a lifecycle started in the measured time is
// reported when it ends, as a lifecycle or an error, however long after the end of --duration
// its steps (each within --step-timeout) bring it.
func TestLifecycleInFlightAtTheEndIsCounted(t *testing.T) {
	cfg := &lifecycleConfig{pairs: 2, devices: 1, duration: 100 * time.Millisecond, stepTimeout: 20 * time.Millisecond}
	r := newLifecycleRun(cfg)
	var calls atomic.Int64
	r.cycle = func(_ *lcPair, ctx context.Context, timeout time.Duration) (lcResult, string, error) {
		calls.Add(1)
		// Eight steps, each just within its timeout, from just before the end.
		if !sleepUntil(ctx, r.measureEnd.Add(-time.Millisecond)) || !sleepUntil(ctx, time.Now().Add(8*timeout*9/10)) {
			return lcResult{}, "calleeEnded", ctx.Err()
		}
		return lcResult{ring: []time.Duration{time.Millisecond}, accept: time.Millisecond, accepted: true}, "", nil
	}
	rep := r.execute(context.Background(), make([]*lcPair, cfg.pairs), io.Discard)
	var errs int64
	for _, n := range rep.Errors {
		errs += n
	}
	if rep.Lifecycles+errs != calls.Load() || rep.Lifecycles != rep.Lifecycle.Count {
		t.Errorf("%d lifecycles started in the measured time; reported %d lifecycles (%d latency samples) and %d errors",
			calls.Load(), rep.Lifecycles, rep.Lifecycle.Count, errs)
	}
}

// TestBenchIdleRefusesAnUnreadableServerPID: a --server-pid whose memory cannot be read would
// report no memory at all (bytesPerSession 0); it is refused before any login.
func TestBenchIdleRefusesAnUnreadableServerPID(t *testing.T) {
	for _, pid := range []string{"4194305", "-5"} { // above any Linux pid_max; negative
		_, _, err := runOnce(t, "bench", "idle", "--url", "ws://127.0.0.1:1/v1/ws", "--secret", "test-secret-0123456789",
			"--sessions", "2", "--hold", "0s", "--server-pid", pid)
		if err == nil || !strings.Contains(err.Error(), "--server-pid") {
			t.Errorf("--server-pid %s: err %v, want a refusal of --server-pid", pid, err)
		}
	}
}

// TestBenchRefusesMoreConnectionsThanFiles: a run needing more connections than the process
// may open files is refused with the flag to lower, before anything is allocated for it (a
// trillion pairs made the tool die out of memory).
func TestBenchRefusesMoreConnectionsThanFiles(t *testing.T) {
	const u = "ws://127.0.0.1:1/v1/ws"
	for _, c := range []struct {
		flag string
		args []string
	}{
		{"--pairs", []string{"lifecycle", "--pairs", "1000000000000", "--duration", "1s"}},
		{"--pairs", []string{"lifecycle", "--pairs", "2", "--devices", "9223372036854775807", "--duration", "1s"}},
		{"--sessions", []string{"idle", "--sessions", "1000000000000"}},
		{"--invitations", []string{"timers", "--invitations", "9000000000000"}},
	} {
		_, _, err := runOnce(t, append([]string{"bench"}, append(c.args, "--url", u, "--secret", "test-secret-0123456789")...)...)
		if err == nil || !strings.Contains(err.Error(), c.flag) || !strings.Contains(err.Error(), "ulimit -n") {
			t.Errorf("%v: err %v, want a refusal naming %s and ulimit -n", c.args, err, c.flag)
		}
	}
}

// TestBenchLoginsAreBounded: a --url whose server accepts connections and never answers
// (another service, a stopped process) fails the logins after --login-timeout instead of
// holding the run forever.
func TestBenchLoginsAreBounded(t *testing.T) {
	u := silentServer(t)
	for _, w := range [][]string{
		{"lifecycle", "--pairs", "1", "--duration", "1s"},
		{"timers", "--invitations", "1"},
	} {
		_, _, err := runOnce(t, append([]string{"bench"}, append(w, "--url", u, "--secret", "test-secret-0123456789", "--login-timeout", "300ms")...)...)
		if err == nil || !strings.Contains(err.Error(), "login") || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: err %v, want a login timeout", w[0], err)
		}
	}
	stdout, stderr, err := runOnce(t, "bench", "idle", "--url", u, "--secret", "test-secret-0123456789", "--login-timeout", "300ms",
		"--sessions", "2", "--hold", "0s", "--json")
	if err != nil {
		t.Fatalf("idle: %v\n%s", err, stderr)
	}
	var rep idleReport
	decodeReport(t, stdout, &rep)
	if rep.LoggedIn != 0 || rep.Errors["timeout:login"] != 2 {
		t.Errorf("idle report %+v, want the 2 logins counted as timeout:login", rep)
	}
}

// The idle workload reads the server's Go heap from /metrics whatever the scheme of --url
// (ws, wss, or the http and https the SDK also accepts).
func TestReadHeapMetricForEveryScheme(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes 1.2345e+06\n")
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, u := range []string{"ws://" + host + "/v1/ws", "http://" + host + "/v1/ws"} {
		if got := readHeapMetric(u); got != 1234500 {
			t.Errorf("readHeapMetric(%q) = %d, want 1234500", u, got)
		}
	}
}

// TestIdleMemoryPerSessionNeedsSessions: with no session connected at the end there is no
// memory per session to report (0, not measured); the server's whole growth is not one
// session's.
func TestIdleMemoryPerSessionNeedsSessions(t *testing.T) {
	rep := idleReport{Sessions: 10, LoggedIn: 3, ConnectedAtEnd: 0}
	rep.setMemory(serverMemory{rss: 10 << 20, heap: 4 << 20}, serverMemory{rss: 12 << 20, heap: 5 << 20})
	if rep.BytesPerSession != 0 || rep.HeapBytesPerSess != 0 || rep.RSSAfterBytes != 12<<20 {
		t.Errorf("report %+v, want the RSS readings and 0 bytes per session", rep)
	}
}

// TestBenchRefusesABadURL: a --url that names no WebSocket endpoint is refused before any
// connection, naming the flag, rather than reported as every login failing.
func TestBenchRefusesABadURL(t *testing.T) {
	for _, u := range []string{"127.0.0.1:3425", "ftp://127.0.0.1/v1/ws", "ws:///v1/ws", "ws://%zz"} {
		for _, w := range [][]string{
			{"idle", "--sessions", "2", "--hold", "0s"},
			{"lifecycle", "--pairs", "1", "--duration", "1s"},
			{"timers", "--invitations", "1"},
		} {
			_, _, err := runOnce(t, append([]string{"bench"}, append(w, "--url", u, "--secret", "test-secret-0123456789", "--login-timeout", "1s")...)...)
			if err == nil || !strings.Contains(err.Error(), "--url") {
				t.Errorf("%s --url %q: err %v, want a refusal naming --url", w[0], u, err)
			}
		}
	}
}

// TestBenchStopsLoggingInAtTheFirstFailure: lifecycle and timers need every session; once one
// login failed, the run fails, and the logins not yet made are not made: against a server that
// never answers, 20 logins one at a time would otherwise take 20 login timeouts (thousands of
// sessions, hours).
func TestBenchStopsLoggingInAtTheFirstFailure(t *testing.T) {
	u := silentServer(t)
	for _, w := range [][]string{
		{"lifecycle", "--pairs", "20", "--duration", "1s"},
		{"timers", "--invitations", "180"}, // 20 callers
	} {
		began := time.Now()
		_, _, err := runOnce(t, append([]string{"bench"}, append(w, "--url", u, "--secret", "test-secret-0123456789",
			"--login-timeout", "200ms", "--login-concurrency", "1")...)...)
		if took := time.Since(began); err == nil || !errors.Is(err, context.DeadlineExceeded) || took > 2*time.Second {
			t.Errorf("%s: err %v after %v, want the first login's timeout, well before 20 × 200ms", w[0], err, took)
		}
	}
}

// TestLatencyPercentilesBeyondAnHour: a percentile is the recorded duration however long it
// is, not a ceiling of the histogram's range (an open loop's queue can grow past an hour in a
// long run).
func TestLatencyPercentilesBeyondAnHour(t *testing.T) {
	l := newLatency()
	l.record(2 * time.Hour)
	l.record(3 * time.Hour)
	p := l.summary()
	if want := float64(2 * time.Hour / time.Millisecond); p.P50Ms < want*0.999 || p.P50Ms > want*1.001 {
		t.Errorf("p50 of 2h and 3h: %.0f ms, want %.0f ms (within 0.1%%)", p.P50Ms, want)
	}
}

// TestLatencyKeepsThreeDigitsAtTenMicroseconds: the shortest durations reported (0.01 ms)
// keep three significant digits; none is rounded down to a whole microsecond.
func TestLatencyKeepsThreeDigitsAtTenMicroseconds(t *testing.T) {
	l := newLatency()
	l.record(10_990 * time.Nanosecond)
	if p := l.summary(); p.P50Ms < 0.01098 || p.MaxMs < 0.01098 {
		t.Errorf("one sample of 0.01099 ms: p50 %g ms, max %g ms", p.P50Ms, p.MaxMs)
	}
}

// bench takes DIALTONE_AUDIENCE as the default of --audience, as token, client and watch do
// and as "dialtone --help" says: in a shell set up for a server started with --audience, its
// sessions log in.
func TestBenchReadsTheAudienceFromTheEnvironment(t *testing.T) {
	srv := servertest.Start(t, append(highLimits, "--audience", "calls.example")...)
	t.Setenv("DIALTONE_SECRET", servertest.Secret)
	t.Setenv("DIALTONE_AUDIENCE", "calls.example")
	stdout, stderr, err := runOnce(t, "bench", "idle", "--url", srv.URL, "--sessions", "2", "--hold", "100ms", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var rep idleReport
	decodeReport(t, stdout, &rep)
	if rep.LoggedIn != 2 || len(rep.Errors) != 0 {
		t.Errorf("with DIALTONE_AUDIENCE set, %d of 2 sessions logged in, errors %v", rep.LoggedIn, rep.Errors)
	}
}
