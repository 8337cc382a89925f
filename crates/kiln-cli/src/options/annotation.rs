//! `--annotation [type[,type...]:]key=value`: OCI annotations for the index, manifests and
//! their descriptors (`index,manifest:org.opencontainers.image.authors=me`,
//! `manifest[linux/amd64]:k=v`), parsed as buildx's `ParseAnnotations`.

use kiln_platforms::Platform;

use super::ValueError;

/// Which object an annotation is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnotationTarget {
    Index,
    IndexDescriptor,
    Manifest,
    ManifestDescriptor,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// `None`: the exporter's default (the manifest).
    pub target: Option<AnnotationTarget>,
    /// Only for this platform's manifest (`manifest[linux/arm64]:...`).
    pub platform: Option<Platform>,
    pub key: String,
    pub value: String,
}

/// `type` or `type[platform]` (buildx's `^([a-z-]+)(?:\[([A-Za-z0-9_/-]+)\])?$`).
fn split_type(s: &str) -> Option<(&str, Option<&str>)> {
    let (typ, platform) = match s.split_once('[') {
        Some((t, rest)) => {
            let p = rest.strip_suffix(']')?;
            if p.is_empty()
                || !p
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'/' || b == b'-')
            {
                return None;
            }
            (t, Some(p))
        }
        None => (s, None),
    };
    if typ.is_empty() || !typ.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
        return None;
    }
    Some((typ, platform))
}

/// Parses one `--annotation` value into one annotation per listed type.
pub fn parse_annotation(value: &str) -> Result<Vec<Annotation>, ValueError> {
    let Some((k, v)) = value.split_once('=') else {
        return Err(ValueError(format!(
            "invalid annotation {value:?}, expected key=value"
        )));
    };
    let Some((types, key)) = k.split_once(':') else {
        return Ok(vec![Annotation {
            target: None,
            platform: None,
            key: k.to_string(),
            value: v.to_string(),
        }]);
    };
    let mut out = Vec::new();
    for type_and_platform in types.split(',') {
        let Some((typ, platform)) = split_type(type_and_platform) else {
            return Err(ValueError(format!(
                "invalid annotation type {type_and_platform:?}, expected type and optional platform in square brackets"
            )));
        };
        let target = match typ {
            "index" => AnnotationTarget::Index,
            "index-descriptor" => AnnotationTarget::IndexDescriptor,
            "manifest" => AnnotationTarget::Manifest,
            "manifest-descriptor" => AnnotationTarget::ManifestDescriptor,
            other => return Err(ValueError(format!("unknown annotation type {other:?}"))),
        };
        let platform = match platform {
            Some(p) => Some(
                kiln_platforms::parse(p)
                    .map_err(|e| ValueError(format!("invalid platform {p:?}: {e}")))?,
            ),
            None => None,
        };
        out.push(Annotation {
            target: Some(target),
            platform,
            key: key.to_string(),
            value: v.to_string(),
        });
    }
    Ok(out)
}

/// Adds `a`, replacing an earlier annotation for the same target, platform and key.
pub fn merge(list: &mut Vec<Annotation>, a: Annotation) {
    list.retain(|o| !(o.target == a.target && o.platform == a.platform && o.key == a.key));
    list.push(a);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_key() {
        let a = parse_annotation("org.opencontainers.image.url=https://x.example").unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].target, None);
        assert_eq!(a[0].key, "org.opencontainers.image.url");
        assert_eq!(a[0].value, "https://x.example");
    }

    #[test]
    fn typed_keys() {
        let a = parse_annotation("index,manifest-descriptor:org.example=v").unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].target, Some(AnnotationTarget::Index));
        assert_eq!(a[1].target, Some(AnnotationTarget::ManifestDescriptor));
        assert!(a.iter().all(|x| x.key == "org.example" && x.value == "v"));
    }

    #[test]
    fn errors() {
        let e = |s| parse_annotation(s).unwrap_err().to_string();
        assert_eq!(
            e("novalue"),
            r#"invalid annotation "novalue", expected key=value"#
        );
        assert_eq!(e("blob:k=v"), r#"unknown annotation type "blob""#);
        assert!(e("Index:k=v").starts_with(r#"invalid annotation type "Index""#));
        assert!(e("manifest[]:k=v").starts_with("invalid annotation type"));
        assert!(e("manifest[linux/]:k=v").starts_with(r#"invalid platform "linux/""#));
    }

    #[test]
    fn later_annotation_replaces_earlier() {
        let mut list = Vec::new();
        for v in ["k=1", "manifest:k=2", "k=3"] {
            for a in parse_annotation(v).unwrap() {
                merge(&mut list, a);
            }
        }
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].value, "3");
    }
}
