// The worker half of createWorkerReranker(). Start a dedicated *module* worker from this file, or
// `import 'fewclick/worker'` in your own module worker; it then answers the client's requests.
// It does nothing outside a dedicated worker, so importing it in a page cannot expose a reranker
// to other windows' postMessage.
//
// Protocol (both directions tagged `fewclick: 1`, so a host may share the worker):
//   → { fewclick: 1, id, op: 'create', model: bytes | absolute URL, options, init? }
//   → { fewclick: 1, id, op: 'call', handle, method, args }
//   ← { fewclick: 1, id, ok: true, value, state: { backend, lastAdaptMs, eventCount, itemDim,
//                                                   gpuFallbackReason } }
//   ← { fewclick: 1, id, ok: false, error: { name, message, code } }
// Calls on one reranker run one after another in the order they were sent (a queue per reranker,
// so a pending rankAsync never makes the next call BUSY).
import { FewclickError, createReranker, init } from './index.js';

const METHODS = new Set(['setResults', 'record', 'rank', 'rankAsync', 'explain', 'reset', 'forget', 'modelInfo', 'exportSession']);
const RANKINGS = new Set(['rank', 'rankAsync']);
const rerankers = new Map(); // handle → { reranker, queue }
let nextHandle = 1;

function stateOf(r) {
  return {
    backend: r.backend,
    lastAdaptMs: r.lastAdaptMs,
    eventCount: r.eventCount,
    itemDim: r.itemDim,
    gpuFallbackReason: r.gpuFallbackReason,
    sessionError: r.sessionError === null ? null : errorData(r.sessionError),
  };
}

function errorData(e) {
  const error = e instanceof FewclickError ? e : new FewclickError('INTERNAL', `fewclick worker: ${e && e.message ? e.message : String(e)}`);
  return { name: error.name, message: error.message, code: error.code };
}

async function answer(msg) {
  if (msg.op === 'create') {
    if (msg.init !== undefined) await init(msg.init); // which build this worker loads
    const r = await createReranker(msg.model, msg.options);
    const handle = nextHandle++;
    rerankers.set(handle, { reranker: r, queue: Promise.resolve() });
    return { value: handle, state: stateOf(r) };
  }
  if (msg.op === 'call') {
    const entry = rerankers.get(msg.handle);
    if (entry === undefined) throw new FewclickError('FREED', 'this reranker has been freed');
    if (msg.method !== 'free' && !METHODS.has(msg.method)) {
      throw new FewclickError('INVALID_INPUT', `unknown method ${String(msg.method)}`);
    }
    const run = async () => {
      const r = entry.reranker;
      if (msg.method === 'free') {
        rerankers.delete(msg.handle);
        r.free();
        return { value: undefined, state: undefined };
      }
      const value = await r[msg.method](...(Array.isArray(msg.args) ? msg.args : []));
      return { value, state: stateOf(r) };
    };
    const result = entry.queue.then(run);
    entry.queue = result.catch(() => {});
    return result;
  }
  throw new FewclickError('INVALID_INPUT', `unknown operation ${String(msg.op)}`);
}

if (typeof DedicatedWorkerGlobalScope === 'function' && globalThis instanceof DedicatedWorkerGlobalScope) {
  globalThis.addEventListener('message', async (event) => {
    const msg = event.data;
    if (msg === null || typeof msg !== 'object' || msg.fewclick !== 1 || typeof msg.id !== 'number') return;
    let reply;
    let transfer = [];
    try {
      const { value, state } = await answer(msg);
      reply = { fewclick: 1, id: msg.id, ok: true, value, state };
      // The ranking's typed arrays are fresh copies: move them instead of copying again.
      if (RANKINGS.has(msg.method)) transfer = [value.order.buffer, value.scores.buffer, value.moved.buffer];
    } catch (e) {
      reply = { fewclick: 1, id: msg.id, ok: false, error: errorData(e) };
    }
    globalThis.postMessage(reply, transfer);
  });
}
