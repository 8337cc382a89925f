//! One `.dockerignore` pattern: Go `filepath.Match` syntax checking, and compilation into the
//! matcher kinds moby/patternmatcher uses (exact string, prefix, suffix, regular expression).
//!
//! The glob language is Go's `filepath.Match` on Unix — `*` and `?` never match `/`, `[...]`
//! classes with ranges and `^` negation, `\` escapes the next character — extended with `**`,
//! which matches any number of path segments (a `**` followed by `/` stands for zero or more
//! whole directories, a trailing `**` for anything at all). Syntax errors are exactly those
//! `filepath.Match` reports and are found when the pattern is built. A class with a reversed
//! range (`[z-a]`) is valid glob syntax but cannot be compiled; like upstream, it is reported
//! (`syntax error in pattern`) each time the pattern is used to match.
//!
//! Upstream compiles patterns by pasting the glob text into a Go regular expression. For every
//! pattern that is meaningful as a glob this crate behaves the same, including the quirks a
//! build may depend on: a leading `**` followed only by literal text is a plain suffix test
//! (`**file` matches `myfile`), and `**` does not cross a `\n` in a path. It deliberately does
//! not reproduce the accidents of that pasting: an escaped letter (`\d`) is that letter, not a
//! regex class, and `*`, `?` inside `[...]` are ordinary class members.

use std::fmt;
use std::iter::Peekable;
use std::str::Chars;

use regex::Regex;

use crate::Error;
use crate::path;

/// How a compiled pattern is tested against a path (upstream's fast-path classification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchType {
    /// No glob characters: the path must equal the pattern.
    Exact,
    /// Literal text followed by a trailing `**` (`dir/**`): the path must start with the text.
    Prefix,
    /// A leading `**` followed only by literal text (`**/name`, `**file`): the path must end
    /// with the text after `**`, or, when that text starts with `/`, equal the rest of it.
    Suffix,
    /// Anything else: an anchored regular expression (see [`Pattern::regex_source`]).
    Regexp,
}

impl fmt::Display for MatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchType::Exact => "exact",
            MatchType::Prefix => "prefix",
            MatchType::Suffix => "suffix",
            MatchType::Regexp => "regexp",
        })
    }
}

/// One unit of glob syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A character standing for itself.
    Literal(char),
    /// A `\`-escaped character: stands for itself, but (as upstream) forces regexp matching.
    Escaped(char),
    /// `?`: any one character except `/`.
    Any,
    /// `*`: any run of characters except `/`.
    Star,
    /// `**`, with `slash` when a following `/` was folded into it, and `at_end` when nothing
    /// follows.
    DoubleStar { slash: bool, at_end: bool },
    /// `[...]`: one character in (or, negated, not in) the inclusive ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// The syntax of `pattern` is not valid `filepath.Match` syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SyntaxError;

/// Splits a cleaned pattern into tokens, rejecting exactly what Go's `filepath.Match` rejects:
/// a trailing lone `\`, and a `[` class that is empty, unterminated, starts a range with `-`
/// or `]`, or ends a range without its upper bound.
fn tokenize(pattern: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut chars = pattern.chars().peekable();
    let mut tokens = Vec::new();
    while let Some(c) = chars.next() {
        let token = match c {
            '*' if chars.next_if_eq(&'*').is_some() => {
                let slash = chars.next_if_eq(&'/').is_some();
                Token::DoubleStar {
                    slash,
                    at_end: chars.peek().is_none(),
                }
            }
            '*' => Token::Star,
            '?' => Token::Any,
            '\\' => Token::Escaped(chars.next().ok_or(SyntaxError)?),
            '[' => parse_class(&mut chars)?,
            other => Token::Literal(other),
        };
        tokens.push(token);
    }
    Ok(tokens)
}

/// Parses a class after its `[`, through its closing `]`.
fn parse_class(chars: &mut Peekable<Chars<'_>>) -> Result<Token, SyntaxError> {
    let negated = chars.next_if_eq(&'^').is_some();
    let mut ranges = Vec::new();
    loop {
        // A `]` closes the class only once it holds at least one range (`[]a]` is an error,
        // not a class containing `]`).
        if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
            break;
        }
        let lo = class_char(chars)?;
        let hi = if chars.next_if_eq(&'-').is_some() {
            class_char(chars)?
        } else {
            lo
        };
        ranges.push((lo, hi));
    }
    Ok(Token::Class { negated, ranges })
}

/// One (possibly escaped) class member, which Go requires to be followed by more pattern text.
fn class_char(chars: &mut Peekable<Chars<'_>>) -> Result<char, SyntaxError> {
    let c = match chars.next().ok_or(SyntaxError)? {
        '-' | ']' => return Err(SyntaxError),
        '\\' => chars.next().ok_or(SyntaxError)?,
        other => other,
    };
    chars.peek().ok_or(SyntaxError)?;
    Ok(c)
}

/// Appends `c` to a regex outside a class, escaped when it is a regex metacharacter.
fn push_literal(regex: &mut String, c: char) {
    if matches!(
        c,
        '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$'
    ) {
        regex.push('\\');
    }
    regex.push(c);
}

/// Appends `c` to a regex inside a class, escaped when it could mean anything but itself there
/// (including the set operators `&&`, `--`, `~~` of the `regex` crate).
fn push_class_member(regex: &mut String, c: char) {
    if matches!(c, '\\' | '[' | ']' | '^' | '-' | '&' | '~') {
        regex.push('\\');
    }
    regex.push(c);
}

/// What a pattern compiled to.
#[derive(Debug, Clone)]
enum Compiled {
    /// The path equals [`Pattern::text`].
    Exact,
    /// The path starts with this text.
    Prefix(String),
    /// The path ends with this text (or equals it minus a leading `/`).
    Suffix(String),
    /// The path matches this anchored expression.
    Regexp(Regex),
    /// Valid glob syntax that cannot be compiled (a reversed class range): every match fails.
    Invalid,
}

/// One cleaned pattern of a [`PatternMatcher`](crate::PatternMatcher).
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The cleaned pattern without its `!`.
    text: String,
    exclusion: bool,
    /// Number of `/`-separated elements, for the legacy single-parent matching.
    depth: usize,
    /// The literal text every matching path starts with.
    literal_prefix: String,
    compiled: Compiled,
}

impl Pattern {
    /// Builds a pattern from one entry of a pattern list, as upstream `New` does: surrounding
    /// whitespace trimmed, `Ok(None)` for an empty entry, the whole entry (including a leading
    /// `!`) path-cleaned, then a leading `!` split off as the exception marker.
    ///
    /// Errors: [`Error::IllegalExclusion`] for an entry that is only `!`, [`Error::BadPattern`]
    /// for invalid glob syntax.
    pub(crate) fn parse(entry: &str) -> Result<Option<Pattern>, Error> {
        let trimmed = entry.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        let cleaned = path::clean(trimmed);
        let (exclusion, text) = match cleaned.strip_prefix('!') {
            Some("") => return Err(Error::IllegalExclusion),
            Some(rest) => (true, rest),
            None => (false, cleaned.as_str()),
        };
        let tokens = tokenize(text).map_err(|SyntaxError| Error::BadPattern {
            pattern: text.to_string(),
        })?;
        let literal_prefix = tokens
            .iter()
            .map_while(|t| match t {
                Token::Literal(c) | Token::Escaped(c) => Some(*c),
                _ => None,
            })
            .collect();
        Ok(Some(Pattern {
            text: text.to_string(),
            exclusion,
            depth: text.split('/').count(),
            literal_prefix,
            compiled: compile(&tokens),
        }))
    }

    /// The cleaned pattern text, without the leading `!` of an exception.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for an exception (`!`) pattern, which re-includes what it matches.
    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    /// How the pattern is matched, or `None` when it could not be compiled (every match then
    /// fails with [`Error::BadPattern`]).
    pub fn match_type(&self) -> Option<MatchType> {
        match self.compiled {
            Compiled::Exact => Some(MatchType::Exact),
            Compiled::Prefix(_) => Some(MatchType::Prefix),
            Compiled::Suffix(_) => Some(MatchType::Suffix),
            Compiled::Regexp(_) => Some(MatchType::Regexp),
            Compiled::Invalid => None,
        }
    }

    /// The anchored regular expression of a [`MatchType::Regexp`] pattern (for `**/*.txt`:
    /// `^(.*/)?[^/]*\.txt$`, the same text upstream generates); `None` for the other kinds.
    pub fn regex_source(&self) -> Option<&str> {
        match &self.compiled {
            Compiled::Regexp(re) => Some(re.as_str()),
            _ => None,
        }
    }

    /// Whether this pattern alone matches `path` itself (slash-separated, not cleaned; no
    /// parent directories are tried and the `!` marker is ignored).
    ///
    /// Errors: [`Error::BadPattern`] when the pattern could not be compiled, on every call.
    pub fn matches(&self, path: &str) -> Result<bool, Error> {
        Ok(match &self.compiled {
            Compiled::Exact => path == self.text,
            Compiled::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Compiled::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Compiled::Regexp(re) => re.is_match(path),
            Compiled::Invalid => {
                return Err(Error::BadPattern {
                    pattern: self.text.clone(),
                });
            }
        })
    }

    /// Number of `/`-separated elements of the pattern.
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// Whether this pattern could match some path that starts with `prefix` (a directory
    /// followed by `/`, or empty for the root). Conservative: `true` unless ruled out by the
    /// pattern's leading literal text.
    pub(crate) fn may_match_under(&self, prefix: &str) -> bool {
        match self.compiled {
            Compiled::Exact => self.text.starts_with(prefix),
            Compiled::Invalid => true,
            Compiled::Prefix(_) | Compiled::Suffix(_) | Compiled::Regexp(_) => {
                self.literal_prefix.starts_with(prefix)
                    || prefix.starts_with(self.literal_prefix.as_str())
            }
        }
    }
}

impl fmt::Display for Pattern {
    /// The cleaned pattern without its `!`, as upstream's `Pattern.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Classifies and compiles tokens the way upstream does: exact until a glob token is seen; a
/// trailing `**` after literal text only is a prefix test; a `**` as the very first token
/// makes a suffix test unless a later token needs the regexp.
fn compile(tokens: &[Token]) -> Compiled {
    let mut regex = String::from("^");
    let mut kind = MatchType::Exact;
    let mut reversed_range = false;
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Literal(c) => push_literal(&mut regex, *c),
            Token::Escaped(c) => {
                push_literal(&mut regex, *c);
                kind = MatchType::Regexp;
            }
            Token::Any => {
                regex.push_str("[^/]");
                kind = MatchType::Regexp;
            }
            Token::Star => {
                regex.push_str("[^/]*");
                kind = MatchType::Regexp;
            }
            Token::DoubleStar { at_end: true, .. } if kind == MatchType::Exact => {
                kind = MatchType::Prefix;
            }
            Token::DoubleStar { at_end, .. } => {
                // Upstream uses `.` here, so `**` does not cross a newline; kept for parity.
                regex.push_str(if *at_end { ".*" } else { "(.*/)?" });
                kind = MatchType::Regexp;
            }
            Token::Class { negated, ranges } => {
                regex.push('[');
                if *negated {
                    regex.push('^');
                }
                for &(lo, hi) in ranges {
                    reversed_range |= lo > hi;
                    push_class_member(&mut regex, lo);
                    if hi != lo {
                        regex.push('-');
                        push_class_member(&mut regex, hi);
                    }
                }
                regex.push(']');
                kind = MatchType::Regexp;
            }
        }
        if i == 0 && matches!(token, Token::DoubleStar { .. }) {
            kind = MatchType::Suffix;
        }
    }
    let literals = |tokens: &[Token]| -> String {
        tokens
            .iter()
            .filter_map(|t| match t {
                Token::Literal(c) => Some(*c),
                _ => None,
            })
            .collect()
    };
    match kind {
        MatchType::Exact => Compiled::Exact,
        MatchType::Prefix => Compiled::Prefix(literals(tokens)),
        MatchType::Suffix => {
            let slash = matches!(tokens.first(), Some(Token::DoubleStar { slash: true, .. }));
            let rest = literals(tokens.get(1..).unwrap_or_default());
            Compiled::Suffix(if slash { format!("/{rest}") } else { rest })
        }
        MatchType::Regexp if reversed_range => Compiled::Invalid,
        MatchType::Regexp => {
            regex.push('$');
            Regex::new(&regex).map_or(Compiled::Invalid, Compiled::Regexp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(p: &str) -> Pattern {
        match Pattern::parse(p) {
            Ok(Some(p)) => p,
            other => panic!("{p:?}: {other:?}"),
        }
    }

    #[test]
    fn syntax_errors_are_go_filepath_match_errors() {
        let bad = [
            "[", "[^", "[^bc", "a[", "[]a]", "[-]", "[x-]", "[-x]", "\\", "a\\", "[a-b-c]", "[a",
            "[a-", "[a-b", "[\\", "[a\\", "[*", "[^]*]",
        ];
        for p in bad {
            assert!(
                matches!(Pattern::parse(p), Err(Error::BadPattern { .. })),
                "{p:?} should be a syntax error"
            );
        }
        let good = [
            "[\\]a]", "[\\-]", "[x\\-]", "[\\-x]", "[[]", "a]", "[*]", "[a-ζ]*", "[^a]", "[z-a]",
        ];
        for p in good {
            assert!(matches!(Pattern::parse(p), Ok(Some(_))), "{p:?} is valid");
        }
    }

    #[test]
    fn reversed_range_fails_every_match() {
        let p = pattern("[Local-Only]/");
        assert_eq!(p.as_str(), "[Local-Only]");
        assert_eq!(p.match_type(), None);
        for _ in 0..3 {
            assert_eq!(
                p.matches("x"),
                Err(Error::BadPattern {
                    pattern: "[Local-Only]".to_string()
                })
            );
        }
    }

    #[test]
    fn classification_follows_upstream() {
        let cases = [
            ("**", MatchType::Suffix, None),
            ("**/dir", MatchType::Suffix, None),
            ("**file", MatchType::Suffix, None),
            ("dir/**", MatchType::Prefix, None),
            ("abc.def", MatchType::Exact, None),
            ("a(b)c/def", MatchType::Exact, None),
            ("a\\b", MatchType::Regexp, Some("^ab$")),
            ("***", MatchType::Regexp, Some("^(.*/)?[^/]*$")),
            ("**/**", MatchType::Regexp, Some("^(.*/)?.*$")),
            ("a**b", MatchType::Regexp, Some("^a(.*/)?b$")),
            (
                "[\\]&\\-~^]",
                MatchType::Regexp,
                Some("^[\\]\\&\\-\\~\\^]$"),
            ),
            ("a^b?", MatchType::Regexp, Some("^a\\^b[^/]$")),
        ];
        for (p, kind, regex) in cases {
            let compiled = pattern(p);
            assert_eq!(compiled.match_type(), Some(kind), "{p:?}");
            if regex.is_some() {
                assert_eq!(compiled.regex_source(), regex, "{p:?}");
            }
        }
    }

    #[test]
    fn glob_semantics() {
        let cases = [
            // Leading `**` + literal text is a plain suffix test, as upstream.
            ("**file", "myfile", true),
            ("**/file", "myfile", false),
            ("**/file", "file", true),
            ("**\\file", "myfile", false),
            // Escapes mean the character itself, including letters.
            ("a\\d", "ad", true),
            ("a\\d", "a5", false),
            // Class members are literal, `/` included in negations.
            ("[*]", "*", true),
            ("[*]", "x", false),
            ("a[^x]b", "a/b", true),
            ("a^b", "a^b", true),
            ("a^b*", "a^bc", true),
            ("[&&]", "&", true),
            ("[a-c]", "b", true),
            ("[a-c]", "-", false),
            // `*` and `?` never cross `/`.
            ("a*", "a/b", false),
            ("a?b", "a/b", false),
            // `**` does not cross a newline, as upstream's `.`.
            ("a/**/b", "a/x\ny/b", false),
            ("a/**/b", "a/x/y/b", true),
            ("a**", "a\nb", true),
        ];
        for (p, path, want) in cases {
            assert_eq!(pattern(p).matches(path), Ok(want), "{p:?} vs {path:?}");
        }
    }

    #[test]
    fn may_match_under_uses_the_literal_prefix() {
        assert!(pattern("a/b").may_match_under("a/"));
        assert!(!pattern("a/b").may_match_under("b/"));
        assert!(!pattern("a").may_match_under("a/"));
        assert!(pattern("a/*.txt").may_match_under("a/"));
        assert!(pattern("a/*.txt").may_match_under("a/x/"));
        assert!(!pattern("b/*.txt").may_match_under("a/"));
        assert!(pattern("a*").may_match_under("abc/"));
        assert!(pattern("**/x").may_match_under("q/"));
        assert!(pattern("x/**").may_match_under("x/"));
        assert!(!pattern("x/**").may_match_under("y/"));
        assert!(pattern("[z-a]").may_match_under("q/"));
    }
}
