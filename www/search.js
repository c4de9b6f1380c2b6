// The store's search, the same rule as the Rust generator's `Catalogue::search` (src/train/simulate.rs):
// lower-cased alphanumeric tokens, a trailing plural "s" dropped from words longer than three letters
// (not "ss"); a product matches when every query token is a prefix of one of its tokens; results come
// in catalogue order (the order of `catalogue.products`). The page checks itself against the query
// results the generator stored in catalogue.json.

/** Search tokens of a text. */
export function searchTokens(text) {
  return String(text)
    .split(/[^\p{L}\p{N}]+/u)
    .filter((t) => t.length > 0)
    .map((t) => {
      const lower = t.toLowerCase();
      return [...lower].length > 3 && lower.endsWith('s') && !lower.endsWith('ss') ? lower.slice(0, -1) : lower;
    });
}

/** Tokens of each product, computed once per catalogue. */
const tokenCache = new WeakMap();

function productTokens(catalogue, product) {
  let cache = tokenCache.get(catalogue);
  if (cache === undefined) {
    cache = new Map();
    tokenCache.set(catalogue, cache);
  }
  let tokens = cache.get(product.id);
  if (tokens === undefined) {
    const plural = catalogue.categories.find((c) => c.name === product.category)?.plural ?? '';
    tokens = searchTokens(`${product.name} ${product.category} ${plural} ${product.brand} ${product.colour}`);
    cache.set(product.id, tokens);
  }
  return tokens;
}

/** The first `limit` products matching `query`, in catalogue order. */
export function search(catalogue, query, limit) {
  const q = searchTokens(query);
  const out = [];
  for (const p of catalogue.products) {
    if (out.length >= limit) break;
    const tokens = productTokens(catalogue, p);
    if (q.every((qt) => tokens.some((t) => t.startsWith(qt)))) out.push(p);
  }
  return out;
}

/** Queries whose results differ from the generator's (stored in catalogue.queries); [] when all agree. */
export function checkAgainstGenerator(catalogue) {
  const wrong = [];
  for (const [query, ids] of Object.entries(catalogue.queries)) {
    const mine = search(catalogue, query, catalogue.resultsPerPage).map((p) => p.id);
    if (mine.length !== ids.length || mine.some((id, i) => id !== ids[i])) wrong.push(query);
  }
  return wrong;
}
