// The WebGPU build's entry, bundled with its wasm-bindgen glue into fewclick_gpu.js
// (scripts/build-wasm.sh): the glue's exports, and the asynchronous half of rankAsync(), which
// the wasm leaves to JavaScript so that it carries no executor and no futures (issue 11's page
// weight). The wasm answers each step with the ranking or with what to wait for
// (src/wasm/gpu.rs): `{ device: true }`, the page's device, acquired here once; `{ wait }`, the
// promises of a GPU run, awaited here, and how they ended handed back.
// A CPU build has no such module: core.js answers rankAsync() there with rank().

import { gpuAttach, gpuCompiled, gpuLost, gpuUnusable } from './fewclick_gpu.js';

export * from './fewclick_gpu.js';
export { default } from './fewclick_gpu.js';

const message = (e) => (e instanceof Error ? e.message : String(e));

/** Awaits a GPU run's promises (the three error scopes' pops, then the mapping when there is
 * one) and says how they ended, as the wasm takes it: the first error a scope caught (a pop that
 * rejected counts) and why the mapping failed, each a message or undefined. */
async function ended(promises) {
  const [internal, memory, validation, mapped] = await Promise.allSettled(promises); // popped innermost first
  const scope = [internal, memory, validation]
    .map((s) => (s.status === 'rejected' ? `popErrorScope failed: ${message(s.reason)}` : s.value?.message))
    .find((m) => m !== undefined);
  return [scope, mapped?.status === 'rejected' ? message(mapped.reason) : undefined];
}

/** Asks `gpu` (the realm's navigator.gpu) for an adapter and a device and makes the device the
 * page's, compiling the kernels on it. Resolves with why WebGPU cannot be used here, or null;
 * never rejects. */
export async function acquireDevice(gpu) {
  if (typeof gpu !== 'object' || gpu === null) {
    return 'navigator.gpu is missing (no WebGPU in this browser, or not a secure context)';
  }
  let adapter;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return `requestAdapter() failed: ${message(e)}`;
  }
  if (!adapter) return 'requestAdapter() found no WebGPU adapter';
  let device;
  try {
    device = await adapter.requestDevice();
  } catch (e) {
    return `requestDevice() failed: ${message(e)}`;
  }
  try {
    const compiled = gpuAttach(device);
    device.lost.then((info) => gpuLost(info.message));
    gpuCompiled((await ended(compiled))[0]);
    return null;
  } catch (e) {
    return `setting up the WebGPU device failed: ${message(e)}`;
  }
}

let pageDevice; // the page's one request, shared by every reranker

/** rankAsync(backend) on the WebGPU build: the wasm's steps, awaiting what each asks for. */
export async function rankAsync(raw, backend) {
  let step = raw.rankAsyncStart(backend);
  for (;;) {
    let how = [];
    if (step.device) {
      const reason = await (pageDevice ??= acquireDevice(globalThis.navigator?.gpu));
      if (reason !== null) gpuUnusable(reason);
    } else if (step.wait) {
      how = await ended(step.wait);
    } else {
      return step;
    }
    step = raw.rankAsyncResume(...how);
  }
}
