// push.js: Web Push on this phone (docs/push.md). A bonus on top of the inbox, never the only
// path (docs/field-lessons.md#web-push-on-apple-and-in-china). Permission is asked only after
// the user taps "开启通知" (iOS allows it only in a home-screen app, after a tap); the
// subscription is registered again on every app start (iOS drops subscriptions silently:
// docs/field-lessons.md#silent-pushes-on-ios), and made again when the server's key changed.
import { t } from './i18n.js';
import { api, el, state, deviceId, showError } from './api.js';

const PREF = 'baodao.push'; // 'on' after the user turned notifications on here

const isIos = () => /iP(hone|ad|od)/.test(navigator.userAgent)
  || (navigator.platform === 'MacIntel' && navigator.maxTouchPoints > 1);
const isStandalone = () => navigator.standalone === true
  || (typeof matchMedia === 'function' && matchMedia('(display-mode: standalone)').matches);

/** Why push cannot work in this browser (a key of the push.why.* strings), or null. */
export function unsupported() {
  if (/MicroMessenger/i.test(navigator.userAgent)) return 'wechat';
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return 'no_sw';
  if (!('PushManager' in window) || !('Notification' in window)) return isIos() && !isStandalone() ? 'ios_home' : 'no_push';
  if (Notification.permission === 'denied') return 'denied';
  return null;
}

function pref(value) {
  try {
    if (value === undefined) return localStorage.getItem(PREF);
    if (value === null) localStorage.removeItem(PREF); else localStorage.setItem(PREF, value);
  } catch { /* private mode: the subscription itself is what counts */ }
  return null;
}

function keyBytes(b64) {
  const s = b64.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (b64.length % 4)) % 4);
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

function sameKey(sub, b64) {
  const have = sub?.options?.applicationServerKey;
  if (!have) return true; // unknown (old browsers): the server's 409 push_key_changed tells us
  const a = new Uint8Array(have);
  const b = keyBytes(b64);
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

async function registration(timeoutMs = 10000) {
  const reg = await Promise.race([
    navigator.serviceWorker.ready,
    new Promise((resolve) => { setTimeout(() => resolve(null), timeoutMs); }),
  ]);
  if (!reg?.pushManager) throw Object.assign(new Error(t('push.why.no_sw')), { why: 'no_sw' });
  return reg;
}

/** GET /api/push/key: {enabled, public_key, reason}. */
async function serverKey() {
  return api('GET', '/api/push/key', undefined, { noLogin: true, timeout: 10000 });
}

async function subscribe(reg, key) {
  return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
}

/** POST the subscription with the device id; a rotated key (409 push_key_changed): subscribe again. */
async function register(reg, sub, key) {
  for (let attempt = 0; ; attempt++) {
    try {
      await api('POST', '/api/push/subscriptions', { ...sub.toJSON(), device_id: deviceId(), key }, { noLogin: true, timeout: 15000 });
      return sub;
    } catch (err) {
      const fresh = err.body?.error?.public_key;
      if (err.status === 409 && err.code === 'push_key_changed' && fresh && attempt === 0) {
        await sub.unsubscribe().catch(() => {});
        key = fresh;
        sub = await subscribe(reg, key);
        continue;
      }
      throw err;
    }
  }
}

/** Turns push on after a tap. Resolves 'on', or throws an Error with .why (push.why.*). */
export async function enablePush() {
  const why = unsupported();
  if (why) throw Object.assign(new Error(t(`push.why.${why}`)), { why });
  const server = await serverKey();
  if (!server?.enabled || !server.public_key) throw Object.assign(new Error(t('push.why.server_off')), { why: 'server_off' });
  // Asked here, straight after the tap (iOS refuses a prompt that no tap started).
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw Object.assign(new Error(t('push.why.denied')), { why: 'denied' });
  const reg = await registration();
  let sub = await reg.pushManager.getSubscription();
  if (sub && !sameKey(sub, server.public_key)) { await sub.unsubscribe().catch(() => {}); sub = null; }
  try {
    sub ||= await subscribe(reg, server.public_key);
  } catch (err) {
    // Chrome without its push service (mainland China, no Google services): AbortError.
    throw Object.assign(new Error(t('push.why.service', { msg: err.name || err.message })), { why: 'service' });
  }
  await register(reg, sub, server.public_key);
  pref('on');
  return 'on';
}

/** The user turns push off here: forget it on the server and in the browser. */
export async function disablePush() {
  pref(null);
  const reg = await navigator.serviceWorker?.getRegistration?.();
  const sub = await reg?.pushManager?.getSubscription();
  if (!sub) return;
  await api('DELETE', `/api/push/subscriptions?endpoint=${encodeURIComponent(sub.endpoint)}`, undefined, { noLogin: true }).catch(() => {});
  await sub.unsubscribe().catch(() => {});
}

/**
 * On every app start (and login): the browser's existing subscription registered again, made
 * again when the server's key changed. Never asks for permission; quiet on any failure.
 */
export async function resyncPush() {
  try {
    if (!state.user || unsupported() || Notification.permission !== 'granted') return 'off';
    const reg = await navigator.serviceWorker.getRegistration();
    let sub = await reg?.pushManager?.getSubscription();
    if (!sub) return 'off';
    const server = await serverKey();
    if (!server?.enabled || !server.public_key) return 'server_off';
    if (!sameKey(sub, server.public_key)) {
      await sub.unsubscribe().catch(() => {});
      sub = await subscribe(reg, server.public_key);
    }
    await register(reg, sub, server.public_key);
    pref('on');
    return 'on';
  } catch {
    return 'error';
  }
}

/** Logging out: the server drops this device's subscription (DELETE /api/session?device_id=);
 * the browser's goes too, so the next person to log in here chooses for themselves. */
export async function forgetPush() {
  pref(null);
  try {
    const reg = await navigator.serviceWorker?.getRegistration?.();
    const sub = await reg?.pushManager?.getSubscription();
    await sub?.unsubscribe();
  } catch { /* nothing to forget */ }
}

/** Where this phone stands: 'on' | 'off' | a push.why.* key. */
export async function pushState() {
  const why = unsupported();
  if (why) return why;
  try {
    const reg = await navigator.serviceWorker.getRegistration();
    const sub = await reg?.pushManager?.getSubscription();
    return sub && Notification.permission === 'granted' ? 'on' : 'off';
  } catch {
    return 'off';
  }
}

/** The inbox's card: "开启通知" (data-testid push-enable), or why it cannot be, or that it is on. */
export function pushCard() {
  const text = el('p', { class: 'push-text', 'data-testid': 'push-status' });
  const errs = el('div', { class: 'errors' });
  const btn = el('button', { type: 'button', class: 'btn-primary', 'data-testid': 'push-enable' }, t('push.enable'));
  const off = el('button', { type: 'button', class: 'btn-link btn-link-quiet', 'data-testid': 'push-disable', hidden: true }, t('push.disable'));
  const node = el('div', { class: 'push-card', 'data-testid': 'push-card' }, el('div', { class: 'push-row' }, text, btn, off), errs);
  let alive = true;
  const show = (st) => {
    if (!alive) return;
    node.dataset.state = st;
    btn.hidden = st !== 'off';
    off.hidden = st !== 'on';
    text.textContent = st === 'on' ? t('push.on') : st === 'off' ? t('push.offer') : t(`push.why.${st}`);
  };
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    errs.replaceChildren();
    try {
      show(await enablePush());
    } catch (err) {
      if (err.why) show(err.why === 'service' ? 'off' : err.why);
      if (!err.why || err.why === 'service') showError(errs, err);
    } finally {
      btn.disabled = false;
    }
  });
  off.addEventListener('click', async () => {
    off.disabled = true;
    await disablePush().catch(() => {});
    off.disabled = false;
    show('off');
  });
  show('off');
  pushState().then(async (st) => {
    show(st);
    // Push off on the server (no contact address set, or keys mismatched): say so, no button.
    if (st === 'off' && navigator.onLine !== false) {
      const server = await serverKey().catch(() => null);
      if (server && !server.enabled) show('server_off');
    }
  }, () => {});
  return { node, cleanup: () => { alive = false; } };
}
