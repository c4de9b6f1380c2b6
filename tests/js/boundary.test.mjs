// The raw wasm boundary (pkg/fewclick_wasm.js, the glue the package's core.js and worker call),
// without the package's own checks in front: src/wasm/read.rs reads options and events field by
// field, so every kind of wrong value must still come back as a typed error, never a trap, and
// the right ones must be read as the package sends them.
//
//   node --test tests/js/boundary.test.mjs     (needs pkg/: scripts/build-wasm.sh)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const PKG = new URL('../../pkg/', import.meta.url);
const glue = await import(new URL('fewclick_wasm.js', PKG).href);
glue.initSync({ module: readFileSync(new URL('fewclick_simd.wasm', PKG)) });

// Model bytes from the bench build (syntheticModel is not in the builds a page ranks with).
const bench = await import(new URL('fewclick_bench.js', PKG).href);
bench.initSync({ module: readFileSync(new URL('fewclick_bench.wasm', PKG)) });
const DIM = 4;
const model = bench.syntheticModel(DIM, 8, 1);

test('the ranking build does not carry the bench exports', () => {
  for (const name of ['syntheticModel', 'benchScoringKernel', 'benchSimdPeak']) assert.equal(glue[name], undefined, name);
});

function codeOf(fn) {
  try {
    fn();
  } catch (e) {
    return e.code ?? `untyped: ${e}`;
  }
  return 'no error';
}

function withResults(options) {
  const r = new glue.Reranker(model, options);
  const ids = ['a', 'b', 'c', 'd'];
  r.setResults(ids, Float32Array.from({ length: ids.length * DIM }, (_, i) => Math.sin(i)), undefined, undefined, undefined);
  return r;
}

test('options: absent, empty and every key read as given', () => {
  for (const options of [undefined, null, {}]) assert.equal(codeOf(() => new glue.Reranker(model, options)), 'no error');
  const r = withResults({ maxCandidates: 10, eventCapacity: 5, maxMove: null, scope: 'head', steps: 2, rankWithoutEvents: true });
  assert.equal(r.eventCount, 0);
  // maxCandidates: 10 is enforced: 11 ids are too many.
  const ids = Array.from({ length: 11 }, (_, i) => `x${i}`);
  assert.equal(codeOf(() => r.setResults(ids, new Float32Array(11 * DIM), undefined, undefined, undefined)), 'TOO_MANY_CANDIDATES');
  // eventCapacity: 5 bounds the log.
  for (let i = 0; i < 8; i++) r.record({ item: 'a', type: 'click', timestamp: 1000 + i });
  assert.equal(r.eventCount, 5);
  r.free();
});

test('options: wrong values are typed errors', () => {
  const cases = [
    [{ maxmove: 3 }, 'INVALID_INPUT'], // unknown key
    [Object.assign(Object.create(null), { maxmove: 3 }), 'INVALID_INPUT'], // ... on a null-prototype object
    [{ steps: 2.5 }, 'INVALID_INPUT'],
    [{ steps: -1 }, 'INVALID_INPUT'],
    [{ steps: '5' }, 'INVALID_INPUT'],
    [{ steps: 2 ** 32 }, 'INVALID_INPUT'],
    [{ maxCandidates: Number.NaN }, 'INVALID_INPUT'],
    [{ maxMove: Infinity }, 'INVALID_INPUT'],
    [{ scope: 3 }, 'INVALID_INPUT'],
    [{ scope: 'everything' }, 'INVALID_CONFIG'],
    [{ rankWithoutEvents: 'yes' }, 'INVALID_INPUT'],
    [{ eventCapacity: 0 }, 'INVALID_CONFIG'],
    ['fast', 'INVALID_INPUT'],
    [7, 'INVALID_INPUT'],
  ];
  for (const [options, code] of cases) assert.equal(codeOf(() => new glue.Reranker(model, options)), code, JSON.stringify(options));
});

test('events: wrong values are typed errors and change nothing', () => {
  const r = withResults(undefined);
  r.record({ item: 'a', type: 'click', timestamp: 1000 });
  const before = r.exportSession();
  const cases = [
    [{ item: 'a', type: 'click', when: 1 }, 'INVALID_INPUT'], // unknown key
    // ... on a null-prototype object, as the package passes its copies (not `instanceof Object`)
    [Object.assign(Object.create(null), { item: 'a', type: 'click', when: 1 }), 'INVALID_INPUT'],
    [{ type: 'click' }, 'INVALID_INPUT'], // no item
    [{ item: 'a' }, 'INVALID_INPUT'], // no type
    [{ item: 7, type: 'click' }, 'INVALID_INPUT'],
    [{ item: 'a', type: 'poke' }, 'INVALID_INPUT'],
    [{ item: 'a', type: 'click', timestamp: 'now' }, 'INVALID_INPUT'],
    [{ item: 'a', type: 'click', timestamp: Number.NaN }, 'NON_FINITE'],
    [{ item: 'a', type: 'click', timestamp: 10 }, 'INVALID_INPUT'], // before the previous event
    [{ item: 'a', type: 'dwell', dwellMs: {} }, 'INVALID_INPUT'],
    [{ item: 'x'.repeat(10_000), type: 'click' }, 'INVALID_ID'],
    [{ item: '\ud800', type: 'click' }, 'INVALID_ID'],
    ['click', 'INVALID_INPUT'],
    [null, 'INVALID_INPUT'],
  ];
  for (const [event, code] of cases) {
    assert.equal(codeOf(() => r.record(event)), code, JSON.stringify(event));
    assert.deepEqual(r.exportSession(), before, `state changed after ${JSON.stringify(event)}`);
    // checkEvent (what the package queues behind a pending rankAsync with) gives record()'s code
    // for everything a session is not needed for: all but the time before the previous event's.
    if (event?.timestamp !== 10) assert.equal(codeOf(() => glue.checkEvent(event)), code, `checkEvent ${JSON.stringify(event)}`);
  }
  for (const good of [{ item: 'a', type: 'click' }, { item: 'b', type: 'dwell', dwellMs: 3, timestamp: 5 }, { item: 'c', type: 'add-to-cart', timestamp: null }]) {
    assert.equal(codeOf(() => glue.checkEvent(good)), 'no error', JSON.stringify(good));
  }
  // A well-formed event with a dwell and no timestamp (stamped with the page clock) is taken.
  r.record({ item: 'b', type: 'dwell', dwellMs: 1500 });
  assert.equal(r.eventCount, 2);
  r.free();
});
