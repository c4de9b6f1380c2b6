//! Offline evaluation through the served code path: every model method replays each session
//! through a real [`Reranker`] (set results, record events, rank), so the numbers are those of the
//! engine the page runs. Baselines are computed in the same replay.

use super::data::{Dataset, Step};
use super::report::{Outcome, DISPLAY, INTERACTED_FIRST, NO_ADAPT_SUFFIX};
use super::tasks::LOG_CAPACITY;
use crate::model_file::Model;
use crate::reranker::{Config, Reranker};
use crate::Result;
use rayon::prelude::*;
use std::collections::HashMap;

/// A way of ordering a result list.
#[derive(Clone, Debug)]
pub enum MethodKind {
    /// The host's display order.
    Display,
    /// Items the session interacted with first (most recent first), then display order.
    InteractedFirst,
    /// A model through the engine, optionally with the number of inner steps overridden
    /// (`Some(0)`: no adaptation).
    Model { model: Box<Model>, steps: Option<u32> },
}

#[derive(Clone, Debug)]
pub struct Method {
    pub name: String,
    pub kind: MethodKind,
}

impl Method {
    pub fn display() -> Self {
        Method { name: DISPLAY.into(), kind: MethodKind::Display }
    }
    pub fn interacted_first() -> Self {
        Method { name: INTERACTED_FIRST.into(), kind: MethodKind::InteractedFirst }
    }
    pub fn model(name: impl Into<String>, model: &Model, steps: Option<u32>) -> Self {
        Method { name: name.into(), kind: MethodKind::Model { model: Box::new(model.clone()), steps } }
    }
    /// The model as its file says (`name`) and the same model without adaptation
    /// (`name-no-adapt`, paired with it in the report).
    pub fn model_with_and_without_adaptation(name: &str, model: &Model) -> [Self; 2] {
        [Method::model(name, model, None), Method::model(format!("{name}{NO_ADAPT_SUFFIX}"), model, Some(0))]
    }
}

/// 1-based rank of `target` when items with a known last interaction come first (most recent
/// first) and the rest keep display order.
fn interacted_first_rank(items: &[String], target: usize, last_seen: &HashMap<&str, usize>) -> usize {
    let key = |i: usize| last_seen.get(items[i].as_str()).copied();
    let t = key(target);
    let ahead = (0..items.len())
        .filter(|&i| i != target)
        .filter(|&i| match (key(i), t) {
            (Some(a), Some(b)) => a > b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => i < target,
        })
        .count();
    ahead + 1
}

/// Evaluates every method on every engaged result list of `ds`. Returns, per method, one
/// [`Outcome`] per list, in session order (deterministic); `Outcome::session` is the session's
/// index in `ds.sessions`.
pub fn evaluate(ds: &Dataset, methods: &[Method]) -> Result<Vec<(String, Vec<Outcome>)>> {
    let per_session: Vec<Result<Vec<Vec<Outcome>>>> = ds
        .sessions
        .par_iter()
        .enumerate()
        .map(|(session_index, session)| {
            let mut engines: Vec<Option<Reranker>> = methods
                .iter()
                .map(|m| match &m.kind {
                    MethodKind::Model { model, steps } => {
                        let cfg = Config {
                            event_capacity: LOG_CAPACITY,
                            max_move: Some(None),
                            steps: *steps,
                            ..Config::default()
                        };
                        Reranker::new((**model).clone(), cfg).map(Some)
                    }
                    _ => Ok(None),
                })
                .collect::<Result<_>>()?;
            let mut out = vec![Vec::new(); methods.len()];
            let mut last_seen: HashMap<&str, usize> = HashMap::new();
            let mut n_events = 0usize;
            for (seq, step) in session.steps.iter().enumerate() {
                match step {
                    Step::Event { event, .. } => {
                        for e in engines.iter_mut().flatten() {
                            e.record(event.clone())?;
                        }
                        if event.engagement() > 0.0 {
                            last_seen.insert(event.item.as_str(), seq);
                        }
                        n_events += 1;
                    }
                    Step::Results(display) => {
                        // Each model looks the list up in its own item table, exactly as a page's
                        // setResults({ ids, prices }) does.
                        for e in engines.iter_mut().flatten() {
                            e.set_results(display.items.clone(), None, None, display.prices.clone())?;
                            e.advance_clock(display.timestamp)?;
                        }
                        let (Some(target), Some(click)) = (display.clicked_index(), display.click_event()) else {
                            continue;
                        };
                        for (k, m) in methods.iter().enumerate() {
                            let rank = match &m.kind {
                                MethodKind::Display => target + 1,
                                MethodKind::InteractedFirst => {
                                    interacted_first_rank(&display.items, target, &last_seen)
                                }
                                MethodKind::Model { .. } => {
                                    let engine = engines[k].as_mut().expect("model methods have an engine");
                                    let ranking = engine.rank()?;
                                    1 + ranking.order.iter().position(|&i| i == target).expect("a permutation")
                                }
                            };
                            out[k].push(Outcome { rank, prior_events: n_events, session: session_index });
                        }
                        for e in engines.iter_mut().flatten() {
                            e.record(click.clone())?;
                        }
                        last_seen.insert(display.items[target].as_str(), seq);
                        n_events += 1;
                    }
                }
            }
            Ok(out)
        })
        .collect();
    let mut all: Vec<(String, Vec<Outcome>)> = methods.iter().map(|m| (m.name.clone(), Vec::new())).collect();
    for session in per_session {
        for (k, outcomes) in session?.into_iter().enumerate() {
            all[k].1.extend(outcomes);
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interacted_first_puts_recent_interactions_first_then_display_order() {
        let items: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let mut seen = HashMap::new();
        seen.insert("c", 5);
        seen.insert("d", 9);
        // Order: d (9), c (5), a, b.
        assert_eq!(interacted_first_rank(&items, 3, &seen), 1);
        assert_eq!(interacted_first_rank(&items, 2, &seen), 2);
        assert_eq!(interacted_first_rank(&items, 0, &seen), 3);
        assert_eq!(interacted_first_rank(&items, 1, &seen), 4);
    }
}
