//! The one error type of `kiln-snapshot`: every variant names the snapshot, path or layer entry.

use std::io;
use std::path::PathBuf;

use crate::snapshotter::Kind;

/// Errors from snapshotters, the differ, layer apply and the mount helpers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No snapshot has this key or name.
    #[error("snapshot {0:?} not found")]
    NotFound(String),
    /// A snapshot with this key or name already exists.
    #[error("snapshot {0:?} already exists")]
    AlreadyExists(String),
    /// The snapshot exists but is of the wrong kind for the operation.
    #[error("snapshot {key:?} is {actual}, {op} needs {expected}")]
    WrongKind {
        /// The key or name used.
        key: String,
        /// The operation that was refused.
        op: &'static str,
        /// The kind the operation needs.
        expected: Kind,
        /// The kind the snapshot has.
        actual: Kind,
    },
    /// The snapshot is the parent of other snapshots.
    #[error("snapshot {0:?} has children; remove them first")]
    HasChildren(String),
    /// A key or name that cannot be used.
    #[error("invalid snapshot key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The snapshotter root cannot be used.
    #[error("snapshotter root {path}: {reason}")]
    InvalidRoot {
        /// The root directory.
        path: PathBuf,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`"creating"`, `"reading"`, ...).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The metadata file could not be parsed or written.
    #[error("snapshot metadata {path}: {source}")]
    Metadata {
        /// The metadata file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The overlay mount data does not fit the kernel's one-page limit.
    #[error(
        "overlay mount on {target}: options are {len} bytes for {layers} lower layers, over the \
         kernel's {limit}-byte limit, and this kernel lacks the `lowerdir+` mount API"
    )]
    MountOptionsTooLong {
        /// The mount point.
        target: PathBuf,
        /// Length of the option string.
        len: usize,
        /// Page-size limit.
        limit: usize,
        /// Number of lower directories.
        layers: usize,
    },
    /// Overlayfs stacks at most 500 lower layers.
    #[error("snapshot {key:?} has {layers} lower layers; overlayfs stacks at most {max}")]
    TooManyLayers {
        /// The snapshot being prepared.
        key: String,
        /// Its number of lower layers.
        layers: usize,
        /// The kernel's limit.
        max: usize,
    },
    /// A mount plan this crate cannot carry out or diff.
    #[error("unsupported mount: {0}")]
    UnsupportedMount(String),
    /// Mounting or unmounting failed.
    #[error("{op} {target}: {source}")]
    Mount {
        /// `"mounting overlay on"`, `"unmounting"`, ...
        op: &'static str,
        /// The mount point.
        target: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The upper directory holds something a layer tar cannot express.
    #[error("diffing {path}: {reason}")]
    UnsupportedChange {
        /// The file in the upper directory.
        path: PathBuf,
        /// What it is.
        reason: &'static str,
    },
    /// Writing the layer tar stream failed.
    #[error("writing layer entry {entry:?}: {source}")]
    WriteLayer {
        /// The entry being written.
        entry: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Reading the layer tar stream failed (truncated or corrupt archive).
    #[error("reading layer: {0}")]
    ReadLayer(#[source] io::Error),
    /// A layer entry that is refused (bad type, escaping hard link, ...).
    #[error("layer entry {entry:?}: {reason}")]
    BadEntry {
        /// The entry name as found in the tar.
        entry: String,
        /// Why it was refused.
        reason: String,
    },
    /// Applying one layer entry failed.
    #[error("layer entry {entry:?}: {op}: {source}")]
    ApplyEntry {
        /// The entry name as found in the tar.
        entry: String,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Builds a closure mapping an OS error to [`Error::Io`] naming `path`.
pub(crate) fn io_err<E: Into<io::Error>>(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(E) -> Error {
    let path = path.into();
    move |e| Error::Io {
        op,
        path,
        source: e.into(),
    }
}
