// How the demo page tells its user that someone is calling, beyond the card on the page: a ring
// tone made with the Web Audio API (no audio file, nothing from the network) and, while the page
// is hidden, a system notification. The page calls alertRings after every redraw with the
// invitations ringing now; the tone and the notification of a ring stop as soon as it is no
// longer in that list, whatever ended it (an answer here or on another device, a cancel, a
// timeout, a sign-out).
//
// The page shows the tone's state in body's data-ring-tone: off (nothing rings), playing, muted
// (something rings, Mute is pressed) or blocked (something rings, the browser does not let the
// page play sound before the user has pressed something on it). It uses #mute (a toggle with
// aria-pressed), #notify (asks for the permission to notify, shown only while it can be asked)
// and #sound-note (says why a ring is silent, shown only while the tone is blocked).

const $ = (sel) => document.querySelector(sel);
const MUTED = 'dialtone-demo:muted'; // sessionStorage key: each tab has its own Mute

// TONE is the ring's cadence: two bursts of 0.4 s of 440 and 480 Hz mixed, every 3 s.
const TONE = { freqs: [440, 480], bursts: [[0, 0.4], [0.6, 1.0]], period: 3, fade: 0.01, level: 0.15 };

let audio = null; // the AudioContext, made at the first press on the page or the first ring
let tone = null; // the looping source of the ring tone while it plays
let rings = []; // the invitations ringing now, as alertRings last had them
const notes = new Map(); // callID → the Notification shown for its ring

// startAlerts wires the page's Mute and notification buttons, and lets the first press (a click
// or a key) on the page allow sound: browsers allow audio only after one. A click, not the
// pointerdown before it: hiding #sound-note moves what is below it, and a click whose press and
// release land on two different elements is lost.
export function startAlerts() {
  const mute = $('#mute');
  mute.setAttribute('aria-pressed', String(isMuted()));
  mute.addEventListener('click', () => {
    sessionStorage.setItem(MUTED, isMuted() ? '' : '1');
    mute.setAttribute('aria-pressed', String(isMuted()));
    applyTone();
  });
  $('#notify').addEventListener('click', async () => {
    try {
      await Notification.requestPermission();
    } catch { /* a browser that cannot ask: the button stays */ }
    showNotifyButton();
  });
  for (const type of ['click', 'keydown']) document.addEventListener(type, allowSound, true);
  document.addEventListener('visibilitychange', () => alertRings(rings));
  showNotifyButton();
  applyTone();
}

// alertRings makes the tone and the notifications follow list, the invitations ringing now:
// [{callID, title, body}]. The tone plays while list is not empty and Mute is not pressed; a
// ring gets a notification while the page is hidden (if the user allowed them), closed when the
// ring ends or the page is shown again.
export function alertRings(list) {
  rings = list;
  applyTone();
  const hidden = document.visibilityState === 'hidden';
  for (const [callID, note] of notes) {
    if (hidden && list.some((r) => r.callID === callID)) continue;
    note.close();
    notes.delete(callID);
  }
  if (hidden && canNotify()) for (const r of list) if (!notes.has(r.callID)) notify(r);
}

const isMuted = () => sessionStorage.getItem(MUTED) === '1';
const canNotify = () => 'Notification' in window && Notification.permission === 'granted';

// notify shows the system notification of ring r; a click on it brings the page forward.
function notify(r) {
  try {
    const note = new Notification(r.title, { body: r.body, tag: r.callID, requireInteraction: true });
    note.onclick = () => {
      window.focus();
      note.close();
    };
    notes.set(r.callID, note); // kept if the user closes it: not shown again while the page stays hidden
  } catch { /* a browser that shows notifications only from a service worker: the tone rings */ }
}

// showNotifyButton shows #notify while the permission to notify can be asked for: never again
// once the user has answered.
function showNotifyButton() {
  $('#notify').hidden = !('Notification' in window) || Notification.permission !== 'default';
}

// allowSound makes (or resumes) the AudioContext during press e, when the browser allows it. A
// press on a ring's Accept or Reject answers it: the ring it ends does not start its tone (a
// later ring does, made after this press, which browsers allow).
function allowSound(e) {
  if (e.target instanceof Element && e.target.closest('#incoming button')) return;
  const ctx = audioContext();
  if (ctx.state === 'suspended') ctx.resume().catch(() => {});
  applyTone();
}

// audioContext returns the page's AudioContext, made at its first use.
function audioContext() {
  if (!audio) {
    audio = new AudioContext();
    audio.onstatechange = showTone;
  }
  return audio;
}

// applyTone starts or stops the tone as the rings and Mute want it.
function applyTone() {
  if (rings.length && !isMuted()) playTone();
  else stopTone();
  showTone();
}

function playTone() {
  if (tone) return;
  if (!audio && !navigator.userActivation?.hasBeenActive) return; // blocked until a press (allowSound)
  const ctx = audioContext();
  tone = ctx.createBufferSource();
  tone.buffer = ringBuffer(ctx);
  tone.loop = true;
  tone.connect(ctx.destination);
  tone.start();
}

function stopTone() {
  if (!tone) return;
  tone.stop();
  tone.disconnect();
  tone = null;
}

// ringBuffer makes one period of the ring (TONE), its bursts faded in and out to avoid clicks.
function ringBuffer(ctx) {
  const rate = ctx.sampleRate;
  const buffer = ctx.createBuffer(1, Math.round(TONE.period * rate), rate);
  const samples = buffer.getChannelData(0);
  for (const [from, to] of TONE.bursts) {
    for (let i = Math.round(from * rate); i < Math.round(to * rate); i++) {
      const t = i / rate;
      const edge = Math.min(1, (t - from) / TONE.fade, (to - t) / TONE.fade);
      samples[i] = TONE.level * edge * TONE.freqs.reduce((sum, f) => sum + Math.sin(2 * Math.PI * f * t), 0);
    }
  }
  return buffer;
}

// showTone shows the tone's state (data-ring-tone) and, while it is blocked, why.
function showTone() {
  let state = 'off';
  if (rings.length && isMuted()) state = 'muted';
  else if (rings.length) state = tone && audio.state === 'running' ? 'playing' : 'blocked';
  document.body.dataset.ringTone = state;
  $('#sound-note').hidden = state !== 'blocked';
}
