//! Filesystem helpers on trusted paths (the snapshotter's own directories): xattrs, tree copy,
//! disk usage.

use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, Timestamps};

use crate::error::io_err;
use crate::snapshotter::Usage;
use crate::{Error, Result};

/// Largest xattr name list and value Linux allows (`XATTR_LIST_MAX`, `XATTR_SIZE_MAX`).
const XATTR_MAX: usize = 65536;

/// All extended attributes of `path` (not following a final symlink), sorted by name.
pub(crate) fn xattrs(path: &Path) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut names = vec![0u8; XATTR_MAX];
    let n = match rustix::fs::llistxattr(path, &mut names[..]) {
        Ok(n) => n,
        Err(e) if e == rustix::io::Errno::NOTSUP => return Ok(Vec::new()),
        Err(e) => return Err(io_err("listing xattrs of", path)(e)),
    };
    names.truncate(n);
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if let Some(v) = xattr(path, name)? {
            out.push((name.to_vec(), v));
        }
    }
    out.sort();
    Ok(out)
}

/// One extended attribute of `path`, `None` if absent.
pub(crate) fn xattr(path: &Path, name: &[u8]) -> Result<Option<Vec<u8>>> {
    let cname = std::ffi::OsStr::from_bytes(name);
    let mut buf = vec![0u8; XATTR_MAX];
    match rustix::fs::lgetxattr(path, cname, &mut buf[..]) {
        Ok(n) => {
            buf.truncate(n);
            Ok(Some(buf))
        }
        Err(e) if e == rustix::io::Errno::NODATA || e == rustix::io::Errno::NOTSUP => Ok(None),
        Err(e) => Err(io_err("reading xattr of", path)(e)),
    }
}

/// Directory entries of `dir`, sorted by name bytes.
pub(crate) fn sorted_entries(dir: &Path) -> Result<Vec<std::ffi::OsString>> {
    let mut names = Vec::new();
    for e in fs::read_dir(dir).map_err(io_err("reading directory", dir))? {
        names.push(e.map_err(io_err("reading directory", dir))?.file_name());
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// Copies the tree `src` into the new directory `dst`, preserving file types, hard links,
/// ownership, modes (incl. setuid/setgid/sticky), xattrs and nanosecond timestamps.
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let mut links = HashMap::new();
    let meta = fs::symlink_metadata(src).map_err(io_err("reading", src))?;
    fs::create_dir(dst).map_err(io_err("creating", dst))?;
    copy_dir_contents(src, dst, &mut links)?;
    copy_meta(src, dst, &meta)
}

fn copy_dir_contents(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<()> {
    for name in sorted_entries(src)? {
        let s = src.join(&name);
        let d = dst.join(&name);
        let meta = fs::symlink_metadata(&s).map_err(io_err("reading", &s))?;
        let ft = meta.file_type();
        if !ft.is_dir() && meta.nlink() > 1 {
            if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
                fs::hard_link(first, &d).map_err(io_err("linking", &d))?;
                continue;
            }
            links.insert((meta.dev(), meta.ino()), d.clone());
        }
        if ft.is_dir() {
            fs::create_dir(&d).map_err(io_err("creating", &d))?;
            copy_dir_contents(&s, &d, links)?;
        } else if ft.is_file() {
            fs::copy(&s, &d).map_err(io_err("copying to", &d))?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&s).map_err(io_err("reading link", &s))?;
            std::os::unix::fs::symlink(&target, &d).map_err(io_err("creating", &d))?;
        } else {
            let kind = FileType::from_raw_mode(meta.mode());
            rustix::fs::mknodat(CWD, &d, kind, Mode::from_raw_mode(0o600), meta.rdev())
                .map_err(io_err("creating", &d))?;
        }
        copy_meta(&s, &d, &meta)?;
    }
    Ok(())
}

fn copy_meta(src: &Path, dst: &Path, meta: &fs::Metadata) -> Result<()> {
    let is_link = meta.file_type().is_symlink();
    rustix::fs::chownat(
        CWD,
        dst,
        Some(rustix::fs::Uid::from_raw(meta.uid())),
        Some(rustix::fs::Gid::from_raw(meta.gid())),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(io_err("changing owner of", dst))?;
    if !is_link {
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(io_err("changing mode of", dst))?;
    }
    for (name, value) in xattrs(src)? {
        rustix::fs::lsetxattr(
            dst,
            std::ffi::OsStr::from_bytes(&name),
            &value,
            rustix::fs::XattrFlags::empty(),
        )
        .map_err(io_err("setting xattr on", dst))?;
    }
    set_times(dst, meta)
}

/// Sets atime and mtime of `dst` (not following symlinks) from `meta`.
pub(crate) fn set_times(dst: &Path, meta: &fs::Metadata) -> Result<()> {
    let ts = Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec(),
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec(),
        },
    };
    rustix::fs::utimensat(CWD, dst, &ts, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(io_err("setting times of", dst))
}

/// Disk usage of the tree at `dir` (hard links counted once).
pub(crate) fn usage(dir: &Path) -> Result<Usage> {
    let mut seen = std::collections::HashSet::new();
    let mut u = Usage::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = fs::symlink_metadata(&p).map_err(io_err("reading", &p))?;
        if !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        u.inodes += 1;
        if meta.is_file() {
            u.size += meta.len();
        } else if meta.is_dir() {
            for name in sorted_entries(&p)? {
                stack.push(p.join(name));
            }
        }
    }
    Ok(u)
}

/// Removes `path` and everything under it; a missing path is not an error.
pub(crate) fn remove_all(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io {
            op: "removing",
            path: path.to_owned(),
            source: e,
        }),
    }
}
