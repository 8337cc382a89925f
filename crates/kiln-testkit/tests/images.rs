//! The test kit's base images: the three-platform busybox layout made from Debian packages,
//! checked with our own reader, `skopeo`, `umoci`, against the builds suite's recorded
//! image, and pushed to a real registry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::Command;

use sha2::Digest as _;

use kiln_testkit::images::{
    self, BusyboxBinary, DebArch, LAYOUT_TAG, OciLayout, busybox_reference, or_skip,
};
use kiln_testkit::registry::{RegistryOptions, TestRegistry};

const PLATFORMS: [&str; 3] = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"];

fn layout() -> Option<OciLayout> {
    or_skip("busybox base image", images::busybox_layout())
}

/// Every entry of a gzip layer: path → (type, mode, uid, gid, size, link target).
fn entries(layer: &Path) -> BTreeMap<String, (char, u32, u64, u64, u64, String)> {
    let file = std::fs::File::open(layer).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let h = entry.header();
        let kind = match h.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Regular => 'f',
            tar::EntryType::Link => 'h',
            tar::EntryType::Symlink => 'l',
            other => panic!("unexpected entry type {other:?}"),
        };
        let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let link = entry
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.insert(
            path,
            (
                kind,
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.size().unwrap(),
                link,
            ),
        );
    }
    out
}

/// `skopeo <args>`'s JSON output; `None` (after a skip line) when skopeo is missing.
fn skopeo(args: &[&str]) -> Option<serde_json::Value> {
    skopeo_run(args).map(|out| serde_json::from_slice(&out).unwrap())
}

/// Runs skopeo and returns its stdout; `None` (after a skip line) when it is missing.
fn skopeo_run(args: &[&str]) -> Option<Vec<u8>> {
    let out = match Command::new("skopeo").args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "skopeo is missing under CI=true"
            );
            kiln_testkit::say("skopeo checks: skipped (skopeo is not installed)");
            return None;
        }
        Err(e) => panic!("running skopeo: {e}"),
    };
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.stdout)
}

#[test]
fn the_layout_has_three_platforms_with_applets_as_hard_links() {
    let Some(layout) = layout() else { return };
    let platforms: Vec<String> = layout.images.iter().map(|i| i.platform()).collect();
    assert_eq!(platforms, PLATFORMS);
    for image in &layout.images {
        assert_eq!(image.layer_digests.len(), 1, "{}", image.platform());
        let tree = entries(&layout.blob(&image.layer_digests[0]).unwrap());
        let busybox = &tree["bin/busybox"];
        assert_eq!(
            (busybox.0, busybox.1, busybox.2, busybox.3),
            ('f', 0o755, 0, 0)
        );
        let links: BTreeSet<&str> = tree
            .iter()
            .filter(|(_, e)| e.0 == 'h')
            .map(|(p, e)| {
                assert_eq!(e.5, "bin/busybox", "{p}");
                assert!(p.starts_with("bin/"), "{p}");
                p.as_str()
            })
            .collect();
        for applet in [
            "bin/sh", "bin/ls", "bin/[", "bin/env", "bin/wget", "bin/tar",
        ] {
            assert!(links.contains(applet), "{}: {applet}", image.platform());
        }
        assert!(links.len() > 200, "{} applets", links.len());
        let others: Vec<(&str, char, u32, u64)> = tree
            .iter()
            .filter(|(_, e)| e.0 != 'h')
            .map(|(p, e)| (p.as_str(), e.0, e.1, e.2))
            .collect();
        assert_eq!(
            others,
            [
                ("bin/", 'd', 0o755, 0),
                ("bin/busybox", 'f', 0o755, 0),
                ("dev/", 'd', 0o755, 0),
                ("etc/", 'd', 0o755, 0),
                ("etc/group", 'f', 0o644, 0),
                ("etc/localtime", 'f', 0o644, 0),
                ("etc/nsswitch.conf", 'f', 0o644, 0),
                ("etc/passwd", 'f', 0o644, 0),
                ("etc/shadow", 'f', 0o600, 0),
                ("home/", 'd', 0o755, 65534),
                ("root/", 'd', 0o700, 0),
                ("tmp/", 'd', 0o1777, 0),
                ("usr/", 'd', 0o755, 0),
                ("usr/bin/", 'd', 0o755, 0),
                ("usr/bin/env", 'l', 0o777, 0),
                ("usr/sbin/", 'd', 0o755, 1),
                ("var/", 'd', 0o755, 0),
                ("var/spool/", 'd', 0o755, 0),
                ("var/spool/mail/", 'd', 0o755, 8),
                ("var/www/", 'd', 0o755, 0),
            ]
        );
        assert_eq!(tree["usr/bin/env"].5, "../../bin/env");
    }
}

/// The same image the builds suite was recorded with: same file tree on every platform
/// and, for the same package version, the same diff IDs and config blobs.
#[test]
fn the_layout_matches_the_recorded_base_image() {
    let Some(layout) = layout() else { return };
    let Some(recorded) = or_skip("recorded base image", images::recorded_busybox_layout()) else {
        return;
    };
    for platform in PLATFORMS {
        let ours = layout.image(platform).unwrap();
        let theirs = recorded.image(platform).unwrap();
        let ours_tree = entries(&layout.blob(&ours.layer_digests[0]).unwrap());
        let theirs_tree = entries(&recorded.blob(&theirs.layer_digests[0]).unwrap());
        let same_package = ours_tree["bin/busybox"] == theirs_tree["bin/busybox"];
        if !same_package {
            kiln_testkit::say(&format!(
                "{platform}: busybox-static differs from the recorded one; comparing paths only"
            ));
            let a: BTreeSet<_> = ours_tree.keys().collect();
            let b: BTreeSet<_> = theirs_tree.keys().collect();
            assert_eq!(a, b, "{platform}");
            continue;
        }
        assert_eq!(ours_tree, theirs_tree, "{platform}");
        assert_eq!(ours.diff_ids, theirs.diff_ids, "{platform}");
        assert_eq!(ours.config_digest, theirs.config_digest, "{platform}");
    }
}

/// Rebuilding from the binaries inside the cached layout gives the same bytes.
#[test]
fn the_layout_is_reproducible() {
    let Some(layout) = layout() else { return };
    let mut binaries = Vec::new();
    for (image, arch) in layout.images.iter().zip(DebArch::ALL) {
        let config: serde_json::Value = serde_json::from_slice(
            &std::fs::read(layout.blob(&image.config_digest).unwrap()).unwrap(),
        )
        .unwrap();
        let created_by = config["history"][0]["created_by"].as_str().unwrap();
        let version = created_by
            .split_once("(Debian ")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(v, _)| v.to_string())
            .unwrap();
        let file = std::fs::File::open(layout.blob(&image.layer_digests[0]).unwrap()).unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let mut entry = archive
            .entries()
            .unwrap()
            .map(Result::unwrap)
            .find(|e| e.path_bytes().as_ref() == b"bin/busybox")
            .unwrap();
        let mtime = entry.header().mtime().unwrap();
        let mut binary = Vec::new();
        entry.read_to_end(&mut binary).unwrap();
        binaries.push(BusyboxBinary {
            arch,
            version,
            binary,
            mtime,
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let again = images::write_busybox_layout(&binaries, dir.path()).unwrap();
    assert_eq!(again.index_digest, layout.index_digest);
    assert_eq!(again.images, layout.images);
}

#[test]
fn skopeo_and_umoci_accept_the_layout() {
    let Some(layout) = layout() else { return };
    let source = format!("oci:{}:{LAYOUT_TAG}", layout.dir.display());
    let Some(raw) = skopeo(&["inspect", "--raw", &source]) else {
        return;
    };
    let listed: Vec<String> = raw["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            match p["variant"].as_str() {
                Some(v) => format!(
                    "{}/{}/{v}",
                    p["os"].as_str().unwrap(),
                    p["architecture"].as_str().unwrap()
                ),
                None => format!(
                    "{}/{}",
                    p["os"].as_str().unwrap(),
                    p["architecture"].as_str().unwrap()
                ),
            }
        })
        .collect();
    assert_eq!(listed, PLATFORMS);
    let arm = skopeo(&[
        "inspect",
        "--override-arch",
        "arm",
        "--override-variant",
        "v7",
        &source,
    ])
    .unwrap();
    assert_eq!(arm["Architecture"], "arm");
    let arm_layer = &layout.image("linux/arm/v7").unwrap().layer_digests;
    assert_eq!(arm["Layers"], serde_json::json!(arm_layer));

    if Command::new("umoci").arg("--version").output().is_err() {
        kiln_testkit::say("umoci checks: skipped (umoci is not installed)");
        return;
    }
    // umoci reads single-platform images: copy the arm64 one out, then unpack it.
    let work = tempfile::tempdir().unwrap();
    let single = work.path().join("arm64");
    skopeo_run(&[
        "copy",
        "--quiet",
        "--override-arch",
        "arm64",
        "--override-variant",
        "v8",
        &source,
        &format!("oci:{}:arm64", single.display()),
    ]);
    let bundle = work.path().join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:arm64", single.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "umoci unpack: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::MetadataExt;
    let rootfs = bundle.join("rootfs");
    let busybox = std::fs::metadata(rootfs.join("bin/busybox")).unwrap();
    let sh = std::fs::metadata(rootfs.join("bin/sh")).unwrap();
    assert_eq!(
        busybox.ino(),
        sh.ino(),
        "bin/sh is a hard link to bin/busybox"
    );
    assert!(busybox.nlink() > 200);
    assert_eq!(
        std::fs::read_link(rootfs.join("usr/bin/env")).unwrap(),
        Path::new("../../bin/env")
    );
    assert!(
        std::fs::read_to_string(rootfs.join("etc/passwd"))
            .unwrap()
            .contains("nobody:x:65534:65534:")
    );
}

#[test]
fn both_base_images_push_to_a_real_registry() {
    let Some(layout) = layout() else { return };
    let Some(registry) = TestRegistry::start(RegistryOptions::default()) else {
        return;
    };
    let dest = busybox_reference(registry.host());
    assert_eq!(dest, format!("{}/library/busybox:latest", registry.host()));
    or_skip(
        "pushing with skopeo",
        images::push_to_registry(&layout, &dest),
    )
    .unwrap();
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{dest}"))
        .output()
        .unwrap();
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    let digest = format!("sha256:{:x}", sha2::Sha256::digest(&raw.stdout));
    assert_eq!(digest, layout.index_digest, "the registry serves our index");

    let arm64 = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--override-arch",
        "arm64",
        "--override-variant",
        "v8",
        &format!("docker://{dest}"),
    ])
    .unwrap();
    // skopeo's `Digest` is the index's; the layers tell the platform's manifest apart.
    assert_eq!(arm64["Digest"], layout.index_digest);
    let layers = &layout.image("linux/arm64/v8").unwrap().layer_digests;
    assert_eq!(arm64["Layers"], serde_json::json!(layers));

    let recorded_dest = format!("{}/library/recorded:latest", registry.host());
    if let Some(recorded) = or_skip(
        "pushing the recorded base image",
        images::push_recorded_busybox(&recorded_dest),
    ) {
        let raw = skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{recorded_dest}"),
        ])
        .unwrap();
        assert_eq!(raw["manifests"].as_array().unwrap().len(), 3);
        let amd64 = skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--override-arch",
            "amd64",
            &format!("docker://{recorded_dest}"),
        ])
        .unwrap();
        let layers = &recorded.image("linux/amd64").unwrap().layer_digests;
        assert_eq!(amd64["Layers"], serde_json::json!(layers));
    }
}

#[test]
fn the_kiln_config_points_docker_io_at_the_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("kiln.toml");
    images::write_kiln_config(&path, "127.0.0.1:5123").unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        "[registry.\"docker.io\"]\n  mirrors = [\"127.0.0.1:5123\"]\n\n[registry.\"127.0.0.1:5123\"]\n  http = true\n"
    );
}

#[test]
fn a_broken_layout_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let err = OciLayout::open(dir.path(), LAYOUT_TAG).unwrap_err();
    assert!(err.to_string().contains("index.json"), "{err}");
    assert!(!err.is_skip());
}

#[test]
fn a_layout_is_never_written_over_other_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stray"), "x").unwrap();
    let fake = BusyboxBinary {
        arch: DebArch::Amd64,
        version: "1:1.0-1".into(),
        binary: b"not busybox".to_vec(),
        mtime: 0,
    };
    let err = images::write_busybox_layout(&[fake], dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(msg.contains("not empty"), "{msg}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
