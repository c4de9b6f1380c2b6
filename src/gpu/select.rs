//! Which backend scores a call: the host's preference, whether WebGPU still works on this page,
//! and a one-time calibration per (size bucket, adapt scope).
//!
//! WebGPU only pays for large candidate sets or full-model adaptation (a dispatch and readback
//! cost ~0.5 ms in Chrome and ~100 ms in Firefox), so `auto` measures once instead of guessing:
//! the first `auto` call of a bucket times the CPU, and, unless the CPU is already under the
//! GPU's floor ([`GPU_FLOOR_MS`]), the GPU too; the faster one serves every later call of that
//! bucket. Any GPU failure (no adapter, a lost device, a validation or out-of-memory
//! error) makes WebGPU unusable for the rest of the page's life, with the reason kept for the host.

use crate::adapt::Scope;
use crate::error::{msg, Error, Quoted, Result};

/// The host's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preference {
    /// WebGPU where it is available and calibration shows it is faster.
    Auto,
    Cpu,
    /// WebGPU whenever it works (the CPU only as a fallback).
    WebGpu,
}

impl Preference {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Preference::Auto),
            "cpu" => Ok(Preference::Cpu),
            "webgpu" => Ok(Preference::WebGpu),
            other => {
                Err(Error::config("backend", msg!("expected \"auto\", \"cpu\" or \"webgpu\", got ", Quoted(other))))
            }
        }
    }
}

/// What to do for one call.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// Score on the CPU; `fallback` says why WebGPU was wanted but is not used.
    Cpu {
        fallback: Option<String>,
    },
    Gpu,
    /// Time both backends on this call, keep the decision for the bucket.
    Calibrate,
}

/// Size buckets: decades of the candidate count (≤ 100, ≤ 1,000, ≤ 10,000, ≤ 100,000, …).
/// Returns the bucket's upper bound.
pub fn bucket(n: usize) -> usize {
    let mut top = 100;
    while top < n {
        top *= 10;
    }
    top
}

/// The least a WebGPU rank can cost in a browser: one submission and one asynchronous readback
/// take ~0.5 ms in Chrome (~100 ms in Firefox) before any work. A bucket whose CPU rank is
/// faster than this is decided for the CPU without touching the GPU (no adapter request, no
/// buffers, no shader compile for pages whose result lists are small).
pub const GPU_FLOOR_MS: f64 = 0.5;

/// One calibration: the fastest of a few timed calls of each backend, in milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    pub bucket: usize,
    pub scope: Scope,
    pub cpu_ms: f64,
    /// `None`: not tried, because the CPU was under [`GPU_FLOOR_MS`].
    pub gpu_ms: Option<f64>,
}

impl Calibration {
    /// The CPU's result for a bucket it serves in under [`GPU_FLOOR_MS`], if it does.
    pub fn cpu_only(bucket: usize, scope: Scope, cpu_ms: f64) -> Option<Self> {
        (cpu_ms < GPU_FLOOR_MS).then_some(Calibration { bucket, scope, cpu_ms, gpu_ms: None })
    }

    pub fn gpu_wins(&self) -> bool {
        self.gpu_ms.is_some_and(|g| g < self.cpu_ms)
    }
}

/// The page's selection state.
#[derive(Clone, Debug, Default)]
pub struct Selector {
    unusable: Option<String>,
    calibrations: Vec<Calibration>,
}

impl Selector {
    /// Why WebGPU is not used any more on this page (`None` while it may be).
    pub fn unusable(&self) -> Option<&str> {
        self.unusable.as_deref()
    }

    /// Rules WebGPU out for the rest of the page's life. The first reason is kept: later failures
    /// are usually its consequences.
    pub fn mark_unusable(&mut self, reason: impl Into<String>) {
        if self.unusable.is_none() {
            self.unusable = Some(reason.into());
        }
    }

    pub fn calibrations(&self) -> &[Calibration] {
        &self.calibrations
    }

    pub fn record(&mut self, c: Calibration) {
        self.calibrations.retain(|o| (o.bucket, o.scope) != (c.bucket, c.scope));
        self.calibrations.push(c);
    }

    /// The backend for a call on `n` results. `work`: whether the call computes anything (false
    /// while the host's order is served untouched, before any event): such a call never
    /// calibrates, since the CPU answering it in microseconds says nothing about real rankings,
    /// and a bucket decided by it would keep WebGPU away for the page's life.
    pub fn plan(&self, pref: Preference, n: usize, scope: Scope, work: bool) -> Plan {
        if pref == Preference::Cpu {
            return Plan::Cpu { fallback: None };
        }
        if let Some(reason) = &self.unusable {
            return Plan::Cpu { fallback: Some(reason.clone()) };
        }
        if pref == Preference::WebGpu {
            return Plan::Gpu;
        }
        let b = bucket(n);
        match self.calibrations.iter().find(|c| c.bucket == b && c.scope == scope) {
            Some(c) if c.gpu_wins() => Plan::Gpu,
            Some(_) => Plan::Cpu { fallback: None },
            None if !work => Plan::Cpu { fallback: None },
            None => Plan::Calibrate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_decades() {
        assert_eq!([1, 100, 101, 1000, 1001, 100_000].map(bucket), [100, 100, 1000, 1000, 10_000, 100_000]);
    }

    #[test]
    fn auto_calibrates_once_per_bucket_and_scope() {
        let mut s = Selector::default();
        // A call with nothing to compute (no event yet) never calibrates, and decides nothing.
        assert_eq!(s.plan(Preference::Auto, 5000, Scope::All, false), Plan::Cpu { fallback: None });
        assert_eq!(s.plan(Preference::Auto, 5000, Scope::All, true), Plan::Calibrate);
        s.record(Calibration { bucket: bucket(5000), scope: Scope::All, cpu_ms: 3.0, gpu_ms: Some(1.0) });
        assert_eq!(s.plan(Preference::Auto, 9000, Scope::All, true), Plan::Gpu);
        assert_eq!(s.plan(Preference::Auto, 9000, Scope::Head, true), Plan::Calibrate);
        assert_eq!(s.plan(Preference::Auto, 20_000, Scope::All, true), Plan::Calibrate);
        s.record(Calibration { bucket: bucket(5000), scope: Scope::All, cpu_ms: 1.0, gpu_ms: Some(3.0) });
        assert_eq!(s.plan(Preference::Auto, 9000, Scope::All, true), Plan::Cpu { fallback: None });
        assert_eq!(s.calibrations().len(), 1);
    }

    #[test]
    fn a_cpu_under_the_gpu_floor_decides_without_the_gpu() {
        assert_eq!(Calibration::cpu_only(100, Scope::Head, 0.8), None, "slow enough to try the GPU");
        let fast = Calibration::cpu_only(100, Scope::Head, 0.2).expect("under the floor");
        assert_eq!(fast.gpu_ms, None);
        assert!(!fast.gpu_wins());
        let mut s = Selector::default();
        s.record(fast);
        assert_eq!(s.plan(Preference::Auto, 60, Scope::Head, true), Plan::Cpu { fallback: None });
        assert_eq!(s.plan(Preference::WebGpu, 60, Scope::Head, true), Plan::Gpu, "forcing still works");
    }

    #[test]
    fn the_host_forces_either_backend_and_failures_stick() {
        let mut s = Selector::default();
        assert_eq!(s.plan(Preference::Cpu, 10, Scope::Head, true), Plan::Cpu { fallback: None });
        assert_eq!(s.plan(Preference::WebGpu, 10, Scope::Head, true), Plan::Gpu);
        s.mark_unusable("device lost");
        s.mark_unusable("a later consequence");
        let lost = Plan::Cpu { fallback: Some("device lost".into()) };
        assert_eq!(s.plan(Preference::WebGpu, 10, Scope::Head, true), lost);
        assert_eq!(s.plan(Preference::Auto, 10, Scope::Head, true), lost);
        assert_eq!(s.plan(Preference::Cpu, 10, Scope::Head, true), Plan::Cpu { fallback: None });
        assert_eq!(s.unusable(), Some("device lost"));
    }

    #[test]
    fn preference_parses_the_three_names() {
        assert_eq!(Preference::parse("webgpu").unwrap(), Preference::WebGpu);
        assert!(Preference::parse("gpu").is_err());
    }
}
