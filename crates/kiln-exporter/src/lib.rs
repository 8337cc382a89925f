//! kiln's exporters: layers, image assembly and every build output (BuildKit's `exporter/`).
//!
//! # The path of an export
//!
//! ```text
//! differ (kiln-snapshot) ── uncompressed layer tar ──► compress_layer ──► Layer (blob + diffID)
//! base image layers (pulled blobs) ──────────────────► convert_layer ──► Layer
//! frontend's image config + Layers per platform ─────► commit_image ───► CommittedImage
//!   CommittedImage ─► record_image (type=image) · push_plan (push=true)
//!                  ─► write_layout_tar / write_layout_dir (type=oci, type=docker)
//!                  ─► load_into_docker (--load)
//!                  ─► metadata (--metadata-file)
//! final rootfs dir ─► export_local (type=local) · write_rootfs_tar (type=tar)
//! ```
//!
//! Exporter attributes (`-o type=…,key=value`) are validated by [`OutputOptions::from_attrs`].
//!
//! # Roles it needs from the store
//!
//! Functions take the narrowest `kiln-store` traits: [`Ingester`](kiln_store::Ingester) to
//! write layers, [`Provider`](kiln_store::Provider) to read blobs back for tarballs,
//! [`LabelStore`](kiln_store::LabelStore) for the GC reference labels on manifests and indexes,
//! [`ImageStore`](kiln_store::ImageStore) to record names. Writes are content first, metadata
//! second; pass a lease in [`ImageOptions::lease`] to keep new blobs alive until
//! [`record_image`] (or the caller) references them.
//!
//! # Byte equality with BuildKit
//!
//! Configs, manifests and indexes are the bytes BuildKit writes for the same input (see
//! [`image`] for the rules and [`gojson`] for Go's JSON encoding); layer blobs are deterministic
//! but not BuildKit's bytes (different deflate/zstd implementations), so digests of images with
//! layers differ from BuildKit's while diffIDs and configs agree.
//!
//! Invariant: nothing here reads the Dockerfile, runs containers or talks to registries; the
//! caller passes in layers, configs and trees, and pushes with `kiln-registry` from a
//! [`PushPlan`].

pub mod annotations;
pub mod compression;
mod dest;
pub mod docker;
mod error;
pub mod gojson;
pub mod image;
pub mod layout;
pub mod options;
pub mod outputs;
pub mod rootfs;

pub use annotations::{AnnotationSet, AnnotationTarget, Annotations};
pub use compression::{
    Compression, CompressionConfig, Layer, compress_layer, convert_layer, open_uncompressed,
};
pub use dest::{AtomicFile, Destination};
pub use docker::{check_docker_engine, docker_socket, load_image, load_into_docker};
pub use error::{Error, Result};
pub use image::{
    BlobDescriptor, CommittedImage, CommittedManifest, ImageOptions, PlatformImage, WirePlatform,
    commit_image,
};
pub use layout::{
    LayoutKind, LayoutOptions, exported_root, normalize_names, write_layout_dir, write_layout_tar,
};
pub use options::{OutputKind, OutputOptions, parse_bool, parse_epoch};
pub use outputs::{PushPlan, metadata, push_plan, record_image};
pub use rootfs::{
    export_local, export_local_multi, platform_dir_name, write_multi_platform_tar, write_rootfs_tar,
};
