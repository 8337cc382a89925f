//! "Did you mean ...?" suggestions: the closest option by Levenshtein distance, as BuildKit's
//! `util/suggest` picks them for `UndefinedVar` and `UndefinedArgInFrom`.

/// The option closest to `value` with an edit distance below 3, or `None`.
///
/// Options are considered in sorted order so that ties resolve the same way on every run
/// (upstream iterates a Go map, whose order is random). With `case_sensitive == false` the
/// comparison ignores case and the suggestion is returned in `value`'s case when `value` is
/// all-lower or all-upper. An option equal to `value` is not a suggestion.
pub fn search(value: &str, options: &[String], case_sensitive: bool) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    let fold = |s: &str| {
        if case_sensitive {
            s.to_string()
        } else {
            s.to_lowercase()
        }
    };
    let val = fold(value);
    let mut sorted: Vec<&String> = options.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut best: Option<String> = None;
    let mut min_dist = 3;
    for opt in sorted {
        let o = fold(opt);
        if o == val {
            return None;
        }
        let d = levenshtein(&val, &o);
        if d < min_dist {
            min_dist = d;
            best = Some(if case_sensitive {
                o
            } else {
                match_case(&o, value)
            });
        }
    }
    best
}

fn match_case(val: &str, orig: &str) -> String {
    if orig == orig.to_lowercase() {
        val.to_lowercase()
    } else if orig == orig.to_uppercase() {
        val.to_uppercase()
    } else {
        val.to_string()
    }
}

/// Levenshtein distance over Unicode scalar values (unit costs).
pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn distances() {
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("FOO", "FOO"), 0);
        assert_eq!(levenshtein("héllo", "hello"), 1);
    }

    #[test]
    fn picks_closest_below_three() {
        assert_eq!(
            search("VERSON", &opts(&["VERSION", "PATH"]), true).as_deref(),
            Some("VERSION")
        );
        assert_eq!(search("XYZ", &opts(&["PATH", "HOME"]), true), None);
        assert_eq!(search("", &opts(&["A"]), true), None);
        assert_eq!(search("PATH", &opts(&["PATH"]), true), None);
    }

    #[test]
    fn case_insensitive_keeps_input_case() {
        assert_eq!(
            search("path", &opts(&["PATH"]), false),
            None,
            "exact match ignoring case is not a suggestion"
        );
        assert_eq!(
            search("patj", &opts(&["PATH"]), false).as_deref(),
            Some("path")
        );
    }

    #[test]
    fn ties_resolve_deterministically() {
        let a = search("AB", &opts(&["AC", "AD"]), true);
        let b = search("AB", &opts(&["AD", "AC"]), true);
        assert_eq!(a, b);
        assert_eq!(a.as_deref(), Some("AC"));
    }
}
