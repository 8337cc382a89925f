//! The worker on real components, as root: a local registry, overlayfs, runc. Skipped with a
//! printed line when one is missing (failing instead under `CI=true`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use kiln_executor::{ProcessSpec, Stream};
use kiln_registry::{BlobData, Client, Descriptor, PushBlobOptions, media};
use kiln_testkit::images::{DebArch, busybox_layout, or_skip};
use kiln_testkit::registry::{RegistryOptions, TestRegistry};
use kiln_testkit::say;
use kiln_worker::{
    CacheSharing, DiffOptions, ExecMount, ExecMountKind, ExecRequest, MemorySecrets, NoSecrets,
    PullOptions, SnapshotRef, Worker, WorkerConfig,
};

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn can_run_containers(test: &str) -> bool {
    let missing = if !rustix::process::geteuid().is_root() {
        Some("not running as root")
    } else if !Path::new("/usr/sbin/runc").exists() {
        Some("/usr/sbin/runc is missing (apt-get install runc)")
    } else {
        None
    };
    match missing {
        Some(why) => {
            assert!(!ci(), "{test}: {why}");
            say(&format!("{test}: skipped ({why})"));
            false
        }
        None => true,
    }
}

/// Pushes a two-layer image: busybox (linux/amd64) plus an uncompressed layer adding
/// `/etc/kiln-release`. Returns the reference.
async fn push_two_layer_image(registry: &TestRegistry) -> Option<kiln_reference::Reference> {
    let layout = or_skip("worker pull", busybox_layout())?;
    let arch = DebArch::Amd64;
    let img = layout
        .images
        .iter()
        .find(|i| i.architecture == arch.oci_architecture())
        .expect("an amd64 image");
    let base_layer = std::fs::read(layout.blob(&img.layer_digests[0]).unwrap()).unwrap();
    let base_config = std::fs::read(layout.blob(&img.config_digest).unwrap()).unwrap();

    let mut tar = tar::Builder::new(Vec::new());
    let data = b"kiln test layer\n";
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    tar.append_data(&mut h, "etc/", &[][..]).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    tar.append_data(&mut h, "etc/kiln-release", &data[..])
        .unwrap();
    let top_layer = tar.into_inner().unwrap();
    let top_desc = Descriptor::of(media::OCI_LAYER, &top_layer);

    let mut config: serde_json::Value = serde_json::from_slice(&base_config).unwrap();
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .unwrap()
        .push(top_desc.digest.to_string().into());
    let config = serde_json::to_vec(&config).unwrap();
    let config_desc = Descriptor::of(media::OCI_CONFIG, &config);
    let base_desc = Descriptor::of(media::OCI_LAYER_GZIP, &base_layer);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": config_desc,
        "layers": [base_desc, top_desc],
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();

    let reference = kiln_reference::parse(&format!("{}/test/two:latest", registry.host())).unwrap();
    let client = Client::anonymous(Arc::new(kiln_config::Config::default()));
    for (desc, data) in [
        (&base_desc, base_layer),
        (&top_desc, top_layer.clone()),
        (&config_desc, config.clone()),
    ] {
        client
            .push_blob(
                &reference,
                desc,
                BlobData::Bytes(Bytes::from(data)),
                &PushBlobOptions::default(),
            )
            .await
            .unwrap();
    }
    client
        .push_manifest(&reference, media::OCI_MANIFEST, Bytes::from(manifest))
        .await
        .unwrap();
    Some(reference)
}

fn amd64() -> kiln_platforms::Platform {
    kiln_platforms::Platform::new("linux", "amd64")
}

fn process(script: &str) -> ProcessSpec {
    ProcessSpec {
        args: vec!["/bin/sh".into(), "-c".into(), script.into()],
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        ..ProcessSpec::default()
    }
}

async fn layer_entries(worker: &Worker, snap: &SnapshotRef) -> (Vec<String>, Vec<u8>) {
    let (tar_bytes, _) = worker
        .write_layer(snap, Vec::new(), DiffOptions::default())
        .await
        .unwrap();
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        names.push(e.path().unwrap().to_string_lossy().into_owned());
        let mut sink = Vec::new();
        e.read_to_end(&mut sink).unwrap();
    }
    (names, tar_bytes)
}

fn count_dir(p: &Path) -> usize {
    std::fs::read_dir(p).map(|r| r.count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_run_cache_secret_and_failure_on_real_components() {
    let test = "worker real components";
    if !can_run_containers(test) {
        return;
    }
    let Some(registry) = TestRegistry::start(RegistryOptions::default()) else {
        return;
    };
    let Some(reference) = push_two_layer_image(&registry).await else {
        return;
    };
    let root = tempfile::Builder::new()
        .prefix("kiln-worker-")
        .tempdir()
        .unwrap();
    let config = WorkerConfig::new(Arc::new(kiln_config::Config::default()));
    let worker = Worker::open(root.path(), config).await.unwrap();
    say(&format!(
        "{test}: overlay snapshots: {}",
        worker.is_overlay()
    ));

    // Pull: two layers downloaded and unpacked, snapshots named by chain ID.
    let img = worker
        .pull_image(&reference, &amd64(), &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(img.layers.len(), 2);
    assert_eq!(img.stats.downloaded, 2);
    assert_eq!(img.stats.unpacked, 2);
    let rootfs = img.rootfs.clone().unwrap();
    assert_eq!(rootfs.name(), img.layers[1].chain_id);
    assert_eq!(worker.lineage(&rootfs).await.unwrap().len(), 2);
    {
        let view = worker.mount_readonly(Some(&rootfs)).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(view.path().join("etc/kiln-release")).unwrap(),
            "kiln test layer\n"
        );
        assert!(view.path().join("bin/busybox").is_file());
    }
    // Second pull: nothing downloaded, nothing unpacked.
    let again = worker
        .pull_image(&reference, &amd64(), &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(again.stats.downloaded, 0);
    assert_eq!(again.stats.unpacked, 0);
    assert_eq!(again.rootfs, img.rootfs);
    let cfg = worker
        .resolve_image_config(&reference, &amd64())
        .await
        .unwrap();
    assert_eq!(cfg.manifest_digest, img.manifest_digest());

    // RUN: a new file and a deletion, diffed as a layer.
    let out = worker
        .run(
            ExecRequest {
                rootfs: Some(rootfs.clone()),
                process: process("echo hi > /x; rm /bin/true"),
                ..ExecRequest::default()
            },
            &NoSecrets,
            &mut kiln_executor::Discard,
        )
        .await
        .unwrap();
    let (names, _) = layer_entries(&worker, &out.rootfs).await;
    assert!(names.iter().any(|n| n == "x"), "{names:?}");
    assert!(names.iter().any(|n| n == "bin/.wh.true"), "{names:?}");

    // A cache mount keeps its content between runs.
    let counter = "n=$(cat /cache/n 2>/dev/null || echo 0); echo $((n+1)) > /cache/n; cat /cache/n";
    let mut seen = Vec::new();
    for _ in 0..2 {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l2 = log.clone();
        let mut sink = move |s: Stream, b: Bytes| {
            if s == Stream::Stdout {
                l2.lock().unwrap().extend_from_slice(&b);
            }
        };
        worker
            .run(
                ExecRequest {
                    rootfs: Some(rootfs.clone()),
                    mounts: vec![ExecMount {
                        dest: "/cache".into(),
                        kind: ExecMountKind::Cache {
                            id: "counter".into(),
                            sharing: CacheSharing::Locked,
                            readonly: false,
                        },
                    }],
                    process: process(counter),
                    ..ExecRequest::default()
                },
                &NoSecrets,
                &mut sink,
            )
            .await
            .unwrap();
        seen.push(String::from_utf8(log.lock().unwrap().clone()).unwrap());
    }
    assert_eq!(seen, ["1\n", "2\n"]);

    // A secret is visible in the container and absent from the committed snapshot.
    let secrets = MemorySecrets([("tok".to_string(), b"s3cr3t-value".to_vec())].into());
    let log = Arc::new(Mutex::new(Vec::new()));
    let l2 = log.clone();
    let mut sink = move |_: Stream, b: Bytes| l2.lock().unwrap().extend_from_slice(&b);
    let out = worker
        .run(
            ExecRequest {
                rootfs: Some(rootfs.clone()),
                mounts: vec![ExecMount {
                    dest: "/run/secrets/tok".into(),
                    kind: ExecMountKind::Secret {
                        id: "tok".into(),
                        uid: 0,
                        gid: 0,
                        mode: 0o400,
                        optional: false,
                    },
                }],
                process: process(
                    "test \"$(cat /run/secrets/tok)\" = s3cr3t-value && echo ok; touch /done",
                ),
                ..ExecRequest::default()
            },
            &secrets,
            &mut sink,
        )
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(log.lock().unwrap().clone()).unwrap(),
        "ok\n"
    );
    let (names, bytes) = layer_entries(&worker, &out.rootfs).await;
    assert!(names.iter().any(|n| n == "done"), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("secrets")), "{names:?}");
    assert!(!bytes.windows(6).any(|w| w == b"s3cr3t"));
    assert_eq!(count_dir(&root.path().join("secrets")), 0);
    // A missing secret fails before anything runs, naming only the id.
    let err = worker
        .run(
            ExecRequest {
                rootfs: Some(rootfs.clone()),
                mounts: vec![ExecMount {
                    dest: "/run/secrets/nope".into(),
                    kind: ExecMountKind::Secret {
                        id: "nope".into(),
                        uid: 0,
                        gid: 0,
                        mode: 0o400,
                        optional: false,
                    },
                }],
                process: process("true"),
                ..ExecRequest::default()
            },
            &secrets,
            &mut kiln_executor::Discard,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("secret nope: not found"), "{err}");

    // A failing command leaves no snapshot, mount or bundle behind.
    let snaps_dir = root.path().join("snapshots/snapshots");
    let before = count_dir(&snaps_dir);
    let err = worker
        .run(
            ExecRequest {
                rootfs: Some(rootfs.clone()),
                mounts: vec![ExecMount {
                    dest: "/src".into(),
                    kind: ExecMountKind::Snapshot {
                        source: Some(rootfs.clone()),
                        selector: "/etc".into(),
                        readonly: false,
                        output: true,
                    },
                }],
                process: process("test -f /src/kiln-release && echo partial > /y; exit 3"),
                ..ExecRequest::default()
            },
            &NoSecrets,
            &mut kiln_executor::Discard,
        )
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), Some(3), "{err}");
    assert_eq!(count_dir(&snaps_dir), before);
    assert_eq!(count_dir(&root.path().join("mounts")), 0);
    assert_eq!(count_dir(&root.path().join("bundles")), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_sweep_cleans_up_after_a_killed_process() {
    let test = "worker startup sweep";
    if !can_run_containers(test) {
        return;
    }
    let root = tempfile::Builder::new()
        .prefix("kiln-worker-")
        .tempdir()
        .unwrap();
    let config = WorkerConfig::new(Arc::new(kiln_config::Config::default()));
    // A first worker makes a committed snapshot that must survive the sweep.
    let kept = {
        let worker = Worker::open(root.path(), config.clone()).await.unwrap();
        let active = worker.with_writable(None).await.unwrap();
        std::fs::write(active.path().join("kept"), "1").unwrap();
        let kept = active.commit().await.unwrap();
        assert!(worker.sweep_report().is_empty());
        kept
    };
    // What a killed process leaves: an active snapshot mounted under mounts/, a bundle with a
    // mounted rootfs, a secrets dir, a runc state dir.
    let snaps = kiln_snapshot::OverlaySnapshotter::open(root.path().join("snapshots")).unwrap();
    use kiln_snapshot::Snapshotter;
    let plan = snaps.prepare("active-crashed", Some(kept.name())).unwrap();
    let mp = root.path().join("mounts/crashed");
    std::fs::create_dir_all(&mp).unwrap();
    kiln_snapshot::mount(&plan, &mp).unwrap();
    std::fs::write(mp.join("partial"), "x").unwrap();
    let rootfs = root.path().join("bundles/kiln-dead/rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    kiln_snapshot::mount(&plan, &rootfs).unwrap();
    std::fs::write(root.path().join("bundles/kiln-dead/config.json"), "{}").unwrap();
    std::fs::create_dir_all(root.path().join("secrets/dead")).unwrap();
    std::fs::create_dir_all(root.path().join("runc/kiln-dead")).unwrap();
    drop(snaps);

    let worker = Worker::open(root.path(), config).await.unwrap();
    let report = worker.sweep_report().clone();
    say(&format!("{test}: {report}"));
    assert_eq!(report.unmounted.len(), 2, "{report:?}");
    assert_eq!(report.snapshots, ["active-crashed"]);
    assert_eq!(report.containers, ["kiln-dead"]);
    assert!(
        report
            .removed
            .contains(&root.path().join("bundles/kiln-dead"))
    );
    assert!(report.removed.contains(&root.path().join("secrets/dead")));
    for dir in ["mounts", "bundles", "secrets", "runc"] {
        assert_eq!(count_dir(&root.path().join(dir)), 0, "{dir}");
    }
    // The committed snapshot is intact and usable.
    let view = worker.mount_readonly(Some(&kept)).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(view.path().join("kept")).unwrap(),
        "1"
    );
    assert!(!view.path().join("partial").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writable_snapshots_and_merge() {
    let test = "worker merge";
    if !can_run_containers(test) {
        return;
    }
    let root = tempfile::Builder::new()
        .prefix("kiln-worker-")
        .tempdir()
        .unwrap();
    let config = WorkerConfig::new(Arc::new(kiln_config::Config::default()));
    let worker = Worker::open(root.path(), config).await.unwrap();

    let a = worker.with_writable(None).await.unwrap();
    std::fs::create_dir(a.path().join("d")).unwrap();
    std::fs::write(a.path().join("d/1"), "a").unwrap();
    std::fs::write(a.path().join("shared"), "from a").unwrap();
    let a = a.commit().await.unwrap();

    let b = worker.with_writable(None).await.unwrap();
    std::fs::write(b.path().join("b"), "b").unwrap();
    std::fs::write(b.path().join("shared"), "from b").unwrap();
    let b = b.commit().await.unwrap();
    let c = worker.with_writable(Some(&b)).await.unwrap();
    std::fs::remove_file(c.path().join("b")).unwrap();
    std::fs::write(c.path().join("c"), "c").unwrap();
    let c = c.commit().await.unwrap();
    assert_eq!(worker.lineage(&c).await.unwrap(), [b.clone(), c.clone()]);

    // An aborted snapshot leaves nothing.
    let snaps_dir = root.path().join("snapshots/snapshots");
    let before = count_dir(&snaps_dir);
    let x = worker.with_writable(Some(&a)).await.unwrap();
    std::fs::write(x.path().join("x"), "x").unwrap();
    x.abort().await.unwrap();
    assert_eq!(count_dir(&snaps_dir), before);

    let merged = worker.merge(&[a.clone(), c.clone()]).await.unwrap();
    let view = worker.mount_readonly(Some(&merged)).await.unwrap();
    let read = |p: &str| std::fs::read_to_string(view.path().join(p)).unwrap();
    assert_eq!(read("d/1"), "a");
    assert_eq!(read("c"), "c");
    assert_eq!(read("shared"), "from b");
    assert!(!view.path().join("b").exists());
    assert!(std::fs::write(view.path().join("nope"), "x").is_err());
    drop(view);
    assert_eq!(count_dir(&root.path().join("mounts")), 0);
}
