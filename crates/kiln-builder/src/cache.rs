//! [`StoreCache`]: the solver's cache records kept in kiln-store's [`CacheIndex`], across builds
//! and processes.

use std::fmt;

use kiln_solver::{BoxError, BoxFuture, CacheKey, CacheRecord, CacheStore};
use kiln_store::{CacheIndex, Digest, Store};
use kiln_worker::{SnapshotRef, Worker};

use crate::refs::{RefKind, kind_of};

/// The solver's [`CacheStore`] over the worker's store.
///
/// Records are the JSON of [`CacheRecord`] under the cache key. A record naming a snapshot
/// that no longer exists (pruned) is deleted and reported as a miss. Results of local context
/// sources are never recorded: their key is per build session and they name no snapshot.
pub struct StoreCache {
    worker: Worker,
}

impl fmt::Debug for StoreCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreCache").finish_non_exhaustive()
    }
}

impl StoreCache {
    /// A cache over `worker`'s store and snapshots.
    pub fn new(worker: Worker) -> StoreCache {
        StoreCache { worker }
    }
}

fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BoxError> + Send + 'static,
) -> BoxFuture<'static, Result<T, BoxError>> {
    Box::pin(async move {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| -> BoxError { format!("cache store task failed: {e}").into() })?
    })
}

impl CacheStore for StoreCache {
    fn load<'a>(
        &'a self,
        key: &'a CacheKey,
    ) -> BoxFuture<'a, Result<Option<CacheRecord>, BoxError>> {
        Box::pin(async move {
            let store: Store = self.worker.store().clone();
            let k = key.to_string();
            let found = blocking(move || match store.cache_record(&k) {
                Ok(r) => Ok(Some(r.result)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e.into()),
            })
            .await?;
            let Some(bytes) = found else {
                return Ok(None);
            };
            let Ok(record) = serde_json::from_slice::<CacheRecord>(&bytes) else {
                tracing::warn!("cache record {key} is unreadable; ignoring it");
                return Ok(None);
            };
            for r in &record.results {
                if let RefKind::Snapshot(name) = kind_of(r) {
                    if !self.worker.snapshot_exists(&SnapshotRef::new(name)).await? {
                        let store = self.worker.store().clone();
                        let k = key.to_string();
                        blocking(move || {
                            let _ = store.delete_cache_record(&k);
                            Ok(())
                        })
                        .await?;
                        return Ok(None);
                    }
                }
            }
            let store = self.worker.store().clone();
            let k = key.to_string();
            blocking(move || {
                if let Err(e) = store.touch_cache_record(&k) {
                    tracing::debug!("touching cache record {k}: {e}");
                }
                Ok(())
            })
            .await?;
            Ok(Some(record))
        })
    }

    fn save<'a>(
        &'a self,
        key: &'a CacheKey,
        record: &'a CacheRecord,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        if record
            .results
            .iter()
            .any(|r| matches!(kind_of(r), RefKind::Local { .. }))
        {
            return Box::pin(async { Ok(()) });
        }
        let store = self.worker.store().clone();
        let k = key.to_string();
        let bytes = serde_json::to_vec(record);
        let blobs: Vec<Digest> = record
            .results
            .iter()
            .filter_map(|r| r.blob.as_ref())
            .filter_map(|b| b.digest.parse::<Digest>().ok())
            .collect();
        blocking(move || {
            let bytes = bytes?;
            store.put_cache_record(&k, &bytes, &blobs)?;
            Ok(())
        })
    }
}
