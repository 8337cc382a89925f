//! Image references (`docker.io/library/busybox:latest@sha256:...`): strict parsing,
//! normalisation and familiar forms, as distribution/reference does. (API contract; being
//! implemented.)

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("invalid reference format")]
    InvalidFormat,
}

impl Reference {
    pub fn domain(&self) -> &str {
        &self.domain
    }
    pub fn path(&self) -> &str {
        &self.path
    }
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }
}

/// What a user types: adds `docker.io` and `library/` (upstream `ParseNormalizedNamed`).
pub fn parse_normalized_named(s: &str) -> Result<Reference, Error> {
    let _ = s;
    Err(Error::InvalidFormat)
}
