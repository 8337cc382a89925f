//! Go `filepath.Match` wildcards as BuildKit applies them to COPY/ADD sources and `rm`:
//! `*` (any run of characters but `/`), `?` (one character but `/`), `[...]` classes with
//! ranges and `^` negation, and `\` escaping the next character. There is no `**`: a
//! wildcard source matches entries at exactly the depth of its pattern.

use crate::error::{Error, Result};

/// One unit of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    Any,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled `filepath.Match` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    /// Compiles `pattern`; fails with [`Error::BadWildcard`] exactly where Go's
    /// `filepath.Match` reports `ErrBadPattern` (unclosed class, trailing `\`, empty class).
    pub fn new(pattern: &str) -> Result<Self> {
        let bad = || Error::BadWildcard {
            pattern: pattern.to_string(),
        };
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => tokens.push(Token::Star),
                '?' => tokens.push(Token::Any),
                '\\' => tokens.push(Token::Literal(chars.next().ok_or_else(bad)?)),
                '[' => {
                    let negated = chars.peek() == Some(&'^');
                    if negated {
                        chars.next();
                    }
                    let mut ranges = Vec::new();
                    loop {
                        let lo = match chars.next() {
                            None => return Err(bad()),
                            Some(']') if !ranges.is_empty() => break,
                            Some(']') | Some('-') => return Err(bad()),
                            Some('\\') => chars.next().ok_or_else(bad)?,
                            Some(c) => c,
                        };
                        let hi = if chars.peek() == Some(&'-') {
                            chars.next();
                            match chars.next() {
                                None | Some(']') | Some('-') => return Err(bad()),
                                Some('\\') => chars.next().ok_or_else(bad)?,
                                Some(c) => c,
                            }
                        } else {
                            lo
                        };
                        ranges.push((lo, hi));
                    }
                    tokens.push(Token::Class { negated, ranges });
                }
                c => tokens.push(Token::Literal(c)),
            }
        }
        Ok(Glob { tokens })
    }

    /// Whether `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        match_from(&self.tokens, &name)
    }

    /// Number of path components the pattern spans (a match is never deeper).
    pub(crate) fn depth(&self) -> usize {
        1 + self
            .tokens
            .iter()
            .filter(|t| **t == Token::Literal('/'))
            .count()
    }
}

fn match_from(tokens: &[Token], name: &[char]) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return name.is_empty();
    };
    match first {
        Token::Star => {
            // Try every split that does not cross a separator.
            for i in 0..=name.len() {
                if match_from(rest, &name[i..]) {
                    return true;
                }
                if name.get(i) == Some(&'/') {
                    break;
                }
            }
            false
        }
        Token::Any => match name.split_first() {
            Some((c, tail)) if *c != '/' => match_from(rest, tail),
            _ => false,
        },
        Token::Literal(l) => match name.split_first() {
            Some((c, tail)) if c == l => match_from(rest, tail),
            _ => false,
        },
        Token::Class { negated, ranges } => match name.split_first() {
            Some((c, tail)) if *c != '/' => {
                let inside = ranges.iter().any(|(lo, hi)| lo <= c && c <= hi);
                inside != *negated && match_from(rest, tail)
            }
            _ => false,
        },
    }
}

/// Whether a path component holds wildcard syntax (`*`, `?`, `[`; `\` escapes the next
/// character).
pub fn contains_wildcards(name: &str) -> bool {
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// Splits a source path at its first component holding a wildcard: the literal directory
/// before it and the pattern from there on (empty when there is no wildcard).
pub(crate) fn split_wildcards(path: &str) -> (String, String) {
    let mut literal: Vec<&str> = Vec::new();
    let mut pattern: Vec<&str> = Vec::new();
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if pattern.is_empty() && !contains_wildcards(part) {
            literal.push(part);
        } else {
            pattern.push(part);
        }
    }
    (format!("/{}", literal.join("/")), pattern.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        Glob::new(p).map(|g| g.matches(n)).unwrap_or(false)
    }

    #[test]
    fn go_filepath_match_vectors() {
        // From Go's path/filepath match_test.go.
        assert!(m("abc", "abc"));
        assert!(m("*", "abc"));
        assert!(m("*c", "abc"));
        assert!(!m("a*", "ab/c"));
        assert!(m("a*/b", "abc/b"));
        assert!(!m("a*/b", "a/c/b"));
        assert!(m("a*b*c*d*e*/f", "axbxcxdxe/f"));
        assert!(m("a*b?c*x", "abxbbxdbxebxczzx"));
        assert!(!m("a*b?c*x", "abxbbxdbxebxczzy"));
        assert!(m("ab[c]", "abc"));
        assert!(m("ab[b-d]", "abc"));
        assert!(!m("ab[e-g]", "abc"));
        assert!(!m("ab[^c]", "abc"));
        assert!(m("ab[^e-g]", "abc"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "ab"));
        assert!(m("a?b", "a☺b"));
        assert!(!m("a?b", "a/b"));
        assert!(!m("a*b", "a/b"));
        assert!(m("[\\]a]", "]"));
        assert!(m("[\\-]", "-"));
        assert!(m("[x\\-]", "x"));
        assert!(!m("[x\\-]", "z"));
        assert!(m("*x", "xxx"));
    }

    #[test]
    fn bad_patterns_are_errors() {
        for p in [
            "[", "[^", "[^bc", "a[", "[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]",
        ] {
            assert!(Glob::new(p).is_err(), "{p} should be a syntax error");
        }
    }

    #[test]
    fn split() {
        assert_eq!(
            split_wildcards("files/*.txt"),
            ("/files".into(), "*.txt".into())
        );
        assert_eq!(split_wildcards("/a/b"), ("/a/b".into(), String::new()));
        assert_eq!(split_wildcards("a/*/c"), ("/a".into(), "*/c".into()));
        assert!(contains_wildcards("a[b"));
        assert!(!contains_wildcards("a\\*b"));
    }
}
