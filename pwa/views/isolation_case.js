// views/isolation_case.js: 登记居家隔离 right after a screening visit whose result is home
// isolation. One `isolation_case` record per chosen resident (schemas/isolation_case.json),
// through the outbox like every record, so it works offline: the case is sent after the visit
// it points at (source_visit_id), in capture order. Cadres may open cases for the households of
// their grids (the server checks); the case's responsible cadre defaults to the one who opens it.
import { t, getLang } from '../i18n.js';
import { api, el, state } from '../api.js';
import * as outbox from '../outbox.js';
import * as sender from '../sender.js';
import {
  put, loadSchema, sub, title, validate, localToday, segmented, toggle, group, field,
  showFieldErrors, clearFieldErrors,
} from '../forms.js';
import { newRecord, capture, accepted, rejectedPanel } from '../record.js';

const REASONS = ['close_contact', 'secondary_contact', 'risk_area_arrival', 'inbound', 'other'];

/** The isolation policies: the server's, else the phone's copy (fetched with the offline data). */
async function loadPolicies() {
  if (navigator.onLine !== false) {
    try {
      const r = await api('GET', '/api/isolation/policies', undefined, { timeout: 8000 });
      if (Array.isArray(r?.policies)) {
        outbox.putOffline('policies', { items: r.policies, fetched_at: new Date().toISOString() }).catch(() => {});
        return r.policies;
      }
    } catch { /* the copy below */ }
  }
  try { return (await outbox.getOffline('policies'))?.items || []; } catch { return []; }
}

/** Residents with an open case on this phone's copy: a second one would be refused (case_open). */
async function openCaseResidents() {
  try {
    const cases = (await outbox.getOffline('cases'))?.items || [];
    return new Set(cases.filter((c) => c.status !== 'ended').map((c) => c.resident?.id).filter(Boolean));
  } catch {
    return new Set();
  }
}

/**
 * The form, in place of the screening result. ctx: {household, visitId, residents: [{id, name,
 * fever, present}], onBack}. Returns the node.
 */
export function isolationCaseForm(ctx) {
  const root = el('section', { class: 'record-form isolation-case', 'data-testid': 'case-form' }, el('p', { class: 'muted' }, t('loading')));
  build().catch((err) => put(root, el('div', { class: 'error', role: 'alert' }, err.message || String(err))));
  return root;

  async function build() {
    const [schema, policies, openCases] = await Promise.all([loadSchema('isolation_case'), loadPolicies(), openCaseResidents()]);
    const h = ctx.household;
    const errs = el('div', { class: 'errors' });
    const people = ctx.residents.map((r) => {
      const busy = openCases.has(r.id);
      const tg = toggle('case-resident', r.name, !busy && r.fever);
      tg.node.dataset.id = r.id;
      if (r.fever) tg.node.append(el('span', { class: 'badge badge-rejected', 'data-testid': 'case-resident-fever' }, t('case.fever')));
      if (busy) {
        tg.node.disabled = true;
        tg.node.append(el('span', { class: 'badge badge-done' }, t('case.already_open')));
      }
      return { r, tg, busy };
    });
    const peopleBox = el('div', { class: 'toggles', 'data-path': '/resident_id' }, people.map((p) => p.tg.node));
    const reason = segmented('case-reason', (sub(schema, 'reason')?.enum || REASONS).map((v) => ({ value: v, label: t(`reason.${v}`) })), null, null,
      { label: title(schema, 'case.reason', 'reason'), path: '/reason' });
    const policy = el('select', { class: 'select', 'data-testid': 'case-policy', 'data-path': '/policy_id' },
      policies.map((p) => el('option', { value: String(p.id) }, p.days ? t('case.policy_days', { name: p.name, n: p.days }) : p.name)));
    const starts = el('input', { type: 'date', value: localToday(), max: localToday(), 'data-testid': 'case-starts-on', 'data-path': '/starts_on' });
    const notes = el('textarea', { rows: '2', maxlength: '1000', 'data-testid': 'case-notes', 'data-path': '/notes' });
    const save = el('button', { type: 'submit', class: 'btn-primary btn-block btn-big', 'data-testid': 'case-save', disabled: !policies.length }, t('case.save'));
    const back = el('button', { type: 'button', class: 'btn-secondary btn-block', 'data-testid': 'case-skip', onclick: ctx.onBack }, t('case.skip'));
    const form = el('form', { class: 'form', novalidate: true },
      group(t('case.who'), peopleBox),
      group(title(schema, 'case.reason', 'reason'), reason.node),
      policies.length ? field(title(schema, 'case.policy', 'policy_id'), policy)
        : el('p', { class: 'warn', role: 'alert', 'data-testid': 'case-no-policies' }, t('case.no_policies')),
      field(title(schema, 'case.starts_on', 'starts_on'), starts),
      field(title(schema, 'form.notes', 'notes'), notes),
      errs,
      el('div', { class: 'form-actions' }, save),
      back);

    let pending = null; // {json, recs}: a save that failed is retried as the very same records
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (save.disabled) return;
      clearFieldErrors(form, errs);
      const chosen = people.filter((p) => p.tg.value && !p.busy);
      const errors = [];
      if (!chosen.length) errors.push({ path: '/resident_id', message: t('case.pick_someone') });
      if (!reason.value) errors.push({ path: '/reason', message: t('v.required', { field: title(schema, 'case.reason', 'reason') }) });
      if (starts.value && starts.value > localToday()) errors.push({ path: '/starts_on', message: t('v.future') });
      const base = { reason: reason.value, starts_on: starts.value || localToday(), policy_id: Number(policy.value) };
      if (ctx.visitId) base.source_visit_id = ctx.visitId;
      if (notes.value.trim()) base.notes = notes.value.trim();
      const json = JSON.stringify([base, chosen.map((p) => p.r.id)]);
      const recs = pending?.json === json ? pending.recs : chosen.map((p) => newRecord('isolation_case', { ...base, resident_id: p.r.id },
        { place_name: [p.r.name, h.address].filter(Boolean).join(' · ') }));
      if (!errors.length) {
        for (const rec of recs) {
          errors.push(...validate(schema, { ...rec.data, id: rec.id, recorded_at: rec.recorded_at })
            .filter((x) => !errors.some((y) => y.path === x.path)));
        }
      }
      if (errors.length) { showFieldErrors(form, errs, errors); return; }
      save.disabled = true;
      save.textContent = t('checkin.saving');
      pending = { json, recs };
      // Every case into the outbox first, then one send for all of them.
      for (const rec of recs) {
        const saved = await capture(rec, errs);
        if (!saved) { save.disabled = false; save.textContent = t('case.save'); return; }
        rec.answer = saved.direct || null;
        outbox.rememberDone({ id: rec.id, type: 'isolation_case', recorded_at: rec.recorded_at, resident_id: rec.data.resident_id }).catch(() => {});
      }
      pending = null;
      if (recs.some((r) => !r.answer)) await sender.sendFor(recs[recs.length - 1].id, 8000);
      if (!root.isConnected) return;
      const answers = recs.map((r) => r.answer || sender.answerFor(r.id));
      put(root, resultOf(recs, answers, chosen));
      window.scrollTo(0, 0);
    });

    put(root,
      el('p', { class: 'eyebrow' }, getLang() === 'zh' && schema?.title ? schema.title : t('case.title')),
      el('h1', { class: 'place-name', 'data-testid': 'case-address' }, h.address || ''),
      el('p', { class: 'hint' }, t(state.user?.role === 'cadre' || state.user?.role === 'leader' ? 'case.hint_cadre' : 'case.hint')),
      form);
  }

  function resultOf(recs, answers, chosen) {
    const refused = answers.map((a, i) => (a && !accepted(a) ? i : -1)).filter((i) => i >= 0);
    const sent = answers.every(accepted);
    const names = chosen.map((p) => p.r.name).join('、');
    const links = [
      el('a', { class: 'btn-light btn-block', href: '/#/tasks', 'data-testid': 'tasks-link' }, t('tasks.next')),
      el('a', { class: 'btn-light btn-block', href: '/#/', 'data-testid': 'home-link' }, t('checkin.home'))];
    if (refused.length) {
      return el('div', {}, refused.map((i) => el('div', {},
        el('p', { class: 'success-place' }, chosen[i].r.name),
        rejectedPanel(answers[i], 'case-rejected'))),
      el('a', { class: 'btn-secondary btn-block', href: '/#/tasks', 'data-testid': 'tasks-link' }, t('tasks.next')));
    }
    return el('div', {
      class: `success${sent ? '' : ' saved'}`, role: 'status', 'data-testid': sent ? 'case-sent' : 'saved-offline',
      'data-record-ids': recs.map((r) => r.id).join(' '),
    },
    el('div', { class: 'success-mark', 'aria-hidden': 'true' }, '✓'),
    el('p', { class: 'success-title' }, sent ? t('case.sent', { n: recs.length }) : t('checkin.saved_title')),
    el('p', { class: 'success-place' }, names),
    sent ? el('p', {}, t('case.sent_body')) : el('p', {}, t('record.saved_body')),
    sent ? null : el('a', { class: 'btn-light btn-block', href: '/#/outbox', 'data-testid': 'outbox-link' }, t('checkin.saved_outbox')),
    ...links);
  }
}
