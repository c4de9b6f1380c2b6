// Sessions across page loads, only on the host's opt-in: exportSession() / { session } and the
// sessionStorage helper ({ persist }), from Node with the demo model (FEWCLICK_DEMO_MODEL; run by
// scripts/test-js.sh in the scratch project). Node has no sessionStorage: the tests pass a
// Map-backed storage, and check that nothing touches one the host did not ask for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FewclickError, createReranker, syntheticModel } from 'fewclick';

const MODEL = readFileSync(process.env.FEWCLICK_DEMO_MODEL);
const T0 = 1_700_000_000_000;
const ids = Array.from({ length: 24 }, (_, i) => `sku-${String(i * 5 + 1).padStart(3, '0')}`);
const prices = ids.map((_, i) => 9.99 + ((i * 29) % 150));

/** A Storage with a log of every call. */
function memoryStorage() {
  const map = new Map();
  const calls = [];
  return {
    map,
    calls,
    getItem: (k) => (calls.push(['get', k]), map.has(k) ? map.get(k) : null),
    setItem: (k, v) => (calls.push(['set', k]), map.set(k, String(v))),
    removeItem: (k) => (calls.push(['remove', k]), map.delete(k)),
  };
}

async function firstPage(options) {
  const r = await createReranker(MODEL, options);
  r.setResults({ ids, prices });
  r.record({ item: ids[9], type: 'click', timestamp: T0 });
  r.record({ item: ids[14], type: 'cart', timestamp: T0 + 5000 });
  return r;
}

test('exportSession() bytes restore the session on the next page: same events, same ranking', async () => {
  const a = await firstPage();
  const bytes = a.exportSession();
  assert.ok(bytes instanceof Uint8Array && bytes.length > 40 && bytes.length <= 1 << 20);
  const b = await createReranker(MODEL, { session: bytes });
  assert.equal(b.sessionError, null);
  assert.equal(b.eventCount, 2);
  const fresh = await createReranker(MODEL);
  for (const r of [a, b, fresh]) r.setResults({ ids: ids.slice(4), prices: prices.slice(4) });
  const [ra, rb, rf] = [a.rank(), b.rank(), fresh.rank()];
  assert.ok(rb.adapted && !rf.adapted, 'the restored session adapts; a fresh one has nothing to adapt to');
  assert.deepEqual(rf.ids, ids.slice(4));
  assert.notDeepEqual(rb.ids, ids.slice(4), 'the restored clicks re-rank the next page');
  // The lists shown are not carried across (a new page shows new lists), so the ranking may
  // differ from the unbroken session's in the list-history features only: the engaged items
  // move up in both.
  for (const r of [ra, rb]) {
    for (const id of [ids[9], ids[14]]) assert.ok(r.ids.indexOf(id) < ids.slice(4).indexOf(id), `${id} moves up`);
  }
});

test('damaged, truncated and foreign bytes give INVALID_SESSION in sessionError and a clean start', async () => {
  const bytes = (await firstPage()).exportSession();
  const damaged = bytes.slice();
  damaged[damaged.length >> 1] ^= 0x5a;
  const other = await createReranker(await syntheticModel(23, 16, 3));
  other.setResults({ ids: ['a'], features: new Float32Array(23), featureNames: other.modelInfo().featureNames });
  other.record({ item: 'a', type: 'click', timestamp: T0 });
  for (const session of [damaged, bytes.subarray(0, 100), new Uint8Array(64), other.exportSession()]) {
    const r = await createReranker(MODEL, { session });
    assert.ok(r.sessionError instanceof FewclickError);
    assert.equal(r.sessionError.code, 'INVALID_SESSION');
    assert.equal(r.eventCount, 0, 'a clean start');
    r.setResults({ ids, prices });
    assert.deepEqual(r.rank().ids, ids);
  }
  await assert.rejects(createReranker(MODEL, { session: 'not bytes' }), (e) => e.code === 'INVALID_INPUT');
});

test('persist keeps the session in the storage across page loads; forget() and reset() remove it', async () => {
  const storage = memoryStorage();
  const persist = { key: 'shop-7', storage };
  const a = await firstPage({ persist });
  assert.ok(storage.map.has('shop-7'), 'saved after the events');
  const b = await createReranker(MODEL, { persist });
  assert.equal(b.sessionError, null);
  assert.equal(b.eventCount, 2, 'the next page starts where the last one stopped');
  b.record({ item: ids[2], type: 'click', timestamp: T0 + 9000 });
  const c = await createReranker(MODEL, { persist });
  assert.equal(c.eventCount, 3);
  c.forget();
  assert.ok(!storage.map.has('shop-7'), 'forget() removes what the helper stored');
  assert.equal((await createReranker(MODEL, { persist })).eventCount, 0);
  a.record({ item: ids[1], type: 'click', timestamp: T0 + 20000 });
  assert.ok(storage.map.has('shop-7'));
  a.reset();
  assert.ok(!storage.map.has('shop-7'), 'reset() removes it too');
});

test('stored bytes the core refuses are removed: a typed error and a clean start', async () => {
  const storage = memoryStorage();
  for (const junk of ['not base64 !!', btoa('FCSESSN1 but nothing after it, long enough for a header')]) {
    storage.map.set('fewclick:session', junk);
    const r = await createReranker(MODEL, { persist: { storage } });
    assert.equal(r.sessionError?.code, 'INVALID_SESSION');
    assert.equal(r.eventCount, 0);
    assert.ok(!storage.map.has('fewclick:session'), 'the bad copy is gone');
  }
});

test('nothing is stored unless the host asks; a bad persist option is a typed error', async () => {
  const spy = memoryStorage();
  globalThis.sessionStorage = spy;
  try {
    const r = await firstPage();
    r.exportSession();
    r.forget();
    assert.deepEqual(spy.calls, [], 'no storage call without persist');
    // persist: true uses sessionStorage.
    const p = await firstPage({ persist: true });
    assert.ok(spy.map.has('fewclick:session'));
    p.forget();
  } finally {
    delete globalThis.sessionStorage;
  }
  await assert.rejects(createReranker(MODEL, { persist: true }), (e) => e.code === 'INVALID_CONFIG', 'Node has no sessionStorage');
  await assert.rejects(createReranker(MODEL, { persist: { key: '', storage: memoryStorage() } }), (e) => e.code === 'INVALID_CONFIG');
  await assert.rejects(createReranker(MODEL, { persist: { storage: {} } }), (e) => e.code === 'INVALID_CONFIG');
  await assert.rejects(createReranker(MODEL, { persist: { key: 'k', where: 'local' } }), (e) => e.code === 'INVALID_INPUT');
  await assert.rejects(createReranker(MODEL, { persist: 'yes' }), (e) => e.code === 'INVALID_INPUT');
});
