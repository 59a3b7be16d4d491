// views/reports.js: the daily tallies (日报) and the reports built on them, online only.
// #/reports/<place>[?day=D | ?from=A&to=B[&day=D]]: every number of a node's day (the roll-up),
//   with the change from the day before, each a link to the records behind it; the communities
//   below a town or district; a range's day-by-day totals; the trend and progress charts;
//   CSV / XLSX downloads and the printable 日报 page;
// #/reports/<community>/records?day=D&metric=M: the records behind one number;
// #/reports/<community>/progress: the screening round per grid and per cadre, what remains;
// #/work-records/<place>[?from=&to=&sort=&order=]: each cadre's work record (一线考察), sortable.
import { t, has, getLang, fmtTime } from '../i18n.js';
import { api, el, state, routine, showError, safeUrl } from '../api.js';
import { put, segmented, field } from '../forms.js';
import { enc, label, dateInput, phoneLink, none } from '../mobilise.js';

const isStaff = () => ['committee', 'admin'].includes(state.user?.role);
const isAdmin = () => state.user?.role === 'admin';
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const validDay = (s) => typeof s === 'string' && DAY.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`));

/** 'YYYY-MM-DD' plus n days (calendar arithmetic, no time zone involved). */
export function addDays(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

// The tally's numbers in the groups a 日报 reads them in. A number the server adds later, and
// not listed here, is shown under "other", so nothing is ever left off.
const GROUPS = [
  ['screening', ['households_in_round', 'households_answered', 'households_nobody_home', 'households_refused',
    'residents_screened', 'residents_fever_or_symptoms']],
  ['isolation', ['cases_new', 'cases_active', 'cases_released', 'cases_transferred',
    'isolation_visits_due', 'isolation_visits_done', 'isolation_visits_overdue']],
  ['deliveries', ['deliveries_raised', 'deliveries_done']],
  ['cadres', ['cadres_assigned', 'cadres_reported', 'cadres_on_watch', 'checkins_flagged']],
  ['checkpoints', ['checkpoint_hours_covered', 'checkpoint_hours_uncovered']],
  ['enterprises', ['problems_raised', 'problems_solved']],
];
// Routine mode (常态化) hides checkpoints and isolation, here as everywhere.
const HIDDEN_IN_ROUTINE = new Set(['isolation', 'checkpoints']);
const ROUTINE_HIDDEN_KEYS = new Set(['cadres_on_watch']);

/** The field's title: the server's Chinese header, or our English one. */
function fieldTitle(f) {
  return getLang() === 'en' && has(`tally.${f.key}`) ? t(`tally.${f.key}`) : f.title || f.key;
}

/** [[group, [field...]]...] of the fields the screen shows. */
function grouped(fields) {
  const byKey = new Map(fields.map((f) => [f.key, f]));
  const out = [];
  for (const [name, keys] of GROUPS) {
    if (routine() && HIDDEN_IN_ROUTINE.has(name)) continue;
    const list = keys.filter((k) => byKey.has(k) && !(routine() && ROUTINE_HIDDEN_KEYS.has(k))).map((k) => byKey.get(k));
    keys.forEach((k) => byKey.delete(k));
    if (list.length) out.push([name, list]);
  }
  if (byKey.size) out.push(['other', [...byKey.values()]]);
  return out;
}

const shownFields = (fields) => grouped(fields).flatMap(([, list]) => list);

/** 15.83 stays 15.83; float noise from subtraction (0.30000000000000004) is rounded away. */
const num = (v) => (typeof v === 'number' ? String(Math.round(v * 100) / 100) : String(v ?? 0));

function delta(value, before) {
  if (typeof value !== 'number' || typeof before !== 'number') return null;
  const d = Math.round((value - before) * 100) / 100;
  const text = d === 0 ? t('report.same') : t('report.change', { d: d > 0 ? `+${num(d)}` : `−${num(-d)}` });
  return el('span', { class: `stat-delta${d === 0 ? ' delta-zero' : ''}`, 'data-testid': 'stat-delta', 'data-delta': String(d) },
    d > 0 ? '▲ ' : d < 0 ? '▼ ' : '', text);
}

export const recordsHref = (communityId, day, metric) =>
  `/#/reports/${enc(communityId)}/records?day=${enc(day)}&metric=${enc(metric)}`;

/** One number: a link to its records when the user's role may see them and they exist. */
function stat(f, values, before, communityId, day) {
  const value = values?.[f.key] ?? 0;
  const kids = [
    el('span', { class: 'stat-label' }, fieldTitle(f)),
    el('span', { class: 'stat-num', 'data-testid': 'stat-value' }, num(value)),
    before ? delta(value, before[f.key]) : null,
  ];
  const attrs = { 'data-testid': `tally-${f.key}`, 'data-key': f.key, 'data-value': String(value) };
  if (communityId != null && isStaff() && f.records !== false) {
    return el('a', { class: 'stat stat-link', href: recordsHref(communityId, day, f.key), ...attrs,
      'aria-label': `${fieldTitle(f)} ${num(value)} · ${t('report.see_records')}` }, ...kids);
  }
  return el('div', { class: 'stat', ...attrs }, ...kids);
}

function statGroups(fields, values, before, communityId, day) {
  return grouped(fields).map(([name, list]) => el('div', { class: 'stat-group', 'data-group': name },
    el('h3', {}, t(`report.group.${name}`)),
    el('div', { class: 'stats' }, list.map((f) => stat(f, values, before, communityId, day)))));
}

function backToDashboard(id) {
  return el('a', { class: 'btn-secondary', href: `/#/dashboard/${enc(id)}`, 'data-testid': 'dashboard-back' }, t('community.back'));
}

/** The report links a place offers (dashboard and report screens): 日报, progress, 一线考察. */
export function reportLinks(place, { report = true, progress = true } = {}) {
  const id = place?.id;
  if (id == null) return null;
  const community = place.kind === 'community';
  const links = [
    report && isStaff() ? el('a', { class: 'btn-primary', href: `/#/reports/${enc(id)}`, 'data-testid': 'report-link' }, t('report.title')) : null,
    community && progress ? el('a', { class: 'btn-secondary', href: `/#/reports/${enc(id)}/progress`, 'data-testid': 'progress-link' }, t('progress.title')) : null,
    isAdmin() ? el('a', { class: 'btn-secondary', href: `/#/work-records/${enc(id)}`, 'data-testid': 'work-records-link' }, t('work.title')) : null,
  ].filter(Boolean);
  return links.length ? el('div', { class: 'dash-links', 'data-testid': 'report-links' }, links) : null;
}

function placeSelect(current, fillPlaces, go) {
  const sel = el('select', { id: 'report-place', class: 'select', 'data-testid': 'report-place' });
  sel.addEventListener('change', () => go(sel.value));
  fillPlaces?.(sel, current);
  return field(t('dash.place'), sel);
}

function queryString(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

// ---------- the report (日报) ----------

/** #/reports/<place>: opts.fillPlaces(select, current) fills the place picker (app.js). */
export function reportView(placeId, query, opts = {}) {
  const want = {
    day: validDay(query.get('day')) ? query.get('day') : null,
    from: validDay(query.get('from')) ? query.get('from') : null,
    to: validDay(query.get('to')) ? query.get('to') : null,
  };
  const range = !!(want.from && want.to);
  const body = el('div', { class: 'report-body', 'data-testid': 'report-body' }, el('p', { class: 'muted' }, t('loading')));
  const title = el('h1', { 'data-testid': 'report-title' }, t('report.title'));
  const controls = el('div', { class: 'report-controls' });
  const node = el('section', { class: 'report', 'data-testid': 'report-view', 'data-place-id': String(placeId) },
    title, placeSelect(placeId, opts.fillPlaces, (id) => { location.hash = `#/reports/${enc(id)}${queryString(range ? want : { day: want.day })}`; }),
    controls, body);
  let alive = true;

  const go = (params) => { location.hash = `#/reports/${enc(placeId)}${queryString(params)}`; };
  const drawControls = (from, to, focus) => {
    const mode = segmented('report-mode', [{ value: 'day', label: t('report.one_day') }, { value: 'range', label: t('report.range') }],
      range ? 'range' : 'day', (v) => {
        if (v === 'range' && !range) go({ from: addDays(focus, -6), to: focus });
        else if (v === 'day' && range) go({ day: focus });
      }, { label: t('report.period') });
    if (!range) {
      const day = dateInput('day', focus, 'report-day');
      day.addEventListener('change', () => { if (validDay(day.value)) go({ day: day.value }); });
      put(controls, mode.node,
        el('div', { class: 'day-step' },
          el('button', { type: 'button', class: 'btn-secondary', 'data-testid': 'report-prev', 'aria-label': t('report.prev'), onclick: () => go({ day: addDays(focus, -1) }) }, '‹'),
          field(t('report.day'), day),
          el('button', { type: 'button', class: 'btn-secondary', 'data-testid': 'report-next', 'aria-label': t('report.next'), onclick: () => go({ day: addDays(focus, 1) }) }, '›')));
      return;
    }
    const a = dateInput('from', from, 'report-from');
    const b = dateInput('to', to, 'report-to');
    const apply = () => { if (validDay(a.value) && validDay(b.value) && a.value <= b.value) go({ from: a.value, to: b.value }); };
    a.addEventListener('change', apply);
    b.addEventListener('change', apply);
    put(controls, mode.node, el('div', { class: 'date-pair' }, field(t('report.from'), a), field(t('report.to'), b)));
  };

  (async () => {
    let r;
    const from = range ? want.from : want.day;
    const to = range ? want.to : want.day;
    try {
      r = await api('GET', `/api/places/${enc(placeId)}/tally${queryString({ from, to })}`);
    } catch (err) {
      if (!alive) return;
      drawControls(from, to, to || '');
      put(body);
      showError(body, err);
      return;
    }
    if (!alive) return;
    const focus = range && want.day && want.day >= r.from && want.day <= r.to ? want.day : r.to;
    drawControls(r.from, r.to, focus);
    title.textContent = `${t('report.title')} · ${r.place?.name || ''}`;
    put(body, ...reportParts(r, focus, range));
  })();
  return { node, cleanup: () => { alive = false; } };
}

function reportParts(r, focus, range) {
  const place = r.place || {};
  const community = place.kind === 'community';
  const fields = r.fields || [];
  const totals = new Map((r.totals || []).map((x) => [x.day, x]));
  const current = totals.get(focus) || {};
  const before = totals.get(addDays(focus, -1)) || (r.previous_day?.day === addDays(focus, -1) ? r.previous_day : null);
  const rows = (r.rows || []).filter((x) => x.day === focus);
  const rowsBefore = new Map((r.rows || []).filter((x) => x.day === addDays(focus, -1)).map((x) => [x.community?.id, x]));
  const q = `?from=${enc(r.from)}&to=${enc(r.to)}`;
  const kindName = has(`kind.${place.kind}`) ? t(`kind.${place.kind}`) : place.kind || '';
  return [
    el('p', { class: 'dash-place' }, el('strong', { 'data-testid': 'report-place-name' }, place.name || ''),
      ` · ${kindName} · `, el('span', { 'data-testid': 'report-period' }, r.from === r.to ? r.from : t('report.period_text', { from: r.from, to: r.to }))),
    el('div', { class: 'dash-links report-actions' },
      el('a', { class: 'btn-secondary', href: `/api/places/${enc(place.id)}/tally.csv${q}`, download: `tally-${place.id}-${r.from}-${r.to}.csv`, 'data-testid': 'report-csv' }, t('report.csv')),
      el('a', { class: 'btn-secondary', href: `/api/places/${enc(place.id)}/tally.xlsx${q}`, download: `tally-${place.id}-${r.from}-${r.to}.xlsx`, 'data-testid': 'report-xlsx' }, t('report.xlsx')),
      el('a', { class: 'btn-primary', href: `/reports/${enc(place.id)}/daily${range ? q : `?from=${enc(focus)}&to=${enc(focus)}`}`, target: '_blank', rel: 'noopener', 'data-testid': 'report-print' }, t('report.print'))),
    reportLinks(place, { report: false }),
    range ? rangeTable(r, fields, focus) : null,
    el('section', { class: 'dash-section', 'data-testid': 'report-totals', 'data-day': focus },
      el('h2', {}, t(community ? 'report.day_title' : 'report.rollup_title', { day: focus })),
      el('p', { class: 'muted small' }, before ? t('report.compared', { day: before.day }) : null,
        community && isStaff() ? ` ${t('report.tap_hint')}` : null),
      statGroups(fields, current, before, community ? place.id : null, focus)),
    community ? null : communitiesPart(rows, rowsBefore, fields, focus, place.kind === 'district'),
    el('section', { class: 'dash-section', 'data-testid': 'report-charts' },
      el('h2', {}, t('report.charts')),
      el('div', { class: 'charts' }, el('figure', { class: 'chart' },
        el('img', { src: safeUrl(`/api/places/${enc(place.id)}/trend.svg?days=14&to=${enc(focus)}`), alt: t('report.trend_alt', { name: place.name || '' }), 'data-testid': 'report-trend' }),
        el('figcaption', { class: 'muted small' }, t('report.trend_caption'))),
      el('figure', { class: 'chart' },
        el('img', { src: safeUrl(`/api/places/${enc(place.id)}/progress.svg`), alt: t('report.progress_alt', { name: place.name || '' }), 'data-testid': 'report-progress-chart' }),
        el('figcaption', { class: 'muted small' }, t('report.progress_caption'))))),
    community ? backToDashboard(place.id) : null,
  ];
}

/** A range: one row per day (newest first) of every number, in a box that scrolls sideways. */
function rangeTable(r, fields, focus) {
  const shown = shownFields(fields);
  const days = [...(r.totals || [])].reverse();
  return el('section', { class: 'dash-section', 'data-testid': 'report-range' },
    el('h2', {}, t('report.by_day')),
    el('p', { class: 'muted small' }, t('report.by_day_hint')),
    el('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': t('report.by_day') },
      el('table', { class: 'table' },
        el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, t('report.date')), shown.map((f) => el('th', { scope: 'col' }, fieldTitle(f))))),
        el('tbody', {}, days.map((d) => el('tr', { class: d.day === focus ? 'current' : null, 'data-testid': 'range-row', 'data-day': d.day },
          el('th', { scope: 'row' }, el('a', { href: `/#/reports/${enc(r.place?.id)}?from=${enc(r.from)}&to=${enc(r.to)}&day=${enc(d.day)}`, 'aria-current': d.day === focus ? 'date' : null }, d.day.slice(5))),
          shown.map((f) => el('td', {}, num(d[f.key])))))))));
}

/** Towns and districts: one card per community, the key numbers on top, every number inside. */
function communitiesPart(rows, rowsBefore, fields, day, withTown) {
  const v = (row, k) => num(row[k] ?? 0);
  return el('section', { class: 'dash-section', 'data-testid': 'report-communities' },
    el('h2', {}, t('dash.rows'), ` (${rows.length})`),
    rows.length ? rows.map((row) => el('details', { class: 'community-card', 'data-testid': 'report-community', 'data-community-id': String(row.community?.id) },
      el('summary', {},
        el('span', { class: 'row-title' }, row.community?.name || '', withTown && row.town ? el('span', { class: 'muted small' }, ` · ${row.town}`) : null),
        el('span', { class: 'row-sub', 'data-testid': 'community-summary' }, t(routine() ? 'report.row_stats_routine' : 'report.row_stats', {
          answered: v(row, 'households_answered'), households: v(row, 'households_in_round'), fever: v(row, 'residents_fever_or_symptoms'),
          active: v(row, 'cases_active'), overdue: v(row, 'isolation_visits_overdue'), reported: v(row, 'cadres_reported'), assigned: v(row, 'cadres_assigned'),
        }))),
      el('div', { class: 'community-body' },
        statGroups(fields, row, rowsBefore.get(row.community?.id) || null, row.community?.id, day),
        el('div', { class: 'dash-links' },
          el('a', { class: 'btn-secondary', href: `/#/reports/${enc(row.community?.id)}?day=${enc(day)}`, 'data-testid': 'community-report-link' }, t('report.open_community')),
          el('a', { class: 'btn-secondary', href: `/#/reports/${enc(row.community?.id)}/progress`, 'data-testid': 'community-progress-link' }, t('progress.title')))))) : el('p', { class: 'muted' }, t('dash.none')));
}

// ---------- the records behind a number ----------

const PAGE = 200;

export function recordsView(communityId, query) {
  const day = validDay(query.get('day')) ? query.get('day') : '';
  const metric = query.get('metric') || '';
  const head = el('div', { class: 'records-head' }, el('p', { class: 'muted' }, t('loading')));
  const list = el('ul', { class: 'list', 'data-testid': 'records-list' });
  const more = el('button', { type: 'button', class: 'btn-secondary btn-block', 'data-testid': 'records-more', hidden: true }, t('report.more'));
  const back = el('a', { class: 'btn-secondary', href: `/#/reports/${enc(communityId)}${day ? `?day=${enc(day)}` : ''}`, 'data-testid': 'records-back' }, t('report.back'));
  const node = el('section', { class: 'report-records', 'data-testid': 'records-view', 'data-metric': metric, 'data-day': day },
    el('h1', { 'data-testid': 'records-title' }, t('report.records')), back, head, list, more);
  let alive = true;
  let offset = 0;
  const load = async () => {
    more.disabled = true;
    let r;
    try {
      r = await api('GET', `/api/places/${enc(communityId)}/tally/records${queryString({ day, metric, limit: PAGE, offset })}`);
    } catch (err) {
      if (!alive) return;
      put(head);
      showError(head, err);
      more.hidden = true;
      return;
    }
    if (!alive) return;
    const name = getLang() === 'en' && has(`tally.${r.metric}`) ? t(`tally.${r.metric}`) : r.title;
    node.querySelector('h1').textContent = `${name} · ${r.place?.name || ''}`;
    put(head,
      el('p', { class: 'dash-place' }, el('strong', {}, r.day), ` · ${r.place?.name || ''}`),
      el('div', { class: 'records-summary' },
        el('span', { class: 'stat-num', 'data-testid': 'records-value', 'data-value': String(r.value) }, num(r.value)),
        el('span', {}, t('report.records_total', { n: r.total }))),
      el('p', { class: 'muted small', 'data-testid': 'records-counts' }, t(`report.counts.${r.counts}`)),
      downloads(`/api/places/${enc(communityId)}/tally/records`, queryString({ day: r.day, metric: r.metric }),
        `records-${communityId}-${r.day}-${r.metric}`, 'records'));
    if (offset === 0) put(list);
    const items = r.records || [];
    if (!items.length && offset === 0) list.append(none('report.no_records'));
    list.append(...items.map(recordRow));
    list.dataset.total = String(r.total);
    offset += items.length;
    more.hidden = offset >= r.total;
    more.disabled = false;
  };
  more.addEventListener('click', load);
  load();
  return { node, cleanup: () => { alive = false; } };
}

/** CSV and XLSX links of a list the server exports (`base`.csv / .xlsx with the query). */
function downloads(base, query, filename, testid) {
  return el('div', { class: 'dash-links report-actions' },
    el('a', { class: 'btn-secondary', href: `${base}.csv${query}`, download: `${filename}.csv`, 'data-testid': `${testid}-csv` }, t('report.csv')),
    el('a', { class: 'btn-secondary', href: `${base}.xlsx${query}`, download: `${filename}.xlsx`, 'data-testid': `${testid}-xlsx` }, t('report.xlsx')));
}

const joined = (...xs) => xs.filter((x) => x != null && x !== '').join(' · ');

/** One record as a row: what it is, where, who, when. */
function recordRow(r) {
  let main = '';
  let sub = [];
  let extra = null;
  const address = r.household?.address ? joined(r.household.address, r.household.grid) : '';
  switch (r.type) {
    case 'household':
      main = r.address;
      sub = [r.grid];
      break;
    case 'screening_visit':
      main = address;
      sub = [label('outcome', r.outcome), r.result ? label('result', r.result) : null, r.user?.name, fmtTime(r.recorded_at)];
      extra = r.corrects_id ? el('span', { class: 'badge badge-done' }, t('report.correction')) : null;
      break;
    case 'screening_visit_resident':
      main = joined(r.resident?.name, r.resident?.id_number);
      sub = [r.temperature != null ? `${r.temperature} °C` : null, (r.symptoms || []).map((s) => label('symptom', s)).join('、'), address, fmtTime(r.recorded_at)];
      break;
    case 'isolation_case':
      main = joined(r.resident?.name, r.resident?.id_number);
      sub = [address, t('case.period', { from: r.starts_on, to: r.ended_on || r.planned_end }),
        r.end_outcome ? label('report.outcome', r.end_outcome) : label('report.case_status', r.status)];
      break;
    case 'isolation_visit_plan':
      main = r.case?.resident?.name || '';
      sub = [r.case?.household?.address, label('slot', r.slot), label('report.plan', r.status)];
      break;
    case 'delivery':
      main = `${label('need', r.kind)}：${r.what || ''}`;
      sub = [address, label('delivery.status', r.status), fmtTime(r.raised_at), r.delivered_at ? t('report.delivered_at', { time: fmtTime(r.delivered_at) }) : null];
      break;
    case 'cadre':
      main = r.user?.name || '';
      sub = [r.user?.home_unit];
      extra = phoneLink(r.user?.phone);
      break;
    case 'problem_ticket':
      main = r.enterprise?.name || '';
      sub = [label('cat', r.category), label('ticket.status', r.status), r.raised_on, r.confirmed_on ? t('report.confirmed_on', { day: r.confirmed_on }) : null];
      break;
    case 'checkin':
      main = r.user?.name || '';
      sub = [r.checkpoint?.name || t('report.at_community'), fmtTime(r.recorded_at), r.checkout_at ? t('report.checked_out', { time: fmtTime(r.checkout_at) }) : null];
      extra = r.outside_assignment ? el('span', { class: 'badge badge-flag' }, t('badge.flagged')) : null;
      break;
    default:
      main = r.id || r.type || '';
  }
  return el('li', { class: 'row', 'data-testid': 'record-row', 'data-type': r.type || '', 'data-id': r.id ?? r.visit_id ?? r.user?.id ?? '' },
    el('div', { class: 'row-main' },
      el('div', { class: 'row-title' }, main, extra && extra.tagName === 'SPAN' ? extra : null),
      el('div', { class: 'row-sub' }, joined(...sub)),
      extra && extra.tagName !== 'SPAN' ? el('div', { class: 'row-sub' }, extra) : null));
}

// ---------- screening round progress ----------

function bar(done, total, testid) {
  return el('progress', { class: 'done-bar', max: String(Math.max(total, 1)), value: String(done), 'data-testid': testid || null, 'aria-label': `${done}/${total}` });
}

function progressRow(name, done, total, testid, id) {
  return el('li', { class: 'row progress-row', 'data-testid': testid, 'data-id': id != null ? String(id) : null, 'data-done': String(done), 'data-total': String(total) },
    el('div', { class: 'row-main' },
      el('div', { class: 'progress-head' }, el('span', { class: 'row-title' }, name),
        el('span', { class: 'progress-count' }, t('progress.count', { done, total }))),
      bar(done, total)));
}

export function progressView(communityId) {
  const body = el('div', {}, el('p', { class: 'muted' }, t('loading')));
  const title = el('h1', {}, t('progress.title'));
  const node = el('section', { class: 'report-progress', 'data-testid': 'progress-view' }, title, body);
  let alive = true;
  (async () => {
    let r;
    try {
      r = await api('GET', `/api/places/${enc(communityId)}/round-progress`);
    } catch (err) {
      if (!alive) return;
      put(body);
      showError(body, err);
      return;
    }
    if (!alive) return;
    title.textContent = `${t('progress.title')} · ${r.place?.name || ''}`;
    const place = r.place || { id: communityId, kind: 'community' };
    if (!r.round) {
      put(body, el('p', { class: 'notice', 'data-testid': 'progress-no-round' }, t('progress.no_round')), reportLinks(place, { progress: false }), backToDashboard(communityId));
      return;
    }
    const grids = r.grids || [];
    const total = grids.reduce((s, g) => s + g.households, 0);
    const done = grids.reduce((s, g) => s + g.screened, 0);
    const remaining = r.remaining || [];
    const byGrid = new Map();
    for (const h of remaining) {
      if (!byGrid.has(h.grid)) byGrid.set(h.grid, []);
      byGrid.get(h.grid).push(h);
    }
    put(body,
      el('p', { class: 'dash-place' }, el('strong', {}, r.round.name), ` · ${t('case.period', { from: r.round.starts_on, to: r.round.ends_on })}`),
      el('div', { class: 'progress-total', 'data-testid': 'progress-total', 'data-done': String(done), 'data-total': String(total) },
        el('span', { class: 'stat-num' }, t('progress.count', { done, total })),
        el('span', { class: 'muted' }, t('progress.screened_of')),
        bar(done, total)),
      reportLinks(place, { progress: false }),
      isStaff() ? downloads(`/api/places/${enc(communityId)}/round-progress`, '', `round-progress-${communityId}`, 'progress') : null,
      el('section', { class: 'dash-section' }, el('h2', {}, t('progress.by_grid')),
        el('ul', { class: 'list', 'data-testid': 'progress-grids' }, grids.length
          ? grids.map((g) => progressRow(g.grid?.name || '', g.screened, g.households, 'progress-grid', g.grid?.id)) : none())),
      el('section', { class: 'dash-section' }, el('h2', {}, t('progress.by_cadre')),
        el('ul', { class: 'list', 'data-testid': 'progress-cadres' }, (r.cadres || []).length
          ? r.cadres.map((c) => progressRow(c.user?.name || '', c.screened, c.households, 'progress-cadre', c.user?.id)) : none())),
      el('section', { class: 'dash-section' }, el('h2', {}, t('progress.remaining'), ` (${remaining.length})`),
        el('div', { 'data-testid': 'progress-remaining' }, remaining.length ? [...byGrid].map(([grid, list]) => el('div', { class: 'watch-group' },
          el('h3', {}, grid || ''),
          el('ul', { class: 'list' }, list.map((h) => el('li', { class: 'row', 'data-testid': 'remaining-row', 'data-id': h.id },
            el('div', { class: 'row-main' }, el('div', { class: 'row-title' }, h.address))))))) : el('p', { class: 'ok' }, t('progress.all_done')))),
      backToDashboard(communityId));
  })();
  return { node, cleanup: () => { alive = false; } };
}

// ---------- cadre work records (一线考察) ----------

// Columns before the numbers; the numbers come from the server's `fields`.
const TEXT_COLUMNS = [
  { key: 'name', get: (r) => r.user?.name || '' },
  { key: 'home_unit', get: (r) => r.user?.home_unit || '' },
  { key: 'places', get: (r) => r.places || '' },
];

export function workRecordsView(placeId, query, opts = {}) {
  const from = validDay(query.get('from')) ? query.get('from') : null;
  const to = validDay(query.get('to')) ? query.get('to') : null;
  const state0 = { sort: query.get('sort') || 'days_reported', order: query.get('order') === 'asc' ? 'asc' : 'desc' };
  const body = el('div', {}, el('p', { class: 'muted' }, t('loading')));
  const controls = el('div', { class: 'report-controls' });
  const title = el('h1', {}, t('work.title'));
  const node = el('section', { class: 'work-records', 'data-testid': 'work-view' }, title,
    el('p', { class: 'hint' }, t('work.hint')),
    placeSelect(placeId, opts.fillPlaces, (id) => { location.hash = `#/work-records/${enc(id)}${queryString({ from, to, ...state0 })}`; }),
    controls, body);
  let alive = true;
  (async () => {
    let r;
    try {
      r = await api('GET', `/api/places/${enc(placeId)}/work-records${queryString({ from, to })}`);
    } catch (err) {
      if (!alive) return;
      put(body);
      showError(body, err);
      return;
    }
    if (!alive) return;
    title.textContent = `${t('work.title')} · ${r.place?.name || ''}`;
    const a = dateInput('from', r.from, 'work-from');
    const b = dateInput('to', r.to, 'work-to');
    const apply = () => {
      if (validDay(a.value) && validDay(b.value) && a.value <= b.value) {
        location.hash = `#/work-records/${enc(placeId)}${queryString({ from: a.value, to: b.value, ...state0 })}`;
      }
    };
    a.addEventListener('change', apply);
    b.addEventListener('change', apply);
    put(controls, el('div', { class: 'date-pair' }, field(t('report.from'), a), field(t('report.to'), b)));
    workTable(body, r, placeId, state0);
  })();
  return { node, cleanup: () => { alive = false; } };
}

function workTable(body, r, placeId, sortState) {
  const numeric = (r.fields || []).map((f) => ({ key: f.key, title: getLang() === 'en' && has(`work.${f.key}`) ? t(`work.${f.key}`) : f.title, numeric: true, get: (x) => x[f.key] ?? 0 }));
  const columns = [...TEXT_COLUMNS.map((c) => ({ ...c, title: t(`work.${c.key}`) })), ...numeric];
  const records = r.records || [];
  const sortSel = el('select', { class: 'select', id: 'work-sort', 'data-testid': 'work-sort' }, columns.map((c) => el('option', { value: c.key }, c.title)));
  const orderBtn = el('button', { type: 'button', class: 'btn-secondary', 'data-testid': 'work-order' });
  const exports = el('div', { class: 'dash-links report-actions' });
  const table = el('table', { class: 'table work-table', 'data-testid': 'work-table' });
  const draw = () => {
    const col = columns.find((c) => c.key === sortState.sort) || columns.find((c) => c.key === 'days_reported') || columns[0];
    sortState.sort = col.key;
    const dir = sortState.order === 'asc' ? 1 : -1;
    const collator = new Intl.Collator(getLang() === 'en' ? 'en' : 'zh-CN');
    const sorted = [...records].sort((x, y) => {
      const c = col.numeric ? col.get(x) - col.get(y) : collator.compare(col.get(x), col.get(y));
      return c * dir || collator.compare(x.user?.name || '', y.user?.name || '');
    });
    sortSel.value = col.key;
    orderBtn.textContent = t(sortState.order === 'asc' ? 'work.asc' : 'work.desc');
    orderBtn.dataset.order = sortState.order;
    // The exports follow a number's order (the server sorts by those); by name they keep its default.
    const q = queryString({ from: r.from, to: r.to, ...(col.numeric ? { sort: col.key, order: sortState.order } : {}) });
    put(exports,
      el('a', { class: 'btn-secondary', href: `/api/places/${enc(placeId)}/work-records.csv${q}`, download: `work-records-${placeId}-${r.from}-${r.to}.csv`, 'data-testid': 'work-csv' }, t('report.csv')),
      el('a', { class: 'btn-secondary', href: `/api/places/${enc(placeId)}/work-records.xlsx${q}`, download: `work-records-${placeId}-${r.from}-${r.to}.xlsx`, 'data-testid': 'work-xlsx' }, t('report.xlsx')));
    put(table,
      el('thead', {}, el('tr', {}, columns.map((c) => el('th', {
        scope: 'col', class: c.numeric ? 'num' : 'text',
        'aria-sort': c.key === col.key ? (sortState.order === 'asc' ? 'ascending' : 'descending') : 'none',
      }, el('button', { type: 'button', class: 'th-sort', 'data-testid': `work-sort-${c.key}`, onclick: () => {
        sortState.order = c.key === col.key ? (sortState.order === 'asc' ? 'desc' : 'asc') : (c.numeric ? 'desc' : 'asc');
        sortState.sort = c.key;
        draw();
      } }, c.title, c.key === col.key ? el('span', { 'aria-hidden': 'true' }, sortState.order === 'asc' ? ' ▲' : ' ▼') : null))))),
      el('tbody', {}, sorted.length ? sorted.map((x) => el('tr', { 'data-testid': 'work-row', 'data-user-id': String(x.user?.id ?? '') },
        columns.map((c, i) => el(i === 0 ? 'th' : 'td', {
          scope: i === 0 ? 'row' : null, class: i === 0 ? 'cell-name text' : c.numeric ? 'num' : 'text',
          'data-label': c.title, 'data-key': c.key,
        }, c.numeric ? num(c.get(x)) : c.get(x))))) : el('tr', {}, el('td', { colspan: String(columns.length), class: 'muted' }, t('dash.none')))));
  };
  sortSel.addEventListener('change', () => {
    const c = columns.find((x) => x.key === sortSel.value);
    sortState.sort = sortSel.value;
    sortState.order = c?.numeric ? 'desc' : 'asc';
    draw();
  });
  orderBtn.addEventListener('click', () => { sortState.order = sortState.order === 'asc' ? 'desc' : 'asc'; draw(); });
  draw();
  put(body,
    el('p', { class: 'dash-place' }, el('strong', {}, r.place?.name || ''), ` · ${t('report.period_text', { from: r.from, to: r.to })} · `,
      el('span', { 'data-testid': 'work-count' }, t('work.count', { n: records.length }))),
    exports,
    el('div', { class: 'sort-bar' }, field(t('work.sort'), sortSel), orderBtn),
    el('div', { class: 'table-scroll work-scroll', tabindex: '0', role: 'region', 'aria-label': t('work.title') }, table));
}
