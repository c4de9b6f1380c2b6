// The model's item table from the page's side and from the server's (fewclick/server), used from
// Node as a customer would. scripts/test-js.sh copies this file into the scratch project with the
// demo model (FEWCLICK_DEMO_MODEL) and its `fewclick export-items --jsonl` file
// (FEWCLICK_ITEMS_JSONL), made by the command line from the same model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENGLISH, FewclickError, REASON_CODES, createReranker, reasonText, syntheticModel } from 'fewclick';
import { loadItems } from 'fewclick/server';

const MODEL = readFileSync(process.env.FEWCLICK_DEMO_MODEL);
const EXPORT = process.env.FEWCLICK_ITEMS_JSONL;
const T0 = 1_700_000_000_000;

function assertCode(fn, code) {
  assert.throws(fn, (e) => e instanceof FewclickError && e.code === code, `expected ${code}`);
}

async function assertRejects(promise, code) {
  await assert.rejects(promise, (e) => e instanceof FewclickError && e.code === code, `expected ${code}`);
}

/** A page's list: 24 catalogue ids (one the model never saw) and prices. */
function page() {
  const ids = Array.from({ length: 23 }, (_, i) => `sku-${String(i * 7 + 3).padStart(3, '0')}`);
  ids.push('sku-not-in-the-catalogue');
  return { ids, prices: ids.map((_, i) => 19.99 + ((i * 37) % 120)) };
}

function clicks(r, ids) {
  r.record({ item: ids[5], type: 'click', timestamp: T0 });
  r.record({ item: ids[17], type: 'cart', timestamp: T0 + 4000 });
}

test('the demo model carries its item table: setResults({ ids, prices }) is enough, cold ids included', async () => {
  const r = await createReranker(MODEL);
  const info = r.modelInfo();
  assert.equal(info.items, 192);
  const { ids, prices } = page();
  r.setResults({ ids, prices });
  assert.deepEqual(r.rank().ids, ids, 'no events: the host order');
  clicks(r, ids);
  const ranking = r.rank();
  assert.notDeepEqual(ranking.ids, ids, 'two engagements re-rank the list');
  assert.ok(ranking.scores.every(Number.isFinite));
  r.free();
});

test('fewclick/server looks up exactly what the page looks up: the same scores either way', async () => {
  const items = await loadItems(EXPORT);
  assert.equal(items.size, 192);
  assert.equal(items.names.length, 23);
  assert.match(items.model, /^sha256-[A-Za-z0-9+/]+=*$/);
  const { ids, prices } = page();
  const { features, featureNames, missing } = items.lookup(ids);
  assert.deepEqual(missing, ['sku-not-in-the-catalogue']);
  assert.deepEqual([...features.subarray(23 * 23)], [...items.default], 'a cold id gets the default');

  const fromTable = await createReranker(MODEL, { integrity: items.model });
  const fromServer = await createReranker(MODEL);
  assert.deepEqual(featureNames, fromServer.modelInfo().featureNames);
  fromTable.setResults({ ids, prices });
  fromServer.setResults({ ids, prices, features, featureNames });
  clicks(fromTable, ids);
  clicks(fromServer, ids);
  const a = fromTable.rank();
  const b = fromServer.rank();
  assert.deepEqual(b.ids, a.ids);
  assert.deepEqual([...b.scores], [...a.scores], 'bit-identical scores');
});

test('features with names that differ from the model schema are SCHEMA_MISMATCH and change nothing', async () => {
  const items = await loadItems(EXPORT);
  const r = await createReranker(MODEL);
  const { ids, prices } = page();
  r.setResults({ ids, prices });
  clicks(r, ids);
  const before = r.rank();
  const { features, featureNames } = items.lookup(ids.slice(0, 3));
  const swapped = [featureNames[1], featureNames[0], ...featureNames.slice(2)];
  for (const names of [swapped, featureNames.slice(1), [...featureNames, 'extra']]) {
    assertCode(() => r.setResults({ ids: ids.slice(0, 3), prices: prices.slice(0, 3), features, featureNames: names }), 'SCHEMA_MISMATCH');
  }
  assertCode(() => r.setResults({ ids, prices, featureNames: 'price' }), 'INVALID_INPUT');
  assertCode(() => r.setResults({ ids, prices, vectors: features }), 'INVALID_INPUT');
  assert.deepEqual(r.rank().scores, before.scores, 'the earlier results and events are intact');
});

test('a model without an item table needs features: NO_ITEM_TABLE, nothing changed', async () => {
  const r = await createReranker(await syntheticModel(4, 8, 1));
  assert.equal(r.modelInfo().items, 0);
  assertCode(() => r.setResults({ ids: ['a', 'b'], prices: [1, 2] }), 'NO_ITEM_TABLE');
  assertCode(() => r.rank(), 'NO_RESULTS');
  r.setResults({ ids: ['a', 'b'], features: new Float32Array(8), featureNames: ['f0', 'f1', 'f2', 'f3'] });
  assert.deepEqual(r.rank().ids, ['a', 'b']);
});

test('loadItems refuses malformed exports with INVALID_INPUT naming the line; lookup checks its input', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fewclick-items-'));
  const lines = readFileSync(EXPORT, 'utf8').trimEnd().split('\n');
  const cases = {
    'not-an-export': ['{"format":"something-else","version":1}'],
    truncated: lines.slice(0, 10),
    'bad-width': [lines[0], lines[1].replace('"features":[', '"features":[0,')],
    'non-finite': [lines[0], lines[1].replace(/"features":\[[^,]*/, '"features":["x"')],
    duplicate: [lines[0].replace(/"items":\d+/, '"items":2'), lines[1], lines[1]],
  };
  for (const [name, content] of Object.entries(cases)) {
    const path = join(dir, `${name}.jsonl`);
    writeFileSync(path, `${content.join('\n')}\n`);
    await assertRejects(loadItems(path), 'INVALID_INPUT');
  }
  await assertRejects(loadItems(join(dir, 'missing.jsonl')), 'INVALID_INPUT');
  const items = await loadItems(EXPORT);
  assertCode(() => items.lookup('sku-001'), 'INVALID_INPUT');
  assertCode(() => items.lookup([1, 2]), 'INVALID_INPUT');
});

/** A second language, as a store would write it: one function per code. */
const GERMAN = {
  ENGAGED: (r) => `Sie haben sich diesen Artikel schon angesehen (Gewicht ${Math.round(r.value)}).`,
  SIMILAR: (r) => `Er ähnelt Artikeln, die Sie angesehen haben (${Math.round(r.value * 100)} %).`,
  PRICE_VS_ENGAGED: (r) => `Er kostet ${Math.round(Math.abs(r.value) * 100)} % ${r.value > 0 ? 'mehr' : 'weniger'} als Ihre Auswahl.`,
  PRICE_IN_LIST: (r) => `Preisrang in dieser Liste: ${Math.round(r.value * 100)} %.`,
  SKIPPED: () => 'Sie haben ihn übersprungen.',
  SEEN: () => 'Sie haben ihn schon gesehen, ohne ihn zu öffnen.',
  NOTHING: () => 'Nichts in dieser Sitzung hebt ihn hervor.',
};

test('explain() returns reason codes with numbers; reasonText() makes sentences in any language', async () => {
  const r = await createReranker(MODEL);
  const { ids, prices } = page();
  r.setResults({ ids, prices });
  assert.deepEqual(r.explain(ids[3]).reasons.map((x) => x.code), ['NOTHING'], 'no events: nothing singles it out');
  clicks(r, ids);
  const ex = r.explain(ids[5]);
  assert.ok(ex.reasons.length > 0);
  for (const reason of ex.reasons) {
    assert.ok(REASON_CODES.includes(reason.code), reason.code);
    assert.ok(Number.isFinite(reason.value) && Number.isFinite(reason.contribution));
  }
  const engaged = ex.reasons.find((x) => x.code === 'ENGAGED');
  assert.ok(engaged && engaged.value >= 1, 'the clicked item names its engagement');
  // Strongest first.
  const sizes = ex.reasons.map((x) => Math.abs(x.contribution));
  assert.deepEqual(sizes, [...sizes].sort((a, b) => b - a));
  assert.match(reasonText(engaged), /^You interacted with this item before \(engagement weight \d+\); that moves it (up|down)\.$/);
  assert.match(reasonText(engaged, GERMAN), /^Sie haben sich diesen Artikel schon angesehen \(Gewicht \d+\)\.$/);
  assert.deepEqual(Object.keys(GERMAN).sort(), [...REASON_CODES].sort(), 'the example covers every code');
  // A store's table that lacks a code falls back to English, an unknown code to the code itself.
  assert.equal(reasonText({ code: 'SEEN', value: 2, contribution: -0.1 }, { NOTHING: () => 'x' }), ENGLISH.SEEN({ code: 'SEEN', value: 2, contribution: -0.1 }));
  assert.equal(reasonText({ code: 'FROM_A_NEWER_CORE', value: 0, contribution: 0 }), 'FROM_A_NEWER_CORE');
});

test('pinTop keeps the first places, freezeAbove every place above an item, in the order the shopper sees', async () => {
  const r = await createReranker(MODEL);
  const reference = await createReranker(MODEL);
  const { ids, prices } = page();
  for (const x of [r, reference]) {
    x.setResults({ ids, prices });
    clicks(x, ids);
  }
  const free = reference.rank();
  assert.notDeepEqual(free.ids.slice(0, 4), ids.slice(0, 4), 'unconstrained, the top changes');
  // pinTop against the host's order (nothing ranked yet for these results).
  const pinned = r.rank({ pinTop: 4 });
  assert.deepEqual(pinned.ids.slice(0, 4), ids.slice(0, 4));
  assert.deepEqual(pinned.ids.slice(4), free.ids.filter((id) => !ids.slice(0, 4).includes(id)), 'the rest in the model order');
  assert.deepEqual([...pinned.moved.slice(0, 4)], [0, 0, 0, 0]);
  // freezeAbove against what was just shown (the pinned ranking): a click on its 10th item.
  const target = pinned.ids[9];
  r.record({ item: target, type: 'click', timestamp: T0 + 9000 });
  const frozen = r.rank({ freezeAbove: target });
  assert.deepEqual(frozen.ids.slice(0, 9), pinned.ids.slice(0, 9), 'nothing above the clicked item moved');
  assert.deepEqual([...frozen.ids].sort(), [...ids].sort());
  const scoreOf = new Map(free.ids.map((id, k) => [id, k]));
  assert.ok(frozen.scores.every(Number.isFinite) && scoreOf.size === ids.length);
  // Bad options change nothing and name the problem.
  assertCode(() => r.rank({ pinTop: -1 }), 'INVALID_INPUT');
  assertCode(() => r.rank({ pinTop: 1.5 }), 'INVALID_INPUT');
  assertCode(() => r.rank({ freezeAbove: 'no-such-item' }), 'UNKNOWN_ITEM');
  assertCode(() => r.rank({ freezeabove: target }), 'INVALID_INPUT');
  assert.deepEqual(r.rank({ freezeAbove: target }).ids.slice(0, 9), pinned.ids.slice(0, 9), 'the shown order survived the errors');
  const later = await r.rankAsync('cpu', { pinTop: 2 });
  assert.deepEqual(later.ids.slice(0, 2), frozen.ids.slice(0, 2));
});
