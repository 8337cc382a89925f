//! [`Root`]: a directory that every path of an operation is resolved beneath, never escaping
//! it through `..` or a symlink (absolute link targets are taken relative to the root, as
//! BuildKit's `fs.RootPath` and `openat2(RESOLVE_IN_ROOT)` do).

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// Symlinks followed while resolving one path before giving up with `ELOOP` (Linux's limit
/// for a whole path is 40; BuildKit's resolver allows 255).
const MAX_SYMLINKS: usize = 255;

/// A directory opened once (an `O_PATH` descriptor) that paths are resolved beneath.
///
/// Every path handed to this crate is interpreted inside a `Root`: `/a/b` and `a/b` mean the
/// same entry, `..` stops at the root, and a symlink met on the way is followed *inside* the
/// root (`/etc/passwd` as a link target means `<root>/etc/passwd`). The descriptor is kept, so
/// renaming the host directory afterwards does not redirect later operations. Safe to share
/// between threads; the operations themselves are not atomic with respect to other writers
/// of the same tree (BuildKit runs file ops on a snapshot nobody else mutates).
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    host: PathBuf,
}

impl Root {
    /// Opens `dir` (which must be an existing directory) as a root.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let host = dir.as_ref().to_path_buf();
        let fd = rustix::fs::open(
            &host,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("open root", host.display().to_string(), e))?;
        Ok(Root { fd, host })
    }

    /// A root from an already opened directory descriptor (`O_PATH` is enough); `host` is
    /// only used in messages.
    pub fn from_fd(fd: OwnedFd, host: PathBuf) -> Self {
        Root { fd, host }
    }

    /// The host path the root was opened from (for messages; operations use the descriptor).
    pub fn host_path(&self) -> &Path {
        &self.host
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens the directory at `comps`, a path already resolved by [`Root::resolve`] (so free
    /// of symlinks, `.` and `..`). The kernel refuses any symlink or escape met on the way
    /// (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`), so a tree changed behind our back fails
    /// instead of leading outside. `read` asks for a descriptor that can list entries.
    pub(crate) fn open_dir(&self, comps: &[OsString], read: bool) -> rustix::io::Result<OwnedFd> {
        let rel = join_rel(comps);
        let mut flags = OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        flags |= if read { OFlags::RDONLY } else { OFlags::PATH };
        rustix::fs::openat2(
            self.fd(),
            rel.as_os_str(),
            flags,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
    }

    /// Resolves `path` beneath the root into its real location: every symlink on the way is
    /// followed inside the root, and so is the last component when `follow_leaf` is set.
    /// Components that do not exist are kept as written (the result then names a path that
    /// may be created). Fails only on I/O errors other than "does not exist" and on symlink
    /// loops.
    pub(crate) fn resolve(&self, path: &str, follow_leaf: bool) -> Result<Resolved> {
        let mut todo: Vec<OsString> = split(path);
        todo.reverse(); // a stack: next component last
        let mut done: Vec<OsString> = Vec::new();
        let mut links = 0usize;
        let mut exists = true;
        while let Some(c) = todo.pop() {
            if c == ".." {
                done.pop();
                continue;
            }
            if todo.is_empty() && !follow_leaf {
                exists = self
                    .lstat_comps(&done, &c)
                    .map(|st| st.is_some())
                    .unwrap_or(false);
                done.push(c);
                break;
            }
            let parent = match self.open_dir(&done, false) {
                Ok(fd) => fd,
                Err(Errno::NOENT | Errno::NOTDIR) => {
                    exists = false;
                    todo.push(c);
                    push_lexical(&mut done, todo.drain(..).rev());
                    break;
                }
                Err(e) => return Err(Error::io("open", display(&done), e)),
            };
            match rustix::fs::statat(&parent, c.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        done.push(c);
                        return Err(Error::io("resolve", display(&done), Errno::LOOP));
                    }
                    let target = rustix::fs::readlinkat(&parent, c.as_os_str(), Vec::new())
                        .map_err(|e| Error::io("readlink", display_with(&done, &c), e))?;
                    let target = target.into_bytes();
                    if target.first() == Some(&b'/') {
                        done.clear();
                    }
                    let mut parts = split_bytes(&target);
                    parts.reverse();
                    todo.extend(parts);
                }
                Ok(_) => done.push(c),
                Err(Errno::NOENT | Errno::NOTDIR) => {
                    exists = false;
                    todo.push(c);
                    push_lexical(&mut done, todo.drain(..).rev());
                    break;
                }
                Err(e) => return Err(Error::io("stat", display_with(&done, &c), e)),
            }
        }
        Ok(Resolved {
            comps: done,
            exists,
        })
    }

    /// `lstat` of `name` inside the resolved directory `dir`; `None` when it does not exist.
    pub(crate) fn lstat_comps(
        &self,
        dir: &[OsString],
        name: &OsStr,
    ) -> Result<Option<rustix::fs::Stat>> {
        let parent = match self.open_dir(dir, false) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::NOTDIR) => return Ok(None),
            Err(e) => return Err(Error::io("open", display(dir), e)),
        };
        lstat_at(&parent, name).map_err(|e| Error::io("stat", display_with(dir, name), e))
    }
}

/// A path resolved beneath a [`Root`]: its real components, and whether it existed when
/// resolved (a missing path keeps the components that were not found as written).
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) comps: Vec<OsString>,
    pub(crate) exists: bool,
}

impl Resolved {
    /// The parent's components and the last name (`.` for the root itself).
    pub(crate) fn split_last(&self) -> (&[OsString], OsString) {
        match self.comps.split_last() {
            Some((last, parent)) => (parent, last.clone()),
            None => (&[], OsString::from(".")),
        }
    }
}

/// Appends components to an already resolved path, applying `..` lexically (used for the
/// part of a path that does not exist, where there is nothing left to follow).
fn push_lexical(done: &mut Vec<OsString>, rest: impl Iterator<Item = OsString>) {
    for c in rest {
        if c == ".." {
            done.pop();
        } else {
            done.push(c);
        }
    }
}

/// `lstat(dirfd, name)`, `None` when absent.
pub(crate) fn lstat_at(
    dir: impl AsFd,
    name: &OsStr,
) -> rustix::io::Result<Option<rustix::fs::Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Splits a slash path into its components, dropping empty ones and `.` (`..` is kept for
/// the resolver, which applies it to the real path).
pub(crate) fn split(path: &str) -> Vec<OsString> {
    split_bytes(path.as_bytes())
}

fn split_bytes(path: &[u8]) -> Vec<OsString> {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsString::from_vec(c.to_vec()))
        .collect()
}

/// Lexical clean of a slash path into components without `..` (`..` at the top is dropped,
/// as `filepath.Join("/", p)` does).
pub(crate) fn clean(path: &str) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    for c in split(path) {
        if c == ".." {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out
}

/// `a/b/c` (relative, `.` for none) for the kernel.
pub(crate) fn join_rel(comps: &[OsString]) -> PathBuf {
    if comps.is_empty() {
        return PathBuf::from(".");
    }
    let mut p = PathBuf::new();
    for c in comps {
        p.push(c);
    }
    p
}

/// `/a/b/c` for messages.
pub(crate) fn display(comps: &[OsString]) -> String {
    if comps.is_empty() {
        return "/".to_string();
    }
    let mut s = String::new();
    for c in comps {
        s.push('/');
        s.push_str(&String::from_utf8_lossy(c.as_bytes()));
    }
    s
}

/// `/a/b/name` for messages.
pub(crate) fn display_with(dir: &[OsString], name: &OsStr) -> String {
    let mut s = display(dir);
    if name == "." {
        return s;
    }
    if !s.ends_with('/') {
        s.push('/');
    }
    s.push_str(&String::from_utf8_lossy(name.as_bytes()));
    s
}
