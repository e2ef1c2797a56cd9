package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dialtone/dialtone/client"
)

// cutPoints is how many times TestE2ECatchUpAfterCuts cuts a connection (ten times more with
// DIALTONE_SOAK set).
const cutPoints = 200

// R7.2: devices whose connections are cut at random points during busy multi-user calls end
// with exactly the events that never-disconnected devices of the same users got: no gap, no
// duplicate, same order. Each user has an actor device (which acts, so it is the main device),
// a stable passive device and a flaky passive device behind a cutting proxy; the two passive
// devices have the same device targets, so their histories must be equal.
func TestE2ECatchUpAfterCuts(t *testing.T) {
	ts := startServer(t, "--max-invites-per-minute", "100000", "--max-requests-per-second", "100000")
	proxy := newCutProxy(t, ts.Addr)
	const groups, perGroup = 4, 3
	type member struct{ actor, stable, flaky *device }
	members := make([][]member, groups)
	for g := range groups {
		for i := range perGroup {
			user := fmt.Sprintf("g%d-u%d", g, i)
			m := member{actor: ts.login(t, user, "actor"), stable: ts.login(t, user, "stable")}
			m.flaky = dialAt(t, proxy.URL(), user, "flaky", client.Options{})
			must(t, second(m.flaky.Login(t.Context(), token(t, user), "flaky")))
			members[g] = append(members[g], m)
		}
	}

	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for g := range groups {
		wg.Go(func() { runCalls(ctx, members[g][0].actor, members[g][1].actor, members[g][2].actor) })
	}
	for cuts := int64(soak(cutPoints)); proxy.cuts.Load() < cuts; {
		time.Sleep(time.Duration(5+proxy.cuts.Load()%20) * time.Millisecond) // cut points spread over the workload
		proxy.cutRandom()
	}
	stop()
	wg.Wait()

	for g := range groups {
		for _, m := range members[g] {
			// A barrier on the flaky device; the stable one sees the same barrier call end.
			last := ts.barrier(t, m.flaky)
			m.stable.wait(last, "cancelled "+m.stable.user+"=BeCancelled")
			stable, flaky := m.stable.history(), m.flaky.history()
			if i := firstDifference(stable, flaky); i >= 0 {
				t.Errorf("%s: the flaky device's events differ from the stable one's at %d (%d vs %d events):\nstable %q\nflaky  %q",
					m.stable.user, i, len(flaky), len(stable), around(stable, i), around(flaky, i))
			}
			if len(stable) < 10 {
				t.Errorf("%s: only %d events: the workload did not run", m.stable.user, len(stable))
			}
		}
	}
	t.Logf("%d cuts, %d events on g0-u0", proxy.cuts.Load(), len(members[0][0].stable.history()))
}

// runCalls plays advanced calls among three users until ctx ends: a rings b and c; b accepts,
// c rejects; a re-invites c, who joins; b quits; a ends. Errors are ignored: the point is the
// traffic, and every reply is durable before it is sent.
func runCalls(ctx context.Context, a, b, c *device) {
	cfg := client.OpConfig{}
	for ctx.Err() == nil {
		res, err := a.CallInvite(ctx, []string{b.user, c.user}, client.InviteConfig{Mode: client.ModeAdvanced, Timeout: 60})
		if err != nil {
			continue
		}
		id := res.CallID
		b.CallAccept(ctx, id, cfg)
		c.CallReject(ctx, id, cfg)
		a.CallingInvite(ctx, id, []string{c.user}, client.CallingInviteConfig{Timeout: 60})
		c.CallJoin(ctx, id, cfg)
		b.CallQuit(ctx, id, cfg)
		a.CallEnd(context.WithoutCancel(ctx), id, cfg) // never leave a call behind
		a, b, c = b, c, a
	}
}

// R7.3: a callInvite whose reply is lost with the connection is retried by the SDK after the
// reconnect with the same idempotency key: one call, and the reply of the first attempt.
func TestE2ESDKRetryAfterLostReplyCreatesOneCall(t *testing.T) {
	ts := startServer(t)
	proxy := newCutProxy(t, ts.Addr)
	alice := dialAt(t, proxy.URL(), "alice", "a", client.Options{})
	must(t, second(alice.Login(t.Context(), token(t, "alice"), "a")))

	proxy.discard.Store(true) // the server's reply will not reach alice
	type result struct {
		res client.CallInviteResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := alice.CallInvite(t.Context(), []string{"bob"}, client.InviteConfig{Timeout: 60})
		done <- result{res, err}
	}()
	callID := firstCallOf(t, ts, "bob")
	proxy.cutAll()
	proxy.discard.Store(false)
	r := <-done
	if r.err != nil {
		t.Fatalf("callInvite after the retry: %v", r.err)
	}
	if r.res.CallID != callID {
		t.Errorf("retry replied call %s, the first attempt created %s", r.res.CallID, callID)
	}
	list, err := alice.QueryCallInvitationList(t.Context(), 10, 0)
	must(t, err)
	if len(list.CallList) != 1 {
		t.Errorf("%d calls after a retried invite, want 1", len(list.CallList))
	}
	alice.wait(callID, "created") // the event lost with the connection is replayed on resume
}

// firstDifference returns the first index where a and b differ, or -1 when they are equal.
func firstDifference(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// around returns the elements of s near index i.
func around(s []string, i int) []string {
	return s[max(0, i-3):min(len(s), i+3)]
}

// R7.3: a callInvite whose ctx ends after its request was sent may have been carried out; the
// application that tries it again with the same idempotency key gets the first call's reply
// and no second call.
func TestE2EInviteRetriedAfterItsContextEndedCreatesOneCall(t *testing.T) {
	ts := startServer(t)
	proxy := newCutProxy(t, ts.Addr)
	alice := dialAt(t, proxy.URL(), "alice", "a", client.Options{})
	must(t, second(alice.Login(t.Context(), token(t, "alice"), "a")))

	proxy.discard.Store(true) // the server's reply will not reach alice
	key := client.NewIdempotencyKey()
	ctx, cancel := context.WithCancel(client.WithIdempotencyKey(t.Context(), key))
	done := make(chan error, 1)
	go func() {
		_, err := alice.CallInvite(ctx, []string{"bob"}, client.InviteConfig{Timeout: 60})
		done <- err
	}()
	callID := firstCallOf(t, ts, "bob")
	cancel() // the application gives up waiting, after the server carried the invite out
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("callInvite whose ctx ended: %v, want context.Canceled", err)
	}
	proxy.cutAll()
	proxy.discard.Store(false)

	res, err := alice.CallInvite(client.WithIdempotencyKey(t.Context(), key), []string{"bob"}, client.InviteConfig{Timeout: 60})
	if err != nil {
		t.Fatalf("callInvite tried again: %v", err)
	}
	if res.CallID != callID {
		t.Errorf("the invite tried again replied call %s, the first attempt created %s", res.CallID, callID)
	}
	list, err := alice.QueryCallInvitationList(t.Context(), 10, 0)
	must(t, err)
	if len(list.CallList) != 1 {
		t.Errorf("%d calls after an invite tried again with its key, want 1", len(list.CallList))
	}
}

// firstCallOf logs a device of user in and returns the call of the first event it receives:
// the call a request in flight made, whose reply is being withheld.
func firstCallOf(t *testing.T, ts *testServer, user string) string {
	t.Helper()
	watcher := ts.login(t, user, "watcher")
	var callID string
	watcher.until("a call to reach "+user, func() bool {
		if len(watcher.events) > 0 {
			callID = watcher.events[0].callID
			return true
		}
		return false
	})
	return callID
}
