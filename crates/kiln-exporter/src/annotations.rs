//! Annotations for the manifest, the index and their descriptors, parsed from buildx's
//! `--annotation [type[platform]:]key=value` and from exporter attributes
//! (`annotation.key=v`, `annotation-index-descriptor.key=v`, `annotation-manifest[linux/amd64].key=v`).

use std::collections::BTreeMap;

use kiln_platforms::Platform;

use crate::error::{Error, Result};

/// Where an annotation goes (BuildKit's `exptypes.Annotation*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnnotationTarget {
    /// The image manifest's `annotations` (the default).
    Manifest,
    /// The manifest's descriptor: in the index's `manifests[]` entry, or the root descriptor of
    /// a single-platform export (OCI layout `index.json`).
    ManifestDescriptor,
    /// The index's `annotations` (multi-platform exports only).
    Index,
    /// The index's descriptor (the OCI layout `index.json` entry).
    IndexDescriptor,
}

impl AnnotationTarget {
    fn parse(s: &str) -> Option<AnnotationTarget> {
        Some(match s {
            "manifest" => AnnotationTarget::Manifest,
            "manifest-descriptor" => AnnotationTarget::ManifestDescriptor,
            "index" => AnnotationTarget::Index,
            "index-descriptor" => AnnotationTarget::IndexDescriptor,
            _ => return None,
        })
    }
}

/// One level's annotations for one platform (or for all).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnnotationSet {
    /// Manifest annotations.
    pub manifest: BTreeMap<String, String>,
    /// Manifest descriptor annotations.
    pub manifest_descriptor: BTreeMap<String, String>,
    /// Index annotations.
    pub index: BTreeMap<String, String>,
    /// Index descriptor annotations.
    pub index_descriptor: BTreeMap<String, String>,
}

impl AnnotationSet {
    fn map_mut(&mut self, target: AnnotationTarget) -> &mut BTreeMap<String, String> {
        match target {
            AnnotationTarget::Manifest => &mut self.manifest,
            AnnotationTarget::ManifestDescriptor => &mut self.manifest_descriptor,
            AnnotationTarget::Index => &mut self.index,
            AnnotationTarget::IndexDescriptor => &mut self.index_descriptor,
        }
    }

    fn merge(&mut self, other: &AnnotationSet) {
        self.manifest.extend(other.manifest.clone());
        self.manifest_descriptor
            .extend(other.manifest_descriptor.clone());
        self.index.extend(other.index.clone());
        self.index_descriptor.extend(other.index_descriptor.clone());
    }
}

/// All annotations of an export: those for every platform and those for one platform
/// (BuildKit's `AnnotationsGroup`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    all: AnnotationSet,
    per_platform: Vec<(Platform, AnnotationSet)>,
}

impl Annotations {
    /// No annotations.
    pub fn new() -> Annotations {
        Annotations::default()
    }

    /// Adds one annotation.
    pub fn insert(
        &mut self,
        target: AnnotationTarget,
        platform: Option<Platform>,
        key: impl Into<String>,
        value: impl Into<String>,
    ) {
        let set = match platform {
            None => &mut self.all,
            Some(p) => {
                let p = kiln_platforms::normalize(&p);
                match self.per_platform.iter().position(|(q, _)| *q == p) {
                    Some(i) => &mut self.per_platform[i].1,
                    None => {
                        self.per_platform.push((p, AnnotationSet::default()));
                        let last = self.per_platform.len() - 1;
                        &mut self.per_platform[last].1
                    }
                }
            }
        };
        set.map_mut(target).insert(key.into(), value.into());
    }

    /// Parses one `--annotation` value as buildx does: `key=value`, `type:key=value` or
    /// `type[platform]:key=value`, type one of `manifest`, `manifest-descriptor`, `index`,
    /// `index-descriptor` (default `manifest`).
    pub fn add_cli(&mut self, input: &str) -> Result<()> {
        let invalid = |reason: &str| Error::InvalidOption {
            key: "--annotation".into(),
            value: input.into(),
            reason: reason.into(),
        };
        let (k, v) = input
            .split_once('=')
            .ok_or_else(|| invalid("expected key=value"))?;
        let (target, platform, key) = parse_typed_key(k, ':').map_err(|r| invalid(&r))?;
        if key.is_empty() || key.chars().any(char::is_whitespace) {
            return Err(invalid(
                "invalid annotation format, expected <type>:<key>=<value>",
            ));
        }
        self.insert(target, platform, key, v);
        Ok(())
    }

    /// Takes an exporter attribute if it is an annotation (`annotation.key`,
    /// `annotation-<type>[platform].key`); returns whether it was one.
    pub fn add_exporter_attr(&mut self, key: &str, value: &str) -> Result<bool> {
        let rest = if let Some(rest) = key.strip_prefix("annotation.") {
            self.insert(AnnotationTarget::Manifest, None, rest, value);
            return Ok(true);
        } else if let Some(rest) = key.strip_prefix("annotation-") {
            rest
        } else {
            return Ok(false);
        };
        let (target, platform, k) =
            parse_typed_key(rest, '.').map_err(|reason| Error::InvalidOption {
                key: key.into(),
                value: value.into(),
                reason,
            })?;
        if k.is_empty() {
            return Err(Error::InvalidOption {
                key: key.into(),
                value: value.into(),
                reason: "empty annotation key".into(),
            });
        }
        self.insert(target, platform, k, value);
        Ok(true)
    }

    /// The annotations that apply to `platform` (`None`: the ones for every platform only).
    pub fn for_platform(&self, platform: Option<&Platform>) -> AnnotationSet {
        let mut out = self.all.clone();
        if let Some(p) = platform {
            let p = kiln_platforms::normalize(p);
            for (q, set) in &self.per_platform {
                if *q == p {
                    out.merge(set);
                }
            }
        }
        out
    }

    /// Platforms named by platform-specific annotations.
    pub fn platforms(&self) -> impl Iterator<Item = &Platform> {
        self.per_platform.iter().map(|(p, _)| p)
    }

    /// Whether any annotation needs OCI media types (index, index-descriptor or
    /// manifest-descriptor annotations do, as in BuildKit).
    pub fn needs_oci_types(&self) -> bool {
        std::iter::once(&self.all)
            .chain(self.per_platform.iter().map(|(_, s)| s))
            .any(|s| {
                !s.index.is_empty()
                    || !s.index_descriptor.is_empty()
                    || !s.manifest_descriptor.is_empty()
            })
    }
}

/// Splits `type[platform]<sep>key` (or just `key`, a manifest annotation).
fn parse_typed_key(
    k: &str,
    sep: char,
) -> std::result::Result<(AnnotationTarget, Option<Platform>, String), String> {
    // A platform may contain the separator (`v8.2`): split after its closing bracket.
    let split = match (k.find('['), k.find(sep)) {
        (Some(open), Some(first)) if open < first => k[open..].find(']').and_then(|close| {
            let at = open + close + 1;
            k[at..]
                .starts_with(sep)
                .then(|| (&k[..at], &k[at + sep.len_utf8()..]))
        }),
        _ => k.split_once(sep),
    };
    let Some((head, key)) = split else {
        return Ok((AnnotationTarget::Manifest, None, k.to_string()));
    };
    let (typ, platform) = match head.split_once('[') {
        Some((typ, rest)) => {
            let spec = rest
                .strip_suffix(']')
                .ok_or_else(|| format!("unterminated platform in {head:?}"))?;
            let p = kiln_platforms::parse(spec)
                .map_err(|e| format!("invalid platform {spec:?}: {e}"))?;
            (typ, Some(p))
        }
        None => (head, None),
    };
    match AnnotationTarget::parse(typ) {
        Some(t) => Ok((t, platform, key.to_string())),
        // With ':' a key may itself contain the separator only after a valid type; anything
        // else is an unknown type, as buildx reports.
        None if sep == ':'
            && platform.is_none()
            && !typ.chars().all(|c| c.is_ascii_lowercase() || c == '-') =>
        {
            Ok((AnnotationTarget::Manifest, None, k.to_string()))
        }
        None => Err(format!(
            "unknown annotation type {typ:?} (use manifest, manifest-descriptor, index or index-descriptor)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_forms() {
        let mut a = Annotations::new();
        a.add_cli("org.opencontainers.image.title=x").unwrap();
        a.add_cli("index:foo=bar").unwrap();
        a.add_cli("manifest-descriptor:d=1").unwrap();
        a.add_cli("manifest[linux/arm64]:arm=yes").unwrap();
        let all = a.for_platform(None);
        assert_eq!(all.manifest["org.opencontainers.image.title"], "x");
        assert_eq!(all.index["foo"], "bar");
        assert_eq!(all.manifest_descriptor["d"], "1");
        assert!(!all.manifest.contains_key("arm"));
        let arm = a.for_platform(Some(&kiln_platforms::parse("linux/arm64/v8").unwrap()));
        assert_eq!(arm.manifest["arm"], "yes");
        assert!(a.needs_oci_types());
        assert!(a.add_cli("bogus:foo=bar").is_err());
        assert!(a.add_cli("novalue").is_err());
    }

    #[test]
    fn exporter_attrs() {
        let mut a = Annotations::new();
        assert!(a.add_exporter_attr("annotation.k", "v").unwrap());
        assert!(
            a.add_exporter_attr("annotation-index-descriptor.k2", "v2")
                .unwrap()
        );
        assert!(
            a.add_exporter_attr("annotation-manifest[linux/amd64].k3", "v3")
                .unwrap()
        );
        assert!(!a.add_exporter_attr("name", "x").unwrap());
        let all = a.for_platform(None);
        assert_eq!(all.manifest["k"], "v");
        assert_eq!(all.index_descriptor["k2"], "v2");
        let amd = a.for_platform(Some(&kiln_platforms::parse("linux/amd64").unwrap()));
        assert_eq!(amd.manifest["k3"], "v3");
    }
}
