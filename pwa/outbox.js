// outbox.js: the phone's own storage (IndexedDB "baodao"). Every record a cadre captures is
// written here first, then sent by sender.js; only a `created`/`duplicate` answer removes it.
//   outbox  (keyPath "id"):   {id, type, recorded_at, data, state, attempts, errors, code, stored,
//                              created_at, last_try_at, user_id, meta}
//   offline (keyPath "name"): collections from /api/sync/changes by name, plus "_cursor", "_user",
//                             and "_done" (what this phone captured, for the task list).
// state: waiting | sending | invalid | conflict. `data` is what the server gets; `meta` stays here
// (place name for the lists). Nothing in this file deletes a record except deleteSent (after the
// server acknowledged it) and discard (the user's explicit choice, one record at a time).

const DB_NAME = 'baodao';
export const DB_VERSION = 2;

// MIGRATIONS[v] upgrades version v to v+1, run in order inside onupgradeneeded. Never delete or
// recreate a store that holds records: add stores, indexes and fields only
// (docs/field-lessons.md#indexeddb-upgrades).
const MIGRATIONS = [
  // 0 -> 1: the first layout.
  (db) => {
    db.createObjectStore('outbox', { keyPath: 'id' });
    db.createObjectStore('offline', { keyPath: 'name' });
  },
  // 1 -> 2: send in capture order (a check-out after its check-in); fill fields v1 lacked.
  (db, tx) => {
    const store = tx.objectStore('outbox');
    store.createIndex('created_at', 'created_at');
    store.openCursor().onsuccess = (e) => {
      const cur = e.target.result;
      if (!cur) return;
      const r = cur.value;
      cur.update({
        attempts: 0, errors: [], code: null, stored: null, last_try_at: null, user_id: null, meta: {},
        ...r,
        state: ['waiting', 'sending', 'invalid', 'conflict'].includes(r.state) ? r.state : 'waiting',
        created_at: r.created_at || r.recorded_at || new Date().toISOString(),
      });
      cur.continue();
    };
  },
];

/** A storage failure the user must hear about. kind: 'quota' | 'lost' (reload) | 'unavailable'. */
export class StorageError extends Error {
  constructor(kind, cause) {
    super(`${kind}: ${cause?.name || ''} ${cause?.message || ''}`.trim());
    this.kind = kind;
    this.cause = cause;
  }
}

// ---------- events: outbox changed, connection trouble ----------

const changeFns = new Set();
const troubleFns = new Set();
/** fn() after any outbox write, in this tab or another one. */
export function onChange(fn) { changeFns.add(fn); return () => changeFns.delete(fn); }
/** fn(kind): 'blocked' (another tab has the old version open), 'versionchange' (a newer version
 * wants the database: reload), 'lost' (could not reopen: reload). */
export function onTrouble(fn) { troubleFns.add(fn); return () => troubleFns.delete(fn); }
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('baodao-outbox') : null;
if (channel) channel.onmessage = () => changeFns.forEach((fn) => fn());
function changed() {
  changeFns.forEach((fn) => { try { fn(); } catch { /* a listener's bug must not stop a save */ } });
  channel?.postMessage('changed');
}
function trouble(kind) { troubleFns.forEach((fn) => { try { fn(kind); } catch { /* ignore */ } }); }

// ---------- opening ----------

let dbPromise = null;
let memory = null; // Map per store when IndexedDB cannot be used at all (the app still works online)
let closedForUpgrade = false;

let openVersion = DB_VERSION;

function openDb() {
  if (dbPromise) return dbPromise;
  dbPromise = new Promise((resolve, reject) => {
    let req;
    try {
      // undefined = whatever version is there (after a newer app version upgraded it)
      req = openVersion ? indexedDB.open(DB_NAME, openVersion) : indexedDB.open(DB_NAME);
    } catch (err) {
      reject(err);
      return;
    }
    req.onupgradeneeded = (e) => {
      for (let v = e.oldVersion; v < DB_VERSION; v++) MIGRATIONS[v](req.result, req.transaction);
    };
    req.onblocked = () => trouble('blocked'); // waits until the other tab closes; not an error
    req.onsuccess = () => {
      const db = req.result;
      db.onversionchange = () => {
        // A newer app version in another tab needs the upgrade: let it, and ask for a reload.
        db.close();
        dbPromise = null;
        closedForUpgrade = true;
        trouble('versionchange');
      };
      db.onclose = () => { dbPromise = null; }; // closed by the browser: reopen next time
      resolve(db);
    };
    req.onerror = () => {
      // An older app (a stale cached shell) meets a database a newer one upgraded. Stores are only
      // ever added, so the newer layout still holds everything this code reads and writes.
      if (req.error?.name === 'VersionError' && openVersion) {
        openVersion = undefined;
        dbPromise = null;
        openDb().then(resolve, reject);
        return;
      }
      reject(req.error);
    };
  });
  dbPromise.catch(() => { dbPromise = null; });
  return dbPromise;
}

/**
 * Opens the database (or falls back to memory when IndexedDB is missing or refuses to open,
 * e.g. some private modes) and test-writes once. Resolves to {durable, quota}.
 */
export async function init() {
  if (typeof indexedDB === 'undefined' || !indexedDB) {
    memory = { outbox: new Map(), offline: new Map() };
    return { durable: false };
  }
  try {
    await openDb();
  } catch {
    memory = { outbox: new Map(), offline: new Map() };
    return { durable: false };
  }
  try {
    await run(['offline'], 'readwrite', (s) => { s.offline.put({ name: '_probe', at: new Date().toISOString() }); });
    return { durable: true };
  } catch (err) {
    return { durable: true, error: err }; // e.g. quota full already: the view warns
  }
}

export const isDurable = () => !memory;

/** Test hook: closes the connection behind our back, as WebKit does under memory pressure. */
export async function _dropConnection() {
  const db = await dbPromise;
  db?.close(); // dbPromise still holds the dead handle: the next transaction must recover
}

// ---------- transactions ----------

// A store with callback-style methods, the same over IndexedDB and over the memory fallback,
// so each operation below is written once and stays inside one transaction.
function idbStore(store) {
  const ok = (req, cb) => { if (cb) req.onsuccess = () => cb(req.result); };
  return {
    get: (key, cb) => ok(store.get(key), cb),
    getAll: (cb) => ok(store.indexNames.contains('created_at') ? store.index('created_at').getAll() : store.getAll(), cb),
    put: (value, cb) => ok(store.put(value), cb),
    delete: (key, cb) => ok(store.delete(key), cb),
    clear: (cb) => ok(store.clear(), cb),
  };
}
function memStore(map, key) {
  const copy = (v) => (v === undefined ? undefined : structuredClone(v));
  return {
    get: (k, cb) => cb?.(copy(map.get(k))),
    getAll: (cb) => cb?.([...map.values()].map(copy).sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)))),
    put: (v, cb) => { map.set(v[key], copy(v)); cb?.(v[key]); },
    delete: (k, cb) => { map.delete(k); cb?.(); },
    clear: (cb) => { map.clear(); cb?.(); },
  };
}

const LOST = ['InvalidStateError', 'UnknownError', 'TransactionInactiveError'];

/**
 * run(['outbox'], 'readwrite', (stores) => result) runs body inside one transaction and resolves
 * with what body returned (a function is called after commit, for values set by callbacks).
 * A connection that WebKit dropped is reopened and the transaction retried once.
 */
async function run(names, mode, body) {
  if (memory) {
    const stores = Object.fromEntries(names.map((n) => [n, memStore(memory[n], n === 'outbox' ? 'id' : 'name')]));
    const out = body(stores);
    if (mode === 'readwrite' && names.includes('outbox')) changed();
    return typeof out === 'function' ? out() : out;
  }
  if (closedForUpgrade) throw new StorageError('lost', new DOMException('closed for upgrade', 'InvalidStateError'));
  for (let attempt = 0; ; attempt++) {
    try {
      const db = await openDb();
      const out = await new Promise((resolve, reject) => {
        const tx = db.transaction(names, mode);
        const stores = Object.fromEntries(names.map((n) => [n, idbStore(tx.objectStore(n))]));
        let result;
        tx.oncomplete = () => resolve(typeof result === 'function' ? result() : result);
        // No preventDefault: a failed request must abort the whole transaction.
        tx.onerror = (e) => reject(tx.error || e.target.error);
        tx.onabort = () => reject(tx.error || new DOMException('aborted', 'AbortError'));
        try {
          result = body(stores);
        } catch (err) {
          try { tx.abort(); } catch { /* already finished */ }
          reject(err);
        }
      });
      if (mode === 'readwrite' && names.includes('outbox')) changed();
      return out;
    } catch (err) {
      const name = err?.name;
      if (name === 'QuotaExceededError') throw new StorageError('quota', err);
      if (LOST.includes(name) || (err instanceof StorageError && err.kind === 'lost')) {
        if (attempt === 0 && !closedForUpgrade) {
          // "Connection to Indexed Database server lost" (WebKit): drop the dead handle, reopen.
          const old = dbPromise;
          dbPromise = null;
          old?.then((d) => { try { d.close(); } catch { /* dead already */ } }).catch(() => {});
          continue;
        }
        trouble('lost');
        throw new StorageError('lost', err);
      }
      if (err instanceof StorageError) throw err;
      throw new StorageError('unavailable', err);
    }
  }
}

// ---------- the outbox ----------

const now = () => new Date().toISOString();
let lastCreated = '';
// created_at orders the outbox; two captures in one millisecond must still keep their order.
function createdAt() {
  let s = now();
  if (s <= lastCreated) s = new Date(Date.parse(lastCreated) + 1).toISOString();
  lastCreated = s;
  return s;
}

/**
 * Saves a new record (state "waiting"). rec: {id, type, recorded_at, data, user_id?, meta?}.
 * Never overwrites: an existing record with this id is returned unchanged (a retry of the save).
 */
export async function add(rec) {
  if (!rec?.id || !rec.type || !rec.recorded_at || typeof rec.data !== 'object') {
    throw new TypeError('add: id, type, recorded_at and data are required');
  }
  const full = {
    id: rec.id, type: rec.type, recorded_at: rec.recorded_at, data: rec.data,
    state: 'waiting', attempts: 0, errors: [], code: null, stored: null,
    created_at: createdAt(), last_try_at: null, user_id: rec.user_id ?? null, meta: rec.meta || {},
  };
  return run(['outbox'], 'readwrite', (s) => {
    let saved = full;
    s.outbox.get(full.id, (existing) => {
      if (existing) saved = existing;
      else s.outbox.put(full);
    });
    return () => saved;
  });
}

/** All records, oldest capture first. */
export function list() {
  return run(['outbox'], 'readonly', (s) => {
    let all = [];
    s.outbox.getAll((v) => { all = v; });
    return () => all;
  });
}

export function get(id) {
  return run(['outbox'], 'readonly', (s) => {
    let rec;
    s.outbox.get(id, (v) => { rec = v; });
    return () => rec;
  });
}

/** Marks up to `limit` waiting records of this user "sending" (read-only) and returns them. */
export function takeWaiting(limit, userId) {
  return run(['outbox'], 'readwrite', (s) => {
    const taken = [];
    s.outbox.getAll((all) => {
      for (const r of all) {
        if (taken.length >= limit) break;
        if (r.state !== 'waiting' || (r.user_id != null && userId != null && r.user_id !== userId)) continue;
        r.state = 'sending';
        r.attempts = (r.attempts || 0) + 1;
        r.last_try_at = now();
        s.outbox.put(r);
        taken.push(r);
      }
    });
    return () => taken;
  });
}

/** After a failed send (network, 5xx, 401, 413...): the same records go back to waiting, unchanged. */
export function release(ids, reason = null) {
  const want = new Set(ids);
  return run(['outbox'], 'readwrite', (s) => {
    s.outbox.getAll((all) => {
      for (const r of all) {
        if (!want.has(r.id) || r.state !== 'sending') continue;
        r.state = 'waiting';
        r.last_error = reason;
        s.outbox.put(r);
      }
    });
  });
}

/** A page reload (or a send that died with its tab) leaves "sending" behind: back to waiting. */
export function resetSending() {
  return run(['outbox'], 'readwrite', (s) => {
    s.outbox.getAll((all) => {
      for (const r of all) if (r.state === 'sending') s.outbox.put({ ...r, state: 'waiting' });
    });
  });
}

/**
 * Applies the server's per-record results in one transaction: created/duplicate delete the
 * record; invalid/conflict keep it, flagged, with the server's reasons. Other answers keep it
 * waiting. Returns the number removed.
 */
export function applyResults(results) {
  return run(['outbox'], 'readwrite', (s) => {
    let removed = 0;
    for (const res of results) {
      if (!res || typeof res.id !== 'string') continue;
      s.outbox.get(res.id, (r) => {
        if (!r) return;
        if (res.status === 'created' || res.status === 'duplicate') {
          s.outbox.delete(r.id);
          removed++;
        } else if (res.status === 'invalid' || res.status === 'conflict') {
          s.outbox.put({
            ...r, state: res.status, errors: Array.isArray(res.errors) ? res.errors : [],
            code: res.code ?? null, stored: res.stored ?? null,
          });
        } else {
          s.outbox.put({ ...r, state: 'waiting' });
        }
      });
    }
    return () => removed;
  });
}

/** Marks records the server can never take as they are (e.g. one record over the size limit). */
export function reject(ids, code, errors) {
  const want = new Set(ids);
  return run(['outbox'], 'readwrite', (s) => {
    s.outbox.getAll((all) => {
      for (const r of all) if (want.has(r.id)) s.outbox.put({ ...r, state: 'invalid', code, errors });
    });
  });
}

/** The user discards one rejected or conflicting record, after confirming. Never a waiting one. */
export function discard(id) {
  return run(['outbox'], 'readwrite', (s) => {
    let done = false;
    s.outbox.get(id, (r) => {
      if (r && (r.state === 'invalid' || r.state === 'conflict')) {
        s.outbox.delete(id);
        done = true;
      }
    });
    return () => done;
  });
}

// ---------- offline data ----------

export function getOffline(name) {
  return run(['offline'], 'readonly', (s) => {
    let v;
    s.offline.get(name, (r) => { v = r; });
    return () => v;
  });
}

export function putOffline(name, value) {
  return run(['offline'], 'readwrite', (s) => { s.offline.put({ ...value, name }); });
}

/**
 * Stores an answer of GET /api/sync/changes: each collection by its name. A `full` collection
 * replaces the stored one; a delta merges by id (items with `deleted: true` leave).
 */
export function saveChanges(answer) {
  return run(['offline'], 'readwrite', (s) => {
    for (const [name, coll] of Object.entries(answer || {})) {
      if (name === 'cursor' || !coll || !Array.isArray(coll.items)) continue;
      if (coll.full) {
        s.offline.put({ name, items: coll.items.filter((i) => !i?.deleted), fetched_at: now() });
        continue;
      }
      s.offline.get(name, (old) => {
        const byId = new Map((old?.items || []).map((i) => [String(i.id), i]));
        for (const i of coll.items) {
          if (i?.deleted) byId.delete(String(i.id));
          else byId.set(String(i.id), i);
        }
        s.offline.put({ name, items: [...byId.values()], fetched_at: now() });
      });
    }
    if (answer?.cursor != null) s.offline.put({ name: '_cursor', value: answer.cursor });
  });
}

const DONE_KEEP_MS = 30 * 24 * 3600 * 1000;

/**
 * Remembers what this phone captured ("_done": {id, type, recorded_at, ...summary}), so the
 * task list drops a screened household or a visited slot at once, before the server answers
 * and the next /api/sync/changes. Entries older than 30 days leave.
 */
export function rememberDone(entry) {
  return run(['offline'], 'readwrite', (s) => {
    s.offline.get('_done', (old) => {
      const since = Date.now() - DONE_KEEP_MS;
      const items = (old?.items || []).filter((i) => i.id !== entry.id && Date.parse(i.saved_at) > since);
      items.push({ ...entry, saved_at: now() });
      s.offline.put({ name: '_done', items: items.slice(-1000) });
    });
  });
}

/** Forgets the offline data (another user logs in, or logout). The outbox is never touched. */
export function clearOffline() {
  return run(['offline'], 'readwrite', (s) => { s.offline.clear(); });
}
