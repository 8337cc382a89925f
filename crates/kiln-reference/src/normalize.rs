//! Docker Hub normalisation (`busybox` → `docker.io/library/busybox`), the familiar short forms
//! shown to users, `ParseAnyReference`, `ParseDockerRef`, `ParseNamed`, `FamiliarMatch` and
//! reference sorting.

use crate::digest::{DigestAlgorithms, validate_digest};
use crate::reference::{AnyReference, Reference, parse};
use crate::{DEFAULT_DOMAIN, Error, LEGACY_DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX, glob, grammar};

/// The name that is always taken as a domain even without a `.` or `:`.
const LOCALHOST: &str = "localhost";

/// Parses what a user types (`ubuntu`, `user/app:1`, `registry:5000/app@sha256:...`) into a
/// fully qualified reference (upstream `ParseNormalizedNamed`).
///
/// The first `/`-separated element is a domain when it contains `.` or `:`, is `localhost`,
/// or has uppercase letters; otherwise the domain is `docker.io`. `index.docker.io` becomes
/// `docker.io`, and a single-element path on `docker.io` gets the `library/` prefix.
///
/// # Errors
/// [`Error::NameIsIdentifier`] for a bare 64-hex string (it would be ambiguous with an image
/// ID; see [`parse_any_reference`]); [`Error::RepositoryNameUppercase`] when the repository
/// path has uppercase letters; otherwise as [`parse`].
pub fn parse_normalized_named(s: &str) -> Result<Reference, Error> {
    if grammar::is_identifier(s) {
        return Err(Error::NameIsIdentifier {
            name: s.to_string(),
        });
    }
    let (domain, remainder) = split_docker_domain(s);
    let remote = remainder
        .split_once(':')
        .map_or(remainder.as_str(), |(remote, _)| remote);
    if remote.to_lowercase() != remote {
        return Err(Error::RepositoryNameUppercase {
            name: remote.to_string(),
        });
    }
    parse(&format!("{domain}/{remainder}"))
}

/// Splits a user-typed name into its domain and the rest, applying the Docker Hub defaults.
fn split_docker_domain(name: &str) -> (&str, String) {
    let Some((first, rest)) = name.split_once('/') else {
        // A single element (`ubuntu`, `ubuntu:latest`) is always an official image, never a
        // `host:port`.
        return (DEFAULT_DOMAIN, format!("{OFFICIAL_REPO_PREFIX}{name}"));
    };
    let (domain, remainder) =
        if first == LOCALHOST || first.contains(['.', ':']) || first.to_lowercase() != first {
            let domain = if first == LEGACY_DEFAULT_DOMAIN {
                DEFAULT_DOMAIN
            } else {
                first
            };
            (domain, rest)
        } else {
            (DEFAULT_DOMAIN, name)
        };
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        (domain, format!("{OFFICIAL_REPO_PREFIX}{remainder}"))
    } else {
        (domain, remainder.to_string())
    }
}

/// Parses a reference that may also be an image ID (upstream `ParseAnyReference`): a bare
/// 64-hex string becomes the digest `sha256:<hex>`, a valid digest stays a digest, anything
/// else is [`parse_normalized_named`].
///
/// # Errors
/// As [`parse_normalized_named`].
pub fn parse_any_reference(s: &str) -> Result<AnyReference, Error> {
    if grammar::is_identifier(s) {
        return Ok(AnyReference::Digest(format!("sha256:{s}")));
    }
    if validate_digest(s, DigestAlgorithms::ALL).is_ok() {
        return Ok(AnyReference::Digest(s.to_string()));
    }
    parse_normalized_named(s).map(AnyReference::Named)
}

/// Normalises `s` the way Docker resolves an image to pull (upstream `ParseDockerRef`): as
/// [`parse_normalized_named`], then the tag `latest` is added when there is neither tag nor
/// digest, and a tag is dropped when a digest is present (the digest pins the image).
///
/// # Errors
/// As [`parse_normalized_named`].
pub fn parse_docker_ref(s: &str) -> Result<Reference, Error> {
    let named = parse_normalized_named(s)?;
    if named.digest().is_some() {
        Ok(named.without_tag())
    } else {
        Ok(named.tag_name_only())
    }
}

/// Parses a reference that must already be in canonical form (upstream `ParseNamed`):
/// normalising it must not change its text (`docker.io/library/foo`, not `foo`).
///
/// # Errors
/// [`Error::NameNotCanonical`] when normalisation would change `s`; otherwise as
/// [`parse_normalized_named`].
pub fn parse_named(s: &str) -> Result<Reference, Error> {
    let named = parse_normalized_named(s)?;
    if named.to_string() != s {
        return Err(Error::NameNotCanonical);
    }
    Ok(named)
}

impl Reference {
    /// The short repository name users see (upstream `FamiliarName`): `docker.io/` is removed,
    /// and so is `library/` when one element follows it (`docker.io/library/ubuntu` →
    /// `ubuntu`, `docker.io/library/a/b` → `library/a/b`). Other registries are unchanged.
    pub fn familiar_name(&self) -> String {
        if self.domain() != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path().strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.path().to_string(),
        }
    }

    /// [`Reference::familiar_name`] with the tag and digest (upstream `FamiliarString`):
    /// `docker.io/library/busybox:latest` → `busybox:latest`.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(tag) = self.tag() {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = self.digest() {
            s.push('@');
            s.push_str(digest);
        }
        s
    }
}

/// Whether `reference` matches the shell pattern `pattern` (upstream `FamiliarMatch`, used
/// by `reference=` filters). The pattern is matched with Go `path.Match` rules (`*` and `?`
/// do not cross `/`, `[...]` classes, `\` escapes) against the familiar string
/// (`foo/c/baz:tag`), then, for a named reference, against the familiar name alone.
///
/// # Errors
/// [`Error::BadPattern`] when the pattern is malformed (even if it could not match).
pub fn familiar_match(pattern: &str, reference: &AnyReference) -> Result<bool, Error> {
    let bad = |_| Error::BadPattern {
        pattern: pattern.to_string(),
    };
    if glob::path_match(pattern, &reference.familiar_string()).map_err(bad)? {
        return Ok(true);
    }
    match reference.as_named() {
        Some(named) => glob::path_match(pattern, &named.familiar_name()).map_err(bad),
        None => Ok(false),
    }
}

/// Orders references from most to least specific (upstream `Sort`): each string is read
/// with [`parse_any_reference`]; the parsed ones come first, as their normalised strings,
/// ranked name+tag+digest, name+tag, name+digest, name only, bare digest, and by byte order
/// within a rank; the unparseable inputs follow, unchanged and in byte order.
pub fn sort<S: AsRef<str>>(references: &[S]) -> Vec<String> {
    let mut parsed: Vec<(u8, String)> = Vec::new();
    let mut bad: Vec<String> = Vec::new();
    for input in references {
        let input = input.as_ref();
        match parse_any_reference(input) {
            Ok(reference) => parsed.push((rank(&reference), reference.to_string())),
            Err(_) => bad.push(input.to_string()),
        }
    }
    parsed.sort();
    bad.sort();
    parsed.into_iter().map(|(_, s)| s).chain(bad).collect()
}

/// Lower is more specific.
fn rank(reference: &AnyReference) -> u8 {
    match reference {
        AnyReference::Named(named) => match (named.tag().is_some(), named.digest().is_some()) {
            (true, true) => 1,
            (true, false) => 2,
            (false, true) => 3,
            (false, false) => 4,
        },
        AnyReference::Digest(_) => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_defaults() {
        let r = parse_normalized_named("ubuntu:22.04").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/ubuntu:22.04");
        assert_eq!(r.familiar_string(), "ubuntu:22.04");
        let r = parse_normalized_named("index.docker.io/user/app").unwrap();
        assert_eq!(r.to_string(), "docker.io/user/app");
        let r = parse_normalized_named("localhost/app").unwrap();
        assert_eq!((r.domain(), r.path()), ("localhost", "app"));
    }

    #[test]
    fn user_facing_errors() {
        let err = parse_normalized_named("Foo").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid reference format: repository name (library/Foo) must be lowercase"
        );
        let hex = "a".repeat(64);
        let err = parse_normalized_named(&hex).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("invalid repository name ({hex}), cannot specify 64-byte hexadecimal strings")
        );
        assert_eq!(
            parse_normalized_named("foo:bar:baz").unwrap_err(),
            Error::InvalidFormat
        );
    }

    #[test]
    fn docker_ref_pins_digest() {
        let d = format!("sha256:{}", "e".repeat(64));
        let r = parse_docker_ref(&format!("gcr.io/a/b:1@{d}")).unwrap();
        assert_eq!(r.to_string(), format!("gcr.io/a/b@{d}"));
        assert_eq!(
            parse_docker_ref("busybox").unwrap().to_string(),
            "docker.io/library/busybox:latest"
        );
    }

    #[test]
    fn sort_places_bare_digests_after_names() {
        let d = format!("sha256:{}", "e".repeat(64));
        let sorted = sort(&[d.as_str(), "busybox", "z z"]);
        assert_eq!(
            sorted,
            vec![
                "docker.io/library/busybox".to_string(),
                d,
                "z z".to_string()
            ]
        );
    }

    #[test]
    fn match_falls_back_to_the_name() {
        let r = parse_any_reference("example.com/foo/c/baz:tag").unwrap();
        assert!(familiar_match("*/foo/c/baz", &r).unwrap());
        assert!(!familiar_match("*/baz", &r).unwrap());
        assert!(matches!(
            familiar_match("[-x]", &r),
            Err(Error::BadPattern { .. })
        ));
    }
}
