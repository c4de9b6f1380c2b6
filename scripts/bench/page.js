// The benchmark in headless Chromium (started by scripts/bench.mjs): ?build=relaxed|simd|baseline|webgpu
// picks the build; results land in window.__bench. One page per build: one wasm instance per realm.
import * as api from '../../pkg/index.js';
import { runSuite } from './suite.mjs';

const params = new URLSearchParams(location.search);
const build = params.get('build');
// The bench build's glue, for the kernel probes (not public API; an instance of its own).
const probes = await import('../../pkg/fewclick_bench.js');
await probes.default({ module_or_path: new URL('../../pkg/fewclick_bench.wasm', import.meta.url) });
const budgetMs = Number(params.get('budget') ?? 1200);
const ns = params.get('ns') ? params.get('ns').split(',').map(Number) : undefined;
const lines = [];
runSuite({ api, probes, build, env: 'chromium', budgetMs, ns, mulAddProbe: globalThis.__peakProbes?.mulAdd, log: (l) => lines.push(l) }).then(
  (rows) => {
    window.__bench = { ok: true, rows, lines, crossOriginIsolated };
    document.getElementById('out').textContent = lines.join('\n');
  },
  (e) => {
    window.__bench = { ok: false, error: String(e && e.stack ? e.stack : e), lines };
  },
);
