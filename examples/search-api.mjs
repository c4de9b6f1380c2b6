// A search API that attaches the model's item vectors to its results with fewclick/server, for
// catalogues too large to ship in the model file. Run it where the package is installed:
//
//   fewclick export-items model.fcm --jsonl items.jsonl
//   node search-api.mjs items.jsonl            # then GET http://127.0.0.1:8787/search?ids=sku-1,sku-2
//   node search-api.mjs items.jsonl --check    # starts, asks itself once, prints the answer, exits
//
// The page passes the answer straight on: reranker.setResults({ ids, prices, features,
// featureNames }); the core checks featureNames against the model's schema.
import { createServer } from 'node:http';
import { loadItems } from 'fewclick/server';

const [file, flag] = process.argv.slice(2);
if (!file) {
  console.error('usage: node search-api.mjs ITEMS.jsonl [--check]');
  process.exit(2);
}
const items = await loadItems(file);

const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname !== '/search') {
    res.writeHead(404).end();
    return;
  }
  // A real API would search its index here; this one takes the result ids from the query.
  const ids = (url.searchParams.get('ids') ?? '').split(',').filter(Boolean);
  const { features, featureNames, missing } = items.lookup(ids);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ ids, features: Array.from(features), featureNames, missing }));
});

server.listen(flag === '--check' ? 0 : 8787, '127.0.0.1', async () => {
  const { port } = server.address();
  console.log(`${items.size} items from ${file} (model ${items.model}); http://127.0.0.1:${port}/search?ids=…`);
  if (flag !== '--check') return;
  const ids = ['sku-001', 'sku-002', 'no-such-sku'];
  const answer = await (await fetch(`http://127.0.0.1:${port}/search?ids=${ids.join(',')}`)).json();
  const width = answer.featureNames.length;
  const ok = answer.features.length === ids.length * width && answer.missing.join() === 'no-such-sku';
  console.log(`${ids.length} results × ${width} features, missing [${answer.missing.join(', ')}]: ${ok ? 'ok' : 'WRONG'}`);
  server.close();
  process.exitCode = ok ? 0 : 1;
});
