//! BuildKit's other file actions: [`mkdir`] (WORKDIR is one, with parents, owned by the
//! USER), [`mkfile`], [`rm`] and [`symlink`], each on a path beneath a [`Root`].

use std::io::Write;
use std::os::fd::AsFd;
use std::time::SystemTime;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::copy::{mkdir_all, remove_all, resolve_wildcards};
use crate::error::{Error, Result};
use crate::meta;
use crate::owner::Owner;
use crate::root::{Root, clean, display, lstat_at};

/// Options of [`mkdir`] (BuildKit's `FileActionMkDir`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MkdirOptions {
    /// Permission bits of the created directories (umask ignored).
    pub mode: u32,
    /// Create missing parents too (`mkdir -p`); otherwise the parent must exist.
    pub make_parents: bool,
    /// Owner of the directories created; `None` leaves them owned by the caller (root).
    pub owner: Option<Owner>,
    /// Access and modification time of the directories created.
    pub mtime: Option<SystemTime>,
}

impl Default for MkdirOptions {
    fn default() -> Self {
        MkdirOptions {
            mode: 0o755,
            make_parents: false,
            owner: None,
            mtime: None,
        }
    }
}

/// Creates the directory `path` beneath `root`. With `make_parents`, every missing directory
/// on the way is created with the options and existing ones are left untouched (this is how
/// `WORKDIR /a/b` under `USER app` gives only the new directories to `app`). Without it, an
/// existing `path` is not an error and is left as is (BuildKit's behaviour).
pub fn mkdir(root: &Root, path: &str, opts: &MkdirOptions) -> Result<()> {
    if opts.make_parents {
        mkdir_all(root, path, opts.mode & 0o777, opts.owner, opts.mtime)?;
        return Ok(());
    }
    let resolved = root.resolve(path, true)?;
    let (dir, name) = resolved.split_last();
    let shown = display(&resolved.comps);
    let parent = root
        .open_dir(dir, false)
        .map_err(|e| Error::io("mkdir", shown.clone(), e))?;
    match rustix::fs::mkdirat(&parent, &name, Mode::from_raw_mode(opts.mode & 0o777)) {
        Ok(()) => {}
        Err(Errno::EXIST) => return Ok(()),
        Err(e) => return Err(Error::io("mkdir", shown, e)),
    }
    meta::chmod_at(&parent, &name, opts.mode & 0o777)
        .map_err(|e| Error::io("chmod", shown.clone(), e))?;
    if let Some(owner) = opts.owner {
        meta::chown_at(&parent, &name, owner).map_err(|e| Error::io("chown", shown.clone(), e))?;
    }
    if let Some(t) = opts.mtime {
        meta::set_times_at(&parent, &name, &meta::fixed_times(t))
            .map_err(|e| Error::io("utimes", shown, e))?;
    }
    Ok(())
}

/// Options of [`mkfile`] (BuildKit's `FileActionMkFile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MkfileOptions {
    /// Permission bits of a newly created file (an existing file keeps its mode).
    pub mode: u32,
    /// Owner of the file.
    pub owner: Option<Owner>,
    /// Access and modification time of the file.
    pub mtime: Option<SystemTime>,
}

impl Default for MkfileOptions {
    fn default() -> Self {
        MkfileOptions {
            mode: 0o644,
            owner: None,
            mtime: None,
        }
    }
}

/// Writes `data` to the file `path` beneath `root` (created or truncated; a symlink at the
/// path is followed beneath the root). The parent directory must exist.
pub fn mkfile(root: &Root, path: &str, data: &[u8], opts: &MkfileOptions) -> Result<()> {
    let resolved = root.resolve(path, true)?;
    let (dir, name) = resolved.split_last();
    let shown = display(&resolved.comps);
    let parent = root
        .open_dir(dir, false)
        .map_err(|e| Error::io("open", display(dir), e))?;
    let existed = lstat_at(&parent, &name)
        .map_err(|e| Error::io("stat", shown.clone(), e))?
        .is_some();
    let fd = rustix::fs::openat(
        &parent,
        &name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(opts.mode & 0o777),
    )
    .map_err(|e| Error::io("create", shown.clone(), e))?;
    let mut file = std::fs::File::from(fd);
    file.write_all(data)
        .map_err(|e| Error::io("write", shown.clone(), e))?;
    drop(file);
    if !existed {
        meta::chmod_at(&parent, &name, opts.mode & 0o777)
            .map_err(|e| Error::io("chmod", shown.clone(), e))?;
    }
    if let Some(owner) = opts.owner {
        meta::chown_at(&parent, &name, owner).map_err(|e| Error::io("chown", shown.clone(), e))?;
    }
    if let Some(t) = opts.mtime {
        meta::set_times_at(&parent, &name, &meta::fixed_times(t))
            .map_err(|e| Error::io("utimes", shown, e))?;
    }
    Ok(())
}

/// Options of [`rm`] (BuildKit's `FileActionRm`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RmOptions {
    /// A missing path is not an error.
    pub allow_not_found: bool,
    /// Expand wildcards in the path (each match is removed).
    pub allow_wildcard: bool,
}

/// Removes `path` beneath `root` and everything below it. Directories on the way are followed
/// beneath the root; a symlink at the path itself is removed, not its target.
pub fn rm(root: &Root, path: &str, opts: &RmOptions) -> Result<()> {
    if opts.allow_wildcard {
        for m in resolve_wildcards(root, path, false)? {
            rm_one(root, &m, opts.allow_not_found)?;
        }
        return Ok(());
    }
    rm_one(root, path, opts.allow_not_found)
}

fn rm_one(root: &Root, path: &str, allow_not_found: bool) -> Result<()> {
    let comps = clean(path);
    let Some((name, dir)) = comps.split_last() else {
        return Err(Error::InvalidPath {
            path: path.to_string(),
            reason: "cannot remove the root",
        });
    };
    let dir = root.resolve(&display(dir), true)?;
    let shown = format!(
        "{}/{}",
        display(&dir.comps).trim_end_matches('/'),
        name.to_string_lossy()
    );
    let parent = match root.open_dir(&dir.comps, false) {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::NOTDIR) if allow_not_found => return Ok(()),
        Err(Errno::NOENT | Errno::NOTDIR) => {
            return Err(Error::NotFound {
                path: display(&comps),
            });
        }
        Err(e) => return Err(Error::io("open", display(&dir.comps), e)),
    };
    if !allow_not_found {
        // BuildKit stats the path (following a final symlink): a dangling link is "not found".
        let target = root.resolve(&display(&comps), true)?;
        if !target.exists {
            return Err(Error::NotFound {
                path: display(&comps),
            });
        }
    }
    remove_all(parent.as_fd(), name, &shown)
}

/// Options of [`symlink`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SymlinkOptions {
    /// Owner of the link.
    pub owner: Option<Owner>,
    /// Modification time of the link.
    pub mtime: Option<SystemTime>,
}

/// Creates a symlink at `new_path` beneath `root` pointing to `old_path` (stored as given:
/// a link's target is data, resolved beneath a root only when followed). The parent must
/// exist; an existing entry at `new_path` is an error.
pub fn symlink(root: &Root, old_path: &str, new_path: &str, opts: &SymlinkOptions) -> Result<()> {
    let resolved = root.resolve(new_path, false)?;
    let (dir, name) = resolved.split_last();
    let shown = display(&resolved.comps);
    let parent = root
        .open_dir(dir, false)
        .map_err(|e| Error::io("open", display(dir), e))?;
    rustix::fs::symlinkat(old_path, &parent, &name)
        .map_err(|e| Error::io("symlink", shown.clone(), e))?;
    if let Some(owner) = opts.owner {
        meta::chown_at(&parent, &name, owner).map_err(|e| Error::io("chown", shown.clone(), e))?;
    }
    if let Some(t) = opts.mtime {
        meta::set_times_at(&parent, &name, &meta::fixed_times(t))
            .map_err(|e| Error::io("utimes", shown, e))?;
    }
    Ok(())
}
