//! Character classes with Go's `unicode` package meaning, which BuildKit uses for variable
//! names (`IsLetter`, `IsDigit`) and word splitting (`IsSpace`).

use std::sync::LazyLock;

use regex::Regex;

/// Unicode general categories L and Nd, from the regex crate's tables (std has no general
/// category queries: `char::is_alphabetic` also admits marks, `is_numeric` also `No`/`Nl`).
static LETTER: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\A\p{L}\z").ok());
static DIGIT: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\A\p{Nd}\z").ok());

fn in_class(class: &LazyLock<Option<Regex>>, c: char, fallback: fn(char) -> bool) -> bool {
    let mut buf = [0u8; 4];
    match class.as_ref() {
        Some(re) => re.is_match(c.encode_utf8(&mut buf)),
        None => fallback(c),
    }
}

/// Go's `unicode.IsLetter`: general category L.
pub(crate) fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    in_class(&LETTER, c, char::is_alphabetic)
}

/// Go's `unicode.IsDigit`: general category Nd.
pub(crate) fn is_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    in_class(&DIGIT, c, char::is_numeric)
}

/// A character that may continue a variable name: letter, digit or `_`.
pub(crate) fn is_name_char(c: char) -> bool {
    c == '_' || is_letter(c) || is_digit(c)
}

/// Go's `unicode.IsSpace`, which is the Unicode White_Space property, as `char::is_whitespace`.
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_general_categories() {
        assert!(is_letter('a') && is_letter('한') && is_letter('é'));
        assert!(!is_letter('\u{301}'), "combining mark is not a letter");
        assert!(!is_letter('1') && !is_letter('_'));
        assert!(is_digit('7') && is_digit('٣'));
        assert!(!is_digit('²'), "superscript two is No, not Nd");
        assert!(is_name_char('_') && !is_name_char('.'));
        assert!(is_space('\u{a0}') && is_space('\u{85}') && !is_space('x'));
    }
}
