// Facts of the JS API that live both in Rust and in pkg-config/ must agree; a difference would
// otherwise surface only on a shopper's page. test-js.sh runs this.
//   - error codes:  src/error.rs (Error::code)  =  core.js CORE_CODES  =  index.d.ts CoreErrorCode
//   - option keys:  src/wasm/read.rs OPTION_KEYS  =  core.js OPTION_KEYS =  index.d.ts RerankerOptions
//   - event keys:   src/wasm/read.rs EVENT_KEYS   =  index.d.ts ShopperEvent (core.js leaves them to the core)
//   - event types:  src/session/events.rs `EventKind::parse` = index.d.ts EventType
// (core.js checks the events record() queues during a rankAsync() with the core's own checkEvent,
// so it keeps no copy of the event types, the longest id or the range of times.)
import { readFileSync } from 'node:fs';

const root = new URL('../../', import.meta.url);
const read = (p) => readFileSync(new URL(p, root), 'utf8');
const core = read('pkg-config/core.js');
const dts = read('pkg-config/index.d.ts');
const readerRs = read('src/wasm/read.rs');

const camel = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
const quoted = (text) => [...text.matchAll(/'([A-Za-z_]+)'/g)].map((m) => m[1]);
function block(text, start, what) {
  const i = text.indexOf(start);
  if (i < 0) throw new Error(`cannot find ${what} (${JSON.stringify(start)})`);
  return text.slice(i + start.length, text.indexOf('}', i));
}
/** The string literals of a Rust `const NAME: [&str; n] = [...]` in src/wasm/read.rs. */
function rustKeys(name) {
  const m = readerRs.match(new RegExp(`const ${name}: \\[&str; \\d+\\] =\\s*\\[([^\\]]*)\\]`));
  if (!m) throw new Error(`cannot find const ${name} in src/wasm/read.rs`);
  return [...m[1].matchAll(/"([^"]+)"/g)].map((x) => x[1]);
}
/** Property names of a TypeScript interface. */
function tsKeys(name) {
  return [...block(dts, `export interface ${name} {`, `interface ${name} in index.d.ts`).matchAll(/^\s*([A-Za-z_]+)\??:/gm)].map((m) => m[1]);
}

/** The string literals the Rust event-type parser matches (`"a" | "b" => EventKind::X`). */
const rustEventTypes = () =>
  block(read('src/session/events.rs'), 'pub fn parse(s: &str) -> Result<Self> {', 'EventKind::parse in src/session/events.rs')
    .split('\n')
    .filter((l) => l.includes('=> EventKind::'))
    .flatMap((l) => [...l.matchAll(/"([^"]+)"/g)].map((m) => m[1]));
const dashed = (text) => [...text.matchAll(/'([A-Za-z_-]+)'/g)].map((m) => m[1]);

const checks = [
  [
    'error codes',
    [...read('src/error.rs').matchAll(/Error::\w+(?:\s*\{\s*\.\.\s*\})?\s*=>\s*"([A-Z_]+)"/g)].map((m) => m[1]),
    quoted(core.match(/const CORE_CODES = \[([^\]]*)\]/)[1]),
    quoted(dts.match(/export type CoreErrorCode =([^;]*);/)[1]),
  ],
  ['reranker option keys', rustKeys('OPTION_KEYS'), quoted(core.match(/const OPTION_KEYS = new Set\(\[([^\]]*)\]/)[1]), tsKeys('RerankerOptions')],
  ['event keys', rustKeys('EVENT_KEYS'), null, tsKeys('ShopperEvent')],
  ['event types', rustEventTypes(), null, dashed(dts.match(/export type EventType =([^;]*);/)[1])],
];

const same = (a, b) => a.length === b.length && [...a].sort().join() === [...b].sort().join();
let failed = false;
for (const [what, rust, js, ts] of checks) {
  if (rust.length === 0 || (js !== null && !same(rust, js)) || (ts !== null && !same(rust, ts))) {
    failed = true;
    console.error(`${what} differ:\n  src/wasm/read.rs / src/error.rs / src/session: ${rust.join(' ')}\n  pkg-config/core.js:       ${js === null ? '(not there)' : js.join(' ')}\n  pkg-config/index.d.ts:    ${ts === null ? '(not there)' : ts.join(' ')}`);
  } else {
    const where = [js === null ? '' : ', core.js', ts === null ? '' : ', index.d.ts'].join('');
    console.log(`    ok: ${what} agree in Rust${where} (${rust.length === 1 ? rust[0] : rust.length})`);
  }
}
process.exit(failed ? 1 : 0);
