//! The startup sweep: what a killed worker process left under its root (runc containers,
//! bundles, host mounts, secret tmpfs, active snapshots, orphan directories), cleaned up.
//!
//! Runs only while the store's lock is held, so no other process uses the root. Only paths
//! under the root are touched; a directory that still has a mount beneath it after the
//! unmount pass is left alone (recursive removal never descends into a mounted snapshot).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kiln_snapshot::Kind;
use rustix::mount::UnmountFlags;

use crate::error::{Error, Result};
use crate::worker::Snaps;

/// What [`crate::Worker::open`] cleaned up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Mounts under the root that were unmounted.
    pub unmounted: Vec<PathBuf>,
    /// runc containers that were deleted.
    pub containers: Vec<String>,
    /// Leftover directories that were removed (bundles, mount points, secrets, scratch).
    pub removed: Vec<PathBuf>,
    /// Active snapshots and views that were removed.
    pub snapshots: Vec<String>,
}

impl SweepReport {
    /// Whether there was nothing to clean.
    pub fn is_empty(&self) -> bool {
        self.unmounted.is_empty()
            && self.containers.is_empty()
            && self.removed.is_empty()
            && self.snapshots.is_empty()
    }
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} mounts, {} containers, {} directories, {} snapshots",
            self.unmounted.len(),
            self.containers.len(),
            self.removed.len(),
            self.snapshots.len()
        )
    }
}

pub(crate) fn sweep(root: &Path, runc: &Path, snaps: &Snaps) -> Result<SweepReport> {
    let mut report = SweepReport::default();

    // 1. runc containers in kiln's own runc root: kill and delete.
    let runc_root = root.join("runc");
    for id in dir_names(&runc_root)? {
        let status = Command::new(runc)
            .arg("--root")
            .arg(&runc_root)
            .args(["delete", "--force", &id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => report.containers.push(id),
            other => {
                tracing::warn!("deleting leftover runc container {id}: {other:?}");
                let p = runc_root.join(&id);
                if std::fs::remove_dir_all(&p).is_ok() {
                    report.containers.push(id);
                }
            }
        }
    }

    // 2. Every mount under the root, deepest first (lazily: a process may still hold one).
    let mut mounts = mounts_under(root)?;
    mounts.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for m in mounts {
        match rustix::mount::unmount(&m, UnmountFlags::DETACH) {
            Ok(()) => report.unmounted.push(m),
            Err(e) => tracing::warn!("unmounting leftover {}: {e}", m.display()),
        }
    }

    // 3. Scratch directories, unless something is still mounted beneath them.
    let still_mounted = mounts_under(root)?;
    for dir in ["bundles", "mounts", "secrets", "tmp"] {
        let parent = root.join(dir);
        for name in dir_names(&parent)? {
            let p = parent.join(&name);
            if still_mounted.iter().any(|m| m.starts_with(&p)) {
                tracing::warn!(
                    "leaving {}: something is still mounted beneath it",
                    p.display()
                );
                continue;
            }
            std::fs::remove_dir_all(&p).map_err(Error::io("removing leftover", &p))?;
            report.removed.push(p);
        }
    }

    // 4. Active snapshots and views (only a live process can be using one) and orphan dirs.
    let infos = snaps
        .sn()
        .walk()
        .map_err(Error::snap("listing", "snapshots"))?;
    for info in infos {
        if info.kind != Kind::Committed {
            snaps
                .sn()
                .remove(&info.name)
                .map_err(Error::snap("removing leftover", &info.name))?;
            report.snapshots.push(info.name);
        }
    }
    let orphans = snaps
        .cleanup()
        .map_err(Error::snap("cleaning up", "snapshots"))?;
    report.removed.extend(orphans);
    Ok(report)
}

fn dir_names(dir: &Path) -> Result<Vec<String>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("listing", dir)(e)),
    };
    let mut names = Vec::new();
    for entry in rd {
        let entry = entry.map_err(Error::io("listing", dir))?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Mount points strictly beneath `root`, from `/proc/self/mountinfo`.
pub(crate) fn mounts_under(root: &Path) -> Result<Vec<PathBuf>> {
    let info = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(info).map_err(Error::io("reading", info))?;
    Ok(parse_mountinfo(&text)
        .into_iter()
        .filter(|p| p.starts_with(root) && p != root)
        .collect())
}

/// The mount points (field 5) of a mountinfo text, with `\040`-style escapes decoded.
fn parse_mountinfo(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|f| PathBuf::from(unescape(f)))
        .collect()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_mount_points_are_unescaped() {
        let text = "36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 - ext3 /dev/root rw\n\
                    37 35 0:5 / /var/lib/kiln/mounts/x rw - overlay overlay rw,lowerdir=/a\n";
        assert_eq!(
            parse_mountinfo(text),
            [
                PathBuf::from("/mnt/a b"),
                PathBuf::from("/var/lib/kiln/mounts/x")
            ]
        );
        assert_eq!(unescape("a\\134b\\"), "a\\b\\");
    }
}
