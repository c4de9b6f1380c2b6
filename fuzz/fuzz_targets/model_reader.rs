//! `Model::from_bytes` on arbitrary bytes (a `.fcm` file is untrusted input: a page fetches it).
//!
//! Input: one flag byte, then the file. A file's length field and CRC-32 stop almost every
//! mutation at the door, so flag bit 0 patches the length field (offset 12) to the file's length
//! and bit 1 the trailing CRC to the bytes before it: the fuzzer then reaches every field behind
//! them. With both bits clear the file is read exactly as given.
//!
//! Checks: no panic and no allocation beyond what the bytes can hold (libFuzzer's -rss_limit_mb);
//! a model that is read writes back (`to_bytes`) to bytes that read back to an equal model, and
//! those bytes are a fixed point of write ∘ read; `Reranker::new` on it with the default config
//! succeeds (the reader validated everything `new` checks) unless the model is over the memory
//! ceilings, and does not panic; a small model also
//! ranks a short list, before and after an event, into a permutation with finite scores.
#![no_main]

use fewclick::model_file::crc32;
use fewclick::{Config, Event, EventKind, Model, Reranker};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, file)) = data.split_first() else { return };
    let mut file = file.to_vec();
    let n = file.len();
    if flags & 1 != 0 && n >= 16 {
        file[12..16].copy_from_slice(&(n as u32).to_le_bytes());
    }
    if flags & 2 != 0 && n >= 4 {
        let crc = crc32(&file[..n - 4]);
        file[n - 4..].copy_from_slice(&crc.to_le_bytes());
    }
    let Ok(model) = Model::from_bytes(&file) else { return };
    // The writer refuses what the reader refuses: a model that was read is valid, so it writes.
    let bytes = model.to_bytes().expect("a model that was read writes");
    let back = Model::from_bytes(&bytes).expect("a model that was read writes bytes that read back");
    // Every float a valid model holds is finite, so PartialEq is exact here (no NaN).
    assert_eq!(back, model, "write then read changes the model");
    assert_eq!(back.to_bytes().ok(), Some(bytes), "write is not a fixed point of read ∘ write");

    let small = model.arch.item_dim <= 16 && model.arch.hidden <= 32;
    let dim = model.arch.item_dim;
    let table_ids: Vec<String> = match &model.items {
        Some(t) => (0..t.len().min(4)).map(|i| t.id(i).to_string()).collect(),
        None => Vec::new(),
    };
    let has_table = model.items.is_some();
    let mut r = match Reranker::new(model, Config::default()) {
        Ok(r) => r,
        // A valid model may still be too large for the memory ceilings (src/budget.rs).
        Err(e)
            if matches!(e, fewclick::Error::InvalidConfig { field: "memory", .. }) || e.code() == "MEMORY_BUDGET" =>
        {
            return;
        }
        Err(e) => panic!("Reranker::new refuses a model the reader accepted: {e}"),
    };
    if !small {
        return;
    }
    // A short list: the table's first ids and a cold one (looked up in the table), or given vectors.
    let mut ids = table_ids;
    if !ids.iter().any(|id| id == "fuzz-cold-item") {
        ids.push("fuzz-cold-item".to_string());
    }
    let n = ids.len();
    let features = if has_table { None } else { Some((0..n * dim).map(|i| ((i % 7) as f32 - 3.0) / 3.0).collect()) };
    if let Err(e) = r.set_results(ids.clone(), features, None, None) {
        // Table vectors are dequantised from finite offsets and scales; their sum can still overflow.
        assert_eq!(e.code(), "NON_FINITE", "set_results refused a list built from the model's own table: {e}");
        return;
    }
    check(&r.rank().expect("results are set"), n);
    let click = Event { timestamp: Some(1.0), ..Event::new(ids[n - 1].clone(), EventKind::Click) };
    r.record(click).expect("a click on a shown item");
    check(&r.rank().expect("results are set"), n);
});

fn check(ranking: &fewclick::Ranking, n: usize) {
    let mut seen = vec![false; n];
    for &i in &ranking.order {
        assert!(i < n && !seen[i], "order is not a permutation: {:?}", ranking.order);
        seen[i] = true;
    }
    assert_eq!(ranking.order.len(), n);
    assert!(ranking.scores.iter().all(|s| s.is_finite()), "non-finite score: {:?}", ranking.scores);
}
