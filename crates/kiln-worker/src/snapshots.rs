//! Snapshot operations for the solver's adapters and the exporters: layers (a snapshot's diff
//! against its parent), read-only mounts, writable snapshots for file ops, merges.

use std::fmt;
use std::io::{Seek, Write};
use std::path::Path;
use std::sync::Arc;

use kiln_snapshot::{ApplyOptions, DiffOptions, DiffStats, Kind, WhiteoutMode};

use crate::error::{Error, Result, blocking};
use crate::mounted::Mounted;
use crate::worker::{Inner, Worker, unique};

/// The name of a committed snapshot: an image layer's chain ID (`sha256:…`) or an opaque
/// `snap-…` name given by a run, a file op or a merge. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnapshotRef(Arc<str>);

impl SnapshotRef {
    /// Wraps a snapshot name (as stored by the caller, e.g. in a cache record).
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        SnapshotRef(name.into())
    }

    /// The snapshot's name.
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SnapshotRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A committed snapshot mounted read-only on the host, for exporters (`local`, `tar`) and file
/// ops reading a source tree. Unmounted (and its view removed) on drop.
#[derive(Debug)]
pub struct ReadonlyMount {
    inner: Arc<Inner>,
    mounted: Mounted,
    view: String,
}

impl ReadonlyMount {
    /// The directory holding the snapshot's files (read-only).
    pub fn path(&self) -> &Path {
        self.mounted.path()
    }
}

impl Drop for ReadonlyMount {
    fn drop(&mut self) {
        if let Err(e) = self.mounted.release() {
            tracing::warn!("{e}");
            return;
        }
        if let Err(e) = self.inner.snaps.sn().remove(&self.view) {
            tracing::warn!("removing view {:?}: {e}", self.view);
        }
    }
}

/// A new writable snapshot on top of a parent, mounted on the host: apply file operations to
/// [`ActiveSnapshot::path`], then [`commit`](ActiveSnapshot::commit) it, or
/// [`abort`](ActiveSnapshot::abort). Dropping it uncommitted aborts.
#[derive(Debug)]
pub struct ActiveSnapshot {
    inner: Arc<Inner>,
    mounted: Option<Mounted>,
    key: String,
    done: bool,
}

impl ActiveSnapshot {
    /// The directory to write into.
    pub fn path(&self) -> &Path {
        match &self.mounted {
            Some(m) => m.path(),
            None => Path::new("/nonexistent"),
        }
    }

    /// Unmounts and commits the snapshot; returns its name.
    pub async fn commit(mut self) -> Result<SnapshotRef> {
        let mut mounted = self.mounted.take();
        let inner = self.inner.clone();
        let key = self.key.clone();
        self.done = true;
        let what = format!("committing snapshot {key:?}");
        let res = blocking(what, move || {
            if let Some(m) = mounted.as_mut() {
                m.release()?;
            }
            commit_active(&inner, &key)
        })
        .await;
        if res.is_err() {
            abort_active(&self.inner, &self.key);
        }
        res
    }

    /// Unmounts and removes the snapshot.
    pub async fn abort(mut self) -> Result<()> {
        let mounted = self.mounted.take();
        let inner = self.inner.clone();
        let key = self.key.clone();
        self.done = true;
        blocking(format!("removing snapshot {key:?}"), move || {
            drop(mounted);
            inner
                .snaps
                .sn()
                .remove(&key)
                .map_err(Error::snap("removing", &key))
        })
        .await
    }
}

impl Drop for ActiveSnapshot {
    fn drop(&mut self) {
        if !self.done {
            drop(self.mounted.take());
            abort_active(&self.inner, &self.key);
        }
    }
}

/// Commits the active snapshot `key` under a new opaque name.
pub(crate) fn commit_active(inner: &Inner, key: &str) -> Result<SnapshotRef> {
    let name = format!("snap-{}", unique());
    inner
        .snaps
        .sn()
        .commit(&name, key)
        .map_err(Error::snap("committing", key))?;
    Ok(SnapshotRef::new(name))
}

/// Removes an active snapshot or view, logging (not returning) a failure: for cleanup paths.
pub(crate) fn abort_active(inner: &Inner, key: &str) {
    match inner.snaps.sn().remove(key) {
        Ok(()) | Err(kiln_snapshot::Error::NotFound(_)) => {}
        Err(e) => tracing::warn!("removing snapshot {key:?}: {e}"),
    }
}

impl Worker {
    /// Writes `snapshot`'s diff against its parent as an uncompressed OCI layer tar into `out`
    /// (overlay: from its upper dir, whiteouts as `.wh.` entries; copying: the walking differ)
    /// and gives `out` back. The bytes are what the exporter compresses and digests.
    pub async fn write_layer<W: Write + Send + 'static>(
        &self,
        snapshot: &SnapshotRef,
        out: W,
        opts: DiffOptions,
    ) -> Result<(W, DiffStats)> {
        let inner = self.inner.clone();
        let name = snapshot.name().to_owned();
        blocking(format!("diffing snapshot {name:?}"), move || {
            write_layer_blocking(&inner, &name, out, &opts)
        })
        .await
    }

    /// The snapshot and its ancestors, root first: the layers of an image built on it.
    pub async fn lineage(&self, snapshot: &SnapshotRef) -> Result<Vec<SnapshotRef>> {
        let inner = self.inner.clone();
        let name = snapshot.name().to_owned();
        blocking(format!("reading snapshot {name:?}"), move || {
            lineage_blocking(&inner, &name)
        })
        .await
    }

    /// Mounts `snapshot` (or an empty tree for `None`) read-only on the host.
    pub async fn mount_readonly(&self, snapshot: Option<&SnapshotRef>) -> Result<ReadonlyMount> {
        let inner = self.inner.clone();
        let parent = snapshot.map(|s| s.name().to_owned());
        let what = format!(
            "mounting snapshot {:?}",
            parent.as_deref().unwrap_or("scratch")
        );
        blocking(what, move || {
            let view = format!("view-{}", unique());
            let plan = inner
                .snaps
                .sn()
                .view(&view, parent.as_deref())
                .map_err(Error::snap(
                    "viewing",
                    parent.as_deref().unwrap_or("scratch"),
                ))?;
            match Mounted::new(&inner, &plan, &view) {
                Ok(mounted) => Ok(ReadonlyMount {
                    inner: inner.clone(),
                    mounted,
                    view,
                }),
                Err(e) => {
                    abort_active(&inner, &view);
                    Err(e)
                }
            }
        })
        .await
    }

    /// A new writable snapshot on `parent` (or empty), mounted on the host, for file ops.
    pub async fn with_writable(&self, parent: Option<&SnapshotRef>) -> Result<ActiveSnapshot> {
        let inner = self.inner.clone();
        let parent = parent.map(|s| s.name().to_owned());
        let what = format!(
            "preparing a snapshot on {:?}",
            parent.as_deref().unwrap_or("scratch")
        );
        blocking(what, move || prepare_mounted(&inner, parent.as_deref())).await
    }

    /// Merges `inputs` into one new snapshot (BuildKit's MergeOp): the first input's tree with
    /// every later input's layers (each snapshot of its lineage, root first) applied on top,
    /// deletions included. No inputs give an empty snapshot.
    pub async fn merge(&self, inputs: &[SnapshotRef]) -> Result<SnapshotRef> {
        let inner = self.inner.clone();
        let inputs: Vec<String> = inputs.iter().map(|s| s.name().to_owned()).collect();
        let first = inputs.first().cloned();
        let active = blocking("preparing a merge".to_string(), {
            let inner = inner.clone();
            move || prepare_mounted(&inner, first.as_deref())
        })
        .await?;
        let target = active.path().to_owned();
        let applied = blocking("merging snapshots".to_string(), move || {
            for input in inputs.iter().skip(1) {
                for layer in lineage_blocking(&inner, input)? {
                    apply_diff(&inner, layer.name(), &target)?;
                }
            }
            Ok(())
        })
        .await;
        match applied {
            Ok(()) => active.commit().await,
            Err(e) => {
                let _ = active.abort().await;
                Err(e)
            }
        }
    }

    /// Removes a committed snapshot. `Snapshot` error with `HasChildren` while other snapshots
    /// build on it (remove those first); with `NotFound` when it is gone already.
    pub async fn remove_snapshot(&self, snapshot: &SnapshotRef) -> Result<()> {
        let inner = self.inner.clone();
        let name = snapshot.name().to_owned();
        blocking(format!("removing snapshot {name:?}"), move || {
            inner
                .snaps
                .sn()
                .remove(&name)
                .map_err(Error::snap("removing", &name))
        })
        .await
    }

    /// Whether `snapshot` exists and is committed.
    pub async fn snapshot_exists(&self, snapshot: &SnapshotRef) -> Result<bool> {
        let inner = self.inner.clone();
        let name = snapshot.name().to_owned();
        blocking(format!("reading snapshot {name:?}"), move || {
            inner.is_committed(&name)
        })
        .await
    }
}

pub(crate) fn prepare_mounted(inner: &Arc<Inner>, parent: Option<&str>) -> Result<ActiveSnapshot> {
    let key = format!("active-{}", unique());
    let plan = inner
        .snaps
        .sn()
        .prepare(&key, parent)
        .map_err(Error::snap("preparing", parent.unwrap_or("scratch")))?;
    match Mounted::new(inner, &plan, &key) {
        Ok(m) => Ok(ActiveSnapshot {
            inner: inner.clone(),
            mounted: Some(m),
            key,
            done: false,
        }),
        Err(e) => {
            abort_active(inner, &key);
            Err(e)
        }
    }
}

fn lineage_blocking(inner: &Inner, name: &str) -> Result<Vec<SnapshotRef>> {
    let mut out = Vec::new();
    let mut cur = Some(name.to_owned());
    while let Some(n) = cur {
        let info = inner
            .snaps
            .sn()
            .stat(&n)
            .map_err(Error::snap("reading", &n))?;
        if info.kind != Kind::Committed {
            return Err(Error::snap("reading", &n)(
                kiln_snapshot::Error::WrongKind {
                    key: n.clone(),
                    op: "lineage",
                    expected: Kind::Committed,
                    actual: info.kind,
                },
            ));
        }
        out.push(SnapshotRef::new(n));
        cur = info.parent;
    }
    out.reverse();
    Ok(out)
}

pub(crate) fn write_layer_blocking<W: Write>(
    inner: &Inner,
    name: &str,
    out: W,
    opts: &DiffOptions,
) -> Result<(W, DiffStats)> {
    let mut chain = inner.chain_dirs(name)?;
    if chain.is_empty() {
        return Err(Error::snap("diffing", name)(
            kiln_snapshot::Error::NotFound(name.to_owned()),
        ));
    }
    let upper = chain.remove(0);
    let res = if inner.snaps.is_overlay() {
        kiln_snapshot::write_overlay_diff(&upper, &chain, out, opts)
    } else {
        match chain.first() {
            Some(parent) => kiln_snapshot::write_tree_diff(parent, &upper, out, opts),
            None => {
                let empty = inner.root.join("tmp").join(format!("empty-{}", unique()));
                std::fs::create_dir(&empty).map_err(Error::io("creating", &empty))?;
                let r = kiln_snapshot::write_tree_diff(&empty, &upper, out, opts);
                let _ = std::fs::remove_dir(&empty);
                r
            }
        }
    };
    res.map_err(Error::snap("diffing", name))
}

/// Applies `layer`'s diff against its parent onto the mounted tree `target`.
fn apply_diff(inner: &Inner, layer: &str, target: &Path) -> Result<()> {
    let tmp = inner
        .root
        .join("tmp")
        .join(format!("merge-{}.tar", unique()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(Error::io("creating", &tmp))?;
    let _ = std::fs::remove_file(&tmp);
    let (mut file, _) = write_layer_blocking(inner, layer, file, &DiffOptions::default())?;
    file.rewind().map_err(Error::io("rewinding", &tmp))?;
    kiln_snapshot::apply_layer(
        target,
        std::io::BufReader::new(file),
        &ApplyOptions {
            whiteouts: WhiteoutMode::Delete,
            same_owner: true,
        },
    )
    .map_err(Error::snap("applying the diff of", layer))?;
    Ok(())
}
