// The session features of every candidate (SESSION_DIM = 13 per row, the layout of
// src/session.rs); one invocation per row. The CPU twin is SummaryTable::features_into, and both
// read the same flattened summary (src/session.rs, Summary::table), so the page uploads a few
// kilobytes per rank instead of n × 13 floats.
//
//   0, 1, 3, 4  per-item counts of the logged items: binary search of the row in `items`
//               (sorted by row); 0 for items the shopper never touched
//   2           1 for the last engaged item
//   5           max cosine to the engaged items' snapshots (not the item's own), at least 0
//   6           cosine to the engaged items' weighted centroid
//   7, 8, 9     log price relative to the engaged items' mean (clamped to ±3), its size, and 1
//               (only when both prices are known)
//   10          ln(1 + engaged events), the same for every row
//   11, 12      closeness in the list to the last engaged item, and whether the row comes after it
//
// `columns` holds unit vectors (n_similar snapshots, then the centroid), so a cosine is
// dot(x, column) / |x|.

struct Session {
    rows: u32,
    item_dim: u32,
    n_similar: u32,
    has_centroid: u32,
    n_items: u32,
    // 0xffffffff: no last engaged item in this list.
    last_row: u32,
    has_price: u32,
    log_mean_price: f32,
    engaged: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

struct Item {
    row: u32,
    engagement: f32,
    recency: f32,
    impressions: f32,
    skips: f32,
}

const S: u32 = 13u;
const NO_ROW: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> session: Session;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> log_prices: array<f32>;
@group(0) @binding(3) var<storage, read> columns: array<f32>;
@group(0) @binding(4) var<storage, read> own_rows: array<u32>;
@group(0) @binding(5) var<storage, read> items: array<Item>;
@group(0) @binding(6) var<storage, read_write> s: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let r = id.x;
    if (r >= session.rows) {
        return;
    }
    let d = session.item_dim;
    let xr = r * d;
    let out = r * S;
    for (var k = 0u; k < S; k++) {
        s[out + k] = 0.0;
    }

    // Per-item counts: the last item in `items` whose row is ≤ r, if its row is r.
    var lo = 0u;
    var hi = session.n_items;
    while (lo < hi) {
        let mid = (lo + hi) / 2u;
        if (items[mid].row <= r) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    if (lo > 0u && items[lo - 1u].row == r) {
        let it = items[lo - 1u];
        s[out + 0u] = it.engagement;
        s[out + 1u] = it.recency;
        s[out + 3u] = it.impressions;
        s[out + 4u] = it.skips;
    }
    if (r == session.last_row) {
        s[out + 2u] = 1.0;
    }

    // Similarities.
    var sq = 0.0;
    for (var k = 0u; k < d; k++) {
        sq += x[xr + k] * x[xr + k];
    }
    let norm = sqrt(sq);
    if (norm > 0.0) {
        var best = 0.0;
        for (var j = 0u; j < session.n_similar; j++) {
            if (own_rows[j] != r) {
                var dot = 0.0;
                for (var k = 0u; k < d; k++) {
                    dot += x[xr + k] * columns[j * d + k];
                }
                best = max(best, dot / norm);
            }
        }
        s[out + 5u] = best;
        if (session.has_centroid != 0u) {
            var dot = 0.0;
            let c = session.n_similar * d;
            for (var k = 0u; k < d; k++) {
                dot += x[xr + k] * columns[c + k];
            }
            s[out + 6u] = dot / norm;
        }
    }

    if (session.has_price != 0u) {
        let rel = clamp(log_prices[r] - session.log_mean_price, -3.0, 3.0);
        s[out + 7u] = rel;
        s[out + 8u] = abs(rel);
        s[out + 9u] = 1.0;
    }
    s[out + 10u] = session.engaged;
    let last = session.last_row;
    if (last != NO_ROW && last != r) {
        s[out + 11u] = 1.0 / (1.0 + abs(f32(r) - f32(last)));
        s[out + 12u] = select(0.0, 1.0, r > last);
    }
}
