//! The `oci` and `docker` outputs: an OCI image layout (tarball or directory) and the Docker
//! image tarball, as BuildKit writes them through containerd's `images/archive` exporter.
//!
//! Both tarballs hold `oci-layout`, `index.json` and `blobs/sha256/<hex>`; the Docker one also
//! `manifest.json` (the `docker load` format, one platform only). Entries are sorted by name, with
//! `blobs/` and `blobs/sha256/` directory entries, owner 0:0, mtime 0: the same image gives the
//! same tarball. `index.json` has one entry per image name, annotated with
//! `io.containerd.image.name` (the full name) and `org.opencontainers.image.ref.name` (the tag),
//! plus `org.opencontainers.image.created` (now, or `SOURCE_DATE_EPOCH`).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;

use kiln_store::Provider;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::gojson;
use crate::image::{BlobDescriptor, CommittedImage, OCI_INDEX};

/// `org.opencontainers.image.created`.
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
/// `org.opencontainers.image.ref.name`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// `io.containerd.image.name`.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

/// Which tarball flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutKind {
    /// `type=oci`: every platform's blobs, no `manifest.json`.
    Oci,
    /// `type=docker`: one platform, plus Docker's `manifest.json`.
    Docker,
}

/// Options of the `oci` / `docker` outputs.
#[derive(Debug, Clone)]
pub struct LayoutOptions {
    /// The flavour.
    pub kind: LayoutKind,
    /// Normalized image names (see [`normalize_names`]); may be empty.
    pub names: Vec<String>,
    /// The `org.opencontainers.image.created` annotation of the root descriptor: the export time,
    /// or `SOURCE_DATE_EPOCH` for reproducible output.
    pub created: OffsetDateTime,
}

/// Splits and normalizes a `name=a,b` value as BuildKit does (`docker.io/library/a:latest`).
pub fn normalize_names(value: &str) -> Result<Vec<String>> {
    if value.is_empty() {
        return Ok(Vec::new());
    }
    value
        .split(',')
        .map(|n| {
            kiln_reference::parse_normalized_named(n)
                .map(|r| r.tag_name_only().to_string())
                .map_err(|source| Error::InvalidName {
                    name: n.to_string(),
                    source,
                })
        })
        .collect()
}

/// The OCI `ref.name` of a full name: its tag (containerd's `ociReferenceName`).
fn oci_ref_name(name: &str) -> Option<String> {
    let r = kiln_reference::parse_normalized_named(name).ok()?;
    r.tag().map(str::to_string)
}

/// The root descriptor as the exporter hands it out: BuildKit's descriptor plus the `created`
/// annotation (also what `containerimage.descriptor` holds for `oci`/`docker`).
pub fn exported_root(image: &CommittedImage, created: OffsetDateTime) -> BlobDescriptor {
    let mut root = image.root.clone();
    root.annotations
        .entry(ANNOTATION_CREATED.to_string())
        .or_insert_with(|| format_rfc3339_seconds(created));
    root
}

/// Go's `t.UTC().Format(time.RFC3339)`: seconds precision, `Z`.
fn format_rfc3339_seconds(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    gojson::format_time(t)
}

#[derive(Deserialize)]
struct WireLayoutIndex {
    manifests: Vec<Box<serde_json::value::RawValue>>,
}

#[derive(Deserialize)]
struct OldEntry {
    #[serde(default)]
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct WireLayoutIndexOut<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'static str,
    manifests: &'a [BlobDescriptor],
}

/// The `index.json` entries: one per name (or one without names).
fn index_entries(image: &CommittedImage, opts: &LayoutOptions) -> Vec<BlobDescriptor> {
    let root = exported_root(image, opts.created);
    if opts.names.is_empty() {
        return vec![root];
    }
    opts.names
        .iter()
        .map(|name| {
            let mut d = root.clone();
            d.annotations
                .insert(ANNOTATION_IMAGE_NAME.to_string(), name.clone());
            if let Some(tag) = oci_ref_name(name) {
                d.annotations.insert(ANNOTATION_REF_NAME.to_string(), tag);
            }
            d
        })
        .collect()
}

#[derive(Serialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: Vec<String>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

fn blob_path(d: &BlobDescriptor) -> String {
    format!("blobs/{}/{}", d.digest.algorithm(), d.digest.hex())
}

/// Docker's `manifest.json`.
fn docker_manifest_json(image: &CommittedImage, names: &[String]) -> Result<Vec<u8>> {
    let m = &image.manifests[0];
    let repo_tags = names
        .iter()
        .filter_map(|n| kiln_reference::parse_normalized_named(n).ok())
        .filter(|r| r.tag().is_some())
        .map(|r| r.familiar_string())
        .collect();
    let entry = DockerManifestEntry {
        config: blob_path(&m.config),
        repo_tags,
        layers: m.layers.iter().map(blob_path).collect(),
    };
    gojson::to_vec(&[entry]).map_err(Error::json("manifest.json"))
}

/// The files of the layout other than blobs, and the blobs to include.
struct LayoutPlan {
    files: Vec<(String, Vec<u8>)>,
    blobs: Vec<BlobDescriptor>,
}

fn plan(image: &CommittedImage, opts: &LayoutOptions) -> Result<LayoutPlan> {
    if opts.kind == LayoutKind::Docker && (image.is_index || image.manifests.len() != 1) {
        return Err(Error::Unsupported(
            "docker exporter does not currently support exporting manifest lists; \
             build one platform, or use -o type=oci for a multi-platform image"
                .into(),
        ));
    }
    let entries = index_entries(image, opts);
    let index = WireLayoutIndexOut {
        schema_version: 2,
        media_type: OCI_INDEX,
        manifests: &entries,
    };
    let mut files = vec![
        (
            "index.json".to_string(),
            gojson::to_vec(&index).map_err(Error::json("index.json"))?,
        ),
        (
            "oci-layout".to_string(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
    ];
    if opts.kind == LayoutKind::Docker {
        files.push((
            "manifest.json".to_string(),
            docker_manifest_json(image, &opts.names)?,
        ));
    }
    Ok(LayoutPlan {
        files,
        blobs: image.blobs(),
    })
}

fn tar_header(path: &str, size: u64, mode: u32, kind: tar::EntryType) -> Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)
        .map_err(|e| Error::io("naming tar entry", path, e))?;
    h.set_size(size);
    h.set_mode(mode);
    h.set_entry_type(kind);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    Ok(h)
}

/// Writes the `oci` or `docker` tarball of `image` to `out` and returns `out`.
///
/// Blobs are streamed from `provider` (a missing blob fails with the store's `NotFound`). `out`
/// receives a partial tarball on failure: write to a temporary file and rename (see
/// [`crate::AtomicFile`]) when the destination is a file.
pub fn write_layout_tar<W: Write>(
    provider: &dyn Provider,
    image: &CommittedImage,
    opts: &LayoutOptions,
    out: W,
) -> Result<W> {
    let plan = plan(image, opts)?;
    let mut entries: BTreeMap<String, Entry<'_>> = BTreeMap::new();
    entries.insert("blobs/".into(), Entry::Dir);
    for d in &plan.blobs {
        entries.insert(format!("blobs/{}/", d.digest.algorithm()), Entry::Dir);
        entries.insert(blob_path(d), Entry::Blob(d));
    }
    for (name, data) in &plan.files {
        entries.insert(name.clone(), Entry::File(data));
    }
    let mut tar = tar::Builder::new(out);
    let w = |e| Error::io("writing", "<oci layout tarball>", e);
    for (path, entry) in &entries {
        match entry {
            Entry::Dir => {
                let h = tar_header(path, 0, 0o755, tar::EntryType::Directory)?;
                tar.append(&h, io::empty()).map_err(w)?;
            }
            Entry::File(data) => {
                let h = tar_header(path, data.len() as u64, 0o444, tar::EntryType::Regular)?;
                tar.append(&h, &data[..]).map_err(w)?;
            }
            Entry::Blob(d) => {
                let blob = provider.open(&d.digest)?;
                if blob.size() != d.size {
                    return Err(Error::Store(kiln_store::Error::SizeMismatch {
                        object: kiln_store::Object::Blob(d.digest.clone()),
                        expected: d.size,
                        actual: blob.size(),
                    }));
                }
                let h = tar_header(path, d.size, 0o444, tar::EntryType::Regular)?;
                tar.append(&h, blob.take(d.size)).map_err(w)?;
            }
        }
    }
    tar.into_inner().map_err(w)
}

enum Entry<'a> {
    Dir,
    File(&'a [u8]),
    Blob(&'a BlobDescriptor),
}

/// Writes `image` as an OCI layout directory (`type=oci,tar=false`), merging `index.json` with
/// one already there: entries with the same image name (or, unnamed, the same digest) are
/// replaced, others kept. Blobs already present are not rewritten.
pub fn write_layout_dir(
    provider: &dyn Provider,
    image: &CommittedImage,
    opts: &LayoutOptions,
    dir: &Path,
) -> Result<()> {
    let plan = plan(image, opts)?;
    for d in &plan.blobs {
        let alg_dir = dir.join("blobs").join(d.digest.algorithm().as_str());
        fs::create_dir_all(&alg_dir).map_err(|e| Error::io("creating", &alg_dir, e))?;
        let path = alg_dir.join(d.digest.hex());
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.len() == d.size) {
            continue;
        }
        let mut blob = provider.open(&d.digest)?;
        let mut file = crate::AtomicFile::create(&path)?;
        io::copy(&mut blob, &mut file).map_err(|e| Error::io("writing", &path, e))?;
        file.commit()?;
    }
    let new_entries = index_entries(image, opts);
    let index_path = dir.join("index.json");
    let mut manifests: Vec<Box<serde_json::value::RawValue>> = match fs::read(&index_path) {
        Ok(data) => {
            let old: WireLayoutIndex = serde_json::from_slice(&data).map_err(|e| {
                Error::io(
                    "reading existing",
                    &index_path,
                    io::Error::new(io::ErrorKind::InvalidData, e),
                )
            })?;
            old.manifests
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io("reading", &index_path, e)),
    };
    manifests.retain(|m| {
        let Ok(old) = serde_json::from_str::<OldEntry>(m.get()) else {
            return true;
        };
        let name = old.annotations.get(ANNOTATION_IMAGE_NAME);
        !new_entries
            .iter()
            .any(|n| match (name, n.annotations.get(ANNOTATION_IMAGE_NAME)) {
                (Some(a), Some(b)) => a == b,
                (None, None) => old.digest == n.digest.as_str(),
                _ => false,
            })
    });
    let mut out = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":["#.to_vec();
    for (i, m) in manifests.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        gojson::compact_raw(m.get(), &mut out);
    }
    for (i, e) in new_entries.iter().enumerate() {
        if i > 0 || !manifests.is_empty() {
            out.push(b',');
        }
        out.extend(e.to_json()?);
    }
    out.extend_from_slice(b"]}");
    for (name, data) in plan
        .files
        .iter()
        .filter(|(n, _)| n != "index.json")
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .chain(std::iter::once(("index.json", out.as_slice())))
    {
        let path = dir.join(name);
        let mut f = crate::AtomicFile::create(&path)?;
        f.write_all(data)
            .map_err(|e| Error::io("writing", &path, e))?;
        f.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized_like_buildkit() {
        assert_eq!(
            normalize_names("app,reg.example:5000/team/app:1").unwrap(),
            [
                "docker.io/library/app:latest",
                "reg.example:5000/team/app:1"
            ]
        );
        assert!(normalize_names("UPPER").is_err());
        assert_eq!(
            oci_ref_name("docker.io/library/app:1").as_deref(),
            Some("1")
        );
    }
}
