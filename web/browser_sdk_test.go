package web_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/dialtone/dialtone/internal/servertest"
)

// TestBrowserSDK drives dialtone.js itself, without the demo, in headless Chromium against the
// real server: each scenario runs a script in a page of the server's and checks what the SDK
// reported to it.
func TestBrowserSDK(t *testing.T) {
	browser := startBrowser(t)
	srv := servertest.Start(t) // heartbeat every 1s, timeout 3s
	base := "http://" + srv.Addr + "/"

	t.Run("HeartbeatTimeout", func(t *testing.T) {
		// Once the page stops hearing the server, though the server still gets the client's
		// heartbeats and keeps the connection open, the client drops the connection after the
		// heartbeat timeout and says so, then reconnects.
		got := sdkPage(t, browser, base).run(fmt.Sprintf(`(async () => {
			const { Dialtone } = await import('/dialtone.js');
			const sockets = [];
			class Deafened extends WebSocket {
				constructor(...args) {
					super(...args);
					this.deaf = false;
					sockets.push(this);
				}
				set onmessage(fn) {
					super.onmessage = fn && ((ev) => { if (!this.deaf) fn(ev); });
				}
				get onmessage() { return super.onmessage; }
			}
			const c = new Dialtone({ WebSocket: Deafened, storage: null });
			const states = [];
			let reconnected;
			const back = new Promise((resolve) => { reconnected = resolve; });
			c.on('connectionStateChanged', ({ state, reason }) => {
				states.push(reason ? state + ' ' + reason.reason : state);
				if (state === 'Connected' && states.length > 2) reconnected();
			});
			await c.login(%q, 'laptop');
			for (const ws of sockets) ws.deaf = true;
			await back;
			c.close();
			return states;
		})()`, servertest.Token(t, "hana")))
		want := []string{"Connecting", "Connected", "Reconnecting heartbeatTimeout", "Connected", "Disconnected closed"}
		if !slices.Equal(got, want) {
			t.Errorf("connection states %q, want %q", got, want)
		}
	})

	t.Run("LoginWhileLoginInFlight", func(t *testing.T) {
		// A login called while another is in flight waits for it, as the Go SDK's Login does:
		// after a refused one it makes its own attempt; after a successful one it is refused,
		// a client logging in once.
		got := sdkPage(t, browser, base).run(fmt.Sprintf(`(async () => {
			const { Dialtone } = await import('/dialtone.js');
			const token = %q;
			const outcomes = [];
			const outcome = (name, p) => p.then((r) => outcomes.push(name + ' ' + r.userID),
				(e) => outcomes.push(name + ' ' + (e.code || e.reason)));
			const a = new Dialtone({ storage: null });
			await Promise.all([outcome('refused', a.login('not-a-token', 'laptop')),
				outcome('next', a.login(token, 'laptop'))]);
			a.close();
			const b = new Dialtone({ storage: null });
			await Promise.all([outcome('first', b.login(token, 'phone')), outcome('second', b.login(token, 'phone'))]);
			b.close();
			return outcomes;
		})()`, servertest.Token(t, "ines")))
		want := []string{"refused 6000291", "next ines", "first ines", "second alreadyLoggedIn"}
		if !slices.Equal(got, want) {
			t.Errorf("login outcomes in order %q, want %q", got, want)
		}
	})

	t.Run("LogoutLostWithTheConnection", func(t *testing.T) {
		// R6.1, R4.3: a logout lost with its connection is sent again once the client has
		// reconnected, so the device is still lost at once: logout() resolves and the call it
		// was making is cancelled, long before the server's heartbeatTimeout (60 s here).
		srv := servertest.Start(t, "--heartbeat-interval", "10s", "--heartbeat-timeout", "60s")
		got := sdkPage(t, browser, "http://"+srv.Addr+"/").run(fmt.Sprintf(`(async () => {
			const { Dialtone } = await import('/dialtone.js');
			let lost = false;
			class LosesTheFirstLogout extends WebSocket {
				send(data) {
					if (!lost && /"op":"logout"/.test(data)) {
						lost = true; // never reaches the server; the connection drops
						this.close();
						return;
					}
					super.send(data);
				}
			}
			const bob = new Dialtone({ storage: null });
			let cancelled;
			const bobCancelled = new Promise((resolve) => { cancelled = resolve; });
			bob.on('callInvitationCancelled', (ev) => cancelled(ev.callID));
			let received;
			const bobRung = new Promise((resolve) => { received = resolve; });
			bob.on('callInvitationReceived', (ev) => received(ev.callID));
			await bob.login(%q, 'phone');
			const alice = new Dialtone({ WebSocket: LosesTheFirstLogout, storage: null, minBackoffMs: 10 });
			const states = [];
			alice.on('connectionStateChanged', ({ state, reason }) => {
				states.push(reason ? state + ' ' + reason.reason : state);
			});
			await alice.login(%q, 'laptop');
			const { callID } = await alice.callInvite(['bob'], { timeout: 60 });
			const rung = await bobRung;
			const outcome = await alice.logout().then(() => 'logout resolved', (e) => 'logout ' + e.reason);
			const late = new Promise((resolve) => setTimeout(() => resolve('not cancelled'), 8000));
			const bobGot = await Promise.race([bobCancelled, late]);
			bob.close();
			return [outcome, rung === callID ? 'rung' : 'rung ' + rung,
				bobGot === callID ? 'cancelled' : bobGot, ...states];
		})()`, servertest.Token(t, "bob"), servertest.Token(t, "alice")))
		want := []string{"logout resolved", "rung", "cancelled",
			"Connecting", "Connected", "Reconnecting network", "Connected", "Disconnected loggedOut"}
		if !slices.Equal(got, want) {
			t.Errorf("outcomes %q, want %q", got, want)
		}
	})

	t.Run("AbortAndEnd", func(t *testing.T) {
		// docs/behaviour.md §12, "The end of a browser SDK client": in a page, against the real
		// server, an operation whose AbortSignal aborts while its reply is on its way rejects at
		// once, and its reply, when it comes, is not taken for the next request; after logout()
		// every method rejects at once with loggedOut, and no listener is called again.
		got := sdkPage(t, browser, base).run(fmt.Sprintf(`(async () => {
			const { Dialtone } = await import('/dialtone.js');
			const c = new Dialtone({ storage: null });
			const out = [];
			let ended = false;
			c.on('connectionStateChanged', ({ state, reason }) => {
				if (ended) out.push('listener called after the end: ' + state);
				if (state === 'Disconnected') { ended = true; out.push('Disconnected ' + reason.reason); }
			});
			await c.login(%q, 'laptop');
			const ctl = new AbortController();
			const aborted = c.queryCallInvitationList(5, 0, { signal: ctl.signal });
			ctl.abort();
			out.push(await aborted.then(() => 'resolved', (e) => 'first ' + e.reason));
			const next = await c.queryCall('no-such-call').then(() => 'resolved', (e) => 'next ' + e.code);
			out.push(next);
			await c.logout();
			const calls = [() => c.login(%q, 'laptop'), () => c.logout(), () => c.callInvite(['bob']),
				() => c.callAccept('x'), () => c.callReceived('x'), () => c.queryCall('x'),
				() => c.queryCallInvitationList(), () => c.pushUnregister('webhook', 't')];
			const t0 = performance.now();
			const reasons = await Promise.all(calls.map((f) => f().then(() => 'resolved', (e) => e.reason)));
			out.push(reasons.every((r) => r === 'loggedOut') ? 'all loggedOut' : 'got ' + reasons.join(' '));
			out.push(performance.now() - t0 < 100 ? 'at once' : 'slow');
			c.close();
			await new Promise((r) => setTimeout(r, 100));
			return out;
		})()`, servertest.Token(t, "jo"), servertest.Token(t, "jo")))
		want := []string{"first aborted", "next 6000276", "Disconnected loggedOut", "all loggedOut", "at once"}
		if !slices.Equal(got, want) {
			t.Errorf("outcomes %q, want %q", got, want)
		}
	})
}

// TestBrowserHiddenPage checks that the SDK keeps its session in a page Chrome has hidden for
// long, whose chained timers it runs once a minute (intensive wake up throttling: a timer set
// from a timer's callback five deep, or a setInterval's fifth run, waits for a wake up aligned
// to a minute). Heartbeats timed by such timers would be a minute apart, far past the server's
// heartbeat timeout. The browser here throttles a page hidden for a second (the feature's grace
// period, five minutes by default) and the server's timeout is 6 s.
func TestBrowserHiddenPage(t *testing.T) {
	browser := startBrowser(t,
		chromedp.Flag("disable-background-timer-throttling", false),
		chromedp.Flag("disable-backgrounding-occluded-windows", false),
		chromedp.Flag("disable-renderer-backgrounding", false),
		chromedp.Flag("enable-features", "IntensiveWakeUpThrottling:grace_period_seconds/1"))
	srv := servertest.Start(t, "--heartbeat-interval", "2s", "--heartbeat-timeout", "6s")
	tb := sdkPage(t, browser, "http://"+srv.Addr+"/")
	got := tb.run(fmt.Sprintf(`(async () => {
		const { Dialtone } = await import('/dialtone.js');
		const c = new Dialtone({ storage: null });
		window.states = [];
		c.on('connectionStateChanged', ({ state, reason }) => states.push(reason ? state + ' ' + reason.reason : state));
		await c.login(%q, 'laptop');
		// A probe of the throttling: an interval of a second, which Chrome runs once a minute
		// from its fifth run on once the page is hidden.
		window.probe = [];
		setInterval(() => probe.push(performance.now()), 1000);
		return states;
	})()`, servertest.Token(t, "hidden")))
	if want := []string{"Connecting", "Connected"}; !slices.Equal(got, want) {
		t.Fatalf("connection states after login %q, want %q", got, want)
	}
	tb.minimize()
	time.Sleep(30 * time.Second) // the old interval-timed heartbeats were kicked within 20 s
	got = tb.run(`(async () => {
		// Unthrottled, a hidden page runs it every second or two; throttled, its runs wait for the
		// wake ups of each minute, the first perhaps a few seconds away, then the next.
		const runs = [...probe, performance.now()];
		const gaps = runs.slice(1).map((at, i) => at - runs[i]);
		return [document.visibilityState, String(Math.max(...gaps) >= 10000), ...states];
	})()`)
	if len(got) < 2 || got[0] != "hidden" || got[1] != "true" {
		t.Fatalf("the page was not hidden and throttled (visibility, an interval held for 10 s or more: %q): "+
			"the test proves nothing", got)
	}
	if want := []string{"Connecting", "Connected"}; !slices.Equal(got[2:], want) {
		t.Errorf("connection states of the hidden page %q, want %q: the session was dropped", got[2:], want)
	}
}

// minimize minimizes the tab's window, which hides its page (document.visibilityState).
func (tb *tab) minimize() {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	id := target.ID(chromedp.FromContext(tb.ctx).Target.TargetID)
	w, err := chromedp.CallBrowser(ctx, cdpbrowser.GetWindowForTarget, cdpbrowser.GetWindowForTargetParams{TargetID: id})
	if err == nil {
		_, err = chromedp.CallBrowser(ctx, cdpbrowser.SetWindowBounds, cdpbrowser.SetWindowBoundsParams{
			WindowID: w.WindowID, Bounds: &cdpbrowser.Bounds{WindowState: cdpbrowser.WindowStateMinimized}})
	}
	if err != nil {
		tb.t.Fatalf("minimize the window: %v", err)
	}
}

// sdkPage opens a page of the server in a new browser context (own storage), without signing
// in. It fails the test at its end if the page logged an error or threw.
func sdkPage(t *testing.T, browser context.Context, base string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	tb := &tab{t: t, ctx: ctx, user: "page"}
	if err := chromedp.Do(ctx); err != nil { // creates the tab; no timeout on this first call
		t.Fatalf("open tab: %v", err)
	}
	if err := chromedp.Listen(ctx, tb.onEvent); err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		for _, e := range tb.errors {
			t.Errorf("page: %s", e)
		}
		cancel()
	})
	tb.do(chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS(`#user`)))
	return tb
}

// run evaluates script, an expression whose value is a promise of strings, and returns them.
func (tb *tab) run(script string) []string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](script, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("script: %v", err)
	}
	return got
}
