// Two CPU builds side by side in one headless Chromium page (started by scripts/bench-builds.mjs):
// by default the relaxed-SIMD and the SIMD wasm of pkg/ (or any two wasm files of the same glue,
// `a` and `b`), each in its own instance of the shared glue (the glue is imported twice under two
// URLs, so each copy holds its own instance), their calls taking turns.
// Whole benchmark runs one after another differ by about ±30 % on a shared 2-core machine; calls
// that alternate within one page see the same machine, so their ratio is what the builds differ by.
// The job is scripts/bench/suite.mjs's adapt+rank: itemDim 16, hidden 32 (or `dims`, say 64,64 for
// the shapes of issue 11's peer job), reset, 25 clicks on random items, then rank() (adapt k = 5
// from θ0, score and order N), timed around rank() only. With `events=peer`, the peer job's events
// instead (scripts/bench/peer-page.js: clicks on rows 0-4, `skip` on rows 5-24, a support set of
// exactly those 25 rows; 25 random clicks make up to 11 rows each).
import { mulberry32, stats } from './stats.mjs';

const params = new URLSearchParams(location.search);
const ns = (params.get('ns') ?? '100,1000,10000').split(',').map(Number);
const reps = Number(params.get('reps') ?? 300);
const [ITEM_DIM, HIDDEN] = (params.get('dims') ?? '16,32').split(',').map(Number);
const EVENTS = 25;
const PEER_EVENTS = params.get('events') === 'peer';
if (!['random', 'peer'].includes(params.get('events') ?? 'random')) throw new Error('events must be random or peer');
// Paths from the repository root (the server's); the defaults are the two CPU builds of pkg/.
const A = params.get('a') ?? 'pkg/fewclick_relaxed.wasm';
const B = params.get('b') ?? 'pkg/fewclick_simd.wasm';
const DEFAULTS = !params.has('a') && !params.has('b');

async function instance(tag, wasm) {
  const glue = await import(`../../pkg/fewclick_wasm.js?${tag}`);
  glue.initSync({ module: await (await fetch(new URL(`../../${wasm}`, import.meta.url))).arrayBuffer() });
  return glue;
}

/** One reranker over n random candidates; each call resets, records 25 clicks and times rank(). */
function job(glue, model, n, seed) {
  const r = new glue.Reranker(model, { scope: 'all', steps: 5 });
  const ids = Array.from({ length: n }, (_, i) => `item-${i}`);
  const rand = mulberry32(seed);
  const features = Float32Array.from({ length: n * ITEM_DIM }, () => rand() * 2 - 1);
  const prices = Float32Array.from({ length: n }, () => 5 + rand() * 295);
  r.setResults(ids, features, Array.from({ length: ITEM_DIM }, (_, i) => `f${i}`), undefined, prices);
  return () => {
    r.reset();
    for (let e = 0; e < EVENTS; e++) {
      const [item, type] = PEER_EVENTS ? [ids[e], e < 5 ? 'click' : 'skip'] : [ids[Math.floor(rand() * n)], 'click'];
      r.record({ item, type, timestamp: 1000 + e });
    }
    const t0 = performance.now();
    r.rank();
    return performance.now() - t0;
  };
}

async function run() {
  const bench = await import('../../pkg/fewclick_bench.js');
  await bench.default({ module_or_path: new URL('../../pkg/fewclick_bench.wasm', import.meta.url) });
  const model = bench.syntheticModel(ITEM_DIM, HIDDEN, 1);
  const first = await instance('a', A);
  const second = await instance('b', B);
  const kernels = { a: first.cpuKernels(), b: second.cpuKernels() };
  if (DEFAULTS && (kernels.a !== 'cpu-relaxed-simd' || kernels.b !== 'cpu-simd128')) {
    throw new Error(`the instances run ${JSON.stringify(kernels)}`);
  }
  const rows = [];
  for (const n of ns) {
    // The same seed for both: the same candidates and the same clicks.
    const a = job(first, model, n, 20240601 + n);
    const b = job(second, model, n, 20240601 + n);
    for (let i = 0; i < 5; i++) {
      a();
      b();
    }
    const ta = [];
    const tb = [];
    const count = n > 5000 ? Math.max(20, reps / 5) : reps;
    for (let i = 0; i < count; i++) {
      ta.push(a());
      tb.push(b());
    }
    const [ra, rb] = [stats(ta).median, stats(tb).median];
    rows.push({ n, reps: count, a_median_ms: ra, b_median_ms: rb, speedup: rb / ra });
  }
  return { rows, kernels, a: A, b: B, item_dim: ITEM_DIM, hidden: HIDDEN, events: PEER_EVENTS ? 'peer' : 'random' };
}

run().then(
  (result) => (window.__builds = { ok: true, ...result }),
  (e) => (window.__builds = { ok: false, error: String(e && e.stack ? e.stack : e) }),
);
