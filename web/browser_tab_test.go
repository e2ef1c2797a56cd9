package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// stepTimeout bounds one step of a scenario (a click and the wait for its effect).
const stepTimeout = 15 * time.Second

// reportPolicyViolations makes the page log what its Content-Security-Policy blocked as a
// console error, which fails the test (openTab).
const reportPolicyViolations = `document.addEventListener('securitypolicyviolation', (e) =>
	console.error('Content-Security-Policy blocked', e.blockedURI, 'by', e.violatedDirective));`

// onEveryPage runs script in every document the tab loads from now on, before the page's own.
func onEveryPage(script string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument,
			page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
		return chromedp.Void{}, err
	}
}

// Call modes of the ring form.
const (
	General  = "0"
	Advanced = "1"
)

// tab is one user's page in its own browser context.
type tab struct {
	t    *testing.T
	ctx  context.Context
	user string

	mu     sync.Mutex
	errors []string // uncaught exceptions and console errors
}

// openTab opens the demo in a new browser context, signs in as user and waits for the app. It
// fails the test at its end if the page logged an error or threw.
func openTab(t *testing.T, browser context.Context, base, user string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	tb := &tab{t: t, ctx: ctx, user: user}
	if err := chromedp.Do(ctx); err != nil { // creates the tab; no timeout on this first call
		t.Fatalf("%s: open tab: %v", user, err)
	}
	if err := chromedp.Listen(ctx, tb.onEvent); err != nil {
		t.Fatalf("%s: listen: %v", user, err)
	}
	t.Cleanup(func() {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		for _, e := range tb.errors {
			t.Errorf("%s's page: %s", user, e)
		}
		cancel()
	})
	tb.do(onEveryPage(reportPolicyViolations), chromedp.EmulateViewport(1200, 820),
		chromedp.Navigate(base),
		chromedp.WaitVisible(chromedp.CSS(`#user`)),
		chromedp.SendKeys(chromedp.CSS(`#user`), user),
		click(`#signin-form button[type=submit]`),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`body[data-user=%q] #conn[data-state=Connected]`, user))))
	return tb
}

func (tb *tab) onEvent(ev any) {
	var msg string
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg = "uncaught: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			msg += " " + e.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.ConsoleAPICalledTypeError && e.Type != runtime.ConsoleAPICalledTypeWarning {
			return
		}
		var parts []string
		for _, a := range e.Args {
			parts = append(parts, string(a.Value)+a.Description)
		}
		msg = fmt.Sprintf("console.%s: %s", e.Type, strings.Join(parts, " "))
	default:
		return
	}
	tb.mu.Lock()
	tb.errors = append(tb.errors, msg)
	tb.mu.Unlock()
}

// do runs steps in the tab, each group bounded by stepTimeout, and fails the test with the
// step that failed (from 1) and what the page shows: its status line, incoming invitations,
// calls, history and log.
func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	for i, step := range steps {
		if err := chromedp.Do(ctx, step); err != nil {
			page, _ := chromedp.Run(tb.statusCtx(), chromedp.Evaluate[string](pageDump))
			tb.t.Fatalf("%s: step %d of %d: %v\npage: %s", tb.user, i+1, len(steps), err, page)
		}
	}
}

// pageDump returns what the demo page shows, for a failure's message.
const pageDump = `['#status', '#incoming', '#calls', '#history'].map((sel) => document.querySelector(sel).innerText).join(' | ')
	+ ' | ' + document.querySelector('#history-page').textContent
	+ (document.querySelector('#history-older').disabled ? ' (no older page)' : '')
	+ '\nlog:\n' + [...document.querySelectorAll('#log li')].reverse().map((li) => li.textContent).join('\n')`

func (tb *tab) statusCtx() context.Context {
	ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
	tb.t.Cleanup(cancel)
	return ctx
}

// wantCallStates checks the statuses the call card showed since recordCallStates ran.
func (tb *tab) wantCallStates(want ...string) {
	tb.t.Helper()
	shown, err := chromedp.Run(tb.statusCtx(), chromedp.Evaluate[[]string](`window.callStates`))
	if err != nil || !slices.Equal(shown, want) {
		tb.t.Errorf("%s's call card showed %q (%v); want %q", tb.user, shown, err, want)
	}
}

// wantCallStatesOf checks that the statuses the call card showed since recordCallStates ran are
// one of wants.
func (tb *tab) wantCallStatesOf(wants ...[]string) {
	tb.t.Helper()
	shown, err := chromedp.Run(tb.statusCtx(), chromedp.Evaluate[[]string](`window.callStates`))
	if err != nil || !slices.ContainsFunc(wants, func(want []string) bool { return slices.Equal(shown, want) }) {
		tb.t.Errorf("%s's call card showed %q (%v); want one of %q", tb.user, shown, err, wants)
	}
}

// click clicks the first visible element that the CSS selector sel matches. It is made once:
// the demo keeps a button in place while its card is redrawn, so a click on it is never lost
// (see ClickWhileEventsRedraw).
func click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.CSS(sel))
}

// clickAcross clicks the element sel matches as a user whose click lands as an event arrives:
// it presses the mouse on it, runs during, which makes the page redraw, then releases it.
func (tb *tab) clickAcross(sel string, during func()) {
	tb.t.Helper()
	tb.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	at, err := chromedp.Run(tb.statusCtx(), chromedp.Evaluate[[]float64](fmt.Sprintf(`(() => {
		const el = document.querySelector(%q);
		el.scrollIntoView({ block: 'center' });
		const r = el.getBoundingClientRect();
		return [r.x + r.width / 2, r.y + r.height / 2];
	})()`, sel)))
	if err != nil || len(at) != 2 {
		tb.t.Fatalf("%s: where is %s: %v %v", tb.user, sel, at, err)
	}
	tb.do(chromedp.MouseEvent(chromedp.MousePressed, at[0], at[1], chromedp.ButtonLeft, chromedp.ClickCount(1)))
	during()
	tb.do(chromedp.MouseEvent(chromedp.MouseReleased, at[0], at[1], chromedp.ButtonLeft, chromedp.ClickCount(1)))
}

// ring calls invitees from the ring form with the given mode and timeout (seconds), and waits
// for the new call's card. It fails the test with the status line if the ring was refused: a
// card of an earlier call is not taken for the new one.
func (tb *tab) ring(mode string, timeout int, invitees ...string) {
	tb.t.Helper()
	if status := tb.pressRing(mode, timeout, invitees...); strings.HasPrefix(status, "Ring:") {
		tb.t.Fatalf("%s: ring %q: %q", tb.user, invitees, status)
	}
}

// pressRing fills in the ring form, presses Ring and waits for either a new call's card or the
// ring's failure in the status line. It returns the status line.
func (tb *tab) pressRing(mode string, timeout int, invitees ...string) string {
	tb.t.Helper()
	shown, err := chromedp.Run(tb.statusCtx(), chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#calls [data-call]')].map((c) => c.dataset.call)`))
	if err != nil {
		tb.t.Fatalf("%s: read the call cards: %v", tb.user, err)
	}
	before, _ := json.Marshal(append([]string{}, shown...))
	picked, _ := json.Marshal(append([]string{}, invitees...))
	steps := []chromedp.Action[chromedp.Void]{
		// Ticks exactly the invitees' boxes: the form keeps those of the last ring.
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => {
			const boxes = [...document.querySelectorAll('#people input')];
			if (!%[1]s.every((u) => boxes.some((b) => b.value === u))) return false;
			for (const b of boxes) if (b.checked !== %[1]s.includes(b.value)) b.click();
			return true;
		})()`, picked), chromedp.WithPollingInterval(20*time.Millisecond)),
		click(fmt.Sprintf(`input[name=mode][value=%q]`, mode)),
		chromedp.SetValue(chromedp.CSS(`#timeout`), fmt.Sprint(timeout)),
		click(`#ring-button`),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector('#status').textContent.startsWith('Ring:')
			|| [...document.querySelectorAll('#calls [data-call]')].some((c) => !%s.includes(c.dataset.call))`, before),
			chromedp.WithPollingInterval(20*time.Millisecond)),
	}
	tb.do(steps...)
	return tb.status()
}

// status returns the page's status line.
func (tb *tab) status() string {
	tb.t.Helper()
	status, err := chromedp.Run(tb.statusCtx(), chromedp.Evaluate[string](`document.querySelector('#status').textContent`))
	if err != nil {
		tb.t.Fatalf("%s: read the status line: %v", tb.user, err)
	}
	return status
}

// reloadWith reloads the tab with script run in every page it loads from now on (onEveryPage),
// and waits until the page is signed in again as the tab's user.
func (tb *tab) reloadWith(script string) {
	tb.t.Helper()
	tb.do(onEveryPage(script), chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`body[data-user=%q] #conn[data-state=Connected]`, tb.user))))
}

// endCall ends the call whose End button tb shows, and waits until tb and every one of others
// show that call Ended.
func endCall(tb *tab, others ...*tab) {
	tb.t.Helper()
	key, err := chromedp.Run(tb.statusCtx(), chromedp.Evaluate[string](
		`document.querySelector('#calls button[data-key^="end-"]')?.dataset.key ?? ''`))
	if err != nil || key == "" {
		tb.t.Fatalf("%s: no call to end (%v)", tb.user, err)
	}
	tb.do(click(fmt.Sprintf(`#calls button[data-key=%q]`, key)))
	ended := chromedp.WaitVisible(chromedp.CSS(
		fmt.Sprintf(`#calls [data-call=%q][data-state="Ended"]`, strings.TrimPrefix(key, "end-"))))
	for _, each := range append([]*tab{tb}, others...) {
		each.do(ended)
	}
}

// answer accepts the invitation ringing in the tab and waits until the caller's tab shows it.
func (tb *tab) answer(caller *tab) {
	tb.t.Helper()
	tb.do(click(`#incoming button.accept`))
	caller.waitUserState(tb.user, "Accepted")
}

// inviteMore invites user into the call shown in the tab (advanced mode, R3.6) and waits until
// the card shows the user invited.
func (tb *tab) inviteMore(user string) {
	tb.t.Helper()
	tb.do(chromedp.SetValue(chromedp.CSS(`#calls input.more`), user), click(`#calls .invite-more button`),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(
			`#calls li[data-user=%q]:is([data-state=Inviting],[data-state=NotYetReceived],[data-state=Received])`, user))))
}

// waitUserState waits until the tab's Calls panel shows user in state (a CallUserState name).
func (tb *tab) waitUserState(user, state string) {
	tb.t.Helper()
	tb.do(chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#calls li[data-user=%q][data-state=%q]`, user, state))))
}

func (tb *tab) screenshot(path string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatalf("%s: screenshot: %v", tb.user, err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// startBrowser starts one headless Chromium for the test, with a fresh profile, and with the
// options of extra after its own (a flag given again replaces it; false removes it). Without
// Chromium the test is skipped, unless CI is set: there it fails.
func startBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := findChromium()
	if path == "" {
		msg := "Chromium not found (looked for /usr/bin/chromium, chromium, chromium-browser, google-chrome); " +
			"install it (apt-get install -y chromium) to run the browser tests"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests may run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.WindowSize(1200, 820),
	}
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return ctx
}

func findChromium() string {
	if p := os.Getenv("DIALTONE_CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}
