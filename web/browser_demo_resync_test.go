package web_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dialtone/dialtone/client"
)

// The demo's scenarios of a page that missed events, reads its calls again or shows what others sent.

// demoReconnectThatLostEvents: a page reconnected without the events it missed (R7.2) reads its
// calls again.
func demoReconnectThatLostEvents(t *testing.T, d demo) {
	rupert := d.open(t, "rupert")
	rupertPhone := d.device(t, "rupert")
	pastCalls(t, rupertPhone, 4)
	sybil := d.open(t, "sybil")
	walter := d.open(t, "walter")
	rupert.reloadWith(loseEventsOnReconnect)
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
}

// demoRingEndsAtItsDeadlineWhileCutOff: a page cut off from the server, which cannot hear the
// invitation's timeout, stops ringing at the invitation's deadline all the same (protocol "Ring
// time", R3.5): no Incoming card, no Accept button, no count in the title, for a ring that is over.
func demoRingEndsAtItsDeadlineWhileCutOff(t *testing.T, d demo) {
	abel := d.open(t, "abel")
	bea := d.open(t, "bea")
	abel.reloadWith(cutOffSockets)
	bea.ring(General, 3, "abel")
	abel.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.accept`)),
		chromedp.Evaluate[chromedp.Void](`window.cutConnection()`),
		chromedp.WaitVisible(chromedp.CSS(`#conn[data-state=Reconnecting]`)))
	bea.waitUserState("abel", "Timeout") // the deadline has passed
	// A socket that never opens is given up after requestTimeoutMs (15 s), longer than this wait.
	ctx, cancel := context.WithTimeout(abel.ctx, 5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](
		`!document.querySelector('#no-incoming').hidden && !document.querySelector('#incoming [data-call]')
			&& document.title === 'Dialtone demo'`, chromedp.WithPollingInterval(20*time.Millisecond)))
	state, _ := chromedp.Run(abel.statusCtx(), chromedp.Evaluate[string](`document.querySelector('#conn').dataset.state`))
	if err != nil || state != "Reconnecting" {
		t.Fatalf("abel's page 5 s after his ring's deadline, cut off (%s): still ringing (%v)", state, err)
	}
	abel.do(chromedp.Evaluate[chromedp.Void](`window.reconnect()`),
		chromedp.WaitVisible(chromedp.CSS(`#conn[data-state=Connected]`)))
	abel.waitUserState("abel", "Timeout")
}

// demoRefusedAnswerEndsAGhostRing: a page that did not hear its invitation's cancel still rings;
// the accept it sends is refused (6000276, R3.3), and the page, reading the call, stops ringing.
func demoRefusedAnswerEndsAGhostRing(t *testing.T, d demo) {
	ned := d.open(t, "ned")
	mia := d.open(t, "mia")
	ned.reloadWith(dropEventsOnDemand)
	mia.ring(General, 30, "ned")
	// The page reads its history once after the invitation's events (refreshHistorySoon): the
	// cancel comes after that read, which would show it, and no event tells it to read again.
	ned.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.accept`)),
		chromedp.Evaluate[chromedp.Void](`window.dropEvents()`),
		chromedp.WaitReady(chromedp.CSS(`#history tbody tr[data-call]`)))
	mia.do(click(`#calls button[data-key^="cancel-"]`))
	mia.waitUserState("ned", "BeCancelled")
	ned.do(click(`#incoming button.accept`),
		chromedp.Poll[chromedp.Void](`document.querySelector('#status').textContent.startsWith('Accept:')`,
			chromedp.WithPollingInterval(20*time.Millisecond)))
	ctx, cancel := context.WithTimeout(ned.ctx, 5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"] li[data-user="ned"][data-state="BeCancelled"]`))); err != nil {
		incoming, _ := chromedp.Run(ned.statusCtx(), chromedp.Evaluate[int](`document.querySelectorAll('#incoming [data-call]').length`))
		t.Fatalf("ned's page 5 s after its accept was refused (%q): %d invitations ringing, the call not shown cancelled (%v)",
			ned.status(), incoming, err)
	}
	if got := ned.status(); !strings.Contains(got, "6000276") {
		t.Errorf("ned's status line: %q, want the refusal 6000276", got)
	}
}

// demoMarkupInNamesAndDataIsText: userIDs may hold < > & ; = (behaviour §1) and extendedData anything: the page shows them
// as text, where they were sent from, and no element is made of them (nor would the page's
// Content-Security-Policy run an inline handler, which openTab reports).
func demoMarkupInNamesAndDataIsText(t *testing.T, d demo) {
	const caller, data = `<img>&amp;<b>`, `<img src=x onerror="window.xss=1"><script>window.xss=2</script>&lt;`
	winnie := d.open(t, "winnie")
	c := d.device(t, caller)
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
}

// demoCallFollowedOnAnotherDevice: a caller's second tab, not the call's main device, follows the
// call by reading it (R6.3).
func demoCallFollowedOnAnotherDevice(t *testing.T, d demo) {
	ursula := d.open(t, "ursula")
	xavier := d.open(t, "xavier")
	xavierPhone := d.open(t, "xavier")
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
}

// demoJoinReplyAfterEvents: the late reply to a join does not undo a quit shown before it.
func demoJoinReplyAfterEvents(t *testing.T, d demo) {
	nadia := d.open(t, "nadia")
	olga := d.open(t, "olga")
	mike := d.open(t, "mike")
	olga.reloadWith(holdJoinReplies)
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
}

// demoHistoryPages: the history pages back, and an event read while on an older page shows the
// call ended.
func demoHistoryPages(t *testing.T, d demo) {
	pastCalls(t, d.device(t, "yara"), 6) // more than one page of history
	zack := d.open(t, "zack")
	yara := d.open(t, "yara")
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
}

// demoReplayForACallNotOnTheFirstPage: a replayed event of a call the page has not read makes the
// page read it.
func demoReplayForACallNotOnTheFirstPage(t *testing.T, d demo) {
	// ivan rings judy; then judy makes five calls of her own, so his is not on the first page
	// of her history.
	ivanPhone := d.device(t, "ivan")
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	r, err := ivanPhone.CallInvite(ctx, []string{"judy"}, client.InviteConfig{Timeout: 60})
	if err != nil {
		t.Fatal(err)
	}
	pastCalls(t, d.device(t, "judy"), 5)
	judy := d.open(t, "judy")
	judy.do(chromedp.WaitVisible(chromedp.CSS(`#incoming button.accept`)))
	// While her page is closed, ivan gives up. The page she opens again starts with nothing
	// in memory and is replayed what it missed (R7.2): the cancellation, which does not name
	// the caller. The page reads the call it does not know.
	judy.do(chromedp.Navigate("about:blank"))
	if _, err := ivanPhone.CallCancel(ctx, r.CallID, nil, client.OpConfig{}); err != nil {
		t.Fatal(err)
	}
	judy.do(chromedp.Navigate(d.base),
		chromedp.WaitVisible(chromedp.CSS(`body[data-user="judy"] #conn[data-state=Connected]`)),
		chromedp.WaitVisible(chromedp.CSS(`#calls [data-call][data-state="Ended"] li[data-user="judy"][data-state="BeCancelled"]`)),
		chromedp.Poll[chromedp.Void](`(() => {
			const card = document.querySelector('#calls [data-call][data-state="Ended"]');
			return card.querySelector('h3').textContent.startsWith('Call from ivan')
				&& card.querySelector('li[data-user="ivan"][data-state="Cancelled"]') !== null
				&& !card.querySelector('.meta').textContent.includes('started —');
		})()`, chromedp.WithPollingInterval(20*time.Millisecond)))
}

// demoEventOlderThanTheCallRead: an invitation older than the call the page has read does not
// ring.
func demoEventOlderThanTheCallRead(t *testing.T, d demo) {
	kim := d.open(t, "kim")
	kim.reloadWith(holdEventsFromInvitation)
	kimPhone := d.device(t, "kim")
	leo := d.open(t, "leo")
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

// cutOffSockets gives the page window.cutConnection, which closes its WebSockets and keeps those
// it opens from then on from reaching the server, as a network gone silent does, and
// window.reconnect, which lets them connect.
const cutOffSockets = `{
	const Native = WebSocket;
	const sockets = [];
	const held = [];
	let cut = false;
	// Held is a WebSocket that connects only once window.reconnect is called; the handlers the
	// page sets on it are read when its native socket's events come.
	class Held {
		constructor(url) { this.url = url; }
		connect() {
			if (this.closed) return;
			const ws = this.ws = new Native(this.url);
			sockets.push(ws);
			for (const name of ['onopen', 'onmessage', 'onclose', 'onerror']) ws[name] = (ev) => this[name]?.(ev);
		}
		send(data) { this.ws.send(data); }
		close(...args) {
			this.closed = true;
			this.ws?.close(...args);
		}
	}
	window.WebSocket = function (url) {
		if (!cut) {
			const ws = new Native(url);
			sockets.push(ws);
			return ws;
		}
		const ws = new Held(url);
		held.push(ws);
		return ws;
	};
	window.cutConnection = () => {
		cut = true;
		for (const ws of sockets.splice(0)) ws.close();
	};
	window.reconnect = () => {
		cut = false;
		for (const ws of held.splice(0)) ws.connect();
	};
}`

// dropEventsOnDemand gives the page window.dropEvents, after which its WebSockets hand it no
// event any more (replies pass), as if the events were lost.
const dropEventsOnDemand = `{
	const Native = WebSocket;
	let dropping = false;
	window.dropEvents = () => { dropping = true; };
	window.WebSocket = class extends Native {
		set onmessage(fn) {
			super.onmessage = fn && ((ev) => {
				if (!dropping || !/"event":/.test(ev.data)) fn(ev);
			});
		}
		get onmessage() { return super.onmessage; }
	};
}`

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
