package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dialtone/dialtone/client"
	"github.com/dialtone/dialtone/internal/servertest"
)

// TestBrowserDemo drives the demo page in headless Chromium against the real server: each user
// is a tab in its own browser context (own storage), like two people on two machines. The
// scenarios run one after the other on one browser process.
func TestBrowserDemo(t *testing.T) {
	browser := startBrowser(t)
	srv := servertest.Start(t)
	base := "http://" + srv.Addr + "/"
	shots := t.ArtifactDir()
	t.Logf("screenshots in %s (kept with go test -artifacts)", shots)

	t.Run("Accept", func(t *testing.T) {
		bob := openTab(t, browser, base, "bob")
		alice := openTab(t, browser, base, "alice")
		alice.ring(General, 30, "bob")
		bob.do(chromedp.WaitVisible(chromedp.CSS(`#incoming [data-call] button.accept`)))
		bob.do(chromedp.WaitVisible(chromedp.CSS(`#incoming [role=timer]`)))
		alice.waitUserState("bob", "Received")
		bob.do(chromedp.WaitVisible(chromedp.CSS(`#history tbody li[data-user="bob"]`)))
		alice.do(chromedp.WaitVisible(chromedp.CSS(`#history tbody li[data-user="bob"][data-state="Received"]`)))
		bob.screenshot(filepath.Join(shots, "demo-ringing.png"))
		alice.screenshot(filepath.Join(shots, "demo-calling.png"))
		bob.answer(alice)
		bob.waitUserState("bob", "Accepted")
		bob.do(chromedp.WaitVisible(chromedp.CSS(`#no-incoming`)))
		alice.screenshot(filepath.Join(shots, "demo-accepted.png"))
		updateDocsScreenshot(t, filepath.Join(shots, "demo-ringing.png"))
	})

	t.Run("Reject", func(t *testing.T) {
		bob := openTab(t, browser, base, "bob")
		alice := openTab(t, browser, base, "alice")
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
	})

	t.Run("Timeout", func(t *testing.T) {
		bob := openTab(t, browser, base, "bob")
		alice := openTab(t, browser, base, "alice")
		alice.ring(General, 4, "bob") // long enough to see the card even on a loaded machine
		bob.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.accept`)),
			chromedp.Evaluate[chromedp.Void](recordCallStates))
		alice.waitUserState("bob", "Timeout")
		bob.do(chromedp.WaitVisible(chromedp.CSS(`#no-incoming`)))
		bob.waitUserState("bob", "Timeout")
		// The timeout of the last invitee ends a general call (R4.1); bob's event tells him.
		bob.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
		bob.wantCallStates("Ended")
	})

	t.Run("Cancel", func(t *testing.T) {
		bob := openTab(t, browser, base, "bob")
		alice := openTab(t, browser, base, "alice")
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
	})

	t.Run("CancelSeenOnAnotherDevice", func(t *testing.T) {
		bob := openTab(t, browser, base, "bob")
		alice := openTab(t, browser, base, "alice")
		alicePhone := openTab(t, browser, base, "alice")
		alice.ring(General, 30, "bob")
		bob.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.accept`)))
		alicePhone.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ringing…"]`)),
			chromedp.Evaluate[chromedp.Void](recordCallStates))
		alice.do(click(`#calls button[data-key^="cancel-"]`))
		// Her other device gets callInvitationCancelled (behaviour §5): a general call is over.
		alicePhone.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
		alicePhone.wantCallStates("Ringing…", "Ended")
	})

	t.Run("QuitThenEnded", func(t *testing.T) {
		bob := openTab(t, browser, base, "bob")
		alice := openTab(t, browser, base, "alice")
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
	})

	t.Run("CallerInvitedAgain", func(t *testing.T) {
		bob := openTab(t, browser, base, "bob")
		alice := openTab(t, browser, base, "alice")
		alice.ring(Advanced, 30, "bob")
		bob.answer(alice)
		alice.do(click(`#calls button[data-key^="quit-"]`))
		bob.waitUserState("alice", "Quit")
		// The caller who quit is invited again (R3.6, §10b): her invitation rings like any other.
		bob.inviteMore("alice")
		alice.answer(bob)
		alice.waitUserState("alice", "Accepted")
		endCall(bob, alice) // so that neither is busy in the next scenario (R3.1)
	})

	t.Run("RefusedRingStaysShown", func(t *testing.T) {
		bob := openTab(t, browser, base, "bob")
		alice := openTab(t, browser, base, "alice")
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
	})

	t.Run("RingBarOfAnInvitationIntoAGoingCall", func(t *testing.T) {
		quinn := openTab(t, browser, base, "quinn")
		ivan := openTab(t, browser, base, "ivan")
		heidi := openTab(t, browser, base, "heidi")
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
	})

	t.Run("TypedNamesSurviveRedraws", func(t *testing.T) {
		frank := openTab(t, browser, base, "frank")
		grace := openTab(t, browser, base, "grace")
		erin := openTab(t, browser, base, "erin")
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
	})

	t.Run("QuitReplyAfterEvents", func(t *testing.T) {
		bob := openTab(t, browser, base, "bob")
		alice := openTab(t, browser, base, "alice")
		// A reply may come after events that follow its request (protocol "Envelopes"): alice's
		// page gets the reply to her callQuit only after bob has invited her again.
		alice.do(onEveryPage(delayQuitReplies), chromedp.Reload(),
			chromedp.WaitVisible(chromedp.CSS(`body[data-user="alice"] #conn[data-state=Connected]`)))
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
	})

	t.Run("AdvancedJoinFromHistory", func(t *testing.T) {
		bob := openTab(t, browser, base, "bob")
		carol := openTab(t, browser, base, "carol")
		alice := openTab(t, browser, base, "alice")
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
		alice.screenshot(filepath.Join(shots, "demo-advanced.png"))

		// bob invites dave during the call; dave is not signed in, so he stays Inviting.
		bob.inviteMore("dave")
		bob.waitUserState("dave", "Inviting")

		// alice ends it for everyone.
		alice.do(click(`#calls button[data-key^="end-"]`))
		alice.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
		bob.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
		carol.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
	})

	t.Run("ClickWhileEventsRedraw", func(t *testing.T) {
		oscar := openTab(t, browser, base, "oscar")
		trent := openTab(t, browser, base, "trent")
		peggy := openTab(t, browser, base, "peggy")
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
	})

	t.Run("ReconnectThatLostEvents", func(t *testing.T) {
		rupert := openTab(t, browser, base, "rupert")
		rupertPhone := sdkDevice(t, srv, "rupert")
		pastCalls(t, rupertPhone, 4)
		sybil := openTab(t, browser, base, "sybil")
		walter := openTab(t, browser, base, "walter")
		rupert.do(onEveryPage(loseEventsOnReconnect), chromedp.Reload(),
			chromedp.WaitVisible(chromedp.CSS(`body[data-user="rupert"] #conn[data-state=Connected]`)))
		sybil.ring(Advanced, 30, "rupert")
		rupert.answer(sybil)
		walter.ring(General, 30, "rupert") // rupert is busy, but rung (R3.1)
		// Once the page's history has caught up with rupert's receipt of walter's call, and shows
		// an older page, nothing reads the calls again unless the page does so after the
		// reconnection. The receipt looked for is the one in walter's row: until the history is
		// read again, sybil's row may still show rupert Received, from before his accept, and
		// without walter's call there is no older page, so the click on Older would be lost.
		rupert.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.accept`)),
			chromedp.WaitVisible(chromedp.CSS(`#history tbody tr:has(li[data-user="walter"]) li[data-user="rupert"][data-state="Received"]`)),
			click(`#history-older`),
			chromedp.Poll[chromedp.Void](`document.querySelector('#history-page').textContent === 'Page 2'`,
				chromedp.WithPollingInterval(20*time.Millisecond)),
			chromedp.Sleep(500*time.Millisecond))

		// While rupert's page is cut off, sybil ends her call, walter cancels his, and rupert
		// calls oliver from his phone. When the page is back, the server cannot replay what it
		// missed (R7.2): nothing rings (R5.3), nothing tells of these calls. The page reads them.
		rupert.do(chromedp.Evaluate[chromedp.Void](`window.cutConnection()`),
			chromedp.WaitVisible(chromedp.CSS(`#conn[data-state=Reconnecting]`)))
		sybil.do(click(`#calls button[data-key^="end-"]`),
			chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
		walter.do(click(`#calls button[data-key^="cancel-"]`),
			chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		defer cancel()
		if _, err := rupertPhone.CallInvite(ctx, []string{"oliver"}, client.InviteConfig{Timeout: 30, Mode: client.ModeAdvanced}); err != nil {
			t.Fatal(err)
		}
		rupert.do(chromedp.Evaluate[chromedp.Void](`window.reconnect()`),
			chromedp.WaitVisible(chromedp.CSS(`#conn[data-state=Connected]`)),
			chromedp.WaitVisible(chromedp.CSS(`#no-incoming`)),
			chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]:has(li[data-user="sybil"])`)),
			chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]:has(li[data-user="walter"][data-state="Cancelled"])`)),
			chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ringing…"]:has(li[data-user="oliver"])`)),
			chromedp.Poll[chromedp.Void](`document.querySelector('#log').textContent.includes('missed events lost')`,
				chromedp.WithPollingInterval(20*time.Millisecond)))
		rupert.waitUserState("rupert", "BeCancelled")
	})

	// userIDs may hold < > & ; = (behaviour §1) and extendedData anything: the page shows them
	// as text, where they were sent from, and no element is made of them (nor would the page's
	// Content-Security-Policy run an inline handler, which openTab reports).
	t.Run("MarkupInNamesAndDataIsText", func(t *testing.T) {
		const caller, data = `<img>&amp;<b>`, `<img src=x onerror="window.xss=1"><script>window.xss=2</script>&lt;`
		winnie := openTab(t, browser, base, "winnie")
		c := sdkDevice(t, srv, caller)
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		defer cancel()
		if _, err := c.CallInvite(ctx, []string{"winnie", "<i>"}, client.InviteConfig{Timeout: 30, ExtendedData: data}); err != nil {
			t.Fatal(err)
		}
		winnie.do(chromedp.WaitVisible(chromedp.CSS(`#incoming [data-call] button.accept`)))
		type page struct {
			Heading, Meta string
			Logged, Made  bool
			XSS           any
		}
		shown, err := chromedp.Run(winnie.statusCtx(), chromedp.Evaluate[page](fmt.Sprintf(`({
			heading: document.querySelector('#incoming [data-call] h3').textContent,
			meta: document.querySelector('#incoming [data-call] .meta').textContent,
			logged: [...document.querySelectorAll('#log li')].some((li) => li.textContent.includes(JSON.stringify(%s))),
			made: document.querySelector('img, script:not([src]), b, i') !== null,
			xss: window.xss ?? null,
		})`, strconv.Quote(data))))
		if err != nil {
			t.Fatal(err)
		}
		if shown.Heading != caller+" is calling you" || shown.Meta != "General call · also ringing <i>" ||
			!shown.Logged || shown.Made || shown.XSS != nil {
			t.Errorf("winnie's page shows %+v; want the names as text, the data in the log, no element made of them", shown)
		}
	})

	t.Run("CallFollowedOnAnotherDevice", func(t *testing.T) {
		ursula := openTab(t, browser, base, "ursula")
		xavier := openTab(t, browser, base, "xavier")
		xavierPhone := openTab(t, browser, base, "xavier")
		xavier.ring(Advanced, 30, "ursula")
		xavierPhone.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ringing…"]`)))
		ursula.answer(xavier)
		// His phone is not the call's main device: nobody tells it that ursula answered (R6.3),
		// so the page reads the call again.
		xavierPhone.waitUserState("ursula", "Accepted")
		xavierPhone.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="In call"]`)),
			chromedp.WaitNotPresent(chromedp.CSS(`#calls button[data-key^="cancel-"]`)))
		ursula.do(click(`#calls button[data-key^="end-"]`))
		xavierPhone.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
	})

	t.Run("JoinReplyAfterEvents", func(t *testing.T) {
		nadia := openTab(t, browser, base, "nadia")
		olga := openTab(t, browser, base, "olga")
		mike := openTab(t, browser, base, "mike")
		olga.do(onEveryPage(holdJoinReplies), chromedp.Reload(),
			chromedp.WaitVisible(chromedp.CSS(`body[data-user="olga"] #conn[data-state=Connected]`)))
		mike.ring(Advanced, 30, "nadia", "olga")
		nadia.answer(mike)
		olga.do(click(`#incoming button.reject`))
		olga.waitUserState("olga", "Rejected")
		// olga joins again; her page gets the reply, with the call's users as they were then,
		// only after nadia has quit.
		olga.do(click(`#calls button[data-key^="join-"]`))
		nadia.waitUserState("olga", "Accepted")
		nadia.do(click(`#calls button[data-key^="quit-"]`))
		olga.waitUserState("nadia", "Quit")
		olga.do(chromedp.Evaluate[chromedp.Void](recordUserStates("nadia")),
			chromedp.Evaluate[chromedp.Void](`window.releaseJoinReplies()`),
			chromedp.WaitVisible(chromedp.CSS(`#calls li[data-user="olga"][data-state="Accepted"]`)),
			chromedp.Sleep(500*time.Millisecond))
		shown, err := chromedp.Run(olga.statusCtx(), chromedp.Evaluate[[]string](`window.userStates`))
		if err != nil || !slices.Equal(shown, []string{"Quit"}) {
			t.Errorf("olga's page showed nadia %q (%v) after the late reply; want %q", shown, err, []string{"Quit"})
		}
	})

	t.Run("HistoryPages", func(t *testing.T) {
		pastCalls(t, sdkDevice(t, srv, "yara"), 6) // more than one page of history
		zack := openTab(t, browser, base, "zack")
		yara := openTab(t, browser, base, "yara")
		yara.do(chromedp.WaitVisible(chromedp.CSS(`#history tbody tr:nth-child(5)`)), click(`#history-older`),
			chromedp.Poll[chromedp.Void](`document.querySelector('#history-page').textContent === 'Page 2'`,
				chromedp.WithPollingInterval(20*time.Millisecond)))
		// While she looks at an older page, zack rings her in advanced mode and cancels: the
		// event does not say whether the whole call ended (R3.2); her page reads it.
		zack.ring(Advanced, 30, "yara")
		yara.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.accept`)))
		zack.do(click(`#calls button[data-key^="cancel-"]`))
		yara.do(chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"]`)))
		// Someone else signing in on this tab sees the first page of their own history.
		yara.do(click(`#signout`), chromedp.WaitVisible(chromedp.CSS(`#user`)),
			chromedp.SetValue(chromedp.CSS(`#user`), "zack"), click(`#signin-form button[type=submit]`),
			chromedp.WaitVisible(chromedp.CSS(`body[data-user="zack"] #conn[data-state=Connected]`)),
			chromedp.WaitVisible(chromedp.CSS(`#history tbody li[data-user="yara"]`)),
			chromedp.Poll[chromedp.Void](`document.querySelector('#history-page').textContent === 'Page 1'`,
				chromedp.WithPollingInterval(20*time.Millisecond)))
	})

	t.Run("ReplayForACallNotOnTheFirstPage", func(t *testing.T) {
		// ivan rings judy; then judy makes five calls of her own, so his is not on the first page
		// of her history.
		ivanPhone := sdkDevice(t, srv, "ivan")
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		defer cancel()
		r, err := ivanPhone.CallInvite(ctx, []string{"judy"}, client.InviteConfig{Timeout: 60})
		if err != nil {
			t.Fatal(err)
		}
		pastCalls(t, sdkDevice(t, srv, "judy"), 5)
		judy := openTab(t, browser, base, "judy")
		judy.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.accept`)))
		// While her page is closed, ivan gives up. The page she opens again starts with nothing
		// in memory and is replayed what it missed (R7.2): the cancellation, which does not name
		// the caller. The page reads the call it does not know.
		judy.do(chromedp.Navigate("about:blank"))
		if _, err := ivanPhone.CallCancel(ctx, r.CallID, nil, client.OpConfig{}); err != nil {
			t.Fatal(err)
		}
		judy.do(chromedp.Navigate(base),
			chromedp.WaitVisible(chromedp.CSS(`body[data-user="judy"] #conn[data-state=Connected]`)),
			chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"] li[data-user="judy"][data-state="BeCancelled"]`)),
			chromedp.Poll[chromedp.Void](`(() => {
				const card = document.querySelector('#calls [data-call][data-state="Ended"]');
				return card.querySelector('h3').textContent.startsWith('Call from ivan')
					&& card.querySelector('li[data-user="ivan"][data-state="Cancelled"]') !== null
					&& !card.querySelector('.meta').textContent.includes('started —');
			})()`, chromedp.WithPollingInterval(20*time.Millisecond)))
	})

	t.Run("EventOlderThanTheCallRead", func(t *testing.T) {
		kim := openTab(t, browser, base, "kim")
		kim.do(onEveryPage(holdEventsFromInvitation), chromedp.Reload(),
			chromedp.WaitVisible(chromedp.CSS(`body[data-user="kim"] #conn[data-state=Connected]`)))
		kimPhone := sdkDevice(t, srv, "kim")
		leo := openTab(t, browser, base, "leo")
		leo.ring(Advanced, 30, "kim")
		callID, err := chromedp.Run(leo.statusCtx(), chromedp.Evaluate[string](
			`document.querySelector('#calls [data-call]').dataset.call`))
		if err != nil {
			t.Fatal(err)
		}
		// kim answers on her phone while her page's events are held; the page reads her calls
		// (the history) and shows her in the call.
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		defer cancel()
		if _, err := kimPhone.CallAccept(ctx, callID, client.OpConfig{}); err != nil {
			t.Fatal(err)
		}
		leo.waitUserState("kim", "Accepted")
		kim.do(click(`#history-refresh`),
			chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="In call"]`)))
		// The invitation, older than the call the page has read, then arrives: it must not ring.
		kim.do(chromedp.Evaluate[chromedp.Void](`window.releaseHeldEvent()`),
			chromedp.Poll[chromedp.Void](`document.querySelector('#log').textContent.includes('callInvitationReceived')`,
				chromedp.WithPollingInterval(20*time.Millisecond)))
		shown, err := chromedp.Run(kim.statusCtx(), chromedp.Evaluate[[]string](
			`[...document.querySelectorAll('#incoming [data-call], #calls [data-call]')].map((el) => el.dataset.state ?? 'ringing')`))
		if err != nil || !slices.Equal(shown, []string{"In call"}) {
			t.Errorf("kim's page shows %q (%v) after the out-of-date invitation; want %q", shown, err, []string{"In call"})
		}
	})
}

// holdEventsFromInvitation makes the page's WebSockets hold every event from the first
// callInvitationReceived on, replies passing; window.releaseHeldEvent hands the oldest held
// one to the page.
const holdEventsFromInvitation = `{
	const Native = WebSocket;
	const held = [];
	let holding = false;
	window.releaseHeldEvent = () => held.shift()?.();
	window.WebSocket = class extends Native {
		set onmessage(fn) {
			super.onmessage = fn && ((ev) => {
				if (/"event":"callInvitationReceived"/.test(ev.data)) holding = true;
				if (holding && /"event":/.test(ev.data)) held.push(() => fn(ev));
				else fn(ev);
			});
		}
		get onmessage() { return super.onmessage; }
	};
}`

// sdkDevice logs user in with the Go SDK, as another device than the user's tabs; it is closed
// when the test ends.
func sdkDevice(t *testing.T, srv *servertest.Server, user string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	c, err := client.Dial(ctx, srv.URL, client.Options{})
	if err != nil {
		t.Fatalf("%s's SDK device: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Login(ctx, servertest.Token(t, user), "sdk"); err != nil {
		t.Fatalf("%s's SDK device: %v", user, err)
	}
	return c
}

// pastCalls makes the user of c, a Go SDK client, the caller of n calls, each cancelled at once.
func pastCalls(t *testing.T, c *client.Client, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	for range n {
		r, err := c.CallInvite(ctx, []string{"nobody"}, client.InviteConfig{Timeout: 30})
		if err == nil {
			_, err = c.CallCancel(ctx, r.CallID, nil, client.OpConfig{})
		}
		if err != nil {
			t.Fatalf("past calls: %v", err)
		}
	}
}

// holdJoinReplies makes the page's WebSockets keep replies to callJoin (those with a joinTime)
// from the page until window.releaseJoinReplies is called.
const holdJoinReplies = `{
	const Native = WebSocket;
	const held = [];
	window.releaseJoinReplies = () => {
		for (const deliver of held.splice(0)) deliver();
	};
	window.WebSocket = class extends Native {
		set onmessage(fn) {
			super.onmessage = fn && ((ev) => {
				if (/"joinTime":/.test(ev.data)) held.push(() => fn(ev));
				else fn(ev);
			});
		}
		get onmessage() { return super.onmessage; }
	};
}`

// loseEventsOnReconnect gives the page window.cutConnection, which closes its WebSockets and
// holds the login of the reconnection, and window.reconnect, which sends it with a lastSeq the
// server does not hold, so that it cannot replay what the page missed (caughtUp false, R7.2).
const loseEventsOnReconnect = `{
	const Native = WebSocket;
	const sockets = [];
	let lose = false; // the next login loses what the page missed
	let hold = false; // logins wait for window.reconnect
	let held = null;
	window.WebSocket = class extends Native {
		constructor(...args) {
			super(...args);
			sockets.push(this);
		}
		send(data) {
			if (lose && /"op":"login"/.test(data)) {
				lose = false;
				data = data.replace(/"lastSeq":\d+/, '"lastSeq":9007199254740991');
				if (hold) {
					held = () => super.send(data);
					return;
				}
			}
			super.send(data);
		}
	};
	window.cutConnection = () => {
		lose = hold = true;
		for (const ws of sockets.splice(0)) ws.close();
	};
	window.reconnect = () => {
		hold = false;
		held?.();
	};
}`

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

// recordUserStates returns a script that makes the page record, in window.userStates, the state
// its call card shows for user and each state it shows from now on.
func recordUserStates(user string) string {
	return fmt.Sprintf(`{
	window.userStates = [];
	const record = () => {
		const state = document.querySelector('#calls li[data-user=%q]')?.dataset.state;
		if (state && window.userStates.at(-1) !== state) window.userStates.push(state);
	};
	record();
	new MutationObserver(record).observe(document.querySelector('#calls'),
		{ childList: true, subtree: true, attributes: true, attributeFilter: ['data-state'] });
}`, user)
}

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
