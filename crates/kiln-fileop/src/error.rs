//! The error type of every file operation: each variant names the path (as seen inside its
//! root, `/a/b`) and says what went wrong.

use std::io;

/// Errors of the file operations. Paths are shown as absolute paths inside their root (the
/// form a Dockerfile author wrote), never as host paths.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A source path (or one of the directories on its way) does not exist beneath the source
    /// root. The message is BuildKit's (`"/missing": not found`); a symlink that points out of
    /// the root is resolved inside it, so it usually ends here too.
    #[error("{path:?}: not found")]
    NotFound {
        /// The path as given, absolute inside its root.
        path: String,
    },
    /// A wildcard source matched nothing and empty matches are not allowed.
    #[error("{pattern:?}: no source files were specified or matched")]
    NoMatch {
        /// The wildcard source path.
        pattern: String,
    },
    /// A system call on a path failed.
    #[error("{op} {path:?}: {source}")]
    Io {
        /// What was attempted (`open`, `mkdir`, `chown`...).
        op: &'static str,
        /// The path inside its root.
        path: String,
        /// The operating system error.
        #[source]
        source: io::Error,
    },
    /// A file was to be written where a directory exists (BuildKit refuses this unless
    /// `always_replace_existing` is set).
    #[error("cannot replace to directory {path:?} with file: remove the directory first")]
    ReplaceDirWithFile {
        /// The destination directory.
        path: String,
    },
    /// A directory was to be copied onto something that is not a directory.
    #[error("cannot copy to non-directory: {path:?}")]
    CopyToNonDirectory {
        /// The destination that is not a directory.
        path: String,
    },
    /// A directory on the way to a path exists but is not a directory.
    #[error("mkdir {path:?}: not a directory")]
    NotADirectory {
        /// The path inside its root.
        path: String,
    },
    /// A path is not usable (empty, NUL byte, or `rm` of the root itself).
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A wildcard in a source path is not valid Go `filepath.Match` syntax.
    #[error("invalid wildcard {pattern:?}: syntax error in pattern")]
    BadWildcard {
        /// The pattern.
        pattern: String,
    },
    /// An include/exclude pattern is not valid.
    #[error("invalid {kind} pattern: {source}")]
    BadPattern {
        /// `include` or `exclude`.
        kind: &'static str,
        /// The matcher's error.
        #[source]
        source: kiln_dockerignore::Error,
    },
    /// A `--chmod` value that is neither octal nor a symbolic mode like `u+x,g-w`.
    #[error("invalid chmod {value:?}: {reason}")]
    InvalidMode {
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `--chown` user name that the destination's `/etc/passwd` does not list.
    #[error("unable to find user {name}: no matching entries in passwd file")]
    UnknownUser {
        /// The user name.
        name: String,
    },
    /// A `--chown` group name that the destination's `/etc/group` does not list.
    #[error("unable to find group {name}: no matching entries in group file")]
    UnknownGroup {
        /// The group name.
        name: String,
    },
    /// An id that does not fit in 32 bits, or an empty user part (`--chown=:g`).
    #[error("invalid chown {value:?}: {reason}")]
    InvalidChown {
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An archive entry that would land outside the extraction root (`../x`, or a path through
    /// a symlink the archive made that points out of it).
    #[error("archive {archive:?}: entry {entry:?} is outside the extraction root")]
    ArchiveEscape {
        /// The archive's path inside the source root.
        archive: String,
        /// The entry name as recorded in the archive.
        entry: String,
    },
    /// An archive that cannot be read (truncated, corrupt, bad entry).
    #[error("archive {archive:?}: {reason}")]
    Archive {
        /// The archive's path inside the source root.
        archive: String,
        /// What is wrong, naming the entry where known.
        reason: String,
    },
}

/// Shorthand for this crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<String>, err: impl Into<io::Error>) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source: err.into(),
        }
    }
}
