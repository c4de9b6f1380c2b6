// fewclick for browsers, bundlers and Web Workers. The wasm build is fetched from beside this file
// (`new URL('./x.wasm', import.meta.url)`, which bundlers recognise and copy); Node uses node.js.
import { fetchBytes, makeApi } from './core.js';

export { ERROR_CODES, FewclickError, isFewclickError, simdSupported, webgpuAvailable } from './core.js';
export { ENGLISH, REASON_CODES, reasonText } from './reasons.js';

const api = makeApi({
  // Literal URLs, so a bundler sees and emits every build; the page downloads only one.
  wasmSource: (build) => {
    if (build === 'webgpu') return new URL('./fewclick_gpu.wasm', import.meta.url);
    if (build === 'relaxed') return new URL('./fewclick_relaxed.wasm', import.meta.url);
    if (build === 'simd') return new URL('./fewclick_simd.wasm', import.meta.url);
    if (build === 'bench') return new URL('./fewclick_bench.wasm', import.meta.url);
    return new URL('./fewclick_base.wasm', import.meta.url);
  },
  fetchModel: fetchBytes,
});

export const { init, createReranker, syntheticModel, version, cpuKernels, gpuStatus, memoryUsage } = api;

/** See worker-client.js. Imported on first use: a page that ranks on its main thread never
 * downloads the worker client (issue 11's page weight). */
export async function createWorkerReranker(...args) {
  const { createWorkerReranker: create } = await import('./worker-client.js');
  return create(...args);
}
