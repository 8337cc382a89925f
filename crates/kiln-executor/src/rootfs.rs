//! Path resolution beneath a rootfs with `openat2(RESOLVE_IN_ROOT)`: symlinks and `..` in the
//! image can never lead out of it (the lesson of runc CVE-2024-21626).

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags, openat2};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// An open handle on a rootfs directory; every lookup through it stays inside.
#[derive(Debug)]
pub struct Rootfs {
    fd: OwnedFd,
}

const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

impl Rootfs {
    /// Opens `dir` (an `O_PATH` handle, close-on-exec).
    pub fn open(dir: &Path) -> io::Result<Self> {
        let fd = rustix::fs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self { fd })
    }

    fn open_in(&self, path: &str, flags: OFlags) -> io::Result<OwnedFd> {
        let rel = path.trim_start_matches('/');
        let rel = if rel.is_empty() { "." } else { rel };
        // openat2 refuses O_PATH combined with flags it would ignore (EINVAL).
        let extra = if flags.contains(OFlags::PATH) {
            OFlags::CLOEXEC
        } else {
            OFlags::CLOEXEC | OFlags::NOCTTY
        };
        Ok(openat2(
            &self.fd,
            rel,
            flags | extra,
            Mode::empty(),
            RESOLVE,
        )?)
    }

    /// Reads a small text file (at most `limit` bytes) at `path` inside the rootfs; `None` when
    /// it does not exist.
    pub fn read_to_string(&self, path: &str, limit: u64) -> Result<Option<String>> {
        let err = |source| Error::RootfsRead {
            path: path.to_string(),
            source,
        };
        let fd = match self.open_in(path, OFlags::RDONLY) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(err(e)),
        };
        let mut buf = Vec::new();
        File::from(fd)
            .take(limit)
            .read_to_end(&mut buf)
            .map_err(err)?;
        Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
    }

    /// Creates the directory `path` and its missing parents inside the rootfs, mode 0755, owned by
    /// `uid:gid` (BuildKit's `MkdirAllAndChown` for the working directory). Existing components,
    /// symlinks included, are resolved inside the rootfs; existing directories keep their owner.
    /// A component that is a dangling symlink is an error (not followed to create its target).
    pub fn mkdir_all(&self, path: &str, uid: u32, gid: u32) -> Result<()> {
        let err = |source| Error::Workdir {
            path: path.to_string(),
            source,
        };
        let components: Vec<&str> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        let mut prefix = String::new();
        for comp in components {
            let parent = prefix.clone();
            prefix.push('/');
            prefix.push_str(comp);
            match self.open_in(&prefix, OFlags::PATH | OFlags::DIRECTORY) {
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(err(e)),
            }
            let parent_fd = self
                .open_in(&parent, OFlags::PATH | OFlags::DIRECTORY)
                .map_err(err)?;
            match rustix::fs::mkdirat(&parent_fd, comp, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(err(e.into())),
            }
            let dir = self
                .open_in(&prefix, OFlags::RDONLY | OFlags::DIRECTORY)
                .map_err(err)?;
            rustix::fs::fchown(
                &dir,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            )
            .map_err(|e| err(e.into()))?;
        }
        Ok(())
    }
}

impl Rootfs {
    /// The paths that [`Rootfs::remove_stubs`] should remove after a run with a mount on each
    /// of `destinations`: every component of a destination that does not exist yet (the runtime
    /// creates it as a mountpoint), deepest first. BuildKit's `MountStubsCleaner`.
    pub fn missing_stubs<'a>(
        &self,
        destinations: impl IntoIterator<Item = &'a str>,
    ) -> Vec<String> {
        let mut stubs: Vec<String> = Vec::new();
        for dest in destinations {
            let mut prefix = String::new();
            let mut missing = false;
            for comp in dest.split('/').filter(|c| !c.is_empty() && *c != ".") {
                prefix.push('/');
                prefix.push_str(comp);
                if !missing {
                    missing = matches!(
                        self.open_in(&prefix, OFlags::PATH),
                        Err(e) if e.kind() == io::ErrorKind::NotFound
                    );
                }
                if missing && !stubs.contains(&prefix) {
                    stubs.push(prefix.clone());
                }
            }
        }
        let depth = |p: &String| p.matches('/').count();
        stubs.sort_by(|a, b| depth(b).cmp(&depth(a)).then_with(|| a.cmp(b)));
        stubs
    }

    /// Removes mountpoint stubs left by the runtime: empty directories and empty regular files
    /// only; anything the process put there stays. Failures are ignored (best effort).
    pub fn remove_stubs(&self, stubs: &[String]) {
        for path in stubs {
            let Some((parent, name)) = path.rsplit_once('/') else {
                continue;
            };
            let Ok(dir) = self.open_in(parent, OFlags::PATH | OFlags::DIRECTORY) else {
                continue;
            };
            let Ok(st) = rustix::fs::statat(&dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
            else {
                continue;
            };
            let ft = rustix::fs::FileType::from_raw_mode(st.st_mode);
            let flags = match ft {
                rustix::fs::FileType::Directory => rustix::fs::AtFlags::REMOVEDIR,
                rustix::fs::FileType::RegularFile if st.st_size == 0 => {
                    rustix::fs::AtFlags::empty()
                }
                _ => continue,
            };
            // ENOTEMPTY for a directory the process filled: keep it.
            let _ = rustix::fs::unlinkat(&dir, name, flags);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn reads_stay_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host secret").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        // An absolute symlink and a `..` escape both resolve inside the root.
        symlink(
            outside.path().join("secret"),
            root.path().join("etc/passwd"),
        )
        .unwrap();
        symlink(
            "../../../../../../../../secret",
            root.path().join("etc/group"),
        )
        .unwrap();
        std::fs::write(root.path().join("secret"), "root:x:0:0::/:/bin/sh\n").unwrap();
        let rootfs = Rootfs::open(root.path()).unwrap();
        assert_eq!(rootfs.read_to_string("/etc/passwd", 1 << 20).unwrap(), None);
        assert_eq!(
            rootfs
                .read_to_string("/etc/group", 1 << 20)
                .unwrap()
                .as_deref(),
            Some("root:x:0:0::/:/bin/sh\n")
        );
    }

    #[test]
    fn stubs_are_found_and_removed() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(root.path().join("etc/passwd"), "x").unwrap();
        let rootfs = Rootfs::open(root.path()).unwrap();
        let stubs = rootfs.missing_stubs(["/etc/hosts", "/etc/passwd", "/run/a/b", "/run/a/c"]);
        assert_eq!(
            stubs,
            ["/run/a/b", "/run/a/c", "/etc/hosts", "/run/a", "/run"]
        );
        // What a runtime does: create the mountpoints; then the process writes in one.
        std::fs::write(root.path().join("etc/hosts"), "").unwrap();
        std::fs::create_dir_all(root.path().join("run/a/b")).unwrap();
        std::fs::create_dir_all(root.path().join("run/a/c")).unwrap();
        std::fs::write(root.path().join("run/a/c/kept"), "data").unwrap();
        rootfs.remove_stubs(&stubs);
        assert!(!root.path().join("etc/hosts").exists());
        assert!(!root.path().join("run/a/b").exists());
        assert!(root.path().join("run/a/c/kept").exists());
        assert!(root.path().join("etc/passwd").exists());
    }

    #[test]
    fn mkdir_all_follows_symlinks_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        symlink(outside.path(), root.path().join("escape")).unwrap();
        let inside = root.path().join(outside.path().strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inside).unwrap();
        let rootfs = Rootfs::open(root.path()).unwrap();
        let md = std::fs::metadata(root.path()).unwrap();
        let (uid, gid) = (
            std::os::unix::fs::MetadataExt::uid(&md),
            std::os::unix::fs::MetadataExt::gid(&md),
        );
        rootfs.mkdir_all("/escape/a/b", uid, gid).unwrap();
        assert!(inside.join("a/b").is_dir());
        assert!(!outside.path().join("a").exists());
        rootfs.mkdir_all("/", uid, gid).unwrap();
        rootfs.mkdir_all("/work/./dir/", uid, gid).unwrap();
        assert!(root.path().join("work/dir").is_dir());
    }
}
