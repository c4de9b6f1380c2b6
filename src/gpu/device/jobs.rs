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
use web_sys::{GpuBuffer, GpuComputePassEncoder};

impl Device {
    /// Uploads the item features (unless the device holds this set's already) and records the
    /// candidates' session features into the S slot: uploaded as they are, or computed by
    /// features.wgsl from the summary table. Returns the X and S buffers.
    fn encode_session(&self, pass: &GpuComputePassEncoder, c: &Candidates) -> Run<(GpuBuffer, GpuBuffer)> {
        let n = c.base.len();
        let x = self.upload_keyed(Slot::X, c.generation, bytes(c.x))?;
        match c.session {
            Session::Features(s) => Ok((x, self.upload(Slot::S, bytes(s))?)),
            Session::Table { table, list, priced } => {
                let shape = SessionShape::new(table, n, c.item_dim, priced);
                let uniform = self.upload(Slot::SessionUniform, &shape.to_bytes())?;
                let list = self.upload_keyed(Slot::ListContext, c.generation, bytes(list))?;
                let columns = self.upload(Slot::Columns, bytes(&table.columns))?;
                let own = self.upload(Slot::OwnRows, &crate::gpu::u32_bytes(&table.own_rows))?;
                let items = self.upload(Slot::Items, &crate::gpu::item_bytes(table))?;
                let s = self.buffer(Slot::S, n * SESSION_DIM * 4)?;
                self.dispatch(pass, &self.features, &[&uniform, &x, &list, &columns, &own, &items, &s], workgroups(n));
                Ok((x, s))
            }
        }
    }

    /// Records the scoring of the candidates with the θ in `theta` (their session features
    /// first, then one score dispatch) and returns the buffer of scores.
    fn encode_score(
        &self,
        pass: &GpuComputePassEncoder,
        theta: &GpuBuffer,
        c: &Candidates,
        shape: &GpuBuffer,
    ) -> Run<GpuBuffer> {
        let n = c.base.len();
        let (x, s) = self.encode_session(pass, c)?;
        let base = self.upload_keyed(Slot::Base, c.generation, bytes(c.base))?;
        let scores = self.buffer(Slot::Scores, n * 4)?;
        let unused_hidden = self.buffer(Slot::Hidden, 4)?;
        self.dispatch(pass, &self.score, &[shape, theta, &x, &s, &base, &scores, &unused_hidden], workgroups(n));
        Ok(scores)
    }

    /// The candidates' session features as the device computes them (features.wgsl, or the
    /// uploaded ones): `n × S`. For tests.
    pub fn session_features(self: &Rc<Self>, arch: &Arch, c: &Candidates<'_>) -> Run<Pending> {
        let n = c.check(arch)?;
        self.submit(|enc| {
            if n == 0 {
                return Ok(Vec::new());
            }
            let pass = enc.begin_compute_pass();
            let s = self.encode_session(&pass, c);
            pass.end();
            Ok(vec![(s?.1, n * SESSION_DIM)])
        })
    }

    /// Scores the candidates with `theta`. The CPU twin is [`crate::scorer::score_candidates`].
    pub fn score(self: &Rc<Self>, arch: &Arch, theta: &[f32], c: &Candidates<'_>) -> Run<Pending> {
        let n = c.check(arch)?;
        self.submit(|enc| {
            if n == 0 {
                return Ok(Vec::new());
            }
            let shape = self.upload(Slot::ScoreUniform, &ScoreShape::candidates(arch, n).to_bytes())?;
            let theta = self.upload(Slot::Theta, bytes(theta))?;
            let pass = enc.begin_compute_pass();
            let scores = self.encode_score(&pass, &theta, c, &shape);
            pass.end();
            Ok(vec![(scores?, n)])
        })
    }

    /// `∂L/∂θ` of support rows `[x | s]` given `dscore = ∂L/∂score` per row; parameters before
    /// `first` get 0. The CPU twin is [`crate::scorer::backward_rows`].
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
            let support = self.upload(Slot::SupportUniform, &ScoreShape::support(arch, rows).to_bytes())?;
            let grad_shape = self.upload(Slot::GradUniform, &GradShape::new(arch, rows, first).to_bytes())?;
            let theta = self.upload(Slot::Theta, bytes(theta))?;
            let inputs = self.upload(Slot::Inputs, bytes(inputs))?;
            let base = self.upload(Slot::SupportBase, bytes(base))?;
            let dscore = self.upload(Slot::DScore, bytes(dscore))?;
            let scores = self.buffer(Slot::SupportScores, rows * 4)?;
            let hidden = self.buffer(Slot::Hidden, rows * arch.hidden * 4)?;
            let grad = self.buffer(Slot::Grad, arch.n_params() * 4)?;
            let pass = enc.begin_compute_pass();
            let forward = [&support, &theta, &inputs, &inputs, &base, &scores, &hidden];
            self.dispatch(&pass, &self.score, &forward, workgroups(rows));
            let backward = [&grad_shape, &theta, &inputs, &base, &hidden, &dscore, &grad];
            self.dispatch(&pass, &self.grad, &backward, workgroups(arch.n_params()));
            pass.end();
            Ok(vec![(grad, arch.n_params())])
        })
    }

    /// One inner-loop step from `theta` with gradient `grad` (update.wgsl alone).
    #[allow(clippy::too_many_arguments)]
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
            let shape = self.upload(Slot::StepUniform, &StepShape::new(arch, first, prox, clip).to_bytes())?;
            let theta = self.upload(Slot::Theta, bytes(theta))?;
            let theta0 = self.upload(Slot::Theta0, bytes(theta0))?;
            let alpha = self.upload(Slot::Alpha, bytes(alpha))?;
            let grad = self.upload(Slot::Grad, bytes(grad))?;
            let pass = enc.begin_compute_pass();
            self.dispatch(&pass, &self.update, &[&shape, &theta, &theta0, &alpha, &grad], 1);
            pass.end();
            Ok(vec![(theta, arch.n_params())])
        })
    }

    /// Uploads θ0 (into the θ and θ0 slots) and, when `adapt` is given, records its inner loop:
    /// `inner.steps` × (score → loss_grad → grad → update) over the support set, updating the θ
    /// buffer in place. Returns the θ buffer.
    fn encode_adapt(
        &self,
        pass: &GpuComputePassEncoder,
        arch: &Arch,
        theta0: &[f32],
        alpha: &[f32],
        adapt: Option<(&SupportSet, &InnerLoop)>,
    ) -> Run<GpuBuffer> {
        let theta = self.upload(Slot::Theta, bytes(theta0))?;
        let Some((set, inner)) = adapt else { return Ok(theta) };
        let rows = set.n_rows();
        let first = inner.scope.trainable_from(arch);
        let support = self.upload(Slot::SupportUniform, &ScoreShape::support(arch, rows).to_bytes())?;
        let loss_shape = self.upload(Slot::LossUniform, &LossShape::new(set, inner.loss).to_bytes())?;
        let grad_shape = self.upload(Slot::GradUniform, &GradShape::new(arch, rows, first).to_bytes())?;
        let step_shape =
            self.upload(Slot::StepUniform, &StepShape::new(arch, first, inner.prox, inner.clip).to_bytes())?;
        let theta0 = self.upload(Slot::Theta0, bytes(theta0))?;
        let alpha = self.upload(Slot::Alpha, bytes(alpha))?;
        let inputs = self.upload(Slot::Inputs, bytes(&set.inputs))?;
        let base = self.upload(Slot::SupportBase, bytes(&set.base))?;
        let pairs = self.upload(Slot::Pairs, &crate::gpu::pair_bytes(set))?;
        let groups = self.upload(Slot::Groups, &crate::gpu::group_bytes(set))?;
        let scores = self.buffer(Slot::SupportScores, rows * 4)?;
        let hidden = self.buffer(Slot::Hidden, rows * arch.hidden * 4)?;
        let dscore = self.buffer(Slot::DScore, rows * 4)?;
        let grad = self.buffer(Slot::Grad, arch.n_params() * 4)?;
        for _ in 0..inner.steps {
            let forward = [&support, &theta, &inputs, &inputs, &base, &scores, &hidden];
            self.dispatch(pass, &self.score, &forward, workgroups(rows));
            self.dispatch(pass, &self.loss, &[&loss_shape, &scores, &pairs, &groups, &dscore], workgroups(rows));
            let backward = [&grad_shape, &theta, &inputs, &base, &hidden, &dscore, &grad];
            self.dispatch(pass, &self.grad, &backward, workgroups(arch.n_params()));
            self.dispatch(pass, &self.update, &[&step_shape, &theta, &theta0, &alpha, &grad], 1);
        }
        Ok(theta)
    }

    /// The whole inner loop of [`crate::adapt::adapt`] over a support set, `inner.steps` steps
    /// of score → loss_grad → grad → update in one submission; returns the adapted θ.
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
            let theta = self.encode_adapt(&pass, arch, theta0, alpha, Some((set, inner)));
            pass.end();
            Ok(vec![(theta?, arch.n_params())])
        })
    }

    /// What a rank needs, in one submission and one readback: the inner loop (when `adapt` is
    /// given) from `theta`, then the candidates scored with the resulting θ. The run reads back
    /// the `n` scores (display order) and then the θ they were scored with: [`split_scores`]
    /// parts them.
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
            let shape = self.upload(Slot::ScoreUniform, &ScoreShape::candidates(arch, n).to_bytes())?;
            let pass = enc.begin_compute_pass();
            let encoded = self.encode_adapt(&pass, arch, theta, alpha, adapt).and_then(|theta| {
                let scores = self.encode_score(&pass, &theta, c, &shape)?;
                Ok((theta, scores))
            });
            pass.end();
            let (theta, scores) = encoded?;
            Ok(if n == 0 { vec![(theta, p)] } else { vec![(scores, n), (theta, p)] })
        })
    }
}

/// [`Device::adapt_and_score`]'s readback for `n` candidates, parted: the scores and θ.
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
