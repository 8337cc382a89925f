//! kiln's local store: a crash-safe content-addressed blob store plus one transactional metadata
//! database (images, cache records, leases, labels), with garbage collection, a usage report and
//! `fsck`.
//!
//! # On disk
//!
//! ```text
//! <root>/lock                              flock held by the process that has the store open
//! <root>/meta.db                           redb: images, cache, leases, labels (see below)
//! <root>/content/blobs/sha256/<hex>        committed blobs, read-only (0444), immutable
//! <root>/content/blobs/sha512/<hex>
//! <root>/content/ingest/<sha256(ref)>/     one in-progress write: lock, meta, data
//! ```
//!
//! Every path below the root is built from a validated [`Digest`] (known algorithm, lowercase
//! hex of exact length) or from the sha256 of a validated ingest reference; never from raw input.
//!
//! # Roles
//!
//! [`Store`] implements every role; callers take the narrowest trait they need:
//!
//! | trait | for | methods |
//! |---|---|---|
//! | [`Provider`] | readers (exporters, the differ) | `open` |
//! | [`Ingester`] | writers (pulls, the differ) | `writer` |
//! | [`Manager`] | inspection | `info`, `exists`, `walk`, `delete` |
//! | [`IngestManager`] | `kiln du`, cleanup | `ingest_status`, `list_ingests`, `abort` |
//! | [`ImageStore`] | exporters, `kiln images` | `image`, `put_image`, `delete_image`, `list_images` |
//! | [`CacheIndex`] | the solver | `cache_record`, `put_cache_record`, `touch_…`, `delete_…`, `list_…` |
//! | [`LeaseManager`] | a build or pull in progress | `create_lease`, `add_lease_content`, `delete_lease`… |
//! | [`LabelStore`] | exporters (GC references) | `labels`, `set_labels`, `set_label` |
//!
//! The contracts (missing keys, concurrency, who cleans up) are on the traits: see [`content`]
//! for blobs and ingests and [`meta`] for records and garbage collection. [`Store::update`]
//! groups several metadata changes into one transaction; [`Store::gc`], [`Store::usage`] and
//! [`Store::fsck`] maintain the whole.
//!
//! # Blocking
//!
//! The API is synchronous and does blocking file I/O. Async callers wrap calls in
//! `tokio::task::spawn_blocking(move || …)` with a clone of the [`Store`] (an `Arc`).
//!
//! # Crash safety
//!
//! A `kill -9` at any moment leaves a store the next process opens and uses:
//!
//! - a blob appears under `blobs/` only by `rename` of a fully written, fsynced, verified file,
//!   followed by an fsync of the directory; a partial file never has a blob's name;
//! - metadata changes are redb transactions: all or nothing, durable when they return;
//! - locks are `flock`s, released by the kernel when their process dies;
//! - ingests left behind are resumed by the next writer of the same reference (when it names the
//!   same expected digest, so every resumed byte is verified) or removed once stale;
//! - [`Store::fsck`] re-hashes every blob and can remove bad ones.
//!
//! Order writes content first, metadata second, and hold a lease in between (see [`meta`]).
//!
//! # Example
//!
//! Store a one-layer image, let GC run, read it back:
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::io::Cursor;
//! use kiln_store::{
//!     Digest, FsckOptions, ImageStore, LabelStore, LeaseManager, Provider, Store, WriterOptions,
//!     read_blob, write_blob,
//! };
//! use oci_spec::image::{Descriptor, MediaType};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let root = tempfile::tempdir()?;
//! let store = Store::open(root.path())?;
//!
//! // A lease keeps what the build writes alive until the image record exists.
//! store.create_lease("build-1", Some(std::time::Duration::from_secs(3600)))?;
//!
//! let layer = b"pretend this is a tar.gz".to_vec();
//! let layer_digest = Digest::sha256(&layer);
//! let info = write_blob(
//!     &store,
//!     WriterOptions::new(format!("layer-{layer_digest}"))
//!         .expected(layer_digest.clone())
//!         .size(layer.len() as u64)
//!         .lease("build-1"),
//!     &mut Cursor::new(&layer),
//! )?;
//! assert_eq!(info.size, layer.len() as u64);
//!
//! // A manifest whose digest is not known in advance: it is computed at commit.
//! let manifest = format!(r#"{{"layers":[{{"digest":"{layer_digest}"}}]}}"#).into_bytes();
//! let manifest_info = write_blob(
//!     &store,
//!     WriterOptions::new("manifest-build-1").lease("build-1"),
//!     &mut Cursor::new(&manifest),
//! )?;
//!
//! // The manifest keeps its layer alive through a GC reference label…
//! store.set_labels(
//!     &manifest_info.digest,
//!     &BTreeMap::from([(
//!         "containerd.io/gc.ref.content.l.0".to_string(),
//!         layer_digest.to_string(),
//!     )]),
//! )?;
//! // …and the image record keeps the manifest alive.
//! let target = Descriptor::new(
//!     MediaType::ImageManifest,
//!     manifest_info.size,
//!     manifest_info.digest.as_str().parse::<oci_spec::image::Digest>()?,
//! );
//! store.put_image("docker.io/library/app:1", &target)?;
//! store.delete_lease("build-1")?;
//!
//! // Nothing is garbage: the image reaches both blobs.
//! assert!(store.gc()?.removed.is_empty());
//! assert_eq!(read_blob(&store, &layer_digest, 1 << 20)?, layer);
//! let mut blob = store.open(&manifest_info.digest)?;
//! let mut first = [0u8; 1];
//! blob.read_exact_at(&mut first, 0)?;
//! assert_eq!(&first, b"{");
//!
//! let usage = store.usage()?;
//! assert_eq!(usage.total_bytes, (layer.len() + manifest.len()) as u64);
//! assert_eq!(usage.reclaimable_bytes, 0);
//!
//! // Delete the image and both blobs become garbage.
//! store.delete_image("docker.io/library/app:1")?;
//! assert_eq!(store.gc()?.removed.len(), 2);
//! assert!(store.fsck(FsckOptions::default())?.is_clean());
//! # Ok(())
//! # }
//! ```

pub mod content;
mod db;
mod digest;
mod error;
mod fsck;
mod fsutil;
mod gc;
mod ingest;
pub mod meta;
mod names;
mod store;

pub use content::{
    Blob, ContentWriter, Info, Ingest, IngestManager, IngestStatus, Ingester, Manager, Provider,
    WriterOptions, read_blob, write_blob,
};
pub use db::{MetaTxn, MetaView};
pub use digest::{Algorithm, Digest, Digester};
pub use error::{Error, Object, Result};
pub use fsck::{FsckIssue, FsckOptions, FsckProblem, FsckReport};
pub use gc::{GcReport, RecordUsage, Root, Usage};
pub use meta::{
    CacheIndex, CacheRecord, GC_REF_CONTENT_PREFIX, ImageRecord, ImageStore, LabelStore, Lease,
    LeaseManager,
};
pub use store::{Store, StoreOptions};
