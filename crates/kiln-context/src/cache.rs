//! The persistent per-context digest cache: path + stat fingerprint → file digest, so an
//! unchanged context is re-hashed with stats only.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::tree::{Fingerprint, Tree};
use crate::{Error, Result};

/// Where a [`crate::Hasher`] keeps file digests between builds.
///
/// Contract: [`lookup`](DigestCache::lookup) returns a digest only when it is safe to reuse
/// for a file whose current fingerprint is `fp` — same path, every fingerprint field equal,
/// and not *racy* (see [`HashCache`]); otherwise `None`, and the caller reads the file.
/// [`record`](DigestCache::record) stores the digest computed from content read at
/// `hashed_at` (the wall-clock time the read started), replacing any older entry for `path`.
/// Neither method fails: a cache is an optimisation, losing it only costs re-reading.
/// Implementations need not be thread-safe: a hasher calls them from one thread.
pub trait DigestCache {
    /// A reusable digest for `path` (context-relative bytes) with fingerprint `fp`.
    fn lookup(&self, path: &[u8], fp: &Fingerprint) -> Option<Digest>;
    /// Remembers `digest` for `path` at fingerprint `fp`, read at `hashed_at`.
    fn record(&mut self, path: &[u8], fp: Fingerprint, hashed_at: (i64, u32), digest: Digest);
}

/// A cache that remembers nothing: every lookup misses.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCache;

impl DigestCache for NoCache {
    fn lookup(&self, _: &[u8], _: &Fingerprint) -> Option<Digest> {
        None
    }
    fn record(&mut self, _: &[u8], _: Fingerprint, _: (i64, u32), _: Digest) {}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    fp: Fingerprint,
    hashed_at: (i64, u32),
    digest: Digest,
}

/// The file-backed [`DigestCache`]: one file per context (see [`HashCache::file_for`]),
/// loaded whole, saved atomically (temp file, fsync, rename) with a SHA-256 trailer. A
/// missing, truncated or corrupt file starts an empty cache (never an error).
///
/// Racy entries: a digest is reused only if the file's mtime and ctime are older than the
/// moment its content was read by more than the timestamp granularity (20 ms; 2 s when both
/// timestamps have zero nanoseconds, as on coarse file systems). A file written in the same
/// tick as it was hashed is re-read next time — the "racily clean" rule of git's index —
/// so a same-size rewrite within one clock tick can never be missed.
#[derive(Debug, Default)]
pub struct HashCache {
    file: Option<PathBuf>,
    entries: HashMap<Vec<u8>, Entry>,
    dirty: bool,
    discarded: bool,
}

const MAGIC: &[u8; 8] = b"KILNCTXC";
const VERSION: u32 = 1;
const FINE_MARGIN_NS: i128 = 20_000_000;
const COARSE_MARGIN_NS: i128 = 2_000_000_000;

impl HashCache {
    /// A cache that lives in memory only.
    pub fn in_memory() -> Self {
        HashCache::default()
    }

    /// The cache file for the context at `context_root` under `cache_dir`:
    /// `<cache_dir>/context-cache/<first 32 hex of sha256(root path)>.db`.
    pub fn file_for(cache_dir: &Path, context_root: &Path) -> PathBuf {
        let abs = fs::canonicalize(context_root).unwrap_or_else(|_| context_root.to_path_buf());
        let key = Digest::of(abs.as_os_str().as_encoded_bytes()).hex();
        cache_dir
            .join("context-cache")
            .join(format!("{}.db", key.get(..32).unwrap_or(&key)))
    }

    /// Loads the cache saved at `file` (an empty cache when there is none or it is corrupt;
    /// [`discarded`](Self::discarded) then says whether a file was thrown away).
    ///
    /// Errors: [`Error::Cache`] only when the file exists but cannot be read.
    pub fn open(file: &Path) -> Result<Self> {
        let mut cache = HashCache {
            file: Some(file.to_path_buf()),
            ..HashCache::default()
        };
        let bytes = match fs::read(file) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(cache),
            Err(source) => {
                return Err(Error::Cache {
                    file: file.to_path_buf(),
                    op: "reading",
                    source,
                });
            }
        };
        match decode(&bytes) {
            Some(entries) => cache.entries = entries,
            None => cache.discarded = true,
        }
        Ok(cache)
    }

    /// True when [`open`](Self::open) found a corrupt file and started empty.
    pub fn discarded(&self) -> bool {
        self.discarded
    }

    /// Number of remembered files.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets files that `tree` shows are gone. Only a full-scope tree (scanned without
    /// include patterns) can say so; for other trees this keeps everything.
    pub fn retain_present(&mut self, tree: &Tree) {
        if !tree.is_full_scope() {
            return;
        }
        let present: std::collections::HashSet<&[u8]> =
            tree.nodes().iter().map(|n| n.raw_path.as_slice()).collect();
        let before = self.entries.len();
        self.entries.retain(|k, _| present.contains(k.as_slice()));
        self.dirty |= self.entries.len() != before;
    }

    /// Writes the cache to its file if anything changed (no-op for an in-memory cache):
    /// temp file in the same directory, fsync, rename over the old file, fsync the
    /// directory. Creates the parent directories.
    ///
    /// Errors: [`Error::Cache`] naming the file and the failed step.
    pub fn save(&mut self) -> Result<()> {
        let Some(file) = self.file.clone() else {
            return Ok(());
        };
        if !self.dirty {
            return Ok(());
        }
        let err = |op: &'static str| {
            let file = file.clone();
            move |source| Error::Cache { file, op, source }
        };
        let dir = file.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(err("creating its directory"))?;
        let tmp = file.with_extension(format!("tmp.{}", std::process::id()));
        let bytes = encode(&self.entries);
        let write = || -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &file)?;
            File::open(dir)?.sync_all()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(err("writing")(e));
        }
        self.dirty = false;
        Ok(())
    }
}

impl DigestCache for HashCache {
    fn lookup(&self, path: &[u8], fp: &Fingerprint) -> Option<Digest> {
        let e = self.entries.get(path)?;
        (e.fp == *fp && !racy(fp, e.hashed_at)).then_some(e.digest)
    }

    fn record(&mut self, path: &[u8], fp: Fingerprint, hashed_at: (i64, u32), digest: Digest) {
        let entry = Entry {
            fp,
            hashed_at,
            digest,
        };
        if self.entries.get(path) != Some(&entry) {
            self.entries.insert(path.to_vec(), entry);
            self.dirty = true;
        }
    }
}

fn ns(t: (i64, u32)) -> i128 {
    i128::from(t.0) * 1_000_000_000 + i128::from(t.1)
}

/// True when the file may have changed within the same timestamp tick as the read.
fn racy(fp: &Fingerprint, hashed_at: (i64, u32)) -> bool {
    let margin = if fp.mtime.1 == 0 && fp.ctime.1 == 0 {
        COARSE_MARGIN_NS
    } else {
        FINE_MARGIN_NS
    };
    ns(fp.mtime).max(ns(fp.ctime)) + margin >= ns(hashed_at)
}

/// The current wall-clock time as (seconds, nanoseconds) since the epoch.
pub(crate) fn now() -> (i64, u32) {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(_) => (0, 0),
    }
}

fn encode(entries: &HashMap<Vec<u8>, Entry>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + entries.len() * 128);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    let mut keys: Vec<&Vec<u8>> = entries.keys().collect();
    keys.sort();
    for key in keys {
        let Some(e) = entries.get(key) else { continue };
        out.extend_from_slice(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(&e.fp.size.to_le_bytes());
        out.extend_from_slice(&e.fp.mtime.0.to_le_bytes());
        out.extend_from_slice(&e.fp.mtime.1.to_le_bytes());
        out.extend_from_slice(&e.fp.ctime.0.to_le_bytes());
        out.extend_from_slice(&e.fp.ctime.1.to_le_bytes());
        out.extend_from_slice(&e.fp.ino.to_le_bytes());
        out.extend_from_slice(&e.fp.mode.to_le_bytes());
        out.extend_from_slice(&e.fp.uid.to_le_bytes());
        out.extend_from_slice(&e.fp.gid.to_le_bytes());
        out.extend_from_slice(&e.hashed_at.0.to_le_bytes());
        out.extend_from_slice(&e.hashed_at.1.to_le_bytes());
        out.extend_from_slice(&e.digest.0);
    }
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn bytes(&mut self, n: usize) -> Option<Vec<u8>> {
        let head = self.0.get(..n)?.to_vec();
        self.0 = self.0.get(n..)?;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }
}

fn decode(bytes: &[u8]) -> Option<HashMap<Vec<u8>, Entry>> {
    let split = bytes.len().checked_sub(32)?;
    let (body, sum) = bytes.split_at(split);
    if Sha256::digest(body).as_slice() != sum {
        return None;
    }
    let mut r = Reader(body);
    if &r.take::<8>()? != MAGIC || r.u32()? != VERSION {
        return None;
    }
    let count = r.u64()?;
    let mut entries = HashMap::new();
    for _ in 0..count {
        let len = usize::try_from(r.u32()?).ok()?;
        let key = r.bytes(len)?;
        let fp = Fingerprint {
            size: r.u64()?,
            mtime: (r.i64()?, r.u32()?),
            ctime: (r.i64()?, r.u32()?),
            ino: r.u64()?,
            mode: r.u32()?,
            uid: r.u32()?,
            gid: r.u32()?,
        };
        let hashed_at = (r.i64()?, r.u32()?);
        let digest = Digest(r.take::<32>()?);
        entries.insert(
            key,
            Entry {
                fp,
                hashed_at,
                digest,
            },
        );
    }
    r.0.is_empty().then_some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(t: i64) -> Fingerprint {
        Fingerprint {
            size: 3,
            mtime: (t, 5),
            ctime: (t, 5),
            ino: 7,
            mode: 0o100644,
            uid: 1,
            gid: 2,
        }
    }

    #[test]
    fn roundtrip_and_corruption() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|source| Error::Cache {
            file: PathBuf::new(),
            op: "tempdir",
            source,
        })?;
        let file = dir.path().join("x/c.db");
        let mut c = HashCache::open(&file)?;
        c.record(b"a/b", fp(100), (200, 0), Digest::of(b"x"));
        c.save()?;
        let c2 = HashCache::open(&file)?;
        assert_eq!(c2.lookup(b"a/b", &fp(100)), Some(Digest::of(b"x")));
        assert_eq!(c2.lookup(b"a/b", &fp(101)), None);
        let mut bytes = fs::read(&file).unwrap_or_default();
        if let Some(b) = bytes.get_mut(20) {
            *b ^= 1;
        }
        fs::write(&file, &bytes).ok();
        let c3 = HashCache::open(&file)?;
        assert!(c3.discarded() && c3.is_empty());
        Ok(())
    }

    #[test]
    fn racy_entries_are_not_trusted() {
        let mut c = HashCache::in_memory();
        // Hashed 5 ms after the last change: racy.
        c.record(b"f", fp(100), (100, 5_000_005), Digest::of(b"x"));
        assert_eq!(c.lookup(b"f", &fp(100)), None);
        c.record(b"f", fp(100), (101, 0), Digest::of(b"x"));
        assert_eq!(c.lookup(b"f", &fp(100)), Some(Digest::of(b"x")));
        // Coarse timestamps need two seconds.
        let coarse = Fingerprint {
            mtime: (100, 0),
            ctime: (100, 0),
            ..fp(0)
        };
        c.record(b"g", coarse, (101, 0), Digest::of(b"y"));
        assert_eq!(c.lookup(b"g", &coarse), None);
        c.record(b"g", coarse, (103, 0), Digest::of(b"y"));
        assert_eq!(c.lookup(b"g", &coarse), Some(Digest::of(b"y")));
    }
}
