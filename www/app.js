// The demo storefront. The page owns the catalogue, the search and the drawing; fewclick runs in a
// Web Worker (the package's own worker entry) and sees only what a real store would give it: the
// displayed results' ids and prices (the model carries every product's vector) and the shopper's
// clicks and add-to-carts. Everything stays in this tab.
//
// Hooks for tests/e2e/run.mjs: body[data-state] is "loading", "ready" or "degraded";
// #results[data-version] increases after every render, with data-query and data-mode
// ("personalised" or "store"); body[data-search-check] is "ok" when this page's search agrees with
// the generator's (catalogue.queries).

import { checkAgainstGenerator, search } from './search.js';
import { productPicture } from './picture.js';

const $ = (selector) => document.querySelector(selector);
const price = new Intl.NumberFormat('en-GB', { style: 'currency', currency: 'GBP' });

const SIGNAL_LABELS = {
  engagement_log_count: 'You engaged with it',
  engagement_recency: 'How recently',
  is_last_engaged: 'Your latest engagement',
  impressions_log_count: 'Seen without opening',
  skips_log_count: 'Skipped',
  max_similarity_to_engaged: 'Closest match to your clicks',
  similarity_to_engaged_centroid: 'Match to your clicks overall',
  log_price_vs_engaged: 'Price vs. what you clicked',
  abs_log_price_vs_engaged: 'Price distance from your clicks',
  price_comparison_available: 'Price comparison possible',
  session_engagement_depth: 'Engagements so far',
  display_proximity_to_last_engaged: 'Shown near your latest click',
  shown_below_last_engaged: 'Shown below your latest click',
};

const state = {
  catalogue: undefined,
  byId: new Map(),
  colours: new Map(),
  reranker: undefined,
  query: '',
  /** Products of the current search, in the store's order. */
  store: [],
  /** Ids in the order shown. */
  shown: [],
  /** id → places moved up compared with the store's order. */
  moved: new Map(),
  personalise: true,
  version: 0,
  engaged: new Set(),
  cart: new Set(),
  cards: new Map(),
  readyAt: 0,
};

// Every action runs after the previous one, so clicks during a re-rank queue up in order.
let queue = Promise.resolve();
function enqueue(action) {
  queue = queue.then(action).catch(fail);
  return queue;
}

function fail(error) {
  console.error(error);
  showBanner(`Something went wrong: ${error && error.message ? error.message : String(error)}. The store keeps working with its own order.`);
}

function showBanner(text) {
  const banner = $('#banner');
  banner.textContent = text;
  banner.hidden = false;
}

let toastTimer;
function toast(text) {
  const t = $('#toast');
  t.textContent = text;
  t.classList.add('visible');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove('visible'), 2600);
}

// ---------------------------------------------------------------------------------------------
// Start-up

async function main() {
  const response = await fetch(new URL('./assets/catalogue.json', import.meta.url));
  if (!response.ok) throw new Error(`could not load the catalogue (HTTP ${response.status})`);
  const catalogue = await response.json();
  state.catalogue = catalogue;
  for (const p of catalogue.products) state.byId.set(p.id, p);
  for (const c of catalogue.colours) state.colours.set(c.name, c.hex);

  const wrong = checkAgainstGenerator(catalogue);
  document.body.dataset.searchCheck = wrong.length === 0 ? 'ok' : `mismatch: ${wrong.join(', ')}`;
  if (wrong.length > 0) console.warn('search differs from the generator for', wrong);

  buildSuggestions(catalogue);
  wireControls();
  watchRequests();
  $('#isolation').textContent = `Runs without cross-origin isolation (crossOriginIsolated: ${String(globalThis.crossOriginIsolated === true)}).`;

  try {
    // Imported here, not at the top: without the package the store still works, unpersonalised.
    const { createWorkerReranker, reasonText } = await import('./pkg/index.js');
    state.reasonText = reasonText;
    state.reranker = await createWorkerReranker(
      new URL('./pkg/worker.js', import.meta.url),
      new URL('./assets/demo.fcm', import.meta.url),
    );
    const info = await state.reranker.modelInfo();
    // The model carries every product's vector: the page sends ids and prices only.
    if (info.items === 0) throw new Error('the demo model carries no item table');
    showBackend(state.reranker.backend, state.reranker.gpuFallbackReason ?? null);
    $('#model-info').textContent = `${info.algorithm}, ${info.hidden} hidden units, ${info.steps} steps per update`;
  } catch (error) {
    console.error(error);
    state.reranker = undefined;
    $('#backend').textContent = 'unavailable';
    showBanner(`Personalisation is unavailable (${error.message}); showing the store's order.`);
  }

  const initial = new URLSearchParams(location.search).get('q') ?? '';
  $('#q').value = initial;
  await runSearch(initial);
  state.readyAt = performance.now();
  document.body.dataset.state = state.reranker ? 'ready' : 'degraded';
  updatePrivacy();
}

function buildSuggestions(catalogue) {
  const nav = $('#suggestions');
  const queries = Object.keys(catalogue.queries);
  const categories = catalogue.categories.map((c) => c.plural.toLowerCase());
  const ordered = [...categories, ...queries.filter((q) => !categories.includes(q))];
  for (const q of ordered) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'chip';
    b.textContent = q;
    b.addEventListener('click', () => {
      $('#q').value = q;
      enqueue(() => runSearch(q));
    });
    nav.append(b);
  }
}

function wireControls() {
  $('#search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const q = $('#q').value;
    enqueue(() => runSearch(q));
  });
  $('#personalise').addEventListener('change', (event) => {
    const on = event.target.checked;
    enqueue(async () => {
      state.personalise = on;
      $('#personalise-state').textContent = on ? 'on' : 'off';
      document.body.classList.toggle('store-order', !on);
      await refresh();
      toast(on ? 'Personalisation on: your clicks re-rank the results.' : 'Personalisation off: the store’s own order, and nothing is recorded.');
    });
  });
  $('#forget').addEventListener('click', () =>
    enqueue(async () => {
      state.engaged.clear();
      state.cart.clear();
      $('#cart-count').textContent = '0';
      for (const card of state.cards.values()) card.classList.remove('engaged', 'in-cart');
      if (state.reranker) await state.reranker.forget();
      await runSearch(state.query);
      toast('Forgotten: the reranker holds no events about you.');
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Search, events, ranking

async function runSearch(query) {
  const products = search(state.catalogue, query, state.catalogue.resultsPerPage);
  state.query = query;
  state.store = products;
  const title = query.trim() === '' ? 'Popular right now' : `${products.length} results for “${query.trim()}”`;
  $('#results-title').textContent = products.length === 0 ? `Nothing found for “${query.trim()}”` : title;
  const url = new URL(location.href);
  if (query) url.searchParams.set('q', query);
  else url.searchParams.delete('q');
  history.replaceState(null, '', url);
  if (state.reranker && products.length > 0) {
    await state.reranker.setResults({ ids: products.map((p) => p.id), prices: products.map((p) => p.price) });
  }
  await refresh();
}

async function record(id, type) {
  const product = state.byId.get(id);
  if (!state.personalise) {
    toast(`Personalisation is off: “${product.name}” was not recorded.`);
    return;
  }
  if (!state.reranker) return;
  await state.reranker.record({ item: id, type, timestamp: Date.now() });
  state.engaged.add(id);
  state.cards.get(id)?.classList.add('engaged');
  if (type === 'cart') {
    state.cart.add(id);
    state.cards.get(id)?.classList.add('in-cart');
    $('#cart-count').textContent = String(state.cart.size);
  }
  // freezeAbove: everything above the item just engaged with stays where it is, so the list never
  // moves under the shopper's cursor; only what is below it is re-ranked.
  const ms = await refresh({ freezeAbove: id });
  const verb = type === 'cart' ? 'Added to cart' : 'Viewed';
  toast(`${verb}: ${product.name}. Re-ranked below it on this device in ${ms.toFixed(2)} ms; what is above stays put.`);
}

/** The store's featured slot: the first result stays first (the package's pinTop). */
const FEATURED = 1;

/** Re-ranks (or restores the store's order) and renders; returns the wasm time in ms.
 * `stability`: more rank options ({ freezeAbove }); the featured slot is always pinned. */
async function refresh(stability) {
  const storeIds = state.store.map((p) => p.id);
  let ids = storeIds;
  let moved = new Map();
  let adaptMs = 0;
  if (state.personalise && state.reranker && storeIds.length > 0) {
    const t0 = performance.now();
    // rankAsync: WebGPU where the package's calibration finds it faster (never for a page of 24
    // results in practice), else the CPU kernels; rank() with packages that predate it.
    const ranking =
      typeof state.reranker.rankAsync === 'function'
        ? await state.reranker.rankAsync('auto', { pinTop: FEATURED, ...stability })
        : await state.reranker.rank({ pinTop: FEATURED, ...stability });
    const roundTrip = performance.now() - t0;
    ids = ranking.ids;
    adaptMs = ranking.adaptMs;
    ids.forEach((id, k) => moved.set(id, ranking.moved[k]));
    $('#latency').textContent = ranking.adapted
      ? `${ranking.adaptMs.toFixed(2)} ms in wasm · ${roundTrip.toFixed(1)} ms round trip`
      : `no events yet · ${roundTrip.toFixed(1)} ms round trip`;
    $('#latency').dataset.ms = String(ranking.adaptMs);
    showBackend(ranking.backend, ranking.fallbackReason ?? state.reranker.gpuFallbackReason ?? null);
  } else if (!state.personalise) {
    $('#latency').textContent = 'off: store order';
  }
  $('#events').textContent = String(state.reranker ? state.reranker.eventCount : 0);
  state.shown = ids;
  state.moved = moved;
  render();
  updatePrivacy();
  return adaptMs;
}

/** The backend that scored the last ranking, and why WebGPU was not used (as a tooltip). */
function showBackend(backend, gpuFallbackReason) {
  const el = $('#backend');
  el.textContent = backend;
  el.title = backend === 'webgpu'
    ? 'Scored on the GPU through WebGPU'
    : `CPU kernels in WebAssembly${gpuFallbackReason ? ` (WebGPU not used: ${gpuFallbackReason})` : ' (WebGPU is used only where it is faster: large result sets)'}`;
}

// ---------------------------------------------------------------------------------------------
// Rendering

function cardFor(product) {
  let card = state.cards.get(product.id);
  if (card) return card;
  card = document.createElement('li');
  card.className = 'card';
  card.dataset.id = product.id;
  card.dataset.brand = product.brand;
  card.dataset.category = product.category;

  const view = document.createElement('button');
  view.type = 'button';
  view.className = 'view';
  view.setAttribute('aria-label', `View ${product.name}`);
  view.append(productPicture(product, state.colours));

  const badge = document.createElement('span');
  badge.className = 'badge';

  const title = document.createElement('h3');
  const titleButton = document.createElement('button');
  titleButton.type = 'button';
  titleButton.className = 'view-title';
  titleButton.textContent = product.name;
  title.append(titleButton);

  const meta = document.createElement('p');
  meta.className = 'meta';
  meta.textContent = `${product.brand} · ${product.colour} · ${product.size}`;

  const cost = document.createElement('p');
  cost.className = 'price';
  cost.textContent = price.format(product.price);

  const was = document.createElement('p');
  was.className = 'was';

  const actions = document.createElement('div');
  actions.className = 'actions';
  const add = document.createElement('button');
  add.type = 'button';
  add.className = 'add';
  add.textContent = 'Add to cart';
  const why = document.createElement('button');
  why.type = 'button';
  why.className = 'why';
  why.textContent = 'Why here?';
  actions.append(add, why);

  const onView = () => enqueue(() => record(product.id, 'click'));
  view.addEventListener('click', onView);
  titleButton.addEventListener('click', onView);
  add.addEventListener('click', () => enqueue(() => record(product.id, 'cart')));
  why.addEventListener('click', () => enqueue(() => explain(product.id)));

  card.append(view, badge, title, meta, cost, was, actions);
  state.cards.set(product.id, card);
  return card;
}

function render() {
  const grid = $('#results');
  // FLIP: remember where each card was, move the cards, then animate from old to new places.
  const before = new Map();
  for (const card of grid.children) before.set(card.dataset.id, card.getBoundingClientRect());
  const storeIndex = new Map(state.store.map((p, i) => [p.id, i]));
  const cards = state.shown.map((id, position) => {
    const card = cardFor(state.byId.get(id));
    const m = state.moved.get(id) ?? 0;
    card.dataset.position = String(position);
    card.dataset.moved = String(m);
    card.classList.toggle('moved-up', m > 0);
    card.classList.toggle('moved-down', m < 0);
    const badge = card.querySelector('.badge');
    const featured = position < FEATURED && state.personalise && state.reranker;
    card.classList.toggle('featured', Boolean(featured));
    badge.textContent = featured ? 'Featured' : m > 0 ? `▲ ${m}` : m < 0 ? `▼ ${-m}` : '';
    badge.title = featured
      ? 'The store pins its featured product first: personalisation never moves it'
      : m > 0 ? `Moved up ${m} places for you` : m < 0 ? `Moved down ${-m} places` : '';
    card.querySelector('.was').textContent = m !== 0 ? `Store position #${storeIndex.get(id) + 1}` : '';
    return card;
  });
  grid.replaceChildren(...cards);
  const reduce = matchMedia('(prefers-reduced-motion: reduce)').matches;
  if (!reduce) {
    for (const card of cards) {
      const old = before.get(card.dataset.id);
      if (!old) continue;
      const now = card.getBoundingClientRect();
      const dx = old.left - now.left;
      const dy = old.top - now.top;
      if (dx !== 0 || dy !== 0) {
        card.animate([{ transform: `translate(${dx}px, ${dy}px)` }, { transform: 'translate(0, 0)' }], {
          duration: 450,
          easing: 'cubic-bezier(.2,.7,.2,1)',
        });
      }
    }
  }
  renderCompare(storeIndex);
  grid.dataset.query = state.query;
  grid.dataset.mode = state.personalise && state.reranker ? 'personalised' : 'store';
  grid.dataset.version = String(++state.version);
}

function renderCompare(storeIndex) {
  const row = (id, mark) => {
    const p = state.byId.get(id);
    const li = document.createElement('li');
    const swatch = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    swatch.setAttribute('viewBox', '0 0 10 10');
    swatch.setAttribute('class', 'swatch');
    const dot = document.createElementNS('http://www.w3.org/2000/svg', 'circle');
    dot.setAttribute('cx', '5');
    dot.setAttribute('cy', '5');
    dot.setAttribute('r', '5');
    dot.setAttribute('fill', state.colours.get(p.colour) ?? '#888');
    swatch.append(dot);
    const text = document.createElement('span');
    text.textContent = `${p.brand} ${p.name.split(' ').slice(1).join(' ').replace(/,.*/, '')}`;
    li.append(swatch, text);
    if (mark) {
      const m = document.createElement('span');
      m.className = `mark ${mark.className}`;
      m.textContent = mark.text;
      li.append(m);
    }
    if (state.engaged.has(id)) li.classList.add('engaged');
    return li;
  };
  const n = 10;
  $('#before').replaceChildren(...state.store.slice(0, n).map((p) => row(p.id)));
  $('#after').replaceChildren(
    ...state.shown.slice(0, n).map((id, k) => {
      const m = storeIndex.get(id) - k;
      return row(id, m > 0 ? { text: `▲${m}`, className: 'up' } : m < 0 ? { text: `▼${-m}`, className: 'down' } : undefined);
    }),
  );
}

async function explain(id) {
  const product = state.byId.get(id);
  const dialog = $('#explain');
  $('#explain-title').textContent = `Why is “${product.name}” here?`;
  const reasons = $('#explain-reasons');
  const body = $('#explain-signals tbody');
  if (!state.reranker) {
    $('#explain-position').textContent = 'Personalisation is unavailable: this is the store’s order.';
    reasons.replaceChildren();
    body.replaceChildren();
    dialog.showModal();
    return;
  }
  const ex = await state.reranker.explain(id);
  const now = state.shown.indexOf(id) + 1;
  const storePos = ex.displayPosition + 1;
  $('#explain-position').textContent =
    `Store position #${storePos}, shown at #${now}` +
    (state.personalise ? '' : ' (personalisation is off, so the store’s order is shown)') +
    ` · model score ${ex.score.toFixed(3)}`;
  reasons.replaceChildren(
    ...ex.reasons.map((r) => {
      const li = document.createElement('li');
      li.textContent = state.reasonText(r);
      return li;
    }),
  );
  const maxAbs = Math.max(1e-6, ...ex.signals.map((s) => Math.abs(s.contribution)));
  const signals = [...ex.signals].sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution));
  body.replaceChildren(
    ...signals.map((s) => {
      const tr = document.createElement('tr');
      const name = document.createElement('th');
      name.scope = 'row';
      name.textContent = SIGNAL_LABELS[s.name] ?? s.name;
      name.title = s.name;
      const value = document.createElement('td');
      value.textContent = s.value.toFixed(2);
      const effect = document.createElement('td');
      effect.append(bar(s.contribution / maxAbs), document.createTextNode(` ${s.contribution >= 0 ? '+' : '−'}${Math.abs(s.contribution).toFixed(3)}`));
      tr.append(name, value, effect);
      if (s.contribution === 0 && s.value === 0) tr.className = 'quiet';
      return tr;
    }),
  );
  dialog.showModal();
}

/** A signed bar (−1..1) as SVG: green to the right, red to the left. */
function bar(x) {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 100 10');
  svg.setAttribute('class', 'bar');
  const axis = document.createElementNS(NS, 'rect');
  axis.setAttribute('x', '49.5');
  axis.setAttribute('y', '0');
  axis.setAttribute('width', '1');
  axis.setAttribute('height', '10');
  axis.setAttribute('fill', '#999');
  const w = Math.min(50, Math.abs(x) * 50);
  const r = document.createElementNS(NS, 'rect');
  r.setAttribute('x', String(x >= 0 ? 50 : 50 - w));
  r.setAttribute('y', '2');
  r.setAttribute('width', String(w));
  r.setAttribute('height', '6');
  r.setAttribute('fill', x >= 0 ? '#2f7d4a' : '#b0532b');
  svg.append(axis, r);
  return svg;
}

// ---------------------------------------------------------------------------------------------
// Privacy: what this page has requested, from where

const violations = [];

function watchRequests() {
  document.addEventListener('securitypolicyviolation', (event) => {
    violations.push(`${event.violatedDirective} ${event.blockedURI}`);
    updatePrivacy();
  });
  if (typeof PerformanceObserver === 'function') {
    new PerformanceObserver(() => updatePrivacy()).observe({ type: 'resource', buffered: true });
  }
}

function updatePrivacy() {
  const entries = performance.getEntriesByType('resource');
  const foreign = entries.filter((e) => new URL(e.name, location.href).origin !== location.origin);
  const afterReady = state.readyAt > 0 ? entries.filter((e) => e.startTime > state.readyAt).length : 0;
  const el = $('#privacy');
  const text = $('#privacy-text');
  if (foreign.length > 0 || violations.length > 0) {
    el.classList.add('alarm');
    text.textContent = `${foreign.length} request(s) to other sites, ${violations.length} blocked`;
    el.title = [...foreign.map((e) => e.name), ...violations].join('\n');
    return;
  }
  el.classList.remove('alarm');
  text.textContent = `Nothing about you has left this device · ${entries.length + 1} downloads, all from ${location.host} · ${afterReady} requests since start-up`;
  el.title =
    'Every file this page loaded came from this site (the worker fetched the wasm and the model the same way). ' +
    'Your clicks stay in the worker’s memory; the page’s Content-Security-Policy forbids requests to any other site.';
  el.dataset.requestsAfterReady = String(afterReady);
}

main().catch((error) => {
  fail(error);
  document.body.dataset.state = 'degraded';
});
