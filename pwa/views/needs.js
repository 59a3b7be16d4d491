// views/needs.js: the staff side of mobilisation (online; office PC or phone).
// #/needs: the needs below the user's node, open first, oldest first (the server's order), with
//   links to raise one, the registered pool and call-ups; the root admin switches the mode here;
// #/needs/new: a community's need for people (how many, for what, when, which skills);
// #/needs/<id>: one need, the cadres proposed for it ranked with the reasons ("why this cadre"),
//   several selected and assigned at once, each conflict (assigned elsewhere then) shown;
// #/pool: the registered pool (双报到) of the user's community or node.
import { t, fmtTime } from '../i18n.js';
import { api, el, state, showError, clearErrors } from '../api.js';
import {
  put, loadSchema, validate, segmented, group, field, showFieldErrors, clearFieldErrors, toggle,
} from '../forms.js';
import {
  enc, TASKS, URGENCIES, catLabel, taskLabel, label, badge, needStatusBadge, urgencyBadge,
  phoneLink, dateInput, splitList, period, section, none, today,
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
  const load = (placeId) => {
    put(list, none('loading'));
    clearErrors(errs);
    api('GET', `/api/registrations${placeId ? `?place_id=${enc(placeId)}` : ''}`).then((r) => { all = r.registrations || []; render(); },
      (err) => { put(list); showError(errs, err); });
  };
  const own = state.user?.place;
  const pick = own && own.kind !== 'community' ? placeSelect('pool-place', ['district', 'town', 'community'], query?.get('place') || own.id, (v) => load(v)) : null;
  const node = el('section', { class: 'needs', 'data-testid': 'pool-view' },
    back(),
    el('h1', {}, t('pool.title')),
    el('p', { class: 'hint' }, t('pool.hint')),
    pick ? field(t('dash.place'), pick) : el('p', { class: 'muted' }, own?.name || ''),
    el('label', { class: 'field search-field' }, el('span', { class: 'label' }, t('pool.search')), search),
    count, errs, list);
  if (!pick) load(null);
  return { node };
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
