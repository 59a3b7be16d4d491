// sw.js: caches the app shell so the app opens on a dead network. API answers are never cached.
// Bump VERSION whenever a shell file changes: the new worker then installs beside the old one,
// and the page offers "new version" instead of swapping files under an open tab.
// The outbox lives in IndexedDB, not in these caches: an update never touches it.
const VERSION = 'baodao-shell-v3';
const SHELL = [
  '/index.html', '/app.js', '/api.js', '/i18n.js', '/outbox.js', '/sender.js', '/record.js', '/forms.js',
  '/local.js', '/views/outbox.js', '/views/tasks.js', '/views/screening.js', '/views/isolation.js',
  '/views/community.js', '/style.css', '/manifest.webmanifest', '/icons/icon.svg',
  // The forms load their schemas (labels, limits): cached so they work offline.
  '/schemas/screening_visit.json', '/schemas/isolation_visit.json', '/schemas/delivery.json',
];

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
  if (url.origin !== self.location.origin || url.pathname.startsWith('/api/')) return; // network only

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
