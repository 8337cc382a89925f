//! A snapshot's mount plan carried out on the host: a directory to read or write, unmounted
//! again when the guard is released or dropped.

use std::path::{Path, PathBuf};

use kiln_snapshot::Mount;

use crate::error::{Error, Result};
use crate::worker::Inner;

/// A mounted snapshot plan. A single writable bind plan is used in place (its directory);
/// everything else is mounted on a fresh mount point under `<root>/mounts`.
#[derive(Debug)]
pub(crate) struct Mounted {
    path: PathBuf,
    mountpoint: Option<PathBuf>,
    key: String,
}

impl Mounted {
    /// Carries out `plan` (of snapshot `key`).
    pub(crate) fn new(inner: &Inner, plan: &[Mount], key: &str) -> Result<Mounted> {
        if let [m] = plan
            && m.kind == "bind"
            && !m.is_readonly()
        {
            return Ok(Mounted {
                path: m.source.clone(),
                mountpoint: None,
                key: key.to_owned(),
            });
        }
        let mp = inner.new_mountpoint()?;
        if let Err(e) = kiln_snapshot::mount(plan, &mp) {
            let _ = std::fs::remove_dir(&mp);
            return Err(Error::snap("mounting", key)(e));
        }
        Ok(Mounted {
            path: mp.clone(),
            mountpoint: Some(mp),
            key: key.to_owned(),
        })
    }

    /// The directory holding the snapshot's files.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Unmounts and removes the mount point. Idempotent.
    pub(crate) fn release(&mut self) -> Result<()> {
        if let Some(mp) = self.mountpoint.take() {
            if let Err(e) = kiln_snapshot::unmount(&mp) {
                // Keep it for the next attempt (or the startup sweep).
                self.mountpoint = Some(mp);
                return Err(Error::snap("unmounting", &self.key)(e));
            }
            std::fs::remove_dir(&mp).map_err(Error::io("removing mount point", &mp))?;
        }
        Ok(())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            tracing::warn!("{e}");
        }
    }
}
