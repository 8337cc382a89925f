//! `--cache-from` / `--cache-to`: cache import/export entries (`user/app:cache`,
//! `type=local,src=dir`, `type=registry,ref=r,mode=max`), parsed as buildx's `ParseCacheEntry`.

use std::collections::BTreeMap;

use super::{ValueError, csv};

/// A cache backend BuildKit knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheType {
    Registry,
    Local,
    Inline,
    Gha,
    S3,
    Azblob,
}

impl CacheType {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheType::Registry => "registry",
            CacheType::Local => "local",
            CacheType::Inline => "inline",
            CacheType::Gha => "gha",
            CacheType::S3 => "s3",
            CacheType::Azblob => "azblob",
        }
    }
}

/// One validated cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub kind: CacheType,
    /// `ref`, `src`, `dest`, `mode`, ... (keys lowercased).
    pub attrs: BTreeMap<String, String>,
}

/// Parses one `--cache-from`/`--cache-to` value. A lone value without `=` is a registry ref.
pub fn parse_cache_entry(value: &str) -> Result<CacheEntry, ValueError> {
    let fields = csv::fields(value)?;
    if fields.len() == 1 && !fields[0].contains('=') {
        return Ok(CacheEntry {
            kind: CacheType::Registry,
            attrs: BTreeMap::from([("ref".to_string(), fields[0].clone())]),
        });
    }
    let mut kind = String::new();
    let mut attrs = BTreeMap::new();
    for field in &fields {
        let Some((key, val)) = field.split_once('=') else {
            return Err(ValueError(format!("invalid value {field}")));
        };
        let key = key.to_lowercase();
        if key == "type" {
            kind = val.to_string();
        } else {
            attrs.insert(key, val.to_string());
        }
    }
    let kind = match kind.as_str() {
        "" => return Err(ValueError(format!("type required form> {value:?}"))),
        "registry" => CacheType::Registry,
        "local" => CacheType::Local,
        "inline" => CacheType::Inline,
        "gha" => CacheType::Gha,
        "s3" => CacheType::S3,
        "azblob" => CacheType::Azblob,
        other => {
            return Err(ValueError(format!(
                "unknown cache type {other:?} (supported: registry, local, inline, gha, s3, azblob)"
            )));
        }
    };
    Ok(CacheEntry { kind, attrs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_ref_is_registry() {
        let e = parse_cache_entry("user/app:cache").unwrap();
        assert_eq!(e.kind, CacheType::Registry);
        assert_eq!(
            e.attrs.get("ref").map(String::as_str),
            Some("user/app:cache")
        );
    }

    #[test]
    fn csv_form() {
        let e = parse_cache_entry("type=registry,ref=reg/app:cache,MODE=max").unwrap();
        assert_eq!(e.kind, CacheType::Registry);
        assert_eq!(e.attrs.get("mode").map(String::as_str), Some("max"));
        let e = parse_cache_entry("type=local,src=path/to/dir").unwrap();
        assert_eq!(e.kind, CacheType::Local);
        assert_eq!(e.attrs.get("src").map(String::as_str), Some("path/to/dir"));
        assert_eq!(
            parse_cache_entry("type=inline").unwrap().kind,
            CacheType::Inline
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_cache_entry("mode=max,ref=x").unwrap_err().to_string(),
            r#"type required form> "mode=max,ref=x""#
        );
        assert_eq!(
            parse_cache_entry("type=local,src").unwrap_err().to_string(),
            "invalid value src"
        );
        assert!(
            parse_cache_entry("type=floppy")
                .unwrap_err()
                .to_string()
                .starts_with("unknown cache type \"floppy\"")
        );
        assert!(
            parse_cache_entry(r#"type=local,"src=a"#)
                .unwrap_err()
                .to_string()
                .contains("quoted-field")
        );
        assert_eq!(
            parse_cache_entry("").unwrap_err().to_string(),
            r#"type required form> """#
        );
    }
}
