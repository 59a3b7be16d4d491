// app.js: router, header and views of the Baodao PWA. No framework: views build DOM with el().
import { t, has, getLang, setLang, applyLang, fmtTime, fmtClock, isToday } from './i18n.js';
import {
  api, state, routine, loadSession, onUnauthorized, el, safeUrl, showError, clearErrors,
  uuid, localIso, deviceId,
} from './api.js';
import * as outbox from './outbox.js';
import * as sender from './sender.js';
import { outboxView, typeLabel } from './views/outbox.js';
import { capture, accepted, rejectedPanel } from './record.js';
import { tasksView } from './views/tasks.js';
import { screeningView } from './views/screening.js';
import { isolationView } from './views/isolation.js';
import { communityHouseholdsView, communityCasesView } from './views/community.js';
import { loadLocal, householdsToScreen, visitsDue, openDeliveries, rules, refreshRules } from './local.js';
import { $bell, startInbox, refreshIndicators } from './inbox.js';
import { inboxView } from './views/inbox.js';
import { resyncPush, forgetPush } from './push.js';
import { enterpriseHome, helpView, enterpriseView } from './views/enterprise.js';
import { needsView, needView, newNeedView, poolView, forgetPlaces } from './views/needs.js';
import { callUpsView, registerView, myAssignments, mobiliseLinks } from './views/callups.js';
import { reportView, recordsView, progressView, workRecordsView, reportLinks } from './views/reports.js';

const $bar = document.getElementById('bar');
const $view = document.getElementById('view');

let cleanups = []; // run when the view changes (e.g. stop the camera)
let placesCache = null; // GET /api/places, dropped at login/logout
// A record the phone could not save (storage full or lost) stays here, on screen: pressing
// again retries the very same record (same id, same time), so nothing typed is lost.
const pendingCheckins = new Map(); // poster token -> record
const pendingCheckouts = new Map(); // checkin id -> record
// What the outbox view warns about: {durable, persisted, usage, quota, error}.
const storage = {};

const enc = encodeURIComponent;
const isStaff = () => ['committee', 'admin'].includes(state.user?.role);
const isEnterprise = () => state.user?.role === 'enterprise';
// The enterprise contact is outside the cadre world: only these screens are theirs.
const ENTERPRISE_ROUTES = new Set(['help', 'enterprise', 'inbox', 'password', 'outbox', 'login']);
// Hidden in routine mode (常态化): checkpoints and isolation; needs, registrations, services stay.
const ISOLATION_ROUTES = new Set(['visit']);

// Like replaceChildren, but skips null/false (replaceChildren would print "null").
function put(node, ...kids) {
  node.replaceChildren(...kids.flat().filter((k) => k != null && k !== false));
}

function mount(name, ...nodes) {
  cleanups.forEach((fn) => { try { fn(); } catch { /* already stopped */ } });
  cleanups = [];
  $view.dataset.view = name;
  put($view, ...nodes);
  window.scrollTo(0, 0);
}

// ---------- router ----------

function posterToken() {
  if (!location.pathname.startsWith('/c/')) return null;
  const raw = location.pathname.slice(3).replace(/\/+$/, '');
  try { return decodeURIComponent(raw); } catch { return raw; }
}

function hashParts() {
  const [path, query] = (location.hash.replace(/^#/, '') || '/').split('?');
  return { parts: path.split('/').filter(Boolean).map((s) => { try { return decodeURIComponent(s); } catch { return s; } }),
    query: new URLSearchParams(query || '') };
}

function route() {
  renderHeader();
  const token = posterToken();
  if (token !== null) return state.user ? viewCheckin(token) : viewLogin(true);
  const { parts, query } = hashParts();
  if (!state.user) return viewLogin(false);
  if (isEnterprise() && !ENTERPRISE_ROUTES.has(parts[0])) {
    if (parts[0] !== undefined) { location.replace('/#/'); return undefined; }
    return show('enterprise', enterpriseHome());
  }
  if (routine() && ISOLATION_ROUTES.has(parts[0])) return viewHiddenInRoutine();
  switch (parts[0]) {
    case undefined: return isStaff() ? viewDashboard(null) : viewHome();
    case 'help': return show('help', helpView());
    case 'enterprise': return show('enterprise', isEnterprise() ? enterpriseHome() : enterpriseView(parts[1] ?? ''));
    case 'needs':
      if (parts[1] === 'new') return show('needs', newNeedView());
      return show('needs', parts[1] ? needView(parts[1]) : needsView(query));
    case 'pool': return show('needs', poolView(query));
    case 'call-ups': return show('callups', callUpsView(parts[1] ?? '', query));
    case 'register': return show('callups', registerView());
    case 'dashboard': return viewDashboard(parts[1] ?? null);
    case 'password': return viewPassword();
    case 'outbox': return viewOutbox();
    case 'inbox': return show('inbox', inboxView(parts[1] ?? ''));
    case 'tasks': return show('tasks', tasksView({ refresh: refreshOffline }));
    case 'screen': return show('screening', screeningView(parts[1] ?? ''));
    case 'visit': return show('isolation', isolationView(parts[1] ?? '', query));
    case 'community': return show('community', (parts[2] === 'cases' ? communityCasesView : communityHouseholdsView)(parts[1] ?? ''));
    case 'reports': return viewReports(parts, query);
    case 'work-records': return show('reports', workRecordsView(parts[1] ?? state.user.place?.id ?? '', query, { fillPlaces }));
    case 'login': return afterLogin(); // already logged in: go where the login was headed
    default: location.replace('/#/');
  }
}

// Only same-site paths: never bounce a user to another host after login.
// Where a login may go next: a path of this site only. Checked as the browser will read it
// (it drops tab and newline and reads '\\' as '/', so '/%09/evil.example' is '//evil.example'):
// one leading '/', then parsed against our origin, which must not change.
function safeNext(s) {
  if (typeof s !== 'string') return null;
  const cleaned = s.replace(/[\t\n\r]/g, '');
  if (!/^\/(?![\/\\])/.test(cleaned)) return null;
  let url;
  try { url = new URL(s, location.origin); } catch { return null; }
  return url.origin === location.origin ? url.href : null;
}

// After any login (page or overlay): remember who, refresh the offline data, send what waits.
async function onLoggedIn() {
  await rememberUser();
  sender.send({ force: true });
  refreshOffline();
  startInbox();
  resyncPush();
}

function afterLogin() {
  placesCache = null;
  forgetPlaces();
  onLoggedIn();
  const next = safeNext(hashParts().query.get('next')) || safeNext(new URLSearchParams(location.search).get('next'))
    || (location.hash.startsWith('#/login') || location.pathname === '/login' ? '/#/' : null);
  if (next && new URL(next, location.href).href !== location.href) location.assign(next);
  else route(); // the URL already says where the user was going (e.g. /c/<token>)
}

// ---------- header ----------

// The count of records not yet sent; one element kept across header renders.
const $badge = el('a', { class: 'btn-bar outbox-badge', href: '/#/outbox', 'data-testid': 'outbox-badge', hidden: true });
let badgeSeq = 0;
async function updateBadge() {
  const seq = ++badgeSeq;
  let recs = [];
  try { recs = await outbox.list(); } catch { /* storage trouble: the outbox view says so */ }
  if (seq !== badgeSeq) return; // a newer count is on its way
  const n = recs.length;
  $badge.hidden = n === 0;
  $badge.dataset.count = String(n);
  $badge.textContent = t('outbox.badge', { n });
  $badge.setAttribute('aria-label', t('outbox.badge_label', { n }));
  $badge.classList.toggle('attention', recs.some((r) => r.state === 'invalid' || r.state === 'conflict'));
}

function renderHeader() {
  const u = state.user;
  const other = getLang() === 'zh' ? 'en' : 'zh';
  put($bar,
    el('a', { class: 'brand', href: '/#/' }, t('app.name')),
    u ? el('span', { class: 'who', 'data-testid': 'user-name' }, u.name, ' · ',
      has(`role.${u.role}`) ? t(`role.${u.role}`) : u.role) : null,
    el('div', { class: 'bar-actions' },
      u ? $bell : null,
      u ? $badge : null,
      el('button', {
        type: 'button', class: 'btn-bar', 'data-testid': 'lang-switch', lang: other === 'en' ? 'en' : 'zh-CN',
        'aria-label': t('lang.switch_label'), onclick: () => { setLang(other); route(); },
      }, t('lang.switch')),
      u ? el('a', { class: 'btn-bar', href: '/#/password', 'data-testid': 'change-password' }, t('nav.password')) : null,
      u ? el('button', { type: 'button', class: 'btn-bar', 'data-testid': 'logout', onclick: logout }, t('nav.logout')) : null));
}

async function logout() {
  let unsent = 0;
  try { unsent = (await outbox.list()).length; } catch { /* unknown: no question */ }
  // The records stay on the phone, but only the same account can send them.
  if (unsent && !window.confirm(t('logout.unsent_confirm', { n: unsent }))) return;
  try {
    // The device id: the server drops this phone's push subscription with the session.
    await api('DELETE', `/api/session?device_id=${enc(deviceId())}`, undefined, { noLogin: true });
  } catch (err) {
    if (err.status !== 401) { showError(errorSlot(), err); return; } // 401: already logged out
  }
  state.user = null;
  placesCache = null;
  forgetPlaces();
  forgetPush();
  // The cached places, history and notices, never the outbox.
  outbox.clearOffline().catch(() => {}).finally(() => refreshIndicators().catch(() => {}));
  // A poster page stays put so the next login lands on the check-in; elsewhere start at home.
  if (!posterToken()) history.replaceState(null, '', '/#/');
  route();
}

// A slot at the top of the view for errors that belong to no form.
function errorSlot() {
  let slot = $view.querySelector(':scope > .errors');
  if (!slot) { slot = el('div', { class: 'errors' }); $view.prepend(slot); }
  return slot;
}

// ---------- login ----------

function loginForm(onDone) {
  const phone = el('input', {
    id: 'login-phone', name: 'phone', type: 'tel', inputmode: 'tel', autocomplete: 'username',
    required: true, 'data-testid': 'login-phone',
  });
  const pwd = el('input', {
    id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password',
    required: true, 'data-testid': 'login-password',
  });
  const btn = el('button', { type: 'submit', class: 'btn-primary btn-block btn-big', 'data-testid': 'login-submit' }, t('login.submit'));
  const errs = el('div', { class: 'errors' });
  const form = el('form', { class: 'form', novalidate: true },
    el('h1', {}, t('login.title')), field(t('login.phone'), phone), field(t('login.password'), pwd), errs, btn);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(errs, form);
    const body = { phone: phone.value.replace(/[\s-]/g, ''), password: pwd.value };
    if (!body.phone || !body.password) return showError(errs, { message: t('login.missing') }, form);
    btn.disabled = true;
    btn.textContent = t('login.busy');
    try {
      await api('POST', '/api/session', body, { noLogin: true });
      if (!state.user) throw new Error(t('err.bad_answer'));
      onDone();
    } catch (err) {
      showError(errs, err, form); // 401 bad credentials, 429 locked: the server says which
    } finally {
      btn.disabled = false;
      btn.textContent = t('login.submit');
    }
  });
  return form;
}

function field(label, input) {
  return el('label', { class: 'field' }, el('span', { class: 'label' }, label), input);
}

function viewLogin(onPoster) {
  mount('login', el('section', { class: 'login' },
    onPoster ? el('p', { class: 'notice' }, t('login.poster_hint')) : null,
    loginForm(afterLogin)));
}

// Session expired mid-task: log in over the current view, then the request resumes.
function loginOverlay() {
  return new Promise((resolve) => {
    const overlay = el('div', { class: 'overlay', role: 'dialog', 'aria-modal': 'true', 'data-testid': 'login-overlay' });
    overlay.append(el('p', { class: 'notice' }, t('login.expired')), loginForm(() => {
      overlay.remove();
      placesCache = null;
      renderHeader();
      onLoggedIn();
      resolve();
    }));
    document.body.append(overlay);
    overlay.querySelector('input')?.focus();
  });
}

// ---------- cadre home ----------

function viewHome() {
  const list = el('ul', { class: 'list', 'data-testid': 'my-checkins' }, el('li', { class: 'muted' }, t('loading')));
  mount('home', el('section', { class: 'home' },
    tasksButton(),
    myAssignments(),
    mobiliseLinks(),
    el('h1', {}, t('home.title')),
    state.user.role === 'leader' ? el('p', {}, el('a', { href: '/#/dashboard', 'data-testid': 'dashboard-link' }, t('dash.title'))) : null,
    'BarcodeDetector' in window ? scanBlock() : null,
    el('p', { class: 'hint' }, t('home.scan_hint')),
    codeForm(),
    el('h2', {}, t('home.mine')),
    list));
  loadMine(list);
}

// 今日任务: the big button at the top of the cadre home, with what is left today.
function tasksButton() {
  const count = el('span', { class: 'btn-count', 'data-testid': 'home-tasks-count' });
  const btn = el('a', { class: 'btn-primary btn-block btn-big btn-tasks', href: '/#/tasks', 'data-testid': 'home-tasks' },
    el('span', {}, t('tasks.title')), count);
  const fill = async () => {
    const local = await loadLocal();
    if (!local.known || !btn.isConnected) return;
    const n = householdsToScreen(local).length + (routine() ? 0 : visitsDue(local).length) + openDeliveries(local).length;
    count.textContent = String(n);
    count.hidden = n === 0;
  };
  count.hidden = true;
  fill().catch(() => {});
  const onData = () => {
    if (!btn.isConnected) { window.removeEventListener('baodao:offline', onData); return; }
    fill().catch(() => {});
  };
  window.addEventListener('baodao:offline', onData);
  return btn;
}

// The phone's copy of its communities' posters (from /api/sync/changes).
async function cachedPoster(match) {
  try {
    return ((await outbox.getOffline('posters'))?.items || []).find(match) || null;
  } catch {
    return null;
  }
}

// Network trouble (not an answer): offline, timeout, server down. Then the phone's copy is used.
const unreachable = (err) => err?.status === 0 || err?.status >= 500;

// Opens a poster's check-in without loading a page (works offline, saves a round trip).
function openPoster(token) {
  history.pushState(null, '', `/c/${enc(token)}`);
  route();
}

function codeForm() {
  const input = el('input', {
    id: 'manual-code', name: 'code', type: 'text', inputmode: 'numeric', autocomplete: 'off',
    maxlength: '20', placeholder: '1234 5678', enterkeyhint: 'go', class: 'code-input', 'data-testid': 'manual-code',
  });
  const btn = el('button', { type: 'submit', class: 'btn-primary', 'data-testid': 'manual-code-submit' }, t('home.code_submit'));
  const errs = el('div', { class: 'errors' });
  const form = el('form', { class: 'form code-form', novalidate: true },
    el('label', { class: 'label', for: 'manual-code' }, t('home.code_label')),
    el('div', { class: 'inline' }, input, btn), errs);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(errs, form);
    // People type "1234 5678", "1234-5678" or full-width digits from a Chinese keyboard.
    const code = input.value.replace(/[０-９]/g, (d) => String.fromCharCode(d.charCodeAt(0) - 0xfee0))
      .replace(/[\s\-‐‑–—－]/g, '');
    if (!/^\d{8}$/.test(code)) return showError(errs, { message: t('home.code_invalid') }, form);
    btn.disabled = true;
    try {
      let token = null;
      if (navigator.onLine !== false) {
        try {
          token = posterInfo(await api('GET', `/api/posters/resolve?code=${enc(code)}`, undefined, { timeout: 8000 })).token;
          if (!token) throw new Error(t('err.bad_answer'));
        } catch (err) {
          if (!unreachable(err)) throw err;
        }
      }
      // Offline: the same code against the posters this phone knows.
      token ||= (await cachedPoster((p) => String(p.manual_code) === code))?.token;
      if (!token) throw new Error(t('home.code_offline_unknown'));
      openPoster(token);
    } catch (err) {
      showError(errs, err, form);
    } finally {
      btn.disabled = false;
    }
  });
  return form;
}

function scanBlock() {
  const errs = el('div', { class: 'errors' });
  const btn = el('button', { type: 'button', class: 'btn-primary btn-block btn-big', 'data-testid': 'scan-button' }, t('home.scan'));
  const box = el('div', { class: 'scan' }, btn, errs);
  btn.addEventListener('click', () => startScan(box, btn, errs));
  return box;
}

// The poster URL from a QR value, or null when it is not one of ours.
function posterUrl(value) {
  try {
    const u = new URL(value, location.href);
    if (!['http:', 'https:'].includes(u.protocol) || !u.pathname.startsWith('/c/')) return null;
    return u.origin === location.origin ? u.pathname + u.search : u.href;
  } catch {
    return null;
  }
}

async function startScan(box, btn, errs) {
  clearErrors(errs);
  let stream = null;
  let timer = null;
  let stopped = false;
  const video = el('video', { class: 'scan-video', autoplay: true, muted: true, playsinline: true, 'data-testid': 'scan-video' });
  video.muted = true; // iOS plays inline only when muted and playsinline
  video.playsInline = true;
  const close = el('button', { type: 'button', class: 'btn-secondary btn-block' }, t('scan.close'));
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    stream?.getTracks().forEach((tr) => tr.stop());
    video.remove();
    close.remove();
    btn.hidden = false;
  };
  close.addEventListener('click', stop);
  cleanups.push(stop);
  try {
    const formats = await window.BarcodeDetector.getSupportedFormats?.();
    if (formats && !formats.includes('qr_code')) throw new Error(t('scan.unsupported'));
    const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: 'environment' } }, audio: false });
    if (stopped) { stream.getTracks().forEach((tr) => tr.stop()); return; }
    btn.hidden = true;
    box.prepend(video, close);
    video.srcObject = stream;
    await video.play();
    const tick = async () => {
      if (stopped) return;
      try {
        const codes = await detector.detect(video);
        for (const c of codes) {
          const dest = posterUrl(c.rawValue);
          if (dest) {
            stop();
            // Our own poster: no page load, so it works offline even without a service worker.
            if (dest.startsWith('/c/')) { history.pushState(null, '', dest); route(); } else location.assign(dest);
            return;
          }
        }
        if (codes.length) showError(errs, { message: t('scan.not_poster') }); // keep scanning
      } catch { /* a frame that was not ready yet */ }
      timer = setTimeout(tick, 250);
    };
    tick();
  } catch (err) {
    stop();
    showError(errs, { message: t('scan.no_camera', { msg: err.message || err.name }) });
  }
}

// An outbox check-in as a history row (the server has not seen it yet).
function localCheckin(r) {
  return {
    id: r.id, community: r.meta?.community || null, checkpoint: r.meta?.checkpoint || null,
    place_name: r.meta?.place_name || t('checkin.unknown_place'), recorded_at: r.recorded_at,
    is_watch: !!r.meta?.checkpoint, checkout: null, outbox_state: r.state,
  };
}

async function myOutbox() {
  try {
    return (await outbox.list()).filter((r) => r.user_id == null || r.user_id === state.user?.id);
  } catch {
    return [];
  }
}

// The server's (or, offline, the cached) check-ins, with this phone's unsent ones on top.
async function loadMine(list) {
  let items = null;
  let error = null;
  if (navigator.onLine !== false) {
    try {
      const r = await api('GET', '/api/checkins/mine', undefined, { timeout: 10000 });
      items = Array.isArray(r) ? r : (r.checkins || []);
      outbox.saveChanges({ checkins: { full: true, items } }).catch(() => {});
    } catch (err) {
      error = err;
    }
  }
  if (!items) {
    try { items = (await outbox.getOffline('checkins'))?.items || null; } catch { /* none */ }
  }
  const recs = await myOutbox();
  if (!list.isConnected) return;
  const known = new Set((items || []).map((c) => c.id));
  const checkouts = new Map(recs.filter((r) => r.type === 'checkout').map((r) => [r.data?.checkin_id, r]));
  const rows = [
    ...recs.filter((r) => r.type === 'checkin' && !known.has(r.id)).reverse().map(localCheckin),
    ...(items || []),
  ].map((c) => {
    const out = checkouts.get(c.id);
    return checkinRow(out && !c.checkout ? { ...c, checkout: { id: out.id, recorded_at: out.recorded_at, pending: true } } : c);
  });
  put(list, ...(rows.length ? rows : [el('li', { class: 'muted' }, t(items || !error ? 'home.none' : 'loading'))]));
  if (!items && error) {
    const li = el('li', {});
    list.prepend(li);
    showError(li, error);
  }
}

function placeName(c) {
  return c.place_name || [c.community?.name, c.checkpoint?.name].filter(Boolean).join(' · ');
}

function badge(kind, text) {
  return el('span', { class: `badge badge-${kind}`, 'data-testid': `badge-${kind}` }, text);
}

// A watch stays open until checked out; a plain community check-in only for its day.
function isOpen(c) {
  if (typeof c.open === 'boolean') return c.open;
  return !c.checkout && (c.is_watch || isToday(c.recorded_at));
}

function checkinBadges(c, flagText = t('badge.outside')) {
  const pendingOut = c.checkout?.pending;
  return el('div', { class: 'badges' },
    c.outbox_state ? badge(['invalid', 'conflict'].includes(c.outbox_state) ? 'rejected' : 'pending',
      t(`outbox.state.${c.outbox_state}`)) : null,
    c.is_watch && !c.checkout ? badge('watch', t('badge.watch')) : null,
    c.outside_assignment ? badge('flag', flagText) : null,
    // a re-issued poster's old token, accepted on the phone's time (docs/configuration.md)
    c.old_poster ? el('span', { class: 'badge badge-flag', 'data-testid': 'badge-old-poster', title: t('badge.old_poster_hint') }, t('badge.old_poster')) : null,
    c.checkout && !pendingOut ? badge('done', t('badge.checked_out', { time: fmtClock(c.checkout.recorded_at) })) : null,
    pendingOut ? badge('pending', t('badge.checkout_pending', { time: fmtClock(c.checkout.recorded_at) })) : null);
}

function checkinRow(c) {
  const li = el('li', { class: 'row', 'data-testid': 'checkin-row', 'data-id': c.id });
  const render = (c) => {
    const errs = el('div', { class: 'errors row-errors' });
    const rejected = c.outbox_state === 'invalid' || c.outbox_state === 'conflict';
    put(li,
      el('div', { class: 'row-main' },
        el('div', { class: 'row-title' }, placeName(c)),
        el('div', { class: 'row-sub' }, fmtTime(c.recorded_at)),
        checkinBadges(c)),
      isOpen(c) && !rejected ? checkoutButton(c, render, errs) : null,
      errs);
  };
  render(c);
  return li;
}

function checkoutButton(c, onDone, errs, cls = 'btn-secondary') {
  const b = el('button', { type: 'button', class: cls, 'data-testid': 'checkout-button' }, t('checkout.button'));
  b.addEventListener('click', async () => {
    if (b.disabled) return;
    b.disabled = true;
    clearErrors(errs);
    let rec = pendingCheckouts.get(c.id);
    if (!rec) {
      rec = {
        id: uuid(), type: 'checkout', recorded_at: localIso(), data: { checkin_id: c.id },
        user_id: state.user?.id ?? null, meta: { place_name: placeName(c) },
      };
      pendingCheckouts.set(c.id, rec);
    }
    const saved = await capture(rec, errs);
    if (!saved) { b.disabled = false; return; }
    pendingCheckouts.delete(c.id);
    const ans = saved.direct || await sender.sendFor(rec.id);
    if (ans && !accepted(ans)) {
      put(errs, rejectedPanel(ans, 'checkout-rejected', 'checkin'));
      b.disabled = false;
      return;
    }
    onDone({ ...c, checkout: { id: rec.id, recorded_at: rec.recorded_at, pending: !ans } });
  });
  return b;
}

// ---------- check-in (/c/<token>) ----------

// The resolve answer, read whether the fields sit at the top or under "poster".
function posterInfo(r) {
  const p = r.poster || r;
  return {
    token: p.token ?? r.token,
    community: p.community ?? r.community ?? null,
    checkpoint: p.checkpoint ?? r.checkpoint ?? null,
    name: p.place_name ?? r.place_name ?? p.name ?? '',
    outside: r.assigned === false || !!(r.outside_assignment ?? p.outside_assignment),
    open: r.open_checkin ?? null,
  };
}

// Resolves to {lat, lng, accuracy} or null; never rejects. May stay pending while the
// permission prompt is open, so callers race it against a timer.
function locate() {
  return new Promise((resolve) => {
    if (!('geolocation' in navigator)) return resolve(null);
    navigator.geolocation.getCurrentPosition(
      // The schema caps accuracy at 100 km; a coarser fix is still worth keeping.
      (pos) => resolve({ lat: pos.coords.latitude, lng: pos.coords.longitude, accuracy: Math.min(pos.coords.accuracy, 100000) }),
      () => resolve(null),
      { enableHighAccuracy: false, timeout: 5000, maximumAge: 120000 },
    );
  });
}
const delay = (ms, v = null) => new Promise((resolve) => { setTimeout(() => resolve(v), ms); });

// An open check-in at this place that only this phone knows of (cached history + outbox).
async function localOpenAt(p) {
  const recs = await myOutbox();
  let cached = [];
  try { cached = (await outbox.getOffline('checkins'))?.items || []; } catch { /* none */ }
  const closed = new Set(recs.filter((r) => r.type === 'checkout').map((r) => r.data?.checkin_id));
  const local = recs.filter((r) => r.type === 'checkin' && (r.state === 'waiting' || r.state === 'sending'))
    .reverse().map(localCheckin);
  return [...local, ...cached].find((c) => samePlace(c, p) && isOpen(c) && !closed.has(c.id)) || null;
}

async function viewCheckin(token) {
  const head = el('div', { class: 'place-head' }, el('p', { class: 'muted' }, t('loading')));
  const action = el('div', { class: 'checkin-action' });
  const root = el('section', { class: 'checkin' }, head, action);
  mount('checkin', root);
  const cached = await cachedPoster((x) => x.token === token);
  let p = null;
  let from = 'server';
  if (navigator.onLine !== false) {
    try {
      // Short wait when the phone knows the place: in a stairwell, do not hang on the network.
      p = posterInfo(await api('GET', `/api/posters/resolve?token=${enc(token)}`, undefined, { timeout: cached ? 6000 : 10000 }));
    } catch (err) {
      // A torn, forged or revoked poster is an answer; only network trouble falls back.
      if (!unreachable(err)) {
        if (root.isConnected) errorPage(root, err, null);
        return;
      }
    }
  }
  if (!root.isConnected) return; // the user went elsewhere meanwhile
  if (!p) {
    from = cached ? 'cache' : 'unknown';
    p = cached ? { ...posterInfo(cached), outside: false } : { token, community: null, checkpoint: null, name: '', outside: false, open: null };
  }
  p.open ??= await localOpenAt(p);
  if (!root.isConnected) return;
  put(head,
    el('p', { class: 'eyebrow' }, t('checkin.where')),
    el('h1', { class: 'place-name', 'data-testid': 'place-name' }, p.community?.name || p.name || t('checkin.unknown_place')),
    p.checkpoint ? el('p', { class: 'checkpoint-name', 'data-testid': 'checkpoint-name' }, p.checkpoint.name) : null,
    p.outside ? badge('flag', t('badge.outside')) : null,
    from === 'cache' ? el('p', { class: 'notice', 'data-testid': 'offline-place' }, t('checkin.offline_place')) : null,
    from === 'unknown' ? el('p', { class: 'notice', 'data-testid': 'verify-later' }, t('checkin.verify_later')) : null);
  // Ask for the position now, so it is usually known by the time the button is pressed.
  const locating = locate();
  renderCheckinAction(action, token, p, locating);
}

function samePlace(c, p) {
  return String(c.community?.id) === String(p.community?.id)
    && String(c.checkpoint?.id ?? '') === String(p.checkpoint?.id ?? '');
}

function renderCheckinAction(action, token, p, locating) {
  const errs = el('div', { class: 'errors' });
  const status = el('p', { class: 'status', 'aria-live': 'polite' });
  const open = p.open;
  // Back at the place of an open check-in: the big button checks out instead.
  const same = open && samePlace(open, p);
  const parts = [];
  if (open) {
    const btn = checkoutButton(open, (c) => put(action, checkoutPanel(c)), errs,
      same ? 'btn-round btn-round-out' : 'btn-secondary btn-block');
    parts.push(el('div', { class: 'open-card', 'data-testid': 'open-checkin' },
      el('p', {}, t('checkin.open', { place: placeName(open), time: fmtTime(open.recorded_at) })),
      same ? null : btn));
    if (same) parts.push(errs, btn);
  }
  if (!same) {
    const btn = el('button', { type: 'button', class: 'btn-round', 'data-testid': 'checkin-button' }, t('checkin.button'));
    btn.addEventListener('click', () => doCheckin(action, token, p, locating, btn, status, errs));
    parts.push(errs, status, btn);
  }
  put(action, ...parts);
}

// 报到: the record goes to the outbox first, then one quick try to send it.
async function doCheckin(action, token, p, locating, btn, status, errs) {
  if (btn.disabled) return;
  btn.disabled = true;
  clearErrors(errs);
  let rec = pendingCheckins.get(token);
  if (!rec) {
    const at = localIso(); // the moment of the press, not after the location wait
    status.textContent = t('checkin.locating');
    const loc = await Promise.race([locating, delay(5000)]);
    rec = {
      id: uuid(), type: 'checkin', recorded_at: at, data: loc ? { token, location: loc } : { token },
      user_id: state.user?.id ?? null,
      meta: {
        place_name: [p.community?.name || p.name, p.checkpoint?.name].filter(Boolean).join(' · '),
        community: p.community, checkpoint: p.checkpoint,
      },
    };
    pendingCheckins.set(token, rec);
  }
  status.textContent = t('checkin.saving');
  const saved = await capture(rec, errs);
  if (!saved) {
    status.textContent = '';
    btn.disabled = false;
    return;
  }
  pendingCheckins.delete(token);
  status.textContent = t('checkin.busy');
  const ans = saved.direct || await sender.sendFor(rec.id);
  if (!action.isConnected) return;
  const shown = { ...rec.meta, recorded_at: rec.recorded_at, is_watch: !!p.checkpoint, outside_assignment: p.outside };
  if (accepted(ans)) put(action, successPanel({ status: ans.duplicate_of ? 'repeat' : ans.status, checkin: shown }));
  else if (ans) put(action, rejectedPanel(ans, 'checkin-rejected', 'checkin'));
  else put(action, savedPanel(shown, p));
}

function successPanel(r) {
  const c = r.checkin || {};
  const repeat = r.status === 'repeat';
  return el('div', { class: 'success', role: 'status', 'data-testid': 'checkin-success', 'data-status': r.status || '' },
    el('div', { class: 'success-mark', 'aria-hidden': 'true' }, '✓'),
    el('p', { class: 'success-title' }, repeat ? t('checkin.repeat') : t('checkin.success')),
    el('p', { class: 'success-time', 'data-testid': 'checkin-time' }, fmtTime(c.recorded_at)),
    placeName(c) ? el('p', {}, placeName(c)) : null,
    c.outside_assignment ? badge('flag', t('badge.outside')) : null,
    c.is_watch && !c.checkout ? el('p', {}, t('checkin.watch_note')) : null,
    el('a', { class: 'btn-light btn-block', href: '/#/', 'data-testid': 'home-link' }, t('checkin.home')));
}

// Offline or failing network: the record is safe on the phone. For the cadre this is a success.
function savedPanel(c, p = {}) {
  return el('div', { class: 'success saved', role: 'status', 'data-testid': 'saved-offline' },
    el('div', { class: 'success-mark', 'aria-hidden': 'true' }, '✓'),
    el('p', { class: 'success-title' }, t('checkin.saved_title')),
    el('p', {}, t('checkin.saved_body')),
    el('p', { class: 'success-time', 'data-testid': 'checkin-time' }, fmtTime(c.recorded_at)),
    placeName(c) ? el('p', {}, placeName(c)) : null,
    p.community ? null : el('p', {}, t('checkin.verify_later')),
    el('a', { class: 'btn-light btn-block', href: '/#/outbox', 'data-testid': 'outbox-link' }, t('checkin.saved_outbox')),
    el('a', { class: 'btn-light btn-block', href: '/#/', 'data-testid': 'home-link' }, t('checkin.home')));
}

function checkoutPanel(c) {
  const pending = c.checkout?.pending;
  return el('div', { class: `success${pending ? ' saved' : ''}`, role: 'status', 'data-testid': pending ? 'saved-offline' : 'checkout-success' },
    el('div', { class: 'success-mark', 'aria-hidden': 'true' }, '✓'),
    el('p', { class: 'success-title' }, t(pending ? 'checkout.saved' : 'checkout.success')),
    pending ? el('p', {}, t('checkin.saved_body')) : null,
    el('p', { class: 'success-time' }, fmtTime(c.checkout?.recorded_at)),
    el('a', { class: 'btn-light btn-block', href: '/#/', 'data-testid': 'home-link' }, t('checkin.home')));
}

function errorPage(root, err, retry) {
  put(root, el('div', { class: 'error-page' },
    el('h1', {}, t(err.status === 0 ? 'err.network_title' : 'poster.error_title')),
    el('div', { class: 'error error-big', role: 'alert', 'data-testid': 'error-message' }, err.message),
    retry ? el('button', { type: 'button', class: 'btn-primary btn-block', 'data-testid': 'retry', onclick: retry }, t('err.retry')) : null,
    el('a', { class: 'btn-secondary btn-block', href: '/#/', 'data-testid': 'home-link' }, t('checkin.home'))));
}

// ---------- routine mode ----------

// A link into isolation (an old notice, a bookmark) while the deployment is in routine mode.
function viewHiddenInRoutine() {
  mount('routine', el('section', { class: 'error-page', 'data-testid': 'routine-hidden' },
    el('h1', {}, t('mode.hidden_title')),
    el('p', { class: 'notice' }, t('mode.hidden_body')),
    el('a', { class: 'btn-secondary btn-block', href: '/#/', 'data-testid': 'home-link' }, t('checkin.home'))));
}

// ---------- committee / admin dashboard ----------

const kindLabel = (k) => (has(`kind.${k}`) ? t(`kind.${k}`) : k || '');

async function viewDashboard(placeId) {
  const id = placeId ?? state.user.place?.id ?? null;
  const sel = el('select', { id: 'place-select', class: 'select', 'data-testid': 'place-select' });
  const refresh = el('button', { type: 'button', class: 'btn-secondary', 'data-testid': 'dashboard-refresh' }, t('dash.refresh'));
  const body = el('div', { class: 'dash-body' }, el('p', { class: 'muted' }, t('loading')));
  mount('dashboard', el('section', { class: 'dash' },
    routine() ? el('p', { class: 'notice', 'data-testid': 'routine-banner' }, t('mode.routine_banner')) : null,
    el('h1', {}, t('dash.title')),
    isStaff() ? el('div', { class: 'dash-links', 'data-testid': 'mobilise-links' },
      el('a', { class: 'btn-primary', href: '/#/needs', 'data-testid': 'needs-link' }, t('needs.title')),
      el('a', { class: 'btn-secondary', href: '/#/pool', 'data-testid': 'pool-link' }, t('pool.link')),
      el('a', { class: 'btn-secondary', href: '/#/call-ups', 'data-testid': 'callups-link' }, t('callup.title'))) : null,
    el('div', { class: 'dash-controls' }, field(t('dash.place'), sel), refresh),
    body));
  sel.addEventListener('change', () => { location.hash = `#/dashboard/${enc(sel.value)}`; });
  fillPlaces(sel, id);
  if (id == null) { put(body, el('p', {}, t('dash.no_place'))); return; }
  refresh.addEventListener('click', () => loadToday(body, id));
  loadToday(body, id);
}

// #/reports/<place>, #/reports/<community>/records?day=&metric=, #/reports/<community>/progress
function viewReports(parts, query) {
  const id = parts[1] ?? state.user.place?.id ?? '';
  if (parts[2] === 'records') return show('reports', recordsView(id, query));
  if (parts[2] === 'progress') return show('reports', progressView(id));
  return show('reports', reportView(id, query, { fillPlaces }));
}

// The places as an indented tree; grids have no tallies of their own, so they are left out.
async function fillPlaces(sel, current) {
  let places = [];
  try {
    placesCache ||= api('GET', '/api/places');
    places = (await placesCache).places || [];
  } catch {
    placesCache = null; // the select just keeps the current place; the tallies still load
  }
  const ids = new Set(places.map((p) => String(p.id)));
  const kids = new Map();
  for (const p of places) {
    const parent = p.parent_id != null && ids.has(String(p.parent_id)) ? String(p.parent_id) : '';
    if (!kids.has(parent)) kids.set(parent, []);
    kids.get(parent).push(p);
  }
  const opts = [];
  const walk = (parent, depth) => {
    for (const p of kids.get(parent) || []) {
      if (p.kind === 'grid') continue;
      opts.push(el('option', { value: String(p.id) }, '\u3000'.repeat(depth) + p.name));
      walk(String(p.id), depth + 1);
    }
  };
  walk('', 0);
  const own = state.user.place;
  if (current != null && !opts.some((o) => o.value === String(current))) {
    opts.unshift(el('option', { value: String(current) }, own && String(own.id) === String(current) ? own.name : String(current)));
  }
  put(sel, ...opts);
  if (current != null) sel.value = String(current);
  sel.hidden = opts.length < 2;
  sel.closest('.field')?.toggleAttribute('hidden', opts.length < 2);
}

function tiles(tot) {
  const tile = (key, cls, testid) => el('div', { class: `tile tile-${cls}`, 'data-testid': testid },
    el('span', { class: 'tile-num' }, String(tot[key] ?? 0)), el('span', { class: 'tile-label' }, t(`tile.${key}`)));
  return el('div', { class: 'tiles' },
    tile('reported', 'ok', 'total-reported'),
    routine() ? null : tile('on_watch', 'watch', 'total-on-watch'),
    tile('not_reported', 'bad', 'total-not-reported'),
    tile('flagged', 'flag', 'total-flagged'));
}

function phoneLink(phone) {
  if (!phone) return null;
  // Masked numbers (138****5678) are shown, not dialled.
  return /^\+?[\d\s-]+$/.test(phone) ? el('a', { href: `tel:${phone.replace(/[\s-]/g, '')}`, class: 'tel' }, phone) : phone;
}

function section(title, count, ...children) {
  return el('section', { class: 'dash-section' }, el('h2', {}, title, count != null ? ` (${count})` : ''), ...children);
}

async function loadToday(body, id) {
  let r;
  try {
    r = await api('GET', `/api/places/${enc(id)}/today`);
  } catch (err) {
    put(body);
    showError(body, err);
    return;
  }
  if (!body.isConnected) return;
  const tot = r.totals || {};
  const parts = [
    el('p', { class: 'dash-place' }, el('strong', { 'data-testid': 'dashboard-place' }, r.place?.name || ''),
      ` · ${kindLabel(r.place?.kind)} · ${t('dash.day', { day: r.day || '' })}`),
    tiles(tot),
    tot.assigned != null ? el('p', { class: 'muted' }, t('dash.assigned', { n: tot.assigned })) : null,
  ];
  const isCommunity = r.place?.kind === 'community' || Array.isArray(r.reported);
  parts.push(reportLinks({ id: r.place?.id ?? id, kind: isCommunity ? 'community' : r.place?.kind }));
  if (isCommunity) parts.push(communityLinks(r.place?.id ?? id), ...communityParts(r));
  else parts.push(rollupPart(r.rows || []));
  put(body, ...parts);
  if (isCommunity) loadPosters(body.querySelector('[data-testid="posters"]'), r.place?.id ?? id);
}

// The community's households and isolation cases (attention first), one tap from the tallies.
function communityLinks(id) {
  return el('div', { class: 'dash-links' },
    el('a', { class: 'btn-secondary', href: `/#/community/${enc(id)}/cases`, 'data-testid': 'dashboard-cases' }, t(routine() ? 'tasks.deliveries' : 'community.cases')),
    el('a', { class: 'btn-secondary', href: `/#/community/${enc(id)}/households`, 'data-testid': 'dashboard-households' }, t('community.households')));
}

function communityParts(r) {
  const none = () => el('li', { class: 'muted' }, t('dash.none'));
  const reported = r.reported || [];
  const onWatch = r.on_watch || [];
  const missing = r.not_reported || [];
  return [
    section(t('dash.reported'), reported.length, el('ul', { class: 'list', 'data-testid': 'dashboard-reported' },
      reported.length ? reported.map(({ user: u = {}, checkin: c = {} }) => el('li', {
        class: `row${c.outside_assignment || c.old_poster ? ' row-flag' : ''}`, 'data-testid': 'reported-row',
      }, el('div', { class: 'row-main' },
        el('div', { class: 'row-title' }, u.name || c.user?.name || '', el('span', { class: 'row-time' }, fmtClock(c.recorded_at))),
        el('div', { class: 'row-sub' }, [u.home_unit, c.checkpoint?.name].filter(Boolean).join(' · ')),
        u.phone ? el('div', { class: 'row-sub' }, phoneLink(u.phone)) : null,
        checkinBadges(c, t('badge.flagged'))))) : none())),
    routine() ? null : section(t('dash.on_watch'), null, el('div', { 'data-testid': 'dashboard-on-watch' },
      onWatch.length ? onWatch.map((w) => el('div', { class: 'watch-group' },
        el('h3', {}, w.checkpoint?.name || ''),
        el('ul', { class: 'list' }, (w.cadres || []).length
          ? w.cadres.map((cd) => el('li', { class: 'row', 'data-testid': 'watch-row' },
            el('div', { class: 'row-main' }, el('div', { class: 'row-title' }, cd.name),
              el('div', { class: 'row-sub' }, t('dash.since', { time: fmtClock(cd.since) })))))
          : none()))) : el('ul', { class: 'list' }, none()))),
    section(t('dash.not_reported'), missing.length, el('ul', { class: 'list', 'data-testid': 'dashboard-not-reported' },
      missing.length ? missing.map((u) => el('li', { class: 'row', 'data-testid': 'not-reported-row' },
        el('div', { class: 'row-main' },
          el('div', { class: 'row-title' }, u.name),
          u.home_unit ? el('div', { class: 'row-sub' }, u.home_unit) : null,
          u.phone ? el('div', { class: 'row-sub' }, phoneLink(u.phone)) : null))) : none())),
    section(t('poster.title'), null, el('div', { class: 'posters', 'data-testid': 'posters' }, el('p', { class: 'muted' }, t('loading')))),
  ];
}

function rollupPart(rows) {
  return section(t('dash.rows'), rows.length, el('ul', { class: 'list-plain', 'data-testid': 'dashboard-rows' },
    rows.map((row) => el('li', {}, el('button', {
      type: 'button', class: `rollup${row.flagged ? ' row-flag' : ''}`, 'data-testid': 'rollup-row',
      onclick: () => { location.hash = `#/dashboard/${enc(row.community?.id)}`; },
    },
    el('span', { class: 'row-title' }, row.community?.name || ''),
    row.town?.name ? el('span', { class: 'row-sub' }, row.town.name) : null,
    el('span', { class: 'row-stats' }, t('dash.row_stats', {
      reported: row.reported ?? 0, assigned: row.assigned ?? 0, on_watch: row.on_watch ?? 0,
      flagged: row.flagged ?? 0, not_reported: row.not_reported ?? 0,
    })))))));
}

async function loadPosters(box, communityId) {
  if (!box) return;
  try {
    // Routine mode: the checkpoints' posters are hidden with the checkpoints.
    const list = ((await api('GET', `/api/places/${enc(communityId)}/posters`)).posters || [])
      .filter((p) => !(routine() && p.kind === 'checkpoint'));
    put(box, ...(list.length ? list.map(posterCard) : [el('p', { class: 'muted' }, t('poster.none'))]));
  } catch (err) {
    put(box);
    showError(box, err);
  }
}

const fmtCode = (c) => String(c ?? '').replace(/^(\d{4})(\d{4})$/, '$1 $2');

function posterCard(poster) {
  const card = el('article', { class: 'poster', 'data-testid': 'poster-card' });
  const fill = (p, note) => {
    const errs = el('div', { class: 'errors' });
    const reissue = el('button', { type: 'button', class: 'btn-secondary', 'data-testid': 'poster-reissue' }, t('poster.reissue'));
    reissue.addEventListener('click', async () => {
      if (!window.confirm(t('poster.confirm'))) return;
      reissue.disabled = true;
      try {
        const r = await api('POST', `/api/posters/${enc(p.id)}/reissue`);
        fill(r.poster || p, el('p', { class: 'ok', role: 'status', 'data-testid': 'poster-reissued' }, t('poster.reissued')));
      } catch (err) {
        showError(errs, err);
        reissue.disabled = false;
      }
    });
    card.dataset.id = p.id;
    put(card,
      el('h3', {}, p.name || '', p.kind ? el('span', { class: 'muted small' }, ` · ${kindLabel(p.kind)}`) : null),
      note || null,
      p.png_url ? el('img', { class: 'poster-img', src: safeUrl(p.png_url), alt: t('poster.img_alt', { name: p.name || '' }) }) : null,
      el('p', { class: 'poster-code' }, `${t('poster.code')} `, el('strong', { 'data-testid': 'poster-code' }, fmtCode(p.manual_code))),
      p.issued_at ? el('p', { class: 'muted' }, t('poster.issued', { time: fmtTime(p.issued_at) })) : null,
      el('div', { class: 'poster-actions' },
        p.print_url ? el('a', {
          class: 'btn-primary', href: safeUrl(p.print_url), target: '_blank', rel: 'noopener', 'data-testid': 'poster-print',
        }, t('poster.print')) : null,
        reissue),
      errs);
  };
  fill(poster);
  return card;
}

// ---------- change password ----------

function viewPassword() {
  const input = (name, id, autocomplete) => el('input', {
    id, name, type: 'password', autocomplete, required: true, 'data-testid': id,
  });
  const oldPwd = input('old_password', 'password-old', 'current-password');
  const newPwd = input('new_password', 'password-new', 'new-password');
  const again = input('new_password_again', 'password-again', 'new-password');
  const btn = el('button', { type: 'submit', class: 'btn-primary btn-block btn-big', 'data-testid': 'password-submit' }, t('pwd.submit'));
  const errs = el('div', { class: 'errors' });
  const form = el('form', { class: 'form', novalidate: true },
    el('h1', {}, t('pwd.title')),
    // Lets password managers know whose password changes.
    el('input', { type: 'text', name: 'username', autocomplete: 'username', value: state.user.phone || '', hidden: true, tabindex: '-1' }),
    field(t('pwd.old'), oldPwd), field(t('pwd.new'), newPwd), field(t('pwd.confirm'), again), errs, btn);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(errs, form);
    if (!oldPwd.value || !newPwd.value) return showError(errs, { message: t('pwd.missing') }, form);
    if (newPwd.value !== again.value) {
      return showError(errs, { message: t('pwd.mismatch'), fields: [{ path: '/new_password_again', message: t('pwd.mismatch') }] }, form);
    }
    btn.disabled = true;
    try {
      await api('POST', '/api/session/password', { old_password: oldPwd.value, new_password: newPwd.value });
      form.reset();
      errs.append(el('p', { class: 'ok', role: 'status', 'data-testid': 'password-success' }, t('pwd.done')));
    } catch (err) {
      showError(errs, err, form);
    } finally {
      btn.disabled = false;
    }
  });
  mount('password', form);
}

// ---------- service worker ----------

/** WeChat's in-app browser keeps nothing offline (docs/field-lessons.md#wechat-browser): say
 * how to open the app in the phone's own browser, once per page, without blocking anything
 * online. */
function wechatHint() {
  if (!/MicroMessenger/i.test(navigator.userAgent)) return;
  const bar = document.getElementById('update-bar');
  put(bar, el('div', { class: 'update-button', role: 'note', 'data-testid': 'wechat-hint' },
    t('wechat.hint')));
  bar.hidden = false;
}

function registerServiceWorker() {
  // WeChat's browser: the offline cache often does nothing there and updates get stuck.
  if (!('serviceWorker' in navigator) || /MicroMessenger/i.test(navigator.userAgent)) return;
  let reloading = false;
  let asked = false; // reload only when the user chose the new version
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    if (asked && !reloading) { reloading = true; location.reload(); }
  });
  const offer = (worker) => {
    const bar = document.getElementById('update-bar');
    put(bar, el('button', {
      type: 'button', class: 'update-button', 'data-testid': 'update-reload',
      onclick: () => { asked = true; worker.postMessage({ type: 'SKIP_WAITING' }); },
    }, t('update.bar')));
    bar.hidden = false;
  };
  navigator.serviceWorker.register('/sw.js').then((reg) => {
    if (reg.waiting && navigator.serviceWorker.controller) offer(reg.waiting);
    reg.addEventListener('updatefound', () => {
      const w = reg.installing;
      w?.addEventListener('statechange', () => {
        // "installed" with a controller present = an update, not the first install.
        if (w.state === 'installed' && navigator.serviceWorker.controller) offer(w);
      });
    });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') reg.update().catch(() => {});
    });
  }).catch(() => { /* the app works online without it */ });
}

// ---------- outbox view, offline data, storage ----------

// A view module's {node, cleanup}, mounted.
function show(name, { node, cleanup }) {
  mount(name, node);
  if (cleanup) cleanups.push(cleanup);
}

function viewOutbox() {
  const { node, cleanup } = outboxView(storage);
  mount('outbox', node);
  cleanups.push(cleanup);
}

// The user, kept for opening the app offline; another user's offline data is dropped.
async function rememberUser() {
  if (!state.user) return;
  try {
    const old = await outbox.getOffline('_user');
    if (old?.user && old.user.id !== state.user.id) await outbox.clearOffline();
    await outbox.putOffline('_user', { user: state.user });
  } catch { /* storage trouble: the outbox view says so */ }
}

// GET /api/sync/changes: the posters and history the phone needs to work offline; with them
// the domain rules, so the forms' fever note works offline from the first login on.
async function refreshOffline() {
  if (!state.user || navigator.onLine === false) return;
  refreshRules();
  try {
    const cursor = (await outbox.getOffline('_cursor'))?.value;
    const r = await api('GET', `/api/sync/changes${cursor ? `?since=${enc(cursor)}` : ''}`, undefined, { noLogin: true, timeout: 20000 });
    await outbox.saveChanges(r);
    window.dispatchEvent(new Event('baodao:offline')); // the task list redraws from the new copy
  } catch { /* keep the copy we have */ }
  try {
    // The deployment's mode (routine hides checkpoints and isolation), kept for offline starts.
    const m = await api('GET', '/api/mode', undefined, { noLogin: true, timeout: 10000 });
    if (m?.mode === 'routine' || m?.mode === 'emergency') {
      // Not re-rendering here: a form being filled in stays; the next screen follows the mode.
      state.mode = m.mode;
      await outbox.putOffline('_mode', { value: m.mode });
    }
  } catch { /* keep the mode we have */ }
  if (state.user?.role === 'enterprise') return; // no isolation work for an enterprise contact
  try {
    // The isolation policies, for opening a case offline after a screening visit.
    const p = await api('GET', '/api/isolation/policies', undefined, { noLogin: true, timeout: 15000 });
    if (Array.isArray(p?.policies)) await outbox.putOffline('policies', { items: p.policies, fetched_at: new Date().toISOString() });
  } catch { /* keep the copy we have */ }
}

// A bar over the app when the phone's storage needs a reload (another tab upgraded it, or lost).
function storageTrouble(kind) {
  const bar = document.getElementById('update-bar');
  put(bar, el('button', {
    type: 'button', class: 'update-button', 'data-testid': 'storage-reload', onclick: () => location.reload(),
  }, t(`storage.${kind}`)));
  bar.hidden = false;
}

async function initStorage() {
  Object.assign(storage, await outbox.init());
  outbox.onChange(updateBadge);
  outbox.onTrouble(storageTrouble);
  try {
    // Ask once per start; browsers remember and answer at once after the first time.
    if (navigator.storage?.persist) {
      storage.persisted = (await navigator.storage.persisted?.()) || await navigator.storage.persist();
    }
    const est = await navigator.storage?.estimate?.();
    if (est) Object.assign(storage, { usage: est.usage, quota: est.quota });
  } catch { /* unknown: no warning */ }
}

// ---------- start ----------

let listening = false;
async function start() {
  wechatHint();
  const rulesReady = refreshRules(); // no login needed: under way while the session loads
  let cached = null;
  try { cached = (await outbox.getOffline('_user'))?.user || null; } catch { /* none */ }
  try {
    const m = (await outbox.getOffline('_mode'))?.value;
    if (m === 'routine' || m === 'emergency') state.mode = m; // the session's answer overrides it
  } catch { /* none */ }
  try {
    const session = loadSession();
    // With a user known from last time, a slow network does not keep the cadre waiting.
    const r = cached ? await Promise.race([session, delay(4000, 'slow')]) : await session;
    if (r === 'slow') {
      state.user = cached;
      session.then(() => { rememberUser(); renderHeader(); }, () => {});
    } else {
      await rememberUser();
    }
  } catch (err) {
    if (cached && (err.status === 0 || err.status >= 500)) {
      state.user = cached; // offline: work from the phone's copy; the server checks on sync
    } else {
      renderHeader();
      mount('error', el('div', { class: 'error-page' },
        el('h1', {}, t('err.network_title')),
        el('div', { class: 'error error-big', role: 'alert', 'data-testid': 'error-message' }, err.message),
        el('button', { type: 'button', class: 'btn-primary btn-block', 'data-testid': 'retry', onclick: start }, t('err.retry'))));
      return;
    }
  }
  // The first start ever waits a little for the rules (the forms read them); later ones use the
  // copy kept, and refreshOffline brings it up to date.
  if (!rules()) await Promise.race([rulesReady, delay(4000)]);
  if (!listening) {
    window.addEventListener('hashchange', route);
    window.addEventListener('popstate', route);
    window.addEventListener('online', refreshOffline);
    listening = true;
  }
  route();
  updateBadge();
  sender.start({ onSent: () => { updateBadge(); refreshOffline(); } });
  refreshOffline();
  startInbox();
  resyncPush();
}

applyLang();
onUnauthorized(loginOverlay);
registerServiceWorker();
initStorage().finally(start);
