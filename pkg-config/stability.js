// Stable places for people: rank({ pinTop, freezeAbove }) keeps places of the order the shopper
// sees, bookkeeping on the ranking the core returned.

import { FewclickError, checkKeys, isPlainObject, ownCopy } from './core.js';

const STABILITY_KEYS = new Set(['pinTop', 'freezeAbove']);
// No options: a null-prototype object, so nothing inherited (a polluted Object.prototype) is read.
const NO_OPTIONS = Object.freeze(Object.create(null));

/** `{ pinTop, freezeAbove }` of a rank call, checked: a bad value is INVALID_INPUT. */
export function stabilityOptions(options) {
  if (options === undefined) return undefined;
  options = ownCopy(options, 'rank options'); // own properties, read once (see core.js)
  if (!isPlainObject(options)) throw new FewclickError('INVALID_INPUT', 'rank options must be an object { pinTop?, freezeAbove? }');
  checkKeys(options, STABILITY_KEYS, 'rank options');
  const { pinTop, freezeAbove } = options;
  if (pinTop !== undefined && !(Number.isInteger(pinTop) && pinTop >= 0)) {
    throw new FewclickError('INVALID_INPUT', `pinTop must be a non-negative integer, got ${String(pinTop)}`);
  }
  if (freezeAbove !== undefined && typeof freezeAbove !== 'string') {
    throw new FewclickError('INVALID_INPUT', 'freezeAbove must be an item id (string)');
  }
  return options;
}

/**
 * `ranking` with the first places of the order the shopper sees (`shown`: display indices, the
 * last ranking returned for these results; undefined before the first: the host's order) kept
 * where they are: the first `pinTop`, and every
 * place above `freezeAbove`'s. The other items follow in the model's order. Scores and moves are
 * recomputed for the new order; these places take precedence over maxMove.
 */
export function stabilised(ranking, shown, ids, options = NO_OPTIONS) {
  const { pinTop = 0, freezeAbove } = options;
  if (pinTop === 0 && freezeAbove === undefined) return ranking; // the common call: no work
  if (shown === undefined) shown = Uint32Array.from(ids, (_, i) => i);
  let keep = Math.min(pinTop, shown.length);
  if (freezeAbove !== undefined) {
    const at = shown.findIndex((i) => ids[i] === freezeAbove);
    if (at < 0) throw new FewclickError('UNKNOWN_ITEM', `freezeAbove: unknown item ${JSON.stringify(freezeAbove)}`);
    keep = Math.max(keep, at);
  }
  if (keep === 0) return ranking;
  const scoreOf = new Float32Array(ids.length);
  ranking.order.forEach((i, pos) => (scoreOf[i] = ranking.scores[pos]));
  const kept = shown.slice(0, keep);
  const fixed = new Set(kept);
  const order = Uint32Array.from([...kept, ...Array.from(ranking.order).filter((i) => !fixed.has(i))]);
  return {
    ...ranking,
    order,
    scores: Float32Array.from(order, (i) => scoreOf[i]),
    moved: Int32Array.from(order, (i, pos) => i - pos),
    ids: undefined,
  };
}
