//! Transfer: materialising a scanned [`Tree`] into a target directory (the snapshot of the
//! local source), incrementally like fsutil's diff copy — unchanged entries are left alone,
//! changed ones rewritten, entries not in the tree removed.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};
use rustix::io::Errno;

use crate::tree::{BENEATH, Kind, Meta, Node, Tree};
use crate::{Error, Result};

/// What a [`Tree::sync_to`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Regular files (re)written.
    pub files_written: u64,
    /// Bytes of content copied.
    pub bytes_written: u64,
    /// Entries already up to date in the target.
    pub unchanged: u64,
    /// Entries removed from the target because the tree no longer has them.
    pub removed: u64,
    /// Hard links made to an earlier file of the same selection.
    pub hard_links: u64,
    /// Symlinks, directories, fifos and devices created or replaced.
    pub others_written: u64,
}

impl Tree {
    /// Makes `target` hold exactly this tree: same names, types, permission bits (setuid,
    /// setgid, sticky included), mtimes, symlink targets (verbatim — a link pointing out of
    /// the context stays a link and is never dereferenced), and hard links between files of
    /// the tree. Ownership is the caller's (root in the engine, as BuildKit's local source
    /// which resets uid/gid to 0); COPY sets owners itself later.
    ///
    /// Incremental: a regular file whose target already has the same size, mtime and
    /// permission bits is not rewritten (the quick check of rsync and fsutil); entries of
    /// `target` the tree does not have are deleted. Every target access is relative to a
    /// directory fd opened with `O_NOFOLLOW`, and sources are opened beneath the context
    /// root without following symlinks, so nothing is read or written outside either root.
    ///
    /// Errors: [`Error::Sync`] naming the entry and the failed step; [`Error::Io`] or
    /// [`Error::Changed`] for a source file that became unreadable or changed.
    pub fn sync_to(&self, target: &Path) -> Result<SyncStats> {
        let top_err = |op: &'static str| {
            let target = target.to_path_buf();
            move |e: io::Error| Error::Sync {
                target,
                path: String::new(),
                op,
                source: e,
            }
        };
        std::fs::create_dir_all(target).map_err(top_err("creating the target"))?;
        let dst = rustix::fs::open(
            target,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| top_err("opening the target")(e.into()))?;
        let mut s = Syncer {
            tree: self,
            target,
            target_fd: dst.try_clone().map_err(top_err("opening the target"))?,
            links: HashMap::new(),
            stats: SyncStats::default(),
        };
        s.dir(0, &dst)?;
        if let Some(root) = self.node(0) {
            s.finish_dir(root, &dst)?;
        }
        Ok(s.stats)
    }
}

struct Syncer<'a> {
    tree: &'a Tree,
    target: &'a Path,
    target_fd: OwnedFd,
    /// (dev, ino) of a multiply linked source file → its raw path in the target.
    links: HashMap<(u64, u64), Vec<u8>>,
    stats: SyncStats,
}

impl Syncer<'_> {
    fn err(&self, path: &str, op: &'static str) -> impl FnOnce(Errno) -> Error {
        let target = self.target.to_path_buf();
        let path = path.to_string();
        move |e| Error::Sync {
            target,
            path,
            op,
            source: e.into(),
        }
    }

    fn dir(&mut self, at: usize, dst: &OwnedFd) -> Result<()> {
        let tree = self.tree;
        let Some(node) = tree.node(at) else {
            return Ok(());
        };
        let wanted: std::collections::HashSet<&[u8]> = node
            .children
            .iter()
            .filter_map(|&c| tree.node(c).map(|n| n.name.as_slice()))
            .collect();
        for name in list(dst).map_err(self.err(&node.path, "listing"))? {
            if !wanted.contains(name.as_slice()) {
                remove_all(dst, &name).map_err(self.err(&join(&node.path, &name), "removing"))?;
                self.stats.removed += 1;
            }
        }
        for &c in &node.children {
            let Some(child) = tree.node(c) else { continue };
            self.entry(c, child, dst)?;
        }
        Ok(())
    }

    fn entry(&mut self, idx: usize, n: &Node, dst: &OwnedFd) -> Result<()> {
        let name = OsStr::from_bytes(&n.name);
        let existing = match rustix::fs::statat(dst, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Some(Meta::from_stat(&st, Kind::File)),
            Err(Errno::NOENT) => None,
            Err(e) => return Err(self.err(&n.path, "stat")(e)),
        };
        let existing_type = existing
            .as_ref()
            .map(|st| FileType::from_raw_mode(st.mode as _));
        match &n.meta.kind {
            Kind::Dir => {
                if existing_type.is_some() && existing_type != Some(FileType::Directory) {
                    remove_all(dst, &n.name).map_err(self.err(&n.path, "removing"))?;
                }
                if existing_type != Some(FileType::Directory) {
                    rustix::fs::mkdirat(dst, name, Mode::from_raw_mode(0o700))
                        .map_err(self.err(&n.path, "creating directory"))?;
                    self.stats.others_written += 1;
                }
                let sub = rustix::fs::openat(
                    dst,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(self.err(&n.path, "opening directory"))?;
                self.dir(idx, &sub)?;
                self.finish_dir(n, &sub)?;
            }
            Kind::File => self.file(n, dst, existing.as_ref())?,
            Kind::Symlink(target) => {
                if existing_type == Some(FileType::Symlink)
                    && rustix::fs::readlinkat(dst, name, Vec::new())
                        .is_ok_and(|t| t.as_bytes() == target.as_slice())
                {
                    self.stats.unchanged += 1;
                } else {
                    if existing.is_some() {
                        remove_all(dst, &n.name).map_err(self.err(&n.path, "removing"))?;
                    }
                    rustix::fs::symlinkat(OsStr::from_bytes(target), dst, name)
                        .map_err(self.err(&n.path, "creating symlink"))?;
                    self.stats.others_written += 1;
                }
                rustix::fs::utimensat(dst, name, &times(&n.meta), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(self.err(&n.path, "setting times"))?;
            }
            Kind::Fifo | Kind::CharDevice | Kind::BlockDevice => {
                let same = existing
                    .as_ref()
                    .is_some_and(|st| st.mode == n.meta.mode && st.rdev == n.meta.rdev);
                if same {
                    self.stats.unchanged += 1;
                } else {
                    if existing.is_some() {
                        remove_all(dst, &n.name).map_err(self.err(&n.path, "removing"))?;
                    }
                    let ft = FileType::from_raw_mode(n.meta.mode as _);
                    rustix::fs::mknodat(
                        dst,
                        name,
                        ft,
                        Mode::from_raw_mode((n.meta.mode & 0o7777) as _),
                        n.meta.rdev as _,
                    )
                    .map_err(self.err(&n.path, "creating special file"))?;
                    self.stats.others_written += 1;
                }
                rustix::fs::utimensat(dst, name, &times(&n.meta), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(self.err(&n.path, "setting times"))?;
            }
        }
        Ok(())
    }

    fn finish_dir(&self, n: &Node, fd: &OwnedFd) -> Result<()> {
        rustix::fs::fchmod(fd, Mode::from_raw_mode((n.meta.mode & 0o7777) as _))
            .map_err(self.err(&n.path, "setting mode"))?;
        rustix::fs::futimens(fd, &times(&n.meta)).map_err(self.err(&n.path, "setting times"))
    }

    fn file(&mut self, n: &Node, dst: &OwnedFd, existing: Option<&Meta>) -> Result<()> {
        let name = OsStr::from_bytes(&n.name);
        let key = (n.meta.dev, n.meta.ino);
        if n.meta.nlink > 1
            && let Some(first) = self.links.get(&key).cloned()
        {
            let first_os = OsStr::from_bytes(&first);
            let first_ino =
                rustix::fs::statat(&self.target_fd, first_os, AtFlags::SYMLINK_NOFOLLOW)
                    .map(|st| Meta::from_stat(&st, Kind::File).ino)
                    .ok();
            if existing.is_some_and(|st| Some(st.ino) == first_ino) {
                self.stats.unchanged += 1;
                return Ok(());
            }
            if existing.is_some() {
                remove_all(dst, &n.name).map_err(self.err(&n.path, "removing"))?;
            }
            rustix::fs::linkat(&self.target_fd, first_os, dst, name, AtFlags::empty())
                .map_err(self.err(&n.path, "creating hard link"))?;
            self.stats.hard_links += 1;
            return Ok(());
        }
        if n.meta.nlink > 1 {
            self.links.insert(key, n.raw_path.clone());
        }
        let up_to_date = existing.is_some_and(|st| {
            FileType::from_raw_mode(st.mode as _) == FileType::RegularFile
                && st.size == n.meta.size
                && st.mtime == n.meta.mtime
                && (st.mode & 0o7777) == (n.meta.mode & 0o7777)
        });
        if up_to_date {
            self.stats.unchanged += 1;
            return Ok(());
        }
        if existing.is_some() {
            remove_all(dst, &n.name).map_err(self.err(&n.path, "removing"))?;
        }
        let src = rustix::fs::openat2(
            self.tree.root.as_fd(),
            OsStr::from_bytes(&n.raw_path),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
            BENEATH,
        )
        .map_err(self.tree.io_err(&n.path, "opening"))?;
        let out = rustix::fs::openat(
            dst,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(self.err(&n.path, "creating file"))?;
        let mut src = std::fs::File::from(src);
        let mut out = std::fs::File::from(out);
        let copied = io::copy(&mut src, &mut out).map_err(|e| Error::Sync {
            target: self.target.to_path_buf(),
            path: n.path.clone(),
            op: "copying content",
            source: e,
        })?;
        if copied != n.meta.size {
            return Err(Error::Changed {
                path: n.path.clone(),
            });
        }
        rustix::fs::fchmod(&out, Mode::from_raw_mode((n.meta.mode & 0o7777) as _))
            .map_err(self.err(&n.path, "setting mode"))?;
        rustix::fs::futimens(&out, &times(&n.meta)).map_err(self.err(&n.path, "setting times"))?;
        self.stats.files_written += 1;
        self.stats.bytes_written += copied;
        Ok(())
    }
}

fn times(meta: &Meta) -> Timestamps {
    let mtime = Timespec {
        tv_sec: meta.mtime.0 as _,
        tv_nsec: meta.mtime.1 as _,
    };
    Timestamps {
        last_access: mtime,
        last_modification: mtime,
    }
}

fn join(base: &str, name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    if base.is_empty() {
        name.into_owned()
    } else {
        format!("{base}/{name}")
    }
}

fn list(fd: &OwnedFd) -> rustix::io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut dir = rustix::fs::Dir::read_from(fd)?;
    while let Some(entry) = dir.read() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            out.push(name.to_vec());
        }
    }
    Ok(out)
}

/// Removes `name` under `dir`, recursively for a directory, never following symlinks.
fn remove_all(dir: &impl AsFd, name: &[u8]) -> rustix::io::Result<()> {
    let os = OsStr::from_bytes(name);
    match rustix::fs::unlinkat(dir, os, AtFlags::empty()) {
        Err(Errno::ISDIR | Errno::PERM) => {}
        other => return other,
    }
    let sub = rustix::fs::openat(
        dir,
        os,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for child in list(&sub)? {
        remove_all(&sub, &child)?;
    }
    rustix::fs::unlinkat(dir, os, AtFlags::REMOVEDIR)
}
