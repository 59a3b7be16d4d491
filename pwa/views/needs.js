// views/needs.js: the staff side of mobilisation (online; office PC or phone).
// #/needs: the needs below the user's node, open first, oldest first (the server's order), with
//   links to raise one, the registered pool and call-ups; the root admin switches the mode here;
// #/needs/new: a community's need for people (how many, for what, when, which skills);
// #/needs/<id>: one need, the cadres proposed for it ranked with the reasons ("why this cadre"),
//   several selected and assigned at once, each conflict (assigned elsewhere then) shown;
// #/pool: the registered pool (双报到) of the user's community or node: the people registered
//   there, and the home units registered there (单位双报到: listed, registered, ended).
import { t, fmtTime } from '../i18n.js';
import { api, el, state, showError, clearErrors } from '../api.js';
import {
  put, loadSchema, validate, segmented, group, field, showFieldErrors, clearFieldErrors, toggle,
} from '../forms.js';
import {
  enc, TASKS, URGENCIES, catLabel, taskLabel, label, badge, needStatusBadge, urgencyBadge,
  phoneLink, dateInput, splitList, period, section, none, today, homeUnits,
} from '../mobilise.js';

const isAdmin = () => state.user?.role === 'admin';
const isRootAdmin = () => isAdmin() && state.user?.place?.kind === 'district';

let placesCache = null;
/** The nodes the user may see (GET /api/places), grids left out by the server. */
function places() {
  placesCache ||= api('GET', '/api/places').then((r) => r.places || []).catch(() => { placesCache = null; return []; });
  return placesCache;
}
export function forgetPlaces() { placesCache = null; }

function placeSelect(testid, kinds, current, onChange) {
  const sel = el('select', { class: 'select', 'data-testid': testid, id: testid, name: testid });
  places().then((ps) => {
    const opts = ps.filter((p) => kinds.includes(p.kind)).map((p) => el('option', { value: String(p.id) }, p.name));
    put(sel, opts);
    if (current != null) sel.value = String(current);
    if (!sel.value && opts[0]) sel.value = opts[0].value;
    onChange?.(sel.value);
  });
  if (onChange) sel.addEventListener('change', () => onChange(sel.value));
  return sel;
}

function back(href = '/#/needs', key = 'needs.back') {
  return el('a', { class: 'btn-secondary', href, 'data-testid': 'back-link' }, t(key));
}

// ---------- the list ----------

export function needsView(query) {
  const status = query?.get('status') || '';
  const list = el('ul', { class: 'list-plain', 'data-testid': 'needs-list' }, none('loading'));
  const problems = el('p', { class: 'muted', 'data-testid': 'problems-totals' });
  const errs = el('div', { class: 'errors' });
  const filter = segmented('needs-filter', ['', 'open', 'filled', 'closed'].map((s) => ({ value: s, label: s ? label('needs.status', s) : t('needs.all') })),
    status, (v) => { location.hash = v ? `#/needs?status=${enc(v)}` : '#/needs'; }, { label: t('needs.filter') });
  const node = el('section', { class: 'needs', 'data-testid': 'needs-view' },
    el('h1', {}, t('needs.title')),
    el('div', { class: 'dash-links' },
      el('a', { class: 'btn-primary', href: '/#/needs/new', 'data-testid': 'need-new' }, t('needs.new_short')),
      el('a', { class: 'btn-secondary', href: '/#/pool', 'data-testid': 'pool-link' }, t('pool.link')),
      el('a', { class: 'btn-secondary', href: '/#/call-ups', 'data-testid': 'callups-link' }, t('callup.title'))),
    isRootAdmin() ? modeSwitch() : null,
    problems,
    group(t('needs.filter'), filter.node),
    errs, list);
  api('GET', `/api/needs${status ? `?status=${enc(status)}` : ''}`).then((r) => {
    const ns = r.needs || [];
    put(list, ns.length ? ns.map(needRow) : none('needs.none'));
  }, (err) => { put(list); showError(errs, err); });
  const placeId = state.user?.place?.id;
  if (placeId != null) {
    api('GET', `/api/places/${enc(placeId)}/problems`).then((r) => {
      const s = r.totals || {};
      problems.textContent = t('needs.problems', { raised: s.raised ?? 0, solved: s.solved ?? 0, cannot: s.cannot_solve ?? 0 });
    }, () => {});
  }
  return { node };
}

function needRow(n) {
  const where = n.enterprise ? `${n.enterprise.name} · ${n.place?.name || ''}` : n.place?.name || '';
  const what = n.kind === 'help'
    ? [catLabel(n.category, n.category_title), n.department ? t('needs.asks_for', { dept: n.department }) : null]
    : [taskLabel(n.task, n.task_title), t('needs.people_of', { n: n.assigned ?? 0, of: n.people ?? 1 }), period(n.starts_on, n.ends_on)];
  return el('li', {}, el('a', {
    class: `task${n.urgency === 'urgent' ? ' task-late' : ''}${n.status !== 'open' ? ' task-quiet' : ''}`,
    href: `/#/needs/${enc(n.id)}`, 'data-testid': 'need-row', 'data-id': n.id, 'data-status': n.status,
  },
  el('span', { class: 'task-title' }, n.title),
  el('span', { class: 'task-sub' }, where),
  el('span', { class: 'task-sub' }, what.filter(Boolean).join(' · ')),
  el('span', { class: 'task-sub small' }, t('needs.raised_at', { time: fmtTime(n.created_at) })),
  el('span', { class: 'badges' },
    badge(n.kind === 'help' ? 'flag' : 'watch', label('needs.kind', n.kind), 'need-kind'),
    needStatusBadge(n.status), urgencyBadge(n.urgency))));
}

/** The deployment's mode (the root admin): emergency, or routine (常态化). */
function modeSwitch() {
  const errs = el('div', { class: 'errors' });
  const note = el('p', { class: 'muted small', 'aria-live': 'polite', 'data-testid': 'mode-note' });
  const w = segmented('mode', ['emergency', 'routine'].map((m) => ({ value: m, label: label('mode', m) })), state.mode, async (v) => {
    clearErrors(errs);
    try {
      const r = await api('POST', '/api/mode', { mode: v });
      state.mode = r.mode;
      note.textContent = t(`mode.${r.mode}_note`);
    } catch (err) {
      w.set(state.mode);
      showError(errs, err);
    }
  }, { label: t('mode.title') });
  note.textContent = t(`mode.${state.mode}_note`);
  return el('div', { class: 'mode-box', 'data-testid': 'mode-box' }, group(t('mode.title'), w.node), note, errs);
}

// ---------- one need: proposals and bulk assignment ----------

export function needView(id) {
  const root = el('section', { class: 'needs need-detail', 'data-testid': 'need-view' }, back(), el('p', { class: 'muted' }, t('loading')));
  let alive = true;
  const results = el('div', { 'data-testid': 'assign-results', 'aria-live': 'polite' });

  async function draw() {
    let need;
    let props = [];
    try {
      need = (await api('GET', `/api/needs/${enc(id)}`)).need;
      if (need.status !== 'closed') props = (await api('GET', `/api/needs/${enc(id)}/proposals?limit=30`)).proposals || [];
    } catch (err) {
      if (!alive) return;
      put(root, back());
      showError(root, err);
      return;
    }
    if (!alive) return;
    put(root, back(), header(need, draw), results,
      section(t('needs.assigned'), (need.assignments || []).length, 'need-assignments',
        el('ul', { class: 'list', 'data-testid': 'need-assigned-list' }, (need.assignments || []).length
          ? need.assignments.map((a) => el('li', { class: 'row', 'data-testid': 'need-assigned-row', 'data-user-id': a.user?.id },
            el('div', { class: 'row-main' }, el('div', { class: 'row-title' }, a.user?.name || ''),
              el('div', { class: 'row-sub' }, [a.home_unit, label('mob.role', a.role_in_team, a.role_in_team), period(a.starts_on, a.ends_on)].filter(Boolean).join(' · ')))))
          : none())),
      need.status === 'closed' ? null : proposalsPart(need, props, async (answer) => {
        put(results, resultsPanel(answer.results || [], props));
        await draw();
        results.scrollIntoView?.({ block: 'start' });
      }));
  }
  draw();
  return { node: root, cleanup: () => { alive = false; } };
}

function header(n, redraw) {
  const errs = el('div', { class: 'errors' });
  const setStatus = (status) => async (ev) => {
    ev.currentTarget.disabled = true;
    try {
      await api('POST', `/api/needs/${enc(n.id)}/status`, { status });
      redraw();
    } catch (err) {
      ev.currentTarget.disabled = false;
      showError(errs, err);
    }
  };
  return el('div', { class: 'need-head' },
    el('p', { class: 'eyebrow' }, label('needs.kind', n.kind)),
    el('h1', { 'data-testid': 'need-title' }, n.title),
    el('p', { class: 'badges' }, needStatusBadge(n.status), urgencyBadge(n.urgency)),
    el('dl', { class: 'facts' },
      n.enterprise ? [el('dt', {}, t('needs.enterprise')), el('dd', { 'data-testid': 'need-enterprise' }, n.enterprise.name)] : null,
      [el('dt', {}, t('needs.place')), el('dd', {}, n.place?.name || '')],
      n.kind === 'help' ? [el('dt', {}, t('help.category')), el('dd', {}, catLabel(n.category, n.category_title))] : null,
      n.department ? [el('dt', {}, t('help.department')), el('dd', { 'data-testid': 'need-department' }, n.department)] : null,
      n.kind === 'people' ? [el('dt', {}, t('needs.task')), el('dd', {}, taskLabel(n.task, n.task_title))] : null,
      n.kind === 'people' ? [el('dt', {}, t('needs.people')), el('dd', {}, t('needs.people_of', { n: n.assigned ?? 0, of: n.people ?? 1 }))] : null,
      n.skills?.length ? [el('dt', {}, t('needs.skills')), el('dd', {}, n.skills.join('、'))] : null,
      [el('dt', {}, t('needs.when')), el('dd', {}, period(n.starts_on, n.ends_on))],
      [el('dt', {}, t('needs.raised')), el('dd', {}, fmtTime(n.created_at))]),
    n.description ? el('p', { class: 'need-text' }, n.description) : null,
    el('div', { class: 'dash-links' },
      isAdmin() && n.status !== 'closed' ? el('a', { class: 'btn-secondary', href: `/#/call-ups?need=${enc(n.id)}`, 'data-testid': 'need-call-up' }, t('callup.for_need')) : null,
      n.status === 'closed'
        ? el('button', { type: 'button', class: 'btn-secondary', 'data-testid': 'need-reopen', onclick: setStatus('open') }, t('needs.reopen'))
        : el('button', { type: 'button', class: 'btn-secondary', 'data-testid': 'need-close', onclick: setStatus('closed') }, t('needs.close'))),
    errs);
}

function proposalsPart(need, props, onAssigned) {
  const chosen = new Set();
  const errs = el('div', { class: 'errors' });
  const count = el('span', { class: 'btn-count', 'data-testid': 'assign-count' }, '0');
  const assign = el('button', { type: 'submit', class: 'btn-primary btn-block btn-big btn-tasks', 'data-testid': 'assign-selected', disabled: true },
    el('span', {}, t('needs.assign')), count);
  const starts = dateInput('starts_on', need.starts_on, 'assign-starts-on');
  const ends = dateInput('ends_on', need.ends_on || '', 'assign-ends-on');
  const role = el('input', {
    type: 'text', name: 'role_in_team', maxlength: '40', 'data-path': '/role_in_team', 'data-testid': 'assign-role', id: 'assign-role',
    placeholder: need.enterprise ? label('mob.role', 'stationed') : label('mob.role', 'member'),
  });
  const update = () => {
    count.textContent = String(chosen.size);
    assign.disabled = chosen.size === 0;
  };
  const rows = props.map((p, i) => {
    const pick = toggle('proposal-select', '', false, (on) => {
      if (on) chosen.add(p.user.id); else chosen.delete(p.user.id);
      li.classList.toggle('chosen', on);
      update();
    });
    pick.node.setAttribute('aria-label', t('needs.pick', { name: p.user.name }));
    pick.node.append(el('span', { class: 'proposal-who' },
      el('span', { class: 'row-title' }, el('span', { class: 'rank' }, `${i + 1}. `), el('span', { 'data-testid': 'proposal-name' }, p.user.name)),
      el('span', { class: 'row-sub' }, [p.user.home_unit, p.user.specialty].filter(Boolean).join(' · '))),
    el('span', { class: 'proposal-score', 'data-testid': 'proposal-score', title: t('needs.score') }, String(p.score)));
    const li = el('li', { class: 'proposal', 'data-testid': 'proposal-row', 'data-user-id': p.user.id, 'data-score': p.score },
      pick.node,
      el('div', { class: 'why', 'data-testid': 'proposal-why' },
        el('span', { class: 'why-label' }, t('needs.why')),
        p.reasons?.length
          ? el('ul', { class: 'reasons' }, p.reasons.map((r) => el('li', { class: `reason${r.points < 0 ? ' reason-minus' : ''}`, 'data-code': r.code },
            el('span', {}, r.text), el('span', { class: 'reason-points' }, r.points > 0 ? `+${r.points}` : String(r.points)))))
          : el('p', { class: 'muted small' }, t('needs.no_reason'))),
      p.load ? el('p', { class: 'warn warn-small', 'data-testid': 'proposal-load' }, t('needs.load', { n: p.load })) : null);
    return li;
  });
  const form = el('form', { class: 'form', novalidate: true, 'data-testid': 'assign-form' },
    el('details', { class: 'more' }, el('summary', {}, t('needs.assign_options')),
      field(t('needs.starts_on'), starts), field(t('needs.ends_on'), ends), field(t('needs.role'), role)),
    el('ol', { class: 'list-plain proposals', 'data-testid': 'proposals' }, rows.length ? rows : none('needs.no_proposals')),
    errs,
    el('div', { class: 'form-actions' }, assign));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!chosen.size || assign.disabled) return;
    clearFieldErrors(form, errs);
    const body = { user_ids: props.map((p) => p.user.id).filter((x) => chosen.has(x)) };
    if (starts.value) body.starts_on = starts.value;
    if (ends.value) body.ends_on = ends.value;
    if (role.value.trim()) body.role_in_team = role.value.trim();
    if (body.ends_on && body.starts_on && body.ends_on < body.starts_on) {
      showFieldErrors(form, errs, [{ path: '/ends_on', message: t('needs.end_before_start') }]);
      return;
    }
    assign.disabled = true;
    try {
      onAssigned(await api('POST', `/api/needs/${enc(need.id)}/assignments`, body));
    } catch (err) {
      assign.disabled = false;
      if (err.fields?.length) showFieldErrors(form, errs, err.fields, err.message);
      else showError(errs, err);
    }
  });
  return section(t('needs.proposals'), props.length, 'need-proposals',
    el('p', { class: 'hint' }, t('needs.proposals_hint')), form);
}

function clash(c) {
  const where = c.enterprise ? `${c.enterprise.name}（${c.community?.name || ''}）` : c.community?.name || '';
  return `${where} ${period(c.starts_on, c.ends_on)}`;
}

/** One line per cadre asked for: assigned, already on it, a conflict (with what), or refused. */
function resultsPanel(results, props) {
  const name = (uid) => props.find((p) => p.user.id === uid)?.user.name || `#${uid}`;
  const n = (s) => results.filter((r) => r.status === s).length;
  const conflicts = n('conflict');
  return el('div', { class: conflicts ? 'assign-results has-conflicts' : 'assign-results', role: 'status' },
    el('p', { class: conflicts ? 'warn' : 'ok', 'data-testid': 'assign-summary' },
      t('needs.assigned_summary', { n: n('assigned'), of: results.length }),
      conflicts ? ` ${t('needs.conflict_summary', { n: conflicts })}` : ''),
    el('ul', { class: 'list' }, results.map((r) => el('li', {
      class: `row assign-result assign-${r.status}`, 'data-testid': 'assign-result', 'data-status': r.status, 'data-user-id': r.user_id,
    }, el('div', { class: 'row-main' },
      el('div', { class: 'row-title' }, name(r.user_id),
        badge(r.status === 'assigned' ? 'ok' : r.status === 'conflict' || r.status === 'invalid' ? 'rejected' : 'done', label('needs.result', r.status))),
      r.status === 'conflict' ? el('div', { class: 'conflict-text', 'data-testid': 'assign-conflict' },
        t('needs.conflict_with'), el('ul', {}, (r.conflicts || []).map((c) => el('li', {}, clash(c))))) : null,
      r.status === 'invalid' && r.message ? el('div', { class: 'row-sub' }, r.message) : null)))));
}

// ---------- a community's need for people ----------

export function newNeedView() {
  const root = el('section', { class: 'needs', 'data-testid': 'need-new-view' });
  const own = state.user?.place;
  const community = own?.kind === 'community' ? null : placeSelect('need-community', ['community'], null);
  const titleIn = el('input', { type: 'text', name: 'title', maxlength: '120', 'data-path': '/title', 'data-testid': 'need-title-input', id: 'need-title-input', placeholder: t('needs.title_hint') });
  const people = el('input', { type: 'number', name: 'people', min: '1', max: '10000', value: '1', inputmode: 'numeric', 'data-path': '/people', 'data-testid': 'need-people', id: 'need-people' });
  const starts = dateInput('starts_on', today(), 'need-starts-on');
  const ends = dateInput('ends_on', '', 'need-ends-on');
  const skills = el('input', { type: 'text', name: 'skills', maxlength: '400', 'data-path': '/skills', 'data-testid': 'need-skills', id: 'need-skills', placeholder: t('needs.skills_hint') });
  const desc = el('textarea', { name: 'description', maxlength: '2000', rows: '3', 'data-path': '/description', 'data-testid': 'need-description' });
  const task = segmented('need-task', TASKS.map((k) => ({ value: k, label: taskLabel(k) })), null, null, { label: t('needs.task'), path: '/task' });
  const urgency = segmented('need-urgency', URGENCIES.map((u) => ({ value: u, label: label('urgency', u), cls: u === 'urgent' ? 'seg-alert' : '' })), 'normal', null, { label: t('help.urgency'), path: '/urgency' });
  const errs = el('div', { class: 'errors' });
  const submit = el('button', { type: 'submit', class: 'btn-primary btn-block btn-big', 'data-testid': 'need-submit' }, t('needs.submit'));
  if (community) community.dataset.path = '/community_id';
  const form = el('form', { class: 'form', novalidate: true },
    community ? field(t('needs.place'), community) : el('p', { class: 'muted' }, t('needs.for_place', { name: own?.name || '' })),
    field(t('needs.what'), titleIn),
    group(t('needs.task'), task.node),
    field(t('needs.people'), people),
    el('div', { class: 'date-pair' }, field(t('needs.starts_on'), starts), field(t('needs.ends_on'), ends)),
    field(t('needs.skills'), skills),
    group(t('help.urgency'), urgency.node),
    field(t('help.description'), desc),
    errs,
    el('div', { class: 'form-actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submit.disabled) return;
    clearFieldErrors(form, errs);
    const body = { kind: 'people', title: titleIn.value.trim(), people: Number(people.value || 1), urgency: urgency.value || 'normal' };
    const cid = community ? Number(community.value) : own?.id;
    if (cid) body.community_id = cid;
    if (task.value) body.task = task.value;
    if (starts.value) body.starts_on = starts.value;
    if (ends.value) body.ends_on = ends.value;
    const sk = splitList(skills.value);
    if (sk.length) body.skills = sk;
    if (desc.value.trim()) body.description = desc.value.trim();
    const errors = validate(await loadSchema('need'), body);
    if (!body.title && !errors.some((x) => x.path === '/title')) errors.unshift({ path: '/title', message: t('needs.need_title') });
    if (body.ends_on && body.starts_on && body.ends_on < body.starts_on) errors.push({ path: '/ends_on', message: t('needs.end_before_start') });
    if (errors.length) { showFieldErrors(form, errs, errors); return; }
    submit.disabled = true;
    try {
      const r = await api('POST', '/api/needs', body);
      location.hash = `#/needs/${enc(r.need.id)}`;
    } catch (err) {
      submit.disabled = false;
      if (err.fields?.length) showFieldErrors(form, errs, err.fields, err.message);
      else showError(errs, err);
    }
  });
  put(root, back(), el('h1', {}, t('needs.new_title')), form);
  return { node: root };
}

// ---------- the registered pool (双报到) ----------

export function poolView(query) {
  const list = el('ul', { class: 'list', 'data-testid': 'pool-list' }, none('loading'));
  const count = el('p', { class: 'muted', 'data-testid': 'pool-count' });
  const errs = el('div', { class: 'errors' });
  const search = el('input', { type: 'search', placeholder: t('pool.search_hint'), 'data-testid': 'pool-search', 'aria-label': t('pool.search') });
  let all = [];
  const render = () => {
    const q = search.value.trim().toLowerCase();
    const shown = q ? all.filter((r) => [r.user?.name, r.user?.home_unit, r.user?.specialty, r.community?.name, r.services]
      .some((x) => String(x || '').toLowerCase().includes(q))) : all;
    count.textContent = t('pool.count', { n: all.length });
    put(list, shown.length ? shown.map(poolRow) : none('pool.none'));
  };
  search.addEventListener('input', render);
  const own = state.user?.place;
  const units = unitsPart(own);
  const load = (placeId) => {
    put(list, none('loading'));
    clearErrors(errs);
    api('GET', `/api/registrations${placeId ? `?place_id=${enc(placeId)}` : ''}`).then((r) => { all = r.registrations || []; render(); },
      (err) => { put(list); showError(errs, err); });
    units.load(placeId);
  };
  const pick = own && own.kind !== 'community' ? placeSelect('pool-place', ['district', 'town', 'community'], query?.get('place') || own.id, (v) => load(v)) : null;
  const node = el('section', { class: 'needs', 'data-testid': 'pool-view' },
    back(),
    el('h1', {}, t('pool.title')),
    el('p', { class: 'hint' }, t('pool.hint')),
    pick ? field(t('dash.place'), pick) : el('p', { class: 'muted' }, own?.name || ''),
    el('div', { class: 'dash-links' }, el('button', {
      type: 'button', class: 'btn-secondary', 'data-testid': 'pool-to-units',
      onclick: () => units.node.scrollIntoView?.({ block: 'start' }),
    }, t('pool.to_units'))),
    el('section', { class: 'task-section', 'data-testid': 'pool-people' },
      el('h2', {}, t('pool.people')),
      el('label', { class: 'field search-field' }, el('span', { class: 'label' }, t('pool.search')), search),
      count, errs, list),
    units.node);
  if (!pick) load(null);
  return { node };
}

// ---------- unit registration (单位双报到) ----------

/**
 * The home units registered with the communities of the node (contact, members, services, how
 * many of their cadres have accounts), a form to register one from its letter (the committee
 * for its own community, an admin for any community they may see), and ending one (confirmed).
 * Returns {node, load(placeId)}: the pool's place picker loads the node's units.
 */
function unitsPart(own) {
  let placeId = null;
  let seq = 0;
  const list = el('ul', { class: 'list', 'data-testid': 'unit-list' }, none('loading'));
  const count = el('span', { class: 'count', 'data-testid': 'unit-count' });
  const listErrs = el('div', { class: 'errors' });
  const flash = el('div', { 'aria-live': 'polite', 'data-testid': 'unit-flash' });

  // The form: a unit named from the list (or a new name), with its paired community.
  const options = el('datalist', { id: 'home-unit-options' });
  const unitIn = el('input', {
    type: 'text', name: 'home_unit', maxlength: '60', list: 'home-unit-options', autocomplete: 'off', enterkeyhint: 'next',
    'data-path': '/home_unit', 'data-testid': 'unit-name', id: 'unit-name', placeholder: t('units.name_hint'),
  });
  const picker = own?.kind === 'community' ? null : communitySelect();
  const community = picker?.node;
  const contact = el('input', {
    type: 'text', name: 'contact_name', maxlength: '40', autocomplete: 'off', enterkeyhint: 'next',
    'data-path': '/contact_name', 'data-testid': 'unit-contact', id: 'unit-contact',
  });
  const phone = el('input', {
    type: 'tel', name: 'contact_phone', inputmode: 'tel', maxlength: '20', autocomplete: 'off', enterkeyhint: 'next',
    'data-path': '/contact_phone', 'data-testid': 'unit-phone', id: 'unit-phone', placeholder: '13800000000',
  });
  const members = el('input', {
    type: 'number', name: 'members', min: '0', max: '100000', step: '1', inputmode: 'numeric', enterkeyhint: 'next',
    'data-path': '/members', 'data-testid': 'unit-members-input', id: 'unit-members-input',
  });
  const services = el('textarea', {
    name: 'services', maxlength: '200', rows: '2', 'data-path': '/services', 'data-testid': 'unit-services-input',
    id: 'unit-services-input', placeholder: t('units.services_hint'),
  });
  const errs = el('div', { class: 'errors' });
  const submit = el('button', { type: 'submit', class: 'btn-primary btn-block btn-big', 'data-testid': 'unit-submit' }, t('units.submit'));
  const form = el('form', { class: 'form', novalidate: true, 'data-testid': 'unit-form' },
    el('h3', {}, t('units.new')),
    el('p', { class: 'hint small' }, t('units.new_hint')),
    field(t('units.name'), unitIn), options,
    community ? field(t('units.community'), community)
      : el('p', { class: 'muted', 'data-testid': 'unit-own-community' }, t('units.for_place', { name: own?.name || '' })),
    field(t('units.contact_name'), contact),
    field(t('units.contact_phone'), phone),
    field(t('units.members_label'), members),
    field(t('units.services_label'), services),
    errs,
    el('div', { class: 'form-actions' }, submit));

  const fillUnits = () => homeUnits().then((us) => put(options, us.map((u) => el('option', { value: u.name }))), () => {});
  fillUnits();

  const load = (id = placeId) => {
    placeId = id || null;
    picker?.follow(placeId);
    const mine = ++seq;
    clearErrors(listErrs);
    api('GET', `/api/unit-registrations${placeId ? `?place_id=${enc(placeId)}` : ''}`).then((r) => {
      if (mine !== seq) return;
      const rows = r.unit_registrations || [];
      count.textContent = ` (${rows.length})`;
      put(list, rows.length ? rows.map((u) => unitRow(u, { onEdit: edit, onEnd: end })) : none('units.none'));
    }, (err) => {
      if (mine !== seq) return;
      put(list);
      showError(listErrs, err);
    });
  };

  // 修改: the row's values in the form; registering the same unit and community updates it.
  function edit(u) {
    clearFieldErrors(form, errs);
    put(flash);
    unitIn.value = u.home_unit?.name || '';
    picker?.set(u.community?.id);
    contact.value = u.contact_name || '';
    phone.value = u.contact_phone || '';
    members.value = u.members != null ? String(u.members) : '';
    services.value = u.services || '';
    form.scrollIntoView?.({ block: 'start' });
    contact.focus({ preventScroll: true });
  }

  async function end(u) {
    await api('DELETE', `/api/unit-registrations/${enc(u.id)}`);
    put(flash, el('p', { class: 'ok', role: 'status', 'data-testid': 'unit-ended' },
      t('units.ended', { unit: u.home_unit?.name || '', community: u.community?.name || '' })));
    load();
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submit.disabled) return;
    clearFieldErrors(form, errs);
    put(flash);
    // Only what the server cannot see: a number field holding something that is no number.
    if (members.validity?.badInput) {
      showFieldErrors(form, errs, [{ path: '/members', message: t('units.not_number') }]);
      return;
    }
    const body = { home_unit: unitIn.value.trim() };
    const cid = community ? Number(community.value) : own?.id;
    if (cid) body.community_id = cid;
    if (contact.value.trim()) body.contact_name = contact.value.trim();
    const ph = phone.value.replace(/[\s-]/g, '');
    if (ph) body.contact_phone = ph;
    if (members.value.trim() !== '') body.members = Number(members.value);
    if (services.value.trim()) body.services = services.value.trim();
    submit.disabled = true;
    try {
      // The server checks it all (its field errors land next to the fields).
      const r = await api('POST', '/api/unit-registrations', body);
      const u = r.unit_registration || {};
      put(flash, el('p', { class: 'ok', role: 'status', 'data-testid': r.status === 'updated' ? 'unit-updated' : 'unit-created' },
        t(r.status === 'updated' ? 'units.updated' : 'units.created', { unit: u.home_unit?.name || body.home_unit, community: u.community?.name || '' })));
      [unitIn, contact, phone, members, services].forEach((x) => { x.value = ''; });
      load();
      fillUnits();
      flash.scrollIntoView?.({ block: 'nearest' });
    } catch (err) {
      if (err.fields?.length) showFieldErrors(form, errs, err.fields, err.message);
      else showError(errs, err);
    } finally {
      submit.disabled = false;
    }
  });

  const node = el('section', { class: 'task-section unit-regs', 'data-testid': 'unit-regs' },
    el('h2', {}, t('units.title'), count),
    el('p', { class: 'hint' }, t('units.hint')),
    listErrs, list, flash, form);
  return { node, load };
}

/**
 * The communities an admin may see, by town: the paired community of a unit's registration.
 * Returns {node, follow(placeId), set(id)}: while the user has not chosen here, it follows the
 * pool's place picker (a community there is the community here; a town or district, none).
 */
function communitySelect() {
  const sel = el('select', { class: 'select', name: 'community_id', 'data-path': '/community_id', 'data-testid': 'unit-community', id: 'unit-community' },
    el('option', { value: '' }, t('units.pick_community')));
  let touched = false;
  let wanted = '';
  sel.addEventListener('change', () => { touched = true; });
  const has = (v) => [...sel.options].some((o) => o.value === v);
  const follow = (placeId = wanted) => {
    wanted = placeId == null ? '' : String(placeId);
    if (!touched) sel.value = has(wanted) ? wanted : '';
  };
  const set = (id) => {
    touched = true;
    sel.value = id != null && has(String(id)) ? String(id) : '';
  };
  places().then((ps) => {
    const byId = new Map(ps.map((p) => [p.id, p]));
    const groups = new Map();
    ps.filter((p) => p.kind === 'community').forEach((p) => {
      const parent = byId.get(p.parent_id)?.name || '';
      if (!groups.has(parent)) groups.set(parent, []);
      groups.get(parent).push(el('option', { value: String(p.id) }, p.name));
    });
    sel.append(...[...groups].map(([name, opts]) => (name ? el('optgroup', { label: name }, opts) : opts)).flat());
    follow();
  });
  return { node: sel, follow, set };
}

function unitRow(u, { onEdit, onEnd }) {
  const errs = el('div', { class: 'errors row-errors' });
  const unit = u.home_unit?.name || '';
  const where = u.community?.name || '';
  const actions = el('div', { class: 'row-actions' },
    el('button', { type: 'button', class: 'btn-secondary', 'data-testid': 'unit-edit', onclick: () => onEdit(u) }, t('units.edit')),
    el('button', { type: 'button', class: 'btn-secondary btn-danger', 'data-testid': 'unit-end', onclick: () => ask(true) }, t('units.end')));
  const yes = el('button', { type: 'button', class: 'btn-primary', 'data-testid': 'unit-end-confirm' }, t('units.end_yes'));
  const no = el('button', { type: 'button', class: 'btn-secondary', 'data-testid': 'unit-end-cancel', onclick: () => ask(false) }, t('units.end_no'));
  const confirm = el('div', { class: 'warn row-confirm', role: 'alert', 'data-testid': 'unit-end-ask', hidden: true },
    el('p', {}, t('units.end_confirm', { unit, community: where })),
    el('div', { class: 'row-actions' }, yes, no));
  function ask(on) {
    clearErrors(errs);
    confirm.hidden = !on;
    actions.hidden = on;
    (on ? no : actions.lastChild).focus();
  }
  yes.addEventListener('click', async () => {
    if (yes.disabled) return;
    yes.disabled = true;
    try {
      await onEnd(u);
    } catch (err) {
      yes.disabled = false;
      showError(errs, err);
    }
  });
  return el('li', { class: 'row unit-row', 'data-testid': 'unit-row', 'data-id': u.id },
    el('div', { class: 'row-main' },
      el('div', { class: 'row-title', 'data-testid': 'unit-row-name' }, unit),
      el('div', { class: 'row-sub', 'data-testid': 'unit-row-community' }, t('units.paired_with', { name: where })),
      u.contact_name || u.contact_phone
        ? el('div', { class: 'row-sub', 'data-testid': 'unit-row-contact' }, u.contact_name || '', u.contact_name && u.contact_phone ? ' ' : '', phoneLink(u.contact_phone))
        : null,
      el('div', { class: 'row-sub' },
        el('span', { 'data-testid': 'unit-row-members', 'data-n': u.members ?? 0 }, t('units.members', { n: u.members ?? 0 })), ' · ',
        el('span', { 'data-testid': 'unit-row-cadres', 'data-n': u.cadres ?? 0 }, t('units.cadres', { n: u.cadres ?? 0 }))),
      u.services ? el('div', { class: 'row-sub', 'data-testid': 'unit-row-services' }, t('units.services'), '：', u.services) : null),
    actions, confirm, errs);
}

function poolRow(r) {
  const u = r.user || {};
  return el('li', { class: 'row', 'data-testid': 'pool-row', 'data-user-id': u.id },
    el('div', { class: 'row-main' },
      el('div', { class: 'row-title' }, u.name || '', u.party_member ? badge('flag', t('pool.party'), 'pool-party') : null),
      el('div', { class: 'row-sub' }, [u.home_unit, u.specialty].filter(Boolean).join(' · ')),
      el('div', { class: 'row-sub' }, [r.community?.name, label('pool.kind', r.kind), r.created_at ? t('pool.since', { day: String(r.created_at).slice(0, 10) }) : null].filter(Boolean).join(' · ')),
      r.services ? el('div', { class: 'row-sub' }, t('pool.services'), '：', r.services) : null,
      u.phone ? el('div', { class: 'row-sub' }, phoneLink(u.phone)) : null));
}
