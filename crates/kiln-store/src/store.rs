//! [`Store`]: one store root on disk (content + `meta.db`), opened once per process, implementing
//! every role trait of the crate.

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

use oci_spec::image::Descriptor;

use crate::content::{Blob, Info, Manager, Provider};
use crate::db::{MetaDb, MetaTxn, MetaView};
use crate::digest::{Algorithm, Digest};
use crate::error::{Error, IoContext, Object, Result};
use crate::fsutil::{FileLock, Wait, ensure_dir, lock_file, sync_dir};
use crate::meta::{
    CacheIndex, CacheRecord, ImageRecord, ImageStore, LabelStore, Lease, LeaseManager,
};

/// How to open a [`Store`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreOptions {
    /// An ingest nobody holds and nobody wrote to for this long is removed when the store is
    /// opened and by [`Store::gc`]. Younger ones stay resumable. Default: 24 hours.
    pub ingest_expiry: Duration,
    /// When another process has the root open, wait for it instead of failing with
    /// [`Error::RootLocked`]. Default: false.
    pub wait_for_lock: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            ingest_expiry: Duration::from_secs(24 * 60 * 60),
            wait_for_lock: false,
        }
    }
}

impl StoreOptions {
    /// Sets [`StoreOptions::ingest_expiry`].
    pub fn ingest_expiry(mut self, expiry: Duration) -> Self {
        self.ingest_expiry = expiry;
        self
    }

    /// Sets [`StoreOptions::wait_for_lock`].
    pub fn wait_for_lock(mut self, wait: bool) -> Self {
        self.wait_for_lock = wait;
        self
    }
}

/// The local store: content-addressed blobs under `<root>/content/` and the metadata database
/// `<root>/meta.db`. See the crate docs for the layout and a worked example.
///
/// Cheap to clone (an `Arc`); every clone is the same store. `Send + Sync`: share it between
/// threads, or move a clone into `spawn_blocking`. Only one process may have a root open at a
/// time (an `flock` on `<root>/lock`, released by the kernel if the process dies).
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.inner.root)
            .finish()
    }
}

pub(crate) struct Inner {
    pub(crate) root: PathBuf,
    pub(crate) blobs: PathBuf,
    pub(crate) ingest: PathBuf,
    pub(crate) opts: StoreOptions,
    pub(crate) meta: MetaDb,
    /// Taken shared by every change that can make a blob reachable (commit with a lease,
    /// metadata updates) and exclusively by GC, so that a blob is never swept between being
    /// committed and being recorded.
    gc_lock: RwLock<()>,
    /// Declared last: dropped after the database is closed.
    _root_lock: FileLock,
}

impl Store {
    /// Opens the store at `root` with default options, creating it if needed.
    pub fn open(root: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(root, StoreOptions::default())
    }

    /// Opens the store at `root`, creating it if needed: takes the root lock, creates missing
    /// directories, opens (or creates) `meta.db`, and removes stale ingests.
    ///
    /// Errors: [`Error::RootLocked`] when another process has it open (unless
    /// [`StoreOptions::wait_for_lock`]), [`Error::SchemaTooNew`] when a newer kiln wrote it.
    pub fn open_with(root: impl AsRef<Path>, opts: StoreOptions) -> Result<Store> {
        let root = root.as_ref().to_path_buf();
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .ctx("creating store root", &root)?;
        let lock_path = root.join("lock");
        let wait = if opts.wait_for_lock {
            Wait::Yes
        } else {
            Wait::No
        };
        let root_lock = lock_file(&lock_path, wait)
            .ctx("locking", &lock_path)?
            .ok_or_else(|| Error::RootLocked { root: root.clone() })?;

        let content = root.join("content");
        let blobs = content.join("blobs");
        let ingest = content.join("ingest");
        ensure_dir(&content)?;
        ensure_dir(&blobs)?;
        for alg in Algorithm::ALL {
            ensure_dir(&blobs.join(alg.as_str()))?;
        }
        ensure_dir(&ingest)?;
        for dir in [&root, &content, &blobs] {
            sync_dir(dir)?;
        }

        let meta = MetaDb::open(root.join("meta.db"), &root)?;
        let store = Store {
            inner: Arc::new(Inner {
                root,
                blobs,
                ingest,
                opts,
                meta,
                gc_lock: RwLock::new(()),
                _root_lock: root_lock,
            }),
        };
        store.remove_stray_ingest_entries()?;
        store.remove_stale_ingests(SystemTime::now(), Duration::ZERO)?;
        Ok(store)
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Runs `f` in one metadata transaction: all its changes land together (durably, before this
    /// returns) if it returns `Ok`, none if it returns `Err`.
    ///
    /// `f` must not call back into the store (it would wait for itself). Safe concurrently:
    /// transactions are serialized.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let store = kiln_store::Store::open(dir.path()).unwrap();
    /// # let (manifest, config) = (kiln_store::Digest::sha256(b"m"), kiln_store::Digest::sha256(b"c"));
    /// store.update(|tx| {
    ///     tx.set_label(&manifest, "containerd.io/gc.ref.content.config", Some(config.as_str()))?;
    ///     tx.create_lease("build-1", None)?;
    ///     tx.add_lease_content("build-1", &manifest)
    /// })?;
    /// # Ok::<(), kiln_store::Error>(())
    /// ```
    pub fn update<T>(&self, f: impl FnOnce(&mut MetaTxn<'_>) -> Result<T>) -> Result<T> {
        let _gc = self.gc_shared();
        self.inner.meta.write(SystemTime::now(), f)
    }

    /// Runs `f` on a consistent read-only snapshot of the metadata. Safe concurrently with
    /// everything, including [`Store::update`].
    pub fn view<T>(&self, f: impl FnOnce(&MetaView<'_>) -> Result<T>) -> Result<T> {
        self.inner.meta.read(f)
    }

    pub(crate) fn gc_shared(&self) -> RwLockReadGuard<'_, ()> {
        // The lock guards no data, so a poisoned lock (a panic elsewhere) is still usable.
        self.inner.gc_lock.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn gc_exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.inner
            .gc_lock
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// `content/blobs/<alg>`.
    pub(crate) fn alg_dir(&self, alg: Algorithm) -> PathBuf {
        self.inner.blobs.join(alg.as_str())
    }

    /// `content/blobs/<alg>/<hex>`: built from a validated digest only.
    pub(crate) fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.alg_dir(digest.algorithm()).join(digest.hex())
    }
}

/// Opens without following a symlink: nothing under `blobs/` is ever a link.
fn open_nofollow(path: &Path) -> io::Result<fs::File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

fn not_found_or(digest: &Digest, op: &'static str, path: &Path, e: io::Error) -> Error {
    // ELOOP: a symlink where a blob should be; not a blob.
    if e.kind() == io::ErrorKind::NotFound
        || e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
    {
        Error::NotFound(Object::Blob(digest.clone()))
    } else {
        Error::io(op, path, e)
    }
}

pub(crate) fn info_from(digest: Digest, meta: &fs::Metadata) -> Info {
    Info {
        digest,
        size: meta.len(),
        committed_at: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    }
}

impl Provider for Store {
    fn open(&self, digest: &Digest) -> Result<Blob> {
        let path = self.blob_path(digest);
        let file = open_nofollow(&path).map_err(|e| not_found_or(digest, "opening", &path, e))?;
        let meta = file.metadata().ctx("inspecting", &path)?;
        if !meta.is_file() {
            return Err(Error::NotFound(Object::Blob(digest.clone())));
        }
        Ok(Blob::new(file, meta.len(), digest.clone(), path))
    }
}

impl Manager for Store {
    fn info(&self, digest: &Digest) -> Result<Info> {
        let path = self.blob_path(digest);
        let meta = fs::symlink_metadata(&path)
            .map_err(|e| not_found_or(digest, "inspecting", &path, e))?;
        if !meta.is_file() {
            return Err(Error::NotFound(Object::Blob(digest.clone())));
        }
        Ok(info_from(digest.clone(), &meta))
    }

    fn walk(&self, f: &mut dyn FnMut(Info) -> Result<()>) -> Result<()> {
        for alg in Algorithm::ALL {
            let dir = self.alg_dir(alg);
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("listing", &dir, e)),
            };
            for entry in entries {
                let entry = entry.ctx("listing", &dir)?;
                let Some(digest) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| Digest::from_hex(alg, n).ok())
                else {
                    continue;
                };
                let meta = match entry.metadata() {
                    Ok(m) => m,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io("inspecting", entry.path(), e)),
                };
                if meta.is_file() {
                    f(info_from(digest, &meta))?;
                }
            }
        }
        Ok(())
    }

    fn delete(&self, digest: &Digest) -> Result<()> {
        let path = self.blob_path(digest);
        fs::remove_file(&path).map_err(|e| not_found_or(digest, "removing", &path, e))
    }
}

impl ImageStore for Store {
    fn image(&self, name: &str) -> Result<ImageRecord> {
        self.view(|v| v.image(name))
    }

    fn put_image(&self, name: &str, target: &Descriptor) -> Result<ImageRecord> {
        self.update(|tx| tx.put_image(name, target))
    }

    fn delete_image(&self, name: &str) -> Result<()> {
        self.update(|tx| tx.delete_image(name))
    }

    fn list_images(&self) -> Result<Vec<ImageRecord>> {
        self.view(|v| v.list_images())
    }
}

impl CacheIndex for Store {
    fn cache_record(&self, key: &str) -> Result<CacheRecord> {
        self.view(|v| v.cache_record(key))
    }

    fn put_cache_record(&self, key: &str, result: &[u8], blobs: &[Digest]) -> Result<CacheRecord> {
        self.update(|tx| tx.put_cache_record(key, result, blobs))
    }

    fn touch_cache_record(&self, key: &str) -> Result<()> {
        self.update(|tx| tx.touch_cache_record(key))
    }

    fn delete_cache_record(&self, key: &str) -> Result<()> {
        self.update(|tx| tx.delete_cache_record(key))
    }

    fn list_cache_records(&self) -> Result<Vec<CacheRecord>> {
        self.view(|v| v.list_cache_records())
    }
}

impl LeaseManager for Store {
    fn create_lease(&self, id: &str, ttl: Option<Duration>) -> Result<Lease> {
        self.update(|tx| tx.create_lease(id, ttl))
    }

    fn lease(&self, id: &str) -> Result<Lease> {
        self.view(|v| v.lease(id))
    }

    fn add_lease_content(&self, id: &str, digest: &Digest) -> Result<()> {
        self.update(|tx| tx.add_lease_content(id, digest))
    }

    fn delete_lease(&self, id: &str) -> Result<()> {
        self.update(|tx| tx.delete_lease(id))
    }

    fn list_leases(&self) -> Result<Vec<Lease>> {
        self.view(|v| v.list_leases())
    }
}

impl LabelStore for Store {
    fn labels(&self, digest: &Digest) -> Result<BTreeMap<String, String>> {
        self.view(|v| v.labels(digest))
    }

    fn set_labels(&self, digest: &Digest, labels: &BTreeMap<String, String>) -> Result<()> {
        self.update(|tx| tx.set_labels(digest, labels))
    }

    fn set_label(&self, digest: &Digest, key: &str, value: Option<&str>) -> Result<()> {
        self.update(|tx| tx.set_label(digest, key, value))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read, Seek, SeekFrom};

    use super::*;
    use crate::content::{WriterOptions, read_blob, write_blob};

    fn put(store: &Store, data: &[u8]) -> Digest {
        write_blob(store, WriterOptions::new("r"), &mut Cursor::new(data))
            .unwrap()
            .digest
    }

    #[test]
    fn a_root_is_open_in_one_place_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(err.is_locked());
        assert_eq!(
            err.to_string(),
            format!("store {}: in use by another process", dir.path().display())
        );
        drop(store);
        Store::open(dir.path()).unwrap();
    }

    #[test]
    fn creates_the_documented_layout() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("nested/root");
        let _store = Store::open(&root).unwrap();
        for p in [
            "lock",
            "meta.db",
            "content/blobs/sha256",
            "content/blobs/sha512",
            "content/ingest",
        ] {
            assert!(root.join(p).exists(), "{p}");
        }
    }

    #[test]
    fn readers_see_size_and_can_read_at_and_seek() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = put(&store, b"0123456789");
        let mut blob = store.open(&d).unwrap();
        assert_eq!((blob.size(), blob.digest()), (10, &d));
        let mut buf = [0u8; 3];
        blob.read_exact_at(&mut buf, 4).unwrap();
        assert_eq!(&buf, b"456");
        blob.seek(SeekFrom::Start(8)).unwrap();
        let mut rest = String::new();
        blob.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "89");
        assert_eq!(store.info(&d).unwrap().size, 10);
        assert!(store.exists(&d).unwrap());
    }

    #[test]
    fn missing_blobs_are_not_found_everywhere() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = Digest::sha256(b"absent");
        let want = format!("blob {d}: not found");
        assert_eq!(store.open(&d).unwrap_err().to_string(), want);
        assert_eq!(store.info(&d).unwrap_err().to_string(), want);
        assert_eq!(store.delete(&d).unwrap_err().to_string(), want);
        assert!(!store.exists(&d).unwrap());
    }

    #[test]
    fn a_symlink_in_place_of_a_blob_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = Digest::sha256(b"secret");
        let outside = dir.path().join("outside");
        fs::write(&outside, b"secret").unwrap();
        std::os::unix::fs::symlink(&outside, store.blob_path(&d)).unwrap();
        assert!(store.open(&d).unwrap_err().is_not_found());
        assert!(store.info(&d).unwrap_err().is_not_found());
    }

    #[test]
    fn walk_lists_blobs_and_skips_strays() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = put(&store, b"a");
        let b = put(&store, b"b");
        fs::write(store.alg_dir(Algorithm::Sha256).join("not-a-digest"), b"").unwrap();
        let mut seen = Vec::new();
        store
            .walk(&mut |info| {
                seen.push(info.digest);
                Ok(())
            })
            .unwrap();
        seen.sort();
        let mut want = vec![a.clone(), b];
        want.sort();
        assert_eq!(seen, want);

        store.delete(&a).unwrap();
        assert!(!store.exists(&a).unwrap());
    }

    #[test]
    fn read_blob_enforces_the_limit_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = put(&store, b"manifest bytes");
        let err = read_blob(&store, &d, 4).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("blob {d}: 14 bytes is more than the limit of 4 bytes")
        );

        let path = store.blob_path(&d);
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        fs::write(&path, b"manifest bytez").unwrap();
        assert!(matches!(
            read_blob(&store, &d, 100).unwrap_err(),
            Error::DigestMismatch { .. }
        ));
    }

    #[test]
    fn store_is_send_sync_and_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Store>();
    }
}
