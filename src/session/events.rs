//! Shopper events and the bounded session log: what happened, when, on which list, and the
//! training examples the inner loop learns from.

use super::results::ResultSet;
use super::tally::Tally;
use super::{validate_id, MAX_ABOVE, SESSION_DIM};
use crate::error::{msg, Error, Quoted, Result};
use std::collections::VecDeque;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Impression,
    Click,
    Cart,
    Purchase,
    Skip,
    Dwell,
}

impl EventKind {
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "impression" | "view" => EventKind::Impression,
            "click" => EventKind::Click,
            "cart" | "add_to_cart" | "add-to-cart" => EventKind::Cart,
            "purchase" => EventKind::Purchase,
            "skip" => EventKind::Skip,
            "dwell" => EventKind::Dwell,
            other => {
                return Err(Error::InvalidInput {
                    reason: msg!(
                        "unknown event type ",
                        Quoted(other),
                        " (expected impression, view, click, cart, purchase, skip or dwell)"
                    ),
                })
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Impression => "impression",
            EventKind::Click => "click",
            EventKind::Cart => "cart",
            EventKind::Purchase => "purchase",
            EventKind::Skip => "skip",
            EventKind::Dwell => "dwell",
        }
    }
}

/// One shopper event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub item: String,
    pub kind: EventKind,
    /// Seconds on the session's clock (the page clock in a browser); `None`: the session's
    /// latest known time.
    pub timestamp: Option<f64>,
    /// Dwell time in milliseconds (only meaningful for [`EventKind::Dwell`]).
    pub dwell_ms: f32,
}

impl Event {
    pub fn new(item: impl Into<String>, kind: EventKind) -> Self {
        Event { item: item.into(), kind, timestamp: None, dwell_ms: 0.0 }
    }

    /// How strongly the event says "I want this": click 1 < cart 2 < purchase 3; dwell 0..1 by
    /// time (30 s saturates); impressions and skips are not engagement.
    pub fn engagement(&self) -> f32 {
        match self.kind {
            EventKind::Click => 1.0,
            EventKind::Cart => 2.0,
            EventKind::Purchase => 3.0,
            EventKind::Dwell => (self.dwell_ms / 30_000.0).clamp(0.0, 1.0),
            EventKind::Impression | EventKind::Skip => 0.0,
        }
    }

    pub fn validate(&self) -> Result<()> {
        validate_id(&self.item)?;
        if let Some(t) = self.timestamp {
            super::check_time(t, "event timestamp")?;
        }
        if !self.dwell_ms.is_finite() || self.dwell_ms < 0.0 {
            return Err(Error::InvalidInput {
                // No float in the message: formatting one would pull float printing into the wasm.
                reason: "dwell must be a finite, non-negative number of ms".into(),
            });
        }
        Ok(())
    }
}

/// The most examples (the newest) a support set is built from: see [`EventLog::support`].
pub const MAX_SUPPORT_EXAMPLES: usize = 256;

/// Dwell events below this engagement are too weak to train on.
const MIN_EXAMPLE_ENGAGEMENT: f32 = 0.2;

/// The features and price of an item as they were when an event on it was recorded.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Snapshot {
    pub(super) x: Vec<f32>,
    pub(super) norm: f32,
    pub(super) price: Option<f32>,
}

/// A training example: row 0 is the positive (absent for a bare skip), the rest negatives.
/// Each input row is `[x (d) | s (S)]`; the host base score of each row is in `base`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Example {
    pub(super) inputs: Vec<f32>,
    pub(super) base: Vec<f32>,
    pub(super) has_positive: bool,
    pub(super) weight: f32,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct Entry {
    pub(super) event: Event,
    pub(super) snapshot: Option<Snapshot>,
    pub(super) example: Option<Example>,
}

/// A result list the session was shown: which one, and where the shopper last engaged in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ListMark {
    pub(super) generation: u64,
    pub(super) fingerprint: u64,
    /// Display row of the last engagement recorded while this list was the current one.
    pub(super) engaged_row: Option<u32>,
}

/// The bounded session log, with the session's clock and the lists it was shown.
#[derive(Clone, Debug)]
pub struct EventLog {
    pub(super) entries: VecDeque<Entry>,
    capacity: usize,
    /// The latest time the session knows (seconds): events, shown lists, [`EventLog::advance`].
    pub(super) clock: Option<f64>,
    /// The list shown now and the one before it.
    pub(super) current: Option<ListMark>,
    pub(super) previous: Option<ListMark>,
    /// Running totals of the entries (src/session/tally.rs).
    pub(super) tally: Tally,
}

impl EventLog {
    pub fn new(capacity: usize) -> Result<Self> {
        if capacity == 0 || capacity > 100_000 {
            return Err(Error::config("event_capacity", msg!("must be in 1..=100000, got ", capacity)));
        }
        Ok(EventLog {
            entries: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
            clock: None,
            current: None,
            previous: None,
            tally: Tally::default(),
        })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// Forgets the events, the clock and the list history (the current list stays current, with
    /// no engagement in it).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.tally.clear();
        self.clock = None;
        self.previous = None;
        if let Some(c) = &mut self.current {
            c.engaged_row = None;
        }
    }
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.entries.iter().map(|e| &e.event)
    }
    pub fn has_engagement(&self) -> bool {
        self.tally.engaged_events > 0
    }
    /// The session's latest known time, in seconds.
    pub fn clock(&self) -> Option<f64> {
        self.clock
    }

    /// Moves the session's clock to `now` (seconds) if that is later; an earlier time is ignored
    /// (the clock never goes back). A time that is not finite or not in 0..1e11 seconds is an
    /// error and changes nothing.
    pub fn advance(&mut self, now: f64) -> Result<()> {
        super::check_time(now, "time")?;
        self.clock = Some(self.clock.map_or(now, |c| c.max(now)));
        Ok(())
    }

    /// Marks `r` as the list shown now: the list shown before it becomes the previous one.
    /// Showing the same set again changes nothing.
    pub fn show(&mut self, r: &ResultSet) {
        if self.current.is_some_and(|c| c.generation == r.generation()) {
            return;
        }
        self.previous = self.current.take();
        self.current = Some(ListMark { generation: r.generation(), fingerprint: r.fingerprint(), engaged_row: None });
    }

    /// Records an event against the current results (if any), which it marks as shown. Validates
    /// first (a timestamp earlier than the last event's is an error); on error the log is
    /// unchanged.
    pub fn record(&mut self, event: Event, results: Option<&ResultSet>) -> Result<()> {
        event.validate()?;
        if let (Some(t), Some(last)) = (event.timestamp, self.last_event_time()) {
            if t < last {
                // No float formatting here: it would pull f64 printing into the page's wasm.
                return Err(Error::InvalidInput {
                    reason: "event timestamp is earlier than the previous event's".into(),
                });
            }
        }
        if let Some(r) = results {
            self.show(r);
        }
        let pos = results.and_then(|r| r.position(&event.item).map(|p| (r, p)));
        let snapshot = match pos {
            Some((r, p)) => Some(Snapshot { x: r.row(p).to_vec(), norm: r.norms[p], price: r.price(p) }),
            None => self
                .tally
                .items
                .get(event.item.as_str())
                .and_then(|t| self.entry_at(t.snapshot?))
                .and_then(|e| e.snapshot.clone())
                .filter(|s| results.is_none_or(|r| r.dim == s.x.len())),
        };
        let example = match pos {
            Some((r, p)) => self.example_for(&event, r, p),
            None => None,
        };
        if let (Some((_, p)), Some(current)) = (pos, &mut self.current) {
            if event.engagement() > 0.0 {
                current.engaged_row = Some(p as u32);
            }
        }
        if let Some(t) = event.timestamp {
            self.clock = Some(self.clock.map_or(t, |c| c.max(t)));
        }
        self.push_entry(Entry { event, snapshot, example });
        Ok(())
    }

    /// Appends `entry`, evicting the oldest when the log is full, and keeps the running totals.
    pub(super) fn push_entry(&mut self, entry: Entry) {
        if self.entries.len() == self.capacity {
            let seq = self.front_seq();
            if let Some(old) = self.entries.pop_front() {
                self.tally.evict(seq, &old, &self.entries);
            }
        }
        self.entries.push_back(entry);
        self.tally.push(&self.entries);
    }

    /// Number of the oldest entry (see src/session/tally.rs; valid between pushes).
    fn front_seq(&self) -> u64 {
        self.tally.next_seq - self.entries.len() as u64
    }

    /// The entry numbered `seq`, if it is still in the log.
    pub(super) fn entry_at(&self, seq: u64) -> Option<&Entry> {
        let k = seq.checked_sub(self.front_seq())?;
        self.entries.get(usize::try_from(k).ok()?)
    }

    /// The timestamp of the latest event that has one.
    pub(super) fn last_event_time(&self) -> Option<f64> {
        self.tally.last_time()
    }

    /// Builds the training example an event contributes, with features as of before the event
    /// (at the event's time).
    fn example_for(&self, event: &Event, r: &ResultSet, p: usize) -> Option<Example> {
        let summary = self.summarize_at(Some(r.dim), event.timestamp.or(self.clock));
        let mut ex = Example { inputs: Vec::new(), base: Vec::new(), has_positive: true, weight: 1.0 };
        let push_row = |ex: &mut Example, i: usize| {
            ex.inputs.extend_from_slice(r.row(i));
            let mut s = [0.0; SESSION_DIM];
            summary.features(r, i, &mut s);
            ex.inputs.extend_from_slice(&s);
            ex.base.push(r.base()[i]);
        };
        let engagement = event.engagement();
        if event.kind == EventKind::Skip {
            push_row(&mut ex, p);
            ex.has_positive = false;
            return Some(ex);
        }
        if engagement < MIN_EXAMPLE_ENGAGEMENT {
            return None;
        }
        ex.weight = engagement;
        push_row(&mut ex, p);
        let mut negatives = 0;
        for i in (0..p).rev() {
            if negatives == MAX_ABOVE {
                break;
            }
            let id = r.ids()[i].as_str();
            if !summary.engaged(id) && id != event.item {
                push_row(&mut ex, i);
                negatives += 1;
            }
        }
        Some(ex)
    }

    /// The training examples of the newest [`MAX_SUPPORT_EXAMPLES`] events that have one,
    /// flattened for the loss. The cap bounds the pairs (every engagement is paired with every
    /// skip) by `MAX_SUPPORT_EXAMPLES × (MAX_ABOVE + MAX_SUPPORT_EXAMPLES)` whatever the log's
    /// capacity; at the default capacity (256) it never binds.
    pub fn support(&self, dim: usize) -> SupportSet {
        let width = dim + SESSION_DIM;
        let mut set = SupportSet { width, ..SupportSet::default() };
        let mut skip_rows = Vec::new();
        let usable = |e: &&Entry| e.example.as_ref().is_some_and(|ex| ex.inputs.len() == ex.base.len() * width);
        let newest: Vec<&Entry> = self
            .tally
            .examples
            .iter()
            .rev()
            .filter_map(|&seq| self.entry_at(seq))
            .filter(usable)
            .take(MAX_SUPPORT_EXAMPLES)
            .collect();
        for entry in newest.into_iter().rev() {
            let Some(ex) = &entry.example else { continue };
            let start = set.n_rows() as u32;
            set.inputs.extend_from_slice(&ex.inputs);
            set.base.extend_from_slice(&ex.base);
            let n = ex.base.len() as u32;
            if ex.has_positive {
                set.groups.push(Group { pos: start, negs: start + 1..start + n, weight: ex.weight });
            } else {
                skip_rows.push(start);
            }
        }
        for g in &set.groups {
            for j in g.negs.clone() {
                set.pairs.push((g.pos, j, g.weight));
            }
            for &j in &skip_rows {
                set.pairs.push((g.pos, j, 0.5 * g.weight));
            }
        }
        set
    }
}

/// A listwise group: one positive row against its negatives.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub pos: u32,
    pub negs: std::ops::Range<u32>,
    pub weight: f32,
}

/// The inner loop's training data: input rows `[x | s]` (row-major, `width = d + S`), the host
/// base score of each row, and the pairs and listwise groups over them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SupportSet {
    pub width: usize,
    pub inputs: Vec<f32>,
    pub base: Vec<f32>,
    /// (positive row, negative row, weight)
    pub pairs: Vec<(u32, u32, f32)>,
    pub groups: Vec<Group>,
}

impl SupportSet {
    pub fn n_rows(&self) -> usize {
        self.base.len()
    }
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Validates a feature vector for one item against the expected width.
pub fn check_item_features(x: &[f32], dim: usize) -> Result<()> {
    crate::error::check_len("item features", dim, x.len())?;
    crate::error::check_finite("item features", x)
}
