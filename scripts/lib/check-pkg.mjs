// Proves one build of an assembled pkg/ instantiates and ranks in Node, and that it is the build
// it claims to be. build-wasm.sh runs it for each build: an optimiser that emits a broken module
// fails the build here, not on a shopper's page.
//   node scripts/lib/check-pkg.mjs <pkg dir> <simd|relaxed|baseline|webgpu>
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const [dir, build] = process.argv.slice(2);
const expected = { simd: 'cpu-simd128', relaxed: 'cpu-relaxed-simd', baseline: 'cpu-scalar', webgpu: 'cpu-simd128' }[build];
if (!dir || !expected) {
  console.error('usage: node check-pkg.mjs <pkg dir> <simd|relaxed|baseline|webgpu>');
  process.exit(2);
}
const fc = await import(pathToFileURL(resolve(dir, 'node.js')).href);
const loaded = await fc.init({ build });
const kernels = await fc.cpuKernels();
if (loaded !== build || kernels !== expected) {
  throw new Error(`asked for the ${build} build, got ${loaded} running ${kernels}`);
}
const r = await fc.createReranker(await fc.syntheticModel(4, 8, 1));
r.setResults({ ids: ['a', 'b', 'c'], features: new Float32Array(12).map((_, i) => Math.sin(i)), featureNames: ['f0', 'f1', 'f2', 'f3'] });
r.record({ item: 'c', type: 'click' });
const ranking = r.rank();
if ([...ranking.ids].sort().join() !== 'a,b,c' || !ranking.scores.every(Number.isFinite)) {
  throw new Error(`bad ranking from the ${build} build: ${JSON.stringify(ranking.ids)}`);
}
// Node has no navigator.gpu: the gpu build must say so and rank on the CPU, the CPU builds must
// say they have no WebGPU.
const viaAsync = await r.rankAsync('webgpu');
const want = build === 'webgpu' ? /navigator\.gpu is missing/ : /no WebGPU support/;
if (viaAsync.ids.join() !== ranking.ids.join() || viaAsync.backend !== expected || !want.test(viaAsync.fallbackReason ?? '')) {
  throw new Error(`rankAsync('webgpu') in Node from the ${build} build: ${JSON.stringify(viaAsync)}`);
}
r.free();
console.log(`    ok: ${build} build instantiates and ranks in Node (${kernels})`);
