//! The worker's one error type: every message names the image, snapshot, mount or secret it is
//! about and, where there is one, what to do. Secrets' values never appear, only their ids.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the worker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The registry refused or failed (resolve, manifest, blob). Its message names the
    /// reference, the host and the HTTP status.
    #[error(transparent)]
    Registry(#[from] kiln_registry::Error),

    /// The content store failed while handling `what`.
    #[error("{what}: {source}")]
    Store {
        /// What was being stored or read (`pulling docker.io/library/busybox:latest: layer sha256:…`).
        what: String,
        /// The store's error.
        #[source]
        source: kiln_store::Error,
    },

    /// A snapshot operation failed.
    #[error("{op} snapshot {snapshot:?}: {source}")]
    Snapshot {
        /// What was being done (`preparing`, `committing`, `mounting`, `diffing`...).
        op: &'static str,
        /// The snapshot key or name.
        snapshot: String,
        /// The snapshotter's error.
        #[source]
        source: kiln_snapshot::Error,
    },

    /// Running the container failed: the process exited non-zero
    /// ([`kiln_executor::Error::ProcessFailed`], see [`Error::exit_code`]) or the runtime failed.
    #[error(transparent)]
    Executor(#[from] kiln_executor::Error),

    /// An image's manifest, config or layer is unusable.
    #[error("{image}: {reason}")]
    InvalidImage {
        /// The image reference.
        image: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A reference or platform string that does not parse.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidInput {
        /// `image reference`, `platform`, `mount selector`...
        what: &'static str,
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: String,
    },

    /// A secret mount or secret env asked for an id the build does not have.
    #[error("secret {id}: not found (pass it with --secret id={id},src=<file>)")]
    SecretNotFound {
        /// The secret id (never its value).
        id: String,
    },

    /// The caller's secret store failed for `id`.
    #[error("reading secret {id}: {reason}")]
    SecretStore {
        /// The secret id.
        id: String,
        /// What went wrong (the store must not put the value in it).
        reason: String,
    },

    /// A feature the worker does not implement yet.
    #[error("{0} is not supported yet")]
    Unsupported(String),

    /// A file-system operation on the worker's own state failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },

    /// A blocking task panicked or was cancelled.
    #[error("worker task for {what} did not finish: {reason}")]
    Task {
        /// What the task was doing.
        what: String,
        /// The join error.
        reason: String,
    },
}

impl Error {
    /// The exit code when the error is a process that ran and failed.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Error::Executor(e) => e.exit_code(),
            _ => None,
        }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    pub(crate) fn snap(
        op: &'static str,
        snapshot: impl Into<String>,
    ) -> impl FnOnce(kiln_snapshot::Error) -> Error {
        let snapshot = snapshot.into();
        move |source| Error::Snapshot {
            op,
            snapshot,
            source,
        }
    }

    pub(crate) fn store(what: impl Into<String>) -> impl FnOnce(kiln_store::Error) -> Error {
        let what = what.into();
        move |source| Error::Store { what, source }
    }
}

/// `Result` with the worker's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs blocking work on tokio's blocking pool, mapping a panic or cancellation to
/// [`Error::Task`].
pub(crate) async fn blocking<T, F>(what: impl Into<String>, f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(Error::Task {
            what: what.into(),
            reason: e.to_string(),
        }),
    }
}
