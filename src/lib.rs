//! fewclick: re-rank a storefront's search results from the shopper's first few clicks, on the
//! shopper's own device.
//!
//! The core (everything but [`wasm`]) is plain Rust with no binding attributes; the same code runs
//! in the browser, natively and inside meta-training. See ARCHITECTURE.md for the map.
// The shipped wasm builds (scripts/lib/common.sh, `ship_build`, on the pinned nightly) set
// `--cfg fewclick_ship`: cold paths (model and session readers, errors, explain) are then
// compiled for size (`optimize(size)`), the hot path for speed.
#![cfg_attr(fewclick_ship, feature(optimize_attribute))]

pub mod adapt;
pub mod budget;
mod bytes;
pub mod error;
pub mod gpu;
pub mod items;
pub mod kernels;
pub mod loss;
pub mod model_file;
pub mod params;
pub mod rank;
pub mod reranker;
pub mod rng;
pub mod scorer;
pub mod session;

#[cfg(feature = "cli")]
pub mod train;

/// The demo store's world: its catalogue and simulated shoppers (native, the `cli` feature).
#[cfg(feature = "cli")]
pub mod demo;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use adapt::{InnerLoop, Scope};
pub use error::{Error, Result};
pub use items::ItemTable;
pub use loss::LossKind;
pub use model_file::Model;
pub use params::Arch;
pub use reranker::{Config, Explanation, Ranking, Reason, ReasonCode, Reranker};
pub use session::{Event, EventKind};
