//! Exporter attributes (`-o type=oci,dest=out.tar,compression=zstd,...` after buildx's CSV
//! split) validated into [`OutputOptions`], with BuildKit's keys, defaults and boolean syntax.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::annotations::Annotations;
use crate::compression::{Compression, CompressionConfig};
use crate::error::{Error, Result};
use crate::layout::normalize_names;

/// The output types of `-o type=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// `image`: kiln's image store (and a push with `push=true`).
    Image,
    /// `registry`: `image` with `push=true`.
    Registry,
    /// `docker`: a Docker image tarball, or `--load`.
    Docker,
    /// `oci`: an OCI layout tarball or directory.
    Oci,
    /// `local`: the root filesystem into a directory.
    Local,
    /// `tar`: the root filesystem as a tarball.
    Tar,
}

impl OutputKind {
    /// Parses the `type=` value.
    pub fn parse(s: &str) -> Result<OutputKind> {
        Ok(match s {
            "image" => OutputKind::Image,
            "registry" => OutputKind::Registry,
            "docker" => OutputKind::Docker,
            "oci" => OutputKind::Oci,
            "local" => OutputKind::Local,
            "tar" => OutputKind::Tar,
            _ => {
                return Err(Error::InvalidOption {
                    key: "type".into(),
                    value: s.into(),
                    reason:
                        "unknown exporter type (use image, registry, docker, oci, local or tar)"
                            .into(),
                });
            }
        })
    }

    /// Whether the output is an image (as opposed to a root filesystem).
    pub fn is_image(self) -> bool {
        !matches!(self, OutputKind::Local | OutputKind::Tar)
    }
}

/// A validated `-o` output.
#[derive(Debug, Clone)]
pub struct OutputOptions {
    /// The output type.
    pub kind: OutputKind,
    /// `dest=` (`-` for standard output).
    pub dest: Option<String>,
    /// `name=` split on commas and normalized (`docker.io/library/app:latest`).
    pub names: Vec<String>,
    /// `push=` (always true for `registry`).
    pub push: bool,
    /// `oci-mediatypes=`; `None` leaves the type's default.
    pub oci_mediatypes: Option<bool>,
    /// `compression`, `compression-level`, `force-compression`.
    pub compression: CompressionConfig,
    /// `annotation.*` and `annotation-*` attributes.
    pub annotations: Annotations,
    /// `tar=` for `oci`/`docker` (default true; false writes a layout directory).
    pub tar: bool,
    /// `platform-split=` for `local`/`tar`; `None`: split when several platforms.
    pub platform_split: Option<bool>,
    /// `rewrite-timestamp=`: clamp file mtimes in new layers to the epoch (the differ does it).
    pub rewrite_timestamp: bool,
    /// `source-date-epoch=` (Unix seconds), or `SOURCE_DATE_EPOCH` set by the caller.
    pub epoch: Option<OffsetDateTime>,
    /// Attributes kiln does not know, for the caller to warn about.
    pub unknown: BTreeMap<String, String>,
}

/// Go's `strconv.ParseBool`, with an empty value meaning true (as BuildKit's exporters read
/// flags such as `push` and `oci-mediatypes`).
pub fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value {
        "" | "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(Error::InvalidOption {
            key: key.into(),
            value: value.into(),
            reason: format!("non-bool value specified for {key}"),
        }),
    }
}

/// Parses a `SOURCE_DATE_EPOCH` value (Unix seconds).
pub fn parse_epoch(value: &str) -> Result<OffsetDateTime> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .ok_or_else(|| Error::InvalidOption {
            key: "source-date-epoch".into(),
            value: value.into(),
            reason: "expected Unix seconds (as in SOURCE_DATE_EPOCH=1700000000)".into(),
        })
}

impl OutputOptions {
    /// Validates the attributes of one `-o` (without `type`, given as `kind`).
    pub fn from_attrs<'a, I>(kind: OutputKind, attrs: I) -> Result<OutputOptions>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut o = OutputOptions {
            kind,
            dest: None,
            names: Vec::new(),
            push: kind == OutputKind::Registry,
            oci_mediatypes: None,
            compression: CompressionConfig::default(),
            annotations: Annotations::new(),
            tar: true,
            platform_split: None,
            rewrite_timestamp: false,
            epoch: None,
            unknown: BTreeMap::new(),
        };
        for (k, v) in attrs {
            match k {
                "dest" => o.dest = Some(v.to_string()),
                "name" => o.names.extend(normalize_names(v)?),
                "push" => o.push = kind == OutputKind::Registry || parse_bool(k, v)?,
                "oci-mediatypes" => o.oci_mediatypes = Some(parse_bool(k, v)?),
                "compression" => o.compression.compression = Compression::parse(v)?,
                "compression-level" => {
                    o.compression.level = Some(v.parse().map_err(|_| Error::InvalidOption {
                        key: k.into(),
                        value: v.into(),
                        reason: "expected an integer".into(),
                    })?)
                }
                "force-compression" => o.compression.force = parse_bool(k, v)?,
                "tar" => o.tar = parse_bool(k, v)?,
                "platform-split" => o.platform_split = Some(parse_bool(k, v)?),
                "rewrite-timestamp" => o.rewrite_timestamp = parse_bool(k, v)?,
                "source-date-epoch" => o.epoch = Some(parse_epoch(v)?),
                _ => {
                    if !o.annotations.add_exporter_attr(k, v)? {
                        o.unknown.insert(k.to_string(), v.to_string());
                    }
                }
            }
        }
        o.compression.validate()?;
        if matches!(kind, OutputKind::Local) && o.dest.is_none() {
            return Err(Error::InvalidOption {
                key: "dest".into(),
                value: String::new(),
                reason: "dest is required for the local exporter".into(),
            });
        }
        if o.push && o.names.is_empty() {
            return Err(Error::InvalidOption {
                key: "name".into(),
                value: String::new(),
                reason: "a push needs an image name: add name=<ref> or -t <ref>".into(),
            });
        }
        Ok(o)
    }

    /// Whether images get OCI media types: `oci-mediatypes=` if given, else the type's default
    /// (true for `oci`), and always with zstd layers or index/descriptor annotations
    /// (BuildKit's `EnableOCITypes`).
    pub fn oci_types(&self) -> bool {
        self.oci_mediatypes.unwrap_or(self.kind == OutputKind::Oci)
            || self.compression.compression == Compression::Zstd
            || self.annotations.needs_oci_types()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildkit_defaults_and_forcing() {
        let o = OutputOptions::from_attrs(OutputKind::Oci, [("dest", "out.tar")]).unwrap();
        assert!(o.oci_types() && o.tar);
        let o = OutputOptions::from_attrs(OutputKind::Docker, [("dest", "x.tar")]).unwrap();
        assert!(!o.oci_types());
        let o = OutputOptions::from_attrs(
            OutputKind::Image,
            [
                ("name", "app:1"),
                ("compression", "zstd"),
                ("compression-level", "19"),
                ("oci-mediatypes", "false"),
            ],
        )
        .unwrap();
        assert!(o.oci_types(), "zstd forces OCI types");
        assert_eq!(o.names, ["docker.io/library/app:1"]);
        let o = OutputOptions::from_attrs(OutputKind::Registry, [("name", "reg/app")]).unwrap();
        assert!(o.push);
        assert!(OutputOptions::from_attrs(OutputKind::Registry, []).is_err());
        assert!(
            OutputOptions::from_attrs(OutputKind::Image, [("compression-level", "12")]).is_err()
        );
        assert!(OutputOptions::from_attrs(OutputKind::Image, [("push", "maybe")]).is_err());
        let o = OutputOptions::from_attrs(
            OutputKind::Image,
            [("annotation-index.a", "b"), ("unpack", "true")],
        )
        .unwrap();
        assert!(o.oci_types());
        assert_eq!(o.unknown["unpack"], "true");
        assert_eq!(
            parse_epoch("1000000000").unwrap().unix_timestamp(),
            1_000_000_000
        );
        assert!(parse_epoch("soon").is_err());
    }
}
