// The environment-neutral half of the package: the memoised loader, the typed wrapper around the
// wasm exports and the error type. index.js (browsers, bundlers, workers) and node.js (Node) each
// pass makeApi() two functions: where a build's wasm comes from and how to fetch a model URL, so
// node-only code (fs) never reaches a bundle.
//
// Invariants: one wasm instance per JavaScript realm (the glue module holds it); the only network
// requests are the wasm file the loader picked and a model URL the host passes; nothing here
// needs cross-origin isolation (no SharedArrayBuffer, no threads).

// The wasm-bindgen glue of the loaded build (set by init): the gpu build has its own glue (it
// imports the WebGPU functions), the two CPU builds share one. Literal specifiers, so bundlers
// see and emit both; a page downloads only the one it loads.
let glue;
const loadGlue = (build) => (build === 'webgpu' ? import('./fewclick_gpu.js') : import('./fewclick_wasm.js'));

/** Codes the wasm core attaches to the errors it throws (see src/error.rs). */
const CORE_CODES = [
  'INVALID_MODEL', 'UNSUPPORTED_VERSION', 'DIMENSION_MISMATCH', 'NON_FINITE', 'TOO_MANY_CANDIDATES',
  'DUPLICATE_ID', 'INVALID_ID', 'UNKNOWN_ITEM', 'INVALID_CONFIG', 'INVALID_INPUT', 'NO_RESULTS',
];
/** Codes the JavaScript side adds: loading, fetching, use after free(), workers, bugs. */
const JS_CODES = ['WASM_LOAD_FAILED', 'FETCH_FAILED', 'FREED', 'BUSY', 'WORKER_ERROR', 'INTERNAL'];

export const ERROR_CODES = Object.freeze([...CORE_CODES, ...JS_CODES]);
const KNOWN_CODES = new Set(ERROR_CODES);

/**
 * An error with a stable `code`. The wasm core throws plain `Error`s / `RangeError`s carrying a
 * code; `instanceof FewclickError` recognises those too, so callers need one check.
 */
export class FewclickError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'FewclickError';
    this.code = code;
  }

  static [Symbol.hasInstance](value) {
    return value instanceof Error && KNOWN_CODES.has(value.code);
  }
}

export function isFewclickError(value) {
  return value instanceof FewclickError;
}

// A minimal module whose one function uses v128 (i8x16.splat + i8x16.popcnt); it validates only
// where wasm simd128 is supported. The same probe wasm-feature-detect uses.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15,
  253, 98, 11,
]);

/** Whether this realm offers WebGPU (`navigator.gpu`; a window or a worker in a secure context).
 * Whether an adapter exists is only known once asked, which the gpu build does on first use. */
export function webgpuAvailable() {
  return typeof navigator === 'object' && navigator !== null && typeof navigator.gpu === 'object' && navigator.gpu !== null;
}

const BUILD_CHOICES = ['auto', 'cpu', 'webgpu', 'simd', 'baseline'];

/** The build `want` loads here: `auto` takes the gpu build where WebGPU and simd128 exist, `cpu`
 * never does; both take SIMD where supported and the baseline elsewhere. */
function pickBuild(want) {
  if (want === 'webgpu' || want === 'simd' || want === 'baseline') return want;
  const simd = simdSupported();
  if (want === 'auto' && simd && webgpuAvailable()) return 'webgpu';
  return simd ? 'simd' : 'baseline';
}

/** Whether the loaded `build` satisfies a later init's `want`. */
function satisfies(build, want) {
  return want === 'auto' || want === build || (want === 'cpu' && build !== 'webgpu');
}

/** Whether this engine runs wasm simd128 (and so gets the SIMD build). */
export function simdSupported() {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

/** The error to throw for `e`: the core's coded errors as they are (a code this file does not
 * know yet included); anything else (a WebAssembly.RuntimeError trap, a glue error such as
 * "recursive use of an object") is a bug in fewclick, never the caller's input: INTERNAL. */
function normalised(e) {
  if (e instanceof Error && typeof e.code === 'string') return e;
  return new FewclickError('INTERNAL', `fewclick internal error: ${e && e.message ? e.message : String(e)}`, { cause: e });
}

function guarded(fn) {
  try {
    return fn();
  } catch (e) {
    throw normalised(e);
  }
}

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

// Keys the core reads (src/wasm.rs `Options`, `JsEvent`). serde-wasm-bindgen ignores unknown keys
// despite `deny_unknown_fields`, so a typo (`maxmove`, `dwell_ms`) would pass silently: check here.
const OPTION_KEYS = new Set(['maxCandidates', 'eventCapacity', 'maxMove', 'scope', 'steps', 'rankWithoutEvents']);
const EVENT_KEYS = new Set(['item', 'type', 'timestamp', 'dwellMs']);

function checkKeys(object, allowed, what) {
  for (const key of Object.keys(object)) {
    if (!allowed.has(key)) {
      throw new FewclickError('INVALID_INPUT', `${what}: unknown key "${key}" (expected ${[...allowed].join(', ')})`);
    }
  }
}

/** Options for the wasm constructor, without keys set to undefined (the core reads a present
 * `maxMove: undefined` as "unbounded"; here absent and undefined both mean "model's setting"). */
function rerankerOptions(options) {
  if (options === undefined || options === null) return undefined;
  if (!isPlainObject(options)) throw new FewclickError('INVALID_INPUT', 'options must be an object');
  checkKeys(options, OPTION_KEYS, 'options');
  const out = {};
  for (const [key, value] of Object.entries(options)) if (value !== undefined) out[key] = value;
  return out;
}

function toBytes(model) {
  if (model instanceof Uint8Array) return model;
  if (model instanceof ArrayBuffer) return new Uint8Array(model);
  if (ArrayBuffer.isView(model)) return new Uint8Array(model.buffer, model.byteOffset, model.byteLength);
  return undefined;
}

/** Fetches a URL's body as bytes; network failures and HTTP errors become FETCH_FAILED. */
export async function fetchBytes(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new FewclickError('FETCH_FAILED', `could not fetch the model from ${url}: ${e && e.message}`, { cause: e });
  }
  if (!response.ok) {
    throw new FewclickError('FETCH_FAILED', `could not fetch the model from ${url}: HTTP ${response.status} ${response.statusText}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

function checkUint32(value, what) {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new FewclickError('INVALID_INPUT', `${what} must be an integer in 0..=4294967295, got ${String(value)}`);
  }
}

/** The page's reranker: a typed shell over the wasm object. */
class Reranker {
  #raw;
  #ids; // the current results' ids, to name a ranking's order without decoding strings from wasm
  #pending = false; // a rankAsync() holds the wasm object until it settles

  constructor(raw) {
    this.#raw = raw;
  }

  #live() {
    if (this.#raw === undefined) throw new FewclickError('FREED', 'this reranker has been freed');
    if (this.#pending) throw new FewclickError('BUSY', 'a rankAsync() on this reranker is pending: await it first');
    return this.#raw;
  }

  /** Names the order with the ids JS already holds when the core left `ids` out (building them
   * in JS from `order` is ~5x cheaper than decoding one string per item out of wasm). */
  #withIds(ranking) {
    if (ranking.ids === undefined) {
      const ids = this.#ids;
      ranking.ids = Array.from(ranking.order, (i) => ids[i]);
    }
    return ranking;
  }

  setResults(results) {
    if (!isPlainObject(results)) {
      throw new FewclickError('INVALID_INPUT', 'setResults expects { ids, features, baseScores?, prices? }');
    }
    const { ids, features, baseScores, prices } = results;
    const raw = this.#live();
    guarded(() => raw.setResults(ids, features, baseScores, prices));
    this.#ids = Array.from(ids);
  }

  record(event) {
    if (isPlainObject(event)) checkKeys(event, EVENT_KEYS, 'event');
    const raw = this.#live();
    guarded(() => raw.record(event));
  }

  rank() {
    const raw = this.#live();
    return this.#withIds(guarded(() => raw.rank()));
  }

  /** rank() scoring on WebGPU where chosen; other calls on this reranker throw BUSY meanwhile. */
  async rankAsync(backend) {
    if (backend !== undefined && typeof backend !== 'string') {
      throw new FewclickError('INVALID_INPUT', 'backend must be "auto", "cpu" or "webgpu"');
    }
    const raw = this.#live();
    const promise = guarded(() => raw.rankAsync(backend));
    this.#pending = true;
    try {
      return this.#withIds(await promise);
    } catch (e) {
      throw normalised(e);
    } finally {
      this.#pending = false;
    }
  }

  explain(id) {
    if (typeof id !== 'string') throw new FewclickError('INVALID_INPUT', 'explain expects an item id (string)');
    const raw = this.#live();
    return guarded(() => raw.explain(id));
  }

  reset() {
    const raw = this.#live();
    guarded(() => raw.reset());
  }

  forget() {
    const raw = this.#live();
    guarded(() => raw.forget());
    this.#ids = undefined;
  }

  get backend() {
    const raw = this.#live();
    return guarded(() => raw.backend);
  }

  get lastAdaptMs() {
    const raw = this.#live();
    return guarded(() => raw.lastAdaptMs);
  }

  /** Why WebGPU is not used on this page, or null while it may be. */
  get gpuFallbackReason() {
    const raw = this.#live();
    return guarded(() => raw.gpuFallbackReason) ?? null;
  }

  get itemDim() {
    const raw = this.#live();
    return guarded(() => raw.itemDim);
  }

  get eventCount() {
    const raw = this.#live();
    return guarded(() => raw.eventCount);
  }

  modelInfo() {
    const raw = this.#live();
    return guarded(() => raw.modelInfo());
  }

  /** Releases the wasm memory now (it is also released when the object is garbage collected).
   * Calling it twice is harmless; any other call afterwards throws FREED. */
  free() {
    if (this.#pending) throw new FewclickError('BUSY', 'a rankAsync() on this reranker is pending: await it first');
    const raw = this.#raw;
    this.#raw = undefined;
    this.#ids = undefined;
    if (raw !== undefined) raw.free();
  }
}

/**
 * Builds the public API for one environment.
 * @param env.wasmSource (build: 'simd' | 'baseline' | 'webgpu') => what wasm-bindgen's init accepts:
 *   a URL (fetched and streamed), bytes, or a WebAssembly.Module; may return a promise.
 * @param env.fetchModel (url: string | URL) => Promise<Uint8Array>
 */
export function makeApi(env) {
  let loading; // Promise<build> of this realm's one instantiation

  function init(options) {
    let want = 'auto';
    if (options !== undefined && options !== null) {
      if (!isPlainObject(options)) return Promise.reject(new FewclickError('INVALID_INPUT', 'init options must be an object'));
      want = options.build === undefined ? 'auto' : options.build;
      if (!BUILD_CHOICES.includes(want)) {
        return Promise.reject(
          new FewclickError('INVALID_CONFIG', `build must be ${BUILD_CHOICES.map((b) => `"${b}"`).join(', ')}, got ${String(want)}`),
        );
      }
    }
    if (loading === undefined) {
      const build = pickBuild(want);
      const attempt = (async () => {
        try {
          const mod = await loadGlue(build);
          await mod.default({ module_or_path: await env.wasmSource(build) });
          glue = mod;
        } catch (e) {
          throw new FewclickError('WASM_LOAD_FAILED', `could not load the fewclick ${build} wasm build: ${e && e.message}`, { cause: e });
        }
        return build;
      })();
      loading = attempt;
      // A failed load (offline, 404) may be retried by the next call.
      attempt.catch(() => {
        if (loading === attempt) loading = undefined;
      });
    }
    if (want === 'auto') return loading;
    return loading.then((build) => {
      if (!satisfies(build, want)) {
        throw new FewclickError('INVALID_CONFIG', `the ${build} build is already loaded; init({ build: "${want}" }) must run before anything else`);
      }
      return build;
    });
  }

  async function createReranker(model, options) {
    const opts = rerankerOptions(options);
    let bytesPromise;
    const bytes = toBytes(model);
    if (bytes !== undefined) bytesPromise = bytes;
    else if (typeof model === 'string' || (typeof URL === 'function' && model instanceof URL)) bytesPromise = env.fetchModel(model);
    else throw new FewclickError('INVALID_INPUT', 'model must be an ArrayBuffer, a typed array or a URL');
    const [modelBytes] = await Promise.all([bytesPromise, init()]);
    return new Reranker(guarded(() => new glue.Reranker(modelBytes, opts)));
  }

  async function syntheticModel(itemDim, hidden, seed = 0) {
    checkUint32(itemDim, 'itemDim');
    checkUint32(hidden, 'hidden');
    checkUint32(seed, 'seed');
    await init();
    return guarded(() => glue.syntheticModel(itemDim, hidden, seed));
  }

  async function version() {
    await init();
    return glue.version();
  }

  async function cpuKernels() {
    await init();
    return glue.cpuKernels();
  }

  async function gpuStatus() {
    await init();
    return guarded(() => glue.gpuStatus());
  }

  return { init, createReranker, syntheticModel, version, cpuKernels, gpuStatus };
}
