//! Mounting a snapshot's mount plan on a directory (and undoing it), like containerd's `mount.All`.

use std::ffi::CString;
use std::path::Path;

use rustix::io::Errno;
use rustix::mount::{MountFlags, UnmountFlags};

use crate::error::{Error, Result};
use crate::types::RawMount;

/// A mount split into kernel flags and filesystem data.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ParsedOptions {
    pub(crate) flags: MountFlags,
    pub(crate) bind: bool,
    pub(crate) recursive: bool,
    pub(crate) data: String,
}

/// Splits mount options into flags (`ro`, `nosuid`, `bind`...) and data (`lowerdir=...`).
pub(crate) fn parse_options(options: &[String]) -> ParsedOptions {
    let mut flags = MountFlags::empty();
    let (mut bind, mut recursive) = (false, false);
    let mut data: Vec<&str> = Vec::new();
    for o in options {
        match o.as_str() {
            "ro" => flags |= MountFlags::RDONLY,
            "rw" | "defaults" => flags.remove(MountFlags::RDONLY),
            "nosuid" => flags |= MountFlags::NOSUID,
            "nodev" => flags |= MountFlags::NODEV,
            "noexec" => flags |= MountFlags::NOEXEC,
            "sync" => flags |= MountFlags::SYNCHRONOUS,
            "noatime" => flags |= MountFlags::NOATIME,
            "relatime" => flags |= MountFlags::RELATIME,
            "strictatime" => flags |= MountFlags::STRICTATIME,
            "bind" => bind = true,
            "rbind" => {
                bind = true;
                recursive = true;
            }
            other => data.push(other),
        }
    }
    ParsedOptions {
        flags,
        bind,
        recursive,
        data: data.join(","),
    }
}

fn mount_err(m: &RawMount, target: &Path, source: std::io::Error) -> Error {
    Error::Mount {
        what: format!("{} ({})", m.source.display(), m.typ),
        target: target.to_path_buf(),
        source,
    }
}

/// Mounts `m` on `target`. Bind mounts that ask for `ro` are remounted read-only.
pub(crate) fn mount_one(m: &RawMount, target: &Path) -> Result<()> {
    let opts = parse_options(&m.options);
    let err = |e: Errno| mount_err(m, target, e.into());
    if opts.bind || m.typ == "bind" {
        if opts.recursive {
            rustix::mount::mount_bind_recursive(&m.source, target).map_err(err)?;
        } else {
            rustix::mount::mount_bind(&m.source, target).map_err(err)?;
        }
        let extra = opts.flags - MountFlags::RELATIME - MountFlags::STRICTATIME;
        if !extra.is_empty() {
            if let Err(e) = rustix::mount::mount_remount(target, MountFlags::BIND | extra, "") {
                let _ = rustix::mount::unmount(target, UnmountFlags::DETACH);
                return Err(err(e));
            }
        }
        return Ok(());
    }
    let data = CString::new(opts.data).map_err(|_| {
        mount_err(
            m,
            target,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "NUL byte in mount options",
            ),
        )
    })?;
    rustix::mount::mount(
        m.source.as_path(),
        target,
        m.typ.as_str(),
        opts.flags,
        data.as_c_str(),
    )
    .map_err(err)
}

/// Unmounts the top mount on `target`, lazily if it is busy.
pub(crate) fn unmount(target: &Path) -> std::io::Result<()> {
    match rustix::mount::unmount(target, UnmountFlags::empty()) {
        Ok(()) => Ok(()),
        Err(Errno::BUSY) => Ok(rustix::mount::unmount(target, UnmountFlags::DETACH)?),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let o = parse_options(&[
            "ro".into(),
            "nosuid".into(),
            "lowerdir=/a:/b".into(),
            "upperdir=/u".into(),
        ]);
        assert_eq!(o.flags, MountFlags::RDONLY | MountFlags::NOSUID);
        assert!(!o.bind);
        assert_eq!(o.data, "lowerdir=/a:/b,upperdir=/u");
        let o = parse_options(&["rbind".into(), "rw".into()]);
        assert!(o.bind && o.recursive);
        assert!(o.flags.is_empty());
    }
}
