//! The overlayfs snapshotter and its copying fallback: one on-disk layout, two mount planners.
//!
//! Layout under the root: `metadata.json` (see [`crate::meta`]), `snapshots/<id>/fs` (the
//! snapshot's own files: an overlay upper dir, or a full copy) and, for active overlay snapshots,
//! `snapshots/<id>/work` (overlayfs' work dir).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::io_err;
use crate::fsutil;
use crate::meta::{MetaFile, MetaStore, Record};
use crate::mount::{Mount, OVERLAY_MAX_LAYERS};
use crate::snapshotter::{Info, Kind, SnapshotDirs, SnapshotReader, Snapshotter, Usage};
use crate::{Error, Result};

/// How a backend lays out a new snapshot and plans its mounts.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Fills the freshly created `snapshots/<id>` directory (which already has `fs`).
    /// `chain` is the committed ancestry's `fs` dirs, nearest first.
    fn populate(&self, dir: &Path, chain: &[PathBuf], kind: Kind) -> Result<()>;
    /// The mount plan of an active snapshot or view with id dir `dir`.
    fn plan(&self, key: &str, dir: &Path, chain: &[PathBuf], kind: Kind) -> Result<Vec<Mount>>;
}

/// Overlayfs: an active snapshot is an upper dir over its ancestry's `fs` dirs.
#[derive(Debug, Clone)]
pub struct Overlay {
    index_off: bool,
}

impl Backend for Overlay {
    fn populate(&self, dir: &Path, chain: &[PathBuf], kind: Kind) -> Result<()> {
        if kind == Kind::Active && !chain.is_empty() {
            let work = dir.join("work");
            fs::create_dir(&work).map_err(io_err("creating", &work))?;
        }
        Ok(())
    }

    fn plan(&self, key: &str, dir: &Path, chain: &[PathBuf], kind: Kind) -> Result<Vec<Mount>> {
        let own = dir.join("fs");
        let readonly = kind == Kind::View;
        if chain.is_empty() {
            return Ok(vec![Mount::bind(own, readonly)]);
        }
        if readonly && chain.len() == 1 {
            return Ok(vec![Mount::bind(&chain[0], true)]);
        }
        let layers = chain.len() + usize::from(!readonly);
        if layers > OVERLAY_MAX_LAYERS {
            return Err(Error::TooManyLayers {
                key: key.to_owned(),
                layers,
                max: OVERLAY_MAX_LAYERS,
            });
        }
        let mut lower = String::new();
        for (i, l) in chain.iter().enumerate() {
            if i > 0 {
                lower.push(':');
            }
            lower.push_str(&path_str(l)?);
        }
        let mut options = Vec::new();
        if self.index_off {
            options.push("index=off".to_owned());
        }
        if !readonly {
            options.push(format!("workdir={}", path_str(&dir.join("work"))?));
            options.push(format!("upperdir={}", path_str(&own)?));
        }
        options.push(format!("lowerdir={lower}"));
        Ok(vec![Mount {
            kind: "overlay".to_owned(),
            source: "overlay".into(),
            options,
        }])
    }
}

/// Copying fallback: an active snapshot starts as a full copy of its parent and is bind-mounted.
#[derive(Debug, Clone, Default)]
pub struct Copying;

impl Backend for Copying {
    fn populate(&self, dir: &Path, chain: &[PathBuf], kind: Kind) -> Result<()> {
        if let (Kind::Active, Some(parent)) = (kind, chain.first()) {
            let fs_dir = dir.join("fs");
            fs::remove_dir(&fs_dir).map_err(io_err("removing", &fs_dir))?;
            fsutil::copy_tree(parent, &fs_dir)?;
        }
        Ok(())
    }

    fn plan(&self, _key: &str, dir: &Path, chain: &[PathBuf], kind: Kind) -> Result<Vec<Mount>> {
        Ok(match (kind, chain.first()) {
            (Kind::View, Some(parent)) => vec![Mount::bind(parent, true)],
            _ => vec![Mount::bind(dir.join("fs"), kind == Kind::View)],
        })
    }
}

fn path_str(p: &Path) -> Result<String> {
    match p.to_str() {
        Some(s) if !s.contains([':', ',']) => Ok(s.to_owned()),
        _ => Err(Error::InvalidRoot {
            path: p.to_owned(),
            reason: "overlay paths must be UTF-8 without ':' or ','",
        }),
    }
}

/// A snapshotter rooted at a directory, generic over how snapshots are mounted.
#[derive(Debug)]
pub struct Snapshots<B> {
    root: PathBuf,
    meta: MetaStore,
    backend: B,
}

/// Overlayfs-backed snapshotter.
pub type OverlaySnapshotter = Snapshots<Overlay>;
/// Copying snapshotter for where overlayfs is missing.
pub type CopyingSnapshotter = Snapshots<Copying>;

impl OverlaySnapshotter {
    /// Opens (creating if needed) an overlay snapshotter at `root`. The root must be an absolute
    /// UTF-8 path without `:` or `,` (they would break `lowerdir=`), on a filesystem that can
    /// hold overlay upper dirs (not itself overlayfs).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let index_off = Path::new("/sys/module/overlay/parameters/index").exists();
        Snapshots::with_backend(root.into(), Overlay { index_off })
    }
}

impl CopyingSnapshotter {
    /// Opens (creating if needed) a copying snapshotter at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        Snapshots::with_backend(root.into(), Copying)
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn check_key(key: &str) -> Result<()> {
    let reason = if key.is_empty() {
        "empty"
    } else if key.contains('\0') {
        "contains a NUL byte"
    } else if key.len() > 4096 {
        "longer than 4096 bytes"
    } else {
        return Ok(());
    };
    Err(Error::InvalidKey {
        key: key.to_owned(),
        reason,
    })
}

impl<B: Backend> Snapshots<B> {
    fn with_backend(root: PathBuf, backend: B) -> Result<Self> {
        if !root.is_absolute() {
            return Err(Error::InvalidRoot {
                path: root,
                reason: "must be absolute",
            });
        }
        path_str(&root)?;
        let snaps = root.join("snapshots");
        fs::create_dir_all(&snaps).map_err(io_err("creating", &snaps))?;
        Ok(Snapshots {
            meta: MetaStore::new(&root),
            root,
            backend,
        })
    }

    /// The snapshotter's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn id_dir(&self, id: u64) -> PathBuf {
        self.root.join("snapshots").join(id.to_string())
    }

    fn get<'m>(m: &'m MetaFile, key: &str) -> Result<&'m Record> {
        m.snapshots
            .get(key)
            .ok_or_else(|| Error::NotFound(key.to_owned()))
    }

    /// The committed ancestry of `parent`, as `fs` dirs, nearest first.
    fn chain(&self, m: &MetaFile, parent: Option<&str>) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        let mut cur = parent.map(str::to_owned);
        while let Some(name) = cur {
            let r = Self::get(m, &name)?;
            out.push(self.id_dir(r.id).join("fs"));
            cur = r.parent.clone();
            if out.len() > m.snapshots.len() {
                return Err(Error::InvalidRoot {
                    path: self.root.clone(),
                    reason: "metadata has a parent cycle",
                });
            }
        }
        Ok(out)
    }

    fn create(&self, key: &str, parent: Option<&str>, kind: Kind) -> Result<Vec<Mount>> {
        check_key(key)?;
        let op = if kind == Kind::View {
            "view"
        } else {
            "prepare"
        };
        // 1. Validate and reserve an id.
        let (id, chain) = self.meta.update(|m| {
            if m.snapshots.contains_key(key) {
                return Err(Error::AlreadyExists(key.to_owned()));
            }
            if let Some(p) = parent {
                let r = Self::get(m, p)?;
                if r.kind != Kind::Committed {
                    return Err(Error::WrongKind {
                        key: p.to_owned(),
                        op,
                        expected: Kind::Committed,
                        actual: r.kind,
                    });
                }
            }
            let id = m.next_id;
            m.next_id += 1;
            Ok((id, self.chain(m, parent)?))
        })?;
        // 2. Make the directory (an orphan until recorded).
        let dir = self.id_dir(id);
        let made = fs::create_dir(&dir)
            .map_err(io_err("creating", &dir))
            .and_then(|()| {
                let fs_dir = dir.join("fs");
                fs::create_dir(&fs_dir).map_err(io_err("creating", &fs_dir))
            })
            .and_then(|()| self.backend.populate(&dir, &chain, kind))
            .and_then(|()| self.backend.plan(key, &dir, &chain, kind));
        let plan = match made {
            Ok(plan) => plan,
            Err(e) => {
                let _ = fsutil::remove_all(&dir);
                return Err(e);
            }
        };
        // 3. Record it; the parent may have been removed meanwhile.
        let recorded = self.meta.update(|m| {
            if m.snapshots.contains_key(key) {
                return Err(Error::AlreadyExists(key.to_owned()));
            }
            if let Some(p) = parent {
                Self::get(m, p)?;
            }
            m.snapshots.insert(
                key.to_owned(),
                Record {
                    id,
                    kind,
                    parent: parent.map(str::to_owned),
                    created: now(),
                },
            );
            Ok(())
        });
        if let Err(e) = recorded {
            let _ = fsutil::remove_all(&dir);
            return Err(e);
        }
        Ok(plan)
    }

    /// Removes directories under `snapshots/` that no record points at (left by a crash or a
    /// failed `remove`). Run it only when no other process is preparing snapshots in this root.
    pub fn cleanup(&self) -> Result<Vec<PathBuf>> {
        let m = self.meta.read()?;
        let live: std::collections::HashSet<String> =
            m.snapshots.values().map(|r| r.id.to_string()).collect();
        let snaps = self.root.join("snapshots");
        let mut removed = Vec::new();
        for name in fsutil::sorted_entries(&snaps)? {
            let keep = name.to_str().is_some_and(|n| live.contains(n));
            if !keep {
                let p = snaps.join(&name);
                fsutil::remove_all(&p)?;
                removed.push(p);
            }
        }
        Ok(removed)
    }
}

impl<B: Backend> SnapshotReader for Snapshots<B> {
    fn stat(&self, key: &str) -> Result<Info> {
        let m = self.meta.read()?;
        let r = Self::get(&m, key)?;
        Ok(Info {
            name: key.to_owned(),
            parent: r.parent.clone(),
            kind: r.kind,
            created: r.created,
        })
    }

    fn walk(&self) -> Result<Vec<Info>> {
        let m = self.meta.read()?;
        Ok(m.snapshots
            .iter()
            .map(|(k, r)| Info {
                name: k.clone(),
                parent: r.parent.clone(),
                kind: r.kind,
                created: r.created,
            })
            .collect())
    }

    fn usage(&self, key: &str) -> Result<Usage> {
        let dir = self.dir(key)?;
        fsutil::usage(&dir)
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        let m = self.meta.read()?;
        let r = Self::get(&m, key)?;
        if r.kind == Kind::Committed {
            return Err(Error::WrongKind {
                key: key.to_owned(),
                op: "mounts",
                expected: Kind::Active,
                actual: r.kind,
            });
        }
        let chain = self.chain(&m, r.parent.as_deref())?;
        self.backend.plan(key, &self.id_dir(r.id), &chain, r.kind)
    }
}

impl<B: Backend> SnapshotDirs for Snapshots<B> {
    fn dir(&self, key: &str) -> Result<PathBuf> {
        let m = self.meta.read()?;
        Ok(self.id_dir(Self::get(&m, key)?.id).join("fs"))
    }
}

impl<B: Backend> Snapshotter for Snapshots<B> {
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        self.create(key, parent, Kind::Active)
    }

    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        self.create(key, parent, Kind::View)
    }

    fn commit(&self, name: &str, key: &str) -> Result<()> {
        check_key(name)?;
        self.meta.update(|m| {
            let r = Self::get(m, key)?;
            if r.kind != Kind::Active {
                return Err(Error::WrongKind {
                    key: key.to_owned(),
                    op: "commit",
                    expected: Kind::Active,
                    actual: r.kind,
                });
            }
            if m.snapshots.contains_key(name) {
                return Err(Error::AlreadyExists(name.to_owned()));
            }
            let mut r = m
                .snapshots
                .remove(key)
                .ok_or_else(|| Error::NotFound(key.to_owned()))?;
            r.kind = Kind::Committed;
            r.created = now();
            m.snapshots.insert(name.to_owned(), r);
            Ok(())
        })
    }

    fn remove(&self, key: &str) -> Result<()> {
        let id = self.meta.update(|m| {
            let id = Self::get(m, key)?.id;
            if m.snapshots
                .values()
                .any(|r| r.parent.as_deref() == Some(key))
            {
                return Err(Error::HasChildren(key.to_owned()));
            }
            m.snapshots.remove(key);
            Ok(id)
        })?;
        // The record is gone: move the directory aside, then delete it. A crash here leaves an
        // orphan for `cleanup`.
        let dir = self.id_dir(id);
        let trash = self.root.join("snapshots").join(format!("rm-{id}"));
        match fs::rename(&dir, &trash) {
            Ok(()) => fsutil::remove_all(&trash),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("removing", &dir)(e)),
        }
    }
}
