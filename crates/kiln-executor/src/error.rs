//! The executor's error type: one `thiserror` enum, messages worded like BuildKit's.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while planning or running a container process.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The process ran and exited non-zero (or was killed by a signal).
    #[error(transparent)]
    ProcessFailed(#[from] ProcessFailure),

    /// The caller's entitlements do not allow what the request asks for.
    #[error("granting entitlement {0} is not allowed by build daemon configuration")]
    EntitlementNotAllowed(&'static str),

    /// `USER name` names nobody in the rootfs's `/etc/passwd`.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),

    /// `USER x:group` names no group in the rootfs's `/etc/group`.
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),

    /// A numeric uid or gid outside what the kernel accepts.
    #[error("uids and gids must be in range 0-2147483647")]
    IdOutOfRange,

    /// The process spec is unusable (empty args, bad env entry, relative cwd...).
    #[error("invalid process: {0}")]
    InvalidProcess(String),

    /// A hostname or `--add-host` name that cannot go in `/etc/hosts`.
    #[error("invalid host name {0:?}")]
    InvalidHostName(String),

    /// A mount is unusable (relative or `..` destination, NUL byte in an option...).
    #[error("invalid mount {destination}: {reason}")]
    InvalidMount { destination: String, reason: String },

    /// `oci-spec` refused to build or save the runtime spec.
    #[error("generating the OCI runtime spec: {0}")]
    Spec(#[from] oci_spec::OciSpecError),

    /// Reading a file beneath the rootfs failed (other than "not found").
    #[error("reading {path} in the rootfs: {source}")]
    RootfsRead { path: String, source: io::Error },

    /// Creating the working directory beneath the rootfs failed.
    #[error("failed to create working directory {path}: {source}")]
    Workdir { path: String, source: io::Error },

    /// Mounting (or unmounting) part of the rootfs plan failed.
    #[error("mounting {what} on {target}: {source}")]
    Mount {
        what: String,
        target: PathBuf,
        source: io::Error,
    },

    /// Preparing the bundle directory or its generated files failed.
    #[error("preparing bundle {path}: {source}")]
    Bundle { path: PathBuf, source: io::Error },

    /// The OCI runtime binary could not be started or waited for.
    #[error("running {binary}: {source}")]
    RuntimeSpawn { binary: PathBuf, source: io::Error },

    /// The OCI runtime failed before the process started: runc's own message, from its log
    /// (`runc run failed: unable to start container process: ...`).
    #[error("{0}")]
    Runtime(String),

    /// Setting up the sandbox network (namespace file, slirp4netns) failed.
    #[error(
        "sandbox network: {what} {}: {source} (RUN --network=none runs the step without \
         network)",
        path.display()
    )]
    Network {
        what: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A process that ran and did not exit 0.
///
/// Displays like BuildKit: `process "/bin/sh -c exit 3" did not complete successfully: exit code: 3`.
/// The last lines of its output are kept in [`ProcessFailure::output_tail`] for the caller to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessFailure {
    /// The process's argv.
    pub args: Vec<String>,
    /// Its exit code (`128 + signal` when killed by a signal, as runc reports it).
    pub exit_code: i32,
    /// The last lines the process wrote (stdout and stderr interleaved as they arrived).
    pub output_tail: Vec<String>,
}

impl fmt::Display for ProcessFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "process \"{}\" did not complete successfully: exit code: {}",
            self.args.join(" "),
            self.exit_code
        )
    }
}

impl std::error::Error for ProcessFailure {}

impl Error {
    /// The process's exit code when the error is a failed process.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Error::ProcessFailed(p) => Some(p.exit_code),
            _ => None,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
