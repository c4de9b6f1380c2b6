// The error codes exist in three places that must agree: the core (src/error.rs, Error::code),
// the loader (pkg-config/core.js, CORE_CODES) and the types (pkg-config/index.d.ts,
// CoreErrorCode). A code added in Rust but not in JS would reach callers as INTERNAL; this check
// makes that drift fail the tests instead.
import { readFileSync } from 'node:fs';

const root = new URL('../../', import.meta.url);
const read = (p) => readFileSync(new URL(p, root), 'utf8');
const rust = [...read('src/error.rs').matchAll(/Error::\w+(?:\s*\{\s*\.\.\s*\})?\s*=>\s*"([A-Z_]+)"/g)].map((m) => m[1]);
const js = [...read('pkg-config/core.js').match(/const CORE_CODES = \[([^\]]*)\]/)[1].matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]);
const dts = [...read('pkg-config/index.d.ts').match(/export type CoreErrorCode =([^;]*);/)[1].matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]);

const same = (a, b) => a.length === b.length && [...a].sort().join() === [...b].sort().join();
if (rust.length === 0 || !same(rust, js) || !same(rust, dts)) {
  console.error(`error codes differ:\n  src/error.rs:          ${rust.join(' ')}\n  pkg-config/core.js:    ${js.join(' ')}\n  pkg-config/index.d.ts: ${dts.join(' ')}`);
  process.exit(1);
}
console.log(`    ok: the ${rust.length} core error codes agree in src/error.rs, core.js and index.d.ts`);
