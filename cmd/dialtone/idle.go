package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialtone/dialtone/client"
)

const idleUsage = `
Usage: dialtone bench idle --url URL --secret S --sessions N [--hold 10s]
       [--sources 127.0.0.1,127.0.0.2,…] [--server-pid PID] [--json]

Opens N logged-in sessions (one device of one user each), holds them for --hold while the SDK
heartbeats, then closes them. Reports the login rate reached and, with --server-pid (a server
on this machine), the server's resident memory (VmRSS of /proc/PID/status) before the first
login and at the end of the hold, and their difference per session still connected at the
end (0 when none is). When the server exposes
Prometheus metrics at /metrics, its Go heap in use is reported too.

Many sessions need many file descriptors on both sides (ulimit -n) and many local ports:
--sources spreads the connections over several local addresses (any 127.0.0.x works on
Linux). The server refuses more than --max-unauthenticated-per-ip (default 100) connections
of one address that have not logged in yet, so logins in flight are bounded by
--login-concurrency per source.
`

// idleConfig is the configuration of an idle run.
type idleConfig struct {
	benchFlags
	sessions  int
	hold      time.Duration
	serverPID int
}

// runIdle implements "dialtone bench idle".
func runIdle(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	var cfg idleConfig
	return workload{name: "idle", usage: idleUsage, common: &cfg.benchFlags,
		define: func(fs *flag.FlagSet) {
			fs.IntVar(&cfg.sessions, "sessions", 1000, "sessions to open")
			fs.DurationVar(&cfg.hold, "hold", 10*time.Second, "how long to hold the sessions once all are open")
			fs.IntVar(&cfg.serverPID, "server-pid", 0, "PID of the server process, to read its memory")
		},
		execute: func(ctx context.Context, stderr io.Writer) (benchReport, error) {
			if cfg.sessions < 1 || cfg.hold < 0 {
				return nil, errors.New("--sessions must be ≥ 1 and --hold ≥ 0")
			}
			if err := checkConnections(fmt.Sprintf("--sessions %d", cfg.sessions), int64(cfg.sessions)); err != nil {
				return nil, err
			}
			if cfg.serverPID < 0 || cfg.serverPID > 0 && readRSS(cfg.serverPID) == 0 {
				return nil, fmt.Errorf("--server-pid %d: no memory to read in /proc/%[1]d/status (no such process on this machine?)", cfg.serverPID)
			}
			return idleRun(ctx, &cfg, stderr)
		},
	}.run(ctx, args, stdout, stderr)
}

// idleReport is the result of an idle run (the --json object). Memory fields are 0 when
// not measured.
type idleReport struct {
	Workload         string           `json:"workload"`
	URL              string           `json:"url"`
	Sessions         int              `json:"sessions"`
	LoggedIn         int64            `json:"loggedIn"`
	ConnectedAtEnd   int64            `json:"connectedAtEnd"`
	LoginSeconds     float64          `json:"loginSeconds"`
	LoginsPerSecond  float64          `json:"loginsPerSecond"`
	HoldSeconds      float64          `json:"holdSeconds"`
	RSSBeforeBytes   int64            `json:"rssBeforeBytes"`
	RSSAfterBytes    int64            `json:"rssAfterBytes"`
	BytesPerSession  float64          `json:"bytesPerSession"`
	HeapBeforeBytes  int64            `json:"heapBeforeBytes,omitempty"`
	HeapAfterBytes   int64            `json:"heapAfterBytes,omitempty"`
	HeapBytesPerSess float64          `json:"heapBytesPerSession,omitempty"`
	Errors           map[string]int64 `json:"errors"`
}

// idleRun opens, holds and closes the sessions.
func idleRun(ctx context.Context, cfg *idleConfig, stderr io.Writer) (idleReport, error) {
	dials, err := sourceDialers(cfg.sources)
	if err != nil {
		return idleReport{}, err
	}
	rep := idleReport{Workload: "idle", URL: cfg.url, Sessions: cfg.sessions, HoldSeconds: cfg.hold.Seconds()}
	memBefore := readServerMemory(cfg)
	var errs errorCounts
	clients, elapsed := openSessions(ctx, cfg, dials, &errs, stderr)
	defer closeAll(clients)
	rep.LoggedIn = countLive(clients, false)
	rep.LoginSeconds = elapsed.Seconds()
	rep.LoginsPerSecond = float64(rep.LoggedIn) / elapsed.Seconds()
	fmt.Fprintf(stderr, "idle: %d sessions logged in in %.1fs; holding for %s\n", rep.LoggedIn, elapsed.Seconds(), cfg.hold)
	stop := make(chan struct{})
	waitProgress := everySecond(stop, func(el time.Duration) {
		fmt.Fprintf(stderr, "idle %3.0fs holding, %d connected\n", el.Seconds(), countLive(clients, true))
	})
	sleepUntil(ctx, time.Now().Add(cfg.hold))
	close(stop)
	waitProgress()
	rep.ConnectedAtEnd = countLive(clients, true)
	memAfter := readServerMemory(cfg)
	rep.Errors = errs.snapshot()
	rep.setMemory(memBefore, memAfter)
	return rep, nil
}

// openSessions logs in cfg.sessions users, spread round robin over the dial functions (one
// per source address), with cfg.concurrency logins in flight per source.
func openSessions(ctx context.Context, cfg *idleConfig, dials []dialFunc, errs *errorCounts,
	stderr io.Writer) ([]*client.Client, time.Duration) {
	run := newRunID()
	clients := make([]*client.Client, cfg.sessions)
	var done atomic.Int64
	stop := make(chan struct{})
	wait := everySecond(stop, func(el time.Duration) {
		fmt.Fprintf(stderr, "idle %3.0fs logged in %d/%d errors %s\n", el.Seconds(), done.Load(),
			cfg.sessions, formatErrors(errs.snapshot()))
	})
	start := time.Now()
	var wg sync.WaitGroup
	for src, dial := range dials {
		wg.Go(func() {
			// Source src opens sessions src, src+len(dials), …
			n := (cfg.sessions - src + len(dials) - 1) / len(dials)
			forEach(n, cfg.concurrency, func(k int) {
				i := src + k*len(dials)
				s := session{user: "bench-i-" + run + "-" + strconv.Itoa(i), device: "d", dial: dial}
				c, err := s.login(ctx, &cfg.benchFlags)
				if err != nil {
					errs.addUnlessInterrupted(ctx, err, "login")
					return
				}
				clients[i] = c
				done.Add(1)
			})
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	wait()
	return clients, elapsed
}

// countLive counts the clients that exist and, if connected is set, are Connected now.
func countLive(cs []*client.Client, connected bool) int64 {
	var n int64
	for _, c := range cs {
		if c != nil && (!connected || c.State() == client.Connected) {
			n++
		}
	}
	return n
}

// serverMemory is a reading of the server's memory; 0 fields were not measured.
type serverMemory struct{ rss, heap int64 }

func readServerMemory(cfg *idleConfig) serverMemory {
	var m serverMemory
	if cfg.serverPID > 0 {
		m.rss = readRSS(cfg.serverPID)
	}
	m.heap = readHeapMetric(cfg.url)
	return m
}

// setMemory sets the memory fields: the growth from before to after per session still
// connected at the end. With no session connected at the end, the per-session figures stay 0
// (not measured): the growth is no session's.
func (rep *idleReport) setMemory(before, after serverMemory) {
	n := float64(rep.ConnectedAtEnd)
	rep.RSSBeforeBytes, rep.RSSAfterBytes = before.rss, after.rss
	if before.rss > 0 && after.rss > 0 && n > 0 {
		rep.BytesPerSession = float64(after.rss-before.rss) / n
	}
	if before.heap > 0 && after.heap > 0 {
		rep.HeapBeforeBytes, rep.HeapAfterBytes = before.heap, after.heap
		if n > 0 {
			rep.HeapBytesPerSess = float64(after.heap-before.heap) / n
		}
	}
}

// readRSS returns VmRSS of process pid in bytes, 0 when unreadable.
func readRSS(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// readHeapMetric returns go_memstats_heap_inuse_bytes from the server's /metrics, 0 when the
// server has no such endpoint or metric.
func readHeapMetric(wsURL string) int64 {
	u, err := url.Parse(wsURL)
	if err != nil {
		return 0
	}
	u.Scheme = map[string]string{"ws": "http", "wss": "https", "http": "http", "https": "https"}[u.Scheme]
	u.Path, u.RawQuery = "/metrics", ""
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(u.String())
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return int64(v)
		}
	}
	return 0
}

func (rep idleReport) print(w io.Writer) {
	fmt.Fprintf(w, "idle: %d sessions requested, %d logged in (%.1f logins/s over %.1fs), %d connected after %gs\n",
		rep.Sessions, rep.LoggedIn, rep.LoginsPerSecond, rep.LoginSeconds, rep.ConnectedAtEnd, rep.HoldSeconds)
	if rep.RSSAfterBytes > 0 {
		fmt.Fprintf(w, "  server RSS     %.1f MiB → %.1f MiB, %.0f bytes/session\n",
			float64(rep.RSSBeforeBytes)/(1<<20), float64(rep.RSSAfterBytes)/(1<<20), rep.BytesPerSession)
	}
	if rep.HeapAfterBytes > 0 {
		fmt.Fprintf(w, "  server heap    %.1f MiB → %.1f MiB, %.0f bytes/session\n",
			float64(rep.HeapBeforeBytes)/(1<<20), float64(rep.HeapAfterBytes)/(1<<20), rep.HeapBytesPerSess)
	}
	fmt.Fprintf(w, "  errors         %s\n", formatErrors(rep.Errors))
}
