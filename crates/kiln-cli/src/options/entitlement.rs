//! `--allow`: extra privileged entitlements (`network.host`, `security.insecure`,
//! `device[=name[,alias=x]]`), validated as BuildKit's `entitlements.Parse`.

use super::{ValueError, csv};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entitlement {
    NetworkHost,
    SecurityInsecure,
    /// CDI devices: all of them (`device`), or one, optionally under an alias.
    Device {
        name: Option<String>,
        alias: Option<String>,
    },
}

/// Splits `--allow` values: `a,b` lists entitlements, except `device=...` whose commas belong
/// to the device options.
pub fn split_values(value: &str) -> Vec<&str> {
    if value.starts_with("device=") {
        vec![value]
    } else {
        value.split(',').filter(|v| !v.is_empty()).collect()
    }
}

/// Parses one entitlement.
pub fn parse_entitlement(value: &str) -> Result<Entitlement, ValueError> {
    let unknown = || {
        ValueError(format!(
            "unknown entitlement {value} (supported: network.host, security.insecure, device)"
        ))
    };
    let (key, rest) = match value.split_once('=') {
        Some((k, r)) => (k, Some(r)),
        None => (value, None),
    };
    match (key, rest) {
        ("network.host", None) => Ok(Entitlement::NetworkHost),
        ("security.insecure", None) => Ok(Entitlement::SecurityInsecure),
        ("device", None) | ("device", Some("")) => Ok(Entitlement::Device {
            name: None,
            alias: None,
        }),
        ("device", Some(cfg)) => {
            let fields = csv::fields(cfg)?;
            let mut it = fields.iter();
            let name = it.next().filter(|n| !n.is_empty()).cloned();
            let mut alias = None;
            for field in it {
                match field.split_once('=') {
                    Some(("alias", v)) => alias = Some(v.to_string()),
                    Some((k, _)) => {
                        return Err(ValueError(format!("unknown device config key {k:?}")));
                    }
                    None => return Err(ValueError(format!("invalid device config {field:?}"))),
                }
            }
            Ok(Entitlement::Device { name, alias })
        }
        _ => Err(unknown()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_entitlements() {
        assert_eq!(
            parse_entitlement("network.host").unwrap(),
            Entitlement::NetworkHost
        );
        assert_eq!(
            parse_entitlement("security.insecure").unwrap(),
            Entitlement::SecurityInsecure
        );
        assert_eq!(
            parse_entitlement("device").unwrap(),
            Entitlement::Device {
                name: None,
                alias: None
            }
        );
        assert_eq!(
            parse_entitlement("device=vendor.com/gpu=0,alias=gpu").unwrap(),
            Entitlement::Device {
                name: Some("vendor.com/gpu=0".into()),
                alias: Some("gpu".into())
            }
        );
    }

    #[test]
    fn comma_lists() {
        assert_eq!(
            split_values("network.host,security.insecure"),
            ["network.host", "security.insecure"]
        );
        assert_eq!(split_values("device=a,alias=b"), ["device=a,alias=b"]);
    }

    #[test]
    fn errors() {
        assert!(
            parse_entitlement("network.hots")
                .unwrap_err()
                .to_string()
                .starts_with("unknown entitlement network.hots")
        );
        assert!(parse_entitlement("network.host=1").is_err());
        assert_eq!(
            parse_entitlement("device=a,color=red")
                .unwrap_err()
                .to_string(),
            r#"unknown device config key "color""#
        );
    }
}
