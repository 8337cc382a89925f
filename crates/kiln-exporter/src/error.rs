//! The crate's error type: one enum, each variant naming the object and what to do.

use std::io;
use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An exporter option (`-o type=...,key=value`, `--annotation`) is invalid.
    #[error("invalid exporter option {key}={value:?}: {reason}")]
    InvalidOption {
        /// The option name.
        key: String,
        /// The value given.
        value: String,
        /// What is wrong and what is accepted.
        reason: String,
    },

    /// The request cannot be exported this way (e.g. index annotations on a single manifest).
    #[error("{0}")]
    Unsupported(String),

    /// The frontend's image config is not valid JSON of the expected shape.
    #[error("invalid image config for {platform}: {reason}")]
    InvalidConfig {
        /// The platform the config belongs to.
        platform: String,
        /// What is wrong.
        reason: String,
    },

    /// An image name given with `name=` or `-t` is not a valid reference.
    #[error("invalid image name {name:?}: {source}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// The parser's reason.
        source: kiln_reference::Error,
    },

    /// The content store failed.
    #[error(transparent)]
    Store(#[from] kiln_store::Error),

    /// Reading or writing a file or stream failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`"writing"`, `"reading layer"`...).
        action: &'static str,
        /// The path (or a description such as `<stdout>`).
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },

    /// A layer stream failed while it was compressed.
    #[error("compressing layer ({compression}): {source}")]
    Compress {
        /// The compression in use.
        compression: &'static str,
        /// The cause.
        source: io::Error,
    },

    /// A path in a root filesystem cannot be represented safely in an output.
    #[error("unsafe path {} in {}: {reason}", path.display(), root.display())]
    UnsafePath {
        /// The offending path.
        path: PathBuf,
        /// The tree it was found in.
        root: PathBuf,
        /// Why it was refused.
        reason: &'static str,
    },

    /// No Docker engine answers on the socket used by `--load`.
    #[error(
        "cannot load the image into Docker: no Docker engine at {}: {reason}; \
         export a tarball instead with -o type=docker,dest=image.tar and run `docker load -i image.tar`",
        socket.display()
    )]
    NoDockerEngine {
        /// The socket path tried.
        socket: PathBuf,
        /// The connection error (part of the message, not a source: printed once).
        reason: io::Error,
    },

    /// `DOCKER_HOST` names an engine kiln cannot load into (not a unix socket).
    #[error(
        "DOCKER_HOST={host} is not supported by --load: kiln loads images through the engine's \
         unix socket (unix:///path); export a tarball instead with -o type=docker,dest=image.tar \
         and run `docker load -i image.tar`"
    )]
    UnsupportedDockerHost {
        /// The `DOCKER_HOST` value.
        host: String,
    },

    /// The Docker engine refused the image.
    #[error("docker engine at {} refused the image: {message}", socket.display())]
    DockerLoad {
        /// The socket path.
        socket: PathBuf,
        /// The engine's message (status line or error detail).
        message: String,
    },

    /// JSON encoding failed (never expected for the types written here).
    #[error("encoding {what} as JSON: {source}")]
    Json {
        /// What was being encoded.
        what: &'static str,
        /// The cause.
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn json(what: &'static str) -> impl FnOnce(serde_json::Error) -> Error {
        move |source| Error::Json { what, source }
    }
}
