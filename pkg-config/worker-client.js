// The page half of the worker API: createWorkerReranker() gives the same reranker API as
// createReranker(), with every method returning a promise and the wasm running in a worker
// (worker.js). Several rerankers may share one worker.
import { FewclickError } from './core.js';

const channels = new WeakMap();

function reviveError(data) {
  const ok = data !== null && typeof data === 'object';
  const error = new FewclickError(
    ok && typeof data.code === 'string' ? data.code : 'INTERNAL',
    ok && typeof data.message === 'string' ? data.message : 'fewclick worker error',
  );
  if (ok && typeof data.name === 'string') error.name = data.name;
  return error;
}

/** One request/response channel per worker. */
function channelFor(worker) {
  let channel = channels.get(worker);
  if (channel !== undefined) return channel;
  const pending = new Map();
  let nextId = 1;
  let broken;
  const failAll = (error) => {
    broken = error;
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  };
  worker.addEventListener('message', (event) => {
    const msg = event.data;
    if (msg === null || typeof msg !== 'object' || msg.fewclick !== 1 || !pending.has(msg.id)) return;
    const { resolve, reject } = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.ok) resolve({ value: msg.value, state: msg.state });
    else reject(reviveError(msg.error));
  });
  // An uncaught error in the worker (including a worker script that failed to load) leaves
  // requests unanswered: fail them, and every later one, rather than hang.
  worker.addEventListener('error', (event) => {
    failAll(new FewclickError('WORKER_ERROR', `the fewclick worker failed: ${(event && event.message) || 'script error'}`));
  });
  worker.addEventListener('messageerror', () => {
    failAll(new FewclickError('WORKER_ERROR', 'a message from the fewclick worker could not be deserialised'));
  });
  channel = {
    request(message, transfer = []) {
      if (broken !== undefined) return Promise.reject(broken);
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        try {
          worker.postMessage({ fewclick: 1, id, ...message }, transfer);
        } catch (e) {
          pending.delete(id);
          reject(new FewclickError('INVALID_INPUT', `could not send to the worker: ${e && e.message}`, { cause: e }));
        }
      });
    },
  };
  channels.set(worker, channel);
  return channel;
}

/** Bytes are copied (just the view's range; the copy is then transferred, the caller's buffer
 * stays usable); a URL is made absolute here, where relative URLs mean what the page means,
 * before the worker fetches it. */
function portableModel(model) {
  if (model instanceof ArrayBuffer) return new Uint8Array(model.slice(0));
  if (ArrayBuffer.isView(model)) return new Uint8Array(model.buffer, model.byteOffset, model.byteLength).slice();
  if (typeof model !== 'string' && !(typeof URL === 'function' && model instanceof URL)) return model;
  const base = globalThis.document?.baseURI ?? globalThis.location?.href;
  try {
    return new URL(String(model), base).href;
  } catch {
    return String(model);
  }
}

class WorkerReranker {
  #channel;
  #handle;
  #state;
  #ownedWorker;
  #freed = false;

  constructor(channel, handle, state, ownedWorker) {
    this.#channel = channel;
    this.#handle = handle;
    this.#state = state;
    this.#ownedWorker = ownedWorker;
  }

  async #call(method, args) {
    if (this.#freed) throw new FewclickError('FREED', 'this reranker has been freed');
    const { value, state } = await this.#channel.request({ op: 'call', handle: this.#handle, method, args });
    if (state !== undefined) this.#state = state;
    return value;
  }

  async setResults(results) {
    await this.#call('setResults', [results]);
  }
  async record(event) {
    await this.#call('record', [event]);
  }
  rank(options) {
    return this.#call('rank', options === undefined ? [] : [options]);
  }
  rankAsync(backend, options) {
    return this.#call('rankAsync', options === undefined ? (backend === undefined ? [] : [backend]) : [backend, options]);
  }
  explain(id) {
    return this.#call('explain', [id]);
  }
  async reset() {
    await this.#call('reset', []);
  }
  async forget() {
    await this.#call('forget', []);
  }
  modelInfo() {
    return this.#call('modelInfo', []);
  }

  /** As of the last settled call. */
  get backend() {
    return this.#state.backend;
  }
  get lastAdaptMs() {
    return this.#state.lastAdaptMs;
  }
  get gpuFallbackReason() {
    return this.#state.gpuFallbackReason;
  }
  get itemDim() {
    return this.#state.itemDim;
  }
  /** Why the `session` given at creation was not restored (`{ name, message, code }`), or null. */
  get sessionError() {
    return this.#state.sessionError;
  }
  exportSession() {
    return this.#call('exportSession', []);
  }
  get eventCount() {
    return this.#state.eventCount;
  }

  /** Releases the reranker in the worker (and terminates the worker if createWorkerReranker
   * started it). Resolves even if the worker is already gone. */
  async free() {
    if (this.#freed) return;
    this.#freed = true;
    try {
      await this.#channel.request({ op: 'call', handle: this.#handle, method: 'free', args: [] });
    } catch {
      // The worker failed or was terminated: nothing is left to release.
    } finally {
      if (this.#ownedWorker !== undefined) this.#ownedWorker.terminate();
    }
  }
}

/**
 * Creates a reranker that runs in a Web Worker.
 * @param worker a module Worker running fewclick's worker.js, or the URL of a module worker
 *   script (started with `{ type: 'module' }` and terminated by free()).
 * @param initOptions init()'s options inside the worker (which build it loads), sent with the
 *   first reranker; the worker's build is fixed from then on.
 */
export async function createWorkerReranker(worker, model, options, initOptions) {
  let owned;
  if (typeof worker === 'string' || (typeof URL === 'function' && worker instanceof URL)) {
    if (typeof Worker !== 'function') throw new FewclickError('WORKER_ERROR', 'this environment has no Web Worker');
    owned = new Worker(worker, { type: 'module' });
    worker = owned;
  } else if (worker === null || typeof worker !== 'object' || typeof worker.postMessage !== 'function' || typeof worker.addEventListener !== 'function') {
    throw new FewclickError('INVALID_INPUT', 'createWorkerReranker expects a Worker or a worker script URL');
  }
  try {
    const portable = portableModel(model);
    const transfer = portable instanceof Uint8Array ? [portable.buffer] : [];
    const { value: handle, state } = await channelFor(worker).request({ op: 'create', model: portable, options, init: initOptions }, transfer);
    return new WorkerReranker(channelFor(worker), handle, state, owned);
  } catch (e) {
    if (owned !== undefined) owned.terminate();
    throw e;
  }
}
