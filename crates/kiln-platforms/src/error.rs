//! The crate's error type, with containerd's message wording (users see these after `--platform`).

use std::fmt::Write as _;

/// The regular expression containerd quotes when the OS component of a specifier is malformed.
pub(crate) const OS_COMPONENT_PATTERN: &str =
    r"^([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.%-]*)((?:\+[A-Za-z0-9_.%-]+)*)\))?$";

/// The regular expression containerd quotes when an architecture or variant component is malformed.
pub(crate) const COMPONENT_PATTERN: &str = r"^[A-Za-z0-9_.-]+$";

/// Why a platform specifier (or a CPU architecture name) was rejected.
///
/// Every message ends in `invalid argument` (containerd's `errdefs.ErrInvalidArgument`) where
/// upstream's does, and quotes values the way Go's `%q` does, so the text is the one
/// `docker buildx` users already know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The specifier contains `*`; containerd does not support wildcards yet.
    #[error("{}: wildcards not yet supported: invalid argument", go_quote(.0))]
    Wildcard(String),

    /// The first component is not `os[(version+feature...)]`.
    #[error(
        "{} is an invalid OS component of {}: OSAndVersion specifier component must match {}: invalid argument",
        go_quote(component),
        go_quote(specifier),
        go_quote(OS_COMPONENT_PATTERN)
    )]
    InvalidOsComponent {
        /// The whole specifier.
        specifier: String,
        /// The offending component.
        component: String,
    },

    /// The OS version inside `(...)` has a bad `%XX` escape.
    #[error(
        "{} has an invalid OS version {}: {source}",
        go_quote(specifier),
        go_quote(version)
    )]
    InvalidOsVersion {
        /// The whole specifier.
        specifier: String,
        /// The version text as written (still escaped).
        version: String,
        /// What is wrong with it.
        source: OsOptionError,
    },

    /// An OS feature inside `(...)` has a bad `%XX` escape.
    #[error(
        "{} has invalid OS features: invalid os feature {}: {source}",
        go_quote(specifier),
        go_quote(feature)
    )]
    InvalidOsFeature {
        /// The whole specifier.
        specifier: String,
        /// The feature text as written (still escaped).
        feature: String,
        /// What is wrong with it.
        source: OsOptionError,
    },

    /// An architecture or variant component is empty or has characters outside `[A-Za-z0-9_.-]`.
    #[error(
        "{} is an invalid component of {}: platform specifier component must match {}: invalid argument",
        go_quote(component),
        go_quote(specifier),
        go_quote(COMPONENT_PATTERN)
    )]
    InvalidComponent {
        /// The whole specifier.
        specifier: String,
        /// The offending component.
        component: String,
    },

    /// A single-component specifier names neither a known OS nor a known architecture.
    #[error("{}: unknown operating system or architecture: invalid argument", go_quote(.0))]
    UnknownOsOrArch(String),

    /// The specifier has more than three `/`-separated components.
    #[error("{}: cannot parse platform specifier: invalid argument", go_quote(.0))]
    TooManyComponents(String),

    /// One entry of a list given to [`crate::parse_all`] failed.
    #[error("invalid platform {specifier}: {source}")]
    InList {
        /// The entry that failed.
        specifier: String,
        /// Why it failed.
        source: Box<Error>,
    },

    /// A `/proc/cpuinfo` / `uname -m` architecture name that names no ARM version
    /// (see [`crate::cpu_variant_from_arch`]).
    #[error("invalid cpu architecture {}: invalid argument", go_quote(.0))]
    InvalidCpuArch(String),
}

/// A malformed OS version or OS feature value in `os(version+feature)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OsOptionError {
    /// `%` not followed by two hex digits (Go's `url.EscapeError` wording).
    #[error("invalid URL escape {}", go_quote(.0))]
    BadEscape(String),
    /// The escapes decode to bytes that are not UTF-8.
    #[error("invalid UTF-8 after decoding {}", go_quote(.0))]
    NotUtf8(String),
}

/// Quotes `s` like Go's `strconv.Quote` (`%q`), so messages read exactly as upstream's.
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
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("linux/"), r#""linux/""#);
        assert_eq!(go_quote("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\x01""#);
        assert_eq!(go_quote("é"), "\"é\"");
        assert_eq!(go_quote("\u{85}"), r#""\u0085""#);
    }

    #[test]
    fn messages_match_containerd() {
        assert_eq!(
            Error::UnknownOsOrArch("foo".into()).to_string(),
            r#""foo": unknown operating system or architecture: invalid argument"#
        );
        assert_eq!(
            Error::InvalidComponent {
                specifier: "linux/".into(),
                component: String::new()
            }
            .to_string(),
            r#""" is an invalid component of "linux/": platform specifier component must match "^[A-Za-z0-9_.-]+$": invalid argument"#
        );
        assert_eq!(
            Error::InvalidOsComponent {
                specifier: "linux /arm".into(),
                component: "linux ".into()
            }
            .to_string(),
            r#""linux " is an invalid OS component of "linux /arm": OSAndVersion specifier component must match "^([A-Za-z0-9_-]+)(?:\\(([A-Za-z0-9_.%-]*)((?:\\+[A-Za-z0-9_.%-]+)*)\\))?$": invalid argument"#
        );
    }
}
