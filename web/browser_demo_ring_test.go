package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The demo's scenarios of how a ring reaches its user: the note sent with an invitation, and
// the focus when a ring ends.

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
