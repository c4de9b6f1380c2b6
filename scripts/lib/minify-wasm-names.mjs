// Renames a wasm-bindgen glue's references to the import and export names of its wasm after
// `wasm-opt --minify-imports-and-exports-and-modules` shortened them (issue 11: the names, with
// their 16-hex-digit hashes, were about 1.5 KB gzip of every page, in the wasm and again in the
// glue).
//
//   node scripts/lib/minify-wasm-names.mjs BEFORE.wasm AFTER.wasm GLUE.js
//
// The old → new names come from the two modules' import and export sections, read position by
// position (the pass renames in place; the kinds must match). The glue (rewritten in place) names
// an import as a key of the object it hands to the instance (`NAME: function(…)`), the import
// module as that object's key, and an export as `wasm.NAME`. Every import key and module key must
// be found exactly once, and no old name may be left; otherwise this fails and the build stops.
import { readFileSync, writeFileSync } from 'node:fs';

/** The import and export entries of a wasm binary: { imports: [{module, name, kind}], exports: [{name, kind}] }. */
export function wasmNames(bytes) {
  let p = 8;
  const u8 = () => bytes[p++];
  const leb = () => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = bytes[p++];
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if ((b & 0x80) === 0) return Number(result);
    }
  };
  const name = () => {
    const n = leb();
    const s = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(p, p + n));
    p += n;
    return s;
  };
  const limits = () => {
    const flags = u8();
    leb();
    if (flags & 1) leb();
  };
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new Error('not a wasm binary');
  }
  const imports = [];
  const exports = [];
  while (p < bytes.length) {
    const id = u8();
    const size = leb();
    const end = p + size;
    if (id === 2) {
      for (let i = leb(); i > 0; i--) {
        const module = name();
        const field = name();
        const kind = u8();
        if (kind === 0) leb(); // function: type index
        else if (kind === 1) { u8(); limits(); } // table: reference type, limits
        else if (kind === 2) limits(); // memory
        else if (kind === 3) { u8(); u8(); } // global: value type, mutability
        else if (kind === 4) { u8(); leb(); } // tag: attribute, type index
        else throw new Error(`import ${module}.${field}: unknown kind ${kind}`);
        imports.push({ module, name: field, kind });
      }
    } else if (id === 7) {
      for (let i = leb(); i > 0; i--) {
        const field = name();
        const kind = u8();
        leb();
        exports.push({ name: field, kind });
      }
    }
    p = end;
  }
  return { imports, exports };
}

/**
 * The glue with every reference to `before`'s names renamed to `after`'s, each in one pass over
 * the original text (so a new name can never be renamed again).
 */
export function renameGlue(glue, before, after) {
  const pairs = (a, b, what) => {
    if (a.length !== b.length) throw new Error(`${what}: ${a.length} before, ${b.length} after`);
    return a.map((x, i) => {
      if (x.kind !== b[i].kind) throw new Error(`${what} ${i} (${x.name}): kind ${x.kind} became ${b[i].kind}`);
      return [x, b[i]];
    });
  };
  const imports = new Map();
  const modules = new Map();
  for (const [x, y] of pairs(before.imports, after.imports, 'imports')) {
    if (modules.has(x.module) && modules.get(x.module) !== y.module) {
      throw new Error(`import module ${x.module} became both ${modules.get(x.module)} and ${y.module}`);
    }
    modules.set(x.module, y.module);
    imports.set(x.name, y.name);
  }
  const exports = new Map(pairs(before.exports, after.exports, 'exports').map(([x, y]) => [x.name, y.name]));
  // An import is a key of the imports object (`NAME: function(…)`), a module that object's key
  // ("MODULE": import0), an export a member of `wasm`.
  const key = /(?<=[\s{,])([A-Za-z_$][\w$]*)(?=\s*:)/g;
  const moduleKey = /"([^"\n]*)"(?=\s*:)/g;
  const member = /(?<=\bwasm\.)([A-Za-z_$][\w$]*)/g;
  const seen = new Map();
  const count = (name) => seen.set(name, (seen.get(name) ?? 0) + 1);
  const out = glue
    .replace(key, (m) => (imports.has(m) ? (count(m), imports.get(m)) : m))
    .replace(moduleKey, (m, name) => (modules.has(name) ? (count(`module ${name}`), JSON.stringify(modules.get(name))) : m))
    .replace(member, (m) => exports.get(m) ?? m);
  for (const name of imports.keys()) {
    if (seen.get(name) !== 1) throw new Error(`the glue names the import ${name} ${seen.get(name) ?? 0} times as a key, expected once`);
    if (out.includes(name)) throw new Error(`the import name ${name} is still in the glue`);
  }
  for (const name of modules.keys()) {
    const n = seen.get(`module ${name}`);
    if (n !== 1) throw new Error(`the glue names the import module ${name} ${n ?? 0} times as a key, expected once`);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [beforePath, afterPath, gluePath] = process.argv.slice(2);
  if (!gluePath) {
    console.error('usage: node scripts/lib/minify-wasm-names.mjs BEFORE.wasm AFTER.wasm GLUE.js');
    process.exit(2);
  }
  const before = wasmNames(readFileSync(beforePath));
  const after = wasmNames(readFileSync(afterPath));
  writeFileSync(gluePath, renameGlue(readFileSync(gluePath, 'utf8'), before, after));
}
