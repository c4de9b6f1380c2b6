//! The shopper's session: the current result set, the bounded event log, the session features
//! computed from it for every candidate, and the training examples the inner loop learns from.
//!
//! | file | answers |
//! |---|---|
//! | `results.rs` | What is shown? Ids in display order, features, base scores, prices and each row's price in the context of the list. |
//! | `events.rs` | What happened? Events, the bounded log with the session's clock and the lists shown, the training examples. |
//! | `persist.rs` | What survives a page load, on the host's opt-in? The log as versioned, checksummed, size-bounded bytes. |
//! | `tally.rs` | What does the log add up to? Its running totals, kept as entries come and go, so `record` is O(1) amortised. |
//! | `features.rs` | What does the session say about each candidate? The session features: the per-row reference, the batched CPU version, and the table the GPU computes them from. |
//!
//! Decisions (documented in ARCHITECTURE.md, tested in tests/core.rs and tests/session.rs):
//! * The log keeps at most `capacity` events; the oldest is dropped first.
//! * An event on an item in the current results snapshots that item's features and price, so it
//!   keeps counting for similarity and price features after the results change. An event on an
//!   item that is not in the current results reuses an earlier snapshot of the same item if the log
//!   has one; otherwise it counts only by id (interaction count, recency, skips).
//! * An engagement (click, cart, purchase, long dwell) on an item in the current results becomes a
//!   training example: that item against the items shown above it that the session has not engaged
//!   with (skip-above), with session features as they were just before the event. An explicit skip
//!   becomes a negative row paired with every engaged row.
//! * Times are seconds; an event's timestamp may not be earlier than the previous event's.
//! * The support set comes from the newest [`MAX_SUPPORT_EXAMPLES`] examples only, so its pairs are
//!   bounded whatever the log's capacity.

mod events;
mod features;
mod id_hash;
mod persist;
mod results;
mod tally;

pub use events::{check_item_features, Event, EventKind, EventLog, Group, SupportSet, MAX_SUPPORT_EXAMPLES};
pub use features::{
    feature_index, reference_list_context, signed_log_offset, Summary, SummaryTable, NO_ROW, POSITION_SCALE,
    RECENCY_HALF_SECONDS, SESSION_DIM, SESSION_FEATURE_NAMES, TIME_SCALE,
};
pub use persist::{MAX_SESSION_BYTES, SESSION_MAGIC, SESSION_VERSION};
pub use results::{ResultSet, LIST_CONTEXT_DIM, MAX_LOG_PRICE_RATIO};

use crate::error::{msg, Error, Result};

/// Most items shown above an engaged item that become its negatives.
pub const MAX_ABOVE: usize = 10;
/// The similarity features look at this many most recent distinct engaged items.
pub const MAX_SIMILARITY_ITEMS: usize = 16;
/// Item ids longer than this are rejected.
pub const MAX_ID_BYTES: usize = 256;
/// Times are seconds since the epoch in `0..MAX_TIMESTAMP_SECONDS` (about the year 5138): a
/// millisecond clock given as seconds, or a corrupt value, is refused instead of becoming the
/// session's clock (after which every real timestamp would be "earlier than the previous event's").
pub const MAX_TIMESTAMP_SECONDS: f64 = 1e11;

/// Checks a time in seconds: finite (`NON_FINITE`) and in `0..MAX_TIMESTAMP_SECONDS`
/// (`INVALID_INPUT`).
pub fn check_time(t: f64, what: &'static str) -> Result<()> {
    if !t.is_finite() {
        return Err(Error::NonFinite { what, index: 0 });
    }
    if !(0.0..MAX_TIMESTAMP_SECONDS).contains(&t) {
        return Err(Error::InvalidInput {
            reason: msg!(what, " must be 0 to 1e11 seconds since the epoch (0 to 1e14 ms in JavaScript)"),
        });
    }
    Ok(())
}

pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::InvalidId { reason: "empty id".into() });
    }
    if id.len() > MAX_ID_BYTES {
        return Err(Error::InvalidId { reason: msg!("id longer than ", MAX_ID_BYTES, " bytes") });
    }
    Ok(())
}
