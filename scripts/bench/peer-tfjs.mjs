// The benchmark's TF.js peer (issue 11): fewclick and TF.js 4.22 run the same job in one headless
// Chromium page (scripts/bench/peer-page.html / peer-page.js, which say exactly what each side
// does and where the jobs differ). Called by scripts/bench.mjs (by default; --no-peer skips it,
// --peer-only runs only it). TF.js lives in bench/peers/tfjs/ (exact pins in its package.json),
// installed by scripts/bench.sh, outside the package. A benchmark, not a test: CI does not run it.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SEED } from './suite.mjs';
import { injectPeakProbes, peakProbeModules } from './peak-probes.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PEER = new URL('../../bench/peers/tfjs/', import.meta.url);
const INSTALL = 'bash scripts/bench.sh installs it; or: (cd bench/peers/tfjs && npm install --no-audit --no-fund)';

/** Throws unless bench/peers/tfjs/node_modules holds exactly the versions its package.json pins. */
function checkInstalled() {
  const pins = JSON.parse(readFileSync(new URL('package.json', PEER), 'utf8')).dependencies;
  for (const [name, pin] of Object.entries(pins)) {
    const file = new URL(`node_modules/${name}/package.json`, PEER);
    const have = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).version : 'nothing';
    if (have !== pin) throw new Error(`the TF.js peer needs ${name} ${pin} in bench/peers/tfjs/node_modules, found ${have}: ${INSTALL}`);
  }
  return pins['@tensorflow/tfjs-core'];
}

/**
 * Runs the peer page for `ns`; `budgetMs` is the time per N beyond the minimum batches. Returns
 * one row per (N, side): path 'peer-tfjs', side 'fewclick' | 'tfjs'.
 */
export async function runPeer({ ns, budgetMs = 3000, log = (l) => console.error(`  ${l}`) }) {
  const version = checkInstalled();
  const { serve } = await import('../lib/serve.mjs');
  const { launchChromium } = await import('../lib/chromium.mjs');
  // No isolation headers: a storefront is not cross-origin isolated (no SharedArrayBuffer, so no
  // TF.js threads, and a 100 µs performance.now(): the page times batches of calls).
  const server = await serve(ROOT);
  const browser = await launchChromium();
  const logs = [];
  try {
    const page = await browser.newPage();
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    await injectPeakProbes(page, peakProbeModules()); // each build's share of its peak
    await page.goto(`${server.origin}/scripts/bench/peer-page.html?ns=${ns.join(',')}&budget=${budgetMs}&seed=${SEED}`);
    const result = await page
      .waitForFunction(() => window.__peer, null, { timeout: 900_000, polling: 1000 })
      .then((h) => h.jsonValue());
    for (const l of result.lines ?? []) log(l);
    if (!result.ok) throw new Error(`peer page: ${result.error}\n${logs.join('\n')}`);
    if (result.crossOriginIsolated) throw new Error('the peer page is cross-origin isolated; it must run as a storefront does');
    if (result.tfjs.version !== version) throw new Error(`the page ran TF.js ${result.tfjs.version}, expected ${version}`);
    // Which TF.js wasm binary the page fetched: the SIMD one, not the threaded one.
    const binaries = server.requests.filter((p) => p.endsWith('.wasm') && p.includes('tfjs-backend-wasm')).map((p) => p.split('/').pop());
    if (!binaries.includes('tfjs-backend-wasm-simd.wasm') || binaries.some((b) => b.includes('threaded'))) {
      throw new Error(`TF.js loaded ${binaries.join(', ') || 'no wasm binary'}; expected tfjs-backend-wasm-simd.wasm only`);
    }
    await page.close();
    return result.rows.map((r) => ({ ...r, browser: browser.version(), ...(r.side === 'tfjs' ? { tfjs_wasm_binary: 'tfjs-backend-wasm-simd.wasm' } : {}) }));
  } finally {
    await browser.close();
    await server.close();
  }
}

/** The table: N | fewclick median | fewclick p90 | TF.js median | TF.js p90 | ratio. */
export function printPeerTable(rows) {
  const ns = [...new Set(rows.map((r) => r.n))];
  const row = (n, side) => rows.find((r) => r.n === n && r.side === side);
  const t = rows.find((r) => r.side === 'tfjs');
  const f0 = rows.find((r) => r.side === 'fewclick');
  console.log(
    `\nfewclick vs TF.js ${t?.tfjs_version ?? ''} (wasm SIMD, 1 thread), one Chromium page, not cross-origin isolated; ms per call ` +
      `(median and p90 over batches of calls): reset, 5 steps on 5 clicked × 20 skipped, score and order N (itemDim 64, hidden 64)`,
  );
  const w = [8, 17, 14, 14, 12, 7, 22, 14];
  const head = ['N', 'fewclick median', 'fewclick p90', 'TF.js median', 'TF.js p90', 'ratio', 'fewclick GFLOP/s', 'TF.js GFLOP/s'];
  console.log(head.map((h, i) => String(h).padStart(w[i])).join(' '));
  for (const n of ns) {
    const f = row(n, 'fewclick');
    const p = row(n, 'tfjs');
    const rate = (r) => `${r.gflops.toFixed(2)} (${(100 * r.of_peak).toFixed(0)} %)`;
    const cells = [n.toLocaleString('en'), f.median_ms.toFixed(3), f.p90_ms.toFixed(3), p.median_ms.toFixed(3), p.p90_ms.toFixed(3), `${(p.median_ms / f.median_ms).toFixed(2)}×`, rate(f), rate(p)];
    console.log(cells.map((c, i) => String(c).padStart(w[i])).join(' '));
  }
  console.log('ratio = TF.js median / fewclick median; the jobs and their differences: scripts/bench/peer-page.js');
  if (f0 !== undefined) {
    console.log(
      `GFLOP/s = each side's own job (fewclick's rows ${f0.input_width} wide, TF.js's ${t.input_width}) per median call, and in brackets the share of the ` +
        `peak measured in the page for fewclick's build: ${f0.peak_kind === 'relaxed_madd' ? 'the relaxed-SIMD fused multiply-add' : 'the simd128 multiply-add'} peak, ${f0.peak_gflops.toFixed(2)} GFLOP/s ` +
        `(simd128 multiply-add ${f0.simd_peak_gflops.toFixed(2)}, fused ${f0.fma_peak_gflops === null ? 'n/a' : f0.fma_peak_gflops.toFixed(2)}, ` +
        `fewclick's own simd128 probe ${f0.bench_probe_gflops.toFixed(2)}); TF.js's share is of the same; scripts/bench/peer-page.js counts the flops`,
    );
  }
}
