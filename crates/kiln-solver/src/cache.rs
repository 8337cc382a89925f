//! Cache keys (how a vertex's key is derived from its op and its inputs) and the cache store
//! contract, with an in-memory store.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use kiln_graph::{Digest, OutputIndex};
use serde::{Deserialize, Serialize};

use crate::sync::lock;
use crate::worker::{BoxError, BoxFuture, CacheMap, ContentSelector, ResultRef};

/// The cache key of a vertex: `sha256` over the op's [`CacheMap::digest`] and, per input,
/// the input's cache key (with the output index used) or the checksum of the input content
/// the op selects. See [`CacheKey::compute`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CacheKey(Digest);

impl CacheKey {
    /// Wraps a digest read back from a store.
    pub fn from_digest(digest: Digest) -> CacheKey {
        CacheKey(digest)
    }

    /// The key as a digest.
    pub fn digest(&self) -> &Digest {
        &self.0
    }

    /// The key as text (`sha256:...`).
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Computes a key from the op's cache map and one [`KeyPart`] per input (in input order).
    ///
    /// Canonical form: the SHA-256 of the compact JSON of
    /// `{"v":1,"op":"<cache map digest>","deps":[...]}` where each dep is
    /// `{"key":{"key":"<input key>","output":N,"selector":<digest|null>}}` or
    /// `{"content":{"checksum":"<digest>","selectors":[...],"selector":<digest|null>}}`.
    /// Nothing else enters a key: no vertex metadata, no timestamps, no secret values (the
    /// graph cannot hold them and cache maps must not add them).
    pub fn compute(cache_map: &CacheMap, deps: &[KeyPart]) -> CacheKey {
        #[derive(Serialize)]
        struct Canonical<'a> {
            v: u32,
            op: &'a Digest,
            deps: &'a [KeyPart],
        }
        let bytes = serde_json::to_vec(&Canonical {
            v: 1,
            op: &cache_map.digest,
            deps,
        })
        // Plain data with string keys: serialization cannot fail.
        .unwrap_or_default();
        CacheKey(Digest::of(&bytes))
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({})", self.0.as_str())
    }
}

/// How one input enters its dependent's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyPart {
    /// By definition: the input vertex's key and which of its outputs is used.
    Key {
        key: CacheKey,
        output: OutputIndex,
        selector: Option<Digest>,
    },
    /// By content: the checksum of the selected content of the input.
    Content {
        checksum: Digest,
        selectors: Vec<ContentSelector>,
        selector: Option<Digest>,
    },
}

/// What a cache key maps to: one result per output of the op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRecord {
    /// The results, one per op output, in output order.
    pub results: Vec<ResultRef>,
}

/// The solver's cache: cache key → [`CacheRecord`] (BuildKit's `CacheManager`).
///
/// Contract:
/// - `load` returns `Ok(None)` for a key with no record. The refs of a returned record carry
///   no reference: the solver takes its own with [`crate::ResultRefs::retain`], and treats the
///   record as a miss when that fails (the data was collected since) or when the record does
///   not have one result per output.
/// - `save` records `record` under `key`, replacing any previous record. Keeping the results'
///   data alive from then on (GC roots in the store) is the store's business, not the solver's
///   references: the solver releases its references when the build is done. A store that
///   cannot keep a result may forget the record later; it must never return a record whose
///   results are a different content than was saved.
/// - Errors from either fail the vertex (a store that cannot be read or written is a problem
///   the user must hear about). Both are safe to call concurrently; a `save` racing another
///   `save` of the same key may keep either record.
pub trait CacheStore: Send + Sync + fmt::Debug {
    /// The record stored under `key`, if any.
    fn load<'a>(
        &'a self,
        key: &'a CacheKey,
    ) -> BoxFuture<'a, Result<Option<CacheRecord>, BoxError>>;

    /// Stores `record` under `key`.
    fn save<'a>(
        &'a self,
        key: &'a CacheKey,
        record: &'a CacheRecord,
    ) -> BoxFuture<'a, Result<(), BoxError>>;
}

/// A [`CacheStore`] in memory, for tests and for builds that keep no cache (`--no-cache` with
/// no store). Never fails.
#[derive(Debug, Default)]
pub struct MemoryCacheStore {
    records: Mutex<HashMap<CacheKey, CacheRecord>>,
}

impl MemoryCacheStore {
    /// An empty store.
    pub fn new() -> MemoryCacheStore {
        MemoryCacheStore::default()
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        lock(&self.records).len()
    }

    /// True when it holds no record.
    pub fn is_empty(&self) -> bool {
        lock(&self.records).is_empty()
    }

    /// All keys, sorted.
    pub fn keys(&self) -> Vec<CacheKey> {
        let mut keys: Vec<CacheKey> = lock(&self.records).keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Forgets every record.
    pub fn clear(&self) {
        lock(&self.records).clear();
    }
}

impl CacheStore for MemoryCacheStore {
    fn load<'a>(
        &'a self,
        key: &'a CacheKey,
    ) -> BoxFuture<'a, Result<Option<CacheRecord>, BoxError>> {
        let found = lock(&self.records).get(key).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn save<'a>(
        &'a self,
        key: &'a CacheKey,
        record: &'a CacheRecord,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        lock(&self.records).insert(key.clone(), record.clone());
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_every_part_and_only_on_them() {
        let cm = CacheMap {
            digest: Digest::of(b"op"),
            deps: Vec::new(),
        };
        let base = CacheKey::compute(&cm, &[]);
        assert_eq!(base, CacheKey::compute(&cm, &[]));
        let k = |output| KeyPart::Key {
            key: base.clone(),
            output,
            selector: None,
        };
        let a = CacheKey::compute(&cm, &[k(0)]);
        assert_ne!(a, base);
        assert_ne!(a, CacheKey::compute(&cm, &[k(1)]));
        let c = CacheKey::compute(
            &cm,
            &[KeyPart::Content {
                checksum: base.digest().clone(),
                selectors: vec![ContentSelector {
                    path: "/a".into(),
                    ..ContentSelector::default()
                }],
                selector: None,
            }],
        );
        assert_ne!(a, c);
    }

    /// The canonical form is a compatibility promise: a change invalidates every cache.
    #[test]
    fn golden_keys() {
        let cm = CacheMap {
            digest: Digest::of(b"op"),
            deps: Vec::new(),
        };
        let leaf = CacheKey::compute(&cm, &[]);
        assert_eq!(
            leaf.as_str(),
            "sha256:ac434814a0dae5610f7c99fa6c208214e237a563406567b410f719b4b06b0602"
        );
        let parts = [
            KeyPart::Key {
                key: leaf.clone(),
                output: 0,
                selector: Some(Digest::of(b"/sub")),
            },
            KeyPart::Content {
                checksum: Digest::of(b"content"),
                selectors: vec![ContentSelector {
                    path: "/a.txt".into(),
                    ..ContentSelector::default()
                }],
                selector: None,
            },
        ];
        let top = CacheKey::compute(&cm, &parts);
        assert_eq!(
            top.as_str(),
            "sha256:41a312b329b4144c7dd7d8ea09923235984224512f9f9ff1ab0b1996be30e37f"
        );
        // The documented canonical form.
        let canonical = format!(
            r#"{{"v":1,"op":"{op}","deps":[{{"key":{{"key":"{leaf}","output":0,"selector":"{sub}"}}}},{{"content":{{"checksum":"{sum}","selectors":[{{"path":"/a.txt","wildcard":false,"follow_links":false,"include_patterns":[],"exclude_patterns":[]}}],"selector":null}}}}]}}"#,
            op = cm.digest,
            sub = Digest::of(b"/sub"),
            sum = Digest::of(b"content"),
        );
        assert_eq!(top.digest(), &Digest::of(canonical.as_bytes()));
    }
}
