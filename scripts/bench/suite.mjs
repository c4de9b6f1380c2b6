// The benchmark itself, shared by Node (scripts/bench.mjs) and headless Chromium
// (scripts/bench/page.js): the same code times the same calls in both.
//
// Paths (itemDim 16, hidden 32, syntheticModel(16, 32, 1), 25 click events on random items):
//   adapt+rank      options { scope: 'all', steps: 5 }: each repetition resets the session,
//                   records 25 clicks, then times rank() (adapt k=5 from θ0 + score + order).
//   per-click-head  options { scope: 'head', steps: 5 }: 25 clicks, one untimed rank(), one more
//                   click, then time rank() (what a page pays per click).
// Every timed rank() follows a new event, so the adapted-θ cache cannot answer it.
// Times are of the rank() call as the page sees it (JS result objects included); core_ms is the
// same call's own adaptMs (the core's rank, without building the JS result); record_ms is one
// record() call (what a page pays per event besides ranking), averaged over the 25 clicks.

import { mulberry32, probePeak, round, stats } from './stats.mjs';

export const NS = [100, 1000, 10_000, 100_000];
// The same two paths through rankAsync('webgpu') (Chromium with WebGPU only; the rows say which
// adapter ran them: SwiftShader is a CPU emulation, its times are not GPU times).
export const PATHS = ['adapt+rank', 'per-click-head', 'adapt+rank webgpu', 'per-click-head webgpu'];
const ITEM_DIM = 16;
const HIDDEN = 32;
const EVENTS = 25;
const STEPS = 5;
const WARMUP = 3;
const MIN_REPS = 10;
const MAX_REPS = 400;

export const SEED = 20240601;

/** Repeats `fn(reps)` (returns {seconds, flops}) with doubling reps until it runs ≥ minSeconds,
 * then takes the median GFLOP/s of 5 runs at that size. */
function gflops(fn, minSeconds, maxReps = 1 << 26) {
  let reps = 1;
  for (;;) {
    const r = fn(reps);
    if (r.seconds >= minSeconds || reps >= maxReps) break;
    reps *= 2;
  }
  const runs = [];
  for (let i = 0; i < 5; i++) {
    const r = fn(reps);
    runs.push(r.flops / r.seconds / 1e9);
  }
  return { gflops: stats(runs).median, reps };
}

/**
 * @param api    the package module (index.js or node.js)
 * @param probes the bench build's glue, initialised (fewclick_bench.js: the kernel probes, not
 *               public API; they run its SIMD kernels, so only the SIMD build's rows get them)
 * @param build  'relaxed' | 'simd' | 'baseline' | 'webgpu'
 * @param env    'node' | 'chromium'
 * @param budgetMs  wall time per (path, n) cell beyond MIN_REPS
 * @param mulAddProbe the simd128 multiply-add probe module of scripts/bench/peak-probes.mjs (bytes),
 *               or undefined: the kernel row's peak is the better of it and benchSimdPeak
 * @param log    progress lines
 */
export async function runSuite({ api, probes, build, env, budgetMs = 1200, ns = NS, mulAddProbe, log = () => {} }) {
  const loaded = await api.init({ build });
  const kernels = await api.cpuKernels();
  const model = await api.syntheticModel(ITEM_DIM, HIDDEN, 1);
  const now = () => performance.now();
  const rows = [];
  const base = { env, build, kernels, item_dim: ITEM_DIM, hidden: HIDDEN };
  if (loaded !== build) throw new Error(`asked for ${build}, loaded ${loaded}`);
  const gpu = await webgpuAdapter(api, model);
  if (gpu.reason) log(`${env} ${build}: no WebGPU rows (${gpu.reason})`);

  for (const path of PATHS) {
    const webgpu = path.endsWith(' webgpu');
    if (webgpu && gpu.reason) continue;
    // The gpu build's CPU kernels are the SIMD build's (its rows would repeat them): it times
    // the WebGPU paths only.
    if (!webgpu && build === 'webgpu') continue;
    for (const n of ns) {
      const rand = mulberry32(SEED + n);
      const pick = () => Math.floor(rand() * n);
      const reranker = await api.createReranker(model, { scope: path.startsWith('adapt+rank') ? 'all' : 'head', steps: STEPS });
      const ids = Array.from({ length: n }, (_, i) => `item-${i}`);
      const features = Float32Array.from({ length: n * ITEM_DIM }, () => rand() * 2 - 1);
      const prices = Float32Array.from({ length: n }, () => 5 + rand() * 295);
      reranker.setResults({ ids, features, featureNames: reranker.modelInfo().featureNames, prices });
      const once = async () => {
        reranker.reset();
        const r0 = now();
        for (let e = 0; e < EVENTS; e++) reranker.record({ item: ids[pick()], type: 'click' });
        const recordMs = (now() - r0) / EVENTS;
        if (path.startsWith('per-click-head')) {
          if (webgpu) await reranker.rankAsync('webgpu');
          else reranker.rank();
          reranker.record({ item: ids[pick()], type: 'click' });
        }
        const t0 = now();
        const ranking = webgpu ? await reranker.rankAsync('webgpu') : reranker.rank();
        const ms = now() - t0;
        if (!ranking.adapted) throw new Error('rank() did not adapt: the benchmark would time the wrong thing');
        if (webgpu && ranking.backend !== 'webgpu') throw new Error(`rankAsync fell back to the CPU: ${ranking.fallbackReason}`);
        return [ms, ranking.adaptMs, recordMs];
      };
      for (let w = 0; w < WARMUP; w++) await once();
      const wall = [];
      const core = [];
      const record = [];
      const start = now();
      while (wall.length < MAX_REPS && (wall.length < MIN_REPS || now() - start < budgetMs)) {
        const [ms, coreMs, recordMs] = await once();
        wall.push(ms);
        core.push(coreMs);
        record.push(recordMs);
      }
      reranker.free();
      const w = stats(wall);
      const c = stats(core);
      const row = {
        ...base,
        ...(webgpu ? { backend: 'webgpu', gpu_adapter: gpu.adapter } : {}),
        n,
        path,
        events: path === 'per-click-head' ? EVENTS + 1 : EVENTS,
        steps: STEPS,
        median_ms: round(w.median),
        p90_ms: round(w.p90),
        min_ms: round(w.min),
        core_median_ms: round(c.median),
        // One record() call (the event's training example: its row and up to ten rows above it),
        // the mean over the repetition's 25 clicks; per repetition, then the median.
        record_median_ms: round(stats(record).median, 4),
        reps: wall.length,
      };
      rows.push(row);
      log(`${env} ${build} ${path} n=${n}: median ${row.median_ms} ms, p90 ${row.p90_ms} ms (${row.reps} reps)`);
    }
  }

  if (build !== 'simd') return rows;
  const KN = 10_000;
  // (the kernel probe below is the CPU's; the WebGPU kernels are timed inside the webgpu rows)
  const scoring = gflops((reps) => probes.benchScoringKernel(KN, ITEM_DIM, HIDDEN, reps), 0.25);
  const peakProbe = probes.benchSimdPeak(1);
  const own = peakProbe === null ? null : gflops((k) => probes.benchSimdPeak(k * 1024), 0.25, 1 << 21).gflops; // iters is a u32
  // The engine's best chain count may not be the bench probe's (see scripts/bench/peak-probes.mjs).
  const probed = own === null ? null : await probePeak(mulAddProbe);
  const peak = own === null ? null : Math.max(own, probed ?? 0);
  const kernelRow = {
    ...base,
    n: KN,
    path: 'scoring-kernel',
    gflops: round(scoring.gflops, 3),
    simd_peak_gflops: peak === null ? null : round(peak, 3),
    bench_probe_gflops: own === null ? null : round(own, 3),
    ratio_of_peak: peak === null ? null : round(scoring.gflops / peak, 3),
    reps: scoring.reps,
  };
  rows.push(kernelRow);
  log(`${env} ${build} scoring kernel n=${KN}: ${kernelRow.gflops} GFLOP/s; simd peak ${kernelRow.simd_peak_gflops ?? 'n/a'}`);
  return rows;
}

/** Whether rankAsync('webgpu') really runs on WebGPU here, and on which adapter. */
async function webgpuAdapter(api, model) {
  if (typeof navigator === 'undefined' || !navigator.gpu) return { reason: 'no navigator.gpu' };
  const r = await api.createReranker(model, { steps: 1 });
  try {
    r.setResults({ ids: ['a', 'b'], features: new Float32Array(2 * ITEM_DIM), featureNames: r.modelInfo().featureNames });
    r.record({ item: 'b', type: 'click' });
    const ranking = await r.rankAsync('webgpu');
    if (ranking.backend !== 'webgpu') return { reason: ranking.fallbackReason ?? 'rankAsync did not use WebGPU' };
  } finally {
    r.free();
  }
  const info = (await navigator.gpu.requestAdapter())?.info;
  return { adapter: info ? [info.vendor, info.architecture].filter(Boolean).join(' ') || 'unknown' : 'unknown' };
}
