//! [`copy`]: BuildKit's copy file action (`COPY`/`ADD` of local files), with the semantics of
//! `tonistiigi/fsutil/copy` as BuildKit's `solver/llbsolver/file/backend.go` drives it.
//!
//! The rules, in the order they apply to one source:
//!
//! 1. Wildcards (`allow_wildcard`): the source is split at its first component holding `*`,
//!    `?` or `[`; the literal part is resolved (symlinks followed beneath the root) and the
//!    entries below it at the pattern's depth that match (Go `filepath.Match`, no `**`) are
//!    copied one by one. No match is an error unless `allow_empty_wildcard`.
//! 2. The destination's directory is created: for `dest/` (or `dest/.`) the whole `dest`,
//!    otherwise its parent. Created directories are owned by `owner`, get mode 0755 (or the
//!    `--chmod` mode: current BuildKit applies it to the parents it creates), and `mtime`.
//! 3. The source is resolved beneath the source root, following a symlink at its last
//!    component when `follow_symlinks` (Dockerfile COPY does: `COPY link d` copies what the
//!    link points to). A missing source is [`Error::NotFound`] (`"/missing": not found`).
//! 4. The destination is resolved beneath the destination root (symlinks followed). A file
//!    copied onto an existing directory goes inside it under the source's name; a directory
//!    copied onto an existing path goes inside it unless `copy_dir_contents` (Dockerfile
//!    COPY always copies a directory's contents); otherwise the destination is the new name.
//! 5. The tree is copied: directories merged into existing ones, symlinks copied as links
//!    (never followed), hard links within one copy preserved, fifos/devices/sockets
//!    recreated, xattrs copied (best effort), owner kept (or `owner`), mode kept (or
//!    `mode` applied), access and modification times kept (or `mtime`). A file never
//!    replaces a directory ([`Error::ReplaceDirWithFile`]); an existing file is replaced.
//!    With `always_replace_existing`, any existing entry of another type is removed first.
//! 6. `include_patterns` / `exclude_patterns` (moby/patternmatcher syntax, matched against
//!    the path relative to the copied source) select entries; a directory that is not
//!    itself included is created only when something below it is.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::SystemTime;

use kiln_dockerignore::{MatchInfo, PatternMatcher};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::archive;
use crate::error::{Error, Result};
use crate::glob::{Glob, split_wildcards};
use crate::meta;
use crate::mode::Chmod;
use crate::owner::Owner;
use crate::root::{Root, clean, display, display_with, lstat_at};

/// What kind of entry a [`CopiedEntry`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file (its content was copied).
    File,
    /// A hard link to a file copied earlier in the same operation.
    HardLink,
    /// A directory (reported when created).
    Dir,
    /// A symbolic link.
    Symlink,
    /// A fifo, socket or device node.
    Special,
}

/// One entry written by a copy, as reported to [`CopyOptions::on_file`].
#[derive(Debug, Clone, Copy)]
pub struct CopiedEntry<'a> {
    /// The destination path, absolute inside the destination root.
    pub path: &'a str,
    /// What was written.
    pub kind: EntryKind,
    /// The source entry's size in bytes (0 for directories and special files).
    pub size: u64,
}

/// Called for every entry a copy writes, in the order written; lets a caller count or hash
/// the copied files without walking the tree again.
pub type CopyHook = Arc<dyn Fn(&CopiedEntry<'_>) + Send + Sync>;

/// Options of [`copy`], named after BuildKit's `FileActionCopy` fields.
/// [`CopyOptions::dockerfile`] gives the values Dockerfile COPY/ADD use.
#[derive(Clone, Default)]
pub struct CopyOptions {
    /// Owner of everything written (`--chown`); `None` keeps the source's owner.
    pub owner: Option<Owner>,
    /// Mode applied to everything written except symlinks (`--chmod`); `None` keeps the
    /// source's mode.
    pub mode: Option<Chmod>,
    /// Access and modification time of everything written (`SOURCE_DATE_EPOCH`); `None`
    /// keeps the source's times.
    pub mtime: Option<SystemTime>,
    /// Treat `*`, `?`, `[` in the source as wildcards.
    pub allow_wildcard: bool,
    /// A wildcard that matches nothing copies nothing instead of failing.
    pub allow_empty_wildcard: bool,
    /// Follow a symlink at the source's last component.
    pub follow_symlinks: bool,
    /// Copy a directory's contents rather than the directory itself.
    pub copy_dir_contents: bool,
    /// Create the destination's parent directories (otherwise they must exist).
    pub create_dest_path: bool,
    /// Replace an existing destination entry of another type (a directory by a file...).
    pub always_replace_existing: bool,
    /// Only entries matching one of these patterns (and the directories leading to them).
    pub include_patterns: Vec<String>,
    /// Entries matching these patterns are skipped (`COPY --exclude`).
    pub exclude_patterns: Vec<String>,
    /// `COPY --parents`: keep the source's path below the pivot (`a/./b/c` copies `b/c`
    /// from `a`; without `/./` the whole path is kept).
    pub parents: bool,
    /// `ADD` of a local tar archive (any compression) extracts it into the destination
    /// directory instead of copying it; other files are copied as usual.
    pub attempt_unpack: bool,
    /// Called for every entry written.
    pub on_file: Option<CopyHook>,
}

impl CopyOptions {
    /// The options Dockerfile `COPY` uses (BuildKit's dockerfile2llb): wildcards (an empty
    /// match allowed), symlinks at the source followed, directory contents copied,
    /// destination path created. For `ADD`, also set `attempt_unpack`.
    pub fn dockerfile() -> Self {
        CopyOptions {
            allow_wildcard: true,
            allow_empty_wildcard: true,
            follow_symlinks: true,
            copy_dir_contents: true,
            create_dest_path: true,
            ..CopyOptions::default()
        }
    }
}

impl fmt::Debug for CopyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopyOptions")
            .field("owner", &self.owner)
            .field("mode", &self.mode)
            .field("mtime", &self.mtime)
            .field("allow_wildcard", &self.allow_wildcard)
            .field("allow_empty_wildcard", &self.allow_empty_wildcard)
            .field("follow_symlinks", &self.follow_symlinks)
            .field("copy_dir_contents", &self.copy_dir_contents)
            .field("create_dest_path", &self.create_dest_path)
            .field("always_replace_existing", &self.always_replace_existing)
            .field("include_patterns", &self.include_patterns)
            .field("exclude_patterns", &self.exclude_patterns)
            .field("parents", &self.parents)
            .field("attempt_unpack", &self.attempt_unpack)
            .field("on_file", &self.on_file.as_ref().map(|_| "<hook>"))
            .finish()
    }
}

/// BuildKit's message for several sources copied to a destination that is not a directory.
pub const MULTI_SOURCE_DEST_ERROR: &str = "When using COPY with more than one source file, the destination must be a directory and end with a /";

/// Whether `dest` may receive `sources` sources (Dockerfile rule: with more than one, it
/// must end with `/`). The frontend reports [`MULTI_SOURCE_DEST_ERROR`] when not.
pub fn dest_accepts_sources(dest: &str, sources: usize) -> bool {
    sources <= 1 || dest.ends_with('/')
}

/// Copies `src_path` from beneath `src` to `dest` beneath `dst` (see the module docs for the
/// rules). Both roots may be the same directory. On error the destination may hold part of
/// the copy (BuildKit's file ops run on a fresh snapshot that is discarded on failure).
pub fn copy(src: &Root, src_path: &str, dst: &Root, dest: &str, opts: &CopyOptions) -> Result<()> {
    let mut include_patterns = opts.include_patterns.clone();
    let mut src_path = src_path.to_string();
    if opts.parents {
        let (pivot, pattern) = match src_path.split_once("/./") {
            Some((pivot, rest)) => (pivot.to_string(), rest.to_string()),
            None => ("/".to_string(), src_path.clone()),
        };
        let pattern = display(&clean(&pattern));
        include_patterns.push(pattern.trim_start_matches('/').to_string());
        src_path = pivot;
    }
    if !opts.create_dest_path {
        let dest_comps = clean(dest);
        if let Some((_, parent)) = dest_comps.split_last() {
            let resolved = dst.resolve(&display(parent), true)?;
            if !resolved.exists {
                return Err(Error::io("failed to stat", display(parent), Errno::NOENT));
            }
        }
    }
    let include = compile("include", &include_patterns)?;
    let exclude = compile("exclude", &opts.exclude_patterns)?;

    let matches = if opts.allow_wildcard {
        let m = resolve_wildcards(src, &src_path, opts.follow_symlinks)?;
        if m.is_empty() {
            if opts.allow_empty_wildcard {
                return Ok(());
            }
            return Err(Error::NoMatch { pattern: src_path });
        }
        m
    } else {
        vec![src_path.clone()]
    };

    let mut copier = Copier {
        opts,
        dst,
        include,
        exclude,
        inodes: HashMap::new(),
        frames: Vec::new(),
    };
    for m in matches {
        if opts.attempt_unpack {
            let unpack = archive::UnpackOptions {
                owner: opts.owner,
                mtime: opts.mtime,
            };
            if archive::unpack_archive(src, &m, dst, dest, &unpack)? {
                continue;
            }
        }
        copier.copy_one(src, &m, dest)?;
    }
    Ok(())
}

fn compile(kind: &'static str, patterns: &[String]) -> Result<Option<PatternMatcher>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    PatternMatcher::new(patterns)
        .map(Some)
        .map_err(|source| Error::BadPattern { kind, source })
}

/// Expands a wildcard source into the matching paths (absolute inside `root`, in lexical
/// order); a source without wildcards is returned as is.
pub fn resolve_wildcards(root: &Root, path: &str, follow_symlinks: bool) -> Result<Vec<String>> {
    let (literal, pattern) = split_wildcards(path);
    if pattern.is_empty() {
        return Ok(vec![path.to_string()]);
    }
    let glob = Glob::new(&pattern)?;
    let base = root.resolve(&literal, follow_symlinks)?;
    if !base.exists {
        return Ok(Vec::new());
    }
    let dir = match root.open_dir(&base.comps, true) {
        Ok(fd) => fd,
        Err(Errno::NOTDIR) => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("open", display(&base.comps), e)),
    };
    let mut out = Vec::new();
    walk_matches(&dir, "", &glob, glob.depth(), &mut |rel| {
        let mut comps = base.comps.clone();
        comps.extend(clean(rel));
        out.push(display(&comps));
    })?;
    Ok(out)
}

fn walk_matches(
    dir: &OwnedFd,
    rel: &str,
    glob: &Glob,
    depth: usize,
    found: &mut dyn FnMut(&str),
) -> Result<()> {
    for name in read_dir_sorted(dir).map_err(|e| Error::io("read dir", rel, e))? {
        let child = join_rel(rel, &name);
        let st = lstat_at(dir, &name).map_err(|e| Error::io("stat", child.clone(), e))?;
        let Some(st) = st else { continue };
        if glob.matches(&child) {
            found(&child);
            continue;
        }
        if depth > 1 && meta::file_type(&st) == FileType::Directory {
            let sub = open_dir_at(dir, &name).map_err(|e| Error::io("open", child.clone(), e))?;
            walk_matches(&sub, &child, glob, depth - 1, found)?;
        }
    }
    Ok(())
}

fn join_rel(rel: &str, name: &OsStr) -> String {
    let name = String::from_utf8_lossy(name.as_bytes());
    if rel.is_empty() {
        name.into_owned()
    } else {
        format!("{rel}/{name}")
    }
}

/// Entry names of a directory (without `.` and `..`), sorted bytewise like Go's `ReadDir`.
pub(crate) fn read_dir_sorted(dir: &OwnedFd) -> rustix::io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    names.sort();
    Ok(names)
}

/// Opens a child directory for listing, refusing a symlink.
pub(crate) fn open_dir_at(dir: impl AsFd, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn open_path_dir_at(dir: impl AsFd, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Creates the missing directories of `comps` beneath `root` (BuildKit's `MkdirAll`): each
/// created one gets `mode` (umask ignored), `owner` when given, and `mtime` when given.
/// Existing components are followed beneath the root; one that is not a directory fails.
pub(crate) fn mkdir_all(
    root: &Root,
    path: &str,
    mode: u32,
    owner: Option<Owner>,
    mtime: Option<SystemTime>,
) -> Result<Vec<OsString>> {
    let resolved = root.resolve(path, true)?;
    let comps = resolved.comps;
    if resolved.exists {
        return match root.open_dir(&comps, false) {
            Ok(_) => Ok(comps),
            Err(Errno::NOTDIR) => Err(Error::NotADirectory {
                path: display(&comps),
            }),
            Err(e) => Err(Error::io("open", display(&comps), e)),
        };
    }
    let mut parent = root
        .open_dir(&[], false)
        .map_err(|e| Error::io("open", "/", e))?;
    for i in 0..comps.len() {
        let name = comps[i].as_os_str();
        let here = || display(&comps[..=i]);
        match lstat_at(&parent, name).map_err(|e| Error::io("stat", here(), e))? {
            Some(st) if meta::file_type(&st) == FileType::Directory => {}
            Some(_) => return Err(Error::NotADirectory { path: here() }),
            None => {
                rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(mode & 0o777))
                    .map_err(|e| Error::io("mkdir", here(), e))?;
                if let Some(owner) = owner {
                    meta::chown_at(&parent, name, owner)
                        .map_err(|e| Error::io("chown", here(), e))?;
                }
                meta::chmod_at(&parent, name, mode).map_err(|e| Error::io("chmod", here(), e))?;
                if let Some(t) = mtime {
                    meta::set_times_at(&parent, name, &meta::fixed_times(t))
                        .map_err(|e| Error::io("utimes", here(), e))?;
                }
            }
        }
        parent = open_path_dir_at(&parent, name).map_err(|e| Error::io("open", here(), e))?;
    }
    Ok(comps)
}

/// A directory on the current copy path in the destination: created (with a descriptor) or
/// pending until an included entry below it needs it.
struct Frame {
    /// Destination path of this directory.
    comps: Vec<OsString>,
    /// Its descriptor once it exists.
    fd: Option<OwnedFd>,
    /// The source directory, for its metadata when created late.
    src_stat: Option<Stat>,
    src_fd: Option<OwnedFd>,
}

struct Copier<'a> {
    opts: &'a CopyOptions,
    dst: &'a Root,
    include: Option<PatternMatcher>,
    exclude: Option<PatternMatcher>,
    /// Source (device, inode) of multiply-linked files → where the first copy went.
    inodes: HashMap<(u64, u64), (Vec<OsString>, OsString)>,
    frames: Vec<Frame>,
}

impl Copier<'_> {
    fn parent_mode(&self) -> u32 {
        self.opts
            .mode
            .as_ref()
            .map_or(0o755, Chmod::parent_dir_mode)
    }

    fn copy_one(&mut self, src: &Root, src_path: &str, dest: &str) -> Result<()> {
        let opts = self.opts;
        // The destination's directory (`dest/` as a whole, else its parent).
        let dest_clean = clean(dest);
        let dest_is_dir_form = dest.ends_with('/') || dest.ends_with("/.") || dest == ".";
        let ensure = if dest_is_dir_form {
            Some(dest_clean.as_slice())
        } else {
            dest_clean.split_last().map(|(_, parent)| parent)
        };
        if let Some(ensure) = ensure {
            mkdir_all(
                self.dst,
                &display(ensure),
                self.parent_mode(),
                opts.owner,
                opts.mtime,
            )?;
        }

        let src_res = src.resolve(src_path, opts.follow_symlinks)?;
        let not_found = || Error::NotFound {
            path: display(&clean(src_path)),
        };
        if !src_res.exists {
            return Err(not_found());
        }
        let (src_dir, src_name) = src_res.split_last();
        let src_parent = match src.open_dir(src_dir, src_name == ".") {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::NOTDIR) => return Err(not_found()),
            Err(e) => return Err(Error::io("open", display(src_dir), e)),
        };
        let src_st = lstat_at(&src_parent, &src_name)
            .map_err(|e| Error::io("stat", display(&src_res.comps), e))?
            .ok_or_else(not_found)?;
        let src_is_dir = meta::file_type(&src_st) == FileType::Directory;

        let dst_res = self.dst.resolve(&display(&dest_clean), true)?;
        let dest_st = if dst_res.exists {
            let (d, n) = dst_res.split_last();
            self.dst.lstat_comps(d, &n)?
        } else {
            None
        };
        let dest_is_dir = dest_st.is_some_and(|st| meta::file_type(&st) == FileType::Directory);
        let mut target = dst_res.comps.clone();
        if (!opts.copy_dir_contents && src_is_dir && dest_st.is_some())
            || (!src_is_dir && dest_is_dir)
        {
            if let Some(base) = clean(src_path).pop() {
                target.push(base);
            }
        }
        let make = if opts.copy_dir_contents && src_is_dir && dest_st.is_none() {
            target.clone()
        } else {
            target
                .split_last()
                .map(|(_, p)| p.to_vec())
                .unwrap_or_default()
        };
        mkdir_all(
            self.dst,
            &display(&make),
            self.parent_mode(),
            opts.owner,
            opts.mtime,
        )?;

        let (target_dir, target_name) = match target.split_last() {
            Some((last, parent)) => (parent.to_vec(), last.clone()),
            None => (Vec::new(), OsString::from(".")),
        };
        let dst_parent = self
            .dst
            .open_dir(&target_dir, false)
            .map_err(|e| Error::io("open", display(&target_dir), e))?;
        self.frames.clear();
        self.frames.push(Frame {
            comps: target_dir,
            fd: Some(dst_parent),
            src_stat: None,
            src_fd: None,
        });
        let src_display = display(&src_res.comps);
        let node = Node {
            src_dir: src_parent.as_fd(),
            src_name: &src_name,
            src_display: &src_display,
            st: src_st,
            rel: String::new(),
            dst_name: &target_name,
        };
        self.copy_node(node, false, &MatchInfo::default(), &MatchInfo::default())
    }

    fn selected(
        &self,
        rel: &str,
        inc: &MatchInfo,
        exc: &MatchInfo,
    ) -> Result<(bool, MatchInfo, MatchInfo)> {
        if rel.is_empty() {
            return Ok((true, MatchInfo::default(), MatchInfo::default()));
        }
        let mut include = true;
        let mut inc_info = MatchInfo::default();
        let mut exc_info = MatchInfo::default();
        if let Some(m) = &self.include {
            let (hit, info) =
                m.matches_using_parent_results(rel, inc)
                    .map_err(|source| Error::BadPattern {
                        kind: "include",
                        source,
                    })?;
            include = hit;
            inc_info = info;
        }
        if let Some(m) = &self.exclude {
            let (hit, info) =
                m.matches_using_parent_results(rel, exc)
                    .map_err(|source| Error::BadPattern {
                        kind: "exclude",
                        source,
                    })?;
            if hit {
                include = false;
            }
            exc_info = info;
        }
        Ok((include, inc_info, exc_info))
    }

    fn top_dir(&self) -> Result<(BorrowedFd<'_>, &[OsString])> {
        let frame = self.frames.last().ok_or(Error::InvalidPath {
            path: String::new(),
            reason: "internal: no destination directory",
        })?;
        match &frame.fd {
            Some(fd) => Ok((fd.as_fd(), &frame.comps)),
            None => Err(Error::InvalidPath {
                path: display(&frame.comps),
                reason: "internal: destination directory not created",
            }),
        }
    }

    /// Creates the pending directories on the current path (an included entry below them
    /// needs them), with their source's metadata.
    fn create_pending(&mut self, overwrite_meta: bool) -> Result<()> {
        for i in 1..self.frames.len() {
            if self.frames[i].fd.is_some() {
                continue;
            }
            let (done, rest) = self.frames.split_at_mut(i);
            let parent = done[i - 1].fd.as_ref().map(|f| f.as_fd());
            let frame = &mut rest[0];
            let (Some(parent), Some(st)) = (parent, frame.src_stat) else {
                continue;
            };
            let Some(name) = frame.comps.last().cloned() else {
                continue;
            };
            let path = display(&frame.comps);
            let created = dir_only(parent, &name, &st, overwrite_meta, &path)?;
            if created {
                apply_info(self.opts, parent, &name, &st, frame.src_fd.as_ref(), &path)?;
            }
            frame.fd =
                Some(open_path_dir_at(parent, &name).map_err(|e| Error::io("open", path, e))?);
        }
        Ok(())
    }

    fn copy_node(
        &mut self,
        node: Node<'_>,
        overwrite_meta: bool,
        inc: &MatchInfo,
        exc: &MatchInfo,
    ) -> Result<()> {
        let (include, inc_info, exc_info) = self.selected(&node.rel, inc, exc)?;
        let kind = meta::file_type(&node.st);
        let is_dir = kind == FileType::Directory;
        let frame = self.frames.last();
        let dst_comps = frame.map(|f| f.comps.clone()).unwrap_or_default();
        let dst_path = display_with(&dst_comps, node.dst_name);
        let mut target_st = match frame.and_then(|f| f.fd.as_ref()) {
            Some(fd) => {
                lstat_at(fd, node.dst_name).map_err(|e| Error::io("stat", dst_path.clone(), e))?
            }
            None => None,
        };

        if include {
            if self.opts.always_replace_existing {
                if let Some(t) = target_st {
                    if !(is_dir && meta::file_type(&t) == FileType::Directory) {
                        let (dir, _) = self.top_dir()?;
                        remove_all(dir, node.dst_name, &dst_path)?;
                        target_st = None;
                    }
                }
            }
            self.create_pending(overwrite_meta)?;
        }

        if !is_dir {
            if !include {
                return Ok(());
            }
            if let Some(t) = target_st {
                if meta::file_type(&t) == FileType::Directory {
                    return Err(Error::ReplaceDirWithFile { path: dst_path });
                }
                let (dir, _) = self.top_dir()?;
                rustix::fs::unlinkat(dir, node.dst_name, AtFlags::empty())
                    .map_err(|e| Error::io("remove", dst_path.clone(), e))?;
            }
        }

        let mut copy_info = include;
        let mut restore_times = false;
        let mut reported = None;
        let mut src_fd: Option<OwnedFd> = None;
        match kind {
            FileType::Directory => {
                let created =
                    self.copy_dir(&node, overwrite_meta, include, &inc_info, &exc_info)?;
                if !overwrite_meta {
                    copy_info = created;
                    restore_times = !created;
                }
                if created {
                    reported = Some(EntryKind::Dir);
                }
                if copy_info {
                    src_fd = open_dir_at(node.src_dir, node.src_name).ok();
                }
            }
            FileType::RegularFile => {
                let (dir, _) = self.top_dir()?;
                // The stat field types differ between architectures.
                #[allow(clippy::unnecessary_cast)]
                let key = (node.st.st_dev as u64, node.st.st_ino as u64);
                let linked = if node.st.st_nlink > 1 {
                    self.inodes.get(&key).cloned()
                } else {
                    None
                };
                if let Some((ldir, lname)) = linked {
                    let old = self
                        .dst
                        .open_dir(&ldir, false)
                        .map_err(|e| Error::io("open", display(&ldir), e))?;
                    rustix::fs::linkat(&old, &lname, dir, node.dst_name, AtFlags::empty())
                        .map_err(|e| Error::io("link", dst_path.clone(), e))?;
                    reported = Some(EntryKind::HardLink);
                } else {
                    let fd = copy_file(&node, dir, &dst_path)?;
                    src_fd = Some(fd);
                    if node.st.st_nlink > 1 {
                        self.inodes
                            .insert(key, (dst_comps.clone(), node.dst_name.to_os_string()));
                    }
                    reported = Some(EntryKind::File);
                }
            }
            FileType::Symlink => {
                let (dir, _) = self.top_dir()?;
                let target = rustix::fs::readlinkat(node.src_dir, node.src_name, Vec::new())
                    .map_err(|e| Error::io("readlink", node.src_display.to_string(), e))?;
                rustix::fs::symlinkat(target.as_bytes(), dir, node.dst_name)
                    .map_err(|e| Error::io("symlink", dst_path.clone(), e))?;
                reported = Some(EntryKind::Symlink);
            }
            _ => {
                let (dir, _) = self.top_dir()?;
                rustix::fs::mknodat(
                    dir,
                    node.dst_name,
                    kind,
                    Mode::from_raw_mode(meta::perm_bits(&node.st) & 0o777),
                    node.st.st_rdev as _,
                )
                .map_err(|e| Error::io("mknod", dst_path.clone(), e))?;
                reported = Some(EntryKind::Special);
            }
        }

        if copy_info || restore_times {
            let (dir, _) = self.top_dir()?;
            if copy_info {
                apply_info(
                    self.opts,
                    dir,
                    node.dst_name,
                    &node.st,
                    src_fd.as_ref(),
                    &dst_path,
                )?;
            } else if target_st.is_some() {
                let times = match self.opts.mtime {
                    Some(t) => meta::fixed_times(t),
                    None => meta::stat_times(&node.st),
                };
                meta::set_times_at(dir, node.dst_name, &times)
                    .map_err(|e| Error::io("utimes", dst_path.clone(), e))?;
            }
        }
        if let (Some(kind), Some(hook)) = (reported, &self.opts.on_file) {
            let size = if kind == EntryKind::Dir {
                0
            } else {
                node.st.st_size as u64
            };
            hook(&CopiedEntry {
                path: &dst_path,
                kind,
                size,
            });
        }
        Ok(())
    }

    /// Copies a directory: creates it now when included (else only when something below is),
    /// then its entries in name order. Returns whether it was created.
    fn copy_dir(
        &mut self,
        node: &Node<'_>,
        overwrite_meta: bool,
        include: bool,
        inc: &MatchInfo,
        exc: &MatchInfo,
    ) -> Result<bool> {
        let src = open_dir_at(node.src_dir, node.src_name)
            .map_err(|e| Error::io("open", node.src_display.to_string(), e))?;
        let mut comps = self
            .frames
            .last()
            .map(|f| f.comps.clone())
            .unwrap_or_default();
        if node.dst_name != "." {
            comps.push(node.dst_name.to_os_string());
        }
        let path = display(&comps);
        let mut created = false;
        let mut fd = None;
        if include {
            let (parent, _) = self.top_dir()?;
            created = dir_only(parent, node.dst_name, &node.st, overwrite_meta, &path)?;
            fd = Some(
                open_path_dir_at(parent, node.dst_name)
                    .map_err(|e| Error::io("open", path.clone(), e))?,
            );
        }
        let src_dup = rustix::io::fcntl_dupfd_cloexec(&src, 0).ok();
        self.frames.push(Frame {
            comps,
            fd,
            src_stat: Some(node.st),
            src_fd: src_dup,
        });
        let result = (|| {
            let names = read_dir_sorted(&src)
                .map_err(|e| Error::io("read dir", node.src_display.to_string(), e))?;
            for name in names {
                let child_display = format!(
                    "{}/{}",
                    node.src_display.trim_end_matches('/'),
                    String::from_utf8_lossy(name.as_bytes())
                );
                let Some(st) = lstat_at(&src, &name)
                    .map_err(|e| Error::io("stat", child_display.clone(), e))?
                else {
                    continue;
                };
                let rel = join_rel(&node.rel, &name);
                let child = Node {
                    src_dir: src.as_fd(),
                    src_name: &name,
                    src_display: &child_display,
                    st,
                    rel,
                    dst_name: &name,
                };
                self.copy_node(child, true, inc, exc)?;
            }
            Ok(())
        })();
        self.frames.pop();
        result.map(|()| created)
    }
}

/// One source entry being copied: its parent directory, names, stat and path relative to the
/// copied source (for include/exclude patterns).
struct Node<'a> {
    src_dir: BorrowedFd<'a>,
    src_name: &'a OsStr,
    src_display: &'a str,
    st: Stat,
    rel: String,
    dst_name: &'a OsStr,
}

/// Creates the directory `name` (with the source's mode) unless it exists; an existing
/// directory gets the source's mode when `overwrite_meta`. Returns whether it was created.
fn dir_only(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    st: &Stat,
    overwrite_meta: bool,
    path: &str,
) -> Result<bool> {
    match lstat_at(parent, name).map_err(|e| Error::io("stat", path, e))? {
        None => {
            rustix::fs::mkdirat(
                parent,
                name,
                Mode::from_raw_mode(meta::perm_bits(st) & 0o777),
            )
            .map_err(|e| Error::io("mkdir", path, e))?;
            Ok(true)
        }
        Some(t) if meta::file_type(&t) != FileType::Directory => Err(Error::CopyToNonDirectory {
            path: path.to_string(),
        }),
        Some(_) => {
            if overwrite_meta {
                meta::chmod_at(parent, name, meta::perm_bits(st))
                    .map_err(|e| Error::io("chmod", path, e))?;
            }
            Ok(false)
        }
    }
}

/// Copies a regular file's content to a new file `node.dst_name` in `dir`; returns the
/// source descriptor (for xattrs).
fn copy_file(node: &Node<'_>, dir: BorrowedFd<'_>, dst_path: &str) -> Result<OwnedFd> {
    let src = rustix::fs::openat(
        node.src_dir,
        node.src_name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open", node.src_display.to_string(), e))?;
    let dst = rustix::fs::openat(
        dir,
        node.dst_name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| Error::io("create", dst_path, e))?;
    let src_dup = rustix::io::fcntl_dupfd_cloexec(&src, 0)
        .map_err(|e| Error::io("dup", node.src_display.to_string(), e))?;
    let mut reader = File::from(src_dup);
    let mut writer = File::from(dst);
    std::io::copy(&mut reader, &mut writer).map_err(|e| Error::io("copy", dst_path, e))?;
    Ok(src)
}

/// BuildKit's `copyFileInfo`: owner (the option, else the source's), mode (the option
/// applied to the source's, else the source's; not for symlinks), times (the option, else
/// the source's), then xattrs from `src_fd` when given.
fn apply_info(
    opts: &CopyOptions,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    st: &Stat,
    src_fd: Option<&OwnedFd>,
    path: &str,
) -> Result<()> {
    let kind = meta::file_type(st);
    let owner = opts.owner.unwrap_or(Owner {
        uid: st.st_uid,
        gid: st.st_gid,
    });
    meta::chown_at(dir, name, owner).map_err(|e| Error::io("chown", path, e))?;
    if kind != FileType::Symlink {
        let mode = match &opts.mode {
            Some(m) => m.apply(meta::perm_bits(st), kind == FileType::Directory),
            None => meta::perm_bits(st),
        };
        meta::chmod_at(dir, name, mode).map_err(|e| Error::io("chmod", path, e))?;
    }
    let times = match opts.mtime {
        Some(t) => meta::fixed_times(t),
        None => meta::stat_times(st),
    };
    meta::set_times_at(dir, name, &times).map_err(|e| Error::io("utimes", path, e))?;
    if let Some(src) = src_fd {
        let dst = match kind {
            FileType::Directory => open_dir_at(dir, name).ok(),
            FileType::RegularFile => rustix::fs::openat(
                dir,
                name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok(),
            _ => None,
        };
        if let Some(dst) = dst {
            meta::copy_xattrs(src, &dst);
        }
    }
    Ok(())
}

/// Removes `name` in `dir` and everything below it, never following a symlink. Absent is
/// not an error.
pub(crate) fn remove_all(dir: BorrowedFd<'_>, name: &OsStr, path: &str) -> Result<()> {
    let Some(st) = lstat_at(dir, name).map_err(|e| Error::io("stat", path, e))? else {
        return Ok(());
    };
    if meta::file_type(&st) == FileType::Directory {
        let sub = open_dir_at(dir, name).map_err(|e| Error::io("open", path, e))?;
        for child in read_dir_sorted(&sub).map_err(|e| Error::io("read dir", path, e))? {
            let child_path = format!(
                "{}/{}",
                path.trim_end_matches('/'),
                String::from_utf8_lossy(child.as_bytes())
            );
            remove_all(sub.as_fd(), &child, &child_path)?;
        }
        match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(Error::io("remove", path, e)),
        }
    } else {
        match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(Error::io("remove", path, e)),
        }
    }
}
