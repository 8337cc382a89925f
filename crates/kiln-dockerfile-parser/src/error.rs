//! Parse errors: what went wrong (upstream's message text) and the lines it concerns.

use crate::node::Range;
use crate::quote::go_quote;

/// The maximum length of one physical line, in bytes (Go's `bufio.MaxScanTokenSize - 1`).
pub const MAX_LINE_LENGTH: usize = 65535;

/// The maximum nesting of `ONBUILD` instructions the parser accepts (BuildKit has no limit;
/// kiln has one so that hostile input cannot exhaust the stack).
pub const MAX_NESTING: usize = 64;

/// What is wrong with the input. The `Display` text is BuildKit's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// The file holds no instruction (empty, or only comments and blank lines).
    #[error("file with no instructions")]
    NoInstructions,
    /// A physical line is longer than [`MAX_LINE_LENGTH`] bytes.
    #[error("dockerfile line greater than max allowed size of {MAX_LINE_LENGTH}")]
    LineTooLong,
    /// A here-document is not closed by its delimiter line before the end of the file.
    #[error("unterminated heredoc")]
    UnterminatedHeredoc,
    /// `# escape=` names something other than `\` or `` ` ``.
    #[error("invalid escape token '{0}' does not match ` or \\")]
    InvalidEscapeToken(String),
    /// A parser directive is given twice.
    #[error("only one {0} parser directive can be used")]
    DuplicateDirective(String),
    /// An exec-form JSON array holds something other than strings.
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    NotStringArray,
    /// `ENV`/`LABEL` in the legacy `key value` form without a value.
    #[error("{0} must have two arguments")]
    MissingValue(String),
    /// `ENV`/`LABEL` in the `key=value` form with a word lacking `=`.
    #[error("Syntax error - can't find = in {}. Must be of the form: name=value", go_quote(.0))]
    MissingEquals(String),
    /// A heredoc delimiter that the shell lexer cannot read (unbalanced quotes, bad `${}`).
    #[error("{0}")]
    Heredoc(String),
    /// `ONBUILD` nested more than [`MAX_NESTING`] levels deep.
    #[error("instruction nesting too deep (more than {MAX_NESTING} levels of ONBUILD)")]
    NestingTooDeep,
}

/// A parse failure and the 1-based line range it refers to (for `Dockerfile:7` excerpts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// The lines concerned (1-based, inclusive).
    pub location: Range,
}

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind, start: usize, end: usize) -> ParseError {
        ParseError {
            kind,
            location: Range::lines(start.max(1), end),
        }
    }

    /// The message without location (same as `to_string()`).
    pub fn message(&self) -> String {
        self.kind.to_string()
    }
}
