// inbox.js: the notices (通知) this phone knows of, the header bell and the urgent banner.
// The inbox is a delivery path of its own, not a copy of Web Push (Chrome's push service is
// unreachable from mainland China, iOS pushes only to home-screen apps:
// docs/field-lessons.md#web-push-on-apple-and-in-china). The server's copy is the offline
// collection "notices" (GET /api/inbox, and /api/sync/changes); a read made on this phone is a
// `notice_read` record in the outbox (sent when it can be) and a "_done" entry laid over the
// copy at once, so a notice read offline stays read.
import { t, fmtTime } from './i18n.js';
import { api, el, state } from './api.js';
import * as outbox from './outbox.js';
import * as sender from './sender.js';
import { newRecord, capture } from './record.js';

const POLL_MS = 3 * 60 * 1000; // "every few minutes while open"
const CHANGED = 'baodao:inbox';

/** A link from a notice, allowed only as a path in this app ('/#/tasks'), else null. */
export function inAppLink(link) {
  if (typeof link !== 'string' || !link.startsWith('/') || link.startsWith('//') || link.startsWith('/\\')) return null;
  if (/[\s\\]/.test(link) || /[\u0000-\u001f]/.test(link)) return null;
  return link;
}

/** The phone's notices, read marks made here laid over; unread first, newest first. */
export async function loadNotices() {
  let copy = null;
  let done = null;
  let recs = [];
  try {
    [copy, done, recs] = await Promise.all([
      outbox.getOffline('notices'), outbox.getOffline('_done'), outbox.list().catch(() => []),
    ]);
  } catch { /* storage trouble: an empty inbox; the outbox view says why */ }
  const refused = new Set(recs.filter((r) => r.state === 'invalid' || r.state === 'conflict').map((r) => r.id));
  const readHere = new Map((done?.items || [])
    .filter((d) => d.type === 'notice_read' && !refused.has(d.id)).map((d) => [d.notice_id, d.recorded_at]));
  const now = Date.now();
  const items = (copy?.items || [])
    .filter((n) => n && n.id && !(n.expires_at && Date.parse(n.expires_at) <= now))
    .map((n) => ({ ...n, read_at: n.read_at || readHere.get(n.id) || null, read_local: !n.read_at && readHere.has(n.id) }));
  items.sort((a, b) => (!!a.read_at - !!b.read_at) || String(b.created_at).localeCompare(String(a.created_at)));
  return { items, fetchedAt: copy?.fetched_at || null, known: !!copy };
}

export const isUrgent = (n) => n.urgency === 'high';

let fetching = null;
/** GET /api/inbox into the offline copy (the light path; /api/sync/changes carries it too). */
export function fetchNotices() {
  if (!state.user || navigator.onLine === false) return Promise.resolve(false);
  fetching ||= (async () => {
    try {
      const r = await api('GET', '/api/inbox', undefined, { noLogin: true, timeout: 15000 });
      if (!Array.isArray(r?.notices)) return false;
      await outbox.saveChanges({ notices: { full: true, items: r.notices } });
      changed();
      return true;
    } catch {
      return false; // keep the copy we have
    } finally {
      fetching = null;
    }
  })();
  return fetching;
}

export function changed() {
  window.dispatchEvent(new Event(CHANGED));
}

export function onChanged(fn) {
  window.addEventListener(CHANGED, fn);
  return () => window.removeEventListener(CHANGED, fn);
}

/**
 * Marks a notice read on this phone: a `notice_read` record through the outbox (record.js's
 * capture), remembered at once, sent when it can be. errs: where a storage failure is told.
 * Resolves true when the mark is kept (or the notice was read already).
 */
export async function markRead(notice, errs) {
  if (!notice || notice.read_at) return true;
  const rec = newRecord('notice_read', { notice_id: notice.id }, { place_name: notice.title || '' });
  const saved = await capture(rec, errs || el('div'));
  if (!saved) return false;
  try {
    await outbox.rememberDone({ id: rec.id, type: 'notice_read', recorded_at: rec.recorded_at, notice_id: notice.id });
  } catch { /* the outbox record still carries it */ }
  changed();
  if (!saved.direct) sender.send({ force: true }).catch(() => {});
  return true;
}

/** Marks the notice with this id read, if this phone knows it and it is unread. */
export async function markReadById(id) {
  let n = (await loadNotices()).items.find((x) => x.id === id);
  if (!n && await fetchNotices()) n = (await loadNotices()).items.find((x) => x.id === id);
  if (n && !n.read_at) await markRead(n);
}

// ---------- the bell and the banner (one element each, kept across header renders) ----------

export const $bell = el('a', {
  class: 'btn-bar inbox-bell', href: '/#/inbox', 'data-testid': 'inbox-bell', 'data-count': '0',
});
const $bellCount = el('span', { class: 'bell-count', 'data-testid': 'inbox-bell-count', hidden: true });
$bell.append(bellIcon(), $bellCount);

// A bell drawn as SVG (no emoji font on some phones; no inline style under the CSP).
function bellIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'bell-icon');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2z');
  path.setAttribute('fill', 'currentColor');
  svg.append(path);
  return svg;
}

let $banner = null;
let bannerSeq = 0;

/** The open window of the app follows a notice: its link, else the inbox at that notice. */
export function openNotice(n) {
  const link = inAppLink(n.link);
  const dest = link && link !== '/' ? link : `/#/inbox/${encodeURIComponent(n.id)}`;
  if (new URL(dest, location.href).href === location.href) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.assign(dest);
}

/** Redraws the bell's count and the urgent banner from the phone's copy. */
export async function refreshIndicators() {
  const seq = ++bannerSeq;
  const { items } = await loadNotices();
  if (seq !== bannerSeq) return;
  const unread = items.filter((n) => !n.read_at);
  const n = unread.length;
  $bell.dataset.count = String(n);
  $bellCount.textContent = n > 99 ? '99+' : String(n);
  $bellCount.hidden = n === 0;
  $bell.classList.toggle('has-unread', n > 0);
  $bell.setAttribute('aria-label', n ? t('inbox.bell_unread', { n }) : t('inbox.bell'));
  renderBanner(unread.filter(isUrgent));
}

function renderBanner(urgent) {
  $banner ||= document.getElementById('banner');
  if (!$banner) return;
  const onInbox = location.hash.startsWith('#/inbox');
  if (!state.user || !urgent.length) {
    $banner.replaceChildren();
    $banner.hidden = true;
    return;
  }
  const n = urgent[0];
  const errs = el('div', { class: 'errors' });
  const more = urgent.length > 1 ? el('span', { class: 'banner-more' }, t('inbox.banner_more', { n: urgent.length - 1 })) : null;
  const open = el('button', {
    type: 'button', class: 'banner-open', 'data-testid': 'inbox-banner-open', 'data-id': n.id,
  }, t('inbox.banner_open'));
  open.addEventListener('click', async () => {
    open.disabled = true;
    const ok = await markRead(n, errs);
    open.disabled = false;
    if (ok) openNotice(n);
  });
  $banner.replaceChildren(el('div', {
    class: 'inbox-banner', role: 'alert', 'data-testid': 'inbox-banner', 'data-id': n.id,
  },
  el('div', { class: 'banner-text' },
    el('span', { class: 'banner-tag' }, t('inbox.urgent')),
    el('strong', { class: 'banner-title' }, n.title || ''),
    more,
    el('span', { class: 'banner-time' }, fmtTime(n.created_at))),
  open, errs));
  $banner.hidden = false;
  $banner.classList.toggle('on-inbox', onInbox);
}

// ---------- fetching: start, online, visible again, a timer ----------

let started = false;
/** Installs the triggers; safe to call again (after a login). */
export function startInbox() {
  refreshIndicators().catch(() => {});
  fetchNotices();
  if (started) return;
  started = true;
  window.addEventListener('online', () => fetchNotices());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') fetchNotices();
  });
  setInterval(() => { if (document.visibilityState !== 'hidden') fetchNotices(); }, POLL_MS);
  onChanged(() => refreshIndicators().catch(() => {}));
  window.addEventListener('baodao:offline', () => refreshIndicators().catch(() => {})); // /api/sync/changes
  window.addEventListener('hashchange', () => refreshIndicators().catch(() => {}));
  outbox.onChange(() => refreshIndicators().catch(() => {}));
  processOpened();
}

// The service worker: a push arrived (fetch the inbox), or a notification was tapped (follow its
// link; mark it read once the user is known). Listened to from the start: a window the worker
// just opened may get its message before the session is loaded.
const opened = new Set();
function processOpened() {
  if (!state.user) return;
  for (const id of opened) {
    opened.delete(id);
    markReadById(id).catch(() => {});
  }
}
navigator.serviceWorker?.addEventListener('message', (e) => {
  const d = e.data || {};
  if (d.type === 'NOTICE_PUSHED') {
    fetchNotices();
  } else if (d.type === 'NOTICE_OPENED') {
    const link = inAppLink(d.link);
    if (link && new URL(link, location.href).href !== location.href) location.assign(link);
    if (typeof d.id === 'string' && d.id) opened.add(d.id);
    processOpened();
  }
});
