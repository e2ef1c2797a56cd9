package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialtone/dialtone/client"
)

const timersUsage = `
Usage: dialtone bench timers --url URL --secret S --invitations N [--window 10s] [--lead 5s]
       [--grace 10s] [--sources 127.0.0.1,127.0.0.2,…] [--json]

Arms N ringing invitations, then lets them time out with deadlines spread evenly over
--window, and measures how late the server times them out. Each caller holds one
general-mode call (a user may be in one call at a time) inviting up to 9 users who are not
connected, so ceil(N/9) callers log in. The invitations are sent spread over the first
--lead, and the window starts after it, so that arming and firing do not overlap when the
server keeps up (armSeconds, when the last invite was answered, tells whether it did). Each
call's timeout (whole seconds, 1..600) and start time are chosen so that its deadline falls
on its slot of the window. The caller's device observes the timeouts
(callUserStateChanged listing the invitees Timeout); lateness = arrival, on the server's
clock as the SDK estimates it (ServerTimeOffset), − the deadline of the invite result's
callInfo. Reported: p50, p99 and max lateness, timeouts never observed (within the window
plus --grace; of an interrupted run, those due by then) as errors "timeout:unobserved", and
invitees that an invite's errorUserList refused as errors under their reason's code.

100,000 invitations take 11,112 connections in this one process: raise ulimit -n, and spread
them over local addresses with --sources if the ports of one address run short.
`

// maxInvitees is the most invitees one callInvite takes (behaviour R3.1).
const maxInvitees = 9

// timersConfig is the configuration of a timers run.
type timersConfig struct {
	benchFlags
	invitations         int
	window, lead, grace time.Duration
}

// runTimers implements "dialtone bench timers".
func runTimers(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	var cfg timersConfig
	return workload{name: "timers", usage: timersUsage, common: &cfg.benchFlags,
		define: func(fs *flag.FlagSet) {
			fs.IntVar(&cfg.invitations, "invitations", 1000, "ringing invitations to arm")
			fs.DurationVar(&cfg.window, "window", 10*time.Second, "deadlines are spread over this long (≥ 1s; --lead + --window ≤ 600s)")
			fs.DurationVar(&cfg.lead, "lead", 5*time.Second, "the invitations are sent over this long, before the window (≥ 1s; --lead + --window ≤ 600s)")
			fs.DurationVar(&cfg.grace, "grace", 10*time.Second, "how long after the window to wait for late timeouts")
		},
		execute: func(ctx context.Context, stderr io.Writer) (benchReport, error) {
			if cfg.invitations < 1 || cfg.window < time.Second || cfg.lead < time.Second ||
				cfg.lead+cfg.window > 600*time.Second || cfg.grace < 0 {
				return nil, errors.New("--invitations must be ≥ 1, --window and --lead ≥ 1s, --lead + --window ≤ 600s, --grace ≥ 0")
			}
			calls := int64(cfg.invitations-1)/maxInvitees + 1
			if err := checkConnections(fmt.Sprintf("--invitations %d (one caller per %d)", cfg.invitations, maxInvitees), calls); err != nil {
				return nil, err
			}
			r := newTimersRun(&cfg)
			callers, err := r.login(ctx)
			defer closeAll(callers)
			if err != nil {
				return nil, err
			}
			return r.execute(ctx, callers, stderr), nil
		},
	}.run(ctx, args, stdout, stderr)
}

// timersRun is one run's plan and measurements.
type timersRun struct {
	cfg   *timersConfig
	run   string
	calls int

	mu        sync.Mutex
	deadlines map[string]map[string]int64 // callID → invitee not yet timed out → deadline (server Unix ms)
	early     map[string][]earlyTimeout   // callID → timeouts that came before the invite's reply
	minLate   time.Duration

	armed                    time.Duration // when the last invite was answered
	interrupted              time.Time     // when the run was interrupted, on the server's clock; zero if it was not
	lateness                 *latency
	invited, observed, ended atomic.Int64
	errs                     errorCounts
}

func newTimersRun(cfg *timersConfig) *timersRun {
	return &timersRun{cfg: cfg, run: newRunID(), calls: (cfg.invitations + maxInvitees - 1) / maxInvitees,
		deadlines: make(map[string]map[string]int64), early: make(map[string][]earlyTimeout),
		lateness: newLatency(), minLate: math.MaxInt64}
}

// earlyTimeout is a timeout observed before the reply that gives its deadline.
type earlyTimeout struct {
	user    string
	arrived time.Time
}

// timersCaller is the handler of one caller: it measures its invitees' timeouts.
type timersCaller struct {
	client.BaseHandler
	r *timersRun
	c atomic.Pointer[client.Client]
}

func (h *timersCaller) OnCallUserStateChanged(ev client.CallUserStateChanged) {
	arrived := time.Now().Add(h.c.Load().ServerTimeOffset())
	for _, u := range ev.CallUserList {
		if u.State == client.StateTimeout {
			h.r.observe(ev.CallID, u, arrived)
		}
	}
	if ev.CallState == client.CallEnded {
		h.r.ended.Add(1)
	}
}

// observe records the lateness of one timeout that arrived at server time arrived, against
// the deadline of the invite's reply (the event's is 0: a user who timed out has none, §10b).
// A timeout that comes before that reply waits for it.
func (r *timersRun) observe(callID string, u client.CallUserInfo, arrived time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.deadlines[callID]; !ok {
		r.early[callID] = append(r.early[callID], earlyTimeout{u.UserID, arrived})
		return
	}
	r.measure(callID, u.UserID, arrived)
}

// measure records the lateness of user's timeout in call callID, once; r.mu is held.
func (r *timersRun) measure(callID, user string, arrived time.Time) {
	deadline, ok := r.deadlines[callID][user]
	if !ok {
		return // not one of ours, or already observed
	}
	delete(r.deadlines[callID], user)
	late := arrived.Sub(time.UnixMilli(deadline))
	r.minLate = min(r.minLate, late)
	r.lateness.record(late)
	r.observed.Add(1)
}

// login logs in one caller per call, caller i from source i (round robin over --sources); at
// the first failure it stops and returns it with the callers logged in, to close.
func (r *timersRun) login(ctx context.Context) ([]*client.Client, error) {
	dials, err := sourceDialers(r.cfg.sources)
	if err != nil {
		return nil, err
	}
	callers := make([]*client.Client, r.calls)
	err = loginEach(ctx, r.calls, r.cfg.concurrency, func(ctx context.Context, i int) error {
		h := &timersCaller{r: r}
		s := session{user: "bench-t-" + r.run + "-" + strconv.Itoa(i), device: "c", handler: h, dial: dials[i%len(dials)]}
		c, err := s.login(ctx, &r.cfg.benchFlags)
		if err != nil {
			return fmt.Errorf("login %s: %w", s.user, describe(err))
		}
		h.c.Store(c)
		callers[i] = c
		return nil
	})
	return callers, err
}

// plan returns call i's start (after the run's start) and timeout. The calls' deadlines are
// spread evenly over (lead, lead+window]; their starts over [0, lead), each less than a
// second after its even slot of [0, lead−1s) so that the timeout is whole seconds (at least
// 1 s, as both lead and window are).
func (r *timersRun) plan(i int) (start time.Duration, timeoutS int) {
	n := int64(r.calls)
	deadline := r.cfg.lead + time.Duration(int64(r.cfg.window)*int64(i+1)/n)
	slot := time.Duration(int64(r.cfg.lead-time.Second) * int64(i) / n)
	timeoutS = min(max(int((deadline-slot)/time.Second), 1), 600)
	return deadline - time.Duration(timeoutS)*time.Second, timeoutS
}

// invitees returns the users call i invites.
func (r *timersRun) invitees(i int) []string {
	n := min(maxInvitees, r.cfg.invitations-i*maxInvitees)
	out := make([]string, n)
	for j := range out {
		out[j] = "bench-u-" + r.run + "-" + strconv.Itoa(i) + "-" + strconv.Itoa(j)
	}
	return out
}

// execute starts every call on its plan, waits for the timeouts and reports.
func (r *timersRun) execute(ctx context.Context, callers []*client.Client, stderr io.Writer) timersReport {
	start := time.Now().Add(100 * time.Millisecond)
	stop := make(chan struct{})
	waitProgress := everySecond(stop, func(el time.Duration) {
		fmt.Fprintf(stderr, "timers %3.0fs invited %d/%d timeouts observed %d errors %s\n", el.Seconds(),
			r.invited.Load(), r.cfg.invitations, r.observed.Load(), formatErrors(r.errs.snapshot()))
	})
	var wg sync.WaitGroup
	for i, c := range callers {
		wg.Go(func() { r.invite(ctx, c, i, start) })
	}
	wg.Wait()
	r.armed = time.Since(start)
	end := start.Add(r.cfg.lead + r.cfg.window + r.cfg.grace)
	for r.observed.Load() < r.invited.Load() && time.Now().Before(end) && sleepUntil(ctx, time.Now().Add(50*time.Millisecond)) {
	}
	if ctx.Err() != nil {
		r.interrupted = serverNow(callers)
	}
	close(stop)
	waitProgress()
	return r.report()
}

// invite starts call i at its planned time and records its invitees' deadlines.
func (r *timersRun) invite(ctx context.Context, c *client.Client, i int, start time.Time) {
	offset, timeout := r.plan(i)
	if !sleepUntil(ctx, start.Add(offset)) {
		return
	}
	users := r.invitees(i)
	res, err := c.CallInvite(ctx, users, client.InviteConfig{Timeout: timeout})
	if err != nil {
		r.errs.addUnlessInterrupted(ctx, err, "invite")
		return
	}
	r.armedCall(res, len(users))
}

// armedCall records the deadlines of a call's invitees from its invite's result, and counts
// the invitees it refused as errors under their reasons.
func (r *timersRun) armedCall(res client.CallInviteResult, invitees int) {
	for _, e := range res.ErrorUserList {
		r.errs.addCode(e.Reason)
	}
	dl := make(map[string]int64, invitees)
	for _, u := range res.CallInfo.CallUserList {
		if u.State != client.StateAccepted {
			dl[u.UserID] = u.Deadline
		}
	}
	r.invited.Add(int64(invitees - len(res.ErrorUserList)))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deadlines[res.CallID] = dl
	for _, e := range r.early[res.CallID] {
		r.measure(res.CallID, e.user, e.arrived)
	}
	delete(r.early, res.CallID)
}

// latenessSummary is the lateness distribution, with its minimum (negative when a timeout
// arrived before its deadline as the client estimates the server's clock).
type latenessSummary struct {
	percentiles
	MinMs float64 `json:"minMs"`
}

// timersReport is the result of a timers run (the --json object).
type timersReport struct {
	Workload      string           `json:"workload"`
	URL           string           `json:"url"`
	Invitations   int              `json:"invitations"`
	Calls         int              `json:"calls"`
	WindowSeconds float64          `json:"windowSeconds"`
	LeadSeconds   float64          `json:"leadSeconds"`
	ArmSeconds    float64          `json:"armSeconds"`
	Invited       int64            `json:"invited"`
	Observed      int64            `json:"observed"`
	CallsEnded    int64            `json:"callsEnded"`
	LatenessMs    latenessSummary  `json:"latenessMs"`
	Errors        map[string]int64 `json:"errors"`
}

func (r *timersRun) report() timersReport {
	rep := timersReport{Workload: "timers", URL: r.cfg.url, Invitations: r.cfg.invitations, Calls: r.calls,
		WindowSeconds: r.cfg.window.Seconds(), LeadSeconds: r.cfg.lead.Seconds(), ArmSeconds: r.armed.Seconds(), Invited: r.invited.Load(), Observed: r.observed.Load(),
		CallsEnded: r.ended.Load(), Errors: r.errs.snapshot()}
	rep.LatenessMs.percentiles = r.lateness.summary()
	r.mu.Lock()
	if rep.Observed > 0 {
		rep.LatenessMs.MinMs = float64(r.minLate) / 1e6
	}
	r.mu.Unlock()
	if missing := r.unobserved(rep.Invited - rep.Observed); missing > 0 {
		rep.Errors["timeout:unobserved"] = missing
	}
	return rep
}

// unobserved returns the timeouts to report as never observed: all those not observed
// (missing), or, when the run was interrupted, those of them whose deadline had passed by then.
func (r *timersRun) unobserved(missing int64) int64 {
	if r.interrupted.IsZero() {
		return missing
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, users := range r.deadlines {
		for _, deadline := range users {
			if deadline <= r.interrupted.UnixMilli() {
				n++
			}
		}
	}
	return n
}

// serverNow is the server's time as the first caller estimates it; the local time without one.
func serverNow(callers []*client.Client) time.Time {
	for _, c := range callers {
		if c != nil {
			return c.ServerNow()
		}
	}
	return time.Now()
}

func (rep timersReport) print(w io.Writer) {
	fmt.Fprintf(w, "timers: %d invitations in %d calls, armed in %.1fs (lead %gs), deadlines over %gs\n",
		rep.Invitations, rep.Calls, rep.ArmSeconds, rep.LeadSeconds, rep.WindowSeconds)
	fmt.Fprintf(w, "  %d invited, %d timeouts observed, %d calls ended\n", rep.Invited, rep.Observed, rep.CallsEnded)
	fmt.Fprintf(w, "  lateness       %s min %.2fms\n", rep.LatenessMs.percentiles, rep.LatenessMs.MinMs)
	fmt.Fprintf(w, "  errors         %s\n", formatErrors(rep.Errors))
}
