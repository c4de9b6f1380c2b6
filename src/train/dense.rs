//! Where the layers of a dense network sit in one flat parameter buffer, and PyTorch's default
//! initialisation of them: layer by layer, each layer's weights (`n_out × n_in`, row-major, as
//! PyTorch's `nn.Linear` stores them) then its biases. The sinusoid MLP ([`super::sinusoid`]) and
//! the training benchmark's scorer ([`super::bench`]) share this layout.

use crate::rng::Rng;

/// One layer's place in the flat buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layer {
    pub n_in: usize,
    pub n_out: usize,
    /// First index of the weights; the biases follow at [`Layer::b`].
    pub w: usize,
}

impl Layer {
    pub fn b(&self) -> usize {
        self.w + self.n_in * self.n_out
    }
    pub fn weights<'a>(&self, theta: &'a [f32]) -> &'a [f32] {
        &theta[self.w..self.b()]
    }
    pub fn biases<'a>(&self, theta: &'a [f32]) -> &'a [f32] {
        &theta[self.b()..self.b() + self.n_out]
    }
}

/// The layers of a network of the given widths (`sizes[0]` inputs, …, `sizes[last]` outputs).
pub(crate) fn layers(sizes: &[usize]) -> Vec<Layer> {
    let mut off = 0;
    sizes
        .windows(2)
        .map(|w| {
            let l = Layer { n_in: w[0], n_out: w[1], w: off };
            off += w[0] * w[1] + w[1];
            l
        })
        .collect()
}

pub(crate) fn n_params(sizes: &[usize]) -> usize {
    sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
}

/// First index of the output layer: "the head" for ANIL (the last layer is a suffix of the buffer).
pub(crate) fn head_start(sizes: &[usize]) -> usize {
    layers(sizes).last().map_or(0, |l| l.w)
}

/// PyTorch's default initialisation of `nn.Linear`: weights and biases uniform in ±1/√fan_in
/// (kaiming_uniform with a = √5 gives exactly that bound for the weights), drawn layer by layer,
/// weights then biases.
pub(crate) fn init(sizes: &[usize], rng: &mut Rng) -> Vec<f32> {
    let mut theta = Vec::with_capacity(n_params(sizes));
    for w in sizes.windows(2) {
        let bound = 1.0 / (w[0] as f32).sqrt();
        theta.extend((0..w[0] * w[1] + w[1]).map(|_| rng.range(-bound, bound)));
    }
    theta
}
