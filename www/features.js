// Candidate feature vectors for the model: each product's item-level vector (computed by the
// generator, stored in catalogue.json) followed by the three list-context price features of the
// list it is shown in. listContext() is the formula of `list_context` in src/train/items.rs:
//
//   log_price_vs_list_median  clamp(ln price − ln median price of the list, −3, 3)
//   price_rank_in_list        (#cheaper + ½ #others at the same price) / (n − 1); ½ when n = 1
//   price_available           1
//
// all zero when any price is missing, not finite or not positive. The median of an even count is
// the mean of the two middle prices.

export const LIST_CONTEXT_DIM = 3;
const MAX_LOG_PRICE_RATIO = 3;

/** Row-major n × 3 list-context features of a list with these prices. */
export function listContext(prices) {
  const n = prices.length;
  const out = new Float32Array(n * LIST_CONTEXT_DIM);
  if (n === 0 || !prices.every((p) => Number.isFinite(p) && p > 0)) return out;
  // Prices as the model sees them (f32), so ties and the median match the native code exactly.
  const p = Float32Array.from(prices);
  const order = [...p.keys()].sort((a, b) => p[a] - p[b] || a - b);
  const median = n % 2 === 1 ? p[order[(n - 1) / 2]] : 0.5 * (p[order[n / 2 - 1]] + p[order[n / 2]]);
  const logMedian = Math.log(median);
  let start = 0;
  while (start < n) {
    let end = start + 1;
    while (end < n && p[order[end]] === p[order[start]]) end++;
    const ties = end - start - 1;
    for (let k = start; k < end; k++) {
      const i = order[k];
      const ratio = Math.log(p[i]) - logMedian;
      out[i * 3] = Math.min(MAX_LOG_PRICE_RATIO, Math.max(-MAX_LOG_PRICE_RATIO, ratio));
      out[i * 3 + 1] = n === 1 ? 0.5 : (start + 0.5 * ties) / (n - 1);
      out[i * 3 + 2] = 1;
    }
    start = end;
  }
  return out;
}

/** { ids, features, prices } for reranker.setResults(), products in display order. */
export function candidateFeatures(products) {
  const n = products.length;
  const d = n > 0 ? products[0].vector.length : 0;
  const width = d + LIST_CONTEXT_DIM;
  const prices = products.map((p) => p.price);
  const context = listContext(prices);
  const features = new Float32Array(n * width);
  products.forEach((p, i) => {
    features.set(p.vector, i * width);
    features.set(context.subarray(i * 3, i * 3 + 3), i * width + d);
  });
  return { ids: products.map((p) => p.id), features, prices: Float32Array.from(prices) };
}
