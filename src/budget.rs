//! Memory, bounded by construction: what one reranker may hold at most, and what all the
//! rerankers of one instance hold together.
//!
//! * **A ceiling per configuration.** [`Reranker::new`](crate::reranker::Reranker::new) works out
//!   the most its configuration can ever hold ([`configuration_bytes`]: the largest result set
//!   with the longest ids, its ranking scratch, the log full of the largest entries, the largest
//!   support set and the inner loop's copies of θ). Over [`MAX_RERANKER_BYTES`] it is an
//!   `INVALID_CONFIG` naming the limit, before anything is allocated.
//! * **A pool per instance.** Every reranker of a page (or of a worker) lives in one wasm memory,
//!   which never shrinks and traps when it cannot grow. So each reranker reserves what it holds
//!   from one pool: its model, log and scratch when it is made, each result set (with its ranking
//!   scratch) when it is set, the new one reserved before the old one is released. A reservation
//!   that would take the pool past its budget ([`DEFAULT_BUDGET_BYTES`], host-configurable up to
//!   [`MAX_BUDGET_BYTES`]) is a `MEMORY_BUDGET` error, and nothing changes. Dropping a reranker
//!   returns what it reserved.
//!
//! The figures are upper bounds of the allocations (capacities, not lengths, where a vector can
//! grow), so a pool within budget keeps the instance's memory within budget plus the allocator's
//! overhead; tests/budget.rs and the Chromium test of the largest accepted configuration check
//! both ends.

use crate::error::{msg, Error, Result};
use crate::session::{MAX_ABOVE, MAX_ID_BYTES, MAX_SUPPORT_EXAMPLES, SESSION_DIM};
use std::sync::atomic::{AtomicUsize, Ordering};

const MIB: usize = 1 << 20;

/// The most one reranker's configuration may hold (1 GiB).
pub const MAX_RERANKER_BYTES: usize = 1024 * MIB;
/// What the rerankers of one instance may hold together unless the host says otherwise (1.5 GiB:
/// one reranker at the ceiling can still replace its result set).
pub const DEFAULT_BUDGET_BYTES: usize = 1536 * MIB;
/// The largest budget a host may set (3.5 GiB: a wasm32 memory ends at 4 GiB, and the glue,
/// stack and allocator need some of it).
pub const MAX_BUDGET_BYTES: usize = 3584 * MIB;
/// The smallest budget a host may set.
pub const MIN_BUDGET_BYTES: usize = 16 * MIB;

static BUDGET: AtomicUsize = AtomicUsize::new(DEFAULT_BUDGET_BYTES);
static RESERVED: AtomicUsize = AtomicUsize::new(0);

/// Bytes per f32.
const F: usize = 4;
/// A `String` or `Vec` header.
const HEADER: usize = 24;

/// A result set of `n` rows of `dim` features whose ids take `id_bytes` in all, with the
/// reranker's projection (`n × hidden`) and one ranking's scratch (session features, hidden
/// activations, scores, order, moves).
pub fn result_set_bytes(n: usize, id_bytes: usize, dim: usize, hidden: usize) -> usize {
    // Features, base, prices, log prices, norms, list context.
    let values = n * (dim + 8) * F;
    // The ids once (the index's keys are the list), their headers, the index's table: a power of
    // two of u64 slots at least twice the ids, so at most 4 slots an id.
    let ids = id_bytes + n * (HEADER + 32);
    let projection = n * hidden * F;
    let scratch = n * (SESSION_DIM + 2 * hidden + 16) * F;
    values + ids + projection + scratch
}

/// The most one log entry can hold at item width `dim`: the event with the longest id, the item's
/// snapshot, its training example (the item and up to [`MAX_ABOVE`] shown above it) and its share
/// of the running totals.
pub fn entry_bytes(dim: usize) -> usize {
    let event = 2 * HEADER + MAX_ID_BYTES + 32;
    let snapshot = HEADER + dim * F + 16;
    let rows = 1 + MAX_ABOVE;
    let example = 2 * HEADER + rows * (dim + SESSION_DIM + 1) * F + 16;
    // Totals: an item key and its tally, an ordered-map entry with the id again, a time, an
    // example number.
    let tally = 2 * (HEADER + MAX_ID_BYTES) + 160;
    event + snapshot + example + tally
}

/// The support set and the inner loop's working memory at most: [`MAX_SUPPORT_EXAMPLES`] examples
/// of up to `1 + MAX_ABOVE` rows, their pairs, activations, and eight copies of θ; and the scoring
/// scratch the reranker keeps from its creation.
pub fn adaptation_bytes(dim: usize, hidden: usize, n_params: usize) -> usize {
    let rows = MAX_SUPPORT_EXAMPLES * (1 + MAX_ABOVE);
    let inputs = rows * (dim + SESSION_DIM + 1) * F;
    let pairs = MAX_SUPPORT_EXAMPLES * (MAX_ABOVE + MAX_SUPPORT_EXAMPLES) * 12;
    let activations = rows * hidden * 3 * F;
    // The scoring scratch the reranker keeps (one block of rows: `crate::scorer::score_scratch_len`).
    let scoring = crate::scorer::score_scratch_len(crate::scorer::SCORE_BLOCK, hidden) * F;
    inputs + pairs + activations + 8 * n_params * F + scoring
}

/// The most a reranker of this configuration can hold besides its model: the largest result set
/// (`max_candidates` rows with ids of [`MAX_ID_BYTES`]), the log at `event_capacity` (its
/// vector's capacity rounded to a power of two), the adaptation.
pub fn configuration_bytes(
    max_candidates: usize,
    event_capacity: usize,
    dim: usize,
    hidden: usize,
    n_params: usize,
) -> usize {
    let results = result_set_bytes(max_candidates, max_candidates * MAX_ID_BYTES, dim, hidden);
    let log = event_capacity.next_power_of_two() * entry_bytes(dim);
    results.saturating_add(log).saturating_add(adaptation_bytes(dim, hidden, n_params))
}

/// Checks a configuration against [`MAX_RERANKER_BYTES`].
pub fn check_configuration(bytes: usize) -> Result<()> {
    if bytes > MAX_RERANKER_BYTES {
        return Err(Error::config(
            "memory",
            msg!(
                "maxCandidates, eventCapacity and the model's widths could take up to ",
                bytes.div_ceil(MIB),
                " MiB, over the ",
                MAX_RERANKER_BYTES / MIB,
                " MiB a reranker may hold: lower maxCandidates or eventCapacity"
            ),
        ));
    }
    Ok(())
}

/// Bytes held from the pool; returned when dropped.
#[derive(Debug)]
pub struct Reservation(usize);

impl Reservation {
    /// Nothing held.
    pub const fn none() -> Reservation {
        Reservation(0)
    }
    pub fn bytes(&self) -> usize {
        self.0
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.0 > 0 {
            RESERVED.fetch_sub(self.0, Ordering::Relaxed);
        }
    }
}

/// Reserves `bytes` from the instance's pool, or refuses with `MEMORY_BUDGET` and reserves
/// nothing.
pub fn reserve(bytes: usize) -> Result<Reservation> {
    let budget = BUDGET.load(Ordering::Relaxed);
    let mut held = RESERVED.load(Ordering::Relaxed);
    loop {
        let total = held.checked_add(bytes).filter(|&t| t <= budget).ok_or(Error::MemoryBudget {
            needed_mib: bytes.div_ceil(MIB),
            held_mib: held.div_ceil(MIB),
            budget_mib: budget / MIB,
        })?;
        match RESERVED.compare_exchange_weak(held, total, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Ok(Reservation(bytes)),
            Err(now) => held = now,
        }
    }
}

/// Whether `bytes` more would fit now (a check before converting a large input; the reservation
/// itself comes later).
pub fn check_fits(bytes: usize) -> Result<()> {
    reserve(bytes).map(drop)
}

/// Sets the instance's budget: bytes in `MIN_BUDGET_BYTES..=MAX_BUDGET_BYTES`. What is already
/// reserved stays; later reservations see the new budget.
pub fn set_budget(bytes: usize) -> Result<()> {
    if !(MIN_BUDGET_BYTES..=MAX_BUDGET_BYTES).contains(&bytes) {
        return Err(Error::config(
            "memoryBudget",
            msg!("must be ", MIN_BUDGET_BYTES / MIB, " to ", MAX_BUDGET_BYTES / MIB, " MiB"),
        ));
    }
    BUDGET.store(bytes, Ordering::Relaxed);
    Ok(())
}

/// (bytes reserved by the instance's rerankers, the budget).
pub fn usage() -> (usize, usize) {
    (RESERVED.load(Ordering::Relaxed), BUDGET.load(Ordering::Relaxed))
}
