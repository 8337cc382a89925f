//! Shell patterns (`*`, `?`, `\` escapes) for `${NAME#p}`, `${NAME%p}` and `${NAME/p/r}`:
//! translation to a regular expression, the reversal trick for suffix removal, and Go's
//! replacement-template rules for `${NAME//p/r}`.
//!
//! BuildKit translates the pattern into a Go regular expression and lets the regexp engine
//! pick the match (leftmost-first, `*` greedy or lazy). The `regex` crate has the same
//! leftmost-first semantics and the same `.` (any character but `\n`), so translating the same
//! way gives the same matches, including BuildKit's quirks: `*` and `?` do not match a newline.

use regex::Regex;

use crate::chars::is_name_char;
use crate::error::{PatternError, SyntaxError};

/// Translates a shell pattern to the source of an equivalent regular expression.
///
/// `*` becomes `.*` (`greedy`) or `.*?`, `?` becomes `.`, the regex metacharacters
/// `[ ] { } . + ( ) | ^ $` are escaped, and `anchored` prepends `^`. Inside a pattern `\`
/// escapes only `*`, `?` and `\`; before `}` or `/` (which had to be escaped inside `${...}`)
/// it is dropped. Any other escape, or a `\` at the end, is an error. Bracket expressions are
/// not supported (`[` is literal), as in BuildKit. The escape character of patterns is always
/// `\`, whatever the lexer's escape token.
pub fn shell_pattern_to_regex(
    pattern: &str,
    greedy: bool,
    anchored: bool,
) -> Result<String, PatternError> {
    // Go's text/scanner, which BuildKit reads the pattern with, skips a leading BOM.
    let pattern = pattern.strip_prefix('\u{feff}').unwrap_or(pattern);
    let mut out = String::with_capacity(pattern.len() + 4);
    if anchored {
        out.push('^');
    }
    let star = if greedy { ".*" } else { ".*?" };
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(star),
            '?' => out.push('.'),
            '\\' => {
                if matches!(chars.peek(), Some('}' | '/')) {
                    continue;
                }
                match chars.next() {
                    Some(e @ ('*' | '?' | '\\')) => {
                        out.push('\\');
                        out.push(e);
                    }
                    Some(e) => return Err(PatternError::InvalidEscape(e)),
                    None => return Err(PatternError::InvalidEscape('\u{fffd}')),
                }
            }
            '[' | ']' | '{' | '}' | '.' | '+' | '(' | ')' | '|' | '^' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Reverses a pattern by character while keeping each `\` escape in front of the character
/// it escapes: `a\*c` becomes `c\*a`. A lone `\` at the end stays a lone `\` (now first).
pub fn reverse_pattern(pattern: &str) -> String {
    let mut units: Vec<(char, Option<char>)> = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            units.push((c, chars.next()));
        } else {
            units.push((c, None));
        }
    }
    let mut out = String::with_capacity(pattern.len());
    for (first, second) in units.into_iter().rev() {
        out.push(first);
        if let Some(second) = second {
            out.push(second);
        }
    }
    out
}

/// Reverses a string by Unicode code point.
pub fn reverse_string(s: &str) -> String {
    s.chars().rev().collect()
}

fn compile(pattern: &str, greedy: bool, anchored: bool) -> Result<Regex, SyntaxError> {
    let invalid = |reason| SyntaxError::InvalidPattern {
        pattern: pattern.to_string(),
        reason,
    };
    let source = shell_pattern_to_regex(pattern, greedy, anchored).map_err(invalid)?;
    Regex::new(&source).map_err(|e| {
        invalid(PatternError::Regex(match e {
            regex::Error::CompiledTooBig(_) => "expression too large".to_string(),
            other => other.to_string(),
        }))
    })
}

/// `${NAME#pattern}` (shortest) / `${NAME##pattern}` (`greedy`, longest): `value` without the
/// prefix the pattern matches, or `value` unchanged when it does not match.
pub(crate) fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, SyntaxError> {
    let re = compile(pattern, greedy, true)?;
    Ok(match re.find(value) {
        Some(m) => value.get(m.end()..).unwrap_or_default().to_string(),
        None => value.to_string(),
    })
}

/// `${NAME%pattern}` / `${NAME%%pattern}`: a regex cannot find the shortest rightmost match,
/// so both the pattern and the value are reversed and the prefix is trimmed instead.
pub(crate) fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, SyntaxError> {
    let trimmed = trim_prefix(&reverse_pattern(pattern), &reverse_string(value), greedy)?;
    Ok(reverse_string(&trimmed))
}

/// `${NAME/pattern/replacement}` (first match) and `${NAME//pattern/replacement}` (`all`).
/// The pattern is unanchored with greedy `*`. The first-match form inserts `replacement`
/// literally; the replace-all form applies Go's `Regexp.ReplaceAllString` template rules, as
/// BuildKit does (see [`expand_template`]).
pub(crate) fn replace(
    pattern: &str,
    value: &str,
    replacement: &str,
    all: bool,
) -> Result<String, SyntaxError> {
    let re = compile(pattern, true, false)?;
    let mut out = String::with_capacity(value.len() + replacement.len());
    if all {
        // The regex crate skips an empty match that abuts the previous match, as Go does.
        let mut last = 0;
        for m in re.find_iter(value) {
            out.push_str(value.get(last..m.start()).unwrap_or_default());
            expand_template(replacement, m.as_str(), &mut out);
            last = m.end();
        }
        out.push_str(value.get(last..).unwrap_or_default());
    } else if let Some(m) = re.find(value) {
        out.push_str(value.get(..m.start()).unwrap_or_default());
        out.push_str(replacement);
        out.push_str(value.get(m.end()..).unwrap_or_default());
    } else {
        out.push_str(value);
    }
    Ok(out)
}

/// Appends `template` to `out` with Go's `Regexp.Expand` rules for a regex without capture
/// groups: `$$` is `$`; `$0` / `${0}` is the whole match; any other well-formed reference
/// (`$name`, `${name}`, name = letters, digits, `_`, taken as long as possible) is empty; a
/// `$` that starts no well-formed reference is kept.
fn expand_template(template: &str, whole_match: &str, out: &mut String) {
    let mut rest = template;
    while let Some((before, after)) = rest.split_once('$') {
        out.push_str(before);
        rest = after;
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        match group_reference(rest) {
            Some((name, after)) => {
                if name == "0" {
                    out.push_str(whole_match);
                }
                rest = after;
            }
            None => out.push('$'),
        }
    }
    out.push_str(rest);
}

/// Parses the reference after a `$`: `name` or `{name}`. Returns the name and the text after.
fn group_reference(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !is_name_char(c))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let (name, mut after) = body.split_at_checked(end)?;
    if braced {
        after = after.strip_prefix('}')?;
    }
    Some((name, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translation() {
        assert_eq!(
            shell_pattern_to_regex("a*b?", true, true).unwrap(),
            "^a.*b."
        );
        assert_eq!(shell_pattern_to_regex("a*", false, false).unwrap(), "a.*?");
        assert_eq!(
            shell_pattern_to_regex(r"\}\/", true, false).unwrap(),
            r"\}/"
        );
        assert_eq!(
            shell_pattern_to_regex(r"\", true, true),
            Err(PatternError::InvalidEscape('\u{fffd}'))
        );
        assert_eq!(
            shell_pattern_to_regex(r"\x", true, true),
            Err(PatternError::InvalidEscape('x'))
        );
    }

    #[test]
    fn trimming_shortest_and_longest() {
        assert_eq!(trim_prefix("*/", "a/b/c", false).unwrap(), "b/c");
        assert_eq!(trim_prefix("*/", "a/b/c", true).unwrap(), "c");
        assert_eq!(trim_suffix("/*", "a/b/c", false).unwrap(), "a/b");
        assert_eq!(trim_suffix("/*", "a/b/c", true).unwrap(), "a");
        assert_eq!(trim_suffix(".tar.*", "x.tar.gz", false).unwrap(), "x");
        assert_eq!(trim_prefix("x", "yx", false).unwrap(), "yx");
        // As in BuildKit (Go regexp `.`), wildcards do not cross a newline.
        assert_eq!(trim_prefix("*", "a\nb", true).unwrap(), "\nb");
    }

    #[test]
    fn replacing() {
        assert_eq!(replace("o", "foo", "0", false).unwrap(), "f0o");
        assert_eq!(replace("o", "foo", "0", true).unwrap(), "f00");
        assert_eq!(replace("*", "ab", "x", true).unwrap(), "x");
        assert_eq!(replace("", "ab", "x", true).unwrap(), "xaxbx");
        assert_eq!(replace("*", "a\nb", "x", true).unwrap(), "x\nx");
        assert_eq!(replace("z", "ab", "x", false).unwrap(), "ab");
    }

    #[test]
    fn go_template_rules() {
        let expand = |t: &str| {
            let mut out = String::new();
            expand_template(t, "M", &mut out);
            out
        };
        assert_eq!(expand("a$$b"), "a$b");
        assert_eq!(expand("<$0>"), "<M>");
        assert_eq!(expand("<${0}x>"), "<Mx>");
        assert_eq!(expand("<$0x>"), "<>");
        assert_eq!(expand("<$1>"), "<>");
        assert_eq!(expand("<$00>"), "<>");
        assert_eq!(expand("<$>"), "<$>");
        assert_eq!(expand("<${0>"), "<${0>");
        assert_eq!(expand("<$-"), "<$-");
        assert_eq!(expand("end$"), "end$");
    }

    #[test]
    fn reversal_keeps_escapes() {
        assert_eq!(reverse_pattern(r"a\*c"), r"c\*a");
        assert_eq!(reverse_pattern(r"ab\"), r"\ba");
        assert_eq!(reverse_string("🖖🚀👽"), "👽🚀🖖");
    }
}
