//! The layer index: which layer blob each snapshot was exported as, kept in the store's cache
//! records under `layer:<snapshot>` so that the record also keeps the blob alive for GC.
//!
//! Pulled layers are indexed at pull time (their blobs are reused as the registry served them,
//! never re-diffed; `force-compression` converts them at commit). A snapshot a build made is
//! diffed and compressed, in the compression the output asks for, the first time it is
//! exported in that compression, and the same blob is reused by every later export in it, so
//! a cached rebuild gives the same image.

use std::io::{Seek, SeekFrom};
use std::time::SystemTime;

use kiln_exporter::{Compression, CompressionConfig, Layer};
use kiln_store::{CacheIndex, Digest, Store};
use kiln_worker::{DiffOptions, PulledLayer, SnapshotRef, Worker};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};

/// What one snapshot contributes to an image.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LayerRecord {
    /// The snapshot changed nothing: no layer.
    empty: bool,
    media_type: String,
    digest: String,
    size: u64,
    diff_id: String,
    /// Unix seconds the layer was made (fills the history `created` of build steps).
    created: Option<i64>,
}

/// The record of `snapshot`'s layer made with `epoch` in `compression` at `level` (default
/// gzip keeps the key it always had, so stores written before other compressions existed stay
/// valid).
fn record_key(
    snapshot: &str,
    epoch: Option<i64>,
    compression: Compression,
    level: Option<i32>,
) -> String {
    let mut key = match epoch {
        Some(e) => format!("layer:{snapshot}:epoch={e}"),
        None => format!("layer:{snapshot}"),
    };
    if compression != Compression::Gzip {
        key.push_str(&format!(":{compression}"));
    }
    if let Some(level) = level {
        key.push_str(&format!(":level={level}"));
    }
    key
}

fn parse_digest(s: &str) -> Result<Digest> {
    s.parse::<Digest>()
        .map_err(Error::store(format!("reading layer digest {s:?}")))
}

/// Indexes the layers of a pulled image under their chain IDs. A layer whose snapshot was
/// already there (the same content pulled before, maybe in another compression) was not
/// downloaded: its existing record, naming a blob the store has, stays.
pub(crate) fn index_pulled(store: &Store, layers: &[PulledLayer]) -> Result<()> {
    use kiln_store::Manager;
    for l in layers {
        let blob = parse_digest(&l.descriptor.digest.to_string())?;
        let have_blob = store
            .exists(&blob)
            .map_err(Error::store(format!("looking up layer blob {blob}")))?;
        let key = record_key(&l.chain_id, None, Compression::Gzip, None);
        if !have_blob && lookup(store, &key)?.is_some() {
            continue;
        }
        let rec = LayerRecord {
            empty: false,
            media_type: l.descriptor.media_type.clone(),
            digest: l.descriptor.digest.to_string(),
            size: l.descriptor.size,
            diff_id: l.diff_id.clone(),
            created: None,
        };
        let bytes = serde_json::to_vec(&rec).unwrap_or_default();
        store
            .put_cache_record(&key, &bytes, &[blob])
            .map_err(Error::store(format!("indexing layer {}", l.chain_id)))?;
    }
    Ok(())
}

fn lookup(store: &Store, key: &str) -> Result<Option<LayerRecord>> {
    match store.cache_record(key) {
        Ok(r) => Ok(serde_json::from_slice::<LayerRecord>(&r.result).ok()),
        Err(kiln_store::Error::NotFound(_)) => Ok(None),
        Err(e) => Err(Error::store(format!("reading layer record {key}"))(e)),
    }
}

fn to_layer(rec: &LayerRecord) -> Result<Layer> {
    let mut layer = Layer::existing(
        &rec.media_type,
        parse_digest(&rec.digest)?,
        rec.size,
        parse_digest(&rec.diff_id)?,
    )?;
    layer.created = rec
        .created
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok());
    Ok(layer)
}

/// The layers of an image whose root filesystem is `top`, bottom first, without empty ones:
/// indexed blobs where known, else the snapshot's diff, compressed into the store (under
/// `lease`) with `compression` and indexed. `epoch` (`SOURCE_DATE_EPOCH`) clamps new layers'
/// file times.
pub(crate) async fn layers_for(
    worker: &Worker,
    top: Option<&SnapshotRef>,
    epoch: Option<i64>,
    lease: &str,
    compression: &CompressionConfig,
) -> Result<Vec<Layer>> {
    let Some(top) = top else {
        return Ok(Vec::new());
    };
    let lineage = worker.lineage(top).await?;
    let mut out = Vec::with_capacity(lineage.len());
    for snap in &lineage {
        let store = worker.store().clone();
        // Pulled layers are indexed without an epoch or compression (and without a creation
        // time): they are never rewritten here.
        let pulled = lookup(
            &store,
            &record_key(snap.name(), None, Compression::Gzip, None),
        )?
        .filter(|r| r.created.is_none());
        let found = match pulled {
            Some(r) => Some(r),
            None => lookup(
                &store,
                &record_key(
                    snap.name(),
                    epoch,
                    compression.compression,
                    compression.level,
                ),
            )?,
        };
        let rec = match found {
            Some(r) => r,
            None => diff_and_index(worker, snap, epoch, lease, compression).await?,
        };
        if !rec.empty {
            out.push(to_layer(&rec)?);
        }
    }
    Ok(out)
}

async fn diff_and_index(
    worker: &Worker,
    snap: &SnapshotRef,
    epoch: Option<i64>,
    lease: &str,
    compression: &CompressionConfig,
) -> Result<LayerRecord> {
    let tmp = tempfile::tempfile_in(worker.root()).map_err(Error::io(
        "creating a temporary layer file in",
        worker.root(),
    ))?;
    let opts = DiffOptions {
        source_date_epoch: epoch.and_then(|e| u64::try_from(e).ok()),
    };
    let (mut tmp, stats) = worker.write_layer(snap, tmp, opts).await?;
    let store = worker.store().clone();
    let key = record_key(
        snap.name(),
        epoch,
        compression.compression,
        compression.level,
    );
    let lease = lease.to_string();
    let compression = CompressionConfig {
        force: false,
        ..*compression
    };
    let name = snap.name().to_string();
    tokio::task::spawn_blocking(move || -> Result<LayerRecord> {
        let created = OffsetDateTime::from(SystemTime::now()).unix_timestamp();
        let rec = if stats.entries == 0 {
            LayerRecord {
                empty: true,
                media_type: String::new(),
                digest: String::new(),
                size: 0,
                diff_id: String::new(),
                created: Some(created),
            }
        } else {
            tmp.seek(SeekFrom::Start(0))
                .map_err(Error::io("rewinding", "the temporary layer file"))?;
            let layer = kiln_exporter::compress_layer(&store, tmp, &compression, Some(&lease))?;
            LayerRecord {
                empty: false,
                media_type: layer.compression.layer_media_type(false).to_string(),
                digest: layer.digest.to_string(),
                size: layer.size,
                diff_id: layer.diff_id.to_string(),
                created: Some(epoch.unwrap_or(created)),
            }
        };
        let blobs = if rec.empty {
            Vec::new()
        } else {
            vec![parse_digest(&rec.digest)?]
        };
        let bytes = serde_json::to_vec(&rec).unwrap_or_default();
        store
            .put_cache_record(&key, &bytes, &blobs)
            .map_err(Error::store(format!(
                "indexing the layer of snapshot {name}"
            )))?;
        Ok(rec)
    })
    .await
    .map_err(Error::task("compressing a layer"))?
}
