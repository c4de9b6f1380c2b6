//! The WebGPU backend: WGSL compute kernels, one per file in `shaders/`, and what the host side
//! needs to drive them.
//!
//! | kernel            | one invocation per | computes                                             |
//! |-------------------|--------------------|------------------------------------------------------|
//! | `features.wgsl`   | row                | the session features, from the flattened summary     |
//! | `score.wgsl`      | row                | the scorer's forward pass (body and head)            |
//! | `loss_grad.wgsl`  | support row        | `∂L/∂score` of the pairwise or listwise loss         |
//! | `grad.wgsl`       | parameter          | `∂L/∂θ` from `∂L/∂score` (sums over the rows)        |
//! | `update.wgsl`     | (one workgroup)    | proximal term, gradient clipping, `θ −= α ⊙ g`       |
//!
//! A rank is one submission: the inner loop, `score` (support rows, keeping the hidden
//! pre-activations) → `loss_grad` → `grad` → `update`, `k` times; then `features` and `score`
//! over the candidates.
//!
//! This module is visible natively on purpose: the uniform structs below are the `#[repr(C)]`
//! mirrors of the WGSL ones, and `tests/gpu_shaders.rs` validates every shader with naga and
//! checks each mirror's size and field offsets against it. The web-sys orchestration
//! ([`device`]) exists only on wasm32 built with `--cfg=web_sys_unstable_apis`; [`select`] (which
//! backend runs a call) is plain Rust, tested natively.
#![allow(unexpected_cfgs)] // web_sys_unstable_apis comes from RUSTFLAGS (web-sys's WebGPU needs it)

use crate::loss::LossKind;
use crate::params::{Arch, Block};
use crate::session::{SummaryTable, SupportSet, NO_ROW, SESSION_DIM};

pub mod select;

#[cfg(all(target_arch = "wasm32", web_sys_unstable_apis))]
pub mod device;
pub mod wgsl_min;

/// A kernel: its file as written (prose comments and all) and the text the wasm build embeds and
/// compiles, the same code minified by build.rs ([`wgsl_min::minify`]: no comments, layout or
/// long names, so the page does not download the prose). tests/gpu_shaders.rs validates both.
pub struct Kernel {
    pub file: &'static str,
    pub source: &'static str,
    pub shipped: &'static str,
}

macro_rules! kernel {
    ($file:literal) => {{
        Kernel {
            file: $file,
            source: include_str!(concat!("shaders/", $file)),
            shipped: include_str!(concat!(env!("OUT_DIR"), "/", $file)),
        }
    }};
}

pub const FEATURES: Kernel = kernel!("features.wgsl");
pub const SCORE: Kernel = kernel!("score.wgsl");
pub const LOSS_GRAD: Kernel = kernel!("loss_grad.wgsl");
pub const GRAD: Kernel = kernel!("grad.wgsl");
pub const UPDATE: Kernel = kernel!("update.wgsl");
pub const KERNELS: [Kernel; 5] = [FEATURES, SCORE, LOSS_GRAD, GRAD, UPDATE];

/// `@workgroup_size` of the per-row and per-parameter kernels (features, score, loss_grad, grad).
pub const WORKGROUP: u32 = 64;
/// `@workgroup_size` of update.wgsl, which runs as a single workgroup.
pub const UPDATE_WORKGROUP: u32 = 256;

/// Declares a uniform mirror: a `#[repr(C)]` struct of 4-byte scalars, its field names with their
/// byte offsets (for the layout test) and its bytes as WebGPU reads them (little-endian).
macro_rules! uniform {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            /// Field names and byte offsets, in declaration order.
            pub const FIELDS: &'static [(&'static str, usize)] =
                &[$((stringify!($field), core::mem::offset_of!($name, $field)),)*];

            /// The uniform buffer's contents: the fields' words, through one out-of-line
            /// conversion (field by field, the bytes were 4.5 KB of the gpu build's code).
            pub fn to_bytes(&self) -> Vec<u8> {
                u32_bytes(&[$(Word::word(self.$field)),*])
            }
        }
    };
}

uniform! {
    /// `Session` of features.wgsl.
    SessionShape {
        rows: u32,
        item_dim: u32,
        n_similar: u32,
        has_centroid: u32,
        n_items: u32,
        /// [`NO_ROW`]: no last engaged item in this list.
        last_row: u32,
        /// 1 when the engaged items' mean log price is known and the list has prices.
        has_price: u32,
        log_mean_price: f32,
        engaged: f32,
        /// 1 when the list has prices (features 14–17).
        list_priced: u32,
        /// [`NO_ROW`]: no engagement in the previous list.
        prev_row: u32,
        same_list: f32,
        since_last: f32,
        since_first: f32,
        kind_click: f32,
        kind_cart: f32,
        kind_other: f32,
        /// [`NO_ROW`]: the last event's item is not in this list.
        last_event_row: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

uniform! {
    /// `Shape` of score.wgsl.
    ScoreShape {
        rows: u32,
        item_dim: u32,
        session_dim: u32,
        hidden: u32,
        /// Floats between the starts of two rows of `x`.
        x_stride: u32,
        s_stride: u32,
        /// Index of row 0's first session feature in the `s` buffer.
        s_offset: u32,
        /// 1: also store the hidden pre-activations (for the gradient kernel).
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
}

uniform! {
    /// `Loss` of loss_grad.wgsl.
    LossShape {
        rows: u32,
        n_pairs: u32,
        n_groups: u32,
        /// 0: pairwise, 1: listwise.
        listwise: u32,
        /// Σ of the weights the loss divides by (computed here, as src/loss.rs does).
        total_weight: f32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

uniform! {
    /// `Backward` of grad.wgsl.
    GradShape {
        rows: u32,
        /// `d + S`: the stride of a support row.
        width: u32,
        hidden: u32,
        /// First trainable parameter.
        first: u32,
        /// Number of parameters.
        count: u32,
        b1: u32,
        w2: u32,
        /// Start of `[v | u]`.
        lin: u32,
        c: u32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

uniform! {
    /// `Step` of update.wgsl.
    StepShape {
        count: u32,
        first: u32,
        prox: f32,
        clip: f32,
    }
}

fn start(arch: &Arch, b: Block) -> u32 {
    arch.range(b).start as u32
}

impl ScoreShape {
    /// Candidates of a result set: `x` is `rows × d`, `s` is `rows × S`, in two buffers.
    pub fn candidates(arch: &Arch, rows: usize) -> Self {
        ScoreShape { x_stride: arch.item_dim as u32, s_stride: SESSION_DIM as u32, ..Self::blocks(arch, rows) }
    }

    /// Support rows `[x | s]` of one buffer (bound as both `x` and `s`), keeping the hidden
    /// pre-activations for the gradient kernel.
    pub fn support(arch: &Arch, rows: usize) -> Self {
        let width = (arch.item_dim + SESSION_DIM) as u32;
        ScoreShape {
            x_stride: width,
            s_stride: width,
            s_offset: arch.item_dim as u32,
            keep_hidden: 1,
            ..Self::blocks(arch, rows)
        }
    }

    fn blocks(arch: &Arch, rows: usize) -> Self {
        ScoreShape {
            rows: rows as u32,
            item_dim: arch.item_dim as u32,
            session_dim: SESSION_DIM as u32,
            hidden: arch.hidden as u32,
            wx: start(arch, Block::Wx),
            ws: start(arch, Block::Ws),
            b1: start(arch, Block::B1),
            w2: start(arch, Block::W2),
            v: start(arch, Block::V),
            u: start(arch, Block::U),
            c: start(arch, Block::C),
            ..Self::default()
        }
    }
}

impl SessionShape {
    pub fn new(t: &SummaryTable, rows: usize, item_dim: usize, list_priced: bool) -> Self {
        SessionShape {
            rows: rows as u32,
            item_dim: item_dim as u32,
            n_similar: t.n_similar() as u32,
            has_centroid: t.has_centroid as u32,
            n_items: t.items.len() as u32,
            last_row: t.last_row,
            has_price: (t.log_mean_price.is_some() && list_priced) as u32,
            log_mean_price: t.log_mean_price.unwrap_or(0.0),
            engaged: t.engaged,
            list_priced: list_priced as u32,
            prev_row: t.prev_row,
            same_list: t.same_list,
            since_last: t.since_last,
            since_first: t.since_first,
            kind_click: t.last_kind[0],
            kind_cart: t.last_kind[1],
            kind_other: t.last_kind[2],
            last_event_row: t.last_event_row,
            ..Self::default()
        }
    }
}

/// `NO_ROW` of features.wgsl.
const _: () = assert!(NO_ROW == 0xffff_ffff);

/// A uniform's 4-byte scalar as the word WebGPU reads.
trait Word {
    fn word(self) -> u32;
}
impl Word for u32 {
    fn word(self) -> u32 {
        self
    }
}
impl Word for f32 {
    fn word(self) -> u32 {
        self.to_bits()
    }
}

/// The logged items as features.wgsl's `array<Item>` (24 bytes each: row, then features 0, 1, 3,
/// 4 and 23).
pub fn item_bytes(t: &SummaryTable) -> Vec<u8> {
    let mut out = Vec::with_capacity(t.items.len() * 24);
    for (row, counts) in &t.items {
        out.extend_from_slice(&row.to_le_bytes());
        for v in counts {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// Words as WebGPU reads them (little-endian): own rows as features.wgsl's `array<u32>`, and
/// the uniforms.
pub fn u32_bytes(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

impl LossShape {
    pub fn new(set: &SupportSet, loss: LossKind) -> Self {
        let (listwise, total_weight) = match loss {
            LossKind::Pairwise => (0, set.pairs.iter().map(|p| p.2).sum()),
            LossKind::Listwise => (1, set.groups.iter().filter(|g| !g.negs.is_empty()).map(|g| g.weight).sum()),
        };
        LossShape {
            rows: set.n_rows() as u32,
            n_pairs: set.pairs.len() as u32,
            n_groups: set.groups.len() as u32,
            listwise,
            total_weight,
            ..Self::default()
        }
    }
}

impl GradShape {
    /// The gradient of `rows` support rows; parameters before `first` get 0.
    pub fn new(arch: &Arch, rows: usize, first: usize) -> Self {
        // grad.wgsl finds a weight's (k, j) as (p / H, p % H): `[Wx; Ws]` must open the buffer, and
        // `[v | u]` must be contiguous, as src/params.rs lays them out.
        debug_assert_eq!(arch.range(Block::Wx).start, 0);
        debug_assert_eq!(arch.range(Block::V).end, arch.range(Block::U).start);
        GradShape {
            rows: rows as u32,
            width: (arch.item_dim + SESSION_DIM) as u32,
            hidden: arch.hidden as u32,
            first: first as u32,
            count: arch.n_params() as u32,
            b1: start(arch, Block::B1),
            w2: start(arch, Block::W2),
            lin: start(arch, Block::V),
            c: start(arch, Block::C),
            ..Self::default()
        }
    }
}

impl StepShape {
    pub fn new(arch: &Arch, first: usize, prox: f32, clip: f32) -> Self {
        StepShape { count: arch.n_params() as u32, first: first as u32, prox, clip }
    }
}

/// Pairs as loss_grad.wgsl's `array<Pair>` (12 bytes each: pos, neg, weight).
pub fn pair_bytes(set: &SupportSet) -> Vec<u8> {
    let mut out = Vec::with_capacity(set.pairs.len() * 12);
    for &(pos, neg, w) in &set.pairs {
        out.extend_from_slice(&pos.to_le_bytes());
        out.extend_from_slice(&neg.to_le_bytes());
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

/// Groups as loss_grad.wgsl's `array<Group>` (16 bytes each: pos, neg_start, neg_end, weight).
pub fn group_bytes(set: &SupportSet) -> Vec<u8> {
    let mut out = Vec::with_capacity(set.groups.len() * 16);
    for g in &set.groups {
        for v in [g.pos, g.negs.start, g.negs.end] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&g.weight.to_le_bytes());
    }
    out
}

/// Workgroups for `items` invocations of [`WORKGROUP`] each.
pub fn workgroups(items: usize) -> u32 {
    items.div_ceil(WORKGROUP as usize).max(1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_name_the_blocks_of_params_rs() {
        let arch = Arch::new(7, 12).unwrap();
        let s = ScoreShape::support(&arch, 5);
        assert_eq!(
            (s.x_stride, s.s_stride, s.s_offset, s.keep_hidden),
            ((7 + SESSION_DIM) as u32, (7 + SESSION_DIM) as u32, 7, 1)
        );
        assert_eq!(s.c as usize, arch.n_params() - 1);
        let c = ScoreShape::candidates(&arch, 5);
        assert_eq!((c.x_stride, c.s_stride, c.s_offset, c.keep_hidden), (7, SESSION_DIM as u32, 0, 0));
        let g = GradShape::new(&arch, 5, arch.head_start());
        assert_eq!(
            (g.first, g.count, g.w2),
            (arch.head_start() as u32, arch.n_params() as u32, arch.head_start() as u32)
        );
        assert_eq!(ScoreShape::default().to_bytes().len(), core::mem::size_of::<ScoreShape>());
        assert_eq!(StepShape::new(&arch, 0, 0.5, 2.0).to_bytes()[8..12], 0.5f32.to_le_bytes());
    }

    #[test]
    fn shipped_kernels_are_the_minified_code() {
        for k in KERNELS {
            assert_eq!(k.shipped, wgsl_min::minify(k.source), "{}", k.file);
            assert!(k.shipped.len() < k.source.len() / 2, "{}: prose and layout gone", k.file);
            assert!(!k.shipped.contains("//") && !k.shipped.contains('\n'), "{}", k.file);
        }
    }

    #[test]
    fn workgroups_cover_every_item() {
        assert_eq!(workgroups(0), 1);
        assert_eq!(workgroups(1), 1);
        assert_eq!(workgroups(64), 1);
        assert_eq!(workgroups(65), 2);
        assert_eq!(workgroups(100_000), 1563);
    }
}
