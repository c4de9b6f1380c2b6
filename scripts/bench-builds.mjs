// Two CPU builds side by side in one headless Chromium page, calls taking turns
// (scripts/bench/builds-page.js says why and what the job is): by default pkg/'s relaxed-SIMD and
// SIMD builds; with --a and --b any two wasm files that pkg/fewclick_wasm.js can load (say, the
// SIMD build before and after a change: copy the old one aside before rebuilding). A benchmark,
// not a test: CI does not run it. Needs pkg/ (bash scripts/build-wasm.sh).
//   node scripts/bench-builds.mjs [--reps N] [--ns 100,1000,10000] [--dims 16,32] [--events random|peer] [--a old.wasm --b new.wasm]
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './lib/chromium.mjs';
import { serve } from './lib/serve.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
};
const reps = Number(arg('--reps', '300'));
const ns = arg('--ns', '100,1000,10000');
const dims = arg('--dims', '16,32'); // itemDim,hidden of the synthetic model
// random: 25 clicks on random items; peer: the TF.js peer job's 5 clicks and 20 skips (builds-page.js)
const events = arg('--events', 'random');
if (!['random', 'peer'].includes(events)) throw new Error('--events must be random or peer');
if (!Number.isInteger(reps) || reps < 10) throw new Error('--reps must be an integer ≥ 10');
const [fileA, fileB] = [arg('--a', undefined), arg('--b', undefined)];
if ((fileA === undefined) !== (fileB === undefined)) throw new Error('give both --a and --b, or neither');
// The page fetches from the repository root: given files are copied under target/.
let query = '';
if (fileA !== undefined) {
  mkdirSync(new URL('../target/bench-builds/', import.meta.url), { recursive: true });
  copyFileSync(fileA, new URL('../target/bench-builds/a.wasm', import.meta.url));
  copyFileSync(fileB, new URL('../target/bench-builds/b.wasm', import.meta.url));
  query = '&a=target/bench-builds/a.wasm&b=target/bench-builds/b.wasm';
}
const [labelA, labelB] = fileA === undefined ? ['relaxed', 'simd'] : ['a', 'b'];
if (!existsSync(new URL('../pkg/fewclick_relaxed.wasm', import.meta.url))) {
  console.error('error: pkg/ has no fewclick_relaxed.wasm: run bash scripts/build-wasm.sh first');
  process.exit(1);
}

// Cross-origin isolated, so performance.now() is fine-grained (5 µs instead of 100 µs).
const server = await serve(ROOT, {
  headers: () => ({ 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' }),
});
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(`${server.origin}/scripts/bench/builds-page.html?reps=${reps}&ns=${ns}&dims=${dims}&events=${events}${query}`);
  const r = await page.waitForFunction(() => window.__builds, null, { timeout: 600_000 }).then((h) => h.jsonValue());
  if (!r.ok) throw new Error(r.error);
  console.log(`adapt + rank, ms (median; itemDim ${r.item_dim}, hidden ${r.hidden}, ${r.events === 'peer' ? '5 clicks and 20 skips' : '25 clicks'}, k = 5), Chromium ${browser.version()}, the two builds taking turns call by call`);
  if (fileA !== undefined) console.log(`a = ${fileA} (${r.kernels.a}), b = ${fileB} (${r.kernels.b}); speed-up = how much faster a is (b's median / a's)`);
  console.log(`${'N'.padStart(8)} ${labelA.padStart(10)} ${labelB.padStart(10)} ${'speed-up'.padStart(9)} ${'reps'.padStart(6)}`);
  for (const row of r.rows) {
    console.log(
      `${row.n.toLocaleString('en').padStart(8)} ${row.a_median_ms.toFixed(3).padStart(10)} ${row.b_median_ms.toFixed(3).padStart(10)} ${`${row.speedup.toFixed(2)}×`.padStart(9)} ${String(row.reps).padStart(6)}`,
    );
  }
  console.log(JSON.stringify({ path: 'builds-side-by-side', browser: browser.version(), kernels: r.kernels, rows: r.rows }));
} finally {
  await browser.close();
  await server.close();
}
