// The session features of every candidate (SESSION_DIM = 29 per row, the layout of
// src/session/features.rs); one invocation per row. The CPU twin is SummaryTable::features_into,
// and both read the same flattened summary (Summary::table) and the result set's list context
// (ResultSet::list_context: ln price, price rank, ln price vs the list's median and minimum), so
// the page uploads a few kilobytes per rank instead of n × 29 floats.
//
//   0, 1, 3, 4, 23  per-item values of the logged items: binary search of the row in `items`
//                   (sorted by row); 0 for items the shopper never touched
//   2               1 for the last engaged item
//   5               max cosine to the engaged items' snapshots (not the item's own), at least 0
//   6               cosine to the engaged items' weighted centroid
//   7, 8, 9         log price relative to the engaged items' mean (clamped to ±3), its size, and
//                   1 (only when both prices are known)
//   10              ln(1 + engaged events), the same for every row
//   11, 12, 18      closeness in the list to the last engaged item, whether the row comes after
//                   it, and the signed log offset to it
//   13              ln(1 + display row) / 3
//   14, 15, 16, 17  the list context's price rank, ratios to median and minimum, and 1 (priced
//                   lists only)
//   19, 20          same list as the previous one; signed log offset to the previous list's
//                   last engaged row
//   21, 22          log seconds since the last and the first event (the same for every row)
//   24, 25, 26      one-hot kind of the last event (the same for every row)
//   27, 28          its first two values again on the last event's item only
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
    list_priced: u32,
    // 0xffffffff: no engagement in the previous list.
    prev_row: u32,
    same_list: f32,
    since_last: f32,
    since_first: f32,
    kind_click: f32,
    kind_cart: f32,
    kind_other: f32,
    // 0xffffffff: the last event's item is not in this list.
    last_event_row: u32,
    _pad1: u32,
    _pad2: u32,
}

struct Item {
    row: u32,
    engagement: f32,
    recency: f32,
    impressions: f32,
    skips: f32,
    time_recency: f32,
}

const S: u32 = 29u;
const C: u32 = 4u;
const NO_ROW: u32 = 0xffffffffu;
const POSITION_SCALE: f32 = 3.0;

@group(0) @binding(0) var<uniform> session: Session;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> list: array<f32>;
@group(0) @binding(3) var<storage, read> columns: array<f32>;
@group(0) @binding(4) var<storage, read> own_rows: array<u32>;
@group(0) @binding(5) var<storage, read> items: array<Item>;
@group(0) @binding(6) var<storage, read_write> s: array<f32>;

fn signed_log_offset(i: u32, j: u32) -> f32 {
    let d = f32(i) - f32(j);
    return sign(d) * log(1.0 + abs(d)) / POSITION_SCALE;
}

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

    // Per-item values: the last item in `items` whose row is ≤ r, if its row is r.
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
        s[out + 23u] = it.time_recency;
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

    let ctx = r * C;
    if (session.has_price != 0u) {
        let rel = clamp(list[ctx] - session.log_mean_price, -3.0, 3.0);
        s[out + 7u] = rel;
        s[out + 8u] = abs(rel);
        s[out + 9u] = 1.0;
    }
    s[out + 10u] = session.engaged;
    let last = session.last_row;
    if (last != NO_ROW && last != r) {
        s[out + 11u] = 1.0 / (1.0 + abs(f32(r) - f32(last)));
        s[out + 12u] = select(0.0, 1.0, r > last);
        s[out + 18u] = signed_log_offset(r, last);
    }
    s[out + 13u] = log(1.0 + f32(r)) / POSITION_SCALE;
    if (session.list_priced != 0u) {
        s[out + 14u] = list[ctx + 1u];
        s[out + 15u] = list[ctx + 2u];
        s[out + 16u] = list[ctx + 3u];
        s[out + 17u] = 1.0;
    }
    s[out + 19u] = session.same_list;
    if (session.prev_row != NO_ROW) {
        s[out + 20u] = signed_log_offset(r, session.prev_row);
    }
    s[out + 21u] = session.since_last;
    s[out + 22u] = session.since_first;
    s[out + 24u] = session.kind_click;
    s[out + 25u] = session.kind_cart;
    s[out + 26u] = session.kind_other;
    if (r == session.last_event_row) {
        s[out + 27u] = session.kind_click;
        s[out + 28u] = session.kind_cart;
    }
}
