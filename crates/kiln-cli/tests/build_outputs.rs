//! `kiln build` outputs, layer compression and base-image sources end to end, as root on real
//! components (a local registry serving the recorded busybox as `docker.io/library/busybox`,
//! overlayfs, runc), every result checked with a real client: `skopeo inspect`, `umoci
//! unpack`, `tar`, `zstd`, a private `dockerd` for `--load`. Every kiln process gets a dead
//! proxy so nothing leaves the machine. Skipped with a printed line when a component is
//! missing (a failure under `CI=true`).
//!
//! What BuildKit does, and so what is asserted here:
//! - `type=oci` writes an OCI layout (tarball, or a directory with `tar=false`) whose index
//!   entry carries the tag as `org.opencontainers.image.ref.name`; `type=docker` adds Docker's
//!   `manifest.json` with the familiar `RepoTags`; `type=tar` is the root filesystem as a tar;
//!   `-o -` is `type=tar,dest=-`, and `dest=-` streams the tarball to stdout.
//! - `--quiet` prints only the image ID: the config digest of a single-platform image.
//! - `compression=` applies to the layers the build makes; base-image layers keep their blobs
//!   unless `force-compression=true`; every blob's media type matches its bytes and the
//!   config's `diff_ids` are the digests of the uncompressed layer tars.
//! - `--load` sends a Docker tarball to the engine at `DOCKER_HOST`, and without an engine fails
//!   with a message pointing at `-o type=docker,dest=…`.
//! - Base images with gzip, zstd or uncompressed layers, OCI or Docker media types, by tag or by
//!   digest, selected by an `ARG` before `FROM`, all give the same file tree.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

mod common;

use common::{BuildEnv, build_env, kiln_command, stderr, stdout};
use kiln_testkit::images::{OciLayout, recorded_busybox_layout};
use kiln_testkit::say;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

// ---------------------------------------------------------------------------------------------
// helpers

/// `kiln` against the environment's root and config, with a private `DOCKER_CONFIG`.
fn kiln_cmd(env: &BuildEnv) -> Command {
    kiln_cmd_in(env, &env.path("root"))
}

/// `kiln` against the kiln root `root` and the environment's config.
fn kiln_cmd_in(env: &BuildEnv, root: &Path) -> Command {
    let mut cmd = kiln_command(root);
    cmd.arg("--root")
        .arg(root)
        .arg("--config")
        .arg(env.path("kiln.toml"))
        .env("DOCKER_CONFIG", env.path("docker-config"));
    cmd
}

/// Runs `cmd`, printing its stderr.
fn run_logged(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    say(&format!(
        "{cmd:?}: {}\n--- stderr ---\n{}",
        out.status,
        stderr(&out)
    ));
    out
}

/// `kiln <args>`, which must succeed.
fn kiln_ok(env: &BuildEnv, args: &[&str]) -> Output {
    kiln_ok_in(env, &env.path("root"), args)
}

/// `kiln <args>` on the kiln root `root`, which must succeed.
fn kiln_ok_in(env: &BuildEnv, root: &Path, args: &[&str]) -> Output {
    let out = run_logged(kiln_cmd_in(env, root).args(args));
    assert!(
        out.status.success(),
        "kiln {} failed:\n{}",
        args.join(" "),
        stderr(&out)
    );
    out
}

/// A build context directory `name` inside the environment with `files`.
fn context(env: &BuildEnv, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = env.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, body) in files {
        std::fs::write(dir.join(file), body).unwrap();
    }
    dir
}

/// Runs a real client, which must succeed; returns its stdout.
fn client(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        stderr(&out)
    );
    out.stdout
}

fn client_json(cmd: &mut Command) -> Value {
    let out = client(cmd);
    serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}: {}", String::from_utf8_lossy(&out)))
}

fn skopeo(args: &[&str]) -> Command {
    let mut cmd = Command::new("skopeo");
    cmd.args(args);
    cmd
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Whether `tool` is installed; prints a skip line (fails under `CI=true`) otherwise.
fn have(test: &str, tool: &str) -> bool {
    if Path::new(tool).exists() {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "{test}: {tool} is missing"
    );
    say(&format!("{test}: skipped ({tool} is missing)"));
    false
}

/// The host's platform as OCI names it (`linux/amd64`).
fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("linux/{arch}")
}

/// The path of a blob in an OCI layout directory.
fn blob(dir: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    dir.join("blobs/sha256").join(hex)
}

fn read_blob_json(dir: &Path, digest: &str) -> Value {
    let data = std::fs::read(blob(dir, digest)).unwrap();
    assert_eq!(
        format!("sha256:{}", sha256_hex(&data)),
        digest,
        "blob {digest} does not match its digest"
    );
    serde_json::from_slice(&data).unwrap()
}

/// The single-platform image of an OCI layout directory: `(index.json entry, manifest,
/// config)`, following an index to its first (non-attestation) manifest.
fn layout_image(dir: &Path) -> (Value, Value, Value) {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"][0].clone();
    let mut desc = entry.clone();
    let mut doc = read_blob_json(dir, desc["digest"].as_str().unwrap());
    if doc["mediaType"] == OCI_INDEX {
        desc = doc["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["platform"]["os"] != "unknown")
            .unwrap()
            .clone();
        doc = read_blob_json(dir, desc["digest"].as_str().unwrap());
    }
    let config = read_blob_json(dir, doc["config"]["digest"].as_str().unwrap());
    (entry, doc, config)
}

/// Decompresses a zstd blob with the `zstd` command.
fn unzstd(data: &[u8], scratch: &Path) -> Vec<u8> {
    let file = scratch.join(format!("blob-{}.zst", &sha256_hex(data)[..12]));
    std::fs::write(&file, data).unwrap();
    client(Command::new("zstd").args(["-q", "-d", "-c"]).arg(&file))
}

/// Checks every layer of `manifest` in the layout `dir`: the blob matches its digest and size,
/// its bytes are what its media type says (gzip / zstd magic, or a plain tar), and its
/// uncompressed tar hashes to the config's diff ID. Returns the layers' media types.
fn check_layers(dir: &Path, manifest: &Value, config: &Value, scratch: &Path) -> Vec<String> {
    let layers = manifest["layers"].as_array().unwrap();
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(layers.len(), diff_ids.len(), "{manifest}\n{config}");
    let mut types = Vec::new();
    for (layer, diff_id) in layers.iter().zip(diff_ids) {
        let digest = layer["digest"].as_str().unwrap();
        let data = std::fs::read(blob(dir, digest)).unwrap();
        assert_eq!(format!("sha256:{}", sha256_hex(&data)), digest);
        assert_eq!(layer["size"].as_u64(), Some(data.len() as u64), "{layer}");
        let media_type = layer["mediaType"].as_str().unwrap().to_string();
        let tar = if media_type.ends_with("gzip") {
            assert_eq!(
                &data[..2],
                [0x1f, 0x8b],
                "{digest} ({media_type}) is not gzip"
            );
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&data[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else if media_type.ends_with("zstd") {
            assert_eq!(
                &data[..4],
                [0x28, 0xb5, 0x2f, 0xfd],
                "{digest} ({media_type}) is not zstd"
            );
            unzstd(&data, scratch)
        } else {
            assert!(
                media_type.ends_with(".tar"),
                "unexpected layer media type {media_type}"
            );
            data
        };
        assert!(
            tar.len() > 262 && &tar[257..262] == b"ustar",
            "layer {digest} ({media_type}) does not decompress to a tar"
        );
        assert_eq!(
            diff_id.as_str(),
            Some(format!("sha256:{}", sha256_hex(&tar)).as_str()),
            "diff ID of layer {digest} ({media_type})"
        );
        types.push(media_type);
    }
    types
}

/// Extracts a tarball into a fresh directory with `tar`.
fn untar(tarball: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    client(
        Command::new("tar")
            .arg("-xf")
            .arg(tarball)
            .arg("-C")
            .arg(dir),
    );
}

/// The entry names of a tarball, as `tar -t` lists them, without a leading `./`.
fn tar_names(tarball: &Path) -> Vec<String> {
    let out = client(Command::new("tar").arg("-tf").arg(tarball));
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
        .collect()
}

fn tar_file(tarball: &Path, name: &str) -> String {
    let out = client(Command::new("tar").arg("-xOf").arg(tarball).arg(name));
    String::from_utf8(out).unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1. output types

/// `type=oci,tar=false`, `type=docker`, `type=tar`, `-o -`, `type=tar,dest=-`,
/// `type=oci,dest=-`, `type=image` and `-q`.
#[test]
fn output_types() {
    let test = "kiln build output types";
    let Some(env) = build_env(test) else {
        return;
    };
    let ctx = context(
        &env,
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox\nRUN echo hi > /hello\nCOPY a /a\n",
            ),
            ("a", "file a\n"),
        ],
    );
    let ctx = path_str(&ctx);

    // An OCI layout directory: skopeo and umoci read it by its tag.
    let layout = env.path("layout");
    let iid = env.path("iid");
    kiln_ok(
        &env,
        &[
            "build",
            "--progress=plain",
            "-t",
            "outputs:1",
            "--iidfile",
            path_str(&iid),
            "-o",
            &format!("type=oci,dest={},tar=false", layout.display()),
            ctx,
        ],
    );
    let id = std::fs::read_to_string(&iid).unwrap();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id:?}");
    assert!(layout.is_dir() && layout.join("oci-layout").is_file());
    let (entry, manifest, _) = layout_image(&layout);
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"], "1",
        "{entry}"
    );
    assert_eq!(
        entry["annotations"]["io.containerd.image.name"], "docker.io/library/outputs:1",
        "{entry}"
    );
    assert_eq!(manifest["config"]["digest"], id.as_str());
    let raw = client_json(&mut skopeo(&[
        "inspect",
        "--raw",
        &format!("oci:{}:1", layout.display()),
    ]));
    assert_eq!(raw["mediaType"], OCI_MANIFEST, "{raw}");
    assert_eq!(raw["config"]["digest"], id.as_str(), "{raw}");
    assert_eq!(raw["layers"].as_array().map(Vec::len), Some(3), "{raw}");
    let bundle = env.path("bundle");
    client(
        Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:1", layout.display()))
            .arg(&bundle),
    );
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/hello")).unwrap(),
        "hi\n"
    );
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/a")).unwrap(),
        "file a\n"
    );

    // A Docker archive: `docker load`'s manifest.json with the familiar tag, read by skopeo.
    let docker_tar = env.path("docker.tar");
    kiln_ok(
        &env,
        &[
            "build",
            "--progress=plain",
            "-t",
            "outputs:1",
            "-o",
            &format!("type=docker,dest={}", docker_tar.display()),
            ctx,
        ],
    );
    let mj: Value = serde_json::from_str(&tar_file(&docker_tar, "manifest.json")).unwrap();
    assert_eq!(mj[0]["RepoTags"], json!(["outputs:1"]), "{mj}");
    assert_eq!(
        mj[0]["Config"],
        format!("blobs/sha256/{}", &id["sha256:".len()..]),
        "{mj}"
    );
    assert_eq!(mj[0]["Layers"].as_array().map(Vec::len), Some(3), "{mj}");
    let archive = format!("docker-archive:{}", docker_tar.display());
    let raw = client_json(&mut skopeo(&["inspect", "--raw", &archive]));
    assert_eq!(raw["config"]["digest"], id.as_str(), "{raw}");
    let inspect = client_json(&mut skopeo(&["inspect", &archive]));
    assert_eq!(inspect["Layers"].as_array().map(Vec::len), Some(3));
    let config = client_json(&mut skopeo(&["inspect", "--config", &archive]));
    assert_eq!(config["history"].as_array().map(Vec::len), Some(3));

    // The root filesystem as a tar: no image metadata, the files at the top.
    let rootfs = env.path("rootfs.tar");
    kiln_ok(
        &env,
        &[
            "build",
            "--progress=plain",
            "-o",
            &format!("type=tar,dest={}", rootfs.display()),
            ctx,
        ],
    );
    let names = tar_names(&rootfs);
    for want in ["hello", "a", "bin/busybox", "etc/passwd"] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    for unwanted in ["index.json", "manifest.json", "oci-layout"] {
        assert!(!names.iter().any(|n| n == unwanted), "{names:?}");
    }
    assert_eq!(tar_file(&rootfs, "hello"), "hi\n");

    // Standard output: `-o -` and `type=tar,dest=-` are the rootfs tar, `type=oci,dest=-` the
    // OCI tarball; the progress stays on stderr.
    for (output, oci) in [
        ("-", false),
        ("type=tar,dest=-", false),
        ("type=oci,dest=-", true),
    ] {
        let out = kiln_ok(&env, &["build", "--progress=plain", "-o", output, ctx]);
        let bytes = &out.stdout;
        assert!(
            bytes.len() > 1024 && &bytes[257..262] == b"ustar",
            "-o {output}: stdout is not a tar ({} bytes): {:?}",
            bytes.len(),
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        );
        assert!(stderr(&out).contains("#1 "), "progress not on stderr");
        let file = env.path("stdout.tar");
        std::fs::write(&file, bytes).unwrap();
        let names = tar_names(&file);
        if oci {
            assert!(names.iter().any(|n| n == "index.json"), "{names:?}");
            let raw = client_json(&mut skopeo(&[
                "inspect",
                "--raw",
                &format!("oci-archive:{}", file.display()),
            ]));
            assert_eq!(raw["config"]["digest"], id.as_str(), "{raw}");
        } else {
            assert_eq!(tar_file(&file, "hello"), "hi\n", "-o {output}");
            assert!(!names.iter().any(|n| n == "index.json"), "{names:?}");
        }
    }

    // kiln's image store, with `-q`: stdout is exactly the image ID, the config digest.
    for (args, name) in [
        (
            vec!["-o", "type=image,name=outputs-img:1"],
            "docker.io/library/outputs-img:1",
        ),
        (
            vec!["-o", "type=image", "-t", "outputs-img:2"],
            "docker.io/library/outputs-img:2",
        ),
    ] {
        let meta = env.path("meta.json");
        let mut full = vec!["build", "-q", "--metadata-file", path_str(&meta)];
        full.extend(args);
        full.push(ctx);
        let out = kiln_ok(&env, &full);
        let printed = stdout(&out);
        let meta: Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
        let config_digest = meta["containerimage.config.digest"].as_str().unwrap();
        assert_eq!(printed, format!("{config_digest}\n"), "{meta}");
        assert!(
            !stderr(&out).contains("#1 "),
            "-q printed progress:\n{}",
            stderr(&out)
        );
        assert_eq!(meta["image.name"], name, "{meta}");
        // The manifest is committed to kiln's content store and names the config.
        let root = env.path("root");
        let manifest = read_blob_json(
            &root.join("content"),
            meta["containerimage.digest"].as_str().unwrap(),
        );
        assert_eq!(manifest["config"]["digest"], config_digest, "{manifest}");
        assert_eq!(
            meta["containerimage.descriptor"]["digest"],
            meta["containerimage.digest"]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2. compression and media types

/// Builds the context into an OCI layout directory (or a Docker tarball, extracted) with the
/// output attributes `attrs`; returns the layout directory.
fn export_layout(env: &BuildEnv, ctx: &Path, name: &str, kind: &str, attrs: &str) -> PathBuf {
    let dir = env.path(name);
    let output = if kind == "docker" {
        let tarball = env.path(&format!("{name}.tar"));
        format!("type=docker,dest={}{attrs}", tarball.display())
    } else {
        format!("type=oci,tar=false,dest={}{attrs}", dir.display())
    };
    kiln_ok(
        env,
        &["build", "--progress=plain", "-o", &output, path_str(ctx)],
    );
    if kind == "docker" {
        untar(&env.path(&format!("{name}.tar")), &dir);
    }
    dir
}

const COMPRESSION_DOCKERFILE: &str = "FROM busybox\nRUN echo layer > /one && \
     busybox seq 1 2000 > /numbers\nCOPY a /a\n";

/// Media types and recompression of every layer: the defaults of each output type,
/// `oci-mediatypes`, and `force-compression=true` with each compression.
#[test]
fn media_types_and_forced_compression() {
    let test = "kiln build media types";
    let Some(env) = build_env(test) else {
        return;
    };
    if !have(test, "/usr/bin/zstd") {
        return;
    }
    let ctx = context(
        &env,
        "ctx",
        &[("Dockerfile", COMPRESSION_DOCKERFILE), ("a", "a file\n")],
    );
    let scratch = env.path("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    // (name, output type, attributes, manifest type, config type, every layer's type)
    let cases = [
        // Current BuildKit (moby/buildkit#6824, #6844) defaults every image exporter, the
        // Docker tarball included, to OCI media types; oci-mediatypes=false gives Docker's.
        (
            "docker-default",
            "docker",
            "",
            OCI_MANIFEST,
            OCI_CONFIG,
            OCI_LAYER_GZIP,
        ),
        (
            "docker-docker-types",
            "docker",
            ",oci-mediatypes=false",
            DOCKER_MANIFEST,
            DOCKER_CONFIG,
            DOCKER_LAYER_GZIP,
        ),
        (
            "oci-default",
            "oci",
            "",
            OCI_MANIFEST,
            OCI_CONFIG,
            OCI_LAYER_GZIP,
        ),
        (
            "oci-docker-types",
            "oci",
            ",oci-mediatypes=false",
            DOCKER_MANIFEST,
            DOCKER_CONFIG,
            DOCKER_LAYER_GZIP,
        ),
        (
            "zstd-forced",
            "oci",
            ",compression=zstd,force-compression=true",
            OCI_MANIFEST,
            OCI_CONFIG,
            OCI_LAYER_ZSTD,
        ),
        (
            "uncompressed-forced",
            "oci",
            ",compression=uncompressed,force-compression=true",
            OCI_MANIFEST,
            OCI_CONFIG,
            OCI_LAYER,
        ),
        (
            "uncompressed-docker-forced",
            "docker",
            ",oci-mediatypes=false,compression=uncompressed,force-compression=true",
            DOCKER_MANIFEST,
            DOCKER_CONFIG,
            DOCKER_LAYER,
        ),
    ];
    let mut diff_ids: Option<Value> = None;
    for (name, kind, attrs, manifest_type, config_type, layer_type) in cases {
        say(&format!("{test}: case {name}"));
        let dir = export_layout(&env, &ctx, name, kind, attrs);
        let (_, manifest, config) = layout_image(&dir);
        assert_eq!(manifest["mediaType"], manifest_type, "{name}: {manifest}");
        assert_eq!(
            manifest["config"]["mediaType"], config_type,
            "{name}: {manifest}"
        );
        let types = check_layers(&dir, &manifest, &config, &scratch);
        assert_eq!(types.len(), 3, "{name}");
        assert!(
            types.iter().all(|t| t == layer_type),
            "{name}: expected every layer {layer_type}, got {types:?}"
        );
        // The uncompressed content is the same whatever the compression.
        match &diff_ids {
            None => diff_ids = Some(config["rootfs"]["diff_ids"].clone()),
            Some(d) => assert_eq!(&config["rootfs"]["diff_ids"], d, "{name}"),
        }
    }
}

/// `compression=` without `force-compression` applies to the layers the build makes (base
/// layers keep their blobs), as BuildKit's `GetRemotes` does; `compression-level` reaches the
/// encoder (gzip's XFL header byte: 2 for level 9, 4 for level 1, as Go and zlib write it).
#[test]
fn compression_of_new_layers() {
    let test = "kiln build compression of new layers";
    let Some(env) = build_env(test) else {
        return;
    };
    if !have(test, "/usr/bin/zstd") {
        return;
    }
    let scratch = env.path("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    // (name, attributes, type of the two new layers, gzip XFL byte of the new layers)
    let cases = [
        ("zstd", ",compression=zstd", OCI_LAYER_ZSTD, None),
        ("uncompressed", ",compression=uncompressed", OCI_LAYER, None),
        (
            "gzip-9",
            ",compression=gzip,compression-level=9",
            OCI_LAYER_GZIP,
            Some(2u8),
        ),
        (
            "gzip-1",
            ",compression=gzip,compression-level=1",
            OCI_LAYER_GZIP,
            Some(4u8),
        ),
    ];
    for (name, attrs, new_type, xfl) in cases {
        say(&format!("{test}: case {name}"));
        // A context of its own per case, so that no earlier export's blob can be reused.
        let ctx = context(
            &env,
            &format!("ctx-{name}"),
            &[("Dockerfile", COMPRESSION_DOCKERFILE), ("a", name)],
        );
        let dir = export_layout(&env, &ctx, name, "oci", attrs);
        let (_, manifest, config) = layout_image(&dir);
        let types = check_layers(&dir, &manifest, &config, &scratch);
        assert_eq!(types.len(), 3, "{name}");
        assert_eq!(types[0], OCI_LAYER_GZIP, "{name}: the base layer is kept");
        assert_eq!(types[1..], [new_type, new_type], "{name}");
        if let Some(xfl) = xfl {
            for layer in &manifest["layers"].as_array().unwrap()[1..] {
                let data = std::fs::read(blob(&dir, layer["digest"].as_str().unwrap())).unwrap();
                assert_eq!(data[8], xfl, "{name}: gzip XFL of {layer}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. --load

/// A private Docker engine: its own data root, exec root, pid file and socket; its own
/// containerd (started by dockerd). Stopped by PID when dropped.
struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
    docker: PathBuf,
}

impl Dockerd {
    fn start(test: &str) -> Option<Dockerd> {
        if !have(test, "/usr/sbin/dockerd") {
            return None;
        }
        let docker = ["/usr/local/bin/docker", "/usr/bin/docker"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists());
        let Some(docker) = docker else {
            have(test, "/usr/bin/docker");
            return None;
        };
        // Short: the socket path must fit in sun_path.
        let dir = tempfile::Builder::new()
            .prefix("kdk")
            .tempdir_in("/tmp")
            .unwrap();
        let log = std::fs::File::create(dir.path().join("dockerd.log")).unwrap();
        let child = Command::new("/usr/sbin/dockerd")
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("docker.pid"))
            .arg("-H")
            .arg(format!(
                "unix://{}",
                dir.path().join("docker.sock").display()
            ))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--storage-driver=vfs",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut d = Dockerd { child, dir, docker };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!("{test}: dockerd exited ({status}):\n{}", d.log());
            }
            if d.docker(&["version"]).status.success() {
                return Some(d);
            }
            assert!(
                Instant::now() < deadline,
                "{test}: dockerd did not answer within 90s:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// The docker client against this engine.
    fn docker(&self, args: &[&str]) -> Output {
        Command::new(&self.docker)
            .args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("client-config"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop its own containerd; SIGKILL only if it hangs.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `--load` into a running engine at `DOCKER_HOST`; without an engine, a clear error.
#[test]
fn load_into_docker() {
    let test = "kiln build --load";
    let Some(env) = build_env(test) else {
        return;
    };
    let ctx = context(
        &env,
        "ctx",
        &[("Dockerfile", "FROM busybox\nRUN echo loaded > /loaded\n")],
    );

    // No engine: fails before writing anything, naming the socket and the way out.
    let missing = env.path("missing.sock");
    let out = run_logged(
        kiln_cmd(&env)
            .args(["build", "--progress=plain", "--load", "-t", "loadtest:1"])
            .arg(&ctx)
            .env("DOCKER_HOST", format!("unix://{}", missing.display())),
    );
    assert!(!out.status.success(), "--load without an engine succeeded");
    let err = stderr(&out);
    assert!(err.contains(path_str(&missing)), "{err}");
    assert!(err.contains("-o type=docker,dest="), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // Found out before building, not after.
    assert!(!err.contains("load build definition"), "{err}");
    // An engine kiln cannot reach through a unix socket is refused, not replaced by another.
    let out = run_logged(
        kiln_cmd(&env)
            .args(["build", "--progress=plain", "--load", "-t", "loadtest:1"])
            .arg(&ctx)
            .env("DOCKER_HOST", "tcp://127.0.0.1:9"),
    );
    assert!(!out.status.success(), "--load to a tcp:// engine succeeded");
    let err = stderr(&out);
    assert!(
        err.contains("DOCKER_HOST=tcp://127.0.0.1:9 is not supported by --load"),
        "{err}"
    );

    let Some(dockerd) = Dockerd::start(test) else {
        return;
    };
    let iid = env.path("iid");
    let out = run_logged(
        kiln_cmd(&env)
            .args(["build", "--progress=plain", "--load", "-t", "loadtest:1"])
            .arg("--iidfile")
            .arg(&iid)
            .arg(&ctx)
            .env("DOCKER_HOST", dockerd.host()),
    );
    assert!(
        out.status.success(),
        "--load failed:\n{}\n--- dockerd ---\n{}",
        stderr(&out),
        dockerd.log()
    );
    let id = std::fs::read_to_string(&iid).unwrap();
    let inspect = dockerd.docker(&["image", "inspect", "--format", "{{.Id}}", "loadtest:1"]);
    assert!(
        inspect.status.success(),
        "docker image inspect: {}\n--- dockerd ---\n{}",
        stderr(&inspect),
        dockerd.log()
    );
    assert_eq!(stdout(&inspect).trim(), id);
    let history = dockerd.docker(&[
        "image",
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "loadtest:1",
    ]);
    assert!(
        stdout(&history).contains("RUN /bin/sh -c echo loaded > /loaded"),
        "{}",
        stdout(&history)
    );
}

// ---------------------------------------------------------------------------------------------
// 4. sources

/// Writes an OCI layout holding the host platform's busybox from `recorded` with its layers
/// decompressed (tag `raw-oci`) and recompressed with the `zstd` command (tag `zstd-oci`; skopeo
/// 1.9's `--dest-compress-format zstd` reuses the registry's gzip blob instead), and returns the Docker (v2s2) manifests of the same config
/// over the decompressed layers and over the original gzip layers (skopeo's `oci:` transport
/// lists only OCI manifests, so those are put to the registry directly).
fn write_variant_layout(recorded: &OciLayout, dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let image = recorded.image(&host_platform()).expect("host platform");
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| -> Value {
        let hex = sha256_hex(data);
        std::fs::write(blobs.join(&hex), data).unwrap();
        json!({"digest": format!("sha256:{hex}"), "size": data.len()})
    };
    let config = std::fs::read(recorded.blob(&image.config_digest).unwrap()).unwrap();
    let config_desc = put(&config);
    let mut raw_layers = Vec::new();
    let mut gzip_layers = Vec::new();
    let mut zstd_layers = Vec::new();
    for digest in &image.layer_digests {
        let data = std::fs::read(recorded.blob(digest).unwrap()).unwrap();
        let mut tar = Vec::new();
        flate2::read::MultiGzDecoder::new(&data[..])
            .read_to_end(&mut tar)
            .unwrap();
        let file = dir.join("layer.tar");
        std::fs::write(&file, &tar).unwrap();
        zstd_layers.push(put(&client(
            Command::new("zstd").args(["-q", "-c"]).arg(&file),
        )));
        std::fs::remove_file(&file).unwrap();
        raw_layers.push(put(&tar));
        gzip_layers.push(json!({"digest": digest, "size": data.len()}));
    }
    let with_type = |d: &Value, t: &str| {
        let mut d = d.clone();
        d["mediaType"] = json!(t);
        d
    };
    let manifest = |mt: &str, ct: &str, layers: &[Value], lt: &str| -> Vec<u8> {
        let m = json!({
            "schemaVersion": 2,
            "mediaType": mt,
            "config": with_type(&config_desc, ct),
            "layers": layers.iter().map(|l| with_type(l, lt)).collect::<Vec<_>>(),
        });
        serde_json::to_vec(&m).unwrap()
    };
    let mut entries = Vec::new();
    for (tag, layers, layer_type) in [
        ("raw-oci", &raw_layers, OCI_LAYER),
        ("zstd-oci", &zstd_layers, OCI_LAYER_ZSTD),
    ] {
        let oci = manifest(OCI_MANIFEST, OCI_CONFIG, layers, layer_type);
        let mut entry = with_type(&put(&oci), OCI_MANIFEST);
        entry["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        entries.push(entry);
    }
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    (
        manifest(DOCKER_MANIFEST, DOCKER_CONFIG, &raw_layers, DOCKER_LAYER),
        manifest(
            DOCKER_MANIFEST,
            DOCKER_CONFIG,
            &gzip_layers,
            DOCKER_LAYER_GZIP,
        ),
    )
}

/// `PUT /v2/<repo>/manifests/<tag>` over plain HTTP (the registry has the blobs already).
fn put_manifest(host: &str, repo: &str, tag: &str, media_type: &str, body: &[u8]) {
    use std::io::Write;
    let mut conn = std::net::TcpStream::connect(host).unwrap();
    write!(
        conn,
        "PUT /v2/{repo}/manifests/{tag} HTTP/1.1\r\nHost: {host}\r\n\
         Content-Type: {media_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(body).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "PUT {repo}:{tag}: {answer}"
    );
}

/// Pushes the host platform's busybox with zstd and uncompressed layers under OCI media types,
/// and with uncompressed and gzip layers under Docker media types, next to the recorded gzip
/// OCI `busybox`; checks each as the registry serves it. Returns `(reference, layer type)`.
fn push_variants(env: &BuildEnv, recorded: &OciLayout) -> Vec<(String, &'static str)> {
    let host = env.registry.host().to_string();
    // The variants, pushed with skopeo; checked as the registry serves them.
    let variants = env.path("variants");
    let (raw_v2s2, gzip_v2s2) = write_variant_layout(recorded, &variants);
    for tag in ["raw-oci", "zstd-oci"] {
        client(&mut skopeo(&[
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &format!("oci:{}:{tag}", variants.display()),
            &format!("docker://{host}/src/{tag}:1"),
        ]));
    }
    put_manifest(&host, "src/raw-oci", "v2s2", DOCKER_MANIFEST, &raw_v2s2);
    put_manifest(
        &host,
        "library/busybox",
        "v2s2",
        DOCKER_MANIFEST,
        &gzip_v2s2,
    );
    let sources = vec![
        ("busybox".to_string(), OCI_LAYER_GZIP),
        (format!("{host}/src/zstd-oci:1"), OCI_LAYER_ZSTD),
        (format!("{host}/src/raw-oci:1"), OCI_LAYER),
        (format!("{host}/src/raw-oci:v2s2"), DOCKER_LAYER),
        (format!("{host}/library/busybox:v2s2"), DOCKER_LAYER_GZIP),
    ];
    for (source, layer_type) in &sources[1..] {
        let raw = client_json(&mut skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{source}"),
        ]));
        assert_eq!(
            raw["layers"][0]["mediaType"], *layer_type,
            "{source}: {raw}"
        );
    }

    sources
}

/// `FROM` base images with gzip, zstd and uncompressed layers under OCI and Docker media
/// types, by digest and through an `ARG` before `FROM`: the same tree every time, and the
/// base layers exported as the registry served them.
#[test]
fn base_image_formats() {
    let test = "kiln build base image formats";
    let Some(env) = build_env(test) else {
        return;
    };
    let Some(recorded) = kiln_testkit::images::or_skip(test, recorded_busybox_layout()) else {
        return;
    };
    let sources = push_variants(&env, &recorded);

    // `ARG BASE` before `FROM` selects the base: its default, then each variant.
    let ctx = context(
        &env,
        "ctx",
        &[(
            "Dockerfile",
            "ARG BASE=busybox\nFROM ${BASE}\nRUN ls -l /bin | wc -l > /count\n",
        )],
    );
    let scratch = env.path("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let mut baseline: Option<Value> = None;
    for (i, (source, layer_type)) in sources.iter().enumerate() {
        say(&format!("{test}: FROM {source}"));
        let out_tar = env.path(&format!("out-{i}.tar"));
        let mut args = vec!["build", "--progress=plain"];
        let arg = format!("BASE={source}");
        if i > 0 {
            args.extend(["--build-arg", arg.as_str()]);
        }
        let output = format!("type=oci,dest={}", out_tar.display());
        args.extend(["-o", output.as_str(), path_str(&ctx)]);
        // A root per base: bases sharing diff IDs with different blobs on one root are
        // `same_layers_other_blobs`.
        let root = match i {
            0 => env.path("root"),
            _ => env.path(&format!("root-{i}")),
        };
        kiln_ok_in(&env, &root, &args);
        let layout = env.path(&format!("out-{i}"));
        untar(&out_tar, &layout);
        let (_, manifest, config) = layout_image(&layout);
        let types = check_layers(&layout, &manifest, &config, &scratch);
        // The base layer is exported as it was pulled (no force-compression); a Docker type
        // becomes its OCI twin in an OCI manifest.
        let expected = match *layer_type {
            DOCKER_LAYER => OCI_LAYER,
            DOCKER_LAYER_GZIP => OCI_LAYER_GZIP,
            t => t,
        };
        assert_eq!(types[0], expected, "FROM {source}: {types:?}");
        let summary = kiln_testkit::summary::summarize(&out_tar).unwrap();
        let tree = summary["images"][host_platform()]["tree"].clone();
        assert!(
            tree["count"].is_string(),
            "FROM {source}: no /count: {tree}"
        );
        match &baseline {
            None => baseline = Some(tree),
            Some(b) => {
                let diff = kiln_testkit::summary::diff(
                    &json!({"images": {"p": {"tree": b}}}),
                    &json!({"images": {"p": {"tree": tree}}}),
                );
                assert!(diff.is_empty(), "FROM {source}: tree differs: {diff:#?}");
            }
        }
    }

    // `FROM image@sha256:<digest>`: the index the registry serves, and a digest it lacks.
    let by_digest = context(
        &env,
        "ctx-digest",
        &[(
            "Dockerfile",
            &format!(
                "FROM busybox@{}\nRUN ls -l /bin | wc -l > /count\n",
                recorded.index_digest
            ),
        )],
    );
    let out_tar = env.path("digest.tar");
    kiln_ok(
        &env,
        &[
            "build",
            "--progress=plain",
            "-o",
            &format!("type=oci,dest={}", out_tar.display()),
            path_str(&by_digest),
        ],
    );
    let summary = kiln_testkit::summary::summarize(&out_tar).unwrap();
    assert_eq!(
        Some(&summary["images"][host_platform()]["tree"]),
        baseline.as_ref()
    );
    let missing = format!("sha256:{}", "0".repeat(64));
    let bad = context(
        &env,
        "ctx-bad-digest",
        &[("Dockerfile", &format!("FROM busybox@{missing}\n"))],
    );
    let out = run_logged(
        kiln_cmd(&env)
            .args(["build", "--progress=plain", "-o"])
            .arg(format!("type=oci,dest={}", env.path("bad.tar").display()))
            .arg(&bad),
    );
    assert!(!out.status.success(), "FROM a missing digest succeeded");
    // The mirror's `not found`, not the unreachable Docker Hub behind the dead proxy.
    let err = stderr(&out);
    let last = err
        .lines()
        .rfind(|l| l.starts_with("ERROR:"))
        .unwrap_or_default();
    assert!(last.contains(&missing), "{err}");
    assert!(last.contains("not found"), "{last}");
    assert!(!last.contains("registry-1.docker.io"), "{last}");
    assert!(!env.path("bad.tar").exists());
}

// ---------------------------------------------------------------------------------------------
// 5. Dockerfile features

/// `ADD` extracts local `.tar.bz2`, `.tar.xz` and `.tar.zst` archives; `COPY` copies them as
/// files.
#[test]
fn add_extracts_compressed_archives() {
    let test = "kiln build ADD archives";
    let Some(env) = build_env(test) else {
        return;
    };
    for tool in ["/usr/bin/bzip2", "/usr/bin/xz", "/usr/bin/zstd"] {
        if !have(test, tool) {
            return;
        }
    }
    let ctx = context(
        &env,
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nADD a.tar.bz2 /bz2/\nADD a.tar.xz /xz/\nADD a.tar.zst /zst/\n\
             COPY a.tar.bz2 a.tar.xz a.tar.zst /copied/\n",
        )],
    );
    let src = env.path("archive-src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("sub/f.txt"), "archived\n").unwrap();
    let tar = env.path("a.tar");
    client(
        Command::new("tar")
            .arg("-cf")
            .arg(&tar)
            .arg("-C")
            .arg(&src)
            .arg("sub"),
    );
    for (tool, ext) in [("bzip2", "bz2"), ("xz", "xz"), ("zstd", "zst")] {
        let out = client(Command::new(tool).args(["-c", "-q"]).arg(&tar));
        std::fs::write(ctx.join(format!("a.tar.{ext}")), out).unwrap();
    }
    let out = env.path("tree");
    kiln_ok(
        &env,
        &[
            "build",
            "--progress=plain",
            "-o",
            &format!("type=local,dest={}", out.display()),
            path_str(&ctx),
        ],
    );
    for ext in ["bz2", "xz", "zst"] {
        assert_eq!(
            std::fs::read_to_string(out.join(ext).join("sub/f.txt")).unwrap(),
            "archived\n",
            "ADD a.tar.{ext}"
        );
        let name = format!("a.tar.{ext}");
        assert!(!out.join(ext).join(&name).exists());
        assert_eq!(
            std::fs::read(out.join("copied").join(&name)).unwrap(),
            std::fs::read(ctx.join(&name)).unwrap(),
            "COPY {name}"
        );
    }
}

/// `ONBUILD RUN` / `ONBUILD COPY` run in a child built `FROM` the parent image (with the
/// child's context), and the child's config has no triggers left.
#[test]
fn onbuild_triggers_run_in_the_child() {
    let test = "kiln build ONBUILD";
    let Some(env) = build_env(test) else {
        return;
    };
    let port = env.registry.host().rsplit(':').next().unwrap().to_string();
    let parent = format!("localhost:{port}/e2e/parent:1");
    let pctx = context(
        &env,
        "parent",
        &[(
            "Dockerfile",
            "FROM busybox\nONBUILD RUN echo triggered > /onbuild-run\n\
             ONBUILD COPY trig.txt /trig.txt\n",
        )],
    );
    kiln_ok(
        &env,
        &[
            "build",
            "--progress=plain",
            "--push",
            "-t",
            &parent,
            path_str(&pctx),
        ],
    );
    // `--raw`: skopeo's parsed OCI config has no `OnBuild` field.
    let pconfig = client_json(&mut skopeo(&[
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{parent}"),
    ]));
    assert_eq!(
        pconfig["config"]["OnBuild"],
        json!([
            "RUN echo triggered > /onbuild-run",
            "COPY trig.txt /trig.txt"
        ]),
        "{pconfig}"
    );

    let cctx = context(
        &env,
        "child",
        &[
            (
                "Dockerfile",
                &format!("FROM {parent}\nRUN cat /trig.txt /onbuild-run > /seen\n"),
            ),
            ("trig.txt", "from the child's context\n"),
        ],
    );
    let out_tar = env.path("child.tar");
    kiln_ok(
        &env,
        &[
            "build",
            "--progress=plain",
            "-o",
            &format!("type=oci,dest={}", out_tar.display()),
            path_str(&cctx),
        ],
    );
    let layout = env.path("child-layout");
    untar(&out_tar, &layout);
    let (_, _, config) = layout_image(&layout);
    assert!(
        config["config"]["OnBuild"].is_null(),
        "the child kept the triggers: {config}"
    );
    let tree = env.path("child-tree");
    kiln_ok(
        &env,
        &[
            "build",
            "--progress=plain",
            "-o",
            &format!("type=local,dest={}", tree.display()),
            path_str(&cctx),
        ],
    );
    assert_eq!(
        std::fs::read_to_string(tree.join("seen")).unwrap(),
        "from the child's context\ntriggered\n"
    );
}

/// `USER name:group`, `USER name` and `USER uid:gid` resolved from the image's /etc/passwd and
/// /etc/group: the ids RUN sees and the owner of the files it writes.
#[test]
fn user_and_group_from_the_image() {
    let test = "kiln build USER";
    let Some(env) = build_env(test) else {
        return;
    };
    let ctx = context(
        &env,
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN echo 'kuser:x:4321:1234:k user:/home/kuser:/bin/sh' >> /etc/passwd && \
             echo 'kgroup:x:1234:' >> /etc/group && echo 'kextra:x:2345:kuser' >> /etc/group && \
             mkdir -m 1777 /out\n\
             USER kuser:kgroup\n\
             RUN id > /out/id-named && touch /out/owned\n\
             USER kuser\n\
             RUN id > /out/id-user\n\
             USER 4321:2345\n\
             RUN id > /out/id-numeric\n",
        )],
    );
    let tree = env.path("tree");
    kiln_ok(
        &env,
        &[
            "build",
            "--progress=plain",
            "-o",
            &format!("type=local,dest={}", tree.display()),
            path_str(&ctx),
        ],
    );
    for (file, want) in [
        ("id-named", "uid=4321(kuser) gid=1234(kgroup)"),
        ("id-user", "uid=4321(kuser) gid=1234(kgroup)"),
        ("id-numeric", "uid=4321(kuser) gid=2345(kextra)"),
    ] {
        let got = std::fs::read_to_string(tree.join("out").join(file)).unwrap();
        assert!(got.starts_with(want), "{file}: {got:?}, want {want}");
    }
    let owned = std::fs::metadata(tree.join("out/owned")).unwrap();
    assert_eq!((owned.uid(), owned.gid()), (4321, 1234));

    let out_tar = env.path("user.tar");
    kiln_ok(
        &env,
        &[
            "build",
            "--progress=plain",
            "-o",
            &format!("type=oci,dest={}", out_tar.display()),
            path_str(&ctx),
        ],
    );
    let summary = kiln_testkit::summary::summarize(&out_tar).unwrap();
    let image = &summary["images"][host_platform()];
    assert_eq!(image["config"]["User"], "4321:2345", "{image}");
    let owned = image["tree"]["out/owned"].as_str().unwrap_or_default();
    assert!(owned.ends_with("uid=4321 gid=1234"), "{owned}");
}

/// A base whose layers have the diff IDs of an image built before on the same root but other
/// blobs (busybox recompressed with zstd): the export needs the zstd blob, which BuildKit
/// fetches lazily; kiln must not point the layer at a blob it never downloaded.
#[test]
fn same_layers_other_blobs() {
    let test = "kiln build same layers, other blobs";
    let Some(env) = build_env(test) else {
        return;
    };
    let Some(recorded) = kiln_testkit::images::or_skip(test, recorded_busybox_layout()) else {
        return;
    };
    let sources = push_variants(&env, &recorded);
    let scratch = env.path("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    for (i, (source, layer_type)) in sources.iter().enumerate() {
        let ctx = context(
            &env,
            &format!("ctx-{i}"),
            &[("Dockerfile", &format!("FROM {source}\nRUN echo {i} > /i\n"))],
        );
        let out_tar = env.path(&format!("out-{i}.tar"));
        kiln_ok(
            &env,
            &[
                "build",
                "--progress=plain",
                "-o",
                &format!("type=oci,dest={}", out_tar.display()),
                path_str(&ctx),
            ],
        );
        let layout = env.path(&format!("out-{i}"));
        untar(&out_tar, &layout);
        let (_, manifest, config) = layout_image(&layout);
        let types = check_layers(&layout, &manifest, &config, &scratch);
        assert!(
            types[0] == *layer_type || layer_type.starts_with("application/vnd.docker"),
            "FROM {source}: {types:?}"
        );
    }
}
