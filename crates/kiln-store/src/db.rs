//! The metadata database (`meta.db`, redb): table layout, schema version, and the transaction
//! wrappers [`MetaTxn`] (read-write) and [`MetaView`] (read-only) that keep redb out of the API.
//!
//! Tables (schema version 1):
//!
//! | table           | key              | value                                        |
//! |-----------------|------------------|----------------------------------------------|
//! | `schema`        | `"version"`      | `u64`                                        |
//! | `images`        | name             | (created ns, updated ns, descriptor JSON)    |
//! | `cache`         | cache key        | (created ns, last used ns, result bytes)     |
//! | `cache_blobs`   | cache key        | digest (multimap)                            |
//! | `leases`        | lease id         | (created ns, expires ns or none)             |
//! | `lease_content` | lease id         | digest (multimap)                            |
//! | `labels`        | digest           | JSON object of labels                        |
//!
//! Times are nanoseconds since the Unix epoch. Every write transaction is committed with redb's
//! default durability (fsynced before `commit` returns); redb recovers from a crash at any point
//! by falling back to the last committed transaction.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use oci_spec::image::Descriptor;
use redb::{
    Database, MultimapTableDefinition, ReadTransaction, ReadableMultimapTable, ReadableTable,
    TableDefinition, WriteTransaction,
};

use crate::digest::Digest;
use crate::error::{Error, Object, Result};
use crate::fsutil::{from_nanos, to_nanos};
use crate::gc::Root;
use crate::meta::{CacheRecord, GC_REF_CONTENT_PREFIX, ImageRecord, Lease};
use crate::names::{MAX_KEY_LEN, check_key, check_ref};

/// The schema this build writes and understands.
pub(crate) const SCHEMA_VERSION: u64 = 1;

type ImageValue = (u64, u64, &'static [u8]);
type CacheValue = (u64, u64, &'static [u8]);
type LeaseValue = (u64, Option<u64>);

const SCHEMA: TableDefinition<&str, u64> = TableDefinition::new("schema");
const IMAGES: TableDefinition<&str, ImageValue> = TableDefinition::new("images");
const CACHE: TableDefinition<&str, CacheValue> = TableDefinition::new("cache");
const CACHE_BLOBS: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("cache_blobs");
const LEASES: TableDefinition<&str, LeaseValue> = TableDefinition::new("leases");
const LEASE_CONTENT: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("lease_content");
const LABELS: TableDefinition<&str, &[u8]> = TableDefinition::new("labels");

/// Maps any redb error to [`Error::Db`] naming the database file.
fn db<E: Into<redb::Error>>(path: &Path) -> impl FnOnce(E) -> Error + '_ {
    move |e| Error::Db {
        path: path.to_path_buf(),
        source: Box::new(e.into()),
    }
}

/// The open database.
pub(crate) struct MetaDb {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for MetaDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaDb").field("path", &self.path).finish()
    }
}

impl MetaDb {
    /// Opens (creating if needed) the database, creates missing tables, checks the schema.
    pub(crate) fn open(path: PathBuf, root: &Path) -> Result<MetaDb> {
        let db = redb::Builder::new()
            .create_with_file_format_v3(true)
            .set_cache_size(64 << 20)
            .create(&path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => Error::RootLocked {
                    root: root.to_path_buf(),
                },
                e => db(&path)(e),
            })?;
        let meta = MetaDb { db, path };
        meta.write(SystemTime::now(), |tx| tx.init())?;
        Ok(meta)
    }

    /// Runs `f` in one write transaction: committed (durably) if it returns `Ok`, rolled back
    /// otherwise.
    pub(crate) fn write<T>(
        &self,
        now: SystemTime,
        f: impl FnOnce(&mut MetaTxn<'_>) -> Result<T>,
    ) -> Result<T> {
        let txn = self.db.begin_write().map_err(db(&self.path))?;
        let mut tx = MetaTxn {
            txn: &txn,
            path: &self.path,
            now,
        };
        match f(&mut tx) {
            Ok(v) => {
                txn.commit().map_err(db(&self.path))?;
                Ok(v)
            }
            Err(e) => {
                // Dropping aborts too; an explicit abort reports nothing we could act on.
                let _ = txn.abort();
                Err(e)
            }
        }
    }

    /// Runs `f` on a consistent read-only snapshot.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&MetaView<'_>) -> Result<T>) -> Result<T> {
        let txn = self.db.begin_read().map_err(db(&self.path))?;
        f(&MetaView {
            txn: &txn,
            path: &self.path,
        })
    }
}

// ---- decoding, shared by both transaction kinds ------------------------------------------

fn corrupt(path: &Path, table: &'static str, key: &str, reason: impl ToString) -> Error {
    Error::CorruptRecord {
        path: path.to_path_buf(),
        table,
        key: key.to_owned(),
        reason: reason.to_string(),
    }
}

fn decode_image(
    path: &Path,
    name: &str,
    (created, updated, json): (u64, u64, &[u8]),
) -> Result<ImageRecord> {
    let target: Descriptor =
        serde_json::from_slice(json).map_err(|e| corrupt(path, "images", name, e))?;
    Ok(ImageRecord {
        name: name.to_owned(),
        target,
        created_at: from_nanos(created),
        updated_at: from_nanos(updated),
    })
}

fn get_image(
    path: &Path,
    t: &impl ReadableTable<&'static str, ImageValue>,
    name: &str,
) -> Result<Option<ImageRecord>> {
    match t.get(name).map_err(db(path))? {
        Some(v) => decode_image(path, name, v.value()).map(Some),
        None => Ok(None),
    }
}

fn list_images(
    path: &Path,
    t: &impl ReadableTable<&'static str, ImageValue>,
) -> Result<Vec<ImageRecord>> {
    let mut out = Vec::new();
    for row in t.iter().map_err(db(path))? {
        let (k, v) = row.map_err(db(path))?;
        out.push(decode_image(path, k.value(), v.value())?);
    }
    Ok(out)
}

fn digests_of(
    path: &Path,
    table: &'static str,
    t: &impl ReadableMultimapTable<&'static str, &'static str>,
    key: &str,
) -> Result<Vec<Digest>> {
    let mut out = Vec::new();
    for v in t.get(key).map_err(db(path))? {
        let v = v.map_err(db(path))?;
        out.push(Digest::parse(v.value()).map_err(|e| corrupt(path, table, key, e))?);
    }
    Ok(out)
}

fn get_cache(
    path: &Path,
    t: &impl ReadableTable<&'static str, CacheValue>,
    blobs: &impl ReadableMultimapTable<&'static str, &'static str>,
    key: &str,
) -> Result<Option<CacheRecord>> {
    let Some(v) = t.get(key).map_err(db(path))? else {
        return Ok(None);
    };
    let (created, used, result) = v.value();
    Ok(Some(CacheRecord {
        key: key.to_owned(),
        result: result.to_vec(),
        blobs: digests_of(path, "cache_blobs", blobs, key)?,
        created_at: from_nanos(created),
        last_used: from_nanos(used),
    }))
}

fn list_cache(
    path: &Path,
    t: &impl ReadableTable<&'static str, CacheValue>,
    blobs: &impl ReadableMultimapTable<&'static str, &'static str>,
) -> Result<Vec<CacheRecord>> {
    let mut out = Vec::new();
    for row in t.iter().map_err(db(path))? {
        let (k, v) = row.map_err(db(path))?;
        let (created, used, result) = v.value();
        out.push(CacheRecord {
            key: k.value().to_owned(),
            result: result.to_vec(),
            blobs: digests_of(path, "cache_blobs", blobs, k.value())?,
            created_at: from_nanos(created),
            last_used: from_nanos(used),
        });
    }
    Ok(out)
}

fn make_lease(
    path: &Path,
    content: &impl ReadableMultimapTable<&'static str, &'static str>,
    id: &str,
    (created, expires): (u64, Option<u64>),
) -> Result<Lease> {
    Ok(Lease {
        id: id.to_owned(),
        created_at: from_nanos(created),
        expires_at: expires.map(from_nanos),
        content: digests_of(path, "lease_content", content, id)?,
    })
}

fn get_lease(
    path: &Path,
    t: &impl ReadableTable<&'static str, LeaseValue>,
    content: &impl ReadableMultimapTable<&'static str, &'static str>,
    id: &str,
) -> Result<Option<Lease>> {
    match t.get(id).map_err(db(path))? {
        Some(v) => make_lease(path, content, id, v.value()).map(Some),
        None => Ok(None),
    }
}

fn list_leases(
    path: &Path,
    t: &impl ReadableTable<&'static str, LeaseValue>,
    content: &impl ReadableMultimapTable<&'static str, &'static str>,
) -> Result<Vec<Lease>> {
    let mut out = Vec::new();
    for row in t.iter().map_err(db(path))? {
        let (k, v) = row.map_err(db(path))?;
        out.push(make_lease(path, content, k.value(), v.value())?);
    }
    Ok(out)
}

fn decode_labels(path: &Path, digest: &str, json: &[u8]) -> Result<BTreeMap<String, String>> {
    serde_json::from_slice(json).map_err(|e| corrupt(path, "labels", digest, e))
}

fn get_labels(
    path: &Path,
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    digest: &Digest,
) -> Result<BTreeMap<String, String>> {
    match t.get(digest.as_str()).map_err(db(path))? {
        Some(v) => decode_labels(path, digest.as_str(), v.value()),
        None => Ok(BTreeMap::new()),
    }
}

/// Checks one label; see [`crate::LabelStore::set_labels`] for the rules.
fn check_label(digest: &Digest, key: &str, value: &str) -> Result<()> {
    let bad = |reason: String| Error::InvalidLabel {
        digest: digest.clone(),
        key: key.to_owned(),
        reason,
    };
    check_key("label key", key).map_err(|e| match e {
        Error::InvalidName { reason, .. } => bad(reason.into()),
        e => e,
    })?;
    if value.len() > MAX_KEY_LEN {
        return Err(bad("value longer than 4096 bytes".into()));
    }
    if key.starts_with(GC_REF_CONTENT_PREFIX) {
        Digest::parse(value).map_err(|e| bad(e.to_string()))?;
    }
    Ok(())
}

// ---- the read-only view -------------------------------------------------------------------

/// A consistent read-only snapshot of the metadata (see [`crate::Store::view`]).
pub struct MetaView<'a> {
    txn: &'a ReadTransaction,
    path: &'a Path,
}

impl std::fmt::Debug for MetaView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaView")
            .field("path", &self.path)
            .finish()
    }
}

impl MetaView<'_> {
    /// The image record `name`. Missing: `NotFound`.
    pub fn image(&self, name: &str) -> Result<ImageRecord> {
        let t = self.txn.open_table(IMAGES).map_err(db(self.path))?;
        get_image(self.path, &t, name)?.ok_or_else(|| Error::NotFound(Object::Image(name.into())))
    }

    /// All image records, sorted by name.
    pub fn list_images(&self) -> Result<Vec<ImageRecord>> {
        let t = self.txn.open_table(IMAGES).map_err(db(self.path))?;
        list_images(self.path, &t)
    }

    /// The cache record `key`. Missing: `NotFound`.
    pub fn cache_record(&self, key: &str) -> Result<CacheRecord> {
        let t = self.txn.open_table(CACHE).map_err(db(self.path))?;
        let b = self
            .txn
            .open_multimap_table(CACHE_BLOBS)
            .map_err(db(self.path))?;
        get_cache(self.path, &t, &b, key)?
            .ok_or_else(|| Error::NotFound(Object::CacheRecord(key.into())))
    }

    /// All cache records, sorted by key.
    pub fn list_cache_records(&self) -> Result<Vec<CacheRecord>> {
        let t = self.txn.open_table(CACHE).map_err(db(self.path))?;
        let b = self
            .txn
            .open_multimap_table(CACHE_BLOBS)
            .map_err(db(self.path))?;
        list_cache(self.path, &t, &b)
    }

    /// The lease `id`. Missing: `NotFound`.
    pub fn lease(&self, id: &str) -> Result<Lease> {
        let t = self.txn.open_table(LEASES).map_err(db(self.path))?;
        let c = self
            .txn
            .open_multimap_table(LEASE_CONTENT)
            .map_err(db(self.path))?;
        get_lease(self.path, &t, &c, id)?.ok_or_else(|| Error::NotFound(Object::Lease(id.into())))
    }

    /// All leases, sorted by id.
    pub fn list_leases(&self) -> Result<Vec<Lease>> {
        let t = self.txn.open_table(LEASES).map_err(db(self.path))?;
        let c = self
            .txn
            .open_multimap_table(LEASE_CONTENT)
            .map_err(db(self.path))?;
        list_leases(self.path, &t, &c)
    }

    /// The labels of `digest` (empty when none).
    pub fn labels(&self, digest: &Digest) -> Result<BTreeMap<String, String>> {
        let t = self.txn.open_table(LABELS).map_err(db(self.path))?;
        get_labels(self.path, &t, digest)
    }

    /// Every GC root at `now` with the digests it names directly. Expired leases are not roots.
    pub(crate) fn roots(&self, now: SystemTime) -> Result<Vec<(Root, Vec<Digest>)>> {
        let mut roots = Vec::new();
        for image in self.list_images()? {
            let digest = Digest::try_from(image.target.digest())
                .map_err(|e| corrupt(self.path, "images", &image.name, e))?;
            roots.push((Root::Image(image.name), vec![digest]));
        }
        for rec in self.list_cache_records()? {
            roots.push((Root::Cache(rec.key), rec.blobs));
        }
        for lease in self.list_leases()? {
            if !lease.is_expired(now) {
                roots.push((Root::Lease(lease.id), lease.content));
            }
        }
        Ok(roots)
    }

    /// Ids of the leases expired at `now`.
    pub(crate) fn expired_leases(&self, now: SystemTime) -> Result<Vec<String>> {
        let t = self.txn.open_table(LEASES).map_err(db(self.path))?;
        let now = to_nanos(now);
        let mut ids = Vec::new();
        for row in t.iter().map_err(db(self.path))? {
            let (k, v) = row.map_err(db(self.path))?;
            if v.value().1.is_some_and(|exp| exp <= now) {
                ids.push(k.value().to_owned());
            }
        }
        Ok(ids)
    }

    /// Keys of the `labels` table that are not in `live` (including keys that are not digests).
    pub(crate) fn labels_except(&self, live: &HashSet<Digest>) -> Result<Vec<String>> {
        let t = self.txn.open_table(LABELS).map_err(db(self.path))?;
        let mut dead = Vec::new();
        for row in t.iter().map_err(db(self.path))? {
            let (k, _) = row.map_err(db(self.path))?;
            if !Digest::parse(k.value()).is_ok_and(|d| live.contains(&d)) {
                dead.push(k.value().to_owned());
            }
        }
        Ok(dead)
    }

    /// Every digest with `gc.ref.content` labels → the digests those labels name.
    pub(crate) fn gc_children(&self) -> Result<HashMap<Digest, Vec<Digest>>> {
        let t = self.txn.open_table(LABELS).map_err(db(self.path))?;
        let mut out = HashMap::new();
        for row in t.iter().map_err(db(self.path))? {
            let (k, v) = row.map_err(db(self.path))?;
            let parent =
                Digest::parse(k.value()).map_err(|e| corrupt(self.path, "labels", k.value(), e))?;
            let labels = decode_labels(self.path, k.value(), v.value())?;
            let children: Vec<Digest> = labels
                .iter()
                .filter(|(key, _)| key.starts_with(GC_REF_CONTENT_PREFIX))
                .map(|(_, value)| {
                    Digest::parse(value).map_err(|e| corrupt(self.path, "labels", k.value(), e))
                })
                .collect::<Result<_>>()?;
            if !children.is_empty() {
                out.insert(parent, children);
            }
        }
        Ok(out)
    }
}

// ---- the read-write transaction -----------------------------------------------------------

/// One atomic, durable change to the metadata (see [`crate::Store::update`]). Reads inside it see
/// its own earlier writes. Every method validates its input and names the record in its errors.
pub struct MetaTxn<'a> {
    txn: &'a WriteTransaction,
    path: &'a Path,
    now: SystemTime,
}

impl std::fmt::Debug for MetaTxn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaTxn").field("path", &self.path).finish()
    }
}

impl MetaTxn<'_> {
    /// Creates missing tables and checks (or records) the schema version.
    fn init(&mut self) -> Result<()> {
        let mut schema = self.txn.open_table(SCHEMA).map_err(db(self.path))?;
        let found = schema
            .get("version")
            .map_err(db(self.path))?
            .map(|v| v.value());
        match found {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(Error::SchemaTooNew {
                    path: self.path.to_path_buf(),
                    found: v,
                    supported: SCHEMA_VERSION,
                });
            }
            Some(_) => {}
            None => {
                schema
                    .insert("version", SCHEMA_VERSION)
                    .map_err(db(self.path))?;
            }
        }
        self.txn.open_table(IMAGES).map_err(db(self.path))?;
        self.txn.open_table(CACHE).map_err(db(self.path))?;
        self.txn
            .open_multimap_table(CACHE_BLOBS)
            .map_err(db(self.path))?;
        self.txn.open_table(LEASES).map_err(db(self.path))?;
        self.txn
            .open_multimap_table(LEASE_CONTENT)
            .map_err(db(self.path))?;
        self.txn.open_table(LABELS).map_err(db(self.path))?;
        Ok(())
    }

    /// The image record `name`. Missing: `NotFound`.
    pub fn image(&self, name: &str) -> Result<ImageRecord> {
        let t = self.txn.open_table(IMAGES).map_err(db(self.path))?;
        get_image(self.path, &t, name)?.ok_or_else(|| Error::NotFound(Object::Image(name.into())))
    }

    /// All image records, sorted by name.
    pub fn list_images(&self) -> Result<Vec<ImageRecord>> {
        let t = self.txn.open_table(IMAGES).map_err(db(self.path))?;
        list_images(self.path, &t)
    }

    /// Points `name` at `target`; see [`crate::ImageStore::put_image`].
    pub fn put_image(&mut self, name: &str, target: &Descriptor) -> Result<ImageRecord> {
        check_key("image name", name)?;
        Digest::try_from(target.digest())?;
        let json = serde_json::to_vec(target).map_err(|e| Error::Encode {
            object: Object::Image(name.into()),
            reason: e.to_string(),
        })?;
        let mut t = self.txn.open_table(IMAGES).map_err(db(self.path))?;
        let now = to_nanos(self.now);
        let created = t
            .get(name)
            .map_err(db(self.path))?
            .map_or(now, |v| v.value().0);
        t.insert(name, (created, now, json.as_slice()))
            .map_err(db(self.path))?;
        Ok(ImageRecord {
            name: name.to_owned(),
            target: target.clone(),
            created_at: from_nanos(created),
            updated_at: self.now,
        })
    }

    /// Removes the image record `name`. Missing: `NotFound`.
    pub fn delete_image(&mut self, name: &str) -> Result<()> {
        let mut t = self.txn.open_table(IMAGES).map_err(db(self.path))?;
        let removed = t.remove(name).map_err(db(self.path))?.is_some();
        if removed {
            Ok(())
        } else {
            Err(Error::NotFound(Object::Image(name.into())))
        }
    }

    /// The cache record `key`. Missing: `NotFound`.
    pub fn cache_record(&self, key: &str) -> Result<CacheRecord> {
        let t = self.txn.open_table(CACHE).map_err(db(self.path))?;
        let b = self
            .txn
            .open_multimap_table(CACHE_BLOBS)
            .map_err(db(self.path))?;
        get_cache(self.path, &t, &b, key)?
            .ok_or_else(|| Error::NotFound(Object::CacheRecord(key.into())))
    }

    /// All cache records, sorted by key.
    pub fn list_cache_records(&self) -> Result<Vec<CacheRecord>> {
        let t = self.txn.open_table(CACHE).map_err(db(self.path))?;
        let b = self
            .txn
            .open_multimap_table(CACHE_BLOBS)
            .map_err(db(self.path))?;
        list_cache(self.path, &t, &b)
    }

    /// Stores a cache record; see [`crate::CacheIndex::put_cache_record`].
    pub fn put_cache_record(
        &mut self,
        key: &str,
        result: &[u8],
        blobs: &[Digest],
    ) -> Result<CacheRecord> {
        check_key("cache key", key)?;
        let mut t = self.txn.open_table(CACHE).map_err(db(self.path))?;
        let mut b = self
            .txn
            .open_multimap_table(CACHE_BLOBS)
            .map_err(db(self.path))?;
        let now = to_nanos(self.now);
        let created = t
            .get(key)
            .map_err(db(self.path))?
            .map_or(now, |v| v.value().0);
        t.insert(key, (created, now, result))
            .map_err(db(self.path))?;
        b.remove_all(key).map_err(db(self.path))?;
        for d in blobs {
            b.insert(key, d.as_str()).map_err(db(self.path))?;
        }
        let mut sorted = blobs.to_vec();
        sorted.sort();
        sorted.dedup();
        Ok(CacheRecord {
            key: key.to_owned(),
            result: result.to_vec(),
            blobs: sorted,
            created_at: from_nanos(created),
            last_used: self.now,
        })
    }

    /// Sets the record's `last_used` to now. Missing: `NotFound`.
    pub fn touch_cache_record(&mut self, key: &str) -> Result<()> {
        let mut t = self.txn.open_table(CACHE).map_err(db(self.path))?;
        let row = t.get(key).map_err(db(self.path))?.map(|v| {
            let (created, _, result) = v.value();
            (created, result.to_vec())
        });
        let (created, result) =
            row.ok_or_else(|| Error::NotFound(Object::CacheRecord(key.into())))?;
        t.insert(key, (created, to_nanos(self.now), result.as_slice()))
            .map_err(db(self.path))?;
        Ok(())
    }

    /// Removes the cache record `key`. Missing: `NotFound`.
    pub fn delete_cache_record(&mut self, key: &str) -> Result<()> {
        let mut t = self.txn.open_table(CACHE).map_err(db(self.path))?;
        let mut b = self
            .txn
            .open_multimap_table(CACHE_BLOBS)
            .map_err(db(self.path))?;
        let removed = t.remove(key).map_err(db(self.path))?.is_some();
        b.remove_all(key).map_err(db(self.path))?;
        if removed {
            Ok(())
        } else {
            Err(Error::NotFound(Object::CacheRecord(key.into())))
        }
    }

    /// The lease `id`. Missing: `NotFound`.
    pub fn lease(&self, id: &str) -> Result<Lease> {
        let t = self.txn.open_table(LEASES).map_err(db(self.path))?;
        let c = self
            .txn
            .open_multimap_table(LEASE_CONTENT)
            .map_err(db(self.path))?;
        get_lease(self.path, &t, &c, id)?.ok_or_else(|| Error::NotFound(Object::Lease(id.into())))
    }

    /// All leases, sorted by id.
    pub fn list_leases(&self) -> Result<Vec<Lease>> {
        let t = self.txn.open_table(LEASES).map_err(db(self.path))?;
        let c = self
            .txn
            .open_multimap_table(LEASE_CONTENT)
            .map_err(db(self.path))?;
        list_leases(self.path, &t, &c)
    }

    /// Creates a lease; see [`crate::LeaseManager::create_lease`].
    pub fn create_lease(&mut self, id: &str, ttl: Option<Duration>) -> Result<Lease> {
        check_ref("lease id", id)?;
        let mut t = self.txn.open_table(LEASES).map_err(db(self.path))?;
        if t.get(id).map_err(db(self.path))?.is_some() {
            return Err(Error::AlreadyExists(Object::Lease(id.into())));
        }
        // A ttl too long to represent as a time is taken as "never expires".
        let expires_at = ttl.and_then(|ttl| self.now.checked_add(ttl));
        t.insert(id, (to_nanos(self.now), expires_at.map(to_nanos)))
            .map_err(db(self.path))?;
        Ok(Lease {
            id: id.to_owned(),
            created_at: self.now,
            expires_at,
            content: Vec::new(),
        })
    }

    /// Adds `digest` to the lease `id` (idempotent). Missing lease: `NotFound`.
    pub fn add_lease_content(&mut self, id: &str, digest: &Digest) -> Result<()> {
        let t = self.txn.open_table(LEASES).map_err(db(self.path))?;
        if t.get(id).map_err(db(self.path))?.is_none() {
            return Err(Error::NotFound(Object::Lease(id.into())));
        }
        let mut c = self
            .txn
            .open_multimap_table(LEASE_CONTENT)
            .map_err(db(self.path))?;
        c.insert(id, digest.as_str()).map_err(db(self.path))?;
        Ok(())
    }

    /// Deletes the lease `id`. Missing: `NotFound`.
    pub fn delete_lease(&mut self, id: &str) -> Result<()> {
        let mut t = self.txn.open_table(LEASES).map_err(db(self.path))?;
        let mut c = self
            .txn
            .open_multimap_table(LEASE_CONTENT)
            .map_err(db(self.path))?;
        let removed = t.remove(id).map_err(db(self.path))?.is_some();
        c.remove_all(id).map_err(db(self.path))?;
        if removed {
            Ok(())
        } else {
            Err(Error::NotFound(Object::Lease(id.into())))
        }
    }

    /// The labels of `digest` (empty when none).
    pub fn labels(&self, digest: &Digest) -> Result<BTreeMap<String, String>> {
        let t = self.txn.open_table(LABELS).map_err(db(self.path))?;
        get_labels(self.path, &t, digest)
    }

    /// Replaces the labels of `digest`; see [`crate::LabelStore::set_labels`].
    pub fn set_labels(&mut self, digest: &Digest, labels: &BTreeMap<String, String>) -> Result<()> {
        for (k, v) in labels {
            check_label(digest, k, v)?;
        }
        let mut t = self.txn.open_table(LABELS).map_err(db(self.path))?;
        if labels.is_empty() {
            t.remove(digest.as_str()).map_err(db(self.path))?;
            return Ok(());
        }
        let json = serde_json::to_vec(labels).map_err(|e| Error::Encode {
            object: Object::Blob(digest.clone()),
            reason: e.to_string(),
        })?;
        t.insert(digest.as_str(), json.as_slice())
            .map_err(db(self.path))?;
        Ok(())
    }

    /// Sets (`Some`) or removes (`None`) one label of `digest`.
    pub fn set_label(&mut self, digest: &Digest, key: &str, value: Option<&str>) -> Result<()> {
        let mut labels = self.labels(digest)?;
        match value {
            Some(v) => {
                labels.insert(key.to_owned(), v.to_owned());
            }
            None => {
                labels.remove(key);
            }
        }
        self.set_labels(digest, &labels)
    }

    /// Removes the labels of the given digests (strings as stored).
    pub(crate) fn drop_labels(&mut self, digests: &[String]) -> Result<()> {
        let mut t = self.txn.open_table(LABELS).map_err(db(self.path))?;
        for k in digests {
            t.remove(k.as_str()).map_err(db(self.path))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use oci_spec::image::MediaType;

    use super::*;
    use crate::meta::{CacheIndex, ImageStore, LabelStore, LeaseManager};
    use crate::store::Store;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    fn desc(data: &[u8]) -> Descriptor {
        let d: oci_spec::image::Digest = Digest::sha256(data).as_str().parse().unwrap();
        Descriptor::new(MediaType::ImageManifest, data.len() as u64, d)
    }

    #[test]
    fn image_records_round_trip_and_keep_their_creation_time() {
        let (dir, store) = store();
        let first = store
            .put_image("docker.io/library/app:1", &desc(b"v1"))
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let second = store
            .put_image("docker.io/library/app:1", &desc(b"v2"))
            .unwrap();
        assert_eq!(second.created_at, first.created_at);
        assert!(second.updated_at > first.updated_at);
        store.put_image("a:1", &desc(b"a")).unwrap();
        let names: Vec<_> = store
            .list_images()
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(names, ["a:1", "docker.io/library/app:1"]);

        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let got = store.image("docker.io/library/app:1").unwrap();
        assert_eq!(got.target, desc(b"v2"));
        assert_eq!(got.created_at, first.created_at);

        store.delete_image("a:1").unwrap();
        let err = store.image("a:1").unwrap_err();
        assert_eq!(err.to_string(), "image \"a:1\": not found");
        assert!(store.delete_image("a:1").unwrap_err().is_not_found());
    }

    #[test]
    fn image_targets_must_be_digests_the_store_can_hold() {
        let (_dir, store) = store();
        let d: oci_spec::image::Digest = format!("sha384:{}", "a".repeat(96)).parse().unwrap();
        let err = store
            .put_image("x", &Descriptor::new(MediaType::ImageManifest, 1, d))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidDigest { .. }), "{err}");
        assert!(store.put_image("", &desc(b"x")).is_err());
    }

    #[test]
    fn cache_records_hold_opaque_results_and_blobs() {
        let (_dir, store) = store();
        let blobs = [Digest::sha256(b"l2"), Digest::sha256(b"l1")];
        let put = store
            .put_cache_record("key-1", b"\x00result", &blobs)
            .unwrap();
        let got = store.cache_record("key-1").unwrap();
        assert_eq!(got, put);
        let mut sorted = blobs.to_vec();
        sorted.sort();
        assert_eq!(got.blobs, sorted);
        assert_eq!(got.result, b"\x00result");

        std::thread::sleep(Duration::from_millis(5));
        store.touch_cache_record("key-1").unwrap();
        let touched = store.cache_record("key-1").unwrap();
        assert!(touched.last_used > got.last_used);
        assert_eq!(touched.created_at, got.created_at);

        store
            .put_cache_record("key-1", b"new", &blobs[..1])
            .unwrap();
        assert_eq!(store.cache_record("key-1").unwrap().blobs, &blobs[..1]);
        assert_eq!(store.list_cache_records().unwrap().len(), 1);

        store.delete_cache_record("key-1").unwrap();
        assert_eq!(
            store.touch_cache_record("key-1").unwrap_err().to_string(),
            "cache record \"key-1\": not found"
        );
    }

    #[test]
    fn leases_are_unique_and_hold_digests() {
        let (_dir, store) = store();
        let lease = store
            .create_lease("build-1", Some(Duration::from_secs(60)))
            .unwrap();
        assert!(lease.expires_at.is_some());
        assert!(!lease.is_expired(SystemTime::now()));
        let err = store.create_lease("build-1", None).unwrap_err();
        assert_eq!(err.to_string(), "lease \"build-1\": already exists");
        assert!(store.create_lease("../x", None).is_err());

        let d = Digest::sha256(b"x");
        store.add_lease_content("build-1", &d).unwrap();
        store.add_lease_content("build-1", &d).unwrap();
        assert_eq!(
            store.lease("build-1").unwrap().content,
            std::slice::from_ref(&d)
        );
        assert!(
            store
                .add_lease_content("nope", &d)
                .unwrap_err()
                .is_not_found()
        );

        store.delete_lease("build-1").unwrap();
        assert!(store.lease("build-1").unwrap_err().is_not_found());
        assert!(store.list_leases().unwrap().is_empty());
    }

    #[test]
    fn labels_are_validated_and_replaced() {
        let (_dir, store) = store();
        let m = Digest::sha256(b"manifest");
        let c = Digest::sha256(b"config");
        assert!(store.labels(&m).unwrap().is_empty());
        store
            .set_label(&m, "containerd.io/gc.ref.content.config", Some(c.as_str()))
            .unwrap();
        store.set_label(&m, "org.example/note", Some("hi")).unwrap();
        assert_eq!(store.labels(&m).unwrap().len(), 2);
        store.set_label(&m, "org.example/note", None).unwrap();
        assert_eq!(
            store.labels(&m).unwrap(),
            BTreeMap::from([("containerd.io/gc.ref.content.config".into(), c.to_string())])
        );

        let err = store
            .set_label(&m, "containerd.io/gc.ref.content.l.0", Some("not-a-digest"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "label \"containerd.io/gc.ref.content.l.0\" on blob {m}: invalid digest \
                 \"not-a-digest\": expected algorithm:hex"
            )
        );
        assert!(store.set_label(&m, "bad\nkey", Some("v")).is_err());
        assert_eq!(store.labels(&m).unwrap().len(), 1);

        store.set_labels(&m, &BTreeMap::new()).unwrap();
        assert!(store.labels(&m).unwrap().is_empty());
    }

    #[test]
    fn a_failed_update_changes_nothing() {
        let (_dir, store) = store();
        let err = store
            .update(|tx| {
                tx.put_image("img", &desc(b"m"))?;
                tx.create_lease("l", None)?;
                tx.delete_lease("missing")
            })
            .unwrap_err();
        assert!(err.is_not_found());
        assert!(store.list_images().unwrap().is_empty());
        assert!(store.list_leases().unwrap().is_empty());

        store
            .update(|tx| {
                tx.put_image("img", &desc(b"m"))?;
                assert_eq!(tx.image("img")?.name, "img");
                tx.create_lease("l", None).map(drop)
            })
            .unwrap();
        store
            .view(|v| {
                assert_eq!(v.list_images()?.len(), 1);
                assert_eq!(v.list_leases()?.len(), 1);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        {
            let db = Database::create(dir.path().join("meta.db")).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(SCHEMA)
                .unwrap()
                .insert("version", 99)
                .unwrap();
            txn.commit().unwrap();
        }
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, Error::SchemaTooNew { found: 99, .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .ends_with("schema version 99 is newer than this kiln supports (1)")
        );
    }
}
