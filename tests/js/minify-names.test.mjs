// scripts/lib/minify-wasm-names.mjs, the build step that makes a wasm-bindgen glue follow its
// wasm's import and export names after wasm-opt shortened them (issue 11): the sections it reads,
// the renaming, and the refusals that stop a build instead of shipping a glue that cannot load.
// Every shipped glue is also loaded by the other tests, which is the end-to-end check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { renameGlue, wasmNames } from '../../scripts/lib/minify-wasm-names.mjs';

const utf8 = (s) => [...new TextEncoder().encode(s)];
const str = (s) => [utf8(s).length, ...utf8(s)];
const section = (id, body) => [id, body.length, ...body];

/** A valid module: one imported function `module.field`, one of its own exported as `run`, a memory exported as `mem`. */
function module(mod, field, run, mem) {
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 0, 0]), // type 0: () -> ()
    ...section(2, [1, ...str(mod), ...str(field), 0x00, 0]), // import a function of type 0
    ...section(3, [1, 0]), // one function of type 0
    ...section(5, [1, 0x00, 1]), // one memory, min 1 page
    ...section(7, [2, ...str(run), 0x00, 1, ...str(mem), 0x02, 0]), // exports
    ...section(10, [1, 2, 0, 0x0b]), // its body: no locals, end
  ]);
}

const before = module('./fewclick_bg.js', '__wbg_now_463ac581d2fc7ea3', 'reranker_rank', 'memory');
const after = module('a', 'a', 'b', 'c');
const glue = `
function __wbg_get_imports() {
    const import0 = {
        __proto__: null,
        __wbg_now_463ac581d2fc7ea3: function() {
            const ret = Date.now();
            return ret;
        },
        __wbg_unused_0000000000000000: function() {},
    };
    return {
        __proto__: null,
        "./fewclick_bg.js": import0,
    };
}
export function rank() { const ret = wasm.reranker_rank(); return wasm.memory.buffer.byteLength + ret; }
export function rankAsync() { return wasm.reranker_rankAsync(); }
const note = 'reranker_rank stays a word in a string';
`;

test('the import and export sections are read in order, with their kinds', () => {
  assert.ok(WebAssembly.validate(before) && WebAssembly.validate(after), 'the test modules are valid wasm');
  assert.deepEqual(wasmNames(before), {
    imports: [{ module: './fewclick_bg.js', name: '__wbg_now_463ac581d2fc7ea3', kind: 0 }],
    exports: [{ name: 'reranker_rank', kind: 0 }, { name: 'memory', kind: 2 }],
  });
  assert.throws(() => wasmNames(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])), /not a wasm binary/);
});

test('the glue follows the minified names: import keys, the module key, wasm.NAME members only', () => {
  const out = renameGlue(glue, wasmNames(before), wasmNames(after));
  assert.match(out, /\n {8}a: function\(\) \{/);
  assert.match(out, /"a": import0/);
  assert.match(out, /wasm\.b\(\)/);
  assert.match(out, /wasm\.c\.buffer/);
  // Not an export of this wasm, a longer name, a word in a string, an import the wasm dropped.
  assert.match(out, /wasm\.reranker_rankAsync\(\)/);
  assert.match(out, /'reranker_rank stays a word in a string'/);
  assert.match(out, /__wbg_unused_0000000000000000: function/);
  assert.doesNotMatch(out, /__wbg_now_463ac581d2fc7ea3|fewclick_bg\.js|wasm\.reranker_rank\(|wasm\.memory/);
});

test('a glue that does not name an import exactly once, or modules that do not pair up, stop the build', () => {
  const [b, a] = [wasmNames(before), wasmNames(after)];
  assert.throws(() => renameGlue(glue.replace('__wbg_now_463ac581d2fc7ea3:', 'other:'), b, a), /names the import __wbg_now_463ac581d2fc7ea3 0 times/);
  assert.throws(() => renameGlue(`${glue}\nconst again = { __wbg_now_463ac581d2fc7ea3: 1 };`, b, a), /2 times/);
  assert.throws(() => renameGlue(glue.replace('"./fewclick_bg.js": import0', 'import0'), b, a), /import module \.\/fewclick_bg\.js 0 times/);
  assert.throws(() => renameGlue(`${glue}\nconst s = '__wbg_now_463ac581d2fc7ea3';`, b, a), /still in the glue/);
  assert.throws(() => renameGlue(glue, b, { ...a, exports: a.exports.slice(0, 1) }), /exports: 2 before, 1 after/);
  assert.throws(() => renameGlue(glue, b, { ...a, exports: [...a.exports].reverse() }), /kind 0 became 2/);
});

test('the shipped glues carry no long import names, and their wasm none either', () => {
  const pkg = new URL('../../pkg/', import.meta.url);
  assert.ok(existsSync(new URL('fewclick_wasm.js', pkg)), 'pkg/ is missing: run scripts/build-wasm.sh first');
  for (const [js, wasm] of [['fewclick_wasm.js', 'fewclick_simd.wasm'], ['fewclick_gpu.js', 'fewclick_gpu.wasm']]) {
    const text = readFileSync(new URL(js, pkg), 'utf8');
    const names = wasmNames(readFileSync(new URL(wasm, pkg)));
    assert.doesNotMatch(text, /__wbg_[A-Za-z_]+_[0-9a-f]{16}/, `${js} still has hashed import names`);
    assert.ok(names.imports.every((i) => i.name.length <= 2 && i.module.length <= 2), `${wasm}'s imports are minified`);
    assert.ok(!names.exports.some((e) => e.name === 'memory' || e.name.startsWith('reranker_')), `${wasm}'s exports are minified`);
  }
});
