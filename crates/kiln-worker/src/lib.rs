//! The worker: what each build-graph op means on this machine's real components.
//!
//! [`Worker`] owns a state root and drives the components below it:
//!
//! | op | method | components |
//! |---|---|---|
//! | Source (image) | [`Worker::pull_image`], [`Worker::resolve_image_config`] | kiln-registry, kiln-store, kiln-snapshot (`apply_layer`) |
//! | Exec (RUN) | [`Worker::run`] | kiln-snapshot (mount plans), kiln-executor (runc) |
//! | File (COPY, mkdir…) | [`Worker::with_writable`] → [`ActiveSnapshot`] (kiln-fileop applies actions to its path) | kiln-snapshot |
//! | Merge | [`Worker::merge`] | kiln-snapshot (differ + apply) |
//! | export | [`Worker::write_layer`], [`Worker::lineage`], [`Worker::mount_readonly`] | kiln-snapshot (differ) |
//!
//! Results are committed snapshots, named by [`SnapshotRef`]. The solver's `Worker`/`OpHandler`
//! traits (kiln-solver) are implemented by an adapter over this concrete API; this crate knows
//! nothing about cache keys, Dockerfiles or progress output (log lines go to the caller's
//! [`kiln_executor::OutputSink`]).
//!
//! # Blocking
//!
//! Every method is `async`; file-system work (store, snapshots, unpacking, diffing) runs on
//! tokio's blocking pool. Methods may be called concurrently: the same layer is unpacked once,
//! cache mounts follow their sharing mode, and every run gets its own snapshots.
//!
//! # Cleanup
//!
//! Every active snapshot, view, host mount and secret directory a call creates is removed before
//! it returns, on error, and when its future is dropped; [`ReadonlyMount`] and
//! [`ActiveSnapshot`] clean up when dropped. Leftovers of a killed process are swept by
//! [`Worker::open`] (see [`SweepReport`]).
//!
//! Invariant: secrets are only ever written to a private tmpfs under `<root>/secrets` and
//! bind-mounted into the container; they never reach a snapshot, an error or a log.

mod cache;
mod error;
mod exec;
mod mounted;
mod pull;
mod snapshots;
mod sweep;
mod worker;

pub use cache::CacheSharing;
pub use error::{Error, Result};
pub use exec::{
    ExecMount, ExecMountKind, ExecOutputs, ExecRequest, MemorySecrets, NoSecrets, SecretEnv,
    SecretStore,
};
pub use kiln_snapshot::{DiffOptions, DiffStats};
pub use pull::{
    ImageSource, PullEvent, PullObserver, PullOptions, PullStats, PulledLayer, ResolvedImageConfig,
    chain_ids,
};
pub use snapshots::{ActiveSnapshot, ReadonlyMount, SnapshotRef};
pub use sweep::SweepReport;
pub use worker::{SnapshotterKind, Worker, WorkerConfig};
