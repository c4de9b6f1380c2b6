// The environment-neutral half of the package: the memoised loader, the typed wrapper around the
// wasm exports and the error type. index.js (browsers, bundlers, workers) and node.js (Node) each
// pass makeApi() two functions: where a build's wasm comes from and how to fetch a model URL, so
// node-only code (fs) never reaches a bundle.
//
// Invariants: one wasm instance per JavaScript realm (the glue module holds it); the only network
// requests are the wasm file the loader picked and a model URL the host passes; nothing here
// needs cross-origin isolation (no SharedArrayBuffer, no threads).

// integrity.js and session.js are imported on demand (createReranker with `integrity`, `session`
// or `persist`): a page that uses neither never downloads them (issue 11's page weight).
import { stabilised, stabilityOptions } from './stability.js';

// The wasm-bindgen glue of the loaded build (set by init): the gpu build has its own glue (it
// imports the WebGPU functions), the two CPU builds share one. Literal specifiers, so bundlers
// see and emit both; a page downloads only the one it loads.
let glue;
const loadGlue = (build) => (build === 'webgpu' ? import('./fewclick_gpu.js') : import('./fewclick_wasm.js'));
// The bench build (syntheticModel; src/wasm/bench.rs): an instance of its own, loaded on the first
// syntheticModel() call, so the builds a page ranks with do not carry it.
const loadBenchGlue = () => import('./fewclick_bench.js');

/** Codes the wasm core attaches to the errors it throws (see src/error.rs). */
const CORE_CODES = [
  'INVALID_MODEL', 'UNSUPPORTED_VERSION', 'DIMENSION_MISMATCH', 'NON_FINITE', 'TOO_MANY_CANDIDATES',
  'DUPLICATE_ID', 'INVALID_ID', 'UNKNOWN_ITEM', 'INVALID_CONFIG', 'INVALID_INPUT', 'NO_RESULTS',
  'NO_ITEM_TABLE', 'SCHEMA_MISMATCH', 'INVALID_SESSION', 'MEMORY_BUDGET',
];
/** Codes the JavaScript side adds: loading, fetching, the model's integrity, use after free(),
 * workers, bugs. */
const JS_CODES = ['WASM_LOAD_FAILED', 'FETCH_FAILED', 'INTEGRITY', 'FREED', 'BUSY', 'WORKER_ERROR', 'INTERNAL'];

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

// A minimal module whose one function returns f32x4.relaxed_madd of three i8x16.splat vectors; it
// validates only where wasm relaxed SIMD is supported (Chromium; Node 20 only behind a flag).
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 19, 1, 17, 0, 65, 1, 253, 15,
  65, 1, 253, 15, 65, 1, 253, 15, 253, 133, 2, 11,
]);

/** Whether this realm offers WebGPU (`navigator.gpu`; a window or a worker in a secure context).
 * Whether an adapter exists is only known once asked, which the gpu build does on first use. */
export function webgpuAvailable() {
  return typeof navigator === 'object' && navigator !== null && typeof navigator.gpu === 'object' && navigator.gpu !== null;
}

const BUILD_CHOICES = ['auto', 'cpu', 'webgpu', 'relaxed', 'simd', 'baseline'];

/** The build `want` loads here: `auto` takes the gpu build where WebGPU and simd128 exist, `cpu`
 * never does; both take relaxed SIMD where supported, else SIMD where supported, else the
 * baseline. */
function pickBuild(want) {
  if (want === 'webgpu' || want === 'relaxed' || want === 'simd' || want === 'baseline') return want;
  const simd = simdSupported();
  if (want === 'auto' && simd && webgpuAvailable()) return 'webgpu';
  if (simd && validates(RELAXED_PROBE)) return 'relaxed';
  return simd ? 'simd' : 'baseline';
}

function validates(bytes) {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(bytes);
  } catch {
    return false;
  }
}

/** Whether the loaded `build` satisfies a later init's `want`. */
function satisfies(build, want) {
  return want === 'auto' || want === build || (want === 'cpu' && build !== 'webgpu');
}

/** Whether this engine runs wasm simd128 (and so gets the SIMD build). */
export function simdSupported() {
  return validates(SIMD_PROBE);
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

export function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

// What the host passes is read here, in JavaScript, once, and the wasm gets plain data: own
// properties only (an inherited key, such as one a polluted Object.prototype adds, is never
// read), in a null-prototype object or a fresh array. A host getter or Proxy trap that threw
// inside a wasm call would unwind through it and leave the reranker borrowed for good (every
// later call INTERNAL); here it throws before the wasm is entered, as INVALID_INPUT.
function unreadable(what, e) {
  return new FewclickError('INVALID_INPUT', `${what} could not be read: ${e && e.message ? e.message : String(e)}`, { cause: e });
}

/** An object's own enumerable properties in a null-prototype copy; anything else as it is (the
 * core gives it its error). */
export function ownCopy(value, what) {
  try {
    return isPlainObject(value) ? Object.assign(Object.create(null), value) : value;
  } catch (e) {
    throw unreadable(what, e);
  }
}

/** An event as plain data: a copy of an object's own properties; any other object (an array, a
 * typed array, a function) as an empty array, which the core refuses as it refuses those. */
function inertEvent(event) {
  const copy = ownCopy(event, 'event');
  if (copy === null || typeof copy !== 'object' || isPlainObject(copy)) return typeof copy === 'function' ? [] : copy;
  return [];
}

/** An array as a fresh array, a Float32Array as a fresh Float32Array, a primitive as it is; any
 * other object as an inert stand-in the core refuses as it refuses such values ("must be an
 * array"). */
function inertArray(value, what) {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return value;
  try {
    if (Array.isArray(value)) return Array.prototype.slice.call(value);
    if (ArrayBuffer.isView(value) && value instanceof Float32Array) {
      // A detached buffer reads as empty, as the core reads it.
      return value.buffer.byteLength === 0 ? new Float32Array(0) : new Float32Array(value);
    }
  } catch (e) {
    throw unreadable(what, e);
  }
  return Object.create(null);
}

// Keys the core reads (src/wasm/read.rs OPTION_KEYS). The core refuses unknown keys too; checked
// here first, so the message names the package's own keys (createReranker's). An event's keys
// only the core checks (record() and checkEvent): once per event, on the copy made here.
const OPTION_KEYS = new Set(['maxCandidates', 'eventCapacity', 'maxMove', 'scope', 'steps', 'rankWithoutEvents']);
const RESULT_KEYS = new Set(['ids', 'prices', 'features', 'featureNames', 'baseScores']);
// Options this file handles itself (createReranker's); never passed to the core.
const JS_OPTION_KEYS = new Set(['integrity', 'session', 'persist']);
const CREATE_OPTION_KEYS = new Set([...OPTION_KEYS, ...JS_OPTION_KEYS]);

export function checkKeys(object, allowed, what) {
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
  checkKeys(options, CREATE_OPTION_KEYS, 'options');
  const out = Object.create(null);
  for (const [key, value] of Object.entries(options)) if (value !== undefined && !JS_OPTION_KEYS.has(key)) out[key] = value;
  return out;
}

/**
 * An event for the queue of a pending rankAsync(), checked by the core itself without a reranker
 * (the glue's `checkEvent`: `record()`'s reader and `Event::validate`, so the same checks in the
 * same order with the same codes), so a bad event throws from record() as it would without the
 * queue. Returns a copy (the host may reuse its object) stamped with the time record() was called
 * unless it has a timestamp: the event happened now, not when the queue is applied. What only the
 * session can tell (a timestamp earlier than the previous event's) is checked when the event is
 * applied.
 */
function queuedEvent(event) {
  guarded(() => glue.checkEvent(event));
  const { item, type, timestamp, dwellMs } = event;
  const out = { item, type, timestamp: timestamp ?? Date.now() };
  if (dwellMs !== undefined && dwellMs !== null) out.dwellMs = dwellMs;
  return out;
}

function toBytes(model) {
  // Genuine views only: a Proxy of one is not a view, and the glue would run its traps while
  // copying the bytes into the wasm.
  if (ArrayBuffer.isView(model)) return model instanceof Uint8Array ? model : new Uint8Array(model.buffer, model.byteOffset, model.byteLength);
  if (model instanceof ArrayBuffer) return new Uint8Array(model);
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

/** Why a CPU build never uses WebGPU (its gpuFallbackReason, gpuStatus and rankAsync say so). */
const NO_WEBGPU_BUILD = 'this build of fewclick has no WebGPU support (a CPU build)';

/** rankAsync() of a build without WebGPU (whose glue has no `rankAsync`: the WebGPU build's
 * comes from gpu.js, bundled with its glue): rank() on the CPU, saying why WebGPU was not used unless
 * the caller asked for the CPU. The same checks and answer as the WebGPU build's CPU path. */
function cpuRankAsync(raw, backend = 'auto') {
  if (backend !== 'auto' && backend !== 'cpu' && backend !== 'webgpu') {
    throw new FewclickError('INVALID_CONFIG', `invalid setting \`backend\`: expected "auto", "cpu" or "webgpu", got ${JSON.stringify(backend)}`);
  }
  const ranking = raw.rank();
  ranking.fallbackReason = backend === 'cpu' ? null : NO_WEBGPU_BUILD;
  return Promise.resolve(ranking);
}

/** The page's reranker: a typed shell over the wasm object. */
class Reranker {
  #raw;
  #ids; // the current results' ids, to name a ranking's order without decoding strings from wasm
  #shown; // display indices in the order last returned for these results (pinTop, freezeAbove)
  #pending = false; // a rankAsync() holds the wasm object until it settles
  #queued = []; // events record() took while a rankAsync() was pending, applied when it settles
  #refused; // { error, event, count }: queued events the core refused, for the next ranking call

  #persist; // { storage, key } when the host opted in to sessionStorage
  #sessions; // session.js, imported when the host gave `session` or `persist`
  #sessionError = null;

  /** `session`: bytes to restore (from the `session` option, or what `persist` stored). Bytes
   * the core refuses leave a clean session and their error in `sessionError`; refused stored
   * bytes are removed. */
  constructor(raw, sessions, persist, session, fromStorage) {
    this.#raw = raw;
    this.#sessions = sessions;
    this.#persist = persist;
    if (session !== undefined) {
      try {
        raw.importSession(session);
      } catch (e) {
        this.#sessionError = normalised(e);
        if (fromStorage) sessions.removeStored(persist);
      }
    }
  }

  /** Saves the session where the host asked it to be kept (after every recorded event). */
  #save(raw) {
    if (this.#persist !== undefined) this.#sessions.store(this.#persist, raw.exportSession());
  }

  /** After free(), every call is FREED, whatever its arguments (checked before them). */
  #notFreed() {
    if (this.#raw === undefined) throw new FewclickError('FREED', 'this reranker has been freed');
  }

  #live() {
    this.#notFreed();
    if (this.#pending) throw new FewclickError('BUSY', 'a rankAsync() on this reranker is pending: await it first (only record() may be called meanwhile)');
    return this.#raw;
  }

  /** Applies the events queued during a rankAsync(), in order, as it settles (before any later
   * call). One the core refuses is not recorded (its error is kept for the next ranking call);
   * the others still are. */
  #applyQueued(raw) {
    const queued = this.#queued;
    this.#queued = [];
    for (const event of queued) {
      try {
        raw.record(event);
      } catch (e) {
        if (this.#refused === undefined) this.#refused = { error: normalised(e), event, count: 0 };
        this.#refused.count++;
      }
    }
    if (queued.length > 0) this.#save(raw);
  }

  /** Throws, once, the error of a queued event the core refused, so that the next rank(),
   * rankAsync() or explain() does not silently answer without it; the call itself does nothing. */
  #throwRefused() {
    const refused = this.#refused;
    if (refused === undefined) return;
    this.#refused = undefined;
    const { error, event, count } = refused;
    const more = count > 1 ? ` (and ${count - 1} more queued event${count > 2 ? 's' : ''})` : '';
    const e = new FewclickError(
      error.code,
      `an event recorded while rankAsync() was pending was refused when it was applied${more}, so it is not in the session: ${error.message}. This call did nothing; call it again`,
      { cause: error },
    );
    e.event = event;
    throw e;
  }

  /** Names the order with the ids JS already holds when the core left `ids` out (building them
   * in JS from `order` is ~5x cheaper than decoding one string per item out of wasm). A counted
   * loop into an array of the right length: `Array.from(order, f)` calls `f` through the iterator
   * protocol and took 0.28 ms at N = 10,000 in Node 20, the loop 0.035 ms. */
  #withIds(ranking, options) {
    ranking = stabilised(ranking, this.#shown, this.#ids, options);
    this.#shown = ranking.order.slice(); // a typed copy: the caller owns the ranking's arrays
    if (ranking.ids === undefined) {
      const ids = this.#ids;
      const order = ranking.order;
      const named = new Array(order.length);
      for (let k = 0; k < order.length; k++) named[k] = ids[order[k]];
      ranking.ids = named;
    }
    return ranking;
  }

  setResults(results) {
    this.#notFreed();
    results = ownCopy(results, 'results');
    if (!isPlainObject(results)) {
      throw new FewclickError('INVALID_INPUT', 'setResults expects { ids, prices?, features?, featureNames?, baseScores? }');
    }
    checkKeys(results, RESULT_KEYS, 'results');
    const ids = inertArray(results.ids, 'results.ids');
    const features = inertArray(results.features, 'results.features');
    const featureNames = inertArray(results.featureNames, 'results.featureNames');
    const baseScores = inertArray(results.baseScores, 'results.baseScores');
    const prices = inertArray(results.prices, 'results.prices');
    if (features !== undefined && featureNames === undefined) {
      throw new FewclickError(
        'INVALID_INPUT',
        "features need featureNames, the names of their columns in order (the model's are modelInfo().featureNames): they are checked against the model's schema",
      );
    }
    const raw = this.#live();
    guarded(() => raw.setResults(ids, features, featureNames, baseScores, prices));
    this.#ids = ids; // a fresh array (inertArray), accepted by the core: an array of strings
    this.#shown = undefined;
  }

  /** While a rankAsync() is pending the event is checked (what needs no session state) and
   * queued; it is applied as that call settles. */
  record(event) {
    this.#notFreed();
    event = inertEvent(event);
    if (this.#pending && this.#raw !== undefined) {
      const queued = queuedEvent(event);
      const last = this.#queued.at(-1);
      if (last !== undefined && queued.timestamp / 1000 < last.timestamp / 1000) {
        throw new FewclickError('INVALID_INPUT', "invalid input: event timestamp is earlier than the previous event's");
      }
      this.#queued.push(queued);
      return;
    }
    const raw = this.#live(); // the core refuses unknown keys (src/wasm/read.rs EVENT_KEYS)
    guarded(() => raw.record(event));
    this.#save(raw);
  }

  /** The session as bytes for a later page (`createReranker(model, { session })`): versioned,
   * checksummed, at most 1 MiB. Stores nothing. */
  exportSession() {
    const raw = this.#live();
    return guarded(() => raw.exportSession());
  }

  /** Why the session given at creation (or stored by `persist`) was not restored, or null. */
  get sessionError() {
    return this.#sessionError;
  }

  rank(options) {
    const raw = this.#live();
    this.#throwRefused();
    const stability = stabilityOptions(options);
    return this.#withIds(guarded(() => raw.rank()), stability);
  }

  /** rank() scoring on WebGPU where chosen, on the session as it is now: record() meanwhile
   * queues its events for after; other calls on this reranker throw BUSY until it settles. */
  async rankAsync(backend, options) {
    this.#notFreed();
    if (backend !== undefined && typeof backend !== 'string') {
      throw new FewclickError('INVALID_INPUT', 'backend must be "auto", "cpu" or "webgpu"');
    }
    const raw = this.#live();
    this.#throwRefused();
    const stability = stabilityOptions(options);
    const promise = guarded(() => (glue.rankAsync ? glue.rankAsync(raw, backend) : cpuRankAsync(raw, backend)));
    this.#pending = true;
    try {
      return this.#withIds(await promise, stability);
    } catch (e) {
      throw normalised(e);
    } finally {
      this.#pending = false;
      this.#applyQueued(raw);
    }
  }

  explain(id) {
    this.#notFreed();
    if (typeof id !== 'string') throw new FewclickError('INVALID_INPUT', 'explain expects an item id (string)');
    const raw = this.#live();
    this.#throwRefused();
    return guarded(() => raw.explain(id));
  }

  /** Also drops a refused queued event's error: the session it was for is gone. */
  reset() {
    const raw = this.#live();
    guarded(() => raw.reset());
    this.#refused = undefined;
    if (this.#persist !== undefined) this.#sessions.removeStored(this.#persist);
  }

  forget() {
    const raw = this.#live();
    guarded(() => raw.forget());
    this.#ids = undefined;
    this.#shown = undefined;
    this.#refused = undefined;
    if (this.#persist !== undefined) this.#sessions.removeStored(this.#persist);
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
    return glue.rankAsync ? guarded(() => raw.gpuFallbackReason) ?? null : NO_WEBGPU_BUILD;
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
    this.#shown = undefined;
    this.#refused = undefined;
    if (raw !== undefined) raw.free();
  }
}

/**
 * Builds the public API for one environment.
 * @param env.wasmSource (build: 'relaxed' | 'simd' | 'baseline' | 'webgpu' | 'bench') => what wasm-bindgen's init accepts:
 *   a URL (fetched and streamed), bytes, or a WebAssembly.Module; may return a promise.
 * @param env.fetchModel (url: string | URL) => Promise<Uint8Array>
 */
export function makeApi(env) {
  let loading; // Promise<build> of this realm's one instantiation

  function init(options) {
    let want = 'auto';
    let budget;
    if (options !== undefined && options !== null) {
      if (!isPlainObject(options)) return Promise.reject(new FewclickError('INVALID_INPUT', 'init options must be an object'));
      budget = options.memoryBudget;
      if (budget !== undefined && !(typeof budget === 'number' && Number.isInteger(budget) && budget > 0)) {
        return Promise.reject(new FewclickError('INVALID_CONFIG', 'memoryBudget must be a positive whole number of bytes'));
      }
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
    // The budget is the instance's: every init() that names one sets it.
    const loaded = budget === undefined ? loading : loading.then((build) => guarded(() => (glue.setMemoryBudget(budget), build)));
    if (want === 'auto') return loaded;
    return loaded.then((build) => {
      if (!satisfies(build, want)) {
        throw new FewclickError('INVALID_CONFIG', `the ${build} build is already loaded; init({ build: "${want}" }) must run before anything else`);
      }
      return build;
    });
  }

  async function createReranker(model, options) {
    options = ownCopy(options, 'options');
    const opts = rerankerOptions(options);
    // Exactly the values the option modules' parsers do not read as "not asked for" (so they
    // still refuse the rest with their own errors): integrity anything but undefined, session
    // anything but undefined and null, persist anything but undefined and false.
    const given = (key, ...absent) => isPlainObject(options) && !absent.includes(options[key]);
    const wantsIntegrity = given('integrity', undefined);
    // With integrity, a copy of the caller's bytes, taken now (before any await): the digest's
    // input is what the core reads, whatever the caller does with its buffer after the call.
    const bytes = toBytes(model);
    const own = bytes !== undefined && wantsIntegrity ? bytes.slice() : bytes;
    const isUrl = typeof model === 'string' || (typeof URL === 'function' && model instanceof URL);
    if (bytes === undefined && !isUrl) throw new FewclickError('INVALID_INPUT', 'model must be an ArrayBuffer, a typed array or a URL');
    // The option modules this call needs, loaded on demand (see the imports above).
    const [checks, sessions] = await Promise.all([
      wantsIntegrity ? import('./integrity.js') : undefined,
      given('session', undefined, null) || given('persist', undefined, false) ? import('./session.js') : undefined,
    ]);
    // Checked before anything is fetched; the bytes are checked before anything reads them.
    const integrity = checks?.parseIntegrity(options.integrity);
    const bytesPromise = own ?? env.fetchModel(model);
    const restore = sessions?.sessionBytes(options.session);
    const persist = sessions?.parsePersist(options.persist);
    const [modelBytes] = await Promise.all([bytesPromise, init()]);
    if (integrity !== undefined) await checks.checkIntegrity(modelBytes, integrity);
    const raw = guarded(() => new glue.Reranker(modelBytes, opts));
    const stored = restore === undefined && persist !== undefined ? sessions.loadStored(persist) : undefined;
    return new Reranker(raw, sessions, persist, restore ?? stored, stored !== undefined);
  }

  let benchLoading; // Promise<glue> of the bench build, instantiated on first use

  async function syntheticModel(itemDim, hidden, seed = 0) {
    checkUint32(itemDim, 'itemDim');
    checkUint32(hidden, 'hidden');
    checkUint32(seed, 'seed');
    if (benchLoading === undefined) {
      const attempt = (async () => {
        try {
          const mod = await loadBenchGlue();
          await mod.default({ module_or_path: await env.wasmSource('bench') });
          return mod;
        } catch (e) {
          throw new FewclickError('WASM_LOAD_FAILED', `could not load the fewclick bench wasm build: ${e && e.message}`, { cause: e });
        }
      })();
      benchLoading = attempt;
      attempt.catch(() => {
        if (benchLoading === attempt) benchLoading = undefined;
      });
    }
    const bench = await benchLoading;
    return guarded(() => bench.syntheticModel(itemDim, hidden, seed));
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
    return glue.gpuStatus ? guarded(() => glue.gpuStatus()) : { fallbackReason: NO_WEBGPU_BUILD, calibrations: [] };
  }

  async function memoryUsage() {
    await init();
    return guarded(() => glue.memoryUsage());
  }

  return { init, createReranker, syntheticModel, version, cpuKernels, gpuStatus, memoryUsage };
}
