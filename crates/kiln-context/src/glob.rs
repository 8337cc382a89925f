//! Go's `path.Match` (the matcher BuildKit applies to COPY/ADD wildcard sources) and the
//! helpers that split a source into its literal prefix and wildcard rest.

/// Whether `name` matches the shell pattern `pattern` with Go `path.Match` semantics: `*`
/// matches any run of non-`/` characters, `?` one non-`/` character, `[...]` a class
/// (`^` negates, `a-z` ranges), `\` escapes. `None` when the pattern is malformed.
pub(crate) fn path_match(pattern: &str, name: &str) -> Option<bool> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let ok = match_from(&p, &n)?;
    if !ok {
        // Go validates the rest of the pattern even when the match failed early.
        validate(&p)?;
    }
    Some(ok)
}

fn validate(p: &[char]) -> Option<()> {
    let mut i = 0;
    while i < p.len() {
        match p.get(i) {
            Some('\\') => i += 2,
            Some('[') => i = class_end(p, i)?,
            _ => i += 1,
        }
    }
    (i <= p.len() || p.last() != Some(&'\\')).then_some(())
}

/// Index just past the class starting at `p[start] == '['`.
fn class_end(p: &[char], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if p.get(i) == Some(&'^') {
        i += 1;
    }
    let mut first = true;
    loop {
        let c = *p.get(i)?;
        if c == ']' && !first {
            return Some(i + 1);
        }
        first = false;
        if c == '\\' {
            i += 1;
            p.get(i)?;
        }
        i += 1;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&c| c != ']') {
            i += 1;
            if p.get(i) == Some(&'\\') {
                i += 1;
            }
            p.get(i)?;
            i += 1;
        }
    }
}

fn class_matches(p: &[char], start: usize, ch: char) -> Option<(bool, usize)> {
    let end = class_end(p, start)?;
    let mut i = start + 1;
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < end - 1 || first {
        first = false;
        let mut lo = *p.get(i)?;
        if lo == '\\' {
            i += 1;
            lo = *p.get(i)?;
        }
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && i + 1 < end - 1 {
            i += 1;
            hi = *p.get(i)?;
            if hi == '\\' {
                i += 1;
                hi = *p.get(i)?;
            }
            i += 1;
        }
        if lo <= ch && ch <= hi {
            matched = true;
        }
    }
    Some((matched != negated, end))
}

fn match_from(p: &[char], n: &[char]) -> Option<bool> {
    let (mut pi, mut ni) = (0usize, 0usize);
    // Backtracking point for the last `*`: (pattern index after it, name index).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            match p.get(pi) {
                Some('*') => {
                    star = Some((pi + 1, ni));
                    pi += 1;
                    continue;
                }
                Some(&c) if ni < n.len() => {
                    let ch = *n.get(ni)?;
                    let (ok, next) = match c {
                        '?' => (ch != '/', pi + 1),
                        '[' => {
                            let (ok, end) = class_matches(p, pi, ch)?;
                            (ok && ch != '/', end)
                        }
                        '\\' => (p.get(pi + 1) == Some(&ch), pi + 2),
                        _ => (c == ch, pi + 1),
                    };
                    if ok {
                        pi = next;
                        ni += 1;
                        continue;
                    }
                }
                _ => {}
            }
        } else if ni == n.len() {
            return Some(true);
        }
        // Mismatch: let the last `*` swallow one more non-`/` character.
        match star {
            Some((sp, sn)) if sn < n.len() && n.get(sn) != Some(&'/') => {
                star = Some((sp, sn + 1));
                pi = sp;
                ni = sn + 1;
            }
            _ => return Some(false),
        }
    }
}

/// Whether a path element contains an unescaped `*`, `?` or `[` (BuildKit's
/// `containsWildcards`).
pub(crate) fn contains_wildcards(s: &str) -> bool {
    let mut chars = s.chars();
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

/// Splits a cleaned, rooted path into the elements before the first wildcard element and
/// the rest (`/a/b*/c` → (`["a"]`, `["b*", "c"]`)).
pub(crate) fn split_wildcards(elems: &[String]) -> (Vec<String>, Vec<String>) {
    let at = elems
        .iter()
        .position(|e| contains_wildcards(e))
        .unwrap_or(elems.len());
    let (a, b) = elems.split_at(at);
    (a.to_vec(), b.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_match_cases() {
        let cases: &[(&str, &str, Option<bool>)] = &[
            ("abc", "abc", Some(true)),
            ("*", "abc", Some(true)),
            ("*c", "abc", Some(true)),
            ("a*", "a", Some(true)),
            ("a*", "ab/c", Some(false)),
            ("a*/b", "abc/b", Some(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Some(false)),
            ("ab[c]", "abc", Some(true)),
            ("ab[b-d]", "abc", Some(true)),
            ("ab[^c]", "abc", Some(false)),
            ("ab[^b-d]", "abe", Some(true)),
            ("a\\*b", "a*b", Some(true)),
            ("a\\*b", "ab", Some(false)),
            ("a?b", "a☺b", Some(true)),
            ("a?b", "a/b", Some(false)),
            ("a*b", "a/b", Some(false)),
            ("[", "a", None),
            ("[^", "a", None),
            ("a[", "x", None),
            ("/*.txt", "/a.txt", Some(true)),
            ("/*.txt", "/d/a.txt", Some(false)),
        ];
        for (p, n, want) in cases {
            assert_eq!(path_match(p, n), *want, "{p:?} {n:?}");
        }
    }

    #[test]
    fn wildcard_split() {
        let e: Vec<String> = ["a", "b*", "c"].iter().map(|s| s.to_string()).collect();
        let (a, b) = split_wildcards(&e);
        assert_eq!(a, vec!["a".to_string()]);
        assert_eq!(b.len(), 2);
        assert!(!contains_wildcards("a\\*"));
    }
}
