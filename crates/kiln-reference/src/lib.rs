//! Image references (`docker.io/library/busybox:latest@sha256:...`): the distribution/reference
//! grammar, strict parsing, Docker Hub normalisation and the familiar short forms.
//!
//! Two ways in:
//! * [`parse_normalized_named`] (and [`parse_docker_ref`], [`parse_any_reference`]) for what a
//!   user types after `-t`, in `FROM` or in `docker-image://`: `busybox` becomes
//!   `docker.io/library/busybox`.
//! * [`parse`] for text that is already a reference and must be taken literally.
//!
//! [`Reference::familiar_string`] gives back the short form for messages. The grammar
//! productions themselves are in [`grammar`]. Error texts are upstream's, since users see them
//! and scripts match them.
//!
//! Invariant: this crate does no I/O and knows nothing about registries beyond the Docker Hub
//! naming defaults.

mod digest;
mod glob;
pub mod grammar;
mod normalize;
mod reference;

pub use digest::{Algorithm, DigestAlgorithms, DigestError, validate_digest};
pub use normalize::{
    familiar_match, parse_any_reference, parse_docker_ref, parse_named, parse_normalized_named,
    sort,
};
pub use reference::{AnyReference, Reference, parse, parse_with, with_name};

/// Maximum length in bytes of a repository path (the name without its domain).
pub const REPOSITORY_NAME_TOTAL_LENGTH_MAX: usize = 255;

/// The registry of images named without one.
pub const DEFAULT_DOMAIN: &str = "docker.io";

/// The old name of Docker Hub's registry, normalised to [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";

/// The Docker Hub namespace of official images (`ubuntu` is `library/ubuntu`).
pub const OFFICIAL_REPO_PREFIX: &str = "library/";

/// The tag assumed when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

/// Why a reference was rejected. The messages are upstream's texts; each variant names the
/// upstream error value it stands for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text does not follow the reference grammar (`ErrReferenceInvalidFormat`).
    #[error("invalid reference format")]
    InvalidFormat,
    /// A tag given to [`Reference::with_tag`] is not a valid tag (`ErrTagInvalidFormat`).
    #[error("invalid tag format")]
    TagInvalidFormat,
    /// A digest given to [`Reference::with_digest`] does not match the digest grammar
    /// (`ErrDigestInvalidFormat` of this package).
    #[error("invalid digest format")]
    DigestInvalidFormat,
    /// The text would be valid in lowercase (`ErrNameContainsUppercase`).
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    /// Empty input (`ErrNameEmpty`).
    #[error("repository name must have at least one component")]
    NameEmpty,
    /// The repository path is longer than [`REPOSITORY_NAME_TOTAL_LENGTH_MAX`] (`ErrNameTooLong`).
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    /// [`parse_named`] was given a name that normalisation would change (`ErrNameNotCanonical`).
    #[error("repository name must be canonical")]
    NameNotCanonical,
    /// A user-typed repository path (`name`, after the Docker Hub defaults) has uppercase
    /// letters; upstream's wrapped `ParseNormalizedNamed` error that `docker build -t` shows.
    #[error("invalid reference format: repository name ({name}) must be lowercase")]
    RepositoryNameUppercase {
        /// The offending path, e.g. `library/Foo`.
        name: String,
    },
    /// A bare 64-hex string given where a name is required: it would be ambiguous with an
    /// image ID.
    #[error("invalid repository name ({name}), cannot specify 64-byte hexadecimal strings")]
    NameIsIdentifier {
        /// The input.
        name: String,
    },
    /// The digest is not valid for its algorithm (go-digest's errors).
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// A [`familiar_match`] pattern is malformed (Go's `path.ErrBadPattern`).
    #[error("syntax error in pattern {pattern:?}")]
    BadPattern {
        /// The pattern.
        pattern: String,
    },
}
