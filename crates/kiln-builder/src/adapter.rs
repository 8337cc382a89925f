//! [`BuildWorker`]: kiln-solver's `Worker` over kiln-worker, kiln-fileop and kiln-context
//! (BuildKit's `llbsolver/ops`): one handler per op kind.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kiln_executor::{OutputSink, ProcessSpec, Stream};
use kiln_graph::op::{self, FileAction, MountKind, Op};
use kiln_graph::{Digest, VertexDef};
use kiln_platforms::Platform;
use kiln_progress::{LogWriter, STDERR, STDOUT};
use kiln_solver::{
    BoxError, BoxFuture, CacheMap, ContentHasher, ContentSelector, DepCacheMap, OpContext,
    OpHandler, OpResolver, ResultRef, ResultRefs,
};
use kiln_worker::{
    ExecMount, ExecMountKind, ExecRequest, PullOptions, ReadonlyMount, SecretStore, SnapshotRef,
    Worker,
};
use serde::Serialize;

use crate::local::{self, LocalContext};
use crate::progress::PullStatuses;
use crate::refs::{self, RefKind, kind_of};

/// The solver's worker: resolves ops to handlers that run them on a [`kiln_worker::Worker`].
///
/// Results are snapshots, which persist until pruned: [`ResultRefs::retain`] and
/// [`ResultRefs::release`] count nothing (a cache record naming a pruned snapshot is dropped
/// by [`crate::StoreCache`] at load instead). Local contexts are registered per build session
/// with [`BuildWorker::register_context`].
pub struct BuildWorker {
    worker: Worker,
    inner: Arc<Shared>,
}

struct Shared {
    /// Build session id: a local source's key changes with it.
    session: RwLock<String>,
    /// Local contexts of the current session, by name.
    contexts: Mutex<HashMap<String, Arc<LocalContext>>>,
    /// The build's lease (pulled blobs stay until the image is recorded).
    lease: RwLock<Option<String>>,
    secrets: RwLock<Arc<dyn SecretStore>>,
}

impl fmt::Debug for BuildWorker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildWorker")
            .field("root", &self.worker.root())
            .finish_non_exhaustive()
    }
}

impl BuildWorker {
    /// A solver worker over `worker`.
    pub fn new(worker: Worker) -> BuildWorker {
        BuildWorker {
            worker,
            inner: Arc::new(Shared {
                session: RwLock::new(String::new()),
                contexts: Mutex::new(HashMap::new()),
                lease: RwLock::new(None),
                secrets: RwLock::new(Arc::new(kiln_worker::NoSecrets)),
            }),
        }
    }

    /// The underlying worker.
    pub fn worker(&self) -> &Worker {
        &self.worker
    }

    /// Starts a build session: local sources get new keys, `lease` holds pulled blobs and
    /// `secrets` answers secret mounts.
    pub fn begin_session(
        &self,
        session: &str,
        lease: Option<String>,
        secrets: Arc<dyn SecretStore>,
    ) {
        *write(&self.inner.session) = session.to_string();
        *write(&self.inner.lease) = lease;
        *write(&self.inner.secrets) = secrets;
        lock(&self.inner.contexts).clear();
    }

    /// Makes `local://<name>` read `dir` in this session.
    pub fn register_context(&self, name: &str, dir: PathBuf) {
        let ctx = Arc::new(LocalContext::new(dir, self.worker.root()));
        lock(&self.inner.contexts).insert(name.to_string(), ctx);
    }

    /// Saves the digest caches of the session's contexts.
    pub async fn end_session(&self) {
        let contexts: Vec<Arc<LocalContext>> =
            lock(&self.inner.contexts).values().cloned().collect();
        for c in contexts {
            c.finish().await;
        }
    }

    fn context(&self, name: &str) -> Result<Arc<LocalContext>, BoxError> {
        self.inner.context(name)
    }
}

impl Shared {
    fn context(&self, name: &str) -> Result<Arc<LocalContext>, BoxError> {
        lock(&self.contexts).get(name).cloned().ok_or_else(|| {
            format!(
                "the build has no local context named {name:?} (pass it as the build context \
                 or with --build-context {name}=PATH)"
            )
            .into()
        })
    }

    fn session(&self) -> String {
        read(&self.session).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Digest of an op and its platform: the op's own part of a cache key.
pub(crate) fn op_digest(kind: &str, op: &impl Serialize, platform: Option<&Platform>) -> Digest {
    #[derive(Serialize)]
    struct Keyed<'a, T> {
        kind: &'a str,
        op: &'a T,
        platform: Option<&'a Platform>,
    }
    let bytes = serde_json::to_vec(&Keyed { kind, op, platform }).unwrap_or_default();
    Digest::of(&bytes)
}

fn key_deps(n: usize) -> Vec<DepCacheMap> {
    vec![DepCacheMap::default(); n]
}

impl OpResolver for BuildWorker {
    fn handler(&self, _digest: &Digest, def: &VertexDef) -> Result<Arc<dyn OpHandler>, BoxError> {
        let common = Common {
            worker: self.worker.clone(),
            shared: self.inner.clone(),
            def: def.clone(),
        };
        Ok(match &def.op {
            Op::Source(src) => {
                if let Some(r) = src.identifier.strip_prefix(op::scheme::DOCKER_IMAGE) {
                    Arc::new(ImageHandler {
                        common,
                        reference: r.to_string(),
                        resolved: OnceLock::new(),
                    })
                } else if let Some(name) = src.identifier.strip_prefix(op::scheme::LOCAL) {
                    // Fail early for a context the build was not given.
                    self.context(name)?;
                    Arc::new(LocalHandler {
                        common,
                        name: name.to_string(),
                        attrs: src.attrs.clone(),
                    })
                } else if src.identifier.starts_with(op::scheme::HTTPS)
                    || src.identifier.starts_with(op::scheme::HTTP)
                {
                    Arc::new(crate::http::HttpHandler::new(
                        self.worker.clone(),
                        src.identifier.clone(),
                        src.attrs.clone(),
                    ))
                } else {
                    let scheme = src.identifier.split("://").next().unwrap_or_default();
                    return Err(format!(
                        "source {:?}: {scheme} sources are not supported by kiln yet (use an \
                         image or the local context)",
                        src.identifier
                    )
                    .into());
                }
            }
            Op::Exec(e) => {
                for m in &e.mounts {
                    if let MountKind::Ssh {
                        optional: false, ..
                    } = m.kind
                    {
                        return Err(format!(
                            "RUN --mount=type=ssh at {} is not supported by kiln yet (add \
                             required=false to skip it)",
                            m.dest
                        )
                        .into());
                    }
                }
                Arc::new(ExecHandler {
                    common,
                    op: e.clone(),
                })
            }
            Op::File(f) => Arc::new(FileHandler {
                common,
                op: f.clone(),
            }),
            Op::Merge(_) => Arc::new(MergeHandler { common }),
            Op::Diff(_) => {
                return Err("diff operations are not supported by kiln yet".into());
            }
        })
    }
}

impl ResultRefs for BuildWorker {
    fn retain(&self, _r: &ResultRef) -> Result<(), BoxError> {
        Ok(())
    }

    fn release(&self, _r: &ResultRef) {}
}

impl ContentHasher for BuildWorker {
    fn content_checksum<'a>(
        &'a self,
        r: &'a ResultRef,
        selectors: &'a [ContentSelector],
    ) -> BoxFuture<'a, Result<Digest, BoxError>> {
        Box::pin(async move {
            match kind_of(r) {
                RefKind::Local { name, .. } => self.context(name)?.checksum(selectors).await,
                RefKind::Scratch => snapshot_checksum(&self.worker, None, selectors).await,
                RefKind::Snapshot(s) => {
                    snapshot_checksum(&self.worker, Some(&SnapshotRef::new(s)), selectors).await
                }
            }
        })
    }
}

/// Checksums selections of a snapshot: mounted read-only, scanned, hashed in memory.
async fn snapshot_checksum(
    worker: &Worker,
    snap: Option<&SnapshotRef>,
    selectors: &[ContentSelector],
) -> Result<Digest, BoxError> {
    let mount = worker.mount_readonly(snap).await?;
    let selectors = selectors.to_vec();
    tokio::task::spawn_blocking(move || -> Result<Digest, BoxError> {
        let tree = kiln_context::Tree::scan(mount.path(), &kiln_context::ScanOptions::default())?;
        let mut hasher = kiln_context::Hasher::new(&tree, kiln_context::HashCache::in_memory());
        let d = local::checksum_all(&mut hasher, &selectors);
        drop(mount);
        d
    })
    .await
    .map_err(|e| format!("checksumming a snapshot: {e}"))?
}

/// What every handler has.
struct Common {
    worker: Worker,
    shared: Arc<Shared>,
    def: VertexDef,
}

impl Common {
    fn platform(&self) -> Platform {
        self.def
            .platform
            .clone()
            .unwrap_or_else(|| kiln_platforms::default_platform().clone())
    }

    /// The snapshot of an input ref (a local context is turned into one on demand).
    async fn snapshot_of(&self, r: &ResultRef) -> Result<Option<SnapshotRef>, BoxError> {
        Ok(match kind_of(r) {
            RefKind::Scratch => None,
            RefKind::Snapshot(s) => Some(SnapshotRef::new(s)),
            RefKind::Local { name, .. } => {
                Some(self.shared.context(name)?.snapshot(&self.worker).await?)
            }
        })
    }
}

/// `docker-image://` sources: resolved to a manifest digest for the key, pulled on exec.
struct ImageHandler {
    common: Common,
    reference: String,
    resolved: OnceLock<kiln_reference::Reference>,
}

impl OpHandler for ImageHandler {
    fn cache_map<'a>(&'a self, _ctx: &'a OpContext) -> BoxFuture<'a, Result<CacheMap, BoxError>> {
        Box::pin(async move {
            let reference = kiln_reference::parse_normalized_named(&self.reference)
                .map_err(|e| format!("invalid image reference {:?}: {e}", self.reference))?;
            let platform = self.common.platform();
            let pinned = match reference.digest() {
                Some(_) => reference,
                None => {
                    let r = self
                        .common
                        .worker
                        .resolve_image_config(&reference, &platform)
                        .await?;
                    reference
                        .with_digest(&r.manifest_digest)
                        .map_err(|e| format!("{}: {e}", self.reference))?
                }
            };
            let manifest = pinned.digest().unwrap_or_default().to_string();
            let _ = self.resolved.set(pinned);
            Ok(CacheMap {
                digest: op_digest("docker-image", &manifest, Some(&platform)),
                deps: Vec::new(),
            })
        })
    }

    fn exec<'a>(
        &'a self,
        ctx: &'a OpContext,
        _inputs: Vec<ResultRef>,
    ) -> BoxFuture<'a, Result<Vec<ResultRef>, BoxError>> {
        Box::pin(async move {
            let reference = self
                .resolved
                .get()
                .ok_or("image source executed before it was resolved")?;
            let opts = PullOptions {
                lease: read(&self.common.shared.lease).clone(),
                observer: Some(Arc::new(PullStatuses::new(
                    ctx.progress.clone(),
                    ctx.digest.to_string(),
                    ctx.clock.clone(),
                ))),
            };
            let img = self
                .common
                .worker
                .pull_image(reference, &self.common.platform(), &opts)
                .await?;
            let store = self.common.worker.store().clone();
            let layers = img.layers.clone();
            tokio::task::spawn_blocking(move || crate::layers::index_pulled(&store, &layers))
                .await
                .map_err(|e| format!("indexing pulled layers: {e}"))??;
            Ok(vec![refs::snapshot_ref(img.rootfs.as_ref())])
        })
    }
}

/// `local://` sources: keyed per session, scanned on exec, never materialised here.
struct LocalHandler {
    common: Common,
    name: String,
    attrs: BTreeMap<String, String>,
}

impl OpHandler for LocalHandler {
    fn cache_map<'a>(&'a self, _ctx: &'a OpContext) -> BoxFuture<'a, Result<CacheMap, BoxError>> {
        let session = self.common.shared.session();
        let digest = op_digest("local", &(session, &self.name, &self.attrs), None);
        Box::pin(async move {
            Ok(CacheMap {
                digest,
                deps: Vec::new(),
            })
        })
    }

    fn exec<'a>(
        &'a self,
        op: &'a OpContext,
        _inputs: Vec<ResultRef>,
    ) -> BoxFuture<'a, Result<Vec<ResultRef>, BoxError>> {
        Box::pin(async move {
            let ctx = self.common.shared.context(&self.name)?;
            let started = op.clock.now();
            let tree = ctx.tree(&local::scan_options(&self.attrs)).await?;
            // BuildKit counts the bytes its session sent; kiln reads the files in place, so
            // it shows the bytes of the regular files the scan selected.
            let bytes: u64 = tree
                .nodes()
                .iter()
                .filter(|n| n.meta.kind == kiln_context::Kind::File)
                .map(|n| n.meta.size)
                .sum();
            op.progress.status(crate::progress::finished_status(
                &op.digest.to_string(),
                "transferring context:",
                bytes,
                started,
                op.clock.now(),
            ));
            Ok(vec![refs::local_ref(
                &self.common.shared.session(),
                &self.name,
            )])
        })
    }
}

/// Exec ops (`RUN`): a container on the root mount's snapshot.
struct ExecHandler {
    common: Common,
    op: op::ExecOp,
}

/// Sends a RUN's output to the vertex's log streams.
struct LogSink {
    out: LogWriter,
    err: LogWriter,
}

impl OutputSink for LogSink {
    fn output(&mut self, stream: Stream, chunk: Bytes) {
        use std::io::Write;
        let w = match stream {
            Stream::Stdout => &mut self.out,
            Stream::Stderr => &mut self.err,
        };
        let _ = w.write_all(&chunk);
    }
}

impl OpHandler for ExecHandler {
    fn cache_map<'a>(&'a self, _ctx: &'a OpContext) -> BoxFuture<'a, Result<CacheMap, BoxError>> {
        let mut deps = key_deps(self.common.def.inputs.len());
        for m in &self.op.mounts {
            if let (Some(i), false) = (m.input, m.selector.is_empty() || m.selector == "/") {
                if let Some(d) = deps.get_mut(i as usize) {
                    d.selector = Some(Digest::of(m.selector.as_bytes()));
                }
            }
        }
        let digest = op_digest("exec", &self.op, self.common.def.platform.as_ref());
        Box::pin(async move { Ok(CacheMap { digest, deps }) })
    }

    fn exec<'a>(
        &'a self,
        ctx: &'a OpContext,
        inputs: Vec<ResultRef>,
    ) -> BoxFuture<'a, Result<Vec<ResultRef>, BoxError>> {
        Box::pin(async move {
            let input =
                |i: Option<u32>| -> Option<&ResultRef> { i.and_then(|i| inputs.get(i as usize)) };
            let mut rootfs = None;
            let mut root_output = None;
            // (graph mount, request mount)
            let mut extra: Vec<(Option<u32>, ExecMount)> = Vec::new();
            for m in &self.op.mounts {
                if m.dest == "/" {
                    if let Some(r) = input(m.input) {
                        rootfs = self.common.snapshot_of(r).await?;
                    }
                    root_output = m.output;
                    continue;
                }
                let kind = match &m.kind {
                    MountKind::Bind => ExecMountKind::Snapshot {
                        source: match input(m.input) {
                            Some(r) => self.common.snapshot_of(r).await?,
                            None => None,
                        },
                        selector: m.selector.trim_start_matches('/').to_string(),
                        readonly: m.readonly,
                        output: m.output.is_some(),
                    },
                    MountKind::Cache { id, sharing } => ExecMountKind::Cache {
                        id: id.clone(),
                        sharing: match sharing {
                            op::CacheSharing::Shared => kiln_worker::CacheSharing::Shared,
                            op::CacheSharing::Private => kiln_worker::CacheSharing::Private,
                            op::CacheSharing::Locked => kiln_worker::CacheSharing::Locked,
                        },
                        readonly: m.readonly,
                    },
                    MountKind::Tmpfs { size } => ExecMountKind::Tmpfs {
                        size: (*size > 0).then_some(*size),
                    },
                    MountKind::Secret {
                        id,
                        uid,
                        gid,
                        mode,
                        optional,
                    } => ExecMountKind::Secret {
                        id: id.clone(),
                        uid: *uid,
                        gid: *gid,
                        mode: *mode,
                        optional: *optional,
                    },
                    // Required SSH mounts were refused when the handler was made.
                    MountKind::Ssh { .. } => continue,
                };
                extra.push((
                    m.output,
                    ExecMount {
                        dest: m.dest.clone(),
                        kind,
                    },
                ));
            }
            extra.sort_by(|a, b| a.1.dest.cmp(&b.1.dest));
            let meta = &self.op.meta;
            let mut env = meta.env.clone();
            for (k, v) in &ctx.meta.proxy_env {
                if !env.iter().any(|e| e.split('=').next() == Some(k.as_str())) {
                    env.push(format!("{k}={v}"));
                }
            }
            let mut extra_hosts = Vec::with_capacity(meta.extra_hosts.len());
            for h in &meta.extra_hosts {
                let ip: IpAddr = h.ip.parse().map_err(|e| {
                    format!("invalid IP address {:?} for host {}: {e}", h.ip, h.host)
                })?;
                extra_hosts.push(kiln_executor::HostIp {
                    host: h.host.clone(),
                    ip,
                });
            }
            let req = ExecRequest {
                rootfs,
                mounts: extra.iter().map(|(_, m)| m.clone()).collect(),
                process: ProcessSpec {
                    args: meta.args.clone(),
                    env,
                    cwd: meta.cwd.clone(),
                    user: meta.user.clone(),
                    tty: false,
                },
                network: match self.op.network {
                    op::NetMode::Sandbox => kiln_executor::NetworkMode::Sandbox,
                    op::NetMode::Host => kiln_executor::NetworkMode::Host,
                    op::NetMode::None => kiln_executor::NetworkMode::None,
                },
                security: match self.op.security {
                    op::SecurityMode::Sandbox => kiln_executor::SecurityMode::Sandbox,
                    op::SecurityMode::Insecure => kiln_executor::SecurityMode::Insecure,
                },
                hostname: (!meta.hostname.is_empty()).then(|| meta.hostname.clone()),
                extra_hosts,
                secret_env: self
                    .op
                    .secret_env
                    .iter()
                    .map(|s| kiln_worker::SecretEnv {
                        id: s.id.clone(),
                        name: s.name.clone(),
                        optional: s.optional,
                    })
                    .collect(),
            };
            let secrets = read(&self.common.shared.secrets).clone();
            let mut sink = LogSink {
                out: ctx.log_writer(STDOUT),
                err: ctx.log_writer(STDERR),
            };
            let outs = self.common.worker.run(req, &*secrets, &mut sink).await?;
            {
                use std::io::Write;
                let _ = sink.out.flush();
                let _ = sink.err.flush();
            }
            let count = self.common.def.op.output_count() as usize;
            let mut results = vec![refs::snapshot_ref(None); count];
            if let Some(i) = root_output {
                if let Some(slot) = results.get_mut(i as usize) {
                    *slot = refs::snapshot_ref(Some(&outs.rootfs));
                }
            }
            for ((output, _), snap) in extra.iter().zip(&outs.mounts) {
                if let (Some(i), Some(s)) = (output, snap) {
                    if let Some(slot) = results.get_mut(*i as usize) {
                        *slot = refs::snapshot_ref(Some(s));
                    }
                }
            }
            Ok(results)
        })
    }
}

/// File ops (`COPY`, `ADD`, `WORKDIR`'s mkdir): actions on a writable snapshot of the base.
struct FileHandler {
    common: Common,
    op: op::FileOp,
}

fn selector_of(c: &op::CopyAction) -> ContentSelector {
    ContentSelector {
        path: c.src_path.clone(),
        wildcard: c.allow_wildcard && kiln_fileop::contains_wildcards(&c.src_path),
        follow_links: c.follow_symlinks,
        include_patterns: c.include_patterns.clone(),
        exclude_patterns: c.exclude_patterns.clone(),
    }
}

fn mtime(secs: Option<i64>) -> Option<SystemTime> {
    secs.map(|s| {
        if s >= 0 {
            UNIX_EPOCH + Duration::from_secs(s.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_secs(s.unsigned_abs())
        }
    })
}

fn chown_spec(c: &op::Chown) -> Option<String> {
    let one = |u: &op::UserOpt| match u {
        op::UserOpt::Id(n) => n.to_string(),
        op::UserOpt::Name(s) => s.clone(),
    };
    match (&c.user, &c.group) {
        (None, None) => None,
        (Some(u), None) => Some(one(u)),
        (u, Some(g)) => Some(format!(
            "{}:{}",
            u.as_ref().map(one).unwrap_or_else(|| "0".into()),
            one(g)
        )),
    }
}

fn owner(
    root: &kiln_fileop::Root,
    c: Option<&op::Chown>,
) -> Result<Option<kiln_fileop::Owner>, BoxError> {
    match c.and_then(chown_spec) {
        Some(spec) => Ok(Some(kiln_fileop::resolve_chown(root, &spec)?)),
        None => Ok(None),
    }
}

/// Where a copy reads from: a host directory, kept mounted while the actions run.
enum Source {
    Dir(PathBuf),
    Mount(ReadonlyMount),
}

impl Source {
    fn path(&self) -> &std::path::Path {
        match self {
            Source::Dir(p) => p,
            Source::Mount(m) => m.path(),
        }
    }
}

fn apply_actions(
    dest: &std::path::Path,
    actions: &[FileAction],
    sources: &HashMap<u32, Source>,
) -> Result<(), BoxError> {
    let dst = kiln_fileop::Root::open(dest)?;
    for a in actions {
        match a {
            FileAction::Copy(c) => {
                let src = match c.src.and_then(|i| sources.get(&i)) {
                    Some(s) => kiln_fileop::Root::open(s.path())?,
                    None => {
                        return Err(format!(
                            "copy of {:?} has no source input in the build graph",
                            c.src_path
                        )
                        .into());
                    }
                };
                let opts = kiln_fileop::CopyOptions {
                    owner: owner(&dst, c.chown.as_ref())?,
                    mode: match &c.chmod {
                        Some(op::Chmod::Octal(m)) => Some(kiln_fileop::Chmod::Octal(*m)),
                        Some(op::Chmod::Symbolic(s)) => Some(kiln_fileop::Chmod::parse(s)?),
                        None => None,
                    },
                    mtime: mtime(c.mtime),
                    allow_wildcard: c.allow_wildcard,
                    allow_empty_wildcard: c.allow_empty_wildcard,
                    follow_symlinks: c.follow_symlinks,
                    copy_dir_contents: c.copy_dir_contents_only,
                    create_dest_path: c.create_dest_path,
                    always_replace_existing: c.always_replace_existing,
                    include_patterns: c.include_patterns.clone(),
                    exclude_patterns: c.exclude_patterns.clone(),
                    attempt_unpack: c.attempt_unpack,
                    ..kiln_fileop::CopyOptions::default()
                };
                kiln_fileop::copy(&src, &c.src_path, &dst, &c.dest, &opts)?;
            }
            FileAction::Mkdir(m) => {
                let opts = kiln_fileop::MkdirOptions {
                    mode: m.mode,
                    make_parents: m.make_parents,
                    owner: owner(&dst, m.chown.as_ref())?,
                    mtime: mtime(m.mtime),
                };
                kiln_fileop::mkdir(&dst, &m.path, &opts)?;
            }
            FileAction::Mkfile(m) => {
                let opts = kiln_fileop::MkfileOptions {
                    mode: m.mode,
                    owner: owner(&dst, m.chown.as_ref())?,
                    mtime: mtime(m.mtime),
                };
                kiln_fileop::mkfile(&dst, &m.path, m.data.as_bytes(), &opts)?;
            }
            FileAction::Rm(r) => {
                let opts = kiln_fileop::RmOptions {
                    allow_not_found: r.allow_not_found,
                    allow_wildcard: r.allow_wildcard,
                };
                kiln_fileop::rm(&dst, &r.path, &opts)?;
            }
            FileAction::Symlink(s) => {
                let opts = kiln_fileop::SymlinkOptions {
                    owner: owner(&dst, s.chown.as_ref())?,
                    mtime: mtime(s.mtime),
                };
                kiln_fileop::symlink(&dst, &s.old_path, &s.new_path, &opts)?;
            }
        }
    }
    Ok(())
}

impl OpHandler for FileHandler {
    fn cache_map<'a>(&'a self, _ctx: &'a OpContext) -> BoxFuture<'a, Result<CacheMap, BoxError>> {
        let mut deps = key_deps(self.common.def.inputs.len());
        for a in &self.op.actions {
            if let FileAction::Copy(c) = a {
                if let Some(d) = c.src.and_then(|i| deps.get_mut(i as usize)) {
                    d.content.get_or_insert_with(Vec::new).push(selector_of(c));
                }
            }
        }
        let digest = op_digest("file", &self.op, self.common.def.platform.as_ref());
        Box::pin(async move { Ok(CacheMap { digest, deps }) })
    }

    fn exec<'a>(
        &'a self,
        _ctx: &'a OpContext,
        inputs: Vec<ResultRef>,
    ) -> BoxFuture<'a, Result<Vec<ResultRef>, BoxError>> {
        Box::pin(async move {
            let base = match self.op.base.and_then(|i| inputs.get(i as usize)) {
                Some(r) => self.common.snapshot_of(r).await?,
                None => None,
            };
            let mut sources: HashMap<u32, Source> = HashMap::new();
            for a in &self.op.actions {
                let FileAction::Copy(c) = a else { continue };
                let Some(i) = c.src else { continue };
                if sources.contains_key(&i) {
                    continue;
                }
                let Some(r) = inputs.get(i as usize) else {
                    continue;
                };
                let src = match kind_of(r) {
                    RefKind::Local { name, .. } => {
                        Source::Dir(self.common.shared.context(name)?.synced_dir().await?)
                    }
                    RefKind::Scratch => {
                        Source::Mount(self.common.worker.mount_readonly(None).await?)
                    }
                    RefKind::Snapshot(s) => Source::Mount(
                        self.common
                            .worker
                            .mount_readonly(Some(&SnapshotRef::new(s)))
                            .await?,
                    ),
                };
                sources.insert(i, src);
            }
            let active = self.common.worker.with_writable(base.as_ref()).await?;
            let dest = active.path().to_path_buf();
            let actions = self.op.actions.clone();
            let applied = tokio::task::spawn_blocking(move || {
                let r = apply_actions(&dest, &actions, &sources);
                drop(sources);
                r
            })
            .await
            .map_err(|e| format!("file operation task failed: {e}"));
            match applied {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    let _ = active.abort().await;
                    return Err(e);
                }
                Err(e) => {
                    let _ = active.abort().await;
                    return Err(e.into());
                }
            }
            let snap = active.commit().await?;
            Ok(vec![refs::snapshot_ref(Some(&snap))])
        })
    }
}

/// Merge ops: the inputs' layers stacked.
struct MergeHandler {
    common: Common,
}

impl OpHandler for MergeHandler {
    fn cache_map<'a>(&'a self, _ctx: &'a OpContext) -> BoxFuture<'a, Result<CacheMap, BoxError>> {
        let digest = op_digest(
            "merge",
            &self.common.def.op,
            self.common.def.platform.as_ref(),
        );
        let deps = key_deps(self.common.def.inputs.len());
        Box::pin(async move { Ok(CacheMap { digest, deps }) })
    }

    fn exec<'a>(
        &'a self,
        _ctx: &'a OpContext,
        inputs: Vec<ResultRef>,
    ) -> BoxFuture<'a, Result<Vec<ResultRef>, BoxError>> {
        Box::pin(async move {
            let mut snaps = Vec::with_capacity(inputs.len());
            for r in &inputs {
                if let Some(s) = self.common.snapshot_of(r).await? {
                    snaps.push(s);
                }
            }
            let merged = self.common.worker.merge(&snaps).await?;
            Ok(vec![refs::snapshot_ref(Some(&merged))])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chown_specs_as_dockerfile_writes_them() {
        let c = |u: Option<op::UserOpt>, g: Option<op::UserOpt>| op::Chown { user: u, group: g };
        assert_eq!(chown_spec(&c(None, None)), None);
        assert_eq!(
            chown_spec(&c(Some(op::UserOpt::Name("app".into())), None)).as_deref(),
            Some("app")
        );
        assert_eq!(
            chown_spec(&c(
                Some(op::UserOpt::Id(1)),
                Some(op::UserOpt::Name("g".into()))
            ))
            .as_deref(),
            Some("1:g")
        );
        assert_eq!(
            chown_spec(&c(None, Some(op::UserOpt::Id(5)))).as_deref(),
            Some("0:5")
        );
    }

    #[test]
    fn mtimes_before_and_after_the_epoch() {
        assert_eq!(mtime(None), None);
        assert_eq!(mtime(Some(10)), Some(UNIX_EPOCH + Duration::from_secs(10)));
        assert_eq!(mtime(Some(-10)), Some(UNIX_EPOCH - Duration::from_secs(10)));
    }

    #[test]
    fn copy_selectors_follow_the_action() {
        let c = op::CopyAction {
            src: Some(1),
            src_path: "/src/*.go".into(),
            allow_wildcard: true,
            follow_symlinks: true,
            exclude_patterns: vec!["x".into()],
            ..op::CopyAction::default()
        };
        let s = selector_of(&c);
        assert!(s.wildcard && s.follow_links);
        assert_eq!(s.path, "/src/*.go");
        assert_eq!(s.exclude_patterns, vec!["x"]);
        let plain = op::CopyAction {
            src_path: "/a[1]".into(),
            ..op::CopyAction::default()
        };
        assert!(!selector_of(&plain).wildcard);
    }

    #[test]
    fn op_digests_depend_on_op_and_platform() {
        let p = Platform::new("linux", "amd64");
        let a = op_digest("exec", &"x", Some(&p));
        assert_eq!(a, op_digest("exec", &"x", Some(&p)));
        assert_ne!(a, op_digest("exec", &"y", Some(&p)));
        assert_ne!(a, op_digest("exec", &"x", None));
        assert_ne!(a, op_digest("file", &"x", Some(&p)));
    }
}
