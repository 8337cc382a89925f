//! Mount plans (what snapshotters return) and the helpers that carry them out.

use std::path::{Path, PathBuf};

use rustix::fs::CWD;
use rustix::io::Errno;
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags, UnmountFlags,
};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Overlayfs stacks at most this many lower layers (`OVL_MAX_STACK`).
pub const OVERLAY_MAX_LAYERS: usize = 500;

/// The classic `mount(2)` data argument must fit in one page.
pub const MOUNT_DATA_LIMIT: usize = 4096 - 1;

/// One mount to perform: like containerd's `mount.Mount`, without the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Filesystem type: `"overlay"` or `"bind"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Source: a directory for `bind`, `"overlay"` for overlay.
    pub source: PathBuf,
    /// Options: `ro`/`rw`/`rbind` for bind; `lowerdir=`, `upperdir=`, `workdir=`, ... for overlay.
    pub options: Vec<String>,
}

impl Mount {
    /// A bind mount of `dir`, read-only or writable.
    pub fn bind(dir: impl Into<PathBuf>, readonly: bool) -> Self {
        Mount {
            kind: "bind".to_owned(),
            source: dir.into(),
            options: vec![
                "rbind".to_owned(),
                if readonly { "ro" } else { "rw" }.to_owned(),
            ],
        }
    }

    /// The value of option `key=` (`lowerdir`, `upperdir`, ...), if present.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find_map(|o| o.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }

    /// The lower directories of an overlay mount, nearest first.
    pub fn lowerdirs(&self) -> Vec<PathBuf> {
        self.option("lowerdir")
            .map(|l| l.split(':').map(PathBuf::from).collect())
            .unwrap_or_default()
    }

    /// True if the mount is read-only.
    pub fn is_readonly(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
            || (self.kind == "overlay" && self.option("upperdir").is_none())
    }
}

/// Mounts `mounts` onto `target`, in order (each on top of the previous).
///
/// Overlay mounts use the new mount API with one `lowerdir+` per layer where the kernel has it
/// (6.8+), so long lower chains are not bound by the one-page `mount(2)` data limit; elsewhere the
/// classic call is used and an over-long option string is refused with
/// [`Error::MountOptionsTooLong`] before calling the kernel.
pub fn mount(mounts: &[Mount], target: &Path) -> Result<()> {
    for m in mounts {
        match m.kind.as_str() {
            "bind" => mount_bind(m, target)?,
            "overlay" => mount_overlay(m, target)?,
            other => return Err(Error::UnsupportedMount(format!("type {other:?}"))),
        }
    }
    Ok(())
}

/// Unmounts `target` (one mount).
pub fn unmount(target: &Path) -> Result<()> {
    rustix::mount::unmount(target, UnmountFlags::empty()).map_err(|e| Error::Mount {
        op: "unmounting",
        target: target.to_owned(),
        source: e.into(),
    })
}

fn mount_err(op: &'static str, target: &Path) -> impl FnOnce(Errno) -> Error + use<> {
    let target = target.to_owned();
    move |e| Error::Mount {
        op,
        target,
        source: e.into(),
    }
}

fn mount_bind(m: &Mount, target: &Path) -> Result<()> {
    let recursive = m.options.iter().any(|o| o == "rbind");
    let mut flags = MountFlags::BIND;
    if recursive {
        flags |= MountFlags::REC;
    }
    rustix::mount::mount(&m.source, target, "none", flags, None)
        .map_err(mount_err("bind mounting onto", target))?;
    if m.is_readonly() {
        let res = rustix::mount::mount_remount(target, MountFlags::BIND | MountFlags::RDONLY, "");
        if let Err(e) = res {
            // Do not leave a writable mount behind when read-only was asked for.
            let _ = rustix::mount::unmount(target, UnmountFlags::DETACH);
            return Err(mount_err("remounting read-only", target)(e));
        }
    }
    Ok(())
}

fn mount_overlay(m: &Mount, target: &Path) -> Result<()> {
    let lowers = m.lowerdirs();
    if lowers.len() > OVERLAY_MAX_LAYERS {
        return Err(Error::UnsupportedMount(format!(
            "{} lower layers; overlayfs stacks at most {OVERLAY_MAX_LAYERS}",
            lowers.len()
        )));
    }
    match mount_overlay_fsconfig(m, &lowers, target) {
        Ok(()) => Ok(()),
        // No new mount API, or no `lowerdir+` (kernel < 6.8): use mount(2).
        Err(e) if e == Errno::NOSYS || e == Errno::INVAL || e == Errno::PERM => {
            let data = m.options.join(",");
            if data.len() > MOUNT_DATA_LIMIT {
                return Err(Error::MountOptionsTooLong {
                    target: target.to_owned(),
                    len: data.len(),
                    limit: MOUNT_DATA_LIMIT,
                    layers: lowers.len(),
                });
            }
            let cdata = std::ffi::CString::new(data).map_err(|_| {
                Error::UnsupportedMount("overlay options contain a NUL byte".to_owned())
            })?;
            rustix::mount::mount("overlay", target, "overlay", MountFlags::empty(), &*cdata)
                .map_err(mount_err("mounting overlay on", target))
        }
        Err(e) => Err(mount_err("mounting overlay on", target)(e)),
    }
}

fn mount_overlay_fsconfig(m: &Mount, lowers: &[PathBuf], target: &Path) -> rustix::io::Result<()> {
    use rustix::mount::{fsconfig_create, fsconfig_set_flag, fsconfig_set_string};
    let fs = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    let mut attrs = MountAttrFlags::empty();
    for opt in &m.options {
        match opt.split_once('=') {
            Some(("lowerdir", _)) => {
                for l in lowers {
                    fsconfig_set_string(&fs, "lowerdir+", l)?;
                }
            }
            Some((k, v)) => fsconfig_set_string(&fs, k, v)?,
            None if opt == "ro" => attrs |= MountAttrFlags::MOUNT_ATTR_RDONLY,
            None if opt == "rw" => {}
            None => fsconfig_set_flag(&fs, opt.as_str())?,
        }
    }
    fsconfig_create(&fs)?;
    let mnt = rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?;
    rustix::mount::move_mount(
        &mnt,
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options_are_parsed() {
        let m = Mount {
            kind: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                "workdir=/w".into(),
                "upperdir=/u".into(),
                "lowerdir=/a:/b".into(),
            ],
        };
        assert_eq!(
            m.lowerdirs(),
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(m.option("upperdir"), Some("/u"));
        assert!(!m.is_readonly());
        assert!(Mount::bind("/x", true).is_readonly());
    }
}
