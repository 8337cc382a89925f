//! The metadata database's contract: role traits ([`ImageStore`], [`CacheIndex`],
//! [`LeaseManager`], [`LabelStore`]) and their record types.
//!
//! # Terms
//!
//! - An **image record** names a root descriptor (`docker.io/library/app:1` → an index or
//!   manifest descriptor). It keeps that blob, and everything reachable from it, alive.
//! - A **cache record** maps a solver cache key to an opaque result (bytes the solver encodes)
//!   plus the digests of the blobs the result needs. It keeps those blobs alive.
//! - A **lease** is a temporary root held while a build or pull runs: the blobs added to it
//!   survive garbage collection until the lease is deleted or expires.
//! - **Labels** are string pairs attached to a digest. Labels whose key starts with
//!   [`GC_REF_CONTENT_PREFIX`] (containerd's `containerd.io/gc.ref.content.*`, e.g.
//!   `containerd.io/gc.ref.content.config`, `…l.0`, `…m.1`) name a child digest: a manifest
//!   labelled with its config and layers keeps them alive as long as it is alive itself.
//!
//! # Garbage collection in one paragraph
//!
//! The roots are every image record's target, every cache record's blobs, and the content of
//! every unexpired lease. A blob is live when a root reaches it through `gc.ref.content` labels.
//! [`crate::Store::gc`] deletes expired leases, then every blob that is not live, then the labels of
//! digests that are not live. So: **hold a lease from the moment you start writing until a record
//! references what you wrote**, then delete the lease. Order writes content first, metadata
//! second: commit a blob (durable once commit returns) before writing a record or label naming it.
//!
//! # Concurrency
//!
//! Every method is safe to call from many threads. Each call is one transaction (atomic and, on
//! return, durable); reads see a consistent snapshot; writers are serialized. Several changes
//! that must land together go through one [`crate::Store::update`]. Missing keys give
//! [`Error::NotFound`](crate::Error::NotFound), except [`LabelStore::labels`], which returns an
//! empty map.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use oci_spec::image::Descriptor;

use crate::digest::Digest;
use crate::error::Result;

/// Prefix of label keys whose value is a digest the labelled blob references (containerd's).
pub const GC_REF_CONTENT_PREFIX: &str = "containerd.io/gc.ref.content";

/// A named image: its root descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRecord {
    /// The name (`docker.io/library/app:1`).
    pub name: String,
    /// The root descriptor (index or manifest).
    pub target: Descriptor,
    /// When the name was first stored.
    pub created_at: SystemTime,
    /// When the name was last pointed at a target.
    pub updated_at: SystemTime,
}

/// A cache key's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRecord {
    /// The solver's cache key.
    pub key: String,
    /// The result, opaque to the store.
    pub result: Vec<u8>,
    /// The blobs the result needs, kept alive by this record.
    pub blobs: Vec<Digest>,
    /// When the record was first stored.
    pub created_at: SystemTime,
    /// When it was last stored or [touched](CacheIndex::touch_cache_record).
    pub last_used: SystemTime,
}

/// A temporary GC root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The id.
    pub id: String,
    /// When it was created.
    pub created_at: SystemTime,
    /// When it stops protecting its content; `None` for never.
    pub expires_at: Option<SystemTime>,
    /// The digests it holds, sorted.
    pub content: Vec<Digest>,
}

impl Lease {
    /// Whether the lease has expired at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// Named images. Implemented by [`crate::Store`].
pub trait ImageStore: Send + Sync {
    /// The record for `name`. Missing: `NotFound` with [`crate::Object::Image`].
    fn image(&self, name: &str) -> Result<ImageRecord>;

    /// Points `name` at `target`, creating the record or updating it (keeping `created_at`).
    /// The target blob should already be committed (content first, metadata second).
    fn put_image(&self, name: &str, target: &Descriptor) -> Result<ImageRecord>;

    /// Removes the record. Missing: `NotFound`. Its blobs become collectable unless something
    /// else reaches them.
    fn delete_image(&self, name: &str) -> Result<()>;

    /// All records, sorted by name.
    fn list_images(&self) -> Result<Vec<ImageRecord>>;
}

/// The solver's cache: key → result. Implemented by [`crate::Store`].
pub trait CacheIndex: Send + Sync {
    /// The record for `key`. Missing: `NotFound` with [`crate::Object::CacheRecord`].
    fn cache_record(&self, key: &str) -> Result<CacheRecord>;

    /// Stores `result` and the blobs it needs under `key`, replacing any record there (its
    /// `created_at` is kept). The blobs should already be committed.
    fn put_cache_record(&self, key: &str, result: &[u8], blobs: &[Digest]) -> Result<CacheRecord>;

    /// Sets `last_used` to now (for LRU pruning). Missing: `NotFound`.
    fn touch_cache_record(&self, key: &str) -> Result<()>;

    /// Removes the record. Missing: `NotFound`.
    fn delete_cache_record(&self, key: &str) -> Result<()>;

    /// All records, sorted by key.
    fn list_cache_records(&self) -> Result<Vec<CacheRecord>>;
}

/// Temporary GC roots. Implemented by [`crate::Store`].
pub trait LeaseManager: Send + Sync {
    /// Creates a lease that expires after `ttl` (never, for `None`). The id follows the rules of
    /// ingest references. Existing id: `AlreadyExists` with [`crate::Object::Lease`].
    fn create_lease(&self, id: &str, ttl: Option<Duration>) -> Result<Lease>;

    /// The lease `id`, expired or not. Missing: `NotFound`.
    fn lease(&self, id: &str) -> Result<Lease>;

    /// Adds a digest to the lease (idempotent). Missing lease: `NotFound`. Once this returns, the
    /// blob, if present now, is not collected while the lease lives.
    fn add_lease_content(&self, id: &str, digest: &Digest) -> Result<()>;

    /// Deletes the lease; its content becomes collectable. Missing: `NotFound`.
    fn delete_lease(&self, id: &str) -> Result<()>;

    /// All leases (expired ones too, until the next GC), sorted by id.
    fn list_leases(&self) -> Result<Vec<Lease>>;
}

/// Labels on digests. Implemented by [`crate::Store`].
pub trait LabelStore: Send + Sync {
    /// The labels of `digest`; an empty map when it has none (never `NotFound`).
    fn labels(&self, digest: &Digest) -> Result<BTreeMap<String, String>>;

    /// Replaces all labels of `digest`; an empty map removes them. Keys: non-empty, at most 4096
    /// bytes, no control characters; values at most 4096 bytes; values of
    /// [`GC_REF_CONTENT_PREFIX`] keys must be digests. A bad label: `InvalidLabel`, nothing stored.
    fn set_labels(&self, digest: &Digest, labels: &BTreeMap<String, String>) -> Result<()>;

    /// Sets (`Some`) or removes (`None`) one label, leaving the others.
    fn set_label(&self, digest: &Digest, key: &str, value: Option<&str>) -> Result<()>;
}
