//! Scanning a context directory into a [`Tree`]: stat only, `.dockerignore` and include
//! patterns applied while walking, excluded subtrees skipped, symlinks never followed.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_dockerignore::{MatchInfo, PatternMatcher};
use rayon::prelude::*;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::{Error, Result};

/// The type of a context entry. Sockets are never part of a context (as fsutil).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Kind {
    #[default]
    File,
    Dir,
    /// A symbolic link and its target, verbatim (never resolved on the host).
    Symlink(Vec<u8>),
    Fifo,
    CharDevice,
    BlockDevice,
}

/// What a scan records of an entry (`lstat`, never following symlinks).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meta {
    pub kind: Kind,
    /// `st_mode`, type bits included.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: (i64, u32),
    pub ctime: (i64, u32),
    pub ino: u64,
    pub dev: u64,
    pub nlink: u64,
    pub rdev: u64,
}

/// The part of [`Meta`] that says a file is unchanged since its digest was computed: when
/// all of it is equal, the content is assumed equal (the `git status` / BuildKit-session
/// assumption), subject to the racy-timestamp rule of [`crate::HashCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Fingerprint {
    pub size: u64,
    pub mtime: (i64, u32),
    pub ctime: (i64, u32),
    pub ino: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Meta {
    /// The cache fingerprint of this entry.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint {
            size: self.size,
            mtime: self.mtime,
            ctime: self.ctime,
            ino: self.ino,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
        }
    }

    /// `Stat` field types differ between architectures (`c_ulong`, `u32`, `i64`...), hence
    /// the casts, which are no-ops on some.
    #[allow(clippy::unnecessary_cast)]
    pub(crate) fn from_stat(st: &rustix::fs::Stat, kind: Kind) -> Self {
        Meta {
            kind,
            mode: st.st_mode as u32,
            uid: st.st_uid as u32,
            gid: st.st_gid as u32,
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime: (st.st_mtime as i64, st.st_mtime_nsec as u32),
            ctime: (st.st_ctime as i64, st.st_ctime_nsec as u32),
            ino: st.st_ino as u64,
            dev: st.st_dev as u64,
            nlink: st.st_nlink as u64,
            rdev: st.st_rdev as u64,
        }
    }
}

/// One entry of a [`Tree`].
#[derive(Debug, Clone)]
pub struct Node {
    /// The slash-separated path relative to the context root (`""` for the root). Names that
    /// are not UTF-8 are shown lossily here; [`Node::raw_path`] keeps the bytes.
    pub path: String,
    /// The path's bytes as on disk (used for every file system access).
    pub raw_path: Vec<u8>,
    /// The last path element's bytes.
    pub name: Vec<u8>,
    pub meta: Meta,
    /// xattr names of directories (read while walking; files get theirs when hashed).
    pub xattrs: Vec<String>,
    /// Children indices, sorted by name bytes.
    pub children: Vec<usize>,
    pub parent: Option<usize>,
}

/// What to scan.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// The `.dockerignore` patterns (see [`kiln_dockerignore::read_ignore_file`]).
    pub excludes: Vec<String>,
    /// Include patterns — BuildKit's "follow paths": the COPY/ADD sources of the build, in
    /// `.dockerignore` syntax relative to the root (`src`, `*.txt`, `app/**/*.go`). A path is
    /// scanned when it or a parent directory matches one; directories leading to a possible
    /// match are kept as parents. Empty means the whole context.
    pub includes: Vec<String>,
}

/// The stat-only picture of the selected part of a context: what `.dockerignore` and the
/// include patterns let through, plus the parent directories of those entries. Building one
/// reads no file content. Indices are stable for the life of the tree; node 0 is the root.
#[derive(Debug, Clone)]
pub struct Tree {
    pub(crate) root_path: PathBuf,
    pub(crate) root: Arc<OwnedFd>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) index: HashMap<String, usize>,
    pub(crate) excludes: PatternMatcher,
    pub(crate) full_scope: bool,
    pub(crate) excluded_count: usize,
}

pub(crate) const BENEATH: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

impl Tree {
    /// Scans the context directory `root`. Directories excluded by `.dockerignore` are not
    /// entered unless an exception (`!pattern`) may re-include something below them; with
    /// include patterns, directories that cannot lead to a match are not entered either.
    /// Every directory is opened relative to its parent with `O_NOFOLLOW`, so a symlink is
    /// recorded as a symlink and never followed, in or out of the context.
    ///
    /// Errors: [`Error::OpenRoot`] when `root` is not a readable directory,
    /// [`Error::Pattern`] for invalid patterns, [`Error::Io`] for a failing entry (an entry
    /// that vanishes during the scan is skipped, as a concurrent delete).
    pub fn scan(root: &Path, opts: &ScanOptions) -> Result<Tree> {
        let excludes = PatternMatcher::new(&opts.excludes).map_err(|source| Error::Pattern {
            what: ".dockerignore",
            source,
        })?;
        let rootfd = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::OpenRoot {
            root: root.to_path_buf(),
            source: e.into(),
        })?;
        // BuildKit's fsutil `FollowLinks`: a selected path that goes through symlinks also
        // selects the links and, resolved inside the context, their targets.
        let followed;
        let includes_list = if opts.includes.is_empty() {
            &opts.includes
        } else {
            followed = follow_links(root, &rootfd, &opts.includes)?;
            &followed
        };
        let includes = if includes_list.is_empty() {
            None
        } else {
            let matcher = PatternMatcher::new(includes_list).map_err(|source| Error::Pattern {
                what: "include",
                source,
            })?;
            // The same patterns as exceptions: `exception_may_match_below` then answers
            // "may an include pattern match below this directory?".
            let as_exceptions: Vec<String> = includes_list
                .iter()
                .map(|p| format!("!{}", p.trim_start_matches('!')))
                .collect();
            let below = PatternMatcher::new(&as_exceptions).map_err(|source| Error::Pattern {
                what: "include",
                source,
            })?;
            Some((matcher, below))
        };
        let st = rustix::fs::fstat(&rootfd).map_err(|e| Error::OpenRoot {
            root: root.to_path_buf(),
            source: e.into(),
        })?;
        let scan = Scan {
            root_path: root,
            excludes: &excludes,
            includes: includes.as_ref(),
        };
        let root_state = DirState {
            included: includes.is_none(),
            exc: MatchInfo::default(),
            inc: MatchInfo::default(),
        };
        let walked = scan.walk(&rootfd, "", b"", &root_state)?;
        let excluded_count = walked.excluded;
        let mut nodes = Vec::with_capacity(walked.nodes.len() + 1);
        nodes.push(Node {
            path: String::new(),
            raw_path: Vec::new(),
            name: Vec::new(),
            meta: Meta::from_stat(&st, Kind::Dir),
            xattrs: Vec::new(),
            children: Vec::new(),
            parent: None,
        });
        nodes.extend(walked.nodes.into_iter().map(|mut n| {
            n.parent = Some(n.parent.map_or(0, |p| p + 1));
            n
        }));
        // Children lists from parent links (nodes were pushed in sorted pre-order).
        for i in 1..nodes.len() {
            if let Some(p) = nodes.get(i).and_then(|n| n.parent)
                && let Some(parent) = nodes.get_mut(p)
            {
                parent.children.push(i);
            }
        }
        let index = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.path.clone(), i))
            .collect();
        Ok(Tree {
            root_path: root.to_path_buf(),
            root: Arc::new(rootfd),
            nodes,
            index,
            excludes,
            full_scope: includes.is_none(),
            excluded_count,
        })
    }

    /// The context root this tree was scanned from.
    pub fn root_path(&self) -> &Path {
        &self.root_path
    }

    /// All entries, root first, in depth-first order with siblings sorted by name bytes.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The entry at `path` (slash-separated, relative, `""` for the root), not following
    /// symlinks.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.index.get(path).and_then(|&i| self.nodes.get(i))
    }

    /// Number of entries (root included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a tree holds at least its root.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// How many entries `.dockerignore` kept out (skipped subtrees count as one).
    pub fn excluded_count(&self) -> usize {
        self.excluded_count
    }

    /// True when the scan had no include patterns (every non-ignored path is present).
    pub fn is_full_scope(&self) -> bool {
        self.full_scope
    }

    /// Explains why `path` (relative, cleaned) is absent: [`Error::Excluded`] when it exists
    /// on disk beneath the root and `.dockerignore` excludes it, else [`Error::NotFound`].
    pub(crate) fn missing(&self, path: &str) -> Error {
        let on_disk = !path.is_empty()
            && rustix::fs::openat2(
                self.root.as_fd(),
                path,
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
                BENEATH,
            )
            .is_ok();
        if on_disk
            && self
                .excludes
                .matches_or_parent_matches(path)
                .unwrap_or(false)
        {
            Error::Excluded {
                path: path.to_string(),
            }
        } else {
            Error::NotFound {
                path: path.to_string(),
            }
        }
    }

    pub(crate) fn node(&self, i: usize) -> Option<&Node> {
        self.nodes.get(i)
    }

    pub(crate) fn io_err(&self, path: &str, op: &'static str) -> impl FnOnce(Errno) -> Error {
        let root = self.root_path.clone();
        let path = path.to_string();
        move |e| Error::Io {
            root,
            path,
            op,
            source: e.into(),
        }
    }
}

struct DirState {
    included: bool,
    exc: MatchInfo,
    inc: MatchInfo,
}

struct Scan<'a> {
    root_path: &'a Path,
    excludes: &'a PatternMatcher,
    includes: Option<&'a (PatternMatcher, PatternMatcher)>,
}

/// The kept descendants of one directory, in sorted pre-order. `parent: None` means the
/// directory itself; `Some(k)` is an index into `nodes`.
#[derive(Default)]
struct Walked {
    nodes: Vec<Node>,
    excluded: usize,
}

/// A child directory to descend into, decided while statting its parent's entries.
struct SubDir {
    node: Node,
    state: DirState,
    /// Kept even when nothing below it is (it is selected itself).
    keep_self: bool,
}

/// A walked subdirectory: its xattr names and its kept descendants.
type Descended = (Vec<String>, Walked);

enum Item {
    Leaf(Node),
    Dir(SubDir),
}

impl Scan<'_> {
    fn err(&self, path: &str, op: &'static str) -> impl FnOnce(Errno) -> Error {
        let root = self.root_path.to_path_buf();
        let path = path.to_string();
        move |e| Error::Io {
            root,
            path,
            op,
            source: e.into(),
        }
    }

    fn pattern_err(what: &'static str) -> impl FnOnce(kiln_dockerignore::Error) -> Error {
        move |source| Error::Pattern { what, source }
    }

    /// Walks the directory open as `dirfd` (at `base_path`): its entries are statted in
    /// name order, its subdirectories walked in parallel (each opened inside its task, so
    /// open descriptors stay bounded by depth x threads), and the results stitched back in
    /// name order.
    fn walk(
        &self,
        dirfd: &OwnedFd,
        base_path: &str,
        base_raw: &[u8],
        state: &DirState,
    ) -> Result<Walked> {
        let mut names: Vec<Vec<u8>> = Vec::new();
        let mut dir =
            rustix::fs::Dir::read_from(dirfd).map_err(self.err(base_path, "reading directory"))?;
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(self.err(base_path, "reading directory"))?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(name.to_vec());
            }
        }
        drop(dir);
        names.sort_unstable();
        let mut out = Walked::default();
        let mut items = Vec::with_capacity(names.len());
        for name in names {
            if let Some(item) = self.entry(dirfd, base_path, base_raw, state, name, &mut out)? {
                items.push(item);
            }
        }
        // Descend into the subdirectories in parallel.
        let walked: Vec<Option<Result<Descended>>> = items
            .par_iter()
            .map(|item| match item {
                Item::Leaf(_) => None,
                Item::Dir(sub) => self.descend(dirfd, sub),
            })
            .collect();
        for (item, result) in items.into_iter().zip(walked) {
            match (item, result) {
                (Item::Leaf(node), _) => out.nodes.push(node),
                (Item::Dir(_), None) => {} // vanished during the scan
                (Item::Dir(mut sub), Some(result)) => {
                    let (xattrs, below) = result?;
                    out.excluded += below.excluded;
                    if sub.keep_self || !below.nodes.is_empty() {
                        let at = out.nodes.len();
                        sub.node.xattrs = xattrs;
                        out.nodes.push(sub.node);
                        out.nodes.extend(below.nodes.into_iter().map(|mut n| {
                            n.parent = Some(n.parent.map_or(at, |p| p + at + 1));
                            n
                        }));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Opens and walks one subdirectory; `None` when it vanished meanwhile.
    fn descend(&self, dirfd: &OwnedFd, sub: &SubDir) -> Option<Result<Descended>> {
        let n = &sub.node;
        let fd = match rustix::fs::openat(
            dirfd,
            OsStr::from_bytes(&n.name),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return None,
            Err(e) => return Some(Err(self.err(&n.path, "opening directory")(e))),
        };
        let xattrs = match list_xattrs(&fd) {
            Ok(x) => x,
            Err(e) => return Some(Err(self.err(&n.path, "listing xattrs")(e))),
        };
        Some(
            self.walk(&fd, &n.path, &n.raw_path, &sub.state)
                .map(|w| (xattrs, w)),
        )
    }

    /// Stats one entry and decides its fate: `None` when it is skipped (excluded, not
    /// included, vanished, a socket).
    fn entry(
        &self,
        dirfd: &OwnedFd,
        base_path: &str,
        base_raw: &[u8],
        state: &DirState,
        name: Vec<u8>,
        out: &mut Walked,
    ) -> Result<Option<Item>> {
        let display = String::from_utf8_lossy(&name);
        let path = if base_path.is_empty() {
            display.into_owned()
        } else {
            format!("{base_path}/{display}")
        };
        let mut raw = Vec::with_capacity(base_raw.len() + 1 + name.len());
        raw.extend_from_slice(base_raw);
        if !raw.is_empty() {
            raw.push(b'/');
        }
        raw.extend_from_slice(&name);
        let cname = OsStr::from_bytes(&name);
        let st = match rustix::fs::statat(dirfd, cname, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(self.err(&path, "stat")(e)),
        };
        let (excluded, exc) = if self.excludes.is_empty() {
            (false, MatchInfo::default())
        } else {
            self.excludes
                .matches_using_parent_results(&path, &state.exc)
                .map_err(Self::pattern_err(".dockerignore"))?
        };
        let (included, inc) = match self.includes {
            None => (true, MatchInfo::default()),
            Some(_) if state.included => (true, MatchInfo::default()),
            Some((m, _)) => m
                .matches_using_parent_results(&path, &state.inc)
                .map_err(Self::pattern_err("include"))?,
        };
        let kind = match FileType::from_raw_mode(st.st_mode as _) {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Dir,
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(dirfd, cname, Vec::new())
                    .map_err(self.err(&path, "readlink"))?;
                Kind::Symlink(target.into_bytes())
            }
            FileType::Fifo => Kind::Fifo,
            FileType::CharacterDevice => Kind::CharDevice,
            FileType::BlockDevice => Kind::BlockDevice,
            _ => return Ok(None),
        };
        let is_dir = kind == Kind::Dir;
        let node = Node {
            path,
            raw_path: raw,
            name,
            meta: Meta::from_stat(&st, kind),
            xattrs: Vec::new(),
            children: Vec::new(),
            parent: None,
        };
        if is_dir {
            let exception_below = excluded && self.excludes.exception_may_match_below(&node.path);
            let include_below = included
                || self
                    .includes
                    .is_some_and(|(_, below)| below.exception_may_match_below(&node.path));
            if (excluded && !exception_below) || !include_below {
                out.excluded += usize::from(excluded);
                return Ok(None);
            }
            return Ok(Some(Item::Dir(SubDir {
                node,
                state: DirState { included, exc, inc },
                keep_self: !excluded && included,
            })));
        }
        if excluded {
            out.excluded += 1;
            return Ok(None);
        }
        Ok(included.then_some(Item::Leaf(node)))
    }
}

/// The xattr names of an open file (empty where the file system has none or refuses).
pub(crate) fn list_xattrs(fd: &OwnedFd) -> rustix::io::Result<Vec<String>> {
    let mut buf = vec![0u8; 256];
    loop {
        match rustix::fs::flistxattr(fd, &mut buf[..]) {
            Ok(0) => return Ok(Vec::new()),
            Ok(n) => {
                let list = buf.get(..n).unwrap_or_default();
                return Ok(list
                    .split(|&b| b == 0)
                    .filter(|k| !k.is_empty())
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .collect());
            }
            Err(Errno::RANGE) => {
                let need = rustix::fs::flistxattr(fd, &mut [0u8; 0][..]).unwrap_or(0);
                buf.resize(need.max(buf.len() * 2), 0);
            }
            Err(Errno::NOTSUP | Errno::PERM | Errno::ACCESS) => {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        }
    }
}

/// Symlinks followed for one include path before giving up (a loop).
const MAX_FOLLOWED_LINKS: usize = 255;

/// fsutil's `FollowLinks`: the include paths plus, for every symlink met on the way to one
/// (a wildcard in the last element of the way is matched against the directory's entries),
/// the link itself and its target resolved lexically inside the context (`..` stops at the
/// root, absolute targets start at it), followed again. Links are read fd-relative beneath
/// the root; nothing outside it is looked at.
fn follow_links(root_path: &Path, root: &OwnedFd, includes: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = includes.to_vec();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut todo: Vec<(Vec<String>, usize)> = includes
        .iter()
        .filter(|p| !p.starts_with('!'))
        .map(|p| (clean_elems(p), 0))
        .collect();
    while let Some((elems, depth)) = todo.pop() {
        for i in 0..elems.len() {
            let current = &elems[..=i];
            let key = current.join("/");
            let targets = read_links(root_path, root, current)?;
            if targets.is_empty() {
                continue;
            }
            if !seen.insert(key.clone()) {
                break;
            }
            out.push(key);
            if depth >= MAX_FOLLOWED_LINKS {
                return Err(Error::TooManyLinks {
                    path: elems.join("/"),
                });
            }
            for target in targets {
                let mut next = target;
                next.extend(elems[i + 1..].iter().cloned());
                let next = clean_elems(&next.join("/"));
                if next.is_empty() {
                    // A link to the context root: the whole context is selected.
                    return Ok(Vec::new());
                }
                out.push(next.join("/"));
                todo.push((next, depth + 1));
            }
            break;
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The path elements of `p` cleaned as if rooted (`.`/empty dropped, `..` stops at the root).
fn clean_elems(p: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in p.split('/') {
        match e {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            e => out.push(e.to_string()),
        }
    }
    out
}

/// The targets (as rooted, cleaned elements) of the symlink `elems` names, or of every
/// symlink its wildcard last element matches; empty when it is no symlink or is missing.
fn read_links(root_path: &Path, root: &OwnedFd, elems: &[String]) -> Result<Vec<Vec<String>>> {
    let Some((name, parent)) = elems.split_last() else {
        return Ok(Vec::new());
    };
    let dir = if parent.is_empty() {
        ".".to_string()
    } else {
        parent.join("/")
    };
    let shown = elems.join("/");
    let io = |op: &'static str| {
        let path = shown.clone();
        let root = root_path.to_path_buf();
        move |e: Errno| Error::Io {
            root,
            path,
            op,
            source: e.into(),
        }
    };
    let dfd = match rustix::fs::openat2(
        root,
        dir.as_str(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        BENEATH,
    ) {
        Ok(fd) => fd,
        // Missing, not a directory, or through a symlink (a wildcard before it): nothing to
        // follow here; the scan reports what is missing.
        Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::XDEV) => return Ok(Vec::new()),
        Err(e) => return Err(io("opening directory")(e)),
    };
    let names: Vec<Vec<u8>> = if crate::glob::contains_wildcards(name) {
        let mut names = Vec::new();
        for e in rustix::fs::Dir::read_from(&dfd).map_err(io("listing directory"))? {
            let e = e.map_err(io("listing directory"))?;
            let n = e.file_name().to_bytes();
            if n == b"." || n == b".." {
                continue;
            }
            let n_str = String::from_utf8_lossy(n);
            if crate::glob::path_match(name, &n_str) == Some(true) {
                names.push(n.to_vec());
            }
        }
        names
    } else {
        vec![name.as_bytes().to_vec()]
    };
    let mut out = Vec::new();
    for n in names {
        match rustix::fs::readlinkat(&dfd, OsStr::from_bytes(&n), Vec::new()) {
            Ok(target) => {
                let target = String::from_utf8_lossy(target.as_bytes()).into_owned();
                let joined = if target.starts_with('/') {
                    target
                } else {
                    format!("{dir}/{target}")
                };
                out.push(clean_elems(&joined));
            }
            Err(Errno::INVAL | Errno::NOENT) => {}
            Err(e) => return Err(io("reading symlink")(e)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn include_paths_follow_links_inside_the_context() {
        let outer = tempfile::tempdir().unwrap();
        std::fs::create_dir(outer.path().join("outside")).unwrap();
        std::fs::write(outer.path().join("outside/secret"), "host").unwrap();
        let ctx = outer.path().join("ctx");
        std::fs::create_dir_all(ctx.join("inside/sub")).unwrap();
        std::fs::write(ctx.join("inside/real.txt"), "in").unwrap();
        std::fs::write(ctx.join("inside/sub/f"), "in").unwrap();
        std::fs::write(ctx.join("unrelated"), "no").unwrap();
        std::os::unix::fs::symlink("/inside/real.txt", ctx.join("rooted")).unwrap();
        std::os::unix::fs::symlink("inside", ctx.join("dirlink")).unwrap();
        std::os::unix::fs::symlink("../outside", ctx.join("up")).unwrap();
        std::os::unix::fs::symlink("/inside/sub", ctx.join("wild1")).unwrap();
        let opts = ScanOptions {
            excludes: vec![],
            includes: vec![
                "rooted".into(),
                "dirlink/sub/f".into(),
                "up/secret".into(),
                "wild*".into(),
            ],
        };
        let tree = Tree::scan(&ctx, &opts).unwrap();
        for present in [
            "rooted",
            "inside/real.txt",
            "dirlink",
            "inside/sub/f",
            "up",
            "wild1",
        ] {
            assert!(tree.get(present).is_some(), "{present} is not selected");
        }
        assert!(tree.get("unrelated").is_none());
        assert!(tree.get("outside").is_none() && tree.get("secret").is_none());
        let followed =
            follow_links(&ctx, &tree.root, &["up/secret".into(), "rooted".into()]).unwrap();
        assert_eq!(
            followed,
            vec![
                "inside/real.txt",
                "outside/secret",
                "rooted",
                "up",
                "up/secret"
            ]
        );
        std::os::unix::fs::symlink("/", ctx.join("top")).unwrap();
        let whole = follow_links(&ctx, &tree.root, &["top".into(), "rooted".into()]).unwrap();
        assert!(
            whole.is_empty(),
            "a link to the root selects everything: {whole:?}"
        );
    }
}
