// fewclick for browsers, bundlers and Web Workers. The wasm build is fetched from beside this file
// (`new URL('./x.wasm', import.meta.url)`, which bundlers recognise and copy); Node uses node.js.
import { fetchBytes, makeApi } from './core.js';

export { ERROR_CODES, FewclickError, isFewclickError, simdSupported } from './core.js';
export { createWorkerReranker } from './worker-client.js';

const api = makeApi({
  // Two literal URLs, so a bundler sees and emits both files; the page downloads only one.
  wasmSource: (build) =>
    build === 'simd' ? new URL('./fewclick_simd.wasm', import.meta.url) : new URL('./fewclick_base.wasm', import.meta.url),
  fetchModel: fetchBytes,
});

export const { init, createReranker, syntheticModel, version, cpuKernels, gpuStatus } = api;
