//! Runs a build step's process in a real OCI container (runc), like BuildKit's runc executor.
//!
//! The work splits into a pure plan and a thin runner:
//!
//! - [`generate_spec`] turns a [`ProcessSpec`], the resolved [`ExecUser`], extra [`Mount`]s and
//!   the [`NetworkMode`]/[`SecurityMode`] into an OCI runtime [`Spec`](oci_spec::runtime::Spec):
//!   pid/ipc/uts/mount (+ network unless host) namespaces, Docker's default capabilities, the
//!   default `/proc`, `/dev`, `/sys` mounts, masked and read-only paths, `RLIMIT_NOFILE`,
//!   default `PATH`. [`resolve_user`], [`hosts_file`] and [`resolv_conf`] are pure too.
//! - [`RuncExecutor`] writes the bundle, mounts the rootfs plan, reads `/etc/passwd` and
//!   `/etc/group` beneath the rootfs (`openat2(RESOLVE_IN_ROOT)`), runs `runc run` with its own
//!   `--root`, streams output to an [`OutputSink`], and cleans up on every path.
//!
//! Invariant: every process start goes through one entitlement check ([`Entitlements`]); the
//! executor knows nothing about Dockerfiles, the solver or caches.

mod entitlements;
mod error;
mod etc;
mod mounter;
mod network;
mod output;
mod rootfs;
mod runc;
mod spec;
mod types;
mod user;

use std::future::Future;

pub use entitlements::Entitlements;
pub use error::{Error, ProcessFailure, Result};
pub use etc::{DEFAULT_HOSTNAME, check_host_name, hosts_file, resolv_conf};
pub use network::{NetworkLease, NetworkPool};
pub use output::{Discard, OutputSink};
pub use rootfs::Rootfs;
pub use runc::{RuncConfig, RuncExecutor};
pub use spec::{
    ALL_CAPABILITIES, DEFAULT_CAPABILITIES, DEFAULT_PATH, MASKED_PATHS, NOFILE_LIMIT,
    READONLY_PATHS, SpecPlan, generate_spec, nofile_limit,
};
pub use types::{
    ExecUser, HostIp, Mount, MountSource, NetworkMode, ProcessSpec, RawMount, RunRequest,
    SecurityMode, Stream,
};
pub use user::resolve_user;

/// Runs one process in a container and waits for it.
///
/// Contract:
/// - The request is checked against the executor's [`Entitlements`] before anything else
///   happens; a refused request ([`Error::EntitlementNotAllowed`]) touches nothing.
/// - `req.rootfs` is mounted for the duration of the call only; the process's writes land in
///   whatever the plan's upper layer is (the caller's snapshot). The executor never removes
///   anything it did not create.
/// - Output is passed to `sink` as it arrives. A process exiting non-zero gives
///   [`Error::ProcessFailed`] with its exit code and the last lines of its output.
/// - Everything the call set up (runtime state, mounts, bundle directory) is removed before it
///   returns, on success, on error, and when the future is dropped (cancellation).
/// - Safe to call concurrently: each call gets its own container id and bundle.
pub trait Executor {
    /// Runs `req` to completion. See the trait documentation for the contract.
    fn run(
        &self,
        req: RunRequest,
        sink: &mut dyn OutputSink,
    ) -> impl Future<Output = Result<()>> + Send;
}
