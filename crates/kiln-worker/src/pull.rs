//! The image source: resolve an image for a platform, download its blobs into the content
//! store (verified, skipping what is there, layers in parallel) and unpack each layer once into
//! a committed snapshot named by its chain ID.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kiln_platforms::Platform;
use kiln_reference::Reference;
use kiln_registry::{Descriptor, Manifest};
use kiln_snapshot::{ApplyOptions, WhiteoutMode};
use kiln_store::{
    GC_REF_CONTENT_PREFIX, Ingest, Ingester, LabelStore, LeaseManager, Provider, WriterOptions,
};
use sha2::{Digest as _, Sha256};

use crate::cache::hex;
use crate::error::{Error, Result, blocking};
use crate::mounted::Mounted;
use crate::snapshots::{SnapshotRef, abort_active};
use crate::worker::{Inner, Worker, unique};

/// How long a pull's own lease protects its blobs if the process dies mid-pull.
const PULL_LEASE_TTL: Duration = Duration::from_secs(3600);

/// One layer of a pulled image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledLayer {
    /// The (compressed) blob as the manifest lists it.
    pub descriptor: Descriptor,
    /// The digest of the uncompressed tar (`rootfs.diff_ids[i]`), verified at unpack.
    pub diff_id: String,
    /// The chain ID up to this layer: the committed snapshot's name.
    pub chain_id: String,
}

/// What a pull did, for progress output and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PullStats {
    /// Layer blobs downloaded (those not already in the store).
    pub downloaded: usize,
    /// Layers unpacked into new snapshots.
    pub unpacked: usize,
}

/// A pulled image: its manifest, config and layers, and its root filesystem as a snapshot.
#[derive(Debug, Clone)]
pub struct ImageSource {
    /// The reference, with `latest` added when it named neither tag nor digest.
    pub reference: Reference,
    /// The platform's manifest descriptor (digest, size, media type, platform).
    pub manifest_descriptor: Descriptor,
    /// The manifest.
    pub manifest: Manifest,
    /// The image config JSON, as the registry served it (verified).
    pub config: Bytes,
    /// The platform of the chosen manifest.
    pub platform: Platform,
    /// The layers, base first.
    pub layers: Vec<PulledLayer>,
    /// The root filesystem: the last layer's snapshot; `None` for an image without layers.
    pub rootfs: Option<SnapshotRef>,
    /// What this pull had to do.
    pub stats: PullStats,
}

impl ImageSource {
    /// The manifest digest (the image source's cache-key input).
    pub fn manifest_digest(&self) -> String {
        self.manifest_descriptor.digest.to_string()
    }
}

/// An image config resolved for the frontend (`FROM` needs its env, user, workdir...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImageConfig {
    /// The reference, with `latest` added when it named neither tag nor digest.
    pub reference: Reference,
    /// The platform's manifest digest.
    pub manifest_digest: String,
    /// The platform of the chosen manifest.
    pub platform: Platform,
    /// The config JSON (verified).
    pub config: Bytes,
}

/// Options of [`Worker::pull_image`].
#[derive(Clone, Default)]
pub struct PullOptions {
    /// Hold the downloaded blobs in this existing lease (the build's), so they outlive the
    /// pull until the caller records what uses them. Without one, a lease of the pull's own
    /// protects them during the pull only; the snapshots stay either way.
    pub lease: Option<String>,
    /// Told what the pull is doing, for progress output (BuildKit's `resolve …`,
    /// `sha256:… 1.2MB / 3MB`, `extracting sha256:…` statuses).
    pub observer: Option<Arc<dyn PullObserver>>,
}

impl std::fmt::Debug for PullOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullOptions")
            .field("lease", &self.lease)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// One step of a pull, as [`PullObserver::event`] hears of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// Resolving the reference to a manifest started.
    Resolving {
        /// The reference as resolved (`docker.io/library/busybox:latest@sha256:…` when pinned).
        reference: String,
    },
    /// The reference was resolved.
    Resolved {
        /// The same text as in [`PullEvent::Resolving`].
        reference: String,
    },
    /// Bytes of a layer blob arrived (`current` of `total`); sent at most every
    /// [`PROGRESS_INTERVAL`] and once more when the blob is complete (`done`).
    Downloading {
        /// The blob digest (`sha256:…`).
        digest: String,
        /// Bytes received so far.
        current: u64,
        /// The blob's size from its descriptor.
        total: u64,
        /// The blob is complete and verified.
        done: bool,
    },
    /// Unpacking a layer into its snapshot started (`done` false) or ended (`done` true).
    Extracting {
        /// The blob digest (`sha256:…`).
        digest: String,
        /// Unpacking ended.
        done: bool,
    },
}

/// Hears what a pull does. Contract: `event` is called from async tasks and must not block.
pub trait PullObserver: Send + Sync {
    /// One step of the pull.
    fn event(&self, event: PullEvent);
}

/// How often download progress is reported per blob.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

impl Worker {
    /// Resolves `reference` for `platform` and returns the config only (BuildKit's
    /// `ResolveImageConfig`). Answers are cached for the worker's lifetime by reference and
    /// platform; a reference by digest never changes, a tag is resolved once per worker.
    pub async fn resolve_image_config(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<ResolvedImageConfig> {
        let key = (reference.to_string(), kiln_platforms::format(platform));
        if let Some(hit) = self
            .inner
            .resolved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
        {
            return Ok(hit.clone());
        }
        let img = self
            .inner
            .registry
            .resolve_platform(reference, platform)
            .await?;
        let resolved = ResolvedImageConfig {
            reference: img.reference,
            manifest_digest: img.descriptor.digest.to_string(),
            platform: img.platform,
            config: img.config,
        };
        self.inner
            .resolved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, resolved.clone());
        Ok(resolved)
    }

    /// Pulls `reference` for `platform`: resolves it (mirrors, `http`, `insecure` from the
    /// config), stores manifest and config, downloads the layer blobs that are missing (in
    /// parallel, verified) and unpacks each layer not unpacked before into a committed
    /// snapshot named by its chain ID. A second pull of the same image (or of another image
    /// sharing its base layers) downloads and unpacks nothing for the shared layers.
    pub async fn pull_image(
        &self,
        reference: &Reference,
        platform: &Platform,
        opts: &PullOptions,
    ) -> Result<ImageSource> {
        let observe = |event: PullEvent| {
            if let Some(o) = &opts.observer {
                o.event(event);
            }
        };
        let shown = reference.to_string();
        observe(PullEvent::Resolving {
            reference: shown.clone(),
        });
        let img = self
            .inner
            .registry
            .resolve_platform(reference, platform)
            .await?;
        observe(PullEvent::Resolved { reference: shown });
        let image = img.reference.to_string();
        let diff_ids = diff_ids(&image, &img.config, img.manifest.layers.len())?;
        let chain_ids = chain_ids(&diff_ids);
        let layers: Vec<PulledLayer> = img
            .manifest
            .layers
            .iter()
            .zip(diff_ids.iter().zip(&chain_ids))
            .map(|(d, (diff, chain))| PulledLayer {
                descriptor: d.clone(),
                diff_id: diff.clone(),
                chain_id: chain.clone(),
            })
            .collect();

        let (lease, own_lease) = match &opts.lease {
            Some(l) => (l.clone(), false),
            None => {
                let id = format!("pull-{}", unique());
                let store = self.inner.store.clone();
                let lid = id.clone();
                blocking(format!("pulling {image}"), move || {
                    store
                        .create_lease(&lid, Some(PULL_LEASE_TTL))
                        .map(|_| ())
                        .map_err(Error::store(format!("creating lease {lid}")))
                })
                .await?;
                (id, true)
            }
        };
        let result = self
            .pull_with_lease(&img, &image, &layers, &lease, opts.observer.as_deref())
            .await;
        if own_lease {
            let store = self.inner.store.clone();
            let lid = lease.clone();
            let deleted = blocking(format!("pulling {image}"), move || {
                store
                    .delete_lease(&lid)
                    .map_err(Error::store(format!("deleting lease {lid}")))
            })
            .await;
            if let Err(e) = deleted {
                tracing::warn!("{e}");
            }
        }
        let (rootfs, stats) = result?;
        Ok(ImageSource {
            reference: img.reference,
            manifest_descriptor: img.descriptor,
            manifest: img.manifest,
            config: img.config,
            platform: img.platform,
            layers,
            rootfs,
            stats,
        })
    }

    async fn pull_with_lease(
        &self,
        img: &kiln_registry::PlatformImage,
        image: &str,
        layers: &[PulledLayer],
        lease: &str,
        observer: Option<&dyn PullObserver>,
    ) -> Result<(Option<SnapshotRef>, PullStats)> {
        let inner = &self.inner;
        // Manifest and config: small, kept in the store with GC references to the layers.
        let config_desc = img.manifest.config.clone();
        let manifest_desc = img.descriptor.clone();
        let (manifest_bytes, config_bytes) = (img.manifest_bytes.clone(), img.config.clone());
        let refs: BTreeMap<String, String> = std::iter::once((
            format!("{GC_REF_CONTENT_PREFIX}config"),
            config_desc.digest.to_string(),
        ))
        .chain(layers.iter().enumerate().map(|(i, l)| {
            (
                format!("{GC_REF_CONTENT_PREFIX}l.{i}"),
                l.descriptor.digest.to_string(),
            )
        }))
        .collect();
        {
            let store = inner.store.clone();
            let lease = lease.to_owned();
            let image = image.to_owned();
            blocking(format!("pulling {image}"), move || {
                put_small(&store, &image, &config_desc, &config_bytes, &lease)?;
                let digest = put_small(&store, &image, &manifest_desc, &manifest_bytes, &lease)?;
                store
                    .set_labels(&digest, &refs)
                    .map_err(Error::store(format!(
                        "pulling {image}: labelling the manifest"
                    )))
            })
            .await?;
        }

        // The deepest layer already unpacked: nothing below it is needed.
        let mut have = 0;
        for (i, l) in layers.iter().enumerate().rev() {
            let (inner2, chain) = (inner.clone(), l.chain_id.clone());
            if blocking(format!("pulling {image}"), move || {
                inner2.is_committed(&chain)
            })
            .await?
            {
                have = i + 1;
                break;
            }
        }
        let mut stats = PullStats::default();
        let missing = &layers[have..];
        // Every blob the image names is fetched unless the store has it, also for layers whose
        // snapshot exists (the same content pulled before, maybe in another compression): the
        // image's own blobs are what an export of it refers to.
        let downloads = layers
            .iter()
            .map(|l| self.fetch_blob(&img.reference, image, &l.descriptor, lease, observer));
        let fetched = futures_util::future::try_join_all(downloads).await?;
        stats.downloaded = fetched.into_iter().filter(|d| *d).count();

        let mut parent: Option<String> = have.checked_sub(1).map(|i| layers[i].chain_id.clone());
        for l in missing {
            let digest = l.descriptor.digest.to_string();
            let extracting = |done| {
                if let Some(o) = observer {
                    o.event(PullEvent::Extracting {
                        digest: digest.clone(),
                        done,
                    });
                }
            };
            extracting(false);
            let unpacked = self.unpack(image, l, parent.as_deref()).await?;
            extracting(true);
            if unpacked {
                stats.unpacked += 1;
            }
            parent = Some(l.chain_id.clone());
        }
        Ok((parent.map(SnapshotRef::new), stats))
    }

    /// Downloads one blob into the store unless present; true when bytes were downloaded.
    async fn fetch_blob(
        &self,
        reference: &Reference,
        image: &str,
        desc: &Descriptor,
        lease: &str,
        observer: Option<&dyn PullObserver>,
    ) -> Result<bool> {
        let digest = store_digest(image, &desc.digest.to_string())?;
        let total = desc.size;
        let report = |current: u64, done: bool| {
            if let Some(o) = observer {
                o.event(PullEvent::Downloading {
                    digest: desc.digest.to_string(),
                    current,
                    total,
                    done,
                });
            }
        };
        let what = format!("pulling {image}: blob {digest}");
        let opts = WriterOptions::new(format!("pull-{digest}"))
            .expected(digest.clone())
            .size(desc.size)
            .lease(lease)
            .wait(true);
        let store = self.inner.store.clone();
        let w = what.clone();
        let ingest = blocking(what.clone(), move || {
            store.writer(opts).map_err(Error::store(w))
        })
        .await?;
        let mut writer = match ingest {
            Ingest::Present(_) => {
                report(total, true);
                return Ok(false);
            }
            Ingest::Write(w) => w,
        };
        let mut reader = self.inner.registry.fetch_blob(reference, desc).await?;
        // The registry client cannot resume at an offset: start over.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
        let w = what.clone();
        let write_task = tokio::task::spawn_blocking(move || -> Result<_> {
            if writer.offset() > 0 {
                writer.reset().map_err(Error::store(w.clone()))?;
            }
            while let Some(chunk) = rx.blocking_recv() {
                writer
                    .write_all(&chunk)
                    .map_err(|e| Error::io("writing", "the content store ingest")(e))?;
            }
            Ok(writer)
        });
        let mut failed = None;
        let (mut received, mut last_report) = (0u64, Instant::now());
        report(0, false);
        loop {
            match reader.next_chunk().await {
                Ok(Some(chunk)) => {
                    received += chunk.len() as u64;
                    if last_report.elapsed() >= PROGRESS_INTERVAL {
                        last_report = Instant::now();
                        report(received, false);
                    }
                    if tx.send(chunk).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let writer = match write_task.await {
            Ok(r) => r?,
            Err(e) => {
                return Err(Error::Task {
                    what,
                    reason: e.to_string(),
                });
            }
        };
        if let Some(e) = failed {
            // Dropping the writer keeps the ingest for a later attempt.
            return Err(e.into());
        }
        blocking(what.clone(), move || {
            writer.commit().map(|_| ()).map_err(Error::store(what))
        })
        .await?;
        report(total, true);
        Ok(true)
    }

    /// Unpacks `layer` onto `parent` into the snapshot `layer.chain_id`, unless another pull
    /// did it first; true when this call unpacked it.
    async fn unpack(&self, image: &str, layer: &PulledLayer, parent: Option<&str>) -> Result<bool> {
        let lock = {
            let mut map = self
                .inner
                .unpacking
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(layer.chain_id.clone()).or_default().clone()
        };
        let _held = lock.lock().await;
        let inner = self.inner.clone();
        let layer = layer.clone();
        let parent = parent.map(str::to_owned);
        let image = image.to_owned();
        let what = format!("unpacking {image}: layer {}", layer.descriptor.digest);
        blocking(what, move || {
            if inner.is_committed(&layer.chain_id)? {
                return Ok(false);
            }
            unpack_blocking(&inner, &image, &layer, parent.as_deref())?;
            Ok(true)
        })
        .await
    }
}

fn store_digest(image: &str, d: &str) -> Result<kiln_store::Digest> {
    kiln_store::Digest::parse(d).map_err(|e| Error::InvalidImage {
        image: image.to_owned(),
        reason: format!("unusable digest {d:?}: {e}"),
    })
}

/// Stores a small verified blob (manifest, config) unless present; returns its digest.
fn put_small(
    store: &kiln_store::Store,
    image: &str,
    desc: &Descriptor,
    data: &[u8],
    lease: &str,
) -> Result<kiln_store::Digest> {
    let digest = store_digest(image, &desc.digest.to_string())?;
    let what = format!("pulling {image}: blob {digest}");
    let opts = WriterOptions::new(format!("pull-{digest}"))
        .expected(digest.clone())
        .size(data.len() as u64)
        .lease(lease)
        .wait(true);
    match store.writer(opts).map_err(Error::store(what.clone()))? {
        Ingest::Present(_) => store
            .add_lease_content(lease, &digest)
            .map_err(Error::store(what))?,
        Ingest::Write(mut w) => {
            w.reset().map_err(Error::store(what.clone()))?;
            w.write_all(data)
                .map_err(|e| Error::io("writing", "the content store ingest")(e))?;
            w.commit().map_err(Error::store(what))?;
        }
    }
    Ok(digest)
}

fn unpack_blocking(
    inner: &Inner,
    image: &str,
    layer: &PulledLayer,
    parent: Option<&str>,
) -> Result<()> {
    let digest = store_digest(image, &layer.descriptor.digest.to_string())?;
    let blob = inner
        .store
        .open(&digest)
        .map_err(Error::store(format!("unpacking {image}: layer {digest}")))?;
    let key = format!("extract-{}-{}", unique(), layer.chain_id);
    let plan = inner
        .snaps
        .sn()
        .prepare(&key, parent)
        .map_err(Error::snap("preparing", &key))?;
    let result = (|| {
        let mut mounted = Mounted::new(inner, &plan, &key)?;
        let reader = decompress(image, &layer.descriptor, io::BufReader::new(blob))?;
        let mut hashing = HashingReader {
            inner: reader,
            hasher: Sha256::new(),
        };
        kiln_snapshot::apply_layer(
            mounted.path(),
            &mut hashing,
            &ApplyOptions {
                whiteouts: WhiteoutMode::Delete,
                same_owner: true,
            },
        )
        .map_err(|e| Error::InvalidImage {
            image: image.to_owned(),
            reason: format!("unpacking layer {digest}: {e}"),
        })?;
        // The tar may end before the stream does (padding): hash everything.
        io::copy(&mut hashing, &mut io::sink()).map_err(|e| Error::InvalidImage {
            image: image.to_owned(),
            reason: format!("reading layer {digest}: {e}"),
        })?;
        let actual = format!("sha256:{}", hex(&hashing.hasher.finalize()));
        if actual != layer.diff_id {
            return Err(Error::InvalidImage {
                image: image.to_owned(),
                reason: format!(
                    "layer {digest} uncompresses to {actual}, but the config says {}",
                    layer.diff_id
                ),
            });
        }
        mounted.release()?;
        inner
            .snaps
            .sn()
            .commit(&layer.chain_id, &key)
            .map_err(Error::snap("committing", &layer.chain_id))
    })();
    if result.is_err() {
        abort_active(inner, &key);
    }
    result
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn decompress<'a, R: io::BufRead + 'a>(
    image: &str,
    desc: &Descriptor,
    r: R,
) -> Result<Box<dyn Read + 'a>> {
    let mt = desc.media_type.as_str();
    if mt.ends_with("gzip") {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(r)))
    } else if mt.ends_with("zstd") {
        let d = zstd::stream::read::Decoder::with_buffer(r).map_err(|e| Error::InvalidImage {
            image: image.to_owned(),
            reason: format!("layer {}: {e}", desc.digest),
        })?;
        Ok(Box::new(d))
    } else if mt.ends_with(".tar") || mt.ends_with(".tar.diff") || mt.ends_with("layer.v1.tar") {
        Ok(Box::new(r))
    } else {
        Err(Error::InvalidImage {
            image: image.to_owned(),
            reason: format!(
                "layer {} has media type {mt:?}, which is not a tar, tar+gzip or tar+zstd layer",
                desc.digest
            ),
        })
    }
}

/// `rootfs.diff_ids` of a config, checked: `layers` of them, each a valid sha256 digest.
fn diff_ids(image: &str, config: &[u8], layers: usize) -> Result<Vec<String>> {
    let bad = |reason: String| Error::InvalidImage {
        image: image.to_owned(),
        reason,
    };
    let v: serde_json::Value = serde_json::from_slice(config)
        .map_err(|e| bad(format!("image config is not JSON: {e}")))?;
    let ids = v
        .pointer("/rootfs/diff_ids")
        .and_then(|d| d.as_array())
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        });
    let ids = match ids {
        Some(Some(ids)) => ids,
        None if layers == 0 => Vec::new(),
        _ => return Err(bad("image config has no rootfs.diff_ids list".into())),
    };
    if ids.len() != layers {
        return Err(bad(format!(
            "the manifest has {layers} layers but the config lists {} diff_ids",
            ids.len()
        )));
    }
    for id in &ids {
        let ok = id.strip_prefix("sha256:").is_some_and(|h| {
            h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if !ok {
            return Err(bad(format!("diff_id {id:?} is not a sha256 digest")));
        }
    }
    Ok(ids)
}

/// OCI chain IDs: `ChainID(L0) = DiffID(L0)`, `ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln))`.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => format!(
                "sha256:{}",
                hex(&Sha256::digest(format!("{prev} {d}").as_bytes()))
            ),
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_image_spec() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        let want = format!(
            "sha256:{}",
            hex(&Sha256::digest(format!("{a} {b}").as_bytes()))
        );
        assert_eq!(ids[1], want);
    }

    #[test]
    fn diff_ids_are_checked() {
        let good = format!(
            r#"{{"rootfs":{{"type":"layers","diff_ids":["sha256:{}"]}}}}"#,
            "0".repeat(64)
        );
        assert_eq!(diff_ids("img", good.as_bytes(), 1).unwrap().len(), 1);
        let err = diff_ids("img", good.as_bytes(), 2).unwrap_err().to_string();
        assert!(err.contains("2 layers"), "{err}");
        let evil = r#"{"rootfs":{"diff_ids":["sha256:../../etc"]}}"#;
        assert!(diff_ids("img", evil.as_bytes(), 1).is_err());
        assert!(diff_ids("img", b"{}", 0).unwrap().is_empty());
    }
}
