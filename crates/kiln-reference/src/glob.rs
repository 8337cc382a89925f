//! Shell-style matching with the semantics of Go's `path.Match`, used by `familiar_match`:
//! `*` and `?` never match `/`, `[...]`/`[^...]` classes with ranges, `\` escapes, and a
//! malformed pattern is an error even when the match already failed.
//!
//! Matching works on `char`s; for valid UTF-8 this gives the same result as Go's byte-wise
//! comparison of literals.

/// The pattern is malformed (Go's `path.ErrBadPattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadPattern;

/// Whether the whole of `name` matches `pattern`.
pub(crate) fn path_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let mut pattern = pattern;
    let mut name = name;
    'chunks: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing star matches the rest of the name unless it crosses a `/`.
            return Ok(!name.contains('/'));
        }
        // The last chunk must consume the whole name; earlier ones may leave a remainder.
        if let Some(after) = match_chunk(chunk, name)? {
            if after.is_empty() || !pattern.is_empty() {
                name = after;
                continue;
            }
        }
        if star {
            // Let the star swallow one more character at a time, never a `/`.
            let mut skipped = name.chars();
            while let Some(c) = skipped.next() {
                if c == '/' {
                    break;
                }
                if let Some(after) = match_chunk(chunk, skipped.as_str())? {
                    if pattern.is_empty() && !after.is_empty() {
                        continue;
                    }
                    name = after;
                    continue 'chunks;
                }
            }
        }
        // No match; the rest of the pattern must still be well formed.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, "")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Splits off the leading stars (reported as `star`) and the chunk up to the next star that is
/// not inside a character class.
fn scan_chunk(pattern: &str) -> (bool, &str, &str) {
    let trimmed = pattern.trim_start_matches('*');
    let star = trimmed.len() != pattern.len();
    let mut in_class = false;
    let mut escaped = false;
    let mut end = trimmed.len();
    for (i, c) in trimmed.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '[' => in_class = true,
            ']' => in_class = false,
            '*' if !in_class => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let (chunk, rest) = trimmed.split_at(end);
    (star, chunk, rest)
}

/// Matches a star-free `chunk` against the start of `s`, returning the unmatched rest of `s`
/// (`None` when it does not match). After a mismatch the chunk is still read to the end to
/// report malformed syntax.
fn match_chunk<'a>(chunk: &str, s: &'a str) -> Result<Option<&'a str>, BadPattern> {
    let mut chunk = chunk;
    let mut s = s;
    let mut failed = false;
    loop {
        let mut pattern_chars = chunk.chars();
        let Some(p) = pattern_chars.next() else {
            break;
        };
        chunk = pattern_chars.as_str();
        if s.is_empty() {
            failed = true;
        }
        match p {
            '[' => {
                let mut name_chars = s.chars();
                let c = if failed { None } else { name_chars.next() };
                if !failed {
                    s = name_chars.as_str();
                }
                let negated = match chunk.strip_prefix('^') {
                    Some(rest) => {
                        chunk = rest;
                        true
                    }
                    None => false,
                };
                let mut matched = false;
                let mut ranges = 0usize;
                loop {
                    if ranges > 0 {
                        if let Some(rest) = chunk.strip_prefix(']') {
                            chunk = rest;
                            break;
                        }
                    }
                    let (lo, rest) = class_char(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if let Some(rest) = chunk.strip_prefix('-') {
                        let (h, rest) = class_char(rest)?;
                        hi = h;
                        chunk = rest;
                    }
                    if c.is_some_and(|c| lo <= c && c <= hi) {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            '?' => {
                if !failed {
                    let mut name_chars = s.chars();
                    if name_chars.next() == Some('/') {
                        failed = true;
                    }
                    s = name_chars.as_str();
                }
            }
            _ => {
                let literal = if p == '\\' {
                    let mut escaped = chunk.chars();
                    let Some(literal) = escaped.next() else {
                        return Err(BadPattern);
                    };
                    chunk = escaped.as_str();
                    literal
                } else {
                    p
                };
                if !failed {
                    let mut name_chars = s.chars();
                    if name_chars.next() != Some(literal) {
                        failed = true;
                    }
                    s = name_chars.as_str();
                }
            }
        }
    }
    Ok((!failed).then_some(s))
}

/// One (possibly escaped) character of a class; the class must continue after it.
fn class_char(chunk: &str) -> Result<(char, &str), BadPattern> {
    let mut chars = chunk.chars();
    let c = match chars.next() {
        None | Some('-' | ']') => return Err(BadPattern),
        Some('\\') => chars.next().ok_or(BadPattern)?,
        Some(c) => c,
    };
    let rest = chars.as_str();
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((c, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> Result<bool, BadPattern> {
        path_match(pattern, name)
    }

    #[test]
    fn go_path_match_cases() {
        // The table of Go's path.Match tests, restated.
        let cases: &[(&str, &str, Result<bool, BadPattern>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*", "abc", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Ok(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^b-d]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)),
            ("a[^a]b", "a☺b", Ok(true)),
            ("a???b", "a☺b", Ok(false)),
            ("a[^a][^a][^a]b", "a☺b", Ok(false)),
            ("[a-ζ]*", "α", Ok(true)),
            ("*[a-ζ]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[x\\-]", "x", Ok(true)),
            ("[x\\-]", "-", Ok(true)),
            ("[x\\-]", "z", Ok(false)),
            ("[\\-x]", "x", Ok(true)),
            ("[\\-x]", "-", Ok(true)),
            ("[\\-x]", "a", Ok(false)),
            ("[]a]", "]", Err(BadPattern)),
            ("[-]", "-", Err(BadPattern)),
            ("[x-]", "x", Err(BadPattern)),
            ("[x-]", "-", Err(BadPattern)),
            ("[x-]", "z", Err(BadPattern)),
            ("[-x]", "x", Err(BadPattern)),
            ("[-x]", "-", Err(BadPattern)),
            ("[-x]", "a", Err(BadPattern)),
            ("\\", "a", Err(BadPattern)),
            ("[a-b-c]", "a", Err(BadPattern)),
            ("[", "a", Err(BadPattern)),
            ("[^", "a", Err(BadPattern)),
            ("[^bc", "a", Err(BadPattern)),
            ("a[", "a", Err(BadPattern)),
            ("a[", "ab", Err(BadPattern)),
            ("a[", "x", Err(BadPattern)),
            ("a/b[", "x", Err(BadPattern)),
            ("*x", "xxx", Ok(true)),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(m(pattern, name), *want, "pattern {pattern:?} name {name:?}");
        }
    }
}
