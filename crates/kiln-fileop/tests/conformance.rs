//! The `builds` conformance cases that are pure file operations (p02 copy-basic, p03
//! chown/chmod, p07 add-archives, p10 special files, p11 workdir/user, p20 copy-symlinks,
//! p21 escaping link), replayed at this layer: the context checked out, each COPY/ADD/WORKDIR
//! translated to the call dockerfile2llb makes, and the resulting tree compared with the
//! recorded one for the paths those instructions wrote.

#![allow(clippy::expect_used, clippy::unwrap_used)] // Test helpers outside `#[test]` functions.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use kiln_fileop::{
    Chmod, CopyOptions, Error, MkdirOptions, Owner, Root, copy, mkdir, resolve_chown,
};

struct Case {
    _tmp: tempfile::TempDir,
    ctx: PathBuf,
    dst: PathBuf,
    expected: BTreeMap<String, String>,
}

fn case(name: &str) -> Option<Case> {
    let suite = kiln_testkit::suite_dir("builds")?;
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = tmp.path().join("ctx");
    let dst = tmp.path().join("rootfs");
    common::checkout(&suite.join("cases").join(name), &ctx);
    common::base(&dst);
    let json = kiln_testkit::load_json(&suite.join("expected"), &format!("{name}.json"));
    let mut expected = BTreeMap::new();
    if let Some(tree) = json["images"]["linux/amd64"]["tree"].as_object() {
        for (k, v) in tree {
            expected.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
        }
    }
    Some(Case {
        _tmp: tmp,
        ctx,
        dst,
        expected,
    })
}

impl Case {
    fn roots(&self) -> (Root, Root) {
        (
            Root::open(&self.ctx).expect("ctx"),
            Root::open(&self.dst).expect("dst"),
        )
    }

    /// Compares every recorded entry below the given top-level names.
    fn check(&self, tops: &[&str]) {
        let got = common::tree(&self.dst);
        let under = |k: &str| {
            tops.iter()
                .any(|t| k == *t || k.starts_with(&format!("{t}/")))
        };
        let want: BTreeMap<_, _> = self.expected.iter().filter(|(k, _)| under(k)).collect();
        let have: BTreeMap<_, _> = got.iter().filter(|(k, _)| under(k)).collect();
        assert!(!want.is_empty(), "no recorded entries under {tops:?}");
        assert_eq!(have, want);
    }
}

fn cp(ctx: &Root, src: &str, dst: &Root, dest: &str) {
    copy(ctx, src, dst, dest, &CopyOptions::dockerfile())
        .unwrap_or_else(|e| panic!("COPY {src} {dest}: {e}"));
}

#[test]
fn p02_copy_basic() {
    let Some(c) = case("p02-copy-basic") else {
        return;
    };
    let (ctx, dst) = c.roots();
    cp(&ctx, "files/one.txt", &dst, "/target/");
    cp(&ctx, "files/one.txt", &dst, "/target/renamed");
    cp(&ctx, "files/*.txt", &dst, "/globbed/");
    cp(&ctx, "files/sub", &dst, "/sub-contents");
    cp(&ctx, "files/sub/", &dst, "/sub-slash");
    cp(&ctx, "files", &dst, "/everything/");
    cp(&ctx, "files/one.txt", &dst, "/two-sources/");
    cp(&ctx, "files/two.txt", &dst, "/two-sources/");
    let workdir = MkdirOptions {
        make_parents: true,
        ..MkdirOptions::default()
    };
    mkdir(&dst, "/w", &workdir).expect("WORKDIR /w");
    cp(&ctx, "files/sub/three.md", &dst, "/w/");
    cp(&ctx, "files/sub/deeper", &dst, "/w/deep/");
    c.check(&[
        "target",
        "globbed",
        "sub-contents",
        "sub-slash",
        "everything",
        "two-sources",
        "w",
    ]);
}

#[test]
fn p03_copy_chown_chmod() {
    if !common::is_root() {
        return;
    }
    let Some(c) = case("p03-copy-chown-chmod") else {
        return;
    };
    let mut passwd = fs::read_to_string(c.dst.join("etc/passwd")).expect("passwd");
    passwd.push_str("svc:x:701:700::/nonexistent:/bin/false\n");
    fs::write(c.dst.join("etc/passwd"), passwd).expect("passwd");
    let mut group = fs::read_to_string(c.dst.join("etc/group")).expect("group");
    group.push_str("svc:x:700:\n");
    fs::write(c.dst.join("etc/group"), group).expect("group");
    let (ctx, dst) = c.roots();
    let run = |chown: Option<&str>, chmod: Option<&str>, dest: &str, add: bool| {
        let mut o = CopyOptions::dockerfile();
        o.owner = chown.map(|v| resolve_chown(&dst, v).expect("chown"));
        o.mode = chmod.map(|v| Chmod::parse(v).expect("chmod"));
        o.attempt_unpack = add;
        copy(&ctx, "data.txt", &dst, dest, &o).unwrap_or_else(|e| panic!("{dest}: {e}"));
    };
    run(Some("svc"), None, "/a/user-name", false);
    run(Some("svc:svc"), None, "/a/user-group-names", false);
    run(Some("42"), None, "/a/uid-only", false);
    run(Some("42:43"), None, "/a/uid-gid", false);
    run(Some("nobody:svc"), None, "/a/mixed", false);
    run(None, Some("600"), "/a/mode600", false);
    run(None, Some("4755"), "/a/setuid", false);
    run(Some("701:700"), Some("0640"), "/b/both", false);
    run(Some("svc"), None, "/b/added", true);
    c.check(&["a", "b"]);
}

#[test]
fn p07_add_archives() {
    let Some(c) = case("p07-add-archives") else {
        return;
    };
    let (ctx, dst) = c.roots();
    let add = |src: &str, dest: &str| {
        let mut o = CopyOptions::dockerfile();
        o.attempt_unpack = true;
        copy(&ctx, src, &dst, dest, &o).unwrap_or_else(|e| panic!("ADD {src} {dest}: {e}"));
    };
    add("payload.tgz", "/extracted-gz/");
    add("payload.tar", "/extracted-tar");
    cp(&ctx, "copied.tgz", &dst, "/not-extracted/");
    add("payload/p.txt", "/plain-add.txt");
    add("payload", "/payload-dir/");
    c.check(&[
        "extracted-gz",
        "extracted-tar",
        "not-extracted",
        "plain-add.txt",
        "payload-dir",
    ]);
}

#[test]
fn p10_special_files_survive_a_copy() {
    if !common::is_root() {
        return;
    }
    let Some(c) = case("p10-special-files") else {
        return;
    };
    // What the RUN made, built here in a source tree, then copied as a whole.
    let src = c.ctx.join("made");
    let s = src.join("s");
    fs::create_dir_all(&s).expect("mkdir");
    common::write(&s, "target", b"content\n", 0o644);
    fs::hard_link(s.join("target"), s.join("hard")).expect("link");
    symlink("target", s.join("soft")).expect("symlink");
    symlink("../etc/passwd", s.join("relative-link")).expect("symlink");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        s.join("pipe"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .expect("mkfifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        s.join("nulldev"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o644),
        rustix::fs::makedev(1, 3),
    )
    .expect("mknod");
    fs::create_dir(s.join("sticky")).expect("mkdir");
    rustix::fs::chmod(s.join("sticky"), rustix::fs::Mode::from_raw_mode(0o2755)).expect("chmod");
    common::write(&s, "naïve name", "é\n".as_bytes(), 0o644);
    // suidbin is checked by mode only (its bytes are the base image's busybox).
    common::write(&s, "suidbin", b"binary", 0o755);
    rustix::fs::chmod(s.join("suidbin"), rustix::fs::Mode::from_raw_mode(0o4755)).expect("chmod");
    fs::set_permissions(&s, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let (ctx, dst) = c.roots();
    cp(&ctx, "made", &dst, "/");
    let got = common::tree(&c.dst);
    for (k, v) in c
        .expected
        .iter()
        .filter(|(k, _)| k.starts_with("s/") || *k == "s")
    {
        let have = got.get(k).unwrap_or_else(|| panic!("{k} missing"));
        if k == "s/suidbin" {
            assert!(have.ends_with("mode=0o4755 uid=0 gid=0"), "{k}: {have}");
        } else {
            assert_eq!(have, v, "{k}");
        }
    }
    let ino =
        |p: &str| std::os::unix::fs::MetadataExt::ino(&fs::metadata(c.dst.join(p)).expect("stat"));
    assert_eq!(ino("s/target"), ino("s/hard"), "hard link kept");
}

#[test]
fn p11_workdir_user() {
    if !common::is_root() {
        return;
    }
    let Some(c) = case("p11-workdir-user") else {
        return;
    };
    let (_, dst) = c.roots();
    let wd = |path: &str, owner: Option<Owner>| {
        let o = MkdirOptions {
            make_parents: true,
            owner,
            ..MkdirOptions::default()
        };
        mkdir(&dst, path, &o).unwrap_or_else(|e| panic!("WORKDIR {path}: {e}"));
    };
    let app = Some(Owner {
        uid: 1200,
        gid: 1200,
    });
    wd("/made/by/root", None);
    wd("/made/by/app", app);
    wd("/made/by/app/relative", app);
    c.check(&["made"]);
}

#[test]
fn p20_copy_symlinks() {
    let Some(c) = case("p20-copy-symlinks") else {
        return;
    };
    // The checkout stores the links as files holding their targets; make real links.
    for link in ["dirlink", "filelink"] {
        let target = fs::read_to_string(c.ctx.join(link)).expect("link file");
        fs::remove_file(c.ctx.join(link)).expect("rm");
        symlink(target.trim_end(), c.ctx.join(link)).expect("symlink");
    }
    let (ctx, dst) = c.roots();
    cp(&ctx, "filelink", &dst, "/copied-filelink");
    cp(&ctx, "dirlink", &dst, "/copied-dirlink");
    cp(&ctx, "dirlink/inner/r.txt", &dst, "/through-link.txt");
    cp(&ctx, "real", &dst, "/real/");
    c.check(&[
        "copied-filelink",
        "copied-dirlink",
        "through-link.txt",
        "real",
    ]);
}

#[test]
fn p21_escaping_link_fails() {
    let Some(c) = case("p21-fail-copy-escaping-link") else {
        return;
    };
    let target = fs::read_to_string(c.ctx.join("abslink")).expect("link file");
    fs::remove_file(c.ctx.join("abslink")).expect("rm");
    symlink(target.trim_end(), c.ctx.join("abslink")).expect("symlink");
    let (ctx, dst) = c.roots();
    let err = copy(
        &ctx,
        "abslink",
        &dst,
        "/abslink",
        &CopyOptions::dockerfile(),
    )
    .expect_err("must fail");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(err.to_string(), "\"/abslink\": not found");
    assert!(!Path::new(&c.dst.join("abslink")).exists());
}
