//! The builder on real components, as root: a local registry serving the recorded busybox as
//! `docker.io/library/busybox` (through a kiln.toml mirror), overlayfs snapshots, runc.
//! Skipped with a printed line when something is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use kiln_builder::{BuildRequest, Builder, WorkerConfig};
use kiln_exporter::{OutputKind, OutputOptions};
use kiln_progress::{SolveStatus, channel};
use kiln_testkit::images::{busybox_reference, or_skip, push_recorded_busybox, write_kiln_config};
use kiln_testkit::registry::{RegistryOptions, TestRegistry};
use kiln_testkit::say;

fn can_run(test: &str) -> bool {
    let why = if !rustix::process::geteuid().is_root() {
        Some("not running as root")
    } else if !Path::new("/usr/sbin/runc").exists() {
        Some("/usr/sbin/runc is missing")
    } else {
        None
    };
    if let Some(why) = why {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "{test}: {why}"
        );
        say(&format!("{test}: skipped ({why})"));
        return false;
    }
    true
}

/// Runs a build, returning its result and every progress event.
async fn build(
    builder: &Builder,
    req: BuildRequest,
) -> (
    Result<kiln_builder::BuildResult, kiln_builder::Error>,
    Vec<SolveStatus>,
) {
    let (tx, mut rx) = channel();
    let collect = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(s) = rx.recv().await {
            all.push(s);
        }
        all
    });
    let res = builder.build(req, &tx).await;
    drop(tx);
    (res, collect.await.unwrap())
}

/// Names of the steps that ran (completed, not cached) and that were cached.
fn steps(events: &[SolveStatus]) -> (Vec<String>, Vec<String>) {
    let mut ran = Vec::new();
    let mut cached = Vec::new();
    for s in events {
        for v in &s.vertexes {
            if !v.name.starts_with('[') || v.name.starts_with("[internal]") {
                continue;
            }
            if v.cached {
                cached.push(v.name.clone());
            } else if v.completed.is_some() && v.error.is_none() {
                ran.push(v.name.clone());
            }
        }
    }
    ran.sort();
    ran.dedup();
    cached.sort();
    cached.dedup();
    (ran, cached)
}

fn oci_output(dest: &Path) -> OutputOptions {
    let dest = dest.to_str().unwrap();
    OutputOptions::from_attrs(OutputKind::Oci, [("dest", dest)]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_cache_and_failure_on_real_components() {
    let test = "builder real components";
    if !can_run(test) {
        return;
    }
    let Some(registry) = TestRegistry::start(RegistryOptions::default()) else {
        return;
    };
    if or_skip(
        test,
        push_recorded_busybox(&busybox_reference(registry.host())),
    )
    .is_none()
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config_path = tmp.path().join("kiln.toml");
    write_kiln_config(&config_path, registry.host()).unwrap();
    let config = kiln_config::load(Some(&config_path)).unwrap();
    let builder = Builder::open(tmp.path().join("root"), WorkerConfig::new(Arc::new(config)))
        .await
        .unwrap();

    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("a"), "file a\n").unwrap();
    std::fs::write(ctx.join("unrelated"), "one\n").unwrap();
    let dockerfile = b"FROM busybox\nRUN echo hi > /x\nCOPY a /a\n".to_vec();
    let out = tmp.path().join("out.tar");
    let request = || {
        let mut r = BuildRequest::new(dockerfile.clone(), Some(ctx.clone()));
        r.outputs = vec![oci_output(&out)];
        r
    };

    let (res, events) = build(&builder, request()).await;
    let first = res.unwrap_or_else(|e| panic!("first build: {e}"));
    let (ran, _) = steps(&events);
    assert!(
        ran.iter().any(|n| n.contains("RUN echo hi")),
        "ran: {ran:?}"
    );
    assert!(out.is_file());
    let id = first.image_id.clone().unwrap();

    // Identical rebuild: everything cached, nothing runs, same image.
    let (res, events) = build(&builder, request()).await;
    let second = res.unwrap_or_else(|e| panic!("second build: {e}"));
    let (ran, cached) = steps(&events);
    assert!(ran.is_empty(), "second build ran {ran:?}");
    assert!(
        cached.iter().any(|n| n.contains("RUN echo hi")),
        "cached: {cached:?}"
    );
    assert_eq!(second.image_id.as_deref(), Some(id.as_str()));

    // A context file no COPY selects changes nothing.
    std::fs::write(ctx.join("unrelated"), "two\n").unwrap();
    let (res, events) = build(&builder, request()).await;
    res.unwrap_or_else(|e| panic!("third build: {e}"));
    let (ran, _) = steps(&events);
    assert!(ran.is_empty(), "an unrelated change re-ran {ran:?}");

    // The selected file changes: the COPY runs again, the RUN stays cached.
    std::fs::write(ctx.join("a"), "file a, changed\n").unwrap();
    let (res, events) = build(&builder, request()).await;
    res.unwrap_or_else(|e| panic!("fourth build: {e}"));
    let (ran, _) = steps(&events);
    assert!(ran.iter().all(|n| !n.contains("RUN")), "ran {ran:?}");
    assert!(ran.iter().any(|n| n.contains("COPY a /a")), "ran {ran:?}");

    // A failing RUN names the process and the exit code, and the step's Dockerfile line.
    let mut failing = BuildRequest::new(b"FROM busybox\nRUN exit 3\n".to_vec(), Some(ctx.clone()));
    failing.outputs = vec![oci_output(&tmp.path().join("fail.tar"))];
    let (res, _) = build(&builder, failing).await;
    let err = res.unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to solve: process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3"
    );
    assert_eq!(err.locations().first().map(|l| l.start), Some(2));
}
