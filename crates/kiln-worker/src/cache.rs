//! `RUN --mount=type=cache` directories under `<root>/cache/mounts`, with BuildKit's sharing
//! modes.
//!
//! Each cache id has instance directories: `<sha256(id)>` and, for private mounts made while
//! it is busy, `<sha256(id)>-<n>`. The id is hashed, never used as a path. An instance is
//! guarded by a read-write lock held for the whole run:
//!
//! - `shared`: instance 0, read lock (any number of runs at once);
//! - `locked`: instance 0, write lock (runs wait for each other and for shared users);
//! - `private`: the first instance whose write lock is free at once, else a new instance.
//!
//! The directories persist across builds and processes; nothing here removes them (`kiln
//! prune` will).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use crate::error::{Error, Result};

/// How concurrent runs share a cache mount (`RUN --mount=type=cache,sharing=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CacheSharing {
    /// Every run uses the same directory at the same time.
    #[default]
    Shared,
    /// A run that finds the directory in use gets a directory of its own.
    Private,
    /// Runs take turns.
    Locked,
}

/// Keeps a cache instance in use until dropped.
#[derive(Debug)]
#[allow(dead_code)] // held for its Drop
pub(crate) enum CacheGuard {
    Shared(OwnedRwLockReadGuard<()>),
    Exclusive(OwnedRwLockWriteGuard<()>),
}

#[derive(Debug)]
pub(crate) struct CacheMounts {
    dir: PathBuf,
    instances: Mutex<HashMap<String, Vec<Arc<RwLock<()>>>>>,
}

impl CacheMounts {
    pub(crate) fn new(dir: PathBuf) -> Self {
        CacheMounts {
            dir,
            instances: Mutex::new(HashMap::new()),
        }
    }

    fn instance(&self, key: &str, n: usize) -> Option<Arc<RwLock<()>>> {
        let mut map = self
            .instances
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let list = map.entry(key.to_owned()).or_default();
        if n > list.len() {
            return None;
        }
        if n == list.len() {
            list.push(Arc::new(RwLock::new(())));
        }
        Some(list[n].clone())
    }

    fn path(&self, key: &str, n: usize) -> PathBuf {
        if n == 0 {
            self.dir.join(key)
        } else {
            self.dir.join(format!("{key}-{n}"))
        }
    }

    /// The directory for cache `id` under `sharing`, and the guard that keeps it ours.
    pub(crate) async fn acquire(
        &self,
        id: &str,
        sharing: CacheSharing,
    ) -> Result<(PathBuf, CacheGuard)> {
        let key = hex(&Sha256::digest(id.as_bytes()));
        let (n, guard) = match sharing {
            CacheSharing::Shared | CacheSharing::Locked => {
                let lock = self.instance(&key, 0).ok_or_else(|| poisoned(id))?;
                let guard = if sharing == CacheSharing::Shared {
                    CacheGuard::Shared(lock.read_owned().await)
                } else {
                    CacheGuard::Exclusive(lock.write_owned().await)
                };
                (0, guard)
            }
            CacheSharing::Private => {
                let mut n = 0;
                loop {
                    let lock = self.instance(&key, n).ok_or_else(|| poisoned(id))?;
                    if let Ok(g) = lock.try_write_owned() {
                        break (n, CacheGuard::Exclusive(g));
                    }
                    n += 1;
                }
            }
        };
        let path = self.path(&key, n);
        std::fs::create_dir_all(&path).map_err(Error::io("creating cache mount", &path))?;
        Ok((path, guard))
    }
}

fn poisoned(id: &str) -> Error {
    Error::Task {
        what: format!("cache mount {id:?}"),
        reason: "instance table out of order".into(),
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn private_mounts_get_their_own_directory_when_busy() {
        let dir = tempfile::tempdir().unwrap();
        let caches = CacheMounts::new(dir.path().to_owned());
        let (a, ga) = caches
            .acquire("go-build", CacheSharing::Private)
            .await
            .unwrap();
        let (b, gb) = caches
            .acquire("go-build", CacheSharing::Private)
            .await
            .unwrap();
        assert_ne!(a, b);
        drop((ga, gb));
        let (c, _gc) = caches
            .acquire("go-build", CacheSharing::Private)
            .await
            .unwrap();
        assert_eq!(a, c);
        let (s1, _g1) = caches.acquire("x", CacheSharing::Shared).await.unwrap();
        let (s2, _g2) = caches.acquire("x", CacheSharing::Shared).await.unwrap();
        assert_eq!(s1, s2);
        assert!(s1.starts_with(dir.path()));
        assert!(!s1.to_string_lossy().contains("/x"));
    }
}
