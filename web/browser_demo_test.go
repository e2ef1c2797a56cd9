package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/servertest"
)

// TestBrowserDemo drives the demo page in headless Chromium against the real server: each user
// is a tab in its own browser context (own storage), like two people on two machines. The
// scenarios run one after the other on one browser process and one server. Users left in a
// call at the end of a scenario, and so busy (R3.1), are not used again unless it ends the call.
func TestBrowserDemo(t *testing.T) {
	srv := servertest.Start(t)
	d := demo{browser: startBrowser(t), srv: srv, base: "http://" + srv.Addr + "/", shots: t.ArtifactDir()}
	t.Logf("screenshots in %s (kept with go test -artifacts)", d.shots)
	for _, scenario := range []struct {
		name string
		run  func(*testing.T, demo)
	}{
		{"Accept", demoAccept},
		{"Reject", demoReject},
		{"Timeout", demoTimeout},
		{"Cancel", demoCancel},
		{"CancelSeenOnAnotherDevice", demoCancelSeenOnAnotherDevice},
		{"QuitThenEnded", demoQuitThenEnded},
		{"CallerInvitedAgain", demoCallerInvitedAgain},
		{"RefusedRingStaysShown", demoRefusedRingStaysShown},
		{"RingBarOfAnInvitationIntoAGoingCall", demoRingBarOfAnInvitationIntoAGoingCall},
		{"TypedNamesSurviveRedraws", demoTypedNamesSurviveRedraws},
		{"QuitReplyAfterEvents", demoQuitReplyAfterEvents},
		{"AdvancedJoinFromHistory", demoAdvancedJoinFromHistory},
		{"ClickWhileEventsRedraw", demoClickWhileEventsRedraw},
		{"ReconnectThatLostEvents", demoReconnectThatLostEvents},
		{"RingEndsAtItsDeadlineWhileCutOff", demoRingEndsAtItsDeadlineWhileCutOff},
		{"RefusedAnswerEndsAGhostRing", demoRefusedAnswerEndsAGhostRing},
		{"MarkupInNamesAndDataIsText", demoMarkupInNamesAndDataIsText},
		{"CallFollowedOnAnotherDevice", demoCallFollowedOnAnotherDevice},
		{"JoinReplyAfterEvents", demoJoinReplyAfterEvents},
		{"HistoryPages", demoHistoryPages},
		{"ReplayForACallNotOnTheFirstPage", demoReplayForACallNotOnTheFirstPage},
		{"EventOlderThanTheCallRead", demoEventOlderThanTheCallRead},
		{"AnswerOnOneTabStopsTheOther", demoAnswerOnOneTabStopsTheOther},
		{"ButtonsWaitForReplies", demoButtonsWaitForReplies},
		{"BadInputIsACodedError", demoBadInputIsACodedError},
		{"FocusFollowsTheAnsweredCall", demoFocusFollowsTheAnsweredCall},
		{"SignInWhileTheServerIsDown", demoSignInWhileTheServerIsDown},
		{"RefusedSignOutKeepsTheSession", demoRefusedSignOutKeepsTheSession},
		{"RingToneFollowsTheRing", demoRingToneFollowsTheRing},
		{"RingToneWaitsForAPress", demoRingToneWaitsForAPress},
		{"NotificationWhileHidden", demoNotificationWhileHidden},
		{"InviteNoteShownOnTheRing", demoInviteNoteShownOnTheRing},
		{"FocusFollowsARingThatEnds", demoFocusFollowsARingThatEnds},
	} {
		t.Run(scenario.name, func(t *testing.T) { scenario.run(t, d) })
	}
}

// demo is what the demo's scenarios share: the browser, the server and its page's address,
// and the directory for screenshots.
type demo struct {
	browser     context.Context
	srv         *servertest.Server
	base, shots string
}

// open opens the demo for user in a new tab of its own browser context (openTab).
func (d demo) open(t *testing.T, user string) *tab {
	t.Helper()
	return openTab(t, d.browser, d.base, user)
}

// device logs user in with the Go SDK, as another device than the user's tabs; it is closed
// when the test ends.
func (d demo) device(t *testing.T, user string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	c, err := client.Dial(ctx, d.srv.URL, client.Options{})
	if err != nil {
		t.Fatalf("%s's SDK device: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Login(ctx, servertest.Token(t, user), "sdk"); err != nil {
		t.Fatalf("%s's SDK device: %v", user, err)
	}
	return c
}

// demoAccept: bob accepts alice's general call: his page rings with a countdown, hers follows his
// receipt and answer.
func demoAccept(t *testing.T, d demo) {
	bob := d.open(t, "bob")
	alice := d.open(t, "alice")
	// A first sign-in has nothing to resume: the log does not speak of lost events.
	logged, err := chromedp.Run(bob.statusCtx(), chromedp.Evaluate[string](`document.querySelector('#log').textContent`))
	if err != nil || !strings.Contains(logged, "connection: Connected") || strings.Contains(logged, "lost") {
		t.Errorf("bob's log after signing in: %q (%v), want Connected and no lost events", logged, err)
	}
	alice.do(chromedp.SetValue(chromedp.CSS(`#extended-data`), "Lunch at noon?")) // shown on the ring, and in docs/
	alice.ring(General, 30, "bob")
	alice.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#extended-data').value = ''`))
	bob.do(chromedp.WaitVisible(chromedp.CSS(`#incoming [data-call] button.accept`)))
	bob.do(chromedp.WaitVisible(chromedp.CSS(`#incoming [role=timer]`)))
	alice.waitUserState("bob", "Received")
	bob.do(chromedp.WaitVisible(chromedp.CSS(`#history tbody li[data-user="bob"]`)))
	alice.do(chromedp.WaitVisible(chromedp.CSS(`#history tbody li[data-user="bob"][data-state="Received"]`)))
	bob.screenshot(filepath.Join(d.shots, "demo-ringing.png"))
	alice.screenshot(filepath.Join(d.shots, "demo-calling.png"))
	bob.answer(alice)
	bob.waitUserState("bob", "Accepted")
	bob.do(chromedp.WaitVisible(chromedp.CSS(`#no-incoming`)))
	alice.screenshot(filepath.Join(d.shots, "demo-accepted.png"))
	updateDocsScreenshot(t, filepath.Join(d.shots, "demo-ringing.png"))
}

// demoReject: bob reloads his page while he is rung, which rings again, and rejects.
func demoReject(t *testing.T, d demo) {
	bob := d.open(t, "bob")
	alice := d.open(t, "alice")
	alice.ring(General, 30, "bob")
	bob.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.reject`)))
	// A reload keeps the tab's user (sessionStorage) and resumes from the saved lastSeq
	// (localStorage): the invitation rings again.
	bob.do(chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`body[data-user="bob"] #conn[data-state=Connected]`)),
		click(`#incoming button.reject`))
	alice.waitUserState("bob", "Rejected")
	alice.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
	bob.do(chromedp.WaitVisible(chromedp.CSS(`#no-incoming`)))
}

// demoTimeout: bob lets alice's general call ring out: the timeout of the last invitee ends it
// (R4.1).
func demoTimeout(t *testing.T, d demo) {
	bob := d.open(t, "bob")
	alice := d.open(t, "alice")
	alice.ring(General, 4, "bob") // long enough to see the card even on a loaded machine
	bob.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.accept`)),
		chromedp.Evaluate[chromedp.Void](recordCallStates))
	alice.waitUserState("bob", "Timeout")
	bob.do(chromedp.WaitVisible(chromedp.CSS(`#no-incoming`)))
	bob.waitUserState("bob", "Timeout")
	// The timeout of the last invitee ends a general call (R4.1); bob's event tells him. His ring
	// ends at its deadline, which the page may show (Missed) before the event comes.
	bob.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
	bob.wantCallStatesOf([]string{"Ended"}, []string{"Missed", "Ended"})
}

// demoCancel: alice cancels her call while it rings: bob's page stops ringing.
func demoCancel(t *testing.T, d demo) {
	bob := d.open(t, "bob")
	alice := d.open(t, "alice")
	alice.ring(General, 30, "bob")
	bob.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.accept`)))
	// Once the page's history has caught up with bob's receipt, nothing refreshes it any more.
	alice.do(chromedp.WaitVisible(chromedp.CSS(`#history tbody li[data-user="bob"][data-state="Received"]`)),
		chromedp.Sleep(500*time.Millisecond))
	// The cancelling device gets no event, only its reply (behaviour §5): the call is over.
	alice.do(click(`#calls button[data-key^="cancel-"]`),
		chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
	alice.waitUserState("bob", "BeCancelled")
	bob.do(chromedp.WaitVisible(chromedp.CSS(`#no-incoming`)))
}

// demoCancelSeenOnAnotherDevice: alice cancels on one tab; her other tab sees the call end.
func demoCancelSeenOnAnotherDevice(t *testing.T, d demo) {
	bob := d.open(t, "bob")
	alice := d.open(t, "alice")
	alicePhone := d.open(t, "alice")
	alice.ring(General, 30, "bob")
	bob.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.accept`)))
	alicePhone.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ringing…"]`)),
		chromedp.Evaluate[chromedp.Void](recordCallStates))
	alice.do(click(`#calls button[data-key^="cancel-"]`))
	// Her other device gets callInvitationCancelled (behaviour §5): a general call is over.
	alicePhone.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
	alicePhone.wantCallStates("Ringing…", "Ended")
}

// demoQuitThenEnded: alice quits an advanced call and learns of its end when she tries to join
// again.
func demoQuitThenEnded(t *testing.T, d demo) {
	bob := d.open(t, "bob")
	alice := d.open(t, "alice")
	alice.ring(Advanced, 30, "bob")
	bob.answer(alice)
	alice.do(click(`#calls button[data-key^="quit-"]`),
		chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Going on without you"]`)),
		// Once the page's history has caught up with her quit, nothing refreshes it any more.
		chromedp.WaitVisible(chromedp.CSS(`#history tbody li[data-user="alice"][data-state="Quit"]`)),
		chromedp.Sleep(500*time.Millisecond))
	bob.do(click(`#calls button[data-key^="end-"]`),
		chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
	// alice, who quit, is told nothing of the end (§5); trying to join again, she learns it.
	alice.do(click(`#calls button[data-key^="join-"]`),
		chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
}

// demoCallerInvitedAgain: the caller who quit is invited back into her call and answers.
func demoCallerInvitedAgain(t *testing.T, d demo) {
	bob := d.open(t, "bob")
	alice := d.open(t, "alice")
	alice.ring(Advanced, 30, "bob")
	bob.answer(alice)
	alice.do(click(`#calls button[data-key^="quit-"]`))
	bob.waitUserState("alice", "Quit")
	// The caller who quit is invited again (R3.6, §10b): her invitation rings like any other.
	bob.inviteMore("alice")
	alice.answer(bob)
	alice.waitUserState("alice", "Accepted")
	endCall(bob, alice) // so that neither is busy in the next scenario (R3.1)
}

// demoRefusedRingStaysShown: a refused ring stays in the status line while the page reads its
// history.
func demoRefusedRingStaysShown(t *testing.T, d demo) {
	bob := d.open(t, "bob")
	alice := d.open(t, "alice")
	alice.ring(Advanced, 30, "bob")
	bob.answer(alice)
	// alice, in a call, may not ring (R3.1: 6000290). The page's own reads of the history,
	// which follow the call's events, do not wipe the refusal out before she reads it.
	bob.do(chromedp.SetValue(chromedp.CSS(`#calls input.more`), "carol"))
	refused := alice.pressRing(General, 30, "bob")
	if !strings.HasPrefix(refused, "Ring:") || !strings.Contains(refused, "Busy, 6000290)") {
		t.Fatalf("alice's status line after a ring while in a call: %q, want the refusal 6000290", refused)
	}
	bob.do(click(`#calls .invite-more button`)) // an event for alice: her page reads its history
	alice.waitUserState("carol", "Inviting")
	time.Sleep(time.Second)
	if got := alice.status(); got != refused {
		t.Errorf("alice's status line a second after the call changed: %q, want %q", got, refused)
	}
	endCall(bob, alice)
}

// demoRingBarOfAnInvitationIntoAGoingCall: an invitation into a call that has gone on a while
// shows its own ring time.
func demoRingBarOfAnInvitationIntoAGoingCall(t *testing.T, d demo) {
	quinn := d.open(t, "quinn")
	ivan := d.open(t, "ivan")
	heidi := d.open(t, "heidi")
	heidi.ring(Advanced, 8, "ivan")
	ivan.answer(heidi)
	time.Sleep(4 * time.Second) // the call has gone on a while when quinn is invited
	ivan.do(chromedp.SetValue(chromedp.CSS(`#timeout`), "8"))
	ivan.inviteMore("quinn") // with the ring form's timeout (R3.6)
	// Her ring bar measures her own 8 s from their start, not the call's age (R3.6, §10b).
	quinn.do(chromedp.WaitVisible(chromedp.CSS(`#incoming [data-bar]`)))
	width, err := chromedp.Run(quinn.statusCtx(), chromedp.Evaluate[float64](
		`parseFloat(document.querySelector('#incoming [data-bar]').style.width)`))
	if err != nil || width < 80 {
		t.Errorf("quinn's ring bar at the start of her ring is %v%% (%v), want about 100%%", width, err)
	}
	// A reload, which reads her invitation from the history (no event brings it again), keeps
	// the bar measuring her own ring: its width is her time left out of her 8 s.
	quinn.reloadWith("")
	quinn.do(chromedp.WaitVisible(chromedp.CSS(`#incoming [data-bar]`)))
	bar, err := chromedp.Run(quinn.statusCtx(), chromedp.Evaluate[[]float64](`[
		parseFloat(document.querySelector('#incoming [data-bar]').style.width),
		100 * parseInt(document.querySelector('#incoming [role=timer]').textContent) / 8]`))
	if err != nil || len(bar) != 2 || bar[0] < bar[1]-15 || bar[0] > bar[1]+15 {
		t.Errorf("quinn's ring bar after a reload and her time left out of 8 s, in %%: %v (%v), want about the same", bar, err)
	}
	endCall(ivan, heidi) // ivan calls again in a later scenario
}

// demoTypedNamesSurviveRedraws: a name being typed into a call's card survives an event that
// redraws it.
func demoTypedNamesSurviveRedraws(t *testing.T, d demo) {
	frank := d.open(t, "frank")
	grace := d.open(t, "grace")
	erin := d.open(t, "erin")
	erin.ring(Advanced, 30, "frank", "grace")
	frank.answer(erin)
	// A name being typed to invite more is kept when an event redraws the call's card.
	erin.do(chromedp.SendKeys(chromedp.CSS(`#calls input.more`), "heidi"))
	grace.do(click(`#incoming button.reject`))
	erin.waitUserState("grace", "Rejected")
	typed, err := chromedp.Run(erin.statusCtx(), chromedp.Value(chromedp.CSS(`#calls input.more`)))
	if err != nil || typed != "heidi" {
		t.Errorf("the invite-more field holds %q (%v) after the card was redrawn, want %q", typed, err, "heidi")
	}
}

// demoQuitReplyAfterEvents: the reply to a quit that comes after the events that follow it changes
// nothing shown.
func demoQuitReplyAfterEvents(t *testing.T, d demo) {
	bob := d.open(t, "bob")
	alice := d.open(t, "alice")
	// A reply may come after events that follow its request (protocol "Envelopes"): alice's
	// page gets the reply to her callQuit only after bob has invited her again.
	alice.reloadWith(delayQuitReplies)
	alice.ring(Advanced, 30, "bob")
	bob.answer(alice)
	alice.do(click(`#calls button[data-key^="quit-"]`))
	bob.waitUserState("alice", "Quit")
	bob.inviteMore("alice")
	alice.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.accept`)),
		chromedp.Sleep(2*time.Second), // the quit's late reply has come
		click(`#incoming button.accept`))
	bob.waitUserState("alice", "Accepted")
	endCall(bob, alice) // so that neither is busy in the next scenario (R3.1)
}

// demoAdvancedJoinFromHistory: an invitee who rejected joins from her history; the call grows and
// ends for everyone.
func demoAdvancedJoinFromHistory(t *testing.T, d demo) {
	bob := d.open(t, "bob")
	carol := d.open(t, "carol")
	alice := d.open(t, "alice")
	alice.ring(Advanced, 30, "bob", "carol")
	bob.do(click(`#incoming button.accept`))
	carol.do(click(`#incoming button.reject`))
	alice.waitUserState("bob", "Accepted")
	alice.waitUserState("carol", "Rejected")
	alice.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="In call"]`)))

	// carol changes her mind: she joins the call from her history.
	carol.do(click(`#history button.join`))
	carol.waitUserState("carol", "Accepted")
	alice.waitUserState("carol", "Accepted")
	alice.do(chromedp.WaitVisible(chromedp.CSS(`#history tbody li[data-user="carol"][data-state="Accepted"]`)))
	alice.screenshot(filepath.Join(d.shots, "demo-advanced.png"))

	// bob invites dave during the call; dave is not signed in, so he stays Inviting.
	bob.inviteMore("dave")
	bob.waitUserState("dave", "Inviting")

	// alice ends it for everyone.
	alice.do(click(`#calls button[data-key^="end-"]`))
	alice.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
	bob.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
	carol.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
}

// demoClickWhileEventsRedraw: clicks pressed while events redraw the card land on the button
// pressed.
func demoClickWhileEventsRedraw(t *testing.T, d demo) {
	oscar := d.open(t, "oscar")
	trent := d.open(t, "trent")
	peggy := d.open(t, "peggy")
	peggy.ring(Advanced, 30, "oscar", "trent")
	oscar.answer(peggy)

	// trent presses Accept; before he lets go, oscar invites victor, and trent's ringing card
	// is redrawn to show victor ringing too (oscar, in the call, is not ringing any more).
	trent.clickAcross(`#incoming button.accept`, func() {
		oscar.inviteMore("victor")
		trent.do(chromedp.Poll[chromedp.Void](
			`document.querySelector('#incoming .meta')?.textContent === 'Advanced call · also ringing victor'`,
			chromedp.WithPollingInterval(20*time.Millisecond)))
	})
	peggy.waitUserState("trent", "Accepted")

	// peggy presses End; before she lets go, trent quits, and her call's card is redrawn.
	peggy.clickAcross(`#calls button[data-key^="end-"]`, func() {
		trent.do(click(`#calls button[data-key^="quit-"]`))
		peggy.waitUserState("trent", "Quit")
	})
	peggy.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
	oscar.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
}

// recordCallStates makes the page record, in window.callStates, the status its call card shows
// and each status it shows from now on.
const recordCallStates = `{
	window.callStates = [];
	const record = () => {
		for (const el of document.querySelectorAll('#calls [data-call]')) {
			if (window.callStates.at(-1) !== el.dataset.state) window.callStates.push(el.dataset.state);
		}
	};
	record();
	new MutationObserver(record).observe(document.querySelector('#calls'),
		{ childList: true, subtree: true, attributes: true, attributeFilter: ['data-state'] });
}`

// delayQuitReplies makes the page's WebSockets hand replies to callQuit (those with a quitTime)
// to the page a second and a half late, after the frames that follow them.
const delayQuitReplies = `{
	const Native = WebSocket;
	window.WebSocket = class extends Native {
		set onmessage(fn) {
			super.onmessage = fn && ((ev) => {
				if (/"quitTime":/.test(ev.data)) setTimeout(() => fn(ev), 1500);
				else fn(ev);
			});
		}
		get onmessage() { return super.onmessage; }
	};
}`

// updateDocsScreenshot copies the ringing screenshot to docs/ for the README, only when
// DIALTONE_UPDATE_SCREENSHOTS=1: a test run never rewrites the tree by default.
func updateDocsScreenshot(t *testing.T, src string) {
	if os.Getenv("DIALTONE_UPDATE_SCREENSHOTS") != "1" {
		return
	}
	png, err := os.ReadFile(src)
	if err == nil {
		err = os.WriteFile(filepath.Join("..", "docs", filepath.Base(src)), png, 0o644)
	}
	if err != nil {
		t.Errorf("update docs screenshot: %v", err)
	}
}

// demoAnswerOnOneTabStopsTheOther: both tabs of a user ring; the answer on one stops the other's
// ring, its count in the title too (behaviour §5: the user's own change goes to all its devices).
func demoAnswerOnOneTabStopsTheOther(t *testing.T, d demo) {
	yara := d.open(t, "yara")
	yaraPhone := d.open(t, "yara")
	zane := d.open(t, "zane")
	for _, answer := range []string{"accept", "reject"} {
		zane.ring(Advanced, 30, "yara")
		yaraPhone.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.accept`)))
		yara.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.`+answer)), click(`#incoming button.`+answer))
		yaraPhone.do(chromedp.WaitVisible(chromedp.CSS(`#no-incoming`)),
			poll(`document.title === 'Dialtone demo' && !document.querySelector('#incoming [data-call]')`))
		endCall(zane) // yara is in it after an accept (R3.1)
	}
}
