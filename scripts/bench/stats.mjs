// Seeded numbers, summary statistics and the peak probes' timing, shared by the benchmark's pages
// (scripts/bench/suite.mjs, scripts/bench/peer-page.js, scripts/bench/builds-page.js).

/** mulberry32: a small seeded generator of uniform numbers in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function quantile(sorted, q) {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
}

export function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return { median: quantile(s, 0.5), p90: quantile(s, 0.9), min: s[0] };
}

export const round = (x, digits = 4) => Number(x.toFixed(digits));

/** The best GFLOP/s over a probe module's chain counts, or null where the engine cannot run it:
 * the modules of scripts/bench/peak-probes.mjs (the pages get them as window.__peakProbes, Node
 * from that file). For each chain count: three warm-up calls (V8 runs a function in its
 * baseline tier until it has been called enough, about five times slower here), iterations
 * doubled until a run takes ≥ 0.1 s, then the median of 5 runs. */
export async function probePeak(bytes, now = () => performance.now()) {
  if (!(bytes instanceof Uint8Array) || !WebAssembly.validate(bytes)) return null;
  const { instance } = await WebAssembly.instantiate(bytes);
  let best = 0;
  for (const [name, run] of Object.entries(instance.exports)) {
    const chains = Number(name.slice(3));
    const time = (iters) => {
      const t0 = now();
      run(iters);
      return (now() - t0) / 1e3;
    };
    for (let w = 0; w < 3; w++) time(1 << 16);
    let iters = 1 << 16;
    while (time(iters) < 0.1 && iters < 1 << 30) iters *= 2;
    const runs = Array.from({ length: 5 }, () => (iters * chains * 8) / time(iters) / 1e9);
    best = Math.max(best, stats(runs).median);
  }
  return best;
}
