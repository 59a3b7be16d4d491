// local.js: the cadre's day as this phone knows it, online or not. The server's copy comes from
// GET /api/sync/changes (collections "day", "households", "cases", cached by outbox.js); what the
// phone captured since ("_done", and the outbox) is laid over it, so a screened household or a
// visited slot leaves the list at once and a delivery taken shows as taken.
// The domain rules (fever threshold, temperature range, statuses) come from GET /api/rules,
// kept here for offline work: the phone has no copy of its own (server/rules.py).
import * as outbox from './outbox.js';
import { api } from './api.js';
import { localToday } from './forms.js';

// ---------- the domain rules ----------

const RULES_KEY = 'baodao.rules';
const RULES_FRESH_MS = 60 * 1000; // start, login and the first send come together: one fetch

function storedRules() {
  try { return JSON.parse(localStorage.getItem(RULES_KEY) || 'null')?.rules || null; } catch { return null; }
}

let currentRules = storedRules(); // localStorage off (private mode): this page's copy only
let rulesAt = 0;
let rulesFetch = null;

const numbers = (a, n) => Array.isArray(a) && a.length === n && a.every(Number.isFinite);
const words = (a) => Array.isArray(a) && a.length > 0 && a.every((x) => typeof x === 'string');

/** The rules as the server last gave them, or null before the first answer ever. */
export const rules = () => currentRules;

/** GET /api/rules (no login needed), kept for offline; on failure the last copy stays. */
export function refreshRules() {
  // Offline with no copy yet (a new version's first start): the service worker answers from the
  // shell's cache.
  if ((navigator.onLine === false && currentRules) || Date.now() - rulesAt < RULES_FRESH_MS) {
    return Promise.resolve(currentRules);
  }
  rulesFetch ||= api('GET', '/api/rules', undefined, { noLogin: true, timeout: 10000 }).then((r) => {
    if (!Number.isFinite(r?.fever) || !numbers(r.temperature_range, 2) || !words(r.ticket_statuses)
      || !words(r.screening_outcomes)) return currentRules; // not an answer we can use
    currentRules = r;
    rulesAt = Date.now();
    try { localStorage.setItem(RULES_KEY, JSON.stringify({ rules: r, fetched_at: new Date().toISOString() })); } catch { /* kept in memory */ }
    return r;
  }, () => currentRules).finally(() => { rulesFetch = null; });
  return rulesFetch;
}

/** A temperature at or above the fever threshold; false while the rules are unknown. */
export function feverTemp(v) {
  const fever = currentRules?.fever;
  return Number.isFinite(v) && Number.isFinite(fever) && v >= fever;
}

// ---------- the day ----------

async function offline(name) {
  try { return (await outbox.getOffline(name)) || null; } catch { return null; }
}

/** Everything the task list and the forms read, in one go. */
export async function loadLocal() {
  const [day, households, cases, done, recs] = await Promise.all([
    offline('day'), offline('households'), offline('cases'), offline('_done'),
    outbox.list().catch(() => []),
  ]);
  // A record the server refused does not count as done: the task comes back.
  const refused = new Set(recs.filter((r) => r.state === 'invalid' || r.state === 'conflict').map((r) => r.id));
  return {
    day: day?.items?.[0] || null,
    fetchedAt: day?.fetched_at || null,
    households: households?.items || [],
    cases: cases?.items || [],
    done: (done?.items || []).filter((d) => !refused.has(d.id)),
    known: !!day, // false: this phone has no offline copy yet
  };
}

/** The round of a household (from the day list, or a neighbour in the same community). */
export function roundOf(local, household) {
  const list = local.day?.households || [];
  const same = list.find((h) => h.id === household.id) || list.find((h) => h.community_id === household.community_id);
  return same?.round || null;
}

/** The last screening outcome this phone recorded for a household in this round, or null. */
export function localOutcome(local, household) {
  const round = household.round?.id ?? roundOf(local, household)?.id ?? null;
  const today = localToday();
  const mine = local.done.filter((d) => d.type === 'screening_visit' && d.household_id === household.id
    && (d.round_id != null && round != null ? d.round_id === round : localToday(new Date(d.recorded_at)) === today));
  return mine.length ? mine[mine.length - 1].outcome : null;
}

export function householdsToScreen(local) {
  return (local.day?.households || [])
    .map((h) => ({ ...h, local_outcome: localOutcome(local, h) }))
    .filter((h) => h.local_outcome !== 'answered');
}

export function visitsDue(local) {
  const done = new Set(local.done.filter((d) => d.type === 'isolation_visit').map((d) => `${d.case_id}|${d.due_day}|${d.slot}`));
  return (local.day?.isolation_visits || []).filter((v) => !done.has(`${v.case?.id}|${v.day}|${v.slot}`));
}

export function openDeliveries(local) {
  const steps = local.done.filter((d) => d.type === 'delivery');
  return (local.day?.deliveries || []).map((d) => {
    const mine = steps.filter((s) => s.delivery_id === d.id);
    if (mine.some((s) => s.action === 'deliver')) return null;
    return mine.some((s) => s.action === 'take') && d.status === 'open' ? { ...d, status: 'taken', local: true } : d;
  }).filter(Boolean);
}

/** A household with its residents (the offline copy), or null. */
export function findHousehold(local, id) {
  return local.households.find((h) => h.id === id) || null;
}

export function findCase(local, id) {
  return local.cases.find((c) => c.id === id)
    || (local.day?.isolation_visits || []).map((v) => v.case).find((c) => c?.id === id) || null;
}

/** Households matching what was typed: "1-101", "1 101", "101", a name. */
export function searchHouseholds(local, query) {
  const tokens = String(query).trim().toLowerCase()
    .replace(/[０-９]/g, (d) => String.fromCharCode(d.charCodeAt(0) - 0xfee0))
    .split(/[\s\-—–/,，号楼单元室]+/).filter(Boolean);
  if (!tokens.length) return [];
  return local.households.filter((h) => {
    const parts = [h.building, h.unit, h.door].map((x) => String(x ?? '').toLowerCase());
    const text = `${h.address || ''} ${h.head_name || ''}`.toLowerCase();
    return tokens.every((tok) => parts.includes(tok) || text.includes(tok));
  }).slice(0, 30);
}
