// Runs in headless Chromium (tests/js/browser.test.mjs): imports the installed package's browser
// entry, ranks on the main thread and in a Web Worker, and publishes what it saw in
// window.__fewclickResult.
import {
  cpuKernels,
  createReranker,
  createWorkerReranker,
  FewclickError,
  init,
  syntheticModel,
} from '../node_modules/fewclick/index.js';

const violations = [];
document.addEventListener('securitypolicyviolation', (e) => violations.push(`${e.violatedDirective} ${e.blockedURI}`));

function results(n) {
  return {
    ids: Array.from({ length: n }, (_, i) => `sku-${i}`),
    features: Float32Array.from({ length: n * 16 }, (_, i) => Math.sin(i * 0.37)),
    featureNames: Array.from({ length: 16 }, (_, i) => `f${i}`),
  };
}

function isPermutation(ids, of) {
  return ids.length === of.length && [...ids].sort().join() === [...of].sort().join();
}

/** The same ranking up to float rounding: every item's score within tol·(1 + |score|) of the
 * other's, and any two items that trade places within that of each other. */
function sameRanking(a, b, tol = 1e-4) {
  const score = new Map(Array.from(b.ids, (id, k) => [id, b.scores[k]]));
  const close = (x, y) => Math.abs(x - y) <= tol * (1 + Math.abs(y));
  return (
    a.ids.length === b.ids.length &&
    Array.from(a.ids).every((id, k) => close(a.scores[k], score.get(id)) && (id === b.ids[k] || close(score.get(id), b.scores[k])))
  );
}

async function errorCode(fn) {
  try {
    await fn();
    return 'no error';
  } catch (e) {
    return e instanceof FewclickError ? e.code : `not a FewclickError: ${e}`;
  }
}

async function run() {
  const out = { crossOriginIsolated: globalThis.crossOriginIsolated === true };
  // ?build=cpu: the page (and its worker) ask for a CPU-only build.
  const wanted = new URLSearchParams(location.search).get('build');
  const initOptions = wanted === null ? undefined : { build: wanted };
  out.build = await init(initOptions);
  out.kernels = await cpuKernels();

  // Main thread, model as bytes.
  const r = await createReranker(await syntheticModel(16, 32, 1));
  const res = results(100);
  r.setResults(res);
  out.noEventsIsDisplayOrder = r.rank().ids.join() === res.ids.join();
  // Explicit timestamps: the session replayed after reset() below must be the same session, and
  // time between events is a session feature (page-clock stamps would differ by however long the
  // calls in between took).
  const t0 = Date.now() + 1000;
  const replay = [
    { item: 'sku-60', type: 'click', timestamp: t0 },
    { item: 'sku-61', type: 'click', timestamp: t0 + 2000 },
    { item: 'sku-70', type: 'cart', timestamp: t0 + 5000 },
  ];
  r.record(replay[0]);
  r.record(replay[1]);
  const ranking = r.rank();
  out.mainPermutation = isPermutation(ranking.ids, res.ids);
  out.mainFinite = ranking.scores.every(Number.isFinite);
  out.mainBackend = ranking.backend;
  out.mainError = await errorCode(() => r.setResults({ ...res, features: res.features.subarray(3) }));
  const asyncRanking = await r.rankAsync();
  out.mainAsyncSame = asyncRanking.ids.join() === ranking.ids.join();
  out.mainAsyncBackend = asyncRanking.backend;
  // Forced onto WebGPU: the gpu build ranks there (SwiftShader here), a CPU build says why not.
  r.record(replay[2]);
  const cpuAfterCart = r.rank();
  r.reset();
  for (const event of replay) r.record(event);
  const forced = await r.rankAsync('webgpu'); // the inner loop runs again, on the GPU
  out.webgpuBackend = forced.backend;
  out.webgpuReason = forced.fallbackReason;
  out.webgpuAdapted = forced.adapted;
  out.webgpuSame = sameRanking(forced, cpuAfterCart);
  // record() while a rankAsync() is pending (on WebGPU with the gpu build: a real wait) is
  // queued for the next ranking; the pending one ranks the session as it was.
  const eventsBefore = r.eventCount;
  const inFlight = r.rankAsync('webgpu');
  r.record({ item: 'sku-10', type: 'cart', timestamp: t0 + 6000 });
  out.pendingRank = await errorCode(() => r.rank());
  const snapshot = await inFlight;
  out.queuedApplied = r.eventCount === eventsBefore + 1;
  out.snapshotSame = sameRanking(snapshot, forced);
  out.queuedInNext = !sameRanking(r.rank(), snapshot);
  r.free();

  // Main thread, model by URL (relative to the page).
  const byUrl = await createReranker('model.fcm');
  out.urlModelItemDim = byUrl.itemDim;
  byUrl.free();
  out.missingModel = await errorCode(() => createReranker('missing.fcm'));

  // Everything so far needed none of the modules the package imports on demand: the test checks
  // that the requests made before this marker (a 404) fetched none of them.
  await fetch('on-demand-marker').catch(() => {});

  // integrity, with WebCrypto (127.0.0.1 is a secure context).
  const base64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)));
  const modelBytes = await (await fetch('model.fcm')).arrayBuffer();
  const sha384 = `sha384-${base64(await crypto.subtle.digest('SHA-384', modelBytes))}`;
  const wrong = `sha256-${base64(new Uint8Array(32))}`;
  const checked = await createReranker('model.fcm', { integrity: `${wrong} ${sha384}` });
  out.integrityItemDim = checked.itemDim;
  checked.free();
  out.integrityMismatch = await errorCode(() => createReranker('model.fcm', { integrity: wrong }));
  out.integrityMalformed = await errorCode(() => createReranker('model.fcm', { integrity: 'sha384' }));
  const workerScript = new URL('../node_modules/fewclick/worker.js', import.meta.url);
  out.workerIntegrityMismatch = await errorCode(() => createWorkerReranker(workerScript, 'model.fcm', { integrity: wrong }, initOptions));

  // In a module worker started from the package's worker.js; model URL resolved against the page.
  const w = await createWorkerReranker(workerScript, 'model.fcm', { steps: 5, integrity: sha384 }, initOptions);
  out.workerItemDim = w.itemDim;
  await w.setResults(res);
  out.workerNoEvents = (await w.rank()).ids.join() === res.ids.join();
  await w.record({ item: 'sku-99', type: 'click' });
  const wr = await w.rank();
  out.workerPermutation = isPermutation(wr.ids, res.ids);
  out.workerFinite = wr.scores.every(Number.isFinite) && wr.scores instanceof Float32Array;
  out.workerBackend = w.backend;
  out.workerEventCount = w.eventCount;
  out.workerLastAdaptMs = w.lastAdaptMs === wr.adaptMs;
  out.workerError = await errorCode(() => w.record({ item: 'sku-1', type: 'teleport' }));
  out.workerUnknownItem = await errorCode(() => w.explain('nope'));
  out.workerStillWorks = isPermutation((await w.rank()).ids, res.ids);
  // Sent back to back without awaiting: the worker runs them in order, never BUSY.
  const [wa, wsync] = await Promise.all([w.rankAsync(), w.rank()]);
  out.workerAsyncSame = wa.ids.join() === wsync.ids.join();
  const wgpu = await w.rankAsync('webgpu');
  out.workerWebgpuBackend = wgpu.backend;
  out.workerWebgpuSame = sameRanking(wgpu, wsync);
  // A record() made while a rankAsync() is in flight counts for the next ranking, not that one.
  const wCount = w.eventCount;
  const [wBefore, , wAfter] = await Promise.all([w.rankAsync(), w.record({ item: 'sku-5', type: 'cart' }), w.rank()]);
  out.workerQueued = w.eventCount === wCount + 1 && sameRanking(wBefore, wsync) && !sameRanking(wAfter, wsync);
  await w.free();
  out.workerFreed = await errorCode(() => w.rank());

  // Model bytes to a worker: the caller's buffer stays usable (the package sends a copy).
  const bytes = await syntheticModel(16, 32, 4);
  const length = bytes.byteLength;
  const wb = await createWorkerReranker(new URL('../node_modules/fewclick/worker.js', import.meta.url), bytes.subarray(0), undefined, initOptions);
  out.workerBytesModel = wb.itemDim === 16 && bytes.byteLength === length;
  await wb.free();

  out.cspViolations = violations;
  return out;
}

run().then(
  (result) => {
    window.__fewclickResult = { ok: true, result };
    document.getElementById('out').textContent = JSON.stringify(result, null, 2);
  },
  (e) => {
    window.__fewclickResult = { ok: false, error: `${e && e.code ? e.code + ': ' : ''}${e && e.stack ? e.stack : e}` };
  },
);
