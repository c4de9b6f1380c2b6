//! The demo store's committed assets (`www/assets/demo.fcm`, `www/assets/catalogue.json`) still
//! load into the current code and match the generator: a stale asset fails here, not in a
//! visitor's browser.
//!
//! The assets are made by the command line (`bash scripts/demo.sh --retrain` runs exactly this):
//!
//! ```text
//! fewclick simulate --seed 7 --products 192 --sessions 3000 --out-dir out/demo
//! fewclick train --format jsonl --sessions out/demo/sessions.jsonl --item-table out/demo/item-table.json \
//!     --hidden 16 --seed 7 --out out/demo/demo.fcm
//! cp out/demo/catalogue.json out/demo/demo.fcm www/assets/
//! ```
//!
//! The ignored test below makes the same two files through the library (byte for byte the same)
//! and prints the model's quality on held-out simulated shoppers against display order, the
//! interacted-first heuristic, the model without adaptation and an oracle that knows the hidden
//! preferences:
//!
//! ```text
//! FEWCLICK_WRITE_DEMO_ASSETS=1 cargo test --release --test demo_model -- --ignored --nocapture
//! ```

#![cfg(feature = "cli")]

use fewclick::demo::{
    engagement_appeal, examine, generate_catalogue, item_vector, simulate_sessions, simulate_with_shoppers,
    write_demo_inputs, Catalogue, Product, Shopper, D, FEATURE_NAMES, RESULTS_PER_PAGE,
};
use fewclick::train::data::Dataset;
use fewclick::train::eval::{evaluate, Method};
use fewclick::train::items::ItemFeatures;
use fewclick::train::meta::Algorithm;
use fewclick::train::pipeline::{prepare, train, TrainOptions};
use fewclick::train::report::metrics;
use fewclick::{Config, Event, EventKind, Model, Reranker};
use std::path::{Path, PathBuf};

/// How the committed assets were made (the seed is also recorded in catalogue.json).
const SEED: u64 = 7;
const PRODUCTS: usize = 192;
const SESSIONS: usize = 3000;

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("www/assets")
}

fn committed_model() -> Model {
    let path = assets().join("demo.fcm");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Model::from_bytes(&bytes).unwrap_or_else(|e| {
        panic!("{} no longer loads ({e}); regenerate it (see the top of tests/demo_model.rs)", path.display())
    })
}

fn committed_catalogue() -> Catalogue {
    Catalogue::load_json(&assets().join("catalogue.json"))
        .unwrap_or_else(|e| panic!("{e}; regenerate it (see the top of tests/demo_model.rs)"))
}

fn without_popularity(c: &Catalogue) -> Vec<Product> {
    c.products.iter().map(|p| Product { popularity: 0.0, ..p.clone() }).collect()
}

#[test]
fn committed_model_loads_and_matches_the_generator_schema() {
    let model = committed_model();
    let expected: Vec<String> = FEATURE_NAMES.iter().map(|s| s.to_string()).collect();
    assert_eq!(model.feature_names, expected);
    assert_eq!(model.arch.item_dim, D);
    // The model carries every product's vector: the page sends ids and prices only.
    let table = model.items.as_ref().expect("the demo model carries its item table");
    let cat = committed_catalogue();
    assert_eq!(table.len(), cat.products.len());
    let mut v = vec![0.0; D];
    for p in &cat.products {
        assert!(table.vector_into(&p.id, &mut v), "{} is in the table", p.id);
        // One-hot columns quantise exactly; the log-price column (range under 5) to half a step.
        let exact = item_vector(p);
        assert_eq!(v[..D - 1], exact[..D - 1], "{}", p.id);
        assert!((v[D - 1] - exact[D - 1]).abs() < 2.5 / 255.0, "{}: {v:?} vs {exact:?}", p.id);
    }
    let size = std::fs::metadata(assets().join("demo.fcm")).expect("model").len()
        + std::fs::metadata(assets().join("catalogue.json")).expect("catalogue").len();
    assert!(size < 200_000, "the committed demo assets take {size} bytes; keep them under 200 KB");
}

#[test]
fn committed_catalogue_matches_the_generator() {
    let committed = committed_catalogue();
    assert_eq!(committed.seed, SEED);
    let generated = generate_catalogue(committed.seed, committed.products.len());
    assert_eq!(without_popularity(&committed), without_popularity(&generated), "products, in catalogue order");
    // The page checks its own search against the stored query results; those must be the
    // generator's.
    let text = std::fs::read_to_string(assets().join("catalogue.json")).expect("read");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    for q in Catalogue::canonical_queries() {
        let stored: Vec<&str> = json["queries"][&q].as_array().expect(&q).iter().filter_map(|v| v.as_str()).collect();
        let fresh: Vec<&str> =
            generated.search(&q, RESULTS_PER_PAGE).into_iter().map(|i| generated.products[i].id.as_str()).collect();
        assert_eq!(stored, fresh, "query {q:?}");
    }
}

/// What the demo's end-to-end test checks in the browser, natively: after two clicks on items of
/// one brand, that brand's other items move up.
#[test]
fn committed_model_moves_a_clicked_brand_up() {
    let cat = committed_catalogue();
    let list: Vec<&Product> = cat.search("jumpers", RESULTS_PER_PAGE).into_iter().map(|i| &cat.products[i]).collect();
    let ids: Vec<String> = list.iter().map(|p| p.id.clone()).collect();
    let mut engine = engine_with(&ids, &list);
    let untouched = engine.rank().expect("rank");
    assert_eq!(untouched.order, (0..ids.len()).collect::<Vec<_>>(), "no events: the store's order");
    let mut checked = 0;
    for brand in fewclick::demo::BRANDS.iter().map(|b| b.name) {
        let of_brand: Vec<usize> = (0..list.len()).filter(|&i| list[i].brand == brand).collect();
        if of_brand.len() < 3 {
            continue;
        }
        let mut engine = engine_with(&ids, &list);
        for &i in &of_brand[of_brand.len() - 2..] {
            engine.record(Event::new(ids[i].clone(), EventKind::Click)).expect("record");
        }
        let ranking = engine.rank().expect("rank");
        let new_pos = |i: usize| ranking.order.iter().position(|&j| j == i).expect("permutation");
        let others = &of_brand[..of_brand.len() - 2];
        let before: f64 = others.iter().map(|&i| i as f64).sum::<f64>() / others.len() as f64;
        let after: f64 = others.iter().map(|&i| new_pos(i) as f64).sum::<f64>() / others.len() as f64;
        eprintln!("{brand}: unclicked items' mean position {before:.1} -> {after:.1}");
        // Items already at the very top cannot move up.
        let at_top = others.iter().enumerate().all(|(k, &i)| k == i);
        assert!(
            after < before || (at_top && after == before),
            "{brand}: its other items should move up ({before:.1} -> {after:.1})"
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} brands have 3 or more jumpers on the first page");
}

/// What the page does: ids and prices, the vectors looked up in the model's table.
fn engine_with(ids: &[String], list: &[&Product]) -> Reranker {
    let prices = list.iter().map(|p| p.price).collect();
    let mut engine = Reranker::new(committed_model(), Config::default()).expect("engine");
    engine.set_results(ids.to_vec(), None, None, Some(prices)).expect("results");
    engine
}

/// Regenerates the committed assets: simulate, meta-train with the catalogue's item vectors,
/// evaluate on held-out simulated sessions, write `www/assets/`. Only with
/// FEWCLICK_WRITE_DEMO_ASSETS=1 (a release build takes about a minute on 2 cores).
#[test]
#[ignore]
fn regenerate_demo_assets() {
    if std::env::var("FEWCLICK_WRITE_DEMO_ASSETS").as_deref() != Ok("1") {
        eprintln!("set FEWCLICK_WRITE_DEMO_ASSETS=1 to rewrite www/assets/");
        return;
    }
    let cat = generate_catalogue(SEED, PRODUCTS);
    let sessions = simulate_sessions(&cat, SESSIONS, SEED);
    let (held_out, shoppers) = simulate_with_shoppers(&cat, 600, SEED + 1_000);
    let work = std::env::temp_dir().join(format!("fewclick-demo-assets-{}", std::process::id()));
    write_demo_inputs(&cat, &sessions, &work).expect("write inputs");
    let table = ItemFeatures::load_json(&work.join("item-table.json")).expect("item table");
    let opts = TrainOptions { algorithm: Algorithm::MetaSgd, hidden: 16, seed: SEED, ..TrainOptions::default() };
    let prep = prepare(&sessions, &opts, Some(table.clone())).expect("prepare");
    eprintln!("{} tasks", prep.tasks.len());
    let trained = train(&prep, &opts, |_| {}).expect("train");
    eprintln!("trained {} iterations in {:.1} s", trained.iterations, trained.seconds);
    report(&held_out, &trained.model);
    oracle(&cat, &held_out, &shoppers);

    std::fs::create_dir_all(assets()).expect("assets dir");
    std::fs::write(assets().join("demo.fcm"), trained.model.to_bytes().expect("a valid model")).expect("write model");
    cat.save_json(&assets().join("catalogue.json")).expect("write catalogue");
    let _ = std::fs::remove_dir_all(&work);
    eprintln!("wrote {}", assets().display());
}

fn report(held_out: &Dataset, model: &Model) {
    let methods = vec![
        Method::display(),
        Method::interacted_first(),
        Method::model("demo", model, None),
        Method::model("demo-no-adapt", model, Some(0)),
    ];
    let outcomes = evaluate(held_out, &methods).expect("evaluate");
    for (name, o) in &outcomes {
        let m = metrics(o);
        let later: Vec<_> = o.iter().filter(|x| x.prior_events > 0).cloned().collect();
        let ml = metrics(&later);
        eprintln!(
            "{name:<16} MRR {:.3}  nDCG@5 {:.3}  HR@1 {:.3}  (n {});  after ≥1 event: MRR {:.3} (n {})",
            m.mrr, m.ndcg5, m.hit1, m.n, ml.mrr, ml.n
        );
    }
}

/// Upper bound: the MRR of ranking each list by the hidden shopper's true engagement weight
/// (position bias of the logged order included), which no model can know.
fn oracle(cat: &Catalogue, held_out: &Dataset, shoppers: &[Shopper]) {
    let by_id: std::collections::HashMap<&str, &Product> = cat.products.iter().map(|p| (p.id.as_str(), p)).collect();
    let (mut rr, mut n) = (0.0f64, 0usize);
    for (s, shopper) in held_out.sessions.iter().zip(shoppers) {
        for d in s.displays() {
            let Some(target) = d.clicked_index() else { continue };
            let w: Vec<f32> = d
                .items
                .iter()
                .enumerate()
                .map(|(p, id)| examine(p) * engagement_appeal(shopper.utility(by_id[id.as_str()])))
                .collect();
            let rank = 1 + w.iter().filter(|&&v| v > w[target]).count();
            rr += 1.0 / rank as f64;
            n += 1;
        }
    }
    eprintln!("{:<16} MRR {:.3} (n {n}; knows the hidden preferences)", "oracle", rr / n as f64);
}
