//! kiln's in-process builder (BuildKit's `control` + `llbsolver` bridge): a Dockerfile becomes
//! an image on this machine.
//!
//! ```text
//! BuildRequest ─▶ Builder::build
//!   per platform: kiln_frontend::convert (base images through WorkerResolver)
//!   one Solver (shared by the platforms) over BuildWorker + StoreCache
//!     BuildWorker: docker-image → Worker::pull_image (key: manifest digest)
//!                  local://     → kiln_context scan; COPY keyed by content checksums
//!                  exec         → Worker::run (logs to the vertex), file → kiln_fileop
//!                  merge        → Worker::merge
//!   layers: lineage of the result snapshot, each layer indexed once (layer:<snapshot>)
//!   outputs: commit_image → oci/docker layout, image store (+ push), local/tar rootfs
//! ```
//!
//! - [`BuildWorker`] implements kiln-solver's `Worker` roles; [`StoreCache`] its `CacheStore`
//!   over kiln-store's cache index (so a second process finds the first one's results);
//!   [`WorkerResolver`] the frontend's `ImageMetaResolver`.
//! - A build holds a store lease from its first pull to its last export, so GC keeps the
//!   blobs it needs; layer records (`layer:<snapshot>`) keep exported layer blobs alive and
//!   make a cached rebuild produce the same image.
//!
//! Invariant: a change to a context file that no `COPY`/`ADD` selects changes no cache key:
//! context inputs are keyed by the checksum of exactly what each step selects.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod adapter;
mod build;
mod cache;
mod error;
mod export;
mod http;
mod layers;
mod local;
mod progress;
mod refs;
mod resolver;

pub use adapter::BuildWorker;
pub use build::{BuildRequest, BuildResult, Builder};
pub use cache::StoreCache;
pub use error::{Error, Result};
pub use resolver::WorkerResolver;

pub use kiln_worker::{MemorySecrets, NoSecrets, SecretStore, WorkerConfig};
