// The soak's statistics and its latency rule, shared by the page (soak.js: whether to measure a
// second interleaved round) and Node (soak.test.mjs: the check itself), so both judge alike.
// No DOM, no Node: plain functions of numbers.

export const TOLERANCE = 1.2; // aged ≤ 1.2 × fresh
export const RANK_BATCH = 10; // ranks per rank mean

const sorted = (xs) => Float64Array.from(xs).sort();
export const p99 = (xs) => sorted(xs)[Math.ceil(0.99 * xs.length) - 1];
export const p50 = (xs) => sorted(xs)[Math.ceil(0.5 * xs.length) - 1];
export const round = (x, digits = 3) => +x.toFixed(digits);
/** The means of consecutive runs of `k` (a last, shorter run is dropped). */
export const means = (xs, k) =>
  Array.from({ length: Math.floor(xs.length / k) }, (_, i) => xs.slice(i * k, (i + 1) * k).reduce((a, b) => a + b) / k);

/**
 * One interleaved round's figures and ratios (aged over fresh): record, the per-record means of
 * batches (µs); rank, the means of RANK_BATCH consecutive ranks of one reranker (ms); for each, p50
 * and p99. `ok` when every ratio is at most TOLERANCE.
 * @param r { aged: { recordMs, rankMs }, fresh: { recordMs, rankMs } }
 */
export function interleavedRatios(r) {
  const figures = {};
  const ratios = {};
  for (const [what, series, scale, digits] of [
    ['record', (x) => x.recordMs, 1000, 1],
    ['rank', (x) => means(x.rankMs, RANK_BATCH), 1, 3],
  ]) {
    for (const [stat, f] of [['p50', p50], ['p99', p99]]) {
      const aged = f(series(r.aged));
      const fresh = f(series(r.fresh));
      figures[`${what}_${stat}_${what === 'record' ? 'us' : 'ms'}`] = { aged: round(aged * scale, digits), fresh: round(fresh * scale, digits) };
      ratios[`${what}_${stat}`] = round(aged / fresh);
    }
  }
  return { figures, ratios, ok: Object.values(ratios).every((x) => x <= TOLERANCE) };
}
