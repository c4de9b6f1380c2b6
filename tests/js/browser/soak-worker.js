// The soak's worker (tests/js/soak.test.mjs): the package's worker, imported as a storefront's own
// module worker may import `fewclick/worker`, plus one test-only message the package does not
// have: { soak: 'memory', id } is answered with { soak: 'memory', id, bytes }, the byte length of
// this worker's wasm memory, as the package's own `memoryUsage()` reports it for the build the
// worker's rerankers use.
import '../node_modules/fewclick/worker.js';
import { memoryUsage } from '../node_modules/fewclick/index.js';

async function wasmBytes() {
  return (await memoryUsage()).wasmBytes;
}

globalThis.addEventListener('message', async (event) => {
  const msg = event.data;
  if (msg === null || typeof msg !== 'object' || msg.soak !== 'memory') return;
  globalThis.postMessage({ soak: 'memory', id: msg.id, bytes: await wasmBytes() });
});
