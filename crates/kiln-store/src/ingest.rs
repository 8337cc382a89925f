//! Ingests: resumable, lockable in-progress writes under `content/ingest/`, and the commit that
//! turns one into a blob.
//!
//! Layout of one ingest, `content/ingest/<sha256 of the reference>/`:
//!
//! - `lock`: `flock`ed by the writer that owns the ingest (released by the kernel on death);
//! - `meta`: JSON `{reference, expected, total, started_at}`, replaced atomically;
//! - `data`: the bytes written so far.
//!
//! An ingest is removed by first renaming its directory to `content/ingest/.trash-…` (atomic:
//! nobody can open it by reference after that) and then deleting the tree; trash left by a crash
//! is deleted when the store is next opened.

use std::fmt;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::content::{
    ContentWriter, Info, Ingest, IngestManager, IngestStatus, Ingester, Manager, WriterOptions,
};
use crate::digest::{Algorithm, Digest, Digester};
use crate::error::{Error, IoContext, Object, Result};
use crate::fsutil::{
    FileLock, Wait, ensure_dir, from_nanos, lock_file, remove_tree, sync_dir, to_nanos,
};
use crate::names::check_ref;
use crate::store::{Store, info_from};

/// Write buffer of one writer.
const BUFFER: usize = 256 * 1024;
/// How many times to retry creating an ingest that is being removed under us.
const CREATE_RETRIES: usize = 64;
/// How often, and how long apart, a writer that does not wait retries a held ingest lock.
const BUSY_RETRIES: usize = 10;
const BUSY_PAUSE: Duration = Duration::from_millis(5);

/// The `meta` file of an ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct IngestMeta {
    reference: String,
    expected: Option<Digest>,
    total: Option<u64>,
    started_at: u64,
}

fn ingest_id(reference: &str) -> String {
    Digest::sha256(reference.as_bytes()).hex().to_owned()
}

fn is_ingest_id(name: &str) -> bool {
    Digest::from_hex(Algorithm::Sha256, name).is_ok()
}

fn read_meta(dir: &Path) -> Result<Option<IngestMeta>> {
    let path = dir.join("meta");
    match fs::read(&path) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("reading", path, e)),
    }
}

fn write_meta(dir: &Path, meta: &IngestMeta) -> Result<()> {
    let tmp = dir.join("meta.tmp");
    let path = dir.join("meta");
    let json = serde_json::to_vec(meta).map_err(|e| Error::Encode {
        object: Object::Ingest(meta.reference.clone()),
        reason: e.to_string(),
    })?;
    fs::write(&tmp, json).ctx("writing", &tmp)?;
    fs::rename(&tmp, &path).ctx("renaming", &tmp)
}

impl Store {
    fn ingest_dir(&self, reference: &str) -> PathBuf {
        self.inner.ingest.join(ingest_id(reference))
    }

    /// Removes an ingest directory whose lock the caller holds: rename to trash, then delete.
    fn retire(&self, dir: &Path, _held: &FileLock) -> Result<()> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("ingest");
        let trash = self.inner.ingest.join(format!(
            ".trash-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        match fs::rename(dir, &trash) {
            Ok(()) => remove_tree(&trash),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("renaming", dir, e)),
        }
    }

    /// Removes everything under `content/ingest/` that is not an ingest directory: trash and
    /// temporary files left by a crash. Only safe while nobody writes, i.e. when opening.
    pub(crate) fn remove_stray_ingest_entries(&self) -> Result<()> {
        let dir = &self.inner.ingest;
        for entry in fs::read_dir(dir).ctx("listing", dir)? {
            let entry = entry.ctx("listing", dir)?;
            let name = entry.file_name();
            if name.to_str().is_some_and(is_ingest_id) {
                continue;
            }
            let path = entry.path();
            let is_dir = entry.file_type().ctx("inspecting", &path)?.is_dir();
            if is_dir {
                remove_tree(&path)?;
            } else {
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("removing", path, e)),
                }
            }
        }
        Ok(())
    }

    /// Whether the ingest in `dir` is stale at `now` (see [`Store::remove_stale_ingests`]), and
    /// the size of its data.
    fn stale(&self, dir: &Path, now: SystemTime, grace: Duration) -> Result<(bool, u64)> {
        let older_than = |m: &fs::Metadata, limit: Duration| {
            let updated = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            now.duration_since(updated).is_ok_and(|age| age >= limit)
        };
        let data = match fs::metadata(dir.join("data")) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("inspecting", dir.join("data"), e)),
        };
        let size = data.as_ref().map_or(0, fs::Metadata::len);
        let stale = match (read_meta(dir)?, &data) {
            (Some(_), Some(data)) => older_than(data, self.inner.opts.ingest_expiry),
            _ if grace.is_zero() => true,
            _ => match fs::metadata(dir) {
                Ok(m) => older_than(&m, grace),
                Err(e) if e.kind() == io::ErrorKind::NotFound => false,
                Err(e) => return Err(Error::io("inspecting", dir, e)),
            },
        };
        Ok((stale, size))
    }

    /// Removes ingests nobody holds that are older than the expiry, or dead (no `meta` or
    /// `data`) and older than `grace` (a writer may be between creating the directory and
    /// locking it; zero is right only while nobody writes). Returns how many were removed and
    /// their bytes.
    ///
    /// Ingests that do not look stale are never locked, not even briefly, so that a writer
    /// opening one is not turned away with [`Error::Locked`] by this sweep.
    pub(crate) fn remove_stale_ingests(
        &self,
        now: SystemTime,
        grace: Duration,
    ) -> Result<(usize, u64)> {
        let root = &self.inner.ingest;
        let mut removed = (0, 0);
        for entry in fs::read_dir(root).ctx("listing", root)? {
            let entry = entry.ctx("listing", root)?;
            if !entry.file_name().to_str().is_some_and(is_ingest_id) {
                continue;
            }
            let dir = entry.path();
            if !self.stale(&dir, now, grace)?.0 {
                continue;
            }
            let lock = match lock_file(&dir.join("lock"), Wait::No) {
                Ok(Some(lock)) => lock,
                Ok(None) => continue, // a writer holds it
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // removed meanwhile
                Err(e) => return Err(Error::io("locking", dir.join("lock"), e)),
            };
            // Check again under the lock: a writer may have resumed it in between.
            let (stale, size) = self.stale(&dir, now, grace)?;
            if stale {
                self.retire(&dir, &lock)?;
                removed.0 += 1;
                removed.1 += size;
            }
        }
        Ok(removed)
    }

    /// Creates (or finds) the ingest directory for `reference` and locks it.
    ///
    /// Without `wait`, a lock held for a moment (by [`IngestManager::abort`] or the stale-ingest
    /// sweep) is retried briefly before answering [`Error::Locked`]; writers hold theirs for the
    /// whole write.
    fn lock_ingest(&self, reference: &str, wait: bool) -> Result<(PathBuf, FileLock)> {
        let dir = self.ingest_dir(reference);
        let lock_path = dir.join("lock");
        let mode = if wait { Wait::Yes } else { Wait::No };
        let mut busy = 0;
        for _ in 0..CREATE_RETRIES {
            ensure_dir(&dir)?;
            match lock_file(&lock_path, mode) {
                Ok(Some(lock)) => return Ok((dir, lock)),
                Ok(None) if busy < BUSY_RETRIES => {
                    busy += 1;
                    std::thread::sleep(BUSY_PAUSE);
                }
                Ok(None) => return Err(Error::Locked(Object::Ingest(reference.into()))),
                // Retired between our mkdir and our open: make it again.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("locking", lock_path, e)),
            }
        }
        Err(Error::Locked(Object::Ingest(reference.into())))
    }

    /// The blob `expected`, if present, checked against the expected size.
    fn present(&self, expected: &Digest, size: Option<u64>) -> Result<Option<Info>> {
        match self.info(expected) {
            Ok(info) => match size {
                Some(size) if size != info.size => Err(Error::SizeMismatch {
                    object: Object::Blob(expected.clone()),
                    expected: size,
                    actual: info.size,
                }),
                _ => Ok(Some(info)),
            },
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Holds `expected` in the lease (if any) and reports whether it is already present, both
    /// under the shared GC lock so a collection cannot fall between the two.
    fn lease_and_check(&self, opts: &WriterOptions) -> Result<Option<Info>> {
        let Some(expected) = &opts.expected else {
            return Ok(None);
        };
        let _gc = self.gc_shared();
        if let Some(lease) = &opts.lease {
            self.inner.meta.write(SystemTime::now(), |tx| {
                tx.add_lease_content(lease, expected)
            })?;
        }
        self.present(expected, opts.size)
    }
}

impl Ingester for Store {
    fn writer(&self, opts: WriterOptions) -> Result<Ingest> {
        check_ref("ingest reference", &opts.reference)?;
        if let Some(lease) = &opts.lease {
            self.view(|v| v.lease(lease))?;
        }
        if let Some(info) = self.lease_and_check(&opts)? {
            return Ok(Ingest::Present(info));
        }
        let (dir, lock) = self.lock_ingest(&opts.reference, opts.wait)?;
        if let Some(expected) = &opts.expected {
            // Another writer may have committed it while we waited for the lock.
            if let Some(info) = self.present(expected, opts.size)? {
                self.retire(&dir, &lock)?;
                return Ok(Ingest::Present(info));
            }
        }
        LocalWriter::open(self.clone(), opts, dir, lock).map(|w| Ingest::Write(Box::new(w)))
    }
}

impl IngestManager for Store {
    fn ingest_status(&self, reference: &str) -> Result<IngestStatus> {
        check_ref("ingest reference", reference)?;
        status_of(&self.ingest_dir(reference))?
            .filter(|s| s.reference == reference)
            .ok_or_else(|| Error::NotFound(Object::Ingest(reference.into())))
    }

    fn list_ingests(&self) -> Result<Vec<IngestStatus>> {
        let root = &self.inner.ingest;
        let mut out = Vec::new();
        for entry in fs::read_dir(root).ctx("listing", root)? {
            let entry = entry.ctx("listing", root)?;
            if entry.file_name().to_str().is_some_and(is_ingest_id) {
                out.extend(status_of(&entry.path())?);
            }
        }
        out.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(out)
    }

    fn abort(&self, reference: &str) -> Result<()> {
        check_ref("ingest reference", reference)?;
        let dir = self.ingest_dir(reference);
        let lock = match lock_file(&dir.join("lock"), Wait::No) {
            Ok(Some(lock)) => lock,
            Ok(None) => return Err(Error::Locked(Object::Ingest(reference.into()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotFound(Object::Ingest(reference.into())));
            }
            Err(e) => return Err(Error::io("locking", dir.join("lock"), e)),
        };
        self.retire(&dir, &lock)
    }
}

/// The status of the ingest in `dir`; `None` when it has no readable `meta` (dead or new).
fn status_of(dir: &Path) -> Result<Option<IngestStatus>> {
    let Some(meta) = read_meta(dir)? else {
        return Ok(None);
    };
    let started_at = from_nanos(meta.started_at);
    let (offset, updated_at) = match fs::metadata(dir.join("data")) {
        Ok(m) => (m.len(), m.modified().unwrap_or(started_at)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (0, started_at),
        Err(e) => return Err(Error::io("inspecting", dir.join("data"), e)),
    };
    Ok(Some(IngestStatus {
        reference: meta.reference,
        offset,
        total: meta.total,
        expected: meta.expected,
        started_at,
        updated_at,
    }))
}

/// The [`ContentWriter`] of a [`Store`].
struct LocalWriter {
    store: Store,
    reference: String,
    expected: Option<Digest>,
    total: Option<u64>,
    lease: Option<String>,
    dir: PathBuf,
    data_path: PathBuf,
    file: BufWriter<File>,
    digester: Digester,
    offset: u64,
    /// Set when a write or flush failed: the file may then hold bytes the digester did not see
    /// (or the reverse), so this writer must not commit. A new writer rehashes from disk.
    failed: bool,
    lock: FileLock,
}

impl fmt::Debug for LocalWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalWriter")
            .field("reference", &self.reference)
            .field("offset", &self.offset)
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl LocalWriter {
    /// Starts or resumes the ingest in `dir`, whose lock is `lock`.
    fn open(
        store: Store,
        opts: WriterOptions,
        dir: PathBuf,
        lock: FileLock,
    ) -> Result<LocalWriter> {
        let algorithm = opts
            .expected
            .as_ref()
            .map_or(Algorithm::Sha256, Digest::algorithm);
        let wanted = IngestMeta {
            reference: opts.reference.clone(),
            expected: opts.expected.clone(),
            total: opts.size,
            started_at: to_nanos(SystemTime::now()),
        };
        // Resume only data that will be verified: same reference, same expected digest and size.
        let resume = opts.expected.is_some()
            && read_meta(&dir)?.is_some_and(|m| {
                m.reference == wanted.reference
                    && m.expected == wanted.expected
                    && m.total == wanted.total
            });
        if !resume {
            write_meta(&dir, &wanted)?;
        }
        let data_path = dir.join("data");
        // A commit that failed after making the data read-only must not block a resume.
        match fs::set_permissions(&data_path, Permissions::from_mode(0o644)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("setting permissions of", &data_path, e)),
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&data_path)
            .ctx("opening", &data_path)?;
        let mut digester = algorithm.digester();
        let mut offset = 0;
        if resume {
            offset = io::copy(&mut file, &mut digester).ctx("reading", &data_path)?;
            if opts.size.is_some_and(|size| offset > size) {
                // Longer than the blob can be: the data is wrong, start over.
                digester = algorithm.digester();
                offset = 0;
            }
        }
        if offset == 0 {
            file.set_len(0).ctx("truncating", &data_path)?;
            io::Seek::rewind(&mut file).ctx("seeking", &data_path)?;
        }
        Ok(LocalWriter {
            store,
            reference: opts.reference,
            expected: opts.expected,
            total: opts.size,
            lease: opts.lease,
            dir,
            data_path,
            file: BufWriter::with_capacity(BUFFER, file),
            digester,
            offset,
            failed: false,
            lock,
        })
    }

    fn object(&self) -> Object {
        match &self.expected {
            Some(d) => Object::Blob(d.clone()),
            None => Object::Ingest(self.reference.clone()),
        }
    }

    /// Deletes the ingest and returns `err` (a failed verification).
    fn discard(&self, err: Error) -> Result<Info> {
        self.store.retire(&self.dir, &self.lock)?;
        Err(err)
    }

    fn commit_inner(mut self) -> Result<Info> {
        if self.failed {
            return Err(Error::WriterFailed(Object::Ingest(self.reference.clone())));
        }
        if let Err(e) = self.file.flush() {
            self.failed = true;
            return Err(Error::io("writing", &self.data_path, e));
        }
        let file = self.file.get_ref();
        file.sync_all().ctx("syncing", &self.data_path)?;
        let on_disk = file.metadata().ctx("inspecting", &self.data_path)?.len();
        if on_disk != self.offset {
            let err = Error::SizeMismatch {
                object: Object::Ingest(self.reference.clone()),
                expected: self.offset,
                actual: on_disk,
            };
            return self.discard(err);
        }
        if let Some(total) = self.total {
            if total != self.offset {
                let err = Error::SizeMismatch {
                    object: self.object(),
                    expected: total,
                    actual: self.offset,
                };
                return self.discard(err);
            }
        }
        let actual = self.digester.current();
        if let Some(expected) = &self.expected {
            if *expected != actual {
                let err = Error::DigestMismatch {
                    expected: expected.clone(),
                    actual,
                };
                return self.discard(err);
            }
        }
        // Blobs are immutable: read-only, mtime = commit time.
        let now = SystemTime::now();
        file.set_permissions(Permissions::from_mode(0o444))
            .ctx("setting permissions of", &self.data_path)?;
        file.set_modified(now)
            .ctx("setting mtime of", &self.data_path)?;

        let target = self.store.blob_path(&actual);
        let info = {
            let _gc = self.store.gc_shared();
            let info = match fs::symlink_metadata(&target) {
                // Another writer of the same content won; ours is a duplicate.
                Ok(m) if m.is_file() && m.len() == self.offset => info_from(actual.clone(), &m),
                found => {
                    match found {
                        Ok(m) if m.is_dir() => remove_tree(&target)?,
                        Ok(_) => {} // a damaged file or a link: the rename replaces it
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(Error::io("inspecting", &target, e)),
                    }
                    fs::rename(&self.data_path, &target).ctx("renaming", &self.data_path)?;
                    sync_dir(&self.store.alg_dir(actual.algorithm()))?;
                    Info {
                        digest: actual.clone(),
                        size: self.offset,
                        committed_at: now,
                    }
                }
            };
            if let Some(lease) = &self.lease {
                self.store
                    .inner
                    .meta
                    .write(now, |tx| tx.add_lease_content(lease, &actual))?;
            }
            info
        };
        self.store.retire(&self.dir, &self.lock)?;
        Ok(info)
    }
}

impl Write for LocalWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("an earlier write to this ingest failed"));
        }
        match self.file.write(buf) {
            Ok(n) => {
                self.digester.update(&buf[..n]);
                self.offset += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush().inspect_err(|_| self.failed = true)
    }
}

impl ContentWriter for LocalWriter {
    fn reference(&self) -> &str {
        &self.reference
    }

    fn offset(&self) -> u64 {
        self.offset
    }

    fn digest(&self) -> Digest {
        self.digester.current()
    }

    fn reset(&mut self) -> Result<()> {
        let path = self.data_path.clone();
        // Swap in a fresh buffer over the same open file and drop the old one *without*
        // flushing it (`into_parts`): its bytes are being discarded anyway.
        let file = self.file.get_ref().try_clone().ctx("reopening", &path)?;
        let old = std::mem::replace(&mut self.file, BufWriter::with_capacity(BUFFER, file));
        drop(old.into_parts());
        let file = self.file.get_mut();
        file.set_len(0).ctx("truncating", &path)?;
        io::Seek::rewind(file).ctx("seeking", &path)?;
        self.digester = self.digester.algorithm().digester();
        self.offset = 0;
        self.failed = false;
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<Info> {
        (*self).commit_inner()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::content::{Provider, read_blob, write_blob};
    use crate::meta::LeaseManager;
    use crate::store::StoreOptions;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    fn writer(store: &Store, opts: WriterOptions) -> Box<dyn ContentWriter> {
        match store.writer(opts).unwrap() {
            Ingest::Write(w) => w,
            Ingest::Present(info) => panic!("unexpectedly present: {info:?}"),
        }
    }

    fn ingest_entries(store: &Store) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&store.inner.ingest)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn commits_a_verified_read_only_blob_and_cleans_up() {
        let (_dir, store) = store();
        let data = b"hello, layer".as_slice();
        let digest = Digest::sha256(data);
        let mut w = writer(
            &store,
            WriterOptions::new("layer-1")
                .expected(digest.clone())
                .size(12),
        );
        w.write_all(data).unwrap();
        assert_eq!(w.offset(), 12);
        assert_eq!(w.digest(), digest);
        let info = w.commit().unwrap();
        assert_eq!((info.digest.clone(), info.size), (digest.clone(), 12));

        let path = store.blob_path(&digest);
        assert!(path.ends_with(format!("content/blobs/sha256/{}", digest.hex())));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o444
        );
        assert_eq!(read_blob(&store, &digest, 100).unwrap(), data);
        assert!(ingest_entries(&store).is_empty());
    }

    #[test]
    fn digest_is_computed_when_not_expected() {
        let (_dir, store) = store();
        let info = write_blob(
            &store,
            WriterOptions::new("config"),
            &mut Cursor::new(b"{}"),
        )
        .unwrap();
        assert_eq!(info.digest, Digest::sha256(b"{}"));
    }

    #[test]
    fn sha512_blobs_live_in_their_own_directory() {
        let (_dir, store) = store();
        let digest = Algorithm::Sha512.digest(b"x");
        write_blob(
            &store,
            WriterOptions::new("x").expected(digest.clone()),
            &mut Cursor::new(b"x"),
        )
        .unwrap();
        assert!(
            store
                .blob_path(&digest)
                .starts_with(store.alg_dir(Algorithm::Sha512))
        );
        assert_eq!(store.open(&digest).unwrap().size(), 1);
    }

    #[test]
    fn digest_mismatch_deletes_the_ingest_and_commits_nothing() {
        let (_dir, store) = store();
        let claimed = Digest::sha256(b"what the registry said");
        let mut w = writer(
            &store,
            WriterOptions::new("layer-x").expected(claimed.clone()),
        );
        w.write_all(b"what the registry sent").unwrap();
        let err = w.commit().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "blob {claimed}: digest mismatch: got {}",
                Digest::sha256(b"what the registry sent")
            )
        );
        assert!(
            !store
                .blob_path(&Digest::sha256(b"what the registry sent"))
                .exists()
        );
        assert!(ingest_entries(&store).is_empty());
    }

    #[test]
    fn size_mismatch_deletes_the_ingest() {
        let (_dir, store) = store();
        let d = Digest::sha256(b"abc");
        let mut w = writer(&store, WriterOptions::new("r").expected(d.clone()).size(4));
        w.write_all(b"abc").unwrap();
        let err = w.commit().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("blob {d}: size mismatch: expected 4 bytes, got 3")
        );
        assert!(ingest_entries(&store).is_empty());
    }

    #[test]
    fn present_blob_is_reported_without_writing() {
        let (_dir, store) = store();
        let d = Digest::sha256(b"abc");
        write_blob(
            &store,
            WriterOptions::new("a").expected(d.clone()),
            &mut Cursor::new(b"abc"),
        )
        .unwrap();
        match store
            .writer(WriterOptions::new("b").expected(d.clone()).size(3))
            .unwrap()
        {
            Ingest::Present(info) => assert_eq!(info.size, 3),
            Ingest::Write(_) => panic!("should be present"),
        }
        // A descriptor that lies about the size of a present blob is an error, not a no-op.
        let err = store
            .writer(WriterOptions::new("b").expected(d).size(9))
            .unwrap_err();
        assert!(matches!(err, Error::SizeMismatch { .. }), "{err}");
        assert!(ingest_entries(&store).is_empty());
    }

    #[test]
    fn same_reference_is_locked_while_a_writer_holds_it() {
        let (_dir, store) = store();
        let first = writer(&store, WriterOptions::new("layer-1"));
        let err = store.writer(WriterOptions::new("layer-1")).unwrap_err();
        assert!(err.is_locked());
        assert_eq!(
            err.to_string(),
            "ingest \"layer-1\": locked by another writer"
        );
        drop(first);
        writer(&store, WriterOptions::new("layer-1"));
    }

    #[test]
    fn a_waiting_writer_sees_the_blob_the_holder_committed() {
        let (_dir, store) = store();
        let data = vec![7u8; 100_000];
        let d = Digest::sha256(&data);
        let opts = WriterOptions::new("layer").expected(d.clone()).wait(true);
        let mut first = writer(&store, opts.clone());
        let waiter = {
            let store = store.clone();
            std::thread::spawn(move || store.writer(opts))
        };
        std::thread::sleep(Duration::from_millis(50));
        first.write_all(&data).unwrap();
        first.commit().unwrap();
        match waiter.join().unwrap().unwrap() {
            Ingest::Present(info) => assert_eq!(info.digest, d),
            Ingest::Write(_) => panic!("the waiter should find the blob"),
        }
        assert!(ingest_entries(&store).is_empty());
    }

    #[test]
    fn dropped_writer_is_resumed_by_the_next_one() {
        let (_dir, store) = store();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let d = Digest::sha256(&data);
        let opts = WriterOptions::new("layer-r")
            .expected(d.clone())
            .size(data.len() as u64);
        let mut w = writer(&store, opts.clone());
        w.write_all(&data[..123_456]).unwrap();
        drop(w);

        let status = store.ingest_status("layer-r").unwrap();
        assert_eq!(
            (status.offset, status.total),
            (123_456, Some(data.len() as u64))
        );
        assert_eq!(status.expected.as_ref(), Some(&d));

        let mut w = writer(&store, opts);
        assert_eq!(w.offset(), 123_456);
        w.write_all(&data[123_456..]).unwrap();
        assert_eq!(w.commit().unwrap().digest, d);
    }

    #[test]
    fn write_blob_resumes_from_a_seekable_source() {
        let (_dir, store) = store();
        let data = vec![3u8; 50_000];
        let d = Digest::sha256(&data);
        let opts = WriterOptions::new("l").expected(d.clone());
        let mut w = writer(&store, opts.clone());
        w.write_all(&data[..10_000]).unwrap();
        drop(w);
        let info = write_blob(&store, opts, &mut Cursor::new(&data)).unwrap();
        assert_eq!((info.digest, info.size), (d, 50_000));
    }

    #[test]
    fn unverifiable_or_different_ingests_restart_from_zero() {
        let (_dir, store) = store();
        let mut w = writer(&store, WriterOptions::new("cfg"));
        w.write_all(b"partial").unwrap();
        drop(w);
        // No expected digest: resumed bytes could never be verified.
        assert_eq!(writer(&store, WriterOptions::new("cfg")).offset(), 0);

        let a = Digest::sha256(b"aaaa");
        let mut w = writer(&store, WriterOptions::new("cfg").expected(a));
        w.write_all(b"aa").unwrap();
        drop(w);
        // Same reference, another expected digest: a different blob.
        let b = Digest::sha256(b"bbbb");
        let mut w = writer(&store, WriterOptions::new("cfg").expected(b.clone()));
        assert_eq!(w.offset(), 0);
        w.write_all(b"bbbb").unwrap();
        assert_eq!(w.commit().unwrap().digest, b);
    }

    #[test]
    fn oversized_leftover_data_is_discarded_on_resume() {
        let (_dir, store) = store();
        let d = Digest::sha256(b"abc");
        let opts = WriterOptions::new("r").expected(d.clone()).size(3);
        drop(writer(&store, opts.clone()));
        fs::write(store.ingest_dir("r").join("data"), b"garbage longer than 3").unwrap();
        let mut w = writer(&store, opts);
        assert_eq!(w.offset(), 0);
        w.write_all(b"abc").unwrap();
        w.commit().unwrap();
    }

    #[test]
    fn reset_discards_buffered_and_written_bytes() {
        let (_dir, store) = store();
        let mut w = writer(&store, WriterOptions::new("r"));
        w.write_all(&vec![1u8; 1_000_000]).unwrap();
        w.write_all(b"still buffered").unwrap();
        w.reset().unwrap();
        assert_eq!(w.offset(), 0);
        w.write_all(b"fresh").unwrap();
        let info = w.commit().unwrap();
        assert_eq!(info.digest, Digest::sha256(b"fresh"));
        assert_eq!(read_blob(&store, &info.digest, 10).unwrap(), b"fresh");
    }

    #[test]
    fn concurrent_writers_of_the_same_content_all_succeed() {
        let (_dir, store) = store();
        let data = vec![42u8; 2_000_000];
        let d = Digest::sha256(&data);
        let threads: Vec<_> = (0..6)
            .map(|i| {
                let (store, data, d) = (store.clone(), data.clone(), d.clone());
                std::thread::spawn(move || {
                    let opts = WriterOptions::new(format!("pull-{i}")).expected(d);
                    write_blob(&store, opts, &mut Cursor::new(data))
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap().unwrap().digest, d);
        }
        assert_eq!(read_blob(&store, &d, u64::MAX).unwrap(), data);
        assert!(ingest_entries(&store).is_empty());
    }

    #[test]
    fn concurrent_writers_of_the_same_reference_take_turns() {
        let (_dir, store) = store();
        let data = vec![9u8; 500_000];
        let d = Digest::sha256(&data);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (store, data, d) = (store.clone(), data.clone(), d.clone());
                std::thread::spawn(move || {
                    let opts = WriterOptions::new("layer-shared").expected(d).wait(true);
                    write_blob(&store, opts, &mut Cursor::new(data))
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap().unwrap().digest, d);
        }
        assert!(ingest_entries(&store).is_empty());
    }

    #[test]
    fn abort_removes_an_ingest_unless_held() {
        let (_dir, store) = store();
        let err = store.abort("nope").unwrap_err();
        assert_eq!(err.to_string(), "ingest \"nope\": not found");
        let mut w = writer(&store, WriterOptions::new("r"));
        w.write_all(b"x").unwrap();
        assert!(store.abort("r").unwrap_err().is_locked());
        drop(w);
        store.abort("r").unwrap();
        assert!(store.ingest_status("r").unwrap_err().is_not_found());
        assert!(store.list_ingests().unwrap().is_empty());
    }

    #[test]
    fn references_that_look_like_paths_are_rejected() {
        let (_dir, store) = store();
        for bad in ["../../etc/passwd", "a/b", "..", ""] {
            let err = store.writer(WriterOptions::new(bad)).unwrap_err();
            assert!(matches!(err, Error::InvalidName { .. }), "{bad:?}: {err}");
        }
        assert!(ingest_entries(&store).is_empty());
    }

    #[test]
    fn list_ingests_reports_every_resumable_write() {
        let (_dir, store) = store();
        for r in ["b", "a"] {
            let mut w = writer(&store, WriterOptions::new(r));
            w.write_all(r.as_bytes()).unwrap();
            drop(w);
        }
        let refs: Vec<_> = store
            .list_ingests()
            .unwrap()
            .into_iter()
            .map(|s| (s.reference, s.offset))
            .collect();
        assert_eq!(refs, [("a".to_string(), 1), ("b".to_string(), 1)]);
    }

    #[test]
    fn opening_removes_stale_and_dead_ingests_and_keeps_young_ones() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            for r in ["old", "young"] {
                let mut w = writer(&store, WriterOptions::new(r));
                w.write_all(b"data").unwrap();
            }
            let old = store.ingest_dir("old").join("data");
            let f = fs::File::options().write(true).open(old).unwrap();
            f.set_modified(SystemTime::now() - Duration::from_secs(7200))
                .unwrap();
            // A crash right after mkdir, and trash from a crash during removal.
            fs::create_dir(store.inner.ingest.join(ingest_id("dead"))).unwrap();
            fs::create_dir_all(store.inner.ingest.join(".trash-x-1-2/sub")).unwrap();
            fs::write(store.inner.ingest.join("stray.tmp"), b"").unwrap();
        }
        let opts = StoreOptions::default().ingest_expiry(Duration::from_secs(3600));
        let store = Store::open_with(dir.path(), opts).unwrap();
        let refs: Vec<_> = store
            .list_ingests()
            .unwrap()
            .into_iter()
            .map(|s| s.reference)
            .collect();
        assert_eq!(refs, ["young"]);
        assert_eq!(ingest_entries(&store), [ingest_id("young")]);
    }

    #[test]
    fn a_lease_holds_what_the_writer_commits() {
        let (_dir, store) = store();
        let err = store
            .writer(WriterOptions::new("r").lease("missing"))
            .unwrap_err();
        assert_eq!(err.to_string(), "lease \"missing\": not found");

        store.create_lease("build", None).unwrap();
        let info = write_blob(
            &store,
            WriterOptions::new("r").lease("build"),
            &mut Cursor::new(b"blob"),
        )
        .unwrap();
        let expected = Digest::sha256(b"other");
        drop(writer(
            &store,
            WriterOptions::new("s")
                .expected(expected.clone())
                .lease("build"),
        ));
        let mut held = store.lease("build").unwrap().content;
        held.sort();
        let mut want = vec![info.digest, expected];
        want.sort();
        assert_eq!(held, want);
    }
}
