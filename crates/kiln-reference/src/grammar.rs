//! The reference grammar as hand-written, anchored matchers (one function per production of
//! upstream's `regexp.go`), so no regular expression is compiled at run time.
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain "/"] remote-name
//! domain           := host [":" port-number]
//! host             := domain-name | "[" ipv6 "]"
//! domain-name      := domain-component ["." domain-component]*
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! ipv6             := /[a-fA-F0-9:]+/        (no zone, no embedded IPv4)
//! port-number      := /[0-9]+/
//! remote-name      := path-component ["/" path-component]*
//! path-component   := alpha-numeric [separator alpha-numeric]*
//! alpha-numeric    := /[a-z0-9]+/
//! separator        := /[_.]|__|[-]+/
//! tag              := /[\w][\w.-]{0,127}/   (\w is ASCII only)
//! digest           := algorithm ":" /[0-9a-fA-F]{32,}/
//! algorithm        := component [/[-_+.]/ component]*,  component := /[A-Za-z][A-Za-z0-9]*/
//! identifier       := /[a-f0-9]{64}/
//! ```
//!
//! Every function matches the WHOLE input (as upstream's anchored expressions do) and never
//! panics. Where upstream's regular expressions capture groups, the matcher returns the same
//! parts, chosen the way Go's leftmost-first matching chooses them: a leading domain is taken
//! whenever the text before the first `/` is one and the rest is a valid remote name.

/// Maximum length of a tag (`[\w][\w.-]{0,127}`).
pub const TAG_MAX_LEN: usize = 128;

/// Minimum number of hex characters in a digest's encoded part (128 bits).
pub const DIGEST_MIN_HEX_LEN: usize = 32;

/// Length of an image identifier (a bare sha256 hex string).
pub const IDENTIFIER_LEN: usize = 64;

/// The parts of a reference as captured by upstream's `ReferenceRegexp`: the name (with its
/// domain, if any), and the tag and digest when present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferenceParts<'a> {
    /// `[domain/]remote-name`.
    pub name: &'a str,
    /// The text after `:`, without the colon.
    pub tag: Option<&'a str>,
    /// The text after `@`, without the at-sign (`algorithm:hex`).
    pub digest: Option<&'a str>,
}

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `path-component`: lowercase alphanumeric runs joined by `.`, `_`, `__` or any number of `-`.
pub fn is_path_component(s: &str) -> bool {
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().next_back()) else {
        return false;
    };
    if !is_lower_alnum(first) || !is_lower_alnum(last) {
        return false;
    }
    if !s
        .chars()
        .all(|c| is_lower_alnum(c) || matches!(c, '.' | '_' | '-'))
    {
        return false;
    }
    // Splitting on the alphanumerics leaves exactly the separator runs (and empty strings
    // between adjacent alphanumerics); each run must be one allowed separator.
    s.split(is_lower_alnum)
        .all(|sep| matches!(sep, "" | "." | "_" | "__") || sep.chars().all(|c| c == '-'))
}

/// `remote-name` (the repository path): one or more path components separated by `/`.
pub fn is_remote_name(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

/// `domain-component`: ASCII letters, digits and inner hyphens.
pub fn is_domain_component(s: &str) -> bool {
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().next_back()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// `domain-name`: dot-separated domain components (this also covers IPv4 addresses).
pub fn is_domain_name(s: &str) -> bool {
    s.split('.').all(is_domain_component)
}

/// A bracketed IPv6 address as the grammar accepts it: `[` hex digits and colons `]`, without
/// a zone identifier or an embedded IPv4 address.
pub fn is_bracketed_ipv6(s: &str) -> bool {
    s.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .is_some_and(|inner| {
            !inner.is_empty() && inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':')
        })
}

/// `host`: a domain name, an IPv4 address or a bracketed IPv6 address.
pub fn is_host(s: &str) -> bool {
    is_domain_name(s) || is_bracketed_ipv6(s)
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

/// `domain` (upstream `DomainRegexp`): a host with an optional numeric `:port`.
pub fn is_domain(s: &str) -> bool {
    if s.starts_with('[') {
        // The address cannot contain `]`, so the first one closes it.
        let Some(close) = s.find(']') else {
            return false;
        };
        let (host, rest) = s.split_at(close + 1);
        return is_bracketed_ipv6(host)
            && (rest.is_empty() || rest.strip_prefix(':').is_some_and(is_port));
    }
    match s.split_once(':') {
        Some((host, port)) => is_domain_name(host) && is_port(port),
        None => is_domain_name(s),
    }
}

/// `name` (upstream `anchoredNameRegexp`): splits a repository name into its domain (`""`
/// when there is none) and its path. `None` when `s` is not a valid name.
///
/// The first `/`-separated element is the domain whenever it is a valid domain and the rest is
/// a valid path, so `simple/name` gives `("simple", "name")`; otherwise the whole input must
/// be a path (`do__cker/docker` gives `("", "do__cker/docker")`).
pub fn split_name(s: &str) -> Option<(&str, &str)> {
    if let Some((domain, path)) = s.split_once('/') {
        if is_domain(domain) && is_remote_name(path) {
            return Some((domain, path));
        }
    }
    is_remote_name(s).then_some(("", s))
}

/// `tag`: a word character followed by up to 127 word characters, dots and dashes.
pub fn is_tag(s: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    s.len() <= TAG_MAX_LEN
        && s.chars().next().is_some_and(is_word)
        && s.chars().all(|c| is_word(c) || matches!(c, '.' | '-'))
}

/// `digest` as the reference grammar sees it: `algorithm:hex` with at least 32 hex digits
/// (either case). This is only the shape; [`crate::validate_digest`] checks the algorithm
/// and the exact length.
pub fn is_digest(s: &str) -> bool {
    let Some((algorithm, encoded)) = s.split_once(':') else {
        return false;
    };
    let component_ok = |c: &str| {
        let mut chars = c.chars();
        chars.next().is_some_and(|f| f.is_ascii_alphabetic())
            && chars.all(|ch| ch.is_ascii_alphanumeric())
    };
    algorithm.split(['-', '_', '+', '.']).all(component_ok)
        && encoded.len() >= DIGEST_MIN_HEX_LEN
        && encoded.chars().all(|c| c.is_ascii_hexdigit())
}

/// `identifier`: exactly 64 lowercase hex characters (an image ID).
pub fn is_identifier(s: &str) -> bool {
    s.len() == IDENTIFIER_LEN
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, 'a'..='f'))
}

/// `reference` (upstream `ReferenceRegexp`): splits `name[:tag][@digest]` into its parts, or
/// `None` when `s` does not match the grammar.
///
/// The split is unambiguous: neither name nor tag contains `@`, so the digest follows the
/// first `@`; a tag contains neither `:` nor `/`, and a `:` inside a name (a port or an IPv6
/// address) is always followed by a `/`, so a tag is the text after the last `:` exactly when
/// that text has no `/`.
pub fn split_reference(s: &str) -> Option<ReferenceParts<'_>> {
    let (rest, digest) = match s.split_once('@') {
        Some((rest, digest)) => {
            if !is_digest(digest) {
                return None;
            }
            (rest, Some(digest))
        }
        None => (s, None),
    };
    let (name, tag) = match rest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => {
            if !is_tag(tag) {
                return None;
            }
            (name, Some(tag))
        }
        _ => (rest, None),
    };
    split_name(name)?;
    Some(ReferenceParts { name, tag, digest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators() {
        for ok in ["a", "a.b", "a_b", "a__b", "a-b", "a---b", "a.b_c__d-e", "0"] {
            assert!(is_path_component(ok), "{ok}");
        }
        for bad in [
            "", "a.", ".a", "a..b", "a___b", "a._b", "a-.b", "a_-b", "A", "a/b", "a:b",
        ] {
            assert!(!is_path_component(bad), "{bad}");
        }
    }

    #[test]
    fn domains() {
        assert!(is_domain("[::1]"));
        assert!(is_domain("[::1]:5000"));
        assert!(!is_domain("[::1]:"));
        assert!(!is_domain("[]"));
        assert!(!is_domain("["));
        assert!(!is_domain("a:"));
        assert!(!is_domain(":80"));
        assert!(!is_domain("a..b"));
        assert!(!is_domain("a.b."));
    }

    #[test]
    fn reference_split() {
        let parts = split_reference("localhost:8080@sha256:0123456789abcdef0123456789abcdef");
        assert_eq!(
            parts,
            Some(ReferenceParts {
                name: "localhost",
                tag: Some("8080"),
                digest: Some("sha256:0123456789abcdef0123456789abcdef"),
            })
        );
        assert_eq!(split_reference("a:b:c"), None);
        assert_eq!(split_reference("a@b@c"), None);
        assert_eq!(split_reference("a:"), None);
        assert_eq!(split_reference("a@"), None);
        assert_eq!(split_reference(&format!("a:{}", "t".repeat(129))), None);
        assert!(split_reference(&format!("a:{}", "t".repeat(128))).is_some());
        // `\w` is ASCII only.
        assert_eq!(split_reference("a:é"), None);
    }
}
