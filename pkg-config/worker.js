// The worker half of createWorkerReranker(). Start a dedicated *module* worker from this file, or
// `import 'fewclick/worker'` in your own module worker; it then answers the client's requests.
// It does nothing outside a dedicated worker, so importing it in a page cannot expose a reranker
// to other windows' postMessage.
//
// Protocol (both directions tagged `fewclick: 1`, so a host may share the worker):
//   → { fewclick: 1, id, op: 'create', model: bytes | absolute URL, options }
//   → { fewclick: 1, id, op: 'call', handle, method, args }
//   ← { fewclick: 1, id, ok: true, value, state: { backend, lastAdaptMs, eventCount, itemDim } }
//   ← { fewclick: 1, id, ok: false, error: { name, message, code } }
// A 'call' runs synchronously in the message handler, so calls run in the order they were sent.
import { FewclickError, createReranker } from './index.js';

const METHODS = new Set(['setResults', 'record', 'rank', 'explain', 'reset', 'forget', 'modelInfo']);
const rerankers = new Map();
let nextHandle = 1;

function stateOf(r) {
  return { backend: r.backend, lastAdaptMs: r.lastAdaptMs, eventCount: r.eventCount, itemDim: r.itemDim };
}

function errorData(e) {
  const error = e instanceof FewclickError ? e : new FewclickError('INTERNAL', `fewclick worker: ${e && e.message ? e.message : String(e)}`);
  return { name: error.name, message: error.message, code: error.code };
}

async function answer(msg) {
  if (msg.op === 'create') {
    const r = await createReranker(msg.model, msg.options);
    const handle = nextHandle++;
    rerankers.set(handle, r);
    return { value: handle, state: stateOf(r) };
  }
  if (msg.op === 'call') {
    const r = rerankers.get(msg.handle);
    if (r === undefined) throw new FewclickError('FREED', 'this reranker has been freed');
    if (msg.method === 'free') {
      rerankers.delete(msg.handle);
      r.free();
      return { value: undefined, state: undefined };
    }
    if (!METHODS.has(msg.method)) throw new FewclickError('INVALID_INPUT', `unknown method ${String(msg.method)}`);
    const value = r[msg.method](...(Array.isArray(msg.args) ? msg.args : []));
    return { value, state: stateOf(r) };
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
      if (msg.method === 'rank') transfer = [value.order.buffer, value.scores.buffer, value.moved.buffer];
    } catch (e) {
      reply = { fewclick: 1, id: msg.id, ok: false, error: errorData(e) };
    }
    globalThis.postMessage(reply, transfer);
  });
}
