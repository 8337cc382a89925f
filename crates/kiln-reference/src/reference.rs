//! The reference value types and strict parsing (`Parse`, `WithName`, `WithTag`,
//! `WithDigest`): no defaults are added here, see `normalize.rs` for what users type.

use std::fmt;
use std::str::FromStr;

use crate::digest::{DigestAlgorithms, validate_digest};
use crate::{Error, REPOSITORY_NAME_TOTAL_LENGTH_MAX, grammar};

/// A named image reference: `[domain/]path[:tag][@digest]`.
///
/// Invariants: `path` is a valid remote name of at most 255 bytes, `domain` is empty or a
/// valid domain, the tag (if any) is a valid tag and the digest (if any) matches the digest
/// grammar. Values come from the parse functions, [`with_name`] and the `with_*` methods, so
/// `Reference::to_string` always parses back to an equal value.
///
/// Equality is structural; compare `Reference::to_string` of normalised references to ask
/// whether two spellings name the same image.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// The registry part (`docker.io`, `localhost:5000`, `[::1]:5000`), or `""` when the name
    /// has none (possible after [`parse`] or [`with_name`], never after normalisation).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path without the domain (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, without the `:`.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:...`), without the `@`.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The full repository name: `domain/path`, or just `path` when there is no domain.
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// Whether the reference has neither a tag nor a digest (upstream `IsNameOnly`).
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// The same repository with `tag`, keeping any digest (upstream `WithTag`); the result
    /// renders as `name:tag@digest`.
    ///
    /// # Errors
    /// [`Error::TagInvalidFormat`] when `tag` is not `[\w][\w.-]{0,127}`.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, Error> {
        if !grammar::is_tag(tag) {
            return Err(Error::TagInvalidFormat);
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            ..self.clone()
        })
    }

    /// The same repository with `digest`, keeping any tag (upstream `WithDigest`).
    ///
    /// Only the digest grammar (`algorithm:hex`, at least 32 hex digits) is checked, not the
    /// algorithm or its exact length, as upstream does.
    ///
    /// # Errors
    /// [`Error::DigestInvalidFormat`] when `digest` does not match the grammar.
    pub fn with_digest(&self, digest: &str) -> Result<Reference, Error> {
        if !grammar::is_digest(digest) {
            return Err(Error::DigestInvalidFormat);
        }
        Ok(Reference {
            digest: Some(digest.to_string()),
            ..self.clone()
        })
    }

    /// The repository alone, tag and digest removed (upstream `TrimNamed`).
    pub fn trimmed(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// Adds the default tag `latest` when there is neither tag nor digest (upstream
    /// `TagNameOnly`); otherwise returns the reference unchanged.
    pub fn tag_name_only(self) -> Reference {
        if self.is_name_only() {
            Reference {
                tag: Some(crate::DEFAULT_TAG.to_string()),
                ..self
            }
        } else {
            self
        }
    }

    /// Removes the tag; used when a digest pins the image anyway.
    pub(crate) fn without_tag(self) -> Reference {
        Reference { tag: None, ..self }
    }
}

impl fmt::Display for Reference {
    /// The full serialisation: `[domain/]path[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.domain.is_empty() {
            write!(f, "{}/", self.domain)?;
        }
        f.write_str(&self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = Error;

    /// Strict [`parse`] (no `docker.io/library/` defaults), as upstream's `Field` decodes
    /// references; use [`crate::parse_normalized_named`] for what users type.
    fn from_str(s: &str) -> Result<Self, Error> {
        parse(s)
    }
}

impl serde::Serialize for Reference {
    /// Serialises as the [`Display`](fmt::Display) string.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    /// Deserialises a string with the strict [`parse`].
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The result of [`crate::parse_any_reference`]: a named reference, or a bare digest (an
/// image ID such as `sha256:<hex>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AnyReference {
    /// A reference with a repository name.
    Named(Reference),
    /// A digest-only reference (`sha256:<hex>`), already validated.
    Digest(String),
}

impl AnyReference {
    /// The named reference, if this is one.
    pub fn as_named(&self) -> Option<&Reference> {
        match self {
            AnyReference::Named(named) => Some(named),
            AnyReference::Digest(_) => None,
        }
    }

    /// The named reference, if this is one.
    pub fn into_named(self) -> Option<Reference> {
        match self {
            AnyReference::Named(named) => Some(named),
            AnyReference::Digest(_) => None,
        }
    }

    /// Whether this is a bare digest without a name.
    pub fn is_digest_only(&self) -> bool {
        matches!(self, AnyReference::Digest(_))
    }

    /// The digest of either kind, if any.
    pub fn digest(&self) -> Option<&str> {
        match self {
            AnyReference::Named(named) => named.digest(),
            AnyReference::Digest(digest) => Some(digest),
        }
    }

    /// The short form users see: [`Reference::familiar_string`] for a named reference, the
    /// digest itself otherwise (upstream `FamiliarString`).
    pub fn familiar_string(&self) -> String {
        match self {
            AnyReference::Named(named) => named.familiar_string(),
            AnyReference::Digest(digest) => digest.clone(),
        }
    }
}

impl fmt::Display for AnyReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyReference::Named(named) => named.fmt(f),
            AnyReference::Digest(digest) => f.write_str(digest),
        }
    }
}

impl From<Reference> for AnyReference {
    fn from(named: Reference) -> Self {
        AnyReference::Named(named)
    }
}

/// Parses `s` with the strict grammar `[domain/]path[:tag][@digest]` and adds nothing
/// (upstream `Parse`): `busybox` stays `busybox` with an empty domain. Digests may use any of
/// [`DigestAlgorithms::ALL`].
///
/// # Errors
/// [`Error::NameEmpty`] for `""`; [`Error::NameContainsUppercase`] when only the case is
/// wrong; [`Error::InvalidFormat`] for anything else off-grammar; [`Error::NameTooLong`] for a
/// path over 255 bytes; [`Error::Digest`] for a digest of an unsupported algorithm or the
/// wrong length.
pub fn parse(s: &str) -> Result<Reference, Error> {
    parse_with(s, DigestAlgorithms::ALL)
}

/// [`parse`] accepting only the digest `algorithms` given.
///
/// # Errors
/// As [`parse`]; a digest of another algorithm fails with
/// [`DigestError::Unsupported`](crate::DigestError::Unsupported).
pub fn parse_with(s: &str, algorithms: DigestAlgorithms) -> Result<Reference, Error> {
    if s.is_empty() {
        return Err(Error::NameEmpty);
    }
    let Some(parts) = grammar::split_reference(s) else {
        let lower = s.to_lowercase();
        if lower != s && grammar::split_reference(&lower).is_some() {
            return Err(Error::NameContainsUppercase);
        }
        return Err(Error::InvalidFormat);
    };
    let (domain, path) = grammar::split_name(parts.name).ok_or(Error::InvalidFormat)?;
    if path.len() > REPOSITORY_NAME_TOTAL_LENGTH_MAX {
        return Err(Error::NameTooLong);
    }
    if let Some(digest) = parts.digest {
        validate_digest(digest, algorithms)?;
    }
    Ok(Reference {
        domain: domain.to_string(),
        path: path.to_string(),
        tag: parts.tag.map(str::to_string),
        digest: parts.digest.map(str::to_string),
    })
}

/// A reference to the bare repository `name` (`[domain/]path`, no tag or digest, no
/// normalisation), as upstream `WithName`.
///
/// # Errors
/// [`Error::InvalidFormat`] when `name` is not a repository name (this includes a tag or
/// digest suffix and uppercase paths); [`Error::NameTooLong`] for a path over 255 bytes.
pub fn with_name(name: &str) -> Result<Reference, Error> {
    let (domain, path) = grammar::split_name(name).ok_or(Error::InvalidFormat)?;
    if path.len() > REPOSITORY_NAME_TOTAL_LENGTH_MAX {
        return Err(Error::NameTooLong);
    }
    Ok(Reference {
        domain: domain.to_string(),
        path: path.to_string(),
        tag: None,
        digest: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DigestError;

    #[test]
    fn strict_parse_keeps_the_input() {
        let r = parse("test:5000/repo:tag").unwrap();
        assert_eq!(
            (r.domain(), r.path(), r.tag()),
            ("test:5000", "repo", Some("tag"))
        );
        assert_eq!(r.to_string(), "test:5000/repo:tag");
        let r = parse("busybox").unwrap();
        assert_eq!((r.domain(), r.name()), ("", "busybox".to_string()));
    }

    #[test]
    fn digest_algorithms_are_configurable() {
        let s = format!("repo@sha512:{}", "f".repeat(128));
        assert!(parse(&s).is_ok());
        assert_eq!(
            parse_with(&s, DigestAlgorithms::SHA256_ONLY),
            Err(Error::Digest(DigestError::Unsupported))
        );
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "@", ":", "/", "[", "]", "[:", "a@:", "é", "a:é", "K", "[]/a", "::/a",
        ] {
            let _ = parse(s);
            let _ = with_name(s);
        }
    }

    #[test]
    fn with_tag_then_digest_and_back() {
        let base = with_name("test.com:8000/foo").unwrap();
        let digest = format!("sha256:{}", "1".repeat(32));
        let a = base.with_tag("t").unwrap().with_digest(&digest).unwrap();
        let b = base.with_digest(&digest).unwrap().with_tag("t").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), format!("test.com:8000/foo:t@{digest}"));
        assert_eq!(a.trimmed(), base);
        assert_eq!(base.with_tag("-x"), Err(Error::TagInvalidFormat));
        assert_eq!(base.with_digest("foo"), Err(Error::DigestInvalidFormat));
    }
}
