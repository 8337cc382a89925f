//! Setting an entry's metadata through its parent directory descriptor: owner, mode, times
//! and extended attributes, never following a symlink at the entry itself.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Gid, Mode, Stat, Timespec, Timestamps, Uid, XattrFlags};

use crate::owner::Owner;

/// The file type of a `stat` result.
pub(crate) fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode as _)
}

/// Permission and special bits of a `stat` result.
#[allow(clippy::unnecessary_cast)] // `st_mode` is not `u32` on every architecture
pub(crate) fn perm_bits(st: &Stat) -> u32 {
    (st.st_mode as u32) & 0o7777
}

/// `lchown(dir/name)`.
pub(crate) fn chown_at(dir: impl AsFd, name: &OsStr, owner: Owner) -> rustix::io::Result<()> {
    rustix::fs::chownat(
        dir,
        name,
        Some(Uid::from_raw(owner.uid)),
        Some(Gid::from_raw(owner.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
}

/// `chmod(dir/name)`; callers make sure `name` is not a symlink (Linux cannot chmod one).
pub(crate) fn chmod_at(dir: impl AsFd, name: &OsStr, mode: u32) -> rustix::io::Result<()> {
    rustix::fs::chmodat(
        dir,
        name,
        Mode::from_raw_mode(mode & 0o7777),
        AtFlags::empty(),
    )
}

/// The access and modification times of a `stat` result.
pub(crate) fn stat_times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: st.st_atime as _,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: st.st_mtime as _,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

/// Both times set to `t` (BuildKit's `Utimes` with an explicit timestamp).
pub(crate) fn fixed_times(t: SystemTime) -> Timestamps {
    let ts = to_timespec(t);
    Timestamps {
        last_access: ts,
        last_modification: ts,
    }
}

pub(crate) fn to_timespec(t: SystemTime) -> Timespec {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => Timespec {
            tv_sec: d.as_secs() as _,
            tv_nsec: d.subsec_nanos() as _,
        },
        Err(e) => {
            let d = e.duration();
            let mut secs = -(d.as_secs() as i64);
            let mut nanos = d.subsec_nanos() as i64;
            if nanos > 0 {
                secs -= 1;
                nanos = 1_000_000_000 - nanos;
            }
            Timespec {
                tv_sec: secs as _,
                tv_nsec: nanos as _,
            }
        }
    }
}

/// `utimensat(dir/name, times, AT_SYMLINK_NOFOLLOW)`.
pub(crate) fn set_times_at(
    dir: impl AsFd,
    name: &OsStr,
    times: &Timestamps,
) -> rustix::io::Result<()> {
    rustix::fs::utimensat(dir, name, times, AtFlags::SYMLINK_NOFOLLOW)
}

/// Copies every extended attribute from `src` to `dst` (both open files or directories).
/// Best effort, like BuildKit (whose handler logs and ignores xattr errors): a filesystem
/// without xattr support, or a `security.*` name the caller may not set, is skipped.
pub(crate) fn copy_xattrs(src: impl AsFd, dst: impl AsFd) {
    let (src, dst) = (src.as_fd(), dst.as_fd());
    let mut names = vec![0u8; 4096];
    let len = loop {
        match rustix::fs::flistxattr(src, &mut names[..]) {
            Ok(n) => break n,
            Err(rustix::io::Errno::RANGE) if names.len() < (1 << 20) => {
                names.resize(names.len() * 4, 0);
            }
            Err(_) => return,
        }
    };
    let mut value = vec![0u8; 4096];
    for name in names[..len].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = OsStr::from_bytes(name);
        let n = loop {
            match rustix::fs::fgetxattr(src, name, &mut value[..]) {
                Ok(n) => break Some(n),
                Err(rustix::io::Errno::RANGE) if value.len() < (1 << 24) => {
                    value.resize(value.len() * 4, 0);
                }
                Err(_) => break None,
            }
        };
        if let Some(n) = n {
            let _ = rustix::fs::fsetxattr(dst, name, &value[..n], XattrFlags::empty());
        }
    }
}
