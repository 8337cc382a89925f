//! End-to-end tests of the exporters against a real store, checked with real tools
//! (`skopeo`, `umoci`) where they are installed (required when `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use kiln_exporter::{
    Annotations, Compression, CompressionConfig, Destination, ImageOptions, LayoutKind,
    LayoutOptions, PlatformImage, commit_image, compress_layer, convert_layer, export_local,
    exported_root, load_into_docker, metadata, normalize_names, push_plan, record_image,
    write_layout_dir, write_layout_tar, write_rootfs_tar,
};
use kiln_store::{Digest, ImageStore, LabelStore, Store, read_blob};

fn tool(name: &str) -> bool {
    let found = Command::new(name).arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name} is required when CI=true"
        );
        println!("skipping: {name} is not installed");
    }
    found
}

/// A small layer tar: a directory, a file, a symlink and a hard link.
fn layer_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "hello/", std::io::empty()).unwrap();
    let data = b"hello world\n";
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "hello/world.txt", &data[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "hello/link", "world.txt").unwrap();
    b.into_inner().unwrap()
}

fn config(platform: &str) -> Vec<u8> {
    let p = kiln_platforms::parse(platform).unwrap();
    let variant = if p.variant.is_empty() {
        String::new()
    } else {
        format!(r#","variant":"{}""#, p.variant)
    };
    format!(
        r#"{{"architecture":"{}","os":"linux"{variant},"config":{{"Env":["PATH=/usr/bin:/bin"],"Cmd":["cat","/hello/world.txt"]}},"history":[{{"created":"2026-01-01T00:00:00Z","created_by":"COPY hello /hello # buildkit","comment":"buildkit.dockerfile.v0"}},{{"created_by":"CMD [\"cat\"]","comment":"buildkit.dockerfile.v0","empty_layer":true}}]}}"#,
        p.architecture
    )
    .into_bytes()
}

fn one_layer_image(store: &Store, cfg: CompressionConfig, platform: &str) -> PlatformImage {
    let layer = compress_layer(store, &layer_tar()[..], &cfg, None).unwrap();
    PlatformImage {
        platform: kiln_platforms::parse(platform).unwrap(),
        config: config(platform),
        layers: vec![layer],
    }
}

#[test]
fn compression_round_trips_with_digests_and_is_deterministic() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let tar = layer_tar();
    for c in [
        Compression::Uncompressed,
        Compression::Gzip,
        Compression::Zstd,
    ] {
        let cfg = CompressionConfig {
            compression: c,
            ..Default::default()
        };
        let a = compress_layer(&store, &tar[..], &cfg, None).unwrap();
        let b = compress_layer(&store, &tar[..], &cfg, None).unwrap();
        assert_eq!(a.digest, b.digest, "{c}: same input, same bytes");
        assert_eq!(a.diff_id, Digest::sha256(&tar));
        let blob = read_blob(&store, &a.digest, 1 << 20).unwrap();
        assert_eq!(Digest::sha256(&blob), a.digest);
        assert_eq!(blob.len() as u64, a.size);
        let mut back = Vec::new();
        kiln_exporter::open_uncompressed(&store, &a.digest, c)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, tar, "{c} round trip");
        if c == Compression::Gzip {
            // Go's compress/gzip header: no flags, mtime 0, XFL 0, OS 255.
            assert_eq!(&blob[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        }
    }
    // Levels: out of range is refused, a level changes the bytes but not the diffID.
    let bad = CompressionConfig {
        compression: Compression::Gzip,
        level: Some(10),
        force: false,
    };
    assert!(compress_layer(&store, &tar[..], &bad, None).is_err());
    let fast = CompressionConfig {
        level: Some(1),
        ..Default::default()
    };
    assert_eq!(
        compress_layer(&store, &tar[..], &fast, None)
            .unwrap()
            .diff_id,
        Digest::sha256(&tar)
    );
}

#[test]
fn force_compression_converts_existing_layers() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let gz = compress_layer(
        &store,
        &layer_tar()[..],
        &CompressionConfig::default(),
        None,
    )
    .unwrap();
    let zstd = CompressionConfig {
        compression: Compression::Zstd,
        level: None,
        force: false,
    };
    assert_eq!(convert_layer(&store, &gz, &zstd, None).unwrap(), gz);
    let forced = convert_layer(
        &store,
        &gz,
        &CompressionConfig {
            force: true,
            ..zstd
        },
        None,
    )
    .unwrap();
    assert_eq!(forced.compression, Compression::Zstd);
    assert_eq!(forced.diff_id, gz.diff_id);
    assert_ne!(forced.digest, gz.digest);
}

#[test]
fn single_platform_manifest_docker_and_oci_media_types() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let img = one_layer_image(&store, CompressionConfig::default(), "linux/amd64");
    for oci in [false, true] {
        let out = commit_image(
            &store,
            std::slice::from_ref(&img),
            &ImageOptions::default(),
            oci,
        )
        .unwrap();
        assert!(!out.is_index);
        let m = &out.manifests[0];
        let bytes = read_blob(&store, &out.root.digest, 1 << 20).unwrap();
        let (mt, cfg_mt, layer_mt) = if oci {
            (
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        } else {
            (
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.container.image.v1+json",
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
            )
        };
        let expected = format!(
            "{{\n  \"mediaType\": \"{mt}\",\n  \"schemaVersion\": 2,\n  \"config\": {{\n    \"mediaType\": \"{cfg_mt}\",\n    \"digest\": \"{}\",\n    \"size\": {}\n  }},\n  \"layers\": [\n    {{\n      \"mediaType\": \"{layer_mt}\",\n      \"digest\": \"{}\",\n      \"size\": {}\n    }}\n  ]\n}}",
            m.config.digest, m.config.size, img.layers[0].digest, img.layers[0].size
        );
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
        let config = read_blob(&store, &m.config.digest, 1 << 20).unwrap();
        let expected_config = format!(
            r#"{{"architecture":"amd64","config":{{"Env":["PATH=/usr/bin:/bin"],"Cmd":["cat","/hello/world.txt"]}},"created":"2026-01-01T00:00:00Z","history":[{{"created":"2026-01-01T00:00:00Z","created_by":"COPY hello /hello # buildkit","comment":"buildkit.dockerfile.v0"}},{{"created":"2026-01-01T00:00:00Z","created_by":"CMD [\"cat\"]","comment":"buildkit.dockerfile.v0","empty_layer":true}}],"os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
            img.layers[0].diff_id
        );
        assert_eq!(String::from_utf8(config).unwrap(), expected_config);
        assert_eq!(out.config_digest(), Some(&m.config.digest));
        // GC labels: manifest → config, layer.
        let labels = store.labels(&out.root.digest).unwrap();
        assert_eq!(labels.len(), 2);
    }
}

#[test]
fn multi_platform_index_with_annotations() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let imgs = vec![
        one_layer_image(&store, CompressionConfig::default(), "linux/amd64"),
        one_layer_image(&store, CompressionConfig::default(), "linux/arm/v7"),
    ];
    let mut annotations = Annotations::new();
    annotations
        .add_cli("index:org.opencontainers.image.title=app")
        .unwrap();
    annotations
        .add_cli("manifest-descriptor[linux/arm/v7]:arm=1")
        .unwrap();
    let opts = ImageOptions {
        annotations,
        ..Default::default()
    };
    let oci = opts.effective_oci(Compression::Gzip);
    assert!(oci, "index annotations force OCI media types");
    let out = commit_image(&store, &imgs, &opts, oci).unwrap();
    assert!(out.is_index);
    let index = String::from_utf8(read_blob(&store, &out.root.digest, 1 << 20).unwrap()).unwrap();
    let expected = format!(
        "{{\n  \"mediaType\": \"application/vnd.oci.image.index.v1+json\",\n  \"schemaVersion\": 2,\n  \"manifests\": [\n    {{\n      \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n      \"digest\": \"{}\",\n      \"size\": {},\n      \"platform\": {{\n        \"architecture\": \"amd64\",\n        \"os\": \"linux\"\n      }}\n    }},\n    {{\n      \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n      \"digest\": \"{}\",\n      \"size\": {},\n      \"annotations\": {{\n        \"arm\": \"1\"\n      }},\n      \"platform\": {{\n        \"architecture\": \"arm\",\n        \"os\": \"linux\",\n        \"variant\": \"v7\"\n      }}\n    }}\n  ],\n  \"annotations\": {{\n    \"org.opencontainers.image.title\": \"app\"\n  }}\n}}",
        out.manifests[0].descriptor.digest,
        out.manifests[0].descriptor.size,
        out.manifests[1].descriptor.digest,
        out.manifests[1].descriptor.size,
    );
    assert_eq!(index, expected);
    // Docker manifest list without annotations.
    let docker = commit_image(&store, &imgs, &ImageOptions::default(), false).unwrap();
    let list = String::from_utf8(read_blob(&store, &docker.root.digest, 1 << 20).unwrap()).unwrap();
    assert!(list.starts_with(
        "{\n  \"mediaType\": \"application/vnd.docker.distribution.manifest.list.v2+json\""
    ));
    // Index annotations on a single manifest are refused, as BuildKit does.
    let mut a = Annotations::new();
    a.add_cli("index:x=y").unwrap();
    let single = ImageOptions {
        annotations: a,
        ..Default::default()
    };
    assert!(commit_image(&store, &imgs[..1], &single, true).is_err());
    // Push plan: children first, root last.
    let plan = push_plan(&out, &["docker.io/library/app:1".to_string()]);
    assert_eq!(plan.blobs.last().unwrap().digest, out.root.digest);
    // Both platforms share the same layer blob: it is listed once.
    assert_eq!(plan.blobs.len(), 1 + 2 * 2 + 1);
}

#[test]
fn source_date_epoch_clamps_created_times() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let img = one_layer_image(&store, CompressionConfig::default(), "linux/amd64");
    let opts = ImageOptions {
        epoch: Some(time::OffsetDateTime::from_unix_timestamp(1_000_000_000).unwrap()),
        ..Default::default()
    };
    let out = commit_image(&store, &[img], &opts, true).unwrap();
    let cfg = read_blob(&store, &out.manifests[0].config.digest, 1 << 20).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&cfg).unwrap();
    assert_eq!(v["created"], "2001-09-09T01:46:40Z");
    assert_eq!(v["history"][0]["created"], "2001-09-09T01:46:40Z");
}

fn build(store: &Store, oci: bool) -> kiln_exporter::CommittedImage {
    let img = one_layer_image(store, CompressionConfig::default(), "linux/amd64");
    commit_image(store, &[img], &ImageOptions::default(), oci).unwrap()
}

fn tar_names(data: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(data);
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn oci_layout_tarball_is_valid_for_skopeo_and_umoci() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let image = build(&store, true);
    let names = normalize_names("app:1").unwrap();
    let opts = LayoutOptions {
        kind: LayoutKind::Oci,
        names: names.clone(),
        created: time::OffsetDateTime::from_unix_timestamp(0).unwrap(),
    };
    let tarball = write_layout_tar(&store, &image, &opts, Vec::new()).unwrap();
    assert_eq!(
        tarball,
        write_layout_tar(&store, &image, &opts, Vec::new()).unwrap(),
        "deterministic"
    );
    let entries = tar_names(&tarball);
    assert_eq!(entries[0], "blobs/");
    assert!(entries.contains(&"index.json".to_string()));
    assert!(entries.contains(&"oci-layout".to_string()));
    assert!(!entries.contains(&"manifest.json".to_string()));

    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("out.tar");
    Destination::File(path.clone())
        .write_with(|w| write_layout_tar(&store, &image, &opts, w).map(|_| ()))
        .unwrap();
    let mut a = tar::Archive::new(fs::File::open(&path).unwrap());
    let index = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path().unwrap().to_str() == Some("index.json"))
        .map(|mut e| {
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            s
        })
        .unwrap();
    assert_eq!(
        index,
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"annotations":{{"io.containerd.image.name":"docker.io/library/app:1","org.opencontainers.image.created":"1970-01-01T00:00:00Z","org.opencontainers.image.ref.name":"1"}},"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
            image.root.digest, image.root.size
        )
    );

    if tool("skopeo") {
        let out = Command::new("skopeo")
            .args(["inspect", "--raw"])
            .arg(format!("oci-archive:{}:1", path.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.stdout,
            read_blob(&store, &image.root.digest, 1 << 20).unwrap()
        );
    }
    if tool("umoci") {
        let layout = work.path().join("layout");
        write_layout_dir(&store, &image, &opts, &layout).unwrap();
        // Writing again keeps one entry per name.
        write_layout_dir(&store, &image, &opts, &layout).unwrap();
        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
        let bundle = work.path().join("bundle");
        let out = Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:1", layout.display()))
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            fs::read_to_string(bundle.join("rootfs/hello/world.txt")).unwrap(),
            "hello world\n"
        );
        assert_eq!(
            fs::read_link(bundle.join("rootfs/hello/link")).unwrap(),
            Path::new("world.txt")
        );
    }
}

#[test]
fn docker_tarball_has_manifest_json_and_metadata() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let image = build(&store, false);
    let names = normalize_names("app:1,reg.example/team/app:2").unwrap();
    let created = time::OffsetDateTime::from_unix_timestamp(0).unwrap();
    let opts = LayoutOptions {
        kind: LayoutKind::Docker,
        names: names.clone(),
        created,
    };
    let tarball = write_layout_tar(&store, &image, &opts, Vec::new()).unwrap();
    let mut a = tar::Archive::new(&tarball[..]);
    let manifest = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path().unwrap().to_str() == Some("manifest.json"))
        .map(|mut e| {
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            s
        })
        .unwrap();
    let m = &image.manifests[0];
    assert_eq!(
        manifest,
        format!(
            r#"[{{"Config":"blobs/sha256/{}","RepoTags":["app:1","reg.example/team/app:2"],"Layers":["blobs/sha256/{}"]}}]"#,
            m.config.digest.hex(),
            m.layers[0].digest.hex()
        )
    );
    // A multi-platform image cannot go into a Docker tarball.
    let imgs = vec![
        one_layer_image(&store, CompressionConfig::default(), "linux/amd64"),
        one_layer_image(&store, CompressionConfig::default(), "linux/arm64"),
    ];
    let multi = commit_image(&store, &imgs, &ImageOptions::default(), false).unwrap();
    assert!(write_layout_tar(&store, &multi, &opts, Vec::new()).is_err());

    // --metadata-file content.
    let md = metadata(&image, &exported_root(&image, created), &names).unwrap();
    assert_eq!(md["containerimage.digest"], image.root.digest.to_string());
    assert_eq!(
        md["containerimage.config.digest"],
        m.config.digest.to_string()
    );
    assert_eq!(
        md["containerimage.descriptor"]["annotations"]["org.opencontainers.image.created"],
        "1970-01-01T00:00:00Z"
    );
    assert_eq!(
        md["image.name"],
        "docker.io/library/app:1,reg.example/team/app:2"
    );

    // type=image records the names.
    record_image(&store, &image, &names).unwrap();
    let rec = store.image("docker.io/library/app:1").unwrap();
    assert_eq!(
        rec.target.digest().to_string(),
        image.root.digest.to_string()
    );
}

#[test]
fn load_without_docker_engine_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let tarball = dir.path().join("image.tar");
    fs::write(&tarball, b"").unwrap();
    let err = load_into_docker(&dir.path().join("no.sock"), &tarball).unwrap_err();
    assert!(err.to_string().contains("type=docker,dest="), "{err}");
}

fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("etc/sub")).unwrap();
    fs::write(root.join("etc/a"), b"A").unwrap();
    fs::set_permissions(root.join("etc/a"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::hard_link(root.join("etc/a"), root.join("etc/sub/a-link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("escape")).unwrap();
    std::os::unix::fs::symlink("../a", root.join("etc/sub/rel")).unwrap();
}

#[test]
fn local_output_keeps_links_modes_and_never_follows_symlinks() {
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path());
    let dest = tempfile::tempdir().unwrap();
    // A symlink planted in the destination where a directory goes must be replaced, not followed.
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), dest.path().join("etc")).unwrap();
    export_local(src.path(), dest.path()).unwrap();
    assert!(fs::read_dir(outside.path()).unwrap().next().is_none());
    let a = fs::symlink_metadata(dest.path().join("etc/a")).unwrap();
    assert_eq!(a.mode() & 0o7777, 0o4755);
    let link = fs::symlink_metadata(dest.path().join("etc/sub/a-link")).unwrap();
    assert_eq!(a.ino(), link.ino(), "hard link preserved");
    assert_eq!(
        fs::read_link(dest.path().join("escape")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        fs::read_link(dest.path().join("etc/sub/rel")).unwrap(),
        Path::new("../a")
    );
}

#[test]
fn tar_output_keeps_links() {
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path());
    let data = write_rootfs_tar(src.path(), "", Vec::new()).unwrap();
    let mut a = tar::Archive::new(&data[..]);
    let mut seen = Vec::new();
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        assert!(!path.starts_with('/') && !path.contains(".."), "{path}");
        let kind = e.header().entry_type();
        let link = e
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned());
        seen.push((path, kind, link, e.header().mode().unwrap()));
    }
    assert!(seen.contains(&(
        "etc/sub/a-link".into(),
        tar::EntryType::Link,
        Some("etc/a".into()),
        0o4755
    )));
    assert!(seen.iter().any(|(p, k, l, _)| p == "escape"
        && *k == tar::EntryType::Symlink
        && l.as_deref() == Some("/etc/passwd")));
    assert!(
        seen.iter()
            .any(|(p, k, _, _)| p == "etc/" && *k == tar::EntryType::Directory)
    );
}

#[test]
fn names_are_recorded_in_the_image_store() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let image = build(&store, false);
    record_image(&store, &image, &["docker.io/library/x:latest".to_string()]).unwrap();
    assert_eq!(store.list_images().unwrap().len(), 1);
    // The image is a GC root: nothing it reaches is collected.
    assert!(store.gc().unwrap().removed.is_empty());
}

#[test]
fn load_image_fails_fast_without_engine() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let image = build(&store, false);
    let opts = LayoutOptions {
        kind: LayoutKind::Docker,
        names: normalize_names("app:1").unwrap(),
        created: time::OffsetDateTime::from_unix_timestamp(0).unwrap(),
    };
    let err = kiln_exporter::load_image(&store, &image, &opts, &root.path().join("none.sock"))
        .unwrap_err();
    assert!(matches!(err, kiln_exporter::Error::NoDockerEngine { .. }));
}

/// The conformance suite's busybox base image: its layer reused as is under a new config, then
/// unpacked by umoci.
#[test]
fn base_image_layer_is_reused_and_unpackable() {
    let shared = std::env::var("KILN_SHARED_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let base = shared.join("conformance/suites/builds/base-busybox-oci");
    if !base.exists() {
        println!("skipping: {} is absent", base.display());
        return;
    }
    let blob = |d: &str| {
        fs::read(
            base.join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(base.join("index.json")).unwrap()).unwrap();
    let inner: serde_json::Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let amd64 = inner["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "amd64")
        .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&blob(amd64["digest"].as_str().unwrap())).unwrap();
    let config = blob(manifest["config"]["digest"].as_str().unwrap());
    let cfg: serde_json::Value = serde_json::from_slice(&config).unwrap();
    let l = &manifest["layers"][0];
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let digest = Digest::parse(l["digest"].as_str().unwrap()).unwrap();
    let data = blob(digest.as_str());
    kiln_store::write_blob(
        &store,
        kiln_store::WriterOptions::new("base-layer").expected(digest.clone()),
        &mut std::io::Cursor::new(&data),
    )
    .unwrap();
    let layer = kiln_exporter::Layer::existing(
        l["mediaType"].as_str().unwrap(),
        digest.clone(),
        l["size"].as_u64().unwrap(),
        Digest::parse(cfg["rootfs"]["diff_ids"][0].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let image = commit_image(
        &store,
        &[PlatformImage {
            platform: kiln_platforms::parse("linux/amd64").unwrap(),
            config,
            layers: vec![layer],
        }],
        &ImageOptions::default(),
        true,
    )
    .unwrap();
    let m = &image.manifests[0];
    assert_eq!(m.layers[0].digest, digest, "the base layer is reused as is");
    let new_cfg: serde_json::Value =
        serde_json::from_slice(&read_blob(&store, &m.config.digest, 1 << 20).unwrap()).unwrap();
    assert_eq!(new_cfg["rootfs"], cfg["rootfs"]);
    assert_eq!(new_cfg["history"], cfg["history"]);
    assert_eq!(new_cfg["created"], cfg["created"]);
    if tool("umoci") {
        let work = tempfile::tempdir().unwrap();
        let layout = work.path().join("layout");
        let opts = LayoutOptions {
            kind: LayoutKind::Oci,
            names: normalize_names("busybox:test").unwrap(),
            created: time::OffsetDateTime::from_unix_timestamp(0).unwrap(),
        };
        write_layout_dir(&store, &image, &opts, &layout).unwrap();
        let bundle = work.path().join("bundle");
        let out = Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:test", layout.display()))
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(bundle.join("rootfs/bin/busybox").exists());
    }
}
