//! A session that spans page loads: the event log as versioned, checksummed, size-bounded bytes.
//!
//! ```text
//! offset  field
//!      0  magic "FCSESSN1"                                   8 bytes
//!      8  format version (u32)                               = 1
//!     12  total length, checksum included (u32)
//!     16  model tag (u32): which model wrote it (see Reranker::model_tag)
//!     20  item_dim (u32), session_dim (u32)
//!     28  clock (f64, NaN = none), entry count (u32)
//!     40  entries, oldest first:
//!           id: u8 (length − 1) + UTF-8; kind (u8); timestamp (f64, NaN = none); dwell ms (f32)
//!           snapshot flag (u8); if 1: x (item_dim × f32), norm (f32), price (f32, NaN = none)
//!           example flag (u8); if 1: rows (u32), has_positive (u8), weight (f32),
//!                                    base (rows × f32), inputs (rows × (item_dim + session_dim) × f32)
//!    end  CRC-32 of every byte before it (u32)
//! ```
//!
//! Only what the log learned from is kept: the events with their snapshots and training examples,
//! and the clock. The lists shown are not: a new page shows new lists. An export holds at most
//! [`MAX_SESSION_BYTES`]; the oldest entries are left out until it fits. The reader trusts
//! nothing: every count is checked against the bytes present, every number for finiteness, and
//! bytes written for another model or another build's feature widths are refused.

use super::events::{Entry, EventLog, Example, Snapshot};
use super::{Event, EventKind, SESSION_DIM};
use crate::bytes::Reader;
use crate::error::{msg, Error, Result};
use crate::model_file::crc32;

pub const SESSION_MAGIC: &[u8; 8] = b"FCSESSN1";
pub const SESSION_VERSION: u32 = 1;
/// The largest export: sessionStorage holds about 5 MB per origin, base64 adds a third.
pub const MAX_SESSION_BYTES: usize = 1 << 20;
const HEADER: usize = 40;

fn bad(reason: impl Into<String>) -> Error {
    Error::InvalidSession { reason: reason.into() }
}

fn kind_code(k: EventKind) -> u8 {
    match k {
        EventKind::Impression => 0,
        EventKind::Click => 1,
        EventKind::Cart => 2,
        EventKind::Purchase => 3,
        EventKind::Skip => 4,
        EventKind::Dwell => 5,
    }
}

fn kind_of(c: u8) -> Option<EventKind> {
    Some(match c {
        0 => EventKind::Impression,
        1 => EventKind::Click,
        2 => EventKind::Cart,
        3 => EventKind::Purchase,
        4 => EventKind::Skip,
        5 => EventKind::Dwell,
        _ => return None,
    })
}

fn put_f32s(b: &mut Vec<u8>, v: &[f32]) {
    for x in v {
        b.extend_from_slice(&x.to_le_bytes());
    }
}

fn entry_bytes(e: &Entry, b: &mut Vec<u8>) {
    let id = e.event.item.as_bytes();
    b.push((id.len() - 1) as u8);
    b.extend_from_slice(id);
    b.push(kind_code(e.event.kind));
    b.extend_from_slice(&e.event.timestamp.unwrap_or(f64::NAN).to_le_bytes());
    b.extend_from_slice(&e.event.dwell_ms.to_le_bytes());
    match &e.snapshot {
        Some(s) => {
            b.push(1);
            put_f32s(b, &s.x);
            b.extend_from_slice(&s.norm.to_le_bytes());
            b.extend_from_slice(&s.price.unwrap_or(f32::NAN).to_le_bytes());
        }
        None => b.push(0),
    }
    match &e.example {
        Some(ex) => {
            b.push(1);
            b.extend_from_slice(&(ex.base.len() as u32).to_le_bytes());
            b.push(ex.has_positive as u8);
            b.extend_from_slice(&ex.weight.to_le_bytes());
            put_f32s(b, &ex.base);
            put_f32s(b, &ex.inputs);
        }
        None => b.push(0),
    }
}

impl EventLog {
    /// The log as bytes for `model_tag` and item width `dim` (see the [module documentation](self)).
    #[cfg_attr(fewclick_ship, optimize(size), inline(never))]
    pub fn export(&self, model_tag: u32, dim: usize) -> Vec<u8> {
        // Entries newest first, as long as they fit; written oldest first.
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut size = HEADER + 4;
        for e in self.entries.iter().rev() {
            // An entry recorded under another item width (a model change mid-session) is not kept.
            if e.snapshot.as_ref().is_some_and(|s| s.x.len() != dim)
                || e.example.as_ref().is_some_and(|x| x.inputs.len() != x.base.len() * (dim + SESSION_DIM))
            {
                continue;
            }
            let mut b = Vec::new();
            entry_bytes(e, &mut b);
            if size + b.len() > MAX_SESSION_BYTES {
                break;
            }
            size += b.len();
            parts.push(b);
        }
        let mut b = Vec::with_capacity(size);
        b.extend_from_slice(SESSION_MAGIC);
        for v in [SESSION_VERSION, size as u32, model_tag, dim as u32, SESSION_DIM as u32] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&self.clock.unwrap_or(f64::NAN).to_le_bytes());
        b.extend_from_slice(&(parts.len() as u32).to_le_bytes());
        for p in parts.iter().rev() {
            b.extend_from_slice(p);
        }
        let crc = crc32(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// Reads an export made for `model_tag` and item width `dim` into a log of `capacity` (the
    /// newest entries kept when there are more). Any defect is an `InvalidSession` error.
    #[cfg_attr(fewclick_ship, optimize(size), inline(never))]
    pub fn import(bytes: &[u8], model_tag: u32, dim: usize, capacity: usize) -> Result<EventLog> {
        if bytes.len() < HEADER + 4 || bytes.len() > MAX_SESSION_BYTES {
            return Err(bad(msg!(bytes.len(), " bytes is not the size of a session export")));
        }
        if &bytes[..8] != SESSION_MAGIC {
            return Err(bad("not a fewclick session (bad magic)"));
        }
        let mut r = Reader::new(bytes, 8, short);
        let version = r.u32()?;
        if version != SESSION_VERSION {
            return Err(bad(msg!("session format version ", version, ", this build reads ", SESSION_VERSION)));
        }
        if r.u32()? as usize != bytes.len() {
            return Err(bad("length mismatch (truncated?)"));
        }
        let body = &bytes[..bytes.len() - 4];
        let stored = u32::from_le_bytes([
            bytes[body.len()],
            bytes[body.len() + 1],
            bytes[body.len() + 2],
            bytes[body.len() + 3],
        ]);
        if crc32(body) != stored {
            return Err(bad("checksum mismatch: the bytes are damaged"));
        }
        let mut r = Cursor(Reader::new(body, 16, short));
        if r.0.u32()? != model_tag {
            return Err(bad("written for another model"));
        }
        if r.0.u32()? as usize != dim || r.0.u32()? as usize != SESSION_DIM {
            return Err(bad("written with other feature widths"));
        }
        let clock = r.0.f64()?;
        let clock = if clock.is_nan() { None } else { Some(clock) };
        if clock.is_some_and(|c| super::check_time(c, "clock").is_err()) {
            return Err(bad("the clock is not a time in 0..1e11 seconds"));
        }
        let n = r.0.u32()? as usize;
        // Every entry takes at least 16 bytes: no allocation beyond what the bytes can hold.
        if n > body.len() / 16 {
            return Err(bad(msg!(n, " entries cannot fit in ", body.len(), " bytes")));
        }
        let mut log = EventLog::new(capacity)?;
        let mut last_time: Option<f64> = None;
        for i in 0..n {
            let entry = r.entry(dim).map_err(|e| bad(msg!("entry ", i, ": ", e.message())))?;
            if let Some(t) = entry.event.timestamp {
                if last_time.is_some_and(|l| t < l) {
                    return Err(bad(msg!("entry ", i, ": timestamps go backwards")));
                }
                last_time = Some(t);
            }
            log.push_entry(entry);
        }
        if r.0.remaining() != 0 {
            return Err(bad("bytes after the last entry"));
        }
        log.clock = clock;
        Ok(log)
    }
}

fn short() -> Error {
    bad("unexpected end")
}

/// The session layout's reads over a [`Reader`].
struct Cursor<'a>(Reader<'a>);

impl Cursor<'_> {
    fn finite(&mut self, n: usize, what: &str) -> Result<Vec<f32>> {
        let v = self.0.f32s(n)?;
        if v.iter().any(|x| !x.is_finite()) {
            return Err(bad(msg!(what, " is not finite")));
        }
        Ok(v)
    }
    fn flag(&mut self) -> Result<bool> {
        match self.0.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(bad(msg!("flag byte ", v))),
        }
    }

    fn entry(&mut self, dim: usize) -> Result<Entry> {
        let r = &mut self.0;
        let len = r.u8()? as usize + 1;
        let item = std::str::from_utf8(r.take(len)?).map_err(|_| bad("id is not UTF-8"))?.to_string();
        let kind = kind_of(r.u8()?).ok_or_else(|| bad("unknown event kind"))?;
        let t = r.f64()?;
        let timestamp = if t.is_nan() { None } else { Some(t) };
        let event = Event { item, kind, timestamp, dwell_ms: r.f32()? };
        event.validate().map_err(|e| bad(e.message()))?;
        let snapshot = if self.flag()? {
            let x = self.finite(dim, "a snapshot")?;
            let norm = self.0.f32()?;
            let price = self.0.f32()?;
            if !(norm.is_finite() && norm >= 0.0) || !(price.is_nan() || price.is_finite() && price > 0.0) {
                return Err(bad("a snapshot's norm or price is invalid"));
            }
            Some(Snapshot { x, norm, price: if price.is_nan() { None } else { Some(price) } })
        } else {
            None
        };
        let example = if self.flag()? {
            let rows = self.0.u32()? as usize;
            if rows == 0 || rows > 1 + super::MAX_ABOVE {
                return Err(bad(msg!("an example of ", rows, " rows")));
            }
            let has_positive = self.flag()?;
            let weight = self.0.f32()?;
            if !(weight.is_finite() && weight > 0.0) {
                return Err(bad("an example's weight is invalid"));
            }
            let base = self.finite(rows, "an example's base scores")?;
            let inputs = self.finite(rows * (dim + SESSION_DIM), "an example's inputs")?;
            Some(Example { inputs, base, has_positive, weight })
        } else {
            None
        };
        Ok(Entry { event, snapshot, example })
    }
}
