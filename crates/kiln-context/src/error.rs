//! The error type of context scanning, hashing, transfer and tar extraction.

use std::io;
use std::path::PathBuf;

/// Errors of this crate. Paths in messages are context paths written as BuildKit writes them
/// (`"/dir/file"`, rooted at the context) or host paths for the context root, the cache file
/// and the transfer target.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The context directory cannot be opened (missing, not a directory, no permission).
    #[error("opening build context {root}: {source}: check the context path")]
    OpenRoot {
        root: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A system call on a context entry failed while scanning, hashing or reading it.
    #[error("build context {root}: {op} \"/{path}\": {source}")]
    Io {
        root: PathBuf,
        path: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// A selected path does not exist in the context (BuildKit's `"/foo": not found`).
    #[error("\"/{path}\": not found")]
    NotFound { path: String },
    /// A selected path exists on disk but `.dockerignore` excludes it from the context.
    #[error(
        "\"/{path}\": not found: excluded by .dockerignore (remove the matching pattern or add a `!` exception)"
    )]
    Excluded { path: String },
    /// Resolving a path met more than 255 symlinks (a loop).
    #[error("\"/{path}\": too many levels of symbolic links")]
    TooManyLinks { path: String },
    /// A file changed between the scan and the moment its content was read.
    #[error("\"/{path}\" changed while the build was reading it: run the build again")]
    Changed { path: String },
    /// A `.dockerignore`, include or exclude pattern is invalid.
    #[error("invalid {what} pattern: {source}")]
    Pattern {
        what: &'static str,
        #[source]
        source: kiln_dockerignore::Error,
    },
    /// A COPY/ADD wildcard source is not a valid glob.
    #[error("invalid wildcard source {pattern:?}: syntax error in pattern")]
    BadWildcard { pattern: String },
    /// Writing the transfer target failed.
    #[error("syncing build context into {target}: {op} \"/{path}\": {source}")]
    Sync {
        target: PathBuf,
        path: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// Reading or writing the persistent hash cache failed (a missing or corrupt cache file is
    /// not an error: it is started afresh).
    #[error("context hash cache {file}: {op}: {source}")]
    Cache {
        file: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// Extracting a tar context (`-` on stdin) failed.
    #[error("extracting tar build context into {target}: {source}")]
    Tar {
        target: PathBuf,
        #[source]
        source: kiln_snapshot::Error,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
