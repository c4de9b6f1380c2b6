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
use super::id_hash::IdMap;
use std::collections::VecDeque;

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
    /// Entry number of its newest engagement with a feature snapshot: its place in the list of
    /// engaged items ([`Tally::newest_engaged`]), whose neighbours are `older` and `newer`.
    pub engaged_snapshot: Option<u64>,
    pub older: Option<u64>,
    pub newer: Option<u64>,
}

/// The running totals of a log (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub items: IdMap<ItemTally>,
    /// Number the next pushed entry gets.
    pub next_seq: u64,
    /// Engagements recorded so far, evicted or not: engagement recency counts the engagements
    /// after an item's last one, which eviction of older entries does not change.
    pub engagements: u64,
    /// Engagements in the log.
    pub engaged_events: usize,
    /// Entry number of the newest engagement in the log.
    pub last_engaged: Option<u64>,
    /// (entry number, timestamp) of the log's events that have one, oldest first.
    pub times: VecDeque<(u64, f64)>,
    /// The ends of a doubly linked list of the items with an engaged snapshot, ordered by their
    /// newest one, linked by entry numbers: the similarity features read it from the newest end,
    /// a new engagement moves its item there, an eviction unlinks from the oldest end. O(1)
    /// each, and no ordered map (whose code a page would download).
    pub newest_engaged: Option<u64>,
    pub oldest_engaged: Option<u64>,
    /// Entry numbers of the entries with a training example, oldest first.
    pub examples: VecDeque<u64>,
}

/// The tally of the item of entry `seq` (entries numbered from `front`).
#[inline]
fn item_at<'a>(
    items: &'a mut IdMap<ItemTally>,
    entries: &VecDeque<Entry>,
    front: u64,
    seq: u64,
) -> Option<&'a mut ItemTally> {
    let entry = entries.get(usize::try_from(seq.checked_sub(front)?).ok()?)?;
    items.get_mut(entry.event.item.as_str())
}

impl Tally {
    /// Adds the newest of `entries`, which gets number `self.next_seq`.
    pub fn push(&mut self, entries: &VecDeque<Entry>) {
        let Some(entry) = entries.back() else { return };
        let seq = self.next_seq;
        self.next_seq += 1;
        let front = self.next_seq - entries.len() as u64;
        let e = &entry.event;
        let w = e.engagement();
        let item = self.items.get_or_default(&e.item);
        item.events += 1;
        match e.kind {
            super::EventKind::Impression => item.impressions += 1,
            super::EventKind::Skip => item.skips += 1,
            _ => {}
        }
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
            self.engagements += 1;
            self.engaged_events += 1;
            self.last_engaged = Some(seq);
            if entry.snapshot.is_some() {
                self.unlink(entries, front, e.item.as_str());
                // Link it at the newest end.
                let newest = self.newest_engaged.replace(seq);
                if let Some(t) = self.items.get_mut(e.item.as_str()) {
                    t.engaged_snapshot = Some(seq);
                    t.older = newest;
                    t.newer = None;
                }
                match newest.and_then(|n| item_at(&mut self.items, entries, front, n)) {
                    Some(t) => t.newer = Some(seq),
                    None => self.oldest_engaged = Some(seq),
                }
            }
        }
        if let Some(t) = e.timestamp {
            self.times.push_back((seq, t));
        }
        if entry.example.is_some() {
            self.examples.push_back(seq);
        }
    }

    /// Takes `id` out of the list of engaged items, if it is in it.
    fn unlink(&mut self, entries: &VecDeque<Entry>, front: u64, id: &str) {
        let Some(t) = self.items.get_mut(id) else { return };
        let Some(seq) = t.engaged_snapshot.take() else { return };
        let (older, newer) = (t.older.take(), t.newer.take());
        match older.and_then(|o| item_at(&mut self.items, entries, front, o)) {
            Some(o) => o.newer = newer,
            None => self.oldest_engaged = newer,
        }
        match newer.and_then(|n| item_at(&mut self.items, entries, front, n)) {
            Some(n) => n.older = older,
            None => self.newest_engaged = older,
        }
        debug_assert!(self.newest_engaged != Some(seq) && self.oldest_engaged != Some(seq));
    }

    /// Takes away `entry`, numbered `seq`, just removed from the front of `entries`.
    pub fn evict(&mut self, seq: u64, entry: &Entry, entries: &VecDeque<Entry>) {
        let e = &entry.event;
        if self.times.front().is_some_and(|&(s, _)| s == seq) {
            self.times.pop_front();
        }
        if self.examples.front() == Some(&seq) {
            self.examples.pop_front();
        }
        if self.last_engaged == Some(seq) {
            self.last_engaged = None;
        }
        if self.items.get(e.item.as_str()).is_some_and(|t| t.engaged_snapshot == Some(seq)) {
            self.unlink(entries, seq + 1, e.item.as_str());
        }
        let w = e.engagement();
        if w > 0.0 {
            self.engaged_events -= 1;
        }
        let Some(item) = self.items.get_mut(e.item.as_str()) else { return };
        item.events -= 1;
        if item.events == 0 {
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
        }
    }

    /// Forgets every entry; numbering goes on.
    pub fn clear(&mut self) {
        let next_seq = self.next_seq;
        *self = Tally { next_seq, ..Tally::default() };
    }

    /// The timestamp of the newest event that has one.
    #[inline]
    pub fn last_time(&self) -> Option<f64> {
        self.times.back().map(|&(_, t)| t)
    }
    /// The timestamp of the oldest event in the log that has one.
    pub fn first_time(&self) -> Option<f64> {
        self.times.front().map(|&(_, t)| t)
    }
}
