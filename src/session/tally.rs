//! The log's running totals: what the session features and the next training example need,
//! kept up to date as entries are pushed and evicted, so that recording an event is O(1)
//! amortised (a hash lookup or two and an ordered-map update) and summarising the log costs
//! O(logged items), not O(events).
//!
//! Every entry gets a sequence number when it is pushed; the log's entries are the consecutive
//! numbers `next_seq − len .. next_seq`, so an entry is found by number in O(1). Eviction is
//! first in, first out: when the entry a total points at leaves, every older entry has already
//! left, which is what lets each total forget in O(1).
//!
//! [`super::EventLog::reference_summary_at`] recomputes the same totals from the entries; the
//! tests compare the two after random sequences with evictions.

use super::events::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// What the log holds about one item.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemTally {
    /// Sum of the engagement weights of its events (f64: events are added and taken away; the
    /// sum is set to exactly 0 when its last engagement leaves).
    pub engagement: f64,
    /// Number of its events with a positive engagement.
    pub engaged_events: u32,
    /// Engagement number (over the whole session, see [`Tally::engagements`]) of its newest
    /// engagement.
    pub last_engaged: Option<u64>,
    /// Entry number and time of its newest engagement that has a timestamp.
    pub last_engaged_time: Option<(u64, f64)>,
    pub impressions: u32,
    pub skips: u32,
    /// Events of any kind on it in the log (the tally is dropped at 0).
    pub events: u32,
    /// Entry number of its newest event with a feature snapshot.
    pub snapshot: Option<u64>,
    /// Entry number of its newest engagement with a feature snapshot.
    pub engaged_snapshot: Option<u64>,
}

/// The running totals of a log (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub items: HashMap<String, ItemTally>,
    /// Number the next pushed entry gets.
    pub next_seq: u64,
    /// Engagements recorded so far, evicted or not: engagement recency counts the engagements
    /// after an item's last one, which eviction of older entries does not change.
    pub engagements: u64,
    /// Engagements in the log.
    pub engaged_events: usize,
    /// Entry number and item of the newest engagement in the log.
    pub last_engaged: Option<(u64, String)>,
    /// (entry number, timestamp) of the log's events that have one, oldest first.
    pub times: VecDeque<(u64, f64)>,
    /// Per item with an engaged snapshot, its newest one: entry number → item. Read newest first
    /// for the similarity features.
    pub recent: BTreeMap<u64, String>,
    /// Entry numbers of the entries with a training example, oldest first.
    pub examples: VecDeque<u64>,
}

impl Tally {
    /// Adds `entry`, which gets number `self.next_seq`.
    pub fn push(&mut self, entry: &Entry) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let e = &entry.event;
        let item = self.items.entry(e.item.clone()).or_default();
        item.events += 1;
        match e.kind {
            super::EventKind::Impression => item.impressions += 1,
            super::EventKind::Skip => item.skips += 1,
            _ => {}
        }
        let w = e.engagement();
        if entry.snapshot.is_some() {
            item.snapshot = Some(seq);
        }
        if w > 0.0 {
            item.engagement += w as f64;
            item.engaged_events += 1;
            item.last_engaged = Some(self.engagements);
            if let Some(t) = e.timestamp {
                item.last_engaged_time = Some((seq, t));
            }
            if entry.snapshot.is_some() {
                if let Some(old) = item.engaged_snapshot.replace(seq) {
                    self.recent.remove(&old);
                }
                self.recent.insert(seq, e.item.clone());
            }
            self.engagements += 1;
            self.engaged_events += 1;
            self.last_engaged = Some((seq, e.item.clone()));
        }
        if let Some(t) = e.timestamp {
            self.times.push_back((seq, t));
        }
        if entry.example.is_some() {
            self.examples.push_back(seq);
        }
    }

    /// Takes away `entry`, the oldest in the log, numbered `seq`.
    pub fn evict(&mut self, seq: u64, entry: &Entry) {
        let e = &entry.event;
        if self.times.front().is_some_and(|&(s, _)| s == seq) {
            self.times.pop_front();
        }
        if self.examples.front() == Some(&seq) {
            self.examples.pop_front();
        }
        if self.last_engaged.as_ref().is_some_and(|(s, _)| *s == seq) {
            self.last_engaged = None;
        }
        let w = e.engagement();
        if w > 0.0 {
            self.engaged_events -= 1;
        }
        let Some(item) = self.items.get_mut(e.item.as_str()) else { return };
        item.events -= 1;
        if item.events == 0 {
            if let Some(s) = item.engaged_snapshot {
                self.recent.remove(&s);
            }
            self.items.remove(e.item.as_str());
            return;
        }
        match e.kind {
            super::EventKind::Impression => item.impressions -= 1,
            super::EventKind::Skip => item.skips -= 1,
            _ => {}
        }
        if item.snapshot == Some(seq) {
            item.snapshot = None;
        }
        if w > 0.0 {
            item.engaged_events -= 1;
            item.engagement -= w as f64;
            if item.engaged_events == 0 {
                item.engagement = 0.0;
                item.last_engaged = None;
            }
            if item.last_engaged_time.is_some_and(|(s, _)| s == seq) {
                item.last_engaged_time = None;
            }
            if item.engaged_snapshot == Some(seq) {
                item.engaged_snapshot = None;
                self.recent.remove(&seq);
            }
        }
    }

    /// Forgets every entry; numbering goes on.
    pub fn clear(&mut self) {
        let next_seq = self.next_seq;
        *self = Tally { next_seq, ..Tally::default() };
    }

    /// The timestamp of the newest event that has one.
    pub fn last_time(&self) -> Option<f64> {
        self.times.back().map(|&(_, t)| t)
    }
    /// The timestamp of the oldest event in the log that has one.
    pub fn first_time(&self) -> Option<f64> {
        self.times.front().map(|&(_, t)| t)
    }
}
