// views/community.js: the committee's lists for one community (online):
// #/community/<id>/cases: open isolation cases, attention first, and open deliveries by age;
// #/community/<id>/households: the households (masked), searchable by building and door.
import { t } from '../i18n.js';
import { api, el, showError, routine } from '../api.js';
import { put } from '../forms.js';
import { searchHouseholds } from '../local.js';

const enc = encodeURIComponent;

function back(id) {
  return el('a', { class: 'btn-secondary', href: `/#/dashboard/${enc(id)}`, 'data-testid': 'dashboard-back' }, t('community.back'));
}

export function communityCasesView(communityId) {
  const body = el('div', {}, el('p', { class: 'muted' }, t('loading')));
  const hideCases = routine(); // routine mode (常态化): isolation hidden, deliveries (services) stay
  const node = el('section', { class: 'community', 'data-testid': 'community-cases' },
    el('h1', {}, t(hideCases ? 'tasks.deliveries' : 'community.cases')), back(communityId), body);
  (async () => {
    try {
      const [cases, deliveries] = await Promise.all([
        hideCases ? { cases: [] } : api('GET', `/api/isolation/cases?place_id=${enc(communityId)}`),
        api('GET', `/api/deliveries?place_id=${enc(communityId)}`)]);
      const list = cases.cases || [];
      const open = deliveries.deliveries || [];
      put(body,
        hideCases ? null : el('h2', {}, t('community.cases'), ` (${list.length})`),
        hideCases ? null : el('ul', { class: 'list' }, list.length ? list.map((c) => el('li', {
          class: `row${c.attention ? ' row-flag' : ''}`, 'data-testid': 'case-row', 'data-id': c.id, 'data-attention': String(!!c.attention),
        }, el('div', { class: 'row-main' },
          el('div', { class: 'row-title' }, c.resident?.name || '', c.attention ? el('span', { class: 'badge badge-rejected', 'data-testid': 'case-attention' }, t('case.attention')) : null),
          el('div', { class: 'row-sub' }, [c.household?.address, t(`reason.${c.reason}`)].filter(Boolean).join(' · ')),
          el('div', { class: 'row-sub' }, t('case.period', { from: c.starts_on, to: c.planned_end }), ' · ', (c.cadres || []).map((x) => x.name).join('、')),
          c.attention_reason ? el('div', { class: 'row-sub' }, c.attention_reason) : null))) : el('li', { class: 'muted' }, t('dash.none'))),
        el('h2', {}, t('tasks.deliveries'), ` (${open.length})`),
        el('ul', { class: 'list' }, open.length ? open.map((d) => el('li', { class: 'row', 'data-testid': 'delivery-row', 'data-id': d.id },
          el('div', { class: 'row-main' },
            el('div', { class: 'row-title' }, `${t(`need.${d.kind}`)}：${d.what}`),
            el('div', { class: 'row-sub' }, [d.for_whom, d.address, t(`delivery.status.${d.status}`), t('delivery.age', { h: Math.round(d.age_hours ?? 0) })].filter(Boolean).join(' · '))))) : el('li', { class: 'muted' }, t('dash.none'))));
    } catch (err) {
      put(body);
      showError(body, err);
    }
  })();
  return { node };
}

export function communityHouseholdsView(communityId) {
  const body = el('ul', { class: 'list' }, el('li', { class: 'muted' }, t('loading')));
  const search = el('input', { type: 'search', placeholder: t('tasks.search_hint'), 'data-testid': 'community-household-search' });
  const node = el('section', { class: 'community', 'data-testid': 'community-households' },
    el('h1', {}, t('community.households')), back(communityId),
    el('label', { class: 'field search-field' }, el('span', { class: 'label' }, t('tasks.search')), search), body);
  let all = [];
  const render = () => {
    const shown = search.value.trim() ? searchHouseholds({ households: all }, search.value) : all;
    put(body, shown.length ? shown.map((h) => el('li', { class: 'row', 'data-testid': 'household-row', 'data-id': h.id },
      el('div', { class: 'row-main' },
        el('div', { class: 'row-title' }, h.address),
        el('div', { class: 'row-sub' }, [h.head_name, t('tasks.people', { n: h.residents_count ?? 0 }), h.is_rental ? t('tasks.rental') : null, h.phone].filter(Boolean).join(' · ')))))
      : el('li', { class: 'muted' }, t('dash.none')));
  };
  search.addEventListener('input', render);
  api('GET', `/api/households?place_id=${enc(communityId)}`).then((r) => { all = r.households || []; render(); }, (err) => { put(body); showError(body, err); });
  return { node };
}
