//! The local build context: BuildKit's fsutil (walk, filter, transfer) and
//! `cache/contenthash` (content digests of what COPY/ADD select), for an in-process builder.
//!
//! The flow of one build:
//!
//! 1. [`Tree::scan`] walks the context directory once, stat only, applying `.dockerignore`
//!    ([`ScanOptions::excludes`], subtrees skipped unless a `!` exception may match below)
//!    and the build's COPY/ADD sources as include patterns ([`ScanOptions::includes`]).
//!    Symlinks are recorded, never followed.
//! 2. A [`Hasher`] computes each COPY/ADD source's digest ([`Selector`]) for the cache key.
//!    Only files the selector covers are considered, and only those whose stat fingerprint
//!    changed since the last build are read ([`HashCache`], persisted per context). A no-op
//!    rebuild of a large context is a walk of `lstat`s.
//! 3. When a step must run, [`Tree::sync_to`] materialises the tree into the local source's
//!    snapshot directory, rewriting only what changed since the previous sync.
//! 4. A context given as a tar stream is first unpacked with [`extract_tar`].
//!
//! ```no_run
//! use kiln_context::{HashCache, Hasher, ScanOptions, Selector, Tree};
//! # fn main() -> Result<(), kiln_context::Error> {
//! let opts = ScanOptions { excludes: vec!["*.log".into()], includes: vec!["src".into()] };
//! let tree = Tree::scan("/work/app".as_ref(), &opts)?;
//! let file = HashCache::file_for("/var/lib/kiln".as_ref(), "/work/app".as_ref());
//! let mut hasher = Hasher::new(&tree, HashCache::open(&file)?);
//! let digest = hasher.checksum(&Selector::copy_source("src"))?;
//! println!("{digest}");
//! let mut cache = hasher.into_cache();
//! cache.retain_present(&tree);
//! cache.save()?;
//! # Ok(()) }
//! ```
//!
//! Invariants: no file content is read for a path outside the selection being hashed or
//! synced; nothing is read or written outside the context root and the sync target (every
//! access is fd-relative with `O_NOFOLLOW` or `openat2(RESOLVE_BENEATH | NO_SYMLINKS)`);
//! a corrupt or lost hash cache costs re-reading, never a wrong digest.
//!
//! Deliberate differences from BuildKit: a plain file selected together with include/exclude
//! patterns is covered by its digest (BuildKit's iteration skips it and hashes nothing); a
//! missing plain path is an error even with patterns; a missing source that `.dockerignore`
//! excluded says so ([`Error::Excluded`]).
//!
//! Fidelity: file, symlink and directory digests equal BuildKit's byte for byte (checked
//! against the golden vectors of BuildKit's `cache/contenthash` tests); wildcard and pattern
//! selections combine their matches as BuildKit did up to its 2024 releases (newer releases
//! changed that combining). Cache keys are kiln's own, so this only matters for reasoning.
//!
//! Digests follow BuildKit's record layout (tarsum-v1 header without mtime and owners, then
//! content; directories as the Merkle combination of `"\0"+header` and `"\0"+name+digest` per
//! child), so they are stable across runs and machines and change exactly when a selected
//! file's content, permission bits, type, symlink target or xattr names change.

mod cache;
mod checksum;
mod digest;
mod error;
mod glob;
mod sync;
mod tarball;
mod tree;

pub use cache::{DigestCache, HashCache, NoCache};
pub use checksum::{HashStats, Hasher, Selector};
pub use digest::Digest;
pub use error::{Error, Result};
pub use sync::SyncStats;
pub use tarball::extract_tar;
pub use tree::{Fingerprint, Kind, Meta, Node, ScanOptions, Tree};
