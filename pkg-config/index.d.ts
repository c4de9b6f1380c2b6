// Types of the fewclick package (both the browser entry and the Node entry).

/**
 * Which wasm build runs: `webgpu` is the SIMD build with the WebGPU backend compiled in (larger;
 * loaded where `navigator.gpu` exists); `relaxed` is the SIMD build with wasm relaxed SIMD's fused
 * multiply-adds (where the engine validates them: about 1.3× faster adapt + rank in Chromium);
 * `simd` needs wasm simd128; `baseline` runs everywhere else.
 */
export type WasmBuild = 'webgpu' | 'relaxed' | 'simd' | 'baseline';

/** The CPU kernel set of this build. */
export type CpuKernels = 'cpu-relaxed-simd' | 'cpu-simd128' | 'cpu-scalar';

/** What scored a ranking: a CPU kernel set, or WebGPU (only through rankAsync). */
export type Backend = CpuKernels | 'webgpu';

/** rankAsync's choice: `auto` uses WebGPU where a one-time calibration found it faster. */
export type BackendPreference = 'auto' | 'cpu' | 'webgpu';

/** Codes thrown by the wasm core. */
export type CoreErrorCode =
  | 'INVALID_MODEL'
  | 'UNSUPPORTED_VERSION'
  | 'DIMENSION_MISMATCH'
  | 'NON_FINITE'
  | 'TOO_MANY_CANDIDATES'
  | 'DUPLICATE_ID'
  | 'INVALID_ID'
  | 'UNKNOWN_ITEM'
  | 'INVALID_CONFIG'
  | 'INVALID_INPUT'
  | 'NO_RESULTS'
  | 'NO_ITEM_TABLE'
  | 'SCHEMA_MISMATCH'
  | 'INVALID_SESSION'
  /** The instance's rerankers would hold more than its memory budget (see InitOptions.memoryBudget). */
  | 'MEMORY_BUDGET';

/**
 * Codes added by the JavaScript side:
 * - `WASM_LOAD_FAILED`: the wasm file could not be fetched or instantiated;
 * - `FETCH_FAILED`: the model URL (or, in Node, file) could not be read;
 * - `INTEGRITY`: the model's bytes do not match `createReranker`'s `integrity` option (no
 *   reranker is created and the bytes are not used);
 * - `FREED`: a method was called after `free()`;
 * - `BUSY`: a method other than `record()` was called, or a property read, while a `rankAsync()`
 *   on the same reranker was pending (see {@link Reranker.rankAsync});
 * - `WORKER_ERROR`: the worker failed (script error, failed load); create a new one;
 * - `INTERNAL`: a bug in fewclick (never caused by input): please report it.
 */
export type JsErrorCode = 'WASM_LOAD_FAILED' | 'FETCH_FAILED' | 'INTEGRITY' | 'FREED' | 'BUSY' | 'WORKER_ERROR' | 'INTERNAL';

export type FewclickErrorCode = CoreErrorCode | JsErrorCode;

/** Every code, in a fixed order. */
export declare const ERROR_CODES: readonly FewclickErrorCode[];

/**
 * The error every fewclick call throws (or rejects with). Errors from the wasm core are plain
 * `Error`s or `RangeError`s (caller mistakes) carrying a `code`; `instanceof FewclickError`
 * recognises them as well. A failed call leaves the reranker exactly as it was.
 */
export declare class FewclickError extends Error {
  constructor(code: FewclickErrorCode, message: string, options?: { cause?: unknown });
  readonly code: FewclickErrorCode;
  /** Set on the error a ranking call throws for an event that `record()` queued during a
   * `rankAsync()` and the core refused when it was applied: that event, as queued (with the
   * timestamp it was given or stamped with). See {@link Reranker.record}. */
  readonly event?: ShopperEvent;
}

export declare function isFewclickError(value: unknown): value is FewclickError;

/** Model file bytes, or a URL to fetch them from (Node: also a file path or file: URL). */
export type ModelSource = ArrayBuffer | ArrayBufferView | string | URL;

export type Vector = Float32Array | readonly number[];

/** The host's results, in display order: vectors from the model's table, or the host's own. */
export type Results = ResultsBase & (TableVectors | HostVectors);

export interface ResultsBase {
  /** Item ids in display order; unique, non-empty. */
  ids: readonly string[];
  /** Price per item: the core computes every price-in-context feature from them (rank in the
   * list, ratios to the list's median and minimum and to the engaged items' prices). */
  prices?: Vector;
  /** The host's own score per item (default 0); the model learns a residual over it. */
  baseScores?: Vector;
}

/** No vectors: the core looks every id up in the model's item table, and ids it does not hold
 * get the trainer's cold-item vector; a model without a table throws `NO_ITEM_TABLE`. */
export interface TableVectors {
  features?: undefined;
  featureNames?: undefined;
}

/** The host's own vectors (for example from `fewclick/server`'s `lookup`). */
export interface HostVectors {
  /** Row-major: `ids.length × itemDim` finite numbers. */
  features: Vector;
  /** The names of `features`' columns, in order: they must equal the model's `featureNames`
   * (name, count and order), else `SCHEMA_MISMATCH`, so vectors built for another model are never
   * scored. Required with `features` (`INVALID_INPUT` without). */
  featureNames: readonly string[];
}

export type EventType =
  | 'impression'
  | 'view'
  | 'click'
  | 'cart'
  | 'add_to_cart'
  | 'add-to-cart'
  | 'purchase'
  | 'skip'
  | 'dwell';

export interface ShopperEvent {
  /** Id of an item of the current (or an earlier) result set. */
  item: string;
  type: EventType;
  /**
   * Milliseconds on the `Date.now()` clock (default: now). The time between events and since
   * each engagement are session features. A timestamp earlier than the previous event's is an
   * `INVALID_INPUT` error.
   */
  timestamp?: number;
  /** Time spent on the item, for `dwell` events. */
  dwellMs?: number;
}

export interface RerankerOptions {
  /** Largest result set accepted (1..=100000; default 100000). */
  maxCandidates?: number;
  /** Events kept (oldest dropped first; default 256). */
  eventCapacity?: number;
  /** How many places one item may move; `null` = unbounded; absent = the model's setting. */
  maxMove?: number | null;
  /** What the inner loop adapts: the head only (fast, per click) or all weights. */
  scope?: 'head' | 'all';
  /** Inner-loop steps (default: the model's). */
  steps?: number;
  /** Rank with the model before any event (default: the model's setting; otherwise no events
   * means the host's order exactly). */
  rankWithoutEvents?: boolean;
}

/** createReranker's options: the reranker's, and how the model is loaded. */
export interface CreateRerankerOptions extends RerankerOptions {
  /**
   * Subresource Integrity metadata for the model (`"sha384-<base64>"`; `sha256`, `sha384` and
   * `sha512`; several hashes separated by spaces, of which the strongest algorithm's must match
   * one, as in SRI). The bytes (fetched or given) are hashed with WebCrypto before anything reads
   * them; a mismatch rejects with `INTEGRITY` and creates nothing. A string that is not SRI hashes
   * is `INVALID_CONFIG` (a non-string `INVALID_INPUT`), checked before the model is fetched; so is
   * asking for it where WebCrypto is missing (`crypto.subtle`: insecure contexts): the model is
   * never loaded unchecked.
   */
  integrity?: string;
  /** A session from `exportSession()` on an earlier page, restored before the reranker is
   * returned. Bytes the core refuses (damaged, truncated, another model's) leave a clean session
   * and their error in `sessionError`; anything but bytes is `INVALID_INPUT`. */
  session?: Uint8Array | ArrayBuffer;
  /**
   * Opt-in: keep the session across page loads in `sessionStorage` (this tab only; or the
   * `storage` given, anything with getItem/setItem/removeItem) under `key` (default
   * `"fewclick:session"`). Restored at creation (stored bytes the core refuses are removed, a clean
   * start), saved after every recorded event, removed by `forget()` and `reset()`. Without it
   * nothing is stored. Main thread only (workers have no sessionStorage): with a worker, pass
   * `exportSession()`'s bytes as `session` yourself.
   */
  persist?: boolean | { key?: string; storage?: SessionStorageLike };
}

/** What `persist` needs of a storage (`sessionStorage` fits). */
export interface SessionStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface Ranking {
  /** Item ids in the new order. */
  ids: string[];
  /** Display indices in the new order. */
  order: Uint32Array;
  /** Score of each item, by new position. */
  scores: Float32Array;
  /** Places moved up (negative: down), by new position. */
  moved: Int32Array;
  /** Whether the inner loop ran (false with no events to learn from). */
  adapted: boolean;
  /** Time rank() took, adaptation included, in milliseconds. */
  adaptMs: number;
  backend: Backend;
}

export interface AsyncRanking extends Ranking {
  /** Why WebGPU was wanted but not used for this ranking, or null. */
  fallbackReason: string | null;
}

export interface GpuCalibration {
  /** Largest candidate count of the size bucket. */
  upTo: number;
  scope: 'head' | 'all';
  /** The fastest timed CPU rank (inner loop, features, scoring, ordering). */
  cpuMs: number;
  /** The fastest timed WebGPU rank; null when the CPU was already under the ~0.5 ms a GPU round
   * trip costs, so the GPU was not tried. */
  gpuMs: number | null;
  /** The faster backend for this bucket and scope. */
  backend: 'cpu' | 'webgpu';
}

export interface GpuStatus {
  /** Why WebGPU is not used on this page, or null while it may be. */
  fallbackReason: string | null;
  calibrations: GpuCalibration[];
}

export interface Signal {
  name: string;
  value: number;
  /** Score minus the score with this signal at 0. */
  contribution: number;
}

/**
 * Places a ranking keeps for people, in the order the shopper sees: the last ranking returned for
 * the current results (the host's order before the first). Kept places take precedence over
 * `maxMove`; the other items follow in the model's order.
 */
export interface RankOptions {
  /** Keep the first k places where they are (for example sponsored slots). */
  pinTop?: number;
  /** Keep every place above this item's where it is (pass the item just engaged with, so the
   * list never moves under the shopper's cursor). An id not in the results is `UNKNOWN_ITEM`. */
  freezeAbove?: string;
}

export interface Explanation {
  id: string;
  displayPosition: number;
  score: number;
  signals: Signal[];
  /** Why, strongest first, as codes with their numbers; `reasonText()` makes sentences. */
  reasons: Reason[];
}

export type ReasonCode = 'ENGAGED' | 'SIMILAR' | 'PRICE_VS_ENGAGED' | 'PRICE_IN_LIST' | 'SKIPPED' | 'SEEN' | 'NOTHING';

/** One reason of `explain()`. */
export interface Reason {
  code: ReasonCode;
  /**
   * ENGAGED: engagement weight; SIMILAR: similarity to the closest engaged item (0..1);
   * PRICE_VS_ENGAGED: relative price difference to the engaged items (0.25 = 25 % pricier);
   * PRICE_IN_LIST: price rank in the list (0 cheapest, 1 dearest); SKIPPED, SEEN: how many
   * times; NOTHING: 0.
   */
  value: number;
  /** How much it moves the item's score (positive: up). */
  contribution: number;
}

/** Sentences for reasons, one function per code (see `ENGLISH`). */
export type ReasonMessages = { readonly [C in ReasonCode]?: (reason: Reason) => string };

/** The default, English sentences. */
export declare const ENGLISH: Readonly<Record<ReasonCode, (reason: Reason) => string>>;
export declare const REASON_CODES: readonly ReasonCode[];
/** The sentence for one reason from `messages` (default English; a missing code falls back to
 * English). */
export declare function reasonText(reason: Reason, messages?: ReasonMessages): string;

export interface ModelInfo {
  algorithm: string;
  itemDim: number;
  hidden: number;
  steps: number;
  scope: 'head' | 'all';
  loss: 'pairwise' | 'listwise';
  featureNames: string[];
  /** Items in the model's item table (0: the host passes `features` with every result set). */
  items: number;
}

/**
 * One shopper session's reranker. Every method throws a FewclickError on bad input, and a call
 * that throws changes nothing.
 *
 * While a `rankAsync()` is pending, `record()` queues (see there); everything else throws `BUSY`
 * until it settles: `setResults`, `rank`, a second `rankAsync` (rejects), `explain`, `reset`,
 * `forget`, `modelInfo`, `free` and every property.
 */
export interface Reranker {
  /** Replaces the results; the session's events are kept. */
  setResults(results: Results): void;
  /**
   * Records a shopper's event. While a `rankAsync()` is pending the event is queued instead: it
   * is checked at once for everything that needs no session state (keys, types, the event type,
   * the id, finite numbers, a timestamp not before an earlier queued one's: the codes the core
   * would give), copied, stamped with `Date.now()` unless it has a timestamp, and applied, in
   * order with the other queued events, as that `rankAsync()` settles (before any later call
   * runs), so it counts for the next ranking but not for the pending one. What only the session
   * can tell (a timestamp earlier than the last applied event's) is checked when it is applied;
   * an event refused then is not recorded, the queued events after it still are, and the next
   * `rank()`, `rankAsync()` or `explain()` throws that error once (with the core's code and
   * `error.event`), doing nothing, so a ranking never silently leaves out an event. `reset()`
   * and `forget()` drop such an error.
   */
  record(event: ShopperEvent): void;
  /** Adapts to the session's events and ranks the current results (no events: display order),
   * on the CPU. */
  rank(options?: RankOptions): Ranking;
  /** rank(), with the inner loop, the session features and the scoring on WebGPU where chosen
   * (the gpu build, and `auto`'s calibration or `'webgpu'`); the same ranking either way, up to
   * float rounding. It ranks the session as it is when called: events recorded before it settles
   * are queued for the next ranking; every other call on this reranker throws BUSY meanwhile. */
  rankAsync(backend?: BackendPreference, options?: RankOptions): Promise<AsyncRanking>;
  explain(id: string): Explanation;
  /** Forgets the session's events (the results stay). */
  reset(): void;
  /** Forgets everything about the shopper: events and results (and what `persist` stored). */
  forget(): void;
  /** The session as bytes for a later page: versioned, checksummed, at most 1 MiB (the oldest
   * events left out first). Stores nothing; pass them as `createReranker(model, { session })`. */
  exportSession(): Uint8Array;
  /** Why the `session` given at creation, or the one `persist` stored, was not restored (an
   * `INVALID_SESSION` error: damaged, truncated or another model's bytes; the session started
   * clean), or null. */
  readonly sessionError: FewclickError | null;
  /** The CPU kernels rank() uses. */
  readonly backend: CpuKernels;
  /** Duration of the last rank(), in milliseconds. */
  readonly lastAdaptMs: number;
  readonly itemDim: number;
  readonly eventCount: number;
  /** Why WebGPU is not used on this page, or null while it may be. */
  readonly gpuFallbackReason: string | null;
  modelInfo(): ModelInfo;
  /** Releases the wasm memory now; later calls throw FREED. Idempotent. */
  free(): void;
}

/** The same reranker running in a Web Worker: methods return promises; the properties hold the
 * values as of the last settled call. */
export interface WorkerReranker {
  setResults(results: Results): Promise<void>;
  /** The session as bytes (see Reranker.exportSession). */
  exportSession(): Promise<Uint8Array>;
  /** Why the `session` given at creation was not restored, or null. */
  readonly sessionError: { name: string; message: string; code: FewclickErrorCode } | null;
  record(event: ShopperEvent): Promise<void>;
  rank(options?: RankOptions): Promise<Ranking>;
  /** Calls on one worker reranker run in the worker one after another, in the order they were
   * made, so this never makes the next one BUSY: a `record()` made before it settles is applied
   * after it (it counts for the next ranking), and rejects with the core's error if refused. */
  rankAsync(backend?: BackendPreference, options?: RankOptions): Promise<AsyncRanking>;
  explain(id: string): Promise<Explanation>;
  reset(): Promise<void>;
  forget(): Promise<void>;
  readonly backend: CpuKernels;
  readonly lastAdaptMs: number;
  readonly itemDim: number;
  readonly eventCount: number;
  readonly gpuFallbackReason: string | null;
  modelInfo(): Promise<ModelInfo>;
  /** Releases the reranker (and terminates the worker if createWorkerReranker started it). */
  free(): Promise<void>;
}

export interface InitOptions {
  /**
   * Which build to load. `auto` (default): `webgpu` where `navigator.gpu` and simd128 exist, else
   * `relaxed` where relaxed SIMD validates, else `simd` where supported, else `baseline`. `cpu`: the same without the gpu build (the smallest
   * download; rankAsync then always ranks on the CPU). A named build forces it (tests, benchmarks).
   */
  build?: WasmBuild | 'auto' | 'cpu';
  /**
   * Bytes the rerankers of this realm's wasm instance (or of a worker's, through
   * createWorkerReranker's `initOptions`) may hold together: 16 MiB to 3.5 GiB, default 1.5 GiB. A
   * `setResults` or a new reranker that would go past it throws `MEMORY_BUDGET` and changes
   * nothing, instead of growing the wasm memory until it traps. One reranker's configuration may
   * hold at most 1 GiB (more is `INVALID_CONFIG` at creation). Every init() that names a budget sets it.
   */
  memoryBudget?: number;
}

/** What the instance's rerankers hold of the memory budget, and the wasm memory's size (it never shrinks). */
export interface MemoryUsage {
  reserved: number;
  budget: number;
  wasmBytes: number;
}

/** The memory of this realm's wasm instance: see {@link InitOptions.memoryBudget}. */
export declare function memoryUsage(): Promise<MemoryUsage>;

/**
 * Loads the wasm build once per realm (later calls return the same promise). Called by every
 * other function; call it yourself only to load early or to force a build.
 */
export declare function init(options?: InitOptions): Promise<WasmBuild>;

export declare function createReranker(model: ModelSource, options?: CreateRerankerOptions): Promise<Reranker>;

/** What createWorkerReranker needs of a Worker (a DOM `Worker` fits; no DOM types required). */
export interface WorkerLike {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  addEventListener(type: 'message', listener: (event: { readonly data: unknown }) => void): void;
  addEventListener(type: 'error', listener: (event: { readonly message?: string }) => void): void;
  addEventListener(type: 'messageerror', listener: (event: unknown) => void): void;
  terminate(): void;
}

/**
 * Creates a reranker in a Web Worker. `worker` is a module Worker whose script is (or imports)
 * `fewclick/worker`, or the URL of such a script: it is then started with `{ type: 'module' }`
 * and terminated by `free()`. A model URL is resolved against the page before the worker fetches it.
 */
export declare function createWorkerReranker(
  worker: WorkerLike | string | URL,
  model: ModelSource,
  /** With `integrity`, the worker checks the bytes it fetched or was sent. */
  options?: CreateRerankerOptions,
  /** init()'s options inside the worker (which build it loads); fixed by the worker's first reranker. */
  initOptions?: InitOptions,
): Promise<WorkerReranker>;

/**
 * A randomly initialised model file, for smoke tests and benchmarks (it ranks nothing well). The
 * first call downloads the package's bench build (`fewclick_bench.wasm`, about 70 KB gzip) into an
 * instance of its own; the builds a page ranks with do not carry this function.
 */
export declare function syntheticModel(itemDim: number, hidden: number, seed?: number): Promise<Uint8Array>;

/** The library version. */
export declare function version(): Promise<string>;

/** The CPU kernel set this build runs. */
export declare function cpuKernels(): Promise<CpuKernels>;

/** What this page knows about WebGPU (calibrations so far, or why it is not used). */
export declare function gpuStatus(): Promise<GpuStatus>;

/** Whether this engine runs wasm simd128 (and so gets the SIMD build). */
export declare function simdSupported(): boolean;

/** Whether this realm has `navigator.gpu` (and so `init()` loads the gpu build). */
export declare function webgpuAvailable(): boolean;
