// views/tasks.js: #/tasks, the cadre's day (今日任务): households to screen in the current round,
// isolation visits due or overdue, open deliveries (take / delivered), and a search of the
// cached households by building and door. Works from the phone's copy, offline too.
import { t, fmtTime, fmtClock } from '../i18n.js';
import { el, routine } from '../api.js';
import * as outbox from '../outbox.js';
import { put } from '../forms.js';
import {
  loadLocal, householdsToScreen, visitsDue, openDeliveries, searchHouseholds, localOutcome,
} from '../local.js';
import { newRecord, saveAndSend, accepted, rejectedPanel } from '../record.js';

const enc = encodeURIComponent;

export const slotLabel = (slot) => t(`slot.${slot}`);

function badge(kind, text, testid) {
  return el('span', { class: `badge badge-${kind}`, 'data-testid': testid || `badge-${kind}` }, text);
}

function householdRow(h) {
  const outcome = h.local_outcome || h.last_outcome;
  return el('li', {}, el('a', {
    class: 'task', href: `/#/screen/${enc(h.id)}`, 'data-testid': 'task-household', 'data-id': h.id,
  },
  el('span', { class: 'task-title' }, h.address || `${h.building}-${h.unit}-${h.door}`),
  el('span', { class: 'task-sub' }, [h.head_name, h.residents_count ? t('tasks.people', { n: h.residents_count }) : null,
    h.is_rental ? t('tasks.rental') : null].filter(Boolean).join(' · ')),
  outcome && outcome !== 'answered'
    ? el('span', { class: 'badges' }, badge('pending', t(`tasks.last.${outcome}`), 'task-last-outcome')) : null));
}

function visitRow(v) {
  const c = v.case || {};
  return el('li', {}, el('a', {
    class: `task${v.status === 'overdue' ? ' task-late' : ''}`,
    href: `/#/visit/${enc(c.id)}?day=${enc(v.day)}&slot=${enc(v.slot)}`,
    'data-testid': 'task-isolation', 'data-case-id': c.id, 'data-day': v.day, 'data-slot': v.slot,
  },
  el('span', { class: 'task-title' }, c.resident?.name || '', c.attention ? el('span', { class: 'attention-mark', title: t('case.attention') }, ' ⚠') : null),
  el('span', { class: 'task-sub' }, [c.household?.address, `${v.day.slice(5)} ${slotLabel(v.slot)}`].filter(Boolean).join(' · ')),
  el('span', { class: 'badges' },
    badge(v.status === 'overdue' ? 'rejected' : 'watch', t(`tasks.status.${v.status}`), 'task-status'),
    v.test ? badge('flag', t('tasks.test_day'), 'task-test') : null)));
}

function deliveryRow(d, onStep) {
  const errs = el('div', { class: 'errors row-errors' });
  const note = el('div', { class: 'row-errors', 'aria-live': 'polite' });
  const step = (action) => async (e) => {
    const b = e.currentTarget;
    if (b.disabled) return;
    b.disabled = true;
    const rec = newRecord('delivery', { action, delivery_id: d.id }, { place_name: [d.what, d.address].filter(Boolean).join(' · ') });
    rec.done = { delivery_id: d.id, action };
    const { saved, answer } = await saveAndSend(rec, errs, 6000);
    if (!saved) { b.disabled = false; return; }
    if (answer && !accepted(answer)) { put(errs, rejectedPanel(answer, 'delivery-rejected')); return; }
    onStep(d, action, !!answer);
  };
  const take = d.status === 'open'
    ? el('button', { type: 'button', class: 'btn-secondary', 'data-testid': 'delivery-take', onclick: step('take') }, t('delivery.take')) : null;
  const deliver = el('button', { type: 'button', class: 'btn-primary', 'data-testid': 'delivery-deliver', onclick: step('deliver') }, t('delivery.deliver'));
  return el('li', { class: 'task task-delivery', 'data-testid': 'task-delivery', 'data-id': d.id, 'data-status': d.status },
    el('span', { class: 'task-title' }, `${t(`need.${d.kind}`)}：${d.what}`),
    el('span', { class: 'task-sub' }, [d.for_whom, d.address].filter(Boolean).join(' · ')),
    el('span', { class: 'task-sub' }, t('delivery.age', { h: Math.max(0, Math.round(d.age_hours ?? 0)) }),
      d.due_by ? ` · ${t('delivery.due_by', { day: d.due_by })}` : ''),
    el('span', { class: 'badges' }, badge(d.status === 'open' ? 'flag' : 'watch',
      t(`delivery.status.${d.status}`) + (d.local ? ` ${t('delivery.local')}` : ''), 'delivery-status')),
    el('div', { class: 'task-actions' }, take, deliver), note, errs);
}

function section(title, n, testid, ...kids) {
  return el('section', { class: 'task-section', 'data-testid': testid },
    el('h2', {}, title, n != null ? el('span', { class: 'count' }, ` (${n})`) : null), ...kids);
}

/** The view. refresh(): asks app.js for fresh offline data (online only). Returns {node, cleanup}. */
export function tasksView({ refresh } = {}) {
  const head = el('p', { class: 'muted', 'data-testid': 'tasks-updated' });
  const flash = el('div', { 'aria-live': 'polite' });
  const body = el('div', { class: 'tasks-body' }, el('p', { class: 'muted' }, t('loading')));
  const search = el('input', {
    type: 'search', id: 'household-search', inputmode: 'search', autocomplete: 'off', enterkeyhint: 'search',
    placeholder: t('tasks.search_hint'), 'data-testid': 'household-search',
  });
  const results = el('ul', { class: 'list-plain', 'data-testid': 'search-results' });
  let local = null;
  let alive = true;
  let refreshed = false; // the one refresh on opening is over (with or without new data)

  const renderSearch = () => {
    if (!local || !search.value.trim()) { put(results); return; }
    const found = searchHouseholds(local, search.value);
    put(results, found.length ? found.map((h) => householdRow({ ...h, local_outcome: localOutcome(local, h), search: true }))
      .map((li) => { li.firstChild.dataset.testid = 'search-household'; return li; })
      : el('li', { class: 'muted' }, t('tasks.search_none')));
  };
  search.addEventListener('input', renderSearch);

  const onStep = (d, action, sent) => {
    put(flash, el('p', { class: sent ? 'ok' : 'notice', role: 'status', 'data-testid': sent ? 'delivery-sent' : 'saved-offline' },
      t(`delivery.${action}_done`, { what: d.what }), sent ? '' : ` ${t('record.saved_short')}`));
    render();
  };

  async function render() {
    local = await loadLocal();
    if (!alive) return;
    renderSearch();
    if (!local.known) {
      put(body, el('p', { class: 'notice', 'data-testid': 'tasks-none-offline' }, t(navigator.onLine === false || refreshed ? 'tasks.no_copy' : 'loading')));
      return;
    }
    const hs = householdsToScreen(local);
    const hideIsolation = routine(); // routine mode (常态化): no isolation visits
    const vs = hideIsolation ? [] : visitsDue(local);
    const ds = openDeliveries(local);
    head.textContent = [local.day?.day ? t('tasks.day', { day: local.day.day }) : null,
      local.fetchedAt ? t('tasks.updated', { time: fmtClock(local.fetchedAt) }) : null].filter(Boolean).join(' · ');
    head.title = local.fetchedAt ? fmtTime(local.fetchedAt) : '';
    const none = () => el('li', { class: 'muted' }, t('tasks.none'));
    put(body,
      hideIsolation ? null : section(t('tasks.visits'), vs.length, 'tasks-visits', el('ul', { class: 'list-plain' }, vs.length ? vs.map(visitRow) : none())),
      section(t('tasks.households'), hs.length, 'tasks-households',
        el('ul', { class: 'list-plain' }, hs.length ? hs.map(householdRow) : none())),
      section(t('tasks.deliveries'), ds.length, 'tasks-deliveries', flash,
        el('ul', { class: 'list-plain' }, ds.length ? ds.map((d) => deliveryRow(d, onStep)) : none())),
      local.cases.length && !hideIsolation ? section(t('tasks.cases'), local.cases.length, 'tasks-cases', el('ul', { class: 'list-plain' },
        local.cases.map((c) => el('li', {}, el('a', {
          class: 'task', href: `/#/visit/${enc(c.id)}`, 'data-testid': 'task-case', 'data-case-id': c.id,
        }, el('span', { class: 'task-title' }, c.resident?.name || '', c.attention ? ' ⚠' : ''),
        el('span', { class: 'task-sub' }, [c.household?.address, t('case.until', { day: c.planned_end })].filter(Boolean).join(' · '))))))) : null);
  }

  const node = el('section', { class: 'tasks', 'data-testid': 'tasks-view' },
    el('h1', {}, t('tasks.title')), head,
    el('label', { class: 'field search-field' }, el('span', { class: 'label' }, t('tasks.search')), search),
    results, body);
  const rerender = () => { render().catch(() => {}); };
  window.addEventListener('baodao:offline', rerender);
  const offChange = outbox.onChange(rerender);
  render().catch(() => {});
  Promise.resolve(refresh?.()).finally(() => { refreshed = true; if (alive) rerender(); });
  return {
    node,
    cleanup: () => { alive = false; offChange(); window.removeEventListener('baodao:offline', rerender); },
  };
}
