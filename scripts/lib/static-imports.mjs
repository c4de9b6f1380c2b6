// Prints, one path a line, the files a page downloads before it can run an ES module: the module
// and, transitively, every file it imports statically (`import … from`, `export … from`, bare
// `import '…'`). Dynamic `import()` is left out: those files load only when the code that asks for
// them runs. scripts/build-wasm.sh weighs the package's loader this way.
//   node scripts/lib/static-imports.mjs pkg/index.js
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

const STATIC = /(?:^|[;}\s])(?:import|export)\s*(?:[\w*{}\s,$]*?(?<=[\s}*])from\s*)?["'](\.{1,2}\/[^"']+)["']/g;

export function staticImports(entry) {
  const seen = new Set();
  const visit = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(STATIC)) visit(resolve(dirname(file), m[1]));
  };
  visit(resolve(entry));
  return [...seen];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.length !== 3) throw new Error('usage: node scripts/lib/static-imports.mjs <entry.js>');
  for (const f of staticImports(process.argv[2])) console.log(f);
}
