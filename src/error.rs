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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidModel { reason } => write!(f, "invalid model file: {reason}"),
            Error::UnsupportedVersion { found, supported } => {
                write!(f, "model file format version {found} is not supported (this build reads version {supported})")
            }
            Error::DimensionMismatch { what, expected, found } => {
                write!(f, "{what}: expected length {expected}, found {found}")
            }
            Error::NonFinite { what, index } => {
                write!(f, "{what}: value at index {index} is NaN or infinite")
            }
            Error::TooManyCandidates { limit, found } => {
                write!(f, "{found} candidates exceed the limit of {limit}")
            }
            Error::DuplicateId { id } => write!(f, "item id {} appears more than once", Quoted(id)),
            Error::InvalidId { reason } => write!(f, "invalid item id: {reason}"),
            Error::UnknownItem { id } => write!(f, "unknown item {}", Quoted(id)),
            Error::InvalidConfig { field, reason } => write!(f, "invalid setting `{field}`: {reason}"),
            Error::InvalidInput { reason } => write!(f, "invalid input: {reason}"),
            Error::NoResults => write!(f, "no result set: call setResults first"),
            Error::InvalidSession { reason } => write!(f, "invalid session: {reason}"),
            Error::MemoryBudget { needed_mib, held_mib, budget_mib } => write!(
                f,
                "this needs {needed_mib} MiB more, and the instance's rerankers already hold {held_mib} MiB of its \
                 {budget_mib} MiB memory budget: free a reranker, set fewer results, or raise the budget"
            ),
            Error::NoItemTable => write!(f, "this model carries no item table: pass features with the results"),
            Error::SchemaMismatch { index, expected, found } => write!(
                f,
                "feature names differ from the model's schema at position {index} (the model has {expected} features, \
                 {found} were given)"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// A string in double quotes with `"`, `\` and control characters escaped (`\u{1b}`): what `{:?}`
/// prints for the ids and keys in messages, without the Unicode-aware escaping machinery of
/// `Debug` (a few KB of every wasm page; issue 11).
pub(crate) struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if c.is_control() => write!(f, "\\u{{{:x}}}", c as u32)?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        f.write_str("\"")
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
            assert_eq!(Quoted(s).to_string(), want, "{s:?}");
        }
        assert_eq!(Quoted("a\nb\u{1b}").to_string(), "\"a\\u{a}b\\u{1b}\"");
    }
}
