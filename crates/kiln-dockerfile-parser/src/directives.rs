//! Parser directives (`# syntax=`, `# escape=`, `# check=`) at the top of a Dockerfile, and
//! the `syntax` detection BuildKit uses to pick a frontend (which also accepts `//` comments
//! and a leading JSON object).

use std::collections::BTreeSet;

use crate::error::{MAX_LINE_LENGTH, ParseErrorKind};
use crate::json::parse_object_strings;
use crate::node::Range;

/// The `syntax` directive name.
pub const SYNTAX: &str = "syntax";
/// The `escape` directive name.
pub const ESCAPE: &str = "escape";
/// The `check` directive name.
pub const CHECK: &str = "check";

const KNOWN: [&str; 3] = [SYNTAX, ESCAPE, CHECK];

/// One parser directive found at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The directive name, lowercased (`escape`, `syntax`, `check`).
    pub name: String,
    /// The value, trimmed.
    pub value: String,
    /// The line it is on.
    pub location: Range,
}

/// Reads directives line by line, enforcing their rules: they must come first (the first
/// line that is not a known directive ends the directive block, whatever it is), names are
/// case-insensitive, and each may appear once.
#[derive(Debug, Clone)]
pub struct DirectiveParser {
    line: usize,
    comment: String,
    seen: BTreeSet<String>,
    done: bool,
}

impl Default for DirectiveParser {
    fn default() -> Self {
        DirectiveParser::new()
    }
}

impl DirectiveParser {
    /// A parser for `#` directives, starting before line 1.
    pub fn new() -> DirectiveParser {
        DirectiveParser::with_prefix("#", 0)
    }

    /// A parser for directives written after `comment` (e.g. `//`), whose first line is
    /// `first_line_before + 1`.
    pub fn with_prefix(comment: &str, first_line_before: usize) -> DirectiveParser {
        DirectiveParser {
            line: first_line_before,
            comment: comment.to_string(),
            seen: BTreeSet::new(),
            done: false,
        }
    }

    /// True once the directive block has ended.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Feeds the next line (without its line ending). Returns the directive on it, `None`
    /// when there is none (and from then on, always `None`), or an error for a repeated
    /// directive.
    pub fn parse_line(&mut self, line: &str) -> Result<Option<Directive>, ParseErrorKind> {
        self.line += 1;
        if self.done {
            return Ok(None);
        }
        let Some(rest) = line.strip_prefix(self.comment.as_str()) else {
            self.done = true;
            return Ok(None);
        };
        let Some((name, value)) = match_directive(rest.trim_start()) else {
            self.done = true;
            return Ok(None);
        };
        let name = name.to_ascii_lowercase();
        if !KNOWN.contains(&name.as_str()) {
            self.done = true;
            return Ok(None);
        }
        if !self.seen.insert(name.clone()) {
            return Err(ParseErrorKind::DuplicateDirective(name));
        }
        Ok(Some(Directive {
            name,
            value: value.to_string(),
            location: Range::lines(self.line, self.line),
        }))
    }

    /// All directives at the top of `data` (lines split on `\n`, a trailing `\r` dropped).
    /// Stops at the first error, returning it.
    pub fn parse_all(&mut self, data: &[u8]) -> Result<Vec<Directive>, ParseErrorKind> {
        match self.parse_all_partial(data) {
            (found, None) => Ok(found),
            (_, Some(e)) => Err(e),
        }
    }

    /// Like [`DirectiveParser::parse_all`], but also returns what was found before an error.
    fn parse_all_partial(&mut self, data: &[u8]) -> (Vec<Directive>, Option<ParseErrorKind>) {
        let mut out = Vec::new();
        for raw in data.split(|b| *b == b'\n') {
            if self.done || raw.len() > MAX_LINE_LENGTH {
                break;
            }
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let line = String::from_utf8_lossy(raw);
            match self.parse_line(&line) {
                Ok(Some(d)) => out.push(d),
                Ok(None) => {}
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }
}

fn is_re_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{c}' | '\r')
}

/// `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` (RE2 `\s` is ASCII; `.` excludes `\n`).
fn match_directive(s: &str) -> Option<(&str, &str)> {
    let first = s.chars().next()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let name_len = s.bytes().take_while(u8::is_ascii_alphanumeric).count();
    let (name, rest) = s.split_at(name_len);
    let rest = rest.trim_start_matches(is_re_space).strip_prefix('=')?;
    let trimmed = rest.trim_start_matches(is_re_space);
    let value = if trimmed.is_empty() {
        // Only blanks after `=`: the lazy group takes the last one.
        let last = rest.chars().next_back()?;
        &rest[rest.len() - last.len_utf8()..]
    } else {
        trimmed.trim_end_matches(is_re_space)
    };
    if value.contains('\n') {
        return None;
    }
    Some((name, value))
}

/// A directive found by [`detect_syntax`] or [`parse_directive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectedDirective {
    /// The value up to the first space (for `syntax`: the frontend image reference).
    pub reference: String,
    /// The whole value.
    pub cmdline: String,
    /// Where it was found.
    pub location: Range,
}

/// Finds the `syntax` directive: `# syntax=...` first, then `// syntax=...`, then a file
/// that is a JSON object with a string `"syntax"` member. A UTF-8 BOM and a `#!` first line
/// are skipped.
pub fn detect_syntax(src: &[u8]) -> Option<DetectedDirective> {
    find_directive(SYNTAX, src, true)
}

/// Finds directive `name` (only in `#` comments), e.g. `check`.
pub fn parse_directive(name: &str, src: &[u8]) -> Option<DetectedDirective> {
    find_directive(name, src, false)
}

fn find_directive(key: &str, src: &[u8], any_format: bool) -> Option<DetectedDirective> {
    let src = src.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(src);
    let (src, line) = match src.iter().position(|b| *b == b'\n') {
        Some(i) if src.starts_with(b"#!") => (&src[i + 1..], 1),
        None if src.starts_with(b"#!") => (&src[src.len()..], 1),
        _ => (src, 0),
    };
    if let Some(d) = find_with(key, src, DirectiveParser::with_prefix("#", line)) {
        return Some(d);
    }
    if !any_format {
        return None;
    }
    if let Some(d) = find_with(key, src, DirectiveParser::with_prefix("//", line)) {
        return Some(d);
    }
    let text = std::str::from_utf8(src).ok()?;
    let members = parse_object_strings(text)?;
    let value = members
        .into_iter()
        .rev()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v)?;
    Some(DetectedDirective {
        reference: value.clone(),
        cmdline: value,
        location: Range::lines(line, line),
    })
}

fn find_with(key: &str, src: &[u8], mut parser: DirectiveParser) -> Option<DetectedDirective> {
    let (directives, _) = parser.parse_all_partial(src);
    directives.into_iter().find(|d| d.name == key).map(|d| {
        let reference = d.value.split(' ').next().unwrap_or_default().to_string();
        DetectedDirective {
            reference,
            cmdline: d.value,
            location: d.location,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_regex() {
        assert_eq!(match_directive("escape = `"), Some(("escape", "`")));
        assert_eq!(match_directive("syntax=a b  "), Some(("syntax", "a b")));
        assert_eq!(match_directive("escape=   "), Some(("escape", " ")));
        assert_eq!(match_directive("escape="), None);
        assert_eq!(match_directive("1x=a"), None);
    }

    #[test]
    fn repeated_directive_is_an_error() {
        let mut p = DirectiveParser::new();
        assert!(p.parse_line("# escape=\\").unwrap().is_some());
        assert_eq!(
            p.parse_line("# ESCAPE=`"),
            Err(ParseErrorKind::DuplicateDirective("escape".into()))
        );
    }
}
