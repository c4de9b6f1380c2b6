// A real bundler consumer: a small Vite app (tests/js/vite-app) that imports the installed package
// by name is built with Vite, served from 127.0.0.1 and run in headless Chromium.
//   FEWCLICK_CONSUMER=<scratch project with fewclick installed> node --test tests/js/vite.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { serve } from '../../scripts/lib/serve.mjs';
import { launchChromium } from '../../scripts/lib/chromium.mjs';

const consumer = process.env.FEWCLICK_CONSUMER;
const require = createRequire(new URL('../../tools/package.json', import.meta.url));

test('a Vite app bundles the package and ranks in headless Chromium', async (t) => {
  assert.ok(consumer, 'set FEWCLICK_CONSUMER to the scratch project that has fewclick installed');
  const app = join(consumer, 'vite-app');
  cpSync(new URL('./vite-app/', import.meta.url), app, { recursive: true });
  const { build } = await import(pathToFileURL(require.resolve('vite')).href);
  await build({ root: app, logLevel: 'warn', build: { outDir: join(app, 'dist'), emptyOutDir: true } });
  const emitted = readdirSync(join(app, 'dist', 'assets'));
  t.diagnostic(`vite emitted: ${emitted.join(', ')}`);
  assert.ok(emitted.some((f) => f.endsWith('.wasm')), 'the wasm is emitted as an asset');

  const server = await serve(join(app, 'dist'));
  t.after(() => server.close());
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  const seen = [];
  page.on('request', (req) => seen.push(req.url()));
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(`${server.origin}/index.html`);
  const outcome = await page.waitForFunction(() => window.__viteResult, null, { timeout: 60_000 }).then((h) => h.jsonValue());
  assert.ok(outcome.ok, `page failed: ${outcome.error}\n${logs.join('\n')}`);
  const r = outcome.result;
  t.diagnostic(JSON.stringify(r));
  assert.equal(r.kernels, 'cpu-simd128');
  assert.equal(r.noEventsIsDisplayOrder, true);
  assert.equal(r.permutation, true);
  assert.equal(r.finite, true);
  assert.equal(r.errorCode, 'DIMENSION_MISMATCH');
  assert.deepEqual(seen.filter((u) => new URL(u).origin !== server.origin), [], 'same-origin requests only');
});
