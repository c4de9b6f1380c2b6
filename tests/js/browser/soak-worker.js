// The soak's worker (tests/js/soak.test.mjs): the package's worker, imported as a storefront's own
// module worker may import `fewclick/worker`, plus one test-only message the package does not
// have: { soak: 'memory', id } is answered with { soak: 'memory', id, bytes }, the byte length of
// this worker's wasm memory. It is read from the wasm-bindgen glue of the build the worker loaded,
// whose init returns the instance's exports once it is loaded (the memory among them).
import '../node_modules/fewclick/worker.js';
import { init } from '../node_modules/fewclick/index.js';

async function wasmBytes() {
  const build = await init(); // memoised: the build the worker's rerankers use
  const glue = build === 'webgpu' ? await import('../node_modules/fewclick/fewclick_gpu.js') : await import('../node_modules/fewclick/fewclick_wasm.js');
  return (await glue.default()).memory.buffer.byteLength;
}

globalThis.addEventListener('message', async (event) => {
  const msg = event.data;
  if (msg === null || typeof msg !== 'object' || msg.soak !== 'memory') return;
  globalThis.postMessage({ soak: 'memory', id: msg.id, bytes: await wasmBytes() });
});
