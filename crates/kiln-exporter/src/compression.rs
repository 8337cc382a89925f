//! Layer blobs: uncompressed layer tars in, compressed blobs in the content store out, with the
//! compressed digest and the uncompressed diffID computed in one pass.
//!
//! Options follow BuildKit's exporter attributes: `compression=uncompressed|gzip|zstd`,
//! `compression-level=N`, `force-compression=true`. Output is deterministic: the same tar and
//! options give the same bytes. Gzip headers are written as Go's `compress/gzip` writes them for
//! BuildKit (no name, no comment, mtime 0, OS byte 255); the deflate stream itself is flate2's,
//! so blobs are reproducible by kiln, not byte-identical to BuildKit's (its Go deflate differs).
//!
//! Compression runs on one thread per layer; layers of one image can be compressed in parallel
//! by the caller. A multi-threaded gzip (pigz-style independent blocks) is a later optimisation.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use kiln_store::{Algorithm, ContentWriter, Digest, Ingest, Ingester, Provider, WriterOptions};
use oci_spec::image::MediaType;
use time::OffsetDateTime;

use crate::error::{Error, Result};

/// Docker's media type of a gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker's media type of an uncompressed layer.
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// BuildKit's Docker-flavoured zstd layer type (only seen with `oci-mediatypes=false` forced).
pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
/// OCI's media type of an uncompressed layer.
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI's media type of a gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI's media type of a zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// A layer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// A plain tar.
    Uncompressed,
    /// gzip (the default, as in BuildKit).
    #[default]
    Gzip,
    /// zstd. Forces OCI media types, as BuildKit does.
    Zstd,
}

impl Compression {
    /// Parses the value of `compression=`.
    pub fn parse(value: &str) -> Result<Compression> {
        match value {
            "uncompressed" => Ok(Compression::Uncompressed),
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            "estargz" => Err(Error::InvalidOption {
                key: "compression".into(),
                value: value.into(),
                reason: "estargz is not supported by kiln yet; use gzip or zstd".into(),
            }),
            _ => Err(Error::InvalidOption {
                key: "compression".into(),
                value: value.into(),
                reason: "unsupported layer compression type (use uncompressed, gzip or zstd)"
                    .into(),
            }),
        }
    }

    /// The option value (`gzip`...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Compression::Uncompressed => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// The layer media type for Docker (`oci == false`) or OCI media types.
    pub fn layer_media_type(self, oci: bool) -> &'static str {
        match (self, oci) {
            (Compression::Uncompressed, false) => DOCKER_LAYER,
            (Compression::Gzip, false) => DOCKER_LAYER_GZIP,
            (Compression::Zstd, false) => DOCKER_LAYER_ZSTD,
            (Compression::Uncompressed, true) => OCI_LAYER,
            (Compression::Gzip, true) => OCI_LAYER_GZIP,
            (Compression::Zstd, true) => OCI_LAYER_ZSTD,
        }
    }

    /// The compression a layer media type implies; `None` for a media type that is not a layer.
    pub fn from_media_type(media_type: &MediaType) -> Option<Compression> {
        match media_type.to_string().as_str() {
            DOCKER_LAYER
            | OCI_LAYER
            | "application/vnd.oci.image.layer.nondistributable.v1.tar" => {
                Some(Compression::Uncompressed)
            }
            DOCKER_LAYER_GZIP
            | OCI_LAYER_GZIP
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" => {
                Some(Compression::Gzip)
            }
            DOCKER_LAYER_ZSTD
            | OCI_LAYER_ZSTD
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => {
                Some(Compression::Zstd)
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How layers are compressed (`compression`, `compression-level`, `force-compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompressionConfig {
    /// The compression of new layers.
    pub compression: Compression,
    /// The level: gzip 0–9, zstd 1–22; `None` for the default (gzip 6, zstd 3).
    pub level: Option<i32>,
    /// Recompress existing layers (e.g. base image layers) that use another compression.
    pub force: bool,
}

impl CompressionConfig {
    /// Checks the level against the compression's range.
    pub fn validate(&self) -> Result<()> {
        let Some(level) = self.level else {
            return Ok(());
        };
        let (lo, hi) = match self.compression {
            Compression::Uncompressed => return Ok(()),
            Compression::Gzip => (0, 9),
            Compression::Zstd => (1, 22),
        };
        if level < lo || level > hi {
            return Err(Error::InvalidOption {
                key: "compression-level".into(),
                value: level.to_string(),
                reason: format!("{} accepts levels {lo} to {hi}", self.compression),
            });
        }
        Ok(())
    }
}

/// A layer blob in the content store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Digest of the blob as stored (compressed).
    pub digest: Digest,
    /// Size of the blob.
    pub size: u64,
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids` entry).
    pub diff_id: Digest,
    /// How the blob is compressed.
    pub compression: Compression,
    /// When the layer was created (fills a missing history `created`, as BuildKit's ref metadata).
    pub created: Option<OffsetDateTime>,
    /// What made it (the `created_by` of a history entry BuildKit adds for a layer the
    /// frontend's history does not account for).
    pub description: Option<String>,
}

impl Layer {
    /// A layer blob already in the store (a pulled base image layer), from its manifest entry
    /// and the config's diffID. Fails for a media type that is not a layer.
    pub fn existing(media_type: &str, digest: Digest, size: u64, diff_id: Digest) -> Result<Layer> {
        let compression = Compression::from_media_type(&MediaType::from(media_type)).ok_or_else(
            || {
                Error::Unsupported(format!(
                    "layer {digest} has media type {media_type:?}, which is not a layer type kiln can export"
                ))
            },
        )?;
        Ok(Layer {
            digest,
            size,
            diff_id,
            compression,
            created: None,
            description: None,
        })
    }
}

static NEXT_INGEST: AtomicU64 = AtomicU64::new(0);

/// A unique ingest reference for a blob whose digest is not known in advance.
pub(crate) fn unique_ref(kind: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "export-{kind}-{}-{nanos}-{}",
        std::process::id(),
        NEXT_INGEST.fetch_add(1, Ordering::Relaxed)
    )
}

/// A writer that feeds a compressed stream into a content writer.
enum Encoder {
    Plain(Box<dyn ContentWriter>),
    Gzip(flate2::write::GzEncoder<Box<dyn ContentWriter>>),
    Zstd(zstd::stream::write::Encoder<'static, Box<dyn ContentWriter>>),
}

impl Encoder {
    fn new(writer: Box<dyn ContentWriter>, cfg: &CompressionConfig) -> io::Result<Encoder> {
        Ok(match cfg.compression {
            Compression::Uncompressed => Encoder::Plain(writer),
            Compression::Gzip => {
                let level = cfg.level.map_or(6, |l| l.clamp(0, 9)).unsigned_abs();
                // Go's gzip.Writer with an empty Header: no name, no comment, mtime 0, OS 255.
                Encoder::Gzip(
                    flate2::GzBuilder::new()
                        .mtime(0)
                        .operating_system(255)
                        .write(writer, flate2::Compression::new(level)),
                )
            }
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(
                writer,
                cfg.level.unwrap_or(3),
            )?),
        })
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Plain(w) => w.write_all(buf),
            Encoder::Gzip(w) => w.write_all(buf),
            Encoder::Zstd(w) => w.write_all(buf),
        }
    }

    fn finish(self) -> io::Result<Box<dyn ContentWriter>> {
        match self {
            Encoder::Plain(w) => Ok(w),
            Encoder::Gzip(w) => w.finish(),
            Encoder::Zstd(w) => w.finish(),
        }
    }
}

/// Compresses an uncompressed layer tar into the store, computing the blob digest and the diffID
/// in one pass over `tar`.
///
/// The blob is committed through `ingester` under a fresh ingest reference (held by `lease` when
/// given, so GC cannot remove it before an image references it). A failure leaves no blob; the
/// partial ingest is removed by the store's stale-ingest cleanup.
pub fn compress_layer<R: Read>(
    ingester: &dyn Ingester,
    mut tar: R,
    cfg: &CompressionConfig,
    lease: Option<&str>,
) -> Result<Layer> {
    cfg.validate()?;
    let mut opts = WriterOptions::new(unique_ref("layer"));
    if let Some(lease) = lease {
        opts = opts.lease(lease);
    }
    let writer = match ingester.writer(opts)? {
        Ingest::Write(w) => w,
        // Without an expected digest the store never answers Present; treat it as a bug-free
        // no-op by reporting what it holds.
        Ingest::Present(info) => {
            return Err(Error::Unsupported(format!(
                "content store reported {} as present for a new layer ingest",
                info.digest
            )));
        }
    };
    let comp_err = |source: io::Error| Error::Compress {
        compression: cfg.compression.as_str(),
        source,
    };
    let mut encoder = Encoder::new(writer, cfg).map_err(comp_err)?;
    let mut diff = Algorithm::Sha256.digester();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match tar.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(comp_err(e)),
        };
        diff.update(&buf[..n]);
        encoder.write_all(&buf[..n]).map_err(comp_err)?;
    }
    let writer = encoder.finish().map_err(comp_err)?;
    let info = writer.commit()?;
    Ok(Layer {
        digest: info.digest,
        size: info.size,
        diff_id: diff.finish(),
        compression: cfg.compression,
        created: None,
        description: None,
    })
}

/// Opens a layer blob and returns a reader of its uncompressed tar.
pub fn open_uncompressed<'a>(
    provider: &dyn Provider,
    digest: &Digest,
    compression: Compression,
) -> Result<Box<dyn Read + Send + 'a>> {
    let blob = provider.open(digest)?;
    Ok(match compression {
        Compression::Uncompressed => Box::new(blob),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(blob)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(blob).map_err(
            |source| Error::Compress {
                compression: "zstd",
                source,
            },
        )?),
    })
}

/// Brings an existing layer blob (a base image layer, a cached layer) to the requested
/// compression, as BuildKit's `GetRemotes` does: a layer already in `cfg.compression` or, without
/// `force`, in any compression, is kept as it is; otherwise it is decompressed and recompressed.
pub fn convert_layer<S: Provider + Ingester>(
    store: &S,
    layer: &Layer,
    cfg: &CompressionConfig,
    lease: Option<&str>,
) -> Result<Layer> {
    if layer.compression == cfg.compression || !cfg.force {
        return Ok(layer.clone());
    }
    let tar = open_uncompressed(store, &layer.digest, layer.compression)?;
    let mut out = compress_layer(store, tar, cfg, lease)?;
    if out.diff_id != layer.diff_id {
        return Err(Error::Store(kiln_store::Error::DigestMismatch {
            expected: layer.diff_id.clone(),
            actual: out.diff_id,
        }));
    }
    out.created = layer.created;
    out.description = layer.description.clone();
    Ok(out)
}
