//! Test helpers: directory trees summarised the way the `builds` conformance suite records
//! them (`file SIZE SHA16 mode=0oNNNN uid=U gid=G`, `dir`, `symlink -> T`, `fifo`, `dev M:m`).
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Summary of every entry below `root`, keyed by relative path.
pub fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let rel = path
            .strip_prefix(root)
            .expect("prefix")
            .to_string_lossy()
            .into_owned();
        let md = fs::symlink_metadata(&path).expect("lstat");
        out.insert(rel, describe(&path, &md));
        if md.is_dir() {
            walk(root, &path, out);
        }
    }
}

pub fn describe(path: &Path, md: &fs::Metadata) -> String {
    let ft = md.file_type();
    let kind = if ft.is_dir() {
        "dir".to_string()
    } else if ft.is_symlink() {
        format!(
            "symlink -> {}",
            fs::read_link(path).expect("readlink").to_string_lossy()
        )
    } else if ft.is_fifo() {
        "fifo".to_string()
    } else if ft.is_char_device() || ft.is_block_device() {
        let rdev = md.rdev();
        format!("dev {}:{}", rustix_major(rdev), rustix_minor(rdev))
    } else {
        let data = fs::read(path).expect("read");
        let hash = Sha256::digest(&data);
        let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("file {} {hex}", data.len())
    };
    format!(
        "{kind} mode=0o{:o} uid={} gid={}",
        md.permissions().mode() & 0o7777,
        md.uid(),
        md.gid()
    )
}

fn rustix_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn rustix_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

/// Writes a file, creating parents, with `mode`.
pub fn write(root: &Path, rel: &str, data: &[u8], mode: u32) {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(&p, data).expect("write");
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Copies a case directory as git would check it out (files 0644, or 0755 when
/// executable; dirs 0755).
pub fn checkout(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        let md = e.metadata().expect("stat");
        if md.is_dir() {
            checkout(&e.path(), &target);
            fs::set_permissions(&target, fs::Permissions::from_mode(0o755)).expect("chmod");
        } else {
            fs::copy(e.path(), &target).expect("copy");
            let mode = if md.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            fs::set_permissions(&target, fs::Permissions::from_mode(mode)).expect("chmod");
        }
    }
}

/// Whether the tests run as root (chown and mknod need it).
pub fn is_root() -> bool {
    rustix_uid() == 0
}

fn rustix_uid() -> u32 {
    fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

/// A minimal base image root: /tmp 1777, /etc/passwd and /etc/group with root and nobody.
pub fn base(dir: &Path) {
    fs::create_dir_all(dir.join("tmp")).expect("mkdir");
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod");
    write(
        dir,
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
        0o644,
    );
    write(dir, "etc/group", b"root:x:0:\nnogroup:x:65534:\n", 0o644);
}
