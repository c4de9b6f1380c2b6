// One step of the inner loop (src/adapt.rs), in a single workgroup:
//
//   g  = ∂L/∂θ + λ (θ − θ0)              on the trainable range first..count
//   g *= min(1, clip / ‖g‖)              (0 when ‖g‖ is not finite)
//   θ −= α ⊙ g                           (Meta-SGD: one step size per parameter)
//
// The clip factor needs ‖g‖, a reduction over every trainable parameter, before any parameter may
// move; one workgroup therefore walks the range twice: first for Σg² (each invocation a strided
// partial sum, then a tree in workgroup memory), then for the step. θ is updated in place.

const WORKGROUP: u32 = 256u;

struct Step {
    count: u32,
    first: u32,
    prox: f32,
    clip: f32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read_write> theta: array<f32>;
@group(0) @binding(2) var<storage, read> theta0: array<f32>;
@group(0) @binding(3) var<storage, read> alpha: array<f32>;
@group(0) @binding(4) var<storage, read> grad: array<f32>;

var<workgroup> partial: array<f32, WORKGROUP>;

// The gradient with the proximal pull toward θ0.
fn g_at(i: u32) -> f32 {
    return grad[i] + step.prox * (theta[i] - theta0[i]);
}

// Not NaN and not ±∞ (an exponent of all ones), read from the bits: WGSL may assume finite math.
fn is_finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(local_invocation_index) t: u32) {
    var squares = 0.0;
    for (var i = step.first + t; i < step.count; i += WORKGROUP) {
        let g = g_at(i);
        squares += g * g;
    }
    partial[t] = squares;
    workgroupBarrier();
    for (var half = WORKGROUP / 2u; half > 0u; half /= 2u) {
        if (t < half) {
            partial[t] += partial[t + half];
        }
        workgroupBarrier();
    }
    let norm = sqrt(partial[0]);

    var scale = 1.0;
    if (!is_finite(norm)) {
        scale = 0.0;
    } else if (norm > step.clip) {
        scale = step.clip / norm;
    }
    for (var i = step.first + t; i < step.count; i += WORKGROUP) {
        theta[i] -= alpha[i] * scale * g_at(i);
    }
}
