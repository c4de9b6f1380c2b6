//! `EventLog::import` on arbitrary bytes (an exported session comes back from the page's
//! sessionStorage: untrusted input).
//!
//! Input: model tag (u32 LE), item width (u32 LE), log capacity (u32 LE), one flag byte, then the
//! bytes to import. Flag bit 0 patches the length field (offset 12) to the bytes' length, bit 1 the
//! trailing CRC-32 to the bytes before it, so mutations get past the checksum; with both clear the
//! bytes are imported exactly as given.
//! Checks: no panic and no allocation beyond what the bytes can hold; an import that succeeds
//! holds the newest min(entries, capacity) entries; its export (for the same tag and width) is
//! at most `MAX_SESSION_BYTES`, imports again, and that import exports the same bytes (the first
//! export canonicalises, e.g. NaN payloads; after it, export ∘ import is the identity).
#![no_main]

use fewclick::model_file::crc32;
use fewclick::session::{EventLog, MAX_SESSION_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 13 {
        return;
    }
    let word = |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    let (tag, dim, capacity, flags) = (word(0), word(4) as usize, word(8) as usize, data[12]);
    let mut bytes = data[13..].to_vec();
    let n = bytes.len();
    if flags & 1 != 0 && n >= 16 {
        bytes[12..16].copy_from_slice(&(n as u32).to_le_bytes());
    }
    if flags & 2 != 0 && n >= 4 {
        let crc = crc32(&bytes[..n - 4]);
        bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
    }
    let Ok(log) = EventLog::import(&bytes, tag, dim, capacity) else { return };

    // The header's entry count (offset 36) bounds what the log holds.
    let n = u32::from_le_bytes([bytes[36], bytes[37], bytes[38], bytes[39]]) as usize;
    assert_eq!(log.len(), n.min(capacity), "an import keeps the newest min(entries, capacity) entries");

    let first = log.export(tag, dim);
    assert!(first.len() <= MAX_SESSION_BYTES, "an export of {} bytes", first.len());
    let again = EventLog::import(&first, tag, dim, capacity)
        .unwrap_or_else(|e| panic!("an export of an imported session does not import: {e}"));
    assert_eq!(again.len(), log.len(), "export then import changes the number of events");
    assert_eq!(again.clock().map(f64::to_bits), log.clock().map(f64::to_bits), "the clock changes");
    let second = again.export(tag, dim);
    assert!(second == first, "export ∘ import is not the identity on an export");
});
