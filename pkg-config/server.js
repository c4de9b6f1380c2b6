// fewclick/server: a model's item table on the host's server, for catalogues too large to ship to
// a page. `fewclick export-items model.fcm --jsonl items.jsonl` writes the table; a search API
// loads it once with loadItems() and attaches each result's vector with lookup(), and the page
// passes those to setResults({ ids, prices, features, featureNames }) — checked against the
// model's schema there. Node only (reads a file); it makes no network request.
//
// The JSONL layout (src/train/export.rs): a schema line
//   {"format":"fewclick-items","version":1,"names":[…],"default":[…],"items":N,"model":"sha256-…"}
// then one {"id":"…","features":[…]} line per item.

import { readFile } from 'node:fs/promises';
import { FewclickError } from './core.js';

const FORMAT = 'fewclick-items';
const VERSION = 1;

function bad(path, line, reason) {
  return new FewclickError('INVALID_INPUT', `${path}:${line}: ${reason}`);
}

function vector(value, width, path, line, what) {
  if (!Array.isArray(value) || value.length !== width) {
    throw bad(path, line, `${what} must be an array of ${width} numbers`);
  }
  const out = Float32Array.from(value);
  for (let i = 0; i < width; i++) {
    if (typeof value[i] !== 'number' || !Number.isFinite(out[i])) throw bad(path, line, `${what}[${i}] is not a finite number`);
  }
  return out;
}

class ItemLookup {
  #index;
  #rows;
  constructor(names, defaultVector, ids, rows, model) {
    /** The feature names, in column order: pass them to setResults as `featureNames`. */
    this.names = Object.freeze([...names]);
    /** The cold-item vector: what an id the table does not hold gets. */
    this.default = defaultVector;
    /** Integrity string of the model file the table came from. */
    this.model = model;
    this.#index = new Map(ids.map((id, i) => [id, i]));
    this.#rows = rows;
  }

  /** Number of items held. */
  get size() {
    return this.#index.size;
  }

  /** Whether the table holds `id`. */
  has(id) {
    return this.#index.has(id);
  }

  /**
   * The vectors of `ids`, row-major (`ids.length × names.length`), cold items getting the
   * default, exactly as the page's core would look them up in the model: `{ features,
   * featureNames, missing }` (`missing`: the ids the table does not hold).
   */
  lookup(ids) {
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) {
      throw new FewclickError('INVALID_INPUT', 'lookup expects an array of item ids (strings)');
    }
    const width = this.names.length;
    const features = new Float32Array(ids.length * width);
    const missing = [];
    ids.forEach((id, k) => {
      const i = this.#index.get(id);
      if (i === undefined) {
        missing.push(id);
        features.set(this.default, k * width);
      } else {
        features.set(this.#rows.subarray(i * width, (i + 1) * width), k * width);
      }
    });
    return { features, featureNames: [...this.names], missing };
  }
}

/** Reads an `export-items` JSONL file; a malformed file is an INVALID_INPUT error naming the line. */
export async function loadItems(path) {
  let text;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new FewclickError('INVALID_INPUT', `cannot read ${path}: ${e && e.message}`, { cause: e });
  }
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  let header;
  try {
    header = JSON.parse(lines[0] ?? '');
  } catch {
    throw bad(path, 1, 'the first line is not the JSON schema line');
  }
  if (header === null || typeof header !== 'object' || header.format !== FORMAT || header.version !== VERSION) {
    throw bad(path, 1, `not a ${FORMAT} version ${VERSION} file`);
  }
  const { names } = header;
  if (!Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === 'string')) {
    throw bad(path, 1, '"names" must be a non-empty array of strings');
  }
  const width = names.length;
  const defaultVector = vector(header.default, width, path, 1, '"default"');
  if (header.items !== lines.length - 1) {
    throw bad(path, 1, `the schema line announces ${header.items} items, the file has ${lines.length - 1} (truncated?)`);
  }
  const ids = [];
  const rows = new Float32Array((lines.length - 1) * width);
  const seen = new Set();
  for (let k = 1; k < lines.length; k++) {
    let item;
    try {
      item = JSON.parse(lines[k]);
    } catch {
      throw bad(path, k + 1, 'not JSON');
    }
    if (item === null || typeof item !== 'object' || typeof item.id !== 'string' || item.id === '') {
      throw bad(path, k + 1, 'an item line needs a non-empty "id"');
    }
    if (seen.has(item.id)) throw bad(path, k + 1, `item id ${JSON.stringify(item.id)} appears twice`);
    seen.add(item.id);
    rows.set(vector(item.features, width, path, k + 1, '"features"'), (k - 1) * width);
    ids.push(item.id);
  }
  return new ItemLookup(names, defaultVector, ids, rows, typeof header.model === 'string' ? header.model : null);
}
