// The benchmark's TF.js peer, in headless Chromium (started by scripts/bench/peer-tfjs.mjs):
// fewclick and TF.js 4.22 run the same job in this one page, in turn; results land in
// window.__peer. A benchmark, not a test.
//
// The job (issue 11), for N candidates of 64 item features, 64 hidden units: reset; 5 gradient
// steps on 5 clicked and 20 skipped items (5 × 20 = 100 pairs); score and order all N; hand the
// ranking to JS.
//
// fewclick: syntheticModel(64, 64, 1); createReranker(model, { scope: 'all', steps: 5,
//   maxMove: null }); setResults({ ids, features, featureNames }) once per N, untimed (a page's
//   result set). One call: reset(); record() 5 clicks on display rows 0-4, then 20 `skip` events
//   on rows 5-24; rank(). Why these rows: a click becomes a training example against the
//   unengaged items shown above it (at most 10, so implied skips alone cannot make 5 × 20 pairs),
//   and an explicit `skip` pairs with every click. Clicks on rows 0-4, in that order, have nothing
//   unengaged above them, so the support set is exactly the 5 clicked and the 20 skipped rows and
//   the pairs exactly the 100 (each weight 0.5: the loss is their mean, as TF.js's is).
//   rank() runs the inner loop (5 steps on every weight, the synthetic model's step size
//   α = 0.05, plus fewclick's proximal pull toward θ0 and gradient-norm clipping), computes the
//   session features of all N candidates, scores them, sorts all N (maxMove: null, a full sort)
//   and returns { ids, order, scores, moved }.
// TF.js: @tensorflow/tfjs's bundle (peer-page.html) on the tfjs-backend-wasm backend, its SIMD
//   binary, one thread (setThreadsCount(1) before setBackend('wasm'); the page is not
//   cross-origin isolated, so threads could not run anyway; peer-tfjs.mjs checks which binary
//   the page fetched).
//   The same model shape: score = w2 · relu(X·W1 + b1) + v · X + c, X: N × 64, W1: 64 × 64.
//   X is uploaded once per N, untimed (the counterpart of setResults). One call, in one tf.tidy:
//   gather the same rows (0-4 clicked, 5-24 skipped; the indices come from JS on every call, as
//   a page's would); from θ0 (the reset: every call starts from the same θ0 tensors) 5 plain SGD
//   steps, lr 0.05, with tf.grads of the mean pairwise logistic loss softplus(s⁻ − s⁺) over the
//   100 pairs; score all N with the adapted weights (tf.fused.matMul with bias and relu for the
//   hidden layer); order with tf.topk(scores, N, sorted) on the backend (not a sort in JS); then
//   dataSync(): the Int32Array of ranked display indices is the ranking handed to JS.
//
// Where the jobs differ (all of it work fewclick does and TF.js does not):
//   - fewclick's rows are [x | s]: the 64 item features and 29 session features (engagement and
//     skip counts, similarity to the clicked items, display position and offsets, times, the last
//     event's kind) that it computes for every candidate and every support row, so its first
//     layer is 93 × 64 and its linear term 93 wide, not 64 × 64 and 64.
//   - its inner loop adds a proximal term λ(θ − θ0) and clips the gradient's norm; TF.js's is
//     plain SGD.
//   - its timed call includes reset() and 25 record() calls (event checks, feature snapshots,
//     training examples); TF.js's counterpart is one tf.gather. The `events` batches time
//     reset() + the 25 record() calls alone (record_median_ms in the fewclick rows).
//   - rank() hands back ids (N strings), order, scores and moves; TF.js only the indices.
// Both sides must produce a full order of all N: each batch's last result is checked outside
// the timed region (fewclick: N ids and `order` a permutation of 0..N-1, adapted; TF.js: the
// indices a permutation), and any failure throws.
//
// GFLOP/s (issue 11: the whole rank against the measured peak, not only the scoring kernel): each
// side's call is counted as the arithmetic of its own job, multiply-adds as 2 flops, the same
// formula for both: per row of width W (fewclick 64 + 29 = 93, TF.js 64) a forward pass of
// 2·W·H + 2·W + 3·H + 2 flops (first layer, linear term, bias + ReLU + output layer; as the
// scoring probe counts) and a backward pass of 2·W·H + 2·W + 3·H; a call is 5 steps × 25 support
// rows × (forward + backward) plus N forward rows. What it leaves out is work, not flops counted
// twice: fewclick's session features, events, proximal step and sort; TF.js's topk. The peak is
// measured in this page for the instructions fewclick's build runs: the relaxed build against the
// fused multiply-add probe, the SIMD build against the best simd128 multiply-add probe
// (scripts/bench/peak-probes.mjs, several chain counts, and fewclick's own benchSimdPeak); all
// are printed.
//
// Timing: a page that is not cross-origin isolated (the storefront condition) has a 100 µs
// performance.now(), so calls are timed in batches: R consecutive calls of one side, R doubled
// until a batch takes ≥ BATCH_MS (and again whenever one does not); per-call time = batch time
// / R. The sides take turns batch by batch (fewclick, TF.js, fewclick events, fewclick, TF.js,
// ...; a coarse clock cannot time single calls) until each has MIN_BATCHES and the per-N budget
// is spent; medians and p90s are over batches. Each side is warmed up first (WARMUP calls, then
// the calibration batches). Untimed, once per N: TF.js's 5 steps must lower the support loss.
import * as fewclick from '../../pkg/index.js';
import { mulberry32, probePeak, round, stats } from './stats.mjs';

const tf = globalThis.tf;
const params = new URLSearchParams(location.search);
const ns = (params.get('ns') ?? '100,1000,10000,100000').split(',').map(Number);
const budgetMs = Number(params.get('budget') ?? 3000);
const SEED = Number(params.get('seed') ?? 20240601);
const WASM_DIR = new URL('../../bench/peers/tfjs/node_modules/@tensorflow/tfjs-backend-wasm/dist/', import.meta.url).href;

const D = 64;
const H = 64;
const STEPS = 5;
const LR = 0.05; // fewclick's syntheticModel step size α
const CLICKED = [0, 1, 2, 3, 4];
const SKIPPED = Array.from({ length: 20 }, (_, i) => 5 + i);
const SUPPORT_ROWS = Int32Array.from([...CLICKED, ...SKIPPED]);
const WARMUP = 3;
const BATCH_MS = 20;
const MIN_BATCHES = 10;
const MAX_BATCHES = 200;
const MAX_REPS = 1 << 14;

const lines = [];
const log = (l) => {
  lines.push(l);
  document.getElementById('out').textContent = lines.join('\n');
};
const now = () => performance.now();
const tick = () => new Promise((r) => setTimeout(r, 0));



/** Flops of one call of the job at width `w` (see the header). */
function jobFlops(w, n) {
  const forward = 2 * w * H + 2 * w + 3 * H + 2;
  const backward = 2 * w * H + 2 * w + 3 * H;
  return STEPS * SUPPORT_ROWS.length * (forward + backward) + n * forward;
}

/** The simd128 multiply-add peak of this page's machine, GFLOP/s: fewclick's bench probe, run
 * with doubling iterations until one run takes ≥ 0.25 s, then the median of 5 runs. */
async function simdPeak() {
  const bench = await import('../../pkg/fewclick_bench.js');
  await bench.default({ module_or_path: new URL('../../pkg/fewclick_bench.wasm', import.meta.url) });
  let iters = 1024;
  while (bench.benchSimdPeak(iters).seconds < 0.25 && iters < 1 << 30) iters *= 2;
  const runs = Array.from({ length: 5 }, () => {
    const r = bench.benchSimdPeak(iters);
    return r.flops / r.seconds / 1e9;
  });
  return stats(runs).median;
}

function isPermutation(order, n) {
  if (order.length !== n) return false;
  const seen = new Uint8Array(n);
  for (const v of order) {
    if (!(v >= 0 && v < n) || seen[v]) return false;
    seen[v] = 1;
  }
  return true;
}

// --- fewclick -------------------------------------------------------------------------------
function fewclickEvents(reranker, ids) {
  reranker.reset();
  for (const i of CLICKED) reranker.record({ item: ids[i], type: 'click' });
  for (const i of SKIPPED) reranker.record({ item: ids[i], type: 'skip' });
}

function fewclickJob(reranker, ids, n) {
  fewclickEvents(reranker, ids);
  const ranking = reranker.rank();
  if (ranking.ids.length !== n) throw new Error(`fewclick rank() returned ${ranking.ids.length} items, expected ${n}`);
  return ranking;
}

function checkFewclick(ranking, n) {
  if (!ranking.adapted) throw new Error('fewclick rank() did not adapt: the benchmark would time the wrong job');
  if (ranking.ids.length !== n || !isPermutation(ranking.order, n)) throw new Error(`fewclick n=${n}: the ranking is not a permutation of the ${n} items`);
}

// --- TF.js ----------------------------------------------------------------------------------
/** score = w2 · relu(X·W1 + b1) + v · X + c, for every row of X: shape [rows]. */
function tfScore(X, [w1, b1, w2, v, c]) {
  const hidden = tf.fused.matMul({ a: X, b: w1, bias: b1, activation: 'relu' });
  return tf.reshape(tf.add(tf.matMul(hidden, w2), tf.fused.matMul({ a: X, b: v, bias: c })), [-1]);
}

/** Mean pairwise logistic loss over (clicked, skipped) pairs: support rows 0-4 clicked, 5-24 skipped. */
function tfPairLoss(support, theta) {
  const s = tfScore(support, theta);
  const pos = tf.reshape(tf.slice(s, 0, CLICKED.length), [CLICKED.length, 1]);
  const neg = tf.reshape(tf.slice(s, CLICKED.length, SKIPPED.length), [1, SKIPPED.length]);
  return tf.mean(tf.softplus(tf.sub(neg, pos))); // softplus(−(s⁺ − s⁻)), 5 × 20 pairs
}

/** STEPS plain SGD steps from θ0 on the support rows (call inside tf.tidy). */
function tfAdapt(theta0, support) {
  const grad = tf.grads((...theta) => tfPairLoss(support, theta));
  let theta = theta0; // reset: every call adapts from θ0
  for (let k = 0; k < STEPS; k++) {
    const g = grad(theta);
    theta = theta.map((t, i) => tf.sub(t, tf.mul(g[i], LR)));
  }
  return theta;
}

function tfjsJob(theta0, X, n) {
  const indices = tf.tidy(() => {
    const support = tf.gather(X, tf.tensor1d(SUPPORT_ROWS, 'int32'));
    return tf.topk(tfScore(X, tfAdapt(theta0, support)), n, true).indices;
  });
  const order = indices.dataSync(); // a copy out of the wasm heap: the ranking, in JS
  indices.dispose();
  return order;
}

/** Once, untimed: the TF.js inner loop lowers the support loss (it does the job, not a no-op). */
function checkTfjsLearns(theta0, X) {
  const [before, after] = tf.tidy(() => {
    const support = tf.gather(X, tf.tensor1d(SUPPORT_ROWS, 'int32'));
    return [tfPairLoss(support, theta0).dataSync()[0], tfPairLoss(support, tfAdapt(theta0, support)).dataSync()[0]];
  });
  if (!(after < before)) throw new Error(`TF.js: ${STEPS} steps did not lower the support loss (${before} → ${after})`);
  return [before, after];
}

function checkTfjs(order, n) {
  if (!(order instanceof Int32Array) || !isPermutation(order, n)) throw new Error(`TF.js n=${n}: the ranking is not a permutation of the ${n} items`);
}

// --- timing ---------------------------------------------------------------------------------
function timeBatch(fn, reps) {
  let last;
  const t0 = now();
  for (let i = 0; i < reps; i++) last = fn();
  return [now() - t0, last];
}

/** Doubles the batch size until one batch takes ≥ BATCH_MS (these batches warm up too). */
function calibrate(fn) {
  let reps = 1;
  for (;;) {
    const [ms] = timeBatch(fn, reps);
    if (ms >= BATCH_MS || reps >= MAX_REPS) return reps;
    reps *= 2;
  }
}

async function run() {
  if (!tf?.wasm) throw new Error('TF.js did not load (bench/peers/tfjs/node_modules: run scripts/bench.sh, which installs it)');
  // The CPU build a storefront page gets here: relaxed SIMD where the engine validates it (Chromium).
  const loaded = await fewclick.init({ build: 'cpu' });
  if (loaded !== 'relaxed' && loaded !== 'simd') throw new Error(`asked fewclick for its best CPU build, loaded ${loaded}`);
  const kernels = await fewclick.cpuKernels();
  const model = await fewclick.syntheticModel(D, H, 1);

  tf.wasm.setWasmPaths(WASM_DIR);
  tf.wasm.setThreadsCount(1);
  if (!(await tf.setBackend('wasm'))) throw new Error('TF.js: the wasm backend did not initialise');
  await tf.ready();
  const tfjs = {
    version: tf.version_core,
    backend: tf.getBackend(),
    simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
    threads: tf.wasm.getThreadsCount(),
  };
  if (tfjs.backend !== 'wasm' || tfjs.threads !== 1) throw new Error(`TF.js runs on ${tfjs.backend} with ${tfjs.threads} threads, expected wasm with 1`);
  log(`fewclick ${loaded} (${kernels}); TF.js ${tfjs.version} ${tfjs.backend}${tfjs.simd ? ' simd' : ' (no simd)'}, ${tfjs.threads} thread; crossOriginIsolated ${crossOriginIsolated}`);

  const rand = mulberry32(SEED);
  const uniform = (len, scale) => Float32Array.from({ length: len }, () => (rand() * 2 - 1) * scale);
  // θ0 (Glorot-uniform layers): its values do not change the work, only its shapes do.
  const theta0 = [
    tf.tensor2d(uniform(D * H, Math.sqrt(6 / (D + H))), [D, H]), // W1
    tf.tensor1d(uniform(H, 0.01)), // b1
    tf.tensor2d(uniform(H, Math.sqrt(6 / (H + 1))), [H, 1]), // w2
    tf.tensor2d(uniform(D, Math.sqrt(6 / (D + 1))), [D, 1]), // v
    tf.tensor1d([0]), // c
  ];
  const tensorsBefore = tf.memory().numTensors;
  const ownProbe = await simdPeak();
  const probes = globalThis.__peakProbes ?? {};
  const simd = Math.max(ownProbe, (await probePeak(probes.mulAdd)) ?? 0);
  const fma = await probePeak(probes.fma);
  // Each build's share of the peak of the instructions it runs: the relaxed build's kernels fuse
  // their multiply-adds (f32x4.relaxed_madd), the SIMD build's multiply, then add.
  const peakKind = loaded === 'relaxed' && fma !== null ? 'relaxed_madd' : 'mul_add';
  const peak = peakKind === 'relaxed_madd' ? fma : simd;
  log(
    `simd128 multiply-add peak ${simd.toFixed(2)} GFLOP/s (fewclick's bench probe ${ownProbe.toFixed(2)}); ` +
      `relaxed-SIMD fused multiply-add peak: ${fma === null ? 'n/a' : `${fma.toFixed(2)} GFLOP/s`}`,
  );
  const FEWCLICK_WIDTH = D + 29; // item features and session features

  const rows = [];
  for (const n of ns) {
    const r = mulberry32(SEED + n);
    const ids = Array.from({ length: n }, (_, i) => `item-${i}`);
    const features = Float32Array.from({ length: n * D }, () => r() * 2 - 1);
    const reranker = await fewclick.createReranker(model, { scope: 'all', steps: STEPS, maxMove: null });
    reranker.setResults({ ids, features, featureNames: reranker.modelInfo().featureNames });
    const X = tf.tensor2d(features, [n, D]);
    const [lossBefore, lossAfter] = checkTfjsLearns(theta0, X);

    const sides = [
      { name: 'fewclick', fn: () => fewclickJob(reranker, ids, n), check: (x) => checkFewclick(x, n) },
      { name: 'tfjs', fn: () => tfjsJob(theta0, X, n), check: (x) => checkTfjs(x, n) },
      { name: 'events', fn: () => fewclickEvents(reranker, ids), check: () => {} },
    ];
    for (const side of sides) {
      for (let w = 0; w < WARMUP; w++) side.check(side.fn());
      side.reps = calibrate(side.fn);
      side.samples = [];
      await tick();
    }
    const start = now();
    while (sides[0].samples.length < MAX_BATCHES && (sides.some((s) => s.samples.length < MIN_BATCHES) || now() - start < budgetMs)) {
      for (const side of sides) {
        const [ms, last] = timeBatch(side.fn, side.reps);
        side.check(last);
        // A batch under BATCH_MS (the calibration met a slow call): keep it if it is at least
        // half as long, and make the next ones twice as long.
        if (ms >= BATCH_MS / 2) side.samples.push(ms / side.reps);
        if (ms < BATCH_MS && side.reps < MAX_REPS) side.reps *= 2;
        await tick();
      }
    }
    reranker.free();
    X.dispose();
    if (tf.memory().numTensors !== tensorsBefore) throw new Error(`TF.js leaked ${tf.memory().numTensors - tensorsBefore} tensors at n=${n}`);

    const [few, tfs, events] = sides.map((s) => ({ ...stats(s.samples), batches: s.samples.length, reps: s.reps }));
    const base = { env: 'chromium', path: 'peer-tfjs', n, item_dim: D, hidden: H, clicks: CLICKED.length, skips: SKIPPED.length, steps: STEPS, cross_origin_isolated: crossOriginIsolated };
    const cells = (s, width) => {
      const flops = jobFlops(width, n);
      const gflops = flops / (s.median * 1e6);
      return {
        median_ms: round(s.median), p90_ms: round(s.p90), min_ms: round(s.min), batches: s.batches, calls_per_batch: s.reps,
        input_width: width, job_mflop: round(flops / 1e6), gflops: round(gflops), simd_peak_gflops: round(simd), bench_probe_gflops: round(ownProbe), fma_peak_gflops: fma === null ? null : round(fma), peak_gflops: round(peak),
        peak_kind: peakKind, of_peak: round(gflops / peak),
      };
    };
    rows.push({ ...base, side: 'fewclick', build: loaded, kernels, scope: 'all', ...cells(few, FEWCLICK_WIDTH), record_median_ms: round(events.median) });
    rows.push({
      ...base,
      side: 'tfjs',
      build: `tfjs-${tfjs.version}`,
      tfjs_version: tfjs.version,
      tfjs_backend: tfjs.backend,
      tfjs_simd: tfjs.simd,
      tfjs_threads: tfjs.threads,
      ordering: 'tf.topk',
      ...cells(tfs, D),
      ratio_to_fewclick: round(tfs.median / few.median, 3),
    });
    log(
      `n=${n}: fewclick ${few.median.toFixed(3)} / ${few.p90.toFixed(3)} ms (${few.batches} × ${few.reps}; reset + 25 record() alone ${events.median.toFixed(3)} ms), ` +
        `TF.js ${tfs.median.toFixed(3)} / ${tfs.p90.toFixed(3)} ms (${tfs.batches} × ${tfs.reps}; support loss ${lossBefore.toFixed(3)} → ${lossAfter.toFixed(3)}), ratio ${(tfs.median / few.median).toFixed(2)}`,
    );
  }
  theta0.forEach((t) => t.dispose());
  return { rows, tfjs, kernels };
}

run().then(
  (result) => {
    window.__peer = { ok: true, ...result, lines, crossOriginIsolated };
  },
  (e) => {
    window.__peer = { ok: false, error: String(e && e.stack ? e.stack : e), lines };
  },
);
