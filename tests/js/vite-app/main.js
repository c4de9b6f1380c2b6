// A bundler consumer: imports the package by name; Vite resolves `exports`, bundles the loader and
// emits the wasm files referenced through `new URL(..., import.meta.url)`.
import { createReranker, syntheticModel, cpuKernels } from 'fewclick';

async function main() {
  const model = await syntheticModel(16, 32, 5);
  const reranker = await createReranker(model);
  const n = 50;
  const ids = Array.from({ length: n }, (_, i) => `sku-${i}`);
  const features = new Float32Array(n * 16).map((_, k) => Math.sin(k * 0.37));
  const featureNames = reranker.modelInfo().featureNames;
  reranker.setResults({ ids, features, featureNames });
  const before = reranker.rank();
  reranker.record({ item: 'sku-40', type: 'click' });
  reranker.record({ item: 'sku-33', type: 'cart' });
  const after = reranker.rank();
  let code = null;
  try {
    reranker.setResults({ ids, features: new Float32Array(3), featureNames });
  } catch (e) {
    code = e.code;
  }
  return {
    kernels: await cpuKernels(),
    noEventsIsDisplayOrder: before.ids.every((id, i) => id === ids[i]),
    permutation: [...after.ids].sort().join() === [...ids].sort().join(),
    finite: Array.from(after.scores).every(Number.isFinite),
    errorCode: code,
  };
}

main().then(
  (result) => { window.__viteResult = { ok: true, result }; document.getElementById('out').textContent = JSON.stringify(result); },
  (error) => { window.__viteResult = { ok: false, error: String(error && error.stack || error) }; },
);
