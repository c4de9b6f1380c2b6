// The packed npm package, installed from its tarball into a scratch project, used from Node the
// way a customer would (`import … from 'fewclick'`). scripts/test-js.sh copies this file into the
// scratch project and runs it there with `node --test`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import {
  ERROR_CODES,
  FewclickError,
  cpuKernels,
  createReranker,
  gpuStatus,
  init,
  isFewclickError,
  simdSupported,
  syntheticModel,
  webgpuAvailable,
  version,
} from 'fewclick';

const ITEM_DIM = 16;
/** syntheticModel's feature names: f0, f1, … */
const NAMES = Array.from({ length: ITEM_DIM }, (_, i) => `f${i}`);
const pkgJson = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('fewclick/package.json'), 'utf8'));

/** Deterministic results: n items with features in [-1, 1) and prices. */
function results(n, seed = 1) {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return {
    ids: Array.from({ length: n }, (_, i) => `sku-${i}`),
    features: Float32Array.from({ length: n * ITEM_DIM }, () => rand() * 2 - 1),
    featureNames: NAMES,
    prices: Float32Array.from({ length: n }, () => 10 + rand() * 190),
  };
}

async function freshReranker(options) {
  return createReranker(await syntheticModel(ITEM_DIM, 32, 1), options);
}

function assertPermutation(ranking, ids) {
  assert.equal(ranking.ids.length, ids.length);
  assert.deepEqual([...ranking.ids].sort(), [...ids].sort());
  assert.deepEqual([...ranking.order].sort((a, b) => a - b), ids.map((_, i) => i));
  assert.deepEqual(ranking.ids, [...ranking.order].map((i) => ids[i]));
  assert.equal(ranking.scores.length, ids.length);
  assert.ok(ranking.scores.every(Number.isFinite), 'every score is finite');
}

/** Runs `fn`, expects a FewclickError with `code`. */
function assertCode(fn, code) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof FewclickError, `expected a FewclickError, got ${e}`);
    assert.ok(isFewclickError(e));
    assert.equal(e.code, code, e.message);
    return true;
  });
}

async function assertRejectsCode(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof FewclickError, `expected a FewclickError, got ${e}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

test('the Node entry loads the SIMD build and reports its version', async () => {
  assert.equal(simdSupported(), true, 'Node 20 runs wasm simd128');
  assert.equal(await init(), 'simd');
  assert.equal(await cpuKernels(), 'cpu-simd128');
  assert.equal(await version(), pkgJson.version);
  assert.ok(ERROR_CODES.includes('DIMENSION_MISMATCH'));
});

test('syntheticModel(16, 32, 1) is a model file createReranker accepts, as bytes or ArrayBuffer', async () => {
  const bytes = await syntheticModel(ITEM_DIM, 32, 1);
  assert.ok(bytes instanceof Uint8Array && bytes.length > 100);
  for (const model of [bytes, bytes.slice().buffer]) {
    const r = await createReranker(model);
    assert.equal(r.itemDim, ITEM_DIM);
    assert.equal(r.backend, 'cpu-simd128');
    const info = r.modelInfo();
    // A plain object with exactly these keys (the wasm side writes it as a map with string keys).
    assert.equal(Object.getPrototypeOf(info), Object.prototype);
    assert.deepEqual(Object.keys(info), ['algorithm', 'itemDim', 'hidden', 'steps', 'scope', 'loss', 'featureNames', 'items']);
    assert.equal(info.itemDim, ITEM_DIM);
    assert.equal(info.hidden, 32);
    assert.ok(Array.isArray(info.featureNames) && info.featureNames.every((n) => typeof n === 'string'));
    assert.equal(info.featureNames.length, ITEM_DIM);
    assert.equal(typeof info.algorithm, 'string');
    assert.ok(['head', 'all'].includes(info.scope), info.scope);
    assert.ok(Number.isInteger(info.steps) && Number.isInteger(info.items), JSON.stringify(info));
    r.free();
  }
});

test('with no events the ranking is the display order exactly', async () => {
  const r = await freshReranker();
  const res = results(50);
  r.setResults(res);
  const ranking = r.rank();
  assert.deepEqual(ranking.ids, res.ids);
  assert.deepEqual([...ranking.order], res.ids.map((_, i) => i));
  assert.ok(ranking.moved.every((m) => m === 0));
  assert.equal(ranking.adapted, false);
  r.free();
});

test('after clicks, rank() returns a permutation of the ids with finite scores', async () => {
  const r = await freshReranker({ scope: 'all', steps: 5 });
  const res = results(200, 7);
  r.setResults(res);
  for (const item of ['sku-150', 'sku-3', 'sku-150', 'sku-77']) r.record({ item, type: 'click' });
  r.record({ item: 'sku-10', type: 'skip' });
  r.record({ item: 'sku-77', type: 'dwell', dwellMs: 4000, timestamp: Date.now() });
  assert.equal(r.eventCount, 6);
  const ranking = r.rank();
  assertPermutation(ranking, res.ids);
  assert.equal(ranking.adapted, true);
  assert.equal(ranking.backend, 'cpu-simd128');
  assert.ok(ranking.adaptMs >= 0 && r.lastAdaptMs === ranking.adaptMs);
  assert.equal(ranking.moved.reduce((a, b) => a + b, 0), 0, 'moves up and down balance');
  const ex = r.explain('sku-150');
  assert.equal(ex.id, 'sku-150');
  assert.equal(ex.displayPosition, 150);
  assert.ok(Number.isFinite(ex.score));
  assert.ok(ex.signals.length > 0 && ex.signals.every((s) => typeof s.name === 'string' && Number.isFinite(s.contribution)));
  assert.ok(ex.reasons.length > 0);
  r.free();
});

test('bad input throws the right code, changes nothing, and the next valid call works', async () => {
  const r = await freshReranker();
  assertCode(() => r.rank(), 'NO_RESULTS');
  const res = results(30, 3);
  r.setResults(res);
  r.record({ item: 'sku-20', type: 'click' });
  const before = r.rank();

  assertCode(() => r.setResults({ ...res, features: res.features.subarray(1) }), 'DIMENSION_MISMATCH');
  const nan = res.features.slice();
  nan[17] = Number.NaN;
  assertCode(() => r.setResults({ ...res, features: nan }), 'NON_FINITE');
  assertCode(() => r.setResults({ ...res, ids: res.ids.map((id, i) => (i === 5 ? 'sku-4' : id)) }), 'DUPLICATE_ID');
  assertCode(() => r.setResults({ ids: 'sku-1', features: res.features, featureNames: NAMES }), 'INVALID_INPUT');
  assertCode(() => r.setResults({ ids: res.ids, features: res.features }), 'INVALID_INPUT');
  assertCode(() => r.setResults({ ...res, featureNames: [...NAMES].reverse() }), 'SCHEMA_MISMATCH');
  assertCode(() => r.record({ item: 'sku-1', type: 'teleport' }), 'INVALID_INPUT');
  assertCode(() => r.record({ item: 'sku-1', type: 'click', dwell_ms: 3 }), 'INVALID_INPUT');
  assertCode(() => r.record('click'), 'INVALID_INPUT');
  // A timestamp earlier than the previous event's (recorded at Date.now()) goes backwards.
  assertCode(() => r.record({ item: 'sku-1', type: 'click', timestamp: 5 }), 'INVALID_INPUT');
  assertCode(() => r.explain('no-such-item'), 'UNKNOWN_ITEM');

  assert.equal(r.eventCount, 1, 'failed calls recorded nothing');
  const after = r.rank();
  assert.deepEqual(after.ids, before.ids, 'failed calls changed nothing');
  assert.deepEqual([...after.scores], [...before.scores]);
  r.record({ item: 'sku-2', type: 'cart' });
  assertPermutation(r.rank(), res.ids);
  r.free();
});

test('invalid model files and options are rejected with codes', async () => {
  const bytes = await syntheticModel(ITEM_DIM, 32, 1);
  await assertRejectsCode(createReranker(bytes.subarray(0, bytes.length - 9)), 'INVALID_MODEL');
  await assertRejectsCode(createReranker(bytes.subarray(0, 40)), 'INVALID_MODEL');
  const flipped = bytes.slice();
  flipped[flipped.length >> 1] ^= 0x40;
  await assertRejectsCode(createReranker(flipped), 'INVALID_MODEL');
  await assertRejectsCode(createReranker(bytes, { scope: 'everything' }), 'INVALID_CONFIG');
  await assertRejectsCode(createReranker(bytes, { maxmove: 3 }), 'INVALID_INPUT');
  await assertRejectsCode(createReranker(42), 'INVALID_INPUT');
  await assertRejectsCode(syntheticModel(-1, 32), 'INVALID_INPUT');
  // A valid call right after still works.
  const r = await createReranker(bytes, { maxMove: 2, maxCandidates: 10, eventCapacity: 8 });
  assertCode(() => r.setResults(results(11)), 'TOO_MANY_CANDIDATES');
  r.setResults(results(10));
  r.record({ item: 'sku-9', type: 'purchase' });
  const ranking = r.rank();
  assert.ok(ranking.moved.every((m) => Math.abs(m) <= 2), `maxMove 2 respected: ${[...ranking.moved]}`);
  r.free();
});

test('reset() forgets events, forget() everything, free() makes later calls FREED', async () => {
  const r = await freshReranker();
  const res = results(20);
  r.setResults(res);
  r.record({ item: 'sku-19', type: 'click' });
  r.reset();
  assert.equal(r.eventCount, 0);
  assert.deepEqual(r.rank().ids, res.ids);
  r.record({ item: 'sku-19', type: 'click' });
  r.forget();
  assert.equal(r.eventCount, 0);
  assertCode(() => r.rank(), 'NO_RESULTS');
  r.free();
  r.free();
  assertCode(() => r.rank(), 'FREED');
  assertCode(() => r.backend, 'FREED');
  // Malformed calls after free() are FREED too: the state is checked before the arguments.
  assertCode(() => r.setResults(42), 'FREED');
  assertCode(() => r.record({ item: 'sku-1', type: 'teleport', colour: 'red' }), 'FREED');
  assertCode(() => r.explain(7), 'FREED');
  assertCode(() => r.rank({ pinTop: -1 }), 'FREED');
  await assert.rejects(r.rankAsync(5), (e) => e.code === 'FREED');
});

test('the Node entry reads models from paths and file: URLs; a missing file is FETCH_FAILED', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fewclick-model-'));
  const path = join(dir, 'm.fcm');
  writeFileSync(path, await syntheticModel(ITEM_DIM, 32, 2));
  for (const source of [path, pathToFileURL(path), pathToFileURL(path).href]) {
    const r = await createReranker(source);
    assert.equal(r.itemDim, ITEM_DIM);
    r.free();
  }
  await assertRejectsCode(createReranker(join(dir, 'missing.fcm')), 'FETCH_FAILED');
});

test('rankAsync() gives rank()\'s ranking; meanwhile other calls are BUSY; Node has no WebGPU', async () => {
  const r = await freshReranker({ scope: 'all', steps: 5 });
  const res = results(120, 5);
  r.setResults(res);
  r.record({ item: 'sku-100', type: 'click' });
  const sync = r.rank();
  const pending = r.rankAsync();
  assertCode(() => r.rank(), 'BUSY');
  assertCode(() => r.free(), 'BUSY');
  const async_ = await pending;
  assert.deepEqual(async_.ids, sync.ids);
  assert.deepEqual([...async_.scores], [...sync.scores]);
  assert.equal(async_.backend, 'cpu-simd128');
  assert.equal(typeof async_.fallbackReason, 'string', 'says why WebGPU was not used');
  assert.equal(typeof r.gpuFallbackReason, 'string');
  const cpu = await r.rankAsync('cpu');
  assert.deepEqual(cpu.ids, sync.ids);
  assert.equal(cpu.fallbackReason, null, 'the CPU was asked for: no reason to give');
  assert.equal(cpu.backend, 'cpu-simd128');
  await assertRejectsCode(r.rankAsync('quantum'), 'INVALID_CONFIG');
  assertPermutation(r.rank(), res.ids);
  const status = await gpuStatus();
  assert.equal(typeof status.fallbackReason, 'string');
  assert.ok(Array.isArray(status.calibrations));
  r.free();
});

test('rankWithoutEvents: true ranks by the model before any event', async () => {
  const r = await freshReranker({ rankWithoutEvents: true });
  const res = results(40, 9);
  r.setResults(res);
  const ranking = r.rank();
  assertPermutation(ranking, res.ids);
  assert.notDeepEqual(ranking.ids, res.ids, 'the synthetic model reorders 40 random items');
  r.free();
});

test('a forced build must come first: asking for baseline or webgpu after SIMD is INVALID_CONFIG', async () => {
  assert.equal(webgpuAvailable(), false, 'Node has no navigator.gpu');
  assert.equal(await init({ build: 'simd' }), 'simd');
  assert.equal(await init({ build: 'cpu' }), 'simd', 'the SIMD build is a CPU build');
  assert.equal(await init({ build: 'auto' }), 'simd');
  await assertRejectsCode(init({ build: 'baseline' }), 'INVALID_CONFIG');
  await assertRejectsCode(init({ build: 'webgpu' }), 'INVALID_CONFIG');
  await assertRejectsCode(init({ build: 'sse' }), 'INVALID_CONFIG');
});

/** Lines of a child process's script, after init: `r`, a reranker with 50 results and one click,
 * and `sync`, its rank(). */
const CLICKED_RERANKER = `
    const r = await createReranker(await syntheticModel(8, 16, 2));
    const ids = Array.from({ length: 50 }, (_, i) => 'i' + i);
    r.setResults({ ids, features: Float32Array.from({ length: 400 }, (_, i) => Math.sin(i * 0.7)), featureNames: r.modelInfo().featureNames });
    r.record({ item: 'i30', type: 'click' });
    const sync = r.rank();
`;

test('the gpu build (own process) loads in Node, ranks like the SIMD build and says why WebGPU is not used', () => {
  const script = `
    import { init, cpuKernels, createReranker, gpuStatus, syntheticModel } from 'fewclick';
    const loaded = await init({ build: 'webgpu' });
    let cpuAfterwards;
    try { await init({ build: 'cpu' }); } catch (e) { cpuAfterwards = e.code; }
    ${CLICKED_RERANKER}
    const forced = await r.rankAsync('webgpu');
    const auto = await r.rankAsync();
    console.log(JSON.stringify({
      loaded, cpuAfterwards, kernels: await cpuKernels(), same: forced.ids.join() === sync.ids.join() && auto.ids.join() === sync.ids.join(),
      backend: forced.backend, reason: forced.fallbackReason, autoReason: auto.fallbackReason, getter: r.gpuFallbackReason,
      status: (await gpuStatus()).fallbackReason,
    }));
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd(), encoding: 'utf8' }));
  assert.equal(out.loaded, 'webgpu');
  assert.equal(out.cpuAfterwards, 'INVALID_CONFIG', "init({ build: 'cpu' }) after the gpu build");
  assert.equal(out.kernels, 'cpu-simd128', 'the gpu build carries the SIMD kernels');
  assert.equal(out.same, true);
  assert.equal(out.backend, 'cpu-simd128');
  assert.match(out.reason, /navigator\.gpu is missing/);
  assert.equal(out.autoReason, out.reason, 'later calls keep the reason');
  assert.equal(out.getter, out.reason);
  assert.equal(out.status, out.reason);
});

test('the gpu build says why a WebGPU adapter or device cannot be had (own processes, fake navigator.gpu)', () => {
  // acquireDevice (gpu.js, bundled into fewclick_gpu.js) on its own, for each way it can fail.
  const gpuModule = pathToFileURL(join(process.cwd(), 'node_modules', 'fewclick', 'fewclick_gpu.js')).href;
  const direct = `
    const { acquireDevice } = await import(${JSON.stringify(gpuModule)});
    const fail = (why) => Promise.reject(new Error(why));
    console.log(JSON.stringify(await Promise.all([
      acquireDevice(undefined),
      acquireDevice({ requestAdapter: async () => null }),
      acquireDevice({ requestAdapter: () => fail('adapter blocked by policy') }),
      acquireDevice({ requestAdapter: async () => ({ requestDevice: () => fail('device quota') }) }),
    ])));
  `;
  const reasons = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', direct], { cwd: process.cwd(), encoding: 'utf8' }));
  assert.match(reasons[0], /navigator\.gpu is missing/);
  assert.equal(reasons[1], 'requestAdapter() found no WebGPU adapter');
  assert.equal(reasons[2], 'requestAdapter() failed: adapter blocked by policy');
  assert.equal(reasons[3], 'requestDevice() failed: device quota');
  // Through rankAsync: a realm whose navigator.gpu finds no adapter ranks on the CPU, says why,
  // and asks only once (the page's one request).
  const page = `
    let asked = 0;
    globalThis.navigator = { gpu: { requestAdapter: async () => (asked++, null) } };
    const { init, createReranker, syntheticModel } = await import('fewclick');
    const loaded = await init();
    ${CLICKED_RERANKER}
    const forced = await r.rankAsync('webgpu');
    const again = await r.rankAsync('webgpu');
    console.log(JSON.stringify({ loaded, asked, same: forced.ids.join() === sync.ids.join(), backend: forced.backend,
      reason: forced.fallbackReason, again: again.fallbackReason, getter: r.gpuFallbackReason }));
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', page], { cwd: process.cwd(), encoding: 'utf8' }));
  assert.equal(out.loaded, 'webgpu', 'navigator.gpu present: the gpu build');
  assert.equal(out.asked, 1);
  assert.equal(out.same, true);
  assert.equal(out.backend, 'cpu-simd128');
  assert.equal(out.reason, 'requestAdapter() found no WebGPU adapter');
  assert.equal(out.again, out.reason);
  assert.equal(out.getter, out.reason);
});

test('the baseline build (own process) scores like the SIMD build', async () => {
  const script = `
    import { init, cpuKernels, createReranker, syntheticModel } from 'fewclick';
    const build = process.argv[1];
    await init({ build });
    const r = await createReranker(await syntheticModel(16, 32, 1), { scope: 'all', steps: 5 });
    const n = 300, d = 16;
    let s = 11;
    const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const ids = Array.from({ length: n }, (_, i) => 'i' + i);
    r.setResults({ ids, features: Float32Array.from({ length: n * d }, () => rand() * 2 - 1), featureNames: r.modelInfo().featureNames });
    for (const i of [5, 200, 5, 42, 299]) r.record({ item: 'i' + i, type: 'click' });
    const k = r.rank();
    const byId = {};
    k.ids.forEach((id, p) => (byId[id] = k.scores[p]));
    console.log(JSON.stringify({ kernels: await cpuKernels(), byId }));
  `;
  const run = (build) =>
    JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script, build], { cwd: process.cwd(), encoding: 'utf8' }));
  const simd = run('simd');
  const base = run('baseline');
  assert.equal(simd.kernels, 'cpu-simd128');
  assert.equal(base.kernels, 'cpu-scalar');
  for (const [id, score] of Object.entries(simd.byId)) {
    const other = base.byId[id];
    assert.ok(Math.abs(score - other) <= 1e-4 * Math.max(1, Math.abs(score)), `${id}: simd ${score} vs baseline ${other}`);
  }
});

/** A reranker with 60 items shown and `events` recorded, for comparing sessions event by event. */
async function session(events, options = { scope: 'all', steps: 5 }) {
  const r = await freshReranker(options);
  r.setResults(results(60, 4));
  for (const e of events) r.record(e);
  return r;
}

const sameRanking = (a, b) => {
  assert.deepEqual(a.ids, b.ids);
  assert.deepEqual([...a.scores], [...b.scores]);
};

// Timestamps an hour ahead: the session clock is then the last event's, whenever setResults ran,
// so two rerankers given the same events rank identically.
const T = Date.now() + 3_600_000;
const A = { item: 'sku-40', type: 'click', timestamp: T };
const B = { item: 'sku-12', type: 'cart', timestamp: T + 1000 };
const C = { item: 'sku-41', type: 'dwell', dwellMs: 5000, timestamp: T + 2000 };
const T0 = Date.now() - 60_000;

test('record() during a pending rankAsync() queues: rankAsync ranks the session as it was, the next ranking has the events', async () => {
  const r = await session([A]);
  const pending = r.rankAsync();
  const b = { ...B };
  r.record(b);
  b.item = 'sku-0'; // the host reuses its object: the queued event is a copy
  r.record(C);
  const ranked = await pending;
  // Applied as rankAsync settled, before this line: nothing else ran in between.
  assert.equal(r.eventCount, 3);

  const onlyA = await session([A]);
  sameRanking(ranked, onlyA.rank()); // a snapshot: the queued events are not in it
  const all = await session([A, B, C]);
  const expected = all.rank();
  assert.notDeepEqual([...expected.scores], [...onlyA.rank().scores], 'B and C change the scores');
  sameRanking(r.rank(), expected); // in order, with their own timestamps
  sameRanking(await r.rankAsync('cpu'), expected);
  for (const x of [r, onlyA, all]) x.free();
});

test('events queued during rankAsync() apply before any later call, even one chained on the promise', async () => {
  const r = await session([A]);
  const pending = r.rankAsync();
  r.record(B);
  const seen = await pending.then(() => r.eventCount);
  assert.equal(seen, 2);
  // A rejected rankAsync still applies its queue: with no results, NO_RESULTS.
  r.forget();
  const failing = r.rankAsync();
  r.record(C);
  await assertRejectsCode(failing, 'NO_RESULTS');
  assert.equal(r.eventCount, 1, 'C was applied after the failed rankAsync');
  r.free();
});

test('record() without a timestamp during rankAsync() is stamped when called, not when applied', async () => {
  const r = await freshReranker();
  r.setResults(results(20));
  r.record({ item: 'sku-1', type: 'click', timestamp: Date.now() + 60_000 }); // so the next is refused
  const pending = r.rankAsync();
  const before = Date.now();
  r.record({ item: 'sku-3', type: 'click' });
  const after = Date.now();
  while (Date.now() < after + 25); // the queue is applied at least 25 ms later
  await pending;
  const e = (() => {
    try {
      r.rank();
    } catch (error) {
      return error;
    }
  })();
  assert.equal(e?.code, 'INVALID_INPUT');
  assert.equal(e.event.item, 'sku-3');
  assert.ok(e.event.timestamp >= before && e.event.timestamp <= after, `stamped ${e.event.timestamp - before} ms after the call`);
  r.free();
});

test('while rankAsync() is pending every call but record() is BUSY and changes nothing', async () => {
  const r = await session([A]);
  const res = results(60, 4);
  const pending = r.rankAsync();
  assertCode(() => r.setResults(res), 'BUSY');
  assertCode(() => r.rank(), 'BUSY');
  const second = r.rankAsync(); // awaited below: an await here would let the first one settle
  assertCode(() => r.explain('sku-1'), 'BUSY');
  assertCode(() => r.reset(), 'BUSY');
  assertCode(() => r.forget(), 'BUSY');
  assertCode(() => r.modelInfo(), 'BUSY');
  assertCode(() => r.free(), 'BUSY');
  for (const prop of ['backend', 'lastAdaptMs', 'itemDim', 'eventCount', 'gpuFallbackReason']) assertCode(() => r[prop], 'BUSY');
  await assertRejectsCode(second, 'BUSY');
  const ranked = await pending;
  assert.equal(r.eventCount, 1, 'reset() and forget() did nothing');
  sameRanking(r.rank(), ranked);
  r.free();
  assertCode(() => r.record(B), 'FREED');
});

test('a bad event during rankAsync() throws at once with the code it gets without the queue, and is not queued', async () => {
  const long = 'x'.repeat(257);
  const bad = [
    'click',
    null,
    [A],
    { item: 'sku-1', type: 'teleport' },
    { item: 'sku-1', type: 'click', dwell_ms: 3 },
    { item: 5, type: 'click' },
    { type: 'click' },
    { item: 'sku-1' },
    { item: 'sku-1', type: 7 },
    { item: '', type: 'click' },
    { item: long, type: 'click' },
    { item: 'é'.repeat(129), type: 'click' }, // 258 bytes of UTF-8
    { item: '😀'.repeat(65), type: 'click' }, // 260 bytes
    { item: 'sku-1', type: 'click', timestamp: Number.NaN },
    { item: 'sku-1', type: 'click', timestamp: Infinity },
    { item: 'sku-1', type: 'click', timestamp: '5' },
    { item: 'sku-1', type: 'dwell', dwellMs: -1 },
    { item: 'sku-1', type: 'dwell', dwellMs: Number.NaN },
    { item: 'sku-1', type: 'dwell', dwellMs: 1e300 }, // not finite as the core's f32
    { item: 'sku-1', type: 'dwell', dwellMs: '5' },
    { item: 'sku-1', type: 'click', timestamp: 5 }, // before the previous event (both paths)
  ];
  // The same ids and limits pass both ways.
  const good = [
    { item: 'é'.repeat(128), type: 'view' },
    { item: '😀'.repeat(64), type: 'add-to-cart', dwellMs: null, timestamp: null },
    { item: 'sku-2', type: 'dwell', dwellMs: 0, timestamp: T0 },
  ];
  const first = { ...A, timestamp: T0 }; // a minute ago
  const direct = await session([]);
  const queued = await session([]);
  for (const event of [...bad, ...good]) {
    // Without the queue the session has one earlier event, as the queue's previous event below.
    direct.reset();
    direct.record(first);
    let want = 'none';
    try {
      direct.record(event);
    } catch (e) {
      want = e.code;
    }
    queued.reset();
    const pending = queued.rankAsync();
    queued.record(first);
    let got = 'none';
    try {
      queued.record(event);
    } catch (e) {
      assert.ok(e instanceof FewclickError);
      got = e.code;
    }
    await pending;
    assert.equal(got, want, `${JSON.stringify(event)?.slice(0, 80)}: queued ${got}, direct ${want}`);
    assert.equal(queued.eventCount, want === 'none' ? 2 : 1);
  }
  direct.free();
  queued.free();
});

test('a queued event the core refuses when applied is not recorded; the next ranking call throws its error once', async () => {
  const r = await session([]);
  r.record({ item: 'sku-1', type: 'click' }); // stamped now by the core
  const before = r.rank();
  const pending = r.rankAsync();
  const early = { item: 'sku-2', type: 'click', timestamp: 5 }; // before sku-1's: only the session knows
  r.record(early);
  r.record({ item: 'sku-3', type: 'click', timestamp: 10 }); // also refused, after it
  r.record({ item: 'sku-4', type: 'view' }); // fine: applied
  await pending;
  assert.equal(r.eventCount, 2, 'sku-1 and sku-4');
  let error;
  try {
    r.rank();
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof FewclickError, `rank() threw ${error}`);
  assert.equal(error.code, 'INVALID_INPUT');
  assert.deepEqual(error.event, early);
  assert.match(error.message, /refused when it was applied \(and 1 more queued event\)/);
  assert.equal(error.cause.code, 'INVALID_INPUT');
  // Once: the next call ranks the session with sku-1 and sku-4.
  const after = r.rank();
  assertPermutation(after, results(60, 4).ids);
  assert.notDeepEqual([...after.scores], [...before.scores], 'sku-4 was applied');

  // rankAsync() and explain() throw it too; reset() and forget() drop it.
  for (const next of [
    async (x) => assertRejectsCode(x.rankAsync(), 'INVALID_INPUT'),
    async (x) => assertCode(() => x.explain('sku-1'), 'INVALID_INPUT'),
    async (x) => {
      x.reset();
      assertPermutation(x.rank(), results(60, 4).ids);
    },
    async (x) => {
      x.forget();
      assertCode(() => x.rank(), 'NO_RESULTS');
    },
  ]) {
    const p = r.rankAsync();
    r.record({ item: 'sku-5', type: 'click', timestamp: 1 });
    await p;
    assert.doesNotThrow(() => r.record({ item: 'sku-6', type: 'click', timestamp: Date.now() + 1000 }), 'record() is not where it surfaces');
    await next(r);
    r.setResults(results(60, 4));
    r.reset();
    r.record({ item: 'sku-1', type: 'click' });
    assert.doesNotThrow(() => r.rank(), 'thrown once');
  }
  r.free();
});

test('queued events keep their order: one timestamped before an earlier queued one is refused at once', async () => {
  const r = await session([A]);
  const pending = r.rankAsync();
  r.record(C);
  assertCode(() => r.record(B), 'INVALID_INPUT'); // B's timestamp is before C's
  r.record({ ...C, item: 'sku-42' }); // equal timestamps are fine, as in the core
  await pending;
  assert.equal(r.eventCount, 3);
  r.free();
});

/** The SRI string of `bytes` for `algorithm` ('sha256' | 'sha384' | 'sha512'). */
async function sri(bytes, algorithm = 'sha384') {
  const digest = await crypto.subtle.digest(`SHA-${algorithm.slice(3)}`, bytes);
  return `${algorithm}-${Buffer.from(digest).toString('base64')}`;
}

test('integrity: a matching hash loads the model; a mismatch is INTEGRITY and the bytes are not used', async () => {
  const bytes = await syntheticModel(ITEM_DIM, 32, 1);
  for (const algorithm of ['sha256', 'sha384', 'sha512']) {
    const r = await createReranker(bytes, { integrity: await sri(bytes, algorithm), steps: 3 });
    assert.equal(r.itemDim, ITEM_DIM);
    r.free();
  }
  const other = await syntheticModel(ITEM_DIM, 32, 2);
  await assertRejectsCode(createReranker(bytes, { integrity: await sri(other) }), 'INTEGRITY');
  await assertRejectsCode(createReranker(bytes.buffer, { integrity: await sri(other, 'sha256') }), 'INTEGRITY');
  // Not a model file at all: INTEGRITY, not INVALID_MODEL, so the core never read the bytes...
  const junk = new Uint8Array(100).fill(7);
  await assertRejectsCode(createReranker(junk, { integrity: await sri(bytes) }), 'INTEGRITY');
  // ...and with its own hash the check passes and the core does read them.
  await assertRejectsCode(createReranker(junk, { integrity: await sri(junk) }), 'INVALID_MODEL');
  // The message names the digest the bytes have.
  const actual = await sri(bytes, 'sha256');
  await assert.rejects(createReranker(bytes, { integrity: await sri(other, 'sha256') }), (e) => e.message.includes(actual));
});

test('integrity: bytes the caller changes after the call are not what is used', async () => {
  const bytes = await syntheticModel(ITEM_DIM, 32, 1);
  const integrity = await sri(bytes);
  const view = bytes.slice();
  const created = createReranker(view, { integrity });
  view.fill(0); // after the call, before the digest resolves
  const r = await created;
  assert.equal(r.itemDim, ITEM_DIM, 'the reranker was built from the bytes as they were');
  r.free();
});

test('integrity: several hashes, the strongest algorithm decides (SRI)', async () => {
  const bytes = await syntheticModel(ITEM_DIM, 32, 1);
  const other = await syntheticModel(ITEM_DIM, 32, 2);
  const ok = async (integrity) => (await createReranker(bytes, { integrity })).free();
  // Any of the strongest algorithm's hashes may match.
  await ok(`${await sri(other)} ${await sri(bytes)}`);
  await ok(`  ${await sri(bytes)}\n\t${await sri(other)}  `);
  // A wrong sha256 beside a right sha512: sha512 decides.
  await ok(`${await sri(other, 'sha256')} ${await sri(bytes, 'sha512')}`);
  // A right sha256 beside a wrong sha384: sha384 decides.
  await assertRejectsCode(createReranker(bytes, { integrity: `${await sri(bytes, 'sha256')} ${await sri(other)}` }), 'INTEGRITY');
  // SRI option expressions are allowed and ignored; the algorithm is case-insensitive; base64url too.
  await ok(`${await sri(bytes)}?ct=application/octet-stream`);
  await ok((await sri(bytes, 'sha256')).replace('sha256', 'SHA256'));
  await ok((await sri(bytes, 'sha512')).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''));
});

test('integrity: a malformed string is INVALID_CONFIG (a non-string INVALID_INPUT), before any fetch', async () => {
  const bytes = await syntheticModel(ITEM_DIM, 32, 1);
  const good = await sri(bytes);
  const malformed = [
    '',
    '   ',
    'sha384',
    'sha384-',
    'md5-rL0Y20zC+Fzt72VPzMSk2A==',
    'sha-384-' + good.slice(7),
    good.slice(0, -4), // too short a digest
    good.replace('sha384', 'sha256'), // a sha384 digest's length under sha256
    'sha384-' + '*'.repeat(64),
    `${good} nonsense`, // a browser would skip the bad token; here it is an error
  ];
  for (const integrity of malformed) {
    await assertRejectsCode(createReranker(bytes, { integrity }), 'INVALID_CONFIG');
  }
  for (const integrity of [42, null, ['sha384-x'], { good }]) {
    await assertRejectsCode(createReranker(bytes, { integrity }), 'INVALID_INPUT');
  }
  // Checked before the model is read: a missing file gives INVALID_CONFIG, not FETCH_FAILED.
  await assertRejectsCode(createReranker(join(tmpdir(), 'no-such-model.fcm'), { integrity: 'sha384-nope' }), 'INVALID_CONFIG');
  await assertRejectsCode(createReranker(join(tmpdir(), 'no-such-model.fcm'), { integrity: good }), 'FETCH_FAILED');
  // integrity: undefined is no check, like other options set to undefined.
  (await createReranker(bytes, { integrity: undefined })).free();
});

test('integrity: a model read from a file is checked too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fewclick-model-'));
  const path = join(dir, 'm.fcm');
  const bytes = await syntheticModel(ITEM_DIM, 32, 3);
  writeFileSync(path, bytes);
  (await createReranker(path, { integrity: await sri(bytes) })).free();
  await assertRejectsCode(createReranker(pathToFileURL(path), { integrity: await sri(new Uint8Array(1)) }), 'INTEGRITY');
});

test('integrity without WebCrypto (own process) is refused, never skipped', () => {
  const script = `
    import { createReranker, syntheticModel } from 'fewclick';
    const bytes = await syntheticModel(8, 16, 2);
    const digest = await crypto.subtle.digest('SHA-256', bytes);
    const integrity = 'sha256-' + Buffer.from(digest).toString('base64');
    Object.defineProperty(globalThis, 'crypto', { value: {}, configurable: true }); // as an insecure context: no subtle
    const out = {};
    try { await createReranker(bytes, { integrity }); out.code = 'none'; } catch (e) { out.code = e.code; out.message = e.message; }
    const r = await createReranker(bytes); // without integrity nothing needs WebCrypto
    out.without = r.itemDim;
    console.log(JSON.stringify(out));
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd(), encoding: 'utf8' }));
  assert.equal(out.code, 'INVALID_CONFIG');
  assert.match(out.message, /WebCrypto/);
  assert.equal(out.without, 8);
});
