// A storefront's TypeScript, type-checked (strict, no emit) against the packed package's types by
// scripts/test-js.sh. Lines marked @ts-expect-error must stay errors: they prove the types are
// precise, not `any`.
import {
  createReranker,
  createWorkerReranker,
  FewclickError,
  init,
  syntheticModel,
  webgpuAvailable,
  type AsyncRanking,
  type Backend,
  type CpuKernels,
  type FewclickErrorCode,
  type InitOptions,
  type WasmBuild,
  type Ranking,
  type Reranker,
  type RerankerOptions,
  type ShopperEvent,
  type WorkerReranker,
} from 'fewclick';

export async function onResultsPage(ids: string[], features: Float32Array): Promise<string[]> {
  const options: RerankerOptions = { scope: 'head', steps: 3, maxMove: null };
  const reranker: Reranker = await createReranker(await syntheticModel(16, 32, 1), options);
  reranker.setResults({ ids, features, prices: [10, 20] });
  const click: ShopperEvent = { item: ids[0] ?? 'x', type: 'click', timestamp: Date.now() };
  reranker.record(click);
  try {
    reranker.record({ item: 'x', type: 'dwell', dwellMs: 1200 });
  } catch (e) {
    if (e instanceof FewclickError) {
      const code: FewclickErrorCode = e.code;
      if (code === 'UNKNOWN_ITEM' || code === 'INVALID_INPUT') console.warn(e.message);
    }
  }
  const ranking: Ranking = reranker.rank();
  const order: Uint32Array = ranking.order;
  const scores: Float32Array = ranking.scores;
  const backend: CpuKernels = reranker.backend;
  const onGpu: AsyncRanking = await reranker.rankAsync('auto');
  const scoredBy: Backend = onGpu.backend;
  const why: string | null = onGpu.fallbackReason ?? reranker.gpuFallbackReason;
  console.log(scoredBy, why);
  const ms: number = reranker.lastAdaptMs + ranking.adaptMs;
  const explanation = reranker.explain(ranking.ids[0] ?? 'x');
  const reasons: string[] = explanation.reasons;
  console.log(order.length, scores[0], backend, ms, reasons, reranker.modelInfo().featureNames);
  reranker.free();
  return ranking.ids;
}

export async function smallestDownload(): Promise<WasmBuild> {
  const lean: InitOptions = { build: 'cpu' };
  const build: WasmBuild = await init(webgpuAvailable() ? lean : undefined);
  // @ts-expect-error: 'gpu' is not a build name ('webgpu' is)
  await init({ build: 'gpu' });
  return build;
}

export async function inAWorker(modelUrl: string): Promise<number> {
  const worker = new Worker(new URL('./reranker.worker.js', import.meta.url), { type: 'module' });
  const r: WorkerReranker = await createWorkerReranker(worker, modelUrl, { steps: 5 });
  const byUrl: WorkerReranker = await createWorkerReranker('/node_modules/fewclick/worker.js', new URL(modelUrl), undefined, {
    build: 'cpu',
  });
  await r.setResults({ ids: ['a'], features: new Float32Array(16) });
  await r.record({ item: 'a', type: 'cart' });
  const ranking: Ranking = await r.rank();
  const backend: Backend = r.backend;
  await r.free();
  await byUrl.free();
  return ranking.scores.length + backend.length;
}

export async function typesArePrecise(r: Reranker): Promise<void> {
  // @ts-expect-error: not an event type
  r.record({ item: 'a', type: 'teleport' });
  // @ts-expect-error: item ids are strings
  r.record({ item: 5, type: 'click' });
  // @ts-expect-error: ids are required
  r.setResults({ features: [] });
  // @ts-expect-error: scope is 'head' | 'all'
  await createReranker(new Uint8Array(), { scope: 'everything' });
  // @ts-expect-error: unknown option
  await createReranker(new ArrayBuffer(8), { maxmove: 2 });
  // @ts-expect-error: rank() is synchronous on the main thread
  await r.rank().then(() => {});
  // @ts-expect-error: not an error code
  const code: FewclickErrorCode = 'OOPS';
  // @ts-expect-error: scores are a Float32Array, not strings
  const s: string[] = r.rank().scores;
  // @ts-expect-error: not a backend preference
  await r.rankAsync('gpu');
  // @ts-expect-error: rank() scores on the CPU: its reranker's backend is never 'webgpu'
  const never: 'webgpu' = r.backend;
  console.log(code, s, never);
}
