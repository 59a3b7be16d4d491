// api.js: the fetch wrapper (session, CSRF, errors, re-login on 401) and small DOM/record helpers.
import { t } from './i18n.js';

/** Who is logged in and the CSRF token, as last told by /api/session. */
export const state = { user: null, csrf: null, mode: 'emergency' };

/** Routine mode (常态化): checkpoints and isolation are hidden; needs, registrations and services stay. */
export const routine = () => state.mode === 'routine';

export class ApiError extends Error {
  constructor(status, code, message, fields = []) {
    super(message);
    this.status = status; // 0 = network failure or timeout
    this.code = code;
    this.fields = fields;
  }
}

/** Errors after which the very same request may be sent again (the server may have stored it). */
export function retryable(err) {
  const s = err?.status;
  return s === 0 || s === 401 || s === 429 || (s >= 500 && s < 600);
}

const TIMEOUT_MS = 20000; // weak 4G: give up and let the user retry rather than hang

let askLogin = null; // () => Promise resolved after a successful login (set by app.js)
let loginWait = null; // one login prompt shared by all requests that got 401

export function onUnauthorized(fn) {
  askLogin = fn;
}

/** Shows the login (one prompt shared by every caller); resolves after a successful login. */
export function requireLogin() {
  if (!askLogin) return Promise.reject(new Error('no login prompt'));
  loginWait ||= askLogin().finally(() => { loginWait = null; });
  return loginWait;
}

/** Retry-After in ms (seconds or an HTTP date), or null. */
function retryAfterMs(value) {
  if (!value) return null;
  const s = Number(value);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

export function loadSession() {
  return api('GET', '/api/session', undefined, { noLogin: true });
}

/**
 * api('POST', '/api/checkins', body) -> parsed JSON. Throws ApiError with the server's message.
 * opts.noLogin: a 401 is an answer (bad password), not a cue to show the login view.
 * opts.timeout: ms before giving up (default 20 s).
 */
export async function api(method, path, body, opts = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = { Accept: 'application/json' };
    let payload;
    if (method !== 'GET') {
      // Logging in needs no token; everything else that changes state does.
      if (!state.csrf && !(method === 'POST' && path === '/api/session')) await loadSession();
      if (state.csrf) headers['X-CSRFToken'] = state.csrf;
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body ?? {});
    }
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), opts.timeout || TIMEOUT_MS);
    let res;
    let data = null;
    try {
      res = await fetch(path, {
        method, headers, body: payload, credentials: 'same-origin', cache: 'no-store', signal: ctrl.signal,
      });
      if ((res.headers.get('Content-Type') || '').includes('json')) data = await res.json().catch(() => null);
    } catch {
      throw new ApiError(0, 'network', t('err.network'));
    } finally {
      clearTimeout(timer);
    }

    if (data && typeof data.csrf_token === 'string') state.csrf = data.csrf_token;
    if (path === '/api/session' && data && (data.mode === 'routine' || data.mode === 'emergency')) state.mode = data.mode;
    if (res.ok) {
      if (path === '/api/session' && data && 'user' in data) state.user = data.user;
      return data ?? {};
    }

    const e = (data && data.error) || {};
    const err = new ApiError(
      res.status,
      e.code || `http_${res.status}`,
      e.message || t(res.status >= 500 ? 'err.server' : 'err.http', { status: res.status }),
      Array.isArray(e.fields) ? e.fields : [],
    );
    err.retryAfter = retryAfterMs(res.headers.get('Retry-After'));
    err.body = data;
    if (res.status === 401 && !opts.noLogin && askLogin && attempt < 3) {
      await requireLogin();
      continue; // resume: the same request again, now logged in
    }
    if ((res.status === 400 || res.status === 403) && /csrf/i.test(err.code) && attempt === 0) {
      await loadSession(); // stale token (e.g. after a login elsewhere): fetch a fresh one once
      continue;
    }
    throw err;
  }
}

/** el('a', {href, class, 'data-testid', onclick}, 'text', child...): builds DOM, text is never parsed as HTML. */
export function el(tag, attrs, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') n.addEventListener(k.slice(2), v);
    else if (k === 'class') n.className = v;
    else n.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c != null && c !== false) n.append(c instanceof Node ? c : String(c));
  }
  return n;
}

/** A URL from the server, allowed into href/src only when it is http(s) or relative. */
export function safeUrl(u) {
  try {
    const url = new URL(String(u), location.href);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : '#';
  } catch {
    return '#';
  }
}

export function clearErrors(slot, form) {
  slot?.replaceChildren();
  form?.querySelectorAll('.field-error').forEach((n) => n.remove());
  form?.querySelectorAll('[aria-invalid]').forEach((n) => n.removeAttribute('aria-invalid'));
}

// "/data/new_password" -> "new_password" (JSON pointer, ~1 = "/", ~0 = "~")
function lastSegment(path) {
  const seg = String(path || '').split('/').pop().replace(/~1/g, '/').replace(/~0/g, '~');
  return seg && !/^\d+$/.test(seg) ? seg : null;
}

/**
 * Shows err.message in slot, and each field message under the form control named by the
 * last segment of its path; messages for fields not on the form are listed in slot.
 */
export function showError(slot, err, form) {
  clearErrors(slot, form);
  const extra = [];
  let first = null;
  for (const f of err?.fields || []) {
    const name = lastSegment(f.path);
    const input = name && form?.elements?.namedItem(name);
    if (input instanceof Element) {
      const id = `${input.id || `f-${name}`}-error`;
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', id);
      input.after(el('p', { class: 'field-error', id, 'data-testid': `field-error-${name}` }, f.message));
      first ||= input;
    } else if (f.message) {
      extra.push(f.message);
    }
  }
  const box = el('div', { class: 'error', role: 'alert', 'data-testid': 'error-message' },
    el('p', {}, err?.message || String(err)),
    extra.length ? el('ul', {}, extra.map((m) => el('li', {}, m))) : null);
  slot.append(box);
  if (first) first.focus();
  else box.scrollIntoView?.({ block: 'nearest' });
}

/** A v4 UUID; crypto.randomUUID only exists in secure contexts (https, localhost). */
export function uuid() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Device local time with its UTC offset: "2026-11-26T08:15:00.000+08:00". */
export function localIso(d = new Date()) {
  const p = (n, w = 2) => String(n).padStart(w, '0');
  const off = -d.getTimezoneOffset();
  const a = Math.abs(off);
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`
    + `:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}${off < 0 ? '-' : '+'}${p(Math.floor(a / 60))}:${p(a % 60)}`;
}

let memoryDeviceId = null; // when storage is off (private mode), keep one id for this page at least
export function deviceId() {
  const key = 'baodao.device_id';
  try {
    let id = localStorage.getItem(key);
    if (!id) {
      id = uuid();
      localStorage.setItem(key, id);
    }
    return id;
  } catch {
    memoryDeviceId ||= uuid();
    return memoryDeviceId;
  }
}
