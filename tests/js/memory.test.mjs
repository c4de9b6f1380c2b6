// Memory bounded by construction, in headless Chromium (issue 13): the largest configuration a
// reranker accepts ranks; one past the ceiling is INVALID_CONFIG; rerankers given 100,000 ×
// 1,024 results one after another are refused with MEMORY_BUDGET at the instance's budget,
// instead of growing the wasm memory until it traps, and the ones before keep working.
//   FEWCLICK_CONSUMER=<scratch project with fewclick installed> node --test tests/js/memory.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serve } from '../../scripts/lib/serve.mjs';
import { launchChromium, pageResult } from '../../scripts/lib/chromium.mjs';

const consumer = process.env.FEWCLICK_CONSUMER;
const MIB = 1 << 20;

test('the largest accepted configuration ranks, and the budget refuses instead of trapping', { timeout: 300_000 }, async (t) => {
  assert.ok(consumer, 'set FEWCLICK_CONSUMER to the scratch project that has fewclick installed');
  const www = join(consumer, 'memory');
  mkdirSync(www, { recursive: true });
  cpSync(new URL('./memory/', import.meta.url), www, { recursive: true });
  const fc = await import(pathToFileURL(join(consumer, 'node_modules', 'fewclick', 'node.js')).href);
  writeFileSync(join(www, 'model.fcm'), await fc.syntheticModel(1024, 64, 7));

  const server = await serve(consumer);
  t.after(() => server.close());
  const browser = await launchChromium();
  t.after(() => browser.close());
  const r = await pageResult(browser, `${server.origin}/memory/index.html`, '__fewclickResult', { timeout: 280_000 });
  const mib = (b) => Math.round(b / MIB);
  t.diagnostic(
    JSON.stringify({
      largestSetMs: Math.round(r.largestSetMs),
      largestRankMs: Math.round(r.largestRankMs),
      afterLargestMiB: { reserved: mib(r.afterLargest.reserved), wasm: mib(r.afterLargest.wasmBytes) },
      held: r.held,
      refusal: r.refusal,
      atRefusalMiB: { reserved: mib(r.atRefusal.reserved), budget: mib(r.atRefusal.budget), wasm: mib(r.atRefusal.wasmBytes) },
      afterFreeMiB: { reserved: mib(r.afterFree.reserved), wasm: mib(r.afterFree.wasmBytes) },
    }),
  );

  assert.equal(r.overCeiling, 'INVALID_CONFIG', 'a configuration past the 1 GiB ceiling');
  assert.match(r.overCeilingMessage, /1024 MiB/, 'the error names the limit');
  assert.equal(r.largestRanking, 'ok', 'the largest accepted configuration ranks: a permutation, finite scores');
  assert.ok(r.refusal !== null, 'the budget refused a reranker before the 8th');
  assert.equal(r.refusal.code, 'MEMORY_BUDGET', r.refusal.message);
  assert.ok(r.held >= 2, `${r.held} rerankers held`);
  if (r.refusedKeepsNothing !== undefined) {
    assert.equal(r.refusedKeepsNothing, true);
    assert.equal(r.refusedRank, 'NO_RESULTS', 'the refused setResults kept no results');
  }
  assert.equal(r.allStillRank, true, 'every reranker made before the refusal still ranks');
  assert.equal(r.firstEvents, 2);
  assert.ok(r.atRefusal.reserved <= r.atRefusal.budget, 'the pool stays within its budget');
  // The memory the instance grew to: within the budget plus the allocator's and the glue's share.
  assert.ok(r.atRefusal.wasmBytes <= r.atRefusal.budget + 256 * MIB, `wasm memory ${mib(r.atRefusal.wasmBytes)} MiB`);
  assert.equal(r.afterFree.reserved, 0, 'freeing every reranker returns the whole pool');
});
