//! What each job dispatches on a [`Device`]: the session features, the scores, the inner loop's
//! backward pass and step, and adaptation followed by scoring, each one submission through
//! [`Device::submit`] that returns a [`Pending`] run; and [`Candidates`], a result set as the
//! kernels read it. How a device is
//! acquired, and how buffers and submissions work, is the parent module's.

use super::{bytes, Device, Failure, Pending, Run, Slot};
use crate::adapt::InnerLoop;
use crate::error::msg;
use crate::gpu::{workgroups, GradShape, LossShape, ScoreShape, SessionShape, StepShape};
use crate::params::Arch;
use crate::session::{SummaryTable, SupportSet, LIST_CONTEXT_DIM, SESSION_DIM};
use std::rc::Rc;
use web_sys::GpuComputePassEncoder;

impl Device {
    /// Uploads the item features (unless the device holds this set's already) and records the
    /// candidates' session features into the S slot: uploaded as they are, or computed by
    /// features.wgsl from the summary table. The X and S slots then hold them.
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn encode_session(&self, pass: &GpuComputePassEncoder, c: &Candidates) -> Run<()> {
        let n = c.base.len();
        self.upload_keyed(Slot::X, c.generation, bytes(c.x))?;
        match c.session {
            Session::Features(s) => self.upload(Slot::S, bytes(s)),
            Session::Table { table, list, priced } => {
                let shape = SessionShape::new(table, n, c.item_dim, priced);
                self.upload(Slot::SessionUniform, &shape.to_bytes())?;
                self.upload_keyed(Slot::ListContext, c.generation, bytes(list))?;
                self.upload(Slot::Columns, bytes(&table.columns))?;
                self.upload(Slot::OwnRows, &crate::gpu::u32_bytes(&table.own_rows))?;
                self.upload(Slot::Items, &crate::gpu::item_bytes(table))?;
                self.buffer(Slot::S, n * SESSION_DIM * 4)?;
                use Slot::*;
                self.dispatch(
                    pass,
                    &self.features,
                    &[SessionUniform, X, ListContext, Columns, OwnRows, Items, S],
                    workgroups(n),
                );
                Ok(())
            }
        }
    }

    /// Records the scoring of the candidates with the θ in the Theta slot and the shape in the
    /// ScoreUniform slot (their session features first, then one score dispatch) into the Scores
    /// slot.
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn encode_score(&self, pass: &GpuComputePassEncoder, c: &Candidates) -> Run<()> {
        let n = c.base.len();
        self.encode_session(pass, c)?;
        self.upload_keyed(Slot::Base, c.generation, bytes(c.base))?;
        self.buffer(Slot::Scores, n * 4)?;
        // The candidates' hidden layer is not kept: a 4-byte placeholder for the binding.
        self.buffer(Slot::Hidden, 4)?;
        use Slot::*;
        self.dispatch(pass, &self.score, &[ScoreUniform, Theta, X, S, Base, Scores, Hidden], workgroups(n));
        Ok(())
    }

    /// The candidates' session features as the device computes them (features.wgsl, or the
    /// uploaded ones): `n × S`. For tests.
    #[cfg_attr(fewclick_ship, optimize(size))]
    pub fn session_features(self: &Rc<Self>, arch: &Arch, c: &Candidates<'_>) -> Run<Pending> {
        let n = c.check(arch)?;
        self.submit(|enc| {
            if n == 0 {
                return Ok(Vec::new());
            }
            let pass = enc.begin_compute_pass();
            let s = self.encode_session(&pass, c);
            pass.end();
            s.map(|()| vec![(Slot::S, n * SESSION_DIM)])
        })
    }

    /// Scores the candidates with `theta`. The CPU twin is [`crate::scorer::score_candidates`].
    #[cfg_attr(fewclick_ship, optimize(size))]
    pub fn score(self: &Rc<Self>, arch: &Arch, theta: &[f32], c: &Candidates<'_>) -> Run<Pending> {
        let n = c.check(arch)?;
        self.submit(|enc| {
            if n == 0 {
                return Ok(Vec::new());
            }
            self.upload(Slot::ScoreUniform, &ScoreShape::candidates(arch, n).to_bytes())?;
            self.upload(Slot::Theta, bytes(theta))?;
            let pass = enc.begin_compute_pass();
            let scores = self.encode_score(&pass, c);
            pass.end();
            scores.map(|()| vec![(Slot::Scores, n)])
        })
    }

    /// `∂L/∂θ` of support rows `[x | s]` given `dscore = ∂L/∂score` per row; parameters before
    /// `first` get 0. The CPU twin is [`crate::scorer::backward_rows`].
    #[cfg_attr(fewclick_ship, optimize(size))]
    pub fn backward(
        self: &Rc<Self>,
        arch: &Arch,
        theta: &[f32],
        inputs: &[f32],
        base: &[f32],
        dscore: &[f32],
        first: usize,
    ) -> Run<Pending> {
        let rows = base.len();
        self.submit(|enc| {
            self.upload(Slot::SupportUniform, &ScoreShape::support(arch, rows).to_bytes())?;
            self.upload(Slot::GradUniform, &GradShape::new(arch, rows, first).to_bytes())?;
            self.upload(Slot::Theta, bytes(theta))?;
            self.upload(Slot::Inputs, bytes(inputs))?;
            self.upload(Slot::SupportBase, bytes(base))?;
            self.upload(Slot::DScore, bytes(dscore))?;
            self.buffer(Slot::SupportScores, rows * 4)?;
            self.buffer(Slot::Hidden, rows * arch.hidden * 4)?;
            self.buffer(Slot::Grad, arch.n_params() * 4)?;
            let pass = enc.begin_compute_pass();
            self.dispatch(&pass, &self.score, &FORWARD, workgroups(rows));
            self.dispatch(&pass, &self.grad, &BACKWARD, workgroups(arch.n_params()));
            pass.end();
            Ok(vec![(Slot::Grad, arch.n_params())])
        })
    }

    /// One inner-loop step from `theta` with gradient `grad` (update.wgsl alone).
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(fewclick_ship, optimize(size))]
    pub fn step(
        self: &Rc<Self>,
        arch: &Arch,
        theta: &[f32],
        theta0: &[f32],
        alpha: &[f32],
        grad: &[f32],
        first: usize,
        prox: f32,
        clip: f32,
    ) -> Run<Pending> {
        self.submit(|enc| {
            self.upload(Slot::StepUniform, &StepShape::new(arch, first, prox, clip).to_bytes())?;
            self.upload(Slot::Theta, bytes(theta))?;
            self.upload(Slot::Theta0, bytes(theta0))?;
            self.upload(Slot::Alpha, bytes(alpha))?;
            self.upload(Slot::Grad, bytes(grad))?;
            let pass = enc.begin_compute_pass();
            self.dispatch(&pass, &self.update, &UPDATE, 1);
            pass.end();
            Ok(vec![(Slot::Theta, arch.n_params())])
        })
    }

    /// Uploads θ0 (into the θ and θ0 slots) and, when `adapt` is given, records its inner loop:
    /// `inner.steps` × (score → loss_grad → grad → update) over the support set, updating the θ
    /// slot's buffer in place.
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn encode_adapt(
        &self,
        pass: &GpuComputePassEncoder,
        arch: &Arch,
        theta0: &[f32],
        alpha: &[f32],
        adapt: Option<(&SupportSet, &InnerLoop)>,
    ) -> Run<()> {
        self.upload(Slot::Theta, bytes(theta0))?;
        let Some((set, inner)) = adapt else { return Ok(()) };
        let rows = set.n_rows();
        let first = inner.scope.trainable_from(arch);
        self.upload(Slot::SupportUniform, &ScoreShape::support(arch, rows).to_bytes())?;
        self.upload(Slot::LossUniform, &LossShape::new(set, inner.loss).to_bytes())?;
        self.upload(Slot::GradUniform, &GradShape::new(arch, rows, first).to_bytes())?;
        self.upload(Slot::StepUniform, &StepShape::new(arch, first, inner.prox, inner.clip).to_bytes())?;
        self.upload(Slot::Theta0, bytes(theta0))?;
        self.upload(Slot::Alpha, bytes(alpha))?;
        self.upload(Slot::Inputs, bytes(&set.inputs))?;
        self.upload(Slot::SupportBase, bytes(&set.base))?;
        self.upload(Slot::Pairs, &crate::gpu::pair_bytes(set))?;
        self.upload(Slot::Groups, &crate::gpu::group_bytes(set))?;
        self.buffer(Slot::SupportScores, rows * 4)?;
        self.buffer(Slot::Hidden, rows * arch.hidden * 4)?;
        self.buffer(Slot::DScore, rows * 4)?;
        self.buffer(Slot::Grad, arch.n_params() * 4)?;
        use Slot::*;
        for _ in 0..inner.steps {
            self.dispatch(pass, &self.score, &FORWARD, workgroups(rows));
            self.dispatch(pass, &self.loss, &[LossUniform, SupportScores, Pairs, Groups, DScore], workgroups(rows));
            self.dispatch(pass, &self.grad, &BACKWARD, workgroups(arch.n_params()));
            self.dispatch(pass, &self.update, &UPDATE, 1);
        }
        Ok(())
    }

    /// The whole inner loop of [`crate::adapt::adapt`] over a support set, `inner.steps` steps
    /// of score → loss_grad → grad → update in one submission; returns the adapted θ.
    #[cfg_attr(fewclick_ship, optimize(size))]
    pub fn adapt(
        self: &Rc<Self>,
        arch: &Arch,
        theta0: &[f32],
        alpha: &[f32],
        set: &SupportSet,
        inner: &InnerLoop,
    ) -> Run<Pending> {
        self.submit(|enc| {
            let pass = enc.begin_compute_pass();
            let adapted = self.encode_adapt(&pass, arch, theta0, alpha, Some((set, inner)));
            pass.end();
            adapted.map(|()| vec![(Slot::Theta, arch.n_params())])
        })
    }

    /// What a rank needs, in one submission and one readback: the inner loop (when `adapt` is
    /// given) from `theta`, then the candidates scored with the resulting θ. The run reads back
    /// the `n` scores (display order) and then the θ they were scored with: [`split_scores`]
    /// parts them.
    #[cfg_attr(fewclick_ship, optimize(size))]
    pub fn adapt_and_score(
        self: &Rc<Self>,
        arch: &Arch,
        theta: &[f32],
        alpha: &[f32],
        adapt: Option<(&SupportSet, &InnerLoop)>,
        c: &Candidates<'_>,
    ) -> Run<Pending> {
        let n = c.check(arch)?;
        let p = arch.n_params();
        self.submit(|enc| {
            self.upload(Slot::ScoreUniform, &ScoreShape::candidates(arch, n).to_bytes())?;
            let pass = enc.begin_compute_pass();
            let encoded =
                self.encode_adapt(&pass, arch, theta, alpha, adapt).and_then(|()| self.encode_score(&pass, c));
            pass.end();
            encoded?;
            Ok(if n == 0 { vec![(Slot::Theta, p)] } else { vec![(Slot::Scores, n), (Slot::Theta, p)] })
        })
    }
}

/// The score kernel over the support rows (their inputs bound as both x and s: `[x | s]` rows),
/// keeping the hidden layer for the gradient.
const FORWARD: [Slot; 7] = [
    Slot::SupportUniform,
    Slot::Theta,
    Slot::Inputs,
    Slot::Inputs,
    Slot::SupportBase,
    Slot::SupportScores,
    Slot::Hidden,
];
/// The gradient kernel over the support rows.
const BACKWARD: [Slot; 7] =
    [Slot::GradUniform, Slot::Theta, Slot::Inputs, Slot::SupportBase, Slot::Hidden, Slot::DScore, Slot::Grad];
/// The update kernel: θ in place.
const UPDATE: [Slot; 5] = [Slot::StepUniform, Slot::Theta, Slot::Theta0, Slot::Alpha, Slot::Grad];

/// [`Device::adapt_and_score`]'s readback for `n` candidates, parted: the scores and θ.
#[cfg_attr(fewclick_ship, optimize(size))]
pub fn split_scores(mut out: Vec<f32>, n: usize) -> (Vec<f32>, Vec<f32>) {
    let theta = out.split_off(n.min(out.len()));
    (out, theta)
}

/// A result set as the score kernel reads it.
pub struct Candidates<'a> {
    /// Item features, `n × item_dim`.
    pub x: &'a [f32],
    pub item_dim: usize,
    /// Host base scores, `n`.
    pub base: &'a [f32],
    /// The session features, or what the device computes them from.
    pub session: Session<'a>,
    /// The set's [`crate::session::ResultSet::generation`]: `x`, `base` and the list context are
    /// uploaded only when it differs from the last upload's (`None`: always uploaded).
    pub generation: Option<u64>,
}

/// The candidates' session features for the device.
#[derive(Clone, Copy)]
pub enum Session<'a> {
    /// Computed already: `n × S`, uploaded as they are.
    Features(&'a [f32]),
    /// Computed on the device by features.wgsl from the summary table and the set's list
    /// context ([`crate::session::ResultSet::list_context`], `n × LIST_CONTEXT_DIM`; `priced`:
    /// the set has prices).
    Table { table: &'a SummaryTable, list: &'a [f32], priced: bool },
}

impl Candidates<'_> {
    /// The number of candidates, after checking the slices agree (a mismatch is a bug in the
    /// caller, reported rather than read out of bounds on the device).
    #[cfg_attr(fewclick_ship, optimize(size))]
    fn check(&self, arch: &Arch) -> Run<usize> {
        let n = self.base.len();
        let session_ok = match self.session {
            Session::Features(s) => s.len() == n * SESSION_DIM,
            Session::Table { table, list, priced } => {
                let cols = table.n_similar() + table.has_centroid as usize;
                table.columns.len() == cols * self.item_dim
                    && list.len() == n * LIST_CONTEXT_DIM
                    && (priced || table.log_mean_price.is_none())
                    && table.items.iter().all(|(row, _)| (*row as usize) < n)
            }
        };
        if self.item_dim != arch.item_dim || self.x.len() != n * arch.item_dim || !session_ok {
            return Err(Failure::Broken(msg!(
                "internal: ",
                n,
                " candidates with ",
                self.x.len(),
                " item features (item_dim ",
                self.item_dim,
                ") and session input that does not fit"
            )));
        }
        Ok(n)
    }
}
