//! Native-only meta-training and evaluation (the `cli` feature): session logs in, model file and
//! honest metrics out. Uses the core unchanged.

pub mod bench;
pub mod data;
mod dense;
pub mod eval;
pub mod export;
pub mod hvp;
pub mod item_stats;
pub mod items;
pub mod meta;
pub mod outer;
pub mod pipeline;
pub mod report;
pub mod select;
pub mod sinusoid;
pub mod stream;
pub mod tasks;
