// sender.js: sends the outbox to POST /api/sync, one send at a time, in batches.
// Only `created`/`duplicate` answers remove a record (outbox.applyResults). A network failure,
// a timeout, a 5xx, a 401 or a 413 keeps every record and puts it back to "waiting".
import { api, state, deviceId, requireLogin, localIso } from './api.js';
import { t } from './i18n.js';
import * as outbox from './outbox.js';

const BATCH = 50;
const MIN_BACKOFF = 5000; // first retry after a failure; doubles up to MAX_BACKOFF
const MAX_BACKOFF = 5 * 60 * 1000;
const TICK = 60 * 1000; // the timer trigger (Safari has no Background Sync)
const LOCK = 'baodao-outbox-send';

/** What the outbox view shows: phase idle|sending|done|offline|backoff|login|busy, next_try_at, error. */
// The server's last word on this phone's clock (seconds it is behind; kept across reloads).
const CLOCK_KEY = 'baodao-clock-offset';
function savedOffset(value) {
  try {
    if (value === undefined) return Number(localStorage.getItem(CLOCK_KEY)) || null;
    if (value) localStorage.setItem(CLOCK_KEY, String(value)); else localStorage.removeItem(CLOCK_KEY);
  } catch { /* no storage: the warning lasts as long as the page */ }
  return value || null;
}

export const status = { phase: 'idle', next_try_at: null, error: null, last_sent_at: null, clock_offset_seconds: savedOffset() };
const statusFns = new Set();
export function onStatus(fn) { statusFns.add(fn); return () => statusFns.delete(fn); }
function setStatus(patch) {
  Object.assign(status, patch);
  statusFns.forEach((fn) => { try { fn(status); } catch { /* a view's bug */ } });
}

// The server's answer per record id, for the screen that just captured it.
const answers = new Map();
export const answerFor = (id) => answers.get(id) || null;

let backoff = 0;
let backoffUntil = 0; // our own back-off: a forced send (button, capture, online) skips it
let retryAfterUntil = 0; // the server's Retry-After: nothing skips it (no retry storms)
let timer = null;
let running = null;
let again = false;
let forceNext = false;
let waitingLogin = false;
let resetDone = false;
let onSent = null;

function schedule(ms) {
  clearTimeout(timer);
  timer = setTimeout(() => send(), Math.max(ms, 250));
  setStatus({ next_try_at: new Date(Date.now() + ms).toISOString() });
}

function backOff(err) {
  backoff = Math.min(MAX_BACKOFF, backoff ? backoff * 2 : MIN_BACKOFF);
  const wait = backoff / 2 + Math.random() * (backoff / 2); // jitter: phones do not retry in step
  backoffUntil = Date.now() + wait;
  setStatus({ phase: err.status === 0 ? 'offline' : 'backoff', error: err.message || null });
  schedule(wait);
}

/**
 * Sends what waits. Calls while a send runs are folded into one more round after it, so the
 * returned promise settles once the caller's records had their turn. force: skip our back-off.
 */
export function send({ force = false } = {}) {
  again = true;
  forceNext ||= force;
  running ||= (async () => {
    try {
      while (again) {
        again = false;
        const f = forceNext;
        forceNext = false;
        await withLock(() => runOnce(f));
      }
    } finally {
      running = null;
    }
  })();
  return running;
}

// One sender across tabs where Web Locks exist; elsewhere the `running` promise serialises this tab.
function withLock(fn) {
  if (navigator.locks?.request) {
    return navigator.locks.request(LOCK, { ifAvailable: true }, (lock) => {
      if (!lock) { setStatus({ phase: 'busy' }); schedule(5000); return null; } // another tab sends
      return fn(true);
    }).catch(() => fn(false));
  }
  return fn(false);
}

function envelope(r) {
  return { id: r.id, type: r.type, recorded_at: r.recorded_at, data: r.data };
}

async function runOnce(force) {
  if (waitingLogin || !state.user) return;
  // Known offline: no try (the `online` event calls us); lie-fi still tries and times out.
  if (navigator.onLine === false) { setStatus({ phase: 'offline', next_try_at: null }); return; }
  const nowMs = Date.now();
  // Too early: look again when the wait is over (a timer may fire a millisecond early).
  if (nowMs < retryAfterUntil) { schedule(retryAfterUntil - nowMs); return; }
  if (!force && nowMs < backoffUntil) { schedule(backoffUntil - nowMs); return; }
  try {
    // Holding the lock, no one else is sending: "sending" left by a reload goes back to waiting.
    if (navigator.locks?.request || !resetDone) await outbox.resetSending();
    resetDone = true;
  } catch {
    return; // storage trouble: the view says so; nothing to send from here
  }
  let batch = BATCH;
  let removed = 0;
  for (;;) {
    let recs;
    try {
      recs = await outbox.takeWaiting(batch, state.user.id);
    } catch {
      return;
    }
    if (!recs.length) break;
    const ids = recs.map((r) => r.id);
    setStatus({ phase: 'sending', error: null });
    let answer;
    try {
      // sent_at: the server corrects a wrong phone clock by it and tells us
      // (docs/field-lessons.md#clock-skew).
      answer = await api('POST', '/api/sync', { device_id: deviceId(), sent_at: localIso(), records: recs.map(envelope) },
        { noLogin: true, timeout: 30000 });
    } catch (err) {
      await outbox.release(ids, err.code || `http_${err.status}`).catch(() => {});
      if (err.status === 401) { askLogin(); return; }
      if (err.status === 413) {
        if (recs.length > 1) { batch = Math.max(1, Math.floor(recs.length / 2)); continue; }
        // One record alone is over the limit: it can never go as it is. Keep it, flagged.
        await outbox.reject(ids, 'too_large', [{ path: '', message: t('outbox.too_large') }]).catch(() => {});
        continue;
      }
      if ((err.status === 429 || err.status === 503) && err.retryAfter != null) {
        retryAfterUntil = Date.now() + err.retryAfter;
        setStatus({ phase: 'backoff', error: err.message || null });
        schedule(err.retryAfter);
        return;
      }
      backOff(err);
      return;
    }
    status.clock_offset_seconds = savedOffset(answer?.clock_offset_seconds ?? null);
    const results = Array.isArray(answer?.results) ? answer.results : [];
    const known = new Set(ids);
    const mine = results.filter((r) => r && known.has(r.id));
    for (const r of mine) answers.set(r.id, r);
    if (answers.size > 500) answers.delete(answers.keys().next().value);
    try {
      removed += await outbox.applyResults(mine);
      const answered = new Set(mine.map((r) => r.id));
      await outbox.release(ids.filter((id) => !answered.has(id)), 'no_answer');
    } catch {
      return; // storage trouble after the server stored them: a later send gets `duplicate`
    }
    if (!mine.length) { backOff({ status: 500, message: t('err.bad_answer') }); return; }
    backoff = 0;
    backoffUntil = 0;
  }
  setStatus({ phase: 'done', error: null, next_try_at: null, last_sent_at: removed ? new Date().toISOString() : status.last_sent_at });
  if (removed) onSent?.();
}

// Expired login: keep everything, show the login, and carry on after it.
function askLogin() {
  if (waitingLogin) return;
  waitingLogin = true;
  setStatus({ phase: 'login' });
  requireLogin().then(() => {
    waitingLogin = false;
    send({ force: true });
  }, () => { waitingLogin = false; });
}

/** Asks the browser to wake us when the network returns (Chromium); Safari ignores it. */
export function registerBackgroundSync() {
  if (!navigator.serviceWorker?.controller) return;
  navigator.serviceWorker.ready.then((reg) => reg.sync?.register('outbox')).catch(() => {});
}

/**
 * Sends at once for a record just captured; resolves with the server's answer for it, or null
 * when there was none within waitMs (offline, slow, another tab sending): it stays in the outbox.
 */
export async function sendFor(id, waitMs = 8000) {
  registerBackgroundSync();
  const sending = send({ force: true });
  if (navigator.onLine === false) return null;
  await Promise.race([sending, new Promise((r) => { setTimeout(r, waitMs); })]);
  return answerFor(id);
}

let started = false;
/** Installs the triggers: start, online, visible again, a timer, the service worker's sync. */
export function start(opts = {}) {
  onSent = opts.onSent || null;
  if (started) return;
  started = true;
  window.addEventListener('online', () => send({ force: true }));
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') send();
  });
  setInterval(() => send(), TICK);
  navigator.serviceWorker?.addEventListener('message', (e) => {
    if (e.data?.type === 'SYNC_OUTBOX') send({ force: true });
  });
  send();
}
