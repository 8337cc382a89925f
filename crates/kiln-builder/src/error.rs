//! The builder's error type: what failed (the Dockerfile, a build step, an export) with what
//! the CLI needs to present it as buildx does (the failing step's Dockerfile lines).

use std::path::PathBuf;

use kiln_graph::LineRange;

/// Everything a build can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Dockerfile could not be converted (syntax, unknown target, a base image that cannot
    /// be resolved). [`Error::locations`] gives the lines for the excerpt.
    #[error("{0}")]
    Frontend(#[from] kiln_frontend::Error),

    /// A build step failed; the message is the step's cause as BuildKit words it
    /// (`process "/bin/sh -c exit 3" did not complete successfully: exit code: 3`).
    #[error("failed to solve: {0}")]
    Solve(#[from] kiln_solver::SolveError),

    /// Assembling or writing the image failed.
    #[error("failed to export image: {0}")]
    Export(#[from] kiln_exporter::Error),

    /// The worker (snapshots, registry, store) failed outside a build step.
    #[error("{0}")]
    Worker(#[from] kiln_worker::Error),

    /// The content store failed while `what`.
    #[error("{what}: {source}")]
    Store {
        /// What was being done.
        what: String,
        /// The store's error.
        #[source]
        source: kiln_store::Error,
    },

    /// Pushing the image failed.
    #[error("failed to push {name}: {source}")]
    Push {
        /// The image name being pushed.
        name: String,
        /// The registry's error.
        #[source]
        source: Box<kiln_registry::Error>,
    },

    /// A local file (output destination, temporary file) could not be used.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`writing`, `creating`...).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// The request cannot be carried out as given; the message says what to change.
    #[error("{0}")]
    Invalid(String),

    /// A background task of the build stopped unexpectedly (panicked or was cancelled).
    #[error("build task {what} stopped unexpectedly: {message}")]
    Task {
        /// What the task was doing.
        what: String,
        /// The join error.
        message: String,
    },
}

impl Error {
    /// The Dockerfile lines the error is about (a failing step's instruction, a conversion
    /// error's line), for the `Dockerfile:N` excerpt printed above `ERROR:`.
    pub fn locations(&self) -> Vec<LineRange> {
        match self {
            Error::Frontend(e) => e.locations.clone(),
            Error::Solve(e) => e
                .vertex_meta()
                .map(|m| m.locations.clone())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The name of the failing build step (`[2/3] RUN make`), when a step failed.
    pub fn vertex_name(&self) -> Option<&str> {
        match self {
            Error::Solve(e) => e
                .vertex_meta()
                .map(|m| m.name.as_str())
                .filter(|n| !n.is_empty()),
            _ => None,
        }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    pub(crate) fn store(what: impl Into<String>) -> impl FnOnce(kiln_store::Error) -> Error {
        let what = what.into();
        move |source| Error::Store { what, source }
    }

    pub(crate) fn task(what: &str) -> impl FnOnce(tokio::task::JoinError) -> Error + '_ {
        move |e| Error::Task {
            what: what.to_string(),
            message: e.to_string(),
        }
    }
}

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
