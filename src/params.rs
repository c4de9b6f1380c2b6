//! The scorer's architecture and the layout of its parameters in one flat buffer.
//!
//! All parameters live in a single `Vec<f32>` so that Meta-SGD's per-parameter step sizes (`alpha`),
//! gradients and the proximal anchor line up index for index. [`Layout`] names the views.
//!
//! The scorer, for a candidate with item features `x` (d), session features `s` (S) and host base
//! score `b`:
//!
//! ```text
//! a     = Wxᵀ x + Wsᵀ s + b1          (H)   body
//! score = w2 · relu(a) + u · s + v · x + c · b   head
//! ```
//!
//! `Wx` is stored k-major (`wx[k * H + j]` is the weight from input `k` to hidden unit `j`) so the
//! batched kernels stream it with no horizontal reductions.

use crate::error::{msg, Error, Result};
use crate::session::SESSION_DIM;
use std::ops::Range;

/// Largest supported item-feature dimension and hidden width: bounds what a model file may claim.
pub const MAX_ITEM_DIM: usize = 1024;
pub const MAX_HIDDEN: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arch {
    pub item_dim: usize,
    pub hidden: usize,
}

/// The named blocks of the flat parameter buffer, in storage order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    Wx,
    Ws,
    B1,
    W2,
    V,
    U,
    C,
}

impl Block {
    /// Storage order. `Wx` then `Ws` form one `(d + S) × H` matrix over the input row `[x | s]`,
    /// and `V` then `U` one linear weight vector over the same row.
    pub const ALL: [Block; 7] = [Block::Wx, Block::Ws, Block::B1, Block::W2, Block::V, Block::U, Block::C];

    /// Whether the block belongs to the head (adapted in `head` scope).
    pub fn is_head(self) -> bool {
        matches!(self, Block::W2 | Block::U | Block::V | Block::C)
    }

    pub fn name(self) -> &'static str {
        match self {
            Block::Wx => "body.item_weights",
            Block::Ws => "body.session_weights",
            Block::B1 => "body.bias",
            Block::W2 => "head.hidden_weights",
            Block::U => "head.session_weights",
            Block::V => "head.item_weights",
            Block::C => "head.base_score_weight",
        }
    }
}

impl Arch {
    pub fn new(item_dim: usize, hidden: usize) -> Result<Self> {
        if item_dim == 0 || item_dim > MAX_ITEM_DIM {
            return Err(Error::config("item_dim", msg!("must be in 1..=", MAX_ITEM_DIM, ", got ", item_dim)));
        }
        if hidden == 0 || hidden > MAX_HIDDEN || !hidden.is_multiple_of(4) {
            return Err(Error::config("hidden", msg!("must be a multiple of 4 in 4..=", MAX_HIDDEN, ", got ", hidden)));
        }
        Ok(Arch { item_dim, hidden })
    }

    pub fn session_dim(&self) -> usize {
        SESSION_DIM
    }

    fn block_len(&self, b: Block) -> usize {
        let (d, s, h) = (self.item_dim, SESSION_DIM, self.hidden);
        match b {
            Block::Wx => d * h,
            Block::Ws => s * h,
            Block::B1 | Block::W2 => h,
            Block::U => s,
            Block::V => d,
            Block::C => 1,
        }
    }

    /// Index range of a block in the flat buffer.
    #[inline]
    pub fn range(&self, b: Block) -> Range<usize> {
        let mut start = 0;
        for blk in Block::ALL {
            let len = self.block_len(blk);
            if blk == b {
                return start..start + len;
            }
            start += len;
        }
        unreachable!("every block is in Block::ALL")
    }

    pub fn n_params(&self) -> usize {
        Block::ALL.iter().map(|&b| self.block_len(b)).sum()
    }

    /// First index of the head: all head blocks follow all body blocks.
    pub fn head_start(&self) -> usize {
        self.range(Block::W2).start
    }

    /// Random initialisation (He-scaled body, small head), with the base-score weight at 1 so the
    /// untrained model starts as the host's order.
    pub fn init(&self, rng: &mut crate::rng::Rng) -> Vec<f32> {
        let mut theta = vec![0.0; self.n_params()];
        let fan_in = (self.item_dim + SESSION_DIM) as f32;
        for b in [Block::Wx, Block::Ws] {
            for w in &mut theta[self.range(b)] {
                *w = rng.normal() * (2.0 / fan_in).sqrt();
            }
        }
        for w in &mut theta[self.range(Block::W2)] {
            *w = rng.normal() * (1.0 / self.hidden as f32).sqrt() * 0.1;
        }
        theta[self.range(Block::C).start] = 1.0;
        theta
    }
}

/// Borrowed, named views of a flat parameter buffer.
pub struct Params<'a> {
    /// `[Wx; Ws]`: `(d + S) × H`, k-major.
    pub w_in: &'a [f32],
    /// `[v | u]`: linear weights over `[x | s]`.
    pub lin: &'a [f32],
    pub wx: &'a [f32],
    pub ws: &'a [f32],
    pub b1: &'a [f32],
    pub w2: &'a [f32],
    pub u: &'a [f32],
    pub v: &'a [f32],
    pub c: f32,
}

impl<'a> Params<'a> {
    #[inline]
    pub fn view(arch: &Arch, theta: &'a [f32]) -> Self {
        debug_assert_eq!(theta.len(), arch.n_params());
        Params {
            w_in: &theta[arch.range(Block::Wx).start..arch.range(Block::Ws).end],
            lin: &theta[arch.range(Block::V).start..arch.range(Block::U).end],
            wx: &theta[arch.range(Block::Wx)],
            ws: &theta[arch.range(Block::Ws)],
            b1: &theta[arch.range(Block::B1)],
            w2: &theta[arch.range(Block::W2)],
            u: &theta[arch.range(Block::U)],
            v: &theta[arch.range(Block::V)],
            c: theta[arch.range(Block::C).start],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_tile_the_buffer_without_gaps() {
        let arch = Arch::new(7, 12).unwrap();
        let mut next = 0;
        for b in Block::ALL {
            let r = arch.range(b);
            assert_eq!(r.start, next, "{b:?} starts where the previous block ended");
            next = r.end;
        }
        assert_eq!(next, arch.n_params());
        assert!(Block::ALL.iter().all(|b| b.is_head() == (arch.range(*b).start >= arch.head_start())));
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(Arch::new(0, 8).is_err());
        assert!(Arch::new(4, 6).is_err());
        assert!(Arch::new(MAX_ITEM_DIM + 1, 8).is_err());
        assert!(Arch::new(4, MAX_HIDDEN + 4).is_err());
    }
}
