// views/inbox.js: #/inbox (通知), the notices sent to this cadre, unread first, from the phone's
// copy (works offline). Tapping one marks it read (a notice_read record through the outbox) and
// follows its in-app link, or opens it here. #/inbox/<id> opens one notice. The top card turns
// on phone notifications (Web Push) after a tap.
import { t, has, fmtTime } from '../i18n.js';
import { el } from '../api.js';
import { put } from '../forms.js';
import {
  loadNotices, fetchNotices, markRead, onChanged, inAppLink, isUrgent,
} from '../inbox.js';
import { pushCard } from '../push.js';

/** The view; openId: a notice to open (#/inbox/<id>). Returns {node, cleanup}. */
export function inboxView(openId = '') {
  const list = el('ul', { class: 'list inbox-list', 'data-testid': 'inbox-list' }, el('li', { class: 'muted' }, t('loading')));
  const status = el('p', { class: 'muted small', 'data-testid': 'inbox-status', 'aria-live': 'polite' });
  const errs = el('div', { class: 'errors' });
  const refresh = el('button', { type: 'button', class: 'btn-secondary', 'data-testid': 'inbox-refresh' }, t('inbox.refresh'));
  const card = pushCard();
  const root = el('section', { class: 'inbox', 'data-testid': 'inbox-view' },
    el('div', { class: 'inbox-head' }, el('h1', {}, t('inbox.title')), refresh),
    card.node, status, errs, list);
  let alive = true;
  const expanded = new Set(openId ? [openId] : []);

  async function draw() {
    const { items, fetchedAt, known } = await loadNotices();
    if (!alive) return;
    const unread = items.filter((n) => !n.read_at).length;
    status.textContent = [
      known ? t('inbox.count', { n: items.length, unread }) : null,
      fetchedAt ? t('inbox.fetched', { time: fmtTime(fetchedAt) }) : null,
      navigator.onLine === false ? t('inbox.offline') : null,
    ].filter(Boolean).join(' · ');
    put(list, ...(items.length ? items.map(row) : [el('li', { class: 'muted', 'data-testid': 'inbox-empty' }, t(known ? 'inbox.none' : 'inbox.not_yet'))]));
    if (openId) {
      const node = list.querySelector(`[data-id="${CSS.escape(openId)}"]`);
      node?.scrollIntoView?.({ block: 'center' });
      node?.querySelector('button')?.focus({ preventScroll: true });
      openId = '';
    }
  }

  function row(n) {
    const open = expanded.has(n.id);
    const link = inAppLink(n.link);
    const go = link && link !== '/';
    const btn = el('button', {
      type: 'button', class: 'inbox-item', 'data-testid': 'inbox-open', 'aria-expanded': String(open),
    },
    el('span', { class: 'inbox-title' },
      n.read_at ? null : el('span', { class: 'unread-dot', 'aria-hidden': 'true' }),
      isUrgent(n) ? el('span', { class: 'badge badge-rejected', 'data-testid': 'inbox-urgent' }, t('inbox.urgent')) : null,
      n.title || ''),
    n.body ? el('span', { class: `inbox-body${open ? ' open' : ''}`, 'data-testid': 'inbox-body' }, n.body) : null,
    el('span', { class: 'inbox-meta' },
      [n.sender?.name || (has(`inbox.kind.${n.kind}`) ? t(`inbox.kind.${n.kind}`) : t('inbox.system')), fmtTime(n.created_at)].filter(Boolean).join(' · '),
      n.read_at ? el('span', { class: 'badge badge-done', 'data-testid': 'inbox-read' },
        n.read_local ? t('inbox.read_local') : t('inbox.read')) : el('span', { class: 'badge badge-pending' }, t('inbox.unread'))),
    go ? el('span', { class: 'inbox-go', 'data-testid': 'inbox-link' }, t('inbox.go')) : null);
    const errsRow = el('div', { class: 'errors row-errors' });
    btn.addEventListener('click', async () => {
      if (btn.disabled) return;
      btn.disabled = true;
      const ok = await markRead(n, errsRow);
      btn.disabled = false;
      if (!ok) return; // told in errsRow; the notice stays unread
      if (go) { location.assign(link); return; }
      if (expanded.has(n.id) && n.read_at) expanded.delete(n.id); else expanded.add(n.id);
      draw().catch(() => {});
    });
    return el('li', {
      class: `row inbox-row${n.read_at ? ' read' : ' unread'}${isUrgent(n) ? ' urgent' : ''}`,
      'data-testid': 'inbox-row', 'data-id': n.id, 'data-read': n.read_at ? 'true' : 'false',
      'data-urgency': n.urgency || 'normal',
    }, btn, errsRow);
  }

  refresh.addEventListener('click', async () => {
    refresh.disabled = true;
    put(errs);
    const ok = await fetchNotices();
    refresh.disabled = false;
    if (!ok && alive) errs.append(el('p', { class: 'warn', role: 'status', 'data-testid': 'inbox-refresh-failed' }, t('inbox.refresh_failed')));
  });
  const off = onChanged(() => draw().catch(() => {}));
  const onOffline = () => draw().catch(() => {});
  window.addEventListener('baodao:offline', onOffline);
  draw().catch(() => {});
  fetchNotices(); // opening the inbox is a moment to look for new ones
  return {
    node: root,
    cleanup: () => {
      alive = false;
      off();
      card.cleanup?.();
      window.removeEventListener('baodao:offline', onOffline);
    },
  };
}
