//! Media types, descriptors, image manifests and indexes (OCI and Docker v2 schema 2), parsed
//! leniently: unknown fields are ignored, as registries and other tools add their own.

use std::collections::BTreeMap;

use kiln_platforms::Platform;
use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// OCI uncompressed layer.
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// Docker manifest list (the Docker form of an index).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker schema 1 manifests (unsupported, recognised for the error message).
pub const DOCKER_MANIFEST_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Docker signed schema 1 manifests.
pub const DOCKER_MANIFEST_V1_SIGNED: &str =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The `Accept` header for manifest requests: every manifest kind kiln reads, indexes first.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, */*;q=0.8";

/// The largest manifest or index kiln reads (the limit distribution uses).
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;

/// Whether `media_type` is an index (OCI index or Docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    matches!(media_type, OCI_INDEX | DOCKER_MANIFEST_LIST)
}

/// Whether `media_type` is an image manifest (OCI or Docker schema 2).
pub fn is_manifest(media_type: &str) -> bool {
    matches!(media_type, OCI_MANIFEST | DOCKER_MANIFEST)
}

/// A content descriptor (OCI `Descriptor`): what a piece of content is, its digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor of `data` with `media_type` (sha256).
    pub fn of(media_type: &str, data: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: Digest::sha256(data),
            size: data.len() as u64,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        }
    }
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (OCI index or Docker manifest list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A parsed manifest document.
// Returned once per parse and matched at once, never stored in bulk: boxing would only add
// noise for callers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestDocument {
    Index(Index),
    Manifest(Manifest),
}

/// The platform fields of an image config.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ConfigPlatform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: String,
    #[serde(default, rename = "os.version")]
    pub os_version: String,
    #[serde(default, rename = "os.features")]
    pub os_features: Vec<String>,
}

impl ConfigPlatform {
    pub(crate) fn into_platform(self) -> Platform {
        Platform {
            os: self.os,
            architecture: self.architecture,
            variant: self.variant,
            os_version: self.os_version,
            os_features: self.os_features,
        }
    }
}

/// Parses a manifest document. `media_type` is the type the registry or the descriptor
/// gave; when it is missing or generic, the document's own `mediaType` or its shape decides.
pub fn parse_manifest(media_type: &str, data: &[u8]) -> Result<ManifestDocument, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        #[serde(default)]
        schema_version: Option<u32>,
        #[serde(default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        config: Option<serde_json::Value>,
    }
    let probe: Probe =
        serde_json::from_slice(data).map_err(|e| format!("not a JSON manifest: {e}"))?;
    let declared = probe.media_type.as_deref().unwrap_or("");
    let kind = [media_type, declared]
        .into_iter()
        .find(|t| is_index(t) || is_manifest(t) || is_schema1(t))
        .map(str::to_string);
    if probe.schema_version == Some(1) || kind.as_deref().is_some_and(is_schema1) {
        return Err(
            "Docker schema 1 manifests are not supported: push the image again with a current client"
                .to_string(),
        );
    }
    let as_index = match kind.as_deref() {
        Some(t) => is_index(t),
        None if probe.manifests.is_some() => true,
        None if probe.config.is_some() => false,
        None => {
            return Err(format!(
                "unsupported manifest media type {:?}",
                if media_type.is_empty() {
                    declared
                } else {
                    media_type
                }
            ));
        }
    };
    if as_index {
        serde_json::from_slice(data)
            .map(ManifestDocument::Index)
            .map_err(|e| format!("invalid image index: {e}"))
    } else {
        serde_json::from_slice(data)
            .map(ManifestDocument::Manifest)
            .map_err(|e| format!("invalid image manifest: {e}"))
    }
}

fn is_schema1(t: &str) -> bool {
    matches!(t, DOCKER_MANIFEST_V1 | DOCKER_MANIFEST_V1_SIGNED)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_index_and_manifest_by_type_or_shape() {
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[{{"mediaType":"{DOCKER_MANIFEST}","digest":"{D}","size":7,"platform":{{"architecture":"arm","os":"linux","variant":"v7"}}}}]}}"#
        );
        let ManifestDocument::Index(i) = parse_manifest("", index.as_bytes()).unwrap() else {
            panic!("not an index")
        };
        let p = i.manifests[0].platform.as_ref().unwrap();
        assert_eq!(
            (p.os.as_str(), p.architecture.as_str(), p.variant.as_str()),
            ("linux", "arm", "v7")
        );

        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{OCI_CONFIG}","digest":"{D}","size":0}},"layers":[],"extra":1}}"#
        );
        assert!(matches!(
            parse_manifest("application/octet-stream", manifest.as_bytes()),
            Ok(ManifestDocument::Manifest(_))
        ));
        assert!(matches!(
            parse_manifest(OCI_MANIFEST, manifest.as_bytes()),
            Ok(ManifestDocument::Manifest(_))
        ));
    }

    #[test]
    fn rejects_bad_documents() {
        assert!(
            parse_manifest(OCI_MANIFEST, b"<html>")
                .unwrap_err()
                .contains("not a JSON")
        );
        assert!(
            parse_manifest("", br#"{"schemaVersion":1,"fsLayers":[]}"#)
                .unwrap_err()
                .contains("schema 1")
        );
        assert!(
            parse_manifest("", br#"{"schemaVersion":2}"#)
                .unwrap_err()
                .contains("unsupported")
        );
        let neg = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{D}","size":-1}}}}"#
        );
        assert!(parse_manifest(OCI_MANIFEST, neg.as_bytes()).is_err());
        let bad_digest =
            r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:zz","size":1}}"#;
        assert!(parse_manifest(OCI_MANIFEST, bad_digest.as_bytes()).is_err());
    }
}
