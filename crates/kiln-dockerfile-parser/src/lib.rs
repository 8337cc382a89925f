//! Dockerfile parser: bytes → AST, behaving like BuildKit's `frontend/dockerfile/parser`.
//!
//! [`parse`] turns a Dockerfile into a root [`Node`] whose children are the instructions.
//! It handles parser directives (`# escape=`, `# syntax=`, `# check=`, only at the top),
//! line continuations with the escape character, comments (also inside continuations),
//! empty continuation lines (a [`Warning`]), heredocs on `RUN`/`COPY`/`ADD` (also inside
//! `ONBUILD`), per-instruction argument parsing (exec-form JSON vs shell form, `ENV`/`LABEL`
//! key/value pairs, `ARG` words, `HEALTHCHECK`, nested `ONBUILD`), leading `--flag`s, line
//! numbers, the original text, and the comment block above each instruction.
//!
//! The parser does not validate instructions (unknown keywords and flags are accepted);
//! that is the job of the typed-instructions layer (`kiln-dockerfile`). It does no I/O and
//! never panics, whatever the input.
//!
//! Deviations from BuildKit, all on inputs BuildKit mangles: invalid UTF-8 is replaced by
//! U+FFFD instead of being carried as raw bytes; flags and `HEALTHCHECK` types are split per
//! character rather than per byte (BuildKit splits inside multi-byte characters whose bytes
//! are 0x85 or 0xA0 and re-encodes non-ASCII flag text as Latin-1); `ONBUILD` nesting is
//! limited to [`MAX_NESTING`] levels; a too-long line is reported as such even when no
//! instruction precedes it; error line numbers are always 1-based.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod directives;
mod error;
mod heredoc;
mod json;
mod line_parsers;
mod node;
mod parser;
mod quote;
mod shell_words;

pub use directives::{
    DetectedDirective, Directive, DirectiveParser, detect_syntax, parse_directive,
};
pub use error::{MAX_LINE_LENGTH, MAX_NESTING, ParseError, ParseErrorKind};
pub use heredoc::{chomp_heredoc_content, heredocs_from_line, must_parse_heredoc, parse_heredoc};
pub use json::JsonArrayError;
pub use line_parsers::{parse_json_array, parse_name_val, parse_words, split_command};
pub use node::{Heredoc, Node, ParseResult, Position, Range, Warning, dump};
pub use parser::{DEFAULT_ESCAPE_TOKEN, parse};
pub use quote::{go_quote, go_quote_list};
