//! `fsck`: re-hash every blob, find strays under `content/blobs/` and records naming missing
//! blobs; optionally remove what is bad.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::digest::{Algorithm, Digest};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{remove_tree, sync_dir};
use crate::gc::Root;
use crate::store::Store;

/// Options for [`Store::fsck`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FsckOptions {
    /// Remove corrupt blobs and strays (missing blobs cannot be repaired here: pull or build
    /// them again).
    pub repair: bool,
}

impl FsckOptions {
    /// Sets [`FsckOptions::repair`].
    pub fn repair(mut self, repair: bool) -> Self {
        self.repair = repair;
        self
    }
}

/// One problem found by [`Store::fsck`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsckProblem {
    /// The blob's bytes hash to another digest.
    Corrupt {
        /// The blob (its file name).
        digest: Digest,
        /// What its bytes hash to.
        actual: Digest,
    },
    /// The blob could not be read.
    Unreadable {
        /// The blob.
        digest: Digest,
        /// The I/O error.
        error: String,
    },
    /// Something under `content/blobs/` that is not a blob: a bad name, a directory, a link.
    Stray {
        /// Its path.
        path: PathBuf,
    },
    /// A record reaches a blob that is not in the store.
    Missing {
        /// The absent blob.
        digest: Digest,
        /// A record that reaches it.
        root: Root,
    },
}

impl fmt::Display for FsckProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsckProblem::Corrupt { digest, actual } => {
                write!(f, "blob {digest}: digest mismatch: got {actual}")
            }
            FsckProblem::Unreadable { digest, error } => {
                write!(f, "blob {digest}: unreadable: {error}")
            }
            FsckProblem::Stray { path } => write!(f, "{}: not a blob", path.display()),
            FsckProblem::Missing { digest, root } => {
                write!(f, "blob {digest}: missing, referenced by {root}")
            }
        }
    }
}

/// One finding, and whether it was removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsckIssue {
    /// What is wrong.
    pub problem: FsckProblem,
    /// Whether `repair` removed the offending file.
    pub removed: bool,
}

/// What [`Store::fsck`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsckReport {
    /// Blobs whose digest was verified (good or bad).
    pub checked: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Every problem found.
    pub issues: Vec<FsckIssue>,
}

impl FsckReport {
    /// True when nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.issues.is_empty()
    }
}

/// Hashes the file at `path` with `alg`, returning the digest and the (dev, ino) hashed.
fn hash_file(path: &Path, alg: Algorithm) -> io::Result<(Digest, (u64, u64))> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let mut digester = alg.digester();
    io::copy(&mut file, &mut digester)?;
    Ok((digester.finish(), (meta.dev(), meta.ino())))
}

fn digest_of(problem: &FsckProblem) -> Option<Digest> {
    match problem {
        FsckProblem::Corrupt { digest, .. } | FsckProblem::Unreadable { digest, .. } => {
            Some(digest.clone())
        }
        FsckProblem::Stray { .. } | FsckProblem::Missing { .. } => None,
    }
}

fn remove_entry(path: &Path, is_dir: bool) -> Result<()> {
    if is_dir {
        return remove_tree(path);
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("removing", path, e)),
    }
}

impl Store {
    /// Verifies the content store: re-hashes every blob, reports files under `content/blobs/` that
    /// are not blobs, and records (images, cache records, labels reachable from them) that name
    /// blobs not present. With `repair`, removes corrupt blobs and strays so that the next pull or
    /// build writes them again.
    ///
    /// Reads every byte in the store. Safe concurrently with everything; with `repair`, removals
    /// take the GC lock and re-check that the file is still the one found bad.
    pub fn fsck(&self, opts: FsckOptions) -> Result<FsckReport> {
        let mut report = FsckReport::default();
        let blobs = &self.inner.blobs;
        let mut present = HashSet::new();
        for entry in fs::read_dir(blobs).ctx("listing", blobs)? {
            let entry = entry.ctx("listing", blobs)?;
            let path = entry.path();
            let alg = entry.file_name().to_str().and_then(Algorithm::from_name);
            let is_dir = entry.file_type().ctx("inspecting", &path)?.is_dir();
            let Some(alg) = alg.filter(|_| is_dir) else {
                self.stray(&mut report, &path, is_dir, opts.repair)?;
                continue;
            };
            self.check_alg_dir(&mut report, &mut present, alg, opts.repair)?;
        }

        let now = SystemTime::now();
        let (roots, children) = self.view(|v| Ok((v.roots(now)?, v.gc_children()?)))?;
        let mut reported = HashSet::new();
        for (root, start) in roots {
            if matches!(root, Root::Lease(_)) {
                // A lease may hold a digest before its blob is written.
                continue;
            }
            let mut stack = start;
            let mut seen = HashSet::new();
            while let Some(d) = stack.pop() {
                if !seen.insert(d.clone()) {
                    continue;
                }
                if let Some(kids) = children.get(&d) {
                    stack.extend(kids.iter().cloned());
                }
                if !present.contains(&d) && reported.insert(d.clone()) {
                    report.issues.push(FsckIssue {
                        problem: FsckProblem::Missing {
                            digest: d,
                            root: root.clone(),
                        },
                        removed: false,
                    });
                }
            }
        }
        Ok(report)
    }

    fn stray(
        &self,
        report: &mut FsckReport,
        path: &Path,
        is_dir: bool,
        repair: bool,
    ) -> Result<()> {
        if repair {
            let _gc = self.gc_exclusive();
            remove_entry(path, is_dir)?;
        }
        report.issues.push(FsckIssue {
            problem: FsckProblem::Stray {
                path: path.to_path_buf(),
            },
            removed: repair,
        });
        Ok(())
    }

    fn check_alg_dir(
        &self,
        report: &mut FsckReport,
        present: &mut HashSet<Digest>,
        alg: Algorithm,
        repair: bool,
    ) -> Result<()> {
        let dir = self.alg_dir(alg);
        let mut removed_any = false;
        for entry in fs::read_dir(&dir).ctx("listing", &dir)? {
            let entry = entry.ctx("listing", &dir)?;
            let path = entry.path();
            let file_type = match entry.file_type() {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("inspecting", &path, e)),
            };
            let digest = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(alg, n).ok());
            let Some(digest) = digest.filter(|_| file_type.is_file()) else {
                self.stray(report, &path, file_type.is_dir(), repair)?;
                removed_any |= repair;
                continue;
            };
            let problem = match hash_file(&path, alg) {
                Ok((actual, _)) if actual == digest => {
                    report.checked += 1;
                    report.bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
                    present.insert(digest);
                    continue;
                }
                Ok((actual, id)) => {
                    report.checked += 1;
                    (FsckProblem::Corrupt { digest, actual }, Some(id))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // deleted meanwhile
                Err(e) => (
                    FsckProblem::Unreadable {
                        digest,
                        error: e.to_string(),
                    },
                    None,
                ),
            };
            let (problem, id) = problem;
            let bad_digest = digest_of(&problem);
            let mut removed = false;
            if repair {
                let _gc = self.gc_exclusive();
                // Remove only the very file found bad: a writer may have replaced it since.
                let same = match (fs::symlink_metadata(&path), id) {
                    (Ok(m), Some(id)) => (m.dev(), m.ino()) == id,
                    (Ok(_), None) => true,
                    (Err(_), _) => false,
                };
                if same {
                    remove_entry(&path, false)?;
                    removed = true;
                    removed_any = true;
                }
            }
            if !removed {
                // Still there (if bad): records naming it are not *missing* it.
                present.extend(bad_digest);
            }
            report.issues.push(FsckIssue { problem, removed });
        }
        if removed_any {
            sync_dir(&dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::os::unix::fs::PermissionsExt;

    use oci_spec::image::{Descriptor, MediaType};

    use super::*;
    use crate::content::{Manager, WriterOptions, write_blob};
    use crate::meta::{ImageStore, LabelStore};

    fn put(store: &Store, data: &[u8]) -> Digest {
        write_blob(store, WriterOptions::new("r"), &mut Cursor::new(data))
            .unwrap()
            .digest
    }

    fn corrupt(store: &Store, d: &Digest) {
        let path = store.blob_path(d);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&path, b"bit rot").unwrap();
    }

    #[test]
    fn a_healthy_store_is_clean() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        put(&store, b"a");
        put(&store, &vec![5u8; 100_000]);
        let report = store.fsck(FsckOptions::default()).unwrap();
        assert!(report.is_clean(), "{report:?}");
        assert_eq!((report.checked, report.bytes), (2, 100_001));
    }

    #[test]
    fn finds_and_repairs_corrupt_blobs_and_strays() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let good = put(&store, b"good");
        let bad = put(&store, b"bad");
        corrupt(&store, &bad);
        let sha256 = store.alg_dir(Algorithm::Sha256);
        fs::write(sha256.join("partial.tmp"), b"x").unwrap();
        fs::create_dir(sha256.join(Digest::sha256(b"dir").hex())).unwrap();
        fs::write(dir.path().join("content/blobs/md5"), b"").unwrap();

        let report = store.fsck(FsckOptions::default()).unwrap();
        assert_eq!(report.issues.len(), 4, "{report:?}");
        assert!(report.issues.iter().all(|i| !i.removed));
        let corrupt: Vec<String> = report
            .issues
            .iter()
            .filter(|i| matches!(i.problem, FsckProblem::Corrupt { .. }))
            .map(|i| i.problem.to_string())
            .collect();
        assert_eq!(
            corrupt,
            [format!(
                "blob {bad}: digest mismatch: got {}",
                Digest::sha256(b"bit rot")
            )]
        );

        let repaired = store.fsck(FsckOptions::default().repair(true)).unwrap();
        assert!(repaired.issues.iter().all(|i| i.removed), "{repaired:?}");
        assert!(store.fsck(FsckOptions::default()).unwrap().is_clean());
        assert!(store.exists(&good).unwrap());
        assert!(!store.exists(&bad).unwrap());
    }

    #[test]
    fn reports_records_that_reach_missing_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let m = put(&store, b"manifest");
        let layer = Digest::sha256(b"never written");
        store
            .set_label(&m, "containerd.io/gc.ref.content.l.0", Some(layer.as_str()))
            .unwrap();
        let d: oci_spec::image::Digest = m.as_str().parse().unwrap();
        store
            .put_image("app", &Descriptor::new(MediaType::ImageManifest, 8, d))
            .unwrap();
        let report = store.fsck(FsckOptions::default().repair(true)).unwrap();
        let problems: Vec<String> = report
            .issues
            .iter()
            .map(|i| i.problem.to_string())
            .collect();
        assert_eq!(
            problems,
            [format!(
                "blob {layer}: missing, referenced by image \"app\""
            )]
        );
        assert!(!report.issues[0].removed);
    }
}
