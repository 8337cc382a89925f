//! Image assembly: the frontend's config + compressed layers → image config, manifest and (for
//! multi-platform) index blobs in the content store, byte for byte as BuildKit's
//! `exporter/containerimage/writer.go` writes them.
//!
//! What BuildKit does, and so what this does:
//!
//! - the config is the frontend's JSON with `rootfs`, `history` and `created` replaced; its
//!   top-level keys are re-emitted sorted (a Go `map[string]json.RawMessage`), the values compacted
//!   as given, so the frontend's `config` object keeps its field order; the old
//!   `moby.buildkit.buildinfo.v1` field is dropped;
//! - history and layers are reconciled: extra non-empty history entries become empty ones
//!   (bottom-up), layers without history get an entry (`comment: buildkit.exporter.image.v0`),
//!   missing `created` times are filled from the layer or the neighbouring entries;
//! - with a `SOURCE_DATE_EPOCH`, every history time and the config's `created` after the epoch are
//!   clamped to it;
//! - the manifest is `json.MarshalIndent(…, "", "  ")` of `{mediaType, schemaVersion, config,
//!   layers, annotations}` (BuildKit's wrapper struct puts `mediaType` first), Docker schema2 media
//!   types unless OCI types are on; the index the same with `manifests`;
//! - GC labels (`containerd.io/gc.ref.content.N`) on manifests and indexes keep children alive.

use std::collections::BTreeMap;
use std::io::Cursor;

use kiln_platforms::Platform;
use kiln_store::{Digest, Ingester, LabelStore, Provider, WriterOptions, write_blob};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::annotations::Annotations;
use crate::compression::{Compression, Layer, OCI_LAYER_ZSTD};
use crate::error::{Error, Result};
use crate::gojson;

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker schema2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config media type.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// The comment BuildKit gives history entries it adds for layers the frontend did not describe.
pub const EXPORTER_HISTORY_COMMENT: &str = "buildkit.exporter.image.v0";

/// A content descriptor as kiln's exporters write it: Go's field order, sorted annotations.
///
/// `oci_spec::image::Descriptor` keeps annotations in a `HashMap` and orders fields differently
/// from Go's image-spec, so bytes that digests cover are written from this type;
/// [`BlobDescriptor::to_oci`] converts for everything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobDescriptor {
    /// The media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// The digest.
    pub digest: Digest,
    /// The size in bytes.
    pub size: u64,
    /// Annotations (omitted when empty).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The platform (index entries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<WirePlatform>,
}

/// A platform in Go image-spec field order (`architecture`, `os`, `os.version`, `os.features`,
/// `variant`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WirePlatform {
    /// CPU architecture.
    pub architecture: String,
    /// Operating system.
    pub os: String,
    /// OS version.
    #[serde(rename = "os.version", skip_serializing_if = "String::is_empty")]
    pub os_version: String,
    /// OS features.
    #[serde(rename = "os.features", skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// CPU variant.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub variant: String,
}

impl From<&Platform> for WirePlatform {
    fn from(p: &Platform) -> WirePlatform {
        WirePlatform {
            architecture: p.architecture.clone(),
            os: p.os.clone(),
            os_version: p.os_version.clone(),
            os_features: p.os_features.clone(),
            variant: p.variant.clone(),
        }
    }
}

impl BlobDescriptor {
    fn new(media_type: &str, digest: Digest, size: u64) -> BlobDescriptor {
        BlobDescriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            annotations: BTreeMap::new(),
            platform: None,
        }
    }

    /// The same descriptor as an `oci_spec` value.
    pub fn to_oci(&self) -> Result<oci_spec::image::Descriptor> {
        let digest = self
            .digest
            .as_str()
            .parse::<oci_spec::image::Digest>()
            .map_err(|e| {
                Error::Unsupported(format!("digest {} rejected by oci-spec: {e}", self.digest))
            })?;
        let mut d = oci_spec::image::Descriptor::new(
            oci_spec::image::MediaType::from(self.media_type.as_str()),
            self.size,
            digest,
        );
        if !self.annotations.is_empty() {
            d.set_annotations(Some(
                self.annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ));
        }
        if let Some(p) = &self.platform {
            let platform = Platform {
                os: p.os.clone(),
                architecture: p.architecture.clone(),
                variant: p.variant.clone(),
                os_version: p.os_version.clone(),
                os_features: p.os_features.clone(),
            };
            d.set_platform(Some(platform.into()));
        }
        Ok(d)
    }

    /// Go's `json.Marshal` of the descriptor (the metadata file's `containerimage.descriptor`).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        gojson::to_vec(self).map_err(Error::json("descriptor"))
    }
}

/// One platform's image as the build produced it.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    /// The target platform (index entry `platform`).
    pub platform: Platform,
    /// The frontend's image config JSON (BuildKit's `containerimage.config`); empty for the
    /// default config (`Env` PATH, `WorkingDir` `/`).
    pub config: Vec<u8>,
    /// The layers, bottom first, already in the store (see [`crate::compress_layer`]). Steps that
    /// changed no files contribute no layer.
    pub layers: Vec<Layer>,
}

/// How images are assembled.
#[derive(Debug, Clone, Default)]
pub struct ImageOptions {
    /// OCI media types instead of Docker schema2 ones (`oci-mediatypes=true`).
    pub oci_mediatypes: bool,
    /// `--annotation` / `annotation*` exporter attributes.
    pub annotations: Annotations,
    /// `SOURCE_DATE_EPOCH`: clamps history and config `created` times.
    pub epoch: Option<OffsetDateTime>,
    /// Write an index even for a single platform (multi-platform requested, attestations).
    pub force_index: bool,
    /// A lease holding every written blob until the caller records the image.
    pub lease: Option<String>,
}

impl ImageOptions {
    /// Whether OCI media types end up in use: asked for, or forced by zstd layers or by
    /// index/descriptor annotations (BuildKit's `EnableOCITypes`).
    pub fn effective_oci(&self, compression: Compression) -> bool {
        self.oci_mediatypes
            || compression == Compression::Zstd
            || self.annotations.needs_oci_types()
    }
}

/// One committed platform manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedManifest {
    /// Its platform.
    pub platform: Platform,
    /// The manifest descriptor (with manifest-descriptor annotations and the platform).
    pub descriptor: BlobDescriptor,
    /// The config descriptor.
    pub config: BlobDescriptor,
    /// The layer descriptors as written in the manifest.
    pub layers: Vec<BlobDescriptor>,
}

/// The result of [`commit_image`]: everything written, root first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedImage {
    /// The root: the index, or the manifest of a single-platform image (with its platform and
    /// manifest-descriptor annotations).
    pub root: BlobDescriptor,
    /// Whether the root is an index.
    pub is_index: bool,
    /// The platform manifests, in request order.
    pub manifests: Vec<CommittedManifest>,
    /// Whether OCI media types were used.
    pub oci_mediatypes: bool,
}

impl CommittedImage {
    /// The config digest of a single-platform image (`containerimage.config.digest`).
    pub fn config_digest(&self) -> Option<&Digest> {
        match (self.is_index, self.manifests.as_slice()) {
            (false, [m]) => Some(&m.config.digest),
            _ => None,
        }
    }

    /// Every blob of the image, children before parents (layers, config, manifest, …, root):
    /// the order a push uploads them in. Shared blobs appear once.
    pub fn blobs(&self) -> Vec<BlobDescriptor> {
        let mut out: Vec<BlobDescriptor> = Vec::new();
        let mut push = |d: &BlobDescriptor| {
            if !out.iter().any(|o| o.digest == d.digest) {
                out.push(d.clone());
            }
        };
        for m in &self.manifests {
            for l in &m.layers {
                push(l);
            }
            push(&m.config);
            push(&m.descriptor);
        }
        if self.is_index {
            push(&self.root);
        }
        out
    }
}

/// A history entry as Go's `ocispecs.History` reads and writes it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    empty_layer: bool,
}

#[derive(Deserialize)]
struct HistoryOnly {
    #[serde(default, alias = "History")]
    history: Option<Vec<History>>,
}

#[derive(Serialize)]
struct WireRootFs<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: Option<Vec<&'a Digest>>,
}

#[derive(Serialize)]
struct WireManifest<'a> {
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    config: &'a BlobDescriptor,
    /// Go's nil slice: `null` for an image without layers, as BuildKit writes it.
    layers: Option<&'a [BlobDescriptor]>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct WireIndex<'a> {
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    manifests: &'a [BlobDescriptor],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

/// BuildKit's default config for a result without one.
fn default_config(platform: &Platform) -> Vec<u8> {
    #[derive(Serialize)]
    struct Cfg {
        #[serde(rename = "Env")]
        env: [&'static str; 1],
        #[serde(rename = "WorkingDir")]
        working_dir: &'static str,
    }
    #[derive(Serialize)]
    struct Img<'a> {
        architecture: &'a str,
        #[serde(skip_serializing_if = "str::is_empty")]
        variant: &'a str,
        os: &'a str,
        config: Cfg,
    }
    let img = Img {
        architecture: &platform.architecture,
        variant: &platform.variant,
        os: &platform.os,
        config: Cfg {
            env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            working_dir: "/",
        },
    };
    gojson::to_vec(&img).unwrap_or_default()
}

/// Reconciles history with layers and fills `created` times (BuildKit's
/// `normalizeLayersAndHistory`).
fn normalize_history(mut history: Vec<History>, layers: &[Layer]) -> Vec<History> {
    let layer_time = |i: usize| -> Option<String> {
        layers
            .get(i)
            .and_then(|l| l.created)
            .map(gojson::format_time)
    };
    let history_layers = history.iter().filter(|h| !h.empty_layer).count();
    if history_layers > layers.len() {
        // Unaccounted layers: mark entries empty from the bottom once layers run out.
        let mut seen = 0;
        for h in &mut history {
            if seen >= layers.len() {
                h.empty_layer = true;
            }
            if !h.empty_layer {
                seen += 1;
            }
        }
    }
    let history_layers = history.iter().filter(|h| !h.empty_layer).count();
    for (i, layer) in layers.iter().enumerate().skip(history_layers) {
        history.push(History {
            created: layer_time(i),
            created_by: Some(
                layer
                    .description
                    .clone()
                    .unwrap_or_else(|| "created by buildkit".to_string()),
            ),
            author: None,
            comment: Some(EXPORTER_HISTORY_COMMENT.to_string()),
            empty_layer: false,
        });
    }
    let mut layer_index = 0;
    for h in &mut history {
        if !h.empty_layer {
            if h.created.is_none() {
                h.created = layer_time(layer_index);
            }
            layer_index += 1;
        }
    }
    // The first time after an entry without one (so a first metadata step does not take a base
    // layer's time), else the last time seen.
    let mut created: Option<String> = None;
    let mut missing = false;
    for h in &history {
        match &h.created {
            Some(t) => {
                created = Some(t.clone());
                if missing {
                    break;
                }
            }
            None => missing = true,
        }
    }
    missing = false;
    for h in &mut history {
        match &h.created {
            Some(t) => {
                if missing {
                    created = Some(t.clone());
                }
            }
            None => {
                missing = true;
                h.created = created.clone();
            }
        }
    }
    history
}

/// Patches the frontend's config: `rootfs`, `history`, `created` (BuildKit's `patchImageConfig`).
fn patch_config(
    config: &[u8],
    platform: &Platform,
    layers: &[Layer],
    epoch: Option<OffsetDateTime>,
) -> Result<Vec<u8>> {
    let invalid = |reason: String| Error::InvalidConfig {
        platform: kiln_platforms::format(platform),
        reason,
    };
    let default;
    let config = if config.is_empty() {
        default = default_config(platform);
        &default[..]
    } else {
        config
    };
    let mut fields: BTreeMap<String, Box<RawValue>> =
        serde_json::from_slice(config).map_err(|e| invalid(format!("not a JSON object: {e}")))?;
    let history: HistoryOnly =
        serde_json::from_slice(config).map_err(|e| invalid(format!("bad history: {e}")))?;
    let mut history = normalize_history(history.history.unwrap_or_default(), layers);

    let raw = |bytes: Vec<u8>| -> Result<Box<RawValue>> {
        let text = String::from_utf8(bytes).map_err(|e| invalid(e.to_string()))?;
        RawValue::from_string(text).map_err(|e| invalid(e.to_string()))
    };

    let rootfs = WireRootFs {
        kind: "layers",
        diff_ids: (!layers.is_empty()).then(|| layers.iter().map(|l| &l.diff_id).collect()),
    };
    fields.insert(
        "rootfs".into(),
        raw(gojson::to_vec(&rootfs).map_err(Error::json("rootfs"))?)?,
    );

    let epoch_text = epoch.map(gojson::format_time);
    if let (Some(epoch), Some(epoch_text)) = (epoch, &epoch_text) {
        for h in &mut history {
            let after = match h.created.as_deref().map(gojson::parse_time) {
                None => true,
                Some(Some(t)) => t > epoch,
                Some(None) => false,
            };
            if after {
                h.created = Some(epoch_text.clone());
            }
        }
    }
    // Go's nil slice is `null`.
    let history_json = if history.is_empty() {
        b"null".to_vec()
    } else {
        gojson::to_vec(&history).map_err(Error::json("history"))?
    };
    fields.insert("history".into(), raw(history_json)?);

    if let (Some(epoch), Some(epoch_text), Some(created)) =
        (epoch, &epoch_text, fields.get("created"))
    {
        let current: Option<String> = serde_json::from_str(created.get())
            .map_err(|e| invalid(format!("bad created time: {e}")))?;
        if let Some(current) = current {
            let t = gojson::parse_time(&current)
                .ok_or_else(|| invalid(format!("bad created time {current:?}")))?;
            if t > epoch {
                fields.insert(
                    "created".into(),
                    raw(gojson::to_vec(epoch_text).map_err(Error::json("created"))?)?,
                );
            }
        }
    }
    if !fields.contains_key("created") {
        let last = history.iter().rev().find_map(|h| h.created.clone());
        fields.insert(
            "created".into(),
            raw(gojson::to_vec(&last).map_err(Error::json("created"))?)?,
        );
    }
    fields.remove("moby.buildkit.buildinfo.v1");

    let mut out = Vec::with_capacity(config.len() + 256);
    out.push(b'{');
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend(gojson::to_vec(k).map_err(Error::json("config key"))?);
        out.push(b':');
        gojson::compact_raw(v.get(), &mut out);
    }
    out.push(b'}');
    Ok(out)
}

/// The layer media type BuildKit writes (`ConvertAllLayerMediaTypes`): zstd has no Docker type
/// and keeps the OCI one.
fn layer_media_type(c: Compression, oci: bool) -> &'static str {
    match (c, oci) {
        (Compression::Zstd, _) => OCI_LAYER_ZSTD,
        (c, oci) => c.layer_media_type(oci),
    }
}

fn put_blob<S: Ingester>(
    store: &S,
    kind: &str,
    data: &[u8],
    lease: Option<&str>,
) -> Result<Digest> {
    let digest = Digest::sha256(data);
    let mut opts = WriterOptions::new(format!("{kind}-{digest}"))
        .expected(digest.clone())
        .size(data.len() as u64);
    if let Some(lease) = lease {
        opts = opts.lease(lease);
    }
    write_blob(store, opts, &mut Cursor::new(data))?;
    Ok(digest)
}

fn gc_labels<'a>(children: impl Iterator<Item = &'a Digest>) -> BTreeMap<String, String> {
    children
        .enumerate()
        .map(|(i, d)| {
            (
                format!("{}.{i}", kiln_store::GC_REF_CONTENT_PREFIX),
                d.to_string(),
            )
        })
        .collect()
}

fn commit_manifest<S: Provider + Ingester + LabelStore>(
    store: &S,
    image: &PlatformImage,
    opts: &ImageOptions,
    oci: bool,
) -> Result<CommittedManifest> {
    let config = patch_config(&image.config, &image.platform, &image.layers, opts.epoch)?;
    let lease = opts.lease.as_deref();
    let config_digest = put_blob(store, "config", &config, lease)?;
    let config_desc = BlobDescriptor::new(
        if oci { OCI_CONFIG } else { DOCKER_CONFIG },
        config_digest,
        config.len() as u64,
    );
    let layers: Vec<BlobDescriptor> = image
        .layers
        .iter()
        .map(|l| {
            BlobDescriptor::new(
                layer_media_type(l.compression, oci),
                l.digest.clone(),
                l.size,
            )
        })
        .collect();
    let annotations = opts.annotations.for_platform(Some(&image.platform));
    let media_type = if oci { OCI_MANIFEST } else { DOCKER_MANIFEST };
    let manifest = WireManifest {
        media_type,
        schema_version: 2,
        config: &config_desc,
        layers: (!layers.is_empty()).then_some(&layers[..]),
        annotations: &annotations.manifest,
    };
    let bytes = gojson::to_vec_indent(&manifest).map_err(Error::json("manifest"))?;
    let digest = put_blob(store, "manifest", &bytes, lease)?;
    store.set_labels(
        &digest,
        &gc_labels(std::iter::once(&config_desc.digest).chain(layers.iter().map(|l| &l.digest))),
    )?;
    let mut descriptor = BlobDescriptor::new(media_type, digest, bytes.len() as u64);
    descriptor.annotations = annotations.manifest_descriptor;
    descriptor.platform = Some(WirePlatform::from(&image.platform));
    Ok(CommittedManifest {
        platform: image.platform.clone(),
        descriptor,
        config: config_desc,
        layers,
    })
}

/// Writes configs, manifests and (for several platforms or [`ImageOptions::force_index`]) the
/// index into the store, and labels them for GC. Layers must already be in the store.
///
/// `oci` is the media-type choice (see [`ImageOptions::effective_oci`]).
pub fn commit_image<S: Provider + Ingester + LabelStore>(
    store: &S,
    images: &[PlatformImage],
    opts: &ImageOptions,
    oci: bool,
) -> Result<CommittedImage> {
    if images.is_empty() {
        return Err(Error::Unsupported(
            "nothing to export: the build produced no image".into(),
        ));
    }
    for p in opts.annotations.platforms() {
        let np = kiln_platforms::normalize(p);
        if !images
            .iter()
            .any(|i| kiln_platforms::normalize(&i.platform) == np)
        {
            return Err(Error::Unsupported(format!(
                "invalid annotation: no platform {} found in source",
                kiln_platforms::format(p)
            )));
        }
    }
    let index_level = opts.annotations.for_platform(None);
    let is_index = images.len() > 1 || opts.force_index;
    if !is_index && (!index_level.index.is_empty() || !index_level.index_descriptor.is_empty()) {
        return Err(Error::Unsupported(
            "index annotations not supported for single platform export".into(),
        ));
    }
    let manifests = images
        .iter()
        .map(|img| commit_manifest(store, img, opts, oci))
        .collect::<Result<Vec<_>>>()?;
    if !is_index {
        let root = manifests[0].descriptor.clone();
        return Ok(CommittedImage {
            root,
            is_index: false,
            manifests,
            oci_mediatypes: oci,
        });
    }
    let entries: Vec<BlobDescriptor> = manifests.iter().map(|m| m.descriptor.clone()).collect();
    let media_type = if oci { OCI_INDEX } else { DOCKER_MANIFEST_LIST };
    let index = WireIndex {
        media_type,
        schema_version: 2,
        manifests: &entries,
        annotations: &index_level.index,
    };
    let bytes = gojson::to_vec_indent(&index).map_err(Error::json("index"))?;
    let digest = put_blob(store, "index", &bytes, opts.lease.as_deref())?;
    store.set_labels(&digest, &gc_labels(entries.iter().map(|e| &e.digest)))?;
    let mut root = BlobDescriptor::new(media_type, digest, bytes.len() as u64);
    root.annotations = index_level.index_descriptor;
    Ok(CommittedImage {
        root,
        is_index: true,
        manifests,
        oci_mediatypes: oci,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(n: u8, created: Option<&str>) -> Layer {
        Layer {
            digest: Digest::sha256(&[n]),
            size: 1,
            diff_id: Digest::sha256(&[n, n]),
            compression: Compression::Gzip,
            created: created.and_then(gojson::parse_time),
            description: None,
        }
    }

    #[test]
    fn history_is_reconciled_like_buildkit() {
        let h = |created: Option<&str>, empty: bool| History {
            created: created.map(str::to_string),
            created_by: Some("x".into()),
            empty_layer: empty,
            ..History::default()
        };
        // base layer (timed), a metadata step (no time), a RUN layer (no time: the layer's).
        let out = normalize_history(
            vec![
                h(Some("2020-01-01T00:00:00Z"), false),
                h(None, true),
                h(None, false),
            ],
            &[layer(1, None), layer(2, Some("2024-01-01T00:00:00Z"))],
        );
        let times: Vec<_> = out.iter().map(|h| h.created.clone().unwrap()).collect();
        assert_eq!(
            times,
            [
                "2020-01-01T00:00:00Z",
                "2024-01-01T00:00:00Z",
                "2024-01-01T00:00:00Z"
            ]
        );
        // An unaccounted layer gets an exporter entry.
        let out = normalize_history(vec![], &[layer(1, Some("2024-01-01T00:00:00Z"))]);
        assert_eq!(out[0].comment.as_deref(), Some(EXPORTER_HISTORY_COMMENT));
        // Too many non-empty entries: the top ones become empty.
        let out = normalize_history(vec![h(None, false), h(None, false)], &[layer(1, None)]);
        assert!(!out[0].empty_layer && out[1].empty_layer);
    }

    #[test]
    fn config_is_patched_with_sorted_keys_and_raw_values() {
        let cfg = br#"{"os":"linux","architecture":"amd64","config":{"Env":["A=<b>"],"Cmd":["sh"]},"moby.buildkit.buildinfo.v1":"x","history":[{"created":"2030-01-01T00:00:00Z","created_by":"RUN a && b","comment":"buildkit.dockerfile.v0"},{"created_by":"ENV A=1","empty_layer":true,"comment":"buildkit.dockerfile.v0"}]}"#;
        let p = kiln_platforms::parse("linux/amd64").unwrap();
        let epoch = gojson::parse_time("2025-01-01T00:00:00Z");
        let out = patch_config(cfg, &p, &[layer(1, None)], epoch).unwrap();
        let expected = format!(
            concat!(
                r#"{{"architecture":"amd64","config":{{"Env":["A=\u003cb\u003e"],"Cmd":["sh"]}},"#,
                r#""created":"2025-01-01T00:00:00Z","history":[{{"created":"2025-01-01T00:00:00Z","created_by":"RUN a \u0026\u0026 b","comment":"buildkit.dockerfile.v0"}},"#,
                r#"{{"created":"2025-01-01T00:00:00Z","created_by":"ENV A=1","comment":"buildkit.dockerfile.v0","empty_layer":true}}],"#,
                r#""os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#
            ),
            Digest::sha256(&[1, 1])
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn scratch_config_has_null_diff_ids() {
        let p = kiln_platforms::parse("linux/arm/v7").unwrap();
        let out = String::from_utf8(patch_config(b"", &p, &[], None).unwrap()).unwrap();
        assert_eq!(
            out,
            r#"{"architecture":"arm","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"WorkingDir":"/"},"created":null,"history":null,"os":"linux","rootfs":{"type":"layers","diff_ids":null},"variant":"v7"}"#
        );
    }
}
