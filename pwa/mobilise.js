// mobilise.js: what the mobilisation screens share (needs, call-ups, enterprises, tickets):
// the option lists in the server's order, labels, badges, phone links and small inputs.
import { t, has } from './i18n.js';
import { api, el, state } from './api.js';
import * as outbox from './outbox.js';
import { localToday } from './forms.js';

export const enc = encodeURIComponent;

// The enums of schemas/need.json and schemas/problem_ticket.json, in the order forms show them.
export const CATEGORIES = ['materials', 'labour', 'logistics', 'finance', 'supplies', 'permits', 'utilities', 'market', 'other'];
export const TASKS = ['screening', 'checkpoint', 'data_entry', 'delivery', 'service', 'other'];
export const URGENCIES = ['normal', 'high', 'urgent'];
// The ticket statuses are the server's rules (GET /api/rules, local.js rules()), not a copy here.

export const label = (prefix, key, fallback = '') => (key && has(`${prefix}.${key}`) ? t(`${prefix}.${key}`) : fallback || key || '');
export const catLabel = (c, fallback) => label('cat', c, fallback);
export const taskLabel = (k, fallback) => label('mtask', k, fallback);

export function badge(kind, text, testid) {
  return el('span', { class: `badge badge-${kind}`, 'data-testid': testid || null }, text);
}

const NEED_BADGE = { open: 'flag', filled: 'watch', closed: 'done' };
export function needStatusBadge(status) {
  return badge(NEED_BADGE[status] || 'done', label('needs.status', status), 'need-status');
}

export function urgencyBadge(u) {
  if (!u || u === 'normal') return null;
  return badge(u === 'urgent' ? 'rejected' : 'pending', label('urgency', u), 'need-urgency');
}

const TICKET_BADGE = { open: 'flag', coordinating: 'watch', solved: 'ok', cannot_solve: 'rejected' };
export function ticketBadge(tk) {
  if (tk.confirmed) return badge('ok', t('ticket.confirmed'), 'ticket-status');
  const text = label('ticket.status', tk.status) + (tk.status === 'solved' ? ` · ${t('ticket.await_confirm')}` : '');
  return badge(TICKET_BADGE[tk.status] || 'done', text, 'ticket-status');
}

/** A full number as a tel: link (one tap to call); a masked one (138****5678) as text. */
export function phoneLink(phone) {
  if (!phone) return null;
  return /^\+?[\d\s-]+$/.test(phone) ? el('a', { href: `tel:${phone.replace(/[\s-]/g, '')}`, class: 'tel' }, phone) : phone;
}

export function dateInput(name, value = '', testid = `${name}-input`) {
  return el('input', { type: 'date', name, value: value || '', 'data-path': `/${name}`, 'data-testid': testid, id: testid });
}

/** "A、B, C；D" -> ['A', 'B', 'C', 'D'] (Chinese and Latin separators). */
export function splitList(s) {
  return [...new Set(String(s || '').split(/[,，、;；\n]+/).map((x) => x.trim()).filter(Boolean))];
}

/** "11-26 → 12-09" or "11-26 起" for an open-ended period. */
export function period(from, to) {
  if (!from) return '';
  return to ? t('mob.period', { from, to }) : t('mob.since', { from });
}

export const today = () => localToday();

/** A heading with a count, as the other lists show it. */
export function section(title, n, testid, ...kids) {
  return el('section', { class: 'task-section', 'data-testid': testid },
    el('h2', {}, title, n != null ? el('span', { class: 'count' }, ` (${n})`) : null), ...kids);
}

export const none = (key = 'dash.none') => el('li', { class: 'muted' }, t(key));

/**
 * GET url, keeping a copy on the phone under `name`; offline (or the server down) the copy is
 * used. Resolves to {items, fresh, fetchedAt}; throws the server's answer (403, 404...) as is.
 */
export async function fetchCached(name, url, pick) {
  try {
    const items = pick(await api('GET', url, undefined, { timeout: 10000 }));
    outbox.putOffline(name, { items, fetched_at: new Date().toISOString() }).catch(() => {});
    return { items, fresh: true, fetchedAt: null };
  } catch (err) {
    if (!(err?.status === 0 || err?.status >= 500)) throw err;
    let copy = null;
    try { copy = await outbox.getOffline(name); } catch { /* no copy */ }
    if (!copy) throw err;
    return { items: copy.items || [], fresh: false, fetchedAt: copy.fetched_at || null };
  }
}

/** This user's records of `type` still in the outbox (not yet taken by the server). */
export async function pendingOf(type, match = () => true) {
  try {
    return (await outbox.list()).filter((r) => r.type === type && (r.user_id == null || r.user_id === state.user?.id) && match(r));
  } catch {
    return [];
  }
}

/** Every home unit [{id, name}] (GET /api/home-units, committee and admin), for the pickers. */
export function homeUnits() {
  return api('GET', '/api/home-units', undefined, { timeout: 10000 }).then((r) => r.home_units || []);
}
