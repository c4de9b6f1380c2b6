// Runs in headless Chromium (tests/js/memory.test.mjs): the largest configuration a reranker
// accepts, ranked; the configuration past the ceiling refused; and the reproduction of the
// trap of issue 13 (every setResults of 100,000 × 1,024 grew the one wasm memory until the 7th
// trapped at 4 GiB): now the budget refuses one with MEMORY_BUDGET and every reranker made
// before it still works. Publishes what it saw in window.__fewclickResult.
import { createReranker, init, memoryUsage } from '../node_modules/fewclick/index.js';

const N = 100_000;
const D = 1024;
const codeOf = (e) => (e && e.code) || String(e);

function results(prefix) {
  // The longest ids the core accepts (256 bytes): the largest result set there is.
  const pad = 'x'.repeat(256 - prefix.length - 6);
  const ids = Array.from({ length: N }, (_, i) => `${prefix}${pad}${String(i).padStart(6, '0')}`);
  const features = new Float32Array(N * D);
  for (let i = 0; i < features.length; i += 1) features[i] = ((i * 7919) % 1000) / 1000 - 0.5;
  return { ids, features, featureNames: Array.from({ length: D }, (_, i) => `f${i}`) };
}

function checkRanking(ranking) {
  const seen = new Uint8Array(N);
  for (const i of ranking.order) {
    if (i >= N || seen[i]) return 'not a permutation';
    seen[i] = 1;
  }
  return ranking.order.length === N && ranking.scores.every(Number.isFinite) ? 'ok' : 'not finite or short';
}

async function run() {
  await init({ build: 'cpu' });
  const model = new Uint8Array(await (await fetch('./model.fcm')).arrayBuffer());
  const out = { budget: (await memoryUsage()).budget };

  // Past the ceiling: the widest model with the largest log.
  try {
    await createReranker(model, { maxCandidates: N, eventCapacity: 100_000 });
    out.overCeiling = 'accepted';
  } catch (e) {
    out.overCeiling = codeOf(e);
    out.overCeilingMessage = e.message;
  }

  // The largest accepted: 100,000 candidates with 256-byte ids on a 1,024-wide model.
  const first = await createReranker(model, { maxCandidates: N });
  const a = results('a');
  let t = performance.now();
  first.setResults(a);
  out.largestSetMs = performance.now() - t;
  first.record({ item: a.ids[40_000], type: 'click' });
  first.record({ item: a.ids[10], type: 'skip' });
  t = performance.now();
  const ranking = first.rank();
  out.largestRankMs = performance.now() - t;
  out.largestRanking = checkRanking(ranking);
  out.afterLargest = await memoryUsage();

  // The reproduction: more rerankers, each given 100,000 × 1,024, until the budget says no.
  const rerankers = [first];
  out.refusal = null;
  for (let k = 1; k < 8 && out.refusal === null; k += 1) {
    let r;
    try {
      r = await createReranker(model, { maxCandidates: N });
      r.setResults(results(`r${k}`));
      rerankers.push(r);
    } catch (e) {
      out.refusal = { at: k, code: codeOf(e), message: e.message };
      if (r !== undefined) {
        out.refusedKeepsNothing = r.eventCount === 0;
        try {
          r.rank();
          out.refusedRank = 'ranked';
        } catch (e2) {
          out.refusedRank = codeOf(e2);
        }
        r.free();
      }
    }
  }
  out.held = rerankers.length;
  out.atRefusal = await memoryUsage();
  // Every reranker made before the refusal still works (a trap would have broken them all).
  out.allStillRank = rerankers.every((r) => checkRanking(r.rank()) === 'ok');
  out.firstEvents = first.eventCount;
  // Freeing them returns their share.
  for (const r of rerankers) r.free();
  out.afterFree = await memoryUsage();
  return out;
}

run().then(
  (result) => {
    window.__fewclickResult = { ok: true, result };
  },
  (e) => {
    window.__fewclickResult = { ok: false, error: `${codeOf(e)}: ${e && e.message}` };
  },
);
