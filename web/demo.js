// The Dialtone demo page: sign in as anyone (--dev hands out tokens), ring people, answer, and
// in advanced mode invite more, quit, end and join from the history. Everything it does goes
// through the browser SDK in dialtone.js.
import {
  Dialtone, DialtoneError, CallUserState as S, CallState, CallMode, CallEvents, ErrorCode, stateName,
} from './dialtone.js';
import { alertRings, startAlerts } from './demo-alerts.js';
import { h, morph, kickText } from './demo-dom.js';

const $ = (sel) => document.querySelector(sel);
const tabStore = window.sessionStorage; // per tab, so two tabs can be two users
const KEY = { user: 'dialtone-demo:user', token: 'dialtone-demo:token', device: 'dialtone-demo:device' };
const HISTORY_PAGE = 5;
const MAX_EXTENDED_DATA = 2048; // bytes of an op's extendedData (behaviour §3: more is 6000001)
const PENDING = new Set([S.Inviting, S.NotYetReceived, S.Received]);
const REJOINABLE = new Set([S.Rejected, S.Timeout, S.Quit, ...PENDING]);

let client = null;
let me = '';
let signingOut = false;
const calls = new Map(); // callID → call (see upsert)
const pager = { flags: [0], page: 0, next: 0, list: [], loading: false }; // the history panel's pages
// busy holds the calls with an operation of this page on its way (whileBusy): the buttons of
// their cards and history rows are disabled until it is over.
const busy = new Set();

function say(text, isError = false) {
  const el = $('#status');
  el.textContent = text;
  el.classList.toggle('error', isError);
}

// codeText names an error code of behaviour §8: "InvalidParameter, 6000001".
function codeText(code) {
  const name = Object.keys(ErrorCode).find((k) => ErrorCode[k] === code) || 'Error';
  return `${name}, ${code}`;
}

function errorText(err) {
  if (err instanceof DialtoneError && err.code) return `${err.message} (${codeText(err.code)})`;
  return err?.message || String(err);
}

// invalid is the error of input the page refuses before sending it: the server's code for an
// invalid parameter (6000001), so it reads as the server's refusals do.
const invalid = (message) => new DialtoneError(ErrorCode.InvalidParameter, message);

// pressing runs fn, the work of a press of button, with button disabled until it is over, so a
// second press sends nothing twice; a press while it is disabled does nothing. The button gets
// the keyboard focus back if it had it (a button loses it while disabled).
async function pressing(button, fn) {
  if (button.disabled) return undefined;
  const focused = document.activeElement === button;
  button.disabled = true;
  try {
    return await fn();
  } finally {
    button.disabled = false;
    if (focused && focusLost()) button.focus();
  }
}

// focusLost tells whether the keyboard focus is nowhere: on the body, as after the element
// that had it was disabled or removed.
const focusLost = () => !document.activeElement || document.activeElement === document.body;

// whileBusy runs fn, an operation on call callID and what follows it, with the call's buttons
// disabled until it is over (busy); while one is on its way, another does nothing. A focus lost
// meanwhile goes back to the element that had it or, when that is gone (the card of an answered
// ring, a Cancel button of a call over), to the call's card: a keyboard user goes on from the call.
async function whileBusy(callID, fn) {
  if (busy.has(callID)) return;
  const pressed = document.activeElement;
  busy.add(callID);
  redraw();
  try {
    await fn();
  } finally {
    busy.delete(callID);
    redraw();
    if (focusLost()) {
      if (pressed?.isConnected && pressed !== document.body) pressed.focus();
      else document.querySelector(`#calls [data-call="${CSS.escape(callID)}"]`)?.focus();
    }
  }
}

// act runs an operation, reporting its failure in the status line. One the user asked for clears
// the line when it succeeds; one the page makes by itself (background) does not, so a read that
// follows an event never wipes out a failure the user has not read yet.
async function act(what, fn, { background = false } = {}) {
  try {
    const r = await fn();
    if (!background) say('');
    return r;
  } catch (err) {
    say(`${what}: ${errorText(err)}`, true);
    return undefined;
  }
}

const time = (ms) => (ms ? new Date(ms).toLocaleTimeString() : '—');
const modeName = (m) => (m === CallMode.Advanced ? 'Advanced' : 'General');
const stateClass = (st) => `state-${stateName(st).toLowerCase()}`;

function log(text) {
  const list = $('#log');
  list.prepend(h('li', {}, h('time', {}, new Date().toLocaleTimeString()), ' ', text));
  while (list.children.length > 100) list.lastChild.remove();
}

// ---- the calls this tab knows, updated from results and events ----

// WHOLE are the events that carry a whole call (its caller, mode, creation and users); the
// others carry only what changed.
const WHOLE = new Set(['callInvitationCreated', 'callInvitationReceived']);

// upsert merges what is known about a call: fields of info, and the users of info.callUserList
// (all of them, or only the changed ones for callUserStateChanged). A call's here says this tab
// is its user's main device in it (it created, accepted or joined the call, or was told so by
// callMainDeviceChanged): another device is told only its user's own changes and the end (R6.3).
function upsert(callID, info = {}) {
  let c = calls.get(callID);
  if (c && info.version && info.version < c.version) return c; // an older snapshot than what we know
  if (!c) {
    c = { callID, mode: CallMode.General, caller: '', state: CallState.Started, createTime: 0,
      endTime: 0, version: 0, extendedData: '', users: new Map(), note: '', seen: Date.now(), here: false };
    calls.set(callID, c);
  }
  for (const k of ['mode', 'caller', 'createTime', 'endTime']) if (info[k] !== undefined) c[k] = info[k];
  if (info.state !== undefined) c.state = info.state;
  // The call's own extendedData (given at its creation) comes with a whole CallInfo, which has a
  // state; an event's is the data of the operation it tells of (a cancel's, an end's).
  if (info.state !== undefined && info.extendedData !== undefined) c.extendedData = info.extendedData;
  if (info.version > c.version) c.version = info.version;
  for (const u of info.callUserList || []) c.users.set(u.userID, { ...c.users.get(u.userID), ...u });
  if (myState(c) !== S.Accepted) c.here = false; // a main device is one of an Accepted user
  return c;
}

function setMine(c, state) {
  c.users.set(me, { ...(c.users.get(me) || { userID: me }), state });
}

const myState = (c) => c.users.get(me)?.state ?? S.Unknown;
// ringing tells whether the call rings on this page: this user is pending in it (the caller too
// rings when invited again into its own call, R3.6), until its deadline on the server's clock.
// An invitation whose timeout the page has not heard (it is cut off, or the event is late)
// stops ringing at the deadline all the same (protocol "Ring time"); the timeout event, when
// it comes, sets the state. A pending entry without a deadline (none known yet) rings.
const ringing = (c) => c.state === CallState.Started && PENDING.has(myState(c)) && !ringIsOver(c);
const ringIsOver = (c) => {
  const deadline = c.users.get(me)?.deadline;
  return deadline > 0 && client !== null && client.remainingRingTime(deadline) === 0;
};

function onCallEvent(name, d) {
  if (name === 'callMainDeviceChanged') { // this user's main device in a call moved (R3.7)
    const known = calls.get(d.callID);
    if (known) known.here = d.deviceID === client.deviceID;
    return;
  }
  const known = calls.get(d.callID);
  // An event older than the call as the page last read it (a reply may come before events of
  // earlier changes, protocol "Envelopes") is already reflected in what the page shows: handling
  // it again would bring back what the call has left since, such as the ringing of an
  // invitation answered meanwhile.
  if (known && d.version && d.version < known.version) return;
  const c = upsert(d.callID, d);
  switch (name) {
    case 'callInvitationCreated':
      c.state = CallState.Started;
      break;
    case 'callInvitationReceived': {
      c.state = CallState.Started;
      const mine = c.users.get(me) || { userID: me, state: S.Inviting };
      // The ring started when this user was invited (its entry's updateTime as the event
      // carries it), later than the call's creation for an invitation into a call going on (R3.6).
      const ringFrom = (d.callUserList || []).find((u) => u.userID === me)?.updateTime;
      c.users.set(me, { ...mine, deadline: d.deadline, inviter: d.inviter, invitation: d.extendedData, ringFrom });
      if (!PENDING.has(mine.state)) setMine(c, S.Inviting);
      break;
    }
    case 'callUserStateChanged':
      if (d.callState === CallState.Ended) c.state = CallState.Ended;
      break;
    case 'callInvitationCancelled': {
      const mine = (d.callUserList || []).some((u) => u.userID === me);
      if (mine) c.note = `${d.inviter || c.caller} cancelled the call`;
      if (c.mode === CallMode.Advanced) {
        refreshCall(c.callID); // the whole call or some invitees (R3.2): the event does not say
      } else {
        // A general call is cancelled whole (R3.2). Without this user among the cancelled, this
        // user cancelled it, from another device or by answering another call (R3.3b, R4.3).
        c.state = CallState.Ended;
        if (!mine && c.caller === me) setMine(c, S.Cancelled);
      }
      break;
    }
    case 'callInvitationTimeout':
      setMine(c, S.Timeout);
      c.note = 'You did not answer in time';
      if (c.mode === CallMode.General) {
        // A general call ends once nobody is pending (R4.1). Invitees who timed out together
        // get only their own event, so a call that seems to go on is read again.
        if ([...c.users.values()].some((u) => PENDING.has(u.state))) refreshCall(c.callID);
        else c.state = CallState.Ended;
      }
      break;
    case 'callInvitationEnded':
      c.state = CallState.Ended;
      c.note = `${d.operatedUserID || 'Someone'} ended the call`;
      break;
    default:
  }
  render();
  refreshHistorySoon();
  // A call the page did not know, told of by an event that does not carry it whole: one
  // replayed into a page just reloaded (R7.2) that is not on the first page of the history the
  // page read. The page reads it, or it would show the call without its caller or mode.
  if (!known && !WHOLE.has(name)) refreshCall(d.callID);
}

// ---- rendering ----

// render draws the ringing invitations and the calls. A focus lost because the element that had
// it went away (a ring's Accept when the caller cancelled, Cancel call when the callee answered)
// moves to the card of its call, or the Calls heading: a keyboard user goes on from the call.
function render() {
  const focused = document.activeElement?.closest('#incoming [data-call], #calls [data-call]')?.dataset.call;
  renderIncoming();
  renderCalls();
  if (focused !== undefined && focusLost()) {
    (document.querySelector(`#calls [data-call="${CSS.escape(focused)}"]`) || $('#calls-h')).focus();
  }
  tick();
}

// redraw draws the calls and the history's rows again.
function redraw() {
  render();
  renderHistory();
}

// ringNoteOf returns the note (extendedData) of this user's invitation into call c: its event's.
// A ring read from the history (after a reload) shows the call's own, which is its invitation's
// in a general call; in an advanced one, an invitation into the call going on (R3.6) has its
// own, which the history does not hold, so none is shown.
function ringNoteOf(c) {
  return c.users.get(me)?.invitation ?? (c.mode === CallMode.General ? c.extendedData : '');
}

// renderIncoming draws the ringing invitations, each with the note (extendedData) of its
// invitation, and makes the ring tone and notifications follow them (alertRings), but for one
// whose answer is on its way: it stops ringing as the user presses Accept or Reject.
function renderIncoming() {
  const rings = [...calls.values()].filter(ringing);
  const cards = rings.map((c) => {
    const mine = c.users.get(me);
    const from = mine.inviter || c.caller;
    // The ring's start: from its invitation's event, or, for one read from the history (after a
    // reload), the entry's last change, its invitation or the receipt that follows it at once.
    const ringFrom = mine.ringFrom || mine.updateTime || c.createTime;
    const others = [...c.users.values()].filter((u) => u.userID !== me && PENDING.has(u.state)).map((u) => u.userID);
    return h('article', { class: 'card incoming', dataset: { call: c.callID }, 'aria-labelledby': `in-${c.callID}` },
      h('h3', { id: `in-${c.callID}` }, h('span', { class: 'ring-icon', 'aria-hidden': 'true' }), `${from} is calling you`),
      h('p', { class: 'meta' }, `${modeName(c.mode)} call`, others.length ? ` · also ringing ${others.join(', ')}` : ''),
      ringNoteOf(c) ? h('p', { class: 'note' }, 'Note: ', h('q', { class: 'extended' }, ringNoteOf(c))) : null,
      h('div', { class: 'countdown' },
        h('div', { class: 'bar', 'aria-hidden': 'true' },
          h('span', { dataset: { bar: mine.deadline, from: ringFrom } })),
        h('span', { role: 'timer', class: 'left', dataset: { deadline: mine.deadline } })),
      h('div', { class: 'actions' },
        h('button', { class: 'accept', type: 'button', dataset: { key: `accept-${c.callID}` }, disabled: busy.has(c.callID),
          onclick: () => answerRing(c, 'Accept', async () => {
            await client.callAccept(c.callID);
            setMine(c, S.Accepted);
            c.here = true;
          }) }, 'Accept'),
        h('button', { class: 'reject', type: 'button', dataset: { key: `reject-${c.callID}` }, disabled: busy.has(c.callID),
          onclick: () => answerRing(c, 'Reject', async () => {
            await client.callReject(c.callID);
            setMine(c, S.Rejected);
          }) }, 'Reject')));
  });
  morph($('#incoming'), cards);
  $('#no-incoming').hidden = cards.length > 0;
  document.title = cards.length ? `(${cards.length}) Incoming call — Dialtone demo` : 'Dialtone demo';
  alertRings(rings.filter((c) => !busy.has(c.callID)).map((c) => { // one being answered is quiet
    const mine = c.users.get(me);
    return { callID: c.callID, title: `${mine.inviter || c.caller} is calling you`,
      body: ringNoteOf(c) || `${modeName(c.mode)} call — Dialtone demo` };
  }));
}

// answerRing accepts or rejects the invitation of call c (op) as act does. The op sets the
// user's state its reply confirms: the ring is over then, also when the answer's event comes
// after the reply (protocol "Envelopes") or is lost. One that fails may have met a ring that
// is over without the page being told (answered on another device, cancelled or timed out,
// the event lost or not come yet: R3.3 refuses it, 6000274 or 6000276): the page reads the
// call again, so it stops ringing for it. The call's buttons wait for it.
function answerRing(c, what, op) {
  return whileBusy(c.callID, async () => {
    const done = await act(what, async () => {
      await op();
      return true;
    });
    if (!done) await refreshCall(c.callID);
  });
}

function renderCalls() {
  const list = [...calls.values()].filter((c) => !ringing(c)).sort((a, b) => b.seen - a.seen).slice(0, 6);
  morph($('#calls'), list.map(callCard));
  $('#no-calls').hidden = list.length > 0;
}

function callCard(c) {
  const started = c.state === CallState.Started;
  const mine = myState(c);
  const answered = [...c.users.values()].some((u) => u.userID !== c.caller && u.state === S.Accepted);
  const anyPending = [...c.users.values()].some((u) => PENDING.has(u.state));
  let status = 'Ended';
  if (started && mine === S.Accepted) status = anyPending && !answered ? 'Ringing…' : 'In call';
  else if (started) status = PENDING.has(mine) ? 'Missed' : 'Going on without you'; // a ring that is over
  const users = [...c.users.values()].sort((a, b) => (a.userID === c.caller ? -1 : b.userID === c.caller ? 1 : 0));
  const key = (k) => ({ key: `${k}-${c.callID}` });
  const disabled = busy.has(c.callID);
  const op = (what, fn) => () => whileBusy(c.callID, () => act(what, fn)); // a button's onclick
  const actions = [];
  if (started && c.caller === me && !answered && mine === S.Accepted) {
    actions.push(h('button', { type: 'button', dataset: key('cancel'), disabled,
      onclick: op('Cancel', async () => {
        await client.callCancel(c.callID, []);
        // The device that cancels gets its reply and no event (behaviour §5): read the call.
        upsert(c.callID, await client.queryCall(c.callID));
        render();
        refreshHistorySoon();
      }) }, 'Cancel call'));
  }
  if (started && c.mode === CallMode.Advanced && mine === S.Accepted) {
    const input = h('input', { id: `more-${c.callID}`, class: 'more', autocomplete: 'off', placeholder: 'names, comma-separated',
      dataset: key('more') });
    actions.push(h('form', { class: 'invite-more', onsubmit: (e) => {
      e.preventDefault();
      const field = e.currentTarget.querySelector('input.more'); // the one on show, which morph kept
      op('Invite', () => invite(c, field))();
    } }, h('label', { for: input.id }, 'Invite more'), input,
    h('button', { type: 'submit', dataset: key('invite'), disabled }, 'Invite')));
    actions.push(h('button', { type: 'button', dataset: key('quit'), disabled,
      // The quit's callUserStateChanged, to all this user's devices (behaviour §5), shows it; its
      // reply may come after later events, such as an invitation into the call again.
      onclick: op('Quit', () => client.callQuit(c.callID)) }, 'Quit'));
    actions.push(h('button', { type: 'button', class: 'reject', dataset: key('end'), disabled,
      onclick: op('End', async () => {
        const r = await client.callEnd(c.callID);
        upsert(c.callID, { state: CallState.Ended, endTime: r.endTime });
        render();
      }) }, 'End call'));
  }
  if (started && c.mode === CallMode.Advanced && mine !== S.Accepted && REJOINABLE.has(mine)) {
    actions.push(h('button', { type: 'button', class: 'join', dataset: key('join'), disabled,
      onclick: () => join({ callID: c.callID }) }, 'Join again'));
  }
  if (!started) {
    actions.push(h('button', { type: 'button', class: 'quiet', dataset: key('dismiss'),
      onclick: () => dismiss(c.callID) }, 'Dismiss'));
  }
  return h('article', { class: `card call ${started ? 'live' : 'over'}`, dataset: { call: c.callID, state: status },
    'aria-labelledby': `call-${c.callID}`, tabindex: '-1' }, // focused when the button pressed is gone (whileBusy)
  h('h3', { id: `call-${c.callID}` }, c.caller === me ? 'Your call' : `Call from ${c.caller}`,
    h('span', { class: 'badge call-status' }, status)),
  h('p', { class: 'meta' }, `${modeName(c.mode)} · started ${time(c.createTime)}`,
    c.endTime ? ` · ended ${time(c.endTime)}` : '', c.note ? ` · ${c.note}` : ''),
  h('ul', { class: 'users' }, users.map((u) => h('li', { dataset: { user: u.userID, state: stateName(u.state) } },
    h('span', { class: 'name' }, u.userID, u.userID === me ? ' (you)' : '', u.userID === c.caller ? ' · caller' : ''),
    h('span', { class: `badge ${stateClass(u.state)}` }, stateName(u.state)),
    started && PENDING.has(u.state) && u.deadline
      ? h('span', { class: 'left small', dataset: { deadline: u.deadline } }) : null))),
  actions.length ? h('div', { class: 'actions' }, actions) : null);
}

// dismiss takes the card of call callID (over) away. The focus, if it was in the card, moves to
// the card that takes its place, or the one before it, or the panel's heading: a keyboard user
// goes on from there, not from the top of the page.
function dismiss(callID) {
  const card = document.querySelector(`#calls [data-call="${CSS.escape(callID)}"]`);
  const next = card?.nextElementSibling?.dataset.call ?? card?.previousElementSibling?.dataset.call;
  const hadFocus = card?.contains(document.activeElement);
  calls.delete(callID);
  render();
  if (!hadFocus) return;
  const to = next !== undefined && document.querySelector(`#calls [data-call="${CSS.escape(next)}"]`);
  (to || $('#calls-h')).focus();
}

// invite invites the names typed in field into call c (R3.6) for the ring time and with the
// note of the ring form, and empties field once they are invited. Nobody to invite, or a ring
// time or note the ring form would refuse, is refused (6000001) without sending anything; what
// was typed stays.
async function invite(c, field) {
  const names = splitNames(field.value);
  if (!names.length) throw invalid('type the names of whom to invite');
  const timeout = $('#timeout');
  if (!timeout.checkValidity()) throw invalid(`ring for: ${timeout.validationMessage}`);
  const r = await client.callingInvite(c.callID, names, { timeout: Number(timeout.value), extendedData: ringNote() });
  field.value = '';
  reportErrorUsers(r.errorUserList);
  // The new invitees get no callUserStateChanged (behaviour §5); show them from the call.
  upsert(c.callID, await client.queryCall(c.callID));
  render();
}

// tick refreshes every countdown from its deadline, corrected by the server clock offset, and
// redraws the page when a ring is over (ringing).
function tick() {
  if (!client) return;
  if ($('#incoming').children.length !== [...calls.values()].filter(ringing).length) {
    render(); // which ticks again, with the cards of the calls ringing now
    return;
  }
  for (const el of document.querySelectorAll('[data-deadline]')) {
    const left = client.remainingRingTime(Number(el.dataset.deadline));
    el.textContent = left > 0 ? `${Math.ceil(left / 1000)} s left` : 'time is up';
  }
  for (const el of document.querySelectorAll('[data-bar]')) {
    const total = Math.max(1, Number(el.dataset.bar) - Number(el.dataset.from));
    const left = client.remainingRingTime(Number(el.dataset.bar));
    el.style.width = `${Math.max(0, Math.min(100, (100 * left) / total))}%`;
  }
}

// ---- ringing ----

// ringNote returns the note of the ring form, sent as an invitation's extendedData; one longer
// than the server takes (MAX_EXTENDED_DATA bytes of UTF-8) is refused (6000001).
function ringNote() {
  const note = $('#extended-data').value;
  const size = new TextEncoder().encode(note).length;
  if (size > MAX_EXTENDED_DATA) throw invalid(`the note is ${size} bytes long, at most ${MAX_EXTENDED_DATA} are sent`);
  return note;
}

function splitNames(text) {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

function reportErrorUsers(list) {
  if (list?.length) {
    say(`Not invited: ${list.map((e) => `${e.userID} (${codeText(e.reason)})`).join(', ')}`, true);
  }
}

// ring submits the ring form; the Ring button waits for the reply (pressing).
async function ring(e) {
  e.preventDefault();
  const picked = [...document.querySelectorAll('#people input:checked')].map((i) => i.value);
  const invitees = [...new Set([...picked, ...splitNames($('#others').value)])];
  const mode = Number(document.querySelector('input[name="mode"]:checked').value);
  const timeout = Number($('#timeout').value);
  const r = await pressing($('#ring-button'), () => act('Ring', () => {
    if (!invitees.length) throw invalid('pick someone to call first'); // R3.1
    return client.callInvite(invitees, { mode, timeout, extendedData: ringNote() });
  }));
  if (!r) return;
  upsert(r.callID, r.callInfo).here = true;
  reportErrorUsers(r.errorUserList);
  render();
  refreshHistorySoon();
}

async function refreshPeople() {
  const res = await fetch('/dev/users').catch(() => null);
  if (!res?.ok) return;
  const { users } = await res.json();
  $('#known-users').replaceChildren(...users.map((u) => h('option', { value: u })));
  const box = $('#people');
  if (!box) return;
  const checked = new Set([...box.querySelectorAll('input:checked')].map((i) => i.value));
  const others = users.filter((u) => u !== me);
  morph(box, others.map((u) => h('label', { class: 'person', dataset: { user: u } },
    h('input', { type: 'checkbox', name: 'invitee', value: u, checked: checked.has(u), dataset: { key: `person-${u}` } }),
    ` ${u}`)));
  $('#no-people').hidden = others.length > 0;
}

// ---- history ----

let historyTimer = null;
function refreshHistorySoon() {
  clearTimeout(historyTimer);
  historyTimer = setTimeout(() => loadHistory({ background: true }), 300);
}

// loadHistory reads the page of the history on show; background as for act. One the user asked
// for disables the history's buttons until it is over (pager.loading), so that a second press of
// Older does not turn a page that is not read yet.
async function loadHistory({ background = false } = {}) {
  if (!client) return;
  if (!background) setHistoryLoading(true);
  try {
    const r = await act('History', () => client.queryCallInvitationList(HISTORY_PAGE, pager.flags[pager.page]),
      { background });
    if (!r) return;
    pager.list = r.callList || [];
    pager.next = r.nextFlag;
    if (pager.page === 0) restoreCalls(pager.list);
    renderHistory();
  } finally {
    if (!background) setHistoryLoading(false);
  }
}

function setHistoryLoading(loading) {
  pager.loading = loading;
  renderPager();
}

function renderHistory() {
  const rows = pager.list.map((ci) => {
    const mine = ci.callUserList.find((u) => u.userID === me);
    const canJoin = ci.mode === CallMode.Advanced && ci.state === CallState.Started && mine
      && REJOINABLE.has(mine.state);
    return h('tr', { dataset: { call: ci.callID } },
      h('td', {}, time(ci.createTime)),
      h('td', {}, ci.caller === me ? 'you' : ci.caller),
      h('td', {}, modeName(ci.mode)),
      h('td', {}, h('ul', { class: 'inline-users' }, ci.callUserList.map((u) => h('li', { dataset: { user: u.userID, state: stateName(u.state) } },
        `${u.userID} `, h('span', { class: `badge ${stateClass(u.state)}` }, stateName(u.state)))))),
      h('td', {}, ci.state === CallState.Started ? 'Going on' : 'Ended'),
      h('td', {}, canJoin ? h('button', { type: 'button', class: 'join', dataset: { key: `join-${ci.callID}` }, disabled: busy.has(ci.callID),
        'aria-label': `Join ${ci.caller}'s call`, onclick: () => join(ci) }, 'Join') : ''));
  });
  morph($('#history tbody'), rows);
  $('#no-history').hidden = rows.length > 0 || pager.page > 0;
  renderPager();
}

// renderPager shows the page number and enables the history's buttons that can be used now.
function renderPager() {
  $('#history-page').textContent = `Page ${pager.page + 1}`;
  $('#history-refresh').disabled = pager.loading;
  $('#history-newer').disabled = pager.loading || pager.page === 0;
  $('#history-older').disabled = pager.loading || !pager.next;
}

// restoreCalls adds the calls still going on for this user from a history page (after a
// reload the SDK resumes the event stream where it stopped, but the page's memory is new), and
// brings the calls the page shows up to date: a user who quit is not told when the call ends.
function restoreCalls(list) {
  let changed = false;
  for (const ci of list) {
    const mine = ci.callUserList.find((u) => u.userID === me);
    const live = ci.state === CallState.Started && mine && (PENDING.has(mine.state) || mine.state === S.Accepted);
    if (!live && !calls.has(ci.callID)) continue;
    upsert(ci.callID, ci); // an older snapshot than the page's is ignored
    changed = true;
  }
  if (changed) render();
}

// refreshCall reads a call the page shows again: it may have changed without this user being
// told (one who quit is not told of the end; events lost across a reconnection).
async function refreshCall(callID) {
  if (!calls.has(callID)) return;
  try {
    upsert(callID, await client.queryCall(callID));
    render();
  } catch { /* the op's error is on show */ }
}

// rereadCalls brings the page up to date after a reconnection that lost events (R7.2): the
// invitations still ringing are sent again (R5.3), but nothing tells of the calls that ended or
// changed meanwhile. It reads again each call on show that was going on, and the newest calls,
// which restores those this user joined meanwhile (on another device).
async function rereadCalls() {
  const live = [...calls.values()].filter((c) => c.state === CallState.Started);
  await Promise.all(live.map((c) => refreshCall(c.callID)));
  const newest = await act('History', () => client.queryCallInvitationList(HISTORY_PAGE), { background: true });
  if (newest) restoreCalls(newest.callList || []);
  refreshHistorySoon();
}

// join joins a call from its card or from the history (ci: its row), then reads it: the
// reply's callUserList may be older than events already shown, since a reply may come after
// them (protocol "Envelopes"), and a failed join may have met a call that changed unseen.
function join(ci) {
  return whileBusy(ci.callID, async () => {
    const r = await act('Join', () => client.callJoin(ci.callID));
    if (r) {
      const c = upsert(ci.callID, ci); // the history's row, for a call the page does not show yet
      c.seen = Date.now();
      c.here = true;
      render();
    }
    await refreshCall(ci.callID);
    refreshHistorySoon();
  });
}

// refreshCallsElsewhere reads again the calls this user is in on another device: this tab is
// told only of its user's own changes and of the end (R6.3).
function refreshCallsElsewhere() {
  for (const c of calls.values()) {
    if (c.state === CallState.Started && myState(c) === S.Accepted && !c.here) refreshCall(c.callID);
  }
}

// ---- signing in and out ----

function deviceID() {
  let id = tabStore.getItem(KEY.device);
  if (!id) {
    id = `tab-${crypto.getRandomValues(new Uint32Array(1))[0].toString(36)}`;
    tabStore.setItem(KEY.device, id);
  }
  return id;
}

async function devToken(user) {
  const res = await fetch('/dev/token', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user }) }).catch((err) => {
    throw new Error(`the server does not answer (${err.message})`); // the browser's words are vague
  });
  if (res.status === 404) return null; // not --dev: the user pastes a token
  if (!res.ok) throw new Error(`${(await res.text()).trim()} (HTTP ${res.status})`);
  return (await res.json()).token;
}

async function signIn(user, pastedToken) {
  let token = pastedToken;
  if (!token) {
    token = await devToken(user);
    if (!token) {
      $('#token-row').hidden = false;
      $('#token').focus();
      throw new Error('paste a login token for this user');
    }
  }
  const c = new Dialtone({});
  for (const name of CallEvents) {
    c.on(name, (d, meta) => {
      log(`${name}${meta.seq ? ` #${meta.seq}` : ''} ${JSON.stringify(d)}`);
      onCallEvent(name, d);
    });
  }
  c.on('connectionStateChanged', ({ state, reason, caughtUp }) => onConnection(c, state, reason, caughtUp));
  c.on('kicked', (k) => log(kickText(k)));
  client = c;
  me = user;
  try {
    const lr = await c.login(token, deviceID());
    me = lr.userID;
  } catch (err) {
    client = null;
    throw err;
  }
  tabStore.setItem(KEY.user, me);
  tabStore.setItem(KEY.token, token);
  $('#me').textContent = me;
  $('#signin').hidden = true;
  $('#app').hidden = false;
  $('#who').hidden = false;
  document.body.dataset.user = me;
  render();
  refreshPeople();
  loadHistory();
}

function onConnection(c, state, reason, caughtUp) {
  if (c !== client) return;
  const badge = $('#conn');
  badge.textContent = state;
  badge.dataset.state = state;
  // A reconnection (the page is signed in) after which the server could not replay what this
  // device missed (R7.2): the calls on show may have changed without an event saying so. A
  // sign-in has nothing on show to resume.
  const lost = caughtUp === false && !$('#app').hidden;
  log(`connection: ${state}${reason ? ` (${reason.message})` : ''}${lost ? ' (missed events lost)' : ''}`);
  if (state === 'Connected' && lost) rereadCalls();
  if (state !== 'Disconnected' || signingOut || !$('#signin').hidden) return;
  if (reason?.kick?.reason === 'replaced') tabStore.removeItem(KEY.device); // a duplicated tab took this device
  showSignIn(`Disconnected: ${reason ? reason.message : 'closed'}. Sign in again.`);
}

function showSignIn(message = '') {
  client = null;
  calls.clear();
  Object.assign(pager, { flags: [0], page: 0, next: 0, list: [], loading: false }); // the next user's history starts anew
  busy.clear();
  alertRings([]); // nothing rings for a user signed out
  tabStore.removeItem(KEY.user);
  tabStore.removeItem(KEY.token);
  delete document.body.dataset.user;
  $('#app').hidden = true;
  $('#who').hidden = true;
  $('#signin').hidden = false;
  say(message, Boolean(message));
  refreshPeople();
}

// signOut logs out; the Sign out button waits for it (a logout lost with its connection waits
// for the reconnection, up to the SDK's request timeout). A logout that fails leaves the client
// running, the device logged in (docs/behaviour.md §12, "The end of a browser SDK client"): the
// page stays signed in and says why in the status line, for the user to press Sign out again.
// One whose client ended meanwhile (a kick) signs the page out all the same.
function signOut() {
  return pressing($('#signout'), async () => {
    const c = client;
    signingOut = true;
    try {
      await c?.logout();
    } catch (err) {
      if (c.state !== 'Disconnected') {
        say(`Sign out: ${errorText(err)}`, true);
        return;
      }
    } finally {
      signingOut = false;
    }
    showSignIn();
    $('#user').focus();
  });
}

// ---- start ----

function start() {
  $('#signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const user = $('#user').value.trim();
    pressing(e.currentTarget.querySelector('button[type=submit]'), async () => {
      say('Signing in…');
      try {
        await signIn(user, $('#token').value.trim());
        say('');
      } catch (err) {
        say(`Sign-in failed: ${errorText(err)}`, true);
      }
    });
  });
  $('#ring-form').addEventListener('submit', ring);
  $('#signout').addEventListener('click', signOut);
  startAlerts();
  $('#history-refresh').addEventListener('click', () => loadHistory());
  $('#history-older').addEventListener('click', () => {
    pager.flags[pager.page + 1] = pager.next;
    pager.page++;
    loadHistory();
  });
  $('#history-newer').addEventListener('click', () => {
    pager.page = Math.max(0, pager.page - 1);
    loadHistory();
  });
  setInterval(tick, 250);
  setInterval(() => {
    if (!client) return;
    refreshPeople();
    refreshCallsElsewhere();
  }, 3000);

  const user = tabStore.getItem(KEY.user);
  if (user) {
    $('#user').value = user;
    signIn(user, tabStore.getItem(KEY.token) || '').catch((err) => showSignIn(`Sign-in failed: ${errorText(err)}`));
  } else {
    refreshPeople();
  }
}

start();
