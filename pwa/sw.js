// sw.js: caches the app shell so the app opens on a dead network. API answers are never cached,
// but for the domain rules (GET /api/rules), which the offline forms need.
// The server fills in both lines below when it serves /sw.js (server/pwa.py): SHELL lists the
// PWA's files and the schemas the forms load, VERSION hashes them. Any changed file makes a new
// worker that installs beside the old one, and the page offers "new version" instead of
// swapping files under an open tab. Nothing to bump by hand.
// The outbox lives in IndexedDB, not in these caches: an update never touches it.
const VERSION = '/*VERSION*/';
const SHELL = /*SHELL*/[];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(VERSION).then((cache) =>
    // cache: 'reload' skips the HTTP cache, so a new version never precaches old files.
    Promise.all(SHELL.map((url) => cache.add(new Request(url, { cache: 'reload' }))))));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(
    keys.filter((k) => k.startsWith('baodao-shell-') && k !== VERSION).map((k) => caches.delete(k)))));
});

// Sent by the page when the user taps "new version"; never skip waiting on our own.
self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'SKIP_WAITING') self.skipWaiting();
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname === '/api/rules') {
    // The one API answer kept: the domain rules, precached with the shell so the forms know the
    // fever threshold even when a new version first starts offline. Network first.
    event.respondWith(fetch(req).catch(() =>
      caches.open(VERSION).then((cache) => cache.match(url.pathname)).then((r) => r || Response.error())));
    return;
  }
  if (url.pathname.startsWith('/api/')) return; // network only

  if (req.mode === 'navigate') {
    // Network first (fresh page, server redirects work); offline, any page is the shell.
    event.respondWith(fetch(req).catch(() =>
      caches.open(VERSION).then((cache) => cache.match('/index.html')).then((r) => r || Response.error())));
    return;
  }
  if (SHELL.includes(url.pathname)) {
    event.respondWith(caches.open(VERSION).then((cache) => cache.match(url.pathname))
      .then((hit) => hit || fetch(req)));
  }
});

// Background Sync (Chromium): the network is back. The page does the sending (it has the
// session, the CSRF token and the outbox code), so wake every open window. Safari has no
// Background Sync; there the page's own triggers (start, online, timer, button) cover it.
self.addEventListener('sync', (event) => {
  if (event.tag !== 'outbox') return;
  event.waitUntil(self.clients.matchAll({ type: 'window' }).then((clients) => {
    clients.forEach((c) => c.postMessage({ type: 'SYNC_OUTBOX' }));
  }));
});

// ---------- Web Push (docs/push.md) ----------
// Every push shows a notification, whatever it carries (iOS revokes subscriptions after pushes
// that showed nothing: docs/field-lessons.md#silent-pushes-on-ios). The payload is
// {id, title, body, link, urgency}, at most 2 KB; the inbox has the rest. A click opens the
// notice's link: always a path in this app.

const GENERIC_TITLE = '您有新通知';
const GENERIC_BODY = '请打开“报到”查看通知。';
const ICON = '/icons/icon-192.png';

/** A path in this app ('/#/tasks'), never another site; otherwise the inbox. */
function inAppLink(link, id) {
  const inbox = id ? `/#/inbox/${encodeURIComponent(id)}` : '/#/inbox';
  if (typeof link !== 'string' || !link.startsWith('/') || link.startsWith('//') || link.startsWith('/\\')
    || /[\s\\\u0000-\u001f]/.test(link)) return inbox;
  return link === '/' || link === '/#/' ? inbox : link; // "/" is what the server sends for "no link"
}

function readPayload(data) {
  if (!data) return null;
  try {
    const p = data.json();
    return p && typeof p === 'object' && !Array.isArray(p) ? p : null;
  } catch {
    return null; // not JSON (or not decryptable): the generic notification
  }
}

async function showPush(data) {
  const p = readPayload(data) || {};
  const id = typeof p.id === 'string' ? p.id : null;
  const title = typeof p.title === 'string' && p.title.trim() ? p.title.slice(0, 120) : GENERIC_TITLE;
  const body = typeof p.body === 'string' && p.body.trim() ? p.body.slice(0, 400) : (id ? '' : GENERIC_BODY);
  try {
    await self.registration.showNotification(title, {
      body, icon: ICON, badge: ICON, lang: 'zh-CN', dir: 'ltr',
      tag: id ? `notice-${id}` : 'notice', renotify: true,
      requireInteraction: p.urgency === 'high',
      data: { id, link: inAppLink(p.link, id), urgency: p.urgency === 'high' ? 'high' : 'normal' },
    });
  } catch {
    // Options this browser refuses (renotify, requireInteraction...): still show something.
    await self.registration.showNotification(title, { body, icon: ICON, data: { id, link: inAppLink(p.link, id) } });
  }
  // An open window fetches its inbox at once (the bell and an urgent banner update).
  const wins = await self.clients.matchAll({ type: 'window', includeUncontrolled: true }).catch(() => []);
  wins.forEach((c) => c.postMessage({ type: 'NOTICE_PUSHED', id }));
}

/** An app window of ours (not, say, a printed poster page under /api/). */
function appWindow(wins) {
  return wins.find((c) => {
    try {
      const u = new URL(c.url);
      return u.origin === self.location.origin && !u.pathname.startsWith('/api/');
    } catch {
      return false;
    }
  }) || null;
}

async function openNotice(data) {
  const id = typeof data?.id === 'string' ? data.id : null;
  const link = inAppLink(data?.link, id);
  const url = new URL(link, self.location.origin).href;
  const win = appWindow(await self.clients.matchAll({ type: 'window', includeUncontrolled: true }));
  if (win) {
    try { await win.focus(); } catch { /* focus needs the click's user activation */ }
    // The page follows the link itself (a hash route: no reload, the outbox keeps sending)
    // and marks the notice read.
    win.postMessage({ type: 'NOTICE_OPENED', id, link });
    return win;
  }
  const opened = await self.clients.openWindow(url);
  opened?.postMessage({ type: 'NOTICE_OPENED', id, link });
  return opened;
}

// The handlers return their promise; tests call them through self.baodaoPush.
function onPush(event) {
  const done = showPush(event.data).catch(() => self.registration.showNotification(GENERIC_TITLE, {
    body: GENERIC_BODY, icon: ICON, data: { id: null, link: '/#/inbox' },
  }));
  try { event.waitUntil(done); } catch { /* a synthetic event (tests) */ }
  return done;
}

function onNotificationClick(event) {
  event.notification.close();
  const done = openNotice(event.notification.data || {});
  try { event.waitUntil(done); } catch { /* a synthetic event (tests) */ }
  return done;
}

self.addEventListener('push', onPush);
self.addEventListener('notificationclick', onNotificationClick);
self.baodaoPush = { onPush, onNotificationClick, inAppLink };
