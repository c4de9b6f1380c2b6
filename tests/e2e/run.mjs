#!/usr/bin/env node
// End-to-end test of the demo store (www/) in headless Chromium, with the npm package built by
// scripts/build-wasm.sh (pkg/):
//
//   node tests/e2e/run.mjs
//
// It starts scripts/serve-demo.mjs on a free port, opens the page in a fresh Chromium profile, and
// checks: the page loads and its search agrees with the generator; a search shows the catalogue's
// order; two clicks on items of one brand move that brand's other items up (with moved-up markers,
// a latency and a backend shown); "Why here?" explains an item; with personalisation off the order
// is the catalogue's again; every request the page and its worker made went to the page's own
// origin; no console error, page error or CSP violation. Screenshots go to test-artifacts/
// (demo.png, demo-explain.png). Exit status 0 when every check passes, 1 otherwise.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const ARTIFACTS = join(ROOT, 'test-artifacts');
const PKG = process.env.FEWCLICK_PKG ? resolve(process.env.FEWCLICK_PKG) : join(ROOT, 'pkg');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];
const QUERY = 'jumpers';
const TIMEOUT = 30_000;

// ---------------------------------------------------------------------------------------------
// A small runner: named checks in order, a summary, exit status.

const results = [];
async function check(name, fn) {
  const t0 = performance.now();
  try {
    await fn();
    results.push({ name, ok: true, ms: performance.now() - t0 });
    console.log(`  ok    ${name}`);
  } catch (error) {
    results.push({ name, ok: false, ms: performance.now() - t0, error });
    console.log(`  FAIL  ${name}\n        ${String(error && error.stack ? error.stack : error).replace(/\n/g, '\n        ')}`);
  }
}

function summary() {
  const failed = results.filter((r) => !r.ok);
  console.log('\n==================== demo e2e summary ====================');
  console.log(`  ${results.length - failed.length} passed, ${failed.length} failed`);
  for (const f of failed) console.log(`  FAILED  ${f.name}: ${f.error && f.error.message}`);
  console.log(`  result: ${failed.length === 0 ? 'PASS' : 'FAIL'}`);
  console.log('===========================================================');
  return failed.length === 0 ? 0 : 1;
}

function fatal(message) {
  console.error(`demo e2e: ${message}`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// Prerequisites

if (!existsSync(join(PKG, 'index.js')) || !existsSync(join(PKG, 'worker.js'))) {
  fatal(`no built package in ${PKG}: run scripts/build-wasm.sh first`);
}
let playwright;
try {
  playwright = createRequire(join(ROOT, 'tools', 'package.json'))('playwright-core');
} catch (e) {
  fatal(`playwright-core is not installed in tools/ (run scripts/setup.sh): ${e.message}`);
}
if (!existsSync(CHROMIUM)) fatal(`no Chromium at ${CHROMIUM} (run scripts/setup.sh, or set CHROMIUM)`);

const catalogue = JSON.parse(readFileSync(join(ROOT, 'www', 'assets', 'catalogue.json'), 'utf8'));
const byId = new Map(catalogue.products.map((p) => [p.id, p]));

// ---------------------------------------------------------------------------------------------
// Pure checks of the page's modules against the generator

console.log('page modules');
const { search, checkAgainstGenerator } = await import(pathToFileURL(join(ROOT, 'www', 'search.js')).href);

await check('the page computes no features: www/ has no features module and app.js sends ids and prices', () => {
  assert.ok(!existsSync(join(ROOT, 'www', 'features.js')), 'www/features.js is gone');
  const app = readFileSync(join(ROOT, 'www', 'app.js'), 'utf8');
  assert.match(app, /setResults\(\{ ids: products\.map\(\(p\) => p\.id\), prices: products\.map\(\(p\) => p\.price\) \}\)/);
  assert.ok(!/features/.test(app.replace(/\/\/.*$/gm, '')), 'app.js passes no features');
});

await check("the page's search gives the generator's results for every stored query", () => {
  assert.deepEqual(checkAgainstGenerator(catalogue), []);
  assert.equal(search(catalogue, QUERY, catalogue.resultsPerPage).length, catalogue.resultsPerPage);
});

// ---------------------------------------------------------------------------------------------
// The served page

/** Starts scripts/serve-demo.mjs on a free port; resolves { origin, process, log }. */
async function startServer(pkg) {
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'serve-demo.mjs'), '--port', '0', '--pkg', pkg, '--log'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = [];
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const origin = await new Promise((resolveOrigin, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`serve-demo.mjs did not print its URL within 10 s: ${stderr}`)), 10_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const url = line.match(/^fewclick demo: (http:\/\/127\.0\.0\.1:\d+)\//);
        if (url) {
          clearTimeout(timer);
          resolveOrigin(url[1]);
        } else if (/^[A-Z]+ \//.test(line)) {
          log.push(line);
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`serve-demo.mjs exited with ${code}: ${stderr}`)));
  });
  return { origin, process: child, log };
}

const served = await startServer(PKG);
const { origin, log: serverLog } = served;
const server = served.process;
console.log(`\nserved at ${origin}/ (package ${PKG})`);

const profile = mkdtempSync(join(tmpdir(), 'fewclick-e2e-profile-'));
mkdirSync(ARTIFACTS, { recursive: true });
let context;
try {
  context = await playwright.chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1360, height: 1000 },
    deviceScaleFactor: 1,
  });
} catch (e) {
  server.kill();
  rmSync(profile, { recursive: true, force: true });
  fatal(`could not start Chromium: ${e.message}`);
}

const requests = [];
context.on('request', (r) => requests.push(r.url()));
const problems = [];
const page = context.pages()[0] ?? (await context.newPage());
page.on('request', (r) => requests.push(r.url()));
page.on('console', (m) => {
  if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
});
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('worker', (w) => {
  w.on('console', (m) => {
    if (m.type() === 'error') problems.push(`worker console.error: ${m.text()}`);
  });
});

const grid = page.locator('#results');
const version = async () => Number(await grid.getAttribute('data-version'));
const shownIds = () => page.$$eval('#results > li.card', (cards) => cards.map((c) => c.dataset.id));
async function afterRender(action) {
  const v = await version();
  await action();
  await page.waitForFunction((v0) => Number(document.querySelector('#results').dataset.version) > v0, v, { timeout: TIMEOUT });
}
const catalogueOrder = catalogue.queries[QUERY];

let brand;
let brandItems;
let clicked;
let personalisedOrder;

console.log('\ndemo page');
await check('the page loads, the reranker starts in its worker and the search self-check passes', async () => {
  await page.goto(`${origin}/`);
  await page.waitForSelector('body[data-state="ready"]', { timeout: TIMEOUT }).catch(async (e) => {
    const state = await page.getAttribute('body', 'data-state');
    const banner = await page.textContent('#banner');
    throw new Error(`page state ${state}: ${banner} (${e.message})`);
  });
  assert.equal(await page.getAttribute('body', 'data-search-check'), 'ok');
  assert.match(await page.textContent('#backend'), /^cpu-(relaxed-simd|simd128|scalar)|webgpu/);
  assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), false, 'runs without cross-origin isolation');
  assert.ok((await shownIds()).length > 0, 'the front page shows products');
});

await check(`a search for "${QUERY}" shows the catalogue's order before any click`, async () => {
  await afterRender(async () => {
    await page.fill('#q', QUERY);
    await page.press('#q', 'Enter');
  });
  assert.equal(await grid.getAttribute('data-query'), QUERY);
  const ids = await shownIds();
  assert.deepEqual(ids, catalogueOrder);
  assert.equal(await page.locator('#results .card.moved-up').count(), 0);
});

await check('two clicks on items of one brand move that brand up; the places above each click stay put', async () => {
  // The page re-ranks with freezeAbove: only what is below the item just clicked may move. So
  // click a brand's two highest items, the brand whose other results sit lowest (most room to
  // move up).
  const positions = new Map();
  catalogueOrder.forEach((id, i) => {
    const b = byId.get(id).brand;
    positions.set(b, [...(positions.get(b) ?? []), i]);
  });
  const candidates = [...positions.entries()].filter(([, ps]) => ps.length >= 3);
  assert.ok(candidates.length > 0, 'some brand has three results');
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  candidates.sort((a, b) => mean(b[1].slice(2)) - mean(a[1].slice(2)));
  brand = candidates[0][0];
  brandItems = candidates[0][1].map((i) => catalogueOrder[i]);
  clicked = brandItems.slice(0, 2);
  for (const id of clicked) {
    const before = await shownIds();
    await afterRender(() => page.click(`#results li[data-id="${id}"] .view-title`));
    const after = await shownIds();
    const at = before.indexOf(id);
    assert.deepEqual(after.slice(0, at), before.slice(0, at), `the ${at} places above ${id} did not move`);
  }
  assert.equal(await page.textContent('#events'), '2');
  personalisedOrder = await shownIds();
  assert.deepEqual([...personalisedOrder].sort(), [...catalogueOrder].sort(), 'the same items, re-ordered');
  assert.equal(personalisedOrder[0], catalogueOrder[0], 'the featured product stays first (pinTop)');
  assert.equal(await page.textContent(`#results li[data-id="${catalogueOrder[0]}"] .badge`), 'Featured');
  const others = brandItems.filter((id) => !clicked.includes(id));
  const before = mean(others.map((id) => catalogueOrder.indexOf(id)));
  const after = mean(others.map((id) => personalisedOrder.indexOf(id)));
  const allBefore = mean(brandItems.map((id) => catalogueOrder.indexOf(id)));
  const allAfter = mean(brandItems.map((id) => personalisedOrder.indexOf(id)));
  console.log(`        ${brand}: unclicked items' mean position ${before.toFixed(1)} -> ${after.toFixed(1)}, all its items ${allBefore.toFixed(1)} -> ${allAfter.toFixed(1)}`);
  assert.ok(after < before, `${brand}'s unclicked items should move up (${before} -> ${after})`);
  assert.ok(allAfter < allBefore, `${brand}'s items should move up (${allBefore} -> ${allAfter})`);
  assert.equal(await grid.getAttribute('data-mode'), 'personalised');
});

await check('moved-up markers, adaptation latency and backend are shown', async () => {
  const upCards = page.locator('#results .card.moved-up');
  assert.ok((await upCards.count()) > 0, 'some card is marked as moved up');
  assert.match(await upCards.first().locator('.badge').textContent(), /^▲ \d+$/);
  const ms = Number(await page.getAttribute('#latency', 'data-ms'));
  assert.ok(Number.isFinite(ms) && ms >= 0, `latency ${ms}`);
  assert.match(await page.textContent('#latency'), /ms in wasm/);
  const backend = await page.textContent('#backend');
  assert.match(backend, /^cpu-(relaxed-simd|simd128|scalar)|webgpu/);
  console.log(`        backend ${backend} (${await page.getAttribute('#backend', 'title')}); adapt + re-rank ${ms.toFixed(2)} ms`);
  assert.match(await page.textContent('#privacy-text'), /Nothing about you has left this device/);
  assert.ok((await page.locator('#after .mark.up').count()) > 0, 'the before/after panel marks moves');
});

await check('the screenshot is saved (test-artifacts/demo.png)', async () => {
  // Let the re-ordering animation finish and the toast leave.
  await page.waitForSelector('#toast:not(.visible)', { state: 'attached', timeout: 10_000 });
  await page.waitForTimeout(400);
  await page.screenshot({ path: join(ARTIFACTS, 'demo.png'), fullPage: true });
  assert.ok(existsSync(join(ARTIFACTS, 'demo.png')));
});

await check('"Why here?" explains an item of the brand', async () => {
  const top = brandItems.filter((id) => !clicked.includes(id)).sort((a, b) => personalisedOrder.indexOf(a) - personalisedOrder.indexOf(b))[0];
  await page.click(`#results li[data-id="${top}"] .why`);
  await page.waitForSelector('#explain[open]', { timeout: TIMEOUT });
  const reasons = await page.$$eval('#explain-reasons li', (lis) => lis.map((li) => li.textContent));
  assert.ok(reasons.length > 0, 'at least one reason');
  assert.ok((await page.locator('#explain-signals tbody tr').count()) >= 5, 'the signals table is filled');
  assert.match(await page.textContent('#explain-position'), /Store position #\d+, shown at #\d+/);
  console.log(`        ${byId.get(top).name}: ${reasons[0]}`);
  await page.screenshot({ path: join(ARTIFACTS, 'demo-explain.png') });
  await page.click('#explain button[value="close"]');
  await page.waitForSelector('#explain', { state: 'hidden', timeout: TIMEOUT });
});

await check("with personalisation off the order is the catalogue's", async () => {
  await afterRender(() => page.click('label.switch'));
  assert.equal(await page.isChecked('#personalise'), false);
  assert.equal(await grid.getAttribute('data-mode'), 'store');
  assert.deepEqual(await shownIds(), catalogueOrder);
  assert.equal(await page.locator('#results .card.moved-up, #results .card.moved-down').count(), 0);
  // A click while it is off is not recorded.
  await page.click(`#results li[data-id="${catalogueOrder[0]}"] .view-title`);
  await page.waitForTimeout(200);
  assert.equal(await page.textContent('#events'), '2');
  // Back on: a personalised order returns. It is ranked afresh, without the freezeAbove of the
  // clicks (nothing was just clicked), so it need not equal the order shown after them: check
  // that it re-ranks the same items and keeps the clicked brand above its catalogue places.
  await afterRender(() => page.click('label.switch'));
  const back = await shownIds();
  assert.equal(await grid.getAttribute('data-mode'), 'personalised');
  assert.deepEqual([...back].sort(), [...catalogueOrder].sort());
  assert.notDeepEqual(back, catalogueOrder);
  const meanOf = (order) => brandItems.reduce((a, id) => a + order.indexOf(id), 0) / brandItems.length;
  assert.ok(meanOf(back) < meanOf(catalogueOrder), `${brand} stays above its catalogue places`);
});

await check('add to cart records a cart event and re-ranks', async () => {
  const id = personalisedOrder[personalisedOrder.length - 1];
  await afterRender(() => page.click(`#results li[data-id="${id}"] .add`));
  assert.equal(await page.textContent('#cart-count'), '1');
  assert.equal(await page.textContent('#events'), '3');
  assert.ok((await page.getAttribute(`#results li[data-id="${id}"]`, 'class')).includes('in-cart'));
  // The cart event is a session signal like any other: the list is ranked again with it. (The
  // demo model learned from its simulated shoppers that an item already in the cart is not the
  // one they open next, so the carted item itself need not move up; the rest of the list does
  // move.)
  const order = await shownIds();
  assert.notDeepEqual(order, personalisedOrder, 'the cart event re-ranked the list');
  assert.deepEqual([...order].sort(), [...personalisedOrder].sort(), 'the same items');
});

await check('every request went to the page\'s own origin', async () => {
  const urls = [...new Set(requests)];
  const foreign = urls.filter((u) => new URL(u).origin !== origin);
  assert.deepEqual(foreign, [], 'requests to other origins');
  const paths = urls.map((u) => new URL(u).pathname);
  for (const expected of ['/', '/app.js', '/assets/catalogue.json', '/assets/demo.fcm', '/pkg/worker.js']) {
    assert.ok(paths.includes(expected), `the browser requested ${expected} (saw ${paths.join(', ')})`);
  }
  assert.ok(paths.some((p) => /^\/pkg\/fewclick_(gpu|relaxed|simd|base)\.wasm$/.test(p)), 'the browser fetched a wasm build');
  // The server saw the same: and nothing but GETs, all answered.
  assert.ok(serverLog.length >= paths.length - 1, `server log: ${serverLog.length} lines`);
  const failed = serverLog.filter((l) => !/ (200|304)$/.test(l) && !/^GET \/favicon\.ico /.test(l));
  assert.deepEqual(failed, [], 'requests the server could not answer');
  const headers = (await (await fetch(`${origin}/`)).headers);
  assert.equal(headers.get('content-security-policy'), "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'");
  assert.equal(headers.get('cross-origin-opener-policy'), null);
  assert.equal(headers.get('cross-origin-embedder-policy'), null);
});

await check('no console error, page error or CSP violation', async () => {
  assert.deepEqual(problems, []);
  assert.doesNotMatch(await page.textContent('#privacy-text'), /other sites|blocked/);
  assert.equal(await page.isVisible('#banner'), false, `banner: ${await page.textContent('#banner')}`);
});

await check('without the package the store still works, in its own order', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'fewclick-e2e-nopkg-'));
  const bare = await startServer(empty);
  const p = await context.newPage();
  const errors = [];
  p.on('pageerror', (e) => errors.push(e.message));
  try {
    await p.goto(`${bare.origin}/?q=${QUERY}`);
    await p.waitForSelector('body[data-state="degraded"]', { timeout: TIMEOUT });
    assert.match(await p.textContent('#banner'), /Personalisation is unavailable/);
    assert.deepEqual(await p.$$eval('#results > li.card', (cards) => cards.map((c) => c.dataset.id)), catalogueOrder);
    assert.equal(await p.getAttribute('#results', 'data-mode'), 'store');
    assert.deepEqual(errors, []);
  } finally {
    await p.close();
    bare.process.kill('SIGTERM');
    rmSync(empty, { recursive: true, force: true });
  }
});

await context.close();
rmSync(profile, { recursive: true, force: true });
server.kill('SIGTERM');
process.exitCode = summary();
