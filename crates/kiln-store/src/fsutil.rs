//! Small filesystem helpers: directory fsync, advisory file locks that survive unlink races, times.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{FlockOperation, flock};

use crate::error::{IoContext, Result};

/// Makes a directory's entries (creations, renames, unlinks) durable.
pub(crate) fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .ctx("syncing directory", path)
}

/// Creates a directory if missing (parents must exist).
pub(crate) fn ensure_dir(path: &Path) -> Result<()> {
    match fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(crate::Error::io("creating directory", path, e)),
    }
}

/// Removes a directory tree; a tree that is already gone is success.
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(crate::Error::io("removing", path, e)),
    }
}

/// An exclusive `flock(2)` on a file, released when dropped (and by the kernel when the process
/// dies, which is what makes it crash-safe: a SIGKILLed writer never leaves a lock behind).
#[derive(Debug)]
pub(crate) struct FileLock {
    _file: File,
}

/// Whether to block until a lock is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    Yes,
    No,
}

/// Locks the file at `path`, creating it if needed (its directory must exist).
///
/// Returns `Ok(None)` when `wait` is [`Wait::No`] and someone else holds the lock, and
/// `Err(NotFound)` when the directory does not exist. After locking, the file is checked to still
/// be the one linked at `path`: a holder may have unlinked it (removing an ingest) while we waited,
/// and a lock on an unlinked inode protects nothing, so we retry on the new file.
pub(crate) fn lock_file(path: &Path, wait: Wait) -> io::Result<Option<FileLock>> {
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let op = match wait {
            Wait::Yes => FlockOperation::LockExclusive,
            Wait::No => FlockOperation::NonBlockingLockExclusive,
        };
        match flock(&file, op) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK && wait == Wait::No => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let held = file.metadata()?;
        match fs::metadata(path) {
            Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {
                return Ok(Some(FileLock { _file: file }));
            }
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Unlinked while we waited. If the directory went too, report that.
                if let Some(parent) = path.parent() {
                    if !parent.exists() {
                        return Err(e);
                    }
                }
                continue;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Nanoseconds since the Unix epoch, saturating; times before the epoch become 0.
pub(crate) fn to_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The inverse of [`to_nanos`].
pub(crate) fn from_nanos(n: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_is_exclusive_between_opens_in_one_process() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let held = lock_file(&p, Wait::No).unwrap().unwrap();
        assert!(lock_file(&p, Wait::No).unwrap().is_none());
        drop(held);
        assert!(lock_file(&p, Wait::No).unwrap().is_some());
    }

    #[test]
    fn waiter_follows_an_unlinked_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let held = lock_file(&p, Wait::No).unwrap().unwrap();
        let p2 = p.clone();
        let waiter = std::thread::spawn(move || lock_file(&p2, Wait::Yes).unwrap().unwrap());
        std::thread::sleep(Duration::from_millis(50));
        fs::remove_file(&p).unwrap();
        drop(held);
        let _got = waiter.join().unwrap();
        // The waiter holds the lock on the file now linked at the path, not the unlinked one.
        assert!(lock_file(&p, Wait::No).unwrap().is_none());
    }

    #[test]
    fn nanos_round_trip() {
        let t = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        assert_eq!(from_nanos(to_nanos(t)), t);
        assert_eq!(to_nanos(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}
