//! The one error type of the core. Every fallible operation returns it; the wasm boundary maps each
//! variant once to a JS `Error` with a stable `code` (see [`Error::code`]).

use std::fmt;

/// Everything that can go wrong in the core, with the facts needed to act on it.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The model file is not a fewclick model, or is damaged.
    InvalidModel { reason: String },
    /// The model file was written by a format version this build does not read.
    UnsupportedVersion { found: u32, supported: u32 },
    /// A vector or table has the wrong length.
    DimensionMismatch { what: &'static str, expected: usize, found: usize },
    /// A number that must be finite is NaN or infinite.
    NonFinite { what: &'static str, index: usize },
    /// More candidates than the configured limit.
    TooManyCandidates { limit: usize, found: usize },
    /// The same item id appears twice in one result set.
    DuplicateId { id: String },
    /// An item id is empty or too long.
    InvalidId { reason: String },
    /// An event refers to an item we know nothing about and the operation needs it.
    UnknownItem { id: String },
    /// A setting is out of its allowed range.
    InvalidConfig { field: &'static str, reason: String },
    /// Input data (session logs, feature tables) could not be parsed.
    InvalidInput { reason: String },
    /// The operation needs a result set and none has been given.
    NoResults,
    /// Results came without feature vectors and the model carries no item table to look them up.
    NoItemTable,
    /// The host's feature names differ from the model's schema: first difference at `index`
    /// (the model has `expected` features, the host gave `found`).
    SchemaMismatch { index: usize, expected: usize, found: usize },
    /// Exported session bytes that are damaged, foreign (another model) or not a session at all.
    InvalidSession { reason: String },
    /// The instance's rerankers would hold more than its memory budget (see src/budget.rs).
    MemoryBudget { needed_mib: usize, held_mib: usize, budget_mib: usize },
}

impl Error {
    /// The stable, machine-readable code the JS side sees as `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidModel { .. } => "INVALID_MODEL",
            Error::UnsupportedVersion { .. } => "UNSUPPORTED_VERSION",
            Error::DimensionMismatch { .. } => "DIMENSION_MISMATCH",
            Error::NonFinite { .. } => "NON_FINITE",
            Error::TooManyCandidates { .. } => "TOO_MANY_CANDIDATES",
            Error::DuplicateId { .. } => "DUPLICATE_ID",
            Error::InvalidId { .. } => "INVALID_ID",
            Error::UnknownItem { .. } => "UNKNOWN_ITEM",
            Error::InvalidConfig { .. } => "INVALID_CONFIG",
            Error::InvalidInput { .. } => "INVALID_INPUT",
            Error::NoResults => "NO_RESULTS",
            Error::NoItemTable => "NO_ITEM_TABLE",
            Error::SchemaMismatch { .. } => "SCHEMA_MISMATCH",
            Error::InvalidSession { .. } => "INVALID_SESSION",
            Error::MemoryBudget { .. } => "MEMORY_BUDGET",
        }
    }

    pub(crate) fn model(reason: impl Into<String>) -> Self {
        Error::InvalidModel { reason: reason.into() }
    }

    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidConfig { field, reason: reason.into() }
    }
}

impl Error {
    /// The message the JS side sees as `error.message`, built with [`msg!`] instead of `core::fmt`
    /// (formatting machinery is several KB of every wasm page; issue 11).
    #[cfg_attr(fewclick_ship, optimize(size), inline(never))]
    pub fn message(&self) -> String {
        match self {
            Error::InvalidModel { reason } => msg!("invalid model file: ", reason),
            Error::UnsupportedVersion { found, supported } => {
                msg!(
                    "model file format version ",
                    *found,
                    " is not supported (this build reads version ",
                    *supported,
                    ")"
                )
            }
            Error::DimensionMismatch { what, expected, found } => {
                msg!(*what, ": expected length ", *expected, ", found ", *found)
            }
            Error::NonFinite { what, index } => msg!(*what, ": value at index ", *index, " is NaN or infinite"),
            Error::TooManyCandidates { limit, found } => {
                msg!(*found, " candidates exceed the limit of ", *limit)
            }
            Error::DuplicateId { id } => msg!("item id ", Quoted(id), " appears more than once"),
            Error::InvalidId { reason } => msg!("invalid item id: ", reason),
            Error::UnknownItem { id } => msg!("unknown item ", Quoted(id)),
            Error::InvalidConfig { field, reason } => msg!("invalid setting `", *field, "`: ", reason),
            Error::InvalidInput { reason } => msg!("invalid input: ", reason),
            Error::NoResults => msg!("no result set: call setResults first"),
            Error::InvalidSession { reason } => msg!("invalid session: ", reason),
            Error::MemoryBudget { needed_mib, held_mib, budget_mib } => msg!(
                "this needs ",
                *needed_mib,
                " MiB more, and the instance's rerankers already hold ",
                *held_mib,
                " MiB of its ",
                *budget_mib,
                " MiB memory budget: free a reranker, set fewer results, or raise the budget"
            ),
            Error::NoItemTable => msg!("this model carries no item table: pass features with the results"),
            Error::SchemaMismatch { index, expected, found } => msg!(
                "feature names differ from the model's schema at position ",
                *index,
                " (the model has ",
                *expected,
                " features, ",
                *found,
                " were given)"
            ),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Error {}

/// One piece of a [`msg!`] message: text, an integer in decimal, or a quoted id.
pub trait Piece {
    fn push_to(&self, out: &mut String);
}

impl Piece for str {
    fn push_to(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl Piece for String {
    fn push_to(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl<T: Piece + ?Sized> Piece for &T {
    fn push_to(&self, out: &mut String) {
        (**self).push_to(out);
    }
}

/// Decimal digits of `n`, without `core::fmt`.
#[inline(never)]
#[cfg_attr(fewclick_ship, optimize(size))]
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(d as char);
    }
}

macro_rules! unsigned_piece {
    ($($t:ty),*) => {$(
        impl Piece for $t {
            fn push_to(&self, out: &mut String) {
                push_decimal(out, *self as u64);
            }
        }
    )*};
}
unsigned_piece!(u8, u16, u32, u64, usize);

impl Piece for i64 {
    fn push_to(&self, out: &mut String) {
        if *self < 0 {
            out.push('-');
        }
        push_decimal(out, self.unsigned_abs());
    }
}

/// Concatenates [`Piece`]s into a `String`: `msg!("id ", Quoted(id), " at ", i)`. What `format!`
/// does for the core's messages (text, integers, quoted ids), without `core::fmt`. A call site
/// only builds an array of pointers; the work is in one shared function, [`concat`].
macro_rules! msg {
    ($($piece:expr),* $(,)?) => {
        $crate::error::concat(&[$(&$piece as &dyn $crate::error::Piece),*])
    };
}

/// The body of every [`msg!`], kept out of line so the messages cost their call sites little.
#[inline(never)]
#[cfg_attr(fewclick_ship, optimize(size))]
pub fn concat(pieces: &[&dyn Piece]) -> String {
    let mut out = String::new();
    for piece in pieces {
        piece.push_to(&mut out);
    }
    out
}
pub(crate) use msg;

/// A string in double quotes with `"`, `\` and control characters escaped (`\u{1b}`): what `{:?}`
/// prints for the ids and keys in messages, without the Unicode-aware escaping machinery of
/// `Debug` (a few KB of every wasm page; issue 11).
pub(crate) struct Quoted<'a>(pub &'a str);

impl Piece for Quoted<'_> {
    #[cfg_attr(fewclick_ship, optimize(size), inline(never))]
    fn push_to(&self, out: &mut String) {
        out.push('"');
        for c in self.0.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => {
                    out.push_str("\\u{");
                    let code = c as u32;
                    for shift in (0..8).rev().map(|k| 4 * k) {
                        if code >> shift != 0 || shift == 0 {
                            out.push(char::from_digit((code >> shift) & 0xf, 16).unwrap_or('0'));
                        }
                    }
                    out.push('}');
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Checks that every value is finite, naming the first offender.
pub(crate) fn check_finite(what: &'static str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(Error::NonFinite { what, index }),
        None => Ok(()),
    }
}

pub(crate) fn check_len(what: &'static str, expected: usize, found: usize) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::DimensionMismatch { what, expected, found })
    }
}

#[cfg(test)]
mod tests {
    use super::Quoted;

    #[test]
    fn quoted_matches_debug_on_what_ids_hold() {
        // Debug's output for these strings (printable text, quotes, backslashes, control
        // characters), which the messages used to print; Debug writes \n as "\n", Quoted as
        // "\u{a}", both unambiguous.
        for s in ["sku-1", "", "a\"b", "c\\d", "ünïcødé ✓", "tab\there"] {
            let want = format!("{s:?}").replace("\\t", "\\u{9}");
            assert_eq!(msg!(Quoted(s)), want, "{s:?}");
        }
        assert_eq!(msg!(Quoted("a\nb\u{1b}")), "\"a\\u{a}b\\u{1b}\"");
    }

    #[test]
    fn msg_writes_integers_like_format() {
        for n in [0u64, 7, 10, 99, 100, 12_345, u32::MAX as u64, u64::MAX] {
            assert_eq!(msg!(n), format!("{n}"));
            assert_eq!(msg!("[", n as usize, "]"), format!("[{n}]"));
        }
        for n in [0i64, -1, 42, i64::MIN, i64::MAX] {
            assert_eq!(msg!(n), format!("{n}"));
        }
        let reason = String::from("why");
        assert_eq!(msg!("a ", 3u32, " b ", &reason, " ", Quoted("x\u{7f}")), "a 3 b why \"x\\u{7f}\"");
    }
}
