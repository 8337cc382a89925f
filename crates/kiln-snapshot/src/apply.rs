//! Applying an OCI layer tar onto a directory, with every path resolved beneath the root.
//!
//! Entry names are cleaned as if rooted (`../x` and `/etc/x` land at `<root>/x` and
//! `<root>/etc/x`); parent directories are opened with `openat2(RESOLVE_IN_ROOT)`, so symlinks
//! in the tar or already on disk resolve inside the root; the final component is never
//! followed. Hard links whose target climbs out of the root are refused.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps};
use rustix::io::Errno;
use tar::EntryType;

use crate::differ::{OPAQUE_MARKER, WHITEOUT_PREFIX};
use crate::error::io_err;
use crate::{Error, Result};

/// What to do with whiteouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// The target is a full view (copying snapshot, or unpacking into an empty dir): delete
    /// what whiteouts name, empty opaque directories of what this layer did not add.
    Delete,
    /// The target is an overlay upper dir: write char-device 0/0 whiteouts and set
    /// `trusted.overlay.opaque=y`.
    Overlay,
}

/// Options for [`apply_layer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOptions {
    /// How whiteouts are applied.
    pub whiteouts: WhiteoutMode,
    /// Set owners from the tar (needs root); otherwise files belong to the caller.
    pub same_owner: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            whiteouts: WhiteoutMode::Delete,
            same_owner: true,
        }
    }
}

/// What was applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Entries applied (whiteouts included).
    pub entries: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
}

const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// Symlinks followed while resolving one path before giving up (Linux's own limit).
const MAX_LINKS: u32 = 40;

/// Extracts the uncompressed layer tar `layer` onto the directory `root`.
///
/// On error the root may hold part of the layer; callers apply into a fresh snapshot and
/// remove it on failure. Never writes outside `root`.
pub fn apply_layer<R: Read>(root: &Path, layer: R, opts: &ApplyOptions) -> Result<ApplyStats> {
    let rootfd = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err("opening", root))?;
    let mut ap = Applier {
        root: rootfd,
        opts: *opts,
        unpacked: HashSet::new(),
        dirs: Vec::new(),
        stats: ApplyStats::default(),
    };
    let mut archive = tar::Archive::new(layer);
    for entry in archive.entries().map_err(Error::ReadLayer)? {
        let mut entry = entry.map_err(Error::ReadLayer)?;
        ap.entry(&mut entry)?;
    }
    // Directory times last, deepest first, so creating children does not bump them.
    for (comps, ts) in std::mem::take(&mut ap.dirs).into_iter().rev() {
        let Some((name, parent)) = comps.split_last() else {
            continue;
        };
        let shown = comps.join("/");
        let pfd = match ap.open_dir(parent, &shown, false) {
            Ok(Some(fd)) => fd,
            _ => continue,
        };
        match rustix::fs::utimensat(&pfd, name.as_str(), &ts, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(entry_err(&shown, "setting times")(e)),
        }
    }
    Ok(ap.stats)
}

fn entry_err<E: Into<io::Error>>(entry: &str, op: &'static str) -> impl FnOnce(E) -> Error {
    let entry = entry.to_owned();
    move |e| Error::ApplyEntry {
        entry,
        op,
        source: e.into(),
    }
}

fn bad(entry: &str, reason: impl Into<String>) -> Error {
    Error::BadEntry {
        entry: entry.to_owned(),
        reason: reason.into(),
    }
}

/// Cleans `name` as if rooted: drops empty, `.` and (at the top) `..` components.
/// Returns the components and whether a `..` tried to climb above the root.
fn clean(name: &[u8]) -> Result<(Vec<String>, bool), String> {
    let mut out: Vec<String> = Vec::new();
    let mut escaped = false;
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    escaped = true;
                }
            }
            c => {
                let s = std::str::from_utf8(c).map_err(|_| "name is not UTF-8".to_owned())?;
                out.push(s.to_owned());
            }
        }
    }
    Ok((out, escaped))
}

struct Applier {
    root: OwnedFd,
    opts: ApplyOptions,
    /// Cleaned paths this layer created (kept by an opaque marker).
    unpacked: HashSet<String>,
    /// Directories whose times are set at the end.
    dirs: Vec<(Vec<String>, Timestamps)>,
    stats: ApplyStats,
}

impl Applier {
    /// Opens the directory `comps` beneath the root, creating missing components (0755) when
    /// `create`. `Ok(None)` if it is missing and `create` is false.
    fn open_dir(&self, comps: &[String], shown: &str, create: bool) -> Result<Option<OwnedFd>> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let path = comps.join("/");
        let path = if path.is_empty() {
            ".".to_owned()
        } else {
            path
        };
        match rustix::fs::openat2(&self.root, &path, flags, Mode::empty(), RESOLVE) {
            Ok(fd) => return Ok(Some(fd)),
            Err(Errno::NOENT) if create => {}
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::NOTDIR) => {
                return Err(bad(shown, format!("parent {path:?} is not a directory")));
            }
            Err(e) => return Err(entry_err(shown, "opening parent directory")(e)),
        }
        // Some component is missing. Symlinks on the way (a layer may make `a -> ../../x` and
        // then `a/b`) are resolved inside the root first, like containerd's `fs.RootPath`
        // before `mkparent`: the directories are created where the links lead, beneath the
        // root, never on top of a link.
        let comps = &self.resolve_in_root(comps, shown)?;
        let mut cur = rustix::fs::openat2(&self.root, ".", flags, Mode::empty(), RESOLVE)
            .map_err(entry_err(shown, "opening root"))?;
        for i in 0..comps.len() {
            let prefix = comps[..=i].join("/");
            let next = match rustix::fs::openat2(&self.root, &prefix, flags, Mode::empty(), RESOLVE)
            {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    rustix::fs::mkdirat(&cur, comps[i].as_str(), Mode::from_raw_mode(0o755))
                        .map_err(entry_err(shown, "creating parent directory"))?;
                    rustix::fs::openat2(&self.root, &prefix, flags, Mode::empty(), RESOLVE)
                        .map_err(entry_err(shown, "opening parent directory"))?
                }
                Err(Errno::NOTDIR) => {
                    return Err(bad(shown, format!("parent {prefix:?} is not a directory")));
                }
                Err(e) => return Err(entry_err(shown, "opening parent directory")(e)),
            };
            cur = next;
        }
        Ok(Some(cur))
    }

    /// Resolves every symlink in `comps` lexically inside the root (`..` stops at the root,
    /// absolute targets restart there), reading links fd-relative; components from the first
    /// missing one on are kept as they are. The result names no symlink.
    fn resolve_in_root(&self, comps: &[String], shown: &str) -> Result<Vec<String>> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let mut todo: Vec<String> = comps.iter().rev().cloned().collect();
        let mut out: Vec<String> = Vec::new();
        let mut links = 0u32;
        let mut missing = false;
        while let Some(c) = todo.pop() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    out.pop();
                    continue;
                }
                _ => {}
            }
            if missing {
                out.push(c);
                continue;
            }
            let dir = if out.is_empty() {
                ".".to_owned()
            } else {
                out.join("/")
            };
            let dfd = rustix::fs::openat2(&self.root, &dir, flags, Mode::empty(), RESOLVE)
                .map_err(entry_err(shown, "opening parent directory"))?;
            match rustix::fs::readlinkat(&dfd, c.as_str(), Vec::new()) {
                Ok(target) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(bad(shown, "too many levels of symbolic links"));
                    }
                    let target = target.into_bytes();
                    let target = std::str::from_utf8(&target)
                        .map_err(|_| bad(shown, "a symlink on its path is not UTF-8"))?;
                    if target.starts_with('/') {
                        out.clear();
                    }
                    todo.extend(target.split('/').rev().map(str::to_owned));
                }
                // Not a symlink: a directory (or a file, refused when opened as one).
                Err(Errno::INVAL) => out.push(c),
                Err(Errno::NOENT) => {
                    missing = true;
                    out.push(c);
                }
                Err(e) => return Err(entry_err(shown, "reading symlink")(e)),
            }
        }
        Ok(out)
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let (comps, _) = clean(&raw).map_err(|r| bad(&shown, r))?;
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
            return Ok(());
        }
        let Some((name, parent)) = comps.split_last() else {
            // The root itself (`./`): its metadata belongs to the snapshot, not the layer.
            return Ok(());
        };
        let name = name.clone();
        let parent = parent.to_vec();
        self.stats.entries += 1;

        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            return self.whiteout(&shown, &parent, hidden);
        }

        let pfd = self
            .open_dir(&parent, &shown, true)?
            .ok_or_else(|| bad(&shown, "parent directory vanished"))?;
        let header = entry.header();
        let mode = header.mode().map_err(|e| bad(&shown, e.to_string()))? & 0o7777;
        let uid = header.uid().map_err(|e| bad(&shown, e.to_string()))?;
        let gid = header.gid().map_err(|e| bad(&shown, e.to_string()))?;
        let mtime = header.mtime().map_err(|e| bad(&shown, e.to_string()))?;
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        let (dev_major, dev_minor) = (
            header.device_major().ok().flatten().unwrap_or(0),
            header.device_minor().ok().flatten().unwrap_or(0),
        );
        let mut xattrs = Vec::new();
        let mut pax_mtime = None;
        if let Some(exts) = entry.pax_extensions().map_err(Error::ReadLayer)? {
            for ext in exts {
                let ext = ext.map_err(Error::ReadLayer)?;
                let key = ext.key_bytes();
                if let Some(x) = key.strip_prefix(b"SCHILY.xattr.") {
                    // Never let a layer plant overlayfs' own attributes (redirects, opaque).
                    if !x.starts_with(b"trusted.overlay.") && !x.starts_with(b"user.overlay.") {
                        xattrs.push((x.to_vec(), ext.value_bytes().to_vec()));
                    }
                } else if key == b"mtime" {
                    pax_mtime = parse_pax_time(ext.value_bytes());
                }
            }
        }
        let ts = {
            let t = pax_mtime.unwrap_or((i64::try_from(mtime).unwrap_or(i64::MAX), 0));
            let spec = Timespec {
                tv_sec: t.0,
                tv_nsec: t.1,
            };
            Timestamps {
                last_access: spec,
                last_modification: spec,
            }
        };

        let existing = rustix::fs::statat(&pfd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW);
        let existing_dir = matches!(&existing, Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory);
        let is_dir = kind == EntryType::Directory;
        if existing.is_ok() && !(is_dir && existing_dir) {
            remove_at(&pfd, &name).map_err(entry_err(&shown, "replacing existing file"))?;
        }

        match kind {
            EntryType::Directory => {
                if !existing_dir {
                    rustix::fs::mkdirat(&pfd, name.as_str(), Mode::from_raw_mode(0o700))
                        .map_err(entry_err(&shown, "creating directory"))?;
                }
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let fd = rustix::fs::openat(
                    &pfd,
                    name.as_str(),
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(entry_err(&shown, "creating file"))?;
                let mut f = File::from(fd);
                let n = io::copy(entry, &mut f).map_err(entry_err(&shown, "writing file"))?;
                self.stats.bytes += n;
            }
            EntryType::Symlink => {
                let target = link.ok_or_else(|| bad(&shown, "symlink without a target"))?;
                rustix::fs::symlinkat(OsStr::from_bytes(&target), &pfd, name.as_str())
                    .map_err(entry_err(&shown, "creating symlink"))?;
            }
            EntryType::Link => {
                let target = link.ok_or_else(|| bad(&shown, "hard link without a target"))?;
                let (tcomps, escaped) = clean(&target).map_err(|r| bad(&shown, r))?;
                let Some((tname, tparent)) = tcomps.split_last().filter(|_| !escaped) else {
                    return Err(bad(
                        &shown,
                        format!(
                            "hard link target {:?} is outside the root",
                            String::from_utf8_lossy(&target)
                        ),
                    ));
                };
                let tfd = self
                    .open_dir(tparent, &shown, false)?
                    .ok_or_else(|| bad(&shown, "hard link target does not exist"))?;
                let st = rustix::fs::statat(&tfd, tname.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(entry_err(&shown, "finding hard link target"))?;
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    return Err(bad(&shown, "hard link to a directory"));
                }
                rustix::fs::linkat(&tfd, tname.as_str(), &pfd, name.as_str(), AtFlags::empty())
                    .map_err(entry_err(&shown, "creating hard link"))?;
                self.unpacked.insert(comps.join("/"));
                // A hard link shares the target's metadata; nothing more to set.
                return Ok(());
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let ft = match kind {
                    EntryType::Char => FileType::CharacterDevice,
                    EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                rustix::fs::mknodat(
                    &pfd,
                    name.as_str(),
                    ft,
                    Mode::from_raw_mode(0o600),
                    rustix::fs::makedev(dev_major, dev_minor),
                )
                .map_err(entry_err(&shown, "creating device node"))?;
            }
            other => return Err(bad(&shown, format!("unsupported entry type {other:?}"))),
        }
        self.unpacked.insert(comps.join("/"));
        self.set_meta(&pfd, &name, &shown, kind, (uid, gid, mode), &xattrs)?;
        if is_dir {
            self.dirs.push((comps, ts));
        } else {
            rustix::fs::utimensat(&pfd, name.as_str(), &ts, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(entry_err(&shown, "setting times"))?;
        }
        Ok(())
    }

    fn set_meta(
        &self,
        pfd: &OwnedFd,
        name: &str,
        shown: &str,
        kind: EntryType,
        (uid, gid, mode): (u64, u64, u32),
        xattrs: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<()> {
        if self.opts.same_owner {
            let uid = u32::try_from(uid).map_err(|_| bad(shown, "uid out of range"))?;
            let gid = u32::try_from(gid).map_err(|_| bad(shown, "gid out of range"))?;
            rustix::fs::chownat(
                pfd,
                name,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(entry_err(shown, "changing owner"))?;
        }
        // Through /proc/self/fd/<parent>/<name>: the parent is already resolved in the root
        // and the l*xattr calls do not follow the final component.
        let via_parent = format!("/proc/self/fd/{}/{name}", pfd.as_raw_fd());
        for (k, v) in xattrs {
            rustix::fs::lsetxattr(
                via_parent.as_str(),
                OsStr::from_bytes(k),
                v,
                rustix::fs::XattrFlags::empty(),
            )
            .map_err(entry_err(shown, "setting xattr"))?;
        }
        if kind != EntryType::Symlink {
            // chmod after chown (chown clears setuid/setgid), on an O_PATH fd of the node
            // itself so nothing is followed.
            let fd = rustix::fs::openat(
                pfd,
                name,
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(entry_err(shown, "opening"))?;
            let p = format!("/proc/self/fd/{}", fd.as_raw_fd());
            rustix::fs::chmod(p.as_str(), Mode::from_raw_mode(mode))
                .map_err(entry_err(shown, "changing mode"))?;
        }
        Ok(())
    }

    fn whiteout(&mut self, shown: &str, parent: &[String], hidden: &str) -> Result<()> {
        if hidden.starts_with(".wh.") && hidden != &OPAQUE_MARKER[WHITEOUT_PREFIX.len()..] {
            // AUFS bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`): not part of the filesystem.
            return Ok(());
        }
        let opaque = format!("{WHITEOUT_PREFIX}{hidden}") == OPAQUE_MARKER;
        match self.opts.whiteouts {
            WhiteoutMode::Delete => {
                let Some(pfd) = self.open_dir(parent, shown, false)? else {
                    return Ok(());
                };
                if opaque {
                    let keep_prefix = parent.join("/");
                    let dirfd = rustix::fs::openat(
                        &pfd,
                        ".",
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(entry_err(shown, "opening opaque directory"))?;
                    for name in list_dir(&dirfd).map_err(entry_err(shown, "listing directory"))? {
                        let full = if keep_prefix.is_empty() {
                            name.clone()
                        } else {
                            format!("{keep_prefix}/{name}")
                        };
                        if !self.unpacked.contains(&full) {
                            remove_at(&pfd, &name)
                                .map_err(entry_err(shown, "emptying opaque directory"))?;
                        }
                    }
                } else {
                    match remove_at(&pfd, hidden) {
                        Ok(()) | Err(Errno::NOENT) => {}
                        Err(e) => return Err(entry_err(shown, "removing whited-out file")(e)),
                    }
                }
            }
            WhiteoutMode::Overlay => {
                let pfd = self
                    .open_dir(parent, shown, true)?
                    .ok_or_else(|| bad(shown, "parent directory vanished"))?;
                if opaque {
                    let dir = format!("/proc/self/fd/{}/.", pfd.as_raw_fd());
                    rustix::fs::lsetxattr(
                        dir.as_str(),
                        "trusted.overlay.opaque",
                        b"y",
                        rustix::fs::XattrFlags::empty(),
                    )
                    .map_err(entry_err(shown, "marking directory opaque"))?;
                } else {
                    match remove_at(&pfd, hidden) {
                        Ok(()) | Err(Errno::NOENT) => {}
                        Err(e) => return Err(entry_err(shown, "replacing with whiteout")(e)),
                    }
                    rustix::fs::mknodat(
                        &pfd,
                        hidden,
                        FileType::CharacterDevice,
                        Mode::empty(),
                        rustix::fs::makedev(0, 0),
                    )
                    .map_err(entry_err(shown, "creating whiteout"))?;
                }
            }
        }
        Ok(())
    }
}

fn parse_pax_time(v: &[u8]) -> Option<(i64, i64)> {
    let s = std::str::from_utf8(v).ok()?;
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    let sec: i64 = sec.parse().ok()?;
    let mut ns = 0i64;
    for (i, c) in frac.chars().take(9).enumerate() {
        let d = i64::from(c.to_digit(10)?);
        ns += d * 10i64.pow(8 - i as u32);
    }
    if sec < 0 && ns > 0 {
        return Some((sec - 1, 1_000_000_000 - ns));
    }
    Some((sec, ns))
}

fn list_dir(dirfd: &OwnedFd) -> rustix::io::Result<Vec<String>> {
    let mut out = Vec::new();
    for e in rustix::fs::Dir::read_from(dirfd)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n == b"." || n == b".." {
            continue;
        }
        out.push(String::from_utf8_lossy(n).into_owned());
    }
    Ok(out)
}

/// Removes `name` in `dir` (recursively for a directory), never following symlinks.
fn remove_at(dir: &impl AsFd, name: &str) -> rustix::io::Result<()> {
    let dir: BorrowedFd<'_> = dir.as_fd();
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return rustix::fs::unlinkat(dir, name, AtFlags::empty());
    }
    let sub = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for child in list_dir(&sub)? {
        remove_at(&sub, &child)?;
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_roots_names() {
        let c = |s: &str| clean(s.as_bytes()).unwrap_or_default();
        assert_eq!(c("../x"), (vec!["x".to_owned()], true));
        assert_eq!(
            c("/etc/./x/"),
            (vec!["etc".to_owned(), "x".to_owned()], false)
        );
        assert_eq!(c("a/../../b"), (vec!["b".to_owned()], true));
        assert_eq!(c("./"), (vec![], false));
    }

    fn layer(entries: &[(&str, EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, arg) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            h.set_mtime(1);
            h.set_uid(0);
            h.set_gid(0);
            let body = if *kind == EntryType::Regular {
                arg.as_bytes()
            } else {
                b""
            };
            h.set_size(body.len() as u64);
            // Raw names: the builder's helpers refuse `..`.
            let raw = &mut h.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            if *kind == EntryType::Symlink {
                let raw = &mut h.as_old_mut().linkname;
                raw[..arg.len()].copy_from_slice(arg.as_bytes());
            }
            h.set_cksum();
            b.append(&h, body).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn parents_through_symlinks_stay_in_the_root() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let tar = layer(&[
            ("../escape", EntryType::Regular, "contained\n"),
            ("out", EntryType::Symlink, "../../../../../../../outside"),
            ("out/deeper/pwned", EntryType::Regular, "beneath the link\n"),
            ("abs", EntryType::Symlink, "/etc/far"),
            ("abs/x", EntryType::Regular, "absolute link\n"),
        ]);
        apply_layer(&root, tar.as_slice(), &ApplyOptions::default()).unwrap();
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        assert_eq!(read("escape"), "contained\n");
        assert_eq!(read("outside/deeper/pwned"), "beneath the link\n");
        assert_eq!(read("etc/far/x"), "absolute link\n");
        assert!(
            std::fs::symlink_metadata(root.join("out"))
                .unwrap()
                .is_symlink()
        );
        let mut outer_names: Vec<_> = std::fs::read_dir(outer.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        outer_names.sort();
        assert_eq!(outer_names, vec![std::ffi::OsString::from("root")]);
    }

    #[test]
    fn pax_times() {
        assert_eq!(parse_pax_time(b"12.5"), Some((12, 500_000_000)));
        assert_eq!(parse_pax_time(b"7"), Some((7, 0)));
        assert_eq!(parse_pax_time(b"x"), None);
    }
}
