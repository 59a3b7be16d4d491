// views/screening.js: #/screen/<household_id>, the screening visit form (入户排查).
// Built from schemas/screening_visit.json (titles, enums, limits), filled from the phone's copy
// of the household, saved into the outbox first, then sent (record type screening_visit).
import { t, getLang } from '../i18n.js';
import { api, el, uuid, routine } from '../api.js';
import {
  put, loadSchema, sub, title, tempRange, validate, localToday, idCardOk, parseTemp, tempInput,
  segmented, chips, toggle, group, field, showFieldErrors, clearFieldErrors,
} from '../forms.js';
import { loadLocal, findHousehold, roundOf, rules, feverTemp } from '../local.js';
import { newRecord, saveAndSend, resultPanel } from '../record.js';
import { isolationCaseForm } from './isolation_case.js';

const enumOf = (schema, fallback, ...names) => sub(schema, ...names)?.enum || sub(schema, ...names)?.items?.enum || fallback;
const SYMPTOMS = ['fever', 'cough', 'fatigue', 'sore_throat', 'diarrhoea', 'taste_smell_loss', 'other'];

export const symptomOptions = (schema, ...names) => enumOf(schema, SYMPTOMS, ...names).map((v) => ({ value: v, label: t(`symptom.${v}`) }));

function age(r) {
  const year = r.birth_year || (r.birth_date ? Number(String(r.birth_date).slice(0, 4)) : null);
  return year ? t('resident.age', { n: new Date().getFullYear() - year }) : null;
}

/** One resident's block: present, temperature, symptoms, travel, contact, health code, test. */
function residentCard(schema, r, index, { isNew = false, onRemove, onChange } = {}) {
  const base = `/residents/${index}`;
  const temp = tempInput('screening-temp', `${base}/temperature`, { id: `temp-${r.id}` });
  const tempNote = el('p', { class: 'temp-note', 'aria-live': 'polite' });
  const sym = chips('screening-symptom', symptomOptions(schema, 'residents', 'symptoms'), [], onChange,
    { label: title(schema, 'form.symptoms', 'residents', 'symptoms'), path: `${base}/symptoms` });
  const travel = toggle('screening-travel', title(schema, 'form.risk_travel', 'residents', 'risk_travel_14d'), false, onChange);
  const contact = toggle('screening-contact', title(schema, 'form.contact', 'residents', 'contact'), false, onChange);
  const code = segmented('screening-code', enumOf(schema, ['green', 'yellow', 'red'], 'residents', 'health_code')
    .map((v) => ({ value: v, label: t(`code.${v}`), cls: `code-${v}` })), null, null,
  { allowNone: true, label: title(schema, 'form.health_code', 'residents', 'health_code'), path: `${base}/health_code` });
  const natDate = el('input', { type: 'date', max: localToday(), 'data-testid': 'screening-nat-date', 'data-path': `${base}/nat_date` });
  const natResult = segmented('screening-nat', enumOf(schema, ['negative', 'positive', 'pending'], 'residents', 'nat_result')
    .map((v) => ({ value: v, label: t(`nat.${v}`) })), null, null,
  { allowNone: true, label: title(schema, 'form.nat_result', 'residents', 'nat_result'), path: `${base}/nat_result` });
  const details = el('div', { class: 'resident-details' },
    el('label', { class: 'field temp-field', for: `temp-${r.id}` },
      el('span', { class: 'label' }, title(schema, 'form.temperature', 'residents', 'temperature')),
      el('span', { class: 'temp-row' }, temp, el('span', { class: 'unit' }, '°C')), tempNote),
    group(title(schema, 'form.symptoms', 'residents', 'symptoms'), sym.node),
    el('div', { class: 'toggles' }, travel.node, contact.node),
    group(title(schema, 'form.health_code', 'residents', 'health_code'), code.node),
    el('details', { class: 'more' },
      el('summary', { 'data-testid': 'screening-nat-open' }, t('form.nat')),
      field(title(schema, 'form.nat_date', 'residents', 'nat_date'), natDate),
      group(title(schema, 'form.nat_result', 'residents', 'nat_result'), natResult.node)));
  const card = el('div', { class: 'resident-card', 'data-testid': 'screening-resident', 'data-id': r.id });
  const present = toggle('screening-present', t('form.present'), true, (v) => { details.hidden = !v; card.classList.toggle('absent', !v); onChange?.(); });
  const { min, max } = tempRange(rules()?.temperature_range, schema, 'residents', 'temperature');
  const checkTemp = () => {
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
    onChange?.();
  };
  temp.addEventListener('input', checkTemp);
  temp.addEventListener('blur', () => { const v = parseTemp(temp.value); if (Number.isFinite(v)) temp.value = v.toFixed(1); });
  put(card,
    el('div', { class: 'resident-head' },
      el('div', { class: 'resident-name' }, r.name, isNew ? el('span', { class: 'badge badge-pending' }, t('resident.new')) : null,
        el('span', { class: 'muted small' }, [r.sex ? t(`sex.${r.sex}`) : null, age(r)].filter(Boolean).map((s) => ` · ${s}`).join(''))),
      present.node,
      isNew ? el('button', { type: 'button', class: 'btn-link', 'data-testid': 'new-resident-remove', onclick: onRemove }, t('form.remove')) : null),
    details);
  return {
    node: card,
    id: r.id,
    name: r.name,
    feverish: () => present.value && (feverTemp(parseTemp(temp.value)) || sym.values().length > 0),
    entry: (i) => {
      const base = `/residents/${i}`; // the card's place now (a new resident may have been removed)
      const e = { resident_id: r.id, present: present.value };
      if (!present.value) return { entry: e, errors: [] };
      const errors = [];
      const v = parseTemp(temp.value);
      if (Number.isNaN(v)) errors.push({ path: `${base}/temperature`, message: t('v.temp', { min, max }) });
      else if (v != null) e.temperature = v;
      if (sym.values().length) e.symptoms = sym.values();
      e.risk_travel_14d = travel.value;
      e.contact = contact.value;
      if (code.value) e.health_code = code.value;
      if (natDate.value) {
        e.nat_date = natDate.value;
        if (natDate.value > localToday()) errors.push({ path: `${base}/nat_date`, message: t('v.future') });
      }
      if (natResult.value) e.nat_result = natResult.value;
      return { entry: e, errors };
    },
  };
}

/** The few taps to add a person found at the door: name, sex, ID number (optional). */
function newResidentForm(schema, onAdd) {
  const errs = el('div', { class: 'errors' });
  const name = el('input', { type: 'text', autocomplete: 'off', maxlength: '40', 'data-testid': 'new-resident-name', 'data-path': '/name' });
  const sex = segmented('new-resident-sex', ['male', 'female'].map((v) => ({ value: v, label: t(`sex.${v}`) })), null, null, { allowNone: true });
  const idType = el('select', { 'data-testid': 'new-resident-id-type' },
    enumOf(schema, ['id_card', 'passport', 'other'], 'new_residents', 'id_type').map((v) => el('option', { value: v }, t(`idtype.${v}`))));
  const idNumber = el('input', { type: 'text', autocomplete: 'off', autocapitalize: 'characters', maxlength: '40', 'data-testid': 'new-resident-id', 'data-path': '/id_number' });
  const add = el('button', { type: 'button', class: 'btn-primary btn-block', 'data-testid': 'new-resident-add' }, t('form.add_resident_ok'));
  const box = el('div', { class: 'new-resident', 'data-testid': 'new-resident-form' },
    field(title(schema, 'form.name', 'new_residents', 'name'), name),
    group(title(schema, 'form.sex', 'new_residents', 'sex'), sex.node),
    field(title(schema, 'form.id_type', 'new_residents', 'id_type'), idType),
    field(title(schema, 'form.id_number', 'new_residents', 'id_number'), idNumber),
    errs, add);
  add.addEventListener('click', () => {
    clearFieldErrors(box, errs);
    const r = { id: uuid(), name: name.value.trim() };
    if (sex.value) r.sex = sex.value;
    const number = idNumber.value.trim().toUpperCase();
    if (number) { r.id_type = idType.value; r.id_number = number; }
    const errors = validate(sub(schema, 'new_residents')?.items || null, r);
    if (!r.name) errors.push({ path: '/name', message: t('v.required', { field: t('form.name') }) });
    if (number && r.id_type === 'id_card' && !idCardOk(number)) errors.push({ path: '/id_number', message: t('v.id_checksum') });
    if (errors.length) { showFieldErrors(box, errs, errors); return; }
    onAdd(r);
  });
  setTimeout(() => name.focus(), 0);
  return box;
}

/** The view; returns {node, cleanup}. */
export function screeningView(householdId) {
  const root = el('section', { class: 'record-form screening', 'data-testid': 'screening-view' }, el('p', { class: 'muted' }, t('loading')));
  let alive = true;
  build().catch((err) => { if (alive) put(root, el('div', { class: 'error', role: 'alert' }, err.message || String(err))); });
  return { node: root, cleanup: () => { alive = false; } };

  async function build() {
    const [schema, local] = await Promise.all([loadSchema('screening_visit'), loadLocal()]);
    let h = findHousehold(local, householdId);
    if (!h && navigator.onLine !== false) {
      try { h = (await api('GET', `/api/households/${encodeURIComponent(householdId)}`, undefined, { timeout: 10000 })).household; } catch { /* below */ }
    }
    if (!alive) return;
    if (!h) {
      put(root, el('div', { class: 'error', role: 'alert', 'data-testid': 'error-message' }, t('screening.unknown')),
        el('a', { class: 'btn-secondary btn-block', href: '/#/tasks' }, t('tasks.back')));
      return;
    }
    const round = roundOf(local, h);
    const errs = el('div', { class: 'errors' });
    const warning = el('p', { class: 'warn', role: 'alert', 'data-testid': 'screening-warning', hidden: true }, t('screening.warning'));
    const cards = [];
    const newResidents = [];
    const list = el('div', { class: 'residents' });
    const onChange = () => { warning.hidden = !cards.some((c) => c.feverish()); };
    const addCard = (r, isNew) => {
      const card = residentCard(schema, r, cards.length, {
        isNew,
        onChange,
        onRemove: () => {
          const i = cards.indexOf(card);
          cards.splice(i, 1);
          newResidents.splice(newResidents.findIndex((x) => x.id === r.id), 1);
          card.node.remove();
          // data-path carries the index: rebuild the list so pointers stay right
          relabel();
          onChange();
        },
      });
      cards.push(card);
      list.append(card.node);
    };
    const relabel = () => cards.forEach((c, i) => c.node.querySelectorAll('[data-path^="/residents/"]').forEach((n) => {
      n.dataset.path = n.dataset.path.replace(/^\/residents\/\d+/, `/residents/${i}`);
    }));
    (h.residents || []).forEach((r) => addCard(r, false));

    const addSlot = el('div', {});
    const addBtn = el('button', { type: 'button', class: 'btn-secondary btn-block', 'data-testid': 'screening-add-resident' }, `+ ${t('form.add_resident')}`);
    addBtn.addEventListener('click', () => {
      addBtn.hidden = true;
      put(addSlot, newResidentForm(schema, (r) => {
        newResidents.push(r);
        addCard(r, true);
        put(addSlot);
        addBtn.hidden = false;
      }));
    });

    const result = segmented('screening-result', enumOf(schema, ['normal', 'home_isolation', 'central_isolation', 'hospital'], 'result')
      .map((v) => ({ value: v, label: t(`result.${v}`), cls: v === 'normal' ? '' : 'seg-alert' })), 'normal', null,
    { label: title(schema, 'form.result', 'result'), path: '/result' });
    const answeredPart = el('div', { class: 'answered-part' },
      el('h2', {}, title(schema, 'form.residents', 'residents'), ` (${(h.residents || []).length})`),
      el('p', { class: 'hint' }, t('screening.residents_hint')),
      list, addSlot, addBtn, warning,
      group(title(schema, 'form.result', 'result'), result.node));
    const outcome = segmented('screening-outcome', (rules()?.screening_outcomes || enumOf(schema, [], 'outcome'))
      .map((v) => ({ value: v, label: t(`outcome.${v}`) })), 'answered', (v) => { answeredPart.hidden = v !== 'answered'; },
    { label: title(schema, 'form.outcome', 'outcome'), path: '/outcome' });
    const notes = el('textarea', { rows: '2', maxlength: '1000', 'data-testid': 'screening-notes', 'data-path': '/notes' });
    const save = el('button', { type: 'submit', class: 'btn-primary btn-block btn-big', 'data-testid': 'screening-save' }, t('form.save'));
    const form = el('form', { class: 'form', novalidate: true },
      group(title(schema, 'form.outcome', 'outcome'), outcome.node),
      answeredPart,
      field(title(schema, 'form.notes', 'notes'), notes),
      errs,
      el('div', { class: 'form-actions' }, save));

    let pending = null; // {json, rec}: a save that failed is retried as the very same record
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (save.disabled) return;
      clearFieldErrors(form, errs);
      const data = { household_id: h.id, outcome: outcome.value };
      if (round?.id) data.round_id = round.id;
      const errors = [];
      if (outcome.value === 'answered') {
        data.result = result.value || 'normal';
        data.residents = cards.map((c, i) => { const r = c.entry(i); errors.push(...r.errors); return r.entry; });
        if (newResidents.length) data.new_residents = newResidents;
      }
      if (notes.value.trim()) data.notes = notes.value.trim();
      const json = JSON.stringify(data);
      const rec = pending?.json === json ? pending.rec : newRecord('screening_visit', data, { place_name: h.address });
      rec.done = { household_id: h.id, outcome: data.outcome, round_id: data.round_id ?? null };
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
      // Home isolation: open the case right here, for the residents found with fever.
      const people = cards.map((c) => ({ id: c.id, name: c.name, fever: c.feverish() }));
      const offerCase = data.result === 'home_isolation' && people.length > 0 && !routine(); // routine mode: no isolation
      const shown = () => resultPanel(rec, answer, {
        title: t('screening.sent'),
        extra: [el('p', { class: 'success-place' }, h.address),
          el('p', {}, t(`outcome.${data.outcome}`), data.result ? ` · ${t(`result.${data.result}`)}` : ''),
          offerCase ? el('button', {
            type: 'button', class: 'btn-light btn-block btn-case', 'data-testid': 'screening-open-case',
            onclick: () => {
              put(root, isolationCaseForm({
                household: h, visitId: rec.id, residents: people,
                onBack: () => { put(root, panel); window.scrollTo(0, 0); },
              }));
              window.scrollTo(0, 0);
            },
          }, t('case.open')) : null],
        links: [
          el('a', { class: 'btn-light btn-block', href: '/#/tasks', 'data-testid': 'tasks-link' }, t('tasks.next')),
          el('a', { class: 'btn-light btn-block', href: '/#/', 'data-testid': 'home-link' }, t('checkin.home'))],
      });
      const panel = shown();
      put(root, panel);
      window.scrollTo(0, 0);
    });

    put(root,
      el('p', { class: 'eyebrow' }, getLang() === 'zh' && schema?.title ? schema.title : t('screening.title')),
      el('h1', { class: 'place-name', 'data-testid': 'screening-address' }, h.address || ''),
      el('p', { class: 'muted' }, [h.head_name, round?.name].filter(Boolean).join(' · ')),
      form);
  }
}
