//! The snapshotter metadata file: one JSON document, changed under a lock, replaced atomically.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};

use crate::error::io_err;
use crate::snapshotter::Kind;
use crate::{Error, Result};

/// One snapshot's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// Directory number under `snapshots/`.
    pub id: u64,
    pub kind: Kind,
    pub parent: Option<String>,
    pub created: u64,
}

/// The whole metadata document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MetaFile {
    pub version: u32,
    pub next_id: u64,
    pub snapshots: BTreeMap<String, Record>,
}

const VERSION: u32 = 1;

/// Access to `<root>/metadata.json`, serialised by a mutex (threads) and `flock` (processes).
#[derive(Debug)]
pub(crate) struct MetaStore {
    path: PathBuf,
    lock_path: PathBuf,
    mutex: Mutex<()>,
}

impl MetaStore {
    pub fn new(root: &Path) -> Self {
        MetaStore {
            path: root.join("metadata.json"),
            lock_path: root.join("metadata.lock"),
            mutex: Mutex::new(()),
        }
    }

    fn lock(&self, exclusive: bool) -> Result<File> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&self.lock_path)
            .map_err(io_err("opening", &self.lock_path))?;
        let op = if exclusive {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::LockShared
        };
        rustix::fs::flock(&f, op).map_err(io_err("locking", &self.lock_path))?;
        Ok(f)
    }

    fn load(&self) -> Result<MetaFile> {
        match fs::read(&self.path) {
            Ok(bytes) => {
                let m: MetaFile = serde_json::from_slice(&bytes).map_err(|e| Error::Metadata {
                    path: self.path.clone(),
                    source: e,
                })?;
                if m.version != VERSION {
                    return Err(Error::InvalidRoot {
                        path: self.path.clone(),
                        reason: "unknown metadata version",
                    });
                }
                Ok(m)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(MetaFile {
                version: VERSION,
                next_id: 1,
                snapshots: BTreeMap::new(),
            }),
            Err(e) => Err(io_err("reading", &self.path)(e)),
        }
    }

    fn store(&self, m: &MetaFile) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(m).map_err(|e| Error::Metadata {
            path: self.path.clone(),
            source: e,
        })?;
        let tmp = self.path.with_extension("json.tmp");
        let mut f = File::create(&tmp).map_err(io_err("creating", &tmp))?;
        f.write_all(&bytes).map_err(io_err("writing", &tmp))?;
        f.sync_all().map_err(io_err("syncing", &tmp))?;
        drop(f);
        fs::rename(&tmp, &self.path).map_err(io_err("renaming", &tmp))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err("syncing", dir))?;
        }
        Ok(())
    }

    /// A consistent read of the metadata.
    pub fn read(&self) -> Result<MetaFile> {
        let _g = self.mutex.lock().unwrap_or_else(|p| p.into_inner());
        let _l = self.lock(false)?;
        self.load()
    }

    /// Read-modify-write under the exclusive lock; nothing is written if `f` fails.
    pub fn update<T>(&self, f: impl FnOnce(&mut MetaFile) -> Result<T>) -> Result<T> {
        let _g = self.mutex.lock().unwrap_or_else(|p| p.into_inner());
        let _l = self.lock(true)?;
        let mut m = self.load()?;
        let before = m.clone();
        let out = f(&mut m)?;
        if m != before {
            self.store(&m)?;
        }
        Ok(out)
    }
}
