// ∂L/∂score for every support row (src/loss.rs); one invocation per row.
//
// Each row gathers the terms of the pairs or listwise groups it belongs to, so every value is
// written by exactly one invocation and no atomics are needed. Support sets are small (a few
// hundred rows and pairs at most), so each invocation simply scans them all.
//
//   pairwise:  L = Σ w·softplus(−m) / Σw,  m = s⁺ − s⁻      ∂L/∂s⁺ = −w·σ(−m)/Σw = −∂L/∂s⁻
//   listwise:  L = Σ w·(logsumexp(group) − s⁺) / Σw          ∂L/∂s_r = w/Σw · (softmax_r − [r = pos])
//
// total_weight (Σw over the pairs, or over the groups with negatives) comes from the CPU; with
// total_weight ≤ 0 there is nothing to learn and every gradient is 0, as on the CPU.

struct Loss {
    rows: u32,
    n_pairs: u32,
    n_groups: u32,
    listwise: u32,
    total_weight: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

struct Pair {
    pos: u32,
    neg: u32,
    weight: f32,
}

// The positive row, and the negatives neg_start..neg_end.
struct Group {
    pos: u32,
    neg_start: u32,
    neg_end: u32,
    weight: f32,
}

@group(0) @binding(0) var<uniform> loss: Loss;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read> pairs: array<Pair>;
@group(0) @binding(3) var<storage, read> groups: array<Group>;
@group(0) @binding(4) var<storage, read_write> dscore: array<f32>;

// σ(t) without overflow, as src/loss.rs computes it.
fn sigmoid(t: f32) -> f32 {
    if (t >= 0.0) {
        return 1.0 / (1.0 + exp(-t));
    }
    let e = exp(t);
    return e / (1.0 + e);
}

fn pairwise(r: u32) -> f32 {
    var g = 0.0;
    for (var p = 0u; p < loss.n_pairs; p++) {
        let pair = pairs[p];
        if (pair.pos != r && pair.neg != r) {
            continue;
        }
        let m = scores[pair.pos] - scores[pair.neg];
        let d = -pair.weight * sigmoid(-m) / loss.total_weight;
        if (pair.pos == r) {
            g += d;
        }
        if (pair.neg == r) {
            g -= d;
        }
    }
    return g;
}

fn listwise(r: u32) -> f32 {
    var g = 0.0;
    for (var q = 0u; q < loss.n_groups; q++) {
        let group = groups[q];
        let member = r == group.pos || (r >= group.neg_start && r < group.neg_end);
        if (group.neg_start >= group.neg_end || !member) {
            continue;
        }
        var top = scores[group.pos];
        for (var i = group.neg_start; i < group.neg_end; i++) {
            top = max(top, scores[i]);
        }
        var sum = exp(scores[group.pos] - top);
        for (var i = group.neg_start; i < group.neg_end; i++) {
            sum += exp(scores[i] - top);
        }
        let lse = top + log(sum);
        let scale = group.weight / loss.total_weight;
        // A row that is both positive and negative counts twice, as on the CPU.
        if (r == group.pos) {
            g += scale * exp(scores[r] - lse) - scale;
        }
        if (r >= group.neg_start && r < group.neg_end) {
            g += scale * exp(scores[r] - lse);
        }
    }
    return g;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let r = id.x;
    if (r >= loss.rows) {
        return;
    }
    var g = 0.0;
    if (loss.total_weight > 0.0) {
        if (loss.listwise != 0u) {
            g = listwise(r);
        } else {
            g = pairwise(r);
        }
    }
    dscore[r] = g;
}
