//! `--attest`, `--sbom`, `--provenance`: attestation requests (`type=sbom,generator=img`,
//! `--provenance=mode=max`, `--sbom=false`), parsed as buildx's `ParseAttests`.

use std::collections::BTreeMap;

use super::{ValueError, csv, parse_go_bool};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestType {
    Sbom,
    Provenance,
}

impl AttestType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttestType::Sbom => "sbom",
            AttestType::Provenance => "provenance",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attest {
    pub kind: AttestType,
    /// `disabled=true` (or `--sbom=false`): explicitly turned off.
    pub disabled: bool,
    /// `generator`, `mode`, ... (keys lowercased).
    pub attrs: BTreeMap<String, String>,
}

/// Turns the `--sbom`/`--provenance` shorthand value into an `--attest` value: a bool toggles
/// the attestation, anything else is its attributes (buildx `CanonicalizeAttest`).
pub fn canonicalize_shorthand(kind: AttestType, value: &str) -> String {
    match parse_go_bool(value) {
        Some(on) => format!("type={},disabled={}", kind.as_str(), !on),
        None => format!("type={},{}", kind.as_str(), value),
    }
}

/// Parses one `--attest` value.
pub fn parse_attest(value: &str) -> Result<Attest, ValueError> {
    let fields = csv::fields(value)?;
    let mut kind = None;
    let mut disabled = false;
    let mut attrs = BTreeMap::new();
    for field in &fields {
        let Some((key, val)) = field.split_once('=') else {
            return Err(ValueError(format!("invalid value {field}")));
        };
        let key = key.trim().to_lowercase();
        match key.as_str() {
            "type" => kind = Some(val.to_string()),
            "disabled" => {
                disabled = parse_go_bool(val).ok_or_else(|| {
                    ValueError(format!(
                        "invalid value {field}: strconv.ParseBool: parsing {val:?}: invalid syntax"
                    ))
                })?;
            }
            _ => {
                attrs.insert(key, val.to_string());
            }
        }
    }
    let kind = match kind.as_deref() {
        None | Some("") => return Err(ValueError::new("attestation type not specified")),
        Some("sbom") => AttestType::Sbom,
        Some("provenance") => AttestType::Provenance,
        Some(other) => {
            return Err(ValueError(format!(
                "unknown attestation type {other:?} (supported: sbom, provenance)"
            )));
        }
    };
    Ok(Attest {
        kind,
        disabled,
        attrs,
    })
}

/// Rejects two attestations of one type, as buildx does.
pub fn check_unique(attests: &[Attest]) -> Result<(), String> {
    for (i, a) in attests.iter().enumerate() {
        if attests[..i].iter().any(|o| o.kind == a.kind) {
            return Err(format!("duplicate attestation field {}", a.kind.as_str()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_attest() {
        let a = parse_attest("type=sbom,generator=docker/scout-sbom-indexer:latest").unwrap();
        assert_eq!(a.kind, AttestType::Sbom);
        assert!(!a.disabled);
        assert_eq!(
            a.attrs.get("generator").map(String::as_str),
            Some("docker/scout-sbom-indexer:latest")
        );
        let a = parse_attest("type=provenance,mode=max,disabled=false").unwrap();
        assert_eq!(a.kind, AttestType::Provenance);
        assert_eq!(a.attrs.get("mode").map(String::as_str), Some("max"));
    }

    #[test]
    fn shorthands() {
        assert_eq!(
            canonicalize_shorthand(AttestType::Sbom, "true"),
            "type=sbom,disabled=false"
        );
        assert_eq!(
            canonicalize_shorthand(AttestType::Provenance, "false"),
            "type=provenance,disabled=true"
        );
        assert_eq!(
            canonicalize_shorthand(AttestType::Provenance, "mode=max"),
            "type=provenance,mode=max"
        );
        let a = parse_attest(&canonicalize_shorthand(AttestType::Sbom, "0")).unwrap();
        assert!(a.disabled);
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_attest("generator=x").unwrap_err().to_string(),
            "attestation type not specified"
        );
        assert_eq!(
            parse_attest("type=sbom,foo").unwrap_err().to_string(),
            "invalid value foo"
        );
        assert!(
            parse_attest("type=sbom,disabled=maybe")
                .unwrap_err()
                .to_string()
                .starts_with("invalid value disabled=maybe")
        );
        assert!(
            parse_attest("type=vex")
                .unwrap_err()
                .to_string()
                .starts_with("unknown attestation type \"vex\"")
        );
        let two = vec![
            parse_attest("type=sbom").unwrap(),
            parse_attest("type=sbom,disabled=true").unwrap(),
        ];
        assert_eq!(
            check_unique(&two).unwrap_err(),
            "duplicate attestation field sbom"
        );
    }
}
