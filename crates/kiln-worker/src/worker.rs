//! [`Worker`]: the state directory, its components, and the startup sweep of what a killed
//! process left behind.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use kiln_executor::{Entitlements, RuncConfig, RuncExecutor};
use kiln_registry::{Client, CredentialStore, NoCredentials};
use kiln_snapshot::{
    CopyingSnapshotter, Kind, Mount, OverlaySnapshotter, SnapshotDirs, Snapshotter,
};
use kiln_store::Store;

use crate::cache::CacheMounts;
use crate::error::{Error, Result, blocking};
use crate::pull::ResolvedImageConfig;
use crate::sweep::{self, SweepReport};

/// Which snapshotter the worker uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotterKind {
    /// Overlayfs when a probe mount under the root works, else the copying fallback.
    #[default]
    Auto,
    /// Overlayfs; opening fails if the kernel refuses it.
    Overlay,
    /// Full copies (slow, works everywhere).
    Copying,
}

/// How a [`Worker`] is set up.
#[derive(Clone)]
pub struct WorkerConfig {
    /// Registry settings (mirrors, `http`, `insecure`, CAs) for pulls.
    pub registry: Arc<kiln_config::Config>,
    /// Registry credentials (never logged).
    pub credentials: Arc<dyn CredentialStore>,
    /// The runc binary.
    pub runc: PathBuf,
    /// What builds may ask for beyond the sandbox (`--allow`).
    pub entitlements: Entitlements,
    /// The snapshotter.
    pub snapshotter: SnapshotterKind,
}

impl fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("runc", &self.runc)
            .field("entitlements", &self.entitlements)
            .field("snapshotter", &self.snapshotter)
            .finish_non_exhaustive()
    }
}

impl WorkerConfig {
    /// Defaults: `registry`'s settings, no credentials, `/usr/sbin/runc`, no entitlements,
    /// automatic snapshotter choice.
    pub fn new(registry: Arc<kiln_config::Config>) -> Self {
        WorkerConfig {
            registry,
            credentials: Arc::new(NoCredentials),
            runc: PathBuf::from("/usr/sbin/runc"),
            entitlements: Entitlements::default(),
            snapshotter: SnapshotterKind::Auto,
        }
    }
}

/// The snapshotter in use: one on-disk layout, two mount planners.
#[derive(Debug)]
pub(crate) enum Snaps {
    Overlay(OverlaySnapshotter),
    Copying(CopyingSnapshotter),
}

impl Snaps {
    pub(crate) fn sn(&self) -> &dyn Snapshotter {
        match self {
            Snaps::Overlay(s) => s,
            Snaps::Copying(s) => s,
        }
    }

    pub(crate) fn dirs(&self) -> &dyn SnapshotDirs {
        match self {
            Snaps::Overlay(s) => s,
            Snaps::Copying(s) => s,
        }
    }

    pub(crate) fn is_overlay(&self) -> bool {
        matches!(self, Snaps::Overlay(_))
    }

    pub(crate) fn cleanup(&self) -> kiln_snapshot::Result<Vec<PathBuf>> {
        match self {
            Snaps::Overlay(s) => s.cleanup(),
            Snaps::Copying(s) => s.cleanup(),
        }
    }
}

pub(crate) struct Inner {
    pub(crate) root: PathBuf,
    pub(crate) store: Store,
    pub(crate) snaps: Snaps,
    pub(crate) registry: Client,
    pub(crate) executor: RuncExecutor,
    pub(crate) caches: CacheMounts,
    /// One lock per chain ID being unpacked, so concurrent pulls unpack a layer once.
    pub(crate) unpacking: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// `resolve_image_config` answers, by reference and platform.
    pub(crate) resolved: Mutex<HashMap<(String, String), ResolvedImageConfig>>,
    pub(crate) sweep: SweepReport,
}

/// Executes build-graph ops on this machine: pulls images into snapshots, runs processes in
/// runc containers on copy-on-write snapshots, diffs, merges and mounts snapshots.
///
/// # State under the root
///
/// ```text
/// <root>/lock, meta.db, content/     kiln-store (blobs, metadata); its lock makes the root
///                                    single-process: one Worker per root at a time
/// <root>/snapshots/                  kiln-snapshot (metadata.json, snapshots/<id>/{fs,work})
/// <root>/cache/mounts/<sha256(id)>   RUN --mount=type=cache directories
/// <root>/runc/, bundles/             runc state and OCI bundles (kiln-executor)
/// <root>/mounts/<id>                 temporary mount points (snapshots mounted on the host)
/// <root>/secrets/<id>                tmpfs holding one run's secret files
/// <root>/tmp/                        scratch files (merge diffs, probes)
/// ```
///
/// # Snapshot names
///
/// Committed snapshots unpacked from image layers are named by their chain ID (`sha256:…`,
/// the OCI image-spec `ChainID`), so an image layer is unpacked once and reused by every image
/// and build that shares the chain. Snapshots made by runs, file ops and merges get opaque
/// names (`snap-…`). The worker never removes a committed snapshot on its own: the caller
/// (the solver's cache, GC) does, with [`Worker::remove_snapshot`].
///
/// # Crash safety
///
/// [`Worker::open`] sweeps what a killed process left: runc containers, bundles, mounts under
/// the root, secret tmpfs, active snapshots and views, orphan snapshot directories. Nothing
/// outside the root is touched.
///
/// Cheap to clone; safe to use from many tasks at once.
#[derive(Clone)]
pub struct Worker {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("root", &self.inner.root)
            .field("overlay", &self.inner.snaps.is_overlay())
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// Opens (creating if needed) the worker state at `root` (absolute, UTF-8, without `:` or
    /// `,`), takes the store's lock (waiting while another process uses the root) and sweeps
    /// leftovers of a killed process (see [`Worker::sweep_report`]).
    pub async fn open(root: impl Into<PathBuf>, config: WorkerConfig) -> Result<Worker> {
        let root: PathBuf = root.into();
        let what = format!("opening worker root {}", root.display());
        let inner = blocking(what, move || open_blocking(root, config)).await?;
        Ok(Worker {
            inner: Arc::new(inner),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The content store (for exporters and the solver's cache records).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The registry client pulls use.
    pub fn registry(&self) -> &Client {
        &self.inner.registry
    }

    /// Whether snapshots are overlayfs (else full copies).
    pub fn is_overlay(&self) -> bool {
        self.inner.snaps.is_overlay()
    }

    /// What the startup sweep of [`Worker::open`] cleaned up.
    pub fn sweep_report(&self) -> &SweepReport {
        &self.inner.sweep
    }
}

fn open_blocking(root: PathBuf, config: WorkerConfig) -> Result<Inner> {
    if !root.is_absolute() {
        return Err(Error::InvalidInput {
            what: "worker root",
            value: root.display().to_string(),
            reason: "must be an absolute path".into(),
        });
    }
    for dir in [
        "cache/mounts",
        "mounts",
        "secrets",
        "tmp",
        "bundles",
        "runc",
    ] {
        let p = root.join(dir);
        std::fs::create_dir_all(&p).map_err(Error::io("creating", &p))?;
    }
    set_mode(&root.join("secrets"), 0o700)?;
    // Another kiln process building on this root holds the store's lock: wait for it (like
    // builds queueing on one BuildKit daemon) rather than failing the build.
    let store_opts = kiln_store::StoreOptions::default().wait_for_lock(true);
    let store = Store::open_with(&root, store_opts).map_err(Error::store(format!(
        "opening the content store in {}",
        root.display()
    )))?;
    let snap_root = root.join("snapshots");
    let snap_err = |source| Error::Snapshot {
        op: "opening the snapshotter for",
        snapshot: snap_root.display().to_string(),
        source,
    };
    let snaps = match config.snapshotter {
        SnapshotterKind::Overlay => {
            Snaps::Overlay(OverlaySnapshotter::open(&snap_root).map_err(snap_err)?)
        }
        SnapshotterKind::Copying => {
            Snaps::Copying(CopyingSnapshotter::open(&snap_root).map_err(snap_err)?)
        }
        SnapshotterKind::Auto => match probe_overlay(&root) {
            Ok(()) => Snaps::Overlay(OverlaySnapshotter::open(&snap_root).map_err(snap_err)?),
            Err(reason) => {
                tracing::warn!(
                    "overlayfs is unusable under {} ({reason}); using the copying snapshotter",
                    root.display()
                );
                Snaps::Copying(CopyingSnapshotter::open(&snap_root).map_err(snap_err)?)
            }
        },
    };
    let registry = Client::new(config.registry.clone(), config.credentials.clone());
    let mut runc = RuncConfig::new(&root);
    runc.runc = config.runc.clone();
    runc.entitlements = config.entitlements;
    let executor = RuncExecutor::new(runc);
    let report = sweep::sweep(&root, &config.runc, &snaps)?;
    if !report.is_empty() {
        tracing::info!("cleaned up after an earlier process: {report}");
    }
    Ok(Inner {
        caches: CacheMounts::new(root.join("cache").join("mounts")),
        root,
        store,
        snaps,
        registry,
        executor,
        unpacking: Mutex::new(HashMap::new()),
        resolved: Mutex::new(HashMap::new()),
        sweep: report,
    })
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(Error::io("setting the mode of", path))
}

/// Mounts a one-layer overlay under `<root>/tmp` to learn whether overlayfs works here.
fn probe_overlay(root: &Path) -> std::result::Result<(), String> {
    let dir = root.join("tmp").join(format!("overlay-probe-{}", unique()));
    let result = (|| {
        for d in ["lower", "upper", "work", "merged"] {
            std::fs::create_dir_all(dir.join(d)).map_err(|e| e.to_string())?;
        }
        let s = |d: &str| dir.join(d).display().to_string();
        let m = Mount {
            kind: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                format!("lowerdir={}", s("lower")),
                format!("upperdir={}", s("upper")),
                format!("workdir={}", s("work")),
            ],
        };
        let merged = dir.join("merged");
        kiln_snapshot::mount(&[m], &merged).map_err(|e| e.to_string())?;
        kiln_snapshot::unmount(&merged).map_err(|e| e.to_string())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A name no other call in this or an earlier process produced: time, pid and a counter.
pub(crate) fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{nanos:x}-{:x}-{n:x}", std::process::id())
}

impl Inner {
    /// A fresh, empty mount point under `<root>/mounts`.
    pub(crate) fn new_mountpoint(&self) -> Result<PathBuf> {
        let p = self.root.join("mounts").join(unique());
        std::fs::create_dir(&p).map_err(Error::io("creating mount point", &p))?;
        Ok(p)
    }

    /// The directories of `name` and its committed ancestors, nearest first.
    pub(crate) fn chain_dirs(&self, name: &str) -> Result<Vec<PathBuf>> {
        let mut dirs = Vec::new();
        let mut cur = Some(name.to_owned());
        while let Some(n) = cur {
            dirs.push(
                self.snaps
                    .dirs()
                    .dir(&n)
                    .map_err(Error::snap("locating", &n))?,
            );
            cur = self
                .snaps
                .sn()
                .stat(&n)
                .map_err(Error::snap("reading", &n))?
                .parent;
        }
        Ok(dirs)
    }

    /// Whether `name` is a committed snapshot.
    pub(crate) fn is_committed(&self, name: &str) -> Result<bool> {
        match self.snaps.sn().stat(name) {
            Ok(info) => Ok(info.kind == Kind::Committed),
            Err(kiln_snapshot::Error::NotFound(_)) => Ok(false),
            Err(e) => Err(Error::snap("reading", name)(e)),
        }
    }
}
