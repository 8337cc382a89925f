//! Ownership: [`Owner`] ids and `--chown=user[:group]` resolution against the destination's
//! `/etc/passwd` and `/etc/group`, read beneath its root.

use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::root::{Root, display};

/// A numeric owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Owner {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl Owner {
    /// Root (`0:0`).
    pub const ROOT: Owner = Owner { uid: 0, gid: 0 };
}

/// Resolves a `--chown` value (`user`, `user:group`, `uid`, `uid:gid`, names and ids mixed)
/// as BuildKit does: names are looked up in `<root>/etc/passwd` and `<root>/etc/group`
/// (followed beneath `root`); a user given without a group gets the user's primary group
/// from passwd when named, or a gid equal to the uid when numeric.
pub fn resolve_chown(root: &Root, value: &str) -> Result<Owner> {
    let invalid = |reason| Error::InvalidChown {
        value: value.to_string(),
        reason,
    };
    let (user, group) = match value.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (value, None),
    };
    if user.is_empty() {
        return Err(invalid("the user part is empty"));
    }
    let (uid, primary_gid) = match parse_id(user) {
        Some(id) => (id, id),
        None if user.bytes().all(|b| b.is_ascii_digit()) => return Err(invalid("id out of range")),
        None => {
            let passwd = read_db(root, "/etc/passwd")?;
            lookup(&passwd, user, 2, 3).ok_or_else(|| Error::UnknownUser {
                name: user.to_string(),
            })?
        }
    };
    let gid = match group {
        None | Some("") => primary_gid,
        Some(g) => match parse_id(g) {
            Some(id) => id,
            None if g.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(invalid("id out of range"));
            }
            None => {
                let groups = read_db(root, "/etc/group")?;
                lookup(&groups, g, 2, 2)
                    .map(|(gid, _)| gid)
                    .ok_or_else(|| Error::UnknownGroup {
                        name: g.to_string(),
                    })?
            }
        },
    };
    Ok(Owner { uid, gid })
}

fn parse_id(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Finds `name` in a colon database; returns fields `a` and `b` as ids.
fn lookup(db: &str, name: &str, a: usize, b: usize) -> Option<(u32, u32)> {
    db.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
        .and_then(|f| {
            Some((
                f.get(a)?.trim().parse().ok()?,
                f.get(b)?.trim().parse().ok()?,
            ))
        })
}

/// Reads a small text file beneath the root; an absent file reads as empty (the lookup then
/// fails with "no matching entries", as upstream).
fn read_db(root: &Root, path: &str) -> Result<String> {
    let Some(fd) = open_file_in(root, path)? else {
        return Ok(String::new());
    };
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", path, e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Opens a regular file for reading at `path` (symlinks followed beneath the root); `None`
/// when it does not exist.
pub(crate) fn open_file_in(root: &Root, path: &str) -> Result<Option<OwnedFd>> {
    let resolved = root.resolve(path, true)?;
    if !resolved.exists {
        return Ok(None);
    }
    let (dir, name) = resolved.split_last();
    let parent = root
        .open_dir(dir, false)
        .map_err(|e| Error::io("open", display(dir), e))?;
    open_read(&parent, &name).map_err(|e| Error::io("open", path, e))
}

pub(crate) fn open_read(dir: impl AsFd, name: &OsStr) -> rustix::io::Result<Option<OwnedFd>> {
    match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}
