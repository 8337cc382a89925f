//! The crate's one error type: every message names the object it is about.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::digest::Digest;

/// The object an [`Error`] is about, printed as `blob sha256:…`, `ingest "ref"`, `image "name"`…
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Object {
    /// A blob in the content store.
    Blob(Digest),
    /// An in-progress write, by its ingest reference.
    Ingest(String),
    /// An image record, by name.
    Image(String),
    /// A cache record, by cache key.
    CacheRecord(String),
    /// A lease, by id.
    Lease(String),
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Object::Blob(d) => write!(f, "blob {d}"),
            Object::Ingest(r) => write!(f, "ingest {r:?}"),
            Object::Image(n) => write!(f, "image {n:?}"),
            Object::CacheRecord(k) => write!(f, "cache record {k:?}"),
            Object::Lease(id) => write!(f, "lease {id:?}"),
        }
    }
}

/// Errors returned by every operation of the store.
///
/// Match on the variant, or use [`Error::is_not_found`], [`Error::is_already_exists`] and
/// [`Error::is_locked`] for the conditions callers usually branch on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object does not exist.
    #[error("{0}: not found")]
    NotFound(Object),

    /// The object exists and the operation would have created it.
    #[error("{0}: already exists")]
    AlreadyExists(Object),

    /// Another writer (thread or process) holds the object.
    #[error("{0}: locked by another writer")]
    Locked(Object),

    /// Another process has the store root open.
    #[error("store {}: in use by another process", .root.display())]
    RootLocked {
        /// The store root.
        root: PathBuf,
    },

    /// A string is not a valid digest for this store.
    #[error("invalid digest {input:?}: {reason}")]
    InvalidDigest {
        /// The string as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A name (ingest reference, lease id, image name, cache key, label) is not acceptable.
    #[error("invalid {kind} {value:?}: {reason}")]
    InvalidName {
        /// What kind of name it is (`ingest reference`, `lease id`…).
        kind: &'static str,
        /// The name as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A label cannot be stored.
    #[error("label {key:?} on blob {digest}: {reason}")]
    InvalidLabel {
        /// The blob the label was for.
        digest: Digest,
        /// The label key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The data written hashes to another digest than expected; nothing was committed.
    #[error("blob {expected}: digest mismatch: got {actual}")]
    DigestMismatch {
        /// The digest the caller expected.
        expected: Digest,
        /// The digest of the data actually written.
        actual: Digest,
    },

    /// The data written has another size than expected; nothing was committed.
    #[error("{object}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob (when its digest was known) or the ingest.
        object: Object,
        /// The size the caller expected.
        expected: u64,
        /// The size actually written.
        actual: u64,
    },

    /// A blob is larger than the caller's limit.
    #[error("{object}: {size} bytes is more than the limit of {limit} bytes")]
    TooLarge {
        /// The blob.
        object: Object,
        /// Its size.
        size: u64,
        /// The caller's limit.
        limit: u64,
    },

    /// A writer saw an I/O error earlier; its on-disk data may not match its hash state.
    #[error("{0}: an earlier write failed; drop the writer and open it again to resume")]
    WriterFailed(Object),

    /// Copying data into a writer failed (reading the source or writing the ingest).
    #[error("{object}: copying data: {source}")]
    Copy {
        /// The ingest.
        object: Object,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// An I/O operation failed.
    #[error("{op} {}: {source}", .path.display())]
    Io {
        /// What was being done (`opening`, `renaming`…).
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The metadata database failed.
    #[error("metadata database {}: {source}", .path.display())]
    Db {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Box<redb::Error>,
    },

    /// A record in the metadata database cannot be decoded.
    #[error("metadata database {}: {table} record {key:?} is corrupt: {reason}", .path.display())]
    CorruptRecord {
        /// The database file.
        path: PathBuf,
        /// The table.
        table: &'static str,
        /// The record's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The metadata database was written by a newer kiln.
    #[error(
        "metadata database {}: schema version {found} is newer than this kiln supports ({supported})",
        .path.display()
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: u64,
        /// The newest version this build understands.
        supported: u64,
    },

    /// A record cannot be encoded for storage.
    #[error("{object}: cannot encode record: {reason}")]
    Encode {
        /// The record.
        object: Object,
        /// What failed.
        reason: String,
    },
}

impl Error {
    /// True for [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_))
    }

    /// True for [`Error::AlreadyExists`].
    pub fn is_already_exists(&self) -> bool {
        matches!(self, Error::AlreadyExists(_))
    }

    /// True for [`Error::Locked`] and [`Error::RootLocked`].
    pub fn is_locked(&self) -> bool {
        matches!(self, Error::Locked(_) | Error::RootLocked { .. })
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches an operation and a path to an [`io::Result`].
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}
