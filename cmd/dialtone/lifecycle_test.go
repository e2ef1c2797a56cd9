package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/servertest"
	"github.com/dialtone/dialtone/protocol"
)

// silentDevice is a callee device whose events reach no lifecycle: those that ringDeaf or
// endDeaf name are dropped, the others posted as a bench callee device posts them.
type silentDevice struct {
	calleeHandler
	ringDeaf, endDeaf bool
}

func (h *silentDevice) OnCallInvitationReceived(ev client.CallInvitationReceived) {
	if !h.ringDeaf {
		h.calleeHandler.OnCallInvitationReceived(ev)
	}
}

func (h *silentDevice) OnCallInvitationEnded(ev client.CallInvitationEnded) {
	if !h.endDeaf {
		h.calleeHandler.OnCallInvitationEnded(ev)
	}
}

// testPair logs in a lifecycle pair whose callee has len(devices) devices with these
// handlers (nil: a bench callee device).
func testPair(t *testing.T, srv *servertest.Server, name string, devices ...*silentDevice) *lcPair {
	t.Helper()
	bf := &benchFlags{url: srv.URL, secret: servertest.Secret, loginTimeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := &lcPair{callee: name + "-callee", mb: newMailbox()}
	t.Cleanup(func() { closePairs([]*lcPair{p}) })
	var err error
	caller := session{user: name + "-caller", device: "c", handler: &callerHandler{mb: p.mb, callee: p.callee}}
	if p.caller, err = caller.login(ctx, bf); err != nil {
		t.Fatal(err)
	}
	for d, h := range devices {
		if h == nil {
			h = &silentDevice{}
		}
		h.calleeHandler = calleeHandler{mb: p.mb, device: d}
		c, err := session{user: p.callee, device: "d" + strconv.Itoa(d), handler: h}.login(ctx, bf)
		if err != nil {
			t.Fatal(err)
		}
		p.callees = append(p.callees, c)
	}
	return p
}

// TestLifecycleWaitsForEveryCalleeDevice: with several callee devices, each must ring and
// each must receive callInvitationEnded (behaviour §5: all devices of the invitee, of every
// user active before the end); a device that misses either fails the lifecycle at that step.
func TestLifecycleWaitsForEveryCalleeDevice(t *testing.T) {
	srv := servertest.Start(t, highLimits...)
	ok := testPair(t, srv, "all", nil, nil, nil)
	res, step, err := ok.lifecycle(context.Background(), 5*time.Second)
	if err != nil || len(res.ring) != 3 {
		t.Fatalf("three devices that ring and end: step %q, err %v, %d ring latencies, want 3", step, err, len(res.ring))
	}
	for _, c := range []struct {
		name string
		h    *silentDevice
		step string
	}{
		{"noring", &silentDevice{ringDeaf: true}, "ring"},
		{"noend", &silentDevice{endDeaf: true}, "calleeEnded"},
	} {
		p := testPair(t, srv, c.name, nil, c.h)
		_, step, err := p.lifecycle(context.Background(), 300*time.Millisecond)
		if step != c.step || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: the lifecycle failed at step %q with %v, want a timeout at %q", c.name, step, err, c.step)
		}
	}
}

// TestMissStartsCountsOnlyDueStarts: a run interrupted before the end of --duration (Ctrl-C)
// still reports; the starts intended after the interruption were never due, so they are
// neither missed starts nor lifecycle samples. The starts that were due and still waiting
// are, with the wait they had.
func TestMissStartsCountsOnlyDueStarts(t *testing.T) {
	r := newLifecycleRun(&lifecycleConfig{pairs: 1, rate: 10, duration: time.Hour})
	r.start = time.Now().Add(-950 * time.Millisecond)
	r.measureStart = r.start
	r.measureEnd = r.start.Add(r.cfg.duration)
	r.missStarts(r.start, 100*time.Millisecond) // 10 starts due in the 0.95 s gone, 36,000 in the hour
	if p := r.whole.summary(); r.missed.Load() != 10 || p.Count != 10 || p.P50Ms < 450 || p.MaxMs < 950 {
		t.Errorf("missed %d, lifecycle %+v; want the 10 starts that were due, waiting 0.05 – 0.95 s", r.missed.Load(), p)
	}
}

// TestLifecycleProgressCountsEveryError: the progress line's errors count every failed
// lifecycle so far, as its completed count counts every successful one (warmup included): a
// server failing every lifecycle of the warmup does not show "errors none".
func TestLifecycleProgressCountsEveryError(t *testing.T) {
	r := newLifecycleRun(&lifecycleConfig{pairs: 1, devices: 1, warmup: time.Hour, duration: time.Second,
		stepTimeout: time.Second})
	r.start = time.Now()
	r.measureStart = r.start.Add(r.cfg.warmup)
	r.measureEnd = r.measureStart.Add(r.cfg.duration)
	r.cycle = func(*lcPair, context.Context, time.Duration) (lcResult, string, error) {
		return lcResult{}, "invite", &protocol.Error{Code: protocol.CodeRateLimited}
	}
	r.one(context.Background(), nil, r.start)
	var out strings.Builder
	r.progress(&out)(time.Second)
	if !strings.Contains(out.String(), "errors 6000292×1") {
		t.Errorf("progress line %q, want the warmup's error 6000292×1", out.String())
	}
	if rep := r.report(); len(rep.Errors) != 0 {
		t.Errorf("report errors %v, want none: the warmup is not measured", rep.Errors)
	}
}

// TestBenchLifecycleEndsWhenTheServerStops: a server that stops during the run fails the
// lifecycles in flight and those after; the run still ends (each step within --step-timeout)
// and reports them as errors. The server stops at the first progress line (after a second),
// well inside the measured 3 s, so that lifecycles meant to start in the measured time fail
// however late the line is read.
func TestBenchLifecycleEndsWhenTheServerStops(t *testing.T) {
	srv := servertest.Start(t, highLimits...)
	c := startCLI(t, "bench", "lifecycle", "--url", srv.URL, "--secret", servertest.Secret, "--pairs", "2",
		"--duration", "3s", "--warmup", "0s", "--step-timeout", "200ms", "--json")
	c.waitFor(`completed [1-9]`)
	srv.Stop()
	stopped := time.Now()
	if err := c.wait(); err != nil {
		t.Fatalf("%v\n%s", err, c.out.String())
	}
	// At most the rest of the 3 s, then a failed step and the cleanup's two requests, each
	// within --step-timeout, for the lifecycle in flight and one more: well under 6 s (a
	// cleanup that waited 5 s whatever --step-timeout took longer).
	if took := time.Since(stopped); took > 6*time.Second {
		t.Errorf("the run ended %v after the server stopped, want under 6s with --step-timeout 200ms", took)
	}
	line := c.waitFor(`(?m)^\{.*\}$`)[0]
	var rep lifecycleReport
	decodeReport(t, line, &rep)
	if rep.Lifecycles == 0 || len(rep.Errors) == 0 {
		t.Errorf("report %+v, want the lifecycles before the stop and errors after it", rep)
	}
}

// TestLifecycleFailureKeepsItsMeasuredSteps: a lifecycle that fails after its devices rang and
// its caller saw the accept still gives those samples of inviteToRing and acceptToCaller (the
// steps were measured; only the whole lifecycle was not), and its error.
func TestLifecycleFailureKeepsItsMeasuredSteps(t *testing.T) {
	srv := servertest.Start(t, highLimits...)
	p := testPair(t, srv, "late", nil, &silentDevice{endDeaf: true})
	res, step, err := p.lifecycle(context.Background(), time.Second)
	if step != "calleeEnded" || err == nil || len(res.ring) != 2 || !res.accepted {
		t.Errorf("a device that misses the end: step %q, err %v, %d ring samples (want 2), accept %v",
			step, err, len(res.ring), res.accept)
	}
	cfg := &lifecycleConfig{pairs: 1, devices: 2, duration: time.Hour, stepTimeout: time.Second}
	r := newLifecycleRun(cfg)
	r.start = time.Now()
	r.measureStart, r.measureEnd = r.start, r.start.Add(cfg.duration)
	r.cycle = func(*lcPair, context.Context, time.Duration) (lcResult, string, error) {
		return lcResult{ring: []time.Duration{3 * time.Millisecond, 4 * time.Millisecond}, accept: 5 * time.Millisecond, accepted: true},
			"calleeEnded", fmt.Errorf("no calleeEnded event: %w", context.DeadlineExceeded)
	}
	r.one(context.Background(), nil, r.start)
	rep := r.report()
	if rep.InviteToRing.Count != 2 || rep.AcceptToCaller.Count != 1 || rep.Lifecycle.Count != 0 || rep.Errors["timeout:calleeEnded"] != 1 {
		t.Errorf("a measured lifecycle failing at its last step: inviteToRing %d samples (want 2), acceptToCaller %d (want 1), lifecycle %d (want 0), errors %v",
			rep.InviteToRing.Count, rep.AcceptToCaller.Count, rep.Lifecycle.Count, rep.Errors)
	}
}

// TestClosedLoopRateIsTheWorkInTheWindow: pairs that start together at the start of the
// measured time (no warmup) and run 60 ms lifecycles back to back do 1/0.06 lifecycles a
// second each; the one still running at the end of 100 ms counts by the share of it done in
// the measured time, not as a whole lifecycle.
func TestClosedLoopRateIsTheWorkInTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := &lifecycleConfig{pairs: 2, devices: 1, duration: 100 * time.Millisecond, stepTimeout: time.Second}
		r := newLifecycleRun(cfg)
		r.cycle = func(_ *lcPair, ctx context.Context, _ time.Duration) (lcResult, string, error) {
			time.Sleep(60 * time.Millisecond)
			return lcResult{ring: []time.Duration{time.Millisecond}, accept: time.Millisecond, accepted: true}, "", nil
		}
		rep := r.execute(context.Background(), make([]*lcPair, cfg.pairs), io.Discard)
		if want := 2 / 0.06; math.Abs(rep.LifecyclesPerSecond-want) > 0.01 {
			t.Errorf("2 pairs of 60 ms lifecycles: %.2f lifecycles/s, want %.2f (%d lifecycles started in the 100 ms)",
				rep.LifecyclesPerSecond, want, rep.Lifecycles)
		}
	})
}
