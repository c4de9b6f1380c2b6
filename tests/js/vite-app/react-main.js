// fewclick/react in a bundled React 19 app, in headless Chromium (tests/js/vite.test.mjs): a
// shelf ranked by useReranker, clicked, given new and bad results, a new model, unmounted.
import { createElement as h, StrictMode } from 'react';
import { flushSync } from 'react-dom';
import { createRoot } from 'react-dom/client';
import { syntheticModel } from 'fewclick';
import { Shelf, seen } from './shelf.js';

const shown = () => [...document.querySelectorAll('#shelf li')].map((li) => li.dataset.id);
const codeOf = (fn) => {
  try {
    fn();
    return 'none';
  } catch (e) {
    return e.code ?? String(e);
  }
};
/** Whether the hook's reranker has no ranking pending (its getters throw BUSY meanwhile). */
const idle = (r) => r !== null && codeOf(() => r.eventCount) === 'none';

async function until(what, condition, ms = 30_000) {
  const t0 = performance.now();
  while (!condition()) {
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what} (shown: ${shown().slice(0, 5).join()}…, status ${seen.hook?.status}, error ${seen.hook?.error?.code})`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function results(n, offset = 0) {
  const ids = Array.from({ length: n }, (_, i) => `sku-${i + offset}`);
  const features = Float32Array.from({ length: n * 16 }, (_, k) => Math.sin((k + offset * 16) * 0.37));
  const prices = Float32Array.from({ length: n }, (_, i) => 10 + ((i * 37) % 90));
  return { ids, features, featureNames: Array.from({ length: 16 }, (_, i) => `f${i}`), prices };
}

async function main() {
  const out = {};
  const options = { scope: 'all', steps: 5, backend: 'cpu' };
  const model = await syntheticModel(16, 32, 5);
  const list = results(40);
  const root = createRoot(document.getElementById('app'));
  // StrictMode: effects run, are cleaned up and run again on mount, as in development.
  const render = (props) => root.render(h(StrictMode, null, h(Shelf, props)));

  // Before the reranker exists, and before any event: the host's order.
  render({ model, results: list, options });
  await until('the first render', () => shown().length === 40);
  out.hostOrderWhileLoading = shown().join() === list.ids.join();
  await until('ready', () => seen.hook.status === 'ready' && idle(seen.hook.reranker));
  const first = seen.hook.reranker;
  out.noEventsHostOrder = shown().join() === list.ids.join();

  // Three clicks in one task: the second and third arrive while the first one's ranking is
  // pending and are queued by the reranker; a ranking with all three follows.
  for (const id of ['sku-30', 'sku-31', 'sku-35']) {
    document.querySelector(`[data-id="${id}"]`).click();
    if (id === 'sku-30') out.pendingAfterFirstClick = codeOf(() => first.eventCount);
  }
  await until('three events ranked', () => idle(first) && first.eventCount === 3 && shown().join() === first.rank().ids.join());
  out.clicksReordered = shown().join() !== list.ids.join();
  out.clicksPermutation = [...shown()].sort().join() === [...list.ids].sort().join();

  // The same arrays in a new object: no change (no setResults, no re-render loop).
  const setResults = first.setResults;
  let handed = 0;
  first.setResults = function (...args) {
    handed++;
    return setResults.apply(this, args);
  };
  const renders = seen.renders;
  render({ model, results: { ...list }, options: { ...options } });
  await new Promise((resolve) => setTimeout(resolve, 100));
  out.sameResultsRenders = seen.renders - renders; // this render, doubled by StrictMode
  out.sameReranker = seen.hook.reranker === first;
  out.sameResultsHanded = handed;

  // New results: shown at once in the host's order, then ranked with the session's events.
  const next = results(25, 100);
  render({ model, results: next, options });
  await until('the new results', () => shown().length === 25 && shown().every((id, i) => id.startsWith('sku-1')));
  await until('the new results ranked', () => idle(first) && shown().join() === first.rank().ids.join());
  out.newResultsRanked = shown().join() !== next.ids.join();
  out.newResultsHanded = handed;

  // Bad results: the error, and the host's order of those results.
  const bad = { ids: ['a', 'b', 'c'], features: new Float32Array(3), featureNames: Array.from({ length: 16 }, (_, i) => `f${i}`) };
  render({ model, results: bad, options });
  await until('the error', () => seen.hook.error !== null);
  out.badResultsError = seen.hook.error.code;
  out.badResultsShown = shown().join();
  out.badResultsStatus = seen.hook.status;
  render({ model, results: next, options });
  await until('recovery', () => seen.hook.error === null && idle(first) && shown().join() === first.rank().ids.join());
  out.recovered = true;
  seen.hook.record({ item: 'sku-101', type: 'teleport' });
  await until('the event error', () => seen.hook.error !== null);
  out.badEventError = seen.hook.error.code;

  // A new model (by URL, checked with integrity): the old reranker is freed, a new one made,
  // and a click while it loads is kept and applied once it has.
  const bytes = await (await fetch('/model.fcm')).arrayBuffer();
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-384', bytes));
  const integrity = `sha384-${btoa(String.fromCharCode(...digest))}`;
  flushSync(() => render({ model: '/model.fcm', results: next, options: { ...options, integrity } }));
  out.loadingStatus = seen.hook.status;
  out.loadingReranker = seen.hook.reranker;
  out.loadingShowsHostOrder = shown().join() === next.ids.join();
  document.querySelector('[data-id="sku-110"]').click(); // before the model has loaded
  await until('the new reranker', () => seen.hook.status === 'ready' && idle(seen.hook.reranker));
  const second = seen.hook.reranker;
  out.newReranker = second !== first && second !== null;
  await until('the early click applied', () => idle(second) && second.eventCount === 1);
  out.earlyClickApplied = true;
  out.oldFreed = codeOf(() => first.rank());

  // A model whose bytes do not match: status error, INTEGRITY.
  render({ model: '/model.fcm', results: next, options: { ...options, integrity: `sha256-${btoa(String.fromCharCode(...new Uint8Array(32)))}` } });
  await until('the integrity error', () => seen.hook.status === 'error');
  out.integrityError = seen.hook.error.code;
  out.integrityErrorShown = shown().join() === next.ids.join();
  out.secondFreed = codeOf(() => second.rank());

  // Unmounting while a ranking is pending frees the reranker once it settles.
  render({ model, results: next, options });
  await until('ready again', () => seen.hook.status === 'ready' && idle(seen.hook.reranker));
  const third = seen.hook.reranker;
  document.querySelector('[data-id="sku-105"]').click();
  out.pendingAtUnmount = codeOf(() => third.eventCount);
  root.unmount();
  await until('freed after unmount', () => codeOf(() => third.rank()) === 'FREED');
  out.unmountFreed = true;
  return out;
}

main().then(
  (result) => {
    window.__reactResult = { ok: true, result };
    document.getElementById('out').textContent = JSON.stringify(result);
  },
  (error) => {
    window.__reactResult = { ok: false, error: String((error && error.stack) || error) };
  },
);
