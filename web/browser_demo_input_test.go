package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dialtone/dialtone/internal/servertest"
)

// The demo's scenarios of what a user types and presses: bad input in the forms, and buttons
// pressed while their request is on its way.

// holdReplies makes the page's WebSockets keep from the page every reply whose frame matches
// window.hold (a RegExp, none at first) until window.releaseReplies is called.
const holdReplies = `{
	const Native = WebSocket;
	const held = [];
	window.hold = null;
	window.releaseReplies = () => {
		window.hold = null;
		for (const deliver of held.splice(0)) deliver();
	};
	window.WebSocket = class extends Native {
		set onmessage(fn) {
			super.onmessage = fn && ((ev) => {
				if (window.hold?.test(ev.data) && /^\{"id":/.test(ev.data)) held.push(() => fn(ev));
				else fn(ev);
			});
		}
		get onmessage() { return super.onmessage; }
	};
}`

// poll waits until the JavaScript expression cond is true in the tab.
func poll(cond string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(20*time.Millisecond))
}

// wantTrue fails the test with what when the JavaScript expression cond is not true in the tab now.
func (tb *tab) wantTrue(cond, what string) {
	tb.t.Helper()
	ok, err := chromedp.Run(tb.statusCtx(), chromedp.Evaluate[bool](cond))
	if err != nil || !ok {
		tb.t.Errorf("%s: %s: %s is not true (%v); status line %q", tb.user, what, cond, err, tb.status())
	}
}

// shownStatus waits, up to 3 s, until the status line shows something other than a sign-in
// on its way, and returns it ("" if it shows nothing).
func (tb *tab) shownStatus() string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 3*time.Second)
	defer cancel()
	_, _ = chromedp.Run(ctx, poll(`!['', 'Signing in…'].includes(document.querySelector('#status').textContent)`))
	return tb.status()
}

// demoButtonsWaitForReplies: a button whose request is on its way is disabled, so a second press
// sends nothing twice, and is enabled again, with the focus on it, when a refusal comes.
func demoButtonsWaitForReplies(t *testing.T, d demo) {
	// Sign in: the button waits for the login's reply.
	ctx, cancel := chromedp.NewContext(d.browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	kim := &tab{t: t, ctx: ctx, user: "kim"}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	signIn := `#signin-form button[type=submit]`
	kim.do(onEveryPage(holdReplies), chromedp.Navigate(d.base), chromedp.WaitVisible(chromedp.CSS(`#user`)),
		chromedp.Evaluate[chromedp.Void](`window.hold = /"headSeq":/`),
		chromedp.SendKeys(chromedp.CSS(`#user`), "kim"), click(signIn),
		poll(`window.WebSocket && document.querySelector('#status').textContent === 'Signing in…'`))
	kim.wantTrue(`document.querySelector('`+signIn+`').disabled`, "Sign in while its login is on its way")
	kim.do(chromedp.Evaluate[chromedp.Void](`window.releaseReplies()`),
		chromedp.WaitVisible(chromedp.CSS(`body[data-user="kim"] #conn[data-state=Connected]`)))

	// Ring: a refused ring (the caller itself, R3.1: 6000281) enables the button again.
	kim.do(chromedp.SetValue(chromedp.CSS(`#others`), "kim"),
		chromedp.Evaluate[chromedp.Void](`window.hold = /"error":/`), click(`#ring-button`))
	kim.wantTrue(`document.querySelector('#ring-button').disabled`, "Ring while its request is on its way")
	kim.do(chromedp.Evaluate[chromedp.Void](`window.releaseReplies()`))
	if got := kim.shownStatus(); !strings.HasPrefix(got, "Ring:") || !strings.Contains(got, "6000281") {
		t.Errorf("kim's status line after ringing herself: %q, want the refusal 6000281", got)
	}
	kim.wantTrue(`!document.querySelector('#ring-button').disabled && document.activeElement?.id === 'ring-button'`,
		"Ring after its refusal")

	// History: Refresh, Older and Newer wait for the page being read.
	kim.do(chromedp.Evaluate[chromedp.Void](`window.hold = /"callList":/`), click(`#history-refresh`))
	kim.wantTrue(`['#history-refresh', '#history-older', '#history-newer'].every((s) => document.querySelector(s).disabled)`,
		"the history's buttons while a page of it is read")
	kim.do(chromedp.Evaluate[chromedp.Void](`window.releaseReplies()`),
		poll(`!document.querySelector('#history-refresh').disabled`))

	// Accept: both answers wait for the reply; a second press sends nothing (no 6000274).
	lena := d.open(t, "lena")
	lena.ring(General, 30, "kim")
	// The accept's event may come before its reply and end the ring: the second press, and the
	// look at the buttons, come at once after the first.
	kim.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.accept`)),
		chromedp.Evaluate[chromedp.Void](`{
			window.hold = /"result":\{"callID"/;
			const accept = document.querySelector('#incoming button.accept');
			accept.click();
			window.answersDisabled = accept.disabled && document.querySelector('#incoming button.reject').disabled;
			accept.click();
		}`))
	kim.wantTrue(`window.answersDisabled`, "Accept and Reject while an accept is on its way")
	kim.do(chromedp.Evaluate[chromedp.Void](`window.releaseReplies()`))
	lena.waitUserState("kim", "Accepted")
	kim.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)), chromedp.WaitVisible(chromedp.CSS(`#no-incoming`)))
	if got := kim.status(); got != "" {
		t.Errorf("kim's status line after pressing Accept twice: %q, want none", got)
	}

	// Sign out waits for its logout (which waits out a reconnection, R6.1).
	kim.do(chromedp.Evaluate[chromedp.Void](`{
		const out = document.querySelector('#signout');
		out.click();
		window.signOutDisabled = out.disabled;
	}`), chromedp.WaitVisible(chromedp.CSS(`#signin`)))
	kim.wantTrue(`window.signOutDisabled`, "Sign out while its logout is on its way")
}

// demoBadInputIsACodedError: what the forms refuse shows in the status line with its code
// (behaviour §8) and keeps what was typed; nothing fails silently.
func demoBadInputIsACodedError(t *testing.T, d demo) {
	nora := d.open(t, "nora")
	mark := d.open(t, "mark")

	// Nobody to ring (R3.1: an empty list is 6000001).
	mark.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#others').value = ' , ,, '`), click(`#ring-button`))
	if got := mark.shownStatus(); !strings.HasPrefix(got, "Ring:") || !strings.Contains(got, "(InvalidParameter, 6000001)") {
		t.Errorf("mark's status line after ringing nobody: %q, want the code 6000001", got)
	}
	// The ring time is checked by the form itself, which says why at the field, and sends nothing.
	mark.do(chromedp.SetValue(chromedp.CSS(`#others`), "nora"), chromedp.SetValue(chromedp.CSS(`#timeout`), "0"),
		click(`#ring-button`))
	mark.wantTrue(`document.querySelector('#timeout').validationMessage !== ''`, "a ring for 0 s: the field says why")
	mark.wantTrue(`!document.querySelector('#calls [data-call]')`, "a ring for 0 s: no call")
	// A repeated and an invalid name: the invalid one is reported by name and code.
	mark.do(chromedp.SetValue(chromedp.CSS(`#others`), "b*d, nora nora"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#status').textContent = ''`))
	mark.ring(Advanced, 30)
	if got := mark.status(); got != "Not invited: b*d (InvalidParameter, 6000001)" {
		t.Errorf("mark's status line after ringing %q: %q, want b*d refused with its code", "b*d, nora nora", got)
	}
	mark.wantTrue(`document.querySelectorAll('#calls li[data-user="nora"]').length === 1`, "nora rung once")
	mark.do(chromedp.SetValue(chromedp.CSS(`#others`), " "))
	nora.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.accept`)), click(`#incoming button.accept`))
	mark.waitUserState("nora", "Accepted")

	// Invite more: nobody, a bad ring time, a huge one.
	invite := func(names, timeout string) string {
		mark.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector('#timeout').value = %q;
			document.querySelector('#calls input.more').value = %q;
			document.querySelector('#status').textContent = ''`, timeout, names)),
			click(`#calls .invite-more button`))
		got := mark.shownStatus()
		if !strings.HasPrefix(got, "Invite:") || !strings.Contains(got, "(InvalidParameter, 6000001)") {
			t.Errorf("mark's status line after inviting %q for %q s: %q, want the code 6000001", names, timeout, got)
		}
		kept, _ := chromedp.Run(mark.statusCtx(), chromedp.Value(chromedp.CSS(`#calls input.more`)))
		if kept != names {
			t.Errorf("the invite-more field after inviting %q for %q s was refused: %q, want what was typed", names, timeout, kept)
		}
		return got
	}
	invite("", "30")
	invite(" , ", "30")
	invite("olga", "0")
	invite("olga", "99999")
	mark.wantTrue(`!document.querySelector('#calls li[data-user="olga"]')`, "olga invited for a ring time refused")
	endCall(mark, nora)

	// A name that is not a userID (behaviour §1) at sign-in.
	ctx, cancel := chromedp.NewContext(d.browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	bad := &tab{t: t, ctx: ctx, user: "al ice"}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	bad.do(chromedp.Navigate(d.base), chromedp.WaitVisible(chromedp.CSS(`#user`)),
		chromedp.SendKeys(chromedp.CSS(`#user`), "al ice"), click(`#signin-form button[type=submit]`))
	if got := bad.shownStatus(); !strings.HasPrefix(got, "Sign-in failed: invalid user name") || !strings.Contains(got, "(HTTP 400)") {
		t.Errorf("the status line after signing in as %q: %q, want the reason and its code", "al ice", got)
	}
	bad.wantTrue(`!document.querySelector('#signin-form button[type=submit]').disabled`, "Sign in after a refusal")
}

// demoFocusFollowsTheAnsweredCall: a keyboard user who answers, cancels or dismisses is not sent
// back to the top of the page when the button pressed goes away: the focus moves to the call's
// card, or for a dismissed one to the next card.
func demoFocusFollowsTheAnsweredCall(t *testing.T, d demo) {
	uma := d.open(t, "uma")
	theo := d.open(t, "theo")
	theo.ring(General, 30, "uma")
	uma.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.accept`)),
		chromedp.Focus(chromedp.CSS(`#incoming button.accept`)), chromedp.KeyEvent("\r"))
	theo.waitUserState("uma", "Accepted")
	uma.do(poll(`!document.querySelector('#incoming [data-call]')`))
	uma.wantTrue(`document.activeElement.matches('#calls [data-call]')`, "the focus after Enter on Accept")

	theo.ring(General, 30, "uma")
	theo.do(chromedp.Focus(chromedp.CSS(`#calls button[data-key^="cancel-"]`)), chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"] li[data-user="uma"][data-state="BeCancelled"]`)))
	theo.wantTrue(`document.activeElement.matches('#calls [data-call][data-state="Ended"]')`, "the focus after Enter on Cancel call")

	// Dismiss takes its card away: the focus moves to the next card, then to the panel's heading.
	theo.do(chromedp.Focus(chromedp.CSS(`#calls [data-call] button[data-key^="dismiss-"]`)), chromedp.KeyEvent("\r"),
		poll(`document.querySelectorAll('#calls [data-call]').length === 1`))
	theo.wantTrue(`document.activeElement.matches('#calls [data-call]')`, "the focus after Enter on Dismiss")
	theo.do(chromedp.Focus(chromedp.CSS(`#calls [data-call] button[data-key^="dismiss-"]`)), chromedp.KeyEvent("\r"),
		poll(`!document.querySelector('#calls [data-call]')`))
	theo.wantTrue(`document.activeElement.id === 'calls-h'`, "the focus after Enter on the last Dismiss")
}

// demoSignInWhileTheServerIsDown: a sign-in that cannot reach the server says so, and the
// button can be pressed again.
func demoSignInWhileTheServerIsDown(t *testing.T, d demo) {
	srv := servertest.Start(t)
	ctx, cancel := chromedp.NewContext(d.browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	pat := &tab{t: t, ctx: ctx, user: "pat"}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	pat.do(chromedp.Navigate("http://"+srv.Addr+"/"), chromedp.WaitVisible(chromedp.CSS(`#user`)))
	srv.Stop()
	pat.do(chromedp.SendKeys(chromedp.CSS(`#user`), "pat"), click(`#signin-form button[type=submit]`))
	if got := pat.shownStatus(); !strings.HasPrefix(got, "Sign-in failed: the server does not answer") {
		t.Errorf("pat's status line after signing in with the server down: %q, want that the server does not answer", got)
	}
	pat.wantTrue(`!document.querySelector('#signin-form button[type=submit]').disabled`, "Sign in after the server did not answer")
}

// refuseLogouts makes the page's WebSockets answer the page's next logout themselves, without
// sending it, with the refusal of a server that cannot write (6000270): the server changed
// nothing, and the connection stays logged in (protocol.md `logout`).
const refuseLogouts = `{
	const Native = WebSocket;
	window.logoutsToRefuse = 1;
	window.WebSocket = class extends Native {
		send(text) {
			const f = JSON.parse(text);
			if (f.op !== 'logout' || window.logoutsToRefuse === 0) {
				super.send(text);
				return;
			}
			window.logoutsToRefuse--;
			const refusal = JSON.stringify({ id: f.id, error: { code: 6000270, message: 'storage unavailable, retry later' } });
			setTimeout(() => this.onmessage?.({ data: refusal }), 0);
		}
	};
}`

// demoRefusedSignOutKeepsTheSession: a Sign out whose logout the server refuses leaves the
// device logged in (docs/behaviour.md §12, "A Go Logout that fails", R6.1): the page says so with
// the code (behaviour §8) and stays signed in, its session running, so that pressing Sign out
// again logs the device out, rather than the page showing a sign-in while the device still
// makes its call.
func demoRefusedSignOutKeepsTheSession(t *testing.T, d demo) {
	yann := d.open(t, "yann")
	zoe := d.open(t, "zoe")
	zoe.reloadWith(refuseLogouts)
	zoe.ring(General, 60, "yann")
	yann.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.accept`)))
	zoe.do(click(`#signout`))
	if got := zoe.shownStatus(); !strings.HasPrefix(got, "Sign out:") || !strings.Contains(got, "(Internal, 6000270)") {
		t.Errorf("zoe's status line after a refused sign out: %q, want the refusal with its code", got)
	}
	zoe.wantTrue(`document.body.dataset.user === 'zoe' && !document.querySelector('#app').hidden && document.querySelector('#signin').hidden`,
		"the page after a refused sign out")
	zoe.wantTrue(`document.querySelector('#conn').dataset.state === 'Connected'`, "the session after a refused sign out")
	zoe.wantTrue(`!document.querySelector('#signout').disabled`, "Sign out after a refused sign out")

	// Pressed again, Sign out logs the device out: its call, unanswered, is cancelled (R4.3).
	zoe.do(click(`#signout`), chromedp.WaitVisible(chromedp.CSS(`#signin`)))
	yann.do(chromedp.WaitVisible(chromedp.CSS(`#no-incoming`)))
}
