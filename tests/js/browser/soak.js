// Runs in headless Chromium (tests/js/soak.test.mjs): a long session through the package's
// worker-backed reranker, as a storefront would run it (default build choice, a page without
// cross-origin isolation), with the demo model (demo.fcm, an item table of 192 items; ids it
// does not hold get the cold-item vector). ?config= is JSON:
//   { events, rankEvery, recordBatch, capacities: [eventCapacity | null, …], interleave:
//     { cycles, rounds }, sets, setSize, progress }
// Phase A, once per capacity (null: the default, 256): a 1,000-item result set, then `events`
// events (impressions, clicks, skips, dwells on random items, timestamps increasing), a rank
// after every `rankEvery`. Events are sent `recordBatch` at a time without waiting for each
// (performance.now() has 100 µs resolution here: a batch is timed, not a call), so a record
// figure is a batch's time over its size; each rank is timed alone (it takes milliseconds).
// Then the interleaved rounds (the latency rule's measurement): a fresh reranker in the same
// worker, with the same model, options and result set, is filled to where the first window
// starts (the log just full: the first multiple of 1,000 events at or after eventCapacity, sent
// as above, a rank after every `rankEvery`), and the aged reranker and the fresh one are then
// measured alternately for `cycles` cycles: `rankEvery` events as record batches, aged batch and
// fresh batch in turn, then a rank of each; which of the two goes first alternates by cycle; a
// control (the memory probe) ends each cycle. Measured in the same seconds, both see the same
// machine load. A round whose ratios fail the rule (soak-stats.js) is followed by another, with a
// new fresh reranker, up to `rounds`; every round measured is returned.
// Phase B: `sets` result sets of `setSize` items with prices, two events and a rank after each.
// The wasm memory is read every 1,000 events and after every set (soak-worker.js). The raw series
// go to window.__soak; the Node side computes the windows and checks them.
import { createWorkerReranker } from '../node_modules/fewclick/index.js';
import { interleavedRatios } from './soak-stats.js';

const cfg = JSON.parse(new URLSearchParams(location.search).get('config'));
const WORKER = new URL('./soak-worker.js', import.meta.url);
const TYPES = ['impression', 'impression', 'click', 'impression', 'skip', 'impression', 'dwell', 'click', 'impression', 'skip'];

let seed = 12345;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const sku = (i) => `sku-${String(i).padStart(3, '0')}`;

function line(object) {
  console.log(JSON.stringify(object));
}

/** The worker's wasm memory in bytes (a message only soak-worker.js answers). */
function wasmBytes(worker) {
  const id = Math.random();
  return new Promise((resolve) => {
    const listen = (e) => {
      if (e.data?.soak === 'memory' && e.data.id === id) {
        worker.removeEventListener('message', listen);
        resolve(e.data.bytes);
      }
    };
    worker.addEventListener('message', listen);
    worker.postMessage({ soak: 'memory', id });
  });
}

let clock = Date.now();
function event(ids) {
  const type = TYPES[Math.floor(rand() * TYPES.length)];
  const e = { item: ids[Math.floor(rand() * ids.length)], type, timestamp: (clock += 1 + Math.floor(rand() * 2000)) };
  if (type === 'dwell') e.dwellMs = Math.floor(rand() * 60_000);
  return e;
}

/** Sends `batch` to `reranker` without waiting for each; the time per record, in ms. */
async function recordBatch(reranker, batch) {
  const a = performance.now();
  await Promise.all(batch.map((e) => reranker.record(e)));
  return (performance.now() - a) / batch.length;
}

/** One timed rank; counts a ranking that misses items or has a non-finite score into `out`. */
async function timedRank(reranker, ids, out) {
  const b = performance.now();
  const k = await reranker.rank();
  const ms = performance.now() - b;
  if (k.ids.length !== ids.length) out.badRankings++;
  for (const s of k.scores) if (!Number.isFinite(s)) out.nonFinite++;
  return { ms, adaptMs: k.adaptMs };
}

/** One interleaved round: a fresh reranker filled to `start` events, then measured alternately
 * with the aged one, `cfg.interleave.cycles` cycles. */
async function interleavedRound(worker, aged, options, results, start, out) {
  const { ids } = results;
  const memoryBefore = await wasmBytes(worker);
  const t0 = performance.now();
  const fresh = await createWorkerReranker(worker, 'demo.fcm', options);
  await fresh.setResults(results);
  for (let done = 0; done < start; done += cfg.rankEvery) {
    for (let sent = 0; sent < cfg.rankEvery; sent += cfg.recordBatch) {
      await recordBatch(fresh, Array.from({ length: cfg.recordBatch }, () => event(ids)));
    }
    await timedRank(fresh, ids, out);
  }
  const fillSeconds = (performance.now() - t0) / 1000;
  const freshEvents = fresh.eventCount;
  const memoryFilled = await wasmBytes(worker);
  const pair = [aged, fresh];
  const series = [
    { recordMs: [], rankMs: [] },
    { recordMs: [], rankMs: [] },
  ];
  const controlMs = [];
  const t1 = performance.now();
  for (let c = 0; c < cfg.interleave.cycles; c++) {
    const order = c % 2 === 0 ? [0, 1] : [1, 0];
    for (let sent = 0; sent < cfg.rankEvery; sent += cfg.recordBatch) {
      for (const i of order) series[i].recordMs.push(await recordBatch(pair[i], Array.from({ length: cfg.recordBatch }, () => event(ids))));
    }
    for (const i of order) series[i].rankMs.push((await timedRank(pair[i], ids, out)).ms);
    const d = performance.now();
    await wasmBytes(worker);
    controlMs.push(performance.now() - d);
  }
  const round = {
    fillEvents: start,
    freshEventCount: freshEvents,
    fillSeconds,
    seconds: (performance.now() - t1) / 1000,
    agedEventCount: aged.eventCount,
    memory: { before: memoryBefore, filled: memoryFilled, after: await wasmBytes(worker) },
    aged: series[0],
    fresh: series[1],
    controlMs,
  };
  await fresh.free();
  return round;
}

async function phaseA(capacity) {
  const worker = new Worker(WORKER, { type: 'module' });
  const options = capacity === null ? undefined : { eventCapacity: capacity };
  const w = await createWorkerReranker(worker, 'demo.fcm', options);
  const ids = Array.from({ length: 1000 }, (_, i) => sku(i));
  const results = { ids, prices: Float32Array.from(ids, (_, i) => 5 + ((i * 7919) % 300)) };
  await w.setResults(results);
  const out = { capacity: capacity ?? 256, recordMs: [], rankMs: [], adaptMs: [], memory: [[0, await wasmBytes(worker)]], probeMs: [], nonFinite: 0, badRankings: 0 };
  const started = performance.now();
  for (let done = 0; done < cfg.events; ) {
    const n = Math.min(cfg.rankEvery, cfg.events - done);
    for (let sent = 0; sent < n; sent += cfg.recordBatch) {
      const batch = Array.from({ length: Math.min(cfg.recordBatch, n - sent) }, () => event(ids));
      const a = performance.now();
      await Promise.all(batch.map((e) => w.record(e)));
      out.recordMs.push((performance.now() - a) / batch.length);
    }
    const b = performance.now();
    const k = await w.rank();
    const c = performance.now();
    done += n;
    out.rankMs.push(c - b);
    out.adaptMs.push(k.adaptMs);
    if (k.ids.length !== ids.length) out.badRankings++;
    for (const s of k.scores) if (!Number.isFinite(s)) out.nonFinite++;
    if (done % 1000 === 0 || done === cfg.events) {
      // The probe is also the control: a worker round trip that does no reranker work.
      const d = performance.now();
      out.memory.push([done, await wasmBytes(worker)]);
      out.probeMs.push([done, performance.now() - d]);
    }
    if (cfg.progress && done % Math.max(1000, cfg.events / 10) === 0) {
      line({ progress: 'A', capacity: out.capacity, events: done, seconds: +((c - started) / 1000).toFixed(1), wasmBytes: out.memory.at(-1)[1] });
    }
  }
  out.eventCount = w.eventCount;
  out.seconds = (performance.now() - started) / 1000;
  // The latency rule's measurement: the aged reranker against fresh ones, interleaved.
  const start = Math.ceil(out.capacity / 1000) * 1000;
  out.interleaved = [];
  for (let r = 0; r < cfg.interleave.rounds; r++) {
    const round = await interleavedRound(worker, w, options, results, start, out);
    out.interleaved.push(round);
    if (cfg.progress) line({ progress: 'A interleaved', capacity: out.capacity, round: r + 1, fill_seconds: +round.fillSeconds.toFixed(1), seconds: +round.seconds.toFixed(1) });
    if (interleavedRatios(round).ok) break;
  }
  await w.free();
  return out;
}

async function phaseB() {
  const worker = new Worker(WORKER, { type: 'module' });
  const w = await createWorkerReranker(worker, 'demo.fcm');
  const out = { setMs: [], rankMs: [], memory: [[0, await wasmBytes(worker)]], nonFinite: 0, badRankings: 0 };
  const started = performance.now();
  for (let s = 0; s < cfg.sets; s++) {
    // Sets that overlap and differ: a window of 100,000 ids out of 300,000, moved on each time.
    const offset = (s * 7919) % 300_000;
    const ids = Array.from({ length: cfg.setSize }, (_, i) => sku((offset + i) % 300_000));
    const prices = Float32Array.from(ids, (_, i) => 1 + ((i * 104_729 + s) % 50_000) / 100);
    const a = performance.now();
    await w.setResults({ ids, prices });
    const b = performance.now();
    await Promise.all([w.record(event(ids)), w.record({ ...event(ids), type: 'click' })]);
    const c = performance.now();
    const k = await w.rank();
    const d = performance.now();
    out.setMs.push(b - a);
    out.rankMs.push(d - c);
    if (k.ids.length !== ids.length) out.badRankings++;
    for (const x of k.scores) if (!Number.isFinite(x)) out.nonFinite++;
    out.memory.push([s + 1, await wasmBytes(worker)]);
    if (cfg.progress && (s + 1) % Math.max(1, cfg.sets / 10) === 0) {
      line({ progress: 'B', sets: s + 1, seconds: +((d - started) / 1000).toFixed(1), wasmBytes: out.memory.at(-1)[1] });
    }
  }
  out.seconds = (performance.now() - started) / 1000;
  await w.free();
  return out;
}

async function run() {
  const out = { crossOriginIsolated: globalThis.crossOriginIsolated === true, a: [] };
  for (const capacity of cfg.capacities) out.a.push(await phaseA(capacity));
  if (cfg.sets > 0) out.b = await phaseB();
  return out;
}

run().then(
  (result) => {
    window.__soak = { ok: true, result };
    document.getElementById('out').textContent = 'done';
  },
  (e) => {
    window.__soak = { ok: false, error: `${e && e.code ? e.code + ': ' : ''}${e && e.stack ? e.stack : e}` };
  },
);
