//! The snapshotter contract: snapshot kinds, metadata, and the role traits every backend implements.
//!
//! # Terms
//!
//! A *snapshot* is a directory tree identified by a string. *Committed* snapshots are
//! immutable, named, and may be parents. *Active* snapshots are writable trees made by
//! [`Snapshotter::prepare`] on top of an optional committed parent; they are identified by a
//! *key*. *Views* are read-only active snapshots made by [`Snapshotter::view`]; they can never be
//! committed. Keys and names share one namespace: a string names at most one snapshot.
//!
//! # Lifecycle
//!
//! ```text
//! prepare("k1", None)        -> mounts (bind rw of an empty dir)     k1: Active
//!   ... caller mounts, unpacks a base layer, unmounts ...
//! commit("base", "k1")                                               base: Committed, k1 gone
//! prepare("k2", Some("base")) -> mounts (overlay lower=base)         k2: Active
//!   ... caller mounts, runs a RUN step, unmounts, diffs ...
//! commit("step1", "k2")                                              step1: Committed
//! view("v", Some("step1"))    -> read-only mounts                    v: View
//! remove("v"); remove("step1"); remove("base")   children before parents
//! ```
//!
//! # Plans, not side effects
//!
//! No method here mounts anything: `prepare`, `view` and `mounts` *return* the [`Mount`] plan
//! and the caller performs it (for instance with [`crate::mount()`]), usually inside the
//! container's mount namespace. The caller unmounts before `commit` or `remove`; the
//! snapshotter does not check.
//!
//! # Missing keys, concurrency, cleanup
//!
//! - Every method taking a key returns [`Error::NotFound`](crate::Error::NotFound) when no
//!   snapshot has it, [`AlreadyExists`](crate::Error::AlreadyExists) when creating a key in
//!   use, and [`WrongKind`](crate::Error::WrongKind) when the kind does not fit
//!   (committing a view, preparing on an active parent).
//! - Implementations are `Send + Sync`; every method may be called concurrently from threads
//!   and processes sharing the root. Metadata changes are serialised by a lock and written
//!   with write-temp + fsync + rename, so a crash leaves the old or the new state, never a mix.
//! - Directories are created *before* the metadata records them and removed *after*: a crash
//!   can leave orphan directories, never records without directories. Orphans are removed by
//!   the backend's `cleanup()`, which callers run when no other process uses the root.
//! - The caller owns the lifecycle: nothing is garbage-collected here. Whoever prepares a key
//!   commits or removes it.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::mount::Mount;

/// What a snapshot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Read-only, made by [`Snapshotter::view`]; cannot be committed.
    View,
    /// Writable, made by [`Snapshotter::prepare`].
    Active,
    /// Immutable, made by [`Snapshotter::commit`]; may be a parent.
    Committed,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::View => "a view",
            Kind::Active => "active",
            Kind::Committed => "committed",
        })
    }
}

/// Metadata of one snapshot, as returned by [`SnapshotReader::stat`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// The key (active, view) or name (committed).
    pub name: String,
    /// The committed parent, if any.
    pub parent: Option<String>,
    /// What the snapshot is.
    pub kind: Kind,
    /// Creation time, seconds since the Unix epoch.
    pub created: u64,
}

/// Disk usage of one snapshot's own directory (not its parents).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes in regular files (hard-linked files counted once).
    pub size: u64,
    /// Number of inodes.
    pub inodes: u64,
}

/// Read-only queries; what a caller that only inspects snapshots should take.
pub trait SnapshotReader: Send + Sync + fmt::Debug {
    /// Metadata for `key`. `NotFound` if missing. Safe to call concurrently.
    fn stat(&self, key: &str) -> Result<Info>;

    /// Every snapshot, sorted by name. A consistent snapshot of the metadata at one instant.
    fn walk(&self) -> Result<Vec<Info>>;

    /// Disk usage of `key`'s own directory (for an active snapshot: its upper dir so far).
    /// `NotFound` if missing. The value may be stale if the snapshot is written concurrently.
    fn usage(&self, key: &str) -> Result<Usage>;

    /// The mount plan of an active snapshot or view (the same plan `prepare`/`view` returned).
    /// `NotFound` if missing, `WrongKind` for a committed snapshot.
    fn mounts(&self, key: &str) -> Result<Vec<Mount>>;
}

/// Creating, committing and removing snapshots.
pub trait Snapshotter: SnapshotReader {
    /// Creates the active snapshot `key` on top of the committed `parent` (or empty) and returns
    /// its mount plan. Nothing is mounted. `AlreadyExists` if `key` is used, `NotFound` if
    /// `parent` is missing, `WrongKind` if `parent` is not committed. On error nothing is left
    /// behind except, after a crash, an orphan directory for `cleanup()`.
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>>;

    /// Like `prepare` but read-only; the result cannot be committed.
    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>>;

    /// Turns the active snapshot `key` into the committed snapshot `name`; `key` ceases to
    /// exist. The caller must have unmounted it. `NotFound` if `key` is missing, `WrongKind` if
    /// it is not active, `AlreadyExists` if `name` is used.
    fn commit(&self, name: &str, key: &str) -> Result<()>;

    /// Removes a snapshot of any kind and its directory. `NotFound` if missing, `HasChildren`
    /// if it is a parent. The caller must have unmounted it.
    fn remove(&self, key: &str) -> Result<()>;
}

/// Where a snapshot's files live, for differs and exporters that read directories directly.
pub trait SnapshotDirs: Send + Sync + fmt::Debug {
    /// The directory holding `key`'s own files (an overlay upper dir, or a full copy).
    /// `NotFound` if missing.
    fn dir(&self, key: &str) -> Result<PathBuf>;
}
