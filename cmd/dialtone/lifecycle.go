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

const lifecycleUsage = `
Usage: dialtone bench lifecycle --url URL --secret S [--pairs 100] [--duration 10s]
       [--warmup 2s] [--rate R] [--devices 1] [--sources A,B,…] [--json]

Runs call lifecycles between caller/callee pairs, each pair a logged-in caller device and
--devices logged-in devices of its callee. One lifecycle: the caller sends callInvite
(advanced mode); every callee device receives callInvitationReceived (its SDK acknowledges
it); once the caller sees the callee Received (the acknowledgement is committed, as it is long
before anyone answers a real call), the first device to ring sends callAccept; the caller sees
the callee Accepted (callUserStateChanged); the caller sends callEnd; the caller and every
callee device receive callInvitationEnded. Four durable changes: invite, receipt, accept, end.

Closed loop by default: each pair runs lifecycles back to back. With --rate, open loop: R
lifecycles per second are offered, spread evenly over the pairs; the whole lifecycle's latency
is measured from its intended start, so a start delayed because its pair is still busy counts
its wait (no coordinated omission). Starts still waiting at the end are reported as
missedStarts, and counted in the lifecycle latency with the wait they had then (a lower bound);
a run interrupted before the end of --duration counts only the starts already due.

Reported, for the lifecycles that started during --duration (after --warmup), those still
running at its end waited for (each step for at most --step-timeout, and so the ending or
cancelling of a call a failed lifecycle left): lifecycles per second (the completed
lifecycles' runs inside the measured time, one that straddles its start or end counting for
the share inside, per second of --duration),
errors by wire code (or timeout:STEP / error:STEP), and HDR-histogram percentiles of
inviteToRing (callInvite sent → a callee device has callInvitationReceived: one sample per
device, --devices per lifecycle), acceptToCaller
(callAccept sent → caller notified) and the whole lifecycle (a failed lifecycle is an error,
and no whole-lifecycle sample, but the steps it completed are samples), and this tool's own CPU
time (user and system) over the measured time, per lifecycle and in cores, where the system
tells it (toolCpuMsPerLifecycle, toolCpuCores), and its heap allocations per lifecycle
(toolAllocsPerLifecycle). A progress line is printed on
stderr every second: the lifecycles completed and the errors so far (warmup and drain
included), and how many of the completed ones are measured.

Start the server with high limits (--max-invites-per-minute 100000
--max-requests-per-second 100000), or expect 6000292 (rate limited) errors.
`

// lifecycleConfig is the configuration of a lifecycle run.
type lifecycleConfig struct {
	benchFlags
	pairs, devices   int
	duration, warmup time.Duration
	rate             float64
	stepTimeout      time.Duration
}

// interval is the time between two intended starts of one pair in open loop: the pairs
// together offer cfg.rate lifecycles per second. It is 0 or less for a rate no schedule can
// follow: infinite, above one start per nanosecond and pair, or so low that the interval
// overflows a time.Duration.
func (cfg *lifecycleConfig) interval() time.Duration {
	return time.Duration(float64(cfg.pairs) / cfg.rate * float64(time.Second))
}

// runLifecycle implements "dialtone bench lifecycle".
func runLifecycle(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	var cfg lifecycleConfig
	return workload{name: "lifecycle", usage: lifecycleUsage, common: &cfg.benchFlags,
		define: func(fs *flag.FlagSet) {
			fs.IntVar(&cfg.pairs, "pairs", 100, "caller/callee pairs")
			fs.IntVar(&cfg.devices, "devices", 1, "logged-in devices per callee; all must ring, the first to ring accepts")
			fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured time, after the warmup")
			fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "unmeasured time first")
			fs.Float64Var(&cfg.rate, "rate", 0, "offered lifecycles per second over all pairs (open loop); 0 = closed loop")
			fs.DurationVar(&cfg.stepTimeout, "step-timeout", 10*time.Second, "how long one step may wait for its reply or event")
		},
		execute: func(ctx context.Context, stderr io.Writer) (benchReport, error) {
			if cfg.pairs < 1 || cfg.devices < 1 || cfg.duration <= 0 || cfg.warmup < 0 || !(cfg.rate >= 0) || cfg.stepTimeout <= 0 {
				return nil, errors.New("--pairs and --devices must be ≥ 1, --duration and --step-timeout > 0, --warmup and --rate ≥ 0")
			}
			conns := times(int64(cfg.pairs), min(int64(cfg.devices), math.MaxInt64-1)+1)
			if err := checkConnections(fmt.Sprintf("--pairs %d with --devices %d", cfg.pairs, cfg.devices), conns); err != nil {
				return nil, err
			}
			if cfg.rate > 0 && cfg.interval() <= 0 {
				return nil, fmt.Errorf("--rate %g over %d pairs gives no usable interval between a pair's starts", cfg.rate, cfg.pairs)
			}
			pairs, err := loginPairs(ctx, &cfg)
			if err != nil {
				return nil, err
			}
			defer closePairs(pairs)
			return newLifecycleRun(&cfg).execute(ctx, pairs, stderr), nil
		},
	}.run(ctx, args, stdout, stderr)
}

// lcPair is one caller and the devices of its callee.
type lcPair struct {
	caller  *client.Client
	callees []*client.Client
	callee  string
	mb      *mailbox
}

// callerHandler posts what a caller sees of its lifecycles.
type callerHandler struct {
	client.BaseHandler
	mb     *mailbox
	callee string
}

func (h *callerHandler) OnCallUserStateChanged(ev client.CallUserStateChanged) {
	for _, u := range ev.CallUserList {
		switch {
		case u.UserID != h.callee:
		case u.State == client.StateReceived:
			h.mb.post(mailKey{mailReceived, ev.CallID, 0}, arrival{at: time.Now()})
		case u.State == client.StateAccepted:
			h.mb.post(mailKey{mailAccepted, ev.CallID, 0}, arrival{at: time.Now()})
		}
	}
}

func (h *callerHandler) OnCallInvitationEnded(ev client.CallInvitationEnded) {
	h.mb.post(mailKey{mailCallerEnded, ev.CallID, 0}, arrival{at: time.Now()})
}

// calleeHandler posts what one callee device sees.
type calleeHandler struct {
	client.BaseHandler
	mb     *mailbox
	device int
}

func (h *calleeHandler) OnCallInvitationReceived(ev client.CallInvitationReceived) {
	a := arrival{at: time.Now(), device: h.device}
	h.mb.post(mailKey{mailRing, ev.CallID, h.device}, a)
	h.mb.post(mailKey{mailRing, ev.CallID, -1}, a) // the first device to ring
}

func (h *calleeHandler) OnCallInvitationEnded(ev client.CallInvitationEnded) {
	h.mb.post(mailKey{mailCalleeEnded, ev.CallID, h.device}, arrival{at: time.Now(), device: h.device})
}

// loginPairs logs in every pair's caller and callee devices, pair i from source i (round
// robin over --sources); at the first failure it stops, closes what it opened and returns it.
func loginPairs(ctx context.Context, cfg *lifecycleConfig) ([]*lcPair, error) {
	dials, err := sourceDialers(cfg.sources)
	if err != nil {
		return nil, err
	}
	run := newRunID()
	pairs := make([]*lcPair, cfg.pairs)
	err = loginEach(ctx, cfg.pairs, cfg.concurrency, func(ctx context.Context, i int) error {
		var err error
		pairs[i], err = loginPair(ctx, cfg, run, i, dials[i%len(dials)])
		return err
	})
	if err != nil {
		closePairs(pairs)
		return nil, err
	}
	return pairs, nil
}

func loginPair(ctx context.Context, cfg *lifecycleConfig, run string, i int, dial dialFunc) (*lcPair, error) {
	n := strconv.Itoa(i)
	p := &lcPair{callee: "bench-e-" + run + "-" + n, mb: newMailbox()}
	caller := session{user: "bench-c-" + run + "-" + n, device: "c",
		handler: &callerHandler{mb: p.mb, callee: p.callee}, dial: dial}
	var err error
	if p.caller, err = caller.login(ctx, &cfg.benchFlags); err != nil {
		return p, fmt.Errorf("login %s: %w", caller.user, describe(err))
	}
	for d := range cfg.devices {
		s := session{user: p.callee, device: "d" + strconv.Itoa(d), handler: &calleeHandler{mb: p.mb, device: d}, dial: dial}
		c, err := s.login(ctx, &cfg.benchFlags)
		if err != nil {
			return p, fmt.Errorf("login %s/%s: %w", s.user, s.device, describe(err))
		}
		p.callees = append(p.callees, c)
	}
	return p, nil
}

func closePairs(pairs []*lcPair) {
	var cs []*client.Client
	for _, p := range pairs {
		if p != nil {
			cs = append(append(cs, p.caller), p.callees...)
		}
	}
	closeAll(cs)
}

// lcResult is what one lifecycle measured: of a failed lifecycle, the steps it completed.
type lcResult struct {
	ring     []time.Duration // callInvite sent → each callee device that had callInvitationReceived
	accept   time.Duration   // callAccept sent → the caller saw the callee Accepted
	accepted bool            // accept was measured
}

// lifecycle runs one lifecycle. It returns its step latencies and, when it failed, the failed
// step and its error with the latencies of the steps measured before (every device that rang
// by then); a call left open by a failure is ended or cancelled.
func (p *lcPair) lifecycle(ctx context.Context, timeout time.Duration) (res lcResult, step string, err error) {
	p.mb.reset()
	t0 := time.Now()
	inv, err := withTimeout(ctx, timeout, func(ctx context.Context) (client.CallInviteResult, error) {
		return p.caller.CallInvite(ctx, []string{p.callee}, client.InviteConfig{Timeout: 60, Mode: client.ModeAdvanced})
	})
	if err != nil {
		return res, "invite", err
	}
	res, step, err = p.answerAndEnd(ctx, inv.CallID, t0, timeout)
	if err != nil {
		res.ring = p.rungSoFar(inv.CallID, t0)
		p.cleanup(ctx, inv.CallID, timeout)
	}
	return res, step, err
}

// answerAndEnd is the part of a lifecycle after the invite. The first callee device to ring
// answers; every device must have rung and received callInvitationEnded by the end (behaviour
// §5), each ring a sample of inviteToRing.
func (p *lcPair) answerAndEnd(ctx context.Context, id string, t0 time.Time, timeout time.Duration) (res lcResult, step string, err error) {
	first, err := p.mb.wait(ctx, mailKey{mailRing, id, -1}, timeout)
	if err != nil {
		return res, "ring", err
	}
	if _, err := p.mb.wait(ctx, mailKey{mailReceived, id, 0}, timeout); err != nil {
		return res, "received", err
	}
	t1 := time.Now()
	if _, err := withTimeout(ctx, timeout, func(ctx context.Context) (client.CallIDResult, error) {
		return p.callees[first.device].CallAccept(ctx, id, client.OpConfig{})
	}); err != nil {
		return res, "accept", err
	}
	acc, err := p.mb.wait(ctx, mailKey{mailAccepted, id, 0}, timeout)
	if err != nil {
		return res, "accepted", err
	}
	res.accept, res.accepted = acc.at.Sub(t1), true
	if _, err := withTimeout(ctx, timeout, func(ctx context.Context) (client.CallEndResult, error) {
		return p.caller.CallEnd(ctx, id, client.OpConfig{})
	}); err != nil {
		return res, "end", err
	}
	if _, err := p.mb.wait(ctx, mailKey{mailCallerEnded, id, 0}, timeout); err != nil {
		return res, "callerEnded", err
	}
	if _, err := p.waitDevices(ctx, mailCalleeEnded, id, timeout); err != nil {
		return res, "calleeEnded", err
	}
	rings, err := p.waitDevices(ctx, mailRing, id, timeout)
	if err != nil {
		return res, "ring", err
	}
	for _, a := range rings {
		res.ring = append(res.ring, a.at.Sub(t0))
	}
	return res, "", nil
}

// waitDevices waits, up to timeout in all, for the arrival of kind for call id on every callee
// device.
func (p *lcPair) waitDevices(ctx context.Context, kind mailKind, id string, timeout time.Duration) ([]arrival, error) {
	deadline := time.Now().Add(timeout)
	out := make([]arrival, len(p.callees))
	for d := range p.callees {
		a, err := p.mb.wait(ctx, mailKey{kind, id, d}, max(time.Until(deadline), 0))
		if err != nil {
			return nil, fmt.Errorf("callee device %d: %w", d, err)
		}
		out[d] = a
	}
	return out, nil
}

// rungSoFar returns, for each callee device that has had callInvitationReceived for call id
// by now, the time from t0 (callInvite sent) to its ring.
func (p *lcPair) rungSoFar(id string, t0 time.Time) []time.Duration {
	var out []time.Duration
	for d := range p.callees {
		if a, ok := p.mb.take(mailKey{mailRing, id, d}); ok {
			out = append(out, a.at.Sub(t0))
		}
	}
	return out
}

// cleanup ends or cancels a call a failed lifecycle left, so that the caller is not busy: two
// steps at most, each within timeout (--step-timeout), even when ctx has ended.
func (p *lcPair) cleanup(ctx context.Context, id string, timeout time.Duration) {
	ctx = context.WithoutCancel(ctx)
	if _, err := withTimeout(ctx, timeout, func(ctx context.Context) (client.CallEndResult, error) {
		return p.caller.CallEnd(ctx, id, client.OpConfig{})
	}); err != nil {
		_, _ = withTimeout(ctx, timeout, func(ctx context.Context) (client.CallCancelResult, error) {
			return p.caller.CallCancel(ctx, id, nil, client.OpConfig{})
		})
	}
}

// withTimeout calls fn with a context bounded by timeout.
func withTimeout[T any](ctx context.Context, timeout time.Duration, fn func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return fn(ctx)
}

// lifecycleRun is one run's schedule and measurements.
type lifecycleRun struct {
	cfg                             *lifecycleConfig
	cycle                           func(p *lcPair, ctx context.Context, timeout time.Duration) (lcResult, string, error) // (*lcPair).lifecycle
	start, measureStart, measureEnd time.Time
	ring, accept, whole             *latency
	errs                            errorCounts // of the measured lifecycles
	allErrs                         errorCounts // of every lifecycle, warmup and drain included: the progress line's
	measured, completed, missed     atomic.Int64
	usage                           *usageWindow // over the measured time; nil until execute

	workMu sync.Mutex
	work   float64 // the completed lifecycles' shares of their run inside the measured time
}

func newLifecycleRun(cfg *lifecycleConfig) *lifecycleRun {
	return &lifecycleRun{cfg: cfg, cycle: (*lcPair).lifecycle, ring: newLatency(), accept: newLatency(), whole: newLatency()}
}

// execute runs every pair until the end of the measured time and reports.
func (r *lifecycleRun) execute(ctx context.Context, pairs []*lcPair, stderr io.Writer) lifecycleReport {
	r.start = time.Now()
	r.measureStart = r.start.Add(r.cfg.warmup)
	r.measureEnd = r.measureStart.Add(r.cfg.duration)
	r.usage = newUsageWindow(r.measureStart, r.measureEnd)
	// The lifecycles in flight at measureEnd run to their end, which their steps' timeouts
	// bound: cutting them short would drop them from both the lifecycles and the errors.
	stop := make(chan struct{})
	waitProgress := everySecond(stop, r.progress(stderr))
	var wg sync.WaitGroup
	for i, p := range pairs {
		wg.Go(func() { r.pairLoop(ctx, p, i) })
	}
	wg.Wait()
	close(stop)
	waitProgress()
	return r.report()
}

// pairLoop runs one pair's lifecycles: back to back (closed loop) or on its schedule.
func (r *lifecycleRun) pairLoop(ctx context.Context, p *lcPair, i int) {
	if r.cfg.rate == 0 {
		for ctx.Err() == nil && time.Now().Before(r.measureEnd) {
			r.one(ctx, p, time.Now())
		}
		return
	}
	// Pair i starts at i/rate and then every pairs/rate: the pairs together offer rate.
	interval := r.cfg.interval()
	next := r.start.Add(time.Duration(float64(i) / r.cfg.rate * float64(time.Second)))
	for ; next.Before(r.measureEnd); next = next.Add(interval) {
		if !sleepUntil(ctx, next) || !time.Now().Before(r.measureEnd) {
			r.missStarts(next, interval)
			return
		}
		r.one(ctx, p, next)
	}
}

// missStarts records the starts from next on, every interval, that the end of the run found
// still waiting for their pair: those intended in the measured time and due by now count as
// missed, and in the lifecycle latency with the wait they had then, a lower bound of their
// latency. Starts after now (a run interrupted before the end of --duration) were never due:
// they are not counted.
func (r *lifecycleRun) missStarts(next time.Time, interval time.Duration) {
	now := time.Now()
	end := r.measureEnd
	if now.Before(end) {
		end = now
	}
	if early := r.measureStart.Sub(next); early > 0 {
		k := early / interval // then the first measured start
		if early%interval != 0 {
			k++
		}
		next = next.Add(k * interval)
	}
	if !next.Before(end) {
		return
	}
	n := int64((end.Sub(next)-1)/interval) + 1
	r.missed.Add(n)
	r.whole.recordSeries(now.Sub(next), interval, n)
}

// inWindow reports whether a lifecycle intended to start at t is measured.
func (r *lifecycleRun) inWindow(t time.Time) bool {
	return !t.Before(r.measureStart) && t.Before(r.measureEnd)
}

// sleepUntil waits for t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// one runs a lifecycle intended to start at intended and records it: a lifecycle intended to
// start in the measured time is measured, successes and errors alike, whenever it ends; a
// failed one still gives the samples of the steps it completed.
func (r *lifecycleRun) one(ctx context.Context, p *lcPair, intended time.Time) {
	began := time.Now()
	res, step, err := r.cycle(p, ctx, r.cfg.stepTimeout)
	now := time.Now()
	measured := r.inWindow(intended)
	if err != nil {
		if ctx.Err() != nil {
			return // the run was interrupted; not the server's failure
		}
		r.allErrs.add(err, step)
		if measured {
			r.errs.add(err, step)
			r.recordSteps(res)
		}
		if r.cfg.rate == 0 {
			sleepUntil(ctx, now.Add(50*time.Millisecond)) // a failing server is not spun on
		}
		return
	}
	r.completed.Add(1)
	r.addWork(began, now)
	if !measured {
		return
	}
	r.measured.Add(1)
	r.recordSteps(res)
	r.whole.record(now.Sub(intended))
}

// addWork adds the share of a completed lifecycle that ran from began to ended that falls in
// the measured time: 1 when it ran wholly inside, 0 wholly outside. Their sum, per second of
// --duration, is the throughput: a lifecycle that straddles an end of the measured time counts
// for the part of its run inside, which neither counting it whole nor leaving it out does.
func (r *lifecycleRun) addWork(began, ended time.Time) {
	from, to := maxTime(began, r.measureStart), minTime(ended, r.measureEnd)
	share := 0.0
	switch {
	case !ended.After(began): // no measurable length: whether it is inside
		if r.inWindow(began) {
			share = 1
		}
	case to.After(from):
		share = float64(to.Sub(from)) / float64(ended.Sub(began))
	}
	r.workMu.Lock()
	defer r.workMu.Unlock()
	r.work += share
}

// minTime and maxTime are the earlier and the later of two times.
func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// recordSteps records the step latencies one measured lifecycle gave.
func (r *lifecycleRun) recordSteps(res lcResult) {
	for _, d := range res.ring {
		r.ring.record(d)
	}
	if res.accepted {
		r.accept.record(res.accept)
	}
}

// progress returns the once-a-second progress printer. Its completed count and errors are of
// every lifecycle so far, warmup and drain included; measured is the count of the report's
// lifecycles so far.
func (r *lifecycleRun) progress(w io.Writer) func(time.Duration) {
	var last int64
	return func(elapsed time.Duration) {
		phase := "measuring"
		if time.Now().Before(r.measureStart) {
			phase = "warmup"
		} else if time.Now().After(r.measureEnd) {
			phase = "draining"
		}
		n := r.completed.Load()
		fmt.Fprintf(w, "lifecycle %3.0fs %-9s completed %d (+%d/s) measured %d errors %s\n",
			elapsed.Seconds(), phase, n, n-last, r.measured.Load(), formatErrors(r.allErrs.snapshot()))
		last = n
	}
}

// lifecycleReport is the result of a lifecycle run (the --json object).
type lifecycleReport struct {
	Workload            string           `json:"workload"`
	URL                 string           `json:"url"`
	Mode                string           `json:"mode"`
	Pairs               int              `json:"pairs"`
	Devices             int              `json:"devices"`
	OfferedRate         float64          `json:"offeredRate"`
	WarmupSeconds       float64          `json:"warmupSeconds"`
	DurationSeconds     float64          `json:"durationSeconds"`
	Lifecycles          int64            `json:"lifecycles"`          // intended to start in the measured time, completed
	LifecyclesPerSecond float64          `json:"lifecyclesPerSecond"` // completed work inside the measured time, per second
	CompletedTotal      int64            `json:"completedTotal"`      // warmup and drain included
	MissedStarts        int64            `json:"missedStarts"`
	Errors              map[string]int64 `json:"errors"`
	InviteToRing        percentiles      `json:"inviteToRing"`
	AcceptToCaller      percentiles      `json:"acceptToCaller"`
	Lifecycle           percentiles      `json:"lifecycle"`
	// This process's CPU (user and system) and heap allocations over the measured time, per
	// lifecycle of its work, and its CPU in cores; left out when no lifecycle completed, and
	// the CPU where it cannot be read.
	ToolCPUMsPerLifecycle  float64 `json:"toolCpuMsPerLifecycle,omitempty"`
	ToolCPUCores           float64 `json:"toolCpuCores,omitempty"`
	ToolAllocsPerLifecycle float64 `json:"toolAllocsPerLifecycle,omitempty"`
}

func (r *lifecycleRun) report() lifecycleReport {
	mode := "closed"
	if r.cfg.rate > 0 {
		mode = "open"
	}
	n := r.measured.Load()
	r.workMu.Lock()
	work := r.work
	r.workMu.Unlock()
	rep := lifecycleReport{
		Workload: "lifecycle", URL: r.cfg.url, Mode: mode, Pairs: r.cfg.pairs, Devices: r.cfg.devices,
		OfferedRate: r.cfg.rate, WarmupSeconds: r.cfg.warmup.Seconds(), DurationSeconds: r.cfg.duration.Seconds(),
		Lifecycles: n, LifecyclesPerSecond: work / r.cfg.duration.Seconds(), CompletedTotal: r.completed.Load(),
		MissedStarts: r.missed.Load(), Errors: r.errs.snapshot(),
		InviteToRing: r.ring.summary(), AcceptToCaller: r.accept.summary(), Lifecycle: r.whole.summary(),
	}
	if r.usage != nil {
		rep.addToolUsage(r.usage, work)
	}
	return rep
}

// addToolUsage sets the tool's own usage over the measured time, w, per lifecycle of work, the
// lifecycles done in it; it leaves it out when no lifecycle was, and the CPU where it is not
// known.
func (rep *lifecycleReport) addToolUsage(w *usageWindow, work float64) {
	from, to, ok := w.used()
	if !ok || work <= 0 {
		return
	}
	rep.ToolAllocsPerLifecycle = float64(to.allocs-from.allocs) / work
	if span := to.at.Sub(from.at); from.cpuKnown && to.cpuKnown && span > 0 {
		cpu := to.cpu - from.cpu
		rep.ToolCPUMsPerLifecycle = float64(cpu) / float64(time.Millisecond) / work
		rep.ToolCPUCores = float64(cpu) / float64(span)
	}
}

func (rep lifecycleReport) print(w io.Writer) {
	fmt.Fprintf(w, "lifecycle: %s loop, %d pairs × %d callee devices, %gs measured after %gs warmup\n",
		rep.Mode, rep.Pairs, rep.Devices, rep.DurationSeconds, rep.WarmupSeconds)
	if rep.Mode == "open" {
		fmt.Fprintf(w, "  offered        %.1f/s, missed starts %d\n", rep.OfferedRate, rep.MissedStarts)
	}
	fmt.Fprintf(w, "  lifecycles     %d (%.1f/s)\n", rep.Lifecycles, rep.LifecyclesPerSecond)
	fmt.Fprintf(w, "  errors         %s\n", formatErrors(rep.Errors))
	fmt.Fprintf(w, "  inviteToRing   %s\n", rep.InviteToRing)
	fmt.Fprintf(w, "  acceptToCaller %s\n", rep.AcceptToCaller)
	fmt.Fprintf(w, "  lifecycle      %s\n", rep.Lifecycle)
	if rep.ToolCPUMsPerLifecycle > 0 {
		fmt.Fprintf(w, "  tool CPU       %.3f ms per lifecycle (%.2f cores)\n", rep.ToolCPUMsPerLifecycle, rep.ToolCPUCores)
	}
	if rep.ToolAllocsPerLifecycle > 0 {
		fmt.Fprintf(w, "  tool allocs    %.0f per lifecycle\n", rep.ToolAllocsPerLifecycle)
	}
}
