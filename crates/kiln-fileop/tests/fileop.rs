//! Behaviour tests of the file operations on real temporary trees: each COPY rule with the
//! exact resulting entries, archives of every compression, and escape attempts on both the
//! source and the destination side.

#![allow(clippy::expect_used, clippy::unwrap_used)] // Test helpers outside `#[test]` functions.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kiln_fileop::{
    Chmod, Compression, CopyOptions, EntryKind, Error, MkfileOptions, Owner, RmOptions, Root,
    SymlinkOptions, UnpackOptions, copy, detect_compression, is_archive, mkfile, resolve_chown, rm,
    symlink as fsymlink, unpack_archive,
};

struct Env {
    _tmp: tempfile::TempDir,
    src: std::path::PathBuf,
    dst: std::path::PathBuf,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    let dst = tmp.path().join("dst");
    fs::create_dir_all(&src).expect("mkdir");
    fs::create_dir_all(&dst).expect("mkdir");
    Env {
        _tmp: tmp,
        src,
        dst,
    }
}

impl Env {
    fn roots(&self) -> (Root, Root) {
        (
            Root::open(&self.src).expect("src"),
            Root::open(&self.dst).expect("dst"),
        )
    }
    fn copy(&self, s: &str, d: &str, o: &CopyOptions) -> Result<(), Error> {
        let (src, dst) = self.roots();
        copy(&src, s, &dst, d, o)
    }
    fn get(&self, rel: &str) -> String {
        let p = self.dst.join(rel);
        common::describe(
            &p,
            &fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{rel}: {e}")),
        )
    }
    fn keys(&self) -> Vec<String> {
        common::tree(&self.dst).into_keys().collect()
    }
}

fn dockerfile() -> CopyOptions {
    CopyOptions::dockerfile()
}

#[test]
fn file_to_new_name_and_into_existing_dir() {
    let e = env();
    common::write(&e.src, "a.txt", b"a\n", 0o640);
    e.copy("a.txt", "/b", &dockerfile()).expect("copy");
    assert!(e.get("b").starts_with("file 2 "));
    assert!(e.get("b").ends_with("mode=0o640 uid=0 gid=0") || !common::is_root());
    fs::create_dir(e.dst.join("d")).expect("mkdir");
    e.copy("a.txt", "/d", &dockerfile()).expect("copy into dir");
    assert!(e.get("d/a.txt").starts_with("file 2 "));
    e.copy("a.txt", "/new/dir/", &dockerfile())
        .expect("copy with slash");
    assert!(e.get("new/dir/a.txt").starts_with("file 2 "));
    assert!(e.get("new").starts_with("dir mode=0o755"));
}

#[test]
fn directory_contents_or_directory_itself() {
    let e = env();
    common::write(&e.src, "d/x", b"x", 0o644);
    common::write(&e.src, "d/sub/y", b"y", 0o644);
    e.copy("d", "/c", &dockerfile()).expect("contents");
    assert_eq!(e.keys(), ["c", "c/sub", "c/sub/y", "c/x"]);
    let mut o = dockerfile();
    o.copy_dir_contents = false;
    e.copy("d", "/c", &o).expect("dir itself into existing");
    assert!(e.get("c/d/sub/y").starts_with("file 1"));
}

#[test]
fn missing_source_names_the_path() {
    let e = env();
    let err = e.copy("missing", "/x", &dockerfile()).expect_err("missing");
    assert_eq!(err.to_string(), "\"/missing\": not found");
    let err = e
        .copy("dir/missing.txt", "/x", &dockerfile())
        .expect_err("missing");
    assert_eq!(err.to_string(), "\"/dir/missing.txt\": not found");
}

#[test]
fn wildcards_match_at_their_depth_and_empty_is_allowed_on_request() {
    let e = env();
    common::write(&e.src, "a/1.txt", b"1", 0o644);
    common::write(&e.src, "a/2.md", b"2", 0o644);
    common::write(&e.src, "a/deep/3.txt", b"3", 0o644);
    common::write(&e.src, "b/4.txt", b"4", 0o644);
    e.copy("*/*.txt", "/out/", &dockerfile()).expect("glob");
    assert_eq!(e.keys(), ["out", "out/1.txt", "out/4.txt"]);
    e.copy("nothing*", "/none/", &dockerfile())
        .expect("empty wildcard allowed");
    assert!(!e.dst.join("none").exists());
    let mut strict = dockerfile();
    strict.allow_empty_wildcard = false;
    let err = e.copy("nothing*", "/none/", &strict).expect_err("no match");
    assert!(matches!(err, Error::NoMatch { .. }), "{err}");
    let err = e
        .copy("a/[", "/x/", &dockerfile())
        .expect_err("bad pattern");
    assert!(matches!(err, Error::BadWildcard { .. }), "{err}");
    // A matched directory has its contents copied (Dockerfile sets copy_dir_contents).
    e.copy("[a]", "/dirs/", &dockerfile()).expect("dir match");
    assert!(e.get("dirs/deep/3.txt").starts_with("file 1"));
    assert!(e.get("dirs/1.txt").starts_with("file 1"));
}

#[test]
fn symlinks_inside_are_links_and_the_named_source_is_followed() {
    let e = env();
    common::write(&e.src, "real/f", b"data", 0o644);
    symlink("f", e.src.join("real/rel")).expect("symlink");
    symlink("/real/f", e.src.join("real/abs")).expect("symlink");
    symlink("real", e.src.join("dirlink")).expect("symlink");
    e.copy("dirlink", "/out", &dockerfile()).expect("copy");
    assert!(e.get("out/rel").starts_with("symlink -> f mode=0o777"));
    assert!(e.get("out/abs").starts_with("symlink -> /real/f"));
    let mut o = dockerfile();
    o.follow_symlinks = false;
    e.copy("dirlink", "/asis", &o).expect("copy link itself");
    assert!(e.get("asis").starts_with("symlink -> real"));
}

#[test]
fn hard_links_within_one_copy_share_an_inode() {
    let e = env();
    common::write(&e.src, "d/one", b"same", 0o644);
    fs::hard_link(e.src.join("d/one"), e.src.join("d/two")).expect("link");
    fs::hard_link(e.src.join("d/one"), e.src.join("d/sub-three")).expect("link");
    let kinds = Arc::new(Mutex::new(Vec::new()));
    let seen = kinds.clone();
    let mut o = dockerfile();
    o.on_file = Some(Arc::new(move |c| {
        seen.lock()
            .expect("lock")
            .push((c.path.to_string(), c.kind))
    }));
    e.copy("d", "/h", &o).expect("copy");
    let ino = |p: &str| fs::metadata(e.dst.join(p)).expect("stat").ino();
    assert_eq!(ino("h/one"), ino("h/two"));
    assert_eq!(ino("h/one"), ino("h/sub-three"));
    assert_eq!(fs::metadata(e.dst.join("h/one")).expect("stat").nlink(), 3);
    let kinds = kinds.lock().expect("lock").clone();
    assert_eq!(
        kinds,
        [
            ("/h/one".to_string(), EntryKind::File),
            ("/h/sub-three".to_string(), EntryKind::HardLink),
            ("/h/two".to_string(), EntryKind::HardLink),
        ]
    );
}

#[test]
fn mtimes_are_kept_or_set() {
    let e = env();
    common::write(&e.src, "d/f", b"f", 0o644);
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(946_684_800);
    fs::File::options()
        .write(true)
        .open(e.src.join("d/f"))
        .expect("open")
        .set_modified(old)
        .expect("mtime");
    e.copy("d", "/kept", &dockerfile()).expect("copy");
    assert_eq!(
        fs::metadata(e.dst.join("kept/f"))
            .expect("stat")
            .modified()
            .expect("mtime"),
        old
    );
    let mut o = dockerfile();
    let epoch = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    o.mtime = Some(epoch);
    e.copy("d", "/fixed/", &o).expect("copy");
    for p in ["fixed", "fixed/f"] {
        assert_eq!(
            fs::metadata(e.dst.join(p))
                .expect("stat")
                .modified()
                .expect("mtime"),
            epoch,
            "{p}"
        );
    }
}

#[test]
fn chmod_octal_and_symbolic_apply_to_files_and_dirs() {
    let e = env();
    common::write(&e.src, "d/run.sh", b"#!", 0o755);
    common::write(&e.src, "d/data", b"d", 0o664);
    let mut o = dockerfile();
    o.mode = Some(Chmod::parse("u+x,g-w").expect("mode"));
    e.copy("d", "/s", &o).expect("copy");
    assert!(e.get("s/run.sh").contains("mode=0o755"));
    assert!(e.get("s/data").contains("mode=0o744"));
    o.mode = Some(Chmod::parse("go=").expect("mode"));
    e.copy("d", "/t/", &o).expect("copy");
    assert!(e.get("t/data").contains("mode=0o600"));
    o.mode = Some(Chmod::parse("0640").expect("mode"));
    e.copy("d/data", "/p/q/file", &o).expect("copy");
    assert!(e.get("p/q/file").contains("mode=0o640"));
    assert!(
        e.get("p/q").contains("mode=0o640"),
        "created parents take the octal mode"
    );
    assert!(Chmod::parse("u+q").is_err());
}

#[test]
fn chown_by_name_from_the_destination_and_unknown_names() {
    if !common::is_root() {
        return;
    }
    let e = env();
    common::base(&e.dst);
    common::write(
        &e.dst,
        "etc/passwd",
        b"app:x:1000:1001::/home/app:/bin/sh\n",
        0o644,
    );
    common::write(&e.dst, "etc/group", b"app:x:1001:\nstaff:x:50:\n", 0o644);
    common::write(&e.src, "f", b"f", 0o644);
    let (_, dst) = e.roots();
    assert_eq!(
        resolve_chown(&dst, "app").expect("app"),
        Owner {
            uid: 1000,
            gid: 1001
        }
    );
    assert_eq!(
        resolve_chown(&dst, "app:staff").expect("app"),
        Owner { uid: 1000, gid: 50 }
    );
    assert_eq!(
        resolve_chown(&dst, "7").expect("7"),
        Owner { uid: 7, gid: 7 }
    );
    assert_eq!(
        resolve_chown(&dst, "7:staff").expect("7"),
        Owner { uid: 7, gid: 50 }
    );
    let err = resolve_chown(&dst, "ghost").expect_err("ghost");
    assert_eq!(
        err.to_string(),
        "unable to find user ghost: no matching entries in passwd file"
    );
    let err = resolve_chown(&dst, "app:ghosts").expect_err("ghosts");
    assert_eq!(
        err.to_string(),
        "unable to find group ghosts: no matching entries in group file"
    );
    // /etc/passwd as a symlink pointing out of the root is read inside it.
    let host_passwd = e._tmp.path().join("host-passwd");
    fs::write(&host_passwd, "root:x:0:0:root:/root:/bin/sh\n").expect("write");
    fs::remove_file(e.dst.join("etc/passwd")).expect("rm");
    symlink(&host_passwd, e.dst.join("etc/passwd")).expect("symlink");
    assert!(matches!(
        resolve_chown(&dst, "root"),
        Err(Error::UnknownUser { .. })
    ));
    let mut o = dockerfile();
    o.owner = Some(Owner {
        uid: 1000,
        gid: 1001,
    });
    e.copy("f", "/owned/f", &o).expect("copy");
    assert!(e.get("owned").ends_with("uid=1000 gid=1001"));
    assert!(e.get("owned/f").ends_with("uid=1000 gid=1001"));
}

#[test]
fn exclude_and_include_patterns() {
    let e = env();
    common::write(&e.src, "app/main.go", b"m", 0o644);
    common::write(&e.src, "app/main_test.go", b"t", 0o644);
    common::write(&e.src, "app/vendor/x/lib.go", b"l", 0o644);
    common::write(&e.src, "app/docs/readme.md", b"r", 0o644);
    let mut o = dockerfile();
    o.exclude_patterns = vec!["*_test.go".into(), "vendor".into()];
    e.copy("app", "/ex", &o).expect("exclude");
    assert_eq!(
        e.keys(),
        ["ex", "ex/docs", "ex/docs/readme.md", "ex/main.go"]
    );
    let mut o = dockerfile();
    o.include_patterns = vec!["vendor/*/lib.go".into()];
    e.copy("app", "/in", &o).expect("include");
    let keys: Vec<_> = e
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("in"))
        .collect();
    assert_eq!(
        keys,
        ["in", "in/vendor", "in/vendor/x", "in/vendor/x/lib.go"]
    );
}

#[test]
fn parents_keep_the_source_path() {
    let e = env();
    common::write(&e.src, "x/y/z.txt", b"z", 0o644);
    common::write(&e.src, "x/other.txt", b"o", 0o644);
    let mut o = dockerfile();
    o.parents = true;
    e.copy("x/y/z.txt", "/p/", &o).expect("parents");
    e.copy("x/./y/z.txt", "/q/", &o).expect("pivot");
    assert_eq!(
        e.keys(),
        ["p", "p/x", "p/x/y", "p/x/y/z.txt", "q", "q/y", "q/y/z.txt"]
    );
}

#[test]
fn replacing_rules() {
    let e = env();
    common::write(&e.src, "f", b"new", 0o644);
    fs::create_dir_all(e.dst.join("dir/f")).expect("mkdir");
    let err = e.copy("f", "/dir/f/", &dockerfile()).map(|_| ());
    assert!(err.is_ok(), "into an existing dir: {err:?}");
    fs::create_dir_all(e.dst.join("blocked/f")).expect("mkdir");
    common::write(&e.src, "d/f", b"new", 0o644);
    let err = e
        .copy("d", "/blocked", &dockerfile())
        .expect_err("file over dir");
    assert!(matches!(err, Error::ReplaceDirWithFile { .. }), "{err}");
    let mut o = dockerfile();
    o.always_replace_existing = true;
    e.copy("d", "/blocked", &o).expect("replace");
    assert!(e.get("blocked/f").starts_with("file 3"));
    common::write(&e.dst, "plain", b"old", 0o644);
    e.copy("f", "/plain", &dockerfile())
        .expect("file over file");
    assert_eq!(fs::read(e.dst.join("plain")).expect("read"), b"new");
}

#[test]
fn destination_symlinks_never_lead_out_of_the_root() {
    let e = env();
    let outside = e._tmp.path().join("outside");
    fs::create_dir_all(&outside).expect("mkdir");
    common::write(&e.src, "f", b"x", 0o644);
    symlink(&outside, e.dst.join("abs")).expect("symlink");
    symlink("../../../../outside", e.dst.join("rel")).expect("symlink");
    e.copy("f", "/abs/f", &dockerfile())
        .expect("copy through abs link");
    e.copy("f", "/rel/g", &dockerfile())
        .expect("copy through rel link");
    assert_eq!(
        fs::read_dir(&outside).expect("ls").count(),
        0,
        "nothing written outside"
    );
    let inside = outside.strip_prefix("/").expect("abs");
    assert!(
        e.dst.join(inside).join("f").is_file(),
        "absolute target resolved in the root"
    );
    assert!(
        e.dst.join("outside/g").is_file(),
        "relative target clamped at the root"
    );
}

#[test]
fn source_symlinks_never_read_outside_the_root() {
    let e = env();
    let secret = e._tmp.path().join("secret");
    fs::write(&secret, b"secret").expect("write");
    symlink(&secret, e.src.join("abs")).expect("symlink");
    symlink("../secret", e.src.join("rel")).expect("symlink");
    for s in ["abs", "rel"] {
        let err = e.copy(s, "/x", &dockerfile()).expect_err("escape");
        assert!(matches!(err, Error::NotFound { .. }), "{s}: {err}");
    }
    let mut o = dockerfile();
    o.follow_symlinks = false;
    e.copy("rel", "/link", &o).expect("link copied as a link");
    assert!(e.get("link").starts_with("symlink -> ../secret"));
}

#[test]
fn mkfile_rm_symlink() {
    let e = env();
    let (_, dst) = e.roots();
    fs::create_dir(e.dst.join("d")).expect("mkdir");
    mkfile(
        &dst,
        "/d/f",
        b"hello",
        &MkfileOptions {
            mode: 0o600,
            ..Default::default()
        },
    )
    .expect("mkfile");
    assert!(e.get("d/f").starts_with("file 5"));
    assert!(e.get("d/f").contains("mode=0o600"));
    fsymlink(&dst, "/d/f", "/d/l", &SymlinkOptions::default()).expect("symlink");
    assert!(e.get("d/l").starts_with("symlink -> /d/f"));
    mkfile(&dst, "/d/g.txt", b"", &MkfileOptions::default()).expect("mkfile");
    mkfile(&dst, "/d/h.txt", b"", &MkfileOptions::default()).expect("mkfile");
    rm(
        &dst,
        "/d/*.txt",
        &RmOptions {
            allow_wildcard: true,
            ..Default::default()
        },
    )
    .expect("rm glob");
    assert!(!e.dst.join("d/g.txt").exists() && !e.dst.join("d/h.txt").exists());
    rm(&dst, "/d/l", &RmOptions::default()).expect("rm link");
    assert!(e.dst.join("d/f").exists(), "the link's target stays");
    let err = rm(&dst, "/nope", &RmOptions::default()).expect_err("missing");
    assert_eq!(err.to_string(), "\"/nope\": not found");
    rm(
        &dst,
        "/nope",
        &RmOptions {
            allow_not_found: true,
            ..Default::default()
        },
    )
    .expect("allowed");
    rm(&dst, "/d", &RmOptions::default()).expect("rm dir");
    assert!(!e.dst.join("d").exists());
    assert!(rm(&dst, "/", &RmOptions::default()).is_err());
}

fn tar_bytes() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o750);
    h.set_uid(5);
    h.set_gid(6);
    h.set_size(0);
    b.append_data(&mut h, "top/", &[][..]).expect("dir");
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o640);
    h.set_uid(5);
    h.set_gid(6);
    h.set_size(5);
    h.set_mtime(1_000_000);
    b.append_data(&mut h, "top/file.txt", &b"hello"[..])
        .expect("file");
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    b.append_link(&mut h, "top/hard", "top/file.txt")
        .expect("link");
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(1);
    b.append_data(&mut h, "implied/parent/.wh.x", &b"w"[..])
        .expect("whiteout file");
    b.into_inner().expect("tar")
}

fn compress(kind: Compression, data: &[u8]) -> Vec<u8> {
    match kind {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            w.write_all(data).expect("gz");
            w.finish().expect("gz")
        }
        Compression::Bzip2 => {
            let mut w = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            w.write_all(data).expect("bz");
            w.finish().expect("bz")
        }
        Compression::Xz => {
            let mut w = xz2::write::XzEncoder::new(Vec::new(), 6);
            w.write_all(data).expect("xz");
            w.finish().expect("xz")
        }
        Compression::Zstd => zstd::encode_all(data, 3).expect("zstd"),
    }
}

#[test]
fn archives_of_every_compression_are_detected_and_extracted() {
    for kind in [
        Compression::None,
        Compression::Gzip,
        Compression::Bzip2,
        Compression::Xz,
        Compression::Zstd,
    ] {
        let e = env();
        let bytes = compress(kind, &tar_bytes());
        assert_eq!(detect_compression(&bytes), kind);
        // A misleading name: detection is by content.
        fs::write(e.src.join("archive.txt"), &bytes).expect("write");
        let (src, dst) = e.roots();
        assert!(
            is_archive(&src, "/archive.txt").expect("detect"),
            "{kind:?}"
        );
        let done = unpack_archive(&src, "archive.txt", &dst, "/out", &UnpackOptions::default())
            .expect("unpack");
        assert!(done, "{kind:?}");
        assert!(
            e.get("out/top/file.txt")
                .starts_with("file 5 2cf24dba5fb0a30e"),
            "{kind:?}"
        );
        if common::is_root() {
            assert!(
                e.get("out/top/file.txt")
                    .ends_with("mode=0o640 uid=5 gid=6")
            );
            assert!(e.get("out/top").ends_with("mode=0o750 uid=5 gid=6"));
            assert!(
                e.get("out/implied/parent")
                    .ends_with("mode=0o755 uid=0 gid=0")
            );
        }
        assert_eq!(
            fs::metadata(e.dst.join("out/top/file.txt"))
                .expect("stat")
                .ino(),
            fs::metadata(e.dst.join("out/top/hard"))
                .expect("stat")
                .ino()
        );
        assert!(
            e.dst.join("out/implied/parent/.wh.x").is_file(),
            "whiteouts are plain files"
        );
        let mtime = fs::metadata(e.dst.join("out/top/file.txt"))
            .expect("stat")
            .mtime();
        assert_eq!(mtime, 1_000_000);
    }
}

#[test]
fn add_copies_non_archives_and_chown_overrides_archive_owners() {
    let e = env();
    common::write(&e.src, "notes.tar.gz", b"not really an archive", 0o644);
    fs::write(
        e.src.join("real.bin"),
        compress(Compression::Gzip, &tar_bytes()),
    )
    .expect("write");
    let mut o = dockerfile();
    o.attempt_unpack = true;
    e.copy("notes.tar.gz", "/n/", &o).expect("plain");
    assert!(e.get("n/notes.tar.gz").starts_with("file 21"));
    if common::is_root() {
        o.owner = Some(Owner { uid: 9, gid: 9 });
        e.copy("real.bin", "/x", &o).expect("unpack");
        assert!(e.get("x/top/file.txt").ends_with("uid=9 gid=9"));
        assert!(e.get("x").ends_with("uid=9 gid=9"));
    }
}

fn raw_entry(
    b: &mut tar::Builder<Vec<u8>>,
    name: &[u8],
    kind: tar::EntryType,
    link: Option<&str>,
    data: &[u8],
) {
    let mut h = tar::Header::new_old();
    {
        let raw = h.as_old_mut();
        raw.name[..name.len()].copy_from_slice(name);
    }
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    if let Some(l) = link {
        h.set_link_name(l).expect("link");
    }
    h.set_cksum();
    b.append(&h, data).expect("append");
}

#[test]
fn malicious_archives_are_contained_or_rejected() {
    // `../` climbing out is rejected, naming the entry.
    let e = env();
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(&mut b, b"ok.txt", tar::EntryType::Regular, None, b"ok");
    raw_entry(
        &mut b,
        b"../../evil.txt",
        tar::EntryType::Regular,
        None,
        b"evil",
    );
    fs::write(e.src.join("bad.tar"), b.into_inner().expect("tar")).expect("write");
    let (src, dst) = e.roots();
    let err =
        unpack_archive(&src, "bad.tar", &dst, "/x", &UnpackOptions::default()).expect_err("escape");
    assert!(
        matches!(&err, Error::ArchiveEscape { entry, .. } if entry == "../../evil.txt"),
        "{err}"
    );
    assert!(!e._tmp.path().join("evil.txt").exists());

    // Symlinks the archive makes are followed inside the extraction directory.
    let e = env();
    let outside = e._tmp.path().join("outside");
    fs::create_dir_all(&outside).expect("mkdir");
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(
        &mut b,
        b"abs",
        tar::EntryType::Symlink,
        Some(outside.to_str().expect("utf8")),
        b"",
    );
    raw_entry(
        &mut b,
        b"up",
        tar::EntryType::Symlink,
        Some("../../../.."),
        b"",
    );
    let mut through_abs = b"abs/pwned".to_vec();
    through_abs.resize(9, 0);
    raw_entry(&mut b, &through_abs, tar::EntryType::Regular, None, b"1");
    raw_entry(&mut b, b"up/pwned2", tar::EntryType::Regular, None, b"2");
    raw_entry(
        &mut b,
        b"/abs-name.txt",
        tar::EntryType::Regular,
        None,
        b"3",
    );
    fs::write(e.src.join("links.tar"), b.into_inner().expect("tar")).expect("write");
    let (src, dst) = e.roots();
    unpack_archive(&src, "links.tar", &dst, "/x", &UnpackOptions::default()).expect("contained");
    assert_eq!(
        fs::read_dir(&outside).expect("ls").count(),
        0,
        "nothing written outside"
    );
    let inside = outside.strip_prefix("/").expect("abs");
    assert!(e.dst.join("x").join(inside).join("pwned").is_file());
    assert!(
        e.dst.join("x/pwned2").is_file(),
        "relative escape clamped at the extraction root"
    );
    assert!(e.dst.join("x/abs-name.txt").is_file(), "leading / stripped");
    assert!(!Path::new("/pwned2").exists());
}

#[test]
fn truncated_archive_is_an_error_naming_the_archive() {
    let e = env();
    let mut bytes = tar_bytes();
    bytes.truncate(512 + 512 + 100);
    fs::write(e.src.join("cut.tar"), bytes).expect("write");
    let (src, dst) = e.roots();
    let err = unpack_archive(&src, "cut.tar", &dst, "/x", &UnpackOptions::default())
        .expect_err("truncated");
    assert!(err.to_string().contains("\"/cut.tar\""), "{err}");
}
