// Subresource Integrity for the model: createReranker's `integrity` option parsed before anything
// is fetched, and the bytes checked with WebCrypto before anything reads them.

import { FewclickError } from './core.js';

// Subresource Integrity: the algorithms createReranker's `integrity` option may name, weakest
// first, with WebCrypto's name and the digest's length in bytes.
const SRI_ALGORITHMS = new Map([
  ['sha256', { name: 'SHA-256', bytes: 32 }],
  ['sha384', { name: 'SHA-384', bytes: 48 }],
  ['sha512', { name: 'SHA-512', bytes: 64 }],
]);

function base64Bytes(text) {
  try {
    return Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

const base64 = (bytes) => btoa(String.fromCharCode(...bytes));

/**
 * The `integrity` option, parsed: `{ algorithm, name, digests }` for the strongest algorithm it
 * names (SRI: a match with any hash of that algorithm passes). SRI metadata syntax: hashes
 * separated by whitespace, each `sha256-`, `sha384-` or `sha512-` and the base64 digest
 * (base64url accepted), optionally followed by `?options`, which SRI defines none of and which
 * are ignored. Unlike a browser, which skips tokens it cannot parse, every token must be such a
 * hash: a typo must not switch the check off. Also refuses where WebCrypto is missing (an
 * insecure context) rather than skip the check.
 */
export function parseIntegrity(value) {
  if (typeof value !== 'string') {
    throw new FewclickError('INVALID_INPUT', `options.integrity must be a string such as "sha384-<base64>", got ${typeof value}`);
  }
  const tokens = value.split(/[\t\n\f\r ]+/).filter((t) => t.length > 0);
  if (tokens.length === 0) throw new FewclickError('INVALID_CONFIG', 'options.integrity is empty: give at least one "sha256-", "sha384-" or "sha512-" hash');
  let strongest;
  const rank = [...SRI_ALGORITHMS.keys()];
  for (const token of tokens) {
    const m = /^(sha256|sha384|sha512)-([A-Za-z0-9+/_-]+={0,2})(?:\?.*)?$/i.exec(token);
    const algorithm = m && m[1].toLowerCase();
    const digest = m ? base64Bytes(m[2]) : undefined;
    if (digest === undefined || digest.length !== SRI_ALGORITHMS.get(algorithm).bytes) {
      throw new FewclickError(
        'INVALID_CONFIG',
        `options.integrity: ${JSON.stringify(token.length > 100 ? `${token.slice(0, 100)}…` : token)} is not a sha256, sha384 or sha512 digest in base64 (Subresource Integrity syntax: "sha384-<base64>")`,
      );
    }
    if (strongest === undefined || rank.indexOf(algorithm) > rank.indexOf(strongest.algorithm)) {
      strongest = { algorithm, name: SRI_ALGORITHMS.get(algorithm).name, digests: [] };
    }
    if (algorithm === strongest.algorithm) strongest.digests.push(digest);
  }
  if (typeof globalThis.crypto?.subtle?.digest !== 'function') {
    throw new FewclickError(
      'INVALID_CONFIG',
      'options.integrity needs WebCrypto (crypto.subtle), which this context lacks (an insecure context: serve the page over HTTPS or from localhost); the model was not loaded unchecked',
    );
  }
  return strongest;
}

/** Throws INTEGRITY unless `bytes` digest to one of the expected hashes. */
export async function checkIntegrity(bytes, expected) {
  let digest;
  try {
    digest = new Uint8Array(await globalThis.crypto.subtle.digest(expected.name, bytes));
  } catch (e) {
    throw new FewclickError('INTEGRITY', `could not compute the model's ${expected.algorithm} digest: ${e && e.message}`, { cause: e });
  }
  const same = (d) => d.length === digest.length && d.every((b, i) => b === digest[i]);
  if (!expected.digests.some(same)) {
    throw new FewclickError(
      'INTEGRITY',
      `the model does not match options.integrity: its digest is ${expected.algorithm}-${base64(digest)}; the model was not used`,
    );
  }
}
