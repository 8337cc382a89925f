//! `-o/--output` (plus the `--push`/`--load` shorthands): where a build result goes, parsed as
//! buildx's `ParseExports` + `CreateExports` do (`type=local,dest=out`, a bare path, `-`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{ValueError, csv, parse_go_bool};

/// The exporter a build result is handed to. `registry` is `Image` with `push=true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExporterType {
    Image,
    Local,
    Tar,
    Oci,
    Docker,
    /// Builds without exporting anything (opts out of the default load).
    CacheOnly,
}

impl ExporterType {
    pub fn as_str(self) -> &'static str {
        match self {
            ExporterType::Image => "image",
            ExporterType::Local => "local",
            ExporterType::Tar => "tar",
            ExporterType::Oci => "oci",
            ExporterType::Docker => "docker",
            ExporterType::CacheOnly => "cacheonly",
        }
    }
}

/// Where an exporter writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputDest {
    /// `dest=-`: a tarball on stdout.
    Stdout,
    /// A tarball written to this file.
    File(PathBuf),
    /// Files (or an OCI layout) written into this directory.
    Dir(PathBuf),
}

/// One validated output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub exporter: ExporterType,
    /// `None` for `image`, `cacheonly`, and `docker` without `dest` (load into an engine).
    pub dest: Option<OutputDest>,
    /// Every other `key=value` (keys lowercased), e.g. `name`, `push`, `compression`.
    pub attrs: BTreeMap<String, String>,
}

impl Output {
    /// True when the attribute holds a Go-true boolean (`push=true`).
    pub fn attr_is_true(&self, key: &str) -> bool {
        self.attrs
            .get(key)
            .and_then(|v| parse_go_bool(v))
            .unwrap_or(false)
    }
}

const TYPES: &str = "image, registry, local, tar, oci, docker, cacheonly";

/// Parses one `-o` value.
pub fn parse_output(value: &str) -> Result<Output, ValueError> {
    let fields = csv::fields(value)?;
    let mut kind: Option<String> = None;
    let mut dest: Option<String> = None;
    let mut attrs = BTreeMap::new();

    if fields.len() == 1 && fields[0] == value && !value.starts_with("type=") {
        // A bare value: a local directory, or `-` for a tarball on stdout.
        if value == "-" {
            kind = Some("tar".to_string());
        } else {
            kind = Some("local".to_string());
        }
        dest = Some(value.to_string());
    } else {
        for field in &fields {
            let Some((key, val)) = field.split_once('=') else {
                return Err(ValueError(format!("invalid value {field}")));
            };
            let key = key.trim().to_lowercase();
            match key.as_str() {
                "type" => kind = Some(val.to_string()),
                "dest" => dest = Some(val.to_string()),
                _ => {
                    attrs.insert(key, val.to_string());
                }
            }
        }
    }

    let kind = match kind.as_deref() {
        None | Some("") => return Err(ValueError::new("type is required for output")),
        Some(k) => k,
    };
    let exporter = match kind {
        "image" => ExporterType::Image,
        "registry" => {
            attrs.insert("push".to_string(), "true".to_string());
            // Pushing only: no need to unpack the image (buildx does the same).
            attrs
                .entry("unpack".to_string())
                .or_insert_with(|| "false".to_string());
            ExporterType::Image
        }
        "local" => ExporterType::Local,
        "tar" => ExporterType::Tar,
        "oci" => ExporterType::Oci,
        "docker" => ExporterType::Docker,
        "cacheonly" => ExporterType::CacheOnly,
        other => {
            return Err(ValueError(format!(
                "unknown output type {other:?} (supported: {TYPES})"
            )));
        }
    };

    let (to_file, to_dir) = match exporter {
        ExporterType::Local => (false, true),
        ExporterType::Tar => (true, false),
        ExporterType::Oci | ExporterType::Docker => {
            // `tar=false` writes an OCI layout directory; anything not a bool means a tarball.
            let tar = attrs
                .get("tar")
                .and_then(|v| parse_go_bool(v))
                .unwrap_or(true);
            (tar, !tar)
        }
        ExporterType::Image | ExporterType::CacheOnly => (false, false),
    };

    let dest = if to_dir {
        match dest.as_deref() {
            None | Some("") => {
                return Err(ValueError(format!(
                    "dest is required for {} exporter",
                    exporter.as_str()
                )));
            }
            Some("-") => {
                return Err(ValueError(format!(
                    "dest cannot be stdout for {} exporter",
                    exporter.as_str()
                )));
            }
            Some(d) => Some(OutputDest::Dir(PathBuf::from(d))),
        }
    } else if to_file {
        match dest.as_deref() {
            None | Some("") if exporter == ExporterType::Docker => None,
            None | Some("") | Some("-") => Some(OutputDest::Stdout),
            Some(d) => Some(OutputDest::File(PathBuf::from(d))),
        }
    } else {
        None
    };

    Ok(Output {
        exporter,
        dest,
        attrs,
    })
}

/// Applies `--push` and `--load` to the parsed outputs as buildx does: `--push` sets `push=true`
/// on every image output (adding one if there is none); `--load` adds a `docker` output unless
/// one already loads (no `dest`).
pub fn apply_shorthands(mut outputs: Vec<Output>, push: bool, load: bool) -> Vec<Output> {
    if push {
        let mut used = false;
        for o in outputs.iter_mut() {
            if o.exporter == ExporterType::Image {
                o.attrs.insert("push".to_string(), "true".to_string());
                used = true;
            }
        }
        if !used {
            outputs.push(Output {
                exporter: ExporterType::Image,
                dest: None,
                attrs: BTreeMap::from([("push".to_string(), "true".to_string())]),
            });
        }
    }
    if load {
        let loads = outputs
            .iter()
            .any(|o| o.exporter == ExporterType::Docker && o.dest.is_none());
        if !loads {
            outputs.push(Output {
                exporter: ExporterType::Docker,
                dest: None,
                attrs: BTreeMap::new(),
            });
        }
    }
    outputs
}

/// The checks buildx makes across all outputs once they are known.
pub fn check_outputs(outputs: &[Output], tags: &[String], has_iidfile: bool) -> Result<(), String> {
    if outputs
        .iter()
        .filter(|o| o.dest == Some(OutputDest::Stdout))
        .count()
        > 1
    {
        return Err("multiple outputs configured to write to stdout".to_string());
    }
    if has_iidfile
        && outputs
            .iter()
            .any(|o| matches!(o.exporter, ExporterType::Local | ExporterType::Tar))
    {
        return Err("local and tar exporters are incompatible with image ID file".to_string());
    }
    if tags.is_empty()
        && outputs.iter().any(|o| {
            o.exporter == ExporterType::Image
                && o.attrs.get("name").is_none_or(|n| n.is_empty())
                && o.attr_is_true("push")
        })
    {
        return Err("tag is needed when pushing to registry".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(s: &str) -> Output {
        parse_output(s).unwrap()
    }

    fn err(s: &str) -> String {
        parse_output(s).unwrap_err().to_string()
    }

    #[test]
    fn bare_path_is_local_dir() {
        let o = out("out");
        assert_eq!(o.exporter, ExporterType::Local);
        assert_eq!(o.dest, Some(OutputDest::Dir("out".into())));
        assert_eq!(out(".").dest, Some(OutputDest::Dir(".".into())));
    }

    #[test]
    fn dash_is_tar_on_stdout() {
        let o = out("-");
        assert_eq!(o.exporter, ExporterType::Tar);
        assert_eq!(o.dest, Some(OutputDest::Stdout));
    }

    #[test]
    fn csv_form() {
        let o = out("type=local,dest=out");
        assert_eq!(o.exporter, ExporterType::Local);
        assert_eq!(o.dest, Some(OutputDest::Dir("out".into())));

        let o = out("type=oci,dest=app.tar,Compression=zstd");
        assert_eq!(o.exporter, ExporterType::Oci);
        assert_eq!(o.dest, Some(OutputDest::File("app.tar".into())));
        assert_eq!(o.attrs.get("compression").map(String::as_str), Some("zstd"));
    }

    #[test]
    fn registry_is_image_with_push() {
        let o = out("type=registry");
        assert_eq!(o.exporter, ExporterType::Image);
        assert!(o.attr_is_true("push"));
        assert_eq!(o.attrs.get("unpack").map(String::as_str), Some("false"));
        assert_eq!(o.dest, None);
        let o = out("type=registry,unpack=true");
        assert_eq!(o.attrs.get("unpack").map(String::as_str), Some("true"));
    }

    #[test]
    fn tar_and_oci_default_to_stdout_docker_defaults_to_load() {
        assert_eq!(out("type=tar").dest, Some(OutputDest::Stdout));
        assert_eq!(out("type=oci").dest, Some(OutputDest::Stdout));
        assert_eq!(out("type=oci,dest=-").dest, Some(OutputDest::Stdout));
        assert_eq!(out("type=docker").dest, None);
        assert_eq!(out("type=docker,dest=-").dest, Some(OutputDest::Stdout));
    }

    #[test]
    fn oci_tar_false_is_a_directory() {
        let o = out("type=oci,tar=false,dest=layout");
        assert_eq!(o.dest, Some(OutputDest::Dir("layout".into())));
        assert_eq!(
            err("type=oci,tar=false"),
            "dest is required for oci exporter"
        );
    }

    #[test]
    fn local_needs_a_real_directory() {
        assert_eq!(err("type=local"), "dest is required for local exporter");
        assert_eq!(
            err("type=local,dest=-"),
            "dest cannot be stdout for local exporter"
        );
    }

    #[test]
    fn unknown_type_is_named() {
        assert_eq!(
            err("type=foo"),
            "unknown output type \"foo\" (supported: image, registry, local, tar, oci, docker, cacheonly)"
        );
    }

    #[test]
    fn missing_type_and_missing_equals() {
        assert_eq!(err("dest=out,push=true"), "type is required for output");
        assert_eq!(err("type=local,out"), "invalid value out");
        assert_eq!(err("type=,dest=x"), "type is required for output");
    }

    #[test]
    fn malformed_csv_is_reported() {
        assert!(err(r#"type=local,"dest=out"#).contains("extraneous or missing \""));
    }

    #[test]
    fn push_sets_push_on_image_outputs_or_adds_one() {
        let o = apply_shorthands(vec![], true, false);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].exporter, ExporterType::Image);
        assert!(o[0].attr_is_true("push"));

        let o = apply_shorthands(vec![out("type=image,name=x")], true, false);
        assert_eq!(o.len(), 1);
        assert!(o[0].attr_is_true("push"));

        let o = apply_shorthands(vec![out("type=local,dest=d")], true, false);
        assert_eq!(o.len(), 2);
    }

    #[test]
    fn load_adds_docker_unless_already_loading() {
        let o = apply_shorthands(vec![], false, true);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].exporter, ExporterType::Docker);
        assert_eq!(o[0].dest, None);

        let o = apply_shorthands(vec![out("type=docker")], false, true);
        assert_eq!(o.len(), 1);

        let o = apply_shorthands(vec![out("type=docker,dest=x.tar")], false, true);
        assert_eq!(o.len(), 2);
    }

    #[test]
    fn cross_output_checks() {
        let two_stdout = vec![out("-"), out("type=oci,dest=-")];
        assert_eq!(
            check_outputs(&two_stdout, &[], false).unwrap_err(),
            "multiple outputs configured to write to stdout"
        );
        assert_eq!(
            check_outputs(&[out("out")], &[], true).unwrap_err(),
            "local and tar exporters are incompatible with image ID file"
        );
        let push = apply_shorthands(vec![], true, false);
        assert_eq!(
            check_outputs(&push, &[], false).unwrap_err(),
            "tag is needed when pushing to registry"
        );
        assert!(check_outputs(&push, &["reg/app:1".to_string()], false).is_ok());
        assert!(check_outputs(&[out("type=image,name=reg/app,push=true")], &[], false).is_ok());
    }
}
