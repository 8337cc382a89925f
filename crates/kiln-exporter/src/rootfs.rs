//! The `local` and `tar` outputs: the final root filesystem as a directory tree or a tarball,
//! per platform in `<os>_<arch>[_<variant>]/` subdirectories for multi-platform builds
//! (buildx's `platform-split`).
//!
//! The source tree is walked without following symlinks; entries keep their type, mode
//! (including setuid/setgid/sticky), owner (in tarballs always; on disk when running as root),
//! symlink targets, hard links (a second path to an inode already written becomes a link) and
//! mtimes. Directory writes stay beneath the destination: every path is built from names read
//! from the source directory (never `..`), and an existing symlink in the destination where a
//! directory is expected is replaced, never followed.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use kiln_platforms::Platform;

use crate::error::{Error, Result};

/// The subdirectory name of a platform in multi-platform `local`/`tar` output (`linux_arm_v7`).
pub fn platform_dir_name(p: &Platform) -> String {
    kiln_platforms::format(p).replace('/', "_")
}

/// Sorted entries of a directory.
fn read_dir_sorted(dir: &Path) -> Result<Vec<OsString>> {
    let mut names = fs::read_dir(dir)
        .map_err(|e| Error::io("reading directory", dir, e))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| Error::io("reading directory", dir, e))?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// Walks `root` depth-first in lexical order, calling `f(relative path, metadata)`; a directory
/// comes before its children. Symlinks are reported, never followed.
fn walk(root: &Path, f: &mut dyn FnMut(&Path, &Metadata) -> Result<()>) -> Result<()> {
    fn inner(
        root: &Path,
        rel: &Path,
        f: &mut dyn FnMut(&Path, &Metadata) -> Result<()>,
    ) -> Result<()> {
        for name in read_dir_sorted(&root.join(rel))? {
            let rel = rel.join(&name);
            let path = root.join(&rel);
            let meta =
                fs::symlink_metadata(&path).map_err(|e| Error::io("inspecting", &path, e))?;
            f(&rel, &meta)?;
            if meta.is_dir() {
                inner(root, &rel, f)?;
            }
        }
        Ok(())
    }
    inner(root, Path::new(""), f)
}

fn check_rel(root: &Path, rel: &Path) -> Result<()> {
    if rel.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(())
    } else {
        Err(Error::UnsafePath {
            path: rel.to_path_buf(),
            root: root.to_path_buf(),
            reason: "path components must be plain names",
        })
    }
}

/// Writes the tree at `rootfs` as a tarball (the `tar` output) under `prefix` (empty, or a
/// platform directory for multi-platform output). Returns `out`.
pub fn write_rootfs_tar<W: Write>(rootfs: &Path, prefix: &str, out: W) -> Result<W> {
    let mut tar = tar::Builder::new(out);
    append_rootfs(&mut tar, rootfs, prefix)?;
    tar.into_inner()
        .map_err(|e| Error::io("writing", "<rootfs tarball>", e))
}

/// Writes several platforms' trees into one tarball, each under its platform directory.
pub fn write_multi_platform_tar<W: Write>(trees: &[(Platform, &Path)], out: W) -> Result<W> {
    let mut tar = tar::Builder::new(out);
    for (p, root) in trees {
        let dir = platform_dir_name(p);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(0);
        tar.append_data(&mut h, format!("{dir}/"), io::empty())
            .map_err(|e| Error::io("writing", "<rootfs tarball>", e))?;
        append_rootfs(&mut tar, root, &dir)?;
    }
    tar.into_inner()
        .map_err(|e| Error::io("writing", "<rootfs tarball>", e))
}

fn append_rootfs<W: Write>(tar: &mut tar::Builder<W>, rootfs: &Path, prefix: &str) -> Result<()> {
    let werr = |e| Error::io("writing", "<rootfs tarball>", e);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    walk(rootfs, &mut |rel, meta| {
        check_rel(rootfs, rel)?;
        let name = if prefix.is_empty() {
            rel.to_path_buf()
        } else {
            Path::new(prefix).join(rel)
        };
        let path = rootfs.join(rel);
        let mut h = tar::Header::new_gnu();
        h.set_mode(meta.mode() & 0o7777);
        h.set_uid(u64::from(meta.uid()));
        h.set_gid(u64::from(meta.gid()));
        h.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
        h.set_size(0);
        let ft = meta.file_type();
        if ft.is_file() && meta.nlink() > 1 {
            if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
                h.set_entry_type(tar::EntryType::Link);
                return tar.append_link(&mut h, &name, first).map_err(werr);
            }
            links.insert((meta.dev(), meta.ino()), name.clone());
        }
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            let mut dir_name = name.into_os_string();
            dir_name.push("/");
            tar.append_data(&mut h, dir_name, io::empty()).map_err(werr)
        } else if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(meta.len());
            let file = open_nofollow(&path)?;
            tar.append_data(&mut h, &name, io::Read::take(file, meta.len()))
                .map_err(werr)
        } else if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = fs::read_link(&path).map_err(|e| Error::io("reading link", &path, e))?;
            tar.append_link(&mut h, &name, &target).map_err(werr)
        } else if ft.is_fifo() {
            h.set_entry_type(tar::EntryType::Fifo);
            tar.append_data(&mut h, &name, io::empty()).map_err(werr)
        } else if ft.is_char_device() || ft.is_block_device() {
            h.set_entry_type(if ft.is_char_device() {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            });
            let rdev = meta.rdev();
            let (major, minor) = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
            h.set_device_major(major)
                .and_then(|()| h.set_device_minor(minor))
                .map_err(werr)?;
            tar.append_data(&mut h, &name, io::empty()).map_err(werr)
        } else {
            // Sockets cannot be represented in a tar; BuildKit skips them too.
            Ok(())
        }
    })
}

fn open_nofollow(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(|e| Error::io("opening", path, e))
}

/// Makes sure `path` (inside the destination) is a real directory: replaces a symlink or file.
fn ensure_dir(path: &Path, mode: u32) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => {
            fs::remove_file(path).map_err(|e| Error::io("replacing", path, e))?;
            fs::create_dir(path).map_err(|e| Error::io("creating", path, e))?;
            set_mode(path, mode)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir(path).map_err(|e| Error::io("creating", path, e))?;
            set_mode(path, mode)
        }
        Err(e) => Err(Error::io("inspecting", path, e)),
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7777))
        .map_err(|e| Error::io("setting mode of", path, e))
}

/// Removes whatever is at `path` (not following symlinks) so a new entry can take its place.
fn clear(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            fs::remove_dir_all(path).map_err(|e| Error::io("replacing", path, e))
        }
        Ok(_) => fs::remove_file(path).map_err(|e| Error::io("replacing", path, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("inspecting", path, e)),
    }
}

/// Copies the tree at `rootfs` into `dest` (the `local` output), creating `dest` if needed.
/// Existing entries in `dest` with the same names are replaced; others are left alone (as
/// buildx's local exporter does).
pub fn export_local(rootfs: &Path, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest).map_err(|e| Error::io("creating", dest, e))?;
    let is_root = rustix::process::geteuid().is_root();
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut dirs: Vec<(PathBuf, Metadata)> = Vec::new();
    walk(rootfs, &mut |rel, meta| {
        check_rel(rootfs, rel)?;
        let src = rootfs.join(rel);
        let dst = dest.join(rel);
        let ft = meta.file_type();
        if ft.is_dir() {
            ensure_dir(&dst, 0o700)?;
            dirs.push((dst, meta.clone()));
            return Ok(());
        }
        clear(&dst)?;
        if ft.is_file() && meta.nlink() > 1 {
            if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
                return fs::hard_link(first, &dst).map_err(|e| Error::io("linking", &dst, e));
            }
            links.insert((meta.dev(), meta.ino()), dst.clone());
        }
        if ft.is_file() {
            let mut from = open_nofollow(&src)?;
            let mut to = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&dst)
                .map_err(|e| Error::io("creating", &dst, e))?;
            io::copy(&mut from, &mut to).map_err(|e| Error::io("copying to", &dst, e))?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&src).map_err(|e| Error::io("reading link", &src, e))?;
            std::os::unix::fs::symlink(&target, &dst)
                .map_err(|e| Error::io("creating symlink", &dst, e))?;
        } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
            let kind = if ft.is_fifo() {
                rustix::fs::FileType::Fifo
            } else if ft.is_char_device() {
                rustix::fs::FileType::CharacterDevice
            } else {
                rustix::fs::FileType::BlockDevice
            };
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &dst,
                kind,
                rustix::fs::Mode::from_raw_mode(meta.mode() & 0o7777),
                meta.rdev(),
            )
            .map_err(|e| Error::io("creating node", &dst, e.into()))?;
        } else {
            return Ok(());
        }
        finish_entry(&dst, meta, is_root)
    })?;
    // Directory modes and times last, deepest first, so writing children is never refused.
    for (dst, meta) in dirs.iter().rev() {
        finish_entry(dst, meta, is_root)?;
    }
    Ok(())
}

/// Owner (when root), mode (not for symlinks) and mtime of a written entry.
fn finish_entry(dst: &Path, meta: &Metadata, is_root: bool) -> Result<()> {
    let symlink = meta.file_type().is_symlink();
    if is_root {
        rustix::fs::chownat(
            rustix::fs::CWD,
            dst,
            Some(rustix::fs::Uid::from_raw(meta.uid())),
            Some(rustix::fs::Gid::from_raw(meta.gid())),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| Error::io("changing owner of", dst, e.into()))?;
    }
    if !symlink {
        set_mode(dst, meta.mode())?;
    }
    let mtime = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec() as _,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec() as _,
        },
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        dst,
        &mtime,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| Error::io("setting times of", dst, e.into()))
}

/// Exports several platforms' trees: into `dest/<platform>/` when `split` (buildx's default for
/// multi-platform), or all into `dest` (`platform-split=false`; later platforms overwrite).
pub fn export_local_multi(trees: &[(Platform, &Path)], dest: &Path, split: bool) -> Result<()> {
    for (p, root) in trees {
        if split {
            export_local(root, &dest.join(platform_dir_name(p)))?;
        } else {
            export_local(root, dest)?;
        }
    }
    Ok(())
}
