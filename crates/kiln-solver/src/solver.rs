//! [`Solver`]: walks a definition, computes cache keys, runs what the cache does not have, once
//! per vertex and per key, in parallel up to a limit.
//!
//! Shape of the work. Each vertex of a build becomes an *entry* shared by every concurrent
//! solve that contains the same digest (with the same `ignore_cache`). An entry has two lazily
//! spawned tasks:
//!
//! - the **key task** makes the op's handler, asks for its cache map and combines it with its
//!   inputs' keys — or, for inputs the op reads by content, with the checksum of the selected
//!   content, which needs that input's result;
//! - the **result task** waits for the key, joins any in-flight work with the same key, then
//!   either loads the result from the cache store (without touching the inputs at all) or
//!   materialises the inputs, runs the op under a parallelism permit and saves the result.
//!
//! Tasks are spawned (deep graphs never nest polls) and held through shared handles; when the
//! last handle goes away — the solve failed or was dropped — the task is aborted, which drops
//! the handler's future: that is cancellation. Results are reference-counted by `Arc`: the
//! worker's reference is released when the last holder (an entry, a dependent still running)
//! drops it.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::SystemTime;

use futures_util::future::{WeakShared, try_join_all};
use kiln_graph::{Definition, Digest, OutputRef, VertexDef, VertexMeta};
use kiln_progress::{Clock, ProgressSender, SystemClock};
use tokio::sync::Semaphore;

use crate::cache::{CacheKey, CacheRecord, CacheStore, KeyPart};
use crate::error::{Phase, SolveError, label};
use crate::progress::VertexProgress;
use crate::sync::{SharedTask, lock, spawn_shared};
use crate::worker::{BoxFuture, OpContext, OpHandler, ResultRef, Worker};

/// How a [`Solver`] runs builds.
#[derive(Debug, Clone)]
pub struct SolverOptions {
    /// How many ops may execute at the same time (BuildKit's `max-parallelism`); at least 1.
    /// Cache lookups, key computation and waiting do not count.
    pub max_parallelism: usize,
    /// `--no-cache`: look nothing up in the cache (results are still saved).
    pub no_cache: bool,
    /// Where progress timestamps come from.
    pub clock: Arc<dyn Clock>,
}

impl Default for SolverOptions {
    /// As many parallel ops as CPUs, cache on, system clock.
    fn default() -> SolverOptions {
        SolverOptions {
            max_parallelism: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(4),
            no_cache: false,
            clock: Arc::new(SystemClock),
        }
    }
}

/// The content-addressed DAG solver. Cheap to share (`Arc` inside); one per builder, used by
/// every build (and bake target) so that identical work across them runs once.
///
/// Cache keys (DESIGN.md): key(vertex) = H(op cache map, for each input: the input's key and
/// output index, or the checksum of the content the op selects from it). See
/// [`CacheKey::compute`].
///
/// Cache semantics:
/// - a vertex whose key has a usable record is not executed, and its inputs are not
///   materialised unless another vertex needs them: an all-cached build runs nothing;
/// - `--no-cache` ([`SolverOptions::no_cache`]) and a vertex's
///   [`VertexMeta::ignore_cache`] skip the lookup but save the result. A vertex that skips its
///   lookup is *fresh*, and so is every vertex that depends on it through its key: a key
///   derived from a result that was just recomputed is not trusted to still describe the same
///   content. A dependency through a content checksum is trusted (the checksum is of the
///   fresh result), so a no-cache step whose output did not change does not re-run what
///   copies from it.
pub struct Solver {
    inner: Arc<Inner>,
}

impl fmt::Debug for Solver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Solver")
            .field("worker", &self.inner.worker)
            .field("cache", &self.inner.cache)
            .field("opts", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

type ResultTask = BoxFuture<'static, Result<Arc<Results>, SolveError>>;

struct Inner {
    worker: Arc<dyn Worker>,
    cache: Arc<dyn CacheStore>,
    opts: SolverOptions,
    permits: Semaphore,
    entries: Mutex<HashMap<EntryId, Weak<Entry>>>,
    /// Work in flight by cache key (and whether it may load from the cache).
    by_key: Mutex<HashMap<(CacheKey, bool), WeakShared<ResultTask>>>,
    next_job: AtomicU64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EntryId {
    digest: Digest,
    ignore_cache: bool,
}

/// What a vertex is; held by its tasks.
struct Node {
    digest: Digest,
    def: Arc<VertexDef>,
    meta: Arc<VertexMeta>,
    ignore_cache: bool,
    /// The entries of the input vertices, one per `def.inputs`.
    inputs: Vec<Arc<Entry>>,
    progress: Arc<VertexProgress>,
}

/// A vertex and its (lazily spawned) tasks. Never referenced by its own tasks, so dropping the
/// last entry handle aborts them.
struct Entry {
    node: Arc<Node>,
    key: OnceLock<SharedTask<Keyed>>,
    result: OnceLock<SharedTask<Arc<Results>>>,
}

/// The outcome of a key task.
#[derive(Clone)]
struct Keyed {
    key: CacheKey,
    /// Skip cache lookups (see [`Solver`]).
    fresh: bool,
    handler: Arc<dyn OpHandler>,
}

/// The results of one vertex, one per output, each holding one worker reference that is
/// released when the last holder drops this.
struct Results {
    refs: Vec<ResultRef>,
    worker: Arc<dyn Worker>,
}

impl Drop for Results {
    fn drop(&mut self) {
        for r in &self.refs {
            self.worker.release(r);
        }
    }
}

impl Solver {
    /// A solver running ops on `worker` and keeping results in `cache`.
    pub fn new(worker: Arc<dyn Worker>, cache: Arc<dyn CacheStore>, opts: SolverOptions) -> Solver {
        let permits = Semaphore::new(opts.max_parallelism.max(1));
        Solver {
            inner: Arc::new(Inner {
                worker,
                cache,
                opts,
                permits,
                entries: Mutex::new(HashMap::new()),
                by_key: Mutex::new(HashMap::new()),
                next_job: AtomicU64::new(1),
            }),
        }
    }

    /// The worker the results belong to (to release them).
    pub fn worker(&self) -> &Arc<dyn Worker> {
        &self.inner.worker
    }

    /// Solves `outputs` (outputs of vertices of `def`) and returns one result per output, in
    /// order, each carrying one reference the caller owns and must give back with
    /// [`crate::ResultRefs::release`] (the same output asked twice gives two references).
    ///
    /// Only what the outputs need runs. Progress of every vertex involved goes to `progress`
    /// (also for vertices another concurrent solve is running). On failure the first error
    /// is returned, naming the vertex, and work no other solve waits for is cancelled;
    /// dropping the returned future cancels the same way. Must be called within a tokio
    /// runtime.
    pub async fn solve(
        &self,
        def: &Definition,
        outputs: &[OutputRef],
        progress: &ProgressSender,
    ) -> Result<Vec<ResultRef>, SolveError> {
        let job = Job::new(&self.inner, def, progress)?;
        let mut waits = Vec::with_capacity(outputs.len());
        for o in outputs {
            let entry = job
                .entries
                .get(&o.digest)
                .ok_or_else(|| SolveError::missing_output(o))?;
            if o.index >= entry.node.def.op.output_count() {
                return Err(SolveError::missing_output(o));
            }
            waits.push(entry.result(&self.inner));
        }
        let results = try_join_all(waits).await?;
        let worker = &self.inner.worker;
        let mut out: Vec<ResultRef> = Vec::with_capacity(outputs.len());
        for (o, res) in outputs.iter().zip(&results) {
            let kept = match res.refs.get(o.index as usize) {
                Some(r) => worker.retain(r).map(|()| r.clone()).map_err(|e| {
                    let entry = job.entries.get(&o.digest);
                    let meta = entry.map(|e| e.node.meta.clone()).unwrap_or_default();
                    SolveError::vertex(&o.digest, &meta, Phase::Retain, e)
                }),
                None => Err(SolveError::missing_output(o)),
            };
            match kept {
                Ok(r) => out.push(r),
                Err(e) => {
                    for r in &out {
                        worker.release(r);
                    }
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// Solves the definition's own output; `None` for an empty (scratch) definition. The
    /// result carries one reference, as with [`Solver::solve`].
    pub async fn solve_definition(
        &self,
        def: &Definition,
        progress: &ProgressSender,
    ) -> Result<Option<ResultRef>, SolveError> {
        match &def.output {
            None => Ok(None),
            Some(o) => {
                let mut v = self.solve(def, std::slice::from_ref(o), progress).await?;
                Ok(v.pop())
            }
        }
    }
}

/// One solve's view of the shared entries; unsubscribes its progress when dropped.
struct Job {
    id: u64,
    inner: Arc<Inner>,
    entries: HashMap<Digest, Arc<Entry>>,
}

impl Job {
    fn new(
        inner: &Arc<Inner>,
        def: &Definition,
        progress: &ProgressSender,
    ) -> Result<Job, SolveError> {
        let mut job = Job {
            id: inner.next_job.fetch_add(1, Ordering::Relaxed),
            inner: inner.clone(),
            entries: HashMap::with_capacity(def.vertices.len()),
        };
        for v in &def.vertices {
            let meta = def.metadata.get(&v.digest).cloned().unwrap_or_default();
            let id = EntryId {
                digest: v.digest.clone(),
                ignore_cache: meta.ignore_cache,
            };
            let inputs = v
                .def
                .inputs
                .iter()
                .map(|i| {
                    job.entries.get(&i.digest).cloned().ok_or_else(|| {
                        SolveError::InvalidDefinition {
                            vertex: v.digest.clone(),
                            input: i.digest.clone(),
                        }
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let entry = {
                let mut map = lock(&inner.entries);
                match map.get(&id).and_then(Weak::upgrade) {
                    Some(e) => e,
                    None => {
                        let progress = VertexProgress::new(
                            v.digest.to_string(),
                            meta.name.clone(),
                            v.def.inputs.iter().map(|i| i.digest.to_string()).collect(),
                            inner.opts.clock.clone(),
                        );
                        let e = Arc::new(Entry {
                            node: Arc::new(Node {
                                digest: v.digest.clone(),
                                def: Arc::new(v.def.clone()),
                                meta: Arc::new(meta),
                                ignore_cache: id.ignore_cache,
                                inputs,
                                progress: Arc::new(progress),
                            }),
                            key: OnceLock::new(),
                            result: OnceLock::new(),
                        });
                        map.insert(id, Arc::downgrade(&e));
                        e
                    }
                }
            };
            entry.node.progress.subscribe(job.id, progress);
            job.entries.insert(v.digest.clone(), entry);
        }
        Ok(job)
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        for e in self.entries.values() {
            e.node.progress.unsubscribe(self.id);
        }
        self.entries.clear();
        lock(&self.inner.entries).retain(|_, w| w.strong_count() > 0);
    }
}

impl Entry {
    /// The key task, spawned on first use.
    fn key(&self, inner: &Arc<Inner>) -> SharedTask<Keyed> {
        self.key
            .get_or_init(|| {
                spawn_shared(
                    label(&self.node.digest, &self.node.meta),
                    compute_key(inner.clone(), self.node.clone()),
                )
            })
            .clone()
    }

    /// The result task, spawned on first use.
    fn result(&self, inner: &Arc<Inner>) -> SharedTask<Arc<Results>> {
        self.result
            .get_or_init(|| {
                let key = self.key(inner);
                spawn_shared(
                    label(&self.node.digest, &self.node.meta),
                    resolve_result(inner.clone(), self.node.clone(), key),
                )
            })
            .clone()
    }
}

impl Node {
    fn context(&self, inner: &Inner, progress: ProgressSender) -> OpContext {
        OpContext {
            digest: self.digest.clone(),
            def: self.def.clone(),
            meta: self.meta.clone(),
            progress,
            clock: inner.opts.clock.clone(),
        }
    }

    fn label(&self) -> String {
        label(&self.digest, &self.meta)
    }

    /// A vertex error, also published as the vertex's failure.
    fn fail(
        &self,
        started: SystemTime,
        phase: Phase,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> SolveError {
        let err = SolveError::vertex(&self.digest, &self.meta, phase, cause);
        let text = match &err {
            SolveError::Vertex { cause, .. } => cause.to_string(),
            other => other.to_string(),
        };
        self.progress.failed(started, text);
        err
    }

    fn broken_worker(&self, started: SystemTime, message: String) -> SolveError {
        self.progress.failed(started, message.clone());
        SolveError::Worker {
            name: self.label(),
            message,
        }
    }
}

/// The key task of `node`.
async fn compute_key(inner: Arc<Inner>, node: Arc<Node>) -> Result<Keyed, SolveError> {
    let started = node.progress.now();
    let handler = inner
        .worker
        .handler(&node.digest, &node.def)
        .map_err(|e| node.fail(started, Phase::Handler, e))?;
    // Start the inputs' keys now: sources resolve in parallel with this op's cache map.
    let pending: Vec<SharedTask<Keyed>> = node.inputs.iter().map(|e| e.key(&inner)).collect();
    let cache_map = {
        let (tx, forwarder) = node.progress.sender();
        let ctx = node.context(&inner, tx);
        let cache_map = handler.cache_map(&ctx).await;
        drop(ctx);
        forwarder.flush().await;
        cache_map.map_err(|e| node.fail(started, Phase::CacheMap, e))?
    };
    if cache_map.deps.len() != node.def.inputs.len() {
        return Err(node.broken_worker(
            started,
            format!(
                "cache map has {} dependencies for {} inputs",
                cache_map.deps.len(),
                node.def.inputs.len()
            ),
        ));
    }
    let parts = node
        .inputs
        .iter()
        .zip(&node.def.inputs)
        .zip(&cache_map.deps)
        .zip(pending)
        .enumerate()
        .map(|(i, (((entry, input), dep), pending))| {
            let inner = &inner;
            let node = &node;
            async move {
                let Some(selectors) = &dep.content else {
                    let k = pending.await?;
                    let part = KeyPart::Key {
                        key: k.key,
                        output: input.index,
                        selector: dep.selector.clone(),
                    };
                    return Ok((part, k.fresh));
                };
                let res = entry.result(inner).await?;
                let Some(r) = res.refs.get(input.index as usize) else {
                    return Err(node.broken_worker(
                        started,
                        format!("input {i} has no output {}", input.index),
                    ));
                };
                let checksum = inner
                    .worker
                    .content_checksum(r, selectors)
                    .await
                    .map_err(|e| node.fail(started, Phase::Checksum(i as u32), e))?;
                let part = KeyPart::Content {
                    checksum,
                    selectors: selectors.clone(),
                    selector: dep.selector.clone(),
                };
                Ok::<_, SolveError>((part, false))
            }
        });
    let parts = try_join_all(parts).await?;
    let fresh = inner.opts.no_cache || node.ignore_cache || parts.iter().any(|(_, f)| *f);
    let parts: Vec<KeyPart> = parts.into_iter().map(|(p, _)| p).collect();
    Ok(Keyed {
        key: CacheKey::compute(&cache_map, &parts),
        fresh,
        handler,
    })
}

/// The result task of `node`: waits for the key, then joins work in flight for the same key or
/// starts it.
async fn resolve_result(
    inner: Arc<Inner>,
    node: Arc<Node>,
    key: SharedTask<Keyed>,
) -> Result<Arc<Results>, SolveError> {
    let keyed = key.await?;
    let id = (keyed.key.clone(), !keyed.fresh);
    let (work, own) = {
        let mut map = lock(&inner.by_key);
        match map.get(&id).and_then(WeakShared::upgrade) {
            Some(work) => (work, false),
            None => {
                let work: SharedTask<Arc<Results>> = spawn_shared(
                    node.label(),
                    compute(inner.clone(), node.clone(), keyed, id.clone()),
                );
                if let Some(weak) = work.downgrade() {
                    map.insert(id, weak);
                }
                (work, true)
            }
        }
    };
    let res = work.await?;
    if !own {
        // Another vertex with the same key did the work.
        report_skipped(&node);
        node.progress.cached();
    }
    Ok(res)
}

/// Forgets the in-flight registration of a key when its work ends, however it ends.
struct InFlight {
    inner: Arc<Inner>,
    id: (CacheKey, bool),
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.inner.by_key).remove(&self.id);
    }
}

/// Reports a running op as canceled if its future is dropped before it finished.
struct Running {
    progress: Arc<VertexProgress>,
    started: SystemTime,
    done: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.done {
            self.progress
                .failed(self.started, "context canceled".to_string());
        }
    }
}

/// Loads the result of `keyed` from the cache or runs the op.
async fn compute(
    inner: Arc<Inner>,
    node: Arc<Node>,
    keyed: Keyed,
    id: (CacheKey, bool),
) -> Result<Arc<Results>, SolveError> {
    let _in_flight = InFlight {
        inner: inner.clone(),
        id,
    };
    if !keyed.fresh {
        let started = node.progress.now();
        let record = inner
            .cache
            .load(&keyed.key)
            .await
            .map_err(|e| node.fail(started, Phase::CacheLoad, e))?;
        if let Some(res) = record.and_then(|r| take_record(&inner, &node, r)) {
            report_skipped(&node);
            node.progress.cached();
            return Ok(res);
        }
    }

    let inputs = try_join_all(node.inputs.iter().map(|e| e.result(&inner))).await?;
    let mut refs = Vec::with_capacity(inputs.len());
    for (input, res) in node.def.inputs.iter().zip(&inputs) {
        match res.refs.get(input.index as usize) {
            Some(r) => refs.push(r.clone()),
            None => {
                let now = node.progress.now();
                return Err(node.broken_worker(
                    now,
                    format!("input {} has no output {}", input.digest, input.index),
                ));
            }
        }
    }

    let permit = inner
        .permits
        .acquire()
        .await
        .map_err(|e| SolveError::Internal {
            name: node.label(),
            message: e.to_string(),
        })?;
    let started = node.progress.now();
    node.progress
        .publish_vertex(node.progress.record(Some(started), None, false, None));
    let mut running = Running {
        progress: node.progress.clone(),
        started,
        done: false,
    };
    let (tx, forwarder) = node.progress.sender();
    let ctx = node.context(&inner, tx);
    let outcome = keyed.handler.exec(&ctx, refs).await;
    drop(permit);
    drop(ctx);
    // The op's output is published before the vertex is reported done.
    forwarder.flush().await;
    running.done = true;
    let outs = match outcome {
        Ok(outs) => outs,
        Err(e) => return Err(node.fail(started, Phase::Exec, e)),
    };
    let res = Arc::new(Results {
        refs: outs,
        worker: inner.worker.clone(),
    });
    let expected = node.def.op.output_count() as usize;
    if res.refs.len() != expected {
        return Err(node.broken_worker(
            started,
            format!(
                "op returned {} results for {expected} outputs",
                res.refs.len()
            ),
        ));
    }
    let record = CacheRecord {
        results: res.refs.clone(),
    };
    inner
        .cache
        .save(&keyed.key, &record)
        .await
        .map_err(|e| node.fail(started, Phase::CacheSave, e))?;
    node.progress.publish_vertex(node.progress.record(
        Some(started),
        Some(node.progress.now()),
        false,
        None,
    ));
    Ok(res)
}

/// Takes references on a cache record's results; `None` (a miss) when the record does not
/// fit the op or its data is gone.
fn take_record(inner: &Inner, node: &Node, record: CacheRecord) -> Option<Arc<Results>> {
    if record.results.len() != node.def.op.output_count() as usize {
        return None;
    }
    for (i, r) in record.results.iter().enumerate() {
        if inner.worker.retain(r).is_err() {
            for taken in &record.results[..i] {
                inner.worker.release(taken);
            }
            return None;
        }
    }
    Some(Arc::new(Results {
        refs: record.results,
        worker: inner.worker.clone(),
    }))
}

/// Reports as cached the vertices below `node` that its cache hit made unnecessary (never
/// started, never reported), inputs first.
fn report_skipped(node: &Node) {
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let mut stack: Vec<(Arc<Entry>, bool)> = node
        .inputs
        .iter()
        .rev()
        .map(|e| (e.clone(), false))
        .collect();
    while let Some((entry, expanded)) = stack.pop() {
        if expanded {
            order.push(entry);
            continue;
        }
        if entry.result.get().is_some()
            || entry.node.progress.reported()
            || !seen.insert(entry.node.digest.clone())
        {
            continue;
        }
        stack.push((entry.clone(), true));
        for input in entry.node.inputs.iter().rev() {
            stack.push((input.clone(), false));
        }
    }
    for entry in order {
        entry.node.progress.cached();
    }
}
