//! Summaries of OCI image layouts in the format of the `builds` conformance suite
//! (`../shared/conformance/suites/builds/README.md`), and a readable diff between two of them.
//!
//! [`summarize`] reads an OCI image layout (a directory, or an OCI layout tarball such as
//! `kiln build -o type=oci,dest=out.tar` writes) and returns
//! `{"rc": 0, "images": {"<os>/<arch>[/<variant>]": {"config": {...}, "history": [...],
//! "tree": {...}}}}`:
//!
//! - images: `index.json` walked through nested indexes, attestation manifests skipped
//!   (platform `unknown/unknown` or annotation `vnd.docker.reference.type:
//!   attestation-manifest`), keyed by the image config's `os`/`architecture`/`variant`;
//! - `config`: the listed keys of the config's `config` object, when present and non-empty,
//!   `Env` sorted;
//! - `history`: `[created_by, empty_layer, comment]` per entry;
//! - `tree`: the layers (gzip, zstd or plain tar, detected by content) applied in order, each
//!   layer's whiteouts (`.wh..wh..opq`, `.wh.NAME`) first, then its entries; values
//!   `file SIZE SHA256PREFIX16`, `dir`, `symlink -> TARGET`, `fifo`, `dev MAJOR:MINOR`, each
//!   followed by ` mode=0oNNNN uid=U gid=G`; a hard link gets the value of its target.
//!
//! [`diff`] compares an expected summary with an actual one and lists every difference as
//! one line (platforms, config keys, history rows, tree paths).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The keys of the image config's `config` object a summary keeps, in this order.
pub const CONFIG_KEYS: [&str; 12] = [
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "OnBuild",
    "Shell",
];

/// Nested indexes deeper than this are treated as a malformed (cyclic) layout.
const MAX_INDEX_DEPTH: usize = 8;

/// Why a layout could not be summarized.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// Reading a file failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The layout (or one of its blobs) is malformed.
    #[error("{}: {why}", path.display())]
    Invalid { path: PathBuf, why: String },
}

impl SummaryError {
    fn io(what: &'static str, path: &Path, source: std::io::Error) -> Self {
        SummaryError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }

    fn invalid(path: &Path, why: impl Into<String>) -> Self {
        SummaryError::Invalid {
            path: path.to_path_buf(),
            why: why.into(),
        }
    }
}

/// Summarizes an OCI image layout directory, or an OCI layout tarball (extracted to a
/// temporary directory first).
pub fn summarize(path: &Path) -> Result<Value, SummaryError> {
    if path.is_dir() {
        return summarize_layout(path);
    }
    let scratch = tempfile::Builder::new()
        .prefix("kiln-summary-")
        .tempdir()
        .map_err(|e| SummaryError::io("creating a temporary directory for", path, e))?;
    let file = File::open(path).map_err(|e| SummaryError::io("opening", path, e))?;
    // `unpack` refuses entries that would land outside the destination.
    tar::Archive::new(file)
        .unpack(scratch.path())
        .map_err(|e| SummaryError::io("extracting", path, e))?;
    summarize_layout(scratch.path())
        .map_err(|e| SummaryError::invalid(path, format!("(extracted) {e}")))
}

/// Summarizes an OCI image layout directory (`oci-layout`, `index.json`, `blobs/`).
pub fn summarize_layout(dir: &Path) -> Result<Value, SummaryError> {
    let index_path = dir.join("index.json");
    let index = read_json_file(&index_path)?;
    let mut images = Map::new();
    let mut seen = BTreeSet::new();
    walk_index(dir, &index, 0, &mut seen, &mut images)?;
    Ok(json!({"rc": 0, "images": Value::Object(images)}))
}

fn read_json_file(path: &Path) -> Result<Value, SummaryError> {
    let bytes = std::fs::read(path).map_err(|e| SummaryError::io("reading", path, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| SummaryError::invalid(path, format!("not valid JSON: {e}")))
}

/// The path of a blob, after checking the digest's form (no path tricks).
fn blob_path(dir: &Path, digest: &str) -> Result<PathBuf, SummaryError> {
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| SummaryError::invalid(dir, format!("malformed digest {digest:?}")))?;
    let alg_ok = !alg.is_empty()
        && alg
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c));
    let hex_ok = !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    if !alg_ok || !hex_ok {
        return Err(SummaryError::invalid(
            dir,
            format!("malformed digest {digest:?}"),
        ));
    }
    Ok(dir.join("blobs").join(alg).join(hex))
}

/// Reads a blob fully, verifying it against its sha256 digest.
fn read_blob(dir: &Path, digest: &str) -> Result<Vec<u8>, SummaryError> {
    let path = blob_path(dir, digest)?;
    let bytes = std::fs::read(&path).map_err(|e| SummaryError::io("reading blob", &path, e))?;
    if let Some(hex) = digest.strip_prefix("sha256:") {
        let got = hex_string(&Sha256::digest(&bytes));
        if got != hex {
            return Err(SummaryError::invalid(
                &path,
                format!("content has digest sha256:{got}, not {digest}"),
            ));
        }
    }
    Ok(bytes)
}

fn read_json_blob(dir: &Path, digest: &str) -> Result<Value, SummaryError> {
    let bytes = read_blob(dir, digest)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| SummaryError::invalid(dir, format!("blob {digest} is not valid JSON: {e}")))
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_index_media_type(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.index.v1+json"
            | "application/vnd.docker.distribution.manifest.list.v2+json"
    )
}

fn is_attestation(descriptor: &Value) -> bool {
    let platform = &descriptor["platform"];
    let unknown = platform["os"] == "unknown" && platform["architecture"] == "unknown";
    let annotated =
        descriptor["annotations"]["vnd.docker.reference.type"] == "attestation-manifest";
    unknown || annotated
}

fn walk_index(
    dir: &Path,
    index: &Value,
    depth: usize,
    seen: &mut BTreeSet<String>,
    images: &mut Map<String, Value>,
) -> Result<(), SummaryError> {
    if depth > MAX_INDEX_DEPTH {
        return Err(SummaryError::invalid(
            dir,
            "image indexes nested too deeply",
        ));
    }
    let Some(descriptors) = index["manifests"].as_array() else {
        return Err(SummaryError::invalid(
            dir,
            "an index has no `manifests` array",
        ));
    };
    for descriptor in descriptors {
        if is_attestation(descriptor) {
            continue;
        }
        let digest = descriptor["digest"]
            .as_str()
            .ok_or_else(|| SummaryError::invalid(dir, "a descriptor has no digest"))?;
        if !seen.insert(digest.to_string()) {
            continue;
        }
        let blob = read_json_blob(dir, digest)?;
        let media_type = descriptor["mediaType"]
            .as_str()
            .or_else(|| blob["mediaType"].as_str())
            .unwrap_or_default();
        if is_index_media_type(media_type)
            || (media_type.is_empty() && blob["manifests"].is_array())
        {
            walk_index(dir, &blob, depth + 1, seen, images)?;
        } else {
            let (key, image) = summarize_manifest(dir, digest, &blob)?;
            images.insert(key, image);
        }
    }
    Ok(())
}

/// One image manifest's platform key and `{config, history, tree}`.
fn summarize_manifest(
    dir: &Path,
    digest: &str,
    manifest: &Value,
) -> Result<(String, Value), SummaryError> {
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .ok_or_else(|| SummaryError::invalid(dir, format!("manifest {digest} has no config")))?;
    let config = read_json_blob(dir, config_digest)?;
    let os = config["os"].as_str().unwrap_or_default();
    let arch = config["architecture"].as_str().unwrap_or_default();
    let key = match config["variant"].as_str().filter(|v| !v.is_empty()) {
        Some(variant) => format!("{os}/{arch}/{variant}"),
        None => format!("{os}/{arch}"),
    };
    let mut tree = Tree::default();
    if let Some(layers) = manifest["layers"].as_array() {
        for layer in layers {
            let layer_digest = layer["digest"].as_str().ok_or_else(|| {
                SummaryError::invalid(dir, format!("manifest {digest} has a layer without digest"))
            })?;
            let path = blob_path(dir, layer_digest)?;
            verify_file_digest(&path, layer_digest)?;
            tree.apply_layer(&path)?;
        }
    }
    let image = json!({
        "config": summarize_config(&config["config"]),
        "history": summarize_history(&config["history"]),
        "tree": tree.into_json(),
    });
    Ok((key, image))
}

fn verify_file_digest(path: &Path, digest: &str) -> Result<(), SummaryError> {
    let Some(hex) = digest.strip_prefix("sha256:") else {
        return Ok(());
    };
    let mut file = File::open(path).map_err(|e| SummaryError::io("opening blob", path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| SummaryError::io("reading blob", path, e))?;
    let got = hex_string(&hasher.finalize());
    if got == hex {
        Ok(())
    } else {
        Err(SummaryError::invalid(
            path,
            format!("content has digest sha256:{got}, not {digest}"),
        ))
    }
}

fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// The [`CONFIG_KEYS`] of an image config's `config` object that are present and non-empty,
/// `Env` sorted.
pub fn summarize_config(config: &Value) -> Value {
    let mut out = Map::new();
    for key in CONFIG_KEYS {
        let value = &config[key];
        if is_empty_value(value) {
            continue;
        }
        let value = match (key, value) {
            ("Env", Value::Array(env)) => {
                let mut env = env.clone();
                env.sort_by_key(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                });
                Value::Array(env)
            }
            _ => value.clone(),
        };
        out.insert(key.to_string(), value);
    }
    Value::Object(out)
}

/// `[created_by, empty_layer, comment]` for every entry of an image config's `history`.
pub fn summarize_history(history: &Value) -> Value {
    let rows = history
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|h| {
                    json!([
                        h["created_by"].as_str().unwrap_or_default(),
                        h["empty_layer"].as_bool().unwrap_or(false),
                        h["comment"].as_str().unwrap_or_default(),
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    Value::Array(rows)
}

/// A path inside a layer without a leading `/` or `./` and without a trailing `/`; empty for
/// the root.
fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    parts.join("/")
}

/// Splits `dir/name` into (`dir`, `name`); the directory is empty at the top.
fn split_parent(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((parent, name)) => (parent, name),
        None => ("", path),
    }
}

/// Removes `path` (unless `keep_self`) and everything below it.
fn remove_below(map: &mut BTreeMap<String, String>, path: &str, keep_self: bool) {
    if !keep_self {
        map.remove(path);
    }
    let below: Vec<String> = if path.is_empty() {
        map.keys().cloned().collect()
    } else {
        let prefix = format!("{path}/");
        map.range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect()
    };
    for key in below {
        map.remove(&key);
    }
}

/// What one tar entry adds to the tree.
enum Added {
    Value(String),
    HardLink(String),
}

/// The file tree made by applying layers.
#[derive(Debug, Default)]
struct Tree {
    entries: BTreeMap<String, String>,
}

impl Tree {
    fn into_json(self) -> Value {
        Value::Object(
            self.entries
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        )
    }

    /// Applies one layer blob (gzip, zstd or plain tar, detected by its first bytes).
    fn apply_layer(&mut self, path: &Path) -> Result<(), SummaryError> {
        let file = File::open(path).map_err(|e| SummaryError::io("opening layer", path, e))?;
        let mut reader = BufReader::new(file);
        let magic = reader
            .fill_buf()
            .map_err(|e| SummaryError::io("reading layer", path, e))?
            .to_vec();
        let stream: Box<dyn Read> = if magic.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::MultiGzDecoder::new(reader))
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Box::new(
                zstd::stream::read::Decoder::with_buffer(reader)
                    .map_err(|e| SummaryError::io("decompressing layer", path, e))?,
            )
        } else {
            Box::new(reader)
        };
        self.apply_tar(stream)
            .map_err(|why| SummaryError::invalid(path, why))
    }

    /// Applies one uncompressed layer: its whiteouts first, then its entries in order.
    fn apply_tar(&mut self, stream: impl Read) -> Result<(), String> {
        let mut archive = tar::Archive::new(stream);
        let mut opaque = Vec::new();
        let mut removed = Vec::new();
        let mut added: Vec<(String, Added)> = Vec::new();
        let entries = archive
            .entries()
            .map_err(|e| format!("reading the tar: {e}"))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| format!("reading a tar entry: {e}"))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let path = normalize(&raw);
            let (parent, name) = split_parent(&path);
            if name == ".wh..wh..opq" {
                opaque.push(parent.to_string());
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                let target = if parent.is_empty() {
                    hidden.to_string()
                } else {
                    format!("{parent}/{hidden}")
                };
                removed.push(target);
                continue;
            }
            if path.is_empty() {
                continue;
            }
            let Some(what) = describe(&mut entry, &raw)? else {
                continue;
            };
            added.push((path, what));
        }
        for dir in opaque {
            remove_below(&mut self.entries, &dir, true);
        }
        for path in removed {
            remove_below(&mut self.entries, &path, false);
        }
        for (path, what) in added {
            let value = match what {
                Added::Value(v) => v,
                Added::HardLink(target) => match self.entries.get(&target) {
                    Some(v) => v.clone(),
                    None => format!("hardlink -> {target} (target missing)"),
                },
            };
            if !value.starts_with("dir ") {
                remove_below(&mut self.entries, &path, true);
            }
            self.entries.insert(path, value);
        }
        Ok(())
    }
}

/// The summary value of one tar entry (reading a file's content), a hard link's target, or
/// `None` for entry types a summary ignores (PAX global headers, ...).
fn describe<R: Read>(entry: &mut tar::Entry<'_, R>, raw: &str) -> Result<Option<Added>, String> {
    let header = entry.header().clone();
    let mode = header.mode().map_err(|e| format!("{raw}: bad mode: {e}"))? & 0o7777;
    let mut uid = header.uid().map_err(|e| format!("{raw}: bad uid: {e}"))?;
    let mut gid = header.gid().map_err(|e| format!("{raw}: bad gid: {e}"))?;
    if let Ok(Some(pax)) = entry.pax_extensions() {
        for ext in pax.flatten() {
            let parsed = ext.value().ok().and_then(|v| v.trim().parse::<u64>().ok());
            match (ext.key(), parsed) {
                (Ok("uid"), Some(v)) => uid = v,
                (Ok("gid"), Some(v)) => gid = v,
                _ => {}
            }
        }
    }
    let owner = format!(" mode=0o{mode:o} uid={uid} gid={gid}");
    let kind = header.entry_type();
    let link_target = || -> Result<String, String> {
        entry
            .link_name_bytes()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .ok_or_else(|| format!("{raw}: link without a target"))
    };
    let value = match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            let mut hasher = Sha256::new();
            let size = std::io::copy(entry, &mut hasher)
                .map_err(|e| format!("{raw}: reading the content: {e}"))?;
            let hex = hex_string(&hasher.finalize());
            format!("file {size} {}", &hex[..16])
        }
        tar::EntryType::Directory => "dir".to_string(),
        tar::EntryType::Symlink => format!("symlink -> {}", link_target()?),
        tar::EntryType::Link => return Ok(Some(Added::HardLink(normalize(&link_target()?)))),
        tar::EntryType::Fifo => "fifo".to_string(),
        tar::EntryType::Char | tar::EntryType::Block => {
            let major = header
                .device_major()
                .map_err(|e| format!("{raw}: bad device major: {e}"))?
                .unwrap_or(0);
            let minor = header
                .device_minor()
                .map_err(|e| format!("{raw}: bad device minor: {e}"))?
                .unwrap_or(0);
            format!("dev {major}:{minor}")
        }
        _ => return Ok(None),
    };
    Ok(Some(Added::Value(format!("{value}{owner}"))))
}

/// How many characters of a JSON value a diff line shows.
const SHOW_MAX: usize = 200;

fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > SHOW_MAX {
        let cut: String = text.chars().take(SHOW_MAX).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// Every difference between an expected summary and an actual one, one readable line each
/// (empty when they are equal): `rc`, platforms, config keys, history rows, tree paths.
pub fn diff(expected: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if expected["rc"] != actual["rc"] {
        out.push(format!(
            "rc: expected {}, got {}",
            show(&expected["rc"]),
            show(&actual["rc"])
        ));
    }
    let empty = Map::new();
    let want = expected["images"].as_object().unwrap_or(&empty);
    let got = actual["images"].as_object().unwrap_or(&empty);
    let platforms: BTreeSet<&String> = want.keys().chain(got.keys()).collect();
    for platform in platforms {
        match (want.get(platform), got.get(platform)) {
            (Some(_), None) => out.push(format!(
                "{platform}: image missing (got platforms {:?})",
                got.keys().collect::<Vec<_>>()
            )),
            (None, Some(_)) => out.push(format!("{platform}: unexpected image")),
            (Some(w), Some(g)) => diff_image(platform, w, g, &mut out),
            (None, None) => {}
        }
    }
    out
}

fn diff_image(platform: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    let empty = Map::new();
    let want_config = want["config"].as_object().unwrap_or(&empty);
    let got_config = got["config"].as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = want_config.keys().chain(got_config.keys()).collect();
    for key in keys {
        match (want_config.get(key), got_config.get(key)) {
            (Some(w), None) => out.push(format!(
                "{platform}: config {key} missing (expected {})",
                show(w)
            )),
            (None, Some(g)) => {
                out.push(format!("{platform}: config {key} unexpected: {}", show(g)))
            }
            (Some(w), Some(g)) if w != g => out.push(format!(
                "{platform}: config {key}: expected {}, got {}",
                show(w),
                show(g)
            )),
            _ => {}
        }
    }

    let no_rows = Vec::new();
    let want_history = want["history"].as_array().unwrap_or(&no_rows);
    let got_history = got["history"].as_array().unwrap_or(&no_rows);
    if want_history.len() != got_history.len() {
        out.push(format!(
            "{platform}: history has {} entries, expected {}",
            got_history.len(),
            want_history.len()
        ));
    }
    for i in 0..want_history.len().max(got_history.len()) {
        match (want_history.get(i), got_history.get(i)) {
            (Some(w), None) => out.push(format!("{platform}: history[{i}] missing: {}", show(w))),
            (None, Some(g)) => {
                out.push(format!("{platform}: history[{i}] unexpected: {}", show(g)))
            }
            (Some(w), Some(g)) if w != g => out.push(format!(
                "{platform}: history[{i}]: expected {}, got {}",
                show(w),
                show(g)
            )),
            _ => {}
        }
    }

    let want_tree = want["tree"].as_object().unwrap_or(&empty);
    let got_tree = got["tree"].as_object().unwrap_or(&empty);
    let paths: BTreeSet<&String> = want_tree.keys().chain(got_tree.keys()).collect();
    for path in paths {
        let text = |v: &Value| v.as_str().map(str::to_string).unwrap_or_else(|| show(v));
        match (want_tree.get(path), got_tree.get(path)) {
            (Some(w), None) => out.push(format!(
                "{platform}: /{path} missing (expected {})",
                text(w)
            )),
            (None, Some(g)) => out.push(format!("{platform}: /{path} unexpected: {}", text(g))),
            (Some(w), Some(g)) if w != g => out.push(format!(
                "{platform}: /{path}: expected {}, got {}",
                text(w),
                text(g)
            )),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sha256_hex(bytes: &[u8]) -> String {
        hex_string(&Sha256::digest(bytes))
    }

    /// Writes a blob into a layout and returns its descriptor.
    fn put_blob(dir: &Path, media_type: &str, bytes: &[u8]) -> Value {
        let hex = sha256_hex(bytes);
        let blobs = dir.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        json!({"mediaType": media_type, "digest": format!("sha256:{hex}"), "size": bytes.len()})
    }

    fn header(kind: tar::EntryType, mode: u32, uid: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_size(0);
        h.set_mtime(0);
        h
    }

    fn tar_of(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn add_file(b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, body: &[u8]) {
        let mut h = header(tar::EntryType::Regular, mode, 0);
        h.set_size(body.len() as u64);
        b.append_data(&mut h, path, body).unwrap();
    }

    fn add_dir(b: &mut tar::Builder<Vec<u8>>, path: &str) {
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        b.append_data(&mut h, path, std::io::empty()).unwrap();
    }

    fn add_link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, target: &str) {
        let mut h = header(kind, 0o777, 0);
        b.append_link(&mut h, path, target).unwrap();
    }

    fn add_empty(b: &mut tar::Builder<Vec<u8>>, path: &str) {
        add_file(b, path, 0o644, b"");
    }

    /// A one-platform layout of the given layers (the second one zstd, the third plain),
    /// behind a nested index with an attestation manifest beside the image.
    fn synthetic_layout(dir: &Path, layers: &[Vec<u8>]) {
        let mut descriptors = Vec::new();
        let mut diff_ids = Vec::new();
        for (i, layer) in layers.iter().enumerate() {
            diff_ids.push(format!("sha256:{}", sha256_hex(layer)));
            let (media, bytes) = match i % 3 {
                0 => {
                    let mut gz =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    gz.write_all(layer).unwrap();
                    (
                        "application/vnd.oci.image.layer.v1.tar+gzip",
                        gz.finish().unwrap(),
                    )
                }
                1 => (
                    "application/vnd.oci.image.layer.v1.tar+zstd",
                    zstd::encode_all(&layer[..], 3).unwrap(),
                ),
                _ => ("application/vnd.oci.image.layer.v1.tar", layer.clone()),
            };
            descriptors.push(put_blob(dir, media, &bytes));
        }
        let config = json!({
            "architecture": "arm64", "os": "linux", "variant": "v8",
            "config": {"Env": ["Z=1", "A=2"], "Cmd": ["sh"], "Labels": {}, "User": "",
                       "WorkingDir": "/w"},
            "history": [{"created_by": "one"},
                        {"created_by": "two", "empty_layer": true, "comment": "c"}],
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let config = put_blob(
            dir,
            "application/vnd.oci.image.config.v1+json",
            config.to_string().as_bytes(),
        );
        let manifest = json!({"schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config, "layers": descriptors});
        let mut manifest = put_blob(
            dir,
            "application/vnd.oci.image.manifest.v1+json",
            manifest.to_string().as_bytes(),
        );
        manifest["platform"] = json!({"os": "linux", "architecture": "arm64", "variant": "v8"});
        let mut attestation = put_blob(
            dir,
            "application/vnd.oci.image.manifest.v1+json",
            br#"{"schemaVersion":2}"#,
        );
        attestation["platform"] = json!({"os": "unknown", "architecture": "unknown"});
        let index = json!({"schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [manifest, attestation]});
        let index = put_blob(
            dir,
            "application/vnd.oci.image.index.v1+json",
            index.to_string().as_bytes(),
        );
        let top = json!({"schemaVersion": 2, "manifests": [index]});
        std::fs::write(dir.join("index.json"), top.to_string()).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    }

    #[test]
    fn applies_whiteouts_links_and_special_files() {
        let lower = tar_of(|b| {
            add_dir(b, "./");
            add_dir(b, "./a/");
            add_dir(b, "./a/b/");
            add_empty(b, "./a/b/f");
            add_dir(b, "./keep/");
            add_empty(b, "./keep/old");
            add_empty(b, "./gone");
            add_file(b, "./bin/tool", 0o4755, b"hello");
            add_link(b, tar::EntryType::Link, "./bin/alias", "./bin/tool");
            add_dir(b, "./d/");
            add_empty(b, "./d/inside");
        });
        let middle = tar_of(|b| {
            add_empty(b, "a/.wh.b");
            add_empty(b, "keep/.wh..wh..opq");
            add_empty(b, "keep/new");
            add_empty(b, ".wh.gone");
            add_link(b, tar::EntryType::Symlink, "s", "../etc/passwd");
            let mut fifo = header(tar::EntryType::Fifo, 0o644, 0);
            b.append_data(&mut fifo, "p", std::io::empty()).unwrap();
            let mut dev = header(tar::EntryType::Char, 0o666, 0);
            dev.set_device_major(1).unwrap();
            dev.set_device_minor(3).unwrap();
            b.append_data(&mut dev, "null", std::io::empty()).unwrap();
            // A hard link to a file of a lower layer.
            add_link(b, tar::EntryType::Link, "bin/again", "bin/tool");
        });
        let upper = tar_of(|b| {
            // A file replacing a directory drops what was below it.
            add_empty(b, "d");
            let mut owned = header(tar::EntryType::Directory, 0o1777, 65534);
            b.append_data(&mut owned, "t", std::io::empty()).unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        synthetic_layout(dir.path(), &[lower, middle, upper]);
        let summary = summarize(dir.path()).unwrap();
        let images = summary["images"].as_object().unwrap();
        assert_eq!(images.keys().collect::<Vec<_>>(), ["linux/arm64/v8"]);
        let image = &images["linux/arm64/v8"];
        assert_eq!(
            image["config"],
            json!({"Env": ["A=2", "Z=1"], "Cmd": ["sh"], "WorkingDir": "/w"})
        );
        assert_eq!(
            image["history"],
            json!([["one", false, ""], ["two", true, "c"]])
        );
        let empty = format!("file 0 {} mode=0o644 uid=0 gid=0", &sha256_hex(b"")[..16]);
        let tool = format!(
            "file 5 {} mode=0o4755 uid=0 gid=0",
            &sha256_hex(b"hello")[..16]
        );
        let want = json!({
            "a": "dir mode=0o755 uid=0 gid=0",
            "keep": "dir mode=0o755 uid=0 gid=0",
            "keep/new": empty,
            "bin/tool": tool,
            "bin/alias": tool,
            "bin/again": tool,
            "s": "symlink -> ../etc/passwd mode=0o777 uid=0 gid=0",
            "p": "fifo mode=0o644 uid=0 gid=0",
            "null": "dev 1:3 mode=0o666 uid=0 gid=0",
            "d": empty,
            "t": "dir mode=0o1777 uid=65534 gid=65534",
        });
        assert_eq!(image["tree"], want);

        // The same layout as a tarball.
        let tarball = dir.path().join("out.tar");
        let mut b = tar::Builder::new(File::create(&tarball).unwrap());
        for name in ["index.json", "oci-layout", "blobs"] {
            let p = dir.path().join(name);
            if p.is_dir() {
                b.append_dir_all(name, &p).unwrap();
            } else {
                b.append_path_with_name(&p, name).unwrap();
            }
        }
        b.into_inner().unwrap();
        assert_eq!(summarize(&tarball).unwrap(), summary);
    }

    #[test]
    fn rejects_a_corrupt_blob() {
        let dir = tempfile::tempdir().unwrap();
        synthetic_layout(dir.path(), &[tar_of(|b| add_empty(b, "f"))]);
        let blobs = dir.path().join("blobs").join("sha256");
        for entry in std::fs::read_dir(&blobs).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            if bytes.starts_with(&[0x1f, 0x8b]) {
                let mut bad = bytes.clone();
                let last = bad.len() - 1;
                bad[last] ^= 1;
                std::fs::write(&path, bad).unwrap();
            }
        }
        let err = summarize(dir.path()).unwrap_err().to_string();
        assert!(err.contains("digest"), "{err}");
    }

    #[test]
    fn diff_names_every_difference() {
        let expected = json!({"rc": 0, "images": {
            "linux/amd64": {
                "config": {"Cmd": ["sh"], "User": "nobody"},
                "history": [["a", false, ""], ["b", true, "c"]],
                "tree": {"x": "dir mode=0o755 uid=0 gid=0", "y": "fifo mode=0o644 uid=0 gid=0"},
            },
            "linux/arm64": {"config": {}, "history": [], "tree": {}},
        }});
        assert!(diff(&expected, &expected).is_empty());
        let actual = json!({"rc": 0, "images": {
            "linux/amd64": {
                "config": {"Cmd": ["bash"], "Shell": ["x"]},
                "history": [["a", false, ""]],
                "tree": {"x": "dir mode=0o700 uid=0 gid=0", "z": "fifo mode=0o644 uid=0 gid=0"},
            },
        }});
        let lines = diff(&expected, &actual);
        let want = [
            r#"linux/amd64: config Cmd: expected ["sh"], got ["bash"]"#,
            r#"linux/amd64: config Shell unexpected: ["x"]"#,
            r#"linux/amd64: config User missing (expected "nobody")"#,
            "linux/amd64: history has 1 entries, expected 2",
            r#"linux/amd64: history[1] missing: ["b",true,"c"]"#,
            "linux/amd64: /x: expected dir mode=0o755 uid=0 gid=0, got dir mode=0o700 uid=0 gid=0",
            "linux/amd64: /y missing (expected fifo mode=0o644 uid=0 gid=0)",
            "linux/amd64: /z unexpected: fifo mode=0o644 uid=0 gid=0",
            r#"linux/arm64: image missing (got platforms ["linux/amd64"])"#,
        ];
        assert_eq!(lines, want);
        assert_eq!(
            diff(&json!({"rc": 1}), &json!({"rc": 0, "images": {}})),
            ["rc: expected 1, got 0"]
        );
    }

    /// The recorded base image summarizes to the base part of the recorded build results.
    #[test]
    fn recorded_base_image_matches_recorded_trees() {
        let Some(suite) = crate::suite_dir("builds") else {
            return;
        };
        let base = summarize(&suite.join("base-busybox-oci")).unwrap();
        let images = base["images"].as_object().unwrap();
        assert_eq!(
            images.keys().collect::<Vec<_>>(),
            ["linux/amd64", "linux/arm/v7", "linux/arm64/v8"]
        );
        let p01 = crate::load_json(&suite.join("expected"), "p01-metadata.json");
        let p16 = crate::load_json(&suite.join("expected"), "p16-multiplatform.json");
        // What the cases' Dockerfiles add on top of the base: p01's `WORKDIR /srv`; p16's
        // COPY of /target, its RUN's /machine and the /proc and /sys a RUN leaves.
        let recorded = [
            ("linux/amd64", &p01["images"]["linux/amd64"], &["srv"][..]),
            (
                "linux/arm64/v8",
                &p16["images"]["linux/arm64"],
                &["proc", "sys", "target", "machine"][..],
            ),
            (
                "linux/arm/v7",
                &p16["images"]["linux/arm/v7"],
                &["proc", "sys", "target", "machine"][..],
            ),
        ];
        for (platform, case, added) in recorded {
            let image = &images[platform];
            let mut tree = case["tree"].as_object().unwrap().clone();
            for path in added {
                assert!(tree.remove(*path).is_some(), "{platform}: no /{path}");
            }
            let expected = json!({"rc": 0, "images": {platform: {
                "config": {"Cmd": ["sh"], "Env": [crate::images::DEFAULT_PATH]},
                "history": [case["history"][0].clone()],
                "tree": Value::Object(tree),
            }}});
            let actual = json!({"rc": 0, "images": {platform: image.clone()}});
            let lines = diff(&expected, &actual);
            assert!(lines.is_empty(), "{platform}:\n{}", lines.join("\n"));
        }
        assert_eq!(
            images["linux/amd64"]["history"],
            json!([[
                "BusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary., Debian \
                 busybox-static (anchor reference image)",
                false,
                ""
            ]])
        );
    }
}
