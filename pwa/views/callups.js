// views/callups.js: call-ups (动员令), volunteering (主动请战), the cadre's assignments and
// dual registration (双报到).
// #/call-ups[/<id>]: a cadre sees the call-ups sent to them and volunteers with one tap (a
//   `volunteer` record through the outbox, so offline too), with the dates they are free;
//   staff see the call-ups of their node, and an admin issues one (to the registered pool below
//   a node, or to the cadres of named home units: GET /api/home-units), optionally for a need
//   (?need=<id>);
// #/register: a cadre registers with a community (where they live, or are paired);
// myAssignments(): the cadre home's block: where they are assigned (community or enterprise).
import { t, fmtTime } from '../i18n.js';
import { api, el, state, showError, clearErrors } from '../api.js';
import {
  put, loadSchema, validate, segmented, chips, group, field, showFieldErrors, clearFieldErrors,
} from '../forms.js';
import { newRecord, saveAndSend, accepted, rejectedPanel } from '../record.js';
import {
  enc, label, badge, dateInput, period, section, none, today, fetchCached, pendingOf, homeUnits,
} from '../mobilise.js';

const isStaff = () => ['committee', 'admin'].includes(state.user?.role);

export function callUpsView(id, query) {
  return isStaff() ? staffCallUps(query) : cadreCallUps(id);
}

// ---------- the cadre ----------

function cadreCallUps(openId) {
  const list = el('ul', { class: 'list-plain', 'data-testid': 'callup-list' }, none('loading'));
  const status = el('p', { class: 'muted small', 'data-testid': 'callup-status' });
  const node = el('section', { class: 'callups', 'data-testid': 'callups-view' },
    el('h1', {}, t('callup.title')), el('p', { class: 'hint' }, t('callup.hint')), status, list);
  let alive = true;
  (async () => {
    let items = [];
    try {
      const r = await fetchCached('call_ups', '/api/call-ups', (x) => x.call_ups || []);
      items = r.items;
      if (!r.fresh) status.textContent = t('callup.offline_copy', { time: fmtTime(r.fetchedAt) });
    } catch (err) {
      if (!alive) return;
      put(list);
      showError(list, err);
      return;
    }
    const mine = await pendingOf('volunteer');
    if (!alive) return;
    const cards = items.map((c) => callUpCard(c, mine.find((r) => r.data?.call_up_id === c.id)));
    put(list, cards.length ? cards : none('callup.none'));
    const target = openId && list.querySelector(`[data-id="${CSS.escape(String(openId))}"]`);
    if (target) { target.classList.add('highlight'); target.scrollIntoView?.({ block: 'start' }); }
  })();
  return { node, cleanup: () => { alive = false; } };
}

function callUpCard(c, pending) {
  const li = el('li', { class: 'task callup', 'data-testid': 'callup-card', 'data-id': c.id });
  const done = (sent) => put(li, ...head(c),
    el('div', { class: sent ? 'ok' : 'notice', role: 'status', 'data-testid': sent ? 'volunteered' : 'volunteer-saved' },
      t(sent ? 'callup.volunteered' : 'callup.saved')));
  if (c.volunteered) { done(true); return li; }
  if (pending) { done(false); return li; }
  const errs = el('div', { class: 'errors row-errors' });
  const from = dateInput('available_from', today(), `callup-from-${c.id}`);
  const to = dateInput('available_to', '', `callup-to-${c.id}`);
  const btn = el('button', { type: 'button', class: 'btn-primary btn-block btn-big', 'data-testid': 'volunteer-button' }, t('callup.volunteer'));
  let rec = null;
  btn.addEventListener('click', async () => {
    if (btn.disabled) return;
    clearErrors(errs);
    const data = { call_up_id: c.id };
    if (from.value) data.available_from = from.value;
    if (to.value) data.available_to = to.value;
    if (data.available_to && data.available_from && data.available_to < data.available_from) {
      showError(errs, { message: t('needs.end_before_start') });
      return;
    }
    if (!rec || JSON.stringify(rec.data) !== JSON.stringify(data)) rec = newRecord('volunteer', data, { place_name: c.title });
    const errors = validate(await loadSchema('volunteer'), { ...data, id: rec.id, recorded_at: rec.recorded_at });
    if (errors.length) { showError(errs, { message: errors[0].message }); return; }
    btn.disabled = true;
    const { saved, answer } = await saveAndSend(rec, errs, 6000);
    btn.disabled = false;
    if (!saved) return;
    if (answer && !accepted(answer)) { put(errs, rejectedPanel(answer, 'volunteer-rejected')); return; }
    done(!!answer);
  });
  // One tap: free from today unless the cadre opens the dates and says otherwise.
  const summary = el('summary', { 'data-testid': 'callup-dates' });
  const say = () => { summary.textContent = t('callup.free_summary', { when: period(from.value, to.value) || t('callup.free_any') }); };
  from.addEventListener('change', say);
  to.addEventListener('change', say);
  say();
  put(li, ...head(c), btn,
    el('details', { class: 'more' }, summary,
      el('div', { class: 'date-pair' }, field(t('callup.free_from'), from), field(t('callup.free_to'), to))),
    errs);
  return li;
}

function head(c) {
  return [
    el('span', { class: 'task-title' }, c.title),
    c.body ? el('span', { class: 'task-sub callup-body' }, c.body) : null,
    el('span', { class: 'task-sub' }, fmtTime(c.created_at)),
  ];
}

// ---------- staff ----------

function staffCallUps(query) {
  const list = el('ul', { class: 'list', 'data-testid': 'callup-list' }, none('loading'));
  const errs = el('div', { class: 'errors' });
  const load = () => api('GET', '/api/call-ups').then((r) => {
    const cs = r.call_ups || [];
    put(list, cs.length ? cs.map((c) => el('li', { class: 'row', 'data-testid': 'callup-row', 'data-id': c.id },
      el('div', { class: 'row-main' },
        el('div', { class: 'row-title' }, c.title),
        el('div', { class: 'row-sub' }, [fmtTime(c.created_at), t('callup.counts', { n: c.recipients ?? 0, v: c.volunteers ?? 0 })].join(' · ')),
        c.need_id ? el('a', { href: `/#/needs/${enc(c.need_id)}`, class: 'row-sub' }, t('callup.need_link', { id: c.need_id })) : null)))
      : none('callup.none'));
  }, (err) => { put(list); showError(errs, err); });
  const node = el('section', { class: 'needs callups', 'data-testid': 'callups-view' },
    el('a', { class: 'btn-secondary', href: '/#/needs', 'data-testid': 'back-link' }, t('needs.back')),
    el('h1', {}, t('callup.title')),
    state.user?.role === 'admin' ? callUpForm(query?.get('need'), load) : null,
    section(t('callup.sent'), null, 'callup-sent', errs, list));
  load();
  return { node };
}

function callUpForm(needId, onSent) {
  const errs = el('div', { class: 'errors' });
  const flash = el('div', { 'aria-live': 'polite' });
  const titleIn = el('input', { type: 'text', name: 'title', maxlength: '60', 'data-path': '/title', 'data-testid': 'callup-title', id: 'callup-title', placeholder: t('callup.title_hint') });
  const body = el('textarea', { name: 'body', maxlength: '2000', rows: '3', 'data-path': '/body', 'data-testid': 'callup-body' });
  const needSel = el('select', { name: 'need_id', 'data-path': '/need_id', 'data-testid': 'callup-need', id: 'callup-need' }, el('option', { value: '' }, t('callup.no_need')));
  const placeSel = el('select', { name: 'place_id', 'data-path': '/target', 'data-testid': 'callup-place', id: 'callup-place' });
  const unitBox = el('div', { 'data-path': '/target' });
  let units = null;
  const target = segmented('callup-target', ['pool', 'units'].map((v) => ({ value: v, label: t(`callup.target_${v}`) })), 'pool', (v) => {
    placeBox.hidden = v !== 'pool';
    unitBox.hidden = v !== 'units';
  }, { label: t('callup.target') });
  const placeBox = field(t('callup.place'), placeSel);
  unitBox.hidden = true;
  api('GET', '/api/places').then((r) => {
    put(placeSel, (r.places || []).map((p) => el('option', { value: String(p.id) }, p.name)));
    if (state.user?.place) placeSel.value = String(state.user.place.id);
  }, () => {});
  homeUnits().then((list) => {
    units = chips('callup-unit', list.map((u) => ({ value: String(u.id), label: u.name })), [], null, { label: t('callup.units') });
    put(unitBox, group(t('callup.units'), list.length ? units.node : el('p', { class: 'muted' }, t('callup.no_units'))));
  }, (err) => { put(unitBox); showError(unitBox, err); });
  api('GET', '/api/needs?status=open').then((r) => {
    needSel.append(...(r.needs || []).map((n) => el('option', { value: String(n.id) }, `${n.title}（${n.enterprise?.name || n.place?.name || ''}）`)));
    if (needId) needSel.value = String(needId);
    if (needId && !titleIn.value) {
      const n = (r.needs || []).find((x) => String(x.id) === String(needId));
      if (n) titleIn.value = t('callup.title_for', { title: n.title }).slice(0, 60);
    }
  }, () => {});
  const send = el('button', { type: 'submit', class: 'btn-primary btn-block btn-big', 'data-testid': 'callup-send' }, t('callup.send'));
  const form = el('form', { class: 'form', novalidate: true, 'data-testid': 'callup-form' },
    el('h2', {}, t('callup.new')),
    field(t('callup.title_label'), titleIn),
    field(t('callup.body'), body),
    field(t('callup.need'), needSel),
    group(t('callup.target'), target.node),
    placeBox, unitBox, errs, flash,
    el('div', { class: 'form-actions' }, send));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (send.disabled) return;
    clearFieldErrors(form, errs);
    put(flash);
    const data = { title: titleIn.value.trim() };
    if (body.value.trim()) data.body = body.value.trim();
    if (needSel.value) data.need_id = Number(needSel.value);
    if (target.value === 'units') {
      const ids = units ? units.values().map(Number) : [];
      if (!ids.length) { showFieldErrors(form, errs, [{ path: '/target', message: t('callup.pick_unit') }]); return; }
      data.target = { home_unit_ids: ids };
    } else if (placeSel.value) {
      data.target = { place_id: Number(placeSel.value) };
    }
    const errors = validate(await loadSchema('call_up'), data);
    if (!data.title && !errors.some((x) => x.path === '/title')) errors.unshift({ path: '/title', message: t('callup.need_title') });
    if (errors.length) { showFieldErrors(form, errs, errors); return; }
    if (!window.confirm(t('callup.confirm'))) return;
    send.disabled = true;
    try {
      const r = await api('POST', '/api/call-ups', data);
      form.reset();
      put(flash, el('p', { class: 'ok', role: 'status', 'data-testid': 'callup-sent-ok' }, t('callup.sent_ok', { n: r.call_up?.recipients ?? 0 })));
      onSent();
    } catch (err) {
      if (err.fields?.length) showFieldErrors(form, errs, err.fields, err.message);
      else showError(errs, err);
    } finally {
      send.disabled = false;
    }
  });
  return form;
}

// ---------- the cadre home: my assignments ----------

/** Where the cadre is assigned now and next: a community (team, role) or an enterprise. */
export function myAssignments() {
  const list = el('ul', { class: 'list-plain', 'data-testid': 'my-assignments' });
  const box = el('section', { class: 'task-section', 'data-testid': 'my-assignments-section', hidden: true },
    el('h2', {}, t('mine.assignments')), list);
  fetchCached('assignments', '/api/my/assignments', (r) => r.assignments || []).then(({ items }) => {
    if (!list.isConnected && !box.parentNode) return;
    put(list, items.map(assignmentCard));
    box.hidden = items.length === 0;
  }, () => {});
  return box;
}

function assignmentCard(a) {
  const role = label('mob.role', a.role_in_team, a.role_in_team);
  if (a.kind === 'enterprise' && a.enterprise) {
    return el('li', {}, el('a', {
      class: 'task task-enterprise', href: `/#/enterprise/${enc(a.enterprise.id)}`, 'data-testid': 'assignment-enterprise', 'data-id': a.enterprise.id,
    },
    el('span', { class: 'task-title' }, a.enterprise.name, badge('flag', t('mine.stationed'))),
    el('span', { class: 'task-sub' }, [a.community?.name, a.enterprise.industry, role, period(a.starts_on, a.ends_on)].filter(Boolean).join(' · ')),
    a.need?.title ? el('span', { class: 'task-sub' }, `${t('needs.need')}：${a.need.title}`) : null,
    el('span', { class: 'inbox-go' }, t('mine.open_enterprise'))));
  }
  return el('li', { class: 'task', 'data-testid': 'assignment-community' },
    el('span', { class: 'task-title' }, a.community?.name || ''),
    el('span', { class: 'task-sub' }, [a.team, role, period(a.starts_on, a.ends_on)].filter(Boolean).join(' · ')),
    a.need?.title ? el('span', { class: 'task-sub' }, `${t('needs.need')}：${a.need.title}`) : null);
}

/** Links under the cadre's assignments: call-ups to answer, and dual registration. */
export function mobiliseLinks() {
  return el('div', { class: 'dash-links' },
    el('a', { class: 'btn-secondary', href: '/#/call-ups', 'data-testid': 'callups-link' }, t('callup.title')),
    el('a', { class: 'btn-secondary', href: '/#/register', 'data-testid': 'register-link' }, t('reg.title')));
}

// ---------- dual registration (双报到) ----------

export function registerView() {
  const list = el('ul', { class: 'list', 'data-testid': 'registration-list' }, none('loading'));
  const errs = el('div', { class: 'errors' });
  const flash = el('div', { 'aria-live': 'polite' });
  const choices = el('div', { class: 'seg', 'data-testid': 'reg-communities', 'data-path': '/community_id' });
  const code = el('input', {
    type: 'text', inputmode: 'numeric', maxlength: '20', placeholder: '1234 5678', class: 'code-input', 'data-testid': 'reg-code', id: 'reg-code', autocomplete: 'off',
  });
  const services = el('input', { type: 'text', name: 'services', maxlength: '200', 'data-path': '/services', 'data-testid': 'reg-services', id: 'reg-services', placeholder: t('reg.services_hint') });
  const kind = segmented('reg-kind', ['residence', 'paired'].map((k) => ({ value: k, label: label('pool.kind', k) })), 'residence', null, { label: t('reg.kind'), path: '/kind' });
  let picked = null; // {id, name}
  const pick = (c) => {
    picked = c;
    choices.querySelectorAll('button').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.value === String(c?.id))));
  };
  const submit = el('button', { type: 'submit', class: 'btn-primary btn-block btn-big', 'data-testid': 'reg-submit' }, t('reg.submit'));
  const form = el('form', { class: 'form', novalidate: true },
    group(t('reg.community'), choices),
    el('label', { class: 'label', for: 'reg-code' }, t('reg.code')), code,
    el('p', { class: 'hint small' }, t('reg.code_hint')),
    group(t('reg.kind'), kind.node),
    field(t('reg.services'), services),
    errs, flash,
    el('div', { class: 'form-actions' }, submit));
  const load = () => api('GET', '/api/registrations').then((r) => {
    const rs = r.registrations || [];
    put(list, rs.length ? rs.map((g) => el('li', { class: 'row', 'data-testid': 'registration-row' }, el('div', { class: 'row-main' },
      el('div', { class: 'row-title' }, g.community?.name || ''),
      el('div', { class: 'row-sub' }, [label('pool.kind', g.kind), g.services].filter(Boolean).join(' · '))))) : none('reg.none'));
  }, (err) => { put(list); showError(list, err); });
  fetchCached('assignments', '/api/my/assignments', (r) => r.assignments || []).then(({ items }) => {
    const seen = new Map(items.map((a) => [a.community?.id, a.community]).filter(([k]) => k != null));
    put(choices, [...seen.values()].map((c) => el('button', {
      type: 'button', class: 'seg-btn', 'data-value': String(c.id), 'aria-pressed': 'false', 'data-testid': 'reg-community', onclick: () => { code.value = ''; pick(c); },
    }, c.name)));
  }, () => {});
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submit.disabled) return;
    clearFieldErrors(form, errs);
    put(flash);
    submit.disabled = true;
    try {
      const digits = code.value.replace(/[０-９]/g, (d) => String.fromCharCode(d.charCodeAt(0) - 0xfee0)).replace(/\D/g, '');
      if (digits) {
        if (digits.length !== 8) throw new Error(t('home.code_invalid'));
        const r = await api('GET', `/api/posters/resolve?code=${enc(digits)}`);
        pick((r.poster || r).community);
      }
      if (!picked?.id) throw new Error(t('reg.pick'));
      const body = { community_id: Number(picked.id), kind: kind.value || 'residence' };
      if (services.value.trim()) body.services = services.value.trim();
      const r = await api('POST', '/api/registrations', body);
      put(flash, el('p', { class: 'ok', role: 'status', 'data-testid': 'reg-done' },
        t(r.status === 'created' ? 'reg.done' : 'reg.updated', { name: r.registration?.community?.name || picked.name || '' })));
      load();
    } catch (err) {
      if (err.fields?.length) showFieldErrors(form, errs, err.fields, err.message);
      else showError(errs, err);
    } finally {
      submit.disabled = false;
    }
  });
  const node = el('section', { class: 'callups', 'data-testid': 'register-view' },
    el('a', { class: 'btn-secondary', href: '/#/', 'data-testid': 'back-home' }, t('mob.back')),
    el('h1', {}, t('reg.title')), el('p', { class: 'hint' }, t('reg.hint')),
    section(t('reg.mine'), null, 'reg-mine', list),
    section(t('reg.new'), null, 'reg-new', form));
  load();
  return { node };
}
