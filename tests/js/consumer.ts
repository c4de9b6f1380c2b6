// A storefront's TypeScript, type-checked (strict, no emit) against the packed package's types by
// scripts/test-js.sh. Lines marked @ts-expect-error must stay errors: they prove the types are
// precise, not `any`.
import {
  createReranker,
  createWorkerReranker,
  FewclickError,
  init,
  reasonText,
  syntheticModel,
  webgpuAvailable,
  type AsyncRanking,
  type Backend,
  type CpuKernels,
  type CreateRerankerOptions,
  type FewclickErrorCode,
  type InitOptions,
  type Reason,
  type ReasonCode,
  type WasmBuild,
  type Ranking,
  type Reranker,
  type RerankerOptions,
  type ShopperEvent,
  type WorkerReranker,
} from 'fewclick';
import { useReranker, type UseReranker, type UseRerankerOptions, type UseRerankerStatus } from 'fewclick/react';

export async function onResultsPage(ids: string[], features: Float32Array): Promise<string[]> {
  const options: RerankerOptions = { scope: 'head', steps: 3, maxMove: null };
  const reranker: Reranker = await createReranker(await syntheticModel(16, 32, 1), options);
  const featureNames = reranker.modelInfo().featureNames;
  reranker.setResults({ ids, features, featureNames, prices: [10, 20] });
  reranker.setResults({ ids, prices: [10, 20] }); // vectors from the model's table
  // @ts-expect-error: features need their names
  reranker.setResults({ ids, features });
  // @ts-expect-error: names without features
  reranker.setResults({ ids, featureNames });
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
  const reasons: string[] = explanation.reasons.map((r: Reason) => reasonText(r, { NOTHING: () => 'nichts' }));
  const code: ReasonCode = explanation.reasons[0]?.code ?? 'NOTHING';
  const pinned: Ranking = reranker.rank({ pinTop: 2, freezeAbove: 'sku-1' });
  // @ts-expect-error pinTop is a number
  reranker.rank({ pinTop: '2' });
  console.log(code, pinned.ids);
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
  await r.setResults({ ids: ['a'], features: new Float32Array(16), featureNames: Array.from({ length: 16 }, (_, i) => `f${i}`) });
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

export async function checkedModel(url: string): Promise<number> {
  const options: CreateRerankerOptions = { integrity: 'sha384-abc sha512-def', steps: 3 };
  try {
    const r: Reranker = await createReranker(url, options);
    const w: WorkerReranker = await createWorkerReranker('/worker.js', url, { integrity: 'sha256-abc' });
    await w.free();
    return r.itemDim;
  } catch (e) {
    if (e instanceof FewclickError && e.code === 'INTEGRITY') return -1;
    throw e;
  }
}

/** The event a refused queued record() was about (record() during a pending rankAsync()). */
export function refusedEvent(e: unknown): ShopperEvent | undefined {
  return e instanceof FewclickError ? e.event : undefined;
}

export async function integrityTypes(url: string): Promise<void> {
  // @ts-expect-error: integrity is a string of SRI hashes
  await createReranker(url, { integrity: ['sha384-abc'] });
  // @ts-expect-error: integrity is createReranker's, not a reranker setting
  const settings: RerankerOptions = { integrity: 'sha384-abc' };
  console.log(settings);
}

/** A React component's body (the hook's types need no React types). */
export function shelf(model: Uint8Array | string | null, ids: string[], features: Float32Array): readonly string[] {
  const options: UseRerankerOptions = { backend: 'cpu', scope: 'head', integrity: 'sha384-abc' };
  const hook: UseReranker = useReranker(model, { ids, features, featureNames: ['f0'] }, options);
  const status: UseRerankerStatus = hook.status;
  const code: FewclickErrorCode | undefined = hook.error?.code;
  const reranker: Reranker | null = hook.reranker;
  hook.record({ item: ids[0] ?? 'x', type: 'click' });
  console.log(status, code, reranker?.eventCount);
  useReranker(null, null);
  useReranker(new URL('https://shop.example/model.fcm'), undefined, { steps: 2 });
  // @ts-expect-error: ranked is read-only
  hook.ranked.push('x');
  // @ts-expect-error: not a backend preference
  useReranker('/m.fcm', null, { backend: 'gpu' });
  // @ts-expect-error: results need ids
  useReranker('/m.fcm', { features, featureNames: ['f0'] });
  // @ts-expect-error: not a status
  const never: UseRerankerStatus = 'done';
  // @ts-expect-error: record() returns nothing to await
  hook.record({ item: 'x', type: 'click' }).then(() => {});
  console.log(never);
  return hook.ranked;
}
