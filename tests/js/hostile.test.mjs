// Hostile shoppers and pages, through the package's API from Node (the wasm a page runs): a bot
// that clicks one item 10,000 times, numbers at and past the edges of f32 and f64, 1 MB ids,
// 100,000 duplicate ids, prototype-polluting keys, a polluted Object.prototype, and getters and
// Proxies that throw while the package reads them. Every refused call must throw its typed error
// and change nothing: the ranking (ids and scores, bit for bit), eventCount and the session's
// exported bytes are compared before and after. Inputs that are legitimately accepted are listed
// with what the package promises for them. scripts/test-js.sh copies this file into the scratch
// project (the installed tarball) and runs it with the demo model (FEWCLICK_DEMO_MODEL).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { FewclickError, createReranker, syntheticModel } from 'fewclick';

const MODEL = readFileSync(process.env.FEWCLICK_DEMO_MODEL);
// An hour ahead: the session clock is the last event's, so rankings compare across calls.
const T = Date.now() + 3_600_000;
const MB_ID = 'x'.repeat(1 << 20);
const ITEM_DIM = 16;
const NAMES = Array.from({ length: ITEM_DIM }, (_, i) => `f${i}`);

/** `n` demo catalogue ids (sku-000…; beyond 191 the table's cold vector) and positive prices. */
function page(n) {
  const ids = Array.from({ length: n }, (_, i) => `sku-${String(i).padStart(3, '0')}`);
  return { ids, prices: Float32Array.from(ids, (_, i) => 5 + ((i * 7919) % 300)) };
}

/** What a call must not change: the ranking, the event count, the session's bytes. */
function state(r) {
  const k = r.rank();
  return { ids: k.ids, scores: [...k.scores], eventCount: r.eventCount, session: [...r.exportSession()] };
}

function assertSane(ranking, ids, maxMove) {
  assert.deepEqual([...ranking.ids].sort(), [...ids].sort(), 'a permutation of the results');
  assert.ok(ranking.scores.every(Number.isFinite), 'every score finite');
  if (maxMove !== undefined) assert.ok(ranking.moved.every((m) => Math.abs(m) <= maxMove), `|moved| <= ${maxMove}: ${[...ranking.moved]}`);
}

/** `call(r)` must throw a FewclickError with `code` and leave `r` exactly as it was. */
function assertRefused(r, label, call, code) {
  const before = state(r);
  assert.throws(
    () => call(r),
    (e) => {
      assert.ok(e instanceof FewclickError, `${label}: not a FewclickError: ${e}`);
      assert.equal(e.code, code, `${label}: ${e.message.slice(0, 200)}`);
      return true;
    },
    label,
  );
  assert.deepEqual(state(r), before, `${label}: changed the reranker`);
}

/** A demo-model reranker showing 100 items, with a click and a skip recorded. */
async function demoSession(options = { maxMove: 3 }) {
  const r = await createReranker(MODEL, options);
  const res = page(100);
  r.setResults(res);
  r.record({ item: 'sku-050', type: 'click', timestamp: T });
  r.record({ item: 'sku-010', type: 'skip', timestamp: T + 1000 });
  return { r, res };
}

test('a bot clicking one item 10,000 times cannot move it more than maxMove places, and scores stay finite', async () => {
  // The default log (256 events), a log that keeps all 10,000, and freezeAbove on the bot's item.
  for (const [eventCapacity, freeze] of [[undefined, false], [100_000, false], [undefined, true]]) {
    const maxMove = 3;
    const r = await createReranker(MODEL, eventCapacity === undefined ? { maxMove } : { maxMove, eventCapacity });
    const { ids, prices } = page(100);
    r.setResults({ ids, prices });
    const target = ids[60];
    let t = T;
    for (let batch = 0; batch < 100; batch++) {
      for (let k = 0; k < 100; k++) r.record({ item: target, type: 'click', timestamp: (t += 50) });
      // freezeAbove the bot's item: every place above it is kept (kept places take precedence
      // over maxMove), so it cannot climb at all.
      const ranking = r.rank(freeze ? { freezeAbove: target } : undefined);
      assertSane(ranking, ids, maxMove);
      const at = ranking.ids.indexOf(target);
      assert.ok(at >= 60 - maxMove && at <= 60 + maxMove, `batch ${batch}: the clicked item is at ${at}`);
      if (freeze) assert.ok(at >= 60, `freezeAbove: the clicked item climbed to ${at}`);
    }
    assert.equal(r.eventCount, Math.min(10_000, eventCapacity ?? 256));
    const ex = r.explain(target);
    assert.ok(Number.isFinite(ex.score) && ex.signals.every((s) => Number.isFinite(s.value) && Number.isFinite(s.contribution)));
    r.free();
  }
});

test('NaN, ±Infinity and numbers past f32 in results are NON_FINITE; non-positive prices INVALID_INPUT; nothing changes', async () => {
  const { r, res } = await demoSession();
  const at = (values, i, v) => Array.from(values, (x, k) => (k === i ? v : x));
  for (const v of [NaN, Infinity, -Infinity, 1e39, -1e39]) {
    assertRefused(r, `prices[7] = ${v}`, (x) => x.setResults({ ...res, prices: at(res.prices, 7, v) }), 'NON_FINITE');
    assertRefused(r, `baseScores[7] = ${v}`, (x) => x.setResults({ ...res, baseScores: at(res.ids.map(() => 0), 7, v) }), 'NON_FINITE');
  }
  // A Float32Array holds NaN and ±Infinity itself (1e39 becomes Infinity in it).
  assertRefused(r, 'Float32Array prices with Infinity', (x) => x.setResults({ ...res, prices: Float32Array.from(at(res.prices, 3, 1e39)) }), 'NON_FINITE');
  // Number.MIN_VALUE is 0 as an f32: not a positive price.
  for (const v of [0, -0, -5, Number.MIN_VALUE]) {
    assertRefused(r, `prices[7] = ${v}`, (x) => x.setResults({ ...res, prices: at(res.prices, 7, v) }), 'INVALID_INPUT');
  }
  // Host features (a model without an item table).
  const s = await createReranker(await syntheticModel(ITEM_DIM, 32, 1), { maxMove: 3 });
  const features = Float32Array.from({ length: 100 * ITEM_DIM }, (_, i) => Math.sin(i));
  s.setResults({ ...res, features, featureNames: NAMES });
  s.record({ item: 'sku-050', type: 'click', timestamp: T });
  for (const v of [NaN, Infinity, -Infinity, 1e39]) {
    assertRefused(s, `features[800] = ${v}`, (x) => x.setResults({ ...res, features: at(features, 800, v), featureNames: NAMES }), 'NON_FINITE');
  }
  r.free();
  s.free();
});

test('accepted extremes (1e38, f32 max, subnormals) rank with finite scores within maxMove; their session restores', async () => {
  // Finite f32 values are valid data: a price of 1e38 or a subnormal one is positive and finite,
  // the core works on log prices and clamps price ratios; base scores are the host's own scale;
  // a feature row is accepted while its squared norm is a finite f32 (|x| up to ~1.8e19).
  const res = page(100);
  const at = (values, i, v) => Array.from(values, (x, k) => (k === i ? v : x));
  /** Ranks after two engagements (one on row 50, the extreme one) and restores the session. */
  const check = async (model, label, results) => {
    const r = await createReranker(model, { maxMove: 3 });
    r.setResults(results);
    r.record({ item: 'sku-050', type: 'click', timestamp: T });
    r.record({ item: 'sku-060', type: 'cart', timestamp: T + 1000 });
    assertSane(r.rank(), res.ids, 3);
    const ex = r.explain('sku-050');
    assert.ok(Number.isFinite(ex.score) && ex.reasons.every((x) => Number.isFinite(x.value) && Number.isFinite(x.contribution)), label);
    const back = await createReranker(model, { session: r.exportSession() });
    assert.equal(back.sessionError, null, `${label}: the exported session restores`);
    assert.equal(back.eventCount, 2);
    r.free();
    back.free();
  };
  for (const [label, extra] of [
    ['prices[50] = 1e38', { prices: at(res.prices, 50, 1e38) }],
    ['prices[50] = 3.4e38, prices[60] = 1e-45 (f32 subnormal)', { prices: at(at(res.prices, 50, 3.4e38), 60, 1e-45) }],
    ['every price 1e38', { prices: res.prices.map(() => 1e38) }],
    ['baseScores[50] = 3.4e38', { baseScores: at(res.ids.map(() => 0), 50, 3.4e38) }],
    ['baseScores[50] = -3.4e38', { baseScores: at(res.ids.map(() => 0), 50, -3.4e38) }],
    ['baseScores all 1e-40 (subnormal)', { baseScores: res.ids.map(() => 1e-40) }],
  ]) {
    await check(MODEL, label, { ...res, ...extra });
  }
  const synthetic = await syntheticModel(ITEM_DIM, 32, 1);
  const features = Float32Array.from({ length: 100 * ITEM_DIM }, (_, i) => Math.sin(i));
  const row50 = (v) => features.map((x, i) => (Math.floor(i / ITEM_DIM) === 50 ? v : x));
  for (const v of [1e18, -1e18, 1e-40, 1e-45]) await check(synthetic, `features of row 50 = ${v}`, { ...res, features: row50(v), featureNames: NAMES });
  // Past that the row's norm, its similarities and an event's snapshot of it would not be finite.
  const s = await createReranker(synthetic, { maxMove: 3 });
  s.setResults({ ...res, features, featureNames: NAMES });
  s.record({ item: 'sku-050', type: 'click', timestamp: T });
  for (const v of [1e38, -1e38, 3.4e38, 2e19]) {
    assertRefused(s, `features of row 50 = ${v}`, (x) => x.setResults({ ...res, features: row50(v), featureNames: NAMES }), 'NON_FINITE');
  }
  s.free();
});

test('events: non-finite timestamps NON_FINITE, bad dwell INVALID_INPUT, 1 MB ids INVALID_ID; dwell 1e38 counts as 30 s', async () => {
  const { r } = await demoSession();
  const ev = (extra) => ({ item: 'sku-020', type: 'dwell', dwellMs: 500, timestamp: T + 5000, ...extra });
  for (const timestamp of [NaN, Infinity, -Infinity]) assertRefused(r, `timestamp ${timestamp}`, (x) => x.record(ev({ timestamp })), 'NON_FINITE');
  for (const dwellMs of [NaN, Infinity, -Infinity, 1e39, -1]) {
    assertRefused(r, `dwellMs ${dwellMs}`, (x) => x.record(ev({ dwellMs })), 'INVALID_INPUT');
  }
  // A subnormal timestamp is finite but before the session's last event.
  assertRefused(r, 'timestamp 5e-324', (x) => x.record(ev({ timestamp: Number.MIN_VALUE })), 'INVALID_INPUT');
  assertRefused(r, '1 MB item id', (x) => x.record(ev({ item: MB_ID })), 'INVALID_ID');
  assertRefused(r, '1 MB id in the results', (x) => x.setResults({ ...page(100), ids: [...page(99).ids, MB_ID] }), 'INVALID_ID');
  // A lone surrogate would become U+FFFD on the way into the core, and collide with a real one.
  assertRefused(r, 'a lone surrogate in an event id', (x) => x.record(ev({ item: 'sku-\ud800' })), 'INVALID_ID');
  assertRefused(r, 'a lone surrogate in the results', (x) => x.setResults({ ...page(100), ids: [...page(99).ids, 'sku-\udfff'] }), 'INVALID_ID');
  assertRefused(r, 'explain(1 MB id)', (x) => x.explain(MB_ID), 'UNKNOWN_ITEM');
  assertRefused(r, 'rank({ freezeAbove: 1 MB id })', (x) => x.rank({ freezeAbove: MB_ID }), 'UNKNOWN_ITEM');
  for (const pinTop of [NaN, Infinity, -1, 1.5]) assertRefused(r, `pinTop ${pinTop}`, (x) => x.rank({ pinTop }), 'INVALID_INPUT');
  r.free();

  // Accepted: dwell is engagement min(dwellMs / 30 s, 1), so 1e38 ms is a full 30 s dwell; a
  // subnormal one is a (vanishing) engagement; a subnormal timestamp is a valid first event.
  const ranked = async (events) => {
    const { r: x } = await demoSession();
    for (const e of events) x.record(e);
    const k = x.rank();
    x.free();
    return { ids: k.ids, scores: [...k.scores] };
  };
  assert.deepEqual(await ranked([ev({ dwellMs: 1e38 })]), await ranked([ev({ dwellMs: 30_000 })]));
  const tiny = await ranked([ev({ dwellMs: 1e-40 })]);
  assert.ok(tiny.scores.every(Number.isFinite));
  const first = await createReranker(MODEL);
  first.setResults(page(10));
  first.record({ item: 'sku-001', type: 'click', timestamp: Number.MIN_VALUE });
  assertSane(first.rank(), page(10).ids);
  first.free();
});

test('100,000 duplicate ids are DUPLICATE_ID, 100,001 ids TOO_MANY_CANDIDATES; nothing changes', async () => {
  const { r } = await demoSession();
  assertRefused(r, '100,000 copies of one id', (x) => x.setResults({ ids: Array(100_000).fill('sku-001') }), 'DUPLICATE_ID');
  const many = page(100_000);
  const lastDup = [...many.ids.slice(0, -1), many.ids[0]];
  assertRefused(r, '100,000 ids, the last a duplicate', (x) => x.setResults({ ids: lastDup, prices: many.prices }), 'DUPLICATE_ID');
  assertRefused(r, '100,001 ids', (x) => x.setResults({ ids: [...many.ids, 'one-more'] }), 'TOO_MANY_CANDIDATES');
  r.free();
});

test('prototype-polluting keys in options, results, events and rank options are INVALID_INPUT and pollute nothing', async () => {
  const hostile = (inner) => [
    JSON.parse(`{"__proto__": ${inner}}`),
    JSON.parse(`{"constructor": {"prototype": ${inner}}}`),
    JSON.parse(`{"prototype": ${inner}}`),
  ];
  for (const options of hostile('{"maxMove": null, "polluted": 1}')) {
    await assert.rejects(createReranker(MODEL, options), (e) => e instanceof FewclickError && e.code === 'INVALID_INPUT');
    await assert.rejects(createReranker(MODEL, { maxMove: 3, ...options }), (e) => e.code === 'INVALID_INPUT');
  }
  const { r, res } = await demoSession();
  for (const extra of hostile('{"timestamp": 1e20, "polluted": 1}')) {
    const keys = Object.keys(extra).join();
    assertRefused(r, `event with ${keys}`, (x) => x.record({ item: 'sku-001', type: 'click', timestamp: T + 9000, ...extra }), 'INVALID_INPUT');
    assertRefused(r, `results with ${keys}`, (x) => x.setResults({ ...res, ...extra }), 'INVALID_INPUT');
    assertRefused(r, `rank options with ${keys}`, (x) => x.rank({ pinTop: 1, ...extra }), 'INVALID_INPUT');
    assertRefused(r, `bare ${keys} as the event`, (x) => x.record(extra), 'INVALID_INPUT');
  }
  assert.equal({}.polluted, undefined, 'Object.prototype untouched');
  assert.equal({}.maxMove, undefined);
  r.free();
});

test('getters and Proxies that throw while being read are INVALID_INPUT, and the reranker keeps working', async () => {
  const { r, res } = await demoSession();
  const boom = () => {
    throw new Error('boom');
  };
  const withGetter = (array, i) => Object.defineProperty(Array.from(array), i, { get: boom });
  const trap = (target, key) => new Proxy(target, { get: (t, k) => (k === key ? boom() : Reflect.get(t, k)) });
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const throwingEvent = Object.defineProperty({ type: 'click', timestamp: T + 9000 }, 'item', { get: boom, enumerable: true });
  const cases = [
    ['an id getter that throws', (x) => x.setResults({ ...res, ids: withGetter(res.ids, 5) })],
    ['a price getter that throws', (x) => x.setResults({ ...res, prices: withGetter(res.prices, 5) })],
    ['a Proxy of the ids that throws', (x) => x.setResults({ ...res, ids: trap(res.ids, '7') })],
    ['a Proxy of the prices that throws on length', (x) => x.setResults({ ...res, prices: trap(Array.from(res.prices), 'length') })],
    ['a results getter that throws', (x) => x.setResults(Object.defineProperty({ ...res }, 'ids', { get: boom, enumerable: true }))],
    ['a revoked Proxy as results', (x) => x.setResults(revoked.proxy)],
    ['a revoked Proxy as the event', (x) => x.record(revoked.proxy)],
    ['an event getter that throws', (x) => x.record(throwingEvent)],
    ['a Proxy event that throws on type', (x) => x.record(trap({ item: 'sku-001', type: 'click', timestamp: T + 9000 }, 'type'))],
    ['a rank option getter that throws', (x) => x.rank(Object.defineProperty({}, 'pinTop', { get: boom, enumerable: true }))],
  ];
  for (const [label, call] of cases) assertRefused(r, label, call, 'INVALID_INPUT');
  await assert.rejects(createReranker(trap(new Uint8Array(MODEL), '5')), (e) => e.code === 'INVALID_INPUT', 'a Proxy of the model bytes');
  // A getter that calls the reranker back while the package reads it (re-entrancy): read in
  // JavaScript before the wasm is entered, so both calls work.
  const reentrant = Object.defineProperty(Array.from(res.ids), 5, { get: () => (r.rank(), 'sku-005'), enumerable: true });
  r.setResults({ ...res, ids: reentrant });
  assertSane(r.rank(), res.ids, 3);
  r.record({ item: 'sku-070', type: 'click', timestamp: T + 10_000 });
  assert.equal(r.eventCount, 3);
  r.free();
});

test('a polluted Object.prototype (own process) changes nothing: only own properties are read', () => {
  const script = `
    import { createReranker } from 'fewclick';
    import { readFileSync } from 'node:fs';
    const [model, pollute] = [readFileSync(process.argv[1]), process.argv[2] === 'polluted'];
    if (pollute) Object.assign(Object.prototype, { maxMove: null, eventCapacity: 0, steps: 1e9, scope: 'x', integrity: 'sha384-x',
      persist: true, session: 5, timestamp: 1e20, dwellMs: -1, prices: 'x', baseScores: [1], features: [1], featureNames: ['x'],
      pinTop: 99, freezeAbove: 'nope' });
    const T = ${T};
    const r = await createReranker(model, { maxMove: 3 });
    const ids = Array.from({ length: 60 }, (_, i) => 'sku-' + String(i).padStart(3, '0'));
    r.setResults({ ids, prices: ids.map((_, i) => 10 + i) });
    r.record({ item: 'sku-040', type: 'click', timestamp: T });
    r.record({ item: 'sku-041', type: 'dwell', dwellMs: 9000, timestamp: T + 1000 });
    const k = r.rank({});
    const d = await createReranker(model); // no options: every setting from the model
    d.setResults({ ids });
    d.record({ item: 'sku-030', type: 'click' }); // no dwellMs, no timestamp
    d.record({ item: 'sku-031', type: 'cart' }); // no timestamp: now, not an inherited 1e20
    d.record({ item: 'sku-032', type: 'click', timestamp: Date.now() + 1000 });
    const m = d.rank();
    console.log(JSON.stringify({ ids: k.ids, scores: [...k.scores], events: d.eventCount, maxMoved: Math.max(...m.moved.map(Math.abs)) }));
  `;
  const run = (mode) =>
    JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script, process.env.FEWCLICK_DEMO_MODEL, mode], { cwd: process.cwd(), encoding: 'utf8' }));
  const clean = run('clean');
  const polluted = run('polluted');
  assert.equal(polluted.events, 3);
  assert.deepEqual(polluted, clean);
});

// Issue 13's finding: the core accepted any finite timestamp, so after 1e38 ms every event stamped
// with Date.now() was refused until reset(). Times are 0 to 1e11 s (1e14 ms), as in the loaders.
test('timestamps outside the Date.now() range are refused (1e38, -1e38)', async () => {
  for (const timestamp of [1e38, -1e38, 8.64e15 + 1]) {
    const { r } = await demoSession();
    assertRefused(r, `timestamp ${timestamp}`, (x) => x.record({ item: 'sku-020', type: 'click', timestamp }), 'INVALID_INPUT');
    r.free();
  }
});
