//! Solver behaviour against a fake worker: caching, laziness, dedupe, parallelism, failures,
//! progress and reference counting.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use kiln_graph::{Definition, OutputRef, State, VertexMeta};
use kiln_progress::SolveStatus;
use kiln_solver::{
    CacheStore, MemoryCacheStore, Phase, ResultRef, ResultRefs, SolveError, Solver, SolverOptions,
};

struct Env {
    worker: Arc<FakeWorker>,
    cache: Arc<MemoryCacheStore>,
}

impl Env {
    fn new() -> Env {
        Env {
            worker: worker(),
            cache: Arc::new(MemoryCacheStore::new()),
        }
    }

    fn solver(&self, opts: SolverOptions) -> Solver {
        Solver::new(self.worker.clone(), self.cache.clone(), opts)
    }

    /// Solves `outputs` of `def` with a fresh solver; returns the results (released) and the
    /// progress.
    async fn solve_with(
        &self,
        opts: SolverOptions,
        def: &Definition,
        outputs: &[OutputRef],
    ) -> (Result<Vec<ResultRef>, SolveError>, Vec<SolveStatus>) {
        let solver = self.solver(opts);
        let (tx, rx) = kiln_progress::channel();
        let res = solver.solve(def, outputs, &tx).await;
        drop(tx);
        let progress = collect(rx).await;
        (res, progress)
    }

    async fn solve(&self, st: &State) -> (Vec<common::Files>, Vec<SolveStatus>) {
        let (res, progress) = self
            .solve_with(SolverOptions::default(), &st.definition(), &[out(st)])
            .await;
        let refs = res.unwrap();
        let files = refs.iter().map(|r| self.worker.files(r)).collect();
        for r in &refs {
            self.worker.release(r);
        }
        (files, progress)
    }

    fn assert_no_leaks(&self) {
        assert_eq!(self.worker.live_refs(), Vec::<(String, i64)>::new());
    }
}

fn app() -> State {
    let base = run(
        &image("busybox"),
        "apk add make",
        "[build 2/4] RUN apk add make",
    );
    let src = copy(&base, &context(), "/a.txt", "[build 3/4] COPY a.txt /app/");
    run(&src, "make", "[build 4/4] RUN make")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_solve_executes_nothing_and_reports_every_step_cached() {
    let env = Env::new();
    let (first, progress) = env.solve(&app()).await;
    assert_eq!(
        first[0].get("/log").map(String::as_str),
        Some("apk add make\nmake\n")
    );
    assert_eq!(first[0].get("/app/a.txt").map(String::as_str), Some("a"));
    assert_eq!(env.worker.take_execs().len(), 5);
    let done = final_vertices(&progress);
    assert!(
        done.values()
            .all(|v| !v.cached && v.completed.is_some() && v.error.is_none())
    );

    let (second, progress) = env.solve(&app()).await;
    assert_eq!(second, first);
    // Only the context is read again (BuildKit's `[internal] load build context`).
    assert_eq!(
        env.worker.take_execs(),
        vec!["[internal] load build context".to_string()]
    );
    let done = final_vertices(&progress);
    assert_eq!(done.len(), 5, "{done:#?}");
    for (name, v) in &done {
        if name != "[internal] load build context" {
            assert!(v.cached, "{name} not reported cached");
            assert!(v.completed.is_some());
        }
    }
    env.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_all_cached_chain_loads_only_the_top_result() {
    let env = Env::new();
    let st = run(&run(&image("busybox"), "one", "one"), "two", "two");
    env.solve(&st).await;
    env.worker.take_execs();
    let (_, progress) = env.solve(&st).await;
    assert!(env.worker.take_execs().is_empty());
    // Every vertex is reported cached in step order (inputs first, as BuildKit prints them),
    // the lower ones without being loaded.
    let names: Vec<String> = progress
        .iter()
        .flat_map(|s| s.vertexes.iter().map(|v| v.name.clone()))
        .collect();
    assert_eq!(names, ["FROM busybox", "one", "two"].map(String::from));
    env.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_one_source_reruns_only_its_dependents() {
    let env = Env::new();
    let a = run(&image("busybox"), "build-a", "a");
    let b = run(&image("alpine"), "build-b", "b");
    let both = State::merge(&[a, b], VertexMeta::named("merge"));
    env.solve(&both).await;
    assert_eq!(env.worker.take_execs().len(), 5);

    env.worker.set_image(
        "busybox",
        "busybox-v2",
        common::Files::from([("/etc/busybox".into(), "2".into())]),
    );
    let (files, _) = env.solve(&both).await;
    let mut execs = env.worker.take_execs();
    execs.sort();
    assert_eq!(execs, ["FROM busybox", "a", "merge"].map(String::from));
    assert_eq!(files[0]["/etc/busybox"], "2");
    env.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_change_outside_the_selection_reruns_nothing() {
    let env = Env::new();
    env.solve(&app()).await;
    env.worker.take_execs();

    env.worker.set_context_file("/b.txt", "changed");
    env.solve(&app()).await;
    assert_eq!(
        env.worker.take_execs(),
        vec!["[internal] load build context".to_string()]
    );

    env.worker.set_context_file("/a.txt", "changed");
    let (files, _) = env.solve(&app()).await;
    let mut execs = env.worker.take_execs();
    execs.sort();
    assert_eq!(
        execs,
        [
            "[build 3/4] COPY a.txt /app/",
            "[build 4/4] RUN make",
            "[internal] load build context"
        ]
        .map(String::from)
    );
    assert_eq!(files[0]["/app/a.txt"], "changed");
    env.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_vertices_run_once_across_outputs_and_concurrent_solves() {
    let env = Env::new();
    let shared = run(&image("busybox"), "sleep:50 shared", "shared");
    let x = run(&shared, "x", "x");
    let y = run(&shared, "y", "y");
    let def = def_of(&[x.clone(), y.clone()]);
    let solver = Arc::new(env.solver(SolverOptions::default()));
    let mut tasks = Vec::new();
    for outputs in [
        vec![out(&x), out(&y)],
        vec![out(&y)],
        vec![out(&x), out(&x)],
    ] {
        let solver = solver.clone();
        let def = def.clone();
        tasks.push(tokio::spawn(async move {
            let (tx, _rx) = kiln_progress::channel();
            solver.solve(&def, &outputs, &tx).await
        }));
    }
    for t in tasks {
        for r in t.await.unwrap().unwrap() {
            env.worker.release(&r);
        }
    }
    let mut execs = env.worker.take_execs();
    execs.sort();
    // The merge vertex of the definition is not needed by any output: never run.
    assert_eq!(
        execs,
        ["FROM busybox", "shared", "x", "y"].map(String::from)
    );
    env.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vertices_with_equal_cache_keys_run_once() {
    // Two local sources with different names (different digests) and the same content feed
    // identical COPYs: the COPYs have the same cache key through the content checksum.
    let env = Env::new();
    let ctx2 = State::local(
        "other",
        &kiln_graph::LocalOpts::default(),
        VertexMeta::named("other context"),
    );
    let base = image("busybox");
    let one = run(
        &copy(&base, &context(), "/a.txt", "copy 1"),
        "sleep:30 x",
        "x1",
    );
    let two = run(&copy(&base, &ctx2, "/a.txt", "copy 2"), "sleep:30 x", "x2");
    assert_ne!(out(&one), out(&two));
    let def = def_of(&[one.clone(), two.clone()]);
    let (res, _) = env
        .solve_with(SolverOptions::default(), &def, &[out(&one), out(&two)])
        .await;
    for r in res.unwrap() {
        env.worker.release(&r);
    }
    let execs = env.worker.take_execs();
    let runs = execs.iter().filter(|n| n.starts_with('x')).count();
    assert_eq!(runs, 1, "{execs:?}");
    env.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallelism_is_bounded_and_independent_vertices_overlap() {
    let env = Env::new();
    let base = image("busybox");
    let steps: Vec<State> = (0..6)
        .map(|i| run(&base, &format!("sleep:60 step{i}"), &format!("step {i}")))
        .collect();
    let def = def_of(&steps);
    let outputs: Vec<OutputRef> = steps.iter().map(out).collect();
    let opts = SolverOptions {
        max_parallelism: 2,
        ..SolverOptions::default()
    };
    let t0 = Instant::now();
    let (res, _) = env.solve_with(opts, &def, &outputs).await;
    let elapsed = t0.elapsed();
    for r in res.unwrap() {
        env.worker.release(&r);
    }
    // Never more than the limit, and the limit reached: independent steps overlap.
    assert_eq!(env.worker.max_running.load(Ordering::SeqCst), 2);
    // 6 steps of 60 ms two at a time take about 180 ms; one at a time would take 360 ms.
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    env.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_names_the_vertex_and_cancels_the_rest() {
    let env = Env::new();
    let base = image("busybox");
    let slow = run(&base, "sleep:10000 slow", "[a 2/2] RUN slow");
    let mut meta = VertexMeta::named("[b 2/2] RUN fail");
    meta.locations = vec![kiln_graph::LineRange { start: 7, end: 7 }];
    let failing = base
        .run(kiln_graph::Run {
            args: vec!["/bin/sh".into(), "-c".into(), "sleep:20 fail".into()],
            meta,
            ..kiln_graph::Run::default()
        })
        .root();
    let after = run(&failing, "never", "[b 3/3] RUN never");
    let def = def_of(&[slow.clone(), after.clone()]);
    let t0 = Instant::now();
    let (res, progress) = env
        .solve_with(SolverOptions::default(), &def, &[out(&slow), out(&after)])
        .await;
    assert!(t0.elapsed() < Duration::from_secs(5));
    let err = res.unwrap_err();
    assert_eq!(
        err.to_string(),
        "process \"/bin/sh -c sleep:20 fail\" did not complete successfully: exit code: 3"
    );
    assert!(matches!(
        err,
        SolveError::Vertex {
            phase: Phase::Exec,
            ..
        }
    ));
    let meta = err.vertex_meta().unwrap();
    assert_eq!(meta.name, "[b 2/2] RUN fail");
    assert_eq!(meta.locations[0].start, 7);
    assert_eq!(err.vertex_digest(), Some(&out(&failing).digest));

    // The failure is on the vertex; its output came before it.
    let done = final_vertices(&progress);
    assert!(
        done["[b 2/2] RUN fail"]
            .error
            .as_deref()
            .unwrap()
            .contains("exit code: 3")
    );
    let logs: Vec<u8> = progress
        .iter()
        .flat_map(|s| s.logs.iter())
        .flat_map(|l| l.data.clone())
        .collect();
    assert_eq!(logs, b"boom\n");
    assert!(!done.contains_key("[b 3/3] RUN never"));

    // The slow step is cancelled, not finished.
    let deadline = Instant::now() + Duration::from_secs(2);
    while env.worker.cancelled.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(env.worker.cancelled.load(Ordering::SeqCst), 1);
    let execs = env.worker.take_execs();
    assert!(
        !execs.contains(&"[b 3/3] RUN never".to_string()),
        "{execs:?}"
    );
    // The cancelled step releases its inputs as it unwinds, which may be a moment after the
    // solve has returned: wait for it (a real leak still fails after the deadline).
    let deadline = Instant::now() + Duration::from_secs(5);
    while !env.worker.live_refs().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    env.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_errors_name_the_source() {
    let env = Env::new();
    let st = run(&image("missing"), "x", "x");
    let (res, progress) = env
        .solve_with(SolverOptions::default(), &st.definition(), &[out(&st)])
        .await;
    let err = res.unwrap_err();
    assert_eq!(
        err.to_string(),
        "computing the cache key of FROM missing: docker.io/library/missing:latest: not found"
    );
    let done = final_vertices(&progress);
    assert!(done["FROM missing"].error.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cache_reruns_everything_and_still_saves() {
    let env = Env::new();
    env.solve(&app()).await;
    env.worker.take_execs();
    let saved = env.cache.len();
    let opts = SolverOptions {
        no_cache: true,
        ..SolverOptions::default()
    };
    let (res, progress) = env
        .solve_with(opts, &app().definition(), &[out(&app())])
        .await;
    for r in res.unwrap() {
        env.worker.release(&r);
    }
    assert_eq!(env.worker.take_execs().len(), 5);
    assert!(final_vertices(&progress).values().all(|v| !v.cached));
    // Same keys (the content did not change): records replaced; only the context, keyed by
    // its session as in BuildKit, adds one.
    assert_eq!(env.cache.len(), saved + 1);
    env.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_cache_reruns_the_vertex_and_what_depends_on_its_key() {
    let env = Env::new();
    let build = |ignore: bool| {
        let mut meta = VertexMeta::named("[build 2/3] RUN gen");
        meta.ignore_cache = ignore;
        let gen_ = image("busybox")
            .run(kiln_graph::Run {
                args: vec!["/bin/sh".into(), "-c".into(), "gen".into()],
                meta,
                ..kiln_graph::Run::default()
            })
            .root();
        let next = run(&gen_, "next", "[build 3/3] RUN next");
        // A later stage copies a file of the regenerated one by content.
        let final_ = copy(
            &image("alpine"),
            &gen_,
            "/etc",
            "[final 2/2] COPY --from=build /etc /app/",
        );
        State::merge(&[next, final_], VertexMeta::named("merge"))
    };
    env.solve(&build(false)).await;
    env.worker.take_execs();
    env.solve(&build(true)).await;
    let mut execs = env.worker.take_execs();
    execs.sort();
    // The COPY reads the regenerated content, which did not change: it stays cached, and
    // so does nothing above it but the merge of the re-run step.
    assert_eq!(
        execs,
        ["[build 2/3] RUN gen", "[build 3/3] RUN next", "merge"].map(String::from)
    );
    env.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_cache_records_are_misses() {
    let env = Env::new();
    let st = run(&image("busybox"), "x", "x");
    env.solve(&st).await;
    env.worker.take_execs();
    // Point every record at a snapshot that no longer exists.
    for key in env.cache.keys() {
        let record = kiln_solver::CacheRecord {
            results: vec![ResultRef::new("gone")],
        };
        env.cache.save(&key, &record).await.unwrap();
    }
    env.solve(&st).await;
    assert_eq!(env.worker.take_execs().len(), 2);
    env.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_keys_are_deterministic() {
    let env = Env::new();
    env.solve(&run(&image("busybox"), "x", "x")).await;
    let keys: Vec<String> = env.cache.keys().iter().map(|k| k.to_string()).collect();
    assert_eq!(keys, GOLDEN_KEYS);
    // A second cache from a second solver over a second worker: the same keys.
    let other = Env::new();
    other.solve(&run(&image("busybox"), "x", "x")).await;
    assert_eq!(other.cache.keys(), env.cache.keys());
}

/// The keys of `FROM busybox` + `RUN x` with the fake worker's cache maps. A change here
/// invalidates every user's cache: only on purpose, with a note.
const GOLDEN_KEYS: [&str; 2] = [
    "sha256:58fa2aecdb0b4a4bf97f9d7d520bc39309982e59c91bdc9a56611d15166a6875",
    "sha256:c41cfc2b7e6c4dcc9a23bc61ca0b891ddc77cc88997d071e2f2c5b18b4083cc0",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_outputs_are_rejected() {
    let env = Env::new();
    let st = run(&image("busybox"), "x", "x");
    let bad = OutputRef {
        digest: out(&st).digest,
        index: 3,
    };
    let (res, _) = env
        .solve_with(SolverOptions::default(), &st.definition(), &[bad])
        .await;
    assert!(matches!(
        res,
        Err(SolveError::MissingOutput { index: 3, .. })
    ));
    let other = run(&image("alpine"), "y", "y");
    let (res, _) = env
        .solve_with(SolverOptions::default(), &st.definition(), &[out(&other)])
        .await;
    assert!(matches!(res, Err(SolveError::MissingOutput { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_graphs_solve_without_recursion() {
    let env = Env::new();
    let mut st = image("busybox");
    for i in 0..3000 {
        st = run(&st, &format!("s{i}"), &format!("step {i}"));
    }
    let (files, _) = env.solve(&st).await;
    assert_eq!(files[0]["/log"].lines().count(), 3000);
    env.worker.take_execs();
    env.solve(&st).await;
    assert!(env.worker.take_execs().is_empty());
    env.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_vertex_reports_to_every_build_waiting_on_it() {
    let env = Env::new();
    let st = run(&image("busybox"), "sleep:100 log", "[1/2] RUN build");
    let def = st.definition();
    let solver = Arc::new(env.solver(SolverOptions::default()));
    let mut tasks = Vec::new();
    for delay in [0, 30] {
        let solver = solver.clone();
        let def = def.clone();
        let output = out(&st);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let (tx, rx) = kiln_progress::channel();
            let res = solver.solve(&def, &[output], &tx).await;
            drop(tx);
            (res, collect(rx).await)
        }));
    }
    for t in tasks {
        let (res, progress) = t.await.unwrap();
        for r in res.unwrap() {
            env.worker.release(&r);
        }
        let done = final_vertices(&progress);
        let v = &done["[1/2] RUN build"];
        assert!(v.completed.is_some() && !v.cached && v.error.is_none());
        let logs: Vec<u8> = progress
            .iter()
            .flat_map(|s| s.logs.iter())
            .flat_map(|l| l.data.clone())
            .collect();
        assert_eq!(logs, b"hello\n");
    }
    assert_eq!(env.worker.take_execs().len(), 2);
    env.assert_no_leaks();
}

#[tokio::test(flavor = "current_thread")]
async fn works_on_a_single_threaded_runtime() {
    let env = Env::new();
    env.solve(&app()).await;
    env.solve(&app()).await;
    assert_eq!(env.worker.take_execs().len(), 6);
    env.assert_no_leaks();
}

/// A cache store whose reads or writes fail.
#[derive(Debug)]
struct BrokenStore {
    load_fails: bool,
}

impl CacheStore for BrokenStore {
    fn load<'a>(
        &'a self,
        _key: &'a kiln_solver::CacheKey,
    ) -> kiln_solver::BoxFuture<'a, Result<Option<kiln_solver::CacheRecord>, kiln_solver::BoxError>>
    {
        let fails = self.load_fails;
        Box::pin(async move {
            if fails {
                Err("meta.db: database is corrupt: run kiln prune --all".into())
            } else {
                Ok(None)
            }
        })
    }

    fn save<'a>(
        &'a self,
        _key: &'a kiln_solver::CacheKey,
        _record: &'a kiln_solver::CacheRecord,
    ) -> kiln_solver::BoxFuture<'a, Result<(), kiln_solver::BoxError>> {
        Box::pin(async { Err("meta.db: no space left on device".into()) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_store_errors_fail_the_vertex_cleanly() {
    for load_fails in [true, false] {
        let worker = worker();
        let solver = Solver::new(
            worker.clone(),
            Arc::new(BrokenStore { load_fails }),
            SolverOptions::default(),
        );
        let st = run(&image("busybox"), "x", "x");
        let (tx, _rx) = kiln_progress::channel();
        let err = solver
            .solve(&st.definition(), &[out(&st)], &tx)
            .await
            .unwrap_err();
        let expected = if load_fails {
            "loading the cache record of x: meta.db: database is corrupt: run kiln prune --all"
        } else {
            "saving the cache record of FROM busybox: meta.db: no space left on device"
        };
        assert_eq!(err.to_string(), expected);
        drop(solver);
        assert_eq!(worker.live_refs(), Vec::<(String, i64)>::new());
    }
}
