//! End-to-end tests: real overlayfs mounts, diffs checked entry by entry, applies compared tree by
//! tree, and malicious layers. Tests needing root and overlayfs skip (loudly) without them unless
//! `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use kiln_snapshot::*;

fn privileged(test: &str) -> bool {
    let ok = rustix::process::geteuid().is_root()
        && fs::read_to_string("/proc/filesystems").is_ok_and(|s| s.contains("overlay"));
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test}: needs root and overlayfs, and CI=true");
        }
        println!("SKIP {test}: needs root and overlayfs");
    }
    ok
}

/// A comparable description of a tree: path -> (type, mode, uid, gid, content/target/rdev, xattrs).
fn describe(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let p = root.join(&rel);
        let m = fs::symlink_metadata(&p).unwrap();
        let ft = m.file_type();
        let detail = if ft.is_file() {
            format!("file {:?}", fs::read(&p).unwrap())
        } else if ft.is_symlink() {
            format!("link {:?}", fs::read_link(&p).unwrap())
        } else if ft.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                stack.push(rel.join(e.unwrap().file_name()));
            }
            "dir".to_owned()
        } else {
            format!("special {:o} {}", m.mode() & 0o170000, m.rdev())
        };
        let mut xs: Vec<_> = xattr_names(&p)
            .into_iter()
            .filter(|n| !n.starts_with("trusted.overlay."))
            .collect();
        xs.sort();
        let mtime = if ft.is_dir() { 0 } else { m.mtime() };
        out.insert(
            rel.display().to_string(),
            format!(
                "{detail} mode={:o} {}:{} mtime={mtime} xattrs={xs:?}",
                m.mode() & 0o7777,
                m.uid(),
                m.gid()
            ),
        );
    }
    out
}

fn xattr_names(p: &Path) -> Vec<String> {
    let mut buf = vec![0u8; 4096];
    let n = rustix::fs::llistxattr(p, &mut buf[..]).unwrap_or(0);
    buf[..n]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

fn set_mtime(p: &Path, secs: i64) {
    let t = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

/// The base tree every test starts from.
fn make_base(dir: &Path) {
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::write(dir.join("etc/passwd"), "root:x:0:0\n").unwrap();
    fs::write(dir.join("etc/keep"), "keep").unwrap();
    fs::write(dir.join("gone"), "bye").unwrap();
    fs::create_dir_all(dir.join("d/sub")).unwrap();
    fs::write(dir.join("d/old"), "old").unwrap();
    fs::write(dir.join("d/sub/deep"), "deep").unwrap();
    for p in ["etc/passwd", "etc/keep", "gone", "d/old", "d/sub/deep"] {
        set_mtime(&dir.join(p), 1_000_000);
    }
}

/// The changes a RUN step makes, applied to a mounted (or copied) tree.
fn make_changes(dir: &Path) {
    fs::write(dir.join("etc/passwd"), "root:x:0:0\nkiln:x:1000:1000\n").unwrap();
    fs::remove_file(dir.join("gone")).unwrap();
    fs::remove_dir_all(dir.join("d")).unwrap();
    fs::create_dir(dir.join("d")).unwrap();
    fs::write(dir.join("d/new"), "new").unwrap();
    fs::create_dir(dir.join("bin")).unwrap();
    fs::write(dir.join("bin/su"), "suid").unwrap();
    fs::set_permissions(dir.join("bin/su"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::hard_link(dir.join("bin/su"), dir.join("bin/su2")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("bin/pw")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        dir.join("bin/fifo"),
        rustix::fs::FileType::Fifo,
        0o644.into(),
        0,
    )
    .unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        dir.join("bin/null"),
        rustix::fs::FileType::CharacterDevice,
        0o666.into(),
        rustix::fs::makedev(1, 3),
    )
    .unwrap();
    fs::set_permissions(dir.join("bin/null"), fs::Permissions::from_mode(0o666)).unwrap();
    rustix::fs::lsetxattr(
        dir.join("bin/su"),
        "user.kiln",
        b"cap",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    rustix::fs::chownat(
        rustix::fs::CWD,
        dir.join("bin/fifo"),
        Some(rustix::fs::Uid::from_raw(1000)),
        Some(rustix::fs::Gid::from_raw(1001)),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
    for p in [
        "etc/passwd",
        "d/new",
        "bin/su",
        "bin/pw",
        "bin/fifo",
        "bin/null",
    ] {
        set_mtime(&dir.join(p), 2_000_000);
    }
}

#[derive(Debug, PartialEq)]
struct E {
    name: String,
    kind: String,
    mode: u32,
    ids: (u64, u64),
    link: Option<String>,
    dev: Option<(u32, u32)>,
    xattrs: Vec<String>,
}

fn entries(tar_bytes: &[u8]) -> Vec<E> {
    let mut a = tar::Archive::new(tar_bytes);
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let xattrs = e
            .pax_extensions()
            .unwrap()
            .map(|x| {
                x.filter_map(|r| r.ok())
                    .filter_map(|r| r.key().ok().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        out.push(E {
            name: String::from_utf8_lossy(&e.path_bytes()).into_owned(),
            kind: format!("{:?}", h.entry_type()),
            mode: h.mode().unwrap(),
            ids: (h.uid().unwrap(), h.gid().unwrap()),
            link: e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned()),
            dev: h
                .device_major()
                .ok()
                .flatten()
                .zip(h.device_minor().ok().flatten())
                .filter(|_| matches!(h.entry_type(), tar::EntryType::Char | tar::EntryType::Block)),
            xattrs,
        });
    }
    out
}

fn short(es: &[E]) -> Vec<String> {
    es.iter()
        .map(|e| {
            let mut s = format!("{} {} {:o}", e.name, e.kind, e.mode);
            if let Some(l) = &e.link {
                s.push_str(&format!(" -> {l}"));
            }
            if let Some((a, b)) = e.dev {
                s.push_str(&format!(" dev {a},{b}"));
            }
            if e.ids != (0, 0) {
                s.push_str(&format!(" ids {}:{}", e.ids.0, e.ids.1));
            }
            if !e.xattrs.is_empty() {
                s.push_str(&format!(" {:?}", e.xattrs));
            }
            s
        })
        .collect()
}

const EXPECTED_OVERLAY: &[&str] = &[
    "bin/ Directory 755",
    "bin/fifo Fifo 644 ids 1000:1001",
    "bin/null Char 666 dev 1,3",
    "bin/pw Symlink 777 -> /etc/passwd",
    "bin/su Regular 4755 [\"SCHILY.xattr.user.kiln\"]",
    "bin/su2 Link 4755 -> bin/su [\"SCHILY.xattr.user.kiln\"]",
    "d/ Directory 755",
    "d/.wh..wh..opq Regular 0",
    "d/new Regular 644",
    "etc/ Directory 755",
    "etc/passwd Regular 644",
    ".wh.gone Regular 0",
];

fn sorted_like_tar(mut v: Vec<String>) -> Vec<String> {
    v.sort_by_key(|s| {
        s.split(' ')
            .next()
            .unwrap_or("")
            .trim_end_matches('/')
            .to_owned()
    });
    v
}

#[test]
fn overlay_prepare_commit_diff_apply() {
    if !privileged("overlay_prepare_commit_diff_apply") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let sn = OverlaySnapshotter::open(tmp.path().join("root")).unwrap();
    let m = sn.prepare("k-base", None).unwrap();
    assert_eq!(m[0].kind, "bind");
    make_base(&sn.dir("k-base").unwrap());
    sn.commit("base", "k-base").unwrap();

    let mounts = sn.prepare("k1", Some("base")).unwrap();
    assert_eq!(mounts[0].kind, "overlay");
    assert_eq!(sn.mounts("k1").unwrap(), mounts);
    let target = tmp.path().join("mnt");
    fs::create_dir(&target).unwrap();
    mount(&mounts, &target).unwrap();
    make_changes(&target);
    let merged = describe(&target);
    unmount(&target).unwrap();

    let lower = sn.view("v-base", Some("base")).unwrap();
    let (layer, stats) = diff_mounts(&lower, &mounts, Vec::new(), &DiffOptions::default()).unwrap();
    assert_eq!(stats.whiteouts, 2);
    let got = short(&entries(&layer));
    let want: Vec<String> = EXPECTED_OVERLAY.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        sorted_like_tar(got.clone()),
        sorted_like_tar(want),
        "{got:#?}"
    );

    // Apply onto a copy of the lower (delete mode) and compare with what the mount showed.
    let copy = tmp.path().join("copy");
    fs::create_dir(&copy).unwrap();
    make_base(&copy);
    apply_layer(&copy, layer.as_slice(), &ApplyOptions::default()).unwrap();
    assert_eq!(describe(&copy), merged);

    // Apply into an empty upper dir (overlay mode), mount it over the base, compare again.
    sn.commit("step1", "k1").unwrap();
    let k2 = sn.prepare("k2", Some("base")).unwrap();
    let upper = PathBuf::from(k2[0].option("upperdir").unwrap());
    let opts = ApplyOptions {
        whiteouts: WhiteoutMode::Overlay,
        same_owner: true,
    };
    apply_layer(&upper, layer.as_slice(), &opts).unwrap();
    mount(&k2, &target).unwrap();
    let remerged = describe(&target);
    unmount(&target).unwrap();
    assert_eq!(remerged, merged);
    // And the overlay-mode upper diffs back to the same layer.
    let (again, _) = write_overlay_diff(
        &upper,
        &k2[0].lowerdirs(),
        Vec::new(),
        &DiffOptions::default(),
    )
    .unwrap();
    assert_eq!(short(&entries(&again)), got);

    // Chains: three levels mount with two lowers, views are read-only overlays.
    sn.commit("step2", "k2").unwrap();
    let v = sn.view("v3", Some("step2")).unwrap();
    assert_eq!(v[0].lowerdirs().len(), 2);
    assert!(v[0].is_readonly());
    mount(&v, &target).unwrap();
    assert!(fs::write(target.join("x"), "x").is_err());
    unmount(&target).unwrap();
}

#[test]
fn reproducible_timestamps_are_clamped() {
    if !privileged("reproducible_timestamps_are_clamped") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let up = tmp.path().join("up");
    fs::create_dir(&up).unwrap();
    fs::write(up.join("f"), "x").unwrap();
    let opts = DiffOptions {
        source_date_epoch: Some(1234),
    };
    let (layer, _) = write_overlay_diff(&up, &[], Vec::new(), &opts).unwrap();
    let mut a = tar::Archive::new(layer.as_slice());
    for e in a.entries().unwrap() {
        assert_eq!(e.unwrap().header().mtime().unwrap(), 1234);
    }
}

#[test]
fn copying_snapshotter_walking_diff() {
    if !privileged("copying_snapshotter_walking_diff") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let sn = CopyingSnapshotter::open(tmp.path().join("root")).unwrap();
    sn.prepare("k-base", None).unwrap();
    make_base(&sn.dir("k-base").unwrap());
    sn.commit("base", "k-base").unwrap();
    let mounts = sn.prepare("k1", Some("base")).unwrap();
    let dir = sn.dir("k1").unwrap();
    assert_eq!(mounts, vec![Mount::bind(&dir, false)]);
    // A fresh copy diffs to nothing.
    let lower = sn.view("vb", Some("base")).unwrap();
    let (empty, st) = diff_mounts(&lower, &mounts, Vec::new(), &DiffOptions::default()).unwrap();
    assert_eq!(st.entries, 0, "{:#?}", short(&entries(&empty)));
    make_changes(&dir);
    let (layer, _) = diff_mounts(&lower, &mounts, Vec::new(), &DiffOptions::default()).unwrap();
    let got = short(&entries(&layer));
    // The walking differ spells the replaced dir as whiteouts of its old children.
    for want in [
        "bin/su2 Link 4755 -> bin/su [\"SCHILY.xattr.user.kiln\"]",
        ".wh.gone Regular 0",
        "d/.wh.old Regular 0",
        "d/.wh.sub Regular 0",
        "d/new Regular 644",
        "etc/passwd Regular 644",
    ] {
        assert!(got.iter().any(|g| g == want), "missing {want}: {got:#?}");
    }
    assert!(!got.iter().any(|g| g.starts_with("etc/keep")), "{got:#?}");
    let copy = tmp.path().join("copy");
    fs::create_dir(&copy).unwrap();
    make_base(&copy);
    apply_layer(&copy, layer.as_slice(), &ApplyOptions::default()).unwrap();
    assert_eq!(describe(&copy), describe(&dir));
}

#[test]
fn snapshot_contract_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let sn = CopyingSnapshotter::open(tmp.path().join("root")).unwrap();
    assert!(matches!(sn.stat("nope"), Err(Error::NotFound(_))));
    assert!(matches!(
        sn.prepare("a", Some("nope")),
        Err(Error::NotFound(_))
    ));
    sn.prepare("a", None).unwrap();
    assert!(matches!(
        sn.prepare("a", None),
        Err(Error::AlreadyExists(_))
    ));
    assert!(matches!(
        sn.prepare("b", Some("a")),
        Err(Error::WrongKind { .. })
    ));
    sn.commit("base", "a").unwrap();
    assert!(matches!(sn.stat("a"), Err(Error::NotFound(_))));
    assert_eq!(sn.stat("base").unwrap().kind, Kind::Committed);
    sn.view("v", Some("base")).unwrap();
    assert!(matches!(sn.commit("x", "v"), Err(Error::WrongKind { .. })));
    assert!(matches!(sn.remove("base"), Err(Error::HasChildren(_))));
    assert!(matches!(sn.mounts("base"), Err(Error::WrongKind { .. })));
    assert_eq!(sn.walk().unwrap().len(), 2);
    sn.remove("v").unwrap();
    sn.remove("base").unwrap();
    assert!(sn.walk().unwrap().is_empty());
    // An orphan directory (as a crash would leave) is swept by cleanup.
    fs::create_dir(tmp.path().join("root/snapshots/99")).unwrap();
    assert_eq!(sn.cleanup().unwrap().len(), 1);
    assert!(matches!(
        sn.prepare("", None),
        Err(Error::InvalidKey { .. })
    ));
}

fn raw_tar(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    build(&mut b);
    b.into_inner().unwrap()
}

fn header(name: &[u8], kind: tar::EntryType, link: Option<&[u8]>, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    let field = &mut h.as_old_mut().name;
    field[..name.len()].copy_from_slice(name);
    if let Some(l) = link {
        h.as_old_mut().linkname[..l.len()].copy_from_slice(l);
    }
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1);
    h.set_size(size);
    h.set_cksum();
    h
}

#[test]
fn malicious_layers_are_contained() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("x"), "precious").unwrap();
    let root = tmp.path().join("a/b/root");
    fs::create_dir_all(&root).unwrap();
    let opts = ApplyOptions {
        same_owner: false,
        ..ApplyOptions::default()
    };
    use tar::EntryType::*;

    // `../x`, `/etc/x`, symlink `a -> /` then `a/etc/passwd`, symlink to the outside then a
    // write through it: all land inside the root.
    let layer = raw_tar(|b| {
        b.append(&header(b"../x", Regular, None, 1), &b"1"[..])
            .unwrap();
        b.append(&header(b"../../../outside/x", Regular, None, 1), &b"2"[..])
            .unwrap();
        b.append(&header(b"/etc/x", Regular, None, 1), &b"3"[..])
            .unwrap();
        b.append(&header(b"a", Symlink, Some(b"/"), 0), &b""[..])
            .unwrap();
        b.append(&header(b"a/etc/passwd", Regular, None, 1), &b"4"[..])
            .unwrap();
        b.append(
            &header(b"up", Symlink, Some(b"../../../outside"), 0),
            &b""[..],
        )
        .unwrap();
        b.append(&header(b"up/x", Regular, None, 1), &b"5"[..])
            .unwrap();
    });
    apply_layer(&root, layer.as_slice(), &opts).unwrap();
    assert_eq!(fs::read(root.join("x")).unwrap(), b"1");
    assert_eq!(fs::read(root.join("outside/x")).unwrap(), b"5");
    assert_eq!(fs::read(root.join("etc/x")).unwrap(), b"3");
    assert_eq!(fs::read(root.join("etc/passwd")).unwrap(), b"4");
    assert_eq!(fs::read(outside.join("x")).unwrap(), b"precious");
    assert!(!tmp.path().join("a/b/x").exists() && !tmp.path().join("x").exists());

    // A hard link climbing out is refused and names the entry.
    let layer = raw_tar(|b| {
        b.append(&header(b"evil", Link, Some(b"../../x"), 0), &b""[..])
            .unwrap();
    });
    let err = apply_layer(&root, layer.as_slice(), &opts).unwrap_err();
    assert!(
        matches!(&err, Error::BadEntry { entry, .. } if entry == "evil"),
        "{err}"
    );
    // A hard link through an on-disk symlink stays inside (links the root's own file).
    let layer = raw_tar(|b| {
        b.append(&header(b"viaup", Link, Some(b"up/x"), 0), &b""[..])
            .unwrap();
    });
    apply_layer(&root, layer.as_slice(), &opts).unwrap();
    assert_eq!(fs::read(root.join("viaup")).unwrap(), b"5");
    assert_eq!(fs::read(outside.join("x")).unwrap(), b"precious");

    // A whiteout through a symlink deletes nothing outside.
    let layer = raw_tar(|b| {
        b.append(&header(b"up/.wh.x", Regular, None, 0), &b""[..])
            .unwrap();
    });
    apply_layer(&root, layer.as_slice(), &opts).unwrap();
    assert!(outside.join("x").exists());

    // Garbage and truncated input give errors, not panics.
    let _ = apply_layer(&root, &[0xffu8; 1536][..], &opts);
    let mut trunc = raw_tar(|b| {
        b.append(&header(b"big", Regular, None, 4096), &[7u8; 4096][..])
            .unwrap();
    });
    trunc.truncate(1024);
    assert!(matches!(
        apply_layer(&root, trunc.as_slice(), &opts),
        Err(Error::ApplyEntry { .. } | Error::ReadLayer(_))
    ));
}

#[test]
fn long_lower_chains_mount_past_the_page_limit() {
    if !privileged("long_lower_chains_mount_past_the_page_limit") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut lowers = Vec::new();
    for i in 0..80 {
        let d = tmp.path().join(format!("layer-{i:03}-{}", "x".repeat(60)));
        fs::create_dir(&d).unwrap();
        fs::write(d.join(format!("f{i}")), "x").unwrap();
        lowers.push(d.display().to_string());
    }
    let m = Mount {
        kind: "overlay".into(),
        source: "overlay".into(),
        options: vec![format!("lowerdir={}", lowers.join(":"))],
    };
    assert!(m.options[0].len() > 4096);
    let target = tmp.path().join("mnt");
    fs::create_dir(&target).unwrap();
    match mount(std::slice::from_ref(&m), &target) {
        Ok(()) => {
            assert!(target.join("f0").exists() && target.join("f79").exists());
            unmount(&target).unwrap();
        }
        // Kernels before 6.8 have no `lowerdir+`: the error must say why.
        Err(e @ Error::MountOptionsTooLong { .. }) => println!("old kernel: {e}"),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn overlay_noop_changes_diff_to_nothing() {
    if !privileged("overlay_noop_changes_diff_to_nothing") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let sn = OverlaySnapshotter::open(tmp.path().join("root")).unwrap();
    sn.prepare("k-base", None).unwrap();
    make_base(&sn.dir("k-base").unwrap());
    sn.commit("base", "k-base").unwrap();
    let mounts = sn.prepare("k1", Some("base")).unwrap();
    let target = tmp.path().join("mnt");
    fs::create_dir(&target).unwrap();
    mount(&mounts, &target).unwrap();
    // Copy-up of `d` and `d/sub`, a file made and removed: nothing a layer should carry.
    fs::write(target.join("d/sub/tmp"), "x").unwrap();
    fs::remove_file(target.join("d/sub/tmp")).unwrap();
    unmount(&target).unwrap();
    let lower = sn.view("v", Some("base")).unwrap();
    let (layer, st) = diff_mounts(&lower, &mounts, Vec::new(), &DiffOptions::default()).unwrap();
    assert_eq!(st.entries, 0, "{:#?}", short(&entries(&layer)));
}
