package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/dialtone/dialtone/client"
)

// The demo's scenarios of how a ring reaches its user: the ring tone, the system notification
// of a hidden page, the note sent with an invitation, and the focus when a ring ends.

// waitTone waits, up to stepTimeout, until the page's ring tone is in state (body's
// data-ring-tone: off, playing, muted or blocked), and fails the test with the state it shows.
func (tb *tab) waitTone(state, when string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	cond := fmt.Sprintf(`document.body.dataset.ringTone === %q`, state)
	if _, err := chromedp.Run(ctx, poll(cond)); err != nil {
		shown, _ := chromedp.Run(tb.statusCtx(), chromedp.Evaluate[string](`String(document.body.dataset.ringTone)`))
		page, _ := chromedp.Run(tb.statusCtx(), chromedp.Evaluate[string](pageDump))
		pressed, _ := chromedp.Run(tb.statusCtx(), chromedp.Evaluate[bool](`navigator.userActivation.hasBeenActive`))
		tb.t.Fatalf("%s's ring tone %s: %q, want %q (pressed since loaded: %v)\npage: %s", tb.user, when, shown, state, pressed, page)
	}
}

// ringingCallID returns the callID of the invitation ringing in the tab.
func (tb *tab) ringingCallID() string {
	tb.t.Helper()
	tb.do(chromedp.WaitVisible(chromedp.CSS(`#incoming [data-call] button.accept`)))
	id, err := chromedp.Run(tb.statusCtx(), chromedp.Evaluate[string](`document.querySelector('#incoming [data-call]').dataset.call`))
	if err != nil {
		tb.t.Fatalf("%s: the ringing call: %v", tb.user, err)
	}
	return id
}

// waitRingsOver waits until the tab shows no call of its user still ringing (no Cancel button):
// the server ended the last one, and the user is no longer busy with it (§1, R3.1). A callee's
// page stops its tone as it answers, before the server has carried the answer out.
func (tb *tab) waitRingsOver() {
	tb.t.Helper()
	tb.do(chromedp.WaitNotPresent(chromedp.CSS(`#calls button[data-key^="cancel-"]`)))
}

// demoRingToneFollowsTheRing: the page plays its ring tone while an invitation rings, and only
// then: it stops when the ring is accepted or rejected here, answered on another device of the
// user (behaviour §5), cancelled (R3.2) or timed out (R3.5), or she signs out. Mute silences it.
func demoRingToneFollowsTheRing(t *testing.T, d demo) {
	rosa := d.open(t, "rosa") // signed in with a press: the page may play sound
	rosaPhone := d.device(t, "rosa")
	sam := d.open(t, "sam")
	rosa.waitTone("off", "before any ring")
	for _, end := range []string{"accept", "reject"} {
		sam.ring(General, 30, "rosa")
		rosa.waitTone("playing", "while rung")
		rosa.do(click(`#incoming button.` + end))
		rosa.waitTone("off", "after "+end+" here")
		sam.waitRingsOver()
	}

	sam.ring(General, 30, "rosa")
	rosa.waitTone("playing", "while rung")
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	if _, err := rosaPhone.CallAccept(ctx, rosa.ringingCallID(), client.OpConfig{}); err != nil {
		t.Fatal(err)
	}
	rosa.waitTone("off", "after an accept on her phone")

	sam.ring(General, 30, "rosa")
	rosa.waitTone("playing", "while rung")
	sam.do(click(`#calls button[data-key^="cancel-"]`))
	rosa.waitTone("off", "after the caller cancelled")

	sam.ring(General, 2, "rosa")
	rosa.waitTone("playing", "while rung for 2 s")
	rosa.waitTone("off", "after the ring timed out")
	sam.waitRingsOver()

	// Mute stops the tone of a ring and of the next ones until it is pressed again.
	sam.ring(General, 30, "rosa")
	rosa.waitTone("playing", "while rung")
	rosa.do(click(`#mute`))
	rosa.waitTone("muted", "after Mute")
	rosa.wantTrue(`document.querySelector('#mute').getAttribute('aria-pressed') === 'true'`, "Mute pressed")
	rosa.do(click(`#mute`))
	rosa.waitTone("playing", "after Mute again")
	// Nothing rings for a user who signed out.
	rosa.do(click(`#signout`), chromedp.WaitVisible(chromedp.CSS(`#signin`)))
	rosa.waitTone("off", "after signing out")
	sam.do(click(`#calls button[data-key^="cancel-"]`))
}

// demoRingToneWaitsForAPress: a page signed in without a press (a reload) may not play sound
// until the user presses something: a ring says so, and the first press starts the tone, unless
// it answers the ring.
func demoRingToneWaitsForAPress(t *testing.T, d demo) {
	tina := d.open(t, "tina")
	uli := d.open(t, "uli")
	tina.reloadWith("")
	uli.ring(General, 30, "tina")
	tina.waitTone("blocked", "while rung, after a reload")
	tina.wantTrue(`!document.querySelector('#sound-note').hidden`, "the note on blocked sound while rung, after a reload")
	tina.do(click(`#incoming-h`))
	tina.waitTone("playing", "after a press on the page")
	tina.wantTrue(`document.querySelector('#sound-note').hidden`, "the note on blocked sound after a press")
	uli.do(click(`#calls button[data-key^="cancel-"]`))
	tina.waitTone("off", "after the caller cancelled")

	// A first press that answers the ring does not start its tone for the moment the answer
	// takes: the ring goes from blocked to off. The answer's reply ends the ring, also when its
	// event comes later (protocol "Envelopes"); here it never comes.
	tina.reloadWith(dropEventsOnDemand)
	uli.ring(General, 30, "tina")
	tina.waitTone("blocked", "while rung, after a reload")
	tina.do(chromedp.Evaluate[chromedp.Void](`window.dropEvents()`))
	tina.do(chromedp.Evaluate[chromedp.Void](`{
		window.tones = [];
		new MutationObserver(() => window.tones.push(document.body.dataset.ringTone))
			.observe(document.body, { attributes: true, attributeFilter: ['data-ring-tone'] });
	}`), click(`#incoming button.accept`))
	tina.waitTone("off", "after Accept")
	tina.wantTrue(`!window.tones.includes('playing')`, "the tone while Accept was the first press")
}

// spyNotifications makes the page's Notification record each notification it shows in
// window.notes, with closed set once the page closes it, and window.focus record its calls.
const spyNotifications = `{
	const Native = window.Notification;
	window.notes = [];
	window.Notification = class extends Native {
		constructor(title, options) {
			super(title, options);
			this.closed = false;
			window.notes.push(this);
		}
		close() {
			this.closed = true;
			super.close();
		}
	};
	const focus = window.focus.bind(window);
	window.focused = 0;
	window.focus = () => { window.focused++; focus(); };
}`

// demoNotificationWhileHidden: an invitation that rings while the page is hidden shows a system
// notification (the permission asked for by a press on the page), closed when the ring ends;
// a click on it brings the page forward. A page on show notifies nothing.
func demoNotificationWhileHidden(t *testing.T, d demo) {
	vera := d.open(t, "vera")
	walt := d.open(t, "walt")
	vera.do(chromedp.WaitVisible(chromedp.CSS(`#notify`)))
	c := chromedp.FromContext(vera.ctx)
	ctx, cancel := context.WithTimeout(vera.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission: &cdpbrowser.PermissionDescriptor{Name: "notifications"}, Setting: cdpbrowser.PermissionSettingGranted,
		Origin: strings.TrimSuffix(d.base, "/"), BrowserContextID: c.BrowserContextID}); err != nil {
		t.Fatal(err)
	}
	vera.do(click(`#notify`), chromedp.WaitNotVisible(chromedp.CSS(`#notify`)))
	vera.reloadWith(spyNotifications)
	vera.wantTrue(`document.querySelector('#notify').hidden`, "the button asking to notify once allowed")

	walt.ring(General, 30, "vera")
	vera.ringingCallID()
	vera.wantTrue(`window.notes.length === 0`, "a ring on show")
	walt.do(click(`#calls button[data-key^="cancel-"]`))
	vera.do(poll(`!document.querySelector('#incoming [data-call]')`))

	vera.minimize()
	vera.do(poll(`document.visibilityState === 'hidden'`))
	walt.ring(General, 30, "vera")
	vera.do(poll(`window.notes.length === 1 && !window.notes[0].closed`))
	vera.wantTrue(`window.notes[0].title === 'walt is calling you'`, "the notification")
	walt.do(click(`#calls button[data-key^="cancel-"]`))
	vera.do(poll(`window.notes[0].closed`))

	walt.ring(General, 30, "vera")
	vera.do(poll(`window.notes.length === 2 && !window.notes[1].closed`),
		chromedp.Evaluate[chromedp.Void](`window.notes[1].dispatchEvent(new Event('click'))`),
		poll(`window.focused === 1 && window.notes[1].closed`))
	walt.do(click(`#calls button[data-key^="cancel-"]`))
}

// demoInviteNoteShownOnTheRing: the note typed in the ring form goes with the invitation
// (extendedData) and shows on the ring, even after a reload; one over 2048 bytes (behaviour §3)
// is refused with its code before anything is sent, and stays typed.
func demoInviteNoteShownOnTheRing(t *testing.T, d demo) {
	xena := d.open(t, "xena")
	yuri := d.open(t, "yuri")
	tooLong := strings.Repeat("é", 1025) // 2050 bytes
	yuri.do(chromedp.SetValue(chromedp.CSS(`#others`), "xena"), chromedp.SetValue(chromedp.CSS(`#extended-data`), tooLong),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#status').textContent = ''`), click(`#ring-button`))
	if got := yuri.shownStatus(); !strings.HasPrefix(got, "Ring:") || !strings.Contains(got, "(InvalidParameter, 6000001)") {
		t.Errorf("yuri's status line after ringing with a note of 2050 bytes: %q, want the code 6000001", got)
	}
	yuri.wantTrue(`!document.querySelector('#calls [data-call]')`, "a ring with a note too long: no call")
	yuri.wantTrue(fmt.Sprintf(`document.querySelector('#extended-data').value === %q`, tooLong), "the note refused stays")

	note := "<b>lunch?</b> " + strings.Repeat("é", 1017) // 2048 bytes, the most allowed
	yuri.do(chromedp.SetValue(chromedp.CSS(`#extended-data`), note),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#others').value = ''; document.querySelector('#status').textContent = ''`))
	yuri.ring(General, 30, "xena")
	want := fmt.Sprintf(`document.querySelector('#incoming [data-call] .extended')?.textContent === %q`, note)
	xena.do(chromedp.WaitVisible(chromedp.CSS(`#incoming [data-call] button.accept`)))
	xena.wantTrue(want, "the note on the ring")
	xena.reloadWith("")
	xena.do(chromedp.WaitVisible(chromedp.CSS(`#incoming [data-call] button.accept`)), poll(want))
	yuri.do(click(`#calls button[data-key^="cancel-"]`))
}

// demoFocusFollowsARingThatEnds: a button that goes away because of an event, not a press (a
// ring's Accept when the caller cancels, a caller's Cancel when the callee answers), moves the
// focus to the call's card, not to the top of the page.
func demoFocusFollowsARingThatEnds(t *testing.T, d demo) {
	zoe := d.open(t, "zoe")
	amos := d.open(t, "amos")
	amos.ring(General, 30, "zoe")
	id := zoe.ringingCallID()
	zoe.do(chromedp.Focus(chromedp.CSS(`#incoming button.accept`)))
	amos.do(click(`#calls button[data-key^="cancel-"]`))
	zoe.do(poll(`!document.querySelector('#incoming [data-call]')`))
	zoe.wantTrue(fmt.Sprintf(`document.activeElement.matches('#calls [data-call=%q]')`, id),
		"the focus on Accept when the caller cancelled")

	amos.ring(General, 30, "zoe")
	id = zoe.ringingCallID()
	amos.do(chromedp.Focus(chromedp.CSS(fmt.Sprintf(`#calls button[data-key="cancel-%s"]`, id))))
	zoe.do(click(`#incoming button.accept`))
	amos.do(poll(`!document.querySelector('#calls button[data-key^="cancel-"]')`))
	amos.wantTrue(fmt.Sprintf(`document.activeElement.matches('#calls [data-call=%q]')`, id),
		"the focus on Cancel call when the callee answered")
}
