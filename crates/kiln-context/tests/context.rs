//! End-to-end tests of scanning, hashing, caching, transfer and tar extraction on real
//! temporary directories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kiln_context::{
    Digest, Error, HashCache, Hasher, NoCache, ScanOptions, Selector, Tree, extract_tar,
};

fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let p = root.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }
}

/// Lets the file timestamps age past the racy window so cache entries are trusted.
fn settle() {
    std::thread::sleep(Duration::from_millis(40));
}

fn scan(root: &Path, excludes: &[&str], includes: &[&str]) -> Tree {
    let opts = ScanOptions {
        excludes: excludes.iter().map(|s| s.to_string()).collect(),
        includes: includes.iter().map(|s| s.to_string()).collect(),
    };
    Tree::scan(root, &opts).unwrap()
}

fn digest(tree: &Tree, path: &str) -> Digest {
    Hasher::new(tree, NoCache)
        .checksum(&Selector::copy_source(path))
        .unwrap()
}

fn paths(tree: &Tree) -> Vec<String> {
    tree.nodes()
        .iter()
        .skip(1)
        .map(|n| n.path.clone())
        .collect()
}

fn shared_suite(suite: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KILN_SHARED_DIR") {
        return Some(PathBuf::from(dir).join("conformance/suites").join(suite));
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/conformance/suites").join(suite))
        .find(|p| p.is_dir())
}

/// The cases of `dockerignore/build-context.json` that belong to this layer: the filtered
/// context equals what `COPY . .` would copy; the per-Dockerfile ignore file is chosen by the
/// CLI, so here each case scans with the ignore file the CLI would pick.
#[test]
fn conformance_dockerignore_build_context() {
    let Some(dir) = shared_suite("dockerignore") else {
        println!("conformance dockerignore/build-context: skipped (shared data absent)");
        return;
    };
    let text = fs::read_to_string(dir.join("build-context.json")).unwrap();
    let suite: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (mut passed, mut failed) = (0, 0);
    for case in suite["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let files = case["contextFiles"].as_object().unwrap();
        for (path, content) in files {
            write(tmp.path(), &[(path, content.as_str().unwrap())]);
        }
        let dockerfile = case["dockerfileName"].as_str().unwrap();
        let ignore = files
            .get(&format!("{dockerfile}.dockerignore"))
            .or_else(|| files.get(".dockerignore"))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let patterns = kiln_dockerignore::read_ignore_file(ignore).unwrap();
        let opts = ScanOptions {
            excludes: patterns,
            includes: Vec::new(),
        };
        let result = Tree::scan(tmp.path(), &opts);
        let ok = if case["expectedError"].as_bool() == Some(true) {
            matches!(result, Err(Error::Pattern { .. }))
        } else {
            let tree = result.unwrap();
            let out = tempfile::tempdir().unwrap();
            tree.sync_to(out.path()).unwrap();
            let present = case["expected"]["present"].as_object().unwrap();
            let absent = case["expected"]["absent"].as_array().unwrap();
            present
                .iter()
                .all(|(p, c)| fs::read_to_string(out.path().join(p)).ok().as_deref() == c.as_str())
                && absent
                    .iter()
                    .all(|p| !out.path().join(p.as_str().unwrap()).exists())
        };
        if ok {
            passed += 1;
        } else {
            failed += 1;
            println!("FAIL {name}");
        }
    }
    println!("conformance dockerignore/build-context: {passed} passed, {failed} failed");
    assert_eq!(failed, 0);
    assert_eq!(passed, 4);
}

#[test]
fn dockerfile_and_dockerignore_may_be_excluded() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            ("Dockerfile", "FROM scratch\nCOPY . .\n"),
            (".dockerignore", "Dockerfile\n.dockerignore\n"),
            ("a", "a"),
        ],
    );
    let tree = scan(tmp.path(), &["Dockerfile", ".dockerignore"], &[]);
    assert_eq!(paths(&tree), vec!["a"]);
    assert_eq!(tree.excluded_count(), 2);
}

#[test]
fn excluded_subtrees_are_skipped_unless_an_exception_reaches_in() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            ("node_modules/x/y.js", "1"),
            ("build/keep.txt", "k"),
            ("build/drop.o", "d"),
            ("src/main.go", "m"),
        ],
    );
    let tree = scan(
        tmp.path(),
        &["node_modules", "build", "!build/keep.txt"],
        &[],
    );
    assert_eq!(
        paths(&tree),
        vec!["build", "build/keep.txt", "src", "src/main.go"]
    );
    // node_modules counted once: its subtree was never entered.
    assert_eq!(tree.excluded_count(), 2);
}

#[test]
fn include_patterns_select_only_what_copy_needs() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            ("src/a.go", "a"),
            ("src/sub/b.go", "b"),
            ("docs/readme.md", "r"),
            ("x.txt", "x"),
            ("y.txt", "y"),
            ("z.md", "z"),
        ],
    );
    let tree = scan(tmp.path(), &[], &["src/sub", "*.txt"]);
    assert_eq!(
        paths(&tree),
        vec!["src", "src/sub", "src/sub/b.go", "x.txt", "y.txt"]
    );
}

#[test]
fn digests_are_stable_and_cover_content_and_mode_but_not_mtime_or_owner() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for root in [a.path(), b.path()] {
        write(root, &[("d/f", "hello"), ("d/g", "world"), ("top", "t")]);
    }
    let (ta, tb) = (scan(a.path(), &[], &[]), scan(b.path(), &[], &[]));
    for sel in [".", "d", "d/f", "d/", "*"] {
        assert_eq!(digest(&ta, sel), digest(&tb, sel), "{sel}");
    }
    // BuildKit's file record: tarsum v1 header without mtime, then content.
    let header = "namemode420uid0gid0size5typeflag0linknameunamegnamedevmajor0devminor0";
    let perm = fs::metadata(a.path().join("d/f"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    if perm == 0o644 {
        assert_eq!(
            digest(&ta, "d/f"),
            Digest::of(format!("{header}hello").as_bytes())
        );
    }
    let before = digest(&ta, "d");
    // mtime only: same digest.
    let f = fs::File::options()
        .write(true)
        .open(a.path().join("d/f"))
        .unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
    assert_eq!(digest(&scan(a.path(), &[], &[]), "d"), before);
    // mode: different digest.
    fs::set_permissions(a.path().join("d/f"), fs::Permissions::from_mode(0o755)).unwrap();
    let after_mode = digest(&scan(a.path(), &[], &[]), "d");
    assert_ne!(after_mode, before);
    // content: different digest; an unrelated file does not matter to `d`.
    write(a.path(), &[("top", "changed")]);
    assert_eq!(digest(&scan(a.path(), &[], &[]), "d"), after_mode);
    write(a.path(), &[("d/g", "WORLD")]);
    assert_ne!(digest(&scan(a.path(), &[], &[]), "d"), after_mode);
}

#[test]
fn ignored_file_changes_bust_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[("app/main.c", "int main;"), ("app/debug.log", "1")],
    );
    let d1 = digest(&scan(tmp.path(), &["**/*.log"], &[]), ".");
    write(tmp.path(), &[("app/debug.log", "2 and more")]);
    let d2 = digest(&scan(tmp.path(), &["**/*.log"], &[]), ".");
    assert_eq!(d1, d2);
}

#[test]
fn wildcard_hashes_the_matched_set() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &[("a.txt", "a"), ("b.txt", "b"), ("c.md", "c")]);
    let tree = scan(tmp.path(), &[], &[]);
    let all = digest(&tree, "*.txt");
    write(tmp.path(), &[("c.md", "changed")]);
    assert_eq!(digest(&scan(tmp.path(), &[], &[]), "*.txt"), all);
    write(tmp.path(), &[("b.txt", "changed")]);
    assert_ne!(digest(&scan(tmp.path(), &[], &[]), "*.txt"), all);
    // A single match whose base name equals the pattern's is its own digest (BuildKit).
    write(tmp.path(), &[("sub/a.txt", "s")]);
    let tree = scan(tmp.path(), &[], &[]);
    assert_eq!(digest(&tree, "s*/a.txt"), digest(&tree, "sub/a.txt"));
    assert_ne!(digest(&tree, "a.tx[t]"), digest(&tree, "a.txt"));
    assert_eq!(digest(&tree, "*.none"), Digest::empty());
}

#[test]
fn exclude_patterns_leave_files_out() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &[("d/a.go", "a"), ("d/a_test.go", "t")]);
    let sel = |t: &Tree| {
        Hasher::new(t, NoCache)
            .checksum(&Selector {
                exclude_patterns: vec!["*_test.go".into()],
                ..Selector::copy_source("d")
            })
            .unwrap()
    };
    let before = sel(&scan(tmp.path(), &[], &[]));
    write(tmp.path(), &[("d/a_test.go", "changed")]);
    assert_eq!(sel(&scan(tmp.path(), &[], &[])), before);
    write(tmp.path(), &[("d/a.go", "changed")]);
    assert_ne!(sel(&scan(tmp.path(), &[], &[])), before);
}

#[test]
fn missing_sources_say_whether_dockerignore_excluded_them() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &[("secret.env", "x"), ("a", "a")]);
    let tree = scan(tmp.path(), &["*.env"], &[]);
    let mut h = Hasher::new(&tree, NoCache);
    let err = h
        .checksum(&Selector::copy_source("secret.env"))
        .unwrap_err();
    assert!(matches!(err, Error::Excluded { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("\"/secret.env\": not found: excluded by .dockerignore")
    );
    let err = h.checksum(&Selector::copy_source("nope")).unwrap_err();
    assert_eq!(err.to_string(), "\"/nope\": not found");
}

#[test]
fn symlinks_out_of_the_context_are_contained() {
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), &[("passwd", "root:x:0:0")]);
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &[("a", "a")]);
    symlink(outside.path(), tmp.path().join("abs")).unwrap();
    symlink("../../../../../../..", tmp.path().join("up")).unwrap();
    let tree = scan(tmp.path(), &[], &[]);
    // The walk records links, never follows them.
    assert_eq!(paths(&tree), vec!["a", "abs", "up"]);
    let mut h = Hasher::new(&tree, NoCache);
    // Following resolves inside the context root: the outside file is not found.
    let err = h
        .checksum(&Selector::copy_source("abs/passwd"))
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    // `up` resolves to the context root itself.
    assert_eq!(
        h.checksum(&Selector::copy_source("up/a")).unwrap(),
        h.checksum(&Selector::copy_source("a")).unwrap()
    );
    // Transfer copies the links as links.
    let out = tempfile::tempdir().unwrap();
    tree.sync_to(out.path()).unwrap();
    let link = fs::symlink_metadata(out.path().join("abs")).unwrap();
    assert!(link.file_type().is_symlink());
    assert_eq!(
        fs::read_link(out.path().join("abs")).unwrap(),
        outside.path()
    );
}

#[test]
fn warm_cache_reads_nothing_and_one_change_reads_one_file() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    for i in 0..50 {
        write(
            tmp.path(),
            &[(&format!("d{}/f{i}", i % 5), &format!("content {i}"))],
        );
    }
    settle();
    let file = HashCache::file_for(state.path(), tmp.path());
    let run = || {
        let tree = scan(tmp.path(), &[], &[]);
        let mut h = Hasher::new(&tree, HashCache::open(&file).unwrap());
        let d = h.checksum(&Selector::copy_source(".")).unwrap();
        let stats = h.stats();
        let mut cache = h.into_cache();
        cache.retain_present(&tree);
        cache.save().unwrap();
        (d, stats)
    };
    let (cold, s1) = run();
    assert_eq!((s1.files_hashed, s1.cache_hits), (50, 0));
    let (warm, s2) = run();
    assert_eq!(warm, cold);
    assert_eq!((s2.files_hashed, s2.bytes_read, s2.cache_hits), (0, 0, 50));
    write(tmp.path(), &[("d3/f8", "changed!")]);
    settle();
    let (changed, s3) = run();
    assert_ne!(changed, cold);
    assert_eq!((s3.files_hashed, s3.cache_hits), (1, 49));
    assert_eq!(s3.bytes_read, 8);
    // The digest equals a cold computation.
    assert_eq!(changed, digest(&scan(tmp.path(), &[], &[]), "."));
}

#[test]
fn racy_file_is_rehashed() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &[("f", "1")]);
    // Hashed immediately after the write: the entry is racy and not trusted.
    let tree = scan(tmp.path(), &[], &[]);
    let mut h = Hasher::new(&tree, HashCache::in_memory());
    h.checksum(&Selector::copy_source("f")).unwrap();
    let cache = h.into_cache();
    let mut h = Hasher::new(&tree, cache);
    h.checksum(&Selector::copy_source("f")).unwrap();
    assert_eq!(h.stats().files_hashed, 1);
}

/// The no-op path of a 20k-file context: stats only, no content read (not timed; see
/// `examples/context_bench.rs` for figures).
#[test]
fn twenty_thousand_files_noop_is_stat_only() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 20_000;
    for d in 0..100 {
        fs::create_dir_all(tmp.path().join(format!("pkg{d}"))).unwrap();
    }
    for i in 0..n {
        fs::write(
            tmp.path().join(format!("pkg{}/file{i}.txt", i % 100)),
            format!("{i}"),
        )
        .unwrap();
    }
    settle();
    let tree = scan(tmp.path(), &[], &[]);
    assert_eq!(tree.len(), n + 101);
    let mut h = Hasher::new(&tree, HashCache::in_memory());
    let cold = h.checksum(&Selector::copy_source(".")).unwrap();
    assert_eq!(h.stats().files_hashed, n as u64);
    let cache = h.into_cache();
    let tree = scan(tmp.path(), &[], &[]);
    let mut h = Hasher::new(&tree, cache);
    assert_eq!(h.checksum(&Selector::copy_source(".")).unwrap(), cold);
    assert_eq!(h.stats().files_hashed, 0);
    assert_eq!(h.stats().cache_hits, n as u64);
}

#[test]
fn sync_is_incremental_and_keeps_links_and_modes() {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), &[("a", "aaa"), ("d/b", "bbb"), ("d/gone", "x")]);
    fs::set_permissions(src.path().join("a"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::hard_link(src.path().join("a"), src.path().join("d/a-link")).unwrap();
    symlink("../a", src.path().join("d/rel")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let s1 = scan(src.path(), &[], &[]).sync_to(out.path()).unwrap();
    assert_eq!(s1.files_written, 3);
    assert_eq!(s1.hard_links, 1);
    let meta = fs::metadata(out.path().join("a")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o4755);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        meta.ino(),
        fs::metadata(out.path().join("d/a-link")).unwrap().ino()
    );
    assert_eq!(
        fs::read_link(out.path().join("d/rel")).unwrap(),
        Path::new("../a")
    );
    // Second sync: one change, one removal.
    write(src.path(), &[("d/b", "BBBB")]);
    fs::remove_file(src.path().join("d/gone")).unwrap();
    let s2 = scan(src.path(), &[], &[]).sync_to(out.path()).unwrap();
    assert_eq!((s2.files_written, s2.removed), (1, 1));
    assert_eq!(fs::read_to_string(out.path().join("d/b")).unwrap(), "BBBB");
    assert!(!out.path().join("d/gone").exists());
    let s3 = scan(src.path(), &[], &[]).sync_to(out.path()).unwrap();
    assert_eq!((s3.files_written, s3.removed, s3.others_written), (0, 0, 0));
}

#[test]
fn tar_context_is_extracted_beneath_its_root() {
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        // Written raw so that `../` survives into the archive.
        let bytes = name.as_bytes();
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_cksum();
        builder.append(&h, data).unwrap();
    };
    add("Dockerfile", b"FROM scratch\n");
    add("../escape", b"x");
    let bytes = builder.into_inner().unwrap();
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("ctx");
    extract_tar(&bytes[..], &root).unwrap();
    assert!(root.join("Dockerfile").is_file());
    assert!(!parent.path().join("escape").exists());
    assert!(root.join("escape").is_file());
}

#[test]
fn directory_digest_is_buildkits_merkle_layout() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &[("d/f", "hello")]);
    fs::set_permissions(tmp.path().join("d"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(tmp.path().join("d/f"), fs::Permissions::from_mode(0o644)).unwrap();
    let tree = scan(tmp.path(), &[], &[]);
    let hdr = |mode: u32, size: u64, typeflag: char| {
        format!(
            "namemode{mode}uid0gid0size{size}typeflag{typeflag}linknameunamegnamedevmajor0devminor0"
        )
    };
    let f = Digest::of(format!("{}hello", hdr(0o644, 5, '0')).as_bytes());
    let d_header = Digest::of(hdr(0o755, 0, '5').as_bytes());
    let d = Digest::of(format!("\0{d_header}\0f{f}").as_bytes());
    assert_eq!(digest(&tree, "d/f"), f);
    assert_eq!(digest(&tree, "d"), d);
    assert_eq!(digest(&tree, "d/"), d);
    // The root's own header record is the digest of nothing.
    let root = Digest::of(format!("\0{}\0d{d}", Digest::empty()).as_bytes());
    assert_eq!(digest(&tree, "."), root);
    assert_eq!(digest(&tree, "/"), root);
    // Patterns: `d/` leaves d's header out, `d` keeps it; one entry of another base name
    // combines as base name + digest.
    let with_patterns = |path: &str| {
        Hasher::new(&tree, NoCache)
            .checksum(&Selector {
                exclude_patterns: vec!["nothing".into()],
                ..Selector::copy_source(path)
            })
            .unwrap()
    };
    assert_eq!(with_patterns("d/"), Digest::of(format!("f{f}").as_bytes()));
    assert_eq!(
        with_patterns("d"),
        Digest::of(format!("d{d_header}\0f{f}").as_bytes())
    );
}

#[test]
fn wildcard_follows_matched_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &[("target.txt", "t")]);
    symlink("target.txt", tmp.path().join("link")).unwrap();
    let tree = scan(tmp.path(), &[], &[]);
    let target = digest(&tree, "target.txt");
    assert_eq!(digest(&tree, "link"), target);
    assert_eq!(
        digest(&tree, "l*"),
        Digest::of(format!("link{target}").as_bytes())
    );
    // Without following, the link's own record is used.
    let own = Hasher::new(&tree, NoCache)
        .checksum(&Selector {
            follow_links: false,
            ..Selector::copy_source("l*")
        })
        .unwrap();
    assert_ne!(own, digest(&tree, "l*"));
}

/// Golden digests from BuildKit's own `cache/contenthash/checksum_test.go` (files `0644`,
/// directories `0755`, contents `data0`/`data1`/`data2`): kiln's records and directory
/// layout are BuildKit's byte for byte. The wildcard values are those of the BuildKit
/// version whose combining rule kiln follows (see `Hasher::checksum`).
#[test]
fn buildkit_contenthash_golden_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let file = |p: &str, data: &str| {
        write(root, &[(p, data)]);
        fs::set_permissions(root.join(p), fs::Permissions::from_mode(0o644)).unwrap();
    };
    let dir = |p: &str| {
        fs::create_dir_all(root.join(p)).unwrap();
        fs::set_permissions(root.join(p), fs::Permissions::from_mode(0o755)).unwrap();
    };
    file("foo", "data0");
    file("bar", "data1");
    file("fox", "data2");
    dir("x");
    dir("x/d0");
    file("x/d0/abc", "data0");
    symlink("abc", root.join("x/d0/def")).unwrap();
    symlink("nosuchfile", root.join("x/d0/ghi")).unwrap();
    symlink("foo", root.join("y1")).unwrap();
    symlink("fox", root.join("y2")).unwrap();
    dir("d0");
    dir("d0/foo");
    file("d0/foo/bar", "data0");
    dir("d0/foo/subdir1");
    file("d0/foo/subdir1/baz", "data1");
    dir("d0/foo/subdir2");
    dir("test");
    file("test/foo", "data0");
    let tree = scan(root, &[], &[]);
    let mut h = Hasher::new(&tree, NoCache);
    let mut sum = |path: &str, follow: bool| {
        h.checksum(&Selector {
            follow_links: follow,
            ..Selector::copy_source(path)
        })
        .unwrap()
        .to_string()
    };
    let data0 = "sha256:cd8e75bca50f2d695f220d0cb0997d8ead387e4f926e8669a92d7f104cc9885b";
    assert_eq!(sum("foo", true), data0);
    assert_eq!(
        sum("bar", true),
        "sha256:c2b5e234f5f38fc5864da7def04782f82501a40d46192e4207d5b3f0c3c4732b"
    );
    assert_eq!(
        sum("fox", true),
        "sha256:1c67653c3cf95b12a0014e2c4cd1d776b474b3218aee54155d6ae27b9b999c54"
    );
    // dgstDirD0: a directory with a file, a symlink to it and a dangling symlink.
    assert_eq!(
        sum("x/d0", true),
        "sha256:d47454417d2c554067fbefe5f5719edc49f3cfe969c36b62e34a187a4da0cc9a"
    );
    assert_eq!(sum("x/d0/def", true), data0);
    assert!(matches!(h_err(&tree, "x/d0/ghi"), Error::NotFound { .. }));
    // TestChecksumDirectoryPermissionChange / TestChecksumIdenticalWithNoopExclude.
    assert_eq!(
        sum("d0/foo", false),
        "sha256:e76717544f71725bd759a981554ca17c286b3d222598f46a671b983fd2b8172d"
    );
    assert_eq!(
        sum("test", false),
        "sha256:8f36dfd60011a21345427f4d3177b1223e11fbb732c18dd07cd8b2a27a0b53ca"
    );
    // Wildcards (TestChecksumWildcardOrFilter).
    assert_eq!(
        sum("f*o", false),
        Digest::of(format!("foo{data0}").as_bytes()).to_string()
    );
    assert_eq!(
        sum("f*", false),
        "sha256:7f51c821895cfc116d3f64231dfb438e87a237ecbbe027cd96b7ee5e763cc569"
    );
    assert_eq!(
        sum("x/d?", false),
        "sha256:231c3293e329de47fec9e79056686477891fd1f244ed7b1c1fa668489a1f0d50"
    );
    assert_eq!(sum("x/d?/def", true), data0);
    assert_eq!(
        sum("y*", true),
        "sha256:8afc09c7018d65d5eb318a9ef55cb704dec1f06d288181d913fc27a571aa042d"
    );
}

fn h_err(tree: &Tree, path: &str) -> Error {
    Hasher::new(tree, NoCache)
        .checksum(&Selector::copy_source(path))
        .unwrap_err()
}

#[test]
fn file_changed_after_the_scan_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &[("f", "one")]);
    let tree = scan(tmp.path(), &[], &[]);
    write(tmp.path(), &[("f", "three")]);
    let err = h_err(&tree, "f");
    assert!(matches!(err, Error::Changed { .. }), "{err}");
    assert!(err.to_string().contains("run the build again"));
}

#[test]
fn missing_context_root_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Tree::scan(&tmp.path().join("nope"), &ScanOptions::default()).unwrap_err();
    assert!(matches!(err, Error::OpenRoot { .. }));
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn non_utf8_names_survive_hashing_and_transfer() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9");
    fs::write(tmp.path().join(name), "x").unwrap();
    let tree = scan(tmp.path(), &[], &[]);
    assert_eq!(tree.len(), 2);
    digest(&tree, ".");
    let out = tempfile::tempdir().unwrap();
    tree.sync_to(out.path()).unwrap();
    assert_eq!(fs::read(out.path().join(name)).unwrap(), b"x");
}
