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
const pkgJson = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('fewclick/package.json'), 'utf8'));

/** Deterministic results: n items with features in [-1, 1) and prices. */
function results(n, seed = 1) {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return {
    ids: Array.from({ length: n }, (_, i) => `sku-${i}`),
    features: Float32Array.from({ length: n * ITEM_DIM }, () => rand() * 2 - 1),
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
    assert.equal(info.itemDim, ITEM_DIM);
    assert.equal(info.hidden, 32);
    assert.equal(info.featureNames.length, ITEM_DIM);
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
  assertCode(() => r.setResults({ ids: 'sku-1', features: res.features }), 'INVALID_INPUT');
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
  assertCode(() => r.record({ item: 'sku-1', type: 'click' }), 'BUSY');
  assertCode(() => r.free(), 'BUSY');
  const async_ = await pending;
  assert.deepEqual(async_.ids, sync.ids);
  assert.deepEqual([...async_.scores], [...sync.scores]);
  assert.equal(async_.backend, 'cpu-simd128');
  assert.equal(typeof async_.fallbackReason, 'string', 'says why WebGPU was not used');
  assert.equal(typeof r.gpuFallbackReason, 'string');
  const cpu = await r.rankAsync('cpu');
  assert.deepEqual(cpu.ids, sync.ids);
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

test('the gpu build (own process) loads in Node, ranks like the SIMD build and says why WebGPU is not used', () => {
  const script = `
    import { init, cpuKernels, createReranker, gpuStatus, syntheticModel } from 'fewclick';
    const loaded = await init({ build: 'webgpu' });
    let cpuAfterwards;
    try { await init({ build: 'cpu' }); } catch (e) { cpuAfterwards = e.code; }
    const r = await createReranker(await syntheticModel(8, 16, 2));
    const ids = Array.from({ length: 50 }, (_, i) => 'i' + i);
    r.setResults({ ids, features: Float32Array.from({ length: 400 }, (_, i) => Math.sin(i * 0.7)) });
    r.record({ item: 'i30', type: 'click' });
    const sync = r.rank();
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
    r.setResults({ ids, features: Float32Array.from({ length: n * d }, () => rand() * 2 - 1) });
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
