//! End-to-end tests of base-image resolution in `kiln build --check` / `--call=outline`: a real
//! registry (Debian's docker-registry, started by kiln-testkit) holding tiny images pushed with
//! kiln-registry, a `kiln.toml` naming it, and the real `kiln` binary. Covers `UndefinedVar`
//! with the base image's env, `InvalidBaseImagePlatform`, the platform picked from an index,
//! and an unreachable registry (one WARNING line, the check still completes).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use bytes::Bytes;
use kiln_platforms::Platform;
use kiln_reference::{Reference, parse_normalized_named};
use kiln_registry::media::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};
use kiln_registry::{BlobData, Client, Descriptor, Digest, PushBlobOptions};
use kiln_testkit::registry::TestRegistry;

mod common;

use common::{kiln_command, stderr, stdout};

/// A scratch directory holding `kiln.toml`, an empty Docker config dir and one build context
/// per test case; removed when dropped.
struct Work(tempfile::TempDir);

impl Work {
    fn new(registry_host: &str) -> Work {
        let dir = tempfile::Builder::new()
            .prefix("kiln-call-resolver-")
            .tempdir()
            .unwrap();
        std::fs::write(
            dir.path().join("kiln.toml"),
            format!("[registry.\"{registry_host}\"]\nhttp = true\n"),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("docker")).unwrap();
        Work(dir)
    }

    /// Runs `kiln --config kiln.toml build <args> .` in a context holding `dockerfile`, with
    /// the kiln root in this scratch directory.
    fn kiln(&self, name: &str, dockerfile: &str, args: &[&str]) -> Output {
        let ctx = self.0.path().join(name);
        std::fs::create_dir(&ctx).unwrap();
        std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
        kiln_command(&self.0.path().join("root"))
            .current_dir(&ctx)
            .arg("--config")
            .arg(self.0.path().join("kiln.toml"))
            .arg("build")
            .args(args)
            .arg(".")
            .env_remove("KILN_CONFIG")
            .env("DOCKER_CONFIG", self.0.path().join("docker"))
            .output()
            .unwrap()
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

/// One platform's image: its manifest (bytes and descriptor) and config.
struct Built {
    manifest: Bytes,
    manifest_desc: Descriptor,
    config: Bytes,
    config_desc: Descriptor,
}

/// A gzip layer holding an empty tar, and its diff ID.
fn empty_layer() -> (Bytes, Digest) {
    let tar = vec![0u8; 1024];
    let diff_id = Digest::sha256(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    (Bytes::from(gz.finish().unwrap()), diff_id)
}

fn build(arch: &str, env: &[&str], layer: &Descriptor, diff_id: &Digest) -> Built {
    let config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Env": env, "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "history": [{"created_by": "test", "empty_layer": false}],
    });
    let config = Bytes::from(serde_json::to_vec(&config).unwrap());
    let config_desc = Descriptor::of(OCI_CONFIG, &config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_desc,
        "layers": [layer],
    });
    let manifest = Bytes::from(serde_json::to_vec(&manifest).unwrap());
    let mut manifest_desc = Descriptor::of(OCI_MANIFEST, &manifest);
    manifest_desc.platform = Some(Platform::new("linux", arch));
    Built {
        manifest,
        manifest_desc,
        config,
        config_desc,
    }
}

fn reference(host: &str, rest: &str) -> Reference {
    parse_normalized_named(&format!("{host}/{rest}")).unwrap()
}

/// Pushes `test/img:latest` (an index: linux/amd64 and linux/arm64, env `PATH`, `FOO=bar`,
/// and `ARM=1` on arm64 only) and `test/amd64only:latest` (one linux/amd64 manifest).
async fn push_images(client: &Client, host: &str) {
    let (layer, diff_id) = empty_layer();
    let layer_desc = Descriptor::of(OCI_LAYER_GZIP, &layer);
    let path = "PATH=/usr/local/bin:/usr/bin:/bin";
    let amd64 = build("amd64", &[path, "FOO=bar"], &layer_desc, &diff_id);
    let arm64 = build("arm64", &[path, "FOO=bar", "ARM=1"], &layer_desc, &diff_id);

    for repo in ["test/img", "test/amd64only"] {
        let r = reference(host, repo);
        client
            .push_blob(
                &r,
                &layer_desc,
                BlobData::Bytes(layer.clone()),
                &PushBlobOptions::default(),
            )
            .await
            .unwrap();
        let images: &[&Built] = if repo == "test/img" {
            &[&amd64, &arm64]
        } else {
            &[&amd64]
        };
        for b in images {
            client
                .push_blob(
                    &r,
                    &b.config_desc,
                    BlobData::Bytes(b.config.clone()),
                    &PushBlobOptions::default(),
                )
                .await
                .unwrap();
            let by_digest = reference(host, &format!("{repo}@{}", b.manifest_desc.digest));
            client
                .push_manifest(&by_digest, OCI_MANIFEST, b.manifest.clone())
                .await
                .unwrap();
        }
    }

    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [amd64.manifest_desc, arm64.manifest_desc],
    });
    let index = Bytes::from(serde_json::to_vec(&index).unwrap());
    client
        .push_manifest(&reference(host, "test/img:latest"), OCI_INDEX, index)
        .await
        .unwrap();
    client
        .push_manifest(
            &reference(host, "test/amd64only:latest"),
            OCI_MANIFEST,
            amd64.manifest.clone(),
        )
        .await
        .unwrap();
}

/// Starts the registry and pushes the images; `None` when the registry is not installed.
fn setup() -> Option<(TestRegistry, Work)> {
    let registry = TestRegistry::start(Default::default())?;
    let host = registry.host().to_string();
    let work = Work::new(&host);
    let config = kiln_config::load(Some(&work.path().join("kiln.toml"))).unwrap();
    let client = Client::anonymous(Arc::new(config));
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(push_images(&client, &host));
    Some((registry, work))
}

#[test]
fn base_images_from_a_registry() {
    let Some((registry, work)) = setup() else {
        return;
    };
    let host = registry.host();

    // The base env counts as defined: FOO is, NOPE is not (buildx's exact text).
    let dockerfile = format!("FROM {host}/test/img\nENV GREETING=\"$FOO $NOPE\"\n");
    let o = work.kiln("env", &dockerfile, &["--check", "--platform=linux/amd64"]);
    assert_eq!(
        stdout(&o),
        format!(
            "Check complete, 1 warning has been found!

WARNING: UndefinedVar - https://docs.docker.com/go/dockerfile/rule/undefined-var/
Usage of undefined variable '$NOPE'
Dockerfile:2
--------------------
   1 |     FROM {host}/test/img
   2 | >>> ENV GREETING=\"$FOO $NOPE\"
   3 |     
--------------------
"
        ),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o), "");
    assert_eq!(o.status.code(), Some(1));

    // The index entry for the stage's platform is the one read: ARM is defined on arm64 only.
    let dockerfile = format!("FROM {host}/test/img\nENV X=$ARM\n");
    let o = work.kiln("arm64", &dockerfile, &["--check", "--platform=linux/arm64"]);
    assert_eq!(
        stdout(&o),
        "Check complete, no warnings found.\n",
        "{}",
        stderr(&o)
    );
    let o = work.kiln("amd64", &dockerfile, &["--check", "--platform=linux/amd64"]);
    assert!(
        stdout(&o).contains("Usage of undefined variable '$ARM'\nDockerfile:2\n"),
        "{}",
        stdout(&o)
    );

    // A single-platform image used for another platform (upstream gives the rule no URL).
    let dockerfile = format!("FROM --platform=linux/arm64 {host}/test/amd64only\n");
    let o = work.kiln(
        "platform",
        &dockerfile,
        &["--check", "--platform=linux/amd64"],
    );
    assert_eq!(
        stdout(&o),
        format!(
            "Check complete, 2 warnings have been found!

WARNING: FromPlatformFlagConstDisallowed - https://docs.docker.com/go/dockerfile/rule/from-platform-flag-const-disallowed/
FROM --platform flag should not use constant value \"linux/arm64\"
Dockerfile:1
--------------------
   1 | >>> FROM --platform=linux/arm64 {host}/test/amd64only
   2 |     
--------------------

WARNING: InvalidBaseImagePlatform
Base image {host}/test/amd64only was pulled with platform \"linux/amd64\", expected \"linux/arm64\" for current build
Dockerfile:1
--------------------
   1 | >>> FROM --platform=linux/arm64 {host}/test/amd64only
   2 |     
--------------------
"
        ),
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(1));

    // The same image for its own platform: nothing to say.
    let dockerfile = format!("FROM {host}/test/amd64only\nENV A=$FOO\n");
    let o = work.kiln("same", &dockerfile, &["--check", "--platform=linux/amd64"]);
    assert_eq!(
        stdout(&o),
        "Check complete, no warnings found.\n",
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn an_unreachable_registry_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let work = Work(dir);
    std::fs::write(work.path().join("kiln.toml"), "").unwrap();
    std::fs::create_dir(work.path().join("docker")).unwrap();

    let dockerfile = "FROM 127.0.0.1:1/x AS a\nENV A=$NOPE\n\nFROM scratch as b\nENV B=$NOPE2\n";
    let started = std::time::Instant::now();
    let o = work.kiln("check", dockerfile, &["--check", "--platform=linux/amd64"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with(
            "WARNING: base image 127.0.0.1:1/x:latest: could not fetch its configuration (cannot connect to "
        ),
        "{err}"
    );
    assert!(
        lines[0].ends_with("); checks that need it were skipped"),
        "{err}"
    );
    // The other warnings are still found; nothing about $NOPE, which x could define.
    let out = stdout(&o);
    assert!(
        out.starts_with("Check complete, 2 warnings have been found!\n"),
        "{out}"
    );
    assert!(out.contains("WARNING: FromAsCasing - "), "{out}");
    assert!(
        out.contains("Usage of undefined variable '$NOPE2'\nDockerfile:5\n"),
        "{out}"
    );
    assert!(!out.contains("'$NOPE'"), "{out}");
    assert_eq!(o.status.code(), Some(1));

    // The outline does not fail either.
    let dockerfile = "FROM 127.0.0.1:1/x\nARG VERSION=1\nRUN echo $VERSION\n";
    let o = work.kiln("outline", dockerfile, &["--call=outline"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("VERSION"), "{}", stdout(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
}

#[test]
fn a_missing_named_config_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let ctx: PathBuf = dir.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\n").unwrap();
    let o = kiln_command(&dir.path().join("root"))
        .current_dir(&ctx)
        .args([
            "--config",
            "/nonexistent/kiln.toml",
            "build",
            "--check",
            ".",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("ERROR: reading kiln config /nonexistent/kiln.toml: "),
        "{}",
        stderr(&o)
    );
}
