//! The demo store's shoppers: hidden preferences, the position-biased clicks they make on search
//! results, and the sessions the demo model is meta-trained on. See the [module documentation](super).

use super::catalogue::*;
use crate::error::Result;
use crate::rng::Rng;
use crate::session::{Event, EventKind};
use crate::train::data::{Dataset, Display, Session, Step};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// What a simulated shopper wants (hidden from the model).
#[derive(Clone, Debug, PartialEq)]
pub struct Shopper {
    pub favourite_brands: Vec<usize>,
    pub favourite_colour: usize,
    /// Preferred ln(price / category median).
    pub price_level: f32,
    pub brand_weight: f32,
    pub colour_weight: f32,
    pub price_weight: f32,
    /// Categories the shopper is shopping for (indices into [`CATEGORIES`]).
    pub categories: Vec<usize>,
}

impl Shopper {
    fn draw(rng: &mut Rng) -> Shopper {
        let kind = rng.f32();
        let first = rng.below(BRANDS.len());
        let mut favourite_brands = vec![first];
        if rng.f32() < 0.4 {
            let second = (first + 1 + rng.below(BRANDS.len() - 1)) % BRANDS.len();
            favourite_brands.push(second);
        }
        let favourite_colour = rng.below(COLOURS.len());
        let (brand_weight, colour_weight, price_weight, price_level) = if kind < 0.55 {
            // Brand-loyal.
            (rng.range(2.5, 3.5), rng.range(0.3, 1.0), rng.range(0.3, 1.0), rng.range(-0.3, 0.4))
        } else if kind < 0.8 {
            // Colour-led.
            (rng.range(0.5, 1.5), rng.range(2.0, 3.0), rng.range(0.3, 1.0), rng.range(-0.3, 0.3))
        } else {
            // Bargain-hunting.
            (rng.range(0.5, 1.5), rng.range(0.3, 1.0), rng.range(2.0, 3.0), rng.range(-0.8, -0.4))
        };
        let n_cat = 1 + rng.below(3);
        let mut categories: Vec<usize> = Vec::with_capacity(n_cat);
        while categories.len() < n_cat {
            let c = rng.below(CATEGORIES.len());
            if !categories.contains(&c) {
                categories.push(c);
            }
        }
        Shopper {
            favourite_brands,
            favourite_colour,
            price_level,
            brand_weight,
            colour_weight,
            price_weight,
            categories,
        }
    }

    /// How much the shopper likes a product (before position bias).
    pub fn utility(&self, p: &Product) -> f32 {
        let cat = &CATEGORIES[category_index(p)];
        let brand = self.favourite_brands.contains(&brand_index(p)) as u8 as f32;
        let colour = (colour_index(p) == self.favourite_colour) as u8 as f32;
        let price_gap = ((p.price / cat.median_price).ln() - self.price_level).abs();
        0.5 * p.popularity + self.brand_weight * brand + self.colour_weight * colour
            - self.price_weight * price_gap / 0.4
    }
}

/// Position bias: how likely the shopper looks at display index `p` at all.
pub fn examine(p: usize) -> f32 {
    (1.0 + p as f32).powf(-0.6)
}

/// How strongly a product of utility `u` draws an engagement, once examined.
pub fn engagement_appeal(u: f32) -> f32 {
    u.clamp(-10.0, 10.0).exp()
}

/// Weight of "no engagement" against the items' weights.
const NO_CLICK_WEIGHT: f32 = 4.0;
/// Engagement weight kept by an item the session already engaged with.
const REVISIT: f32 = 0.3;
/// At most this many engagements per search.
const MAX_ENGAGEMENTS_PER_SEARCH: usize = 3;

/// Simulates `n_sessions` shopper sessions on the catalogue (deterministic for a seed).
pub fn simulate_sessions(cat: &Catalogue, n_sessions: usize, seed: u64) -> Dataset {
    simulate_with_shoppers(cat, n_sessions, seed).0
}

/// [`simulate_sessions`] and each session's hidden shopper.
pub fn simulate_with_shoppers(cat: &Catalogue, n_sessions: usize, seed: u64) -> (Dataset, Vec<Shopper>) {
    let (sessions, shoppers) = Simulator::new(cat, n_sessions, seed).unzip();
    (Dataset { sessions }, shoppers)
}

/// The simulated sessions one at a time, with their hidden shoppers (what
/// [`simulate_with_shoppers`] collects): a log of any length in memory bounded by one session and
/// the catalogue's search results.
pub struct Simulator<'a> {
    cat: &'a Catalogue,
    rng: Rng,
    /// Query → result indices, computed once.
    cache: BTreeMap<String, Vec<usize>>,
    next: usize,
    n_sessions: usize,
}

impl<'a> Simulator<'a> {
    pub fn new(cat: &'a Catalogue, n_sessions: usize, seed: u64) -> Self {
        let rng = Rng::new(seed ^ 0x7368_6f70_7065_7273); // "shoppers"
        Simulator { cat, rng, cache: BTreeMap::new(), next: 0, n_sessions }
    }
}

impl Iterator for Simulator<'_> {
    type Item = (Session, Shopper);

    fn next(&mut self) -> Option<(Session, Shopper)> {
        if self.next == self.n_sessions {
            return None;
        }
        let s = self.next;
        self.next += 1;
        let (cat, rng, cache) = (self.cat, &mut self.rng, &mut self.cache);
        let shopper = Shopper::draw(rng);
        // Whole seconds: they survive the JSONL round trip exactly.
        let mut t = (s * 3600 + rng.below(600)) as f64;
        let mut steps = Vec::new();
        let mut engaged: HashSet<usize> = HashSet::new();
        let n_searches = 2 + rng.below(4);
        for _ in 0..n_searches {
            let r = rng.f32();
            let query = if r < 0.7 {
                CATEGORIES[shopper.categories[rng.below(shopper.categories.len())]].plural.to_lowercase()
            } else if r < 0.85 {
                let b = if rng.f32() < 0.5 { shopper.favourite_brands[0] } else { rng.below(BRANDS.len()) };
                BRANDS[b].name.to_lowercase()
            } else {
                let c = if rng.f32() < 0.5 { shopper.favourite_colour } else { rng.below(COLOURS.len()) };
                COLOURS[c].name.to_lowercase()
            };
            let results = cache.entry(query.clone()).or_insert_with(|| cat.search(&query, RESULTS_PER_PAGE)).clone();
            if results.len() < 2 {
                continue;
            }
            let items: Vec<String> = results.iter().map(|&i| cat.products[i].id.clone()).collect();
            let prices: Vec<f32> = results.iter().map(|&i| cat.products[i].price).collect();
            let appeal: Vec<f32> = results
                .iter()
                .enumerate()
                .map(|(p, &i)| examine(p) * engagement_appeal(shopper.utility(&cat.products[i])))
                .collect();
            for _ in 0..MAX_ENGAGEMENTS_PER_SEARCH {
                t += (4 + rng.below(27)) as f64;
                let weights: Vec<f32> = results
                    .iter()
                    .zip(&appeal)
                    .map(|(i, &a)| if engaged.contains(i) { REVISIT * a } else { a })
                    .collect();
                let total: f32 = weights.iter().sum::<f32>() + NO_CLICK_WEIGHT;
                let mut x = rng.f32() * total;
                let mut pick = None;
                for (k, w) in weights.iter().enumerate() {
                    if x < *w {
                        pick = Some(k);
                        break;
                    }
                    x -= w;
                }
                let (clicked, click_kind) = match pick {
                    Some(k) => {
                        let kind = if rng.f32() < 0.1 { EventKind::Cart } else { EventKind::Click };
                        (Some(items[k].clone()), kind)
                    }
                    None => (None, EventKind::Click),
                };
                steps.push(Step::Results(Display {
                    timestamp: t,
                    items: items.clone(),
                    prices: Some(prices.clone()),
                    clicked: clicked.clone(),
                    click_kind,
                }));
                let Some(k) = pick else { break };
                engaged.insert(results[k]);
                // From the product page: sometimes into the cart, rarely bought.
                if click_kind == EventKind::Click && shopper.utility(&cat.products[results[k]]) > 2.0 {
                    let r = rng.f32();
                    let kind = if r < 0.05 {
                        Some(EventKind::Purchase)
                    } else if r < 0.3 {
                        Some(EventKind::Cart)
                    } else {
                        None
                    };
                    if let Some(kind) = kind {
                        t += (5 + rng.below(56)) as f64;
                        let mut event = Event::new(items[k].clone(), kind);
                        event.timestamp = Some(t);
                        steps.push(Step::Event { timestamp: t, event });
                    }
                }
            }
        }
        if steps.is_empty() {
            // A session needs a step; a shopper who searched for nothing still saw the front page.
            let items: Vec<String> = cat.products.iter().take(RESULTS_PER_PAGE).map(|p| p.id.clone()).collect();
            let prices = cat.products.iter().take(RESULTS_PER_PAGE).map(|p| p.price).collect();
            steps.push(Step::Results(Display {
                timestamp: t,
                items,
                prices: Some(prices),
                clicked: None,
                click_kind: EventKind::Click,
            }));
        }
        let session = Session { id: format!("sim-{:05}", s + 1), user: Some(format!("shopper-{:05}", s + 1)), steps };
        Some((session, shopper))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.n_sessions - self.next;
        (left, Some(left))
    }
}

/// Writes what `fewclick simulate` produces into `dir` (created if needed): `catalogue.json`
/// ([`Catalogue::save_json`]), `sessions.jsonl` (the JSONL session format) and `item-table.json`
/// (an item-feature table in the format of [`crate::train::items::ItemFeatures::save_json`], for
/// `fewclick train --item-table`: [`FEATURE_NAMES`], a zero default, every product's
/// [`item_vector`]; the trained model carries it, so the demo page sends ids and prices only).
pub fn write_demo_inputs(cat: &Catalogue, ds: &Dataset, dir: &Path) -> Result<()> {
    write_demo_files(cat, ds.sessions.iter().cloned(), dir, |_| {}).map(|_| ())
}

/// [`write_demo_inputs`] from sessions as they come (a [`Simulator`]): `sessions.jsonl` is written
/// session by session, so a log of any length takes the memory of one session. `each` sees the
/// number of sessions written so far after each one; returns how many were written.
pub fn write_demo_files(
    cat: &Catalogue,
    sessions: impl IntoIterator<Item = Session>,
    dir: &Path,
    mut each: impl FnMut(usize),
) -> Result<usize> {
    std::fs::create_dir_all(dir).map_err(|e| invalid(format!("cannot create {}: {e}", dir.display())))?;
    cat.save_json(&dir.join("catalogue.json"))?;
    write(&dir.join("item-table.json"), item_table_json(cat)?.as_bytes())?;
    let mut out = crate::train::data::JsonlWriter::create(&dir.join("sessions.jsonl"))?;
    let mut written = 0;
    for session in sessions {
        out.write_session(&session)?;
        written += 1;
        each(written);
    }
    out.finish()?;
    Ok(written)
}

/// The catalogue's item-feature table as JSON (see [`write_demo_inputs`]).
pub fn item_table_json(cat: &Catalogue) -> Result<String> {
    let names: Vec<&str> = FEATURE_NAMES.to_vec();
    let items: BTreeMap<&str, Vec<f32>> = cat.products.iter().map(|p| (p.id.as_str(), item_vector(p))).collect();
    let json = serde_json::json!({
        "format": "fewclick-item-features",
        "version": 2,
        "names": names,
        "default": vec![0.0f32; D],
        "items": items,
    });
    serde_json::to_string(&json).map_err(|e| invalid(format!("cannot encode the item table: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::data::{load, Format};
    use crate::train::items::ItemFeatures;

    #[test]
    fn sessions_are_deterministic_and_well_formed() {
        let cat = generate_catalogue(7, 192);
        let a = simulate_sessions(&cat, 50, 3);
        assert_eq!(a.sessions, simulate_sessions(&cat, 50, 3).sessions);
        assert_ne!(a.sessions, simulate_sessions(&cat, 50, 4).sessions);
        assert_eq!(a.n_sessions(), 50);
        let ids: HashSet<&str> = cat.products.iter().map(|p| p.id.as_str()).collect();
        let mut clicked = 0;
        for s in &a.sessions {
            assert!(s.steps.windows(2).all(|w| w[0].timestamp() < w[1].timestamp()), "time order");
            for d in s.displays() {
                assert!((12..=24).contains(&d.items.len()), "{} items", d.items.len());
                assert!(d.items.iter().all(|i| ids.contains(i.as_str())));
                assert_eq!(d.prices.as_ref().map(Vec::len), Some(d.items.len()));
                clicked += d.clicked.is_some() as usize;
            }
        }
        assert!(clicked > 100, "{clicked} clicked lists");
        assert!(a.n_events() > 0, "carts and purchases appear as events");
    }

    #[test]
    fn shoppers_click_their_favourite_brands_more_often_than_chance_and_position_matters() {
        let cat = generate_catalogue(7, 192);
        let (ds, shoppers) = simulate_with_shoppers(&cat, 400, 5);
        let brand_of: std::collections::HashMap<&str, usize> =
            cat.products.iter().map(|p| (p.id.as_str(), brand_index(p))).collect();
        // Chance: a click on a uniformly drawn item of the same list. Overall, and for the
        // brand-loyal shoppers alone; lists that are mostly the favourite brands (a search for the
        // brand) do not count.
        let mut stats = [(0usize, 0.0f64, 0usize); 2]; // (favourite-brand clicks, chance, clicks)
        let mut by_position = [0usize; RESULTS_PER_PAGE];
        for (s, shopper) in ds.sessions.iter().zip(&shoppers) {
            for d in s.displays() {
                let fav = |id: &str| shopper.favourite_brands.contains(&brand_of[id]);
                let n_fav = d.items.iter().filter(|i| fav(i)).count();
                if let (Some(c), Some(k)) = (&d.clicked, d.clicked_index()) {
                    by_position[k] += 1;
                    if 2 * n_fav > d.items.len() {
                        continue;
                    }
                    let loyal = shopper.brand_weight >= 2.5;
                    for st in stats.iter_mut().take(1 + loyal as usize) {
                        st.0 += fav(c) as usize;
                        st.1 += n_fav as f64 / d.items.len() as f64;
                        st.2 += 1;
                    }
                }
            }
        }
        let share = |st: (usize, f64, usize)| (st.0 as f64 / st.2 as f64, st.1 / st.2 as f64);
        let (all, all_chance) = share(stats[0]);
        let (loyal, loyal_chance) = share(stats[1]);
        eprintln!("favourite-brand click share {all:.3} (chance {all_chance:.3}); brand-loyal {loyal:.3} (chance {loyal_chance:.3})");
        assert!(all > 1.5 * all_chance, "favourite brands: {all:.3} of clicks, {all_chance:.3} by chance");
        assert!(loyal > 2.5 * loyal_chance, "brand-loyal: {loyal:.3} of clicks, {loyal_chance:.3} by chance");
        // Position bias: the top three slots get more clicks than the bottom three.
        let top: usize = by_position[..3].iter().sum();
        let bottom: usize = by_position[RESULTS_PER_PAGE - 3..].iter().sum();
        assert!(top > 2 * bottom, "top {top}, bottom {bottom}");
    }

    #[test]
    fn demo_inputs_load_back() {
        let cat = generate_catalogue(7, 96);
        let ds = simulate_sessions(&cat, 20, 1);
        let dir = std::env::temp_dir().join(format!("fewclick-simulate-{}", std::process::id()));
        write_demo_inputs(&cat, &ds, &dir).expect("write");
        let back = load(Format::Jsonl, &dir.join("sessions.jsonl")).expect("sessions load");
        assert_eq!(back.sessions, ds.sessions);
        let table = ItemFeatures::load_json(&dir.join("item-table.json")).expect("item table loads");
        assert_eq!(table.dim(), D);
        assert_eq!(table.n_items(), 96);
        // One-hot columns quantise exactly; the log-price column (range under 5) to half a step.
        let p = &cat.products[5];
        let (exact, got) = (item_vector(p), table.vector(&p.id));
        assert_eq!(got[..D - 1], exact[..D - 1], "{p:?}");
        assert!((got[D - 1] - exact[D - 1]).abs() < 2.5 / 255.0, "{p:?}");
        let loaded = Catalogue::load_json(&dir.join("catalogue.json")).expect("catalogue loads");
        assert_eq!(loaded.seed, 7);
        let strip =
            |c: &Catalogue| c.products.iter().map(|p| Product { popularity: 0.0, ..p.clone() }).collect::<Vec<_>>();
        assert_eq!(strip(&loaded), strip(&cat));
        let text = std::fs::read_to_string(dir.join("catalogue.json")).expect("read");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["queries"]["jumpers"].as_array().map(Vec::len), Some(16));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
