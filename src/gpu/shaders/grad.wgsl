// ∂L/∂θ from ∂L/∂score (src/scorer.rs, backward_rows); one invocation per parameter.
//
// Each invocation sums its own parameter's terms over the support rows, so the reduction over
// rows needs no atomics and every gradient is written once. The rows' pre-activations z (rows × H)
// come from score.wgsl run with keep_hidden = 1. With in = [x | s] and lin = [v | u]:
//
//   ∂L/∂W[k, j] = Σ_r g_r · w2_j · [z_rj > 0] · in_rk       (W = [Wx; Ws], k-major)
//   ∂L/∂b1[j]   = Σ_r g_r · w2_j · [z_rj > 0]
//   ∂L/∂w2[j]   = Σ_r g_r · relu(z_rj)
//   ∂L/∂lin[k]  = Σ_r g_r · in_rk
//   ∂L/∂c       = Σ_r g_r · base_r
//
// Parameters below `first` are not trainable (head scope) and get 0.

struct Backward {
    rows: u32,
    width: u32,
    hidden: u32,
    first: u32,
    count: u32,
    b1: u32,
    w2: u32,
    lin: u32,
    c: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> shape: Backward;
@group(0) @binding(1) var<storage, read> theta: array<f32>;
// Support rows [x | s], rows × width.
@group(0) @binding(2) var<storage, read> inputs: array<f32>;
@group(0) @binding(3) var<storage, read> base: array<f32>;
@group(0) @binding(4) var<storage, read> hidden: array<f32>;
@group(0) @binding(5) var<storage, read> dscore: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad: array<f32>;

// Σ_r g_r · w2_j · [z_rj > 0] · in_rk; k = width means "no input factor" (the bias).
fn through_relu(j: u32, k: u32) -> f32 {
    let h = shape.hidden;
    var sum = 0.0;
    for (var r = 0u; r < shape.rows; r++) {
        if (hidden[r * h + j] > 0.0) {
            var term = dscore[r];
            if (k < shape.width) {
                term *= inputs[r * shape.width + k];
            }
            sum += term;
        }
    }
    return sum * theta[shape.w2 + j];
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = id.x;
    if (p >= shape.count) {
        return;
    }
    let h = shape.hidden;
    var g = 0.0;
    if (p < shape.first) {
        g = 0.0;
    } else if (p < shape.b1) {
        g = through_relu(p % h, p / h);
    } else if (p < shape.w2) {
        g = through_relu(p - shape.b1, shape.width);
    } else if (p < shape.lin) {
        let j = p - shape.w2;
        for (var r = 0u; r < shape.rows; r++) {
            g += dscore[r] * max(hidden[r * h + j], 0.0);
        }
    } else if (p < shape.c) {
        let k = p - shape.lin;
        for (var r = 0u; r < shape.rows; r++) {
            g += dscore[r] * inputs[r * shape.width + k];
        }
    } else {
        for (var r = 0u; r < shape.rows; r++) {
            g += dscore[r] * base[r];
        }
    }
    grad[p] = g;
}
