//! A fake worker for solver tests: in-memory file trees as results, reference counts,
//! execution counters, and RUN commands that sleep, fail or hang on request.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_graph::op::{FileAction, FileOp, SourceOp, scheme};
use kiln_graph::{
    Definition, Digest, FileActions, LocalOpts, Op, OutputRef, Run, State, VertexDef, VertexMeta,
    op::CopyAction,
};
use kiln_platforms::Platform;
use kiln_progress::{ProgressReceiver, SolveStatus, Vertex};
use kiln_solver::{
    BoxError, BoxFuture, CacheMap, ContentHasher, ContentSelector, DepCacheMap, OpContext,
    OpHandler, OpResolver, ResultRef, ResultRefs,
};

pub type Files = BTreeMap<String, String>;

#[derive(Debug, Default)]
pub struct State_ {
    /// Image reference → (manifest digest, files).
    pub images: HashMap<String, (String, Files)>,
    /// The local context.
    pub context: Files,
    snapshots: HashMap<String, Files>,
    pub refs: HashMap<String, i64>,
    next: u64,
    /// Names of the vertices executed, in order.
    pub execs: Vec<String>,
    sessions: u64,
}

#[derive(Debug, Default)]
pub struct FakeWorker {
    me: std::sync::Weak<FakeWorker>,
    pub state: Mutex<State_>,
    pub running: AtomicUsize,
    pub max_running: AtomicUsize,
    pub cancelled: AtomicUsize,
    pub checksums: AtomicUsize,
}

impl FakeWorker {
    pub fn new() -> Arc<FakeWorker> {
        let w = FakeWorker::default();
        let w = Arc::new_cyclic(|me| FakeWorker {
            me: me.clone(),
            ..w
        });
        {
            let mut st = w.state.lock().unwrap();
            for name in ["busybox", "alpine"] {
                st.images.insert(
                    image_ref(name),
                    (
                        format!("{name}-v1"),
                        Files::from([(format!("/etc/{name}"), "1".to_string())]),
                    ),
                );
            }
            st.context = Files::from([
                ("/a.txt".to_string(), "a".to_string()),
                ("/b.txt".to_string(), "b".to_string()),
            ]);
        }
        w
    }

    /// Sets an image's content (a new manifest digest).
    pub fn set_image(&self, name: &str, manifest: &str, files: Files) {
        self.state
            .lock()
            .unwrap()
            .images
            .insert(image_ref(name), (manifest.to_string(), files));
    }

    pub fn set_context_file(&self, path: &str, content: &str) {
        self.state
            .lock()
            .unwrap()
            .context
            .insert(path.to_string(), content.to_string());
    }

    /// Takes the list of executed vertex names.
    pub fn take_execs(&self) -> Vec<String> {
        std::mem::take(&mut self.state.lock().unwrap().execs)
    }

    pub fn files(&self, r: &ResultRef) -> Files {
        self.state.lock().unwrap().snapshots[&r.id].clone()
    }

    /// Results with references still held.
    pub fn live_refs(&self) -> Vec<(String, i64)> {
        let st = self.state.lock().unwrap();
        let mut v: Vec<_> = st
            .refs
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|(k, n)| (k.clone(), *n))
            .collect();
        v.sort();
        v
    }

    fn new_ref(&self, files: Files) -> ResultRef {
        let mut st = self.state.lock().unwrap();
        st.next += 1;
        let id = format!("snap-{}", st.next);
        st.snapshots.insert(id.clone(), files);
        st.refs.insert(id.clone(), 1);
        ResultRef::new(id)
    }
}

pub fn image_ref(name: &str) -> String {
    format!("docker.io/library/{name}:latest")
}

impl ResultRefs for FakeWorker {
    fn retain(&self, r: &ResultRef) -> Result<(), BoxError> {
        let mut st = self.state.lock().unwrap();
        if !st.snapshots.contains_key(&r.id) {
            return Err(format!("snapshot {} is gone", r.id).into());
        }
        *st.refs.entry(r.id.clone()).or_default() += 1;
        Ok(())
    }

    fn release(&self, r: &ResultRef) {
        let mut st = self.state.lock().unwrap();
        let n = st.refs.entry(r.id.clone()).or_default();
        *n -= 1;
        assert!(*n >= 0, "{} released more often than retained", r.id);
    }
}

impl ContentHasher for FakeWorker {
    fn content_checksum<'a>(
        &'a self,
        r: &'a ResultRef,
        selectors: &'a [ContentSelector],
    ) -> BoxFuture<'a, Result<Digest, BoxError>> {
        self.checksums.fetch_add(1, Ordering::SeqCst);
        let files = self.files(r);
        let selected: Vec<(&String, &String)> = files
            .iter()
            .filter(|(p, _)| {
                selectors.iter().any(|s| {
                    s.path == "/" || *p == &s.path || p.starts_with(&format!("{}/", s.path))
                })
            })
            .collect();
        let d = Digest::of(&serde_json::to_vec(&selected).unwrap());
        Box::pin(async move { Ok(d) })
    }
}

impl OpResolver for FakeWorker {
    fn handler(&self, _digest: &Digest, def: &VertexDef) -> Result<Arc<dyn OpHandler>, BoxError> {
        if let Op::Source(s) = &def.op {
            if s.identifier.starts_with("unsupported://") {
                return Err("unsupported source scheme".into());
            }
        }
        Ok(Arc::new(FakeHandler {
            worker: self.me.upgrade().ok_or("worker gone")?,
            resolved: Mutex::new(None),
        }))
    }
}

pub struct FakeHandler {
    worker: Arc<FakeWorker>,
    resolved: Mutex<Option<(String, Files)>>,
}

fn worker_of(h: &FakeHandler) -> &FakeWorker {
    &h.worker
}

/// A fake worker (with two images and a context holding /a.txt and /b.txt).
pub fn worker() -> Arc<FakeWorker> {
    FakeWorker::new()
}

fn cmd_of(def: &VertexDef) -> String {
    match &def.op {
        Op::Exec(e) => e.meta.args.last().cloned().unwrap_or_default(),
        _ => String::new(),
    }
}

struct RunningGuard<'a> {
    w: &'a FakeWorker,
    done: bool,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.w.running.fetch_sub(1, Ordering::SeqCst);
        if !self.done {
            self.w.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl OpHandler for FakeHandler {
    fn cache_map<'a>(&'a self, ctx: &'a OpContext) -> BoxFuture<'a, Result<CacheMap, BoxError>> {
        Box::pin(async move {
            let w = worker_of(self);
            let def = &ctx.def;
            let own = |extra: &str| {
                Digest::of(&serde_json::to_vec(&(&def.op, &def.platform, extra)).unwrap())
            };
            let key_deps = |n: usize| vec![DepCacheMap::default(); n];
            match &def.op {
                Op::Source(SourceOp { identifier, .. }) => {
                    if let Some(r) = identifier.strip_prefix(scheme::DOCKER_IMAGE) {
                        let found = w.state.lock().unwrap().images.get(r).cloned();
                        let Some((manifest, files)) = found else {
                            return Err(format!("{r}: not found").into());
                        };
                        *self.resolved.lock().unwrap() = Some((manifest.clone(), files));
                        Ok(CacheMap {
                            digest: own(&manifest),
                            deps: Vec::new(),
                        })
                    } else {
                        // Local sources: a new session each time, as BuildKit keys them.
                        let mut st = w.state.lock().unwrap();
                        st.sessions += 1;
                        let session = format!("session-{}", st.sessions);
                        *self.resolved.lock().unwrap() =
                            Some((session.clone(), st.context.clone()));
                        Ok(CacheMap {
                            digest: own(&session),
                            deps: Vec::new(),
                        })
                    }
                }
                Op::File(FileOp { base, actions }) => {
                    let mut deps = key_deps(def.inputs.len());
                    for a in actions {
                        if let FileAction::Copy(c) = a {
                            if let Some(src) = c.src {
                                if Some(src) != *base {
                                    deps[src as usize]
                                        .content
                                        .get_or_insert_with(Vec::new)
                                        .push(ContentSelector {
                                            path: c.src_path.clone(),
                                            ..ContentSelector::default()
                                        });
                                }
                            }
                        }
                    }
                    Ok(CacheMap {
                        digest: own(""),
                        deps,
                    })
                }
                _ => Ok(CacheMap {
                    digest: own(""),
                    deps: key_deps(def.inputs.len()),
                }),
            }
        })
    }

    fn exec<'a>(
        &'a self,
        ctx: &'a OpContext,
        inputs: Vec<ResultRef>,
    ) -> BoxFuture<'a, Result<Vec<ResultRef>, BoxError>> {
        Box::pin(async move {
            let w = worker_of(self);
            let now = w.running.fetch_add(1, Ordering::SeqCst) + 1;
            w.max_running.fetch_max(now, Ordering::SeqCst);
            let mut guard = RunningGuard { w, done: false };
            w.state.lock().unwrap().execs.push(ctx.meta.name.clone());
            let def = &ctx.def;
            let cmd = cmd_of(def);
            for word in cmd.split_whitespace() {
                if let Some(ms) = word.strip_prefix("sleep:") {
                    tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
                }
                if word == "log" {
                    let mut out = ctx.log_writer(kiln_progress::STDOUT);
                    std::io::Write::write_all(&mut out, b"hello\n").unwrap();
                }
                if word == "fail" {
                    guard.done = true;
                    let mut out = ctx.log_writer(kiln_progress::STDERR);
                    std::io::Write::write_all(&mut out, b"boom\n").unwrap();
                    return Err(format!(
                        "process \"/bin/sh -c {cmd}\" did not complete successfully: exit code: 3"
                    )
                    .into());
                }
            }
            let input_files: Vec<Files> = inputs.iter().map(|r| w.files(r)).collect();
            let out = match &def.op {
                Op::Source(_) => self.resolved.lock().unwrap().clone().unwrap().1,
                Op::Exec(_) => {
                    let mut f = input_files.first().cloned().unwrap_or_default();
                    let log = f.entry("/log".to_string()).or_default();
                    log.push_str(&cmd);
                    log.push('\n');
                    f
                }
                Op::File(FileOp { base, actions }) => {
                    let mut f = base
                        .map(|b| input_files[b as usize].clone())
                        .unwrap_or_default();
                    for a in actions {
                        if let FileAction::Copy(c) = a {
                            let src = c
                                .src
                                .map(|s| input_files[s as usize].clone())
                                .unwrap_or_default();
                            for (p, v) in src {
                                if p == c.src_path || p.starts_with(&format!("{}/", c.src_path)) {
                                    f.insert(format!("{}{}", c.dest.trim_end_matches('/'), p), v);
                                }
                            }
                        }
                    }
                    f
                }
                _ => {
                    let mut f = Files::new();
                    for i in input_files {
                        f.extend(i);
                    }
                    f
                }
            };
            guard.done = true;
            Ok(vec![w.new_ref(out)])
        })
    }
}

pub fn amd64() -> Platform {
    Platform::new("linux", "amd64")
}

pub fn image(name: &str) -> State {
    State::image(
        &image_ref(name),
        amd64(),
        VertexMeta::named(format!("FROM {name}")),
    )
}

pub fn context() -> State {
    State::local(
        "context",
        &LocalOpts::default(),
        VertexMeta::named("[internal] load build context"),
    )
}

pub fn run(st: &State, cmd: &str, name: &str) -> State {
    st.run(Run {
        args: vec!["/bin/sh".into(), "-c".into(), cmd.into()],
        meta: VertexMeta::named(name),
        ..Run::default()
    })
    .root()
}

pub fn copy(st: &State, from: &State, path: &str, name: &str) -> State {
    st.file(
        FileActions::new().copy(
            from,
            CopyAction {
                src_path: path.into(),
                dest: "/app/".into(),
                ..CopyAction::default()
            },
        ),
        VertexMeta::named(name),
    )
}

pub fn out(st: &State) -> OutputRef {
    st.output().unwrap().to_ref()
}

pub fn def_of(states: &[State]) -> Definition {
    if states.len() == 1 {
        return states[0].definition();
    }
    State::merge(states, VertexMeta::named("all")).definition()
}

/// Everything sent on the channel once every sender is gone (drop your own first).
pub async fn collect(mut rx: ProgressReceiver) -> Vec<SolveStatus> {
    let mut v = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(s)) => v.push(s),
            Ok(None) => return v,
            Err(_) => panic!("a progress sender was kept after the solve ended"),
        }
    }
}

/// Final state of each vertex (by name) from a list of statuses.
pub fn final_vertices(statuses: &[SolveStatus]) -> BTreeMap<String, Vertex> {
    let mut m = BTreeMap::new();
    for s in statuses {
        for v in &s.vertexes {
            m.insert(v.name.clone(), v.clone());
        }
    }
    m
}
