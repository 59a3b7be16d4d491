// views/enterprise.js: enterprises and their problems (驻企服务).
// #/ for the enterprise contact (role "enterprise"): their enterprise, its stationed cadres,
//   its problem tickets (confirm a solution, or send it back) and its needs for help;
// #/help: the contact raises a need for help (problem, category, department, urgency);
// #/enterprise/<id>: the stationed cadre's screen: the enterprise, its contacts, and its
//   problems recorded as tickets (through the outbox, so offline too) with their status.
import { t, fmtTime } from '../i18n.js';
import { api, el, state, showError, clearErrors } from '../api.js';
import {
  put, loadSchema, validate, segmented, group, field, showFieldErrors, clearFieldErrors,
} from '../forms.js';
import { newRecord, saveAndSend, accepted, rejectedPanel } from '../record.js';
import { rules } from '../local.js';
import {
  enc, CATEGORIES, URGENCIES, catLabel, label, badge, needStatusBadge, urgencyBadge, ticketBadge,
  phoneLink, splitList, period, section, none, fetchCached, pendingOf,
} from '../mobilise.js';

// ---------- shared ----------

let departmentsCache = null; // GET /api/departments: [{category, title, departments: [{id, name}]}]
export function departments() {
  departmentsCache ||= api('GET', '/api/departments', undefined, { timeout: 10000 })
    .then((r) => r.categories || [])
    .catch(() => { departmentsCache = null; return []; });
  return departmentsCache;
}

const unitsOf = (cats, category) => (cats.find((c) => c.category === category)?.departments || []).map((d) => d.name);

function stationedList(people) {
  return el('ul', { class: 'list', 'data-testid': 'enterprise-stationed' }, people.length
    ? people.map((p) => el('li', { class: 'row', 'data-testid': 'stationed-row' }, el('div', { class: 'row-main' },
      el('div', { class: 'row-title' }, p.name),
      el('div', { class: 'row-sub' }, [p.home_unit, period(p.starts_on, p.ends_on)].filter(Boolean).join(' · ')),
      p.phone ? el('div', { class: 'row-sub' }, phoneLink(p.phone)) : null)))
    : none('ent.no_stationed'));
}

function ticketMain(tk) {
  return [
    el('span', { class: 'task-title' }, catLabel(tk.category, tk.category_title)),
    el('span', { class: 'task-sub ticket-text', 'data-testid': 'ticket-description' }, tk.description),
    el('span', { class: 'task-sub' }, [
      tk.user?.name ? t('ticket.by', { name: tk.user.name }) : null,
      tk.raised_on ? t('ticket.raised_on', { day: tk.raised_on }) : null,
      tk.solved_on ? t('ticket.solved_on', { day: tk.solved_on }) : null].filter(Boolean).join(' · ')),
    tk.departments?.length ? el('span', { class: 'task-sub' }, t('ticket.departments'), '：', tk.departments.join('、')) : null,
    tk.latest_note ? el('span', { class: 'task-sub ticket-text', 'data-testid': 'ticket-latest-note' },
      t('ticket.latest_note', { name: tk.latest_note.user?.name || '', time: fmtTime(tk.latest_note.recorded_at) }), '：', tk.latest_note.note) : null,
    el('span', { class: 'badges' }, ticketBadge(tk), tk.local ? badge('pending', t('ticket.local'), 'ticket-local') : null),
  ];
}

// ---------- the enterprise contact ----------

/** #/ for the enterprise role. */
export function enterpriseHome() {
  const ent = state.user?.enterprise || {};
  const head = el('p', { class: 'muted', 'data-testid': 'enterprise-where' });
  const stationed = el('div', {}, el('p', { class: 'muted' }, t('loading')));
  const tickets = el('ul', { class: 'list-plain', 'data-testid': 'enterprise-tickets' }, none('loading'));
  const needs = el('ul', { class: 'list-plain', 'data-testid': 'enterprise-needs' }, none('loading'));
  const errs = el('div', { class: 'errors' });
  const node = el('section', { class: 'enterprise', 'data-testid': 'enterprise-home' },
    el('p', { class: 'eyebrow' }, t('ent.eyebrow')),
    el('h1', { class: 'place-name', 'data-testid': 'enterprise-name' }, ent.name || ''),
    head,
    el('a', { class: 'btn-primary btn-block btn-big', href: '/#/help', 'data-testid': 'raise-need' }, t('ent.raise')),
    errs,
    section(t('ent.stationed'), null, 'enterprise-stationed-section', stationed),
    section(t('ent.tickets'), null, 'enterprise-tickets-section', el('p', { class: 'hint' }, t('ent.tickets_hint')), tickets),
    section(t('ent.needs'), null, 'enterprise-needs-section', needs));

  (async () => {
    try {
      const [detail, ns, ts] = await Promise.all([
        api('GET', `/api/enterprises/${enc(ent.id)}`),
        api('GET', '/api/needs'),
        api('GET', '/api/tickets')]);
      if (!node.isConnected) return;
      const e = detail.enterprise || {};
      head.textContent = [e.community?.name, e.industry, e.address].filter(Boolean).join(' · ');
      put(stationed, stationedList(e.stationed || []));
      // Those waiting for the contact's word first, then the server's order (open, newest).
      const waiting = (x) => x.status === 'solved' && !x.confirmed;
      const list = [...(ts.tickets || [])].sort((a, b) => waiting(b) - waiting(a));
      put(tickets, list.length ? list.map(contactTicket) : none('ent.no_tickets'));
      const nl = ns.needs || [];
      put(needs, nl.length ? nl.map(needCard) : none('ent.no_needs'));
    } catch (err) {
      put(stationed); put(tickets); put(needs);
      showError(errs, err);
    }
  })();
  return { node };
}

function needCard(n) {
  return el('li', { class: `task${n.urgency === 'urgent' ? ' task-late' : ''}`, 'data-testid': 'need-row', 'data-id': n.id, 'data-status': n.status },
    el('span', { class: 'task-title' }, n.title),
    el('span', { class: 'task-sub' }, [catLabel(n.category, n.category_title), n.department, fmtTime(n.created_at)].filter(Boolean).join(' · ')),
    el('span', { class: 'badges' }, needStatusBadge(n.status), urgencyBadge(n.urgency),
      n.assigned ? badge('watch', t('needs.assigned_n', { n: n.assigned }), 'need-assigned') : null));
}

/** A ticket as the contact sees it: a solved one waits for their word. */
function contactTicket(tk) {
  const li = el('li', { class: 'task task-ticket', 'data-testid': 'ticket-row', 'data-id': tk.id });
  const render = (x, flash = null) => {
    li.dataset.status = x.status;
    li.dataset.confirmed = String(!!x.confirmed);
    const errs = el('div', { class: 'errors row-errors' });
    const ask = x.status === 'solved' && !x.confirmed;
    const note = ask ? el('input', {
      type: 'text', name: 'note', maxlength: '500', placeholder: t('ticket.confirm_note'), 'data-testid': 'ticket-confirm-note',
      'aria-label': t('ticket.confirm_note'),
    }) : null;
    const answer = (solved) => async (ev) => {
      const b = ev.currentTarget;
      if (b.disabled) return;
      li.querySelectorAll('button').forEach((n) => { n.disabled = true; });
      clearErrors(errs);
      try {
        const r = await api('POST', `/api/tickets/${enc(x.id)}/confirm`, { solved, note: note.value.trim() });
        render(r.ticket || x, el('p', { class: solved ? 'ok' : 'notice', role: 'status', 'data-testid': 'ticket-confirmed' },
          t(solved ? 'ticket.confirmed_done' : 'ticket.sent_back')));
      } catch (err) {
        li.querySelectorAll('button').forEach((n) => { n.disabled = false; });
        showError(errs, err);
      }
    };
    put(li, ...ticketMain(x),
      x.confirm_note ? el('span', { class: 'task-sub' }, t('ticket.contact_note'), '：', x.confirm_note) : null,
      ask ? el('p', { class: 'ticket-ask' }, t('ticket.ask')) : null,
      note,
      ask ? el('button', { type: 'button', class: 'btn-primary btn-block btn-big', 'data-testid': 'ticket-confirm', onclick: answer(true) }, t('ticket.yes')) : null,
      ask ? el('button', { type: 'button', class: 'btn-secondary btn-block', 'data-testid': 'ticket-reject', onclick: answer(false) }, t('ticket.no')) : null,
      flash, errs);
  };
  render(tk);
  return li;
}

/** #/help: the contact raises a need for help. */
export function helpView() {
  const root = el('section', { class: 'enterprise', 'data-testid': 'help-view' });
  const titleIn = el('input', {
    type: 'text', name: 'title', maxlength: '120', 'data-path': '/title', 'data-testid': 'help-title', id: 'help-title',
    placeholder: t('help.title_hint'), autocomplete: 'off', enterkeyhint: 'next',
  });
  const dept = el('input', {
    type: 'text', name: 'department', maxlength: '60', 'data-path': '/department', 'data-testid': 'help-department',
    id: 'help-department', placeholder: t('help.department_hint'), autocomplete: 'off',
  });
  const deptChoices = el('div', { class: 'seg dept-choices', 'data-testid': 'help-department-choices' });
  const desc = el('textarea', { name: 'description', maxlength: '2000', 'data-path': '/description', 'data-testid': 'help-description', rows: '3' });
  const errs = el('div', { class: 'errors' });
  let cats = [];
  const showDepts = () => {
    const names = unitsOf(cats, category.value);
    put(deptChoices, names.map((n) => el('button', {
      type: 'button', class: 'seg-btn', 'data-testid': 'help-department-choice', 'aria-pressed': String(dept.value === n),
      onclick: () => { dept.value = dept.value === n ? '' : n; showDepts(); },
    }, n)));
  };
  dept.addEventListener('input', showDepts);
  const category = segmented('help-category', CATEGORIES.map((c) => ({ value: c, label: catLabel(c) })), null,
    showDepts, { label: t('help.category'), path: '/category' });
  const urgency = segmented('help-urgency', URGENCIES.map((u) => ({ value: u, label: label('urgency', u), cls: u === 'urgent' ? 'seg-alert' : '' })),
    'normal', null, { label: t('help.urgency'), path: '/urgency' });
  const submit = el('button', { type: 'submit', class: 'btn-primary btn-block btn-big', 'data-testid': 'help-submit' }, t('help.submit'));
  const form = el('form', { class: 'form form-grid', novalidate: true },
    field(t('help.title'), titleIn),
    group(t('help.category'), category.node),
    el('div', { class: 'group' }, el('label', { class: 'label', for: 'help-department' }, t('help.department')),
      el('p', { class: 'hint small' }, t('help.department_note')), deptChoices, dept),
    group(t('help.urgency'), urgency.node),
    field(t('help.description'), desc),
    errs,
    el('div', { class: 'form-actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submit.disabled) return;
    clearFieldErrors(form, errs);
    const body = { kind: 'help', title: titleIn.value.trim(), urgency: urgency.value || 'normal' };
    if (category.value) body.category = category.value;
    if (dept.value.trim()) body.department = dept.value.trim();
    if (desc.value.trim()) body.description = desc.value.trim();
    const schema = await loadSchema('need');
    const errors = validate(schema, body);
    if (!body.title) errors.unshift({ path: '/title', message: t('help.need_title') });
    if (!body.category && !errors.some((x) => x.path === '/category')) errors.push({ path: '/category', message: t('help.need_category') });
    if (errors.length) { showFieldErrors(form, errs, errors); return; }
    submit.disabled = true;
    try {
      const r = await api('POST', '/api/needs', body);
      put(root, el('div', { class: 'success', role: 'status', 'data-testid': 'need-sent' },
        el('div', { class: 'success-mark', 'aria-hidden': 'true' }, '✓'),
        el('p', { class: 'success-title' }, t('help.sent')),
        el('p', { class: 'success-place' }, r.need?.title || body.title),
        el('p', {}, t('help.sent_body')),
        el('a', { class: 'btn-light btn-block', href: '/#/', 'data-testid': 'home-link' }, t('checkin.home'))));
      window.scrollTo(0, 0);
    } catch (err) {
      submit.disabled = false;
      if (err.fields?.length) showFieldErrors(form, errs, err.fields, err.message);
      else showError(errs, err);
    }
  });
  put(root, el('a', { class: 'btn-secondary', href: '/#/', 'data-testid': 'back-home' }, t('mob.back')),
    el('h1', {}, t('help.heading')), el('p', { class: 'muted' }, state.user?.enterprise?.name || ''), form);
  departments().then((c) => { cats = c; showDepts(); });
  return { node: root };
}

// ---------- the stationed cadre ----------

/** #/enterprise/<id>: the enterprise the cadre is stationed with, and its problem tickets. */
export function enterpriseView(id) {
  const root = el('section', { class: 'enterprise', 'data-testid': 'enterprise-view' }, el('p', { class: 'muted' }, t('loading')));
  let alive = true;
  (async () => {
    let mine = [];
    let detail = null;
    let error = null;
    try {
      mine = (await fetchCached('assignments', '/api/my/assignments', (r) => r.assignments || [])).items;
    } catch { /* staff have none */ }
    const a = mine.find((x) => String(x.enterprise?.id) === String(id));
    try {
      detail = (await api('GET', `/api/enterprises/${enc(id)}`, undefined, { timeout: 10000 })).enterprise;
    } catch (err) {
      error = err;
    }
    if (!alive) return;
    const e = detail || a?.enterprise;
    if (!e) { put(root); showError(root, error || { message: t('err.bad_answer') }); return; }
    // From the cadre's own assignment the contacts' phones are whole (they call each other).
    const contacts = a?.enterprise?.contacts?.length ? a.enterprise.contacts : (detail?.contacts || []);
    const needId = a?.need?.id ?? null;
    let needCategory = null;
    if (needId != null) {
      try { needCategory = (await api('GET', `/api/needs/${enc(needId)}`, undefined, { timeout: 8000 })).need?.category || null; } catch { /* offline: no default */ }
    }
    if (!alive) return;
    const list = el('ul', { class: 'list-plain', 'data-testid': 'ticket-list' }, none('loading'));
    const flash = el('div', { 'aria-live': 'polite' });
    const formBox = el('div', { hidden: true });
    const open = el('button', { type: 'button', class: 'btn-primary btn-block btn-big', 'data-testid': 'ticket-new' }, t('ticket.new'));
    const drawList = () => loadTickets(list, e, drawList).catch(() => {});
    open.addEventListener('click', () => {
      put(formBox, ticketForm(e, { needId, category: needCategory }, (msg) => {
        formBox.hidden = true; open.hidden = false; put(flash, msg); drawList();
      }, () => { formBox.hidden = true; open.hidden = false; }));
      formBox.hidden = false;
      open.hidden = true;
      formBox.querySelector('textarea')?.focus();
    });
    put(root,
      el('p', { class: 'eyebrow' }, t('ent.stationed_eyebrow')),
      el('h1', { class: 'place-name', 'data-testid': 'enterprise-name' }, e.name),
      el('p', { class: 'muted' }, [e.community?.name, e.industry, e.address].filter(Boolean).join(' · ')),
      a ? el('p', { 'data-testid': 'enterprise-assignment' }, [label('mob.role', a.role_in_team, a.role_in_team), period(a.starts_on, a.ends_on)].filter(Boolean).join(' · '),
        a.need?.title ? el('span', { class: 'muted' }, ` · ${t('needs.need')}：${a.need.title}`) : null) : null,
      contacts.length ? el('ul', { class: 'list', 'data-testid': 'enterprise-contacts' }, contacts.map((c) => el('li', { class: 'row' },
        el('div', { class: 'row-main' }, el('div', { class: 'row-title' }, c.name), el('div', { class: 'row-sub' }, phoneLink(c.phone)))))) : null,
      flash, open, formBox,
      section(t('ticket.list'), null, 'ticket-section', list));
    drawList();
  })();
  return { node: root, cleanup: () => { alive = false; } };
}

async function loadTickets(list, e, redraw) {
  let items = [];
  let error = null;
  let stale = null;
  try {
    const r = await fetchCached(`tickets:${e.id}`, `/api/tickets?enterprise_id=${enc(e.id)}`, (x) => x.tickets || []);
    items = r.items;
    if (!r.fresh) stale = r.fetchedAt;
  } catch (err) {
    error = err;
  }
  const known = new Set(items.map((x) => x.id));
  const local = (await pendingOf('problem_ticket', (r) => String(r.data?.enterprise_id) === String(e.id) && !known.has(r.id)))
    .map((r) => ({ id: r.id, ...r.data, status: r.data.status || 'open', local: true, raised_on: r.recorded_at.slice(0, 10), user: { name: state.user?.name } }));
  const updates = await pendingOf('ticket_update');
  const rows = [...local.reverse(), ...items].map((tk) => cadreTicket(tk, updates.filter((u) => u.data?.ticket_id === tk.id), redraw));
  put(list, rows.length ? rows : [none('ent.no_tickets')]);
  if (stale) list.prepend(el('li', { class: 'notice', 'data-testid': 'tickets-offline' }, t('ticket.offline_copy', { time: fmtTime(stale) })));
  if (error && !rows.length) { const li = el('li', {}); list.prepend(li); showError(li, error); }
}

/** A ticket as the stationed cadre works it: status steps (append-only updates) with a note. */
function cadreTicket(tk, pendingUpdates, redraw) {
  const last = pendingUpdates.filter((u) => u.data?.status).pop();
  const shown = last ? { ...tk, status: last.data.status } : tk;
  const errs = el('div', { class: 'errors row-errors' });
  const li = el('li', { class: 'task task-ticket', 'data-testid': 'ticket-row', 'data-id': tk.id, 'data-status': shown.status },
    ...ticketMain(shown));
  if (last) li.querySelector('.badges')?.append(badge('pending', t('ticket.update_pending'), 'ticket-update-pending'));
  if (!tk.confirmed && !tk.local) {
    const note = el('input', {
      type: 'text', name: 'note', maxlength: '2000', placeholder: t('ticket.note'), 'aria-label': t('ticket.note'), 'data-testid': 'ticket-note',
    });
    const step = (status) => el('button', {
      type: 'button', class: status === 'solved' ? 'btn-primary' : 'btn-secondary', 'data-testid': `ticket-set-${status}`,
      'aria-pressed': String(shown.status === status),
      onclick: async (ev) => {
        const b = ev.currentTarget;
        if (b.disabled) return;
        li.querySelectorAll('button').forEach((n) => { n.disabled = true; });
        clearErrors(errs);
        const data = { ticket_id: tk.id, status };
        if (note.value.trim()) data.note = note.value.trim();
        const rec = newRecord('ticket_update', data, { place_name: tk.enterprise?.name || '' });
        const { saved, answer } = await saveAndSend(rec, errs, 6000);
        if (!saved) { li.querySelectorAll('button').forEach((n) => { n.disabled = false; }); return; }
        if (answer && !accepted(answer)) { put(errs, rejectedPanel(answer, 'ticket-rejected')); return; }
        redraw();
      },
    }, label('ticket.set', status));
    // Every status after "open", in the server's order (a ticket is raised open).
    const steps = (rules()?.ticket_statuses || []).filter((s) => s !== 'open');
    li.append(note, el('div', { class: 'task-actions ticket-steps' }, steps.map(step)));
  }
  li.append(errs);
  return li;
}

function ticketForm(e, { needId, category: preset }, onDone, onCancel) {
  const errs = el('div', { class: 'errors' });
  const desc = el('textarea', { name: 'description', maxlength: '2000', rows: '3', 'data-path': '/description', 'data-testid': 'ticket-description-input', id: 'ticket-description' });
  const depts = el('input', {
    type: 'text', name: 'departments', maxlength: '300', 'data-path': '/departments', 'data-testid': 'ticket-departments',
    id: 'ticket-departments', placeholder: t('ticket.departments_hint'), autocomplete: 'off',
  });
  const deptChoices = el('div', { class: 'seg dept-choices' });
  let cats = [];
  const showDepts = () => {
    const chosen = splitList(depts.value);
    put(deptChoices, unitsOf(cats, category.value).map((n) => el('button', {
      type: 'button', class: 'seg-btn', 'aria-pressed': String(chosen.includes(n)), 'data-testid': 'ticket-department-choice',
      onclick: () => {
        const now = splitList(depts.value);
        depts.value = (now.includes(n) ? now.filter((x) => x !== n) : [...now, n]).join('、');
        showDepts();
      },
    }, n)));
  };
  depts.addEventListener('input', showDepts);
  const category = segmented('ticket-category', CATEGORIES.map((c) => ({ value: c, label: catLabel(c) })), preset,
    showDepts, { label: t('help.category'), path: '/category' });
  // Any status but "cannot solve": a problem is not given up on the day it is recorded.
  const statuses = (rules()?.ticket_statuses || ['open']).filter((s) => s !== 'cannot_solve');
  const status = segmented('ticket-status', statuses.map((s) => ({ value: s, label: label('ticket.status', s) })), 'open', null,
    { label: t('ticket.status_now'), path: '/status' });
  const save = el('button', { type: 'submit', class: 'btn-primary btn-block btn-big', 'data-testid': 'ticket-save' }, t('form.save'));
  const cancel = el('button', { type: 'button', class: 'btn-secondary btn-block', 'data-testid': 'ticket-cancel', onclick: onCancel }, t('mob.cancel'));
  const form = el('form', { class: 'form ticket-form', novalidate: true, 'data-testid': 'ticket-form' },
    el('h2', {}, t('ticket.new')),
    group(t('help.category'), category.node),
    field(t('ticket.description'), desc),
    el('div', { class: 'group' }, el('label', { class: 'label', for: 'ticket-departments' }, t('ticket.departments')), deptChoices, depts),
    group(t('ticket.status_now'), status.node),
    errs,
    el('div', { class: 'form-actions' }, save, cancel));
  let pending = null;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (save.disabled) return;
    clearFieldErrors(form, errs);
    const data = { enterprise_id: Number(e.id), description: desc.value.trim(), status: status.value || 'open' };
    if (category.value) data.category = category.value;
    if (needId != null) data.need_id = Number(needId);
    const ds = splitList(depts.value);
    if (ds.length) data.departments = ds;
    const json = JSON.stringify(data);
    const rec = pending?.json === json ? pending.rec : newRecord('problem_ticket', data, { place_name: e.name });
    const schema = await loadSchema('problem_ticket');
    const errors = validate(schema, { ...data, id: rec.id, recorded_at: rec.recorded_at });
    if (!data.description && !errors.some((x) => x.path === '/description')) errors.push({ path: '/description', message: t('ticket.need_description') });
    if (errors.length) { showFieldErrors(form, errs, errors); return; }
    save.disabled = true;
    pending = { json, rec };
    const { saved, answer } = await saveAndSend(rec, errs, 6000);
    save.disabled = false;
    if (!saved) return;
    if (answer && !accepted(answer)) { put(errs, rejectedPanel(answer, 'record-rejected')); return; }
    pending = null;
    onDone(el('p', { class: answer ? 'ok' : 'notice', role: 'status', 'data-testid': answer ? 'ticket-sent' : 'saved-offline' },
      t(answer ? 'ticket.sent' : 'ticket.saved')));
  });
  departments().then((c) => { cats = c; showDepts(); });
  return form;
}
