package web_test

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// The demo's scenarios of how a ring reaches its user: the focus when a ring ends.

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
