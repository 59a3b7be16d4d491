// views/isolation.js: #/visit/<case_id>?day=&slot=, the home isolation visit form (居家隔离走访).
// Built from schemas/isolation_visit.json; saved into the outbox first (record type
// isolation_visit), then sent. A fever (GET /api/rules) or any symptom marks the case for the
// committee's attention on the server: the form says so before saving. Each need becomes a
// delivery task on the server.
import { t, getLang } from '../i18n.js';
import { api, el } from '../api.js';
import {
  put, loadSchema, sub, title, tempRange, validate, localToday, localHour, parseTemp, tempInput,
  segmented, chips, toggle, group, field, showFieldErrors, clearFieldErrors,
} from '../forms.js';
import { loadLocal, findCase, visitsDue, rules, feverTemp } from '../local.js';
import { newRecord, saveAndSend, resultPanel } from '../record.js';
import { symptomOptions } from './screening.js';

const enumOf = (schema, fallback, ...names) => sub(schema, ...names)?.enum || sub(schema, ...names)?.items?.enum || fallback;

/** The view; query: URLSearchParams (day, slot). Returns {node, cleanup}. */
export function isolationView(caseId, query) {
  const root = el('section', { class: 'record-form isolation', 'data-testid': 'isolation-view' }, el('p', { class: 'muted' }, t('loading')));
  let alive = true;
  build().catch((err) => { if (alive) put(root, el('div', { class: 'error', role: 'alert' }, err.message || String(err))); });
  return { node: root, cleanup: () => { alive = false; } };

  async function build() {
    const [schema, local] = await Promise.all([loadSchema('isolation_visit'), loadLocal()]);
    let c = findCase(local, caseId);
    if (!c && navigator.onLine !== false) {
      try { c = (await api('GET', `/api/isolation/cases/${encodeURIComponent(caseId)}`, undefined, { timeout: 10000 })).case; } catch { /* below */ }
    }
    if (!alive) return;
    if (!c) {
      put(root, el('div', { class: 'error', role: 'alert', 'data-testid': 'error-message' }, t('isolation.unknown')),
        el('a', { class: 'btn-secondary btn-block', href: '/#/tasks' }, t('tasks.back')));
      return;
    }
    // Which visit: the one asked for, else the oldest still due for this case, else now.
    const due = visitsDue(local).filter((v) => v.case?.id === c.id);
    const asked = query.get('day') && query.get('slot') ? { day: query.get('day'), slot: query.get('slot') } : null;
    const planned = asked || due[0] || { day: localToday(), slot: localHour() < 12 ? 'morning' : 'evening' };
    const entry = due.find((v) => v.day === planned.day && v.slot === planned.slot);
    const slots = enumOf(schema, ['morning', 'evening'], 'slot');

    const errs = el('div', { class: 'errors' });
    const { min, max } = tempRange(rules()?.temperature_range, schema, 'temperature');
    const temp = tempInput('isolation-temp', '/temperature', { id: 'isolation-temp' });
    const tempNote = el('p', { class: 'temp-note', 'aria-live': 'polite' });
    const warning = el('div', { class: 'warn warn-big', role: 'alert', 'data-testid': 'isolation-warning', hidden: true },
      el('strong', {}, rules() ? t('isolation.warning_title', { fever: rules().fever }) : t('case.fever')),
      el('p', {}, t('isolation.warning')));
    const sym = chips('isolation-symptom', symptomOptions(schema, 'symptoms'), [], () => update(),
      { label: title(schema, 'form.symptoms', 'symptoms'), path: '/symptoms' });
    const sampleResult = segmented('isolation-sample', enumOf(schema, ['negative', 'positive', 'pending'], 'sample_result')
      .map((v) => ({ value: v, label: t(`nat.${v}`) })), 'pending', null,
    { label: title(schema, 'form.sample_result', 'sample_result'), path: '/sample_result' });
    const resultBox = group(title(schema, 'form.sample_result', 'sample_result'), sampleResult.node);
    resultBox.hidden = true;
    const sample = toggle('isolation-sample-taken', title(schema, 'form.sample_taken', 'sample_taken'), false, (v) => { resultBox.hidden = !v; });
    const mental = segmented('isolation-mental', enumOf(schema, ['stable', 'anxious', 'low', 'other'], 'mental_state')
      .map((v) => ({ value: v, label: t(`mental.${v}`) })), 'stable', null,
    { label: title(schema, 'form.mental_state', 'mental_state'), path: '/mental_state' });
    const slot = segmented('isolation-slot', slots.map((v) => ({ value: v, label: t(`slot.${v}`) })), planned.slot, null,
      { label: title(schema, 'form.slot', 'slot'), path: '/slot' });

    // Needs: a chip per kind; a chosen kind asks what exactly.
    const needKinds = enumOf(schema, ['medicine', 'food', 'other'], 'needs', 'kind');
    const needInputs = new Map();
    const needBox = el('div', { class: 'needs' });
    const needChips = chips('isolation-need', needKinds.map((v) => ({ value: v, label: t(`need.${v}`) })), [], (on) => {
      for (const k of needKinds) {
        const wrap = needInputs.get(k);
        const was = wrap.hidden;
        wrap.hidden = !on.includes(k);
        if (was && !wrap.hidden) wrap.querySelector('input').focus(); // just chosen: say what
      }
    }, { label: title(schema, 'form.needs', 'needs'), path: '/needs' });
    for (const k of needKinds) {
      const input = el('input', {
        type: 'text', maxlength: '200', autocomplete: 'off', placeholder: t(`need.${k}_hint`),
        'data-testid': `isolation-need-${k}-what`,
      });
      const wrap = field(`${t(`need.${k}`)} · ${title(schema, 'form.need_what', 'needs', 'what')}`, input);
      wrap.hidden = true;
      needInputs.set(k, wrap);
      needBox.append(wrap);
    }
    const notes = el('textarea', { rows: '2', maxlength: '1000', 'data-testid': 'isolation-notes', 'data-path': '/notes' });

    function update() {
      const v = parseTemp(temp.value);
      temp.removeAttribute('aria-invalid');
      tempNote.className = 'temp-note';
      if (v == null) tempNote.textContent = '';
      else if (Number.isNaN(v) || v < min || v > max) {
        tempNote.textContent = t('v.temp', { min, max });
        tempNote.classList.add('bad');
      } else {
        tempNote.textContent = feverTemp(v) ? t('form.fever', { v: v.toFixed(1) }) : `${v.toFixed(1)} °C`;
        tempNote.classList.toggle('hot', feverTemp(v));
      }
      warning.hidden = !(feverTemp(v) || sym.values().length > 0);
    }
    temp.addEventListener('input', update);
    temp.addEventListener('blur', () => { const v = parseTemp(temp.value); if (Number.isFinite(v)) temp.value = v.toFixed(1); });

    const save = el('button', { type: 'submit', class: 'btn-primary btn-block btn-big', 'data-testid': 'isolation-save' }, t('form.save'));
    const form = el('form', { class: 'form', novalidate: true },
      el('label', { class: 'field temp-field', for: 'isolation-temp' },
        el('span', { class: 'label' }, title(schema, 'form.temperature', 'temperature')),
        el('span', { class: 'temp-row' }, temp, el('span', { class: 'unit' }, '°C')), tempNote),
      group(title(schema, 'form.symptoms', 'symptoms'), sym.node),
      warning,
      el('div', { class: 'toggles' }, sample.node), resultBox,
      group(title(schema, 'form.mental_state', 'mental_state'), mental.node),
      group(title(schema, 'form.needs', 'needs'), needChips.node), needBox,
      field(title(schema, 'form.notes', 'notes'), notes),
      group(title(schema, 'form.slot', 'slot'), slot.node),
      errs,
      el('div', { class: 'form-actions' }, save));

    let pending = null;
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (save.disabled) return;
      clearFieldErrors(form, errs);
      const errors = [];
      const data = { case_id: c.id, slot: slot.value, due_day: planned.day };
      const v = parseTemp(temp.value);
      if (Number.isNaN(v)) errors.push({ path: '/temperature', message: t('v.temp', { min, max }) });
      else if (v != null) data.temperature = v;
      data.symptoms = sym.values();
      data.sample_taken = sample.value;
      if (sample.value && sampleResult.value) data.sample_result = sampleResult.value;
      data.mental_state = mental.value || 'stable';
      const needs = needChips.values().map((kind, i) => {
        const input = needInputs.get(kind).querySelector('input');
        input.dataset.path = `/needs/${i}/what`; // where an error about it points
        return { kind, what: input.value.trim() };
      });
      if (needs.length) data.needs = needs;
      if (notes.value.trim()) data.notes = notes.value.trim();
      if (data.due_day > localToday()) errors.push({ path: '/due_day', message: t('v.future') });
      const json = JSON.stringify(data);
      const rec = pending?.json === json ? pending.rec : newRecord('isolation_visit', data, { place_name: `${c.resident?.name || ''} · ${c.household?.address || ''}` });
      rec.done = { case_id: c.id, due_day: data.due_day, slot: data.slot };
      errors.push(...validate(schema, { ...data, id: rec.id, recorded_at: rec.recorded_at }));
      if (errors.length) { showFieldErrors(form, errs, errors); return; }
      save.disabled = true;
      save.textContent = t('checkin.saving');
      pending = { json, rec };
      const { saved, answer } = await saveAndSend(rec, errs);
      if (!alive) return;
      save.disabled = false;
      save.textContent = t('form.save');
      if (!saved) return;
      pending = null;
      const flagged = feverTemp(data.temperature) || data.symptoms.length > 0;
      put(root, resultPanel(rec, answer, {
        title: t('isolation.sent'),
        extra: [
          el('p', { class: 'success-place' }, c.resident?.name || ''),
          data.temperature != null ? el('p', {}, `${data.temperature.toFixed(1)} °C`) : null,
          flagged ? el('p', { class: 'success-alert', 'data-testid': 'isolation-alerted' }, t('isolation.alerted')) : null,
          needs.length ? el('p', { 'data-testid': 'isolation-needs-raised' }, t('isolation.needs_raised', { n: needs.length })) : null],
        links: [
          el('a', { class: 'btn-light btn-block', href: '/#/tasks', 'data-testid': 'tasks-link' }, t('tasks.back')),
          el('a', { class: 'btn-light btn-block', href: '/#/', 'data-testid': 'home-link' }, t('checkin.home'))],
      }));
      window.scrollTo(0, 0);
    });

    put(root,
      el('p', { class: 'eyebrow' }, getLang() === 'zh' && schema?.title ? schema.title : t('isolation.title')),
      el('h1', { class: 'place-name', 'data-testid': 'isolation-resident' }, c.resident?.name || ''),
      el('p', { class: 'muted' }, [c.household?.address, t(`reason.${c.reason}`)].filter(Boolean).join(' · ')),
      el('p', { class: 'visit-when', 'data-testid': 'isolation-when' }, `${planned.day} ${t(`slot.${planned.slot}`)}`,
        entry?.status === 'overdue' ? el('span', { class: 'badge badge-rejected' }, t('tasks.status.overdue')) : null,
        entry?.test ? el('span', { class: 'badge badge-flag', 'data-testid': 'isolation-test-day' }, t('tasks.test_day')) : null),
      c.attention ? el('p', { class: 'warn' }, t('case.attention'), c.attention_reason ? `：${c.attention_reason}` : '') : null,
      form);
    temp.focus({ preventScroll: true });
  }
}
