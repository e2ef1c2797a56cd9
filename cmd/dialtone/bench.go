package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/dialtone/dialtone/client"
)

const benchUsage = `Usage: dialtone bench WORKLOAD [flags]

Load-tests a Dialtone server through the public SDK. Workloads:

  lifecycle  callers invite, callees accept, callers end: throughput and latency percentiles
  idle       many logged-in, heartbeating sessions: login rate and server memory per session
  timers     many ringing invitations timing out across a window: timeout lateness

Run "dialtone bench WORKLOAD --help" for its flags. Every workload is bounded in time and
connects only to --url; one that needs more connections than the process may open files
(ulimit -n) is refused. lifecycle and timers need every session they open: the first login
that fails (within --login-timeout) ends the run with its error, without the logins left.
Users are named bench-<letter>-<run>-<n>, with a run-unique <run>, so repeated runs against
one server do not collide.

The server's default limits (--max-invites-per-minute 60 per user, --max-requests-per-second
50 per connection) are far below what a benchmark asks for: requests beyond them fail with
6000292 (rate limited), which the report counts as errors. Start a server to be benchmarked
with higher limits, for example:

  dialtoned --dev --max-invites-per-minute 100000 --max-requests-per-second 100000
`

// runBench implements "dialtone bench".
func runBench(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return dispatch(ctx, "dialtone bench", benchUsage, map[string]subcommand{
		"lifecycle": runLifecycle,
		"idle":      runIdle,
		"timers":    runTimers,
	}, args, stdin, stdout, stderr)
}

// benchFlags are the flags every workload has.
type benchFlags struct {
	url, secret, audience, sources string
	cpuProfile                     string
	json                           bool
	concurrency                    int
	loginTimeout                   time.Duration
}

func (bf *benchFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&bf.url, "url", envOr("DIALTONE_URL", defaultURL), "server WebSocket URL (env DIALTONE_URL)")
	fs.StringVar(&bf.secret, "secret", envOr("DIALTONE_SECRET", ""), "the server's token secret (env DIALTONE_SECRET)")
	fs.StringVar(&bf.audience, "audience", envOr("DIALTONE_AUDIENCE", ""),
		"aud claim of the minted tokens, for a server started with --audience (env DIALTONE_AUDIENCE)")
	fs.BoolVar(&bf.json, "json", false, "print the report as one JSON object on stdout")
	fs.IntVar(&bf.concurrency, "login-concurrency", 50,
		"logins in flight at once (per source address for idle); keep below the server's --max-unauthenticated-per-ip")
	fs.StringVar(&bf.sources, "sources", "", "comma-separated local addresses to connect from, round robin (e.g. 127.0.0.1,127.0.0.2)")
	fs.DurationVar(&bf.loginTimeout, "login-timeout", 30*time.Second, "how long one session's connect and login may take")
	fs.StringVar(&bf.cpuProfile, "cpuprofile", "", "write a CPU profile of this process over the whole run, logins included, to this file (go tool pprof)")
}

// benchReport is a workload's result: --json prints it as JSON, otherwise print prints it.
type benchReport interface{ print(w io.Writer) }

// workload is one bench workload: define adds its own flags to fs; execute runs it once the
// flags are parsed.
type workload struct {
	name, usage string
	common      *benchFlags
	define      func(fs *flag.FlagSet)
	execute     func(ctx context.Context, stderr io.Writer) (benchReport, error)
}

// run parses args, runs the workload and prints its report on stdout.
func (wl workload) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(wl.name, wl.usage, stdout, stderr)
	wl.common.register(fs)
	wl.define(fs)
	pos, help, err := parseArgs(fs, args)
	switch {
	case help || err != nil:
		return err
	case len(pos) > 0:
		return fmt.Errorf("bench %s: unexpected argument %q", wl.name, pos[0])
	case wl.common.secret == "":
		return fmt.Errorf("bench %s: --secret is required", wl.name)
	case wl.common.concurrency < 1:
		return fmt.Errorf("bench %s: --login-concurrency must be at least 1", wl.name)
	case wl.common.loginTimeout <= 0:
		return fmt.Errorf("bench %s: --login-timeout must be positive", wl.name)
	}
	if err := checkMinting(wl.common.secret, benchTokenTTL, wl.common.audience); err != nil {
		return fmt.Errorf("bench %s: %w", wl.name, err)
	}
	if err := checkURL(wl.common.url); err != nil {
		return fmt.Errorf("bench %s: %w", wl.name, err)
	}
	stopProfile, err := startCPUProfile(wl.common.cpuProfile)
	if err != nil {
		return fmt.Errorf("bench %s: %w", wl.name, err)
	}
	rep, err := wl.execute(ctx, stderr)
	if perr := stopProfile(); err == nil && perr != nil {
		err = perr
	}
	if err != nil {
		return fmt.Errorf("bench %s: %w", wl.name, err)
	}
	if wl.common.json {
		return json.NewEncoder(stdout).Encode(rep)
	}
	rep.print(stdout)
	return nil
}

// startCPUProfile starts writing a CPU profile of this process to path, unless path is "";
// stop ends the profile and closes the file.
func startCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		return nil
	}, nil
}

// processUsage is what this process had used by a moment: CPU time, user and system (cpuKnown
// is false where the system does not tell it), and heap allocations.
type processUsage struct {
	at       time.Time
	cpu      time.Duration
	cpuKnown bool
	allocs   uint64
}

func readUsage() processUsage {
	cpu, ok := processCPU()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return processUsage{at: time.Now(), cpu: cpu, cpuKnown: ok, allocs: ms.Mallocs}
}

// usageWindow measures what this process uses over a span of wall-clock time: it reads the
// process's usage as the span begins and as it ends, or as used is called when that comes
// first.
type usageWindow struct {
	begin, end *time.Timer

	mu          sync.Mutex
	first, last *processUsage // nil until read
}

// newUsageWindow starts measuring the span from..to (from ≤ to).
func newUsageWindow(from, to time.Time) *usageWindow {
	w := &usageWindow{}
	w.begin = time.AfterFunc(time.Until(from), w.markBegin)
	w.end = time.AfterFunc(time.Until(to), w.markEnd)
	return w
}

func (w *usageWindow) markBegin() {
	u := readUsage()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.first == nil && w.last == nil {
		w.first = &u
	}
}

func (w *usageWindow) markEnd() {
	u := readUsage()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		w.last = &u
	}
}

// used ends the span, if it is not over, and returns the usage read as it began and as it
// ended; ok is false when it never began.
func (w *usageWindow) used() (from, to processUsage, ok bool) {
	w.begin.Stop()
	w.end.Stop()
	w.markEnd()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.first == nil {
		return processUsage{}, processUsage{}, false
	}
	return *w.first, *w.last, true
}

// checkConnections refuses a run that needs more connections than this process may open
// (what is the flags that ask for them): it could only fail part-way, or die allocating for
// them.
func checkConnections(what string, conns int64) error {
	if limit := maxOpenFiles(); conns > limit {
		return fmt.Errorf("%s needs %d connections, more than this process may open (ulimit -n %d)", what, conns, limit)
	}
	return nil
}

// times is a·b, or math.MaxInt64 when that does not fit; a, b ≥ 0.
func times(a, b int64) int64 {
	if b != 0 && a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

// newRunID returns a short random run identifier for user names.
func newRunID() string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = digits[int(b[i])%len(digits)]
	}
	return string(b)
}

// session is one logged-in benchmark device.
type session struct {
	user, device string
	handler      client.EventHandler
	dial         dialFunc // nil: the SDK's default
}

// benchTokenTTL is the lifetime of the tokens a workload mints for its sessions.
const benchTokenTTL = 24 * time.Hour

// login dials bf.url and logs s in with a token minted with bf.secret and bf.audience, within
// bf.loginTimeout.
func (s session) login(ctx context.Context, bf *benchFlags) (*client.Client, error) {
	tok, err := mintToken(bf.secret, s.user, benchTokenTTL, bf.audience)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withLoginTimeout(ctx, bf.loginTimeout)
	defer cancel()
	c, err := client.Dial(ctx, bf.url, client.Options{EventHandler: s.handler, DialContext: s.dial})
	if err == nil {
		if _, err = c.Login(ctx, tok, s.device); err != nil {
			c.Close()
		}
	}
	if err != nil {
		return nil, timedOut(ctx, err)
	}
	return c, nil
}

// forEach runs fn(i) for i in 0..n-1 with at most workers at once, and waits.
func forEach(n, workers int, fn func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// loginEach runs login(ctx, i) for i in 0..n-1, at most workers at once, and returns the first
// error (ctx's, when it ended first). It is for a run that needs every session: after the
// first failure the logins not yet begun are not made, and those in flight are cancelled.
func loginEach(ctx context.Context, n, workers int, login func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var firstErr error
	forEach(n, workers, func(i int) {
		if ctx.Err() != nil {
			return
		}
		if err := login(ctx, i); err != nil {
			mu.Lock()
			defer mu.Unlock()
			if firstErr == nil {
				firstErr = err
				cancel()
			}
		}
	})
	if firstErr == nil {
		return ctx.Err() // the parent's: this one is cancelled only after a failure
	}
	return firstErr
}

// closeAll closes clients in parallel.
func closeAll(cs []*client.Client) {
	forEach(len(cs), 64, func(i int) {
		if cs[i] != nil {
			cs[i].Close()
		}
	})
}

// errorCounts counts errors by wire code, or by a short name for errors without one.
type errorCounts struct {
	mu sync.Mutex
	m  map[string]int64
}

// add counts err under its wire code or, when it has none, as "timeout:STEP" or
// "error:STEP".
func (e *errorCounts) add(err error, step string) {
	key := "error:" + step
	if code := client.Code(err); code != 0 {
		key = strconv.Itoa(int(code))
	} else if errors.Is(err, context.DeadlineExceeded) {
		key = "timeout:" + step
	}
	e.addKey(key)
}

// addUnlessInterrupted counts err as add does, unless ctx, the run's context, has ended: an
// interrupted run (Ctrl-C) fails what is in flight, which is not the server's failure.
func (e *errorCounts) addUnlessInterrupted(ctx context.Context, err error, step string) {
	if ctx.Err() == nil {
		e.add(err, step)
	}
}

// addCode counts a refusal with a wire code, such as an invitee's reason in errorUserList.
func (e *errorCounts) addCode(code client.ErrorCode) { e.addKey(strconv.Itoa(int(code))) }

func (e *errorCounts) addKey(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = make(map[string]int64)
	}
	e.m[key]++
}

// snapshot returns a copy of the counts (an empty, non-nil map when none).
func (e *errorCounts) snapshot() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int64, len(e.m))
	for k, v := range e.m {
		out[k] = v
	}
	return out
}

// format is "none" or "6000292×3, timeout:ring×1".
func formatErrors(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// latency is an HDR histogram of durations, recorded in nanoseconds with three significant
// digits over the whole range of a time.Duration (so no duration is clamped, and 0.01 ms keeps
// its three digits), safe for concurrent use. max is the longest duration recorded, exactly.
type latency struct {
	mu  sync.Mutex
	h   *hdrhistogram.Histogram
	max int64 // ns
}

func newLatency() *latency {
	return &latency{h: hdrhistogram.New(1, math.MaxInt64, 3)}
}

// record adds one duration; negative ones count as 0.
func (l *latency) record(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ns := max(d.Nanoseconds(), 0)
	l.max = max(l.max, ns)
	_ = l.h.RecordValue(ns)
}

// recordSeries adds n durations: first, first−step, first−2·step, … (negative ones count as 0;
// step > 0). It records the durations that fall in one bucket of the histogram at once, so its
// cost grows with the buckets the series spans, not with n.
func (l *latency) recordSeries(first, step time.Duration, n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for n > 0 {
		v := max(first.Nanoseconds(), 0)
		if v == 0 {
			_ = l.h.RecordValues(0, n) // and all that follow, smaller still
			return
		}
		l.max = max(l.max, v)
		// The smallest value of v's bucket: the durations down to it are recorded as v.
		lo, hi := int64(0), v
		for lo < hi {
			if mid := lo + (hi-lo)/2; l.h.ValuesAreEquivalent(mid, v) {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		k := min(int64((first-time.Duration(lo))/step)+1, n)
		_ = l.h.RecordValues(v, k)
		first -= time.Duration(k) * step
		n -= k
	}
}

// percentiles is a latency summary in milliseconds.
type percentiles struct {
	Count  int64   `json:"count"`
	P50Ms  float64 `json:"p50Ms"`
	P90Ms  float64 `json:"p90Ms"`
	P99Ms  float64 `json:"p99Ms"`
	P999Ms float64 `json:"p999Ms"`
	MaxMs  float64 `json:"maxMs"`
}

// summary is the count and percentiles, each at most the exact maximum (a percentile is the
// highest value of its bucket of the histogram).
func (l *latency) summary() percentiles {
	l.mu.Lock()
	defer l.mu.Unlock()
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	at := func(q float64) float64 { return ms(min(l.h.ValueAtQuantile(q), l.max)) }
	return percentiles{
		Count:  l.h.TotalCount(),
		P50Ms:  at(50),
		P90Ms:  at(90),
		P99Ms:  at(99),
		P999Ms: at(99.9),
		MaxMs:  ms(l.max),
	}
}

func (p percentiles) String() string {
	return fmt.Sprintf("n=%d p50 %.2fms p90 %.2fms p99 %.2fms p99.9 %.2fms max %.2fms",
		p.Count, p.P50Ms, p.P90Ms, p.P99Ms, p.P999Ms, p.MaxMs)
}

// dialFunc opens a connection, as net.Dialer.DialContext does.
type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// sourceDialers returns one dial function per local source address (nil: the SDK's default).
func sourceDialers(sources string) ([]dialFunc, error) {
	if sources == "" {
		return []dialFunc{nil}, nil
	}
	var out []dialFunc
	for _, s := range strings.Split(sources, ",") {
		ip := net.ParseIP(strings.TrimSpace(s))
		if ip == nil {
			return nil, fmt.Errorf("--sources: %q is not an IP address", s)
		}
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
		out = append(out, d.DialContext)
	}
	return out, nil
}

// everySecond calls fn once a second until stop is closed; the returned wait returns when fn
// will not be called again.
func everySecond(stop <-chan struct{}, fn func(elapsed time.Duration)) (wait func()) {
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				fn(time.Since(start))
			}
		}
	}()
	return func() { <-done }
}
