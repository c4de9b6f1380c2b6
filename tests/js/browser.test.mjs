// The installed package in headless Chromium: a static page (served from 127.0.0.1 under
// CSP script-src 'self' 'wasm-unsafe-eval', without cross-origin isolation) imports the package's
// browser entry, ranks on the main thread and in a worker, and must pick the SIMD build. Every
// request must go to the page's own origin.
//   FEWCLICK_CONSUMER=<scratch project with fewclick installed> node --test tests/js/browser.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serve } from '../../scripts/lib/serve.mjs';
import { launchChromium, pageResult } from '../../scripts/lib/chromium.mjs';

const consumer = process.env.FEWCLICK_CONSUMER;
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'";

// Two page loads: by default Chromium (started with --enable-unsafe-webgpu, so navigator.gpu
// exists, on SwiftShader) must get the gpu build and rank on WebGPU when asked; with ?build=cpu
// (init({ build: 'cpu' }), page and worker) the SIMD build, which never downloads the gpu one.
for (const variant of ['default', 'cpu']) {
test(`the browser entry ranks in headless Chromium (${variant} build choice), same-origin only`, async (t) => {
  assert.ok(consumer, 'set FEWCLICK_CONSUMER to the scratch project that has fewclick installed');
  const pkgDir = join(consumer, 'node_modules', 'fewclick');
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  assert.equal(pkg.exports['.'].browser, './index.js', 'page.js imports the browser entry by path');

  // The page, and a model file it fetches by URL.
  const www = join(consumer, 'www');
  mkdirSync(www, { recursive: true });
  cpSync(new URL('./browser/', import.meta.url), www, { recursive: true });
  const fc = await import(pathToFileURL(join(pkgDir, 'node.js')).href);
  writeFileSync(join(www, 'model.fcm'), await fc.syntheticModel(16, 32, 3));

  const server = await serve(consumer, { headers: () => ({ 'content-security-policy': CSP }) });
  t.after(() => server.close());
  const browser = await launchChromium();
  t.after(() => browser.close());
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = [];
  context.on('request', (req) => seen.push(req.url()));
  page.on('worker', (worker) => seen.push(worker.url()));
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));

  await page.goto(`${server.origin}/www/index.html${variant === 'cpu' ? '?build=cpu' : ''}`);
  const outcome = await page.waitForFunction(() => window.__fewclickResult, null, { timeout: 60_000 }).then((h) => h.jsonValue());
  assert.ok(outcome.ok, `page failed: ${outcome.error}\n${logs.join('\n')}`);
  const r = outcome.result;
  t.diagnostic(JSON.stringify(r));

  assert.equal(r.crossOriginIsolated, false, 'runs without cross-origin isolation');
  const gpuBuild = variant === 'default';
  // Chromium validates relaxed SIMD: a CPU page gets the relaxed build and its fused kernels; the
  // gpu build carries the plain SIMD kernels.
  const cpu = gpuBuild ? 'cpu-simd128' : 'cpu-relaxed-simd';
  assert.equal(r.build, gpuBuild ? 'webgpu' : 'relaxed');
  assert.equal(r.kernels, cpu);
  assert.equal(r.noEventsIsDisplayOrder, true);
  assert.equal(r.mainPermutation, true);
  assert.equal(r.mainFinite, true);
  assert.equal(r.mainBackend, cpu);
  assert.equal(r.mainError, 'DIMENSION_MISMATCH');
  assert.equal(r.mainAsyncSame, true, 'rankAsync() ranks like rank()');
  assert.ok([cpu, 'webgpu'].includes(r.mainAsyncBackend), r.mainAsyncBackend);
  if (gpuBuild) {
    assert.equal(r.webgpuBackend, 'webgpu', `rankAsync('webgpu') fell back: ${r.webgpuReason}`);
    assert.equal(r.webgpuReason, null);
    assert.equal(r.workerWebgpuBackend, 'webgpu', 'WebGPU in the worker too');
  } else {
    assert.equal(r.webgpuBackend, cpu);
    assert.match(r.webgpuReason, /no WebGPU support/);
    assert.equal(r.workerWebgpuBackend, cpu);
  }
  assert.equal(r.webgpuAdapted, true);
  assert.equal(r.webgpuSame, true, "rankAsync('webgpu') ranks like rank()");
  assert.equal(r.pendingRank, 'BUSY', 'rank() while rankAsync() is pending');
  assert.equal(r.queuedApplied, true, 'record() during rankAsync() applied as it settled');
  assert.equal(r.snapshotSame, true, 'the pending rankAsync() ranked the session without the queued event');
  assert.equal(r.queuedInNext, true, 'the next ranking has it');
  assert.equal(r.integrityItemDim, 16, 'a model matching one of the integrity hashes loads');
  assert.equal(r.integrityMismatch, 'INTEGRITY');
  assert.equal(r.integrityMalformed, 'INVALID_CONFIG');
  assert.equal(r.workerIntegrityMismatch, 'INTEGRITY', 'the worker checks what it fetched');
  assert.equal(r.workerQueued, true, 'worker: a record() during rankAsync() counts for the next ranking');
  assert.equal(r.workerWebgpuSame, true);
  assert.equal(r.urlModelItemDim, 16);
  assert.equal(r.missingModel, 'FETCH_FAILED');
  assert.equal(r.workerItemDim, 16);
  assert.equal(r.workerNoEvents, true);
  assert.equal(r.workerPermutation, true);
  assert.equal(r.workerFinite, true);
  assert.equal(r.workerBackend, cpu);
  assert.equal(r.workerEventCount, 1);
  assert.equal(r.workerLastAdaptMs, true);
  assert.equal(r.workerError, 'INVALID_INPUT');
  assert.equal(r.workerUnknownItem, 'UNKNOWN_ITEM');
  assert.equal(r.workerStillWorks, true);
  assert.equal(r.workerAsyncSame, true, 'worker calls run in order; rankAsync then rank agree');
  assert.equal(r.workerFreed, 'FREED');
  assert.equal(r.workerBytesModel, true, 'model bytes reach the worker; the caller keeps its buffer');
  assert.deepEqual(r.cspViolations, [], 'no CSP violations');
  // The one expected console error is the 404 of missing.fcm.
  const errors = logs.filter((l) => (l.startsWith('error') || l.startsWith('pageerror')) && !l.includes('404'));
  assert.deepEqual(errors, [], logs.join('\n'));

  // Network: only the page's origin; one build's wasm (gpu or relaxed SIMD), never another.
  const foreign = seen.filter((u) => new URL(u).origin !== server.origin);
  assert.deepEqual(foreign, [], 'every request goes to the page origin');
  const wasm = server.requests.filter((u) => u.endsWith('.wasm') && u.includes('/fewclick/'));
  const want = gpuBuild ? '/node_modules/fewclick/fewclick_gpu.wasm' : '/node_modules/fewclick/fewclick_relaxed.wasm';
  // The page's syntheticModel() calls fetch the bench build too (an instance of its own).
  const bench = '/node_modules/fewclick/fewclick_bench.wasm';
  assert.deepEqual([...new Set(wasm.filter((u) => u !== bench))], [want], `one wasm build to rank, page and worker: ${server.requests.join(' ')}`);
  assert.ok(wasm.includes(bench), 'syntheticModel() fetched the bench build');
  assert.ok(server.requests.includes('/www/model.fcm'));
  // The modules imported on demand: none before the page first needed one (its marker request),
  // each after it (integrity, then the worker; session.js is the persistence tests' to fetch).
  const marker = server.requests.indexOf('/www/on-demand-marker');
  assert.ok(marker > 0, `the page's marker request is missing: ${server.requests.join(' ')}`);
  const onDemand = ['integrity.js', 'session.js', 'worker-client.js'].map((f) => `/node_modules/fewclick/${f}`);
  assert.deepEqual(server.requests.slice(0, marker).filter((u) => onDemand.includes(u)), [], 'fetched before anything needed them');
  for (const f of [onDemand[0], onDemand[2]]) assert.ok(server.requests.slice(marker).includes(f), `${f} fetched when needed`);
  t.diagnostic(`requests: ${server.requests.join(' ')}`);
});
}

// Hostile shoppers and pages through the worker (the Node side is tests/js/hostile.test.mjs):
// tests/js/browser/hostile.js with the demo model, under the same CSP.
test('hostile shoppers and pages: the worker refuses with codes and changes nothing (Chromium)', async (t) => {
  assert.ok(consumer, 'set FEWCLICK_CONSUMER to the scratch project that has fewclick installed');
  const www = join(consumer, 'www');
  mkdirSync(www, { recursive: true });
  cpSync(new URL('./browser/', import.meta.url), www, { recursive: true });
  cpSync(new URL('../../www/assets/demo.fcm', import.meta.url), join(www, 'demo.fcm'));
  const server = await serve(consumer, { headers: () => ({ 'content-security-policy': CSP }) });
  t.after(() => server.close());
  const browser = await launchChromium();
  t.after(() => browser.close());
  const logs = [];
  const r = await pageResult(browser, `${server.origin}/www/hostile.html`, '__hostile', { logs });
  t.diagnostic(JSON.stringify(r));

  assert.equal(r.bot.batches, 100);
  assert.ok(r.bot.maxAbsMove <= 3, `a bot's 10,000 clicks moved an item ${r.bot.maxAbsMove} places (maxMove 3)`);
  assert.ok(r.bot.minAt >= 57 && r.bot.maxAt <= 63, `the clicked item ranged over ${r.bot.minAt}..${r.bot.maxAt}`);
  assert.equal(r.bot.allFinite, true);
  assert.equal(r.bot.eventCount, 256, 'the default log keeps the newest 256');
  const want = {
    priceNaN: 'NON_FINITE', priceInfinity: 'NON_FINITE', price1e39: 'NON_FINITE', priceZero: 'INVALID_INPUT',
    baseScoreMinusInfinity: 'NON_FINITE', timestampNaN: 'NON_FINITE', dwellInfinity: 'INVALID_INPUT',
    megabyteEventId: 'INVALID_ID', megabyteResultId: 'INVALID_ID', duplicateIds: 'DUPLICATE_ID',
    protoEvent: 'INVALID_INPUT', constructorEvent: 'INVALID_INPUT', protoResults: 'INVALID_INPUT', protoRankOptions: 'INVALID_INPUT',
    getterEvent: 'INVALID_INPUT', proxyEvent: 'INVALID_INPUT',
  };
  for (const [name, code] of Object.entries(want)) {
    assert.deepEqual(r.refused[name], { code, unchanged: true }, name);
  }
  assert.equal(r.protoOptions, 'INVALID_INPUT');
  assert.equal(r.prototypeClean, true);
  assert.deepEqual(r.raw.methods, ['constructor', '__proto__', 'toString', 'importSession'].map((m) => [m, 'INVALID_INPUT']));
  assert.equal(r.raw.unknownHandle, 'FREED');
  assert.equal(r.raw.unknownOp, 'INVALID_INPUT');
  assert.ok(r.price1e38.finite && r.price1e38.maxAbsMove <= 3, JSON.stringify(r.price1e38));
  assert.equal(r.stillWorks, true);
  // The one expected console error is the 404 of /favicon.ico.
  const errors = logs.filter((l) => (l.startsWith('error') || l.startsWith('pageerror')) && !l.includes('404'));
  assert.deepEqual(errors, [], logs.join('\n'));
  assert.deepEqual(server.requests.filter((u) => !existsSync(join(consumer, u))), ['/favicon.ico']);
});
