// Scores rows with the scorer of src/params.rs; one invocation per row.
//
//   z     = Wxᵀ x + Wsᵀ s + b1                 (H hidden units)
//   score = w2 · relu(z) + v · x + u · s + c · base
//
// θ is the flat parameter buffer of src/params.rs and `shape` says where each block starts, so
// this file never re-derives the layout. Wx and Ws are k-major (θ[wx + k·H + j]): the invocations
// of a workgroup all read the same weight at the same moment.
//
// The same kernel scores the candidates of a result set (x and s in two buffers) and the support
// rows of the inner loop ([x | s] rows of one buffer, bound as both x and s with s_offset = d and
// both strides d + S). With keep_hidden = 1 it also stores z for grad.wgsl.

struct Shape {
    rows: u32,
    item_dim: u32,
    session_dim: u32,
    hidden: u32,
    x_stride: u32,
    s_stride: u32,
    s_offset: u32,
    keep_hidden: u32,
    wx: u32,
    ws: u32,
    b1: u32,
    w2: u32,
    v: u32,
    u: u32,
    c: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> theta: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read> base: array<f32>;
@group(0) @binding(5) var<storage, read_write> scores: array<f32>;
// z = Wᵀ[x | s] + b1, rows × H; written only when shape.keep_hidden == 1.
@group(0) @binding(6) var<storage, read_write> hidden: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let r = id.x;
    if (r >= shape.rows) {
        return;
    }
    let xr = r * shape.x_stride;
    let sr = shape.s_offset + r * shape.s_stride;
    let h = shape.hidden;

    // The head's linear part: c · base + v · x + u · s.
    var score = theta[shape.c] * base[r];
    for (var k = 0u; k < shape.item_dim; k++) {
        score += theta[shape.v + k] * x[xr + k];
    }
    for (var k = 0u; k < shape.session_dim; k++) {
        score += theta[shape.u + k] * s[sr + k];
    }

    // The body, one hidden unit at a time, folded straight into the score.
    for (var j = 0u; j < h; j++) {
        var z = theta[shape.b1 + j];
        for (var k = 0u; k < shape.item_dim; k++) {
            z += x[xr + k] * theta[shape.wx + k * h + j];
        }
        for (var k = 0u; k < shape.session_dim; k++) {
            z += s[sr + k] * theta[shape.ws + k * h + j];
        }
        if (shape.keep_hidden != 0u) {
            hidden[r * h + j] = z;
        }
        score += max(z, 0.0) * theta[shape.w2 + j];
    }
    scores[r] = score;
}
