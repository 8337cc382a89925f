//! `.dockerignore` files and the pattern matching BuildKit applies to build contexts
//! (moby/patternmatcher and its `ignorefile` package).
//!
//! [`read_ignore_file`] turns the file into a pattern list; [`PatternMatcher::new`] compiles
//! the list; [`PatternMatcher::matches_or_parent_matches`] says whether a context path is
//! excluded. A tree walker uses [`PatternMatcher::matches_using_parent_results`] to reuse the
//! parent directory's results, and [`PatternMatcher::exception_may_match_below`] to skip a whole
//! excluded directory when no `!` exception could re-include anything inside it.
//!
//! ```
//! use kiln_dockerignore::{PatternMatcher, read_ignore_file};
//!
//! let patterns = read_ignore_file("*.log\nbuild/\n!build/keep.txt\n")?;
//! let matcher = PatternMatcher::new(&patterns)?;
//! assert!(matcher.matches_or_parent_matches("debug.log")?);
//! assert!(matcher.matches_or_parent_matches("build/out/a.o")?);
//! assert!(!matcher.matches_or_parent_matches("build/keep.txt")?);
//! assert!(!matcher.matches_or_parent_matches("logs/debug.log")?); // `*` stays in its directory
//! # Ok::<(), kiln_dockerignore::Error>(())
//! ```
//!
//! Pattern syntax is that of Go's `filepath.Match` on Unix plus `**`; see the [`pattern`]
//! module for the exact rules and the few places where upstream's regex translation is not
//! reproduced. This crate does no I/O.

mod ignorefile;
mod matcher;
pub mod path;
pub mod pattern;

pub use ignorefile::{read_ignore_bytes, read_ignore_file};
pub use matcher::{MatchInfo, PatternMatcher, matches, matches_or_parent_matches};
pub use pattern::{MatchType, Pattern};

/// Errors of reading and matching `.dockerignore` patterns. The messages of the variants that
/// upstream also reports are upstream's exact texts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A pattern that is only `!` (an exception with nothing to re-include).
    #[error("illegal exclusion pattern: \"!\"")]
    IllegalExclusion,
    /// A pattern that is not valid glob syntax (Go's `filepath.ErrBadPattern`), or that cannot
    /// be compiled (a reversed class range, reported when it is used). `pattern` is the cleaned
    /// pattern without its `!`; the message is upstream's, which does not name it.
    #[error("syntax error in pattern")]
    BadPattern { pattern: String },
    /// [`MatchInfo`] from a matcher with a different number of patterns.
    #[error("wrong number of values in parentMatched")]
    ParentMatchInfoMismatch { expected: usize, got: usize },
    /// A pattern line of an ignore file read with [`read_ignore_bytes`] is not UTF-8.
    #[error("ignore file line {line}: pattern is not valid UTF-8")]
    InvalidUtf8 { line: usize },
}
