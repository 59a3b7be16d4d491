// views/outbox.js: #/outbox, what waits on this phone, each record's state, and what to do.
import { t, has, fmtTime } from '../i18n.js';
import { el, state } from '../api.js';
import * as outbox from '../outbox.js';
import * as sender from '../sender.js';

const OLD_MS = 3 * 24 * 3600 * 1000; // WebKit may delete storage of a site unused for 7 days

function put(node, ...kids) {
  node.replaceChildren(...kids.flat().filter((k) => k != null && k !== false));
}

export function typeLabel(type) {
  return has(`type.${type}`) ? t(`type.${type}`) : type;
}

function age(ms) {
  const m = Math.max(0, Math.floor(ms / 60000));
  if (m < 1) return t('age.now');
  if (m >= 1440) return t('age.days', { n: Math.floor(m / 1440) });
  if (m >= 60) return t('age.hours', { n: Math.floor(m / 60) });
  return t('age.minutes', { n: m });
}

// Both versions of a conflicting record as label/value lines, whatever the record type.
const SKIP = new Set(['id', 'token', 'user', 'name', 'community', 'checkpoint', 'is_watch', 'local_day']);
const FIRST = ['recorded_at', 'place_name'];
function lines(obj, prefix = '') {
  const out = [];
  const rank = (k) => (FIRST.includes(k) ? FIRST.indexOf(k) : FIRST.length);
  const keys = Object.keys(obj || {}).sort((a, b) => rank(a) - rank(b));
  for (const k of keys) {
    const v = obj[k];
    // false flags say nothing worth comparing; only the ones that are set are shown
    if (SKIP.has(k) || v == null || v === '' || v === false) continue;
    const label = has(`field.${k}`) ? t(`field.${k}`) : prefix + k;
    if (typeof v === 'object' && !Array.isArray(v)) out.push(...lines(v, `${label} · `));
    else if (/_at$/.test(k)) out.push([label, fmtTime(v)]);
    else if (Array.isArray(v)) {
      // residents, symptoms, needs: each item on the line, objects as their JSON
      out.push([label, v.map((x) => (x && typeof x === 'object' ? JSON.stringify(x) : String(x))).join('; ')]);
    } else out.push([label, typeof v === 'boolean' ? (v ? '✓' : '✗') : String(v)]);
  }
  return out;
}

function versionBox(title, rows, testid) {
  return el('div', { class: 'version', 'data-testid': testid },
    el('h3', {}, title),
    el('dl', {}, rows.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])));
}

function row(r, onDiscard) {
  const mineToo = r.user_id == null || state.user?.id == null || r.user_id === state.user.id;
  const li = el('li', { class: `row outbox-row outbox-${r.state}`, 'data-testid': 'outbox-row', 'data-state': r.state, 'data-id': r.id },
    el('div', { class: 'row-main' },
      el('div', { class: 'row-title' }, typeLabel(r.type), r.meta?.place_name ? ` · ${r.meta.place_name}` : ''),
      el('div', { class: 'row-sub' }, fmtTime(r.recorded_at)),
      el('span', { class: `badge badge-state-${r.state}`, 'data-testid': 'outbox-state' }, t(`outbox.state.${r.state}`)),
      r.attempts && r.state === 'waiting' ? el('span', { class: 'muted small' }, ` ${t('outbox.attempts', { n: r.attempts })}`) : null,
      mineToo ? null : el('p', { class: 'notice' }, t('outbox.other_user'))));
  if (r.state === 'invalid') {
    li.append(el('div', { class: 'error row-errors', role: 'alert', 'data-testid': 'outbox-errors' },
      el('p', {}, t('outbox.invalid_help')),
      el('ul', {}, (r.errors?.length ? r.errors : [{ message: r.code || '' }]).map((e) => el('li', {}, e.message || e.rule || '')))));
  }
  if (r.state === 'conflict') {
    const phone = lines({ recorded_at: r.recorded_at, place_name: r.meta?.place_name, ...r.data });
    li.append(el('div', { class: 'conflict row-errors', 'data-testid': 'outbox-conflict' },
      el('p', {}, t('outbox.conflict_help')),
      el('div', { class: 'versions' },
        versionBox(t('outbox.phone_version'), phone, 'conflict-phone'),
        versionBox(t('outbox.server_version'), lines(r.stored || {}), 'conflict-server'))));
  }
  if (r.state === 'invalid' || r.state === 'conflict') {
    li.append(el('button', {
      type: 'button', class: 'btn-secondary', 'data-testid': 'outbox-discard',
      onclick: () => { if (window.confirm(t('outbox.discard_confirm'))) onDiscard(r.id); },
    }, t('outbox.discard')));
  }
  return li;
}

// The server found this phone's clock off (it corrected the records' times and flagged them).
function clockWarning(seconds) {
  if (!seconds) return null;
  const minutes = Math.round(Math.abs(seconds) / 60);
  const amount = minutes >= 120 ? t('clock.hours', { n: Math.round(minutes / 60) }) : t('clock.minutes', { n: minutes });
  return el('p', { class: 'warn', 'data-testid': 'clock-off' }, t(seconds > 0 ? 'clock.behind' : 'clock.ahead', { amount }));
}

function phaseText(s) {
  if (s.phase === 'offline' && !s.next_try_at) return t('outbox.phase.offline_wait');
  const time = s.next_try_at ? fmtTime(s.next_try_at) : '';
  if (!has(`outbox.phase.${s.phase}`)) return '';
  return t(`outbox.phase.${s.phase}`, { time });
}

/**
 * The view. storage: {durable, persisted, usage, quota, error} from the app's start.
 * Returns {node, cleanup}.
 */
export function outboxView(storage) {
  const status = el('p', { class: 'status', 'aria-live': 'polite', 'data-testid': 'outbox-status' });
  const warnings = el('div', { class: 'warnings' });
  const summary = el('div', { class: 'summary' });
  const list = el('ul', { class: 'list', 'data-testid': 'outbox-list' });
  const errs = el('div', { class: 'errors' });
  const sendBtn = el('button', { type: 'button', class: 'btn-primary btn-block btn-big', 'data-testid': 'outbox-send-now' }, t('outbox.send_now'));
  sendBtn.addEventListener('click', async () => {
    sendBtn.disabled = true;
    try { await sender.send({ force: true }); } finally { sendBtn.disabled = false; }
  });

  const storageWarnings = () => [
    storage.durable === false ? el('p', { class: 'warn', 'data-testid': 'storage-memory' }, t('storage.memory')) : null,
    storage.persisted === false ? el('p', { class: 'warn', 'data-testid': 'persist-refused' }, t('storage.persist_refused')) : null,
    storage.quota && storage.usage / storage.quota > 0.8
      ? el('p', { class: 'warn', 'data-testid': 'storage-full' }, t('storage.nearly_full', { pct: Math.round((100 * storage.usage) / storage.quota) })) : null,
    storage.error ? el('p', { class: 'warn', 'data-testid': 'storage-error' }, t(storage.error.kind === 'quota' ? 'storage.quota_start' : 'storage.lost')) : null,
    clockWarning(sender.status.clock_offset_seconds),
  ];

  let alive = true;
  async function render() {
    let recs;
    try {
      recs = await outbox.list();
    } catch (err) {
      if (!alive) return;
      put(errs, el('div', { class: 'error', role: 'alert' }, t(err.kind === 'quota' ? 'storage.quota' : 'storage.lost')));
      return;
    }
    if (!alive) return;
    put(errs);
    put(warnings, storageWarnings());
    const oldest = recs.reduce((m, r) => Math.min(m, Date.parse(r.created_at) || Date.now()), Infinity);
    const ageMs = recs.length ? Date.now() - oldest : 0;
    put(summary,
      el('p', { class: 'summary-count', 'data-testid': 'outbox-count' },
        recs.length ? t('outbox.count', { n: recs.length }) : t('outbox.empty')),
      recs.length ? el('p', {}, t('outbox.oldest', { age: age(ageMs) })) : null,
      ageMs > OLD_MS ? el('p', { class: 'warn', 'data-testid': 'outbox-old' }, t('outbox.old_warning')) : null);
    put(list, recs.map((r) => row(r, async (id) => {
      try { await outbox.discard(id); } catch (err) { put(errs, el('div', { class: 'error', role: 'alert' }, t('storage.lost'))); }
    })));
    status.textContent = phaseText(sender.status);
  }

  const node = el('section', { class: 'outbox', 'data-testid': 'outbox-view' },
    el('h1', {}, t('outbox.title')),
    warnings, summary, sendBtn, status, errs, list,
    el('div', { class: 'notice guide' },
      el('h2', {}, t('outbox.guide_title')),
      el('ul', {}, ['guide1', 'guide2', 'guide3', 'guide4'].map((k) => el('li', {}, t(`outbox.${k}`))))));
  const offChange = outbox.onChange(render);
  const offStatus = sender.onStatus((s) => { status.textContent = phaseText(s); put(warnings, storageWarnings()); });
  render();
  return { node, cleanup: () => { alive = false; offChange(); offStatus(); } };
}
