// record.js: saving a captured record. It goes to the IndexedDB outbox first, then one quick try
// to send it; the screen says which: sent, saved on the phone (offline), or rejected.
import { t, fmtTime } from './i18n.js';
import { api, el, showError, deviceId, uuid, localIso, state } from './api.js';
import * as outbox from './outbox.js';
import * as sender from './sender.js';

/** A new record for the outbox: the phone's UUID and its time with the UTC offset. */
export function newRecord(type, data, meta = {}) {
  return { id: uuid(), type, recorded_at: localIso(), data, user_id: state.user?.id ?? null, meta };
}

/**
 * Writes a record to the outbox. Returns true, or {direct: answer} when storage failed but the
 * server took it straight away, or false after telling the user (the record stays on screen).
 */
export async function capture(rec, errs) {
  try {
    await outbox.add(rec);
    return true;
  } catch (err) {
    if (navigator.onLine !== false) {
      try {
        const r = await api('POST', '/api/sync', {
          device_id: deviceId(), sent_at: localIso(), records: [{ id: rec.id, type: rec.type, recorded_at: rec.recorded_at, data: rec.data }],
        }, { timeout: 15000 });
        const res = r.results?.[0];
        if (res && (res.status === 'created' || res.status === 'duplicate')) return { direct: res };
      } catch { /* fall through: keep it on screen */ }
    }
    showError(errs, { message: t(err.kind === 'quota' ? 'storage.quota' : 'storage.lost') });
    return false;
  }
}

export const accepted = (ans) => ans && (ans.status === 'created' || ans.status === 'duplicate');

/**
 * Capture then send: resolves to {saved: false} (not saved: the user was told in errs),
 * or {saved: true, answer} where answer is the server's result, or null when it was not sent
 * yet (offline, slow): the record waits in the outbox.
 */
export async function saveAndSend(rec, errs, waitMs) {
  const saved = await capture(rec, errs);
  if (!saved) return { saved: false, answer: null };
  // Remember it locally at once: the task list leaves it out without waiting for the server.
  outbox.rememberDone({ id: rec.id, type: rec.type, recorded_at: rec.recorded_at, ...(rec.done || {}) }).catch(() => {});
  const answer = saved.direct || await sender.sendFor(rec.id, waitMs);
  return { saved: true, answer };
}

/** The server turned a record down: its reasons, and the way to the outbox where it waits. */
export function rejectedPanel(ans, testid, kind = 'record') {
  const msgs = (ans.errors || []).map((e) => e.message).filter(Boolean);
  return el('div', { class: 'error error-big', role: 'alert', 'data-testid': testid },
    el('p', {}, t(ans.status === 'conflict' ? `${kind}.conflict` : `${kind}.rejected`)),
    msgs.length ? el('ul', {}, msgs.map((m) => el('li', {}, m))) : null,
    el('a', { class: 'btn-secondary btn-block', href: '/#/outbox', 'data-testid': 'outbox-link' }, t('checkin.saved_outbox')));
}

/**
 * The feedback after saving a form record: sent (green, testid record-sent), saved on the phone
 * (blue, testid saved-offline), or rejected (testid record-rejected). extra: nodes under the title.
 */
export function resultPanel(rec, answer, { title, extra = [], links = [] } = {}) {
  if (answer && !accepted(answer)) return rejectedPanel(answer, 'record-rejected');
  const sent = accepted(answer);
  return el('div', {
    class: `success${sent ? '' : ' saved'}`, role: 'status', 'data-testid': sent ? 'record-sent' : 'saved-offline',
    'data-record-id': rec.id,
  },
  el('div', { class: 'success-mark', 'aria-hidden': 'true' }, '✓'),
  el('p', { class: 'success-title' }, sent ? (title || t('record.sent')) : t('checkin.saved_title')),
  sent ? null : el('p', {}, t('record.saved_body')),
  el('p', { class: 'success-time' }, fmtTime(rec.recorded_at)),
  ...extra,
  sent ? null : el('a', { class: 'btn-light btn-block', href: '/#/outbox', 'data-testid': 'outbox-link' }, t('checkin.saved_outbox')),
  ...links);
}
