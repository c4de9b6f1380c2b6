#!/usr/bin/env node
// Prints fewclick's latency and kernel figures (a benchmark, not a test): the CPU builds (SIMD,
// baseline) in Node and in headless Chromium, the gpu build's WebGPU paths in Chromium, and the
// same job as TF.js 4.22 side by side (the peer: scripts/bench/peer-tfjs.mjs); writes one JSON
// object per row to bench-results/bench.json. Needs pkg/ (scripts/build-wasm.sh; scripts/bench.sh
// builds first) and, for the peer, bench/peers/tfjs/node_modules (scripts/bench.sh installs it).
//
//   node scripts/bench.mjs [--quick] [--no-chromium] [--no-node] [--no-peer | --peer-only]
//
// --quick: N = 100 and 1000 only, short budgets (a smoke run). --no-peer (or --no-chromium):
// without the TF.js peer; --peer-only: only the peer, its rows replacing the peer rows in
// bench.json (the other rows stay).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { arch, cpus, platform } from 'node:os';
import { PATHS, NS, SEED, runSuite } from './bench/suite.mjs';
import { runPeer, printPeerTable } from './bench/peer-tfjs.mjs';
import { peakProbeModules, injectPeakProbes } from './bench/peak-probes.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PKG = new URL('../pkg/', import.meta.url);
const BUILDS = ['simd', 'baseline'];
// Chromium also runs the relaxed SIMD build (Node 20 validates relaxed SIMD only behind a flag)
// and the gpu build, for the WebGPU rows (Node has no WebGPU).
const BROWSER_BUILDS = ['relaxed', ...BUILDS, 'webgpu'];
const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const ns = quick ? [100, 1000] : NS;
const budgetMs = quick ? 200 : 1200;
const peerOnly = args.has('--peer-only');
// The peer runs in Chromium: --no-chromium leaves it out too, unless --peer-only.
const peer = peerOnly || !(args.has('--no-peer') || args.has('--no-chromium'));
if (peerOnly && args.has('--no-peer')) throw new Error('--peer-only and --no-peer contradict each other');

// --- child mode: one build in its own Node process (one wasm instance per realm) --------------
if (process.argv[2] === '--child') {
  const build = process.argv[3];
  const api = await import(new URL('node.js', PKG).href);
  const probes = await import(new URL('fewclick_bench.js', PKG).href);
  probes.initSync({ module: readFileSync(new URL('fewclick_bench.wasm', PKG)) });
  const rows = await runSuite({
    api, probes, build, env: 'node', budgetMs: Number(process.argv[4]), ns: process.argv[5].split(',').map(Number),
    mulAddProbe: peakProbeModules().mulAdd,
    log: (l) => process.stderr.write(`  ${l}\n`),
  });
  process.stdout.write(JSON.stringify(rows));
  process.exit(0);
}

function runNode(build) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', build, String(budgetMs), ns.join(',')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`node ${build} bench exited ${code}`))));
  });
}

async function runChromium() {
  const { serve } = await import('./lib/serve.mjs');
  const { launchChromium } = await import('./lib/chromium.mjs');
  // Cross-origin isolation only for the benchmark page: it gives performance.now() 5 µs
  // resolution instead of 100 µs. The library itself needs no isolation (tests/js checks that).
  const server = await serve(ROOT, {
    headers: () => ({ 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' }),
  });
  const browser = await launchChromium();
  const rows = [];
  const probeModules = peakProbeModules();
  try {
    for (const build of BROWSER_BUILDS) {
      const page = await browser.newPage();
      await injectPeakProbes(page, probeModules); // for the kernel row's peak
      const url = `${server.origin}/scripts/bench/page.html?build=${build}&budget=${budgetMs}&ns=${ns.join(',')}`;
      await page.goto(url);
      const result = await page.waitForFunction(() => window.__bench, null, { timeout: 240_000 }).then((h) => h.jsonValue());
      for (const l of result.lines ?? []) console.error(`  ${l}`);
      if (!result.ok) throw new Error(`chromium ${build}: ${result.error}`);
      if (!result.crossOriginIsolated) console.error('  warning: the bench page is not cross-origin isolated; timer resolution is 100 µs');
      rows.push(...result.rows.map((r) => ({ ...r, browser: browser.version() })));
      await page.close();
    }
  } finally {
    await browser.close();
    await server.close();
  }
  return rows;
}

/** The page weights scripts/build-wasm.sh measured when it built pkg/ (target/pkg-sizes.json, the
 * figures the size budget of scripts/test.sh checks: gzip -9, the loader as index.js and its
 * static imports), not weighed a second way here: until session 15 this row weighed the files
 * itself and disagreed with the budget (zlib's level 9, and worker-client.js, lazy since
 * session 11, counted). */
function sizes() {
  const file = new URL('../target/pkg-sizes.json', import.meta.url);
  if (!existsSync(file)) throw new Error('target/pkg-sizes.json is missing: run bash scripts/build-wasm.sh (it writes pkg/ and the sizes together)');
  const z = JSON.parse(readFileSync(file, 'utf8'));
  return {
    path: 'size',
    loader_js_gzip_bytes: z.loader_js_gzip,
    cpu_glue_gzip_bytes: z.cpu_glue_gzip,
    gpu_glue_gzip_bytes: z.gpu_glue_gzip,
    simd_wasm_gzip_bytes: z.simd_wasm_gzip,
    relaxed_wasm_gzip_bytes: z.relaxed_wasm_gzip,
    base_wasm_gzip_bytes: z.base_wasm_gzip,
    gpu_wasm_gzip_bytes: z.gpu_wasm_gzip,
    // A CPU page loads the relaxed or the SIMD wasm (build-wasm.sh's budget counts the larger).
    page_gzip_bytes: z.cpu_page_gzip,
    gpu_page_gzip_bytes: z.gpu_page_gzip,
  };
}

// --- main -----------------------------------------------------------------------------------
const t0 = Date.now();
const version = JSON.parse(readFileSync(new URL('package.json', PKG), 'utf8')).version;
console.error(`fewclick ${version} benchmark: seed ${SEED}, N = ${ns.join(', ')}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`);
const rows = [];
if (!peerOnly && !args.has('--no-node')) {
  for (const build of BUILDS) {
    console.error(`node ${process.version}, ${build} build`);
    rows.push(...(await runNode(build)).map((r) => ({ ...r, node: process.version })));
  }
}
if (!peerOnly && !args.has('--no-chromium')) {
  console.error('headless chromium');
  rows.push(...(await runChromium()));
}
const peerRows = [];
if (peer) {
  console.error('headless chromium, the TF.js peer (a page that is not cross-origin isolated)');
  peerRows.push(...(await runPeer({ ns, budgetMs: quick ? 500 : 3000 })));
}
const size = sizes();
const meta = { version, seed: SEED, platform: `${platform()}-${arch()}`, cpus: cpus().length, cpu: cpus()[0]?.model, date: new Date().toISOString() };
const benchJson = new URL('../bench-results/bench.json', import.meta.url);
const kept = peerOnly && existsSync(benchJson) ? JSON.parse(readFileSync(benchJson, 'utf8')).filter((r) => r.path !== 'peer-tfjs') : [];
const all = [...kept, ...[...rows, ...peerRows].map((r) => ({ ...meta, ...r })), ...(peerOnly ? [] : [{ ...meta, ...size }])];
mkdirSync(new URL('../bench-results/', import.meta.url), { recursive: true });
writeFileSync(benchJson, JSON.stringify(all, null, 1) + '\n');
if (peerOnly) {
  printPeerTable(peerRows);
  console.log(`rows: bench-results/bench.json (${all.length}, ${peerRows.length} of them the peer's); ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  process.exit(0);
}

// --- table ----------------------------------------------------------------------------------
const pad = (s, w) => String(s).padStart(w);
const envs = [...new Set(rows.map((r) => r.env))];
console.log(`\nrank() latency, ms (median / p90; itemDim 16, hidden 32, 25 clicks, k = 5)`);
const header = ['env', 'build', 'path', ...ns.map((n) => `N=${n}`)];
const widths = [9, 9, 22, ...ns.map(() => 18)];
console.log(header.map((h, i) => (i < 3 ? String(h).padEnd(widths[i]) : pad(h, widths[i]))).join(' '));
for (const env of envs) {
  for (const build of BROWSER_BUILDS) {
    for (const path of PATHS) {
      if (!rows.some((x) => x.env === env && x.build === build && x.path === path)) continue;
      const cells = ns.map((n) => {
        const r = rows.find((x) => x.env === env && x.build === build && x.path === path && x.n === n);
        return r ? `${r.median_ms.toFixed(3)} / ${r.p90_ms.toFixed(3)}` : '-';
      });
      console.log([env.padEnd(9), build.padEnd(9), path.padEnd(22), ...cells.map((c, i) => pad(c, widths[3 + i]))].join(' '));
    }
  }
}
console.log(`\nrecord() of one click, ms (median; the adapt+rank rows' 25 clicks)`);
for (const env of envs) {
  for (const build of BROWSER_BUILDS) {
    const cells = ns.map((n) => rows.find((x) => x.env === env && x.build === build && x.path === 'adapt+rank' && x.n === n));
    if (!cells.some((r) => r && r.record_median_ms !== undefined)) continue;
    console.log([env.padEnd(9), build.padEnd(9), ''.padEnd(22), ...cells.map((r, i) => pad(r ? r.record_median_ms.toFixed(4) : '-', widths[3 + i]))].join(' '));
  }
}
const adapters = [...new Set(rows.filter((r) => r.gpu_adapter).map((r) => r.gpu_adapter))];
if (adapters.length) {
  console.log(`webgpu rows: rankAsync('webgpu') on ${adapters.join(', ')}${adapters.some((a) => /swiftshader/i.test(a)) ? ' (SwiftShader is a CPU emulation of a GPU: these are not GPU times)' : ''}`);
}
console.log(`\nscoring kernel, N = 10000 (GFLOP/s; multiply-add = 2 flops)`);
console.log(`${'env'.padEnd(9)} ${'build'.padEnd(9)} ${pad('kernel', 10)} ${pad('simd peak', 10)} ${pad('ratio', 7)}`);
for (const r of rows.filter((x) => x.path === 'scoring-kernel')) {
  console.log(
    `${r.env.padEnd(9)} ${r.build.padEnd(9)} ${pad(r.gflops.toFixed(2), 10)} ${pad(r.simd_peak_gflops === null ? 'n/a' : r.simd_peak_gflops.toFixed(2), 10)} ${pad(r.ratio_of_peak === null ? 'n/a' : `${(r.ratio_of_peak * 100).toFixed(0)}%`, 7)}`,
  );
}
console.log(`\nwhat a page loads (gzip -9): CPU build (no navigator.gpu, or init({ build: 'cpu' })) ${size.page_gzip_bytes} B (${(size.page_gzip_bytes / 1024).toFixed(1)} KiB) = loader ${size.loader_js_gzip_bytes} + glue ${size.cpu_glue_gzip_bytes} + the larger of the SIMD wasm ${size.simd_wasm_gzip_bytes} and the relaxed SIMD wasm ${size.relaxed_wasm_gzip_bytes}; gpu build ${size.gpu_page_gzip_bytes} B (${(size.gpu_page_gzip_bytes / 1024).toFixed(1)} KiB) = loader + glue ${size.gpu_glue_gzip_bytes} + wasm ${size.gpu_wasm_gzip_bytes}; baseline wasm ${size.base_wasm_gzip_bytes} B`);
if (peerRows.length) printPeerTable(peerRows);
console.log(`targets (DESIGN.md): Chromium SIMD adapt+rank N=1000 well under 1 ms, N=10000 a few ms; kernel ≥ 70% of peak; page ≤ 60 KB gzip`);
console.log(`rows: bench-results/bench.json (${all.length}); ${((Date.now() - t0) / 1000).toFixed(0)} s`);
