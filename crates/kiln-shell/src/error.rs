//! The lexer's errors, worded as BuildKit words them (users see these texts), and Go's `%q`
//! quoting used to name the failing word.

use std::fmt::Write as _;

/// Why a word could not be processed. `Display` gives BuildKit's text:
/// `failed to process "<word>": <cause>`, the word quoted as Go's `%q` quotes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The word is malformed (unterminated quote or `${`, bad modifier, bad pattern).
    #[error("failed to process {}: {cause}", go_quote(.word))]
    Syntax {
        /// The word as given to the lexer.
        word: String,
        cause: SyntaxError,
    },
    /// `${NAME?message}` with `NAME` unset, or `${NAME:?message}` with `NAME` unset or empty.
    /// `message` is the expanded message, or upstream's default text when it was empty.
    #[error("failed to process {}: {name}: {message}", go_quote(.word))]
    Required {
        /// The word as given to the lexer.
        word: String,
        name: String,
        message: String,
    },
}

impl Error {
    /// The word as given to the lexer.
    pub fn word(&self) -> &str {
        match self {
            Error::Syntax { word, .. } | Error::Required { word, .. } => word,
        }
    }
}

/// What is wrong with a malformed word (the part of the message after the word).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnterminatedSingleQuote,
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnterminatedDoubleQuote,
    /// The input ended inside `${...}` before the given delimiter (`}` or `/`).
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(char),
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    /// `${}`, `${{...}`, `${:...}`.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// An operator after the name that is not one of `} - + ? # % /` (or `:` with one of
    /// `- + ?`). Holds the operator text, e.g. `:=`.
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// The pattern of `${NAME#p}`, `${NAME%p}` or `${NAME/p/r}` is invalid. For `%`/`%%` the
    /// pattern is shown reversed, as BuildKit shows it.
    #[error("invalid pattern ({pattern}) in substitution: {reason}")]
    InvalidPattern {
        pattern: String,
        reason: PatternError,
    },
    /// `${...}` nested deeper than [`MAX_NESTING`](crate::MAX_NESTING) (kiln's own limit, so
    /// that no input can exhaust the stack).
    #[error("syntax error: substitutions nested more than {0} levels deep")]
    TooDeep(usize),
}

/// Why a shell pattern could not be turned into a regular expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// `\` followed by something other than `*`, `?`, `\`, `}` or `/`. At the end of the
    /// pattern the character is U+FFFD, as in BuildKit's message.
    #[error("invalid escape '\\{0}'")]
    InvalidEscape(char),
    /// The regular expression engine refused the translated pattern (e.g. it is too large).
    #[error("{0}")]
    Regex(String),
}

/// Quotes `s` the way Go's `%q` verb does (`strconv.Quote`): double quotes, `\"` and `\\`,
/// the C escapes `\a \b \f \n \r \t \v`, `\xNN` for other ASCII controls, `\uNNNN` /
/// `\UNNNNNNNN` for other non-printable characters; printable characters stay as they are.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space.
/// Rust's debug escaping uses the same notion of printable (it escapes controls, format
/// characters, separators other than the space, private-use and unassigned code points), so
/// it is asked; the leading `a` keeps it from escaping a combining mark at the start.
fn is_go_printable(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    if c.is_whitespace() || c.is_control() {
        return false;
    }
    let mut probe = String::with_capacity(8);
    probe.push('a');
    probe.push(c);
    let mut escaped = probe.escape_debug().skip(1);
    escaped.next() == Some(c) && escaped.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("${VAR:?x}"), r#""${VAR:?x}""#);
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("a\nb\tc\u{0}\u{7f}"), r#""a\nb\tc\x00\x7f""#);
        assert_eq!(go_quote("한국어 é'"), "\"한국어 é'\"");
        assert_eq!(go_quote("e\u{301}"), "\"e\u{301}\"");
        assert_eq!(
            go_quote("\u{a0}\u{200b}\u{feff}"),
            r#""\u00a0\u200b\ufeff""#
        );
        assert_eq!(go_quote("\u{f0000}🚀"), "\"\\U000f0000🚀\"");
    }

    #[test]
    fn messages_match_upstream() {
        let e = Error::Required {
            word: "${VAR:?message here$ARG}".into(),
            name: "VAR".into(),
            message: "message herex".into(),
        };
        assert_eq!(
            e.to_string(),
            r#"failed to process "${VAR:?message here$ARG}": VAR: message herex"#
        );
        let e = Error::Syntax {
            word: "${a".into(),
            cause: SyntaxError::MissingBrace,
        };
        assert_eq!(
            e.to_string(),
            r#"failed to process "${a": syntax error: missing '}'"#
        );
        assert_eq!(
            SyntaxError::MissingSlash.to_string(),
            "syntax error: missing '/' in ${}"
        );
        assert_eq!(
            PatternError::InvalidEscape('x').to_string(),
            r"invalid escape '\x'"
        );
    }
}
