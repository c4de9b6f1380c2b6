//! The model file (`.fcm`): everything the browser needs to adapt and rank, in one versioned,
//! checksummed little-endian binary.
//!
//! ```text
//! offset  field
//!      0  magic "FEWCLICK"                        8 bytes
//!      8  format version (u32)                    = 2 (1 is still read: no item table)
//!     12  total length in bytes, checksum included (u32)
//!     16  item_dim, hidden, session_dim, n_params (u32 × 4)
//!     32  steps (u32), scope (u8: 0 head, 1 all), loss (u8: 0 pairwise, 1 listwise),
//!         flags (u8: bit 0 = rank with the model even before any event), 1 zero byte,
//!         prox (f32), clip (f32), max_move (u32, u32::MAX = unbounded)
//!     52  algorithm name: u16 length + UTF-8
//!         item_dim feature names: u16 length + UTF-8 each
//!         θ0: n_params × f32;  α: n_params × f32
//!         item table (version 2): n_items (u32, 0 = none), then see crate::items
//!    end  CRC-32 (IEEE) of every byte before it (u32)
//! ```
//!
//! The reader trusts nothing: every size is checked against the bytes actually present and against
//! the architecture's own arithmetic before anything is allocated.

use crate::adapt::{InnerLoop, Scope};
use crate::bytes::Reader;
use crate::error::{msg, Error, Result};
use crate::items::ItemTable;
use crate::loss::LossKind;
use crate::params::Arch;
use crate::session::SESSION_DIM;

pub const MAGIC: &[u8; 8] = b"FEWCLICK";
pub const FORMAT_VERSION: u32 = 2;
/// The oldest version this build reads (version 1 has no item table).
pub const OLDEST_VERSION: u32 = 1;
const MAX_NAME_BYTES: usize = 64;
const HEADER_BYTES: usize = 52;

/// A trained model: architecture, initialisation, step sizes and inner-loop settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub arch: Arch,
    pub theta: Vec<f32>,
    pub alpha: Vec<f32>,
    pub inner: InnerLoop,
    /// How many places an item may move (None = unbounded).
    pub max_move: Option<u32>,
    /// Rank with the model even when the session has no events. Off, the host's order is returned
    /// untouched until the first event; the trainer turns it on only when held-out data shows the
    /// global model beats the host's order on such lists.
    pub rank_without_events: bool,
    pub algorithm: String,
    pub feature_names: Vec<String>,
    /// The item table (one vector per known item, in `feature_names`' schema), so a page sends
    /// ids and prices only; `None` when the host supplies every vector itself.
    pub items: Option<ItemTable>,
}

impl Model {
    /// Checks every invariant a model must hold; the reader and every constructor call it.
    #[cfg_attr(fewclick_ship, optimize(size), inline(never))]
    pub fn validate(&self) -> Result<()> {
        let n = self.arch.n_params();
        if self.theta.len() != n || self.alpha.len() != n {
            return Err(Error::model(msg!(
                "parameter count mismatch: architecture needs ",
                n,
                ", θ has ",
                self.theta.len(),
                ", α has ",
                self.alpha.len()
            )));
        }
        if let Some(i) = self.theta.iter().position(|v| !v.is_finite()) {
            return Err(Error::model(msg!("θ0[", i, "] is not finite")));
        }
        if let Some(i) = self.alpha.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(Error::model(msg!("α[", i, "] must be finite and non-negative")));
        }
        self.inner.validate().map_err(|e| Error::model(e.message()))?;
        if self.feature_names.len() != self.arch.item_dim {
            return Err(Error::model(msg!(
                self.feature_names.len(),
                " feature names for item_dim ",
                self.arch.item_dim
            )));
        }
        for name in std::iter::once(&self.algorithm).chain(&self.feature_names) {
            if name.len() > MAX_NAME_BYTES {
                return Err(Error::model(msg!("name longer than ", MAX_NAME_BYTES, " bytes")));
            }
        }
        if let Some(t) = &self.items {
            if t.dim() != self.arch.item_dim {
                return Err(Error::model(msg!("item table of width ", t.dim(), " for item_dim ", self.arch.item_dim)));
            }
        }
        Ok(())
    }

    /// The model as a file. What [`Model::from_bytes`] would refuse is refused here: the model is
    /// validated first, so the writer never writes a file its reader rejects.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let mut b = Vec::with_capacity(HEADER_BYTES + 8 * self.theta.len() + 64);
        b.extend_from_slice(MAGIC);
        put_u32(&mut b, FORMAT_VERSION);
        put_u32(&mut b, 0); // total length, patched below
        for v in [self.arch.item_dim, self.arch.hidden, SESSION_DIM, self.arch.n_params()] {
            put_u32(&mut b, v as u32);
        }
        put_u32(&mut b, self.inner.steps);
        b.push(match self.inner.scope {
            Scope::Head => 0,
            Scope::All => 1,
        });
        b.push(match self.inner.loss {
            LossKind::Pairwise => 0,
            LossKind::Listwise => 1,
        });
        b.extend_from_slice(&[self.rank_without_events as u8, 0]);
        b.extend_from_slice(&self.inner.prox.to_le_bytes());
        b.extend_from_slice(&self.inner.clip.to_le_bytes());
        put_u32(&mut b, self.max_move.unwrap_or(u32::MAX));
        for name in std::iter::once(&self.algorithm).chain(&self.feature_names) {
            // validate() refused names over MAX_NAME_BYTES: each fits its u16 length whole.
            b.extend_from_slice(&(name.len() as u16).to_le_bytes());
            b.extend_from_slice(name.as_bytes());
        }
        for v in self.theta.iter().chain(&self.alpha) {
            b.extend_from_slice(&v.to_le_bytes());
        }
        match &self.items {
            Some(t) => t.write(&mut b),
            None => put_u32(&mut b, 0),
        }
        let total = (b.len() + 4) as u32;
        b[12..16].copy_from_slice(&total.to_le_bytes());
        let crc = crc32(&b);
        put_u32(&mut b, crc);
        Ok(b)
    }

    #[cfg_attr(fewclick_ship, optimize(size), inline(never))]
    pub fn from_bytes(bytes: &[u8]) -> Result<Model> {
        if bytes.len() < HEADER_BYTES + 4 {
            return Err(Error::model(msg!("file is ", bytes.len(), " bytes, shorter than any model")));
        }
        if &bytes[..8] != MAGIC {
            return Err(Error::model("not a fewclick model (bad magic)"));
        }
        let mut r = Reader::new(bytes, 8, end_of_file);
        let version = r.u32()?;
        if !(OLDEST_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
        }
        let total = r.u32()? as usize;
        if total != bytes.len() {
            return Err(Error::model(msg!("header says ", total, " bytes, file has ", bytes.len(), " (truncated?)")));
        }
        let body = &bytes[..total - 4];
        let stored = u32::from_le_bytes([bytes[total - 4], bytes[total - 3], bytes[total - 2], bytes[total - 1]]);
        if crc32(body) != stored {
            return Err(Error::model("checksum mismatch: the file is corrupted"));
        }
        let mut r = Reader::new(body, 16, end_of_file);
        let (item_dim, hidden, session_dim, n_params) = (r.u32()?, r.u32()?, r.u32()?, r.u32()?);
        let arch = Arch::new(item_dim as usize, hidden as usize).map_err(|e| Error::model(e.message()))?;
        if session_dim as usize != SESSION_DIM {
            return Err(Error::model(msg!("session feature count ", session_dim, ", this build has ", SESSION_DIM)));
        }
        if n_params as usize != arch.n_params() {
            return Err(Error::model(msg!(n_params, " parameters for an architecture of ", arch.n_params())));
        }
        let steps = r.u32()?;
        let scope = match r.u8()? {
            0 => Scope::Head,
            1 => Scope::All,
            v => return Err(Error::model(msg!("unknown adapt scope ", v))),
        };
        let loss = match r.u8()? {
            0 => LossKind::Pairwise,
            1 => LossKind::Listwise,
            v => return Err(Error::model(msg!("unknown loss ", v))),
        };
        let rank_without_events = match r.u8()? {
            0 => false,
            1 => true,
            v => return Err(Error::model(msg!("unknown flags ", v))),
        };
        if r.u8()? != 0 {
            return Err(Error::model("reserved byte is not zero"));
        }
        let (prox, clip) = (r.f32()?, r.f32()?);
        let max_move = match r.u32()? {
            u32::MAX => None,
            m => Some(m),
        };
        let algorithm = read_name(&mut r)?;
        let feature_names = (0..arch.item_dim).map(|_| read_name(&mut r)).collect::<Result<Vec<_>>>()?;
        let n = arch.n_params();
        let rest = body.len() - r.pos;
        if (version == 1 && rest != 8 * n) || rest < 8 * n + 4 * (version >= 2) as usize {
            return Err(Error::model(msg!(rest, " bytes of weights where ", 8 * n, " are needed")));
        }
        let theta = (0..n).map(|_| r.f32()).collect::<Result<Vec<_>>>()?;
        let alpha = (0..n).map(|_| r.f32()).collect::<Result<Vec<_>>>()?;
        let items = if version >= 2 { ItemTable::read(&body[r.pos..], arch.item_dim)? } else { None };
        let model = Model {
            arch,
            theta,
            alpha,
            inner: InnerLoop { steps, scope, loss, prox, clip },
            max_move,
            rank_without_events,
            algorithm,
            feature_names,
            items,
        };
        model.validate()?;
        Ok(model)
    }
}

fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}

/// A name: u16 length + UTF-8, at most [`MAX_NAME_BYTES`].
fn read_name(r: &mut Reader) -> Result<String> {
    let s = r.take(2)?;
    let len = u16::from_le_bytes([s[0], s[1]]) as usize;
    if len > MAX_NAME_BYTES {
        return Err(Error::model(msg!("name of ", len, " bytes exceeds ", MAX_NAME_BYTES)));
    }
    let raw = r.take(len)?;
    String::from_utf8(raw.to_vec()).map_err(|_| Error::model("name is not UTF-8"))
}

fn end_of_file() -> Error {
    Error::model("unexpected end of file")
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), four bits at a time with a table of
/// 16 entries built at compile time: 64 bytes of wasm data where the usual 256-entry table takes
/// 1 KB (incompressible, about 1 KB of gzip in every page), at about half its speed (a 1.2 MB
/// model file checks in a few ms). Detects every single-byte change and every burst of up to 32
/// bits.
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 16] = {
        let mut t = [0u32; 16];
        let mut i = 0;
        while i < 16 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 4 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        crc = TABLE[(crc & 0xF) as usize] ^ (crc >> 4);
        crc = TABLE[(crc & 0xF) as usize] ^ (crc >> 4);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_refuses_what_the_reader_would_refuse() {
        let arch = Arch::new(1, 4).expect("arch");
        let n = arch.n_params();
        // 63 ASCII bytes then a 2-byte character: a cut at 64 bytes would split it.
        let name = format!("{}é", "a".repeat(63));
        let m = Model {
            arch,
            theta: vec![0.0; n],
            alpha: vec![0.0; n],
            inner: InnerLoop::default(),
            max_move: None,
            rank_without_events: false,
            algorithm: name,
            feature_names: vec!["x".into()],
            items: None,
        };
        assert!(m.validate().is_err(), "the model itself is refused");
        assert!(matches!(m.to_bytes(), Err(Error::InvalidModel { .. })), "a name over 64 bytes");
        let ok = Model { algorithm: "a".repeat(63), ..m.clone() };
        let back = Model::from_bytes(&ok.to_bytes().expect("valid")).expect("what the writer wrote, the reader reads");
        assert_eq!(back, ok);
        let nan = Model { theta: vec![f32::NAN; n], ..ok.clone() };
        assert!(matches!(nan.to_bytes(), Err(Error::InvalidModel { .. })), "a θ0 that is not finite");
        let negative = Model { alpha: vec![-1.0; n], ..ok };
        assert!(matches!(negative.to_bytes(), Err(Error::InvalidModel { .. })), "a negative α");
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        // The check value of CRC-32/ISO-HDLC for "123456789" (from the CRC catalogue).
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    /// The plain bit-by-bit definition, the oracle of the table-driven version.
    fn crc32_bitwise(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 { 0xEDB8_8320 ^ (crc >> 1) } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn crc32_equals_the_bitwise_definition() {
        // Every byte value in every position of a short message, and lengths 0..300 of a
        // pseudo-random one (seed fixed: an LCG).
        let mut x = 12345u32;
        let data: Vec<u8> = (0..300)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 16) as u8
            })
            .collect();
        for len in 0..data.len() {
            assert_eq!(crc32(&data[..len]), crc32_bitwise(&data[..len]), "length {len}");
        }
        for b in 0..=255u8 {
            let m = [b, 0x5A, b, 0xFF];
            assert_eq!(crc32(&m), crc32_bitwise(&m), "byte {b}");
        }
    }
}
