//! Exec: one process in a runc container on a new copy-on-write snapshot, with its mounts
//! (other snapshots, cache directories, tmpfs, secrets), committed on success and removed on
//! failure.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use kiln_executor::{
    Executor, HostIp, Mount, MountSource, NetworkMode, OutputSink, ProcessSpec, RawMount,
    RunRequest, SecurityMode,
};
use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::cache::{CacheGuard, CacheSharing};
use crate::error::{Error, Result, blocking};
use crate::mounted::Mounted;
use crate::snapshots::{SnapshotRef, abort_active, commit_active};
use crate::worker::{Inner, Worker, set_mode, unique};

/// Where build secrets come from (`--secret id=…`). Implemented by the session layer.
///
/// Contract: `secret` returns the value of `id`, `Ok(None)` when the build has no such secret
/// (the worker then fails the run unless the mount is optional). Errors must not contain the
/// value. Called from blocking threads, possibly concurrently.
pub trait SecretStore: Send + Sync {
    /// The value of secret `id`, if the build has it.
    fn secret(&self, id: &str) -> std::result::Result<Option<Vec<u8>>, String>;
}

/// A build without secrets.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSecrets;

impl SecretStore for NoSecrets {
    fn secret(&self, _: &str) -> std::result::Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
}

/// Secrets held in memory, by id. `Debug` shows the ids only.
#[derive(Clone, Default)]
pub struct MemorySecrets(pub BTreeMap<String, Vec<u8>>);

impl fmt::Debug for MemorySecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl SecretStore for MemorySecrets {
    fn secret(&self, id: &str) -> std::result::Result<Option<Vec<u8>>, String> {
        Ok(self.0.get(id).cloned())
    }
}

/// What is mounted at one [`ExecMount`]'s destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecMountKind {
    /// A snapshot (`RUN --mount=type=bind,from=…`, or another input of the Exec op): the tree
    /// `source` (empty for `None`), at `selector` (a path inside it, resolved beneath it;
    /// empty for the root). Writable mounts get an active snapshot of their own; with `output`
    /// it is committed into [`ExecOutputs::mounts`], otherwise its changes are dropped.
    Snapshot {
        /// The snapshot to mount.
        source: Option<SnapshotRef>,
        /// The path inside it to mount.
        selector: String,
        /// Read-only.
        readonly: bool,
        /// Commit the writable mount's changes as an output.
        output: bool,
    },
    /// A persistent cache directory (`RUN --mount=type=cache,id=…,sharing=…`).
    Cache {
        /// The cache id (hashed into a directory name).
        id: String,
        /// How concurrent runs share it.
        sharing: CacheSharing,
        /// Read-only.
        readonly: bool,
    },
    /// A fresh tmpfs; `None` for the kernel's default size.
    Tmpfs {
        /// Size limit in bytes.
        size: Option<u64>,
    },
    /// A secret as a read-only file.
    Secret {
        /// The secret id.
        id: String,
        /// Owner of the file.
        uid: u32,
        /// Group of the file.
        gid: u32,
        /// Mode of the file (BuildKit's default is 0400).
        mode: u32,
        /// Skip the mount instead of failing when the secret is missing.
        optional: bool,
    },
    /// A forwarded SSH agent socket (`RUN --mount=type=ssh`).
    Ssh {
        /// The ssh id (`default`).
        id: String,
        /// Skip the mount instead of failing.
        optional: bool,
    },
}

/// One extra mount of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecMount {
    /// Absolute destination in the container.
    pub dest: String,
    /// What is mounted there.
    pub kind: ExecMountKind,
}

/// A secret exposed as an environment variable (`RUN --mount=type=secret,env=NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEnv {
    /// The secret id.
    pub id: String,
    /// The variable name.
    pub name: String,
    /// Skip instead of failing when the secret is missing.
    pub optional: bool,
}

/// One run: the root filesystem, the process and its surroundings.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    /// The root filesystem's parent snapshot; `None` for an empty root.
    pub rootfs: Option<SnapshotRef>,
    /// Extra mounts, in order.
    pub mounts: Vec<ExecMount>,
    /// The process.
    pub process: ProcessSpec,
    /// `RUN --network=`.
    pub network: NetworkMode,
    /// `RUN --security=`.
    pub security: SecurityMode,
    /// Hostname; `None` for `buildkitsandbox`.
    pub hostname: Option<String>,
    /// `--add-host` entries.
    pub extra_hosts: Vec<HostIp>,
    /// Secrets as environment variables.
    pub secret_env: Vec<SecretEnv>,
}

/// What a successful run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutputs {
    /// The root filesystem after the run (committed).
    pub rootfs: SnapshotRef,
    /// Per request mount (same index): the committed snapshot of a writable snapshot mount
    /// with `output`, else `None`.
    pub mounts: Vec<Option<SnapshotRef>>,
}

/// Everything a run set up, undone on drop (error, cancellation) unless committed.
struct RunState {
    inner: std::sync::Arc<Inner>,
    root_key: String,
    /// Active snapshots and views of mounts: key, mounted tree, commit as output.
    mounts: Vec<(usize, String, Mounted, bool)>,
    secret_dir: Option<(PathBuf, bool)>,
    caches: Vec<CacheGuard>,
}

impl RunState {
    /// Unmounts everything, removes the secrets, drops the cache guards. Idempotent.
    fn release(&mut self) -> Result<()> {
        for (_, _, m, _) in &mut self.mounts {
            m.release()?;
        }
        if let Some((dir, tmpfs)) = self.secret_dir.take() {
            if tmpfs
                && let Err(e) = rustix::mount::unmount(&dir, rustix::mount::UnmountFlags::DETACH)
            {
                tracing::warn!("unmounting secrets tmpfs {}: {e}", dir.display());
            }
            std::fs::remove_dir_all(&dir).map_err(Error::io("removing secrets", &dir))?;
        }
        self.caches.clear();
        Ok(())
    }
}

impl Drop for RunState {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            tracing::warn!("{e}");
        }
        for (_, key, _, _) in &self.mounts {
            abort_active(&self.inner, key);
        }
        if !self.root_key.is_empty() {
            abort_active(&self.inner, &self.root_key);
        }
    }
}

impl Worker {
    /// Runs `req.process` in a container on a new snapshot of `req.rootfs`, streaming its
    /// output to `sink`; commits the root (and writable `output` mounts) on success. On any
    /// failure (the process exiting non-zero included: [`Error::exit_code`]) every snapshot
    /// it made is removed and nothing is committed. Secrets are written to a private tmpfs
    /// under `<root>/secrets`, bind-mounted read-only, and removed when the run ends; they
    /// never touch a snapshot.
    pub async fn run(
        &self,
        req: ExecRequest,
        secrets: &dyn SecretStore,
        sink: &mut dyn OutputSink,
    ) -> Result<ExecOutputs> {
        let mut process = req.process.clone();
        // Secrets first: a missing one fails the run before anything is created.
        let mut secret_files: Vec<(usize, Vec<u8>, u32, u32, u32)> = Vec::new();
        for (i, m) in req.mounts.iter().enumerate() {
            match &m.kind {
                ExecMountKind::Secret {
                    id,
                    uid,
                    gid,
                    mode,
                    optional,
                } => match lookup(secrets, id)? {
                    Some(v) => secret_files.push((i, v, *uid, *gid, *mode)),
                    None if *optional => {}
                    None => return Err(Error::SecretNotFound { id: id.clone() }),
                },
                ExecMountKind::Ssh { optional: true, .. } => {}
                ExecMountKind::Ssh { id, .. } => {
                    return Err(Error::Unsupported(format!(
                        "RUN --mount=type=ssh (id {id}): ssh agent forwarding"
                    )));
                }
                _ => {}
            }
        }
        for se in &req.secret_env {
            match lookup(secrets, &se.id)? {
                Some(v) => {
                    let v = String::from_utf8(v).map_err(|_| Error::SecretStore {
                        id: se.id.clone(),
                        reason: "a secret used as an environment variable must be UTF-8".into(),
                    })?;
                    process.env.push(format!("{}={v}", se.name));
                }
                None if se.optional => {}
                None => return Err(Error::SecretNotFound { id: se.id.clone() }),
            }
        }

        // Caches: may wait for other runs (locked), so taken before any snapshot exists.
        let mut caches = Vec::new();
        let mut cache_dirs = BTreeMap::new();
        for (i, m) in req.mounts.iter().enumerate() {
            if let ExecMountKind::Cache { id, sharing, .. } = &m.kind {
                let (dir, guard) = self.inner.caches.acquire(id, *sharing).await?;
                caches.push(guard);
                cache_dirs.insert(i, dir);
            }
        }

        let inner = self.inner.clone();
        let req2 = req.clone();
        let what = "preparing the run's snapshots".to_string();
        let (state, run_req) = blocking(what, move || {
            prepare_run(inner, &req2, process, caches, cache_dirs, secret_files)
        })
        .await?;
        let mut state = state;

        let result = self.inner.executor.run(run_req, sink).await;
        let inner = self.inner.clone();
        let n = req.mounts.len();
        blocking("committing the run's snapshots".to_string(), move || {
            let released = state.release();
            result?;
            released?;
            let rootfs = commit_active(&inner, &state.root_key)?;
            state.root_key.clear();
            let mut outputs = vec![None; n];
            for (i, key, _, output) in std::mem::take(&mut state.mounts) {
                if output {
                    match commit_active(&inner, &key) {
                        Ok(s) => outputs[i] = Some(s),
                        Err(e) => {
                            abort_active(&inner, &key);
                            return Err(e);
                        }
                    }
                } else {
                    abort_active(&inner, &key);
                }
            }
            Ok(ExecOutputs {
                rootfs,
                mounts: outputs,
            })
        })
        .await
    }
}

fn lookup(secrets: &dyn SecretStore, id: &str) -> Result<Option<Vec<u8>>> {
    secrets.secret(id).map_err(|reason| Error::SecretStore {
        id: id.to_owned(),
        reason,
    })
}

type SecretFile = (usize, Vec<u8>, u32, u32, u32);

fn prepare_run(
    inner: std::sync::Arc<Inner>,
    req: &ExecRequest,
    process: ProcessSpec,
    caches: Vec<CacheGuard>,
    cache_dirs: BTreeMap<usize, PathBuf>,
    secret_files: Vec<SecretFile>,
) -> Result<(RunState, RunRequest)> {
    let root_key = format!("active-{}", unique());
    let parent = req.rootfs.as_ref().map(|s| s.name());
    let plan = inner
        .snaps
        .sn()
        .prepare(&root_key, parent)
        .map_err(Error::snap(
            "preparing a snapshot on",
            parent.unwrap_or("scratch"),
        ))?;
    let mut state = RunState {
        inner: inner.clone(),
        root_key,
        mounts: Vec::new(),
        secret_dir: None,
        caches,
    };
    let mut secret_paths: BTreeMap<usize, PathBuf> = BTreeMap::new();
    if !secret_files.is_empty() {
        let dir = inner.root.join("secrets").join(unique());
        std::fs::create_dir(&dir).map_err(Error::io("creating", &dir))?;
        set_mode(&dir, 0o700)?;
        let tmpfs = rustix::mount::mount(
            "tmpfs",
            &dir,
            "tmpfs",
            rustix::mount::MountFlags::NOSUID
                | rustix::mount::MountFlags::NODEV
                | rustix::mount::MountFlags::NOEXEC,
            c"mode=0700,size=16m",
        )
        .is_ok();
        state.secret_dir = Some((dir.clone(), tmpfs));
        for (i, value, uid, gid, mode) in secret_files {
            let path = dir.join(i.to_string());
            write_secret(&path, &value, uid, gid, mode)?;
            secret_paths.insert(i, path);
        }
    }

    let mut mounts = Vec::with_capacity(req.mounts.len());
    for (i, m) in req.mounts.iter().enumerate() {
        let source = match &m.kind {
            ExecMountKind::Snapshot {
                source,
                selector,
                readonly,
                output,
            } => {
                let key = format!("{}-{}", if *readonly { "view" } else { "active" }, unique());
                let parent = source.as_ref().map(|s| s.name());
                let sn = inner.snaps.sn();
                let plan = if *readonly {
                    sn.view(&key, parent)
                } else {
                    sn.prepare(&key, parent)
                }
                .map_err(Error::snap(
                    "preparing a mount of",
                    parent.unwrap_or("scratch"),
                ))?;
                let mounted = match Mounted::new(&inner, &plan, &key) {
                    Ok(m) => m,
                    Err(e) => {
                        abort_active(&inner, &key);
                        return Err(e);
                    }
                };
                let path = if selector.trim_matches('/').is_empty() {
                    mounted.path().to_owned()
                } else {
                    let r = resolve_beneath(mounted.path(), selector);
                    match r {
                        Ok(p) => p,
                        Err(e) => {
                            drop(mounted);
                            abort_active(&inner, &key);
                            return Err(e);
                        }
                    }
                };
                state.mounts.push((i, key, mounted, *output && !*readonly));
                MountSource::Bind {
                    source: path,
                    readonly: *readonly,
                }
            }
            ExecMountKind::Cache { readonly, .. } => match cache_dirs.get(&i) {
                Some(dir) => MountSource::Cache {
                    dir: dir.clone(),
                    readonly: *readonly,
                },
                None => continue,
            },
            ExecMountKind::Tmpfs { size } => MountSource::Tmpfs { size: *size },
            ExecMountKind::Secret { .. } => match secret_paths.get(&i) {
                Some(file) => MountSource::Secret { file: file.clone() },
                None => continue,
            },
            ExecMountKind::Ssh { .. } => continue,
        };
        mounts.push(Mount {
            destination: m.dest.clone(),
            source,
        });
    }

    let run = RunRequest {
        process,
        rootfs: plan
            .into_iter()
            .map(|m| RawMount {
                typ: m.kind,
                source: m.source,
                options: m.options,
            })
            .collect(),
        mounts,
        network: req.network,
        security: req.security,
        hostname: req.hostname.clone(),
        extra_hosts: req.extra_hosts.clone(),
    };
    Ok((state, run))
}

fn write_secret(path: &Path, value: &[u8], uid: u32, gid: u32, mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::io("creating secret file", path))?;
    f.write_all(value)
        .map_err(Error::io("writing secret file", path))?;
    rustix::fs::fchown(
        f.as_fd(),
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
    )
    .map_err(|e| Error::io("chowning secret file", path)(e.into()))?;
    rustix::fs::fchmod(f.as_fd(), Mode::from_raw_mode(mode & 0o7777))
        .map_err(|e| Error::io("chmoding secret file", path)(e.into()))?;
    Ok(())
}

/// The host path of `selector` inside the tree `root`, with symlinks and `..` resolved as if
/// `root` were `/` (openat2 `RESOLVE_IN_ROOT`).
fn resolve_beneath(root: &Path, selector: &str) -> Result<PathBuf> {
    let bad = |reason: String| Error::InvalidInput {
        what: "mount selector",
        value: selector.to_owned(),
        reason,
    };
    let rootfd = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("opening", root)(e.into()))?;
    let rel = selector.trim_start_matches('/');
    let fd = rustix::fs::openat2(
        &rootfd,
        rel,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| bad(io::Error::from(e).to_string()))?;
    let link = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
    let real = std::fs::read_link(&link).map_err(|e| bad(e.to_string()))?;
    if !real.starts_with(root) {
        return Err(bad("resolves outside the mounted snapshot".into()));
    }
    Ok(real)
}
