//! The content-addressed DAG solver (BuildKit's `solver` package): walks a
//! [`kiln_graph::Definition`], computes a cache key per vertex, runs what the cache does not
//! have — each distinct vertex once, independent vertices in parallel — and reports progress.
//!
//! ```text
//! Definition ──▶ Solver::solve ──▶ per vertex: OpResolver::handler
//!                                    key:    OpHandler::cache_map + inputs' keys
//!                                            (or ContentHasher::content_checksum of inputs)
//!                                    result: CacheStore::load ─hit─▶ done (CACHED)
//!                                            └miss▶ inputs' results ▶ OpHandler::exec ▶ save
//! ```
//!
//! - [`Worker`] is the contract with whoever runs ops (`kiln-worker`): small role traits
//!   ([`OpResolver`], [`OpHandler`], [`ResultRefs`], [`ContentHasher`]) with their rules on
//!   them. Results are opaque [`ResultRef`] handles the worker owns.
//! - [`CacheStore`] maps [`CacheKey`]s to [`CacheRecord`]s; [`MemoryCacheStore`] keeps them in
//!   memory.
//! - [`Solver`] is shared by every build of a builder so that identical vertices requested by
//!   several builds, targets or platforms at once run once (by digest and by cache key).
//!
//! Invariant: the solver knows nothing about containers, Dockerfiles or images: it sees ops
//! only as digests and definitions to hand to the worker.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod cache;
mod error;
mod progress;
mod solver;
mod sync;
mod worker;

pub use cache::{CacheKey, CacheRecord, CacheStore, KeyPart, MemoryCacheStore};
pub use error::{Phase, SolveError};
pub use solver::{Solver, SolverOptions};
pub use worker::{
    BlobInfo, BoxError, BoxFuture, CacheMap, ContentHasher, ContentSelector, DepCacheMap,
    OpContext, OpHandler, OpResolver, ResultRef, ResultRefs, Worker,
};
