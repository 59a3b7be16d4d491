// forms.js: what the record forms share. The record schemas (schemas/*.json, served at
// /schemas/<name>.json and cached by the service worker) label the fields (Chinese titles) and
// check input before it is saved; big one-thumb widgets (segmented buttons, chips, toggles,
// a temperature field on the numeric keypad); and field errors placed by JSON pointer.
import { t, getLang } from './i18n.js';
import { el } from './api.js';

export function put(node, ...kids) {
  node.replaceChildren(...kids.flat(Infinity).filter((k) => k != null && k !== false));
}

// ---------- schemas ----------

const schemas = new Map();

/** The schema /schemas/<name>.json, or null when it cannot be had (then the form's own limits apply). */
export function loadSchema(name) {
  if (!schemas.has(name)) {
    const p = fetch(`/schemas/${name}.json`, { credentials: 'same-origin' })
      .then((r) => { if (!r.ok) throw new Error(`schema ${name}: ${r.status}`); return r.json(); });
    p.catch(() => schemas.delete(name)); // try again next time (e.g. back online)
    schemas.set(name, p);
  }
  return schemas.get(name).catch(() => null);
}

/** The sub-schema at a path of property names ('residents', 'temperature' walks items too). */
export function sub(schema, ...names) {
  let s = schema;
  for (const n of names) {
    if (!s) return null;
    if (s.type === 'array' || (s.items && !s.properties)) s = s.items;
    s = s?.properties?.[n] ?? null;
  }
  return s;
}

/** A field's label: the schema's Chinese title in Chinese, else the UI string. */
export function title(schema, key, ...names) {
  const s = names.length ? sub(schema, ...names) : null;
  return getLang() === 'zh' && s?.title ? s.title : t(key);
}

/** The temperature limits: the server's rule ([min, max] from GET /api/rules), else the schema's;
 * with neither, none here (the server still checks). */
export function tempRange(range, schema, ...names) {
  const s = sub(schema, ...names);
  return { min: range?.[0] ?? s?.minimum ?? -Infinity, max: range?.[1] ?? s?.maximum ?? Infinity };
}

// ---------- validation (the part of JSON Schema 2020-12 our record schemas use) ----------

const TYPES = {
  string: (v) => typeof v === 'string',
  number: (v) => typeof v === 'number' && Number.isFinite(v),
  integer: (v) => Number.isInteger(v),
  boolean: (v) => typeof v === 'boolean',
  object: (v) => v != null && typeof v === 'object' && !Array.isArray(v),
  array: (v) => Array.isArray(v),
};

function validDate(s) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

function holds(schema, value) {
  return validate(schema, value).length === 0;
}

/**
 * Errors of value against schema: [{path, message, rule}], path a JSON pointer.
 * Messages name the field by its schema title.
 */
export function validate(schema, value, path = '') {
  if (!schema || typeof schema !== 'object') return [];
  const errs = [];
  const name = schema.title || path.split('/').pop() || '';
  const add = (rule, params = {}) => errs.push({ path, rule, message: t(`v.${rule}`, { field: name, ...params }) });
  if (schema.type && !(TYPES[schema.type] || (() => true))(value)) {
    add('type');
    return errs;
  }
  if ('const' in schema && value !== schema.const) add('enum');
  if (schema.enum && !schema.enum.includes(value)) add('enum');
  if (typeof value === 'number') {
    if (schema.minimum != null && value < schema.minimum) add('range', { min: schema.minimum, max: schema.maximum ?? '' });
    else if (schema.maximum != null && value > schema.maximum) add('range', { min: schema.minimum ?? '', max: schema.maximum });
  }
  if (typeof value === 'string') {
    if (schema.minLength != null && value.length < schema.minLength) add(schema.minLength === 1 ? 'required' : 'too_short');
    if (schema.maxLength != null && value.length > schema.maxLength) add('too_long', { n: schema.maxLength });
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) add('pattern');
    if (schema.format === 'date' && !validDate(value)) add('date');
  }
  if (Array.isArray(value)) {
    if (schema.maxItems != null && value.length > schema.maxItems) add('too_many', { n: schema.maxItems });
    if (schema.uniqueItems && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) add('unique');
    if (schema.items) value.forEach((v, i) => errs.push(...validate(schema.items, v, `${path}/${i}`)));
  }
  if (TYPES.object(value)) {
    for (const k of schema.required || []) {
      if (!(k in value)) {
        const s = schema.properties?.[k];
        errs.push({ path: `${path}/${k}`, rule: 'required', message: t('v.required', { field: s?.title || k }) });
      }
    }
    for (const [k, v] of Object.entries(value)) {
      const s = schema.properties?.[k];
      if (s) errs.push(...validate(s, v, `${path}/${k}`));
      else if (schema.additionalProperties === false) {
        errs.push({ path: `${path}/${k}`, rule: 'unknown', message: t('v.unknown', { field: k }) });
      }
    }
  }
  for (const s of schema.allOf || []) errs.push(...validate(s, value, path));
  if (schema.if) {
    const branch = holds(schema.if, value) ? schema.then : schema.else;
    if (branch) errs.push(...validate({ ...branch, title: schema.title }, value, path));
  }
  return errs;
}

/** The jurisdiction's today as YYYY-MM-DD (Asia/Shanghai), as the server counts dates. */
export function localToday(d = new Date()) {
  try {
    return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
  } catch {
    return d.toISOString().slice(0, 10);
  }
}

/** The local hour in Asia/Shanghai (the morning slot is due until 12:00 there). */
export function localHour(d = new Date()) {
  try {
    return Number(new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Shanghai', hour: '2-digit', hourCycle: 'h23' }).format(d));
  } catch {
    return d.getHours();
  }
}

// 18-digit mainland ID card (GB 11643): the last character checks the first 17.
export function idCardOk(s) {
  const v = String(s).toUpperCase();
  if (!/^\d{17}[\dX]$/.test(v)) return false;
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = w.reduce((acc, x, i) => acc + x * Number(v[i]), 0);
  return '10X98765432'[sum % 11] === v[17];
}

// ---------- temperature ----------

/**
 * The temperature typed: null when empty, NaN when not a number. Full-width digits and a
 * Chinese comma are read; "382" (no point typed, gloves on) is 38.2.
 */
export function parseTemp(raw) {
  const s = String(raw ?? '').trim()
    .replace(/[０-９]/g, (d) => String.fromCharCode(d.charCodeAt(0) - 0xfee0))
    .replace(/[，,。．]/g, '.').replace(/\s|°|℃|c$/gi, '');
  if (!s) return null;
  if (/^\d{3}$/.test(s)) return Number(`${s.slice(0, 2)}.${s[2]}`);
  if (!/^\d{2}(\.\d{0,2})?$/.test(s)) return NaN;
  return Math.round(Number(s) * 10) / 10;
}

export function tempInput(testid, path, { id } = {}) {
  return el('input', {
    type: 'text', inputmode: 'decimal', autocomplete: 'off', enterkeyhint: 'next', maxlength: '6',
    placeholder: '36.5', class: 'temp-input', 'data-testid': testid, 'data-path': path, id,
    'aria-label': t('form.temperature'),
  });
}

// ---------- widgets ----------

/**
 * Segmented buttons: one choice of options [{value, label}]. testid of each: `${prefix}-${value}`.
 * Returns {node, value, set(v)}; onChange(v) after a tap.
 */
export function segmented(prefix, options, value, onChange, { label, path, allowNone = false } = {}) {
  const w = { value };
  const buttons = options.map((o) => el('button', {
    type: 'button', class: `seg-btn${o.cls ? ` ${o.cls}` : ''}`, 'data-value': o.value, 'data-testid': `${prefix}-${o.value}`,
    'aria-pressed': String(o.value === value),
  }, o.label));
  const node = el('div', { class: 'seg', role: 'group', 'aria-label': label || null, 'data-testid': prefix, 'data-path': path || null }, buttons);
  w.set = (v) => {
    w.value = v;
    node.dataset.value = v ?? '';
    buttons.forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.value === v)));
  };
  buttons.forEach((b, i) => b.addEventListener('click', () => {
    const v = options[i].value;
    w.set(allowNone && w.value === v ? null : v);
    onChange?.(w.value);
  }));
  w.set(value);
  w.node = node;
  return w;
}

/** Toggle chips (many choices). testid of each: `${prefix}-${value}`. Returns {node, values(), set(list)}. */
export function chips(prefix, options, selected = [], onChange, { label, path } = {}) {
  const on = new Set(selected);
  const buttons = options.map((o) => el('button', {
    type: 'button', class: 'chip', 'data-value': o.value, 'data-testid': `${prefix}-${o.value}`,
    'aria-pressed': String(on.has(o.value)),
  }, o.label));
  buttons.forEach((b) => b.addEventListener('click', () => {
    const v = b.dataset.value;
    if (on.has(v)) on.delete(v); else on.add(v);
    b.setAttribute('aria-pressed', String(on.has(v)));
    onChange?.([...on]);
  }));
  const node = el('div', { class: 'chips', role: 'group', 'aria-label': label || null, 'data-testid': prefix, 'data-path': path || null }, buttons);
  return {
    node,
    values: () => options.map((o) => o.value).filter((v) => on.has(v)), // in the schema's order
    set: (list) => { on.clear(); list.forEach((v) => on.add(v)); buttons.forEach((b) => b.setAttribute('aria-pressed', String(on.has(b.dataset.value)))); },
  };
}

/** A yes/no toggle as one big button. Returns {node, value}. */
export function toggle(testid, label, value = false, onChange) {
  const w = { value };
  const node = el('button', { type: 'button', class: 'toggle', 'data-testid': testid, 'aria-pressed': String(value) },
    el('span', { class: 'toggle-box', 'aria-hidden': 'true' }), el('span', {}, label));
  node.addEventListener('click', () => {
    w.value = !w.value;
    node.setAttribute('aria-pressed', String(w.value));
    onChange?.(w.value);
  });
  w.node = node;
  return w;
}

/** A labelled block (a legend over its widgets): not a <label>, which would steal the taps. */
export function group(label, ...kids) {
  return el('div', { class: 'group' }, el('div', { class: 'label' }, label), ...kids);
}

export function field(label, input) {
  return el('label', { class: 'field' }, el('span', { class: 'label' }, label), input);
}

// ---------- errors by JSON pointer ----------

export function clearFieldErrors(form, slot) {
  slot?.replaceChildren();
  form.querySelectorAll('.field-error').forEach((n) => n.remove());
  form.querySelectorAll('[aria-invalid]').forEach((n) => n.removeAttribute('aria-invalid'));
}

/**
 * Puts each error under the control whose data-path is its path (or the nearest parent path
 * on the form); the rest are listed in slot with the summary message.
 */
export function showFieldErrors(form, slot, errors, summary = t('form.check')) {
  clearFieldErrors(form, slot);
  const extra = [];
  let first = null;
  for (const e of errors) {
    let p = String(e.path || '').replace(/^\/data(?=\/)/, '');
    let node = null;
    while (p && !(node = form.querySelector(`[data-path="${CSS.escape(p)}"]`))) p = p.replace(/\/[^/]*$/, '');
    if (node) {
      node.setAttribute('aria-invalid', 'true');
      node.after(el('p', { class: 'field-error', 'data-testid': 'field-error', 'data-path': null }, e.message));
      first ||= node;
    } else if (e.message) {
      extra.push(e.message);
    }
  }
  slot.append(el('div', { class: 'error', role: 'alert', 'data-testid': 'error-message' },
    el('p', {}, summary), extra.length ? el('ul', {}, extra.map((m) => el('li', {}, m))) : null));
  const target = first || slot;
  target.scrollIntoView?.({ block: 'center' });
  if (first?.matches('input, textarea, select')) first.focus({ preventScroll: true });
}
