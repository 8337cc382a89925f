//! The graph crate's error type.

/// What can go wrong reading a serialized [`crate::Definition`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A digest that is not `sha256:` and 64 lowercase hex digits.
    #[error("invalid digest {0:?}: expected sha256:<64 lowercase hex digits>")]
    InvalidDigest(String),
    /// The definition is not valid JSON of the expected shape.
    #[error("reading build definition: {0}")]
    Json(#[from] serde_json::Error),
    /// A vertex whose content does not hash to the digest it is stored under.
    #[error(
        "build definition vertex {stored} hashes to {actual}: the definition was altered or \
         produced by an incompatible kiln; regenerate it"
    )]
    DigestMismatch {
        stored: crate::Digest,
        actual: crate::Digest,
    },
    /// An input or the output names a vertex the definition does not contain.
    #[error("build definition refers to vertex {0} which it does not contain")]
    MissingVertex(crate::Digest),
    /// An input names an output index the op does not have.
    #[error("build definition vertex {vertex} has no output {index}")]
    MissingOutput { vertex: crate::Digest, index: u32 },
    /// The definition's format version is not one this kiln reads.
    #[error("build definition version {0} is not supported (expected {1})")]
    UnsupportedVersion(u32, u32),
}
