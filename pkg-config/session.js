// Sessions across page loads, only when the host asks: `createReranker(model, { session })`
// restores bytes from `reranker.exportSession()`; `{ persist: true }` (or `{ persist: { key,
// storage } }`) keeps them in sessionStorage — restored at creation, saved after every recorded
// event, removed by forget() and reset(). Nothing is stored without that option.

import { FewclickError } from './core.js';

export const DEFAULT_SESSION_KEY = 'fewclick:session';

/** `{ storage, key }` for the `persist` option, or undefined when absent/false. */
export function parsePersist(value) {
  if (value === undefined || value === false) return undefined;
  let key = DEFAULT_SESSION_KEY;
  let storage;
  if (value === true) {
    // Default: this tab's sessionStorage (gone when the tab closes).
  } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const k of Object.keys(value)) {
      if (k !== 'key' && k !== 'storage') {
        throw new FewclickError('INVALID_INPUT', `options.persist: unknown key "${k}" (expected key, storage)`);
      }
    }
    if (value.key !== undefined) key = value.key;
    storage = value.storage;
  } else {
    throw new FewclickError('INVALID_INPUT', 'options.persist must be true or { key?, storage? }');
  }
  if (typeof key !== 'string' || key === '') {
    throw new FewclickError('INVALID_CONFIG', 'options.persist.key must be a non-empty string');
  }
  if (storage === undefined) {
    try {
      storage = globalThis.sessionStorage;
    } catch {
      storage = undefined; // a sandboxed frame throws on access
    }
  }
  const usable = storage && ['getItem', 'setItem', 'removeItem'].every((m) => typeof storage[m] === 'function');
  if (!usable) {
    throw new FewclickError(
      'INVALID_CONFIG',
      'options.persist needs sessionStorage (a window context) or a storage with getItem/setItem/removeItem',
    );
  }
  return { storage, key };
}

/** The `session` option's bytes (a Uint8Array view), or undefined. */
export function sessionBytes(value) {
  if (value === undefined || value === null) return undefined;
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new FewclickError('INVALID_INPUT', 'options.session must be the bytes of exportSession() (a Uint8Array or ArrayBuffer)');
}

function toBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** What `persist` stored, as bytes; undefined when nothing is (or it is not base64: a clean start). */
export function loadStored({ storage, key }) {
  const text = storage.getItem(key);
  if (typeof text !== 'string') return undefined;
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return new Uint8Array(0); // not base64: the core refuses it, with INVALID_SESSION
  }
}

/** Stores the session; a full storage (quota) drops the stored copy rather than keep a stale one. */
export function store({ storage, key }, bytes) {
  try {
    storage.setItem(key, toBase64(bytes));
  } catch {
    try {
      storage.removeItem(key);
    } catch {
      // nothing more to do: the session still lives in this page
    }
  }
}

export function removeStored(persist) {
  if (persist !== undefined) persist.storage.removeItem(persist.key);
}
