// A real bundler consumer: a small Vite app (tests/js/vite-app) that imports the installed package
// by name is built with Vite, served from 127.0.0.1 and run in headless Chromium. Two pages: the
// core API (index.html) and fewclick/react's hook in a React 19 app (react.html; React comes from
// tools/, linked into the scratch project by test-js.sh). The hook is also server-rendered in Node.
//   FEWCLICK_CONSUMER=<scratch project with fewclick installed> node --test tests/js/vite.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { serve } from '../../scripts/lib/serve.mjs';
import { launchChromium } from '../../scripts/lib/chromium.mjs';

const consumer = process.env.FEWCLICK_CONSUMER;
const require = createRequire(new URL('../../tools/package.json', import.meta.url));

/** Builds the app once (both pages) and serves it; returns { app, server, browser }. */
let built;
async function app(t) {
  assert.ok(consumer, 'set FEWCLICK_CONSUMER to the scratch project that has fewclick installed');
  if (built === undefined) {
    built = (async () => {
      const dir = join(consumer, 'vite-app');
      cpSync(new URL('./vite-app/', import.meta.url), dir, { recursive: true });
      // A model file the React page loads by URL (public/ is copied into dist/ as it is).
      const fc = await import(pathToFileURL(join(consumer, 'node_modules', 'fewclick', 'node.js')).href);
      mkdirSync(join(dir, 'public'), { recursive: true });
      writeFileSync(join(dir, 'public', 'model.fcm'), await fc.syntheticModel(16, 32, 9));
      const { build } = await import(pathToFileURL(require.resolve('vite')).href);
      await build({
        root: dir,
        logLevel: 'warn',
        build: {
          outDir: join(dir, 'dist'),
          emptyOutDir: true,
          rollupOptions: { input: { main: join(dir, 'index.html'), react: join(dir, 'react.html') } },
        },
      });
      return dir;
    })();
  }
  const dir = await built;
  const server = await serve(join(dir, 'dist'));
  t.after(() => server.close());
  const browser = await launchChromium();
  t.after(() => browser.close());
  return { dir, server, browser };
}

/** Opens `path`, waits for window[key], returns { result, seen (URLs requested) }. */
async function run(browser, server, path, key) {
  const page = await browser.newPage();
  const seen = [];
  page.on('request', (req) => seen.push(req.url()));
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(`${server.origin}${path}`);
  const outcome = await page.waitForFunction((k) => window[k], key, { timeout: 120_000 }).then((h) => h.jsonValue());
  assert.ok(outcome.ok, `page failed: ${outcome.error}\n${logs.join('\n')}`);
  assert.deepEqual(seen.filter((u) => new URL(u).origin !== server.origin), [], 'same-origin requests only');
  return { result: outcome.result, seen, logs };
}

test('a Vite app bundles the package and ranks in headless Chromium; the core page loads no React', async (t) => {
  const { dir, server, browser } = await app(t);
  const emitted = readdirSync(join(dir, 'dist', 'assets'));
  t.diagnostic(`vite emitted: ${emitted.join(', ')}`);
  assert.ok(emitted.some((f) => f.endsWith('.wasm')), 'the wasm is emitted as an asset');

  const { result: r, seen } = await run(browser, server, '/index.html', '__viteResult');
  t.diagnostic(JSON.stringify(r));
  assert.equal(r.kernels, 'cpu-simd128');
  assert.equal(r.noEventsIsDisplayOrder, true);
  assert.equal(r.permutation, true);
  assert.equal(r.finite, true);
  assert.equal(r.errorCode, 'DIMENSION_MISMATCH');
  // fewclick/react stays out of the core: none of the scripts this page loaded holds React.
  const scripts = seen.filter((u) => u.endsWith('.js')).map((u) => new URL(u).pathname);
  assert.ok(scripts.length > 0);
  for (const path of scripts) {
    const text = readFileSync(join(dir, 'dist', path), 'utf8');
    assert.ok(!text.includes('react.transitional.element') && !text.includes('useReranker'), `${path} holds React or the hook`);
  }
  // ...while the React page's scripts do (the check above can fail).
  const reactHtml = readFileSync(join(dir, 'dist', 'react.html'), 'utf8');
  const reactEntry = reactHtml.match(/src="([^"]+\.js)"/)[1];
  assert.ok(readFileSync(join(dir, 'dist', reactEntry), 'utf8').includes('react.transitional.element'));
});

test('fewclick/react: useReranker in a React 19 app (clicks re-rank, results, errors, model change, cleanup)', async (t) => {
  const { server, browser } = await app(t);
  const { result: r } = await run(browser, server, '/react.html', '__reactResult');
  t.diagnostic(JSON.stringify(r));
  assert.equal(r.hostOrderWhileLoading, true, 'the host order before the reranker exists');
  assert.equal(r.noEventsHostOrder, true, 'and before any event');
  assert.equal(r.pendingAfterFirstClick, 'BUSY', 'the first click started a ranking, so the next two were queued');
  assert.equal(r.clicksReordered, true, 'three clicks (two queued during a pending ranking) re-rank the shelf');
  assert.equal(r.clicksPermutation, true);
  assert.ok(r.sameResultsRenders <= 2, `the same arrays in a new object: ${r.sameResultsRenders} renders, no loop`);
  assert.equal(r.sameReranker, true, 'options equal by value keep the reranker');
  assert.equal(r.sameResultsHanded, 0, 'results equal key by key are not handed to setResults again');
  assert.equal(r.newResultsHanded, 1, 'new results are, once');
  assert.equal(r.newResultsRanked, true, 'new results are ranked with the session so far');
  assert.equal(r.badResultsError, 'DIMENSION_MISMATCH');
  assert.equal(r.badResultsShown, 'a,b,c', 'bad results still show, in the host order');
  assert.equal(r.badResultsStatus, 'ready');
  assert.equal(r.recovered, true, 'good results clear the error');
  assert.equal(r.badEventError, 'INVALID_INPUT');
  assert.equal(r.loadingStatus, 'loading', 'a new model shows loading from its first render');
  assert.equal(r.loadingReranker, null, 'and no reranker (the old one is being freed)');
  assert.equal(r.loadingShowsHostOrder, true);
  assert.equal(r.newReranker, true);
  assert.equal(r.earlyClickApplied, true, 'a click while the model loads is applied once it has');
  assert.equal(r.oldFreed, 'FREED', 'the previous model\'s reranker is freed');
  assert.equal(r.integrityError, 'INTEGRITY');
  assert.equal(r.integrityErrorShown, true, 'the host order while the reranker failed');
  assert.equal(r.secondFreed, 'FREED');
  assert.equal(r.pendingAtUnmount, 'BUSY', 'a ranking was pending when the component unmounted');
  assert.equal(r.unmountFreed, true, 'and the reranker was freed once it settled');
});

test('fewclick/react server-renders (Node): the host order, loading, nothing created', async () => {
  assert.ok(consumer, 'set FEWCLICK_CONSUMER to the scratch project that has fewclick installed');
  const from = createRequire(join(consumer, 'package.json'));
  const { createElement: h } = await import(pathToFileURL(from.resolve('react')).href);
  const { renderToString } = await import(pathToFileURL(from.resolve('react-dom/server')).href);
  const { useReranker } = await import(pathToFileURL(join(consumer, 'node_modules', 'fewclick', 'react.js')).href);
  const ids = ['b', 'a', 'c'];
  let hook;
  function Shelf() {
    hook = useReranker('https://example.invalid/model.fcm', { ids, features: new Float32Array(48) });
    return h('ol', null, hook.ranked.map((id) => h('li', { key: id }, id)));
  }
  const html = renderToString(h(Shelf));
  assert.equal(html, '<ol><li>b</li><li>a</li><li>c</li></ol>');
  assert.equal(hook.status, 'loading');
  assert.equal(hook.reranker, null);
  assert.equal(hook.error, null);
  // Effects do not run on the server: nothing was fetched (the URL would fail) or created.
  function Empty() {
    hook = useReranker(null, null);
    return null;
  }
  renderToString(h(Empty));
  assert.equal(hook.status, 'idle');
  assert.deepEqual(hook.ranked, []);
});
