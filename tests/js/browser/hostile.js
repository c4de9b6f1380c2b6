// Runs in headless Chromium (tests/js/browser.test.mjs): hostile shoppers and pages against the
// package's worker-backed reranker, with the demo model (demo.fcm, item table). A bot clicks one
// item 10,000 times; hostile values, 1 MB ids, 100,000 duplicate ids, prototype-polluting keys,
// objects the page cannot send (a throwing getter, a Proxy) and protocol messages naming methods
// outside the protocol are refused with their codes, changing nothing. Publishes what it saw in
// window.__hostile; the Node side asserts (tests/js/hostile.test.mjs does the same in Node).
import { FewclickError, createWorkerReranker } from '../node_modules/fewclick/index.js';

const WORKER = new URL('../node_modules/fewclick/worker.js', import.meta.url);
const T = Date.now() + 3_600_000; // an hour ahead: the session clock is the events'
const ids = Array.from({ length: 100 }, (_, i) => `sku-${String(i).padStart(3, '0')}`);
const prices = Float32Array.from(ids, (_, i) => 5 + ((i * 7919) % 300));

async function code(fn) {
  try {
    await fn();
    return 'no error';
  } catch (e) {
    return e instanceof FewclickError ? e.code : `not a FewclickError: ${e}`;
  }
}

/** What a refused call must not change: the ranking, eventCount, the session's bytes. */
async function state(w) {
  const k = await w.rank();
  return `${k.ids.join()}|${Array.from(k.scores).join()}|${w.eventCount}|${(await w.exportSession()).join()}`;
}

/** `{ code, unchanged }` of one call. */
async function refused(w, fn) {
  const before = await state(w);
  const c = await code(() => fn(w));
  return { code: c, unchanged: (await state(w)) === before };
}

/** A raw protocol message to the worker (what a script on the page could send). */
function raw(worker, message) {
  const id = 1e9 + Math.floor(Math.random() * 1e6);
  return new Promise((resolve) => {
    const listen = (e) => {
      if (e.data?.fewclick === 1 && e.data.id === id) {
        worker.removeEventListener('message', listen);
        resolve(e.data.ok ? 'ok' : e.data.error.code);
      }
    };
    worker.addEventListener('message', listen);
    worker.postMessage({ fewclick: 1, id, ...message });
  });
}

async function run() {
  const out = {};
  const worker = new Worker(WORKER, { type: 'module' });
  const w = await createWorkerReranker(worker, 'demo.fcm', { maxMove: 3 }, { build: 'cpu' });
  await w.setResults({ ids, prices });

  // The bot: 10,000 clicks on the item shown at 60, in batches of 100 sent without waiting, the
  // list re-ranked after each batch (the display order stays the host's).
  const bot = { batches: 0, maxAbsMove: 0, allFinite: true, minAt: Infinity, maxAt: -Infinity };
  let t = T;
  for (let batch = 0; batch < 100; batch++) {
    await Promise.all(Array.from({ length: 100 }, () => w.record({ item: 'sku-060', type: 'click', timestamp: (t += 50) })));
    const k = await w.rank();
    bot.batches++;
    bot.maxAbsMove = Math.max(bot.maxAbsMove, ...Array.from(k.moved, Math.abs));
    bot.allFinite &&= k.scores.every(Number.isFinite) && k.ids.length === ids.length;
    const at = k.ids.indexOf('sku-060');
    bot.minAt = Math.min(bot.minAt, at);
    bot.maxAt = Math.max(bot.maxAt, at);
  }
  bot.eventCount = w.eventCount;
  out.bot = bot;

  const at = (values, i, v) => Array.from(values, (x, k) => (k === i ? v : x));
  const ev = (extra) => ({ item: 'sku-020', type: 'dwell', dwellMs: 500, timestamp: t + 5000, ...extra });
  const getter = Object.defineProperty({ type: 'click', timestamp: t + 5000 }, 'item', {
    enumerable: true,
    get() {
      throw new Error('boom');
    },
  });
  const cases = {
    priceNaN: (x) => x.setResults({ ids, prices: at(prices, 7, NaN) }),
    priceInfinity: (x) => x.setResults({ ids, prices: at(prices, 7, Infinity) }),
    price1e39: (x) => x.setResults({ ids, prices: at(prices, 7, 1e39) }),
    priceZero: (x) => x.setResults({ ids, prices: at(prices, 7, 0) }),
    baseScoreMinusInfinity: (x) => x.setResults({ ids, prices, baseScores: at(ids.map(() => 0), 7, -Infinity) }),
    timestampNaN: (x) => x.record(ev({ timestamp: NaN })),
    dwellInfinity: (x) => x.record(ev({ dwellMs: Infinity })),
    megabyteEventId: (x) => x.record(ev({ item: 'x'.repeat(1 << 20) })),
    megabyteResultId: (x) => x.setResults({ ids: [...ids.slice(1), 'x'.repeat(1 << 20)], prices }),
    duplicateIds: (x) => x.setResults({ ids: Array(100_000).fill('sku-001') }),
    protoEvent: (x) => x.record(JSON.parse(`{"item":"sku-001","type":"click","timestamp":${t + 5000},"__proto__":{"x":1}}`)),
    constructorEvent: (x) => x.record(JSON.parse(`{"item":"sku-001","type":"click","constructor":{"prototype":{"x":1}}}`)),
    protoResults: (x) => x.setResults(JSON.parse('{"ids":["a"],"__proto__":{"prices":[1]}}')),
    protoRankOptions: (x) => x.rank(JSON.parse('{"__proto__":{"pinTop":3}}')),
    getterEvent: (x) => x.record(getter), // structured clone runs the getter: the page cannot send it
    proxyEvent: (x) => x.record(new Proxy({ item: 'sku-001', type: 'click' }, {})), // not cloneable
  };
  out.refused = {};
  for (const [name, fn] of Object.entries(cases)) out.refused[name] = await refused(w, fn);
  out.protoOptions = await code(() => createWorkerReranker(WORKER, 'demo.fcm', JSON.parse('{"__proto__":{"maxMove":null}}'), { build: 'cpu' }));
  out.prototypeClean = {}.x === undefined && {}.maxMove === undefined && {}.pinTop === undefined;

  // Methods outside the protocol, sent as raw messages (as any script on the page could).
  out.raw = { methods: [] }; // [method, code] pairs: '__proto__' as a key would set a prototype
  for (const method of ['constructor', '__proto__', 'toString', 'importSession']) {
    out.raw.methods.push([method, await raw(worker, { op: 'call', handle: 1, method, args: [] })]);
  }
  out.raw.unknownHandle = await raw(worker, { op: 'call', handle: 424242, method: 'rank', args: [] });
  out.raw.unknownOp = await raw(worker, { op: '__proto__' });

  // Accepted: a price of 1e38 is positive and finite; the ranking stays finite within maxMove.
  await w.setResults({ ids, prices: at(prices, 50, 1e38) });
  const k = await w.rank();
  out.price1e38 = { finite: k.scores.every(Number.isFinite), maxAbsMove: Math.max(...Array.from(k.moved, Math.abs)) };
  out.stillWorks = (await w.rank()).ids.length === ids.length;
  await w.free();
  worker.terminate();
  return out;
}

run().then(
  (result) => {
    window.__hostile = { ok: true, result };
    document.getElementById('out').textContent = JSON.stringify(result, null, 2);
  },
  (e) => {
    window.__hostile = { ok: false, error: `${e && e.code ? e.code + ': ' : ''}${e && e.stack ? e.stack : e}` };
  },
);
