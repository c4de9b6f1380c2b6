// fewclick for Node: the same API as index.js, with the wasm read from disk and model "URLs"
// that may also be file paths or file: URLs.
import { readFile } from 'node:fs/promises';
import { FewclickError, fetchBytes, makeApi } from './core.js';

export { ERROR_CODES, FewclickError, isFewclickError, simdSupported, webgpuAvailable } from './core.js';
export { createWorkerReranker } from './worker-client.js';
export { ENGLISH, REASON_CODES, reasonText } from './reasons.js';

async function readModel(source) {
  let url;
  try {
    url = source instanceof URL ? source : new URL(source);
    if (url.protocol.length === 2) url = undefined; // a Windows drive letter ("C:\\models\\m.fcm")
  } catch {
    url = undefined; // not a URL: a file path
  }
  if (url !== undefined && (url.protocol === 'http:' || url.protocol === 'https:')) return fetchBytes(url);
  if (url !== undefined && url.protocol !== 'file:') {
    throw new FewclickError('FETCH_FAILED', `cannot load a model from a ${url.protocol} URL`);
  }
  try {
    return new Uint8Array(await readFile(url ?? source));
  } catch (e) {
    throw new FewclickError('FETCH_FAILED', `could not read the model file ${String(source)}: ${e.message}`, { cause: e });
  }
}

const api = makeApi({
  wasmSource: (build) =>
    readFile(new URL({ webgpu: './fewclick_gpu.wasm', relaxed: './fewclick_relaxed.wasm', simd: './fewclick_simd.wasm', bench: './fewclick_bench.wasm' }[build] ?? './fewclick_base.wasm', import.meta.url)),
  fetchModel: readModel,
});

export const { init, createReranker, syntheticModel, version, cpuKernels, gpuStatus, memoryUsage } = api;
